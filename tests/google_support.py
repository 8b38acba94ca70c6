"""Shared fixtures of the Google emulator and adapter tests (imported by both test files)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from contactsync.auth.google import GoogleGrant
from contactsync.providers.google import GoogleProvider
from contactsync.sandbox.google import SEED_FILE, GoogleEmulator, load_seed
from contactsync.sandbox.server import RunningServer, serve

EMAIL = "ann@example.com"
CLIENTS = "contactGroups/5f3a9c1e0b7d4e21"
SUPPLIERS = "contactGroups/2b8e61d04a9c7f33"
ANN = "people/c1000000000000000001"
JOSE = "people/c1000000000000000002"
TARO = "people/c1000000000000000003"
OLGA = "people/c1000000000000000004"
CHLOE = "people/c1000000000000000005"
NAMELESS = "people/c1000000000000000006"
PRIYA = "people/c1000000000000000008"
MOHAMMED = "people/c1000000000000000009"


@dataclass
class Sandbox:
    emulator: GoogleEmulator
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def grant(self, email: str = EMAIL, scope: str | None = None) -> GoogleGrant:
        installed = self.emulator.client_config()["installed"]
        return GoogleGrant(installed["client_id"], installed["client_secret"],
                           self.emulator.issue_grant(email, scope), installed["token_uri"])

    def provider(self, grant: GoogleGrant | None = None, **kwargs: Any) -> GoogleProvider:
        kwargs.setdefault("retries", 1)
        kwargs.setdefault("sleep", lambda seconds: None)  # backoff is counted, never waited for
        return GoogleProvider(grant or self.grant(), EMAIL, endpoint=self.url, **kwargs)

    def token(self, email: str = EMAIL, scope: str | None = None) -> str:
        grant = self.grant(email, scope)
        response = requests.post(grant.token_uri, data={
            "grant_type": "refresh_token", "refresh_token": grant.refresh_token,
            "client_id": grant.client_id, "client_secret": grant.client_secret,
        }, timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    emulator = GoogleEmulator(load_seed(SEED_FILE), default_email=EMAIL)
    server = serve(emulator)
    try:
        yield Sandbox(emulator, server)
    finally:
        server.stop()
