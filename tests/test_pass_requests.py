"""The requests a pass makes, counted in the emulators' logs (issue 13).

A quiet pass asks each side at most one question; an incremental pass asks for its
changes and little else: no organization search, no field list, no user read.
"""

from __future__ import annotations

from cli_support import EMAIL, cli, google_rn, setup_account

from contactsync.sandbox.pipedrive_data import TOKEN_COST


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
