"""The requests a pass makes, counted in the emulators' logs (issue 13).

A quiet pass asks each side at most one question; an incremental pass asks for its
changes and little else: no organization search, no field list, no user read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import EMAIL, cli, google_rn, setup_account, start_sandbox

from contactsync.crm.pipedrive_fields import PERSON_FIELDS
from contactsync.sandbox import launch
from contactsync.sandbox.browser import register_sandbox_browser
from contactsync.sandbox.pipedrive_data import TOKEN_COST

MY_CONTACTS = {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}


def requests_of(emulator) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in emulator.log if e.path != "/token"]  # auth's own, not the pass's


def clear(box) -> None:
    for emulator in (box.google, box.pipedrive, box.graph):
        emulator.log.clear()


def run(box) -> None:
    clear(box)
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output


def test_quiet_and_incremental_one_way_passes(box):
    setup_account(box)
    run(box)  # first pass
    run(box)
    assert requests_of(box.google) == [("GET", "/v1/people/me/connections")]
    assert requests_of(box.pipedrive) == []

    # 3 edits (one to an organization the CRM already has), 1 create, 1 delete.
    box.google.edit_person(google_rn(box, "José Álvarez"), {"organizations": [{"name": "Globex"}]})
    box.google.edit_person(google_rn(box, "Lena Fischer"), {"organizations": [{"name": "Contoso"}]})
    box.google.edit_person(google_rn(box, "Ольга Петрова"), {"biographies": [{"value": "met in Riga"}]})
    box.google.add_person({"names": [{"givenName": "Mei", "familyName": "Yang"}],
                           "organizations": [{"name": "Globex"}],
                           "memberships": [{"contactGroupMembership": {
                               "contactGroupResourceName": "contactGroups/myContacts"}}]})
    box.google.delete_person(google_rn(box, "山田 太郎"))
    before = box.pipedrive.daily_used
    run(box)
    writes = [r for r in requests_of(box.pipedrive) if r[0] != "GET"]
    assert sorted(writes) == sorted([("PATCH", f"/api/v2/persons/{i}") for i in person_ids(writes)]
                                    + [("POST", "/api/v2/persons"), ("DELETE", writes_delete(writes)),
                                       ("POST", "/api/v2/organizations")])  # 5 changes, 1 new organization
    reads = [r for r in requests_of(box.pipedrive) if r[0] == "GET"]
    assert reads == [("GET", "/api/v2/organizations")]  # what changed since the last pass, for Contoso
    assert requests_of(box.google) == [("GET", "/v1/people/me/connections")]
    spent = box.pipedrive.daily_used - before
    assert spent == 3 * TOKEN_COST["updatePerson"] + TOKEN_COST["addPerson"] + TOKEN_COST["deletePerson"] + \
        TOKEN_COST["addOrganization"] + TOKEN_COST["getOrganizations"]

    run(box)
    assert requests_of(box.google) == [("GET", "/v1/people/me/connections")] and requests_of(box.pipedrive) == []


def person_ids(writes: list[tuple[str, str]]) -> list[str]:
    return [path.rsplit("/", 1)[1] for method, path in writes if method == "PATCH"]


def writes_delete(writes: list[tuple[str, str]]) -> str:
    return next(path for method, path in writes if method == "DELETE")


def test_a_quiet_two_way_pass(box):
    setup_account(box)
    assert cli("configure", EMAIL, "--direction", "two-way").exit_code == 0
    run(box)
    run(box)
    run(box)
    assert requests_of(box.google) == [("GET", "/v1/people/me/connections")]
    # What changed in Pipedrive since the last pass, deletions included: one request.
    reads = [(e.method, e.path, sorted(e.query)) for e in box.pipedrive.log]
    assert reads == [("GET", "/api/v1/recents", ["items", "limit", "since_timestamp", "start"])]


def bench_person(i: int, org: str) -> dict:
    return {"names": [{"givenName": f"Bench{i}", "familyName": "Person"}],
            "emailAddresses": [{"value": f"bench{i}@example.org", "type": "work"}],
            "organizations": [{"name": org, "title": "Buyer"}], "memberships": [MY_CONTACTS]}


def endpoints(emulator) -> Counter[str]:
    return Counter(f"{e.method} {e.path}" for e in emulator.log)


@pytest.fixture
def bare_box(tmp_path: Path) -> Iterator[launch.Sandbox]:
    """A sandbox without the example contacts: one Pipedrive user and the organization Globex.
    Ultimate's 120 requests per 2 s: the first pass's ~60 requests are counted, not waited for
    (the test of the limit sets its own)."""
    register_sandbox_browser()
    sandbox = start_sandbox(tmp_path / "sandbox", seed=False, plan="ultimate")
    sandbox.pipedrive.load({"users": [{"id": 1, "name": "Ann", "email": "ann@acme.example", "is_admin": True}]})
    sandbox.pipedrive.add_org({"name": "Globex"})
    yield sandbox
    sandbox.stop()


def test_a_first_pass_costs_one_request_per_person_and_new_organization_and_a_fixed_setup(bare_box):
    """Organizations come from one listing, not a search each; the setup is a fixed handful of reads."""
    box = bare_box
    for i in range(30):
        box.google.add_person(bench_person(i, f"Own Org {i}" if i % 2 else "Globex"))
    setup_account(box)
    clear(box)
    before = box.pipedrive.daily_used
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    assert len(box.pipedrive.persons()) == 30 and len(box.pipedrive.orgs) == 1 + 15
    assert endpoints(box.pipedrive) == Counter({
        "GET /api/v1/users/me": 1, "GET /api/v1/personFields": 1, "POST /api/v1/personFields": len(PERSON_FIELDS),
        "GET /api/v2/persons": 1,  # the user's persons, to adopt instead of duplicating
        "GET /api/v2/organizations": 1, "POST /api/v2/organizations": 15, "POST /api/v2/persons": 30,
    })
    setup = TOKEN_COST["getCurrentUser"] + TOKEN_COST["getPersonFields"] + \
        len(PERSON_FIELDS) * TOKEN_COST["addPersonField"] + TOKEN_COST["getPersons"] + TOKEN_COST["getOrganizations"]
    assert box.pipedrive.daily_used - before == \
        setup + 30 * TOKEN_COST["addPerson"] + 15 * TOKEN_COST["addOrganization"]

    # The incremental pass: 3 edits (one to a new organization), 1 create, 1 delete; then a quiet one.
    ids = {p["name"]: p["id"] for p in box.pipedrive.persons()}
    for i in range(3):
        box.google.edit_person(google_rn(box, f"Bench{i} Person"),
                               {"organizations": [{"name": "Own Org 1" if i else "Initech", "title": "Chief"}]})
    box.google.add_person(bench_person(30, "Globex"))
    box.google.delete_person(google_rn(box, "Bench3 Person"))
    clear(box)
    run(box)
    assert endpoints(box.pipedrive) == Counter({
        "POST /api/v2/persons": 1, f"DELETE /api/v2/persons/{ids['Bench3 Person']}": 1,
        "POST /api/v2/organizations": 1,
        "GET /api/v2/organizations": 1,  # what changed since the first pass: Initech is not there
        **{f"PATCH /api/v2/persons/{ids[f'Bench{i} Person']}": 1 for i in range(3)},
    })
    run(box)
    assert requests_of(box.pipedrive) == [] and requests_of(box.google) == [("GET", "/v1/people/me/connections")]


def test_a_pass_right_after_another_draws_no_429_in_the_window_the_first_still_holds(bare_box):
    """A burst limit of 10 per 2 s: the first pass spends whole windows, the next starts within the
    last one. Its limiter starts from the window the first pass left in the store (and from the
    headers of its first answer), so Pipedrive answers no request with 429."""
    box = bare_box
    box.pipedrive.set_burst_limit(10)
    for i in range(4):
        box.google.add_person(bench_person(i, "Globex"))
    setup_account(box)
    run(box)
    first = Counter(e.status for e in box.pipedrive.log)
    assert first[429] == 0 and first[200] >= 14, first  # 10 of setup, 4 persons: more than a window
    for i in range(3):
        box.google.edit_person(google_rn(box, f"Bench{i} Person"), {"organizations": [{"name": "Initech"}]})
    run(box)
    second = Counter(e.status for e in box.pipedrive.log)
    assert second == Counter({200: 5}), second  # 3 updates, the new organization, the listing that did not have it
