"""The secret stores: keyring (with values split for small backends), the opt-in file store, variables."""

from __future__ import annotations

import os
import stat

import keyring
import pytest
from keyring.backends import fail

from contactsync import config as cfg
from contactsync.auth import secrets
from contactsync.auth.secret_stores import CHUNK
from contactsync.errors import SecretStoreError
from limited_keyring import WINDOWS_LIMIT, BrokenKeyring, SmallValueKeyring

NAME = "microsoft:ann@outlook.example"


def test_a_value_too_large_for_windows_is_split_and_read_back_whole():
    backend = SmallValueKeyring()
    keyring.set_keyring(backend)
    value = "x" * 3000 + "y" * 2500
    secrets.put(NAME, value)
    assert secrets.get(NAME, rotating=True) == value
    assert all(len(v) <= WINDOWS_LIMIT for v in backend._values.values())
    assert len(backend._values) == 1 + -(-len(value) // CHUNK)
    secrets.put(NAME, "z" * 2100)  # replaced: the old parts are gone, the new ones named by the head
    assert secrets.get(NAME) == "z" * 2100
    assert len(backend._values) == 1 + 3
    secrets.put(NAME, "small")
    assert backend._values == {("contactsync", NAME): "small"}
    assert secrets.delete(NAME) and backend._values == {}


def test_a_broken_backend_is_one_line_and_exit_2():
    keyring.set_keyring(BrokenKeyring())
    with pytest.raises(SecretStoreError) as info:
        secrets.put(NAME, "value")
    assert info.value.exit_code == 2
    assert "RuntimeError" in info.value.message and NAME in info.value.message
    assert "CONTACTSYNC_SECRET_STORE=file" in (info.value.fix or "")
    with pytest.raises(SecretStoreError):
        secrets.get(NAME)


def test_without_a_keyring_the_error_names_the_file_store():
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(SecretStoreError) as info:
        secrets.put("pipedrive:acme", "token")
    assert "CONTACTSYNC_SECRET_STORE=file" in (info.value.fix or "")
    assert "CONTACTSYNC_SECRET_PIPEDRIVE_ACME" in (info.value.fix or "")


def test_a_variable_holding_the_same_secret_needs_no_store(monkeypatch):
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setenv("CONTACTSYNC_SECRET_PIPEDRIVE_ACME", "token")
    secrets.put("pipedrive:acme", "token")  # nothing to write: the variable has it
    assert secrets.find("pipedrive:acme").kind == "env"
    with pytest.raises(SecretStoreError):
        secrets.put("pipedrive:acme", "another token")


@pytest.mark.parametrize("by", ["variable", "config"])
def test_the_file_store_keeps_secrets_private_and_atomic(monkeypatch, isolated_home, by):
    keyring.set_keyring(fail.Keyring())
    if by == "variable":
        monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    else:
        config = cfg.load()
        config.secrets_store = "file"
        cfg.save(config)
        assert cfg.load().secrets_store == "file"
    secrets.put(NAME, "v1")
    secrets.put(NAME, "v2")
    folder = isolated_home / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = os.listdir(folder)
    assert files == [secrets.file_store().path(NAME).name]  # no temporary file left behind
    assert "@" not in files[0] and "ann" not in files[0]  # the name does not show the e-mail address
    assert stat.S_IMODE((folder / files[0]).stat().st_mode) == 0o600
    found = secrets.find(NAME, rotating=True)
    assert found.value == "v2" and found.kind == "file" and str(folder) in found.where
    assert secrets.delete(NAME) == [f"the file store ({folder})"]
    assert secrets.get(NAME) is None


def test_an_unknown_store_is_refused(monkeypatch):
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "vault")
    with pytest.raises(Exception) as info:
        secrets.put(NAME, "v")
    assert "file" in info.value.fix


def test_a_rotating_secret_prefers_the_store_over_its_seed_variable(monkeypatch):
    monkeypatch.setenv(secrets.env_name(NAME), "seed")
    assert secrets.get(NAME, rotating=True) == "seed"
    secrets.put(NAME, "rotated")
    assert secrets.get(NAME, rotating=True) == "rotated"
    assert secrets.get(NAME) == "seed"  # a secret that never rotates: the variable wins


def test_secrets_left_in_the_keyring_are_found_after_switching_to_files(monkeypatch):
    secrets.put(NAME, "from keyring")
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    assert secrets.find(NAME).kind == "keyring"
    secrets.put(NAME, "rotated")
    assert secrets.find(NAME).kind == "file"
    assert len(secrets.delete(NAME)) == 2  # removed from both stores


def test_a_keyring_backend_that_cannot_be_loaded_is_one_line(monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'nosuch'")  # PYTHON_KEYRING_BACKEND=nosuch.Backend

    monkeypatch.setattr(keyring, "get_keyring", missing)
    with pytest.raises(SecretStoreError) as info:
        secrets.put(NAME, "v")
    assert "PYTHON_KEYRING_BACKEND" in info.value.fix and info.value.exit_code == 2
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    secrets.put(NAME, "v")  # the file store does not need the keyring
    assert secrets.get(NAME) == "v" and secrets.delete(NAME)


def test_doctor_warns_of_secret_files_other_users_may_read(monkeypatch, isolated_home):
    from contactsync.services.doctor import run_checks

    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    secrets.put(NAME, "v")
    check = run_checks()[0]
    assert check.name == "secret store" and check.ok and not check.warning
    loose = secrets.file_store().path(NAME)
    os.chmod(loose, 0o644)
    check = run_checks()[0]
    assert check.warning and loose.name in check.detail and "chmod 600" in check.fix


def test_a_file_store_written_by_an_earlier_version_keeps_working(monkeypatch, isolated_home):
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    folder = isolated_home / "secrets"
    folder.mkdir(mode=0o700)
    old = folder / "microsoft%3Aann@outlook.example"  # the readable name earlier versions wrote
    fd = os.open(old, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"old token")
    os.close(fd)
    found = secrets.find(NAME, rotating=True)
    assert found.value == "old token" and found.kind == "file"
    files = os.listdir(folder)
    assert files == [secrets.file_store().path(NAME).name]  # moved to the hashed name
    assert stat.S_IMODE((folder / files[0]).stat().st_mode) == 0o600
    assert secrets.get(NAME, rotating=True) == "old token"
    old.write_text("stale")  # a leftover copy beside the moved one: the hashed file wins
    assert secrets.get(NAME, rotating=True) == "old token"
    assert secrets.delete(NAME) and os.listdir(folder) == []
