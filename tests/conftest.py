from __future__ import annotations

import keyring
import pytest

from contactsync.auth.secrets import MemoryKeyring


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own CONTACTSYNC_HOME and an in-memory keyring."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CONTACTSYNC_HOME", str(home))
    for name in list(__import__("os").environ):
        if name.startswith("CONTACTSYNC_SECRET_") or name == "CONTACTSYNC_DEBUG":
            monkeypatch.delenv(name)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)
