"""Where secrets are kept and found (DESIGN §11).

Secrets go to the OS keyring under the service name ``contactsync`` unless the
user opts in to the file store (``CONTACTSYNC_SECRET_STORE=file``, or
``[secrets] store = "file"`` in config.toml), which is what a headless server
without a keyring uses. A secret that never rotates (the Pipedrive API token, a
Google grant) may also come from an environment variable,
``CONTACTSYNC_SECRET_<NAME>`` (see :func:`env_name`), which then wins. A secret
that rotates (a Microsoft token cache) is read from the stores first: the
variable can only seed it, because each refresh must be written back.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import keyring
import keyring.backend
import keyring.errors

from contactsync import config as cfg
from contactsync import logs
from contactsync.auth.secret_stores import SERVICE, FileStore, KeyringStore
from contactsync.errors import AuthError, SecretStoreError, UsageError

__all__ = ["SERVICE", "Found", "MemoryKeyring", "delete", "env_name", "find", "get", "put", "require", "writable"]

STORE_VARIABLE = "CONTACTSYNC_SECRET_STORE"
Store = KeyringStore | FileStore


def env_name(name: str) -> str:
    return "CONTACTSYNC_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def pipedrive_token_name(domain: str) -> str:
    return f"pipedrive:{domain}"


def provider_secret_name(provider: str, email: str) -> str:
    return f"{provider}:{email.lower()}"


def file_store() -> FileStore:
    return FileStore(cfg.config_dir() / "secrets")


def chosen_kind() -> str:
    value = os.environ.get(STORE_VARIABLE, "").strip().lower()
    if value:
        if value not in cfg.SECRET_STORES:
            raise UsageError(f"{STORE_VARIABLE}={value!r} is not a secret store",
                             f"use one of: {', '.join(cfg.SECRET_STORES)}")
        return value
    return cfg.load().secrets_store or "keyring"


def chosen_store() -> Store:
    return file_store() if chosen_kind() == "file" else KeyringStore()


def _stores() -> list[Store]:
    """The chosen store first, then the other one, so a switch of store still finds old secrets."""
    chosen = chosen_store()
    other: Store = KeyringStore() if isinstance(chosen, FileStore) else file_store()
    return [chosen, other]


def _no_store(name: str) -> SecretStoreError:
    return SecretStoreError(
        f"no usable keyring backend to keep the secret {name} in",
        f"on a server without a keyring, keep secrets in files: set {STORE_VARIABLE}=file "
        '(or `[secrets] store = "file"` in config.toml); or install a keyring backend or choose one with '
        f"PYTHON_KEYRING_BACKEND; a secret that never rotates may also come from {env_name(name)}",
    )


@dataclass(frozen=True)
class Found:
    value: str
    kind: str  # "env", "keyring" or "file"
    where: str  # for people: which store or variable


def find(name: str, rotating: bool = False) -> Found | None:
    """The secret and where it is; None when no store or variable has it."""
    variable = os.environ.get(env_name(name))
    if variable and not rotating:
        return _found(Found(variable, "env", f"the environment variable {env_name(name)}"))
    chosen, other = _stores()
    value = chosen.get(name)
    if value:
        return _found(Found(value, chosen.kind, chosen.describe()))
    try:
        value = other.get(name) if other.usable() else None
    except SecretStoreError:
        value = None  # the store not chosen may be broken; it is only a fallback
    if value:
        return _found(Found(value, other.kind, other.describe()))
    if variable:
        return _found(Found(variable, "env", f"the environment variable {env_name(name)}"))
    return None


def _found(found: Found) -> Found:
    _redact(found.value)
    return found


def get(name: str, rotating: bool = False) -> str | None:
    found = find(name, rotating)
    return found.value if found else None


def writable() -> bool:
    return chosen_store().usable()


def where_written() -> str:
    return chosen_store().describe()


_SECRET_KEYS = {"refresh_token", "client_secret", "secret", "access_token", "id_token"}


def _redact(value: str | None) -> None:
    """Keep the secret, and every token inside a JSON secret (a grant, an MSAL cache), out of the log."""
    if not value:
        return
    logs.redact(value)
    try:
        data = json.loads(value)
    except ValueError:
        return
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(inner, str) and key in _SECRET_KEYS:
                    logs.redact(inner)
                else:
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def put(name: str, value: str) -> None:
    """Write the secret to the chosen store, atomically."""
    _redact(value)
    store = chosen_store()
    if not store.usable():
        if os.environ.get(env_name(name)) == value:
            return  # the environment already holds exactly this secret
        raise _no_store(name)
    store.put(name, value)


def delete(name: str) -> list[str]:
    """Remove the secret from every store that holds it; returns where it was found."""
    removed = []
    chosen, other = _stores()
    if chosen.usable() and chosen.delete(name):
        removed.append(chosen.describe())
    try:
        if other.usable() and other.delete(name):
            removed.append(other.describe())
    except SecretStoreError:
        pass  # a broken store that is not the chosen one holds nothing we wrote since the switch
    return removed


def require(name: str, missing_fix: str, rotating: bool = False) -> str:
    value = get(name, rotating)
    if value is None:
        if not writable():
            raise _no_store(name)
        raise AuthError(f"no stored credentials for {name}", missing_fix)
    return value


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that forgets everything at exit: for the demo and the tests."""

    # Below the `fail` backend's 0: keyring must never pick this one by itself,
    # only when set explicitly (keyring.set_keyring) by the demo or a test.
    priority = -1  # type: ignore[assignment,unused-ignore]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call,unused-ignore]
        self._values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self._values:
            raise keyring.errors.PasswordDeleteError(username)
        del self._values[(service, username)]
