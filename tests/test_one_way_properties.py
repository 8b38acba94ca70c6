"""One-way sync as a Hypothesis state machine over the in-memory adapters.

Users add, edit, delete and regroup contacts in the address book, delete persons
in the CRM, someone else adds persons; creates and listings fail now and then;
passes run in between. After every pass: the address book was never written,
nothing of another owner was touched, no contact has two persons, nothing was
deleted past the guard. After a clean pass: every contact of the group has its
person with the contact's fields, a person the user deleted is never re-created,
no person stamped by the account is left without its contact, and the next pass
writes nothing.
"""

from __future__ import annotations

import collections
from dataclasses import replace
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from contactsync.config import AccountConfig
from contactsync.engine.run import PassOptions, sync_account
from contactsync.errors import ApiError, SafetyStop
from contactsync.model import Contact
from contactsync.store import LinkStore
from fakes import FakeProvider
from test_two_way_properties import CRM, ME, NAMES, OTHER, RecordingCrm, contacts, edits, view

ACCOUNT = AccountConfig(provider="google", email="ann@example.com")
GROUP = "all"


class OneWaySync(RuleBasedStateMachine):
    @initialize(first=st.lists(contacts, max_size=6))
    def start(self, first: list[Contact]) -> None:
        self.store, self.provider, self.crm = LinkStore.memory(), FakeProvider(), RecordingCrm()
        self.key = ACCOUNT.key
        for contact in first:
            self.provider.put(contact)
        self.theirs = {self.crm.add(Contact(name="Zed Other"), OTHER)}
        # Contacts whose person the user deleted in the CRM: never re-created.
        self.deleted_persons: dict[str, int] = {}
        self.faults: set[str] = set()
        self._pass(full=False, allow_mass=False)

    def in_group(self) -> list[str]:
        return sorted(id for id, (_, _, groups) in self.provider.contacts.items() if GROUP in groups)

    def persons_of_links(self) -> dict[str, int]:
        return {link.provider_id: link.crm_id for link in self.store.iter_links(self.key, ("linked",))
                if link.crm_id in self.crm.persons}

    # -- users ------------------------------------------------------------------------

    @rule(contact=contacts)
    def add_contact(self, contact: Contact) -> None:
        self.provider.put(contact)

    @precondition(lambda self: self.in_group())
    @rule(data=st.data(), edit=edits)
    def edit_contact(self, data: st.DataObject, edit: tuple[str, Any]) -> None:
        id = data.draw(st.sampled_from(self.in_group()), label="contact")
        _, contact, groups = self.provider.contacts[id]
        self.provider.put(replace(contact, **{edit[0]: edit[1]}), id=id, groups=groups)

    @precondition(lambda self: self.in_group())
    @rule(data=st.data())
    def delete_contact(self, data: st.DataObject) -> None:
        self.provider.remove(data.draw(st.sampled_from(self.in_group()), label="contact"))

    @precondition(lambda self: self.in_group())
    @rule(data=st.data())
    def move_out_of_group(self, data: st.DataObject) -> None:
        id = data.draw(st.sampled_from(self.in_group()), label="contact")
        _, contact, _ = self.provider.contacts[id]
        self.provider.put(contact, id=id, groups={"elsewhere"})

    @precondition(lambda self: self.persons_of_links())
    @rule(data=st.data())
    def delete_person(self, data: st.DataObject) -> None:
        pid, crm_id = data.draw(st.sampled_from(sorted(self.persons_of_links().items())), label="person")
        self.crm.remove(crm_id)
        self.deleted_persons[pid] = crm_id

    @rule()
    def someone_else_adds_a_person(self) -> None:
        self.theirs.add(self.crm.add(Contact(name="Yan Theirs"), OTHER))

    @rule(name=st.sampled_from(NAMES))
    def fail_one_crm_create(self, name: str) -> None:
        from contactsync.model import normalise

        self.crm.fail_create_once.add(normalise(Contact(name=name)).name)
        self.faults.add("crm-create")

    @rule()
    def fail_listing(self) -> None:
        self.provider.fail_listing = True
        self.faults.add("listing")

    # -- passes -----------------------------------------------------------------------

    @rule(allow_mass=st.sampled_from((False, False, True)))
    def sync(self, allow_mass: bool) -> None:
        self._pass(False, allow_mass)

    @rule(allow_mass=st.sampled_from((False, False, True)))
    def full_sync(self, allow_mass: bool) -> None:
        self._pass(True, allow_mass)

    def _pass(self, full: bool, allow_mass: bool) -> None:
        faults, self.faults = self.faults, set()
        linked = self.store.count_links(self.key)["linked"]
        mark = len(self.crm.write_log)
        stopped: Exception | None = None
        options = PassOptions(full=full, allow_mass_delete=allow_mass, workers=1)
        dry = None
        if not faults:  # a dry run plans what the real pass then does (DESIGN §5: no second code path)
            try:
                dry = sync_account(self.store, self.provider, self.crm, ACCOUNT, CRM, replace(options, dry_run=True))
            except SafetyStop:
                pass
            assert len(self.crm.write_log) == mark, "a dry run wrote to the CRM"
        try:
            real = sync_account(self.store, self.provider, self.crm, ACCOUNT, CRM, options)
            if dry is not None:
                # An update of a person deleted in the CRM meanwhile is found out only by
                # sending it ("gone"): the dry run, which sends nothing, counts it an update.
                done = dict(real.counts, update=real.counts["update"] + real.counts["gone"])
                counted = ("create", "update", "delete", "adopt", "skip")
                assert {k: dry.counts[k] for k in counted} == {k: done.get(k, 0) for k in counted}, (
                    f"the dry run planned {dict(dry.counts)}, the pass did {dict(real.counts)}")
        except SafetyStop as exc:
            stopped = exc
        except ApiError as exc:
            assert "listing" in faults, f"a pass raised {exc!r} without a failed listing"
            stopped = exc
        finally:
            self.provider.fail_listing = False
            self.crm.fail_create_once.clear()
        writes = self.crm.write_log[mark:]
        assert self.provider.writes == [], "one-way sync wrote to the address book"
        for op, id, owner in writes:
            assert owner in (ME, None), f"{op} of person {id} of owner {owner}"
        if stopped is None and not allow_mass:
            deleted = sum(op == "delete" for op, _, _ in writes)
            assert deleted <= max(5, linked * 0.10), f"a pass deleted {deleted} of {linked} without consent"
        self.check_structure()
        if stopped is None and not faults:
            self.check_consistent()
            self.check_quiet()

    # -- invariants -------------------------------------------------------------------

    def check_structure(self) -> None:
        every = list(self.store.iter_links(self.key, ("pending", "linked", "tombstone")))
        crm_ids = collections.Counter(l.crm_id for l in every if l.crm_id is not None)
        assert all(n == 1 for n in crm_ids.values()), f"persons linked twice: {crm_ids}"
        stamps = collections.Counter(p.stamp for p in self.crm.persons.values() if p.stamp)
        assert all(n == 1 for n in stamps.values()), f"stamps on two persons: {stamps}"
        for pid, crm_id in self.deleted_persons.items():
            assert crm_id not in self.crm.persons
            stamp = f"google:ann@example.com:{pid}"
            assert stamp not in stamps, f"person of {pid} deleted in the CRM was re-created"
        assert all(id in self.crm.persons for id in self.theirs), "a person of another owner was deleted"

    def check_consistent(self) -> None:
        """After a pass with no fault: each contact of the group has its person, with its fields."""
        links = {l.provider_id: l for l in self.store.iter_links(self.key, ("pending", "linked", "tombstone"))}
        group = set(self.in_group())
        for pid in sorted(group - set(self.deleted_persons)):
            link = links.get(pid)
            assert link is not None and link.state == "linked", f"contact {pid} has no person ({link})"
            person = self.crm.persons.get(link.crm_id or -1)
            assert person is not None, f"contact {pid}: its person {link.crm_id} does not exist"
            assert view(person.contact) == view(self.provider.contacts[pid][1]), f"contact {pid} differs"
        ours = {p.stamp: id for id, p in self.crm.persons.items() if p.stamp}
        orphans = [s for s in ours if s.removeprefix("google:ann@example.com:") not in group]
        assert not orphans, f"persons whose contact left the group: {orphans}"

    def check_quiet(self) -> None:
        mark = len(self.crm.write_log)
        sync_account(self.store, self.provider, self.crm, ACCOUNT, CRM, PassOptions(workers=1))
        assert self.crm.write_log[mark:] == [], f"a pass after a clean one wrote {self.crm.write_log[mark:]}"


OneWaySync.TestCase.settings = settings(stateful_step_count=30)
TestOneWaySync = OneWaySync.TestCase
