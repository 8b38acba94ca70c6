"""A value contactsync cannot read is never cleared, on either side (issue 11).

The property: whatever a field holds on one side (generated JSON of any type,
for every field), after read -> merge -> settle_unreadable -> write payload,
a value that was there and could not be read is not in the write; the other side
keeps its own value of that field.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactsync.crm.base import PersonWrite
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.crm.pipedrive_fields import (
    ADDRESS_FIELD, BIRTHDAY_FIELD, IM_FIELD, JOB_TITLE_FIELD, NOTES_FIELD, PERSON_FIELDS, _meaningful,
)
from contactsync.engine.unreadable import FIELDS, settle_unreadable
from contactsync.model import Address, Contact, Email, Im, IssueKind, Phone, normalise
from contactsync.providers.google_mapping import contact_to_person, person_to_contact, write_fields
from contactsync.providers.microsoft_mapping import contact_to_graph, graph_to_contact

KEYS = {name: f"k{i:040d}" for i, name in enumerate(PERSON_FIELDS)}
BASE = normalise(Contact(
    name="Ann Smith", first_name="Ann", last_name="Smith", emails=(Email("ann@x.org", "work", True),),
    phones=(Phone("+420 123 456", "mobile", True),), organization="Acme", job_title="CEO",
    address=Address("Main St 1", "Praha", "", "11000", "Czechia", "work"), ims=(Im("ann", "skype", True),),
    notes="met at the fair", birthday="1980-05-17",
))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(["next tuesday", "--02-30", "2023-02-29", "1980-05-17", " ", "n/a"]))
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(["value", "route", "locality", "x", "label"]), inner,
                                          max_size=3), max_leaves=5)


def naive_merge(base: Contact, provider: Contact, crm: Contact) -> Contact:
    """A field changed on one side takes that side (what the two-way merge does)."""
    values = {}
    for f in dataclass_fields(Contact):
        if f.name in ("name_derived", "issues"):
            continue
        b, c = getattr(base, f.name), getattr(crm, f.name)
        values[f.name] = c if c != b else getattr(provider, f.name)
    return Contact(**values)


def crm_person(custom: dict[str, Any], **native: Any) -> dict[str, Any]:
    body = PipedriveCrm("http://127.0.0.1:9", "t", field_keys=KEYS)._payload(PersonWrite(BASE), creating=True)
    body.update(id=7, org_id=None, update_time="2026-01-01T00:00:00Z", **native)
    body["custom_fields"] = {**body.get("custom_fields", {}), **custom}
    return body


CUSTOM = [JOB_TITLE_FIELD, ADDRESS_FIELD, IM_FIELD, NOTES_FIELD, BIRTHDAY_FIELD]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CUSTOM), any_json)
def test_pipedrive_custom_field_never_cleared(field: str, raw: Any) -> None:
    crm = PipedriveCrm("http://127.0.0.1:9", "t", field_keys=KEYS)
    person = crm._to_person(crm_person({KEYS[field]: raw}))
    settled = settle_unreadable(BASE, BASE, normalise(person.contact))
    write = settled.mark(naive_merge(BASE, settled.provider, settled.crm))
    payload = crm._payload(PersonWrite(write), creating=False)
    written = payload.get("custom_fields", {})
    if _meaningful(raw) and KEYS[field] in written:
        # Only a value that was read may be written back, and never as a clearing.
        assert written[KEYS[field]] is not None, (field, raw)
    if KEYS[field] not in written:
        assert any(i.kind is IssueKind.UNREADABLE for i in settled.issues)
    # The address book never loses its own value because the CRM's could not be read:
    # the merge keeps the base, and the write to the address book leaves the field out.
    for name in person.contact.unreadable():
        assert getattr(write, name) == getattr(BASE, name)
        assert name in write.unreadable()


@pytest.mark.parametrize("field", [JOB_TITLE_FIELD, NOTES_FIELD, IM_FIELD, BIRTHDAY_FIELD])
def test_a_value_of_only_control_characters_is_left_as_it_is(field: str) -> None:
    # Found by the property above: '\x08' is not blank to str.strip(), but cleaning
    # empties it, and an emptied value would have been written as a clearing.
    crm = PipedriveCrm("http://127.0.0.1:9", "t", field_keys=KEYS)
    person = crm._to_person(crm_person({KEYS[field]: "\x08\x1b"}))
    settled = settle_unreadable(BASE, BASE, normalise(person.contact))
    payload = crm._payload(PersonWrite(settled.mark(naive_merge(BASE, settled.provider, settled.crm))),
                           creating=False)
    assert KEYS[field] not in payload.get("custom_fields", {})
    assert any(i.kind is IssueKind.UNREADABLE for i in settled.issues)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["emails", "phones", "name"]), any_json)
def test_pipedrive_native_field_never_cleared(field: str, raw: Any) -> None:
    crm = PipedriveCrm("http://127.0.0.1:9", "t", field_keys=KEYS)
    person = crm._to_person(crm_person({}, **{field: raw}))
    settled = settle_unreadable(BASE, BASE, normalise(person.contact))
    payload = crm._payload(PersonWrite(settled.mark(naive_merge(BASE, settled.provider, settled.crm))),
                           creating=False)
    unreadable = field in person.contact.unreadable()
    if unreadable and field != "name":
        assert field not in payload
    if isinstance(raw, list) and any(not isinstance(i, dict) or not isinstance(i.get("value"), str | None)
                                     for i in raw):
        assert unreadable


GOOGLE_FIELDS = {"name": "names", "emails": "emailAddresses", "phones": "phoneNumbers",
                 "organization": "organizations", "address": "addresses", "ims": "imClients",
                 "notes": "biographies", "birthday": "birthdays"}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(GOOGLE_FIELDS)), any_json)
def test_google_field_never_cleared(field: str, raw: Any) -> None:
    person = contact_to_person(BASE)
    person[GOOGLE_FIELDS[field]] = raw
    read = person_to_contact(person)
    settled = settle_unreadable(BASE, read, BASE)
    write = settled.mark(naive_merge(BASE, settled.provider, settled.crm))
    body = contact_to_person(write, current=person)
    mask = write_fields(write).split(",")
    if field in read.unreadable():
        assert GOOGLE_FIELDS[field] not in mask and GOOGLE_FIELDS[field] not in body
        assert getattr(write, field) == getattr(BASE, field)  # nothing copied across
        crm = PipedriveCrm("http://127.0.0.1:9", "t", field_keys=KEYS)
        custom = crm._payload(PersonWrite(write), creating=False).get("custom_fields", {})
        assert not any(KEYS.get(n) in custom for n in ("Birthday", "Notes") if n.lower() == field)
    if raw is not None and not isinstance(raw, list):
        assert field in read.unreadable() or field == "organization"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["displayName", "emailAddresses", "businessPhones", "companyName", "jobTitle",
                        "homeAddress", "imAddresses", "birthday"]), any_json)
def test_graph_property_never_cleared(prop: str, raw: Any) -> None:
    item, _ = contact_to_graph(BASE)
    item[prop] = raw
    read = graph_to_contact(item)
    settled = settle_unreadable(BASE, read, BASE)
    body, _ = contact_to_graph(settled.mark(naive_merge(BASE, settled.provider, settled.crm)), current=item)
    for name in read.unreadable():
        for key in {"name": ["displayName"], "birthday": ["birthday"], "emails": ["emailAddresses"],
                    "phones": ["businessPhones"], "organization": ["companyName"], "job_title": ["jobTitle"],
                    "ims": ["imAddresses"], "address": ["homeAddress", "businessAddress"]}.get(name, []):
            assert key not in body


def test_next_tuesday_in_pipedrive_stays_and_google_keeps_its_birthday() -> None:
    crm = PipedriveCrm("http://127.0.0.1:9", "t", field_keys=KEYS)
    person = crm._to_person(crm_person({KEYS[BIRTHDAY_FIELD]: "next tuesday"}))
    assert person.contact.birthday == "" and person.contact.unreadable() == {"birthday"}
    assert naive_merge(BASE, BASE, normalise(person.contact)).birthday == ""  # a merge alone: a deletion
    settled = settle_unreadable(BASE, BASE, normalise(person.contact))
    write = settled.mark(naive_merge(BASE, settled.provider, settled.crm))
    assert write.birthday == "1980-05-17"  # Google keeps its birthday ...
    assert "birthdays" not in contact_to_person(write)  # ... not even rewritten
    assert KEYS[BIRTHDAY_FIELD] not in crm._payload(PersonWrite(write), creating=False)["custom_fields"]
    [issue] = settled.issues
    assert issue.field == "birthday" and "the CRM" in issue.detail


def test_fields_cover_every_synced_attribute() -> None:
    synced = set(BASE.to_dict()) - {"first_name", "last_name"}
    assert synced == set(FIELDS)


def test_readable_sides_are_untouched() -> None:
    settled = settle_unreadable(BASE, BASE, BASE)
    assert settled.provider == BASE and settled.crm == BASE and not settled.issues
    assert not settled.mark(BASE).issues
