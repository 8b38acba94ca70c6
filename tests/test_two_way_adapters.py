"""Adapter contract additions for two-way sync, against the emulators over loopback HTTP.

`ProviderRecord.updated`, `Provider.get`, `Provider.representable` and `Crm.get_many`.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from google_support import ANN, CLIENTS, JOSE, Sandbox
from microsoft_support import CLIENTS as FOLDER
from microsoft_support import MARIA, OLEG, GraphSandbox
from pipedrive_openapi import assert_log_valid

from contactsync.clock import ManualClock
from contactsync.crm.base import PersonWrite
from contactsync.crm.pipedrive import IDS_BATCH
from contactsync.model import Address, Contact, Email, Im, Phone, normalise, synced_fields
from contactsync.providers.base import ProviderRecord
from contactsync.providers.microsoft import MicrosoftProvider
from contactsync.providers.microsoft_mapping import contact_to_graph, graph_to_contact


def read_all(feed) -> list:
    return [change for page in feed.pages() for change in page]


def instant(value: str | None) -> datetime:
    assert value, "no update time"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- Google -----------------------------------------------------------------------------

def test_google_get_returns_the_current_record_and_none_once_deleted(sandbox: Sandbox) -> None:  # noqa: F811
    provider = sandbox.provider()
    listed = {c.id: c for c in read_all(provider.changes(None, CLIENTS))}
    got = provider.get(ANN)
    assert isinstance(got, ProviderRecord)
    assert got == listed[ANN]  # same read mask: same contact, etag, photo and time
    assert got.updated is not None and got.version == sandbox.emulator.person(ANN)["etag"]

    sandbox.emulator.edit_person(ANN, {"organizations": [{"name": "Elsewhere Inc"}]})
    again = provider.get(ANN)
    assert again is not None and again.contact.organization == "Elsewhere Inc"
    assert again.version != got.version

    sandbox.emulator.delete_person(JOSE)
    assert provider.get(JOSE) is None
    provider.delete(ANN)
    assert provider.get(ANN) is None


def test_google_updated_is_the_contact_source_time_and_moves_on_edits(sandbox: Sandbox) -> None:  # noqa: F811
    provider = sandbox.provider()
    listed = {c.id: c for c in read_all(provider.changes(None, CLIENTS))}
    assert listed and all(c.updated for c in listed.values())
    source = next(s for s in sandbox.emulator.person(ANN)["metadata"]["sources"] if s["type"] == "CONTACT")
    assert listed[ANN].updated == source["updateTime"]

    before = instant(listed[ANN].updated)
    time.sleep(0.01)
    sandbox.emulator.edit_person(ANN, {"organizations": [{"name": "Edited By Hand"}]})
    edited = provider.get(ANN)
    assert edited is not None and instant(edited.updated) > before

    # Our own writes hand back the record as Google now holds it.
    time.sleep(0.01)
    written = provider.update(ANN, Contact(name="Ann Lee", first_name="Ann", last_name="Lee"), edited.version)
    now = provider.get(ANN)
    assert now is not None
    assert (written.version, written.updated) == (now.version, now.updated)
    assert written.version != edited.version and instant(written.updated) > instant(edited.updated)

    created = provider.create(Contact(name="Noor Haddad", first_name="Noor", last_name="Haddad"), CLIENTS)
    fetched = provider.get(created.id)
    assert created.updated is not None and fetched is not None
    assert (created.version, created.updated, created.contact) == (fetched.version, fetched.updated, fetched.contact)


def test_google_incremental_changes_carry_updated(sandbox: Sandbox) -> None:  # noqa: F811
    provider = sandbox.provider()
    first = provider.changes(None, CLIENTS)
    read_all(first)
    sandbox.emulator.edit_person(ANN, {"organizations": [{"name": "Delta Co"}]})
    changes = {c.id: c for c in read_all(provider.changes(first.cursor, CLIENTS))}
    current = provider.get(ANN)
    assert current is not None and changes[ANN].updated == current.updated is not None


# -- Microsoft --------------------------------------------------------------------------

def test_graph_get_returns_the_current_record_and_none_once_deleted(graph: GraphSandbox) -> None:  # noqa: F811
    provider = graph.provider()
    listed = {c.id: c for c in read_all(provider.changes(None, FOLDER))}
    got = provider.get(MARIA)
    assert got == listed[MARIA]
    assert got.version == graph.emulator.contact(MARIA)["changeKey"]
    assert got.updated == graph.emulator.contact(MARIA)["lastModifiedDateTime"]

    graph.emulator.edit_contact(MARIA, {"companyName": "Contoso"})
    again = provider.get(MARIA)
    assert again is not None and again.contact.organization == "Contoso" and again.version != got.version

    graph.emulator.delete_contact(OLEG)
    assert provider.get(OLEG) is None
    provider.delete(MARIA)
    assert provider.get(MARIA) is None
    select = [e for e in graph.emulator.log if e.method == "GET" and "/contacts/" in e.path][-1]
    assert "lastModifiedDateTime" in select.query["$select"][0]


def test_graph_updated_is_last_modified_and_moves_on_edits(graph: GraphSandbox) -> None:  # noqa: F811
    provider = graph.provider()
    listed = {c.id: c for c in read_all(provider.changes(None, FOLDER))}
    assert listed and all(c.updated for c in listed.values())
    before = instant(listed[MARIA].updated)

    graph.emulator.clock = clock = ManualClock()
    clock.advance(1.05)  # lastModifiedDateTime has whole seconds
    graph.emulator.edit_contact(MARIA, {"jobTitle": "CFO"})
    edited = provider.get(MARIA)
    assert edited is not None and instant(edited.updated) > before

    clock.advance(1.05)
    written = provider.update(MARIA, Contact(name="Maria Kowalski", first_name="Maria", last_name="Kowalski"),
                              edited.version)
    now = provider.get(MARIA)
    assert now is not None and (written.version, written.updated) == (now.version, now.updated)
    assert instant(written.updated) > instant(edited.updated)

    created = provider.create(Contact(name="Noor Haddad", first_name="Noor", last_name="Haddad"), FOLDER)
    fetched = provider.get(created.id)
    assert fetched is not None and created.updated is not None
    assert (created.version, created.updated, created.contact) == (fetched.version, fetched.updated, fetched.contact)


MANY = Contact(
    name="Ann Lee", first_name="Ann", last_name="Lee",
    emails=tuple(Email(f"e{i}@x.example", "work", i == 2) for i in range(5)),
    phones=(Phone("+1 1", "work"), Phone("+1 2", "work"), Phone("+1 3", "work", True), Phone("+1 4", "mobile"),
            Phone("+1 5", "mobile"), Phone("+1 6", "other"), Phone("+1 7", "home"), Phone("+1 8", "home")),
    organization="Lee Ltd", job_title="CEO", address=Address("1 Main St\nSuite 2", "Springfield", "IL", "62701", "USA",
                                                             "home"),
    ims=(Im("ann@lee.example", "sip"), Im("annlee", "skype"), Im("ann#1", "other"), Im("4", "icq")),
    notes="dropped", birthday="1980-02-29",
)
SAMPLES = [
    MANY,
    Contact(name="Only A Name"),
    Contact(name="No Year", birthday="--12-24", notes="x", address=Address(city="Oslo", label="mobile")),
    Contact(name="Colon Im", ims=(Im("ann@host:5060", "sip"), Im("sip:already@x", "sip"), Im("a:b", "other"))),
    Contact(name="Primary Home", phones=(Phone("+1 9", "work"), Phone("+1 10", "home", True)),
            emails=(Email("B@X.example"), Email("b@x.example", "home", True))),
    Contact(),
]


def test_graph_representable_applies_graphs_limits() -> None:
    provider = MicrosoftProvider(lambda: "unused", "ann@outlook.example", endpoint="http://127.0.0.1:9")
    view = provider.representable(MANY)
    assert view.notes == ""
    assert [e.value for e in view.emails] == ["e2@x.example", "e0@x.example", "e1@x.example"]  # primary first, 3
    assert all(e.label == "other" for e in view.emails) and view.emails[0].primary
    assert [(p.value, p.label) for p in view.phones] == [
        ("+1 3", "work"), ("+1 1", "work"), ("+1 4", "mobile"), ("+1 6", "home"), ("+1 7", "home")]
    assert view.address == Address("1 Main St\nSuite 2", "Springfield", "IL", "62701", "USA", "home")
    assert [(i.value, i.label) for i in view.ims] == [("ann@lee.example", "sip"), ("annlee", "skype"),
                                                       ("ann#1", "other")]
    assert view.birthday == "1980-02-29" and (view.organization, view.job_title) == ("Lee Ltd", "CEO")
    assert provider.representable(SAMPLES[2]).birthday == ""  # Graph holds no birthday without a year
    assert provider.representable(SAMPLES[2]).address == Address(city="Oslo", label="other")
    colon = provider.representable(SAMPLES[3])
    assert [(i.value, i.label) for i in colon.ims] == [("ann@host:5060", "sip"), ("already@x", "sip"),
                                                        ("a:b", "other")]


@pytest.mark.parametrize("contact", SAMPLES)
def test_graph_representable_is_idempotent_and_matches_the_mapping(contact: Contact) -> None:
    provider = MicrosoftProvider(lambda: "unused", "ann@outlook.example", endpoint="http://127.0.0.1:9")
    view = provider.representable(contact)
    assert provider.representable(view) == view
    # The synced fields are exactly what the mapping writes and reads back.
    body, overflow = contact_to_graph(normalise(contact))
    assert synced_fields(view) == synced_fields(graph_to_contact(body))
    assert view.notes == "" and len(view.emails) <= 3 and len([p for p in view.phones if p.label == "work"]) <= 2


def test_graph_representable_leaves_contacts_read_from_graph_unchanged(graph: GraphSandbox) -> None:  # noqa: F811
    provider = graph.provider()
    # Shapes other Outlook clients write, besides the seed.
    graph.emulator.add_contact(FOLDER, {"displayName": "Shown Only", "imAddresses": ["sip:a@pbx.example:5060"]})
    graph.emulator.add_contact(FOLDER, {"givenName": "Two", "homeAddress": {"city": "Home Town"},
                                        "otherAddress": {"city": "Other Town"}, "homePhones": ["+1 1", "+1 2"],
                                        "emailAddresses": [{"name": "only a name"}, {"address": "A@B.example"}]})
    seen = 0
    for group in (FOLDER, "contacts"):
        for record in read_all(provider.changes(None, group)):
            assert provider.representable(record.contact) == record.contact, record.id
            seen += 1
    assert seen >= 7
    # And what Graph stores after we write a contact is what representable predicted.
    for contact in SAMPLES[:-1]:
        written = provider.create(contact, FOLDER)
        current = provider.get(written.id)
        assert current is not None
        predicted = provider.representable(contact)
        assert synced_fields(current.contact) == synced_fields(predicted), contact.name
        if contact.first_name or contact.last_name:
            assert current.contact == predicted, contact.name
        # else: Outlook files a name-only contact under givenName = the name; that
        # read hint is not a synced field, and representable leaves it out.
        assert provider.representable(current.contact) == current.contact


def test_graph_mapping_writes_a_scheme_im_back_as_it_was_read(graph: GraphSandbox) -> None:  # noqa: F811
    provider = graph.provider()
    provider.changes(None, FOLDER)  # items are addressed through the folder of the pass
    graph.emulator.edit_contact(OLEG, {"imAddresses": ["sip:oleg@pbx.example:5060", "skype:oleg.s"]})
    record = provider.get(OLEG)
    assert record is not None
    provider.update(OLEG, record.contact, record.version)
    assert graph.emulator.contact(OLEG)["imAddresses"] == ["sip:oleg@pbx.example:5060", "skype:oleg.s"]


# -- Pipedrive --------------------------------------------------------------------------

def test_get_many_batches_and_leaves_out_deleted_persons(crm, emulator) -> None:  # noqa: F811
    emulator.set_burst_limit(100_000)
    crm.ensure_fields({})
    created = [crm.create(PersonWrite(Contact(name=f"Person {i:03d}", emails=(Email(f"p{i}@x.example"),)),
                                      owner_id=1)).id for i in range(120)]
    gone = {created[5], created[64], created[119]}
    for id in gone:
        emulator.delete_person(id)
    before = len(emulator.log)

    found = crm.get_many([*created, created[0], 999_999])  # a duplicate and an id that never existed
    assert set(found) == set(created) - gone
    assert found[created[7]].contact.name == "Person 007"
    assert found[created[7]] == crm.get(created[7])

    reads = [e for e in emulator.log[before:] if e.method == "GET" and e.path == "/api/v2/persons"]
    batches = [e.query["ids"][0].split(",") for e in reads]
    assert len(reads) == 2 and all(len(b) <= IDS_BATCH for b in batches)
    assert sorted(int(i) for b in batches for i in b) == sorted({*created, 999_999})
    assert crm.get_many([]) == {}
    assert_log_valid(emulator)


def test_get_many_of_only_deleted_persons_is_empty(crm, emulator) -> None:  # noqa: F811
    crm.ensure_fields({})
    ids = [crm.create(PersonWrite(Contact(name=f"Gone {i}"), owner_id=1)).id for i in range(3)]
    crm.delete(ids[0])
    emulator.delete_person(ids[1])
    assert set(crm.get_many(ids)) == {ids[2]}
    assert_log_valid(emulator)
