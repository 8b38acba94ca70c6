"""The provider updates of a two-way pass go to Google in batches (issue 13); one contact the
batch refuses never costs the others their update, and is retried by the next pass."""

from __future__ import annotations

from typing import Any

from cli_support import EMAIL, cli, setup_account
from google_support import ANN, JOSE, OLGA, Sandbox

from contactsync import config as cfg
from contactsync.errors import StaleVersion
from contactsync.model import Contact
from contactsync.providers.base import Update
from contactsync.sandbox.server import Fault
from contactsync.store import LinkStore

EDITS = 10
ACCOUNT = f"google:{EMAIL}"


def contact(i: int) -> dict[str, Any]:
    return {"names": [{"givenName": f"Bat{i}", "familyName": "Person"}],
            "emailAddresses": [{"value": f"bat{i}@example.org"}]}


def titles(box) -> dict[str, str]:
    people = (box.google.person(rn) for rn in list(box.google.people))
    return {p["names"][0]["givenName"]: p["organizations"][0].get("title", "") for p in people
            if p.get("names") and p["names"][0].get("givenName", "").startswith("Bat") and p.get("organizations")}


def edit_in_pipedrive(box) -> list[str]:
    """Link EDITS contacts two-way, then give each a job title in Pipedrive; their resource names."""
    setup_account(box)
    assert cli("configure", EMAIL, "--direction", "two-way").exit_code == 0
    names = [box.google.add_person(contact(i)) for i in range(EDITS)]
    assert cli("run", "--once").exit_code == 0
    key = next(f["key"] for f in box.pipedrive.fields if f["name"] == "Job title")
    persons = {p["name"]: p for p in box.pipedrive.persons()}
    for i in range(EDITS):
        box.pipedrive.edit_person(persons[f"Bat{i} Person"]["id"], {"custom_fields": {key: f"Title {i}"}})
    box.google.log.clear()
    return names


def failures() -> dict[str, str]:
    store = LinkStore.open(cfg.state_path())
    try:
        return {f.provider_id: f.reason for f in store.failures(ACCOUNT)}
    finally:
        store.close()


def batch_updates(box) -> list[dict[str, Any]]:
    return [e.body for e in box.google.log if e.path == "/v1/people:batchUpdateContacts"]


def test_a_contact_deleted_during_the_batch_is_recorded_and_the_others_are_written(box):
    names = edit_in_pipedrive(box)
    box.google.quirks.deleted_during_batch = 1
    cli("run", "--once")
    gone = min(names)  # the quirk takes the batch's first contact in resource-name order
    assert gone not in box.google.people
    refused = [e for e in box.google.log if e.path == "/v1/people:batchUpdateContacts"]
    assert [e.status for e in refused] == [400] and len(refused[0].body["contacts"]) == EDITS
    # The other nine, sent again one at a time, are written; the one gone is a failure to retry.
    expected = {f"Bat{i}": f"Title {i}" for i, rn in enumerate(names) if rn != gone}
    assert titles(box) == expected
    assert [rn for rn in failures() if rn in names] == [gone]
    cli("run", "--once")
    assert not set(failures()) & set(names)


def test_a_contact_edited_during_the_batch_is_merged_again(box):
    names = edit_in_pipedrive(box)
    box.google.quirks.edited_during_batch = 1
    r = cli("run", "--once")
    assert r.exit_code == 0, (r.output, failures(), [(e.method, e.path, e.status) for e in box.google.log])
    assert [e.status for e in box.google.log if e.path == "/v1/people:batchUpdateContacts"] == [400]
    assert titles(box) == {f"Bat{i}": f"Title {i}" for i in range(EDITS)}
    assert not set(failures()) & set(names)


def test_an_edit_made_in_google_during_the_batch_is_weighed_by_the_conflict_rule(box):
    """The user retitles a contact in Google while the pass's batch, carrying Pipedrive's
    title, is on its way. The re-merge after the stale answer weighs the conflict by the
    account's rule, as the planner does (it used to prefer the CRM always): with the
    provider preferred, Google's edit wins on both sides. (Under newest the two emulators'
    clocks decide, which this test does not rely on; preferred_side has its own tests.)"""
    names = edit_in_pipedrive(box)
    assert cli("configure", EMAIL, "--conflicts", "provider").exit_code == 0
    box.google.quirks.retitled_during_batch = 1
    r = cli("run", "--once")
    assert r.exit_code == 0, (r.output, failures())
    google = titles(box)
    retitled = [name for name, title in google.items() if title == "Retitled in Google"]
    assert len(retitled) == 1, google
    assert google == {**{f"Bat{i}": f"Title {i}" for i in range(EDITS)}, retitled[0]: "Retitled in Google"}
    key = next(f["key"] for f in box.pipedrive.fields if f["name"] == "Job title")
    crm = {p["name"].removesuffix(" Person"): p["custom_fields"].get(key) for p in box.pipedrive.persons()
           if p["name"].startswith("Bat")}
    assert crm == google
    assert not set(failures()) & set(names)


def test_a_second_pass_after_the_batch_writes_nothing(box):
    edit_in_pipedrive(box)
    assert cli("run", "--once").exit_code == 0
    assert len(batch_updates(box)) == 1 and len(batch_updates(box)[0]["contacts"]) == EDITS
    box.google.log.clear()
    assert cli("run", "--once").exit_code == 0
    assert [(e.method, e.path) for e in box.google.log if e.path != "/token"] == \
        [("GET", "/v1/people/me/connections")]


# -- the emulator's batch methods ----------------------------------------------------------------

def test_batch_get_answers_each_name_and_refuses_more_than_200(sandbox: Sandbox) -> None:
    token = sandbox.token()
    sandbox.emulator.delete_person(OLGA)
    answer = sandbox.api("GET", "/v1/people:batchGet", token,
                         params={"resourceNames": [ANN, OLGA], "personFields": "names"})
    assert answer.status_code == 200
    ann, olga = answer.json()["responses"]
    assert ann["person"]["resourceName"] == ANN and ann["person"]["etag"]
    assert olga["requestedResourceName"] == OLGA and olga["status"]["code"] == 5 and "person" not in olga
    many = sandbox.api("GET", "/v1/people:batchGet", token,
                       params={"resourceNames": [ANN] * 201, "personFields": "names"})
    assert many.status_code == 400


def test_batch_update_with_one_stale_etag_writes_none_of_them(sandbox: Sandbox) -> None:
    token = sandbox.token()
    before = {rn: sandbox.emulator.person(rn) for rn in (ANN, JOSE)}
    body = {"contacts": {ANN: {"etag": before[ANN]["etag"], "biographies": [{"value": "a"}]},
                         JOSE: {"etag": "%stale", "biographies": [{"value": "b"}]}},
            "updateMask": "biographies", "readMask": "biographies"}
    answer = sandbox.api("POST", "/v1/people:batchUpdateContacts", token, json=body)
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert JOSE in answer.json()["error"]["message"]
    assert {rn: sandbox.emulator.person(rn)["etag"] for rn in (ANN, JOSE)} == \
        {rn: p["etag"] for rn, p in before.items()}
    body["contacts"][JOSE]["etag"] = before[JOSE]["etag"]
    done = sandbox.api("POST", "/v1/people:batchUpdateContacts", token, json=body).json()["updateResult"]
    assert {rn: r["person"]["biographies"][0]["value"] for rn, r in done.items()} == {ANN: "a", JOSE: "b"}


def test_update_many_gives_the_stale_contact_its_error_and_writes_the_others(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    records = {rn: provider.get(rn) for rn in (ANN, JOSE, OLGA)}
    sandbox.emulator.edit_person(JOSE, {"biographies": [{"value": "edited in Google"}]})
    sandbox.emulator.log.clear()
    updates = [Update(rn, Contact.from_dict({**r.contact.to_dict(), "notes": f"note {rn}"}), r.version)
               for rn, r in records.items() if r is not None]
    results = provider.update_many(updates)
    assert isinstance(results[JOSE], StaleVersion)
    assert {rn: sandbox.emulator.person(rn)["biographies"][0]["value"] for rn in (ANN, OLGA)} == \
        {ANN: f"note {ANN}", OLGA: f"note {OLGA}"}
    assert sandbox.emulator.person(JOSE)["biographies"][0]["value"] == "edited in Google"
    paths = [(e.method, e.path.split("/")[-1]) for e in sandbox.emulator.log if e.path != "/token"]
    # The merge parts were remembered by the reads: no batchGet. The refused batch is sent
    # again a contact at a time; the stale one is read once to tell a spurious refusal.
    assert paths[0] == ("POST", "people:batchUpdateContacts") and len(paths) <= 1 + 3 + 2, paths


def test_a_batch_whose_answer_is_lost_is_written_once_and_linked(box):
    """The batch is done but its answer never arrives: the contacts are found changed (their new
    etag), merged with what they now hold (our own write) and linked, none lost or failed."""
    names = edit_in_pipedrive(box)
    box.google.add_fault(Fault(method="POST", path="batchUpdateContacts", after=True, drop=True))
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    # Sent again after the lost answer, it is refused (stale etags): then a contact at a time.
    assert [e.status for e in box.google.log if e.path.endswith("batchUpdateContacts")][-1] == 400
    assert len([e for e in box.google.log if e.path.endswith(":updateContact")]) >= EDITS
    assert titles(box) == {f"Bat{i}": f"Title {i}" for i in range(EDITS)}
    assert not set(failures()) & set(names)
    box.google.log.clear()
    assert cli("run", "--once").exit_code == 0
    assert not [e for e in box.google.log if e.method != "GET" and e.path != "/token"]


def test_update_many_stops_at_an_error_of_the_account_and_leaves_the_rest_without_result(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    records = {rn: provider.get(rn) for rn in (ANN, JOSE)}
    sandbox.emulator.add_fault(Fault(status=503, path="batchUpdateContacts", every=True))
    updates = [Update(rn, Contact.from_dict({**r.contact.to_dict(), "notes": "batched"}), r.version)
               for rn, r in records.items() if r is not None]
    assert provider.update_many(updates) == {}  # Google kept failing: each is written alone later
    def notes() -> list[list[str]]:
        return [[b["value"] for b in sandbox.emulator.person(rn).get("biographies", [])] for rn in records]

    assert ["batched"] not in notes()
    sandbox.emulator.faults.clear()
    results = provider.update_many(updates)
    assert sorted(results) == [ANN, JOSE] and not any(isinstance(r, Exception) for r in results.values())
    assert notes() == [["batched"], ["batched"]]
