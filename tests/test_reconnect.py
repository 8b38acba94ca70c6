"""Signing in again, disconnecting, removing: secrets replaced or removed, links and settings kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import keyring
import pytest
from keyring.backends import fail

from cli_support import EMAIL, cli, crm_persons, envelope, setup_account, setup_microsoft, linked_count
from contactsync import config as cfg
from contactsync.auth import secrets
from limited_keyring import WINDOWS_LIMIT, BrokenKeyring, SmallValueKeyring

GOOGLE = f"google:{EMAIL}"
MS = "microsoft:ann@outlook.example"


def test_reconnect_after_a_revoked_google_grant_keeps_links_and_settings(box):
    setup_account(box)
    assert cli("configure", GOOGLE, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once").exit_code == 0
    persons = len(crm_persons(box))
    box.google.revoke_grants(EMAIL)
    r = cli("run", "--once")
    assert r.exit_code == 3 and f"contactsync reconnect {GOOGLE}" in r.stderr
    r = cli("reconnect", GOOGLE)
    assert r.exit_code == 0, r.output
    assert "Reconnected" in r.stdout and "Added" not in r.stdout
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    assert len(crm_persons(box)) == persons and linked_count(GOOGLE) == 10
    assert cfg.load().accounts[GOOGLE].direction == "two-way"


def test_reconnect_on_a_new_machine_needs_the_google_client_file(box):
    setup_account(box)
    secrets.delete(GOOGLE)  # the config and store came over, the keyring did not
    r = cli("reconnect", GOOGLE)
    assert r.exit_code == 2 and "--client-secrets" in r.stderr
    r = cli("reconnect", GOOGLE, "--client-secrets", str(box.client_secrets))
    assert r.exit_code == 0, r.output
    assert cli("run", "--once").exit_code == 0


def test_reconnect_microsoft_and_add_account_again_say_reconnected(box):
    setup_account(box)
    setup_microsoft(box)
    assert cli("run", "--once").exit_code == 0
    box.graph.identity.revoke("ann@outlook.example")
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 3 and f"contactsync reconnect {MS}" in r.stderr
    r = cli("reconnect", MS)
    assert r.exit_code == 0 and "Reconnected" in r.stdout, r.output
    assert cli("run", "--once", "--account", MS).exit_code == 0
    r = cli("add-account", "microsoft", "ann@outlook.example", "--client-id", box.microsoft_client_id,
            "--endpoint", box.graph_url, "--authority", box.graph_url)
    assert r.exit_code == 0 and "Reconnected microsoft:ann@outlook.example" in r.stdout
    assert linked_count(MS) == 4


def test_remove_account_needs_yes_without_a_terminal_and_removes_its_secret_everywhere(box, monkeypatch):
    setup_account(box)
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    secrets.put(GOOGLE, secrets.get(GOOGLE))  # a copy in the file store too
    r = cli("remove-account", GOOGLE)
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert GOOGLE in cfg.load().accounts
    r = cli("remove-account", GOOGLE, "--yes")
    assert r.exit_code == 0, r.output
    assert keyring.get_password("contactsync", GOOGLE) is None
    assert secrets.get(GOOGLE) is None and GOOGLE not in cfg.load().accounts


def test_crm_disconnect_removes_the_token_and_connect_again_picks_up_the_links(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    assert cli("crm", "disconnect").exit_code == 2  # no terminal, no --yes
    r = cli("crm", "disconnect", "--yes")
    assert r.exit_code == 0 and "removed from the keyring" in r.stderr, r.output
    assert secrets.get("pipedrive:acme-sandbox") is None
    assert cli("run", "--once").exit_code == 2
    r = cli("crm", "connect", "--domain", box.domain, "--plan", box.plan, "--base-url", box.pipedrive_url,
            "--api-token-stdin", input=box.api_token + "\n")
    assert r.exit_code == 0 and "Connected" in r.stdout
    r = cli("crm", "connect", "--domain", box.domain, "--plan", box.plan, "--base-url", box.pipedrive_url,
            "--api-token-stdin", input=box.api_token + "\n")
    assert "Reconnected" in r.stdout
    persons = len(crm_persons(box))
    assert cli("run", "--once").exit_code == 0
    assert len(crm_persons(box)) == persons and linked_count(GOOGLE) == 10


def test_microsoft_on_a_keyring_that_holds_1280_characters(box):
    backend = SmallValueKeyring()
    keyring.set_keyring(backend)
    setup_account(box)
    setup_microsoft(box)
    assert len(secrets.get(MS)) > 3 * WINDOWS_LIMIT  # a real-size cache: access, refresh and id tokens
    assert all(len(value) <= WINDOWS_LIMIT for value in backend._values.values())
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output


def test_a_broken_keyring_is_one_line_and_exit_2(box):
    keyring.set_keyring(BrokenKeyring())
    r = cli("crm", "connect", "--domain", box.domain, "--plan", box.plan, "--base-url", box.pipedrive_url,
            "--api-token-stdin", input=box.api_token + "\n")
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.output
    assert "RuntimeError" in r.stderr and box.api_token not in r.output


@pytest.mark.sandbox_plan("ultimate")
def test_a_headless_server_sets_up_and_syncs_with_the_file_store(box, monkeypatch):
    keyring.set_keyring(fail.Keyring())
    r = cli("crm", "connect", "--domain", box.domain, "--plan", box.plan, "--base-url", box.pipedrive_url,
            "--api-token-stdin", input=box.api_token + "\n")
    assert r.exit_code == 2 and "CONTACTSYNC_SECRET_STORE=file" in r.stderr
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    setup_account(box)
    setup_microsoft(box)
    assert cli("run", "--once").exit_code == 0
    store = secrets.file_store()
    assert sorted(os.listdir(cfg.config_dir() / "secrets")) == sorted(
        store.path(name).name for name in ("google:ann@example.com", "microsoft:ann@outlook.example",
                                           "pipedrive:acme-sandbox"))
    assert not any("@" in name for name in os.listdir(cfg.config_dir() / "secrets"))
    checks = {c["name"]: c for c in envelope(cli("doctor", "--json").stdout, "doctor")["data"]["checks"]}
    folder = cfg.config_dir() / "secrets"
    assert checks["secret store"]["ok"] and str(folder) in checks["secret store"]["detail"]
    for name in (f"account {GOOGLE}", f"account {MS}"):
        assert checks[name]["ok"] and f"kept in the file store ({folder})" in checks[name]["detail"]
    assert f"API token kept in the file store ({folder})" in checks["CRM"]["detail"]


def test_ctrl_c_during_a_sign_in_exits_130_with_its_own_message(box):
    box.graph.identity.device_approval = "manual"
    env = dict(os.environ, CONTACTSYNC_SECRET_STORE="file", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "add-account", "microsoft", "ann@outlook.example",
                             "--client-id", box.microsoft_client_id, "--endpoint", box.graph_url,
                             "--authority", box.graph_url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert "enter the code" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "sign-in interrupted: nothing was saved" in stderr and "Traceback" not in stderr
    assert cfg.load().accounts == {}


def test_a_microsoft_sign_in_in_a_variable_alone_is_refused_before_it_is_spent(box, monkeypatch):
    setup_account(box)
    setup_microsoft(box)
    monkeypatch.setenv(secrets.env_name(MS), secrets.get(MS, rotating=True))
    monkeypatch.setenv(secrets.env_name("pipedrive:acme-sandbox"), box.api_token)
    keyring.set_keyring(fail.Keyring())
    box.graph.control({"clear_log": True})
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 2
    assert "needs a writable secret store" in r.stderr and "CONTACTSYNC_SECRET_STORE=file" in r.stderr
    assert [e for e in box.graph.log if e.path.endswith("/token")] == []  # nothing was refreshed
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")  # the variable seeds the file store
    assert cli("run", "--once", "--account", MS).exit_code == 0


def _on_a_terminal(args: list[str], answer: bytes) -> subprocess.CompletedProcess[bytes]:
    import pty

    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "contactsync", *args], env=env, stdin=follower,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.write(leader, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_remove_account_asks_on_a_terminal(box, monkeypatch):
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")
    setup_account(box)
    declined = _on_a_terminal(["remove-account", GOOGLE], b"n\n")
    assert declined.returncode == 0 and b"Nothing was removed" in declined.stderr  # as asked: no failure
    assert secrets.get(GOOGLE) and GOOGLE in cfg.load().accounts
    declined = _on_a_terminal(["crm", "disconnect"], b"n\n")
    assert declined.returncode == 0 and b"Nothing was removed" in declined.stderr
    accepted = _on_a_terminal(["remove-account", GOOGLE], b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert secrets.get(GOOGLE) is None and GOOGLE not in cfg.load().accounts


def test_reconnect_warns_when_a_variable_still_overrides_the_new_sign_in(box, monkeypatch):
    setup_account(box)
    monkeypatch.setenv(secrets.env_name(GOOGLE), secrets.get(GOOGLE))
    r = cli("reconnect", GOOGLE)
    assert r.exit_code == 0
    assert f"{secrets.env_name(GOOGLE)} is set and is read before the stored secret" in r.stderr
