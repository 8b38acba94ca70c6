"""Two-way sync: the scenario matrix over in-memory adapters (issue 5)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contactsync.config import AccountConfig, CrmConfig
from contactsync.engine.run import PassOptions, sync_account
from contactsync.errors import SafetyStop
from contactsync.model import Contact, Email
from contactsync.store import LinkStore
from fakes import FakeCrm, FakeProvider

ACCOUNT = AccountConfig(provider="google", email="ann@example.com", direction="two-way")
CRM = CrmConfig(domain="acme", plan="growth")


class World:
    def __init__(self, conflicts: str = "newest") -> None:
        self.store = LinkStore.memory()
        self.provider = FakeProvider()
        self.crm = FakeCrm()
        self.account = replace(ACCOUNT, conflicts=conflicts)

    def sync(self, **options):
        return sync_account(self.store, self.provider, self.crm, self.account, CRM, PassOptions(**options))

    def person_of(self, provider_id: str):
        link = self.store.link(self.account.key, provider_id)
        return self.crm.persons[link.crm_id]

    def quiet(self, passes: int = 3) -> None:
        """No writes on either side for `passes` passes."""
        for _ in range(passes):
            self.provider.writes.clear()
            self.crm.calls.clear()
            self.sync()
            assert self.provider.writes == [] and [c for c in self.crm.calls if c != "find_by_stamp"] == []


@pytest.fixture
def world():
    w = World()
    w.ann = w.provider.put(Contact(name="Ann Lee", emails=(Email("ann@x.org"),), job_title="CEO", notes="n"))
    w.bo = w.provider.put(Contact(name="Bo", emails=(Email("bo@x.org"),)))
    w.sync()
    return w


def test_edit_in_the_provider_reaches_the_crm_and_then_all_is_quiet(world):
    world.provider.put(replace(world.provider.contacts[world.ann][1], job_title="Chair"), id=world.ann)
    world.sync()
    assert world.person_of(world.ann).contact.job_title == "Chair"
    world.quiet()


def test_edit_in_the_crm_reaches_the_provider_and_then_all_is_quiet(world):
    person = world.person_of(world.ann)
    world.crm.edit(person.id, job_title="Founder")
    result = world.sync()
    assert world.provider.contacts[world.ann][1].job_title == "Founder"
    assert result.counts["provider-update"] == 1
    world.quiet()


def test_both_sides_different_fields_merge(world):
    person = world.person_of(world.ann)
    world.provider.put(replace(world.provider.contacts[world.ann][1], job_title="Chair"), id=world.ann)
    world.crm.edit(person.id, notes="met at the fair")
    world.sync()
    assert world.person_of(world.ann).contact.job_title == "Chair"
    assert world.person_of(world.ann).contact.notes == "met at the fair"
    assert world.provider.contacts[world.ann][1].notes == "met at the fair"
    assert world.provider.contacts[world.ann][1].job_title == "Chair"
    world.quiet()


@pytest.mark.parametrize("policy, crm_last, winner", [
    ("newest", True, "CRM title"), ("newest", False, "Provider title"),
    ("provider", True, "Provider title"), ("crm", False, "CRM title"),
])
def test_same_field_on_both_sides_follows_the_policy(policy, crm_last, winner):
    w = World(conflicts=policy)
    ann = w.provider.put(Contact(name="Ann", job_title="CEO"))
    w.sync()
    person = w.person_of(ann)
    edits = [lambda: w.provider.put(Contact(name="Ann", job_title="Provider title"), id=ann),
             lambda: w.crm.edit(person.id, job_title="CRM title")]
    for edit in (edits if crm_last else edits[::-1]):
        edit()
    result = w.sync()
    assert w.person_of(ann).contact.job_title == winner
    assert w.provider.contacts[ann][1].job_title == winner
    assert result.counts["conflict"] == 1
    [event] = [e for e in w.store.recent_events(w.account.key) if e.action == "conflict"]
    assert event.detail.startswith("job_title: kept the")
    w.quiet()


def test_deleted_in_the_provider_while_edited_in_the_crm_keeps_the_edit(world):
    person = world.person_of(world.bo)
    world.provider.remove(world.bo)
    world.crm.edit(person.id, job_title="Buyer")
    world.sync()
    assert person.id in world.crm.persons
    recreated = [c for c in world.provider.contacts.values() if c[1].name == "Bo"]
    assert len(recreated) == 1 and recreated[0][1].job_title == "Buyer"
    world.quiet()


def test_deleted_in_the_crm_while_edited_in_the_provider_keeps_the_edit(world):
    person = world.person_of(world.bo)
    world.crm.remove(person.id)
    world.provider.put(Contact(name="Bo", emails=(Email("bo@x.org"),), job_title="Buyer"), id=world.bo)
    world.sync()
    persons = [p for p in world.crm.persons.values() if p.contact.name == "Bo"]
    assert len(persons) == 1 and persons[0].contact.job_title == "Buyer"
    assert world.bo in world.provider.contacts
    world.quiet()


def test_deleted_in_the_crm_is_deleted_in_the_provider(world):
    world.crm.remove(world.person_of(world.bo).id)
    result = world.sync()
    assert world.bo not in world.provider.contacts and result.counts["provider-delete"] == 1
    world.quiet()


def test_deleted_in_the_provider_is_deleted_in_the_crm(world):
    crm_id = world.person_of(world.bo).id
    world.provider.remove(world.bo)
    world.sync()
    assert crm_id not in world.crm.persons
    world.quiet()


def test_person_created_in_the_crm_is_created_in_the_provider_group_and_stamped(world):
    new = world.crm.add(Contact(name="Cy", emails=(Email("cy@x.org", "work", True),)))
    result = world.sync()
    created = [id for id, c in world.provider.contacts.items() if c[1].name == "Cy"]
    assert len(created) == 1 and result.counts["provider-create"] == 1
    assert "all" in world.provider.contacts[created[0]][2]
    assert world.crm.persons[new].stamp == f"google:ann@example.com:{created[0]}"
    world.quiet()


def test_persons_of_other_owners_are_never_written_to_the_provider(world):
    world.crm.add(Contact(name="Theirs"), owner_id=2)
    person = world.person_of(world.ann)
    world.crm.give_away(person.id, 2)
    world.crm.edit(person.id, job_title="Their title")
    world.sync()
    assert all(c[1].name != "Theirs" for c in world.provider.contacts.values())
    assert world.provider.contacts[world.ann][1].job_title == "CEO"  # not synced back
    assert world.ann in world.provider.contacts  # and not deleted
    world.quiet()


def test_a_person_handed_over_passes_ago_is_still_not_written_when_its_contact_changes(world):
    """An incremental CRM read reports only the persons that changed: a foreign link whose
    person did not change this pass is still another user's."""
    person = world.person_of(world.ann)
    world.crm.give_away(person.id, 2)
    world.sync()
    world.sync()
    world.crm.calls.clear()
    world.provider.put(replace(world.provider.contacts[world.ann][1], job_title="Chair"), id=world.ann)
    world.provider.remove(world.bo)
    world.sync(allow_mass_delete=True)
    assert world.crm.persons[person.id].contact.job_title == "CEO"  # the other user's person is left alone
    assert world.crm.calls == ["delete"]  # Bo's, not Ann's
    world.quiet()


def test_removed_from_the_sync_group_is_deleted_in_the_crm_only(world):
    crm_id = world.person_of(world.bo).id
    world.provider.put(world.provider.contacts[world.bo][1], id=world.bo, groups={"other"})
    world.sync()
    assert crm_id not in world.crm.persons
    assert world.bo in world.provider.contacts  # still in the address book, outside the group
    world.quiet()


def test_stale_version_is_reread_merged_and_retried(world):
    person = world.person_of(world.ann)
    world.crm.edit(person.id, job_title="Founder")
    real_update = world.provider.update
    calls = []

    def racing_update(id, contact, version):
        if not calls:  # the user edits the contact in the provider in between
            calls.append(id)
            world.provider.put(replace(world.provider.contacts[id][1], notes="typed meanwhile"), id=id)
        return real_update(id, contact, version)

    world.provider.update = racing_update
    world.sync()
    ann = world.provider.contacts[world.ann][1]
    assert ann.job_title == "Founder" and ann.notes == "typed meanwhile"
    assert world.person_of(world.ann).contact.notes == "typed meanwhile"
    world.provider.update = real_update
    world.quiet()


def test_mass_deletion_in_the_crm_stops_before_deleting_contacts():
    w = World()
    ids = [w.provider.put(Contact(name=f"P{i}")) for i in range(20)]
    w.sync()
    for id in ids[:7]:
        w.crm.remove(w.person_of(id).id)
    with pytest.raises(SafetyStop):
        w.sync()
    assert all(id in w.provider.contacts for id in ids)


def test_no_photos_in_two_way():
    import io

    from PIL import Image

    from contactsync.providers.base import Capabilities

    w = World()
    w.provider.capabilities = Capabilities(supports_photo=True)
    buf = io.BytesIO()
    Image.new("RGB", (200, 200)).save(buf, "PNG")
    w.provider.photos["p1"] = buf.getvalue()
    w.provider.put(Contact(name="Ann"), photo="p1")
    w.sync()
    assert len(w.crm.persons) == 1 and "set_picture" not in w.crm.calls
    w.account = replace(w.account, direction="one-way")  # the same world one-way does upload it
    w.provider.put(Contact(name="Bo"), photo="p1")
    w.sync()
    assert w.crm.calls.count("set_picture") == 1


def test_crash_after_a_provider_create_leaves_no_duplicate_on_either_side(world):
    new = world.crm.add(Contact(name="Cy", emails=(Email("cy@x.org", "work", True),)))
    real_create = world.provider.create

    def create_then_die(contact, group):
        real_create(contact, group)
        raise KeyboardInterrupt("killed after the contact was created, before it was linked")

    world.provider.create = create_then_die
    with pytest.raises(KeyboardInterrupt):
        world.sync()
    world.provider.create = real_create
    result = world.sync()
    copies = [id for id, c in world.provider.contacts.items() if c[1].name == "Cy"]
    assert len(copies) == 1 and result.counts["provider-claim"] == 1
    assert [p.id for p in world.crm.persons.values() if p.contact.name == "Cy"] == [new]
    assert world.crm.persons[new].stamp == f"google:ann@example.com:{copies[0]}"
    assert world.store.count_links(world.account.key)["pending"] == 0
    assert world.store.pending_copies(world.account.key) == {}
    world.quiet()


def test_an_interrupted_copy_that_never_happened_is_made_on_the_next_pass(world):
    new = world.crm.add(Contact(name="Cy"))
    world.provider.fail_writes = True
    world.sync()
    world.provider.fail_writes = False
    world.sync()
    assert [c[1].name for c in world.provider.contacts.values()].count("Cy") == 1
    assert world.crm.persons[new].stamp is not None
    assert world.store.count_links(world.account.key)["pending"] == 0
    assert world.store.pending_copies(world.account.key) == {}
    world.quiet()


def test_status_counts_persons_handed_over(world):
    from contactsync.services.status import account_status

    world.crm.give_away(world.person_of(world.ann).id, 2)
    world.sync()
    row = account_status(world.store, world.account, "growth")
    assert row["handed_over"] == 1 and row["linked"] == 1
