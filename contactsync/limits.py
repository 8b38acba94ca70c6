"""Every field's length limit in one table, and the one function that cuts to it.

Pipedrive's documented maximum lengths, by `Contact` attribute:

* ``varchar`` custom fields: "Text (up to 255 characters)"; ``text``: "Long text
  (up to 65k characters)" — the field_type table of POST /v1/personFields (v1
  OpenAPI document; also support.pipedrive.com "What types of custom fields are
  there?"). "65k" is read as 65,000: cutting a little early is safe, late is not.
* person and organization ``name``: GET /v1/personFields and /v1/organizationFields
  list ``name`` as a ``varchar`` field, so the varchar limit applies.
* "Instant messenger" is a ``text`` field holding every handle, one per line
  (crm/pipedrive_fields.py): its whole value counts, so handles are dropped from
  the end, and a single handle longer than the limit is cut.
* No limit is documented for the address field or its subfields, e-mails or phones.

A cut is recorded on the contact as an ``Issue`` of kind ``cut``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from contactsync.model import Contact, Im, Issue, IssueKind, with_issues

VARCHAR_LIMIT = 255
TEXT_LIMIT = 65_000

# `Contact` attribute -> the most characters Pipedrive keeps of it.
PIPEDRIVE_LIMITS: dict[str, int] = {
    "name": VARCHAR_LIMIT,
    "organization": VARCHAR_LIMIT,
    "job_title": VARCHAR_LIMIT,
    "birthday": VARCHAR_LIMIT,
    "notes": TEXT_LIMIT,
    "ims": TEXT_LIMIT,  # the "Instant messenger" field, all handles together
}
TEXT_FIELDS = ("name", "organization", "job_title", "birthday", "notes")


def ims_length(ims: tuple[Im, ...]) -> int:
    """The length of the "Instant messenger" value Pipedrive would be sent."""
    from contactsync.crm.pipedrive_fields import ims_value  # the one serialisation of the field

    return len(ims_value(ims) or "")


def _fit_ims(ims: tuple[Im, ...], limit: int) -> tuple[Im, ...]:
    kept = list(ims)
    while len(kept) > 1 and ims_length(tuple(kept)) > limit:
        kept.pop()
    if kept and ims_length(tuple(kept)) > limit:
        over = ims_length(tuple(kept)) - limit
        kept[0] = replace(kept[0], value=kept[0].value[: max(0, len(kept[0].value) - over)])
    if kept and not kept[0].value:
        kept = []
    if kept and not any(im.primary for im in kept):
        kept[0] = replace(kept[0], primary=True)
    return tuple(kept)


def fit_to_limits(contact: Contact, limits: Mapping[str, int]) -> Contact:
    """The contact with every field cut to `limits`, each cut recorded as an issue."""
    changes: dict[str, object] = {}
    cuts: list[Issue] = []
    for name in TEXT_FIELDS:
        limit = limits.get(name)
        value: str = getattr(contact, name)
        if limit and len(value) > limit:
            changes[name] = value[:limit]
            cuts.append(Issue(IssueKind.CUT, name,
                              f"cut from {len(value)} to {limit} characters (the CRM's limit)"))
    limit = limits.get("ims")
    if limit and contact.ims and ims_length(contact.ims) > limit:
        before = ims_length(contact.ims)
        ims = _fit_ims(contact.ims, limit)
        changes["ims"] = ims
        dropped = len(contact.ims) - len(ims)
        cuts.append(Issue(IssueKind.CUT, "ims",
                          f"cut from {before} to {ims_length(ims)} characters (the CRM's limit of {limit})"
                          + (f"; {dropped} handle{'s' if dropped > 1 else ''} left out" if dropped else "")))
    if not changes:
        return contact
    return with_issues(replace(contact, **changes), *cuts)  # type: ignore[arg-type]
