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

from contactsync.model import (
    Address, Contact, Email, Im, Phone, birthday_parts, format_birthday, normalise, with_issues,
)
from contactsync.providers.json_reader import FieldReader

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
# Contact attribute -> the Person field that holds it; a field whose value could not
# be read is left out of updatePersonFields, so Google keeps it as it is.
PERSON_FIELD_OF = {
    "name": "names", "emails": "emailAddresses", "phones": "phoneNumbers", "organization": "organizations",
    "job_title": "organizations", "address": "addresses", "ims": "imClients", "notes": "biographies",
    "birthday": "birthdays",
}
# Output-only parts of a field; never sent back.
_OUTPUT_ONLY = ("metadata", "formattedType", "formattedValue", "formattedProtocol")


def _meta(item: dict[str, Any]) -> dict[str, Any]:
    meta = item.get("metadata")
    return meta if isinstance(meta, dict) else {}


def is_primary(item: dict[str, Any]) -> bool:
    meta = _meta(item)
    return meta.get("primary") is True or meta.get("sourcePrimary") is True


def _primary_index(items: list[dict[str, Any]]) -> int | None:
    """The item flagged primary (metadata.primary first, then sourcePrimary), else the first."""
    if not items:
        return None
    for key in ("primary", "sourcePrimary"):
        for i, item in enumerate(items):
            if _meta(item).get(key) is True:
                return i
    return 0


def current_organization(organizations: list[dict[str, Any]]) -> int | None:
    """The first organization that is not a former one.

    Organization.current: "True if the organization is the person's current
    organization; false if the organization is a past organization" (people.v1
    discovery document). A former employer is not synced; absent means current.
    """
    return next((i for i, org in enumerate(organizations) if org.get("current") is not False), None)


# -- reading -------------------------------------------------------------------

def _street(entry: dict[str, Any], read: FieldReader) -> str:
    lines = [read.text(entry, "streetAddress", "address"), read.text(entry, "extendedAddress", "address")]
    street = "\n".join(line for line in lines if line.strip())
    if not street and not any(entry.get(k) for k in ("city", "region", "postalCode", "country", "countryCode")):
        # Only the free-form value was given (Address.formattedValue): it is kept
        # whole, nothing parsed out of it; an address of street lines alone is
        # what Pipedrive gets as its whole address (pipedrive_fields.address_value).
        street = read.text(entry, "formattedValue", "address")
    return street


def read_address(entry: dict[str, Any] | None, read: FieldReader | None = None) -> Address | None:
    """One People API Address as ours, normalised; None when it holds nothing."""
    if not entry:
        return None
    read = read or FieldReader()
    kind = read.text(entry, "type", "address") or "other"
    address = Address(
        street=_street(entry, read),
        city=read.text(entry, "city", "address"),
        region=read.text(entry, "region", "address"),
        postal_code=read.text(entry, "postalCode", "address"),
        # Prefer the country as written; the ISO code stands in only when it is all there is.
        country=read.text(entry, "country", "address") or read.text(entry, "countryCode", "address"),
        label=kind if kind in ADDRESS_TYPES else "other",
    )
    return normalise(Contact(address=address)).address


def _notes(person: dict[str, Any], read: FieldReader) -> str:
    bios = read.items(person, "biographies", "notes")
    if not bios:
        return ""
    value = read.text(bios[0], "value", "notes")
    if bios[0].get("contentType") == "TEXT_HTML":
        value = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>", "\n", value)
        value = html.unescape(re.sub(r"<[^>]*>", "", value))
    return value


def _birthday(person: dict[str, Any], read: FieldReader) -> str:
    items = read.items(person, "birthdays", "birthday")
    index = _primary_index(items)
    if index is None:
        return ""
    item = items[index]
    date = read.obj(item, "date", "birthday")
    if date:
        month, day = read.number(date, "month", "birthday"), read.number(date, "day", "birthday")
        if not (month and day):
            return ""  # a year (or year and month) alone is not a birthday
        # Date doc: year 0 (omitted by proto3) means a date without a year. An
        # impossible date is passed on as it is: normalise() records it unreadable.
        return format_birthday(read.number(date, "year", "birthday") or None, month, day)
    # Birthday.text "is not validated": only an ISO date is taken, nothing is guessed;
    # anything else is recorded unreadable by normalise() and left as it is.
    return read.text(item, "text", "birthday")


def photo_url(person: dict[str, Any]) -> str | None:
    """The URL of the contact's own photo; Google's generated initial (`default: true`) is none."""
    for photo in FieldReader().items(person, "photos", "photo"):
        url = photo.get("url")
        if photo.get("default") is not True and isinstance(url, str) and url:
            return url
    return None


def _type(item: dict[str, Any]) -> str:
    kind = item.get("type")
    return kind if isinstance(kind, str) else ""


def person_to_contact(person: dict[str, Any]) -> Contact:
    """The mapped fields of a People API Person, normalised; never raises on a dict.

    A part of the wrong JSON type is read as absent and recorded on the contact
    as unreadable, so that a write leaves that field as it is in Google.
    """
    read = FieldReader()
    names = read.items(person, "names", "name")
    name = names[0] if names else {}
    emails = tuple(
        Email(value, _type(e) if _type(e) in EMAIL_TYPES else "other", is_primary(e))
        for e in read.items(person, "emailAddresses", "emails") if (value := read.text(e, "value", "emails"))
    )
    phones = tuple(
        Phone(value, PHONE_LABELS.get(_type(p), "other"), is_primary(p))
        for p in read.items(person, "phoneNumbers", "phones") if (value := read.text(p, "value", "phones"))
    )
    ims = tuple(
        Im(value, (read.text(i, "protocol", "ims") or "other").lower(), is_primary(i))
        for i in read.items(person, "imClients", "ims") if (value := read.text(i, "username", "ims"))
    )
    organizations = read.items(person, "organizations", "organization")
    current = current_organization(organizations)
    organization = organizations[current] if current is not None else {}
    addresses = read.items(person, "addresses", "address")
    index = _primary_index(addresses)
    contact = Contact(
        name=read.text(name, "displayName", "name") or read.text(name, "unstructuredName", "name"),
        first_name=read.text(name, "givenName", "name"),
        last_name=read.text(name, "familyName", "name"),
        emails=emails,
        phones=phones,
        organization=read.text(organization, "name", "organization"),
        job_title=read.text(organization, "title", "job_title"),
        address=read_address(addresses[index], read) if index is not None else None,
        ims=ims,
        notes=_notes(person, read),
        birthday=_birthday(person, read),
    )
    return normalise(with_issues(contact, *read.issues))


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
    return [{k: v for k, v in item.items() if k not in _OUTPUT_ONLY} for item in items or []
            if isinstance(item, dict)]


def kept_fields(contact: Contact) -> set[str]:
    """The Person fields a write leaves as they are: those holding a value we could not read."""
    return {PERSON_FIELD_OF[name] for name in contact.unreadable() if name in PERSON_FIELD_OF}


def write_fields(contact: Contact) -> str:
    """updatePersonFields for `contact`: every mapped field but the ones kept as they are."""
    kept = kept_fields(contact)
    return ",".join(name for name in WRITE_FIELDS.split(",") if name not in kept)


def _set(entry: dict[str, Any], key: str, value: str) -> None:
    if value:
        entry[key] = value
    else:
        entry.pop(key, None)


def _organizations(contact: Contact, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The current organization gets the name and title; former ones are kept as they are."""
    organizations = _stripped(current)
    index = current_organization(organizations)
    if index is None and (contact.organization or contact.job_title):
        organizations.insert(0, {})
        index = 0
    if index is not None:
        _set(organizations[index], "name", contact.organization)
        _set(organizations[index], "title", contact.job_title)
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
    read = FieldReader()
    kept_type = {(read.text(i, "username", "ims"), (read.text(i, "protocol", "ims") or "other").lower()): i.get("type")
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
    current = current if isinstance(current, dict) else {}
    kept = FieldReader()  # what the stored person holds besides the contact, read as safely
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
        "organizations": _organizations(contact, kept.items(current, "organizations", "organization")),
        "addresses": _addresses(contact, kept.items(current, "addresses", "address")),
        "imClients": _ims(contact, kept.items(current, "imClients", "ims")),
        "biographies": [{"value": contact.notes, "contentType": "TEXT_PLAIN"}] if contact.notes else [],
        "birthdays": _birthdays(contact),
    }
    for key in kept_fields(contact):
        del person[key]
    if group:
        person["memberships"] = [{"contactGroupMembership": {"contactGroupResourceName": group}}]
    return person
