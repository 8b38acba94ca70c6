"""What a dry run shows: each planned action as a person reads it, and what the CRM would gain.

The plan is the one the real pass would apply (DESIGN §5: no second code path);
this module only describes it: the contact's name and e-mail (for a deletion,
from the record last synced), the field-level before and after of an update, and
the organizations and custom fields the CRM does not have yet. Finding those
two only reads the CRM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contactsync.crm.base import Crm
from contactsync.engine.actions import (
    Action,
    AdoptPerson,
    CreatePerson,
    DeleteContact,
    DeletePerson,
    ForgetLink,
    SkipContact,
    SyncBoth,
    UpdatePerson,
    field_changes,
)
from contactsync.model import Contact
from contactsync.store.db import LinkStore

# Actions that move only a version token or a state in the store: not worth a line.
QUIET = ("record-version", "record-crm-version", "set-link-state", "drop-failure")


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class PlannedAction:
    action: str
    side: str
    contact: str | None
    crm_id: int | None = None
    name: str | None = None
    email: str | None = None
    reason: str | None = None
    changes: tuple[FieldChange, ...] = ()
    # Two-way "sync": the sides it writes ("crm", "provider"), as the real pass reports them.
    writes: tuple[str, ...] = ()


@dataclass
class DryRun:
    actions: list[PlannedAction] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    custom_fields: list[str] = field(default_factory=list)


def _contact_of(action: Action, store: LinkStore, account: str) -> Contact | None:
    contact = getattr(action, "contact", None)
    if isinstance(contact, Contact):
        return contact
    if isinstance(action, SkipContact) and action.record is not None:
        return action.record.contact
    link = store.link(account, action.provider_id) if isinstance(action, (DeletePerson, ForgetLink, DeleteContact)) \
        else None
    return Contact.from_dict(link.base) if link is not None and link.base else None


def _changes(action: Action) -> tuple[FieldChange, ...]:
    if isinstance(action, (UpdatePerson, SyncBoth)) and action.before is not None:
        return tuple(FieldChange(f, b, a) for f, b, a in field_changes(action.before, action.contact))
    return ()


def _writes(action: Action) -> tuple[str, ...]:
    if not isinstance(action, SyncBoth):
        return ()
    return (("crm",) if action.write_crm else ()) + (("provider",) if action.write_provider else ())


def describe(plan: Iterable[Action], store: LinkStore, account: str) -> list[PlannedAction]:
    described = []
    for action in plan:
        if action.kind in QUIET:
            continue
        contact = _contact_of(action, store, account)
        reason = getattr(action, "reason", None)
        if isinstance(action, SyncBoth) and action.conflicts:
            reason = "; ".join(c.describe() for c in action.conflicts)
        described.append(PlannedAction(
            action=action.kind, side=action.side.value, contact=action.provider_id,
            crm_id=getattr(action, "crm_id", None), name=contact.name if contact else None,
            email=contact.primary_email if contact else None, reason=reason, changes=_changes(action),
            writes=_writes(action),
        ))
    return described


def _org_names(plan: Iterable[Action]) -> set[str]:
    """Organizations the CRM side of the plan names that its contacts did not have before."""
    names: set[str] = set()
    for action in plan:
        if isinstance(action, (CreatePerson, AdoptPerson)) or (
            isinstance(action, (UpdatePerson, SyncBoth))
            and (action.before is None or action.before.organization != action.contact.organization)
            and (not isinstance(action, SyncBoth) or action.write_crm)
        ):
            name = " ".join(action.contact.organization.split())
            if name:
                names.add(name)
    return names


def dry_run(plan: list[Action], store: LinkStore, crm: Crm, account: str) -> DryRun:
    """The plan described, with the organizations and custom fields a real pass would create."""
    orgs = sorted(name for name in _org_names(plan) if crm.find_org(name) is None)
    return DryRun(describe(plan, store, account), orgs, crm.missing_fields(store.crm_fields()))
