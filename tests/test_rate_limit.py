"""The shared Pipedrive limiter: the plan's whole budget per window, never more, counted not timed."""

from __future__ import annotations

import threading

from pipedrive_openapi import assert_log_valid
from pipedrive_support import ADMIN_TOKEN

from contactsync.clock import ManualClock
from contactsync.crm.base import PersonWrite
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.http import SlidingWindow
from contactsync.model import Contact
from contactsync.sandbox.pipedrive import PipedriveEmulator
from contactsync.sandbox.server import serve


def starts(window: SlidingWindow, clock: ManualClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        window.acquire()
        out.append(clock.monotonic())
    return out


def most_in_any(times: list[float], span: float) -> int:
    return max(sum(1 for t in times if start <= t < start + span) for start in times)


def test_the_whole_budget_goes_out_in_each_window_and_no_more() -> None:
    clock = ManualClock(0.0)
    window = SlidingWindow(40, 2.0, margin=0.05, clock=clock)
    times = starts(window, clock, 120)
    assert most_in_any(times, 2.0) == 40  # never above the limit in any 2-second span
    # Three full bursts: 40 at once, then 40 as soon as the first leave the window.
    assert [times.count(t) for t in sorted(set(times))] == [40, 40, 40]
    assert sorted(set(times)) == [0.0, 2.05, 4.1]


def test_a_spent_window_waits_only_until_our_oldest_request_leaves_it() -> None:
    """`x-ratelimit-remaining: 0` with `x-ratelimit-reset: 2` (rounded up from 1.3 s)."""
    clock = ManualClock(0.0)
    window = SlidingWindow(2, 2.0, margin=0.05, clock=clock)
    window.acquire()
    clock.advance(0.75)
    window.acquire()
    window.spent(2.0)
    window.acquire()
    assert clock.monotonic() == 2.05  # not 0.75 + 2


def test_a_window_spent_by_someone_else_pauses_for_the_servers_reset() -> None:
    clock = ManualClock(0.0)
    window = SlidingWindow(40, 2.0, clock=clock)
    window.acquire()
    window.spent(1.0)  # the server counted 40, we sent 1: another client shares the token
    window.acquire()
    assert clock.monotonic() == 1.0


def test_search_headers_do_not_pause_person_writes(server, emulator, clock) -> None:  # noqa: F811
    emulator.search_burst_limit = 1
    crm = PipedriveCrm(server.url, ADMIN_TOKEN, limiter=SlidingWindow(80, 2.0, clock=clock), clock=clock)
    assert crm.find_by_email("nobody@example.com", 1) == []  # the search bucket answers limit 1, remaining 0
    for i in range(3):
        crm.create(PersonWrite(Contact(name=f"Writer {i}")))
    assert clock.sleeps == []  # the general bucket has room: nothing waited
    assert crm.limiter is not None and crm.limiter.limit == 80
    assert crm.search_limiter.limit == 1
    assert_log_valid(emulator)


def test_concurrent_writers_draw_under_one_percent_429s() -> None:
    """Eight threads through one limiter against a burst limit of 50 per 0.25 s window.

    Real time: the emulator's window and the limiter's log must agree on it, so the
    margin is wide (0.1 s) for a loaded machine, where a request can reach the server
    well after the limiter let it go."""
    emu = PipedriveEmulator(api_token=ADMIN_TOKEN)
    emu.load_seed()
    emu.set_burst_limit(50, window=0.25)
    running = serve(emu)
    try:
        crm = PipedriveCrm(running.url, ADMIN_TOKEN, limiter=SlidingWindow(50, 0.25, margin=0.1))
        names = iter(range(200))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    i = next(names, None)
                if i is None:
                    return
                crm.create(PersonWrite(Contact(name=f"Burst {i}")))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        running.stop()
    statuses = [e.status for e in emu.log if e.path == "/api/v2/persons"]
    assert statuses.count(200) == 200
    assert statuses.count(429) <= 2, f"{statuses.count(429)} of {len(statuses)} answered 429"


def test_calls_in_flight_follow_the_plans_rate_and_the_round_trip() -> None:
    """Little's law: requests per second × round trip, a quarter more for jitter."""
    growth = PipedriveCrm("http://127.0.0.1:9", ADMIN_TOKEN, limiter=SlidingWindow(40, 2.0))
    ultimate = PipedriveCrm("http://127.0.0.1:9", ADMIN_TOKEN, limiter=SlidingWindow(120, 2.0))
    assert growth.concurrency() is None  # nothing measured yet: the executor's default
    for crm in (growth, ultimate):
        crm._observe(0.1)
    assert (growth.concurrency(), ultimate.concurrency()) == (4, 9)
    ultimate._observe(0.6)  # the round trip grows (a moving average: 0.2 s): more in flight
    assert ultimate.concurrency() == 16
