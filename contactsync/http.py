"""One place that makes HTTP sessions: timeouts, safe retries, Retry-After, rate limiting."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from contactsync import __version__

USER_AGENT = f"contactsync/{__version__}"
# (connect, read) seconds; generous read for large pages on slow links.
TIMEOUT = (10.0, 60.0)
# Methods that may be repeated without a second effect. POST is never here: a
# create that timed out may have happened, and the stamp lookup decides.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "PATCH"})


class SlidingWindow:
    """At most `limit` requests in any `period` seconds, shared by threads.

    Pipedrive counts requests in fixed windows; a token bucket's refill can put
    more than the limit into one of them, a log of the last `limit` starts cannot.
    """

    def __init__(self, limit: int, period: float, margin: float = 0.05) -> None:
        self.limit = limit
        self.period = period + margin
        self._starts: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                if wait <= 0:
                    wait = self.period - (now - self._starts[0])
            time.sleep(max(wait, 0.001))

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


class _ServerErrorRetry(Retry):
    """urllib3's Retry, minus its own handling of 429 and 413.

    Retry re-sends any allowed request answered 429 with a Retry-After header, and
    sleeps for it, even when 429 is not in `status_forcelist` (urllib3
    `Retry.is_retry`, RETRY_AFTER_STATUS_CODES). The adapters handle 429 themselves
    (budget or burst, a shared pause, an injected sleep); here only server errors
    are retried.
    """

    RETRY_AFTER_STATUS_CODES = frozenset({503})


class _TimeoutAdapter(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = TIMEOUT
        return super().send(request, **kwargs)


def make_session(retries: int = 3) -> requests.Session:
    """A session with a default timeout, TLS on, our User-Agent and safe retries.

    Retries cover connection errors and 502/503/504 for idempotent methods only;
    429 is left to the caller, which knows the API's rate headers.
    """
    retry = _ServerErrorRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=0.5,
        status_forcelist=(502, 503, 504),
        allowed_methods=IDEMPOTENT,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = _TimeoutAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.verify = True
    return session


def retry_after_seconds(response: requests.Response, default: float = 2.0) -> float:
    value = response.headers.get("Retry-After")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default
