"""One account's trouble never stops the others; exit codes by precedence; busy state file; private folders."""

from __future__ import annotations

import os
import sqlite3
import stat

import keyring
import pytest
from cli_support import EMAIL, cli, envelope, setup_account, setup_microsoft

from contactsync import config as cfg
from contactsync.engine.lock import account_lock, lock_path
from contactsync.engine.run import PassResult
from contactsync.errors import AuthError, LockHeld, SafetyStop, TemporaryError, UsageError
from contactsync.services.runner import RunReport, UnexpectedError, account_exit_code
from contactsync.sandbox.server import Fault

MS = "ann@outlook.example"


def _report(*errors: Exception | str | None) -> RunReport:
    results = []
    for i, error in enumerate(errors):
        if error == "partial":
            results.append(PassResult(f"a{i}", outcome="partial"))
        else:
            results.append(PassResult(f"a{i}", outcome="failed" if error else "ok", error=error))  # type: ignore[arg-type]
    return RunReport(results)


@pytest.mark.parametrize(("errors", "code"), [
    ((None, None), 0),
    ((None, "partial"), 1),
    ((UnexpectedError("x"), SafetyStop("x")), 4),
    ((SafetyStop("x"), LockHeld("x"), UnexpectedError("x")), 5),
    ((LockHeld("x"), TemporaryError("x")), 75),
    ((TemporaryError("x"), AuthError("x"), None), 3),
    ((UsageError("x"), TemporaryError("x")), 2),
    ((AuthError("x"), UsageError("x")), 3),
])
def test_exit_code_follows_the_documented_precedence(errors: tuple[object, ...], code: int) -> None:
    report = _report(*errors)  # type: ignore[arg-type]
    assert report.exit_code == code
    assert [account_exit_code(r) for r in report.results] == [
        0 if e is None else 1 if e == "partial" else e.exit_code for e in errors]  # type: ignore[union-attr]


@pytest.mark.sandbox_plan("ultimate")
def test_an_unexpected_error_in_one_account_lets_the_other_sync(box):  # noqa: F811
    setup_account(box)
    setup_microsoft(box)
    # Google answers a listing with a JSON string instead of an object: no adapter foresaw that.
    box.google.add_fault(Fault(nth=1, status=200, body="not an object", path="connections"))
    r = cli("run", "--once", "--json")
    assert r.exit_code == 1, r.output
    rows = {row["account"]: row for row in envelope(r.stdout, "run")["data"]["accounts"]}
    assert rows[f"google:{EMAIL}"]["exit_code"] == 1 and rows[f"microsoft:{MS}"]["exit_code"] == 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"google:{EMAIL}" in lines[0] and "unexpected AttributeError" in lines[0]
    assert "Traceback" not in r.output
    assert cli("run", "--once").exit_code == 0  # the fault was one answer: the next pass syncs both


def test_sign_in_again_wins_over_a_failure_and_each_account_keeps_its_code(box):  # noqa: F811
    setup_account(box)
    setup_microsoft(box)
    keyring.delete_password("contactsync", f"microsoft:{MS}")
    box.google.add_fault(Fault(nth=1, status=200, body="not an object", path="connections"))
    r = cli("run", "--once", "--json")
    assert r.exit_code == 3, r.output
    body = envelope(r.stdout, "run")["data"]
    assert body["exit_code"] == 3
    assert sorted(row["exit_code"] for row in body["accounts"]) == [1, 3]


def test_a_busy_state_file_is_one_line_and_exit_75_for_every_account(box, monkeypatch):  # noqa: F811
    setup_account(box)
    setup_microsoft(box)
    assert cli("run", "--once").exit_code == 0
    monkeypatch.setattr("contactsync.store.db.BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(cfg.state_path(), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        r = cli("run", "--once", "--json")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.exit_code == 75, r.output
    # The first account's failed write must not leave a transaction open for the next one.
    document = envelope(r.stdout, "run")
    assert [row["exit_code"] for row in document["data"]["accounts"]] == [75, 75]
    assert document["ok"] is False and document["error"]["exit_code"] == 75 and "busy" in document["error"]["message"]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and all("busy" in line for line in lines) and "Traceback" not in r.output
    assert cli("run", "--once").exit_code == 0


def test_folders_contactsync_creates_are_private_and_lock_names_hide_emails(tmp_path, monkeypatch):
    home = tmp_path / "fresh" / "home"
    monkeypatch.setenv("CONTACTSYNC_HOME", str(home))
    old = os.umask(0o022)
    try:
        with account_lock(cfg.state_dir(), f"google:{EMAIL}"):
            pass
        cfg.save(cfg.Config())
    finally:
        os.umask(old)
    path = lock_path(cfg.state_dir(), f"google:{EMAIL}")
    assert "ann" not in path.name and "example" not in path.name and path.exists()
    for folder in (tmp_path / "fresh", home, path.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_faults_in_the_setup_calls_of_a_pass_cost_retries_not_the_pass(box, monkeypatch):  # noqa: F811
    # The retries are counted (every fault met); their backoff (tests/test_pipedrive_crm.py
    # checks it on a ManualClock) was a second of idle time here.
    monkeypatch.setattr("contactsync.crm.pipedrive.SETUP_BACKOFF", 0.0)
    setup_account(box)
    error = {"success": False, "error": "injected fault"}
    box.pipedrive.add_fault(Fault(status=503, body=error, method="POST", path=r"^/api/v1/personFields$"))
    for _ in range(4):  # beyond the session's own retries of a read
        box.pipedrive.add_fault(Fault(status=500, body=error, method="GET", path=r"^/api/v1/personFields$"))
        box.pipedrive.add_fault(Fault(drop=True, method="GET", path=r"^/api/v1/users/me$"))
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    assert not box.pipedrive.faults  # every injected fault was met
    names = [f["name"] for f in box.pipedrive.fields]
    assert names.count("Contact sync ID") == 1
