"""What changed in Pipedrive since the last pass: GET /v1/recents, emulated and read (issue 13).

The emulator lists changes strictly after a whole-second timestamp, oldest first, a
month back at most, deletions as inactive persons; the adapter overlaps a second,
pages by time so that an edit made while it reads cannot push an entry out of
reach, and treats a cursor older than the endpoint's reach as expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pipedrive_openapi import assert_log_valid
from pipedrive_support import call

from cli_support import EMAIL, cli, setup_account

from contactsync import config as cfg
from contactsync.config import AccountConfig, CrmConfig
from contactsync.crm.base import PersonChange
from contactsync.crm.pipedrive_recents import recent_persons
from contactsync.engine.run import PassOptions, sync_account
from contactsync.engine.snapshot import CURSOR
from contactsync.errors import CursorExpired
from contactsync.model import Contact, Email
from contactsync.sandbox import pipedrive_data as pd
from contactsync.store import LinkStore
from fakes import FakeCrm, FakeProvider


def recents(server, since: str, **params: Any) -> dict[str, Any]:
    resp = call(server, "GET", "/v1/recents", params={"since_timestamp": since, "items": "person", **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def ids(body: dict[str, Any]) -> list[int]:
    return [entry["id"] for entry in body["data"]]


def newest(emulator) -> int:
    return max(p["_update"] for p in emulator._persons.values())


def test_changes_after_the_timestamp_oldest_first_deletions_as_inactive(server, emulator, clock):
    before = newest(emulator)
    emulator.edit_person(2, {"name": "Bo Edited"})
    emulator.delete_person(1)
    body = recents(server, pd.v1_time(before))
    assert ids(body) == [2, 1]
    assert [e["data"]["active_flag"] for e in body["data"]] == [True, False]
    assert body["data"][0]["data"]["owner_id"] == 1 and body["data"][0]["data"]["name"] == "Bo Edited"
    edited_at = emulator.person(2)["update_time"]
    # "After the given timestamp": a change in the timestamp's own second is not listed again.
    assert ids(recents(server, edited_at.replace("T", " ").rstrip("Z"))) == [1]
    assert body["additional_data"]["last_timestamp_on_page"] == emulator.person(1)["update_time"].replace(
        "T", " ").rstrip("Z")
    assert_log_valid(emulator)


def test_a_month_back_at_most_and_silently(server, emulator, clock):
    asked = pd.v1_time(clock.time() - 40 * 86400)
    assert len(recents(server, asked)["data"]) == 3  # every seed person changed just now
    clock.advance(31 * 86400)
    body = recents(server, asked)
    assert body["data"] == [] and body["additional_data"]["since_timestamp"] == asked
    assert_log_valid(emulator)
    assert call(server, "GET", "/v1/recents", params={"since_timestamp": "yesterday"}).status_code == 400
    assert call(server, "GET", "/v1/recents").status_code == 400


def test_offset_paging_and_its_shift_when_a_read_entry_changes(server, emulator, clock):
    since = pd.v1_time(newest(emulator) - 10)
    first = recents(server, since, limit=2)
    assert ids(first) == [1, 2]
    assert first["additional_data"]["pagination"] == {"start": 0, "limit": 2, "more_items_in_collection": True,
                                                      "next_start": 2}
    emulator.edit_person(1, {"name": "Ann Again"})  # moves to the end: offset 2 now skips person 3
    assert ids(recents(server, since, limit=2, start=2)) == [1]


def crm_get(crm, before_page=None):
    pages = []

    def get(params: dict[str, Any]) -> dict[str, Any]:
        if before_page is not None:
            before_page(len(pages))
        pages.append(dict(params))
        return crm._json("GET", "/api/v1/recents", "list recent changes", params=params)
    return get, pages


def now(clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), UTC)


def test_the_adapter_pages_by_time_and_loses_no_entry_to_a_concurrent_edit(crm, emulator, clock):
    since = emulator.person(3)["update_time"]
    added = [emulator.add_person({"name": f"P{i}"}) for i in range(1100)]

    def edit_one_read_already(page: int) -> None:
        if page == 1:
            emulator.edit_person(added[10], {"name": "edited while read"})
    get, pages = crm_get(crm, edit_one_read_already)
    seen = {c.id for c in recent_persons(get, since, now(clock))}
    assert set(added) <= seen
    assert len(pages) == 3 and all(p["start"] == 0 for p in pages)
    # The next page starts one second before the last time of the page before ("after" is strict).
    assert pages[1]["since_timestamp"] < pd.v1_time(emulator._persons[added[499]]["_update"])


def test_a_page_within_one_second_is_stepped_through_by_offset(crm, emulator, clock):
    added = [emulator.add_person({"name": f"P{i}"}) for i in range(700)]
    second = emulator._persons[added[-1]]["_update"] + 5
    for id in added:
        emulator.edit_person(id, {}, at=second)
    since = pd.rfc3339(second - 1)
    get, pages = crm_get(crm)
    seen = [c.id for c in recent_persons(get, since, now(clock))]
    assert set(seen) == set(added)
    # From one second before: the whole page is in the next second; asked from there, by offset.
    assert [(p["since_timestamp"], p["start"]) for p in pages] == [
        (pd.v1_time(second - 2), 0), (pd.v1_time(second - 1), 0), (pd.v1_time(second - 1), 500)]


def test_the_adapter_overlaps_the_cursor_second_and_one_quiet_request(crm, emulator, clock):
    cursor = emulator.person(3)["update_time"]
    changes = list(crm.recent_changes(cursor))
    assert [(c.id, c.version, c.deleted) for c in changes] == [(3, cursor, False)]  # the cursor's second again
    assert [e.path for e in emulator.log] == ["/api/v1/recents"]


def test_a_cursor_older_than_the_endpoint_reaches_is_expired(crm, clock):
    old = (now(clock) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(CursorExpired):
        list(crm.recent_changes(old))


# -- the engine: the cursor is stored once the pass's changes are -------------------------

ACCOUNT = AccountConfig(provider="google", email="ann@example.com", direction="two-way")
CRM = CrmConfig(domain="acme", plan="growth")


class Killed(BaseException):
    """A kill of the process (never caught by the engine)."""


class KilledBeforeTheCrmCursor(LinkStore):
    """The store of a process killed after the pass applied everything, before it stored the CRM cursor."""

    armed = False

    def set_cursor(self, account: str, value: str | None, name: str = "provider") -> None:
        if self.armed and name == CURSOR:
            self.armed = False
            raise Killed()
        super().set_cursor(account, value, name)


def test_a_kill_before_the_crm_cursor_is_stored_neither_loses_nor_duplicates():
    store = KilledBeforeTheCrmCursor(LinkStore.memory().conn, None)
    provider, crm = FakeProvider(), FakeCrm()

    def sync() -> None:
        sync_account(store, provider, crm, ACCOUNT, CRM, PassOptions())
    ann = provider.put(Contact(name="Ann Lee", emails=(Email("ann@x.org"),)))
    sync()
    sync()
    person = store.link(ACCOUNT.key, ann).crm_id
    cursor = store.cursor(ACCOUNT.key, CURSOR)
    crm.edit(person, job_title="Founder")
    new = crm.add(Contact(name="Cy New", emails=(Email("cy@x.org"),)))
    store.armed = True
    with pytest.raises(Killed):
        sync()
    assert store.cursor(ACCOUNT.key, CURSOR) == cursor  # not moved past what the killed pass read
    assert provider.contacts[ann][1].job_title == "Founder"
    copies = [c for c in provider.contacts.values() if c[1].name == "Cy New"]
    assert len(copies) == 1
    writes = len(provider.writes)
    calls = len(crm.calls)
    sync()  # the same changes again: echoes of what the killed pass applied
    assert len(provider.writes) == writes and len(crm.calls) == calls
    assert [c for c in provider.contacts.values() if c[1].name == "Cy New"] == copies
    assert store.cursor(ACCOUNT.key, CURSOR) != cursor
    assert store.link_by_crm(ACCOUNT.key, new) is not None
    crm.edit(person, job_title="Chair")  # and the next edit still comes through
    sync()
    assert provider.contacts[ann][1].job_title == "Chair"


def test_a_crm_edit_in_the_cursor_second_is_not_lost(box):
    """Pipedrive stamps whole seconds: another person's edit in the second the cursor holds,
    made after the pass read it, comes through (the adapter asks from one second before)."""
    setup_account(box)
    assert cli("configure", EMAIL, "--direction", "two-way").exit_code == 0
    for _ in range(3):
        assert cli("run", "--once").exit_code == 0
    store = LinkStore.open(cfg.state_path())
    try:
        cursor = store.cursor(f"google:{EMAIL}", CURSOR)
    finally:
        store.close()
    assert cursor is not None
    second = int(datetime.fromisoformat(cursor[0].replace("Z", "+00:00")).timestamp())
    person = next(p for p in box.pipedrive.persons() if p["update_time"] != cursor[0] and p["owner_id"] == 1
                  and p["custom_fields"].get(job_key(box)) is None)
    box.pipedrive.edit_person(person["id"], {"custom_fields": {job_key(box): "CTO"}}, at=second)
    assert cli("run", "--once").exit_code == 0
    titles = [o.get("title") for rn in box.google.people
              for o in box.google.person(rn).get("organizations", [])
              if (box.google.person(rn).get("names") or [{}])[0].get("displayName") == person["name"]]
    assert titles == ["CTO"]


def job_key(box) -> str:
    return next(f["key"] for f in box.pipedrive.fields if f["name"] == "Job title")


def test_a_deletion_listed_with_the_version_we_stored_is_not_taken_for_an_echo():
    """Pipedrive has listed a deleted item whose update_time the deletion did not move
    (singer-io/tap-pipedrive#60): its entry carries the version our last write stored."""
    store, provider, crm = LinkStore.memory(), FakeProvider(), FakeCrm()

    def sync() -> None:
        sync_account(store, provider, crm, ACCOUNT, CRM, PassOptions())
    ann = provider.put(Contact(name="Ann Lee", emails=(Email("ann@x.org"),)))
    sync()
    sync()
    link = store.link(ACCOUNT.key, ann)
    assert link.crm_id is not None and link.crm_version == crm.persons[link.crm_id].version
    assert crm.changelog is not None
    crm.changelog.append(PersonChange(link.crm_id, link.crm_version, crm.user.id, True))
    del crm.persons[link.crm_id]  # deleted, its update time left as it was
    sync()
    assert ann not in provider.contacts  # as when the deletion moves the version (two-way: deleted there too)
