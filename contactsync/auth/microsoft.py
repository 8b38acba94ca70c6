"""Microsoft sign-in with MSAL: the device-code flow, and silent tokens from a stored cache.

The device-code flow prints a URL and a code, so it works over SSH and without a
browser (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code).

What is stored is MSAL's whole token cache, access token included, so that a pass
within the hour of the last one signs in without asking the token endpoint. Its
size (3–6 KB with Microsoft's token sizes) is why the keyring store splits large
values (auth/secret_stores.py).

Microsoft rotates the refresh token on every use
(https://learn.microsoft.com/entra/identity-platform/refresh-tokens: "Refresh
tokens replace themselves with a fresh token upon every use … Securely delete the
old refresh token after acquiring a new one"). :class:`PersistingTokenCache`
writes the cache to the secret store inside MSAL's ``add`` — after the token
answer is parsed and before ``acquire_token_silent`` returns the new access
token — so nothing uses a credential that is not saved yet, and a kill at any
instant leaves the store holding a refresh token that still works.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TextIO
from urllib.parse import urlsplit

import msal
from msal.exceptions import MsalServiceError
import requests
from requests.adapters import HTTPAdapter

from contactsync.auth import SIGN_IN_AGAIN
from contactsync.errors import AuthError, TemporaryError, UsageError
from contactsync.http import make_session

# GET /me, the preflight, needs User.Read (https://learn.microsoft.com/graph/api/user-get,
# "Permissions"); the contacts need Contacts.ReadWrite (contact-get, contact-update).
SCOPES = ["User.Read", "Contacts.ReadWrite"]
AUTHORITY_HOST = "https://login.microsoftonline.com"
TENANTS = ("common", "consumers", "organizations")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# An access token this close to its expiry is refreshed first (MSAL does the same at 5 minutes).
EXPIRY_MARGIN = 300


def fix_for(email: str, client_id: str = "APP_ID") -> str:
    return f"run `contactsync reconnect microsoft:{email.lower()}`"


class _LoopbackTlsShim(HTTPAdapter):
    """Sends MSAL's https requests for the loopback sandbox over plain http.

    MSAL accepts only https authorities; the sandbox emulator serves http on
    loopback. Like a TLS-terminating proxy, the shim tells the server the original
    scheme so that its discovery document names https endpoints.
    """

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.url = "http://" + str(request.url)[len("https://"):]
        request.headers["X-Forwarded-Proto"] = "https"
        return super().send(request, **kwargs)


def _authority(tenant: str, authority_host: str | None) -> tuple[str, requests.Session]:
    """The MSAL authority URL and the HTTP client MSAL should use."""
    session = make_session()
    host = (authority_host or AUTHORITY_HOST).rstrip("/")
    parts = urlsplit(host)
    if parts.scheme == "http":
        if parts.hostname not in LOOPBACK_HOSTS:
            raise UsageError(f"the sign-in authority {host} is plain http", "use https, or the loopback sandbox")
        session.mount(f"https://{parts.netloc}/", _LoopbackTlsShim())
        host = f"https://{parts.netloc}"
    return f"{host}/{tenant}", session


def _app(client_id: str, tenant: str, authority_host: str | None,
         cache: msal.SerializableTokenCache) -> msal.PublicClientApplication:
    authority, session = _authority(tenant, authority_host)
    try:
        return msal.PublicClientApplication(
            client_id, authority=authority, token_cache=cache, http_client=session,
            # Instance discovery asks login.microsoftonline.com whether the host is a
            # known cloud; a sandbox host is not, and must never reach Microsoft.
            validate_authority=authority_host is None, instance_discovery=False if authority_host else None,
        )
    except ValueError as exc:  # MSAL's "Unable to get authority configuration"
        raise UsageError(f"cannot use the Microsoft sign-in authority {authority}: {exc}",
                         "check --tenant (common, consumers, organizations or a tenant id)") from exc
    except (requests.RequestException, MsalServiceError) as exc:
        raise _unreachable(exc, "") from exc


def _unreachable(exc: Exception, whose: str) -> TemporaryError:
    """The sign-in service could not be reached, or answered with a server error.

    MSAL raises MsalServiceError("HTTP Error: 500") from its HTTP client's
    raise_for_status (msal/throttled_http_client.py) when an answer is an HTTP error
    without an OAuth error body: a server fault, retried on the next pass.
    """
    if isinstance(exc, MsalServiceError):
        return TemporaryError(f"Microsoft's sign-in service failed{whose} ({exc.args[0] if exc.args else exc})",
                              "run again later")
    return TemporaryError(f"cannot reach Microsoft's sign-in service{whose}: {type(exc).__name__}",
                          "check the network and run again")


def compact_cache(cache: msal.SerializableTokenCache) -> str:
    """The cache as the secret store keeps it: MSAL's JSON without its indentation."""
    return json.dumps(json.loads(cache.serialize() or "{}"), separators=(",", ":"))


class PersistingTokenCache(msal.SerializableTokenCache):  # type: ignore[misc]
    """An MSAL cache that saves itself the moment a token answer is in it.

    In a refresh, MSAL's oauth2cli hands the answer without its refresh token to
    ``add`` (``on_obtaining_tokens``), then stores the rotated refresh token with
    ``update_rt`` (``on_updating_rt``), and only then returns the access token
    (msal/oauth2cli/oauth2.py, ``Client.obtain_token_by_refresh_token``). The save
    is made in ``update_rt``, when the new access and refresh tokens are both in;
    an answer without a new refresh token (nothing rotated) is saved by the caller
    (:attr:`unsaved`). Any other grant (the device code) is saved in ``add``.
    """

    def __init__(self, save: Callable[[str], None]) -> None:
        super().__init__()
        self._save = save
        self.unsaved = False

    def add(self, event: Any, **kwargs: Any) -> None:
        super().add(event, **kwargs)
        if event.get("grant_type") == "refresh_token":
            self.unsaved = True  # the rotated refresh token follows through update_rt
        else:
            self.save_now()

    def update_rt(self, rt_item: Any, new_rt: str) -> None:
        super().update_rt(rt_item, new_rt)
        self.save_now()

    def save_now(self) -> None:
        self._save(compact_cache(self))
        self.unsaved = False


def _username(account: dict[str, Any] | None, result: dict[str, Any]) -> str | None:
    claims = result.get("id_token_claims") or {}
    return (account or {}).get("username") or claims.get("preferred_username") or claims.get("email")


def sign_in(client_id: str, email: str, tenant: str = "common", authority_host: str | None = None,
            out: TextIO | None = None) -> str:
    """Sign in with the device-code flow as `email`; returns the cache string for the keyring."""
    out = out or sys.stderr  # looked up now: the stream may have been replaced since import
    cache = msal.SerializableTokenCache()
    app = _app(client_id, tenant, authority_host, cache)
    try:
        flow = app.initiate_device_flow(scopes=SCOPES)
        if "user_code" not in flow:
            raise AuthError(f"Microsoft refused to start the sign-in of {email}: "
                            f"{flow.get('error')}: {flow.get('error_description', '')}".strip(),
                            "check --client-id and that the app allows public client flows")
        print(flow["message"], file=out, flush=True)
        result = app.acquire_token_by_device_flow(flow)
    except (requests.RequestException, MsalServiceError) as exc:
        raise _unreachable(exc, "") from exc
    if "access_token" not in result:
        detail = (result.get("error_description") or "").splitlines()[:1]
        raise AuthError(f"Microsoft sign-in for {email} failed: {result.get('error')}: {' '.join(detail)}",
                        SIGN_IN_AGAIN)
    accounts = app.get_accounts()
    signed_in = _username(accounts[0] if accounts else None, result)
    if signed_in is None:
        raise AuthError(f"Microsoft did not say which account signed in (expected {email})", SIGN_IN_AGAIN)
    if signed_in.lower() != email.lower():
        raise UsageError(
            f"signed in to Microsoft as {signed_in}, but the account being added is {email}",
            f"sign in as {email}, or run `contactsync add-account microsoft {signed_in} --client-id APP_ID` instead",
        )
    return compact_cache(cache)


class MicrosoftSession:
    """Access tokens for one account from its stored cache, refreshed silently.

    The session is the provider's token source: call it for a token as often as
    needed (threads may share it). `load` reads the stored cache, `save` writes it
    back, and `refresh_lock` — a lock shared by every process of the account — is
    held while a refresh happens, so two processes never spend the same refresh
    token. When Graph refuses a token the clock says is still valid, :meth:`reject`
    makes the next call refresh it.
    """

    def __init__(self, cache_string: str, client_id: str, email: str, tenant: str = "common",
                 authority_host: str | None = None, *, save: Callable[[str], None] | None = None,
                 load: Callable[[], str | None] | None = None,
                 refresh_lock: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        self.email = email
        self.client_id = client_id
        self.cache = PersistingTokenCache(save or (lambda _: None))
        self._load = load
        self._refresh_lock = refresh_lock or nullcontext
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None  # (access token, expiry)
        self._rejected: str | None = None
        self._deserialize(cache_string)
        self.app = _app(client_id, tenant, authority_host, self.cache)

    def _deserialize(self, cache_string: str) -> None:
        try:
            self.cache.deserialize(cache_string)
        except ValueError as exc:
            raise AuthError(f"the stored Microsoft sign-in of {self.email} is unreadable",
                            fix_for(self.email, self.client_id)) from exc

    def __call__(self) -> str:
        return self.token()

    def token(self) -> str:
        with self._lock:
            if self._current and self._current[1] - time.time() > EXPIRY_MARGIN:
                return self._current[0]
            with self._refresh_lock():
                if self._load is not None:  # another process may have refreshed since we read it
                    stored = self._load()
                    if stored:
                        self._deserialize(stored)
                token, expires_in = self._acquire()
            self._current = (token, time.time() + expires_in)
            self._rejected = None
            return token

    def reject(self, token: str) -> None:
        """Graph answered 401 to `token`: refresh on the next call, once, even if it looks unexpired."""
        with self._lock:
            if self._current and self._current[0] == token:
                self._current = None
                self._rejected = token

    def _account(self) -> dict[str, Any]:
        accounts = [a for a in self.app.get_accounts() if (a.get("username") or "").lower() == self.email.lower()]
        if not accounts:
            raise AuthError(f"no stored Microsoft sign-in for {self.email}", fix_for(self.email, self.client_id))
        return accounts[0]  # type: ignore[no-any-return]

    def _acquire(self) -> tuple[str, float]:
        account = self._account()
        try:
            result = self.app.acquire_token_silent_with_error(SCOPES, account=account)
            if result and result.get("access_token") == self._rejected:
                result = self.app.acquire_token_silent_with_error(SCOPES, account=account, force_refresh=True)
        except (requests.RequestException, MsalServiceError) as exc:
            raise _unreachable(exc, f" for {self.email}") from exc
        if self.cache.unsaved:  # a new access token without a rotated refresh token
            self.cache.save_now()
        if result and "access_token" in result:
            return str(result["access_token"]), float(result.get("expires_in") or 0)
        error = (result or {}).get("error") or "no refresh token"
        if error in ("temporarily_unavailable", "server_error"):
            raise TemporaryError(f"Microsoft's sign-in service is unavailable for {self.email}", "run again later")
        # invalid_grant (revoked, expired, password changed), interaction_required, no token.
        raise AuthError(f"Microsoft no longer accepts the sign-in of {self.email} ({error})",
                        fix_for(self.email, self.client_id))
