"""Help, choices and completion: what a new user types and reads."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from cli_support import cli, setup_account
from contactsync.cli.app import app
from contactsync.settings import ConflictPolicy, Direction, Plan, Visibility, choices


def complete(words: str) -> list[str]:
    """What bash completion offers for the last word of `words` (typer's completion protocol:
    bash runs the program with these variables set and reads its output), run in this process."""
    parts = words.split(" ")
    env = {"_CONTACTSYNC_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    r = CliRunner().invoke(app, [], env=env, prog_name="contactsync")
    assert r.exit_code == 0, r.output
    return r.stdout.split()


def test_help_at_60_columns_keeps_every_option_name_whole():
    for command in (["run"], ["configure"], ["crm", "connect"], ["add-account"], ["status"]):
        r = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "60"}, terminal_width=60)
        assert r.exit_code == 0
        assert "…" not in r.stdout and "<bool>" not in r.stdout, r.stdout
    r = cli("run", "--help")
    for option in ("--once", "--allow-mass-delete", "--allow-empty", "--dry-run", "--interval DURATION"):
        assert option in r.stdout


def test_settings_are_choices_in_help():
    r = cli("configure", "--help")
    for kind in (Direction, ConflictPolicy, Visibility):
        assert "|".join(choices(kind)) in r.stdout
    assert "|".join(choices(Plan)) in cli("crm", "connect", "--help").stdout
    assert "common|consumers|organizations" in cli("add-account", "--help").stdout


def test_an_unknown_choice_is_refused_with_the_choices():
    r = cli("configure", "ann@example.com", "--direction", "sideways")
    assert r.exit_code == 2
    assert "one-way" in r.stderr and "two-way" in r.stderr


def test_completion_offers_the_choices_and_the_accounts(box, isolated_home):
    assert complete("contactsync configure x --direction ") == choices(Direction)
    assert complete("contactsync crm connect --plan p") == ["premium", "professional", "power"]
    assert complete("contactsync add-account ") == ["google", "microsoft", "carddav"]
    assert complete("contactsync add-account microsoft a --tenant c") == ["common", "consumers"]
    setup_account(box)
    assert complete("contactsync status goo") == ["google:ann@example.com"]
    assert complete("contactsync run --once --account ann") == ["ann@example.com"]


def test_completion_can_be_installed(monkeypatch):
    # `--show-completion` takes no value: Typer asks shellingham for the shell that started the
    # process (its process tree), so the answer depended on how pytest was launched; under
    # `-n 0` from a non-bash parent the trailing "bash" was ignored and the command exited 1.
    # Here the user's shell is bash, as it would be when they type it.
    monkeypatch.setattr("shellingham.detect_shell", lambda *args, **kwargs: ("bash", "/bin/bash"))
    r = cli("--show-completion")
    assert r.exit_code == 0 and "_CONTACTSYNC_COMPLETE" in r.stdout, r.output


def test_crm_connect_off_a_terminal_takes_the_plan_from_the_burst_limit_or_needs_it(box):
    from contactsync import config

    connect = ["crm", "connect", "--domain", box.domain, "--base-url", box.pipedrive_url, "--api-token-stdin"]
    box.pipedrive.set_burst_limit(33)  # no plan has it: nothing to go by, so --plan is needed
    r = cli(*connect, input=box.api_token + "\n")
    assert r.exit_code == 2
    assert "--plan" in r.stderr and "33 requests per 2 s" in r.stderr and config.load().crm is None
    box.pipedrive.set_burst_limit(20)  # Lite's (pipedrive.readme.io/docs/core-api-concepts-rate-limiting)
    r = cli(*connect, input=box.api_token + "\n")
    assert r.exit_code == 0, r.output
    assert "Plan: lite" in r.stderr and "20 requests per 2 s" in r.stderr
    assert config.load().require_crm().plan == "lite"
    r = cli(*connect[:4], "--plan", "ULTIMATE", *connect[4:], input=box.api_token + "\n")
    assert r.exit_code == 0, r.output
    assert "Plan:" not in r.stderr and config.load().require_crm().plan == "ultimate"


def test_the_cli_starts_without_the_emulators_or_the_engine():
    """`import contactsync.cli` (every command's start) loads neither the sandbox nor the sync engine
    (only the engine's list of event words, engine/events.py)."""
    code = ("import sys, contactsync.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('contactsync.sandbox', 'contactsync.engine.', "
            "'googleapiclient', 'msal')) and m != 'contactsync.engine.events'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
