"""The CRM side of a two-way pass: what changed in the CRM, what was deleted there.

Linked persons are confirmed in batches through `ids` on every pass: the v2 list
never shows deleted persons, and a version that moved is a change whatever the
clocks say. The `updated_since` listing (with an hour of overlap, deduplicated
by version) only has to find persons the user created or changed that are not
linked yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from contactsync.crm.base import Crm, CrmPerson
from contactsync.engine.plan import AdoptionIndex, ForgetLink, Policy, RecordVersion, fit, plan_changes, prepare
from contactsync.engine.twoway_plan import PENDING_COPY, ClaimContact, DropFailure, SetLinkState, TwoWayAction, TwoWaySettings, plan_link, plan_new_person
from contactsync.model import Contact, synced_fields
from contactsync.providers.base import Change, ProviderDeletion, ProviderRecord
from contactsync.store.db import Link, LinkStore

OVERLAP = timedelta(hours=1)
CURSOR = "crm"
# When two-way sync began: unlinked persons last changed before it are not copied.
START = "crm-start"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class CrmSide:
    """The CRM's changes for one pass, handed out link by link to the planner."""

    key: str
    provider_kind: str
    account_email: str
    settings: TwoWaySettings
    changes: dict[int, CrmPerson] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)
    cursor: str | None = None
    start: str | None = None
    foreign: set[int] = field(default_factory=set)
    # Copies to the provider that an interrupted pass may have made: crm id -> (marker, contact).
    pending_copies: dict[int, tuple[str, Contact]] = field(default_factory=dict)
    unclaimed: dict[int, CrmPerson] = field(default_factory=dict)
    reclaimed: set[int] = field(default_factory=set)
    transitions: list[TwoWayAction] = field(default_factory=list)

    @classmethod
    def read(cls, store: LinkStore, crm: Crm, key: str, provider_kind: str, account_email: str,
             owner_id: int, settings: TwoWaySettings) -> CrmSide:
        side = cls(key, provider_kind, account_email, settings)
        linked = {link.crm_id: link for link in store.iter_links(key, ("linked", "foreign"))
                  if link.crm_id is not None}
        existing = crm.get_many(list(linked))
        for crm_id, link in linked.items():
            person = existing.get(crm_id)
            mine = person is not None and person.owner_id == owner_id
            if link.state == "foreign":
                if person is None:  # gone while someone else owned it: not ours to delete
                    side.transitions.append(ForgetLink(link.provider_id))
                elif mine:  # handed back to the user: syncs again from here
                    side.transitions.append(SetLinkState(link.provider_id, "linked"))
                    side.reclaimed.add(crm_id)
                else:
                    side.foreign.add(crm_id)
                if not mine:
                    continue
            if person is None:
                side.gone.add(crm_id)
            elif not mine:
                # Handed to someone else: never written back, never deleted (issue 5).
                side.transitions.append(SetLinkState(link.provider_id, "foreign"))
                side.foreign.add(crm_id)
            elif person.version != link.crm_version:
                side.changes[crm_id] = person
        linked_ids = set(linked)
        for link in store.iter_links(key, ("pending",)):
            if link.provider_id.startswith(PENDING_COPY) and link.base is not None:
                crm_id = int(link.provider_id.removeprefix(PENDING_COPY))
                side.pending_copies[crm_id] = (link.provider_id, Contact.from_dict(link.base))
        side.unclaimed = {i: p for i, p in crm.get_many(list(side.pending_copies)).items() if p.owner_id == owner_id}
        # New persons whose copy to the provider failed: fetched again by id, as the
        # CRM cursor has moved past them.
        retry = [f.record["crm_id"] for f in store.failures(key) if f.record and "crm_id" in f.record]
        found = crm.get_many(retry)
        for crm_id in retry:
            person = found.get(crm_id)
            if person is None or person.owner_id != owner_id:
                side.transitions.append(DropFailure(f"crm:{crm_id}"))
            elif crm_id not in linked_ids:
                side.changes[crm_id] = person
        row, start = store.cursor(key, CURSOR), store.cursor(key, START)
        if row is None or start is None:
            # The first two-way pass: persons that exist now are copied to the provider
            # only once they change. "Now" is the CRM's newest update time, not our
            # clock, so that a skewed machine clock cannot hide or invent changes.
            newest = ""
            for person in crm.list_persons(owner_id=owner_id):
                newest = max(newest, person.version or "")
            side.start = newest
            side.cursor = newest or _iso(datetime.now(UTC) - OVERLAP)
            return side
        side.cursor, side.start = row[0], start[0]
        since = _iso(_parse(row[0]) - OVERLAP)
        for person in crm.list_persons(owner_id=owner_id, updated_since=since):
            if person.version and person.version > (side.cursor or ""):
                side.cursor = person.version
            if person.id not in linked_ids and person.owner_id == owner_id and person.version > side.start:
                side.changes[person.id] = person
        return side

    def plan_page(self, page: Iterable[Change], links: dict[str, Link], adoption: AdoptionIndex | None,
                  policy: Policy) -> list[TwoWayAction]:
        latest: dict[str, Change] = {}
        for change in page:
            latest.pop(change.id, None)
            latest[change.id] = change
        actions: list[TwoWayAction] = self._take_transitions()
        for provider_id, change in latest.items():
            link = links.get(provider_id)
            if link is None and isinstance(change, ProviderRecord) and self.pending_copies:
                claim = self._claim(change)
                if claim is not None:
                    actions.append(claim)
                    continue
            if link is not None and link.crm_id in self.foreign:
                actions.extend(self._foreign(link, change))
            elif self._live(link):
                assert link is not None
                actions.extend(self._link(link, change))
            else:
                one = {provider_id: link} if link is not None else {}
                actions.extend(plan_changes(self.key, self.provider_kind, self.account_email, [change], one,
                                            adoption, policy))
        return actions

    def plan_missing(self, links: Iterable[Link], seen: set[str]) -> list[TwoWayAction]:
        """After a complete provider listing: linked contacts not in it were deleted there."""
        actions: list[TwoWayAction] = self._take_transitions()
        for link in links:
            if link.provider_id in seen:
                continue
            if link.crm_id in self.foreign:
                actions.extend(self._foreign(link, ProviderDeletion(link.provider_id)))
            elif self._live(link):
                actions.extend(self._link(link, ProviderDeletion(link.provider_id)))
            else:
                actions.extend(plan_changes(self.key, self.provider_kind, self.account_email,
                                            [ProviderDeletion(link.provider_id)], {link.provider_id: link}))
        return actions

    def plan_rest(self, store: LinkStore) -> list[TwoWayAction]:
        """CRM changes whose provider contact did not change: edits, deletions, new persons."""
        actions: list[TwoWayAction] = self._take_transitions()
        for crm_id, (marker, _) in sorted(self.pending_copies.items()):
            # The interrupted create never happened: drop the marker, copy the person again.
            actions.append(ForgetLink(marker))
            person = self.unclaimed.get(crm_id)
            if person is not None:
                self.changes.setdefault(crm_id, person)
        self.pending_copies.clear()
        for crm_id in sorted(self.gone):
            link = store.link_by_crm(self.key, crm_id)
            if link is not None and link.base is not None:
                actions.extend(plan_link(link, None, None, True, self.settings))
        self.gone.clear()
        for crm_id, person in sorted(self.changes.items()):
            link = store.link_by_crm(self.key, crm_id)
            if link is None:
                actions.extend(plan_new_person(person, self.settings))
            elif self._live(link):
                actions.extend(plan_link(replace(link, state="linked"), None, person, False, self.settings))
        self.changes.clear()
        return actions

    def _claim(self, record: ProviderRecord) -> ClaimContact | None:
        """The contact an interrupted copy made, recognised by its content."""
        named = prepare(record.contact)
        if named is None:
            return None
        held = self.settings.held
        mine = synced_fields(held(fit(named, self.settings.policy)[0]))
        for crm_id, (_, contact) in list(self.pending_copies.items()):
            if synced_fields(held(contact)) == mine:
                del self.pending_copies[crm_id]
                return ClaimContact(record.id, record.version, crm_id, contact)
        return None

    def _take_transitions(self) -> list[TwoWayAction]:
        taken, self.transitions = self.transitions, []
        return taken

    def _live(self, link: Link | None) -> bool:
        """A link two-way sync works on: linked (or handed back this pass), with a base."""
        return (link is not None and link.crm_id is not None and link.base is not None
                and (link.state == "linked" or link.crm_id in self.reclaimed))

    def _foreign(self, link: Link, change: Change | None) -> list[TwoWayAction]:
        """A contact whose person another user owns: its changes and deletion stay on the provider side."""
        if isinstance(change, ProviderDeletion):
            return [ForgetLink(link.provider_id)]
        if isinstance(change, ProviderRecord) and change.version != link.provider_version:
            return [RecordVersion(change.id, change.version)]
        return []

    def _link(self, link: Link, change: Change | None) -> list[TwoWayAction]:
        assert link.crm_id is not None
        link = replace(link, state="linked")
        person = self.changes.pop(link.crm_id, None)
        gone = link.crm_id in self.gone
        self.gone.discard(link.crm_id)
        return plan_link(link, change, person, gone, self.settings)
