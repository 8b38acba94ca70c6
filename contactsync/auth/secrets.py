"""Secrets in the OS keyring under the service name ``contactsync`` (DESIGN §11).

Where no keyring backend exists, a secret may come from an environment
variable instead: ``CONTACTSYNC_SECRET_<NAME>`` with the name upper-cased and
every other character turned into ``_`` (see :func:`env_name`).
"""

from __future__ import annotations

import json
import os
import re

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import fail

from contactsync import logs
from contactsync.errors import NoKeyring

SERVICE = "contactsync"


def env_name(name: str) -> str:
    return "CONTACTSYNC_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def pipedrive_token_name(domain: str) -> str:
    return f"pipedrive:{domain}"


def provider_secret_name(provider: str, email: str) -> str:
    return f"{provider}:{email.lower()}"


def _no_keyring(name: str) -> NoKeyring:
    return NoKeyring(
        "no usable keyring backend to keep secrets in",
        f"install one (e.g. Secret Service or KWallet) or pick one with PYTHON_KEYRING_BACKEND, "
        f"or put the secret in the environment variable {env_name(name)}",
    )


def _usable() -> bool:
    return not isinstance(keyring.get_keyring(), fail.Keyring)


def get(name: str) -> str | None:
    value = os.environ.get(env_name(name))
    if not value and _usable():
        try:
            value = keyring.get_password(SERVICE, name)
        except keyring.errors.KeyringError:
            value = None
    _redact(value)
    return value or None


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
    _redact(value)
    if not _usable():
        raise _no_keyring(name)
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as exc:
        raise NoKeyring(f"the keyring refused to store a secret ({type(exc).__name__})", _no_keyring(name).fix) from None


def delete(name: str) -> None:
    if not _usable():
        return
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.KeyringError:
        pass


def require(name: str, missing_fix: str) -> str:
    value = get(name)
    if value is None:
        if not _usable():
            raise _no_keyring(name)
        from contactsync.errors import AuthError

        raise AuthError(f"no stored credentials for {name}", missing_fix)
    return value


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that forgets everything at exit: for the demo and the tests."""

    # Below the `fail` backend's 0: keyring must never pick this one by itself,
    # only when set explicitly (keyring.set_keyring) by the demo or a test.
    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self._values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self._values:
            raise keyring.errors.PasswordDeleteError(username)
        del self._values[(service, username)]
