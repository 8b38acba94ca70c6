"""The shared limiter of a burst-limited API: the whole budget of every window, never more.

Pipedrive counts each token's requests in fixed 2-second windows that start with a
request, and answers every request with ``x-ratelimit-limit`` ("the maximum number of
requests current api_token can perform per 2-second window"), ``x-ratelimit-remaining``
("the number of requests left for the 2-second window") and ``x-ratelimit-reset`` ("the
remaining window before the rate limit resets", whole seconds); past the limit it answers
429 (pipedrive.readme.io/docs/core-api-concepts-rate-limiting). The user's own actions in
the web app count too ("User's UI actions are counted in the rate limit", same page).

A token bucket's refill can put more than the limit into one of those windows; a log of
our last `limit` starts cannot. What the log does not know — requests of an earlier pass
of another process, of the user, of another client of the token — the server's headers
tell: the first request of a limiter goes out alone, and its answer seeds the log
(:meth:`SlidingWindow.observe`). A pass also hands its log to the next one
(:meth:`snapshot`, :meth:`restore`), so a pass that starts right after another never
spends the window the first one still holds.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Iterable

from contactsync.clock import SYSTEM_CLOCK, Clock

# Widened by each 429 our own log cannot explain (a request that reached the server much
# later than it left us, on a loaded machine or network), up to this much.
MAX_MARGIN = 0.5
MARGIN_STEP = 0.05
# Starts are kept this long past the period: an answer that comes back late is compared with
# the starts of the period before its own request, not before its answer.
HISTORY = 10.0
# Round trips remembered: the least of them is the path's own, without queueing.
ROUND_TRIPS = 64


class SlidingWindow:
    """At most `limit` requests in any `window` (+ `margin`) seconds, shared by threads.

    The whole budget is spent: a request waits only until the oldest of the last `limit`
    starts leaves the period. A request reaches the server's window later than it leaves
    us when it queues on the way (a burst, a loaded machine): its answer, later than the
    path's least round trip by that much, moves its start as late (:meth:`observe`).
    `margin` absorbs the jitter left (the clock's, mostly: a 429 widens it). With
    `probe`, the first request goes out alone and the others wait for its answer's
    headers, which tell what the server already counted in its window.
    """

    def __init__(self, limit: int, window: float, margin: float = 0.02, clock: Clock = SYSTEM_CLOCK,
                 *, probe: bool = False) -> None:
        self.limit = limit
        self.window = window
        self.margin = margin
        self.clock = clock
        self._starts: list[float] = []  # sorted; monotonic times, some seeded from the server's count
        self._paused_until = 0.0
        self._cond = threading.Condition()
        self._probing = probe  # until an answer is seen, one request in flight
        self._probe_out = False
        self._round_trips: deque[float] = deque(maxlen=ROUND_TRIPS)

    @property
    def period(self) -> float:
        return self.window + self.margin

    def _first(self, since: float) -> int:
        """The index of our first start at `since` or later."""
        return bisect.bisect_left(self._starts, since)

    def _in_period(self, now: float) -> int:
        """How many of our starts the period ending now holds; older ones past HISTORY are dropped."""
        old = self._first(now - self.period - HISTORY)
        if old:
            del self._starts[:old]
        return len(self._starts) - self._first(now - self.period + 1e-9)

    def _settle(self, started: float, now: float) -> None:
        """The request that `started` is answered: it counts from when it can have reached the
        server, its start plus the time it spent beyond the path's least round trip."""
        elapsed = now - started
        self._round_trips.append(elapsed)
        late = elapsed - min(self._round_trips)
        if late > 0.001:
            at = self._first(started)
            if at < len(self._starts) and self._starts[at] == started:
                del self._starts[at]
                bisect.insort(self._starts, started + late)

    def acquire(self) -> float:
        """Wait until a request may start, count it, and return its start (for :meth:`observe`)."""
        while True:
            with self._cond:
                if self._probing and self._probe_out:
                    self._cond.wait(0.05)
                    continue
                now = self.clock.monotonic()
                held = self._in_period(now)
                wait = self._paused_until - now
                if wait <= 0 and held < self.limit:
                    bisect.insort(self._starts, now)
                    if self._probing:
                        self._probe_out = True
                    return now
                if wait <= 0:  # until the oldest of the last `limit` starts leaves the period
                    wait = self.period - (now - self._starts[len(self._starts) - self.limit])
            self.clock.sleep(max(wait, 0.001))

    def abandon(self) -> None:
        """The request sent after :meth:`acquire` got no answer: the next one probes."""
        with self._cond:
            self._probe_out = False
            self._cond.notify_all()

    def observe(self, limit: int | None, remaining: int | None, reset: float | None,
                started: float | None = None) -> None:
        """The rate headers of the answer to the request that `started` (:meth:`acquire`): the
        server's limit wins over the plan we were told, and requests the server counted that
        our log does not hold are added to it.

        Our starts since a period before `started` hold every request of ours the server's
        window can have held when that request arrived (the window is shorter than our
        period), so the server's count exceeds them only by requests we did not send. They
        leave the server's window within `reset` seconds (rounded up: late rather than
        early). When they fill it (`remaining` 0), nothing goes out until then.
        """
        with self._cond:
            self._probing = self._probe_out = False
            self._cond.notify_all()
            now = self.clock.monotonic()
            if started is not None:
                self._settle(started, now)
            if limit is not None and limit > 0:
                self.limit = limit
            if remaining is None or reset is None:
                return
            self._in_period(now)
            since = (now if started is None else started) - self.period
            unexplained = self.limit - remaining - (len(self._starts) - self._first(since))
            if unexplained <= 0:
                return
            if remaining <= 0:
                self._paused_until = max(self._paused_until, now + reset)
                return
            leaves = now + min(reset, self.window) - self.period  # out of our log when the server forgets them
            for _ in range(unexplained):
                bisect.insort(self._starts, leaves)

    def refused(self, retry_after: float, reset: float) -> None:
        """A 429 for the burst limit. When our log is full, the request reached the server's
        window later than it left us: the margin widens, and the log already holds the next
        request until our oldest leaves it (but not before the server's reset can have come:
        `reset` is rounded up). Otherwise someone else fills the window: everyone waits
        `retry_after`."""
        with self._cond:
            now = self.clock.monotonic()
            if self._in_period(now) >= self.limit:
                self.margin = min(MAX_MARGIN, self.margin + MARGIN_STEP)
                self._paused_until = max(self._paused_until, now + max(0.0, reset - 1.0))
            else:
                self._paused_until = max(self._paused_until, now + retry_after)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (a server's Retry-After)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self.clock.monotonic() + seconds)

    def adopt_limit(self, limit: int) -> None:
        """The server's `x-ratelimit-limit` wins over the plan we were told."""
        if limit > 0:
            with self._cond:
                self.limit = limit

    def snapshot(self) -> list[float]:
        """Our starts still in the period, as wall-clock times (for the next pass, maybe another process)."""
        with self._cond:
            now = self.clock.monotonic()
            offset = self.clock.time() - now
            return [round(t + offset, 4) for t in self._starts[len(self._starts) - self._in_period(now):]]

    def restore(self, starts: Iterable[float]) -> None:
        """Starts of an earlier pass (wall-clock times, from :meth:`snapshot`) count in this log."""
        with self._cond:
            now = self.clock.monotonic()
            offset = self.clock.time() - now
            for wall in starts:
                t = min(float(wall) - offset, now)  # a clock set back never puts a start in the future
                if now - t < self.period:
                    bisect.insort(self._starts, t)
