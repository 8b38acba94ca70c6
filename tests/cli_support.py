"""Helpers for CLI tests: the sandbox, an in-process runner, the Pipedrive API as a user sees it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contactsync.cli import app
from contactsync.sandbox import launch
from contactsync.sandbox.browser import register_sandbox_browser

EMAIL = "ann@example.com"


def start_sandbox(workdir: Path, **options: Any) -> launch.Sandbox:
    """`launch.start` for tests: the emulated Microsoft sign-in asks MSAL to poll without a pause,
    and no Radicale (CardDAV tests start their own, tests/carddav_support.py).

    Microsoft's device code answer names the seconds to wait between polls (`interval`,
    learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code); the sandbox
    says 1 and approves after the first poll, so every Microsoft sign-in of a test
    slept a second in MSAL. The polls themselves are the same.
    """
    options.setdefault("carddav", False)
    sandbox = launch.start(workdir, **options)
    sandbox.graph.identity.device_interval = 0
    return sandbox


@pytest.fixture
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[launch.Sandbox]:
    """The whole sandbox on the Growth plan, or the plan of a `sandbox_plan` mark."""
    register_sandbox_browser()
    marker = request.node.get_closest_marker("sandbox_plan")
    sandbox = start_sandbox(tmp_path / "sandbox", plan=marker.args[0] if marker else "growth")
    yield sandbox
    sandbox.stop()


def cli(*args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    return result


def envelope(text: str, kind: str) -> dict[str, Any]:
    """A --json output checked against its shipped JSON Schema; the whole envelope."""
    import json

    import jsonschema

    from contactsync import schemas

    document = json.loads(text)
    jsonschema.validate(document, schemas.load(kind))
    assert document["schema"] == f"contactsync/{kind}/1"
    return document


def cli_json(kind: str, *args: str) -> Any:
    """Run a command with --json; its envelope checked against the schema; returns `data`."""
    result = cli(*args, "--json")
    return envelope(result.stdout, kind)["data"]


def setup_account(box: launch.Sandbox) -> None:
    r = cli("crm", "connect", "--domain", box.domain, "--plan", box.plan, "--base-url", box.pipedrive_url,
            "--api-token-stdin", input=box.api_token + "\n")
    assert r.exit_code == 0, r.output
    r = cli("add-account", "google", EMAIL, "--client-secrets", str(box.client_secrets), "--endpoint", box.google_url)
    assert r.exit_code == 0, r.output


def setup_microsoft(box: launch.Sandbox) -> None:
    r = cli("add-account", "microsoft", box.microsoft_email, "--client-id", box.microsoft_client_id,
            "--endpoint", box.graph_url, "--authority", box.graph_url)
    assert r.exit_code == 0, r.output


def graph_id(box: launch.Sandbox, display_name: str) -> str:
    for id in list(box.graph.contacts):
        if box.graph.contact(id).get("displayName") == display_name:
            return id
    raise LookupError(display_name)


def crm_persons(box: launch.Sandbox) -> dict[str, dict[str, Any]]:
    """Every person in the Pipedrive emulator, by name.

    Read from the emulator itself, not its API: the checks of a test must not spend
    the burst limit of the plan (20-120 requests per 2 s) that the run just used.
    """
    persons: dict[str, dict[str, Any]] = {}
    for person in box.pipedrive.persons():
        assert person["name"] not in persons, f"duplicate person {person['name']}"
        persons[person["name"]] = person
    return persons


def google_rn(box: launch.Sandbox, display_name: str) -> str:
    for rn in list(box.google.people):
        if any(n.get("displayName") == display_name for n in box.google.person(rn).get("names", [])):
            return rn
    raise LookupError(display_name)


def linked_count(account: str) -> int:
    """How many of `account`'s contacts are linked in the state file of the current home."""
    from contactsync import config as cfg
    from contactsync.store import LinkStore

    store = LinkStore.open(cfg.state_path())
    try:
        return store.count_links(account)["linked"]
    finally:
        store.close()
