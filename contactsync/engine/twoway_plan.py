"""The two-way planner: one link, its provider change and its CRM change -> actions.

Pure like plan.py: what the provider can hold of a contact (`held`) is passed in
as a function of the contact alone. One-way rules still apply to what only the
provider changed; this module adds the CRM side (DESIGN §5, two-way merge and
ownership): CRM edits go back to the provider, both-side edits are merged field
by field, a deletion on one side while the other edited keeps the edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from contactsync.crm.base import CrmPerson
from contactsync.engine.merge import Conflict, changed_fields, effective_provider, merge, preferred_side
from contactsync.engine.plan import (
    Action,
    CreatePerson,
    DeletePerson,
    ForgetLink,
    Policy,
    RecordVersion,
    SkipContact,
    UpdatePerson,
    fit,
    prepare,
)
from contactsync.model import Contact, normalise
from contactsync.providers.base import Change, ProviderDeletion, ProviderRecord
from contactsync.store.db import Link

Held = Callable[[Contact], Contact]


@dataclass(frozen=True)
class SyncBoth:
    """Write `contact` (the merge) to the CRM and/or to the provider, where it differs."""

    provider_id: str
    crm_id: int
    stamp: str
    contact: Contact
    provider_version: str
    crm_version: str
    write_crm: bool
    write_provider: bool
    conflicts: tuple[Conflict, ...] = ()
    kind: str = "sync"


@dataclass(frozen=True)
class CreateContact:
    """Create a CRM person's contact in the provider's sync group (and stamp the person)."""

    crm_id: int
    contact: Contact
    crm_version: str
    # The provider contact this one replaces (deleted there while edited in the CRM).
    replaces: str | None = None
    kind: str = "create-contact"

    @property
    def provider_id(self) -> str:
        return self.replaces or f"(new from person {self.crm_id})"


@dataclass(frozen=True)
class DeleteContact:
    """The person was deleted in the CRM: delete its contact in the provider."""

    provider_id: str
    crm_id: int
    kind: str = "delete-contact"


@dataclass(frozen=True)
class RecordCrmVersion:
    provider_id: str
    crm_version: str
    kind: str = "record-crm-version"


@dataclass(frozen=True)
class SetLinkState:
    """A person went to another owner ('foreign': neither synced back nor deleted) or came back ('linked')."""

    provider_id: str
    state: str
    kind: str = "set-link-state"


# A pending link named after the CRM person, written before a contact is created
# for it in the provider: if the pass dies before the link, the next pass claims
# the contact the create made instead of copying the person again.
PENDING_COPY = "crm-pending:"


@dataclass(frozen=True)
class ClaimContact:
    """Link a provider contact our interrupted create made to the CRM person it was made for."""

    provider_id: str
    version: str
    crm_id: int
    contact: Contact
    kind: str = "claim-contact"


@dataclass(frozen=True)
class DropFailure:
    """A failed copy of a CRM person that no longer exists: nothing left to retry."""

    provider_id: str
    kind: str = "drop-failure"


TwoWayAction = (Action | SyncBoth | CreateContact | DeleteContact | RecordCrmVersion | SetLinkState | DropFailure
                | ClaimContact)
PROVIDER_WRITES = (SyncBoth, CreateContact, DeleteContact, ClaimContact)


@dataclass(frozen=True)
class TwoWaySettings:
    policy: Policy
    conflicts: str  # newest | provider | crm
    held: Held


def crm_contact(person: CrmPerson, policy: Policy) -> Contact | None:
    """A CRM person as a comparable contact (normalised, fitted like the provider's)."""
    named = prepare(person.contact)
    return fit(named, policy)[0] if named is not None else None


def plan_link(
    link: Link,
    change: Change | None,
    person: CrmPerson | None,
    gone: bool,
    settings: TwoWaySettings,
) -> list[TwoWayAction]:
    """Plan one linked contact whose provider side, CRM side, or both changed."""
    assert link.crm_id is not None and link.base is not None
    base = Contact.from_dict(link.base)
    held = settings.held

    # The provider side: deleted, changed (in what it can hold), or the same.
    record: ProviderRecord | None = None
    p_contact: Contact | None = None
    p_changed = False
    if isinstance(change, ProviderRecord) and change.version != link.provider_version:
        named = prepare(change.contact)
        if named is None:
            return [SkipContact(change.id, "has no name, e-mail, phone or organization to name a person by", change)]
        record = change
        p_contact = effective_provider(base, fit(named, settings.policy)[0], held(base))
        p_changed = bool(changed_fields(base, p_contact))
    p_deleted = isinstance(change, ProviderDeletion)

    # The CRM side: deleted, changed, or the same. The CRM's address has no label:
    # it keeps the one the provider gave it, so the address stays in its slot.
    c_contact = crm_contact(person, settings.policy) if person is not None else None
    if c_contact is not None and c_contact.address is not None and base.address is not None:
        c_contact = replace(c_contact, address=replace(c_contact.address, label=base.address.label))
    c_changed = c_contact is not None and person is not None and person.version != link.crm_version \
        and bool(changed_fields(base, c_contact))

    if gone and p_deleted:
        return [ForgetLink(link.provider_id)]
    if gone:
        if p_changed and record is not None and p_contact is not None:  # edited in the provider: the edit wins
            return [CreatePerson(record.id, record.version, p_contact, link.stamp)]
        return [DeleteContact(link.provider_id, link.crm_id)]
    if p_deleted:
        if c_changed and person is not None and c_contact is not None:  # edited in the CRM: the edit wins
            return [CreateContact(link.crm_id, c_contact, person.version, replaces=link.provider_id)]
        return [DeletePerson(link.provider_id, link.crm_id)]

    if p_changed and not c_changed:
        assert record is not None and p_contact is not None
        return [UpdatePerson(record.id, record.version, p_contact, link.stamp, link.crm_id)]
    if c_changed and not p_changed:
        assert person is not None and c_contact is not None
        version = record.version if record is not None else (link.provider_version or "")
        write_provider = bool(changed_fields(held(base), held(c_contact)))
        return [SyncBoth(link.provider_id, link.crm_id, link.stamp, c_contact, version, person.version,
                         write_crm=False, write_provider=write_provider)]
    if p_changed and c_changed:
        assert record is not None and p_contact is not None and person is not None and c_contact is not None
        prefer = preferred_side(settings.conflicts, record.updated, person.version)
        merged, conflicts = merge(base, p_contact, c_contact, prefer)
        return [SyncBoth(
            link.provider_id, link.crm_id, link.stamp, merged, record.version, person.version,
            write_crm=bool(changed_fields(c_contact, merged)),
            write_provider=bool(changed_fields(held(p_contact), held(merged))),
            conflicts=tuple(conflicts),
        )]

    actions: list[TwoWayAction] = []
    if record is not None:
        actions.append(RecordVersion(record.id, record.version))
    if person is not None and person.version != link.crm_version:
        actions.append(RecordCrmVersion(link.provider_id, person.version))
    return actions


def plan_new_person(person: CrmPerson, settings: TwoWaySettings) -> list[TwoWayAction]:
    """A person the user owns, changed in the CRM, not linked: create it in the provider.

    A person stamped by an account (this one after a lost store, or another) is
    never copied: it belongs to that account's contact.
    """
    if person.stamp:
        return []
    contact = crm_contact(person, settings.policy)
    if contact is None:
        return []
    return [CreateContact(person.id, normalise(contact), person.version)]
