"""The pure planner: (links, provider changes, adoption candidates) -> typed actions.

No I/O, no clock. `run.py` feeds it one page of changes at a time and, after a
complete listing, the links that were not seen; `apply.py` executes what it returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from contactsync.model import Contact, content_hash, normalise, normalise_email, with_name, without_notes
from contactsync.providers.base import Change, ProviderDeletion, ProviderRecord, ProviderSkip
from contactsync.store.db import Link


@dataclass(frozen=True)
class CreatePerson:
    provider_id: str
    version: str
    contact: Contact
    stamp: str
    # True when an earlier create may have happened (a pending link): look the stamp up first.
    recover: bool = False
    photo: str | None = None
    cuts: tuple[str, ...] = ()
    kind: str = "create"


@dataclass(frozen=True)
class AdoptPerson:
    """Link an existing CRM person instead of creating one, then write the contact to it."""

    provider_id: str
    version: str
    contact: Contact
    stamp: str
    crm_id: int
    reason: str
    photo: str | None = None
    cuts: tuple[str, ...] = ()
    kind: str = "adopt"


@dataclass(frozen=True)
class UpdatePerson:
    provider_id: str
    version: str
    contact: Contact
    stamp: str
    crm_id: int
    photo: str | None = None
    cuts: tuple[str, ...] = ()
    kind: str = "update"


@dataclass(frozen=True)
class DeletePerson:
    provider_id: str
    crm_id: int
    kind: str = "delete"


@dataclass(frozen=True)
class ForgetLink:
    """Drop a link that has no live CRM person (pending or tomb-stoned) when its contact is gone.

    A pending link's create may have happened: `stamp` is then looked up and a
    person found by it is deleted, so that a crash never leaves an orphan.
    """

    provider_id: str
    stamp: str | None = None
    kind: str = "forget"


@dataclass(frozen=True)
class RecordVersion:
    """The version token moved but the synced fields did not: remember it, write nothing."""

    provider_id: str
    version: str
    kind: str = "record-version"


@dataclass(frozen=True)
class SkipContact:
    provider_id: str
    reason: str
    record: ProviderRecord | None = None
    kind: str = "skip"


Action = CreatePerson | AdoptPerson | UpdatePerson | DeletePerson | ForgetLink | RecordVersion | SkipContact

# Actions that write to the CRM; the others only touch the store.
WRITES = (CreatePerson, AdoptPerson, UpdatePerson, DeletePerson)


@dataclass
class AdoptionIndex:
    """CRM persons the user owns, for the first sync: by stamp and by primary e-mail.

    `claimed` grows as the planner hands persons out, so that two contacts never
    adopt the same person within one pass.
    """

    by_stamp: dict[str, int] = field(default_factory=dict)
    by_email: dict[str, list[int]] = field(default_factory=dict)
    use_email: bool = True
    claimed: set[int] = field(default_factory=set)

    def match(self, stamp: str, contact: Contact) -> tuple[int | None, str]:
        crm_id = self.by_stamp.get(stamp)
        if crm_id is not None and crm_id not in self.claimed:
            self.claimed.add(crm_id)
            return crm_id, "found by its Contact sync ID"
        if not self.use_email or not contact.primary_email:
            return None, ""
        candidates = [c for c in self.by_email.get(normalise_email(contact.primary_email), []) if c not in self.claimed]
        if len(candidates) == 1:
            self.claimed.add(candidates[0])
            return candidates[0], f"adopted by e-mail {contact.primary_email}"
        if len(candidates) > 1:
            return None, f"{len(candidates)} persons share {contact.primary_email}; created a new one"
        return None, ""


@dataclass(frozen=True)
class Policy:
    """What the provider and the CRM allow: notes synced or not, text length limits."""

    syncs_notes: bool = True
    text_limits: Mapping[str, int] = field(default_factory=dict)


_TEXT_FIELDS = ("name", "organization", "job_title", "notes")


def fit(contact: Contact, policy: Policy) -> tuple[Contact, tuple[str, ...]]:
    """Apply the policy: drop unsynced notes, cut text at the CRM's documented limits.

    Returns the contact and a description of every cut, for the event log.
    """
    if not policy.syncs_notes and contact.notes:
        contact = without_notes(contact)
    cuts: list[str] = []
    changes: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        limit = policy.text_limits.get(name)
        value: str = getattr(contact, name)
        if limit and len(value) > limit:
            changes[name] = value[:limit]
            cuts.append(f"{name} cut from {len(value)} to {limit} characters (the CRM's limit)")
    return (replace(contact, **changes) if changes else contact), tuple(cuts)


def record_hash(contact: Contact, photo: str | None) -> str:
    """The hash stored with a link: the synced fields and which photo the contact has."""
    if photo is None:
        return content_hash(contact)
    return content_hash(contact) + ":" + hashlib.sha256(photo.encode("utf-8")).hexdigest()[:16]


def make_stamp(provider: str, account_email: str, provider_id: str) -> str:
    return f"{provider}:{account_email.lower()}:{provider_id}"


def prepare(contact: Contact) -> Contact | None:
    """Normalise and name a contact; None when it has nothing to name a person by."""
    return with_name(normalise(contact))


def plan_changes(
    account: str,
    provider: str,
    account_email: str,
    changes: Iterable[Change],
    links: dict[str, Link],
    adoption: AdoptionIndex | None = None,
    policy: Policy = Policy(),
) -> list[Action]:
    """Plan one page of provider changes against the links of those contacts."""
    latest: dict[str, Change] = {}
    for change in changes:  # a contact seen twice in a page: the later entry wins
        latest.pop(change.id, None)
        latest[change.id] = change
    actions: list[Action] = []
    for provider_id, change in latest.items():
        link = links.get(provider_id)
        if isinstance(change, ProviderDeletion):
            actions.extend(_plan_deletion(link))
            continue
        if isinstance(change, ProviderSkip):
            actions.append(SkipContact(provider_id, change.reason))
            continue
        actions.extend(_plan_upsert(provider, account_email, change, link, adoption, policy))
    return actions


def _plan_deletion(link: Link | None) -> list[Action]:
    if link is None:
        return []
    if link.state == "linked" and link.crm_id is not None:
        return [DeletePerson(link.provider_id, link.crm_id)]
    return [ForgetLink(link.provider_id, link.stamp if link.state == "pending" else None)]


def _plan_upsert(
    provider: str,
    account_email: str,
    record: ProviderRecord,
    link: Link | None,
    adoption: AdoptionIndex | None,
    policy: Policy,
) -> list[Action]:
    if link is not None and link.state == "tombstone":
        # Deleted in the CRM during one-way sync: never re-created (DESIGN §5).
        return [RecordVersion(record.id, record.version)] if record.version != link.provider_version else []
    if link is not None and link.state == "linked" and link.provider_version == record.version:
        return []  # a replayed or duplicate change entry
    named = prepare(record.contact)
    if named is None:
        return [SkipContact(record.id, "has no name, e-mail, phone or organization to name a person by", record)]
    contact, cuts = fit(named, policy)
    photo = record.photo
    stamp = link.stamp if link is not None else make_stamp(provider, account_email, record.id)
    if link is None:
        if adoption is not None:
            crm_id, reason = adoption.match(stamp, contact)
            if crm_id is not None:
                return [AdoptPerson(record.id, record.version, contact, stamp, crm_id, reason, photo, cuts)]
        return [CreatePerson(record.id, record.version, contact, stamp, photo=photo, cuts=cuts)]
    if link.state == "pending" or link.crm_id is None:
        return [CreatePerson(record.id, record.version, contact, stamp, recover=True, photo=photo, cuts=cuts)]
    if link.hash == record_hash(contact, photo):
        return [RecordVersion(record.id, record.version)]
    return [UpdatePerson(record.id, record.version, contact, stamp, link.crm_id, photo, cuts)]


def plan_missing(links: Iterable[Link], seen: set[str]) -> list[Action]:
    """After a complete listing: every linked contact not seen was deleted or left the group."""
    actions: list[Action] = []
    for link in links:
        if link.provider_id not in seen:
            actions.extend(_plan_deletion(link))
    return actions
