"""The reader: everything the planner needs from the CRM (and the store's memory of it), read first.

`read_snapshot` does all the CRM I/O of a pass before a single action is
planned (vdirsyncer builds its status from both sides the same way), so the
planner is a pure function and a dry run plans exactly what the real pass would.

Linked persons are confirmed in batches through `ids` on every two-way pass:
the v2 list never shows deleted persons, and a version that moved is a change
whatever the clocks say. The `updated_since` listing (with an hour of overlap,
deduplicated by version) only has to find persons the user created or changed
that are not linked yet. A one-way pass reads nothing from the CRM here except,
on an account's first sync, the persons it may adopt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contactsync.crm.base import Crm, CrmPerson
from contactsync.engine.actions import Action, DropFailure, ForgetLink, SetLinkState
from contactsync.engine.rules import SyncSettings
from contactsync.model import Contact, normalise_email
from contactsync.store.db import LinkStore

OVERLAP = timedelta(hours=1)
CURSOR = "crm"
# When two-way sync began: unlinked persons last changed before it are not copied.
START = "crm-start"


@dataclass(frozen=True)
class AdoptionIndex:
    """CRM persons the user owns, for the first sync: by stamp and by primary e-mail."""

    by_stamp: Mapping[str, int] = field(default_factory=dict)
    by_email: Mapping[str, list[int]] = field(default_factory=dict)
    use_email: bool = True

    def match(self, stamp: str, contact: Contact, claimed: set[int]) -> tuple[int | None, str]:
        """The person `contact` adopts, if any; the id is added to `claimed` (never adopted twice)."""
        crm_id = self.by_stamp.get(stamp)
        if crm_id is not None and crm_id not in claimed:
            claimed.add(crm_id)
            return crm_id, "found by its Contact sync ID"
        if not self.use_email or not contact.primary_email:
            return None, ""
        candidates = [c for c in self.by_email.get(normalise_email(contact.primary_email), []) if c not in claimed]
        if len(candidates) == 1:
            claimed.add(candidates[0])
            return candidates[0], f"adopted by e-mail {contact.primary_email}"
        if len(candidates) > 1:
            return None, f"{len(candidates)} persons share {contact.primary_email}; created a new one"
        return None, ""


@dataclass(frozen=True)
class CrmSnapshot:
    """The CRM's side of one pass, as plain data. Empty for a one-way pass (adoption aside)."""

    # Persons changed since the last pass: linked ones whose version moved, new ones the user owns.
    changes: Mapping[int, CrmPerson] = field(default_factory=dict)
    # Linked persons deleted in the CRM.
    gone: frozenset[int] = frozenset()
    # Linked persons another user owns: never written back, never deleted (issue 5).
    foreign: frozenset[int] = frozenset()
    # Persons handed back to the user this pass: synced again from here.
    reclaimed: frozenset[int] = frozenset()
    # Link state changes found while reading (owner changes, dropped failures).
    transitions: tuple[Action, ...] = ()
    # Copies to the provider that an interrupted pass may have made: crm id -> the contact sent.
    # (Written before each create: if the pass dies before the link, this pass claims
    # the contact that create made instead of copying the person again.)
    pending_copies: Mapping[int, Contact] = field(default_factory=dict)
    # The persons of those pending copies that still exist and are the user's.
    unclaimed: Mapping[int, CrmPerson] = field(default_factory=dict)
    # The CRM cursor and start to store when the pass ends.
    cursor: str | None = None
    start: str | None = None
    # First sync only: persons the user owns that a contact may adopt instead of creating one.
    adoption: AdoptionIndex | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def read_snapshot(store: LinkStore, crm: Crm, settings: SyncSettings, owner_id: int,
                  adoption: AdoptionIndex | None) -> CrmSnapshot:
    """All the CRM reads of one pass (two-way); a one-way pass only carries its adoption index."""
    if not settings.two_way:
        return CrmSnapshot(adoption=adoption)
    key = settings.account
    changes: dict[int, CrmPerson] = {}
    gone: set[int] = set()
    foreign: set[int] = set()
    reclaimed: set[int] = set()
    transitions: list[Action] = []
    linked = {link.crm_id: link for link in store.iter_links(key, ("linked", "foreign")) if link.crm_id is not None}
    existing = crm.get_many(list(linked))
    for crm_id, link in linked.items():
        person = existing.get(crm_id)
        mine = person is not None and person.owner_id == owner_id
        if link.state == "foreign":
            if person is None:  # gone while someone else owned it: not ours to delete
                transitions.append(ForgetLink(link.provider_id))
            elif mine:  # handed back to the user: syncs again from here
                transitions.append(SetLinkState(link.provider_id, "linked"))
                reclaimed.add(crm_id)
            else:
                foreign.add(crm_id)
            if not mine:
                continue
        if person is None:
            gone.add(crm_id)
        elif not mine:
            # Handed to someone else: never written back, never deleted (issue 5).
            transitions.append(SetLinkState(link.provider_id, "foreign"))
            foreign.add(crm_id)
        elif person.version != link.crm_version:
            changes[crm_id] = person
    pending_copies = {i: Contact.from_dict(c) for i, c in store.pending_copies(key).items()}
    unclaimed = {i: p for i, p in crm.get_many(list(pending_copies)).items() if p.owner_id == owner_id}
    # New persons whose copy to the provider failed: fetched again by id, as the
    # CRM cursor has moved past them.
    retry = [f.crm_id for f in store.failures(key) if f.kind == "person" and f.crm_id is not None]
    found = crm.get_many(retry)
    for crm_id in retry:
        person = found.get(crm_id)
        if person is None or person.owner_id != owner_id:
            transitions.append(DropFailure(crm_id))
        elif crm_id not in linked:
            changes[crm_id] = person
    row, start_row = store.cursor(key, CURSOR), store.cursor(key, START)
    if row is None or start_row is None:
        # The first two-way pass: persons that exist now are copied to the provider
        # only once they change. "Now" is the CRM's newest update time, not our
        # clock, so that a skewed machine clock cannot hide or invent changes.
        newest = ""
        for person in crm.list_persons(owner_id=owner_id):
            newest = max(newest, person.version or "")
        start = newest
        cursor = newest or _iso(datetime.now(UTC) - OVERLAP)
    else:
        cursor, start = row[0], start_row[0]
        since = _iso(_parse(row[0]) - OVERLAP)
        for person in crm.list_persons(owner_id=owner_id, updated_since=since):
            if person.version and person.version > (cursor or ""):
                cursor = person.version
            if person.id not in linked and person.owner_id == owner_id and person.version > start:
                changes[person.id] = person
    return CrmSnapshot(
        changes=changes, gone=frozenset(gone), foreign=frozenset(foreign), reclaimed=frozenset(reclaimed),
        transitions=tuple(transitions), pending_copies=pending_copies, unclaimed=unclaimed,
        cursor=cursor, start=start, adoption=adoption,
    )


def read_adoption(crm: Crm, owner_id: int, provider: str, account_email: str, use_email: bool) -> AdoptionIndex:
    """The persons the user owns, by the stamp of this account and by primary e-mail (first sync)."""
    by_stamp: dict[str, int] = {}
    by_email: dict[str, list[int]] = {}
    prefix = f"{provider}:{account_email.lower()}:"
    for person in crm.list_persons(owner_id=owner_id):
        if person.stamp:
            if person.stamp.startswith(prefix):
                by_stamp[person.stamp] = person.id
            continue  # stamped by another account: never adopted by e-mail
        email = person.contact.primary_email
        if email:
            by_email.setdefault(normalise_email(email), []).append(person.id)
    return AdoptionIndex(by_stamp, by_email, use_email)
