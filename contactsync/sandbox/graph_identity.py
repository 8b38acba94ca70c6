"""The Microsoft identity platform (v2.0) endpoints MSAL needs, for the Graph sandbox.

Shapes follow https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code
and v2-oauth2-auth-code-flow#refresh-the-access-token: OpenID discovery, the device
authorization endpoint, and the token endpoint with the device-code and refresh-token
grants. Errors are the OAuth JSON ``{"error", "error_description", "error_codes", ...}``.
The id_token carries ``preferred_username`` and the response ``client_info`` (base64url
``{"uid", "utid"}``), which is how MSAL builds its account.

Refresh tokens rotate on every use, and, as Microsoft documents, the old one stays valid
("The Microsoft identity platform doesn't revoke old refresh tokens when used to fetch new
access tokens", https://learn.microsoft.com/entra/identity-platform/refresh-tokens). That
is the default; ``refresh_token_reuse = "single_use"`` makes each one good for one use
(plus ``reuse_grace`` seconds), the stricter rotation many OAuth servers apply (RFC 9700
§4.14.2), so that a client which loses a rotated token is caught.

Tokens have the sizes of real ones (access tokens of Microsoft accounts are opaque and
1.5–2.5 KB; id tokens are RS256 JWTs of about 1 KB), so the token cache a client keeps
is as large as a real one. Access tokens carry the scopes granted, and every Graph path
requires its scope (:func:`required_scopes`).

MSAL only accepts https authorities; the sandbox serves plain http on loopback, so the
client reaches it through a TLS-terminating shim that sends ``X-Forwarded-Proto: https``
(see contactsync.auth.microsoft). Discovery answers with that scheme.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from contactsync.sandbox.server import Request, Response

if TYPE_CHECKING:
    from contactsync.sandbox.graph import GraphEmulator

CONSUMERS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"  # the tenant id of every Microsoft account
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ACCESS_TOKEN_LIFETIME = 3599
# Scopes every sign-in gets without asking for them, and which never limit an API call.
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
DEFAULT_SCOPES = ("User.Read", "Contacts.ReadWrite")


def required_scopes(method: str, path: str) -> set[str]:
    """Delegated permissions that allow the Graph call, any one of which is enough.

    GET /me: User.Read and above (user-get, "Permissions"); contacts and contact
    folders: Contacts.Read to read, Contacts.ReadWrite to write (contact-get,
    contact-update, user-post-contacts, contactfolder-delta).
    """
    if path.rstrip("/") == "/v1.0/me":
        return {"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All"}
    if method == "GET":
        return {"Contacts.Read", "Contacts.ReadWrite"}
    return {"Contacts.ReadWrite"}


def _scopes(text: str) -> set[str]:
    return {s for s in text.split() if s not in OIDC_SCOPES}


@dataclass
class DeviceCode:
    client_id: str
    scope: str
    user_code: str
    expires_at: float
    polls: int = 0
    approved_as: str | None = None


@dataclass
class Grant:
    email: str
    client_id: str
    scope: str
    uid: str
    revoked: bool = False


@dataclass
class IdentityState:
    grants: dict[str, Grant] = field(default_factory=dict)  # refresh token -> grant
    spent: dict[str, float] = field(default_factory=dict)  # refresh token -> when it was first used
    access: dict[str, tuple[str, float, frozenset[str]]] = field(default_factory=dict)  # token -> (email, expiry, scopes)
    devices: dict[str, DeviceCode] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _oauth_error(status: int, error: str, code: int, description: str) -> Response:
    now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return Response(status, {
        "error": error, "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {uuid.uuid4()}\r\n"
        f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: {now}", "error_codes": [code], "timestamp": now,
        "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()),
    })


class GraphIdentity:
    """The login.microsoftonline.com half of :class:`GraphEmulator`; it shares the emulator's lock."""

    def __init__(self, emulator: GraphEmulator, device_approval: str = "after_first_poll",
                 device_interval: int = 1) -> None:
        self.emulator = emulator
        self.state = IdentityState()
        # "immediate", "after_first_poll" (the user types the code while we poll) or "manual"
        # (approve_device_code or a visit to the verification page).
        self.device_approval = device_approval
        self.device_interval = device_interval
        # When set, the device login signs in as this account (the user picked another one).
        self.sign_in_as: str | None = None
        # "reusable" (Microsoft's documented behaviour) or "single_use" (see the module docstring).
        self.refresh_token_reuse = "reusable"
        self.reuse_grace = 0.0
        self.clock: Callable[[], float] = time.time
        tenant = r"(?P<tenant>[^/]+)"
        emulator.route("GET", rf"/{tenant}/v2.0/\.well-known/openid-configuration", self.discovery)
        emulator.route("POST", rf"/{tenant}/oauth2/v2.0/devicecode", self.devicecode)
        emulator.route("POST", rf"/{tenant}/oauth2/v2.0/token", self.token)
        emulator.route("GET", r"/devicelogin", self.device_page)

    # -- controls ---------------------------------------------------------------

    def issue_access_token(self, email: str | None = None, lifetime: float = ACCESS_TOKEN_LIFETIME,
                           scopes: set[str] | None = None) -> str:
        with self.emulator.lock:
            # Opaque, 1.5-2.5 KB like the access tokens of Microsoft accounts.
            token = "EwB" + secrets.token_urlsafe(random.randint(1125, 1875))
            granted = frozenset(DEFAULT_SCOPES if scopes is None else scopes)
            self.state.access[token] = ((email or self.emulator.email).lower(), time.time() + lifetime, granted)
            return token

    def email_for(self, token: str) -> str | None:
        with self.emulator.lock:
            entry = self.state.access.get(token)
            if entry is None or entry[1] < time.time():
                return None
            return entry[0]

    def scopes_for(self, token: str) -> frozenset[str]:
        with self.emulator.lock:
            entry = self.state.access.get(token)
            return entry[2] if entry else frozenset()

    def expire_access_tokens(self) -> None:
        with self.emulator.lock:
            self.state.access = {t: (e, 0.0, s) for t, (e, _, s) in self.state.access.items()}

    def revoke_access_tokens(self) -> None:
        """Access tokens stop working before their expiry (a revoked session), refresh tokens still work."""
        with self.emulator.lock:
            self.state.access.clear()

    def control(self, data: dict[str, Any], result: dict[str, Any]) -> None:
        with self.emulator.lock:
            if "refresh_token_reuse" in data:
                self.refresh_token_reuse = str(data["refresh_token_reuse"])
            if "reuse_grace" in data:
                self.reuse_grace = float(data["reuse_grace"])
            if data.get("revoke_access_tokens"):
                self.revoke_access_tokens()

    def revoke(self, email: str | None = None) -> int:
        """Revoke every grant (of `email`): refresh answers invalid_grant, access tokens stop working."""
        with self.emulator.lock:
            count = 0
            for grant in self.state.grants.values():
                if not grant.revoked and (email is None or grant.email == email.lower()):
                    grant.revoked = True
                    count += 1
            self.state.access = {t: v for t, v in self.state.access.items()
                                 if email is not None and v[0] != email.lower()}
            return count

    def approve_device_code(self, user_code: str | None = None, email: str | None = None) -> int:
        with self.emulator.lock:
            count = 0
            for device in self.state.devices.values():
                if device.approved_as is None and (user_code is None or device.user_code == user_code):
                    device.approved_as = (email or self.sign_in_as or self.emulator.email).lower()
                    count += 1
            return count

    # -- endpoints -----------------------------------------------------------------

    def _base(self, req: Request) -> str:
        scheme = req.header("X-Forwarded-Proto") or "http"
        return f"{scheme}://{req.header('Host') or self.emulator.base_url.split('://', 1)[1]}"

    def discovery(self, req: Request) -> Response:
        base, tenant = self._base(req), req.params["tenant"]
        issuer_tenant = CONSUMERS_TENANT if tenant in ("common", "consumers") else tenant
        return Response(200, {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "name", "tid",
                                 "oid", "email"],
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
        })

    @staticmethod
    def _form(req: Request) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(req.body.decode("utf-8"), keep_blank_values=True).items()}

    def devicecode(self, req: Request) -> Response:
        form = self._form(req)
        if not form.get("client_id"):
            return _oauth_error(400, "invalid_request", 900144, "The request body must contain the following "
                                                                 "parameter: 'client_id'.")
        with self.emulator.lock:
            device_code = secrets.token_urlsafe(32)
            user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
            device = DeviceCode(form["client_id"], form.get("scope", ""), user_code, time.time() + 900)
            if self.device_approval == "immediate":
                device.approved_as = (self.sign_in_as or self.emulator.email).lower()
            self.state.devices[device_code] = device
        uri = f"{self._base(req)}/devicelogin"
        return Response(200, {
            "user_code": user_code, "device_code": device_code, "verification_uri": uri,
            "expires_in": 900, "interval": self.device_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} "
                       "to authenticate.",
        })

    def device_page(self, req: Request) -> Response:
        code = req.arg("otc") or req.arg("user_code")
        approved = self.approve_device_code(code) if code else 0
        text = f"contactsync sandbox: {approved} sign-in(s) approved." if code else \
            "contactsync sandbox: open /devicelogin?otc=CODE to approve a sign-in."
        return Response(200, raw=text.encode("utf-8"), content_type="text/plain; charset=utf-8")

    def token(self, req: Request) -> Response:
        form = self._form(req)
        grant_type = form.get("grant_type")
        with self.emulator.lock:
            if grant_type == DEVICE_CODE_GRANT:
                return self._device_grant(req, form)
            if grant_type == "refresh_token":
                return self._refresh(req, form)
            return _oauth_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type"
                                                                      f" '{grant_type}'.")

    def _refresh(self, req: Request, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        grant = self.state.grants.get(token)
        if grant is None or grant.revoked:
            return _oauth_error(400, "invalid_grant", 70000, "The provided value for the 'refresh_token' "
                                "is not valid. The refresh token has expired or was revoked.")
        if grant.client_id != form.get("client_id"):
            return _oauth_error(400, "invalid_grant", 70000, "The refresh token was issued to a different client.")
        spent = self.state.spent.get(token)
        if spent is not None and self.refresh_token_reuse == "single_use" and self.clock() - spent > self.reuse_grace:
            return _oauth_error(400, "invalid_grant", 70000, "The provided value for the 'refresh_token' is not "
                                "valid. The refresh token has already been used.")
        asked = _scopes(form.get("scope", "")) or _scopes(grant.scope)
        if not asked <= _scopes(grant.scope):
            missing = " ".join(sorted(asked - _scopes(grant.scope)))
            return _oauth_error(400, "invalid_grant", 65001, f"The user or administrator has not consented to use "
                                f"the application with ID '{grant.client_id}' for the scopes '{missing}'. Send an "
                                "interactive authorization request for this user and resource.")
        self.state.spent.setdefault(token, self.clock())
        return self._tokens(req, grant, asked)

    def _device_grant(self, req: Request, form: dict[str, str]) -> Response:
        device = self.state.devices.get(form.get("device_code", ""))
        if device is None or device.client_id != form.get("client_id"):
            return _oauth_error(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if device.expires_at < time.time():
            return _oauth_error(400, "expired_token", 70020, "The provided value for the input parameter "
                                                              "'device_code' is not valid. This code has expired.")
        device.polls += 1
        if device.approved_as is None:
            if self.device_approval == "after_first_poll" and device.polls > 1:
                device.approved_as = (self.sign_in_as or self.emulator.email).lower()
            else:
                return _oauth_error(400, "authorization_pending", 70016, "OAuth 2.0 device flow error. "
                                    "Authorization is pending. Continue polling.")
        del self.state.devices[form["device_code"]]
        uid = uuid.uuid5(uuid.NAMESPACE_URL, device.approved_as).hex
        grant = Grant(device.approved_as, device.client_id, device.scope, uid)
        return self._tokens(req, grant)

    def _tokens(self, req: Request, grant: Grant, scopes: set[str] | None = None) -> Response:
        refresh = "M.C5" + secrets.token_urlsafe(650)  # Microsoft rotates the refresh token on every use
        self.state.grants[refresh] = grant
        granted = _scopes(grant.scope) if scopes is None else scopes
        access = self.issue_access_token(grant.email, scopes=granted)
        now = int(time.time())
        base = self._base(req)
        claims = {"ver": "2.0", "iss": f"{base}/{CONSUMERS_TENANT}/v2.0", "sub": secrets.token_urlsafe(32),
                  "aud": grant.client_id, "exp": now + 3600, "iat": now, "nbf": now,
                  "name": grant.email.split("@")[0], "preferred_username": grant.email,
                  "oid": f"00000000-0000-0000-{grant.uid[:4]}-{grant.uid[4:16]}", "tid": CONSUMERS_TENANT,
                  "aio": secrets.token_urlsafe(96), "rh": "0.AX0A" + secrets.token_urlsafe(40) + ".",
                  "uti": secrets.token_urlsafe(16)}
        header = {"typ": "JWT", "alg": "RS256", "kid": secrets.token_urlsafe(20)}
        # An RS256 signature is 256 bytes: with the claims above, about 1 KB like a real id token.
        id_token = ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()),
                             _b64(secrets.token_bytes(256))))
        return Response(200, {
            "token_type": "Bearer", "scope": " ".join(sorted(granted)), "expires_in": ACCESS_TOKEN_LIFETIME,
            "ext_expires_in": ACCESS_TOKEN_LIFETIME, "access_token": access, "refresh_token": refresh,
            "id_token": id_token,
            "client_info": _b64(json.dumps({"uid": grant.uid, "utid": CONSUMERS_TENANT}).encode()),
        })
