"""An unusable home, log file or disk is one line naming it and the fix, exit 2; --debug anywhere shows the traceback."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from cli_support import cli
from contactsync import paths
from contactsync.cli.app import hoist_global_options
from contactsync.errors import LocalEnvironmentError


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contactsync", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_home_that_is_a_file_is_one_line_exit_2(tmp_path, monkeypatch):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    monkeypatch.setenv("CONTACTSYNC_HOME", str(home))
    r = cli("status")
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert str(home) in line and "not a folder" in line and "CONTACTSYNC_HOME" in line
    assert "Traceback" not in r.output


def test_home_that_cannot_be_created_names_the_fix(monkeypatch):
    # /proc refuses new folders even to root (ENOENT): the line still says what to do.
    monkeypatch.setenv("CONTACTSYNC_HOME", "/proc/contactsync-nope/home")
    r = cli("status")
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert "/proc/contactsync-nope/home" in line and " — " in line and "CONTACTSYNC_HOME" in line.split(" — ")[1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_home_is_one_line_exit_2(tmp_path, monkeypatch):
    home = tmp_path / "locked"
    home.mkdir()
    home.chmod(0o500)
    monkeypatch.setenv("CONTACTSYNC_HOME", str(home))
    try:
        r = cli("accounts")
    finally:
        home.chmod(0o700)
    assert r.exit_code == 2
    assert "cannot write" in one_line(r.stderr) and str(home) in r.stderr


def test_bad_log_file_names_the_option(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = cli("configure", "nobody@example.com", "--log-file", str(blocker / "log.txt"))
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert str(blocker / "log.txt") in line and "--log-file" in line
    r = cli("--log-file", str(tmp_path), "run", "--once")
    assert r.exit_code == 2 and "is a folder" in one_line(r.stderr)


def test_a_log_file_on_a_full_disk_is_one_line_and_exit_2():
    import os

    import pytest

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    r = cli("run", "--once", "--log-file", "/dev/full")
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert "/dev/full" in line and "full" in line and "--log-file" in line and "Traceback" not in r.stderr


def test_a_disk_that_fills_during_a_pass_stops_the_log_with_one_warning(tmp_path, capfd):
    import logging

    from contactsync import logs

    class FullDisk:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def tell(self) -> int:
            return 0

    path = tmp_path / "contactsync.log"
    logs.setup(path)
    try:
        assert "contactsync" in path.read_text()  # the first line: the file takes writes
        handler = next(h for h in logging.getLogger(logs.LOGGER).handlers if isinstance(h, logs.LogFile))
        handler.stream = FullDisk()  # type: ignore[assignment]
        for n in range(3):
            logging.getLogger("contactsync.engine.run").info("record %d", n)
    finally:
        logs.shutdown()
    err = capfd.readouterr().err
    assert err.count("warning:") == 1 and str(path) in err and "Traceback" not in err, err


def test_disk_full_names_the_disk_and_says_progress_is_kept(tmp_path):
    error = paths.os_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "state.db")))
    assert isinstance(error, LocalEnvironmentError) and error.exit_code == 2
    assert str(tmp_path / "state.db") in error.line() and "full" in error.line() and "progress is kept" in error.line()


def test_debug_anywhere_on_the_line_shows_the_traceback(tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    env = dict(os.environ, CONTACTSYNC_HOME=str(home))
    plain = run_cli("status", env=env)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    for args in (["--debug", "status"], ["status", "--debug"]):
        r = run_cli(*args, env=env)
        assert r.returncode != 0 and "LocalEnvironmentError" in r.stderr, args


def test_global_options_are_moved_to_the_front_wherever_they_stand():
    assert hoist_global_options(["run", "--once", "-vv", "--log-file", "x.log", "--debug"]) == [
        "-vv", "--log-file", "x.log", "--debug", "run", "--once"]
    assert hoist_global_options(["status", "--log-file=y", "--", "-v"]) == ["--log-file=y", "status", "--", "-v"]
    assert hoist_global_options(["run", "--verbose", "--account", "a"]) == ["--verbose", "run", "--account", "a"]


def test_global_options_after_the_subcommand_are_accepted(tmp_path):
    log = tmp_path / "x.log"
    r = cli("configure", "nobody@example.com", "-v", "--log-file", str(log))
    assert r.exit_code == 2 and "no account nobody@example.com" in one_line(r.stderr)  # not "no such option"
    assert log.exists()


def test_a_full_disk_during_a_pass_is_one_line_naming_the_state_file(monkeypatch):
    """SQLite's "database or disk is full" inside a pass: the account's line says so, exit 2."""
    import sqlite3

    from contactsync import config as cfg
    from contactsync.services.runner import _as_error

    error = _as_error(sqlite3.OperationalError("database or disk is full"), reraise=False)
    assert isinstance(error, LocalEnvironmentError) and error.exit_code == 2
    assert str(cfg.state_path()) in error.line() and "full" in error.line()
    network = _as_error(ConnectionResetError(104, "Connection reset by peer"), reraise=False)
    assert not isinstance(network, LocalEnvironmentError)  # a network error is not a local file's
