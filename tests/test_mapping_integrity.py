"""Issue 11's field rules: one organization whatever its case, spacing or Unicode form; only current
organizations; a free-form address kept whole; impossible dates, digit-less phones and invalid e-mails."""

from __future__ import annotations

from pipedrive_openapi import assert_log_valid
from pipedrive_support import ADMIN_TOKEN

from contactsync.clock import ManualClock
from contactsync.crm.base import PersonWrite
from contactsync.crm.pipedrive import PipedriveCrm, org_key
from contactsync.crm.pipedrive_fields import ADDRESS_FIELD, address_value
from contactsync.model import Address, Contact, Email, IssueKind, Phone, normalise
from contactsync.providers.google_mapping import contact_to_person, person_to_contact
from contactsync.providers.microsoft_mapping import contact_to_graph, graph_to_contact


def posts(emulator, path):  # noqa: F811
    return [e for e in emulator.log if e.method == "POST" and e.path == path]


def test_org_key_folds_case_spacing_and_unicode_form() -> None:
    assert org_key("Acme s.r.o.") == org_key("ACME  S.R.O.") == org_key(" acme s.r.o. ")
    assert org_key("Caf\u00e9 Noir") == org_key("Cafe\u0301 NOIR")
    assert org_key("Acme") != org_key("Acme Ltd")


def test_one_organization_whatever_case_spacing_or_form(crm, emulator):  # noqa: F811
    first = crm.find_or_create_org("Acme s.r.o.")
    assert crm.find_or_create_org("ACME  S.R.O.") == first
    # Another process (another pass) finds it through the API, not a cache.
    fresh = PipedriveCrm(crm.base_url, ADMIN_TOKEN, clock=ManualClock())
    assert fresh.find_or_create_org("acme S.R.O.") == first
    cafe = fresh.find_or_create_org("Cafe\u0301 Noir")  # typed with a combining accent (NFD)
    assert PipedriveCrm(crm.base_url, ADMIN_TOKEN, clock=ManualClock()).find_or_create_org("CAF\u00c9 NOIR") == cafe
    assert len(posts(emulator, "/api/v2/organizations")) == 2
    assert_log_valid(emulator)


def test_only_the_current_organization_is_synced_and_a_former_one_is_kept() -> None:
    person = {"names": [{"displayName": "Ann"}], "organizations": [
        {"name": "Old Employer", "title": "Intern", "current": False},
        {"name": "Acme", "title": "CEO", "current": True}]}
    contact = person_to_contact(person)
    assert (contact.organization, contact.job_title) == ("Acme", "CEO")
    former_only = person_to_contact({"names": [{"displayName": "Ann"}],
                                     "organizations": [{"name": "Old Employer", "current": False}]})
    assert former_only.organization == ""
    body = contact_to_person(normalise(Contact(name="Ann", organization="Globex", job_title="CTO")),
                             current={"organizations": person["organizations"]})
    assert body["organizations"] == [{"name": "Old Employer", "title": "Intern", "current": False},
                                     {"name": "Globex", "title": "CTO", "current": True}]


def test_a_free_form_address_goes_whole_where_pipedrive_keeps_the_address(crm, emulator):  # noqa: F811
    person = {"names": [{"displayName": "Ann"}],
              "addresses": [{"formattedValue": "1600 Amphitheatre Pkwy\nMountain View, CA 94043\nUSA"}]}
    contact = person_to_contact(person)
    assert address_value(contact.address) == {"value": "1600 Amphitheatre Pkwy\nMountain View, CA 94043\nUSA"}
    keys = crm.ensure_fields({})
    created = crm.create(PersonWrite(contact))
    stored = emulator.person(created.id)["custom_fields"][keys[ADDRESS_FIELD]]
    assert stored["route"] is None and stored["value"].startswith("1600 Amphitheatre")
    assert created.contact.address == contact.address  # reads back as it was written
    structured = address_value(Address("Main St 1", "Praha", "", "11000", "Czechia"))
    assert structured is not None and structured["route"] == "Main St 1"


def test_impossible_dates_are_kept_out_and_recorded_both_ways() -> None:
    google = person_to_contact({"names": [{"displayName": "Ann"}], "birthdays": [{"date": {"month": 2, "day": 30}}]})
    assert google.birthday == "" and google.unreadable() == {"birthday"}
    assert "birthdays" not in contact_to_person(google)  # Google's value is left as it is
    assert "birthday" not in contact_to_graph(normalise(Contact(name="Ann", birthday="--02-30")))[0]
    leap = person_to_contact({"names": [{"displayName": "Ann"}], "birthdays": [{"date": {"month": 2, "day": 29}}]})
    assert leap.birthday == "--02-29"


def test_digitless_phones_and_invalid_emails_are_never_primary_anywhere() -> None:
    google = person_to_contact({"names": [{"displayName": "Ann"}],
                                "emailAddresses": [{"value": "ann at example", "metadata": {"primary": True}},
                                                   {"value": "ann@example.com"}],
                                "phoneNumbers": [{"value": "+", "metadata": {"primary": True}},
                                                 {"value": "+1 555 0100"}]})
    assert [e.primary for e in google.emails] == [False, True]
    assert [p.primary for p in google.phones] == [False, True]
    assert {i.kind for i in google.issues} == {IssueKind.INVALID}
    graph = graph_to_contact({"displayName": "Ann", "emailAddresses": [{"address": "nope"}, {"address": "a@b.org"}]})
    assert [e.primary for e in graph.emails] == [False, True]
    only_bad = normalise(Contact(name="Ann", emails=(Email("nope"),), phones=(Phone("n/a"),)))
    assert not any(e.primary for e in only_bad.emails) and not any(p.primary for p in only_bad.phones)


def test_an_organization_whose_answer_was_lost_is_found_not_made_twice(crm, emulator):  # noqa: F811
    import pytest

    from contactsync.errors import TemporaryError
    from contactsync.sandbox.server import Fault

    crm.find_or_create_org("Globex")  # the cache has listed the organizations once
    emulator.add_fault(Fault(method="POST", path="^/api/v2/organizations$", drop=True, after=True))
    with pytest.raises(TemporaryError):
        crm.find_or_create_org("Lost Answer Ltd")
    made = crm.find_or_create_org("Lost Answer Ltd")  # the retry lists what changed first
    assert [o["id"] for o in emulator.orgs.values() if o["name"] == "Lost Answer Ltd"] == [made]
