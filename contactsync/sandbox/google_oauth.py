"""Google's OAuth 2.0 endpoints for the sandbox: consent (auto-approved) and token.

Shapes follow Google's installed-app flow
(https://developers.google.com/identity/protocols/oauth2/native-app): the
authorization endpoint redirects to the loopback ``redirect_uri`` with ``code``,
``state`` and ``scope``; the token endpoint takes a form POST and answers JSON,
with ``{"error": "invalid_grant", ...}`` for a revoked or expired grant.

``publishing_status = "testing"`` models an OAuth client whose consent screen is left
in Testing: "A Google Cloud Platform project with an OAuth consent screen configured
for an external user type and a publishing status of 'Testing' is issued a refresh
token expiring in 7 days" (https://developers.google.com/identity/protocols/oauth2#expiration).
Its clock (`clock`) can be moved on so that a test sees the eighth day.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from contactsync.sandbox.server import Request, Response

if TYPE_CHECKING:
    from contactsync.sandbox.google import GoogleEmulator

CONTACTS_SCOPE = "https://www.googleapis.com/auth/contacts"
READONLY_SCOPE = "https://www.googleapis.com/auth/contacts.readonly"
ACCESS_TOKEN_LIFETIME = 3599  # what Google's token endpoint answers
TESTING_REFRESH_TOKEN_LIFETIME = 7 * 86400


@dataclass
class Grant:
    email: str
    client_id: str
    scope: str
    revoked: bool = False
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch)
    issued_at: float = 0.0  # by the emulator's clock


@dataclass
class PendingCode:
    client_id: str
    redirect_uri: str
    scope: str
    email: str
    challenge: str | None
    method: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class GoogleOAuth:
    """The OAuth half of :class:`GoogleEmulator`; it shares the emulator's lock."""

    def __init__(self, emulator: GoogleEmulator, default_email: str) -> None:
        self.emulator = emulator
        self.default_email = default_email
        # When set, the consent screen signs in as this account whatever the
        # login_hint said (the user picked another account in Google's chooser).
        self.sign_in_as: str | None = None
        self.client_id = "sandbox-client.apps.googleusercontent.com"
        self.client_secret = "GOCSPX-sandbox-secret"
        self.grants: dict[str, Grant] = {}  # refresh token -> grant
        # "in_production" or "testing" (refresh tokens expire after 7 days, see the module docstring).
        self.publishing_status = "in_production"
        self.clock: Callable[[], float] = time.time
        self.codes: dict[str, PendingCode] = {}
        emulator.route("GET", r"/o/oauth2/auth", self.authorize)
        emulator.route("GET", r"/o/oauth2/v2/auth", self.authorize)
        emulator.route("POST", r"/token", self.token)

    # -- endpoints ---------------------------------------------------------

    def authorize(self, req: Request) -> Response:
        redirect_uri = req.arg("redirect_uri") or ""
        if req.arg("client_id") != self.client_id:
            return self._html(401, "Error 401: invalid_client — The OAuth client was not found.")
        host = urlsplit(redirect_uri).hostname
        if not redirect_uri.startswith("http://") or host not in ("localhost", "127.0.0.1", "[::1]", "::1"):
            # Installed apps may only redirect to a loopback address.
            return self._html(400, "Error 400: redirect_uri_mismatch")
        if req.arg("response_type") != "code":
            return self._redirect(redirect_uri, {"error": "unsupported_response_type", "state": req.arg("state")})
        scope = req.arg("scope") or ""
        if not scope:
            return self._html(400, "Error 400: invalid_request — Missing required parameter: scope")
        code = "4/0A" + secrets.token_urlsafe(24)
        with self.emulator.lock:
            self.codes[code] = PendingCode(
                self.client_id, redirect_uri, scope,
                self.sign_in_as or req.arg("login_hint") or self.default_email,
                req.arg("code_challenge"), req.arg("code_challenge_method") or "plain",
            )
        params = {"state": req.arg("state"), "code": code, "scope": scope, "authuser": "0", "prompt": "consent"}
        return self._redirect(redirect_uri, params)

    def token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8")).items()}
        basic = req.header("Authorization") or ""
        if basic.startswith("Basic "):
            # RFC 6749 §2.3.1: client credentials may come as HTTP Basic (requests-oauthlib's default).
            client_id, _, secret = base64.b64decode(basic[6:]).decode("utf-8").partition(":")
            form.setdefault("client_id", unquote_plus(client_id))
            form.setdefault("client_secret", unquote_plus(secret))
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        grant_type = form.get("grant_type")
        with self.emulator.lock:
            if grant_type == "authorization_code":
                return self._exchange_code(form)
            if grant_type == "refresh_token":
                return self._refresh(form)
        return Response(400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant_type}"})

    def _exchange_code(self, form: dict[str, str]) -> Response:
        pending = self.codes.pop(form.get("code", ""), None)  # a code is single-use
        if pending is None or pending.redirect_uri != form.get("redirect_uri"):
            return Response(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        if pending.challenge is not None:
            verifier = form.get("code_verifier", "")
            computed = _b64(hashlib.sha256(verifier.encode()).digest()) if pending.method == "S256" else verifier
            if computed != pending.challenge:
                return Response(400, {"error": "invalid_grant", "error_description": "Invalid code verifier."})
        refresh_token = "1//0" + secrets.token_urlsafe(32)
        grant = Grant(pending.email, pending.client_id, pending.scope, issued_at=self.clock())
        self.grants[refresh_token] = grant
        body = self._access(grant)
        body["refresh_token"] = refresh_token
        return Response(200, body)

    def _refresh(self, form: dict[str, str]) -> Response:
        grant = self.grants.get(form.get("refresh_token", ""))
        expired = (grant is not None and self.publishing_status == "testing"
                   and self.clock() - grant.issued_at >= TESTING_REFRESH_TOKEN_LIFETIME)
        if grant is None or grant.revoked or expired:
            # Google's answer for a revoked or expired refresh token.
            return Response(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        return Response(200, self._access(grant))

    def _access(self, grant: Grant) -> dict[str, Any]:
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        grant.access_tokens[token] = time.time() + ACCESS_TOKEN_LIFETIME
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": grant.scope,
            "token_type": "Bearer",
        }
        if "openid" in grant.scope.split():
            body["id_token"] = self._id_token(grant)
        return body

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "kid": "sandbox", "typ": "JWT"}
        payload = {
            "iss": "https://accounts.google.com",
            "azp": grant.client_id,
            "aud": grant.client_id,
            "sub": str(int(hashlib.sha256(grant.email.lower().encode()).hexdigest()[:15], 16)),
            "email": grant.email,
            "email_verified": True,
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME,
        }
        # Unsigned in the sandbox: the client takes the token straight from the
        # token endpoint over TLS and only reads its payload.
        parts = [_b64(json.dumps(part).encode()) for part in (header, payload)]
        return ".".join([*parts, _b64(b"sandbox-signature")])

    # -- used by the emulator ----------------------------------------------

    def grant_for(self, req: Request) -> Grant | None:
        """The live grant behind the request's bearer token, or None."""
        auth = req.header("Authorization") or ""
        if not auth.startswith("Bearer "):
            return None
        token = auth[len("Bearer "):].strip()
        now = time.time()
        for grant in self.grants.values():
            expiry = grant.access_tokens.get(token)
            if expiry is not None:
                return None if grant.revoked or expiry < now else grant
        return None

    def issue_grant(self, email: str, scope: str | None = None) -> str:
        """Create a grant as if the user had signed in; returns its refresh token."""
        refresh_token = "1//0" + secrets.token_urlsafe(32)
        with self.emulator.lock:
            self.grants[refresh_token] = Grant(
                email, self.client_id, scope or f"{CONTACTS_SCOPE} openid https://www.googleapis.com/auth/userinfo.email",
                issued_at=self.clock(),
            )
        return refresh_token

    def revoke(self, email: str | None = None) -> int:
        """Revoke the grants of `email` (all when None); returns how many."""
        count = 0
        with self.emulator.lock:
            for grant in self.grants.values():
                if email is None or grant.email.lower() == email.lower():
                    grant.revoked = True
                    grant.access_tokens.clear()
                    count += 1
        return count

    def control(self, data: dict[str, Any]) -> None:
        with self.emulator.lock:
            if "publishing_status" in data:
                self.publishing_status = str(data["publishing_status"])
            if "advance_clock" in data:  # seconds; the grants age, nothing else moves
                start, offset = self.clock, float(data["advance_clock"])
                self.clock = lambda: start() + offset

    def expire_access_tokens(self) -> None:
        with self.emulator.lock:
            for grant in self.grants.values():
                grant.access_tokens = {token: 0.0 for token in grant.access_tokens}

    def client_config(self) -> dict[str, Any]:
        base = self.emulator.base_url
        return {"installed": {
            "client_id": self.client_id,
            "project_id": "contactsync-sandbox",
            "auth_uri": f"{base}/o/oauth2/auth",
            "token_uri": f"{base}/token",
            "auth_provider_x509_cert_url": f"{base}/oauth2/v1/certs",
            "client_secret": self.client_secret,
            "redirect_uris": ["http://localhost"],
        }}

    @staticmethod
    def _redirect(uri: str, params: dict[str, Any]) -> Response:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        sep = "&" if "?" in uri else "?"
        return Response(302, None, {"Location": f"{uri}{sep}{query}"})

    @staticmethod
    def _html(status: int, text: str) -> Response:
        return Response(status, raw=f"<html><body><p>{text}</p></body></html>".encode(),
                        content_type="text/html; charset=utf-8")
