"""Two-way sync as a Hypothesis state machine over the in-memory adapters (issue 5).

Users edit, add, delete and regroup contacts on both sides, give persons away,
break writes and listings; passes run in between. After every pass the
invariants of STYLE.md hold: no duplicate persons or contacts, links consistent
with both sides, no lost edits, nothing of another owner written to the provider,
nothing deleted past the guard, and a clean pass is followed by a quiet one.

The model does not re-implement the engine. Between two passes only users write,
so what changed on a side since the snapshot taken after the last pass is a user
edit; such edits stay *pending* until both sides of their pair agree on a value.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import replace
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import fakes
from contactsync.config import AccountConfig, CrmConfig
from contactsync.crm.base import PersonWrite
from contactsync.engine.rules import prepare
from contactsync.engine.run import PassOptions, sync_account
from contactsync.errors import ApiError, SafetyStop
from contactsync.model import Contact, Email, normalise, synced_fields
from contactsync.store import LinkStore
from fakes import FakeCrm, FakeProvider

ACCOUNT = AccountConfig(provider="google", email="ann@example.com", direction="two-way")
CRM = CrmConfig(domain="acme", plan="growth")
ME, OTHER = 1, 2
GROUP = "all"
# Every link state; a person handed to another owner keeps its link as 'foreign'.
ALL_STATES = ("pending", "linked", "tombstone", "foreign")
PREFIX = "google:ann@example.com:"

# Small pools, so that equal names, shared e-mails and no-op edits happen often.
# Some values differ only in case or spacing: normalisation must not make them echo.
NAMES = ("Ann Lee", "Bo Chen", "Cy Diaz", " Bo  Chen ", "ann lee")
EMAILS = (
    (),
    (Email("ann@x.org"),),
    (Email("bo@x.org", "work"),),
    (Email("shared@x.org"), Email("ann@x.org")),
    (Email(" ANN@x.org"),),
)
JOBS = ("", "CEO", "CTO", "Buyer")
NOTES = ("", "met at the fair", "call back\nsoon")
ORGS = ("", "Acme", "Globex")
POOLS: dict[str, tuple[Any, ...]] = {
    "name": NAMES, "emails": EMAILS, "job_title": JOBS, "notes": NOTES, "organization": ORGS,
}
# Data of persons owned by someone else: never part of the user's pools, so any
# provider write carrying it came from a person the user does not own.
FOREIGN_NAMES = ("Zed Other", "Yan Theirs")
FOREIGN_JOBS = ("their title", "their other title")

contacts = st.builds(
    Contact,
    name=st.sampled_from(NAMES),
    emails=st.sampled_from(EMAILS),
    job_title=st.sampled_from(JOBS),
    notes=st.sampled_from(NOTES),
    organization=st.sampled_from(ORGS),
)
edits = st.sampled_from(sorted(POOLS)).flatmap(lambda f: st.tuples(st.just(f), st.sampled_from(POOLS[f])))


def view(contact: Contact) -> dict[str, Any]:
    """The synced fields as the engine compares them (normalised, named)."""
    return synced_fields(prepare(contact) or normalise(contact))


class RecordingProvider(FakeProvider):
    """The fake provider, keeping every payload written and failing one write on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[tuple[str, str | None, Contact | None]] = []
        self.written: list[str] = []  # ids of the contacts a write succeeded on
        self.fail_next_write = False

    def _arm(self, kind: str) -> bool:
        if self.fail_next_write and not self.fail_writes:
            self.fail_next_write = False
            self.fail_writes = True
            return True
        return False

    def create(self, contact: Contact, group: str):  # type: ignore[no-untyped-def]
        self.payloads.append(("create", None, contact))
        armed = self._arm("create")
        try:
            record = super().create(contact, group)
            self.written.append(record.id)
            return record
        finally:
            if armed:
                self.fail_writes = False

    def update(self, id: str, contact: Contact, version: str):  # type: ignore[no-untyped-def]
        self.payloads.append(("update", id, contact))
        armed = self._arm("update")
        try:
            record = super().update(id, contact, version)
            self.written.append(id)
            return record
        finally:
            if armed:
                self.fail_writes = False

    def delete(self, id: str) -> None:
        self.payloads.append(("delete", id, None))
        armed = self._arm("delete")
        try:
            super().delete(id)
        finally:
            if armed:
                self.fail_writes = False


class RecordingCrm(FakeCrm):
    """The fake CRM, keeping (call, person id, owner at the time) of every write."""

    def __init__(self) -> None:
        super().__init__(ME)
        self.write_log: list[tuple[str, int | None, int | None]] = []
        self.fail_create_once: set[str] = set()

    def create(self, write: PersonWrite):  # type: ignore[no-untyped-def]
        if write.contact.name in self.fail_create_once:
            self.fail_create_once.discard(write.contact.name)
            self.calls.append("create")
            self.write_log.append(("create-failed", None, write.owner_id))
            raise ApiError(f"refused {write.contact.name}", 400)
        person = super().create(write)
        self.write_log.append(("create", person.id, person.owner_id))
        return person

    def update(self, id: int, write: PersonWrite):  # type: ignore[no-untyped-def]
        owner = self.persons[id].owner_id if id in self.persons else None
        self.write_log.append(("update", id, owner))
        return super().update(id, write)

    def delete(self, id: int) -> None:
        owner = self.persons[id].owner_id if id in self.persons else None
        self.write_log.append(("delete", id, owner))
        super().delete(id)


def advance_clock(seconds: int) -> None:
    """Time passes for both fakes (they share one clock, a second per change)."""
    collections.deque(itertools.islice(fakes._CLOCK, seconds), maxlen=0)  # noqa: SLF001


class TwoWaySync(RuleBasedStateMachine):
    # -- set-up ---------------------------------------------------------------

    @initialize(
        policy=st.sampled_from(("newest", "provider", "crm")),
        first=st.lists(contacts, min_size=3, max_size=10),
        theirs=st.lists(st.sampled_from(FOREIGN_NAMES), max_size=2),
    )
    def start(self, policy: str, first: list[Contact], theirs: list[str]) -> None:
        self.store = LinkStore.memory()
        self.provider = RecordingProvider()
        self.crm = RecordingCrm()
        self.account = replace(ACCOUNT, conflicts=policy)
        self.key = self.account.key
        for contact in first:
            self.provider.put(contact)
        self.foreign: set[int] = {self.crm.add(Contact(name=n, job_title=FOREIGN_JOBS[0]), OTHER) for n in theirs}
        self.given_away: set[int] = set()
        # Provider contacts linked to a person given away, once a pass has seen the new owner.
        self.protected: dict[str, int] = {}
        self.unseen_giveaways: dict[str, int] = {}
        # The synced fields after the last clean pass: an edit back to them is no edit.
        self.base_p: dict[str, dict[str, Any]] = {}
        self.base_c: dict[int, dict[str, Any]] = {}
        self.user_added: set[int] = set()  # persons the user created in the CRM after the first pass
        self.pending: dict[tuple[str, Any], dict[str, Any]] = {}
        # Conflicts settled by the policy: (side, id, field) -> (value, the other side's key).
        self.expected: dict[tuple[str, Any, str], tuple[Any, tuple[str, Any]]] = {}
        self.snap_p: dict[str, dict[str, Any]] = {}
        self.snap_c: dict[int, dict[str, Any]] = {}
        self.dirty = False
        self.faults: set[str] = set()
        self.passes = 0
        self._pass(full=False, allow_mass=False)
        assert not self.dirty, "the first pass over a fresh world must be clean"

    # -- helpers ----------------------------------------------------------------

    def in_group(self) -> list[str]:
        return sorted(id for id, (_, _, groups) in self.provider.contacts.items() if GROUP in groups)

    def mine(self) -> list[int]:
        return sorted(id for id, p in self.crm.persons.items() if p.owner_id == ME)

    def linked(self) -> list[Any]:
        return list(self.store.iter_links(self.key, ("linked",)))

    def every_link(self) -> list[Any]:
        return list(self.store.iter_links(self.key, ALL_STATES))

    def handed_over(self) -> set[str]:
        """Contacts whose person was given away: linked to it in whatever state the engine keeps them."""
        return {link.provider_id for link in self.every_link() if link.crm_id in self.given_away} \
            | self.guarded() | set(self.unseen_giveaways)

    def guarded(self) -> set[str]:
        """Protected contacts still tied to the person given away (not linked to a new person of the user)."""
        for pid, cid in list(self.protected.items()):
            link = self.store.link(self.key, pid)
            if link is not None and link.crm_id != cid:
                del self.protected[pid]
        return set(self.protected)

    def drop_pending(self, side: str, id: Any) -> None:
        self.pending.pop((side, id), None)
        # A conflict needs both sides: when one side goes, so does the expectation on the other.
        for key in [k for k, (_, other) in self.expected.items() if k[:2] == (side, id) or other == (side, id)]:
            del self.expected[key]

    def snapshot(self) -> None:
        self.snap_p = {id: view(self.provider.contacts[id][1]) for id in self.in_group()}
        self.snap_c = {id: view(p.contact) for id, p in self.crm.persons.items()}

    def move_bases(self, written_p: set[str], written_c: set[int]) -> None:
        """What a pass synced is the new base of a pair, even when the pass as a whole was dirty.

        The engine writes a side only with the merged record it commits as the link's
        base; the other side of the pair holds the same values. Without this, a pair
        synced in a dirty pass kept the base of the last clean pass, and a user's edit
        back to that older value was taken for "no edit" although the engine (rightly)
        sees a change: the edit dropped out of the model and the pair's other edit was
        reported lost. A pair nobody wrote to keeps its base: the engine may not have
        reached it (an aborted pass), and sides agreeing by coincidence are no sync.
        """
        for link in self.linked():
            pid, cid = link.provider_id, link.crm_id
            if (pid not in written_p and cid not in written_c) or pid not in self.snap_p or cid not in self.snap_c:
                continue
            p, c = self.snap_p[pid], self.snap_c[cid]
            base_p, base_c = dict(self.base_p.get(pid, p)), dict(self.base_c.get(cid, c))
            for field in (f for f in p if p[f] == c[f]):
                base_p[field] = base_c[field] = p[field]
            self.base_p[pid], self.base_c[cid] = base_p, base_c

    def collect_user_edits(self) -> None:
        """What users changed since the last pass joins the pending edits."""
        interval: dict[tuple[str, Any], dict[str, Any]] = {}
        handed = self.handed_over()
        for id in self.in_group():
            if id in handed:
                continue
            now, before = view(self.provider.contacts[id][1]), self.snap_p.get(id)
            changed = {f: v for f, v in now.items() if before is None or before[f] != v}
            if changed:
                interval[("p", id)] = changed
        for id in self.mine():
            if id in self.given_away:
                continue
            now, before = view(self.crm.persons[id].contact), self.snap_c.get(id)
            changed = {f: v for f, v in now.items() if before is None or before[f] != v}
            if changed:
                interval[("c", id)] = changed
        for key, changed in interval.items():
            fields = self.pending.setdefault(key, {})
            fields.update(changed)
            base = (self.base_p if key[0] == "p" else self.base_c).get(key[1])
            for field in [f for f, v in fields.items() if base is not None and base[f] == v]:
                del fields[field]  # edited back to what was synced: nothing to sync
            if not fields:
                del self.pending[key]
        if self.dirty:
            self.rederive_expected()
            return
        # Same field edited on both sides of a pair since a clean pass: the policy decides.
        for link in self.linked():
            p, c = interval.get(("p", link.provider_id), {}), interval.get(("c", link.crm_id), {})
            for field in set(p) & set(c):
                if p[field] != c[field]:
                    self.expect(link.provider_id, link.crm_id, field, p[field], c[field])

    def expect(self, pid: str, cid: int, field: str, p_value: Any, c_value: Any) -> None:
        """A field edited differently on both sides of a pair: what the policy settles it to."""
        winner = self.account.conflicts
        if winner == "newest":  # the update times of the records, as the engine knows them
            winner = "crm" if self.crm.persons[cid].version > self.provider.updated[pid] else "provider"
        value = p_value if winner == "provider" else c_value
        self.expected[("p", pid, field)] = (value, ("c", cid))
        self.expected[("c", cid, field)] = (value, ("p", pid))

    def rederive_expected(self) -> None:
        """After a dirty pass, a conflict still unsettled is weighed again with the sides as they are now.

        Under `newest` the engine compares the update times of the two *records*: any
        later edit of a side (another field, or a save that changed nothing) makes that
        side the newer one, and a field edited again has a new value. An expectation
        taken before the dirty pass was stale then (the later edit of the field's
        values lost to a save of another field, not to the engine).
        """
        pairs = {(key[1], other[1], key[2]) for key, (_, other) in self.expected.items() if key[0] == "p"}
        self.expected.clear()
        for pid, cid, field in pairs:
            p, c = self.pending.get(("p", pid), {}), self.pending.get(("c", cid), {})
            if field in p and field in c and p[field] != c[field] \
                    and pid in self.provider.updated and cid in self.crm.persons:
                self.expect(pid, cid, field, p[field], c[field])

    # -- provider-side users ----------------------------------------------------

    @rule(contact=contacts)
    def add_contact(self, contact: Contact) -> None:
        self.provider.put(contact)

    @precondition(lambda self: self.in_group())
    @rule(data=st.data(), edit=edits)
    def edit_contact(self, data: st.DataObject, edit: tuple[str, Any]) -> None:
        id = data.draw(st.sampled_from(self.in_group()), label="contact")
        _, contact, groups = self.provider.contacts[id]
        self.provider.put(replace(contact, **{edit[0]: edit[1]}), id=id, groups=groups,
                          photo=self.provider.photo_refs.get(id))

    @precondition(lambda self: self.in_group())
    @rule(data=st.data())
    def delete_contact(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(self.in_group()), label="contact")
        self.provider.remove(id)
        self.drop_pending("p", id)

    @precondition(lambda self: self.in_group())
    @rule(data=st.data())
    def move_out_of_group(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(self.in_group()), label="contact")
        self.provider.put(self.provider.contacts[id][1], id=id, groups={"other"})
        self.drop_pending("p", id)

    @precondition(lambda self: len(self.in_group()) >= 6)
    @rule(data=st.data())
    def delete_many_contacts(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.in_group()), min_size=6, max_size=9, unique=True),
                        label="contacts")
        for id in ids:
            self.provider.remove(id)
            self.drop_pending("p", id)
    
    # -- CRM-side users -----------------------------------------------------------

    def synced_persons(self) -> list[int]:
        return [id for id in self.mine() if id not in self.given_away]

    @precondition(lambda self: self.synced_persons())
    @rule(data=st.data(), edit=edits)
    def edit_person(self, data: st.DataObject, edit: tuple[str, Any]) -> None:
        id = data.draw(st.sampled_from(self.synced_persons()), label="person")
        self.crm.edit(id, **{edit[0]: edit[1]})

    @precondition(lambda self: self.synced_persons())
    @rule(data=st.data())
    def delete_person(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(self.synced_persons()), label="person")
        self.crm.remove(id)
        self.drop_pending("c", id)

    @precondition(lambda self: len(self.synced_persons()) >= 6)
    @rule(data=st.data())
    def delete_many_persons(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.synced_persons()), min_size=6, max_size=9, unique=True),
                        label="persons")
        for id in ids:
            self.crm.remove(id)
            self.drop_pending("c", id)

    @rule(contact=contacts)
    def add_person(self, contact: Contact) -> None:
        self.user_added.add(self.crm.add(contact, ME))

    @rule(name=st.sampled_from(FOREIGN_NAMES))
    def someone_else_adds_a_person(self, name: str) -> None:
        self.foreign.add(self.crm.add(Contact(name=name, job_title=FOREIGN_JOBS[1]), OTHER))

    @precondition(lambda self: self.synced_persons())
    @rule(data=st.data())
    def give_away(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(self.synced_persons()), label="person")
        self.crm.give_away(id, OTHER)
        self.given_away.add(id)
        self.drop_pending("c", id)
        link = self.store.link_by_crm(self.key, id)
        if link is not None:
            self.unseen_giveaways[link.provider_id] = id
            self.drop_pending("p", link.provider_id)

    @precondition(lambda self: [id for id in self.given_away if id in self.crm.persons])
    @rule(data=st.data(), name=st.sampled_from(FOREIGN_NAMES), job=st.sampled_from(FOREIGN_JOBS))
    def new_owner_edits(self, data: st.DataObject, name: str, job: str) -> None:
        id = data.draw(st.sampled_from(sorted(i for i in self.given_away if i in self.crm.persons)), label="person")
        self.crm.edit(id, name=name, job_title=job)

    @precondition(lambda self: [id for id in self.given_away if id in self.crm.persons])
    @rule(data=st.data())
    def new_owner_deletes(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(sorted(i for i in self.given_away if i in self.crm.persons)), label="person")
        self.crm.remove(id)

    # -- faults and time -----------------------------------------------------------

    @rule()
    def fail_next_provider_write(self) -> None:
        self.provider.fail_next_write = True
        self.faults.add("provider-write")

    @rule(name=st.sampled_from(NAMES))
    def fail_one_crm_create(self, name: str) -> None:
        self.crm.fail_create_once.add(normalise(Contact(name=name)).name)
        self.faults.add("crm-create")

    @rule()
    def fail_listing(self) -> None:
        self.provider.fail_listing = True
        self.faults.add("listing")

    @rule()
    def an_hour_and_more_passes(self) -> None:
        advance_clock(2 * 3600)

    # -- passes ---------------------------------------------------------------------

    @rule(allow_mass=st.sampled_from((False, False, False, True)))
    def sync(self, allow_mass: bool) -> None:
        self._pass(False, allow_mass)

    @rule(allow_mass=st.sampled_from((False, False, False, True)))
    def full_sync(self, allow_mass: bool) -> None:
        self._pass(True, allow_mass)

    def _pass(self, full: bool, allow_mass: bool) -> None:
        self.collect_user_edits()
        faults, self.faults = self.faults, set()
        linked_before = self.store.count_links(self.key)["linked"]
        guarded = self.guarded()
        visible = set(self.crm.persons)
        p_mark, c_mark = len(self.provider.payloads), len(self.crm.write_log)
        w_mark = len(self.provider.written)
        stopped: Exception | None = None
        try:
            sync_account(self.store, self.provider, self.crm, self.account, CRM,
                         PassOptions(full=full, allow_mass_delete=allow_mass, workers=1))
        except SafetyStop as exc:
            stopped = exc
        except ApiError as exc:
            assert "listing" in faults, f"a pass raised {exc!r} without a failed listing"
            stopped = exc
        finally:
            self.provider.fail_listing = False
            self.provider.fail_next_write = False
            self.crm.fail_create_once.clear()
        self.passes += 1
        p_writes, c_writes = self.provider.payloads[p_mark:], self.crm.write_log[c_mark:]
        self.check_ownership(p_writes, c_writes, guarded)
        if not isinstance(stopped, ApiError):  # the pass read the CRM and saw the new owners
            self.protected.update({pid: cid for pid, cid in self.unseen_giveaways.items() if cid in visible})
            self.unseen_giveaways.clear()
        if stopped is None:
            self.check_guard(p_writes, c_writes, linked_before, allow_mass)
        self.check_structure()
        self.settle_pending()
        self.snapshot()
        self.move_bases(set(self.provider.written[w_mark:]),
                        {id for op, id, _ in c_writes if op in ("create", "update") and id in self.crm.persons})
        self.dirty = stopped is not None or bool(faults)
        if self.dirty:
            return
        self.check_consistent()
        self.check_no_lost_edits()
        self.pending.clear()
        self.expected.clear()
        self.check_quiet()
        self.base_p, self.base_c = dict(self.snap_p), dict(self.snap_c)

    # -- invariants -------------------------------------------------------------------

    def check_ownership(self, p_writes: list[Any], c_writes: list[Any], guarded: set[str]) -> None:
        """4: nothing of another owner reaches the provider; deletions only for owned persons."""
        for op, id, contact in p_writes:
            if contact is not None:
                assert contact.name not in FOREIGN_NAMES and contact.job_title not in FOREIGN_JOBS, (
                    f"provider {op} {id} carries data of a person the user does not own: {contact}")
            if op == "delete":
                assert id not in guarded, (
                    f"provider contact {id} was deleted although its person was given away to another owner")
        for op, id, owner in c_writes:
            if op == "delete":
                assert owner in (ME, None), f"person {id} of owner {owner} was deleted in the CRM"

    def check_guard(self, p_writes: list[Any], c_writes: list[Any], linked: int, allow_mass: bool) -> None:
        """5: a pass that did not stop deleted no more than the guard allows."""
        deleted = sum(op == "delete" for op, _, _ in p_writes) + sum(op == "delete" for op, _, _ in c_writes)
        if not allow_mass:
            assert deleted <= max(5, linked * 0.10), (
                f"a pass deleted {deleted} (provider and CRM) with {linked} links and no --allow-mass-delete")

    def check_structure(self) -> None:
        """1: one person per contact and one contact per person; stamps unique."""
        crm_ids = [link.crm_id for link in self.every_link() if link.crm_id is not None]
        dupes = [id for id, n in collections.Counter(crm_ids).items() if n > 1]
        assert not dupes, f"persons linked to more than one contact: {dupes}"
        stamps = collections.Counter(p.stamp for p in self.crm.persons.values() if p.stamp)
        twice = [s for s, n in stamps.items() if n > 1]
        assert not twice, f"stamps carried by more than one person: {twice}"

    def check_consistent(self) -> None:
        """1 and 2 after a clean pass: links point at live objects, nothing is left unlinked."""
        links, every, handed = self.linked(), self.every_link(), self.handed_over()
        others = [(l.provider_id, l.state) for l in every
                  if l.state not in ("linked", "foreign") and l.provider_id not in handed]
        assert not others, f"links left pending or tomb-stoned after a clean pass: {others}"
        group = set(self.in_group())
        for link in links:
            assert link.crm_id in self.crm.persons, (
                f"link {link.provider_id} -> person {link.crm_id}: the person does not exist")
            assert link.provider_id in group, (
                f"link {link.provider_id} -> person {link.crm_id}: the contact is not in the sync group")
            person = self.crm.persons[link.crm_id]
            assert person.stamp == link.stamp, (
                f"person {link.crm_id} carries stamp {person.stamp!r}, its link {link.stamp!r}")
        unlinked = sorted(group - {l.provider_id for l in every} - handed)
        assert not unlinked, f"contacts in the sync group with no person: {unlinked}"
        by_cid = {l.crm_id for l in every}
        orphans = sorted(id for id, p in self.crm.persons.items()
                         if p.stamp and p.stamp.startswith(PREFIX) and id not in by_cid and id not in self.given_away)
        assert not orphans, f"persons stamped by this account but linked to no contact: {orphans}"
        lonely = sorted(id for id in self.user_added
                        if id in self.crm.persons and id not in self.given_away and id not in by_cid)
        assert not lonely, f"persons the user created in the CRM with no contact: {lonely}"
        for id in self.foreign:
            assert id not in by_cid, f"person {id} of another owner was linked"

    def pair_of(self, side: str, id: Any) -> tuple[str, int] | None:
        link = self.store.link(self.key, id) if side == "p" else self.store.link_by_crm(self.key, id)
        if link is None or link.state != "linked" or link.crm_id is None:
            return None
        return link.provider_id, link.crm_id

    def settle_pending(self) -> None:
        """After any pass: a pending edit both sides now agree on is done; one that was undone is lost."""
        before = {key: dict(fields) for key, fields in self.pending.items()}
        for (side, id), fields in list(self.pending.items()):
            pair = self.pair_of(side, id)
            alive = (id in self.provider.contacts and GROUP in self.provider.contacts[id][2]) if side == "p" \
                else id in self.crm.persons
            assert alive, f"{'contact' if side == 'p' else 'person'} {id} with unsynced edits {fields} was deleted"
            if pair is None or pair[1] in self.given_away:
                continue
            pid, cid = pair
            if pid not in self.provider.contacts or cid not in self.crm.persons:
                continue
            p, c = view(self.provider.contacts[pid][1]), view(self.crm.persons[cid].contact)
            other = before.get(("c", cid) if side == "p" else ("p", pid), {})
            for field, value in list(fields.items()):
                if p[field] != c[field]:
                    continue
                agreed = p[field]
                want = self.expected.get((side, id, field), (None, None))[0]
                if want is not None:
                    assert agreed == want, (
                        f"{field} of {pid}/{cid}: edited on both sides, policy {self.account.conflicts} "
                        f"wants {want!r}, both sides hold {agreed!r}")
                assert agreed == value or (field in other and agreed == other[field]), (
                    f"lost edit: {field} of {pid}/{cid} was set to {value!r} "
                    f"({'provider' if side == 'p' else 'CRM'}), both sides now hold {agreed!r}")
                del fields[field]
                # The conflict is settled: a later edit of this field (after a dirty pass,
                # which keeps the expectations) is a new question, not this one again.
                settled = self.expected.pop((side, id, field), None)
                if settled is not None:
                    self.expected.pop((*settled[1], field), None)
            if not fields:
                del self.pending[(side, id)]

    def check_no_lost_edits(self) -> None:
        """3 after a clean pass: every linked pair agrees, and no pending edit is left."""
        for link in self.linked():
            if link.crm_id in self.given_away:
                continue
            p = view(self.provider.contacts[link.provider_id][1])
            c = view(self.crm.persons[link.crm_id].contact)
            diff = {f: (p[f], c[f]) for f in p if p[f] != c[f]}
            assert not diff, f"{link.provider_id}/{link.crm_id} disagree after a clean pass (provider, CRM): {diff}"
        handed = self.handed_over()
        left = {k: v for k, v in self.pending.items() if not (k[0] == "p" and k[1] in handed)
                and not (self.pair_of(*k) and self.pair_of(*k)[1] in self.given_away)}  # type: ignore[index]
        assert not left, f"user edits not synced after a clean pass: {left}"

    def check_quiet(self) -> None:
        """6: right after a clean pass, a further pass writes nothing on either side."""
        p_mark, c_mark = len(self.provider.payloads), len(self.crm.write_log)
        sync_account(self.store, self.provider, self.crm, self.account, CRM, PassOptions(workers=1))
        p_writes, c_writes = self.provider.payloads[p_mark:], self.crm.write_log[c_mark:]
        assert not p_writes and not c_writes, (
            f"a pass right after a clean one wrote: provider {[(o, i) for o, i, _ in p_writes]}, CRM {c_writes}")
        self.snapshot()

    @invariant()
    def links_are_unique(self) -> None:
        if hasattr(self, "store"):
            self.check_structure()


# The number of examples comes from the profile (tests/conftest.py).
TwoWaySync.TestCase.settings = settings(stateful_step_count=40)
TestTwoWaySync = TwoWaySync.TestCase
