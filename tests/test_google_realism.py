"""The People API's real behaviours, switched on in the emulator, and how the adapter meets them."""

from __future__ import annotations

import pytest
from google_support import ANN, CLIENTS, JOSE, Sandbox

from contactsync.errors import AuthError, ConfigError, CursorExpired, StaleVersion, TemporaryError
from contactsync.model import Contact
from contactsync.providers.base import ProviderRecord
from contactsync.sandbox.server import Fault

MY_CONTACTS = "contactGroups/myContacts"


def read_all(feed) -> list:
    return [change for page in feed.pages() for change in page]


def api_calls(sandbox: Sandbox) -> list[tuple[str, str, int]]:
    return [(e.method, e.path, e.status) for e in sandbox.emulator.log if e.path.startswith("/v1/")]


def error(code: int, status: str, message: str, reason: str | None = None) -> dict:
    body: dict = {"code": code, "message": message, "status": status}
    if reason:
        # google.rpc.ErrorInfo as Google sends it (cloud.google.com/apis/design/errors#error_info).
        body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                            "domain": "googleapis.com", "metadata": {"service": "people.googleapis.com"}}]
    return {"error": body}


def test_a_429_on_create_is_retried_over_a_minute(sandbox: Sandbox) -> None:
    waits: list[float] = []
    provider = sandbox.provider(sleep=waits.append)
    before = len(sandbox.emulator.people)
    for _ in range(2):
        sandbox.emulator.add_fault(Fault(status=429, path="createContact", body=error(
            429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Contact writes'.", "RATE_LIMIT_EXCEEDED")))
    created = provider.create(Contact(name="Only Once"), CLIENTS)
    assert len(sandbox.emulator.people) == before + 1 and created.id in sandbox.emulator.people
    assert waits == [5.0, 10.0]


@pytest.mark.parametrize("reason, kind, words", [
    ("SERVICE_DISABLED", ConfigError, "not enabled"),
    ("ACCESS_TOKEN_SCOPE_INSUFFICIENT", AuthError, "scope not granted"),
    ("RATE_LIMIT_EXCEEDED", TemporaryError, "quota"),
])
def test_403_says_which_of_api_scope_or_quota(sandbox: Sandbox, reason: str, kind: type, words: str) -> None:
    provider = sandbox.provider()
    for _ in range(5):
        sandbox.emulator.add_fault(Fault(status=403, path="/v1/contactGroups", body=error(
            403, "PERMISSION_DENIED", "The caller does not have permission", reason)))
    with pytest.raises(kind) as info:
        provider.groups()
    assert words in info.value.line() and "\n" not in info.value.line()


def test_expired_sync_token_known_by_its_message_alone(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    feed = provider.changes(None, CLIENTS)
    read_all(feed)
    sandbox.emulator.add_fault(Fault(status=400, path="/connections", body=error(
        400, "FAILED_PRECONDITION", "Sync token is expired. Clear local cache and retry call without the sync token.")))
    with pytest.raises(CursorExpired):
        provider.changes(feed.cursor, CLIENTS)


def test_update_uses_the_etag_of_the_listing_without_another_read(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    record = next(r for r in read_all(provider.changes(None, MY_CONTACTS)) if r.id == ANN)
    sandbox.emulator.log.clear()
    provider.update(ANN, Contact(name="Ann Smith-Jones", emails=record.contact.emails), record.version)
    assert [(m, s) for m, _, s in api_calls(sandbox)] == [("PATCH", 200)]


def test_spurious_etag_failure_is_read_again_and_retried(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    record = next(r for r in read_all(provider.changes(None, MY_CONTACTS)) if r.id == JOSE)
    sandbox.emulator.quirks.spurious_etag_failures = 1
    sandbox.emulator.log.clear()
    updated = provider.update(JOSE, Contact(name="José Álvarez Ruiz"), record.version)
    assert updated.contact.name == "José Álvarez Ruiz"
    assert [(m, s) for m, _, s in api_calls(sandbox)] == [("PATCH", 400), ("GET", 200), ("PATCH", 200)]
    # Refused every time: reported as changed in Google, after two re-reads.
    sandbox.emulator.quirks.spurious_etag_failures = 3
    with pytest.raises(StaleVersion):
        provider.update(JOSE, Contact(name="Jose"), updated.version)
    assert sandbox.emulator.person(JOSE)["names"][0]["displayName"] == "José Álvarez Ruiz"


def test_changed_resource_name_is_reported_with_the_previous_one(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    feed = provider.changes(None, MY_CONTACTS)
    read_all(feed)
    new = sandbox.emulator.rename_person(ANN)
    changes = read_all(provider.changes(feed.cursor, MY_CONTACTS))
    [moved] = [c for c in changes if isinstance(c, ProviderRecord) and c.id == new]
    assert moved.previous_ids == (ANN,)
    assert provider.get(ANN) is None
    full = read_all(provider.changes(None, MY_CONTACTS))  # the field is only given with a sync token
    assert next(c for c in full if c.id == new).previous_ids == ()


def test_writes_reach_sync_results_late(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    feed = provider.changes(None, MY_CONTACTS)
    read_all(feed)
    sandbox.emulator.quirks.propagation_listings = 2
    sandbox.emulator.edit_person(JOSE, {"organizations": [{"name": "Contoso Ltd"}]})
    cursor = feed.cursor
    seen_after: list[int] = []
    for n in range(4):
        feed = provider.changes(cursor, MY_CONTACTS)
        if any(c.id == JOSE for c in read_all(feed)):
            seen_after.append(n)
        cursor = feed.cursor
    assert seen_after == [2]  # hidden from two listings, then shown once, not lost
