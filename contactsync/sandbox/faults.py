"""Random fault injection: a sandbox that fails like the real services do, at a chosen rate.

Every kind here is something the real APIs do and a sync client must survive:

* ``500`` and ``503``: Google's People API documents 500 INTERNAL and 503 UNAVAILABLE
  as "retry with exponential backoff" (developers.google.com/people/v1/errors, and
  the API design guide's error table); Graph answers 503 and 504 when busy
  (learn.microsoft.com/graph/errors); Pipedrive 5xx during incidents.
* ``429`` with ``Retry-After``: Graph's throttling answer "429 Too Many Requests …
  Retry-After header" (learn.microsoft.com/graph/throttling); Pipedrive's burst limit
  (pipedrive.readme.io/docs/core-api-concepts-rate-limiting); Google's
  RESOURCE_EXHAUSTED quota errors.
* ``timeout``: no answer within the client's read timeout (the answer is held, then
  the connection closed); ``reset``: the connection closed without an answer, the
  request not processed.
* ``lost``: the request *is* processed (a create made, an update applied), then the
  connection is closed before the answer: the client cannot know its write happened.

A fault draws from a seeded generator, so a run can be replayed with the same seed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from contactsync.sandbox.server import Fault, Request

FAULT_KINDS = ("500", "503", "429", "timeout", "reset", "lost")
# Longer than contactsync's read timeout (contactsync.http.TIMEOUT, 60 s), so a client sees a timeout.
DEFAULT_TIMEOUT_DELAY = 65.0
RETRY_AFTER_SECONDS = 1


def _error_body(status: int) -> dict[str, Any]:
    # One body every client can read: Google's and Graph's {"error": {...}} with a
    # status text, and Pipedrive's {"success": false, "error": "..."} keys.
    text = {500: "INTERNAL", 503: "UNAVAILABLE", 429: "RESOURCE_EXHAUSTED"}[status]
    return {"success": False, "error": {"code": status, "message": f"injected fault: {text}", "status": text}}


@dataclass
class RandomFaults:
    """Fail each request with probability `rate`, with a kind drawn from `kinds`."""

    rate: float
    seed: int | None = None
    kinds: tuple[str, ...] = FAULT_KINDS
    timeout_delay: float = DEFAULT_TIMEOUT_DELAY
    # The seconds a 429 asks for in Retry-After; 0 still makes a 429 that the client must
    # retry (Graph: "wait the number of seconds specified in the Retry-After header" -
    # learn.microsoft.com/graph/throttling), it only spares a test the wait.
    retry_after: int = RETRY_AFTER_SECONDS
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        if self.retry_after < 0:
            raise ValueError(f"Retry-After is a number of seconds, 0 or more, not {self.retry_after}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"a fault rate is between 0 and 1, not {self.rate}")
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; the kinds are {', '.join(FAULT_KINDS)}")
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, req: Request) -> Fault | None:
        """The fault for this request, or None to serve it normally."""
        with self._lock:
            if self.rate <= 0 or self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            self.injected[kind] = self.injected.get(kind, 0) + 1
        if kind in ("500", "503"):
            return Fault(status=int(kind), body=_error_body(int(kind)))
        if kind == "429":
            return Fault(status=429, body=_error_body(429), headers={"Retry-After": str(self.retry_after)})
        if kind == "timeout":
            return Fault(delay=self.timeout_delay, drop=True)
        if kind == "reset":
            return Fault(drop=True)
        return Fault(drop=True, after=True)  # lost: applied, then the answer never arrives

    def control(self) -> dict[str, Any]:
        return {"rate": self.rate, "seed": self.seed, "kinds": list(self.kinds), "retry_after": self.retry_after,
                "injected": dict(self.injected)}
