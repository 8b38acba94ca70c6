from __future__ import annotations

import os

import keyring
import pytest
from hypothesis import HealthCheck, settings

# Property tests: ~50 examples per run by default; CONTACTSYNC_HYPOTHESIS=thorough
# runs 1000 (before a release, or to hunt a flaky sequence down).
settings.register_profile("default", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("CONTACTSYNC_HYPOTHESIS", "default"))

from contactsync.auth.secrets import MemoryKeyring


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own CONTACTSYNC_HOME and an in-memory keyring."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CONTACTSYNC_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("CONTACTSYNC_SECRET_") or name == "CONTACTSYNC_DEBUG":
            monkeypatch.delenv(name)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)
