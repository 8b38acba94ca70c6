"""Microsoft sign-in with MSAL: the device-code flow, and silent tokens from a stored cache.

The device-code flow prints a URL and a code, so it works over SSH and without a
browser (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code).
What goes to the keyring is MSAL's serialized token cache trimmed to the refresh
token, the account and the app metadata: access and id tokens are dropped, as they
are minted again on every pass. That is about 1.5–2.5 KB for a Microsoft account (the
refresh token itself is most of it), under the ~2.5 KB Windows Credential Manager cap
(DESIGN §11).
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO
from urllib.parse import urlsplit

import msal
import requests
from requests.adapters import HTTPAdapter

from contactsync.errors import AuthError, TemporaryError, UsageError
from contactsync.http import make_session

SCOPES = ["Contacts.ReadWrite"]
AUTHORITY_HOST = "https://login.microsoftonline.com"
TENANTS = ("common", "consumers", "organizations")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Entries of MSAL's cache kept in the keyring; the others are re-minted every pass.
KEPT_SECTIONS = ("RefreshToken", "Account", "AppMetadata")


def fix_for(email: str, client_id: str = "APP_ID") -> str:
    return f"run `contactsync add-account microsoft {email} --client-id {client_id}` again"


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
    except requests.RequestException as exc:
        raise TemporaryError(f"cannot reach Microsoft's sign-in service: {type(exc).__name__}",
                             "check the network and run again") from exc


def compact_cache(cache: msal.SerializableTokenCache) -> str:
    """The cache as the keyring keeps it: refresh token, account and app metadata only."""
    data = json.loads(cache.serialize() or "{}")
    return json.dumps({k: data[k] for k in KEPT_SECTIONS if k in data}, separators=(",", ":"))


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
    except requests.RequestException as exc:
        raise TemporaryError(f"cannot reach Microsoft's sign-in service: {type(exc).__name__}",
                             "check the network and run again") from exc
    if "access_token" not in result:
        detail = (result.get("error_description") or "").splitlines()[:1]
        raise AuthError(f"Microsoft sign-in for {email} failed: {result.get('error')}: {' '.join(detail)}",
                        fix_for(email, client_id))
    accounts = app.get_accounts()
    signed_in = _username(accounts[0] if accounts else None, result)
    if signed_in is None:
        raise AuthError(f"Microsoft did not say which account signed in (expected {email})", fix_for(email, client_id))
    if signed_in.lower() != email.lower():
        raise UsageError(
            f"signed in to Microsoft as {signed_in}, but the account being added is {email}",
            f"sign in as {email}, or run `contactsync add-account microsoft {signed_in} --client-id APP_ID` instead",
        )
    return compact_cache(cache)


class MicrosoftSession:
    """Access tokens for one account from its stored cache, refreshed silently.

    Call :meth:`token` as often as needed (it is the provider's `token_source`);
    afterwards, when :attr:`changed` is True, write :meth:`cache_string` back to the
    keyring. Only a rotated refresh token or account counts as a change: the access
    token MSAL adds is never stored.
    """

    def __init__(self, cache_string: str, client_id: str, email: str, tenant: str = "common",
                 authority_host: str | None = None) -> None:
        self.email = email
        self.client_id = client_id
        self.cache = msal.SerializableTokenCache()
        self.original = cache_string
        try:
            self.cache.deserialize(cache_string)
        except ValueError as exc:
            raise AuthError(f"the stored Microsoft sign-in of {email} is unreadable", fix_for(email, client_id)) from exc
        self.app = _app(client_id, tenant, authority_host, self.cache)

    def token(self) -> str:
        accounts = [a for a in self.app.get_accounts() if (a.get("username") or "").lower() == self.email.lower()]
        if not accounts:
            raise AuthError(f"no stored Microsoft sign-in for {self.email}", fix_for(self.email, self.client_id))
        try:
            result = self.app.acquire_token_silent_with_error(SCOPES, account=accounts[0])
        except requests.RequestException as exc:
            raise TemporaryError(f"cannot reach Microsoft's sign-in service for {self.email}: "
                                 f"{type(exc).__name__}", "check the network and run again") from exc
        if result and "access_token" in result:
            return str(result["access_token"])
        error = (result or {}).get("error") or "no refresh token"
        if error in ("temporarily_unavailable", "server_error"):
            raise TemporaryError(f"Microsoft's sign-in service is unavailable for {self.email}", "run again later")
        # invalid_grant (revoked, expired, password changed), interaction_required, no token.
        raise AuthError(f"Microsoft no longer accepts the sign-in of {self.email} ({error})", fix_for(self.email, self.client_id))

    @property
    def changed(self) -> bool:
        return bool(self.cache.has_state_changed) and self.cache_string() != self.original

    def cache_string(self) -> str:
        return compact_cache(self.cache)
