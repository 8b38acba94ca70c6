"""The shared Pipedrive limiter: the plan's whole budget per window, never more, counted not timed."""

from __future__ import annotations

import threading

import pytest
import requests

from pipedrive_openapi import assert_log_valid
from pipedrive_support import ADMIN_TOKEN

from contactsync.clock import ManualClock
from contactsync.crm.base import PersonWrite
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.crm.cache import CrmCache
from contactsync.ratelimit import SlidingWindow
from contactsync.store import LinkStore
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
    started = window.acquire()
    window.observe(2, 0, 2.0, started)
    window.acquire()
    assert clock.monotonic() == 2.05  # not 0.75 + 2


def test_a_window_spent_by_someone_else_pauses_for_the_servers_reset() -> None:
    clock = ManualClock(0.0)
    window = SlidingWindow(40, 2.0, clock=clock)
    started = window.acquire()
    window.observe(40, 0, 1.0, started)  # the server counted 40, we sent 1: another client shares the token
    window.acquire()
    assert clock.monotonic() == 1.0


def test_requests_the_server_counted_and_we_did_not_send_take_their_slots_until_its_reset() -> None:
    """A pass that starts while the window still holds 30 requests of someone else (or of an
    earlier pass in another process): the first answer says so, and the budget left is spent."""
    clock = ManualClock(0.0)
    window = SlidingWindow(120, 2.0, margin=0.05, clock=clock, probe=True)
    started = window.acquire()
    window.observe(120, 89, 1.0, started)  # 31 counted: ours and 30 others, for at most 1 s more
    times = starts(window, clock, 100)
    assert times.count(0.0) == 89  # the rest of the server's window at once
    assert min(t for t in times if t > 0) == 1.0  # then as the others leave it
    # Our own requests never count twice: an answer that counts only ours (90 + 11) adds nothing.
    window.observe(120, 19, 1.0, clock.monotonic())
    more = starts(window, clock, 20)
    assert more[:19] == [1.0] * 19 and more[19] == 2.05


def test_our_requests_in_flight_are_not_taken_for_someone_elses() -> None:
    """The answer to the first of 40 requests sent at once counts only that one."""
    clock = ManualClock(0.0)
    window = SlidingWindow(40, 2.0, margin=0.05, clock=clock)
    first = window.acquire()
    starts(window, clock, 39)
    window.observe(40, 39, 2.0, first)  # the server had seen 1 when it answered
    window.acquire()
    assert clock.monotonic() == 2.05  # our 40 fill the window; nothing else was added


def test_a_pass_right_after_another_waits_for_the_window_the_first_still_holds() -> None:
    """The log goes through the store's CRM cache, as wall-clock times, to the next pass."""
    clock = ManualClock(1000.0)
    first = SlidingWindow(40, 2.0, margin=0.05, clock=clock)
    starts(first, clock, 30)
    clock.advance(1.0)
    cache = CrmCache()
    cache.track("rate", first.snapshot)
    store = LinkStore.memory()
    cache.save(store, "acme:1")
    second = SlidingWindow(40, 2.0, margin=0.05, clock=clock)
    second.restore(CrmCache.load(store, "acme:1").get("rate"))
    times = starts(second, clock, 11)
    assert times[:10] == [1001.0] * 10 and times[10] == 1002.05  # 10 left until the first pass's leave


def test_a_429_our_log_explains_widens_the_margin_instead_of_pausing_everyone() -> None:
    clock = ManualClock(0.0)
    window = SlidingWindow(4, 2.0, margin=0.05, clock=clock)
    starts(window, clock, 4)
    clock.advance(1.0)
    window.refused(2.0, 1.0)  # a request of ours reached the server's window late
    assert window.margin == 0.1
    window.acquire()
    assert clock.monotonic() == 2.1  # when our oldest leaves the wider period, not 1 + Retry-After
    window.refused(2.0, 1.0)  # our log holds 1: someone else fills the window
    window.acquire()
    assert clock.monotonic() == 4.1


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
    """Little's law: requests per second × round trip, four times over (a window's budget in a
    quarter of it)."""
    growth = PipedriveCrm("http://127.0.0.1:9", ADMIN_TOKEN, limiter=SlidingWindow(40, 2.0, margin=0.05))
    ultimate = PipedriveCrm("http://127.0.0.1:9", ADMIN_TOKEN, limiter=SlidingWindow(120, 2.0, margin=0.05))
    assert growth.concurrency() is None  # nothing measured yet: the executor's default
    for crm in (growth, ultimate):
        crm._observe(0.1)
    assert (growth.concurrency(), ultimate.concurrency()) == (9, 25)
    ultimate._observe(0.6)  # the round trip grows (a moving average: 0.2 s): more in flight
    assert ultimate.concurrency() == 48


class _FailingOnceSession:
    """A session whose first request fails outside requests' own errors (a token pasted with a
    typographic quote cannot be encoded into a header), then answers 200."""

    def __init__(self) -> None:
        self.calls = 0

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        self.calls += 1
        if self.calls == 1:
            raise UnicodeEncodeError("latin-1", "\u2019", 0, 1, "ordinal not in range(256)")
        resp = requests.Response()
        resp.status_code, resp._content = 200, b'{"data": {"id": 1}}'
        resp.headers["Content-Type"] = "application/json"
        return resp


def test_a_probe_that_fails_outside_requests_errors_frees_the_limiter() -> None:
    """The first request of a probing limiter goes out alone: when it fails with any exception,
    the next request must not wait for its answer forever (every worker would hang)."""
    limiter = SlidingWindow(20, 2.0, clock=ManualClock(0.0), probe=True)
    session = _FailingOnceSession()
    crm = PipedriveCrm("http://pipedrive.invalid", "token", session=session,  # type: ignore[arg-type]
                       limiter=limiter, clock=ManualClock(0.0))
    with pytest.raises(UnicodeEncodeError):
        crm._json("GET", "/api/v1/users/me", "read the connected user")
    answered: list[dict[str, object]] = []
    worker = threading.Thread(target=lambda: answered.append(crm._json("GET", "/api/v1/users/me", "read")),
                              daemon=True)
    worker.start()
    worker.join(10.0)  # a hang guard, not a timing: stuck forever without the fix
    assert answered == [{"data": {"id": 1}}] and session.calls == 2


class _GeneralHeadersSession:
    """Answers every request with the general bucket's headers (80 a window), as a search answer
    may carry them: budget_spent() does not trust a search answer's headers either."""

    def __init__(self) -> None:
        self.calls = 0

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        self.calls += 1
        resp = requests.Response()
        resp.status_code, resp._content = 200, b'{"data": {"items": []}, "additional_data": {}}'
        resp.headers.update({"Content-Type": "application/json", "x-ratelimit-limit": "80",
                             "x-ratelimit-remaining": "79", "x-ratelimit-reset": "2"})
        return resp


def test_a_search_answer_never_raises_the_search_limit_above_the_documented_ten() -> None:
    """'The Search API will have a new rate limit of 10 requests per 2 seconds per api_token'
    (developers.pipedrive.com changelog, 2022): a larger x-ratelimit-limit on a search answer
    is the general bucket's, and following it would send 80 searches a window."""
    clock = ManualClock(0.0)
    crm = PipedriveCrm("http://pipedrive.invalid", "token", session=_GeneralHeadersSession(),  # type: ignore[arg-type]
                       limiter=SlidingWindow(80, 2.0, clock=clock), clock=clock)
    crm._json("GET", "/api/v2/persons/search", "search persons", params={"term": "x"})
    assert crm.search_limiter.limit == 10
    times = starts(crm.search_limiter, clock, 20)
    assert most_in_any(times, 2.0) == 10
