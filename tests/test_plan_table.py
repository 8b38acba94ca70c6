"""The pure parts as tables: plain data in, actions (or a merged record) out.

`merge` is the three-way field merge; `plan` the one planner, here with a
two-way snapshot. No store, no adapter, no clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from contactsync.crm.base import CrmPerson
from contactsync.engine.actions import (
    ClaimContact,
    CreateContact,
    CreatePerson,
    DeleteContact,
    DeletePerson,
    DropFailure,
    DropPendingCopy,
    ForgetLink,
    RecordCrmVersion,
    RecordVersion,
    SetLinkState,
    SyncBoth,
    UpdatePerson,
    field_changes,
)
from contactsync.engine.merge import merge, preferred_side
from contactsync.engine.plan import Handled, plan, plan_step, rest_ids
from contactsync.engine.rules import SyncSettings, make_stamp
from contactsync.engine.snapshot import CrmSnapshot
from contactsync.model import Contact
from contactsync.providers.base import ProviderDeletion, ProviderRecord
from contactsync.settings import ConflictPolicy, Direction
from contactsync.store.db import Link

# -- merge ----------------------------------------------------------------------------

B = Contact(name="Ann", job_title="CEO", organization="Acme", notes="n")

MERGES: list[tuple[str, dict[str, Any], dict[str, Any], str, dict[str, Any], list[str]]] = [
    # (case, provider changes, CRM changes, preferred side, expected fields, conflicting fields)
    ("nothing changed", {}, {}, "provider", {}, []),
    ("provider only", {"job_title": "CTO"}, {}, "crm", {"job_title": "CTO"}, []),
    ("CRM only", {}, {"job_title": "CFO"}, "provider", {"job_title": "CFO"}, []),
    ("different fields", {"job_title": "CTO"}, {"organization": "Globex"}, "provider",
     {"job_title": "CTO", "organization": "Globex"}, []),
    ("same change on both", {"notes": ""}, {"notes": ""}, "crm", {"notes": ""}, []),
    ("conflict, provider preferred", {"job_title": "CTO"}, {"job_title": "CFO"}, "provider",
     {"job_title": "CTO"}, ["job_title"]),
    ("conflict, CRM preferred", {"job_title": "CTO"}, {"job_title": "CFO"}, "crm", {"job_title": "CFO"}, ["job_title"]),
    ("a cleared field is a change", {"notes": ""}, {}, "crm", {"notes": ""}, []),
]


@pytest.mark.parametrize(("case", "p", "c", "prefer", "want", "conflicts"), MERGES, ids=[m[0] for m in MERGES])
def test_merge(case: str, p: dict[str, Any], c: dict[str, Any], prefer: str, want: dict[str, Any],
               conflicts: list[str]) -> None:
    from dataclasses import replace

    merged, found = merge(B, replace(B, **p), replace(B, **c), prefer)
    assert merged == replace(B, **want)
    assert [x.field for x in found] == conflicts
    assert all(x.winner == prefer for x in found)


@pytest.mark.parametrize(("policy", "p_time", "c_time", "winner"), [
    ("provider", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "provider"),
    ("crm", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "crm"),
    ("newest", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "provider"),
    ("newest", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "crm"),
    ("newest", None, "2026-01-02T00:00:00Z", "crm"),  # no provider time: the side with a time wins
    ("newest", "2026-01-01T00:00:00Z", None, "provider"),
])
def test_preferred_side(policy: str, p_time: str | None, c_time: str | None, winner: str) -> None:
    assert preferred_side(policy, p_time, c_time) == winner


# -- the planner, two-way ---------------------------------------------------------------

ACC, EMAIL = "google:ann@example.com", "ann@example.com"
TWO_WAY = SyncSettings(ACC, "google", EMAIL, Direction.TWO_WAY, ConflictPolicy.PROVIDER)
ONE_WAY = SyncSettings(ACC, "google", EMAIL)
ANN = Contact(name="Ann", job_title="CEO")


def link(pid: str = "c1", crm_id: int = 7, state: str = "linked", base: Contact = ANN) -> Link:
    return Link(ACC, pid, crm_id, state, make_stamp("google", EMAIL, pid), "v1", "t1", None, base.to_dict())


def rec(pid: str = "c1", version: str = "v2", **fields: Any) -> ProviderRecord:
    return ProviderRecord(pid, version, Contact(**{"name": "Ann", "job_title": "CEO", **fields}),
                          updated="2026-01-01T00:00:00Z")


def person(crm_id: int = 7, version: str = "t2", owner: int = 1, **fields: Any) -> CrmPerson:
    return CrmPerson(crm_id, version, owner, Contact(**{"name": "Ann", "job_title": "CEO", **fields}))


CASES: list[tuple[str, list[Link], list[Any], CrmSnapshot, SyncSettings, list[type]]] = [
    ("provider edit only: the CRM is updated",
     [link()], [rec(job_title="CTO")], CrmSnapshot(), TWO_WAY, [UpdatePerson]),
    ("CRM edit only: the provider is written",
     [link()], [], CrmSnapshot(changes={7: person(job_title="CFO")}), TWO_WAY, [SyncBoth]),
    ("both edited: one merge",
     [link()], [rec(job_title="CTO")], CrmSnapshot(changes={7: person(notes="x")}), TWO_WAY, [SyncBoth]),
    ("version-only moves on both sides are only recorded",
     [link()], [rec()], CrmSnapshot(changes={7: person()}), TWO_WAY, [RecordVersion, RecordCrmVersion]),
    ("deleted in the provider: the person is deleted",
     [link()], [ProviderDeletion("c1")], CrmSnapshot(), TWO_WAY, [DeletePerson]),
    ("deleted in the provider while edited in the CRM: the edit wins",
     [link()], [ProviderDeletion("c1")], CrmSnapshot(changes={7: person(job_title="CFO")}), TWO_WAY,
     [CreateContact]),
    ("deleted in the CRM: the contact is deleted",
     [link()], [], CrmSnapshot(gone=frozenset({7})), TWO_WAY, [DeleteContact]),
    ("deleted in the CRM while edited in the provider: the edit wins",
     [link()], [rec(job_title="CTO")], CrmSnapshot(gone=frozenset({7})), TWO_WAY, [CreatePerson]),
    ("deleted on both sides: the link is forgotten",
     [link()], [ProviderDeletion("c1")], CrmSnapshot(gone=frozenset({7})), TWO_WAY, [ForgetLink]),
    ("a person of another owner is never deleted",
     [link(state="foreign")], [ProviderDeletion("c1")], CrmSnapshot(foreign=frozenset({7})), TWO_WAY, [ForgetLink]),
    ("a person of another owner is never written",
     [link(state="foreign")], [rec(job_title="CTO")], CrmSnapshot(foreign=frozenset({7})), TWO_WAY,
     [RecordVersion]),
    ("owner changes found while reading come first",
     [], [], CrmSnapshot(transitions=(SetLinkState("c1", "foreign"), DropFailure(9))), TWO_WAY,
     [SetLinkState, DropFailure]),
    ("a new person of the user is copied to the provider",
     [], [], CrmSnapshot(changes={8: person(8, name="Bo")}), TWO_WAY, [CreateContact]),
    ("a new person stamped by an account is not copied",
     [], [], CrmSnapshot(changes={8: CrmPerson(8, "t2", 1, Contact(name="Bo"), stamp="google:x:c9")}), TWO_WAY, []),
    ("the contact an interrupted copy made is claimed",
     [], [rec("c5", name="Bo", job_title="")], CrmSnapshot(pending_copies={8: Contact(name="Bo")},
                                                           unclaimed={8: person(8, name="Bo")}), TWO_WAY,
     [ClaimContact]),
    ("an interrupted copy that never happened is made again",
     [], [], CrmSnapshot(pending_copies={8: Contact(name="Bo")}, unclaimed={8: person(8, name="Bo")}), TWO_WAY,
     [DropPendingCopy, CreateContact]),
    ("one-way: the CRM side is never read, a CRM edit changes nothing",
     [link()], [rec(job_title="CTO")], CrmSnapshot(), ONE_WAY, [UpdatePerson]),
    ("one-way: a tomb-stoned contact is never re-created",
     [link(state="tombstone")], [rec(job_title="CTO")], CrmSnapshot(), ONE_WAY, [RecordVersion]),
]


@pytest.mark.parametrize(("case", "links", "changes", "snapshot", "settings", "want"), CASES,
                         ids=[c[0] for c in CASES])
def test_plan(case: str, links: list[Link], changes: list[Any], snapshot: CrmSnapshot, settings: SyncSettings,
              want: list[type]) -> None:
    actions = plan({l.provider_id: l for l in links}, changes, snapshot, settings)
    assert [type(a) for a in actions] == want
    if not settings.two_way:
        assert all(a.side.value != "provider" for a in actions), "one-way never plans a provider write"


def test_the_merge_action_carries_what_a_dry_run_shows() -> None:
    [action] = plan({"c1": link()}, [rec(job_title="CTO")], CrmSnapshot(changes={7: person(notes="x")}), TWO_WAY)
    assert isinstance(action, SyncBoth) and action.write_crm and action.write_provider
    assert action.before == ANN
    assert sorted(f for f, _, _ in field_changes(action.before, action.contact)) == ["job_title", "notes"]
    assert action.record is not None and action.record.id == "c1"  # kept for a retry if the write fails


def test_planning_page_by_page_plans_what_one_whole_plan_does() -> None:
    links = {"c1": link("c1", 7), "c2": link("c2", 8)}
    snapshot = CrmSnapshot(changes={7: person(7, job_title="CFO"), 8: person(8, job_title="COO"),
                                    9: person(9, name="Cy")})
    changes = [rec("c1", job_title="CTO"), rec("c3", name="Dee")]
    whole = plan(links, changes, snapshot, TWO_WAY)
    first, handled = plan_step({"c1": links["c1"]}, changes[:1], snapshot, TWO_WAY, Handled())
    second, handled = plan_step({}, changes[1:], snapshot, TWO_WAY, handled)
    assert rest_ids(snapshot, handled) == {8, 9}
    rest, _ = plan_step({"c2": links["c2"]}, [], snapshot, TWO_WAY, handled, rest=True)
    assert first + second + rest == whole
