"""Shared fixtures of the Graph emulator and Microsoft adapter tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from contactsync.providers.microsoft import MicrosoftProvider
from contactsync.sandbox.graph import SEED_FILE, GraphEmulator, load_seed
from contactsync.sandbox.server import RunningServer, serve

EMAIL = "maya@outlook.example"
CLIENT_ID = "00000000-0000-0000-0000-00000000c0de"
CLIENTS = "AQMkADAwATM0MDAAMS1jbGllbnRzLWZvbGRlcgAuAAADAAAA"
MARIA = "AQMkADAwATM0MDAAMS0wMDAxLWNvbnRhY3QAAAA="
OLEG = "AQMkADAwATM0MDAAMS0wMDAyLWNvbnRhY3QAAAA="
MISAKI = "AQMkADAwATM0MDAAMS0wMDAzLWNvbnRhY3QAAAA="
FATIMA = "AQMkADAwATM0MDAAMS0wMDA2LWNvbnRhY3QAAAA="


@dataclass
class GraphSandbox:
    emulator: GraphEmulator
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, email: str = EMAIL) -> str:
        return self.emulator.identity.issue_access_token(email)

    def provider(self, **kwargs: Any) -> MicrosoftProvider:
        token = self.token()
        kwargs.setdefault("retries", 2)
        return MicrosoftProvider(lambda: token, EMAIL, endpoint=self.url, **kwargs)

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else self.url + path
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)


@pytest.fixture
def graph() -> Iterator[GraphSandbox]:
    emulator = GraphEmulator(load_seed(SEED_FILE), email=EMAIL, device_interval=0)
    server = serve(emulator)
    try:
        yield GraphSandbox(emulator, server)
    finally:
        server.stop()


def aged(cache: str, seconds: float = 3600) -> str:
    """The stored token cache as it is `seconds` later: its access tokens past their expiry."""
    import json
    import time

    data = json.loads(cache)
    for entry in (data.get("AccessToken") or {}).values():
        entry["expires_on"] = entry["extended_expires_on"] = str(int(time.time() - seconds + 3599))
    return json.dumps(data)
