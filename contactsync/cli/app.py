"""The Typer application and its global options."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup

from contactsync import __version__
from contactsync.cli.errors import state

# Options of the whole program, accepted anywhere on the line: `contactsync run --once -v`
# works as `contactsync -v run --once` does (people add --debug at the end of the line they ran).
GLOBAL_FLAGS = ("--debug", "--verbose")
GLOBAL_VALUED = ("--log-file",)


def hoist_global_options(args: list[str]) -> list[str]:
    """`args` with the global options moved to the front, in their order; `--` ends the search."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_FLAGS or (len(arg) > 1 and arg.startswith("-") and set(arg[1:]) == {"v"}):
            front.append(arg)
        elif arg in GLOBAL_VALUED and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        elif arg.split("=", 1)[0] in GLOBAL_VALUED:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _argument_usage(self: TyperArgument) -> str:
    """`ACCOUNT`, `[ACCOUNT]` or `ACCOUNT...` in a usage line, as click writes them."""
    name = self.metavar or self.name or ""
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def _plain_argument_help() -> None:
    """Arguments in help as click shows them: `ACCOUNT`, not `ACCOUNT <str>` nor `{ACCOUNT}`.

    Recent Typer versions add the Python type to an argument's help line and brace
    a required one in the usage line, noise that the metavar (what to type) makes
    useless. Options already print their metavar alone. Older Typer has neither
    hook and needs nothing."""
    if hasattr(TyperArgument, "display_type_rich"):
        setattr(TyperArgument, "display_type_rich", lambda self, ctx: None if self.metavar else self.display_type(ctx))
    if hasattr(TyperArgument, "_usage_display_name"):
        setattr(TyperArgument, "_usage_display_name", _argument_usage)


_plain_argument_help()


class GlobalOptionsGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(list(args)))


app = typer.Typer(
    name="contactsync",
    cls=GlobalOptionsGroup,
    help=(
        "Keep Google, Microsoft and CardDAV (iCloud, Fastmail, Nextcloud) contacts and Pipedrive persons in step, one-way or two-way.\n\n"
        "Start with `contactsync demo` to try it on the built-in sandbox. Global options "
        "(--debug, -v, --log-file) may stand anywhere on the line."
    ),
    no_args_is_help=True,
    # Plain help: it wraps at any width without cutting option names, and shows
    # flags as flags and choices as [a|b|c].
    rich_markup_mode=None,
    # Tracebacks may hold tokens in local variables: never show them.
    pretty_exceptions_show_locals=False,
)
crm_app = typer.Typer(help="Connect the CRM (Pipedrive).", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(crm_app, name="crm")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"contactsync {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, show_default=False,
                                help="Log more (-v); also to stderr (-vv)."),
    log_file: str = typer.Option(None, "--log-file", metavar="PATH",
                                 help="Log here instead of contactsync.log in the state directory."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    state["debug"] = debug
    state["verbose"] = verbose
    state["log_file"] = log_file
