"""The one action set of the engine: what the planner decides and the executor applies.

Every action names the side it writes (`side`): the CRM, the provider (the
address book), or only the store. One-way and two-way passes plan from this
same set; a one-way pass simply never plans a provider write.

For a dry run every action carries what a person needs to read it: the contact
(name, e-mail), and for updates the record before (`before`), so that
`field_changes` lists each field's old and new value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from contactsync.engine.events import EventKind, EventSide, tally_key
from contactsync.engine.merge import FIELDS, Conflict
from contactsync.model import Contact, synced_fields
from contactsync.providers.base import ProviderRecord


class Side(str, Enum):
    CRM = "crm"  # calls the CRM; runs on the executor's pool
    PROVIDER = "provider"  # calls the address book (and the CRM after it); runs one at a time, in order
    STORE = "store"  # touches only the store


# -- written to the CRM ------------------------------------------------------------


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
    side: ClassVar[Side] = Side.CRM


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
    side: ClassVar[Side] = Side.CRM


@dataclass(frozen=True)
class UpdatePerson:
    provider_id: str
    version: str
    contact: Contact
    stamp: str
    crm_id: int
    photo: str | None = None
    cuts: tuple[str, ...] = ()
    # The record last synced, when known: for the dry run's field-level changes.
    before: Contact | None = None
    kind: str = "update"
    side: ClassVar[Side] = Side.CRM


@dataclass(frozen=True)
class DeletePerson:
    provider_id: str
    crm_id: int
    kind: str = "delete"
    side: ClassVar[Side] = Side.CRM


@dataclass(frozen=True)
class ForgetLink:
    """Drop a link that has no live CRM person (pending or tomb-stoned) when its contact is gone.

    A pending link's create may have happened: `stamp` is then looked up and a
    person found by it is deleted, so that a crash never leaves an orphan.
    """

    provider_id: str
    stamp: str | None = None
    kind: str = "forget"
    side: ClassVar[Side] = Side.CRM


# -- written to the provider ---------------------------------------------------------


@dataclass(frozen=True)
class SyncBoth:
    """Write `contact` (the merge) to the provider and/or the CRM, where it differs."""

    provider_id: str
    crm_id: int
    stamp: str
    contact: Contact
    provider_version: str
    crm_version: str
    write_crm: bool
    write_provider: bool
    conflicts: tuple[Conflict, ...] = ()
    before: Contact | None = None
    # The provider's change merged here, kept with a failure so that the next pass
    # replays it (the incremental cursor moves past it).
    record: ProviderRecord | None = None
    kind: str = "sync"
    side: ClassVar[Side] = Side.PROVIDER


@dataclass(frozen=True)
class CreateContact:
    """Create a CRM person's contact in the provider's sync group (and stamp the person)."""

    crm_id: int
    contact: Contact
    crm_version: str
    # The provider contact this one replaces (deleted there while edited in the CRM).
    replaces: str | None = None
    kind: str = "create-contact"
    side: ClassVar[Side] = Side.PROVIDER

    @property
    def provider_id(self) -> str:
        return self.replaces or f"(new from person {self.crm_id})"


@dataclass(frozen=True)
class DeleteContact:
    """The person was deleted in the CRM: delete its contact in the provider."""

    provider_id: str
    crm_id: int
    kind: str = "delete-contact"
    side: ClassVar[Side] = Side.PROVIDER


@dataclass(frozen=True)
class ClaimContact:
    """Link a provider contact our interrupted create made to the CRM person it was made for."""

    provider_id: str
    version: str
    crm_id: int
    contact: Contact
    kind: str = "claim-contact"
    side: ClassVar[Side] = Side.PROVIDER


# -- written to the store only ---------------------------------------------------------


@dataclass(frozen=True)
class RecordVersion:
    """The version token moved but the synced fields did not: remember it, write nothing."""

    provider_id: str
    version: str
    kind: str = "record-version"
    side: ClassVar[Side] = Side.STORE


@dataclass(frozen=True)
class RecordCrmVersion:
    provider_id: str
    crm_version: str
    kind: str = "record-crm-version"
    side: ClassVar[Side] = Side.STORE


@dataclass(frozen=True)
class SetLinkState:
    """A person went to another owner ('foreign': neither synced back nor deleted) or came back ('linked')."""

    provider_id: str
    state: str
    kind: str = "set-link-state"
    side: ClassVar[Side] = Side.STORE


@dataclass(frozen=True)
class SkipContact:
    provider_id: str
    reason: str
    record: ProviderRecord | None = None
    kind: str = "skip"
    side: ClassVar[Side] = Side.STORE


@dataclass(frozen=True)
class DropFailure:
    """A failed copy of a CRM person that no longer exists (or is no longer the user's): nothing to retry."""

    crm_id: int
    kind: str = "drop-failure"
    side: ClassVar[Side] = Side.STORE

    @property
    def provider_id(self) -> str:
        return f"(person {self.crm_id})"


@dataclass(frozen=True)
class DropPendingCopy:
    """A copy to the provider that an interrupted pass began and never made: forget it."""

    crm_id: int
    kind: str = "drop-pending-copy"
    side: ClassVar[Side] = Side.STORE

    @property
    def provider_id(self) -> str:
        return f"(copy of person {self.crm_id})"


Action = (
    CreatePerson | AdoptPerson | UpdatePerson | DeletePerson | ForgetLink
    | SyncBoth | CreateContact | DeleteContact | ClaimContact
    | RecordVersion | RecordCrmVersion | SetLinkState | SkipContact | DropFailure | DropPendingCopy
)

# Held back until the end of the pass, where the safety rails see them all.
DELETIONS = (DeletePerson, ForgetLink, DeleteContact, DropPendingCopy)
# The deletions of a person or a contact, counted by the mass-deletion guard.
REAL_DELETIONS = (DeletePerson, DeleteContact)


def organizations_written(actions: list[Action]) -> set[str]:
    """The organization names that persons written to the CRM by these actions name (found or created)."""
    names: set[str] = set()
    for action in actions:
        if isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson, SyncBoth)) and action.contact.organization:
            names.add(action.contact.organization)
    return names


def planned_events(action: Action) -> list[str]:
    """The tally keys (events.py) a dry run counts for a planned action: what the real pass would record."""
    if isinstance(action, SyncBoth):
        return ([tally_key(EventSide.PROVIDER, EventKind.UPDATE)] if action.write_provider else []) \
            + ([EventKind.UPDATE.value] if action.write_crm else []) + [EventKind.CONFLICT.value] * len(action.conflicts)
    kind = _PLANNED.get(type(action))
    return [kind] if kind else []


_PLANNED: dict[type, str] = {
    CreatePerson: EventKind.CREATE.value, AdoptPerson: EventKind.ADOPT.value, UpdatePerson: EventKind.UPDATE.value,
    DeletePerson: EventKind.DELETE.value, SkipContact: EventKind.SKIP.value,
    CreateContact: tally_key(EventSide.PROVIDER, EventKind.CREATE),
    DeleteContact: tally_key(EventSide.PROVIDER, EventKind.DELETE),
    ClaimContact: tally_key(EventSide.PROVIDER, EventKind.CLAIM),
}


def field_changes(before: Contact | None, after: Contact) -> list[tuple[str, Any, Any]]:
    """Each synced field whose value differs: (field, before, after). Everything when `before` is None."""
    old = synced_fields(before) if before is not None else {}
    new = synced_fields(after)
    return [(name, old.get(name), new[name]) for name in FIELDS if old.get(name) != new[name]]
