"""The reader: everything the planner needs from the CRM (and the store's memory of it), read first.

`read_snapshot` does all the CRM I/O of a pass before a single action is
planned (vdirsyncer builds its status from both sides the same way), so the
planner is a pure function and a dry run plans exactly what the real pass would.

A two-way pass with a CRM cursor asks the CRM what changed since (Pipedrive's
recents: one request when nothing did, deletions included) and reads in full, by
id, only the linked persons whose version moved and the user's new ones; an echo
of our own write keeps the version we stored and costs nothing. Without a cursor,
after it expired, or on a full pass, every linked person is confirmed by id, a
chunk of links at a time (the v2 list never shows deleted persons), and the
`updated_since` listing (with an hour of overlap) finds the user's persons that
are not linked yet. The cursor is stored only once the pass's changes are
committed (run.py): a pass killed before re-reads the same changes, and the
versions it stored make the ones it applied echoes. A one-way pass reads nothing
from the CRM here except, on an account's first sync, the persons it may adopt.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contactsync.crm.base import Crm, CrmPerson, PersonChange
from contactsync.engine.actions import Action, DropFailure, ForgetLink, SetLinkState
from contactsync.engine.rules import SyncSettings
from contactsync.errors import CursorExpired
from contactsync.model import Contact, normalise_email
from contactsync.store.db import Link, LinkStore

log = logging.getLogger(__name__)

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
                  adoption: AdoptionIndex | None, full: bool = False) -> CrmSnapshot:
    """All the CRM reads of one pass (two-way); a one-way pass only carries its adoption index.

    With a cursor, the CRM's list of recent changes says which persons to read (one request
    when nothing changed); without one, after it expired, or with `full`, every linked
    person is read by id and the user's persons changed since the cursor are listed."""
    if not settings.two_way:
        return CrmSnapshot(adoption=adoption)
    key = settings.account
    reading = _Reading(owner_id)
    row, start_row = store.cursor(key, CURSOR), store.cursor(key, START)
    recent = _recent(crm, row[0]) if row is not None and start_row is not None and not full else None
    cursor: str | None
    start: str | None
    if recent is not None and row is not None and start_row is not None:
        cursor, start = row[0], start_row[0]
        cursor = max([cursor, *(change.version for change in recent.values())])
        # A linked contact that failed to sync is read again: its CRM change is behind the cursor.
        failed = store.links_for(key, [f.provider_id for f in store.failures(key) if f.kind == "contact"])
        reading.read_changed(store, crm, key, recent, start, [link for link in failed.values() if link.crm_id])
    else:
        for chunk in store.link_chunks(key, ("linked", "foreign")):
            # v2 lists leave deleted persons out: a linked person is confirmed by id.
            existing = crm.get_many([link.crm_id for link in chunk if link.crm_id is not None])
            for link in chunk:
                if link.crm_id is not None:
                    reading.classify(link, existing.get(link.crm_id))
        cursor, start = reading.list_owned(store, crm, key, row, start_row)
    pending_copies = {i: Contact.from_dict(c) for i, c in store.pending_copies(key).items()}
    unclaimed = {i: p for i, p in crm.get_many(list(pending_copies)).items() if p.owner_id == owner_id}
    # New persons whose copy to the provider failed: fetched again by id, as the
    # CRM cursor has moved past them.
    retry = [f.crm_id for f in store.failures(key) if f.kind == "person" and f.crm_id is not None]
    found = crm.get_many(retry)
    linked = {link.crm_id for link in store.links_by_crm(key, retry).values() if link.state in ("linked", "foreign")}
    for crm_id in retry:
        person = found.get(crm_id)
        if person is None or person.owner_id != owner_id:
            reading.transitions.append(DropFailure(crm_id))
        elif crm_id not in linked:
            reading.changes[crm_id] = person
    return CrmSnapshot(
        changes=reading.changes, gone=frozenset(reading.gone), foreign=frozenset(reading.foreign),
        reclaimed=frozenset(reading.reclaimed), transitions=tuple(reading.transitions),
        pending_copies=pending_copies, unclaimed=unclaimed, cursor=cursor, start=start, adoption=adoption,
    )


def _recent(crm: Crm, since: str) -> dict[int, PersonChange] | None:
    """The persons changed since the cursor (the latest entry of each), or None: read everything."""
    feed = crm.recent_changes(since)
    if feed is None:
        return None
    latest: dict[int, PersonChange] = {}
    try:
        for change in feed:
            latest[change.id] = change
    except CursorExpired as exc:
        log.info("%s; reading every linked person once", exc.message)
        return None
    return latest


class _Reading:
    """What the reads of one pass found, person by person."""

    def __init__(self, owner_id: int) -> None:
        self.owner_id = owner_id
        self.changes: dict[int, CrmPerson] = {}
        self.gone: set[int] = set()
        self.foreign: set[int] = set()
        self.reclaimed: set[int] = set()
        self.transitions: list[Action] = []

    def classify(self, link: Link, person: CrmPerson | None) -> None:
        """One linked (or foreign) person as the CRM has it now (None: deleted)."""
        assert link.crm_id is not None
        crm_id = link.crm_id
        mine = person is not None and person.owner_id == self.owner_id
        if link.state == "foreign":
            if person is None:  # gone while someone else owned it: not ours to delete
                self.transitions.append(ForgetLink(link.provider_id))
            elif mine:  # handed back to the user: syncs again from here
                self.transitions.append(SetLinkState(link.provider_id, "linked"))
                self.reclaimed.add(crm_id)
            else:
                self.foreign.add(crm_id)
            if not mine:
                return
        if person is None:
            self.gone.add(crm_id)
        elif not mine:
            # Handed to someone else: never written back, never deleted (issue 5).
            self.transitions.append(SetLinkState(link.provider_id, "foreign"))
            self.foreign.add(crm_id)
        elif person.version != link.crm_version:
            self.changes[crm_id] = person

    def read_changed(self, store: LinkStore, crm: Crm, key: str, recent: dict[int, PersonChange], start: str,
                     failed: list[Link]) -> None:
        """Read in full only the persons whose version moved since we last synced them, the
        user's new ones, and those of `failed` links: our own writes and entries seen before
        keep the version we stored."""
        links = {link.crm_id: link for link in store.links_by_crm(key, list(recent)).values()}
        fetch = [link.crm_id for link in failed if link.crm_id is not None and link.crm_id not in recent
                 and link.state in ("linked", "foreign")]
        links.update((link.crm_id, link) for link in failed if link.crm_id is not None)
        for crm_id, change in recent.items():
            link = links.get(crm_id)
            if link is None:
                if change.owner_id == self.owner_id and not change.deleted and change.version > start:
                    fetch.append(crm_id)
            elif link.state == "linked" and (change.deleted or change.version != link.crm_version):
                # A deletion is read even at the version we stored: Pipedrive has listed deleted
                # items whose update_time the deletion left as it was (singer-io/tap-pipedrive#60).
                fetch.append(crm_id)
            elif link.state == "foreign" and (change.deleted or change.owner_id == self.owner_id):
                fetch.append(crm_id)  # gone, or handed back; another user's edits are not ours
        found = crm.get_many(fetch)
        for crm_id in fetch:
            link, person = links.get(crm_id), found.get(crm_id)
            if link is not None:
                self.classify(link, person)
            elif person is not None and person.owner_id == self.owner_id:
                self.changes[crm_id] = person

    def list_owned(self, store: LinkStore, crm: Crm, key: str, row: tuple[str, str] | None,
                   start_row: tuple[str, str] | None) -> tuple[str | None, str | None]:
        """The user's persons changed since the cursor (with an hour of overlap); the new cursor and start."""
        if row is None or start_row is None:
            # The first two-way pass: persons that exist now are copied to the provider
            # only once they change. "Now" is the CRM's newest update time, not our
            # clock, so that a skewed machine clock cannot hide or invent changes.
            newest = ""
            for person in crm.list_persons(owner_id=self.owner_id):
                newest = max(newest, person.version or "")
            return newest or _iso(datetime.now(UTC) - OVERLAP), newest
        cursor, start = row[0], start_row[0]
        since = _iso(_parse(row[0]) - OVERLAP)
        for person in crm.list_persons(owner_id=self.owner_id, updated_since=since):
            if person.version and person.version > (cursor or ""):
                cursor = person.version
            if person.owner_id == self.owner_id and person.version > start:
                link = store.link_by_crm(key, person.id)
                if link is None or link.state not in ("linked", "foreign"):
                    self.changes[person.id] = person
        return cursor, start


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
