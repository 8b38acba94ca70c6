"""The one error boundary: each core error becomes one line and an exit code (DESIGN §10)."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar, overload

import typer

from contactsync.errors import ContactSyncError

F = TypeVar("F", bound=Callable[..., Any])

state: dict[str, Any] = {"debug": False, "log_file": None, "verbose": 0}


def start_logging() -> None:
    """Open the log file (state directory, or --log-file); -v logs more, -vv also to stderr."""
    from pathlib import Path

    from contactsync import config, logs

    chosen = bool(state["log_file"])
    path = Path(state["log_file"]).expanduser() if chosen else config.state_dir() / "contactsync.log"
    logs.setup(path, state["verbose"], stderr=state["verbose"] > 1, chosen=chosen)


def debug_enabled() -> bool:
    return state["debug"] or os.environ.get("CONTACTSYNC_DEBUG") == "1"


def fail(error: ContactSyncError) -> typer.Exit:
    from rich.markup import escape

    from contactsync.cli.render import err

    # The line quotes what the user or a service wrote (a name, an answer): text, never markup.
    err.print(f"[red]error:[/red] {escape(error.line())}", soft_wrap=True)
    return typer.Exit(error.exit_code)


def local_failure(exc: Exception) -> ContactSyncError | None:
    from contactsync import config, paths

    return paths.local_failure(exc, config.state_path())


@overload
def boundary(func: F) -> F: ...


@overload
def boundary(*, home: bool = True, json_kind: str | None = None) -> Callable[[F], F]: ...


def boundary(func: F | None = None, *, home: bool = True, json_kind: str | None = None) -> F | Callable[[F], F]:
    """Turn a ContactSyncError into its line and exit code; --debug re-raises it.

    With `home`, the config and state folders are checked first, so an unusable
    home is one line before anything else runs. With `json_kind`, a command run
    with --json also prints the error in its JSON envelope on stdout.
    """
    if func is None:
        return functools.partial(boundary, home=home, json_kind=json_kind)

    def report(error: ContactSyncError, json_out: bool) -> typer.Exit:
        if json_kind is not None and json_out:
            from contactsync.cli.envelope import print_envelope

            print_envelope(json_kind, None, error=error)
        return fail(error)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if home:
                from contactsync import paths

                paths.ensure_home()
            return func(*args, **kwargs)
        except ContactSyncError as exc:
            if debug_enabled():
                raise
            raise report(exc, bool(kwargs.get("json_out"))) from None
        except (OSError, sqlite3.OperationalError) as exc:
            line = local_failure(exc)
            if line is None or debug_enabled():
                raise
            raise report(line, bool(kwargs.get("json_out"))) from None
        except KeyboardInterrupt:
            from contactsync.cli.render import err

            err.print("interrupted; what finished is recorded and the next run resumes")
            raise typer.Exit(130) from None

    return wrapper
