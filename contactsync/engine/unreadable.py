"""Values contactsync cannot read are never destroyed, on either side (issue 11).

A side's reader records a field it could not parse ("next tuesday" in Pipedrive's
Birthday, a list where Google sends an object) as an ``unreadable`` issue and reads
it as empty. Merged naively, that empty value looks like a deletion by the user
and would be written over the real value on both sides. :func:`settle_unreadable`
runs after the merge and before any write, and for every such field:

* the side that holds the unreadable value gets a write that leaves the field
  out (adapters never send a field whose contact carries an ``unreadable``
  issue for it), so the value stays exactly as the user typed it;
* the other side keeps its own value of that field: nothing is copied over it,
  neither the emptiness nor a guess;
* one issue per field says so, for the event log and ``status``.

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


@dataclass(frozen=True)
class Settled:
    """What to write to each side, and what was left alone."""

    to_provider: Contact
    to_crm: Contact
    issues: tuple[Issue, ...] = ()


def _keep(target: Contact, own: Contact | None, field: str, unreadable_here: bool, where: str) -> Contact:
    """`target` with `field` as this side has it: left out of the write, or its own value."""
    if unreadable_here:
        issue = Issue(IssueKind.UNREADABLE, field, f"left as it is in {where}")
        return with_issues(target, issue)
    if own is None:
        # Nothing on this side yet (a create): the other side's value is unknown, so none is written.
        empty = Contact()
        values: dict[str, Any] = {a: getattr(empty, a) for a in _ATTRIBUTES[field]}
    else:
        values = {a: getattr(own, a) for a in _ATTRIBUTES[field]}
    return replace(target, **values)


def settle_unreadable(merged: Contact, provider: Contact | None, crm: Contact | None,
                      provider_name: str = "the address book", crm_name: str = "the CRM") -> Settled:
    """The merged contact as it may be written to each side, unreadable values left untouched.

    `provider` and `crm` are the contacts as read from each side (with their
    issues), None for a side the contact does not exist on yet.
    """
    on_provider = provider.unreadable() if provider is not None else frozenset()
    on_crm = crm.unreadable() if crm is not None else frozenset()
    to_provider = replace(merged, issues=())
    to_crm = replace(merged, issues=())
    issues: list[Issue] = []
    for field in FIELDS:
        here_p, here_c = field in on_provider, field in on_crm
        if not (here_p or here_c):
            continue
        to_provider = _keep(to_provider, provider, field, here_p, provider_name)
        to_crm = _keep(to_crm, crm, field, here_c, crm_name)
        where = " and ".join(n for n, here in ((provider_name, here_p), (crm_name, here_c)) if here)
        issues.append(Issue(IssueKind.UNREADABLE, field,
                            f"could not be read in {where}: left as it is there and not copied across"))
    return Settled(to_provider, to_crm, tuple(issues))
