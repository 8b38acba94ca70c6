"""Sign-ins survive kills and lost token answers: each refresh is saved before it is used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cli_support import cli, setup_account, setup_microsoft, linked_count
from contactsync.auth import secrets
from contactsync.sandbox.server import Fault
from microsoft_support import aged

MS = "ann@outlook.example"
NAME = f"microsoft:{MS}"
TOKEN = r"/oauth2/v2\.0/token$"


@pytest.fixture(autouse=True)
def file_store(monkeypatch):
    # A headless server: no keyring, secrets in the file store, shared with the child processes.
    monkeypatch.setenv("CONTACTSYNC_SECRET_STORE", "file")


def refreshes(box) -> list[int]:
    return [e.status for e in box.graph.log if e.path.endswith("/oauth2/v2.0/token")]


def expire_stored_access_token() -> None:
    """An hour later: the stored access token is past its expiry, the next pass must refresh."""
    secrets.put(NAME, aged(secrets.get(NAME, rotating=True)))


def test_a_pass_killed_right_after_a_single_use_refresh_leaves_a_working_sign_in(box):
    setup_account(box)
    setup_microsoft(box)
    box.graph.identity.refresh_token_reuse = "single_use"
    expire_stored_access_token()
    box.graph.control({"clear_log": True})
    hang = Fault(nth=1, path=r"^/v1\.0/", delay=60)  # the first Graph call after the refresh never answers
    box.graph.add_fault(hang)
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "run", "--once", "--account", MS], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while hang.seen == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hang.seen == 1, proc.stderr.read() if proc.poll() is not None else "no Graph request"
        assert refreshes(box) == [200]  # the old refresh token is spent now
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 0, r.output
    assert refreshes(box) == [200]  # the saved access token served the next pass
    assert linked_count(NAME) == 4  # the default folder's contacts reached Pipedrive
    expire_stored_access_token()
    assert cli("run", "--once", "--account", MS).exit_code == 0
    assert refreshes(box) == [200, 200]  # and the saved refresh token was the live one


def test_a_lost_token_answer_is_survived_because_the_old_refresh_token_stays_valid(box):
    setup_account(box)
    setup_microsoft(box)
    expire_stored_access_token()
    box.graph.control({"clear_log": True})
    box.graph.add_fault(Fault(nth=1, path=TOKEN, method="POST", drop=True, after=True))
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 75, r.output  # temporary: the answer never arrived
    assert "sign-in service" in r.stderr
    assert len(box.graph.identity.state.spent) == 1  # the server did rotate the token
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 0, r.output
    assert len(box.graph.identity.state.spent) == 1  # the same old token was used again, and worked
    assert refreshes(box) == [200]  # (a dropped answer is not in the log)


def test_a_lost_answer_under_single_use_rotation(box):
    setup_account(box)
    setup_microsoft(box)
    now = [1_000_000.0]
    box.graph.identity.clock = lambda: now[0]
    box.graph.identity.refresh_token_reuse = "single_use"
    box.graph.identity.reuse_grace = 60
    expire_stored_access_token()
    box.graph.add_fault(Fault(nth=1, path=TOKEN, method="POST", drop=True, after=True))
    assert cli("run", "--once", "--account", MS).exit_code == 75
    assert cli("run", "--once", "--account", MS).exit_code == 0  # retried within the server's grace
    expire_stored_access_token()
    box.graph.add_fault(Fault(nth=1, path=TOKEN, method="POST", drop=True, after=True))
    assert cli("run", "--once", "--account", MS).exit_code == 75
    now[0] += 61  # past the grace: the only refresh token that works was never received
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 3
    assert f"contactsync reconnect {NAME}" in r.stderr


def test_two_processes_refresh_one_at_a_time_and_spend_no_token_twice(box):
    setup_account(box)
    setup_microsoft(box)
    box.graph.identity.refresh_token_reuse = "single_use"
    expire_stored_access_token()
    box.graph.control({"clear_log": True})
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    procs = [subprocess.Popen([sys.executable, "-m", "contactsync", "groups", MS], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    for proc in procs:
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr.read()
    assert refreshes(box) == [200]  # the first refreshed; the others read the saved token
