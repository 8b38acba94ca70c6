"""The provider contract: one suite every address-book adapter passes (vdirsyncer's StorageTests model).

Each test takes the `subject` fixture (registered in conftest.py), which is
parametrized over `SUBJECTS` below: one entry per provider, each against its
own server (Google and Microsoft against their emulators; CardDAV against a
real server). A new provider proves itself by adding a subject and passing.

The fixture interface — what a subject factory yields (`Subject`):

    provider   the adapter, signed in and ready (a `contactsync.providers.base.Provider`)
    group      the id of a sync group the tests may create contacts in
    expire     a callable that makes the server refuse the current sync cursor,
               or None when the server has no such notion

A factory is a context manager `() -> Iterator[Subject]` registered with
`SUBJECTS["name"] = factory`; it starts its server and stops it afterwards.
Tests write only through the adapter (create/update/delete) so that the same
test runs unchanged against any server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from contactsync.errors import CursorExpired, StaleVersion
from contactsync.model import Contact, Email, Phone, normalise
from contactsync.providers.base import Change, ChangeFeed, Provider, ProviderDeletion, ProviderRecord


@dataclass
class Subject:
    provider: Provider
    group: str
    expire: Callable[[], None] | None = None


SUBJECTS: dict[str, Callable[[], Iterator[Subject]]] = {}


@contextmanager
def _google() -> Iterator[Subject]:
    from contactsync.sandbox.google import SEED_FILE, GoogleEmulator, load_seed
    from contactsync.sandbox.server import serve
    from google_support import EMAIL, Sandbox

    emulator = GoogleEmulator(load_seed(SEED_FILE), default_email=EMAIL)
    server = serve(emulator)
    try:
        provider = Sandbox(emulator, server).provider()
        yield Subject(provider, provider.default_group().id, emulator.expire_sync_tokens)
    finally:
        server.stop()


@contextmanager
def _microsoft() -> Iterator[Subject]:
    from contactsync.sandbox.graph import SEED_FILE, GraphEmulator, load_seed
    from contactsync.sandbox.server import serve
    from microsoft_support import EMAIL, GraphSandbox

    emulator = GraphEmulator(load_seed(SEED_FILE), email=EMAIL, device_interval=0)
    server = serve(emulator)
    try:
        provider = GraphSandbox(emulator, server).provider()
        yield Subject(provider, provider.default_group().id, emulator.expire_delta_tokens)
    finally:
        server.stop()


@contextmanager
def _carddav() -> Iterator[Subject]:
    """A real CardDAV server, Radicale, with one empty address book (tests/carddav_support.py)."""
    pytest.importorskip("radicale")
    import tempfile
    from pathlib import Path

    from carddav_support import Radicale, provider_for
    from contactsync.sandbox import radicale

    with tempfile.TemporaryDirectory(prefix="contactsync-radicale-") as folder:
        server = radicale.start(Path(folder))
        try:
            dav = Radicale(server, server.make_address_book("contacts", "Contacts"))

            def expire() -> None:
                # Radicale keeps the state behind each sync token it handed out in the
                # collection's .Radicale.cache/sync-token; without it a token of an older
                # state is refused with the valid-sync-token precondition (Radicale's
                # app/report.py). A token of the current state needs no history, so the
                # collection moves on by one card (written by another client) first.
                for token in Path(folder).rglob(".Radicale.cache/sync-token/*"):
                    token.unlink()
                dav.put("expired-cursor-marker", "Marker Card")

            yield Subject(provider_for(dav), dav.book, expire)
        finally:
            server.stop()


SUBJECTS["google"] = _google
SUBJECTS["microsoft"] = _microsoft
SUBJECTS["carddav"] = _carddav

ANN = Contact(name="Ann Contract", emails=(Email("ann.contract@example.org", "work"),),
              phones=(Phone("+1 555 0100", "mobile"),), organization="Acme", job_title="Buyer")


def drain(feed: ChangeFeed) -> list[Change]:
    return [change for page in feed.pages() for change in page]


def listed(subject: Subject) -> tuple[dict[str, ProviderRecord], str | None]:
    feed = subject.provider.changes(None, subject.group)
    changes = drain(feed)
    assert feed.complete, "a listing without a cursor is a complete listing"
    return {c.id: c for c in changes if isinstance(c, ProviderRecord)}, feed.cursor


def same(a: Contact, b: Contact, provider: Provider) -> None:
    held = provider.representable
    left, right = normalise(held(a)), normalise(held(b))
    assert (left.name, left.emails, left.organization, left.job_title) == \
        (right.name, right.emails, right.organization, right.job_title)
    assert [p.value for p in left.phones] == [p.value for p in right.phones]


def test_the_default_group_is_one_of_the_groups(subject: Subject) -> None:
    default = subject.provider.default_group()
    assert default.id in {g.id for g in subject.provider.groups()}


def test_check_passes_with_a_working_grant(subject: Subject) -> None:
    subject.provider.check()


def test_a_created_contact_is_in_the_full_listing_as_written(subject: Subject) -> None:
    if not subject.provider.capabilities.supports_write:
        pytest.skip("the provider cannot be written")
    record = subject.provider.create(ANN, subject.group)
    contacts, cursor = listed(subject)
    assert record.id in contacts and contacts[record.id].version == record.version
    same(contacts[record.id].contact, ANN, subject.provider)
    assert cursor is not None or not subject.provider.capabilities.supports_incremental


def test_changes_since_a_cursor_show_updates_and_deletions(subject: Subject) -> None:
    provider = subject.provider
    if not (provider.capabilities.supports_write and provider.capabilities.supports_incremental):
        pytest.skip("needs writes and incremental reads")
    bo = provider.create(Contact(name="Bo Contract"), subject.group)
    cy = provider.create(Contact(name="Cy Contract"), subject.group)
    _, cursor = listed(subject)
    quiet = provider.changes(cursor, subject.group)
    assert not quiet.complete and drain(quiet) == [], "nothing changed since the cursor"
    updated = provider.update(bo.id, Contact(name="Bo Contract", job_title="CTO"), bo.version)
    assert updated.version != bo.version
    provider.delete(cy.id)
    feed = provider.changes(quiet.cursor, subject.group)
    changes = drain(feed)
    records = {c.id: c for c in changes if isinstance(c, ProviderRecord)}
    assert records[bo.id].version == updated.version and records[bo.id].contact.job_title == "CTO"
    assert cy.id in {c.id for c in changes if isinstance(c, ProviderDeletion)}


def test_an_update_with_a_stale_version_is_refused(subject: Subject) -> None:
    provider = subject.provider
    if not provider.capabilities.supports_write:
        pytest.skip("the provider cannot be written")
    dee = provider.create(Contact(name="Dee Contract"), subject.group)
    provider.update(dee.id, Contact(name="Dee Contract", job_title="CEO"), dee.version)
    with pytest.raises(StaleVersion):
        provider.update(dee.id, Contact(name="Dee Contract", job_title="CFO"), dee.version)


def test_get_reads_the_contact_and_none_once_deleted(subject: Subject) -> None:
    provider = subject.provider
    if not provider.capabilities.supports_write:
        pytest.skip("the provider cannot be written")
    eve = provider.create(Contact(name="Eve Contract"), subject.group)
    current = provider.get(eve.id)
    assert current is not None and current.version == eve.version and current.contact.name == "Eve Contract"
    provider.delete(eve.id)
    assert provider.get(eve.id) is None
    provider.delete(eve.id)  # a contact already gone is not an error


def test_an_expired_cursor_is_reported_as_such(subject: Subject) -> None:
    if subject.expire is None or not subject.provider.capabilities.supports_incremental:
        pytest.skip("the server has no expiring cursor")
    _, cursor = listed(subject)
    subject.expire()
    with pytest.raises(CursorExpired):
        drain(subject.provider.changes(cursor, subject.group))


def test_representable_is_a_stable_view(subject: Subject) -> None:
    provider = subject.provider
    many = Contact(name="Fay", notes="call back", emails=tuple(Email(f"fay{i}@example.org") for i in range(5)))
    held = provider.representable(many)
    assert provider.representable(held) == held
    assert (held.notes == "call back") == provider.capabilities.syncs_notes
    if provider.capabilities.max_emails is not None:
        assert len(held.emails) <= provider.capabilities.max_emails


def test_a_full_listing_says_how_many_contacts_it_holds(subject: Subject) -> None:
    """`expected`: a progress display's total, read with the listing; a listing since a cursor has none."""
    provider = subject.provider
    if provider.capabilities.supports_write:
        provider.create(Contact(name="Fay Contract"), subject.group)
    feed = provider.changes(None, subject.group)
    records = [c for c in drain(feed) if isinstance(c, ProviderRecord)]
    assert feed.expected == len(records) > 0
    if provider.capabilities.supports_incremental:
        assert provider.changes(feed.cursor, subject.group).expected is None
