"""The "newest" conflict policy: the later edit of a field wins, a clear included.

Found by the two-way state machine under the thorough profile: e-mails cleared in
Pipedrive, a second later set to something else in Google. The engine kept the
Google value, which is right (the later edit); the model had lost track of the
Google edit because the pair had been synced in a dirty pass (see
`TwoWaySync.move_bases`). These are the explicit examples of both halves.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from contactsync.engine.merge import preferred_side
from contactsync.engine.run import PassOptions, sync_account
from contactsync.errors import SafetyStop
from contactsync.model import Contact, Email
from contactsync.store import LinkStore
from fakes import FakeCrm, FakeProvider
from test_two_way_properties import ACCOUNT, CRM, TwoWaySync

ANN, BO = (Email("ann@x.org"),), (Email("bo@x.org", "work"),)


def _values(contact: Contact) -> list[str]:
    return [e.value for e in contact.emails]


def _sync(store: LinkStore, provider: FakeProvider, crm: FakeCrm) -> Any:
    return sync_account(store, provider, crm, replace(ACCOUNT, conflicts="newest"), CRM, PassOptions(workers=1))


@pytest.mark.parametrize("first, first_value, second, second_value", [
    ("crm", (), "provider", ANN),  # the case found: cleared in Pipedrive, then set in Google
    ("provider", (), "crm", ANN),
    ("provider", ANN, "crm", ()),
    ("crm", ANN, "provider", ()),
])
def test_the_later_edit_of_a_field_wins_and_a_clear_is_an_edit(
        first: str, first_value: tuple[Email, ...], second: str, second_value: tuple[Email, ...]) -> None:
    store, provider, crm = LinkStore.memory(), FakeProvider(), FakeCrm()
    id = provider.put(Contact(name="Ann Lee", emails=BO, job_title="CEO"))
    _sync(store, provider, crm)
    person = store.link(ACCOUNT.key, id).crm_id

    def edit(side: str, emails: tuple[Email, ...]) -> None:
        if side == "crm":
            crm.edit(person, emails=emails)
        else:
            provider.put(replace(provider.contacts[id][1], emails=emails), id=id)

    # The fakes share one clock, a second per change: the second edit is one second later.
    edit(first, first_value)
    edit(second, second_value)
    assert (crm.persons[person].version > provider.updated[id]) == (second == "crm")
    result = _sync(store, provider, crm)

    assert _values(provider.contacts[id][1]) == _values(crm.persons[person].contact) == [e.value for e in second_value]
    assert result.counts["conflict"] == 1
    writes = (len(provider.writes), len(crm.calls))
    _sync(store, provider, crm)
    assert (len(provider.writes), len(crm.calls)) == writes  # settled: the next pass writes nothing


@pytest.mark.parametrize("google, pipedrive, winner", [
    ("2026-12-02T10:00:00.700Z", "2026-12-02T10:00:00Z", "provider"),  # same second: order unknown, a tie
    ("2026-12-02T10:00:00.000000001Z", "2026-12-02T10:00:00Z", "provider"),
    ("2026-12-02T10:00:00.999Z", "2026-12-02T10:00:01Z", "crm"),  # a later second is later
    ("2026-12-02T10:00:01Z", "2026-12-02T10:00:00Z", "provider"),
    ("2026-12-02T10:00:00Z", "2026-12-02T10:00:00.900Z", "provider"),  # a fraction on the CRM side is no later
    ("2026-12-02T11:00:00+01:00", "2026-12-02T10:00:01Z", "crm"),  # offsets are times, not text
])
def test_newest_compares_the_two_clocks_at_whole_seconds(google: str, pipedrive: str, winner: str) -> None:
    assert preferred_side("newest", google, pipedrive) == winner


class Draw:
    """What the machine's rules draw from `st.data()`, given."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def draw(self, strategy: Any, label: str | None = None) -> Any:
        return self.value


def test_the_model_keeps_an_edit_back_to_a_value_synced_before_a_dirty_pass() -> None:
    """The state machine's shrunk example: a pair synced in a dirty pass has a new base.

    The CRM's e-mails reach Google in a pass made dirty by an unrelated fault; then
    Pipedrive clears them and, a second later, Google sets them back to the value of
    the last *clean* pass. The model took that Google edit for "no edit" and reported
    the engine's (right) result as a lost CRM edit.
    """
    machine = TwoWaySync()
    machine.start(policy="newest", theirs=[],
                  first=[Contact(name="Ann Lee", emails=ANN), Contact(name="Bo Chen"), Contact(name="Cy Diaz")])
    contact = machine.in_group()[0]
    person = machine.store.link(machine.key, contact).crm_id

    machine.fail_one_crm_create("Ann Lee")  # a fault: the next pass is dirty
    machine.edit_person(Draw(person), ("emails", BO))  # type: ignore[arg-type]
    machine.sync(allow_mass=False)
    assert machine.dirty and _values(machine.provider.contacts[contact][1]) == ["bo@x.org"]
    machine.edit_person(Draw(person), ("emails", ()))  # type: ignore[arg-type]
    machine.edit_contact(Draw(contact), ("emails", ANN))  # type: ignore[arg-type]
    machine.sync(allow_mass=False)  # raised "lost edit" before the model's fix

    assert _values(machine.provider.contacts[contact][1]) == _values(machine.crm.persons[person].contact) == ["ann@x.org"]


def test_the_model_weighs_a_conflict_left_by_a_failed_pass_with_the_records_times_of_the_next() -> None:
    """The state machine's other example: a conflict outlives a failed pass, then a side is saved again.

    E-mails set in Google, then a second later in Pipedrive; the pass fails (listing).
    Google's contact is saved again (job title, unchanged). `newest` compares the
    records' update times (neither API dates one field), so Google is now the newer
    side and its e-mails win: the model's expectation, taken before the failed pass,
    had gone stale.
    """
    machine = TwoWaySync()
    machine.start(policy="newest", theirs=[], first=[Contact(name="Ann Lee") for _ in range(3)])
    contact = machine.in_group()[0]
    person = machine.store.link(machine.key, contact).crm_id
    machine.edit_contact(Draw(contact), ("emails", BO))  # type: ignore[arg-type]
    machine.fail_listing()
    machine.edit_person(Draw(person), ("emails", ANN))  # type: ignore[arg-type]
    machine.sync(allow_mass=False)
    assert machine.dirty
    machine.edit_contact(Draw(contact), ("job_title", ""))  # type: ignore[arg-type]
    machine.full_sync(allow_mass=False)  # raised "policy newest wants ann@x.org" before the fix

    assert _values(machine.provider.contacts[contact][1]) == _values(machine.crm.persons[person].contact) == ["bo@x.org"]


def test_a_failure_resolved_by_the_user_is_not_replayed_over_later_edits() -> None:
    """The state machine's third example: a stale failure record brought old e-mails back.

    A conflict whose provider write fails is stored as a failure with the provider's
    record of that moment. The user then clears the field on both sides; a full pass
    reads the contact afresh and finds nothing to write (both sides hold the base),
    but kept the failure: the next incremental pass replayed the old record as if it
    were the provider's news and wrote its e-mails to the person.
    """
    store, provider, crm = LinkStore.memory(), FakeProvider(), FakeCrm()
    id = provider.put(Contact(name="Ann Lee"))
    _sync(store, provider, crm)
    person = store.link(ACCOUNT.key, id).crm_id
    provider.put(replace(provider.contacts[id][1], emails=BO), id=id)
    crm.edit(person, emails=ANN)  # later: the CRM's e-mails win, to be written to the provider
    provider.fail_writes = True
    _sync(store, provider, crm)
    provider.fail_writes = False
    assert [f.provider_id for f in store.failures(ACCOUNT.key)] == [id]
    provider.put(replace(provider.contacts[id][1], emails=()), id=id)
    crm.edit(person, emails=())

    sync_account(store, provider, crm, replace(ACCOUNT, conflicts="newest"), CRM, PassOptions(workers=1, full=True))
    assert store.failures(ACCOUNT.key) == []
    crm.calls.clear()
    _sync(store, provider, crm)

    assert _values(provider.contacts[id][1]) == _values(crm.persons[person].contact) == []
    assert crm.calls == []


def test_a_failed_recreate_outlives_a_pass_stopped_by_the_empty_listing_guard() -> None:
    """The state machine's fourth example: the guard stopped a full pass after its failures were cleared.

    A contact deleted in the provider while its person was edited is re-created; the
    create fails and is kept as a failure. The next full pass lists an empty group:
    the guard stops it, but it had already cleared the failure as "left the group",
    so no later pass re-created the contact and the link pointed at nothing.
    """
    store, provider, crm = LinkStore.memory(), FakeProvider(), FakeCrm()
    ann, bo = provider.put(Contact(name="Ann Lee")), provider.put(Contact(name="Bo Chen"))
    _sync(store, provider, crm)
    person = store.link(ACCOUNT.key, ann).crm_id
    provider.remove(ann)
    crm.edit(person, job_title="Buyer")
    provider.fail_writes = True
    _sync(store, provider, crm)
    provider.fail_writes = False
    assert [f.provider_id for f in store.failures(ACCOUNT.key)] == [ann]
    provider.remove(bo)
    with pytest.raises(SafetyStop):
        sync_account(store, provider, crm, replace(ACCOUNT, conflicts="newest"), CRM,
                     PassOptions(workers=1, full=True))

    _sync(store, provider, crm)
    link = store.link_by_crm(ACCOUNT.key, person)
    assert link is not None and link.provider_id in provider.contacts
    assert provider.contacts[link.provider_id][1].job_title == "Buyer"
