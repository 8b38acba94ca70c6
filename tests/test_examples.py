"""examples/ work as written: absolute paths, exit codes 5 and 75 tolerated, every command line valid for the CLI."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import typer

from contactsync.auth.secrets import STORE_VARIABLE
from contactsync.cli import app
from contactsync.config import SECRET_STORES

EXAMPLES = Path(__file__).parent.parent / "examples"


def contactsync_argv(line: str) -> list[list[str]]:
    """The argument lists of every contactsync call on a shell line (split at ; && || |)."""
    calls = []
    for part in re.split(r";|&&|\|\||\|", line):
        words = shlex.split(part, comments=True)
        for i, word in enumerate(words):
            if word.endswith("/contactsync"):
                assert word.startswith(("/", "%h/")), f"not an absolute path: {line}"
                calls.append(words[i + 1:])
                break
    return calls


def assert_valid(argv: list[str]) -> None:
    """The CLI parses the line: no unknown option, missing value or bad choice. Nothing runs (a sign-in
    would reach the network): the line is parsed down to its command, as the CLI itself parses it."""
    command = typer.main.get_command(app)
    ctx = command.make_context("contactsync", list(argv))
    while hasattr(command, "resolve_command"):
        rest = [*(getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])), *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, argv
        ctx = sub.make_context(name, rest, parent=ctx)  # raises on a bad option, value or choice
        command = sub
    assert command.name == argv[0] or command.name in argv, argv


def test_the_crontab_lines_are_valid_and_tolerate_5_and_75():
    lines = [line for line in (EXAMPLES / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    assert f"{STORE_VARIABLE}=file" in lines and "file" in SECRET_STORES
    jobs = [line for line in lines if re.match(r"^[\d*/,-]+ ", line)]
    assert len([j for j in jobs if "--account" in j]) >= 2  # several accounts, one code each
    for job in jobs:
        schedule, command = " ".join(job.split()[:5]), " ".join(job.split()[5:])
        assert "%" not in command  # cron would cut the line there
        calls = contactsync_argv(command)
        assert calls, job
        for argv in calls:
            assert_valid(argv)
        if "run" in calls[0]:
            assert "[ $rc -eq 5 ]" in command and "[ $rc -eq 75 ]" in command and "exit $rc" in command


def test_the_systemd_units_are_valid_and_count_5_and_75_as_success():
    for unit in ("systemd-user/contactsync.service", "server/contactsync.service"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string((EXAMPLES / unit).read_text())
        service = parser["Service"]
        assert set(service["SuccessExitStatus"].split()) >= {"5", "75"}, unit
        for argv in contactsync_argv(service["ExecStart"]):
            assert_valid(argv)
    server = (EXAMPLES / "server/contactsync.service").read_text()
    assert f"Environment={STORE_VARIABLE}=file" in server and "Environment=CONTACTSYNC_HOME=" in server
    for timer in ("systemd-user/contactsync.timer", "server/contactsync.timer"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string((EXAMPLES / timer).read_text())
        assert parser["Timer"]["OnUnitActiveSec"]


def test_the_setup_commands_of_the_examples_readme_are_valid():
    text = (EXAMPLES / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block and f"export {STORE_VARIABLE}=file" in block.group(1)
    calls = [argv for line in block.group(1).splitlines() for argv in contactsync_argv(line)]
    assert {argv[0] for argv in calls} >= {"crm", "add-account", "configure"}
    for argv in calls:
        assert_valid(argv)


def test_a_bad_line_would_be_caught():
    import pytest

    for argv in (["run", "--once", "--acount", "x"], ["configure", "a", "--direction", "sideways"], ["nope"]):
        with pytest.raises(Exception):
            assert_valid(argv)


def test_check_status_reads_the_envelope():
    script = (EXAMPLES / "check-status.sh").read_text()
    assert ".data.accounts[]" in script and "status --json" in script


def test_the_install_lines_install_this_checkout():
    """contactsync is installed from its source checkout (no package index carries it): every pip or pipx
    line of the examples installs `.` — the folder with pyproject.toml — or an extra of it."""
    text = (EXAMPLES / "README.md").read_text()
    installs = re.findall(r"`([^`]*\bpipx? install [^`]*)`", text)
    assert any("pipx install" in line for line in installs) and any("venv" in line for line in installs), installs
    for line in installs:
        for part in re.split(r"&&|;", line):
            words = shlex.split(part)
            if "install" in words and any(w.endswith(("pip", "pipx")) for w in words):
                targets = [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
                assert targets and all(re.fullmatch(r"\.(\[[a-z,-]+\])?", t) for t in targets), line
    assert (EXAMPLES.parent / "pyproject.toml").is_file()
