"""An incremental pass of 10 edits, 2 creates and 1 delete: at most one request per change, plus
one, on each side (issue 13), counted in the emulators' request logs. One-way and two-way;
in two-way, the changes made in the address book and the changes made in Pipedrive.
"""

from __future__ import annotations

from typing import Any

import pytest
from cli_support import EMAIL, cli, setup_account

# Counts, not the limit: on Growth (40 per 2 s) the back-to-back passes waited ~2 s per test
# in the limiter (tests/test_pass_requests.py and tests/test_rate_limit.py are about it).
pytestmark = pytest.mark.sandbox_plan("ultimate")

EDITS, CREATES, DELETES = 10, 2, 1
CHANGES = EDITS + CREATES + DELETES


def contact(i: int) -> dict[str, Any]:
    return {"names": [{"givenName": f"Inc{i}", "familyName": "Person"}],
            "emailAddresses": [{"value": f"inc{i}@example.org"}],
            "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}]}


def requests_of(emulator) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in emulator.log if e.path != "/token"]  # auth's own, not the pass's


def run(box) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    for emulator in (box.google, box.pipedrive):
        emulator.log.clear()
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    return requests_of(box.google), requests_of(box.pipedrive)


def job_key(box) -> str:
    return next(f["key"] for f in box.pipedrive.fields if f["name"] == "Job title")


@pytest.mark.parametrize("direction", ["one-way", "two-way"])
def test_changes_in_the_address_book(box, direction):
    setup_account(box)
    assert cli("configure", EMAIL, "--direction", direction).exit_code == 0
    names = [box.google.add_person(contact(i)) for i in range(EDITS + DELETES)]
    run(box)
    run(box)
    for i, rn in enumerate(names[:EDITS]):
        box.google.edit_person(rn, {"biographies": [{"value": f"edited {i}"}]})
    for i in range(CREATES):
        box.google.add_person(contact(100 + i))
    box.google.delete_person(names[-1])
    google, pipedrive = run(box)
    writes = [r for r in pipedrive if r[0] != "GET"]
    assert len(writes) == CHANGES  # 10 PATCH, 2 POST, 1 DELETE
    assert len(google) <= CHANGES + 1 and len(pipedrive) <= CHANGES + 1, (google, pipedrive)
    assert google == [("GET", "/v1/people/me/connections")]
    if direction == "two-way":
        assert [r for r in pipedrive if r[0] == "GET"] == [("GET", "/api/v1/recents")]
    else:
        assert [r for r in pipedrive if r[0] == "GET"] == []


def changes_in_pipedrive(box) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """10 edits, 2 new persons and 1 deletion in Pipedrive; the requests of the pass that follows."""
    setup_account(box)
    assert cli("configure", EMAIL, "--direction", "two-way").exit_code == 0
    for i in range(EDITS + DELETES):
        box.google.add_person(contact(i))
    run(box)
    run(box)
    persons = {p["name"]: p for p in box.pipedrive.persons()}
    key = job_key(box)
    for i in range(EDITS):
        box.pipedrive.edit_person(persons[f"Inc{i} Person"]["id"], {"custom_fields": {key: f"Title {i}"}})
    for i in range(CREATES):
        box.pipedrive.add_person({"name": f"New{i} Person", "owner_id": 1,
                                  "emails": [{"value": f"new{i}@example.org", "label": "work", "primary": True}]})
    box.pipedrive.delete_person(persons[f"Inc{EDITS} Person"]["id"])
    return run(box)


def test_changes_in_pipedrive(box):
    google, pipedrive = changes_in_pipedrive(box)
    assert len(pipedrive) <= CHANGES + 1, pipedrive
    # One request for what changed, one for the changed persons in full (100 a request);
    # then the stamp of each person copied to the address book.
    assert [r for r in pipedrive if r[0] == "GET"] == [("GET", "/api/v1/recents"), ("GET", "/api/v2/persons")]
    assert sorted(r[0] for r in pipedrive if r[0] != "GET") == ["PATCH"] * CREATES
    assert len([r for r in google if r[0] != "GET"]) == CHANGES, google


@pytest.mark.xfail(strict=True, reason="each update of a contact reads it first for the fields it merges with "
                   "(one GET per edit); a people:batchGet, or batchUpdateContacts, would make it one request")
def test_changes_in_pipedrive_cost_the_address_book_one_request_each(box):
    google, _ = changes_in_pipedrive(box)
    assert len(google) <= CHANGES + 1, google
