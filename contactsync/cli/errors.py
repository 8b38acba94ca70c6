"""The one error boundary: each core error becomes one line and an exit code (DESIGN §10)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from contactsync.errors import ContactSyncError

F = TypeVar("F", bound=Callable[..., Any])

state: dict[str, Any] = {"debug": False, "log_file": None, "verbose": 0}


def start_logging() -> None:
    """Open the log file (state directory, or --log-file); -v logs more, -vv also to stderr."""
    from pathlib import Path

    from contactsync import config, logs

    path = Path(state["log_file"]) if state["log_file"] else config.state_dir() / "contactsync.log"
    logs.setup(path, state["verbose"], stderr=state["verbose"] > 1)


def debug_enabled() -> bool:
    return state["debug"] or os.environ.get("CONTACTSYNC_DEBUG") == "1"


def fail(error: ContactSyncError) -> typer.Exit:
    from contactsync.cli.render import err

    err.print(f"[red]error:[/red] {error.line()}", soft_wrap=True)
    return typer.Exit(error.exit_code)


def boundary(func: F) -> F:
    """Turn a ContactSyncError into its line and exit code; --debug re-raises it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ContactSyncError as exc:
            if debug_enabled():
                raise
            raise fail(exc) from None
        except KeyboardInterrupt:
            from contactsync.cli.render import err

            err.print("interrupted; what finished is recorded and the next run resumes")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
