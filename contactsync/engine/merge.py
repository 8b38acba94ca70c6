"""Three-way, field-level merge for two-way sync (DESIGN §5). Pure: no I/O, no clock.

Each synced field of the provider's and the CRM's contact is compared with the
base (the record both sides held after the last sync). A field changed on one
side only takes that side; a field changed on both sides to different values is
a conflict, settled by the preferred side and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from contactsync.model import Contact, synced_fields

FIELDS = ("name", "emails", "phones", "organization", "job_title", "address", "ims", "notes", "birthday")
POLICIES = ("newest", "provider", "crm")


@dataclass(frozen=True)
class Conflict:
    field: str
    provider_value: Any
    crm_value: Any
    winner: str  # "provider" or "crm"

    def describe(self) -> str:
        loser = "crm" if self.winner == "provider" else "provider"
        kept = self.provider_value if self.winner == "provider" else self.crm_value
        lost = self.crm_value if self.winner == "provider" else self.provider_value
        return f"{self.field}: kept the {self.winner}'s {_short(kept)} over the {loser}'s {_short(lost)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def effective_provider(base: Contact, provider: Contact, held_of_base: Contact) -> Contact:
    """The provider's contact with every field it could not have held set back to the base.

    `held_of_base` is what the provider can hold of the base (its caps, unsynced
    fields): a provider value equal to it is unchanged, not a deletion.
    """
    p, h = synced_fields(provider), synced_fields(held_of_base)
    changes = {f: getattr(base, f) for f in FIELDS if p[f] == h[f]}
    return replace(provider, **changes)


def changed_fields(base: Contact, other: Contact) -> set[str]:
    b, o = synced_fields(base), synced_fields(other)
    return {f for f in FIELDS if b[f] != o[f]}


def preferred_side(policy: str, provider_updated: str | None, crm_updated: str | None) -> str:
    """Which side wins a conflict; `newest` compares the two sides' update times.

    The later edit wins, a clear included (a clear is an edit of the field). The two
    times come from two clocks of different resolution: Pipedrive's `update_time`
    has whole seconds ("2025-01-01T10:20:00Z", v2 OpenAPI), Google's
    `metadata.sources[].updateTime` is a protobuf Timestamp with 0, 3, 6 or 9
    fractional digits. Both are compared at the coarser one, whole seconds: within
    one second the order of two edits cannot be known (a fraction on one side only
    would pretend it can), and such a tie goes to the provider, as before. Edits a
    second or more apart are ordered as they happened (both services keep UTC).
    The times are a record's, not a field's: neither API says when one field
    changed, so the side edited last *anywhere* wins every field edited on both.
    """
    if policy in ("provider", "crm"):
        return policy
    p, c = _time(provider_updated), _time(crm_updated)
    if p is None or c is None:
        return "provider" if c is None else "crm"
    return "crm" if c.replace(microsecond=0) > p.replace(microsecond=0) else "provider"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def merge(base: Contact, provider: Contact, crm: Contact, prefer: str) -> tuple[Contact, list[Conflict]]:
    """Merge the two sides' changes against `base`; `prefer` settles conflicts."""
    b, p, c = synced_fields(base), synced_fields(provider), synced_fields(crm)
    values: dict[str, Any] = {}
    conflicts: list[Conflict] = []
    for field in FIELDS:
        if p[field] == c[field] or c[field] == b[field]:
            side = "provider"
        elif p[field] == b[field]:
            side = "crm"
        else:
            side = prefer
            conflicts.append(Conflict(field, getattr(provider, field), getattr(crm, field), prefer))
        values[field] = getattr(provider if side == "provider" else crm, field)
    name_from = crm if values["name"] == crm.name and values["name"] != provider.name else provider
    merged = replace(base, **values, first_name=name_from.first_name, last_name=name_from.last_name)
    return merged, conflicts
