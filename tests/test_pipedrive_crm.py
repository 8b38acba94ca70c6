"""Contract tests of the Pipedrive adapter against the emulator over loopback HTTP."""

from __future__ import annotations


import pytest
from pipedrive_openapi import assert_log_valid
from pipedrive_support import ADMIN_TOKEN, SELLER_TOKEN

from contactsync.crm.base import STAMP_FIELD, PersonWrite
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.crm.pipedrive_fields import PERSON_FIELDS
from contactsync.errors import AuthError, NotFound, PermissionDenied, TemporaryError
from contactsync.http import SlidingWindow
from contactsync.model import Contact, Email, Phone, normalise, synced_fields
from contactsync.sandbox.server import Fault

ANN = Contact(
    name="Zoe Quinn",
    emails=(Email("zoe@quinn.example", "work", True), Email("zoe@home.example", "home")),
    phones=(Phone("+1 555 0101", "mobile", True), Phone("+1 555 0102", "work")),
    organization="Quinn Labs",
)


def posts(emulator, path):  # noqa: F811
    return [e for e in emulator.log if e.method == "POST" and e.path == path]


def test_create_get_update_delete_round_trip(crm, emulator):  # noqa: F811
    crm.ensure_fields({})
    org = crm.find_or_create_org(ANN.organization, visible_to=3)
    created = crm.create(PersonWrite(ANN, org_id=org, owner_id=1, visible_to=3, stamp="google:a@x:1"))
    assert synced_fields(normalise(created.contact)) == synced_fields(normalise(ANN))
    assert (created.owner_id, created.org_id, created.stamp) == (1, org, "google:a@x:1")

    fresh = PipedriveCrm(crm.base_url, ADMIN_TOKEN, field_keys=crm.field_keys)
    got = fresh.get(created.id)
    assert got is not None and synced_fields(normalise(got.contact)) == synced_fields(normalise(ANN))
    assert got.stamp == "google:a@x:1"

    changed = Contact(name="Zoe Q. Quinn", emails=(Email("zoe@new.example", "other", True),),
                      phones=(Phone("+44 1", "home", True),))
    updated = crm.update(created.id, PersonWrite(changed))
    assert updated.version > created.version
    assert synced_fields(normalise(updated.contact)) == synced_fields(normalise(changed))
    assert updated.org_id is None and updated.stamp == "google:a@x:1"

    crm.delete(created.id)
    assert crm.get(created.id) is None
    assert created.id not in [p["id"] for p in emulator.persons()]
    crm.delete(created.id)  # already gone: not an error
    with pytest.raises(NotFound):
        crm.update(created.id, PersonWrite(changed))
    assert_log_valid(emulator)


def test_find_by_stamp_confirms_the_value(crm, emulator):  # noqa: F811
    keys = crm.ensure_fields({})
    mine = crm.create(PersonWrite(Contact(name="Stamped"), stamp="google:a@x:42"))
    crm.create(PersonWrite(Contact(name="Other"), stamp="google:a@x:43"))
    found = crm.find_by_stamp("google:a@x:42")
    assert found is not None and found.id == mine.id and found.stamp == "google:a@x:42"
    assert crm.find_by_stamp("google:a@x:4") is None
    assert keys[STAMP_FIELD] == crm.stamp_key
    assert_log_valid(emulator)


def test_find_by_email_filters_to_owner(crm, emulator):  # noqa: F811
    crm.create(PersonWrite(Contact(name="Ann Lee (Sam's)", emails=(Email("ann.lee@example.com"),)), owner_id=2))
    found = crm.find_by_email("Ann.Lee@Example.com", owner_id=1)
    assert [p.id for p in found] == [1]
    assert found[0].contact.organization == "Lee & Partners"
    assert len(crm.find_by_email("ann.lee@example.com", owner_id=2)) == 1
    assert crm.find_by_email("nobody@example.com", owner_id=1) == []
    assert_log_valid(emulator)


def test_find_or_create_org_exact_name_no_duplicate(crm, emulator):  # noqa: F811
    assert crm.find_or_create_org("Globex") == 2
    new = crm.find_or_create_org("Globex Europe", visible_to=3)
    again = PipedriveCrm(crm.base_url, ADMIN_TOKEN).find_or_create_org("Globex Europe")
    assert new == again and new not in (1, 2, 3)
    assert len(posts(emulator, "/api/v2/organizations")) == 1
    assert_log_valid(emulator)


def test_ensure_fields_twice_creates_once(crm, emulator, server):  # noqa: F811
    first = crm.ensure_fields({})
    second = PipedriveCrm(server.url, ADMIN_TOKEN).ensure_fields({})
    third = crm.ensure_fields(first)
    assert first == second == third and len(first[STAMP_FIELD]) == 40
    assert sorted(first) == sorted(PERSON_FIELDS)
    assert len(posts(emulator, "/api/v1/personFields")) == len(PERSON_FIELDS)
    assert_log_valid(emulator)


def test_ensure_fields_refused_is_permission_denied(crm, emulator):  # noqa: F811
    emulator.custom_field_limit = 1  # the seed already has one custom field
    with pytest.raises(PermissionDenied, match="Contact sync ID"):
        crm.ensure_fields({})
    assert_log_valid(emulator)


@pytest.mark.parametrize("revoke", [False, True])
def test_401_is_auth_error_without_token(server, emulator, revoke):  # noqa: F811
    token = ADMIN_TOKEN if revoke else "ffffffffffffffffffffffffffffffffffffffff"
    if revoke:
        emulator.revoke_token(ADMIN_TOKEN)
    adapter = PipedriveCrm(server.url, token, reconnect_hint="contactsync crm connect --domain acme")
    with pytest.raises(AuthError) as info:
        adapter.me()
    assert token not in info.value.line() and token not in repr(adapter)
    assert "crm connect --domain acme" in info.value.line()
    assert_log_valid(emulator)


def test_403_is_permission_denied(server, emulator):  # noqa: F811
    seller = PipedriveCrm(server.url, SELLER_TOKEN)
    with pytest.raises(PermissionDenied, match="organizations"):
        seller.find_or_create_org("Seller Org")
    emulator.set_permissions(2, add_persons=False)
    with pytest.raises(PermissionDenied, match="add people"):
        seller.create(PersonWrite(Contact(name="Nope")))
    assert emulator.persons() == [p for p in emulator.persons() if p["name"] != "Nope"]
    assert_log_valid(emulator)


def test_missing_permissions(server, emulator, crm):  # noqa: F811
    assert crm.missing_permissions(crm.me()) == []
    seller = PipedriveCrm(server.url, SELLER_TOKEN)
    user = seller.me()
    assert not user.is_admin and seller.missing_permissions(user) == []
    emulator.set_permissions(2, can_use_api=False)
    assert seller.missing_permissions(user) == ["Use API"]
    assert_log_valid(emulator)


def test_429_retry_after_is_honoured(server, emulator, clock):  # noqa: F811
    emulator.set_burst_limit(1, window=1.0)
    adapter = PipedriveCrm(server.url, ADMIN_TOKEN, clock=clock)
    first = adapter.create(PersonWrite(Contact(name="First")))
    second = adapter.create(PersonWrite(Contact(name="Second")))  # a 429 was not processed: re-sent
    assert second.id == first.id + 1
    assert [e.status for e in emulator.log] == [200, 429, 200]
    assert clock.sleeps and clock.sleeps[0] >= 1
    assert [p["name"] for p in emulator.persons()].count("Second") == 1
    assert_log_valid(emulator)


def test_limiter_waits_before_a_429(server, emulator, clock):  # noqa: F811
    emulator.set_burst_limit(2, window=1.0)
    adapter = PipedriveCrm(server.url, ADMIN_TOKEN, limiter=SlidingWindow(50, 1.0, clock=clock), clock=clock)
    for _ in range(5):
        adapter.me()
    assert [e.status for e in emulator.log] == [200] * 5
    assert adapter.limiter is not None and adapter.limiter.limit == 2  # x-ratelimit-limit wins over the plan
    assert_log_valid(emulator)


def test_daily_budget_is_temporary_error(crm, emulator):  # noqa: F811
    emulator.set_daily_budget(3)
    crm.me()
    with pytest.raises(TemporaryError, match="daily API budget"):
        crm.me()
    assert [e.status for e in emulator.log] == [200, 429]  # not retried
    assert_log_valid(emulator)


def test_5xx_on_create_is_not_retried(crm, emulator):  # noqa: F811
    body = {"success": False, "error": "Service unavailable", "error_info": "retry", "data": None,
            "additional_data": None}
    emulator.add_fault(Fault(status=503, body=body, method="POST", path=r"^/api/v2/persons$"))
    with pytest.raises(TemporaryError):
        crm.create(PersonWrite(Contact(name="Once Only")))
    assert len(posts(emulator, "/api/v2/persons")) == 1
    assert "Once Only" not in [p["name"] for p in emulator.persons()]
    assert_log_valid(emulator)


def test_list_persons_filters_owner_and_time(crm, emulator):  # noqa: F811
    assert {p.id for p in crm.list_persons(owner_id=1)} == {1, 2}
    edited = emulator.edit_person(3, {"name": "Carla D."})
    recent = list(crm.list_persons(updated_since=edited["update_time"]))
    assert [p.id for p in recent] == [3] and recent[0].contact.name == "Carla D."
    assert_log_valid(emulator)


def test_many_searches_stay_under_the_search_limit(server, emulator, clock):  # noqa: F811
    """Search is limited to 10 requests per 2 s: the client waits instead of drawing 429s."""
    crm = PipedriveCrm(server.url, ADMIN_TOKEN, clock=clock)
    for i in range(14):
        crm.find_by_email(f"nobody{i}@example.com", 1)
    searches = [e for e in emulator.log if e.path.endswith("/search")]
    assert len(searches) == 14 and all(e.status == 200 for e in searches)
    assert sum(clock.sleeps) > 0  # it waited for the search window, not for a 429
    assert_log_valid(emulator)


def _field_posts(emulator):  # noqa: F811
    return posts(emulator, "/api/v1/personFields")


def _missing(emulator):  # noqa: F811
    return len(set(PERSON_FIELDS) - {f["name"] for f in emulator.fields})


def test_a_5xx_on_a_custom_field_create_is_retried_after_listing_again(crm, emulator, clock):  # noqa: F811
    emulator.add_fault(Fault(status=503, body={"success": False, "error": "unavailable"}, method="POST",
                             path=r"^/api/v1/personFields$"))
    missing = _missing(emulator)
    assert missing
    keys = crm.ensure_fields({})
    assert set(keys) == set(PERSON_FIELDS)
    names = [f["name"] for f in emulator.fields]
    assert all(names.count(name) == 1 for name in PERSON_FIELDS)  # none made twice
    assert len(_field_posts(emulator)) == missing + 1  # the refused one, once more
    assert clock.sleeps and clock.sleeps[0] > 0  # backed off before the retry
    lists = [e for e in emulator.log if e.method == "GET" and e.path == "/api/v1/personFields"]
    assert len(lists) == 2  # the list was read again before creating
    assert_log_valid(emulator)


def test_a_custom_field_create_whose_answer_is_lost_is_found_not_made_twice(crm, emulator, clock):  # noqa: F811
    emulator.add_fault(Fault(drop=True, after=True, method="POST", path=r"^/api/v1/personFields$"))
    missing, before = _missing(emulator), len(emulator.fields)
    keys = crm.ensure_fields({})
    assert set(keys) == set(PERSON_FIELDS)
    names = [f["name"] for f in emulator.fields]
    assert all(names.count(name) == 1 for name in PERSON_FIELDS)
    assert clock.sleeps  # the lost answer was a temporary error, retried after listing again
    assert len(emulator.fields) == before + missing  # the lost one was made once, then found
    assert_log_valid(emulator)


def test_resets_of_the_setup_reads_are_retried_inside_the_pass(crm, emulator, clock):  # noqa: F811
    for _ in range(5):  # more than the session's own retries of an idempotent request
        emulator.add_fault(Fault(drop=True, method="GET", path=r"^/api/v1/users/me$"))
    for _ in range(5):
        emulator.add_fault(Fault(status=500, body={"success": False, "error": "internal"}, method="GET",
                                 path=r"^/api/v1/personFields$"))
    assert crm.me().id == 1
    assert set(crm.ensure_fields({})) == set(PERSON_FIELDS)
    assert len(clock.sleeps) >= 2


def test_a_setup_call_that_keeps_failing_ends_the_pass_as_temporary(crm, emulator, clock):  # noqa: F811
    for _ in range(40):
        emulator.add_fault(Fault(status=503, body={"success": False, "error": "unavailable"}, method="POST",
                                 path=r"^/api/v1/personFields$"))
    with pytest.raises(TemporaryError):
        crm.ensure_fields({})
    assert len(_field_posts(emulator)) == 4  # SETUP_ATTEMPTS, then the pass stops (exit 75)
