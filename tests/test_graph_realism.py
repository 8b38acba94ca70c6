"""Microsoft Graph's real behaviours, switched on in the emulator, and how the adapter meets them."""

from __future__ import annotations

import pytest
from microsoft_support import CLIENTS, MARIA, GraphSandbox

from contactsync.errors import CursorExpired
from contactsync.model import Contact
from contactsync.providers.base import ProviderDeletion, ProviderRecord
from contactsync.sandbox.graph import DEFAULT_FOLDER_ID
from contactsync.sandbox.server import Fault


def read_all(feed) -> list:
    return [change for page in feed.pages() for change in page]


def test_delta_and_items_use_the_documented_folder_paths(graph: GraphSandbox) -> None:
    provider = graph.provider()
    read_all(provider.changes(None, "contacts"))
    read_all(provider.changes(None, CLIENTS))
    provider.get(MARIA)
    paths = [e.path for e in graph.emulator.log]
    assert f"/v1.0/me/contactFolders/{DEFAULT_FOLDER_ID}/contacts/delta" in paths
    assert f"/v1.0/me/contactFolders/{CLIENTS}/contacts/delta" in paths
    assert f"/v1.0/me/contactFolders/{CLIENTS}/contacts/{MARIA}" in paths
    assert "/v1.0/me/contacts/delta" not in paths
    assert sum(p == "/v1.0/me/contacts" for p in paths) == 1  # the default folder's id, looked up once
    delta = next(e for e in graph.emulator.log if e.path.endswith("/delta"))
    assert "changeKey" in delta.query["$select"][0].split(",")


def test_partial_and_repeated_delta_items_never_read_as_cleared(graph: GraphSandbox) -> None:
    provider = graph.provider()
    feed = provider.changes(None, CLIENTS)
    before = {c.id: c for c in read_all(feed)}
    graph.emulator.quirks.partial_delta_items = True
    graph.emulator.quirks.repeat_delta_items = True
    graph.emulator.edit_contact(MARIA, {"jobTitle": "Chief Buyer"})
    changes = read_all(provider.changes(feed.cursor, CLIENTS))
    delta = [e for e in graph.emulator.log if "$deltatoken" in str(e.query)][-1]
    assert [item for item in delta.response["value"] if "companyName" not in item]  # the emulator is partial
    assert [c.id for c in changes] == [MARIA]  # given twice by the service, once by the adapter
    [maria] = changes
    assert isinstance(maria, ProviderRecord)
    assert maria.contact.job_title == "Chief Buyer"
    assert maria.contact.organization == before[MARIA].contact.organization != ""
    assert maria.contact.emails == before[MARIA].contact.emails


@pytest.mark.parametrize("quirk", [True, False])
def test_an_unreadable_delta_link_means_a_full_listing(graph: GraphSandbox, quirk: bool) -> None:
    provider = graph.provider()
    feed = provider.changes(None, CLIENTS)
    read_all(feed)
    graph.emulator.quirks.malformed_token_plain_400 = quirk
    broken = feed.cursor.rsplit("$deltatoken=", 1)[0] + "$deltatoken=not-a-token"
    with pytest.raises(CursorExpired):
        provider.changes(broken, CLIENTS)
    assert graph.emulator.log[-1].status == 400


def test_410_with_location_means_a_full_listing_and_no_deletion(graph: GraphSandbox) -> None:
    provider = graph.provider()
    feed = provider.changes(None, CLIENTS)
    read_all(feed)
    graph.emulator.expire_delta_tokens("resyncRequired")
    with pytest.raises(CursorExpired):
        provider.changes(feed.cursor, CLIENTS)
    assert graph.emulator.log[-1].status == 410
    full = read_all(provider.changes(None, CLIENTS))
    assert not [c for c in full if isinstance(c, ProviderDeletion)]


def test_mailbox_concurrency_429_is_retried(graph: GraphSandbox) -> None:
    provider = graph.provider()
    provider.changes(None, CLIENTS)
    graph.emulator.add_fault(Fault(status=429, headers={"Retry-After": "0"}, path=MARIA, body={"error": {
        "code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}}))
    record = provider.get(MARIA)
    assert record is not None and record.id == MARIA
    assert [e.status for e in graph.emulator.log if e.path.endswith(MARIA)] == [429, 200]


def test_a_birthday_written_at_midnight_reads_back_the_same_date(graph: GraphSandbox) -> None:
    provider = graph.provider()
    read_all(provider.changes(None, "contacts"))
    created = provider.create(Contact(name="Bea Day", birthday="1990-06-15"), "contacts")
    assert graph.emulator.contact(created.id)["birthday"] == "1990-06-15T11:59:00Z"
    assert created.contact.birthday == "1990-06-15"
    assert provider.get(created.id).contact.birthday == "1990-06-15"
