"""The sandbox of a benchmark, in a process of its own.

The client's CPU time and peak memory are measured in the benchmark's process,
so the emulators must not run there. This process seeds the Google emulator,
sets each plan's burst limit and a latency, serves, and answers commands sent
over a pipe: counts of the requests seen since the last call, and edits.
"""

from __future__ import annotations

import collections
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from contactsync.sandbox import launch
from contactsync.sandbox.server import Emulator, Request, Response

# Pipedrive's documented burst limits per 2-second window, by plan
# (https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting).
BURST = {"lite": 20, "growth": 40, "premium": 80, "power": 100, "ultimate": 120}


def person(i: int, orgs: int) -> dict[str, Any]:
    """A Google contact with one e-mail and one phone; `orgs` = 0 gives each its own organization."""
    org = f"Org {i % orgs}" if orgs else f"Own Org {i}"
    return {
        "names": [{"givenName": f"Bench{i}", "familyName": "Person"}],
        "emailAddresses": [{"value": f"bench{i}@example.org", "type": "work"}],
        "phoneNumbers": [{"value": f"+1 555 {i:05d}", "type": "mobile"}],
        "organizations": [{"name": org, "title": "Buyer"}],
        "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}],
    }


def _endpoint(name: str, method: str, path: str) -> str:
    parts = ["{id}" if part.isdigit() or part.startswith("c1") or part.startswith("c2") else part
             for part in path.split("/")]
    return f"{name} {method} {'/'.join(parts)}"


class _Timed:
    """Wraps an emulator's `record` to keep the time of every request."""

    def __init__(self, name: str, emulator: Emulator) -> None:
        self.name = name
        self.emulator = emulator
        self.times: list[tuple[float, str, int]] = []
        original = emulator.record

        def record(req: Request, resp: Response) -> None:
            self.times.append((time.monotonic(), _endpoint(name, req.method, req.path), resp.status))
            original(req, resp)

        emulator.record = record  # type: ignore[method-assign]

    def take(self) -> list[tuple[float, str, int]]:
        taken, self.times = self.times, []
        self.emulator.log.clear()
        return taken


def serve(conn: Connection, contacts: int, orgs: int, plan: str, latency: float) -> None:
    """The child process's main: serve until told to stop."""
    with tempfile.TemporaryDirectory() as tmp:
        box = launch.start(Path(tmp), seed=False, plan=plan)
        box.pipedrive.load({"users": [{"id": 1, "name": "Ann", "email": "ann@acme.example", "is_admin": True}]})
        box.pipedrive.set_burst_limit(BURST[plan])
        ids = [box.google.add_person(person(i, orgs)) for i in range(contacts)]
        timed = [_Timed("google", box.google), _Timed("pipedrive", box.pipedrive)]
        conn.send({"google": box.google_url, "pipedrive": box.pipedrive_url, "token": box.api_token,
                   "domain": box.domain, "email": box.google_email,
                   "client_secrets": box.client_secrets.read_text(encoding="utf-8")})
        try:
            while True:
                command, *args = conn.recv()
                if command == "latency":
                    for emulator in (box.google, box.pipedrive):
                        emulator.latency = latency
                    conn.send(True)
                elif command == "take":
                    requests = [entry for t in timed for entry in t.take()]
                    conn.send({"requests": requests, "tokens": box.pipedrive.daily_used})
                elif command == "churn":
                    edits, creates, deletes = args
                    for rn in ids[:edits]:
                        box.google.edit_person(rn, {"organizations": [{"name": "Org 0", "title": "Chief"}]})
                    for i in range(creates):
                        ids.append(box.google.add_person(person(contacts + i, orgs)))
                    for rn in ids[edits:edits + deletes]:
                        box.google.delete_person(rn)
                    conn.send(True)
                elif command == "stop":
                    break
        finally:
            box.stop()


def summarise(requests: list[tuple[float, str, int]]) -> dict[str, Any]:
    """Requests by endpoint, 429s, and the busiest rates of Pipedrive requests."""
    by_endpoint = collections.Counter(endpoint for _, endpoint, _ in requests)
    throttled = sum(1 for _, endpoint, status in requests if status == 429 and endpoint.startswith("pipedrive"))
    times = sorted(t for t, endpoint, _ in requests if endpoint.startswith("pipedrive"))
    # Requests per second over the pass, measured over at least one 2-s window: a pass of
    # 13 requests in 0.4 s used 13 of the window's budget, not 32 requests per second of it.
    rate = 0.0
    if len(times) > 1:
        rate = (len(times) - 1) / max(times[-1] - times[0], 2.0)
    # The most Pipedrive requests that arrived within any 2 seconds (never above the plan's limit).
    busiest, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 2.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return {
        "requests": dict(by_endpoint.most_common()),
        "google_requests": sum(n for k, n in by_endpoint.items() if k.startswith("google")),
        "pipedrive_requests": len(times),
        "pipedrive_429": throttled,
        "pipedrive_rate": rate,
        "pipedrive_most_in_2s": busiest,
    }
