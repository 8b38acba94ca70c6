"""Fixtures for the Pipedrive emulator and adapter tests (imported by the test modules)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from contactsync.clock import ManualClock
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.sandbox.pipedrive import PipedriveEmulator
from contactsync.sandbox.server import RunningServer, serve

ADMIN_TOKEN = "0123456789abcdef0123456789abcdef01234567"
SELLER_TOKEN = "feedfacefeedfacefeedfacefeedfacefeedface"  # user 2 in the example seed


@pytest.fixture
def emulator() -> PipedriveEmulator:
    emu = PipedriveEmulator(api_token=ADMIN_TOKEN)
    emu.load_seed()
    return emu


@pytest.fixture
def server(emulator: PipedriveEmulator) -> Iterator[RunningServer]:
    running = serve(emulator)
    yield running
    running.stop()


@pytest.fixture
def clock(emulator: PipedriveEmulator) -> ManualClock:
    """One clock for the emulator's windows and the adapter's waits: no test sleeps for real."""
    emulator.clock = ManualClock()
    return emulator.clock


@pytest.fixture
def crm(server: RunningServer, clock: ManualClock) -> PipedriveCrm:
    return PipedriveCrm(server.url, ADMIN_TOKEN, clock=clock)


def call(server: RunningServer, method: str, path: str, token: str | None = ADMIN_TOKEN,
         **kwargs: Any) -> requests.Response:
    headers = {"x-api-token": token} if token else {}
    return requests.request(method, server.url + path, headers=headers, timeout=10, **kwargs)
