"""Two-way sync end to end: the real adapters against the Google, Graph and Pipedrive emulators."""

from __future__ import annotations

import pytest

from cli_support import EMAIL, cli, crm_persons, google_rn, graph_id, setup_account, setup_microsoft
from pipedrive_openapi import assert_log_valid

WRITES = ("POST", "PATCH", "PUT", "DELETE")
MS = "ann@outlook.example"


def field_key(box, name: str) -> str:
    return next(f["key"] for f in box.pipedrive.fields if f["name"] == name)


def writes(emulator) -> list:
    return [e for e in emulator.log if e.method in WRITES and e.path != "/token" and "/oauth2/" not in e.path]


def assert_quiet(box, passes: int = 3) -> None:
    """After a change has settled, further passes write nothing on any side (echo suppression)."""
    for _ in range(passes):
        for emulator in (box.google, box.pipedrive, box.graph):
            emulator.log.clear()
        r = cli("run", "--once")
        assert r.exit_code == 0, r.output
        assert writes(box.google) == [] and writes(box.pipedrive) == [] and writes(box.graph) == []


@pytest.mark.sandbox_plan("ultimate")
def test_google_two_way_edit_create_delete_in_pipedrive(box):
    setup_account(box)
    assert cli("configure", EMAIL, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once").exit_code == 0
    assert_quiet(box)

    jose = crm_persons(box)["José Álvarez"]
    box.pipedrive.edit_person(jose["id"], {"custom_fields": {field_key(box, "Job title"): "Head of Sales"}})
    r = cli("run", "--once")
    assert r.exit_code == 0 and "1 updated in the address book" in r.stdout, r.output
    person = box.google.person(google_rn(box, "José Álvarez"))
    assert person["organizations"][0]["title"] == "Head of Sales"
    assert_quiet(box)

    created = box.pipedrive.add_person({"name": "Nadia Haddad", "owner_id": 1,
                                        "emails": [{"value": "nadia@haddad.example", "primary": True,
                                                    "label": "work"}]})
    r = cli("run", "--once")
    assert r.exit_code == 0 and "1 created in the address book" in r.stdout, r.output
    rn = google_rn(box, "Nadia Haddad")
    memberships = [m["contactGroupMembership"]["contactGroupResourceName"]
                   for m in box.google.person(rn)["memberships"]]
    assert "contactGroups/myContacts" in memberships
    stamp = box.pipedrive.person(created)["custom_fields"][field_key(box, "Contact sync ID")]
    assert stamp == f"google:{EMAIL}:{rn}"
    assert_quiet(box)

    box.pipedrive.delete_person(created)
    r = cli("run", "--once")
    assert r.exit_code == 0 and "1 deleted in the address book" in r.stdout, r.output
    assert not any(n.get("displayName") == "Nadia Haddad"
                   for rn in list(box.google.people) for n in box.google.person(rn).get("names", []))
    assert_quiet(box)
    assert_log_valid(box.pipedrive)


@pytest.mark.sandbox_plan("ultimate")
def test_microsoft_two_way_edit_in_pipedrive(box):
    setup_microsoft(box)
    setup_account(box)
    assert cli("configure", MS, "--direction", "two-way").exit_code == 0
    assert cli("configure", EMAIL, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once").exit_code == 0
    assert_quiet(box)
    lars = crm_persons(box)["Lars Øvergaard"]
    box.pipedrive.edit_person(lars["id"], {"custom_fields": {field_key(box, "Notes"): "Outlook never sees this"},
                                           "phones": [{"value": "+45 33 55 55 02", "primary": True,
                                                       "label": "work"}]})
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    contact = box.graph.contact(graph_id(box, "Lars Øvergaard"))
    assert contact["businessPhones"] == ["+45 33 55 55 02"]
    assert not contact.get("personalNotes")
    assert_quiet(box)


def test_outlook_overflow_stays_in_pipedrive_and_is_recorded(box):
    setup_account(box)
    setup_microsoft(box)
    assert cli("configure", MS, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once", "--account", MS).exit_code == 0
    lars = crm_persons(box)["Lars Øvergaard"]
    four = [{"value": f"lars{i}@fourth-coffee.example", "primary": i == 0, "label": "work"} for i in range(4)]
    box.pipedrive.edit_person(lars["id"], {"emails": four})
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 0 and "kept in Pipedrive only" in r.stdout, r.output
    contact = box.graph.contact(graph_id(box, "Lars Øvergaard"))
    assert [e["address"] for e in contact["emailAddresses"]] == [f"lars{i}@fourth-coffee.example" for i in range(3)]
    assert len(crm_persons(box)["Lars Øvergaard"]["emails"]) == 4  # the fourth is not lost
    for _ in range(3):
        box.graph.log.clear()
        box.pipedrive.log.clear()
        assert cli("run", "--once", "--account", MS).exit_code == 0
        assert writes(box.graph) == [] and writes(box.pipedrive) == []
    box.graph.edit_contact(graph_id(box, "Lars Øvergaard"), {"jobTitle": "Roaster"})
    assert cli("run", "--once", "--account", MS).exit_code == 0
    assert len(crm_persons(box)["Lars Øvergaard"]["emails"]) == 4  # an Outlook edit keeps it too
