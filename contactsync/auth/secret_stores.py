"""The two places contactsync writes secrets to: the OS keyring and the opt-in file store.

Both offer ``get``/``put``/``delete`` of a string by name, and both replace a value
atomically: a reader sees the old value or the new one, never a mix.

Keyring backends cap the size of a value. Windows Credential Manager holds 2,560
bytes per credential blob and keyring stores UTF-16, so about 1,280 characters
(``CRED_MAX_CREDENTIAL_BLOB_SIZE``; keyring's ``backends/Windows.py`` writes
``CredentialBlob=password``); a larger value fails with a ``pywintypes.error``
(winerror 1783), which is not a ``KeyringError``. A value longer than
:data:`CHUNK` is therefore split: the parts go under new names first, then the
head entry, which names them, is replaced in one write — the commit point —, and
only then are the old parts deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as random
import sys
from pathlib import Path
from urllib.parse import quote

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import fail

from contactsync.errors import SecretStoreError

SERVICE = "contactsync"
CHUNK = 1000  # characters per keyring entry: under Windows' ~1,280 with room to spare
CHUNKED = "contactsync-chunked:1:"


def _reason(exc: BaseException) -> str:
    """What a backend said, without the value: the type and any OS error number."""
    code = getattr(exc, "winerror", None) or getattr(exc, "errno", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"


class KeyringStore:
    """The OS keyring through the keyring library, service name ``contactsync``."""

    kind = "keyring"

    @staticmethod
    def backend() -> keyring.backend.KeyringBackend:
        try:
            return keyring.get_keyring()
        except Exception as exc:  # a PYTHON_KEYRING_BACKEND or keyringrc naming a missing backend
            raise SecretStoreError(f"the keyring backend cannot be loaded: {_reason(exc)}",
                                   "fix or unset PYTHON_KEYRING_BACKEND, or keep secrets in the file store "
                                   "(CONTACTSYNC_SECRET_STORE=file, see the README)") from None

    def backend_name(self) -> str:
        backend = self.backend()
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def describe(self) -> str:
        return f"the keyring ({self.backend_name()})"

    def usable(self) -> bool:
        return not isinstance(self.backend(), fail.Keyring)

    def _failed(self, action: str, name: str, exc: BaseException) -> SecretStoreError:
        return SecretStoreError(
            f"the keyring ({self.backend_name()}) failed to {action} the secret {name}: {_reason(exc)}",
            "check the keyring is unlocked and working, or keep secrets in the file store "
            "(CONTACTSYNC_SECRET_STORE=file, see the README)",
        )

    def _raw_get(self, name: str) -> str | None:
        try:
            return keyring.get_password(SERVICE, name)
        except Exception as exc:  # every backend has its own errors (pywintypes, dbus, OSError…)
            raise self._failed("read", name, exc) from None

    def _raw_set(self, name: str, value: str) -> None:
        try:
            keyring.set_password(SERVICE, name, value)
        except Exception as exc:  # see _raw_get
            raise self._failed("store", name, exc) from None

    def _raw_delete(self, name: str) -> bool:
        try:
            keyring.delete_password(SERVICE, name)
        except keyring.errors.PasswordDeleteError:
            return False
        except Exception as exc:  # see _raw_get
            raise self._failed("delete", name, exc) from None
        return True

    @staticmethod
    def _parts(head: str | None) -> tuple[str, int, str] | None:
        if not head or not head.startswith(CHUNKED):
            return None
        try:
            meta = json.loads(head[len(CHUNKED):])
            return str(meta["gen"]), int(meta["parts"]), str(meta["sha256"])
        except (ValueError, KeyError, TypeError):
            raise SecretStoreError("the keyring holds a damaged secret entry",
                                   "sign in again (`contactsync reconnect ACCOUNT`, or `contactsync crm connect`)")

    def get(self, name: str) -> str | None:
        if not self.usable():
            return None
        head = self._raw_get(name)
        parts = self._parts(head)
        if parts is None:
            return head
        gen, count, digest = parts
        pieces = [self._raw_get(f"{name}#{gen}:{i}") for i in range(count)]
        value = "".join(p or "" for p in pieces)
        if None in pieces or hashlib.sha256(value.encode()).hexdigest() != digest:
            raise SecretStoreError(f"the keyring holds an incomplete copy of the secret {name}",
                                   "sign in again (`contactsync reconnect ACCOUNT`, or `contactsync crm connect`)")
        return value

    def put(self, name: str, value: str) -> None:
        old = self._parts(self._raw_get(name))
        if len(value) <= CHUNK:
            self._raw_set(name, value)
        else:
            gen = random.token_hex(4)
            pieces = [value[i:i + CHUNK] for i in range(0, len(value), CHUNK)]
            for i, piece in enumerate(pieces):
                self._raw_set(f"{name}#{gen}:{i}", piece)
            meta = {"gen": gen, "parts": len(pieces), "sha256": hashlib.sha256(value.encode()).hexdigest()}
            self._raw_set(name, CHUNKED + json.dumps(meta, separators=(",", ":")))
        if old is not None:
            self._delete_parts(name, old[0], old[1])

    def _delete_parts(self, name: str, gen: str, count: int) -> None:
        for i in range(count):
            try:
                self._raw_delete(f"{name}#{gen}:{i}")
            except SecretStoreError:
                pass  # an orphaned part is harmless: the head no longer names it

    def delete(self, name: str) -> bool:
        if not self.usable():
            return False
        old = self._parts(self._raw_get(name))
        found = self._raw_delete(name)
        if old is not None:
            self._delete_parts(name, old[0], old[1])
        return found


class FileStore:
    """One file per secret in a folder of mode 0700, each file mode 0600.

    The opt-in store of headless servers, like gh's ``auth login --insecure-storage``
    or the credentials files of aws-cli and rclone: anyone who can read the user's
    files can read the secrets. Writes go to a temporary file that is synced and
    then renamed over the old one, so a crash leaves the old value or the new one.

    A file is named by a hash of the secret's name, like the lock files, so a listing
    of the folder does not show e-mail addresses. Earlier versions named it by the
    quoted name itself (``google%3Aann@example.com``); such a file is still read, and
    moved to its hashed name on first read.
    """

    kind = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"the file store ({self.folder})"

    def usable(self) -> bool:
        return True

    def path(self, name: str) -> Path:
        return self.folder / (hashlib.sha256(name.encode("utf-8")).hexdigest()[:32] + ".secret")

    def legacy_path(self, name: str) -> Path:
        """The readable name earlier versions used (':' is not allowed in Windows file names)."""
        return self.folder / quote(name, safe="@._-")

    def _failed(self, action: str, name: str, exc: OSError) -> SecretStoreError:
        return SecretStoreError(f"cannot {action} the secret {name} in {self.folder}: {_reason(exc)}",
                                f"check that {self.folder} is a folder you own and can write")

    def get(self, name: str) -> str | None:
        try:
            try:
                return self.path(name).read_text(encoding="utf-8")
            except FileNotFoundError:
                return self._migrate(name)
        except OSError as exc:
            raise self._failed("read", name, exc) from None

    def _migrate(self, name: str) -> str | None:
        """Read a file of an earlier version under its readable name and move it to the hashed one."""
        legacy, target = self.legacy_path(name), self.path(name)
        try:
            value = legacy.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            os.link(legacy, target)  # never replaces a value another process has just written
        except FileExistsError:
            value = target.read_text(encoding="utf-8")
        except OSError:  # a file system without hard links: copy it, atomically
            self.put(name, value)
        legacy.unlink(missing_ok=True)
        self._sync_folder()
        return value

    def put(self, name: str, value: str) -> None:
        target = self.path(name)
        tmp = self.folder / f".{target.name}.{os.getpid()}.{random.token_hex(4)}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.folder, 0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(value)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            self.legacy_path(name).unlink(missing_ok=True)  # an earlier version's copy, now stale
            self._sync_folder()
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._failed("store", name, exc) from None

    def _sync_folder(self) -> None:
        # The rename itself is durable only once the folder is synced (POSIX); Windows has no such call.
        if sys.platform == "win32":
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def readable_by_others(self) -> list[Path]:
        """Files (or the folder) that other users may read: what `doctor` warns about (POSIX only)."""
        if sys.platform == "win32" or not self.folder.exists():
            return []
        paths = [self.folder, *self.folder.iterdir()]
        return [p for p in paths if p.stat().st_mode & 0o077]

    def delete(self, name: str) -> bool:
        found = False
        for path in (self.path(name), self.legacy_path(name)):
            try:
                path.unlink()
                found = True
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise self._failed("delete", name, exc) from None
        return found
