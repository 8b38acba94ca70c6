"""Microsoft Graph `contact` <-> provider-neutral `Contact` (DESIGN §7).

Graph v1.0 quirks this mapping lives with (resource: contact,
https://learn.microsoft.com/graph/api/resources/contact):

* e-mail addresses carry no type, so they read as label ``other``; the first is primary.
* Phones are split by kind: ``businessPhones`` (work), ``homePhones`` (home) and one
  ``mobilePhone``. There is no "other" phone in v1.0: ``other`` phones are written to
  ``homePhones`` and read back as ``home``.
* The service refuses more than 3 e-mail addresses or 2 business phones with a 400
  ("The multi value property EmailAddresses has 4 entries, that exceeds the max allowed
  value of 3", microsoftgraph/microsoft-graph-docs#15276). We never send what does not
  fit: :func:`contact_to_graph` returns the overflow so the engine can record it (the
  values stay in the CRM). homePhones and imAddresses are capped the same way by
  Outlook's form (2 and 3); we apply those caps too.
* Three postal-address slots (home/business/other); the CRM keeps one. We read the
  first non-empty of business, home, other, and write into the slot matching the
  label, leaving the other slots alone.
* ``birthday`` is a DateTimeOffset; we keep its date part. Graph cannot hold a
  birthday without a year, so a ``--MM-DD`` birthday is not written (reported as
  overflow) — a year is never invented.
* ``personalNotes`` is not synced for Outlook.com / Office 365 (DESIGN §7).
* ``displayName`` is always sent: "later updates to other properties may cause an
  automatically generated value to overwrite the displayName value you have specified.
  To preserve a pre-existing value, always include it as displayName in an update
  operation" (contact-update doc).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contactsync.model import Address, Contact, Email, Im, Phone, birthday_parts, normalise, with_issues
from contactsync.providers.json_reader import FieldReader

MAX_EMAILS = 3
MAX_BUSINESS_PHONES = 2
MAX_HOME_PHONES = 2
MAX_IMS = 3
# The properties the mapping reads; sent as $select on listings and delta.
SELECT = (
    "givenName", "surname", "displayName", "emailAddresses", "businessPhones", "homePhones",
    "mobilePhone", "companyName", "jobTitle", "homeAddress", "businessAddress", "otherAddress",
    "imAddresses", "birthday",
)
# Contact.address label -> Graph slot, in the order a primary address is read.
ADDRESS_SLOTS = {"work": "businessAddress", "home": "homeAddress", "other": "otherAddress"}
# IM URI schemes written by Outlook/Teams and common clients -> Im label.
IM_SCHEMES = {"sip": "sip", "skype": "skype", "xmpp": "xmpp", "msnim": "msn", "aim": "aim",
              "ymsgr": "yahoo", "whatsapp": "whatsapp", "tg": "telegram", "msteams": "teams"}
IM_PREFIXES = {label: scheme for scheme, label in IM_SCHEMES.items()}
# Contact attribute -> the Graph properties that hold it; a field whose value could
# not be read is left out of the PATCH, which keeps what it does not name.
GRAPH_PROPERTIES_OF = {
    "name": ("displayName", "givenName", "surname"), "emails": ("emailAddresses",),
    "phones": ("businessPhones", "homePhones", "mobilePhone"), "organization": ("companyName",),
    "job_title": ("jobTitle",), "address": tuple(ADDRESS_SLOTS.values()), "ims": ("imAddresses",),
    "birthday": ("birthday",),
}


@dataclass(frozen=True)
class Overflow:
    """A value Graph cannot hold; it stays in the CRM and is recorded by the engine."""

    field: str
    value: str
    reason: str


def _address(data: dict[str, Any], label: str, read: FieldReader) -> Address | None:
    if not data:
        return None
    address = Address(
        street=read.text(data, "street", "address"), city=read.text(data, "city", "address"),
        region=read.text(data, "state", "address"), postal_code=read.text(data, "postalCode", "address"),
        country=read.text(data, "countryOrRegion", "address"), label=label,
    )
    return None if address.is_empty() else address


def _im(value: str) -> Im:
    scheme, sep, rest = value.partition(":")
    label = IM_SCHEMES.get(scheme.strip().lower()) if sep else None
    return Im(rest.strip(), label) if label and rest.strip() else Im(value, "other")


def _im_address(im: Im) -> str:
    """The imAddresses entry of an Im: `scheme:value` for a known service.

    A value that already carries its scheme is not prefixed twice; any other value
    is, even when it holds a colon ("sip:ann@host:5060" reads as Im("ann@host:5060",
    "sip") and must be written back as it was read).
    """
    scheme = IM_PREFIXES.get(im.label)
    if scheme is None or im.value.lower().startswith(scheme + ":"):
        return im.value
    return f"{scheme}:{im.value}"


def graph_birthday(value: str | None) -> str:
    """The date of a Graph birthday ("1985-04-12T00:00:00Z") as ``YYYY-MM-DD``.

    "" when there is none; a value that is not a date is passed on as it is, for
    normalise() to record it unreadable (and the write to leave it alone).
    """
    if not value:
        return ""
    date = value[:10]
    return date if birthday_parts(date) else value


def graph_to_contact(item: dict[str, Any]) -> Contact:
    """The mapped fields of a Graph contact, normalised (notes are never read); never raises on a dict.

    A property of the wrong JSON type is read as absent and recorded on the contact
    as unreadable, so that a write leaves it as it is in Outlook.
    """
    read = FieldReader()
    values = [read.text(e, "address", "emails") for e in read.items(item, "emailAddresses", "emails")]
    emails = tuple(Email(value, "other", i == 0) for i, value in enumerate(v for v in values if v))
    phones = [Phone(p, "work") for p in read.strings(item, "businessPhones", "phones") if p]
    mobile = read.text(item, "mobilePhone", "phones")
    if mobile:
        phones.append(Phone(mobile, "mobile"))
    phones += [Phone(p, "home") for p in read.strings(item, "homePhones", "phones") if p]
    address = next((a for label, slot in ADDRESS_SLOTS.items()
                    if (a := _address(read.obj(item, slot, "address"), label, read)) is not None), None)
    contact = Contact(
        name=read.text(item, "displayName", "name"),
        first_name=read.text(item, "givenName", "name"),
        last_name=read.text(item, "surname", "name"),
        emails=emails,
        phones=tuple(phones),
        organization=read.text(item, "companyName", "organization"),
        job_title=read.text(item, "jobTitle", "job_title"),
        address=address,
        ims=tuple(_im(v) for v in read.strings(item, "imAddresses", "ims") if v),
        birthday=graph_birthday(read.text(item, "birthday", "birthday")),
    )
    return normalise(with_issues(contact, *read.issues))


def _capped(values: list[str], cap: int, field: str, out: list[Overflow]) -> list[str]:
    out.extend(Overflow(field, v, f"Microsoft Graph keeps at most {cap}") for v in values[cap:])
    return values[:cap]


def primary_address_slot(item: dict[str, Any] | None) -> str | None:
    """The slot the current primary address was read from (None when all are empty)."""
    read = FieldReader()
    for label, slot in ADDRESS_SLOTS.items():
        if _address(read.obj(item or {}, slot, "address"), label, read) is not None:
            return slot
    return None


def contact_to_graph(contact: Contact, current: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Overflow]]:
    """Split a contact into the Graph body to send and the values Graph cannot hold.

    Pure. `current` is the stored Graph contact on update: its primary-address slot
    is cleared when the address moved to another slot (so that it reads back as
    written), and every other slot is left alone. Cleared scalar fields are sent as
    null and cleared collections as [], because a PATCH keeps what it does not name.
    """
    dropped: list[Overflow] = []
    emails = [e.value for e in sorted(contact.emails, key=lambda e: not e.primary)]
    emails = _capped(emails, MAX_EMAILS, "email", dropped)
    ordered = sorted(contact.phones, key=lambda p: not p.primary)
    business = _capped([p.value for p in ordered if p.label == "work"], MAX_BUSINESS_PHONES, "phone", dropped)
    mobiles = [p.value for p in ordered if p.label == "mobile"]
    mobile = _capped(mobiles, 1, "phone", dropped)
    home = _capped([p.value for p in ordered if p.label in ("home", "other")], MAX_HOME_PHONES, "phone", dropped)
    ims = [_im_address(i) for i in contact.ims]
    ims = _capped(ims, MAX_IMS, "im", dropped)
    parts = birthday_parts(contact.birthday) if contact.birthday else None
    birthday = None
    if parts and parts[0]:
        birthday = f"{parts[0]:04d}-{parts[1]:02d}-{parts[2]:02d}T00:00:00Z"
    elif contact.birthday:
        dropped.append(Overflow("birthday", contact.birthday, "Microsoft Graph cannot hold a birthday without a year"))
    body: dict[str, Any] = {
        "displayName": contact.name or " ".join(p for p in (contact.first_name, contact.last_name) if p),
        "givenName": contact.first_name or None,
        "surname": contact.last_name or None,
        "emailAddresses": [{"address": v, "name": v} for v in emails],
        "businessPhones": business,
        "homePhones": home,
        "mobilePhone": mobile[0] if mobile else None,
        "companyName": contact.organization or None,
        "jobTitle": contact.job_title or None,
        "imAddresses": ims,
        "birthday": birthday,
    }
    if not (contact.first_name or contact.last_name) and contact.name:
        # Outlook files a contact by its given name; without one it shows "(no name)".
        body["givenName"] = contact.name
    old_slot = primary_address_slot(current)
    if contact.address is not None:
        a = contact.address
        slot = ADDRESS_SLOTS.get(a.label, "otherAddress")
        body[slot] = {"street": a.street, "city": a.city, "state": a.region,
                      "postalCode": a.postal_code, "countryOrRegion": a.country}
        if old_slot and old_slot != slot:
            body[old_slot] = {}
    elif old_slot:
        body[old_slot] = {}
    for name in contact.unreadable():
        for key in GRAPH_PROPERTIES_OF.get(name, ()):
            body.pop(key, None)
    return body, dropped
