"""What a People API error answer means: its reasons, and the error of ours it stands for."""

from __future__ import annotations

import json

from googleapiclient.errors import HttpError

from contactsync.errors import ApiError, AuthError, ConfigError, NotFound, TemporaryError

# ErrorInfo reasons (google.rpc.ErrorInfo, domain googleapis.com) and the legacy
# `errors[].reason` spellings, by what the user must do about them.
NOT_ENABLED_REASONS = {"SERVICE_DISABLED", "accessNotConfigured", "API_DISABLED"}
SCOPE_REASONS = {"ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions"}
QUOTA_REASONS = {"RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED", "rateLimitExceeded", "userRateLimitExceeded",
                 "quotaExceeded", "dailyLimitExceeded"}


def error_info(exc: HttpError) -> tuple[str, str, set[str]]:
    """(status, message, reasons) of a Google error body."""
    try:
        error = json.loads(exc.content.decode("utf-8")).get("error") or {}
    except (ValueError, AttributeError, UnicodeDecodeError):
        return "", str(exc.resp.reason or ""), set()
    if not isinstance(error, dict):  # OAuth-style {"error": "invalid_grant"}
        return str(error), "", set()
    reasons = {d.get("reason", "") for d in error.get("details") or [] if isinstance(d, dict)}
    reasons |= {e.get("reason", "") for e in error.get("errors") or [] if isinstance(e, dict)}
    return error.get("status", ""), error.get("message", ""), reasons - {""}


def is_expired_sync_token(exc: HttpError) -> bool:
    # People answers 400 FAILED_PRECONDITION + ErrorInfo reason EXPIRED_SYNC_TOKEN
    # (people.connections.list doc); other Google APIs use 410 GONE for the same.
    # Public reports quote only the message, without the reason (garrytan/gbrain#5127,
    # xynehq/xyne#197, frappe/frappe#19016): the message is recognised too.
    _, message, reasons = error_info(exc)
    if exc.resp.status == 410:
        return True
    return exc.resp.status == 400 and ("EXPIRED_SYNC_TOKEN" in reasons or "sync token is expired" in message.lower())


def is_rate_limit(exc: HttpError) -> bool:
    status, _, reasons = error_info(exc)
    return exc.resp.status == 429 or (exc.resp.status == 403 and (
        bool(reasons & QUOTA_REASONS) or status == "RESOURCE_EXHAUSTED"))


def retry_after(exc: HttpError) -> float:
    try:
        return max(0.0, float(exc.resp.get("retry-after", "")))
    except (TypeError, ValueError):
        return 0.0


def google_error(exc: HttpError, account: str, fix: str) -> Exception:
    """The error of ours a People API error answer stands for; `fix` says how to sign in again."""
    code = exc.resp.status
    status, message, reasons = error_info(exc)
    if code == 401 or status == "invalid_grant":
        return AuthError(f"Google rejected the sign-in of {account}", fix)
    if code == 403 and reasons & NOT_ENABLED_REASONS:
        return ConfigError(f"the People API is not enabled in the Google Cloud project of the client "
                           f"secrets of {account}",
                           "enable it at https://console.cloud.google.com/apis/library/people.googleapis.com "
                           "for that project, wait a few minutes, and run again")
    if code == 403 and reasons & SCOPE_REASONS:
        return AuthError(f"Google's sign-in of {account} does not grant access to contacts "
                         "(scope not granted)", fix + " and allow contacts access on the consent screen")
    quota = bool(reasons & QUOTA_REASONS) or status == "RESOURCE_EXHAUSTED"
    if code == 429 or (code == 403 and quota):
        return TemporaryError(f"Google's People API quota for {account} is used up for now (HTTP {code})",
                              "run again in a few minutes; progress is kept")
    if code >= 500:
        return TemporaryError(f"Google is failing for {account} (HTTP {code})", "run again later")
    if code == 403:
        return AuthError(f"Google refused access to the contacts of {account}: "
                         f"{message or 'permission denied'}", fix)
    if code == 404:
        return NotFound(f"not found in Google Contacts of {account}: {message}", status=code)
    return ApiError(f"Google refused a request for {account}: {message or exc.resp.reason} (HTTP {code})",
                    status=code)
