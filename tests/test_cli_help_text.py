"""Help that a new user reads whole: no cut command summaries, no Python types, no split URLs."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from contactsync.cli import app


def _commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in getattr(root, "commands").items():
        paths.append([name])
        paths.extend([name, sub] for sub in getattr(command, "commands", {}))
    return paths


@pytest.mark.parametrize("columns", ["60", "200"])
def test_every_help_reads_whole_at_any_width(columns: str) -> None:
    paths = _commands()
    assert ["crm", "connect"] in paths and ["remove-account"] in paths
    for path in paths:
        r = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": columns})
        assert r.exit_code == 0, (path, r.output)
        text = r.output.replace("COMMAND [ARGS]...", "")
        assert "..." not in text, (path, text)
        assert not re.search(r"<(str|int|float|path|bool)>", text), (path, text)
        assert not re.search(r"\{[A-Z_]+\}", text), (path, text)  # usage: ACCOUNT, not {ACCOUNT}
        assert not re.search(r"https?:/\s|https?:\s", text), (path, text)  # a URL split across lines


def test_the_sandbox_plan_lists_its_choices() -> None:
    r = CliRunner().invoke(app, ["sandbox", "--help"], env={"COLUMNS": "200"})
    assert "--plan [lite|growth|premium|" in r.output
