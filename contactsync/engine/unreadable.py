"""Values contactsync cannot read are never destroyed, on either side (issue 11).

A side's reader records a field it could not parse ("next tuesday" in Pipedrive's
Birthday, 30 February, a list where Google sends an object) as an ``unreadable``
issue and reads it as empty. Merged as it is, that empty value looks like a
deletion by the user and would be written over the real value on both sides.

:func:`settle_unreadable` runs before the merge. For every field unreadable on
either side:

* both sides' contacts take the last synced value of that field (the base), so
  the merge sees no change in it and copies nothing across, neither the
  emptiness nor a guess;
* the contact carries an ``unreadable`` issue for the field, and every adapter
  leaves a field so marked out of its writes: each side keeps exactly what it
  holds (the unreadable value on its side, its own value on the other);
* the issues say so, for the event log and ``status``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from contactsync.model import Contact, Issue, IssueKind, with_issues

# Contact attributes that travel together: the name parts with the name.
_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "name": ("name", "first_name", "last_name"), "emails": ("emails",), "phones": ("phones",),
    "organization": ("organization",), "job_title": ("job_title",), "address": ("address",),
    "ims": ("ims",), "notes": ("notes",), "birthday": ("birthday",),
}
FIELDS = tuple(_ATTRIBUTES)
_EMPTY = Contact()


@dataclass(frozen=True)
class Settled:
    """The sides as the merge may see them, and the fields every write leaves alone."""

    provider: Contact | None
    crm: Contact | None
    fields: frozenset[str]
    issues: tuple[Issue, ...] = ()

    def mark(self, contact: Contact) -> Contact:
        """`contact` (a merge result, a write) with the held fields marked: adapters leave them out."""
        return with_issues(contact, *self.issues) if self.fields else contact


def unreadable_fields(*sides: Contact | None) -> frozenset[str]:
    found: set[str] = set()
    for side in sides:
        if side is not None:
            found |= side.unreadable()
    return frozenset(f for f in found if f in _ATTRIBUTES)


def _hold(contact: Contact | None, fields: frozenset[str], base: Contact | None) -> Contact | None:
    if contact is None:
        return None
    source = base if base is not None else _EMPTY
    values: dict[str, Any] = {a: getattr(source, a) for f in fields for a in _ATTRIBUTES[f]}
    return replace(contact, **values)


def settle_unreadable(base: Contact | None, provider: Contact | None, crm: Contact | None,
                      provider_name: str = "the address book", crm_name: str = "the CRM") -> Settled:
    """Each side with its unreadable fields (either side's) held at the base, before the merge.

    `provider` and `crm` are the contacts as read (with their issues), None for a
    side not read or not there yet; `base` the last synced record, None for a new one.
    """
    on_provider = unreadable_fields(provider)
    on_crm = unreadable_fields(crm)
    fields = on_provider | on_crm
    issues = tuple(
        Issue(IssueKind.UNREADABLE, field,
              "could not be read in " + " and ".join(
                  n for n, here in ((provider_name, field in on_provider), (crm_name, field in on_crm)) if here)
              + ": left as it is on both sides")
        for field in FIELDS if field in fields
    )
    settled = Settled(_hold(provider, fields, base), _hold(crm, fields, base), fields, issues)
    return replace(settled, provider=settled.mark(settled.provider) if settled.provider else None,
                   crm=settled.mark(settled.crm) if settled.crm else None)
