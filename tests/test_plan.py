"""The planner as a pure function."""

from __future__ import annotations

from contactsync.engine.actions import (
    AdoptPerson,
    CreatePerson,
    DeletePerson,
    ForgetLink,
    RecordVersion,
    SkipContact,
    UpdatePerson,
)
from contactsync.engine.plan import plan as plan_pass
from contactsync.engine.rules import SyncSettings, make_stamp, prepare
from contactsync.engine.snapshot import AdoptionIndex, CrmSnapshot
from contactsync.model import Contact, Email, Phone, content_hash
from contactsync.providers.base import ProviderDeletion, ProviderRecord
from contactsync.store.db import Link

ACC = "google:ann@example.com"


def rec(id: str, version: str, **fields) -> ProviderRecord:
    return ProviderRecord(id, version, Contact(**fields))


def linked(id: str, crm_id: int, contact: Contact, version: str = "v1", state: str = "linked") -> Link:
    norm = prepare(contact)
    return Link(ACC, id, crm_id, state, make_stamp("google", "ann@example.com", id), version, "t1",
                content_hash(norm) if norm else None, None)


SETTINGS = SyncSettings(ACC, "google", "Ann@Example.com")


def plan(changes, links=(), adoption=None):
    return plan_pass({l.provider_id: l for l in links}, changes, CrmSnapshot(adoption=adoption), SETTINGS)


def test_new_contact_is_created_with_a_stamp():
    [action] = plan([rec("c1", "e1", name="Bo Li", emails=(Email("BO@x.org "),))])
    assert isinstance(action, CreatePerson)
    assert action.stamp == "google:ann@example.com:c1"
    assert action.contact.emails == (Email("bo@x.org", "other", True),)
    assert not action.recover


def test_changed_fields_update_and_version_only_change_is_recorded():
    bo = Contact(name="Bo Li", emails=(Email("bo@x.org"),))
    link = linked("c1", 7, bo)
    [update] = plan([rec("c1", "e2", name="Bo Li", emails=(Email("bo@y.org"),))], [link])
    assert isinstance(update, UpdatePerson) and update.crm_id == 7 and update.before is None
    [record] = plan([rec("c1", "e2", name=" Bo  Li ", emails=(Email("BO@x.org"),))], [link])
    assert record == RecordVersion("c1", "e2")
    assert plan([rec("c1", "v1", name="Bo Li")], [link]) == []  # same version: a replayed entry


def test_deletions():
    bo = Contact(name="Bo")
    assert plan([ProviderDeletion("c1")], [linked("c1", 7, bo)]) == [DeletePerson("c1", 7)]
    assert plan([ProviderDeletion("c9")]) == []
    pending = linked("c2", None, bo, state="pending")
    assert plan([ProviderDeletion("c2")], [pending]) == [ForgetLink("c2", pending.stamp)]
    tomb = linked("c3", 9, bo, state="tombstone")
    assert plan([ProviderDeletion("c3")], [tomb]) == [ForgetLink("c3", None)]


def test_tombstoned_contact_is_never_recreated():
    tomb = linked("c3", 9, Contact(name="Bo"), state="tombstone")
    assert plan([rec("c3", "v2", name="Bo Changed")], [tomb]) == [RecordVersion("c3", "v2")]


def test_pending_link_recovers_by_stamp():
    pending = linked("c2", None, Contact(name="Bo"), state="pending")
    [action] = plan([rec("c2", "v1", name="Bo")], [pending])
    assert isinstance(action, CreatePerson) and action.recover and action.stamp == pending.stamp


def test_nameless_contact_gets_a_name_or_is_skipped():
    [named] = plan([rec("c1", "v", phones=(Phone("+1 555 0100"),))])
    assert named.contact.name == "+1 555 0100" and named.contact.name_derived
    [skip] = plan([rec("c2", "v")])
    assert isinstance(skip, SkipContact) and "no name" in skip.reason


def test_duplicate_entries_in_a_page_collapse_to_the_last():
    actions = plan([rec("c1", "v1", name="A"), rec("c1", "v2", name="B")])
    assert len(actions) == 1 and actions[0].contact.name == "B"


def test_adoption_by_stamp_then_unique_email_and_never_twice():
    index = AdoptionIndex(by_stamp={"google:ann@example.com:c1": 50}, by_email={"bo@x.org": [60], "cy@x.org": [61, 62]})
    actions = plan(
        [
            rec("c1", "v", name="Al"),
            rec("c2", "v", name="Bo", emails=(Email("Bo@X.org"),)),
            rec("c3", "v", name="Bo again", emails=(Email("bo@x.org"),)),
            rec("c4", "v", name="Cy", emails=(Email("cy@x.org"),)),
        ],
        adoption=index,
    )
    assert [type(a) for a in actions] == [AdoptPerson, AdoptPerson, CreatePerson, CreatePerson]
    assert (actions[0].crm_id, actions[1].crm_id) == (50, 60)


def test_missing_from_complete_listing_is_deleted():
    links = [linked("c1", 1, Contact(name="A")), linked("c2", 2, Contact(name="B"))]
    # The pass hands the planner a contact missing from a complete listing as a deletion.
    assert plan([ProviderDeletion("c2")], links) == [DeletePerson("c2", 2)]
