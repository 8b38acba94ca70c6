"""Google sign-in: the installed-app OAuth flow, and credentials from a stored grant.

Only the grant (client id/secret, refresh token, token URI) is kept — a few
hundred bytes that fit the OS keyring (DESIGN §11); access tokens are minted
again from the refresh token on every run.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import sys
import time
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from contactsync.auth import SIGN_IN_AGAIN
from contactsync.errors import AuthError, UsageError

SCOPES = [
    "https://www.googleapis.com/auth/contacts",
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
]
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
HOW_TO_CREATE = (
    "create one in Google Cloud Console > APIs & Services > Credentials > Create credentials > "
    "OAuth client ID > Application type 'Desktop app', enable the People API, and download its JSON"
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# "A Google Cloud Platform project with an OAuth consent screen configured for an external
# user type and a publishing status of 'Testing' is issued a refresh token expiring in 7
# days" (https://developers.google.com/identity/protocols/oauth2#expiration).
TESTING_GRANT_DAYS = 7


@dataclass(frozen=True)
class GoogleGrant:
    """What is stored of a Google sign-in: the OAuth client, the refresh token and the last access token.

    `issued_at` is when the user signed in: Google expires the refresh tokens of an
    OAuth client left in "Testing" 7 days later (see :data:`TESTING_GRANT_DAYS`).
    """

    client_id: str
    client_secret: str
    refresh_token: str
    token_uri: str = DEFAULT_TOKEN_URI
    issued_at: float = 0.0
    access_token: str = ""
    expiry: float = 0.0  # of the access token, seconds since the epoch

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v not in ("", 0.0)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GoogleGrant:
        try:
            data = json.loads(text)
            return cls(data["client_id"], data["client_secret"], data["refresh_token"],
                       data.get("token_uri") or DEFAULT_TOKEN_URI, float(data.get("issued_at") or 0.0),
                       str(data.get("access_token") or ""), float(data.get("expiry") or 0.0))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError("the stored Google sign-in is unreadable",
                            "run `contactsync reconnect google:EMAIL`") from exc

    def age_days(self, now: float | None = None) -> float | None:
        if not self.issued_at:
            return None
        return ((time.time() if now is None else now) - self.issued_at) / 86400


def _client_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"client secrets file {path} does not exist", HOW_TO_CREATE) from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"client secrets file {path} is not readable JSON", HOW_TO_CREATE) from exc
    section = data.get("installed") if isinstance(data, dict) else None
    required = ("client_id", "client_secret", "auth_uri", "token_uri")
    if not isinstance(section, dict) or any(not section.get(key) for key in required):
        kind = "a Web application client" if isinstance(data, dict) and "web" in data else "not a Desktop OAuth client"
        raise UsageError(f"client secrets file {path} is {kind}", HOW_TO_CREATE)
    return data


def id_token_email(id_token: str | None) -> str | None:
    """The `email` claim of an id_token, read without verifying the signature.

    That is safe here: the token comes straight from Google's token endpoint over
    TLS in response to our own code exchange (OpenID Connect Core §3.1.3.7).
    """
    if not id_token:
        return None
    try:
        payload = id_token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    email = data.get("email") if isinstance(data, dict) else None
    return email if isinstance(email, str) else None


@contextlib.contextmanager
def _loopback_http_allowed(token_uri: str) -> Iterator[None]:
    # oauthlib refuses plain-http token endpoints; the sandbox emulator serves one
    # on loopback only, so allow exactly that case and nothing else.
    loopback = token_uri.startswith("http://") and urlsplit(token_uri).hostname in LOOPBACK_HOSTS
    previous = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    if loopback:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if loopback:
            if previous is None:
                os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
            else:
                os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous


def _browser_available() -> bool:
    # webbrowser.get() raises "could not locate runnable browser" where
    # google-auth-oauthlib's run_local_server would crash on it.
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def client_config_of(grant: GoogleGrant, auth_uri: str = DEFAULT_AUTH_URI) -> dict[str, Any]:
    """The Desktop client's settings as client_secret.json has them, from a stored grant (for reconnect)."""
    return {"installed": {"client_id": grant.client_id, "client_secret": grant.client_secret,
                          "auth_uri": auth_uri, "token_uri": grant.token_uri, "redirect_uris": ["http://localhost"]}}


def read_client_config(path: Path) -> dict[str, Any]:
    return _client_config(path)


def _duration(seconds: int) -> str:
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} minute{'s' if seconds != 60 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def sign_in(client_secrets_file: Path | dict[str, Any], email: str, open_browser: bool = True,
            timeout_seconds: int | None = 300) -> GoogleGrant:
    """Run Google's consent flow in the browser and return the grant for `email`."""
    config = client_secrets_file if isinstance(client_secrets_file, dict) else _client_config(client_secrets_file)
    installed = config["installed"]
    flow = InstalledAppFlow.from_client_config(config, scopes=SCOPES)
    prompt = f"Sign in to Google as {email} and allow contactsync access; the page to open is:\n{{url}}"
    if open_browser and not _browser_available():
        # No browser here (a server, cron, SSH): print the URL and wait, as --no-browser does.
        print("No web browser found on this machine: open the URL below on any device "
              "(use SSH port forwarding for the redirect when remote).", file=sys.stderr)
        open_browser = False
    try:
        with _loopback_http_allowed(installed["token_uri"]), contextlib.redirect_stdout(sys.stderr):
            creds = flow.run_local_server(
                port=0,
                open_browser=open_browser,
                login_hint=email,
                # prompt=consent makes Google return a refresh token even when the
                # user had granted access before.
                prompt="consent",
                access_type="offline",
                authorization_prompt_message=prompt,
                timeout_seconds=timeout_seconds,
            )
    except WSGITimeoutError as exc:  # nobody came back to the loopback redirect in time
        raise AuthError(f"Google sign-in for {email}: no answer from the browser sign-in within "
                        f"{_duration(timeout_seconds or 0)}",
                        "run the same command again and finish the sign-in in the browser, or add --no-browser "
                        "and open the URL it prints yourself") from exc
    except (OAuth2Error, requests.RequestException, OSError, Warning) as exc:
        # oauthlib raises a bare Warning when Google grants other scopes than asked.
        raise AuthError(f"Google sign-in for {email} failed: {type(exc).__name__}: {exc}",
                        SIGN_IN_AGAIN) from exc
    signed_in = id_token_email(getattr(creds, "id_token", None))
    if signed_in is None:
        raise AuthError(f"Google did not say which account signed in (expected {email})",
                        SIGN_IN_AGAIN)
    if signed_in.lower() != email.lower():
        raise UsageError(
            f"signed in to Google as {signed_in}, but the account being added is {email}",
            f"sign in as {email}, or run `contactsync add-account google {signed_in}` instead",
        )
    if not creds.refresh_token:
        raise AuthError(f"Google returned no refresh token for {email}",
                        "remove contactsync's access at https://myaccount.google.com/permissions and sign in again")
    return GoogleGrant(installed["client_id"], installed["client_secret"], creds.refresh_token,
                       installed["token_uri"], issued_at=time.time(), access_token=creds.token or "",
                       expiry=_epoch(creds.expiry))


def _epoch(expiry: datetime.datetime | None) -> float:
    # google-auth keeps expiry as a naive datetime in UTC.
    return expiry.replace(tzinfo=datetime.timezone.utc).timestamp() if expiry else 0.0


class PersistingCredentials(Credentials):  # type: ignore[misc]
    """Credentials that hand each refreshed access token to `on_refresh` before it is used.

    google-auth refreshes inside ``before_request`` (and after a 401, in
    google_auth_httplib2's ``AuthorizedHttp.request``) and then sends the request;
    saving in ``refresh`` keeps the stored token as new as the one in use.
    """

    def __init__(self, grant: GoogleGrant, on_refresh: Callable[[GoogleGrant], None] | None) -> None:
        expiry = (datetime.datetime.fromtimestamp(grant.expiry, datetime.timezone.utc).replace(tzinfo=None)
                  if grant.access_token and grant.expiry else None)
        super().__init__(
            token=grant.access_token or None,
            expiry=expiry,
            refresh_token=grant.refresh_token,
            client_id=grant.client_id,
            client_secret=grant.client_secret,
            token_uri=grant.token_uri,
            scopes=SCOPES,
        )
        self._grant = grant
        self._on_refresh = on_refresh

    def refresh(self, request: Any) -> None:
        super().refresh(request)
        if self._on_refresh is not None:
            self._grant = replace(self._grant, refresh_token=self.refresh_token or self._grant.refresh_token,
                                  access_token=self.token or "", expiry=_epoch(self.expiry))
            self._on_refresh(self._grant)


def credentials(grant: GoogleGrant, on_refresh: Callable[[GoogleGrant], None] | None = None) -> Credentials:
    """Credentials that use the grant's stored access token until it expires, then refresh it."""
    return PersistingCredentials(grant, on_refresh)
