"""Running it for real: logs without secrets, doctor, exit codes, --wait, signals, dry runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import keyring
import pytest
from keyring.backends import fail

from cli_support import EMAIL, cli, cli_json, crm_persons, envelope, google_rn, setup_account
from contactsync import config as cfg
from contactsync.auth.secrets import MemoryKeyring
from contactsync.engine.lock import account_lock
from contactsync.sandbox.server import Fault
from test_reliability import subprocess_env

WRITES = ("POST", "PATCH", "PUT", "DELETE")


def secrets_of(box) -> list[str]:
    oauth = box.google.oauth
    values = [box.api_token, oauth.client_secret]
    for refresh, grant in oauth.grants.items():
        values.append(refresh)
        values.extend(grant.access_tokens)
    return [v for v in values if v]


def test_a_full_tour_never_writes_a_secret_anywhere(box, isolated_home):
    outputs = []
    log_file = isolated_home / "elsewhere" / "sync.log"
    setup_account(box)
    tour = [
        ("-v", "--log-file", str(log_file), "run", "--once"),
        ("status",), ("status", "--json"), ("accounts", "--json"), ("doctor",),
        ("-vv", "--log-file", str(log_file), "run", "--once", "--full", "--json"),
        ("--debug", "groups", EMAIL),
    ]
    box.google.edit_person(google_rn(box, "Lena Fischer"), {"organizations": [{"name": "Contoso"}]})
    for args in tour:
        r = cli(*args)
        assert r.exit_code == 0, (args, r.output)
        outputs.append(r.stdout + r.stderr)
    box.pipedrive.revoke_token(box.api_token)
    # A quiet pass asks Pipedrive nothing (issue 13): a change makes the pass use the token.
    box.google.edit_person(google_rn(box, "Lena Fischer"), {"organizations": [{"name": "Fabrikam"}]})
    r = cli("-v", "--log-file", str(log_file), "run", "--once")
    assert r.exit_code == 3
    outputs.append(r.stdout + r.stderr)
    assert "crm create" in log_file.read_text() and "pass ok" in log_file.read_text()
    files = [p for p in isolated_home.rglob("*") if p.is_file()]
    assert cfg.config_path() in files and cfg.state_path() in files and log_file in files
    secrets = secrets_of(box)
    assert len(secrets) >= 4
    for secret in secrets:
        for text in outputs:
            assert secret not in text
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
    assert log_file.stat().st_mode & 0o077 == 0 and cfg.state_path().stat().st_mode & 0o077 == 0


def test_default_log_file_is_in_the_state_directory(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    assert "pass ok" in (cfg.state_dir() / "contactsync.log").read_text()


def test_exit_1_when_a_contact_fails_and_the_rest_sync(box):
    setup_account(box)
    box.pipedrive.add_fault(Fault(nth=1, method="POST", path=r"^/api/v2/persons$", status=400,
                                  body={"success": False, "error": "Invalid email", "data": None,
                                        "additional_data": None}))
    r = cli("run", "--once", "--json")
    assert r.exit_code == 1
    summary = envelope(r.stdout, "run")["data"]
    assert summary["exit_code"] == 1 and summary["accounts"][0]["outcome"] == "partial"
    assert summary["accounts"][0]["counts"]["create"] == 8
    failing = [f for f in summary["accounts"][0]["failures"] if "Invalid email" in f["reason"]]
    assert len(failing) == 1
    r = cli("run", "--once")
    assert r.exit_code == 0 and "1 created" in r.stdout  # retried on the next pass


def test_wait_queues_behind_a_running_pass(box):
    setup_account(box)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with account_lock(cfg.state_dir(), f"google:{EMAIL}"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    env = subprocess_env(box)
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "run", "--once", "--wait"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert proc.poll() is None  # waiting, not exiting 5
    release.set()
    thread.join()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "created" in out


def test_sigterm_stops_the_interval_loop_cleanly(box):
    setup_account(box)
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "run", "--interval", "1h"],
                            env=subprocess_env(box), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(box.pipedrive.persons()) < 12 and time.monotonic() < deadline:  # not over the API: its burst limit
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped" in err and "created" in out


@pytest.mark.sandbox_plan("ultimate")
def test_sigterm_during_a_pass_finishes_the_call_in_flight(box):
    setup_account(box)
    # More contacts than calls in flight (they follow the plan's rate × the round trip),
    # and every create held a while, so that the stop lands with some not yet sent.
    extra = 48  # above the calls in flight: up to MAX_IN_FLIGHT (32), two more queued
    for i in range(extra):
        box.google.add_person({"names": [{"givenName": "Extra", "familyName": f"Person {i:02}"}],
                               "memberships": [{"contactGroupMembership": {
                                   "contactGroupResourceName": "contactGroups/myContacts"}}]})
    total = 12 + extra
    box.pipedrive.add_fault(Fault(every=True, delay=0.3, method="POST", path=r"^/api/v2/persons$"))
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "run", "--once"],
                            env=subprocess_env(box), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(e.method == "POST" and e.path == "/api/v2/persons" for e in list(box.pipedrive.log)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 75 and "stopped on request" in err
    box.pipedrive.control({"clear_faults": True})
    created = len(crm_persons(box))
    assert created < total  # it stopped before the end
    r = cli("run", "--once")
    assert r.exit_code == 0
    persons = crm_persons(box)  # raises on a duplicate name
    assert len(persons) == total


def test_dry_run_makes_no_write_on_either_side(box):
    setup_account(box)
    box.google.log.clear()
    box.pipedrive.log.clear()
    r = cli("run", "--once", "--dry-run")
    assert r.exit_code == 0 and "dry run, nothing written" in r.stdout
    assert [e for e in box.google.log if e.method in WRITES and e.path != "/token"] == []  # /token: a refresh
    assert [e for e in box.pipedrive.log if e.method in WRITES] == []
    assert cli("status", "--json").exit_code == 0


def test_doctor_lists_each_check_with_its_fix(box):
    setup_account(box)
    r = cli("doctor")
    assert r.exit_code == 1  # custom fields not set up before the first pass
    assert "✓ secret store" in r.stdout and "✓ CRM:" in r.stdout and f"✓ account google:{EMAIL}" in r.stdout
    assert "✗ custom fields" in r.stdout and "fix: the first `contactsync run --once`" in r.stdout
    assert cli("run", "--once").exit_code == 0
    assert cli("doctor").exit_code == 0
    box.google.revoke_grants()
    r = cli("doctor", "--json")
    checks = {c["name"]: c for c in envelope(r.stdout, "doctor")["data"]["checks"]}
    assert r.exit_code == 1 and not checks[f"account google:{EMAIL}"]["ok"]
    assert f"contactsync reconnect google:{EMAIL}" in checks[f"account google:{EMAIL}"]["fix"]


def test_memory_keyring_is_never_chosen_by_itself():
    assert MemoryKeyring.priority < fail.Keyring.priority
    keyring.set_keyring(fail.Keyring())
    r = cli("doctor")
    assert "✗ secret store" in r.stdout and "PYTHON_KEYRING_BACKEND" in r.stdout
