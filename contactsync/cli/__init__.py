"""The command-line interface: parse, call one core function, render."""

from contactsync.cli import run_cmds, sandbox_cmds, setup_cmds  # noqa: F401  (registers the commands)
from contactsync.cli.app import app


def main() -> None:
    app(prog_name="contactsync")


__all__ = ["app", "main"]
