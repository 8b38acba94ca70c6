"""The sync pass against in-memory adapters."""

from __future__ import annotations

import pytest

from contactsync.config import AccountConfig, CrmConfig
from contactsync.engine.run import PassOptions, sync_account
from contactsync.errors import ApiError, SafetyStop
from contactsync.model import Contact, Email
from contactsync.store import LinkStore
from fakes import FakeCrm, FakeProvider

ACCOUNT = AccountConfig(provider="google", email="ann@example.com")
CRM = CrmConfig(domain="acme", plan="growth")


@pytest.fixture
def world():
    return LinkStore.memory(), FakeProvider(), FakeCrm()


def sync(world, **options):
    store, provider, crm = world
    return sync_account(store, provider, crm, ACCOUNT, CRM, PassOptions(**options))


def names(crm):
    return sorted(p.contact.name for p in crm.persons.values())


def test_create_update_delete_and_quiet_passes(world):
    store, provider, crm = world
    a = provider.put(Contact(name="Ann Lee", emails=(Email("ann.lee@x.org"),), organization="Acme"))
    b = provider.put(Contact(name="Bo"))
    result = sync(world)
    assert result.counts["create"] == 2 and names(crm) == ["Ann Lee", "Bo"]
    person = next(p for p in crm.persons.values() if p.contact.name == "Ann Lee")
    assert person.stamp == f"google:ann@example.com:{a}" and person.owner_id == 1
    assert crm.orgs == {"Acme": person.org_id}

    provider.put(Contact(name="Bo Changed"), id=b)
    result = sync(world)
    assert dict(result.counts) == {"update": 1} and names(crm) == ["Ann Lee", "Bo Changed"]

    provider.remove(a)
    result = sync(world)
    assert dict(result.counts) == {"delete": 1} and names(crm) == ["Bo Changed"]

    crm.calls.clear()
    assert not sync(world).counts and not sync(world, full=True).counts
    assert crm.calls == []


def test_version_only_change_writes_nothing(world):
    store, provider, crm = world
    a = provider.put(Contact(name="Ann"))
    sync(world)
    provider.put(Contact(name=" Ann "), id=a)
    crm.calls.clear()
    sync(world)
    assert crm.calls == []
    assert store.link("google:ann@example.com", a).provider_version == provider.contacts[a][0]


def test_one_bad_contact_does_not_block_the_others_and_is_retried(world):
    store, provider, crm = world
    provider.put(Contact(name="Good"))
    bad = provider.put(Contact(name="Bad"))
    crm.fail_create_for.add("Bad")
    result = sync(world)
    assert result.outcome == "partial" and names(crm) == ["Good"]
    assert result.failures == [(bad, "refused Bad")]
    crm.fail_create_for.clear()
    result = sync(world)  # the cursor moved on, the failure is retried anyway
    assert result.counts["create"] == 1 and names(crm) == ["Bad", "Good"] and result.failures == []


def test_unusable_contact_is_skipped_and_listed(world):
    store, provider, crm = world
    empty = provider.put(Contact())
    provider.put(Contact(emails=(Email("x@y.org"),)))
    result = sync(world)
    assert names(crm) == ["x@y.org"]
    # Skipped, not failing: nothing the user can fix by waiting (issue 11).
    assert result.failures == [] and result.outcome == "ok"
    assert [f[0] for f in result.skipped] == [empty] and "no name" in result.skipped[0][1]


def test_crash_after_create_leaves_no_duplicate(world):
    store, provider, crm = world
    provider.put(Contact(name="Ann"))
    crm.crash_after_create = True
    with pytest.raises(KeyboardInterrupt):
        sync(world)
    assert store.count_links(ACCOUNT.key)["pending"] == 1
    crm.crash_after_create = False
    sync(world)
    assert names(crm) == ["Ann"] and crm.calls.count("create") == 1
    assert "find_by_stamp" in crm.calls
    assert store.count_links(ACCOUNT.key) == {"pending": 0, "linked": 1, "tombstone": 0, "foreign": 0}


def test_mass_deletion_stops_before_writing(world):
    store, provider, crm = world
    ids = [provider.put(Contact(name=f"P{i}")) for i in range(20)]
    sync(world)
    for id in ids[:6]:
        provider.remove(id)
    with pytest.raises(SafetyStop) as stop:
        sync(world)
    assert stop.value.exit_code == 4 and "6 of 20" in stop.value.message
    assert len(crm.persons) == 20
    assert sync(world, allow_mass_delete=True).counts["delete"] == 6 and len(crm.persons) == 14


def test_five_deletions_are_always_allowed(world):
    store, provider, crm = world
    ids = [provider.put(Contact(name=f"P{i}")) for i in range(6)]
    sync(world)
    for id in ids[:5]:
        provider.remove(id)
    assert sync(world).counts["delete"] == 5


def test_empty_listing_deletes_nothing(world):
    store, provider, crm = world
    for i in range(3):
        provider.put(Contact(name=f"P{i}"))
    sync(world)
    provider.contacts.clear()
    with pytest.raises(SafetyStop, match="listed no contacts"):
        sync(world, full=True)
    assert len(crm.persons) == 3
    assert sync(world, full=True, allow_empty=True).counts["delete"] == 3


def test_failed_listing_deletes_nothing(world):
    store, provider, crm = world
    provider.put(Contact(name="A"))
    sync(world)
    provider.fail_listing = True
    with pytest.raises(ApiError):
        sync(world, full=True)
    assert len(crm.persons) == 1 and store.count_links(ACCOUNT.key)["linked"] == 1


def test_missing_store_never_deletes_and_relinks_by_stamp(world):
    store, provider, crm = world
    provider.put(Contact(name="Ann", emails=(Email("a@x.org"),)))
    provider.put(Contact(name="Bo"))
    sync(world)
    fresh = (LinkStore.memory(), provider, crm)  # the state file was lost
    result = sync(fresh)
    assert names(crm) == ["Ann", "Bo"] and result.counts["create"] == 0
    assert result.counts["adopt"] == 2 and fresh[0].count_links(ACCOUNT.key)["linked"] == 2


def test_first_sync_adopts_owned_person_by_email_only(world):
    store, provider, crm = world
    from contactsync.crm.base import PersonWrite

    mine = crm.create(PersonWrite(Contact(name="Ann L", emails=(Email("ann@x.org", primary=True),)), owner_id=1))
    theirs = crm.create(PersonWrite(Contact(name="Bo", emails=(Email("bo@x.org", primary=True),)), owner_id=2))
    provider.put(Contact(name="Ann Lee", emails=(Email("ANN@x.org"),)))
    provider.put(Contact(name="Bo", emails=(Email("bo@x.org"),)))
    result = sync(world)
    assert result.counts["adopt"] == 1 and result.counts["create"] == 1
    assert crm.persons[mine.id].contact.name == "Ann Lee"
    assert crm.persons[theirs.id].contact.name == "Bo" and len(crm.persons) == 3


def test_person_deleted_in_crm_is_not_recreated(world):
    store, provider, crm = world
    a = provider.put(Contact(name="Ann"))
    sync(world)
    crm.persons.clear()
    provider.put(Contact(name="Ann B"), id=a)
    result = sync(world)
    assert result.counts["gone"] == 1 and crm.persons == {}
    provider.put(Contact(name="Ann C"), id=a)
    crm.calls.clear()
    sync(world)
    assert crm.calls == [] and store.count_links(ACCOUNT.key)["tombstone"] == 1


def test_dry_run_writes_nothing(world):
    store, provider, crm = world
    provider.put(Contact(name="Ann"))
    result = sync(world, dry_run=True)
    assert [a.kind for a in result.plan] == ["create"] and crm.persons == {}
    assert store.count_links(ACCOUNT.key)["pending"] == 0 and store.cursor(ACCOUNT.key) is None


def test_dry_run_names_what_it_would_create_and_change(world):
    from contactsync.engine.actions import UpdatePerson, field_changes

    store, provider, crm = world
    crm.orgs["Acme"] = 900  # exists already
    a = provider.put(Contact(name="Ann", organization="Acme"))
    provider.put(Contact(name="Bo", emails=(Email("bo@x.org"),), organization="Globex"))
    dry = sync(world, dry_run=True)
    assert dry.described is not None
    assert dry.described.custom_fields == ["Contact sync ID"] and dry.described.organizations == ["Globex"]
    assert sorted(a.contact.name for a in dry.plan) == ["Ann", "Bo"] and crm.persons == {}
    assert dry.counts["create"] == 2
    sync(world)
    provider.put(Contact(name="Ann", organization="Acme", job_title="CEO"), id=a)
    [update] = sync(world, dry_run=True).plan
    assert isinstance(update, UpdatePerson)
    assert field_changes(update.before, update.contact) == [("job_title", "", "CEO")]


def test_the_executor_reports_progress_after_every_action(world):
    store, provider, crm = world
    for name in ("Ann", "Bo", "Cy"):
        provider.put(Contact(name=name))
    seen: list[tuple[int, int]] = []
    sync(world, on_applied=lambda done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == [1, 2, 3] and seen[-1][1] == 3
