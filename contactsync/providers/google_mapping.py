"""People API ``Person`` <-> :class:`Contact` for every field of DESIGN §7.

The reference is the discovery document shipped with google-api-python-client
(``discovery_cache/documents/people.v1.json``). Writing is read-modify-write
where the Person holds more than the Contact does: the parts of the first
organization we do not map, the non-primary addresses, the unmapped parts of the
primary address and the `type` of IM clients are kept as they are.
"""

from __future__ import annotations

import html
import re
from typing import Any

from contactsync.model import Address, Contact, Email, Im, Phone, birthday_parts, format_birthday, normalise

# The fields the mapping reads, plus memberships (group filter) and metadata (deletions).
READ_FIELDS = ("names,emailAddresses,phoneNumbers,organizations,addresses,imClients,biographies,birthdays,"
               "photos,memberships,metadata")
# `photos` is not an updatePersonFields path (discovery doc): photos change only
# through people.updateContactPhoto, so the mapping never writes one.
WRITE_FIELDS = "names,emailAddresses,phoneNumbers,organizations,addresses,imClients,biographies,birthdays"
# What update() reads back before writing, to keep what the Contact does not hold.
MERGE_FIELDS = "organizations,addresses,imClients"

# Google phone types (PhoneNumber.type) -> Pipedrive labels.
PHONE_LABELS = {
    "mobile": "mobile", "workMobile": "mobile", "home": "home", "homeFax": "home",
    "work": "work", "workFax": "work", "main": "work", "workPager": "work",
}
EMAIL_TYPES = {"home", "work", "other"}  # EmailAddress.type predefined values
ADDRESS_TYPES = {"home", "work", "other"}  # Address.type predefined values; custom -> other
# ImClient.protocol predefined values, by their lower-cased form (our label).
IM_PROTOCOLS = {p.lower(): p for p in ("aim", "msn", "yahoo", "skype", "qq", "googleTalk", "icq", "jabber",
                                       "netMeeting")}
# Output-only parts of a field; never sent back.
_OUTPUT_ONLY = ("metadata", "formattedType", "formattedValue", "formattedProtocol")


def is_primary(item: dict[str, Any]) -> bool:
    meta = item.get("metadata") or {}
    return bool(meta.get("primary") or meta.get("sourcePrimary"))


def _primary_index(items: list[dict[str, Any]]) -> int | None:
    """The item flagged primary (metadata.primary first, then sourcePrimary), else the first."""
    if not items:
        return None
    for key in ("primary", "sourcePrimary"):
        for i, item in enumerate(items):
            if (item.get("metadata") or {}).get(key):
                return i
    return 0


# -- reading -------------------------------------------------------------------

def _street(entry: dict[str, Any]) -> str:
    lines = [entry.get("streetAddress") or "", entry.get("extendedAddress") or ""]
    street = "\n".join(line for line in lines if line.strip())
    if not street and not any(entry.get(k) for k in ("city", "region", "postalCode", "country", "countryCode")):
        # Only the free-form value was given (Address.formattedValue): keep it as
        # the street rather than lose it; nothing is parsed out of it.
        street = entry.get("formattedValue") or ""
    return street


def read_address(entry: dict[str, Any] | None) -> Address | None:
    """One People API Address as ours, normalised; None when it holds nothing."""
    if not entry:
        return None
    kind = entry.get("type") or "other"
    address = Address(
        street=_street(entry),
        city=entry.get("city") or "",
        region=entry.get("region") or "",
        postal_code=entry.get("postalCode") or "",
        # Prefer the country as written; the ISO code stands in only when it is all there is.
        country=entry.get("country") or entry.get("countryCode") or "",
        label=kind if kind in ADDRESS_TYPES else "other",
    )
    return normalise(Contact(address=address)).address


def _notes(person: dict[str, Any]) -> str:
    bio = (person.get("biographies") or [{}])[0]
    value = bio.get("value") or ""
    if bio.get("contentType") == "TEXT_HTML":
        value = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>", "\n", value)
        value = html.unescape(re.sub(r"<[^>]*>", "", value))
    return value


def _birthday(person: dict[str, Any]) -> str:
    items = person.get("birthdays") or []
    index = _primary_index(items)
    if index is None:
        return ""
    item = items[index]
    date = item.get("date")
    if date:
        month, day = int(date.get("month") or 0), int(date.get("day") or 0)
        if not (month and day):
            return ""  # a year (or year and month) alone is not a birthday
        # Date doc: year 0 (omitted by proto3) means a date without a year.
        return format_birthday(int(date.get("year") or 0) or None, month, day)
    # Birthday.text "is not validated": only an ISO date is taken, nothing is guessed.
    parts = birthday_parts(item.get("text") or "")
    return format_birthday(*parts) if parts else ""


def photo_url(person: dict[str, Any]) -> str | None:
    """The URL of the contact's own photo; Google's generated initial (`default: true`) is none."""
    for photo in person.get("photos") or []:
        if not photo.get("default") and photo.get("url"):
            return str(photo["url"])
    return None


def person_to_contact(person: dict[str, Any]) -> Contact:
    """The mapped fields of a People API Person, normalised."""
    name = (person.get("names") or [{}])[0]
    emails = tuple(
        Email(e["value"], e.get("type") if e.get("type") in EMAIL_TYPES else "other", is_primary(e))
        for e in person.get("emailAddresses") or [] if e.get("value")
    )
    phones = tuple(
        Phone(p["value"], PHONE_LABELS.get(p.get("type", ""), "other"), is_primary(p))
        for p in person.get("phoneNumbers") or [] if p.get("value")
    )
    ims = tuple(
        Im(i["username"], (i.get("protocol") or "other").lower(), is_primary(i))
        for i in person.get("imClients") or [] if i.get("username")
    )
    organization = (person.get("organizations") or [{}])[0]
    addresses = person.get("addresses") or []
    index = _primary_index(addresses)
    return normalise(Contact(
        name=name.get("displayName") or name.get("unstructuredName") or "",
        first_name=name.get("givenName", ""),
        last_name=name.get("familyName", ""),
        emails=emails,
        phones=phones,
        organization=organization.get("name", ""),
        job_title=organization.get("title", ""),
        address=read_address(addresses[index]) if index is not None else None,
        ims=ims,
        notes=_notes(person),
        birthday=_birthday(person),
    ))


# -- writing -------------------------------------------------------------------

def _name(contact: Contact) -> dict[str, Any] | None:
    first, last, full = contact.first_name.strip(), contact.last_name.strip(), contact.name.strip()
    if not (first or last):
        # The service parses a free-form name into given/family itself.
        return {"unstructuredName": full} if full else None
    parts: dict[str, Any] = {}
    if first:
        parts["givenName"] = first
    if last:
        parts["familyName"] = last
    # displayName is output only (derived from the parts); keep a middle part of
    # the full name so that "Ann B. Smith" does not come back as "Ann Smith".
    if full and first and last and full.startswith(first + " ") and full.endswith(" " + last):
        middle = full[len(first):len(full) - len(last)].strip()
        if middle:
            parts["middleName"] = middle
    return parts


def _stripped(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k not in _OUTPUT_ONLY} for item in items or []]


def _set(entry: dict[str, Any], key: str, value: str) -> None:
    if value:
        entry[key] = value
    else:
        entry.pop(key, None)


def _organizations(contact: Contact, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    organizations = _stripped(current)
    if not organizations and (contact.organization or contact.job_title):
        organizations = [{}]
    if organizations:
        _set(organizations[0], "name", contact.organization)
        _set(organizations[0], "title", contact.job_title)
    return [o for o in organizations if any(v for v in o.values())]


def _address_entry(address: Address, current: dict[str, Any] | None) -> dict[str, Any]:
    """The primary address to write: the current one with only what changed replaced."""
    entry = {k: v for k, v in (current or {}).items() if k not in ("metadata", "formattedType")}
    was = read_address(current) or Address()
    if address.street != was.street:
        first, _, rest = address.street.partition("\n")
        _set(entry, "streetAddress", first)
        _set(entry, "extendedAddress", rest)
    _set_if_changed(entry, "city", address.city, was.city)
    _set_if_changed(entry, "region", address.region, was.region)
    _set_if_changed(entry, "postalCode", address.postal_code, was.postal_code)
    if address.country != was.country:
        entry.pop("countryCode", None)  # the code would contradict the new country
        _set(entry, "country", address.country)
    if address.label != was.label or "type" not in entry:
        entry["type"] = address.label
    if read_address(entry) != read_address(current):
        # formattedValue is rebuilt from the parts when the client does not set it (Address doc).
        entry.pop("formattedValue", None)
    entry["metadata"] = {"sourcePrimary": True}
    return entry


def _set_if_changed(entry: dict[str, Any], key: str, value: str, was: str) -> None:
    if value != was:
        _set(entry, key, value)


def _addresses(contact: Contact, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    index = _primary_index(current)
    others = _stripped(current)
    if index is not None:
        del others[index]
    # Compared part by part with the stored address, so both sides are normalised.
    address = normalise(Contact(address=contact.address)).address
    if address is None:
        return others
    entry = _address_entry(address, current[index] if index is not None else None)
    position = index if index is not None else 0
    return [*others[:position], entry, *others[position:]]


def _ims(contact: Contact, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept_type = {(i.get("username", ""), (i.get("protocol") or "other").lower()): i.get("type")
                 for i in current}
    out: list[dict[str, Any]] = []
    for im in contact.ims:
        item: dict[str, Any] = {"username": im.value}
        if im.label != "other":
            item["protocol"] = IM_PROTOCOLS.get(im.label, im.label)
        if kept_type.get((im.value, im.label)):
            item["type"] = kept_type[(im.value, im.label)]
        if im.primary:
            item["metadata"] = {"sourcePrimary": True}
        out.append(item)
    return out


def _birthdays(contact: Contact) -> list[dict[str, Any]]:
    parts = birthday_parts(contact.birthday) if contact.birthday else None
    if not parts:
        return []
    year, month, day = parts
    # Date doc: a date without a year leaves the year out (0).
    date = {"year": year, "month": month, "day": day} if year else {"month": month, "day": day}
    return [{"date": date}]


def contact_to_person(contact: Contact, group: str | None = None,
                      current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The People API body for the mapped fields (and, on create, the group membership).

    `current` is the stored person on update, read with ``MERGE_FIELDS``: what
    the Contact does not hold (the rest of the organization, other addresses,
    IM types) is kept instead of being wiped.
    """
    current = current or {}
    name = _name(contact)
    person: dict[str, Any] = {
        "names": [name] if name else [],
        "emailAddresses": [
            {"value": e.value, "type": e.label if e.label in EMAIL_TYPES else "other",
             **({"metadata": {"sourcePrimary": True}} if e.primary else {})}
            for e in contact.emails
        ],
        "phoneNumbers": [
            {"value": p.value, "type": p.label, **({"metadata": {"sourcePrimary": True}} if p.primary else {})}
            for p in contact.phones
        ],
        "organizations": _organizations(contact, current.get("organizations") or []),
        "addresses": _addresses(contact, current.get("addresses") or []),
        "imClients": _ims(contact, current.get("imClients") or []),
        "biographies": [{"value": contact.notes, "contentType": "TEXT_PLAIN"}] if contact.notes else [],
        "birthdays": _birthdays(contact),
    }
    if group:
        person["memberships"] = [{"contactGroupMembership": {"contactGroupResourceName": group}}]
    return person
