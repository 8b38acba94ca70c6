"""A rich progress bar per account on a terminal; nothing extra when not on one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from contactsync.cli.render import err

if TYPE_CHECKING:
    from contactsync.config import AccountConfig
    from contactsync.engine.run import Progress as ProgressCallback


def progress_bars(quiet: bool) -> Callable[[AccountConfig], ProgressCallback | None] | None:
    """A factory of per-account progress callbacks, or None off a terminal or when quiet.

    The total of contacts is not known before the listing ends, so the bar counts
    the contacts read and spins; it draws on stderr, leaving stdout to results.
    """
    if quiet or not err.is_terminal:
        return None

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    def for_account(account: AccountConfig) -> ProgressCallback:
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err, transient=True,
        )
        task = progress.add_task(account.key, total=None)
        progress.start()

        def advance(count: int) -> None:
            if count < 0:
                progress.stop()
                return
            progress.advance(task, count)

        return advance

    return for_account
