"""One place that makes HTTP sessions: timeouts, safe retries, Retry-After, rate limiting."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.auth
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from contactsync import __version__
from contactsync.ratelimit import SlidingWindow as SlidingWindow  # noqa: F401 - where callers looked for it

USER_AGENT = f"contactsync/{__version__}"
# (connect, read) seconds; generous read for large pages on slow links.
TIMEOUT = (10.0, 60.0)
# Methods that may be repeated without a second effect. POST is never here: a
# create that timed out may have happened, and the stamp lookup decides.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "PATCH"})
# Exponential backoff before the retries of a temporary failure: urllib3's Retry waits
# RETRY_BACKOFF_FACTOR × 2^(n-1) seconds before the n-th retry but the first, and
# backoff_seconds() gives our own retry loops the same curve. Read on every call, so that
# tests can set it to 0: the retries still happen, their waits cost nothing.
RETRY_BACKOFF_FACTOR = 0.5


def backoff_seconds(attempt: int, *, scale: float = 1.0, cap: float = 8.0) -> float:
    """Seconds to wait before retry `attempt` (1-based): scale × RETRY_BACKOFF_FACTOR × 2^attempt, at most `cap`."""
    return min(scale * RETRY_BACKOFF_FACTOR * 2 ** attempt, cap)


class _ServerErrorRetry(Retry):
    """urllib3's Retry, minus its own handling of 429 and 413.

    Retry re-sends any allowed request answered 429 with a Retry-After header, and
    sleeps for it, even when 429 is not in `status_forcelist` (urllib3
    `Retry.is_retry`, RETRY_AFTER_STATUS_CODES). The adapters handle 429 themselves
    (budget or burst, a shared pause, an injected sleep); here only server errors
    are retried.
    """

    RETRY_AFTER_STATUS_CODES = frozenset({503})


class _NoNetrc(requests.auth.AuthBase):
    """Set as a session's auth so that requests never reads ~/.netrc: "The netrc file
    overrides raw HTTP authentication headers set with headers=" (requests documentation,
    Authentication), which would replace the bearer token of Google or Graph by a user's
    netrc entry for the host. Every adapter sets its own credentials in headers."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class _Session(requests.Session):
    """A session that reads the environment once per host, not on every request.

    With `trust_env`, requests looks up the proxy variables (and the system's proxy
    settings) and the CA bundle variables for every request: about 0.6 ms of CPU each,
    a fifth of the client's time per contact (issue 13). They are the same for the life
    of a pass, so they are looked up once per scheme, host and `no_proxy`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.auth = _NoNetrc()
        self._environ_proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self._ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        proxies = dict(proxies or {})
        no_proxy = proxies.get("no_proxy")
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        found = self._environ_proxies.get(key)
        if found is None:
            found = self._environ_proxies[key] = dict(get_environ_proxies(url, no_proxy=no_proxy))
        for scheme, proxy in found.items():
            proxies.setdefault(scheme, proxy)
        if verify is True or verify is None:
            verify = self._ca_bundle or verify
        return {"proxies": merge_setting(proxies, self.proxies), "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify), "cert": merge_setting(cert, self.cert)}


class _TimeoutAdapter(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = TIMEOUT
        return super().send(request, **kwargs)


def make_session(retries: int = 3) -> requests.Session:
    """A session with a default timeout, TLS on, our User-Agent and safe retries.

    Retries cover connection errors and 500/502/503/504 for idempotent methods only
    (Google's error guide: "500 INTERNAL … 503 UNAVAILABLE: retry using exponential
    backoff", developers.google.com/people/v1/errors); 429 is left to the caller,
    which knows the API's rate headers.
    """
    retry = _ServerErrorRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=RETRY_BACKOFF_FACTOR,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=IDEMPOTENT,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = _Session()
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
