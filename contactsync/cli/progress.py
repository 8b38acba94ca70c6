"""Progress of a pass: a bar per account on a terminal, a plain line every 10 s off one.

The engine reports three things (engine/run.py): the pass's kind and the number of
contacts the provider will list (`on_start`), the contacts read after each page
(`progress`), and the writes done and planned so far after every write
(`on_applied`). `PassProgress` turns them into a total that is known from the
start when the provider says how many contacts a full listing holds (Google's
totalPeople or a group's memberCount, Graph's @odata.count, the CardDAV listing's
hrefs: ChangeFeed.expected), and that moves with every write. An incremental
listing has no count (none is asked for): the lines say only what is known.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from contactsync.cli.render import err

if TYPE_CHECKING:
    from contactsync.config import AccountConfig
    from contactsync.engine.run import PassOptions

PLAIN_EVERY = 10.0  # seconds between plain lines off a terminal: logs show life


class Display(Protocol):
    def update(self, state: PassProgress) -> None: ...

    def close(self, state: PassProgress) -> None: ...


class PassProgress:
    """One account's pass as the displays see it: kind, contacts read of expected, writes done of total."""

    def __init__(self, account: str, display: Display, clock: Callable[[], float] = time.monotonic,
                 dry_run: bool = False) -> None:
        self.account = account
        # A dry run writes nothing: its progress is the contacts read, of the provider's count.
        self.dry_run = dry_run
        self.display = display
        self.clock = clock
        self.started = clock()
        self.kind = "pass"
        self.expected: int | None = None
        self.read = 0
        self.done = 0
        self.planned = 0
        self.planned_read = 0  # writes planned for the pages read (not the one being applied)
        self.closed = False
        self._lock = threading.Lock()

    # -- the engine's callbacks ------------------------------------------------------

    def on_start(self, kind: str, expected: int | None) -> None:
        with self._lock:
            self.kind, self.expected = kind, expected
        self.display.update(self)

    def on_read(self, count: int) -> None:
        if count < 0:
            self.close()
            return
        with self._lock:
            # The engine reports a page read once its writes are applied (engine/run.py): the
            # writes planned so far are those of the contacts read so far.
            self.read += count
            self.planned_read = self.planned
        self.display.update(self)

    def on_applied(self, done: int, total: int) -> None:
        with self._lock:
            self.done, self.planned = done, total
        self.display.update(self)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.display.close(self)

    # -- what the displays show ----------------------------------------------------------

    @property
    def completed(self) -> int:
        """What the bar counts: writes done, or contacts read in a dry run."""
        return self.read if self.dry_run else self.done

    @property
    def bar_total(self) -> int | None:
        if not self.dry_run:
            return self.total
        return self.expected if self.expected is not None and self.read < self.expected else (self.read or None)

    @property
    def total(self) -> int | None:
        """Writes this pass will make: the planned ones once the listing is read, else an estimate
        from the writes of the pages read and their share of the listing; None while nothing tells."""
        if self.expected is None or self.read >= self.expected:
            return self.planned if self.read or self.planned else None
        if self.read == 0:
            return max(self.planned, self.expected)
        return max(self.planned, round(self.planned_read * self.expected / self.read))

    @property
    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.completed / elapsed if elapsed > 0 else 0.0

    @property
    def read_text(self) -> str:
        """Contacts read of the provider's count; an unknown count is left unsaid, never guessed."""
        return f"{self.read} of {self.expected} read" if self.expected is not None else f"{self.read} read"

    @property
    def written_text(self) -> str:
        if self.dry_run:
            return "dry run, nothing written"
        total = self.total
        return f"{self.done} of {total} written" if total is not None else f"{self.done} written"

    def line(self) -> str:
        return f"{self.account}: {self.kind} pass, {self.written_text}, {self.read_text}, {self.rate:.0f}/s"


class PlainLines:
    """Off a terminal: a line on stderr at least every `every` seconds while the pass runs."""

    def __init__(self, every: float | None = None, clock: Callable[[], float] = time.monotonic,
                 ticker: bool = True) -> None:
        self.every = PLAIN_EVERY if every is None else every
        self.clock = clock
        self.last = clock()
        self.ticker = ticker
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _print(self, state: PassProgress) -> None:
        with self._lock:
            self.last = self.clock()
            err.print(state.line(), soft_wrap=True, markup=False, highlight=False)

    def update(self, state: PassProgress) -> None:
        if self.ticker and self._thread is None:
            # A write can take long (a rate-limit wait): a thread keeps the lines coming.
            self._thread = threading.Thread(target=self._tick, args=(state,), daemon=True, name="progress")
            self._thread.start()
        if self.clock() - self.last >= self.every:
            self._print(state)

    def _tick(self, state: PassProgress) -> None:
        while not self._stop.wait(max(self.every, 1.0)):
            if self.clock() - self.last >= self.every:
                self._print(state)

    def close(self, state: PassProgress) -> None:
        self._stop.set()


class Bar:
    """On a terminal: a rich bar on stderr with the writes done of the total, the contacts read of the
    provider's count, the rate and the time. An unknown total shows as `?` with a pulsing bar; a
    terminal narrower than WIDE keeps the words (account, written, read, rate) and drops the bar."""

    WIDE = 100

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        columns: list[ProgressColumn | str] = [TextColumn("{task.fields[line]}", markup=False,
                                                                      table_column=Column(overflow="fold"))]
        if err.width >= self.WIDE:
            columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
                       MofNCompleteColumn(), TaskProgressColumn(), TextColumn("{task.fields[read]}"),
                       TextColumn("{task.fields[rate]}"), TimeElapsedColumn()]
        self.progress = Progress(*columns, console=err, transient=True)
        self.task: Any = None

    def update(self, state: PassProgress) -> None:
        description = f"{state.account} ({state.kind})"
        if self.task is None:
            self.task = self.progress.add_task(description, total=state.bar_total, rate="", read="", line="")
            self.progress.start()
        self.progress.update(self.task, description=description, completed=state.completed, total=state.bar_total,
                             line=state.line(), read=state.read_text, rate=f"{state.rate:.0f}/s")

    def close(self, state: PassProgress) -> None:
        if self.task is not None:
            self.progress.stop()


class AccountDisplays:
    """Per account: a PassProgress wired into `options` (on_start, on_applied); its on_read is the
    engine's page callback. The previous account's display is closed when the next one opens, and
    `close` ends the last: a pass that raised before its end never leaves a bar or a ticker behind
    (rich allows one live display at a time)."""

    def __init__(self, options: PassOptions) -> None:
        self.options = options
        self.terminal = err.is_terminal
        self.current: PassProgress | None = None

    def __call__(self, account: AccountConfig) -> Callable[[int], None]:
        self.close()
        state = self.current = PassProgress(account.key, Bar() if self.terminal else PlainLines(),
                                            dry_run=self.options.dry_run)
        self.options.on_start = state.on_start
        self.options.on_applied = state.on_applied
        return state.on_read

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


def progress_factory(options: PassOptions, quiet: bool) -> AccountDisplays | None:
    """The displays of a run's passes; None when quiet."""
    return None if quiet else AccountDisplays(options)
