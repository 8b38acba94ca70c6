"""How contacts are prepared and compared before the planner decides anything. Pure.

`prepare` normalises and names a contact, `fit` applies what the provider and
the CRM allow (unsynced notes dropped, text cut at the CRM's documented limits),
`record_hash` is what a link remembers of the last synced record, `make_stamp`
the "Contact sync ID" every person we create carries. `SyncSettings` is the
typed settings of one account's pass, handed to the planner and the executor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from contactsync.crm.base import CrmPerson
from contactsync.limits import fit_to_limits
from contactsync.model import Contact, IssueKind, content_hash, normalise, with_name, without_notes
from contactsync.settings import ConflictPolicy, Direction


@dataclass(frozen=True)
class Policy:
    """What the provider and the CRM allow: notes synced or not, text length limits."""

    syncs_notes: bool = True
    text_limits: Mapping[str, int] = field(default_factory=dict)


def _identity(contact: Contact) -> Contact:
    return contact


# What a provider can hold of a contact (its caps, unsynced fields dropped): a pure function.
Held = Callable[[Contact], Contact]


@dataclass(frozen=True)
class SyncSettings:
    """Everything the planner needs to know about one account, as types.

    `direction` decides whether the address book is written: one-way is two-way
    with the provider's writes switched off (DESIGN §5, one engine).
    """

    account: str
    provider: str
    account_email: str
    direction: Direction = Direction.ONE_WAY
    conflicts: ConflictPolicy = ConflictPolicy.NEWEST
    policy: Policy = Policy()
    held: Held = _identity

    @property
    def two_way(self) -> bool:
        return self.direction is Direction.TWO_WAY


def fit(contact: Contact, policy: Policy) -> tuple[Contact, tuple[str, ...]]:
    """Apply the policy: drop unsynced notes, cut text at the CRM's documented limits (contactsync.limits).

    Returns the contact and a description of every cut, for the event log.
    """
    if not policy.syncs_notes and contact.notes:
        contact = without_notes(contact)
    fitted = fit_to_limits(contact, policy.text_limits)
    if fitted is contact:
        return contact, ()
    cuts = tuple(f"{i.field} {i.detail}" for i in fitted.issues if i.kind is IssueKind.CUT and i not in contact.issues)
    return fitted, cuts


# Kept in a link's base while a two-way write is in flight: the record about to be
# written. A pass killed after the write recognises it as its own, not a user edit.
INTENT = "_intent"


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


def crm_contact(person: CrmPerson, policy: Policy) -> Contact | None:
    """A CRM person as a comparable contact (normalised, fitted like the provider's)."""
    named = prepare(person.contact)
    return fit(named, policy)[0] if named is not None else None
