"""Time as a value: what waits (rate limits, Retry-After, polling) ask for the time and sleep.

Code that waits takes a :class:`Clock` instead of calling :mod:`time` itself, so a
test can hand it a :class:`ManualClock` and count the waits without spending them.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK: Clock = SystemClock()


class ManualClock:
    """A clock that moves only when slept on or advanced; every sleep is recorded.

    Shared by threads: a sleep moves the time for everyone, as a real sleep lets
    it pass for everyone.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.monotonic()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
