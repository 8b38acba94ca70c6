"""Behaviours of the real Pipedrive API that a kind emulator would hide, each switchable.

Off by default so that a test states which one it exercises; `contactsync sandbox`
and `PipedriveEmulator.control({"quirks": {...}})` switch them on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from contactsync.sandbox.server import Response

# Requests per 2-second window and api_token, by plan (current and legacy names):
# "Essential 20 … Advanced 40 … Professional 80 … Power 100 … Enterprise 120 requests
# per 2 seconds per api_token" (pipedrive.readme.io/docs/core-api-concepts-rate-limiting);
# Lite/Growth/Premium/Ultimate are the current names of Essential/Advanced/Professional/Enterprise.
BURST_BY_PLAN = {
    "lite": 20, "essential": 20, "growth": 40, "advanced": 40, "premium": 80, "professional": 80,
    "power": 100, "ultimate": 120, "enterprise": 120,
}

# What Cloudflare, in front of api.pipedrive.com, answers once it blocks a client
# that kept drawing 429s: a 403 HTML page, not Pipedrive's JSON error body. Source: the
# audit behind contactsync's issue 12 (a warning on Pipedrive's rate-limiting page; the
# stored copy searched here is cut before that paragraph, so re-check it on a real
# account). The page's shape is Cloudflare's standard block page ("Attention Required!
# | Cloudflare", `cf-ray`); a 403 HTML page behind Cloudflare is also what public
# reports show for other APIs (openaustralia/theyvoteforyou#1568).
CLOUDFLARE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Attention Required! | Cloudflare</title></head>"
    b"<body><h1>Sorry, you have been blocked</h1><h2>You are unable to access pipedrive.com</h2>"
    b"<p>Cloudflare Ray ID: 8a1b2c3d4e5f6a7b</p></body></html>\n"
)


@dataclass
class PipedriveQuirks:
    # After this many 429s in a row for one token, Cloudflare answers the next
    # `cloudflare_block` requests with its 403 page (counted in requests, not time,
    # so that tests never wait). None: never.
    cloudflare_after: int | None = None
    cloudflare_block: int = 3
    # The `x-daily-ratelimit-token-*` headers are not in Pipedrive's documents (the
    # rate-limiting page documents `x-ratelimit-*` and `x-daily-requests-left` only):
    # an account may not send them, also not on the 429 of an exhausted budget.
    hide_daily_headers: bool = False
    # GET /api/v2/persons/{id} of a deleted person: 404 (what this emulator always
    # answered), or 200 with `is_deleted: true`, which the audit behind issue 12 reads in
    # the v2 migration guide. contactsync must read both as "deleted".
    deleted_as_flag: bool = False

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown Pipedrive quirk {key!r}; one of {', '.join(sorted(known))}")
            setattr(self, key, value)


class CloudflareGate:
    """Counts a token's 429s in a row and answers Cloudflare's block page past the threshold."""

    def __init__(self, quirks: PipedriveQuirks) -> None:
        self.quirks = quirks
        self._in_a_row: dict[str, int] = {}
        self._blocked: dict[str, int] = {}
        self._everyone = 0

    def block(self, requests: int) -> None:
        """Block every token for its next `requests` requests, as after a burst of 429s."""
        self._everyone = requests

    def unblock(self) -> None:
        self._blocked.clear()
        self._everyone = 0

    def blocked(self, token: str) -> Response | None:
        left = self._blocked.get(token, 0)
        if left <= 0 and self._everyone <= 0:
            return None
        if left > 0:
            self._blocked[token] = left - 1
        else:
            self._everyone -= 1
        return Response(403, raw=CLOUDFLARE_PAGE, content_type="text/html; charset=UTF-8",
                        headers={"cf-ray": "8a1b2c3d4e5f6a7b-TLL", "server": "cloudflare"})

    def answered(self, token: str, status: int) -> None:
        if status != 429:
            self._in_a_row[token] = 0
            return
        count = self._in_a_row.get(token, 0) + 1
        self._in_a_row[token] = count
        threshold = self.quirks.cloudflare_after
        if threshold is not None and count >= threshold:
            self._in_a_row[token] = 0
            self._blocked[token] = self.quirks.cloudflare_block


def strip_daily_headers(headers: dict[str, str]) -> None:
    for name in [h for h in headers if h.lower().startswith("x-daily-ratelimit-token-")]:
        del headers[name]
