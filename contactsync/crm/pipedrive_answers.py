"""How the Pipedrive adapter reads an answer: its error, its rate-limit headers, a spent budget."""

from __future__ import annotations

import requests

from contactsync.crm.cache import CrmCache
from contactsync.errors import (
    ApiError, AuthError, NotFound, PermissionDenied, ServiceBlocked, TemporaryError,
)

PERMISSION_FIX = "ask a Pipedrive admin to grant it in Company settings > Permission sets"
# The 403 `code` of a plan's custom field cap (pipedrive.readme.io/docs/core-api-concepts-responses).
FIELD_LIMIT_CODE = "feature_capping_custom_fields_limit"


def check_response(resp: requests.Response, what: str, cache: CrmCache, reconnect_hint: str) -> requests.Response:
    """The answer when it is a success, else the error of ours it stands for."""
    status = resp.status_code
    if status < 400:
        return resp
    error = error_text(resp)
    if status == 401:
        cache.put("user", None)  # whoever the next token belongs to, ask again
        raise AuthError("Pipedrive refused the API token", fix=reconnect_hint)
    if status == 403 and error_code(resp) == FIELD_LIMIT_CODE:
        raise FieldLimitReached(f"Pipedrive refused to {what}: {error}",
                                fix="delete unused custom fields or upgrade the Pipedrive plan")
    if status == 403 and not is_json(resp):
        # Not Pipedrive's JSON error: Cloudflare, in front of the API, blocks a client
        # that kept drawing 429s with an HTML 403 page (docs/real-api.md). Temporary:
        # the pass stops (exit 75) and the next one resumes.
        raise ServiceBlocked(f"Pipedrive's edge is blocking this client for a while (rate-limit block, "
                             f"HTTP 403 from Cloudflare) while trying to {what}",
                             fix="wait a few minutes and run again; progress is kept")
    if status == 403:
        cache.put("missing_permissions", None)  # read the permissions again next time
        raise PermissionDenied(f"Pipedrive refused to {what}: {error}", fix=PERMISSION_FIX)
    if status == 404:
        raise NotFound(f"Pipedrive could not {what}: {error}", status=404)
    if status >= 500:
        raise TemporaryError(f"Pipedrive failed (HTTP {status}) while trying to {what}", fix="retry later")
    raise ApiError(f"Pipedrive rejected the request to {what}: {error}", status=status)


def header_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def header_float(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


class FieldLimitReached(PermissionDenied):
    """The company's plan allows no more custom fields."""


def is_json(resp: requests.Response) -> bool:
    try:
        return isinstance(resp.json(), dict)
    except ValueError:
        return False


def budget_spent(resp: requests.Response, search: bool = False) -> bool:
    """Whether a 429 is the daily token budget rather than the 2-second burst limit.

    `x-daily-ratelimit-token-remaining` says so when sent, but it is undocumented and
    may be missing; a 429 while the burst window still has requests left
    (`x-ratelimit-remaining` above 0) cannot be the burst limit either — except for a
    search, whose own, lower limit (10 per 2 s) those headers may not describe — and
    the error text may name the daily budget.
    """
    if resp.headers.get("x-daily-ratelimit-token-remaining") == "0":
        return True
    if not search and header_float(resp.headers.get("x-ratelimit-remaining"), 0.0) > 0:
        return True
    return "daily" in error_text(resp).lower()


def error_code(resp: requests.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return f"HTTP {resp.status_code}"
