"""Keyring backends that behave like awkward real ones, for the secret-store tests."""

from __future__ import annotations

import keyring.backend
import keyring.errors

from contactsync.auth.secrets import MemoryKeyring

# Windows Credential Manager: CRED_MAX_CREDENTIAL_BLOB_SIZE is 5 * 512 bytes, and
# keyring's Windows backend stores the password as UTF-16, so 1,280 characters.
WINDOWS_LIMIT = 1280


class CredWriteError(OSError):
    """What pywintypes.error looks like to a caller: not a KeyringError, with a winerror."""

    winerror = 1783  # RPC_X_BAD_STUB_DATA, what CredWrite answers for an oversized blob
    funcname = "CredWrite"


class SmallValueKeyring(MemoryKeyring):
    """Refuses values over 1,280 characters the way Windows Credential Manager does."""

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password) > WINDOWS_LIMIT:
            raise CredWriteError(1783, "The stub received bad data.")
        super().set_password(service, username, password)


class BrokenKeyring(MemoryKeyring):
    """Every call fails with an error that is not a KeyringError (a locked or dead backend)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")
