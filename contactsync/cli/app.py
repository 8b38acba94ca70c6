"""The Typer application and its global options."""

from __future__ import annotations

import typer

from contactsync import __version__
from contactsync.cli.errors import state

app = typer.Typer(
    name="contactsync",
    help=(
        "Keep Google and Microsoft contacts and Pipedrive persons in step, one-way or two-way.\n\n"
        "Start with `contactsync demo` to try it on the built-in sandbox."
    ),
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks may hold tokens in local variables: never show them.
    pretty_exceptions_show_locals=False,
)
crm_app = typer.Typer(help="Connect the CRM (Pipedrive).", no_args_is_help=True)
app.add_typer(crm_app, name="crm")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"contactsync {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="Log more (-v); also to stderr (-vv)."),
    log_file: str = typer.Option(None, "--log-file", help="Log here instead of contactsync.log in the state directory."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    state["debug"] = debug
    state["verbose"] = verbose
    state["log_file"] = log_file
