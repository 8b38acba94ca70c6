"""Mapping of the `Contact` fields Pipedrive has no writable native field for.

Job title, postal address, instant messengers, notes and birthday live in custom
person fields, created once at setup (DESIGN §7). The v2 person does carry native
`postal_address`, `notes`, `im`, `birthday` and `job_title`, but only "if contact
sync is enabled for the company" (getPersons in the v2 document): they belong to
Pipedrive's own Contact Sync and are read-only — addPerson/updatePerson accept none
of them — so we use custom fields instead.
"""

from __future__ import annotations

from typing import Any

from contactsync.crm.base import STAMP_FIELD
from contactsync.limits import PIPEDRIVE_LIMITS
from contactsync.model import Address, Contact, Im, Issue, IssueKind, birthday_parts

ADDRESS_FIELD = "Postal address"
IM_FIELD = "Instant messenger"
NOTES_FIELD = "Notes"
BIRTHDAY_FIELD = "Birthday"
JOB_TITLE_FIELD = "Job title"

# The custom person fields we need: name -> Pipedrive field type (POST /v1/personFields).
PERSON_FIELDS: dict[str, str] = {
    STAMP_FIELD: "varchar",
    ADDRESS_FIELD: "address",
    # Several handles in one field, one per line: a `text` field, not `varchar`,
    # so that many handles never hit the 255-character cap.
    IM_FIELD: "text",
    NOTES_FIELD: "text",
    # Not `date`: a Pipedrive date field holds a full YYYY-MM-DD, and a birthday
    # without a year must stay without one (DESIGN §7) — inventing a year (1900,
    # 0000…) would be read back as a real one. The ISO string (`--MM-DD` when the
    # year is unknown) round-trips unchanged in a varchar.
    BIRTHDAY_FIELD: "varchar",
    JOB_TITLE_FIELD: "varchar",
}

# Pipedrive's documented maximum lengths live in one table: contactsync.limits.
TEXT_LIMITS = PIPEDRIVE_LIMITS

# Subfields of an address custom field in v2 `custom_fields` (the v2 form of v1's
# `<key>_route`, `<key>_locality`, … keys; same names as the person's native
# `postal_address` object in the v2 document).
ADDRESS_SUBFIELDS = (
    "subpremise", "street_number", "route", "sublocality", "locality",
    "admin_area_level_1", "admin_area_level_2", "country", "postal_code", "formatted_address",
)
_PRIMARY_MARK = " (primary)"


def address_value(address: Address | None) -> dict[str, str] | None:
    """The v2 value of an address custom field: the whole street line goes to `route`
    (house numbers are not split out — that would be guessing), `value` is the
    one-line form people see.

    An address of street lines alone is a free-form one (Google's formattedValue,
    or typed into one box): it goes whole into `value`, where Pipedrive keeps the
    whole address, and no subfield is guessed from it. It reads back the same.
    """
    if address is None or address.is_empty():
        return None
    if not any((address.city, address.region, address.postal_code, address.country)):
        return {"value": address.street}
    value = {"value": address.formatted(), "route": address.street, "locality": address.city,
             "admin_area_level_1": address.region, "postal_code": address.postal_code,
             "country": address.country}
    return {k: v for k, v in value.items() if v}


def read_address(value: Any) -> Address | None:
    if isinstance(value, str):
        return Address(street=value) if value.strip() else None
    if not isinstance(value, dict):
        return None
    parts = {k: _text(value.get(k)) for k in ADDRESS_SUBFIELDS}
    street = parts["route"]
    if not any(parts[k] for k in ("route", "locality", "admin_area_level_1", "postal_code", "country")):
        # Typed into Pipedrive as free text (not geocoded): keep it as the street.
        street = _text(value.get("value")) or parts["formatted_address"]
    elif parts["street_number"] and parts["street_number"] not in street:
        # Geocoded by Pipedrive into number and route: put the line back together.
        street = f"{parts['street_number']} {street}".strip()
    address = Address(street=street, city=parts["locality"], region=parts["admin_area_level_1"],
                      postal_code=parts["postal_code"], country=parts["country"])
    return None if address.is_empty() else address


def ims_value(ims: tuple[Im, ...]) -> str | None:
    """One `service: handle` per line. The primary is the first line; should the
    record list it elsewhere, its line is marked instead, so the order survives."""
    if not ims:
        return None
    lines = [f"{im.label or 'other'}: {im.value}" for im in ims]
    index = next((i for i, im in enumerate(ims) if im.primary), 0)
    if index:
        lines[index] += _PRIMARY_MARK
    return "\n".join(lines)


def read_ims(value: Any) -> tuple[Im, ...]:
    text = _text(value)
    ims: list[Im] = []
    marked = None
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if line.endswith(_PRIMARY_MARK):
            line, marked = line[: -len(_PRIMARY_MARK)].rstrip(), len(ims)
        service, sep, handle = line.partition(": ")
        if not sep or not service.strip():
            service, handle = "other", line  # typed in by a person without a service
        ims.append(Im(handle.strip(), service.strip().lower()))
    primary = marked if marked is not None else 0
    return tuple(Im(im.value, im.label, i == primary) for i, im in enumerate(ims))


# Contact attribute -> the custom field that holds it.
FIELD_OF = {"job_title": JOB_TITLE_FIELD, "address": ADDRESS_FIELD, "ims": IM_FIELD, "notes": NOTES_FIELD,
            "birthday": BIRTHDAY_FIELD}


def custom_values(contact: Contact, keys: dict[str, str], creating: bool) -> dict[str, Any]:
    """The `custom_fields` of a write; on update an empty field is sent as null (clears it).

    A field whose value could not be read is not sent: Pipedrive keeps it as it is.
    """
    values: dict[str, Any] = {
        JOB_TITLE_FIELD: contact.job_title or None,
        ADDRESS_FIELD: address_value(contact.address),
        IM_FIELD: ims_value(contact.ims),
        NOTES_FIELD: contact.notes or None,
        BIRTHDAY_FIELD: contact.birthday or None,
    }
    out: dict[str, Any] = {}
    kept = {FIELD_OF[name] for name in contact.unreadable() if name in FIELD_OF}
    for name, value in values.items():
        if name in kept:
            continue
        key = keys.get(name)
        if key is None:
            if value is None:
                continue  # nothing to write to a field we never set up
            raise KeyError(name)
        if value is not None or not creating:
            out[key] = value
    return out


def contact_fields(custom: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """The `Contact` attributes read from a v2 person's `custom_fields`, `issues` included.

    A value of a type the field cannot hold, or a birthday that is not a date
    ("next tuesday" typed by hand), is read as empty and recorded unreadable: a
    write then leaves it as it is (custom_values), and it is never cleared.
    """
    def get(name: str) -> Any:
        key = keys.get(name)
        return custom.get(key) if key else None

    issues: list[Issue] = []

    def unreadable(name: str, attribute: str, why: str) -> None:
        issues.append(Issue(IssueKind.UNREADABLE, attribute, f"'{name}' {why}; left as it is"))

    def text(name: str, attribute: str) -> str:
        value = get(name)
        if _meaningful(value) and not _text(value).strip():
            unreadable(name, attribute, f"holds {type(value).__name__}, not text")
        return _text(value)

    address_raw = get(ADDRESS_FIELD)
    address = read_address(address_raw)
    if _meaningful(address_raw) and (address is None or (
            isinstance(address_raw, dict) and any(not isinstance(v, str | None) for v in address_raw.values()))):
        unreadable(ADDRESS_FIELD, "address", "is not an address")
    birthday = text(BIRTHDAY_FIELD, "birthday").strip()
    if birthday and birthday_parts(birthday) is None:
        unreadable(BIRTHDAY_FIELD, "birthday", f"holds '{birthday[:40]}', not a date")
        birthday = ""
    return {
        "job_title": text(JOB_TITLE_FIELD, "job_title"),
        "address": address,
        "ims": read_ims(text(IM_FIELD, "ims")),
        "notes": text(NOTES_FIELD, "notes"),
        "birthday": birthday,
        "issues": tuple(issues),
    }


def _meaningful(value: Any) -> bool:
    """Whether a raw value holds something a person may have put there."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict):
        return any(_meaningful(v) for v in value.values())
    if isinstance(value, list):
        return any(_meaningful(v) for v in value)
    return value is not None


def _text(value: Any) -> str:
    # Text custom fields are plain strings in v2; accept {"value": …} as well.
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) else ""
