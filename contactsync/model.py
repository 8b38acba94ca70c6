"""The provider-neutral contact record, its normalisation and its content hash.

Adapters translate an API's resource to a :class:`Contact` and back; the engine
only ever compares normalised contacts. Labels use Pipedrive's vocabulary
(``work``, ``home``, ``mobile``, ``other``) so that the CRM side maps one to one.
Every field has an empty default, so that stored bases of older versions still
load. Photos are not part of the record (they are bytes, synced one way only):
a provider hands a photo reference beside the record (`ProviderRecord.photo`).

Birthdays are ISO 8601 strings: ``YYYY-MM-DD``, or ``--MM-DD`` when the year is
unknown (the RFC 6350 / ISO 8601:2000 form for a date without a year). A year is
never invented.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field, fields, replace
from typing import Any

from contactsync.cleaning import clean_text

LABELS = ("work", "home", "mobile", "other")


class IssueKind(enum.StrEnum):
    """What happened to a value on its way in or out; each is recorded as an event."""

    CLEANED = "cleaned"  # control characters or lone surrogates removed (contactsync.cleaning)
    UNREADABLE = "unreadable"  # cannot be parsed: left as it is on its side, never cleared
    INVALID = "invalid"  # read, but not a valid value (no digits, no e-mail form): never primary
    CUT = "cut"  # longer than the CRM's documented limit (contactsync.limits)


@dataclass(frozen=True)
class Issue:
    """One recorded problem with one field of a contact; `detail` says what, for people."""

    kind: IssueKind
    field: str
    detail: str

    def line(self) -> str:
        return f"{self.field} {self.kind.value}: {self.detail}"


@dataclass(frozen=True)
class Email:
    value: str
    label: str = "other"
    primary: bool = False


@dataclass(frozen=True)
class Phone:
    value: str
    label: str = "other"
    primary: bool = False


@dataclass(frozen=True)
class Address:
    """One postal address. `street` holds the street lines as written (number included)."""

    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    label: str = "other"

    def is_empty(self) -> bool:
        return not any((self.street, self.city, self.region, self.postal_code, self.country))

    def formatted(self) -> str:
        city_line = " ".join(part for part in (self.postal_code, self.city) if part)
        parts = [self.street.replace("\n", ", "), city_line, self.region, self.country]
        return ", ".join(part for part in parts if part)


@dataclass(frozen=True)
class Im:
    """An instant-messaging handle; `label` is the service (skype, whatsapp, …) lower-cased."""

    value: str
    label: str = "other"
    primary: bool = False


@dataclass(frozen=True)
class Contact:
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    emails: tuple[Email, ...] = ()
    phones: tuple[Phone, ...] = ()
    organization: str = ""
    job_title: str = ""
    # The primary postal address: the CRM keeps one (DESIGN §7).
    address: Address | None = None
    ims: tuple[Im, ...] = ()
    notes: str = ""
    birthday: str = ""
    # Set when `name` was derived from an e-mail or phone because the source had none.
    name_derived: bool = field(default=False, compare=False)
    # What was cleaned, cut, or could not be read on the way in; never hashed or compared.
    issues: tuple[Issue, ...] = field(default=(), compare=False)

    def unreadable(self) -> frozenset[str]:
        """The fields whose value on their side could not be read: a write leaves them as they are."""
        return frozenset(i.field for i in self.issues if i.kind is IssueKind.UNREADABLE)

    @property
    def primary_email(self) -> str | None:
        for email in self.emails:
            if email.primary:
                return email.value
        return self.emails[0].value if self.emails else None

    def to_dict(self) -> dict[str, Any]:
        """The record's fields as plain data, as `dataclasses.asdict` gives them (tuples stay
        tuples), without the fields that are not compared (they are not part of the record).
        Written out because asdict deep-copies every value: a fifth of a pass's CPU."""
        return {name: _plain(getattr(self, name)) for name in _RECORD_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contact:
        return cls(
            name=data.get("name", ""),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            emails=tuple(Email(**e) for e in data.get("emails", ())),
            phones=tuple(Phone(**p) for p in data.get("phones", ())),
            organization=data.get("organization", ""),
            job_title=data.get("job_title", ""),
            address=Address(**data["address"]) if data.get("address") else None,
            ims=tuple(Im(**i) for i in data.get("ims", ())),
            notes=data.get("notes", ""),
            birthday=data.get("birthday", ""),
        )


_RECORD_FIELDS = tuple(f.name for f in fields(Contact) if f.compare)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (Email, Phone, Address, Im)):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return value


_SPACE = re.compile(r"\s+")


def with_issues(contact: Contact, *new: Issue) -> Contact:
    """The contact with `new` issues added (each recorded once)."""
    issues = contact.issues + tuple(i for i in dict.fromkeys(new) if i not in contact.issues)
    return contact if issues == contact.issues else replace(contact, issues=issues)


def _cleaned(value: str, name: str, found: list[Issue]) -> str:
    text, done = clean_text(value)
    if done and value.strip() and not text.strip():
        # Nothing but control characters: cleaning would leave it empty, and an empty
        # value is a clearing. It is not ours to clear, so it is left as it is, on both sides.
        found.append(Issue(IssueKind.UNREADABLE, name, f"holds only control characters ({done}); left as it is"))
    elif done:
        found.append(Issue(IssueKind.CLEANED, name, done))
    return text


def clean_contact(contact: Contact) -> Contact:
    """Every text of the contact cleaned (contactsync.cleaning), each cleaning recorded."""
    found: list[Issue] = []
    changes: dict[str, Any] = {}
    for name in ("name", "first_name", "last_name", "organization", "job_title", "notes", "birthday"):
        value = getattr(contact, name)
        text = _cleaned(value, name, found) if isinstance(value, str) else ""
        if text != value:
            changes[name] = text
    for name in ("emails", "phones", "ims"):
        items = getattr(contact, name)
        cleaned = tuple(replace(i, value=_cleaned(i.value, name, found), label=_cleaned(i.label, name, found))
                        for i in items)
        if cleaned != items:
            changes[name] = cleaned
    if contact.address is not None:
        address = contact.address
        parts = {f.name: _cleaned(getattr(address, f.name), "address", found) for f in fields(address)}
        if Address(**parts) != address:
            changes["address"] = Address(**parts)
    if not changes:
        return contact
    return with_issues(replace(contact, **changes), *found)


def _text(value: str | None) -> str:
    if not value:
        return ""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", value)).strip()


def _label(label: str | None) -> str:
    label = (label or "").strip().lower()
    return label if label in LABELS else "other"


def normalise_email(value: str) -> str:
    return _text(value).lower()


def normalise_phone(value: str) -> str:
    # Keep the number as the user wrote it (formatting is meaningful to people),
    # only trimmed; comparisons for identity use `phone_digits`.
    return _text(value)


def phone_digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit() or ch == "+")


_BIRTHDAY = re.compile(r"^(?:(\d{4})|-)-(\d{2})-(\d{2})$")


def birthday_parts(value: str) -> tuple[int | None, int, int] | None:
    """(year or None, month, day) of an ISO birthday, or None when it is not one."""
    match = _BIRTHDAY.match(value.strip())
    if not match:
        return None
    year = int(match.group(1)) if match.group(1) else None
    month, day = int(match.group(2)), int(match.group(3))
    if year == 0 or not _real_date(year, month, day):
        return None
    return year, month, day


def _real_date(year: int | None, month: int, day: int) -> bool:
    # Without a year, 29 February is a real birthday: check in a leap year.
    try:
        datetime.date(year or 2000, month, day)
    except ValueError:
        return False
    return True


_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")


def is_valid_email(value: str) -> bool:
    """A local part, one @ and a dotted domain, no spaces: enough to tell an address from a note."""
    return bool(_EMAIL.match(value))


def is_valid_phone(value: str) -> bool:
    """A phone number has at least one digit ("+" or "n/a" alone is not one)."""
    return any(ch.isdigit() for ch in value)


def format_birthday(year: int | None, month: int, day: int) -> str:
    """The ISO form; a missing (None or 0) year gives ``--MM-DD``."""
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


def _multiline(value: str | None) -> str:
    """Notes keep their line breaks; only trailing spaces and outer blank lines go."""
    if not value:
        return ""
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _address(address: Address | None) -> Address | None:
    if address is None:
        return None
    street = "\n".join(_text(line) for line in address.street.splitlines() if _text(line))
    clean = Address(
        street, _text(address.city), _text(address.region), _text(address.postal_code),
        _text(address.country), _label(address.label) if address.label != "mobile" else "other",
    )
    return None if clean.is_empty() else clean


def _one_primary(items: list[Any], valid: Any = None) -> tuple[Any, ...]:
    """Exactly one valid item is primary: the first flagged one, else the first valid one."""
    if not items:
        return ()
    ok = [valid is None or valid(item.value) for item in items]
    index = next((i for i, item in enumerate(items) if item.primary and ok[i]),
                 next((i for i in range(len(items)) if ok[i]), None))
    return tuple(replace(item, primary=(i == index)) for i, item in enumerate(items))


def normalise(contact: Contact) -> Contact:
    """Trim and canonicalise every field; drop empty and duplicate values.

    Exactly one e-mail and one phone are primary (the first flagged one, else the
    first), so that two sides which disagree only on an implicit primary compare equal.
    An invalid e-mail or a phone without digits is kept (it is the user's) but is
    never primary, and is recorded; so is a birthday that is not a real date, which
    is dropped from the record (contactsync.engine.unreadable leaves it on its side).
    """
    contact = clean_contact(contact)
    found: list[Issue] = []
    emails: list[Email] = []
    seen: set[str] = set()
    for email in contact.emails:
        value = normalise_email(email.value)
        if value and value not in seen:
            seen.add(value)
            emails.append(Email(value, _label(email.label), email.primary))
    phones: list[Phone] = []
    seen = set()
    for phone in contact.phones:
        value = normalise_phone(phone.value)
        key = phone_digits(value) or value
        if value and key not in seen:
            seen.add(key)
            phones.append(Phone(value, _label(phone.label), phone.primary))
    ims: list[Im] = []
    seen_ims: set[tuple[str, str]] = set()
    for im in contact.ims:
        value, label = _text(im.value), (_text(im.label).lower() or "other")
        if value and (label, value.lower()) not in seen_ims:
            seen_ims.add((label, value.lower()))
            ims.append(Im(value, label, im.primary))
    birthday = contact.birthday.strip()
    parts = birthday_parts(birthday) if birthday else None
    if birthday and not parts:
        found.append(Issue(IssueKind.UNREADABLE, "birthday", f"'{birthday[:40]}' is not a date"))
    found += [Issue(IssueKind.INVALID, "emails", f"'{e.value[:80]}' is not an e-mail address; not made primary")
              for e in emails if not is_valid_email(e.value)]
    found += [Issue(IssueKind.INVALID, "phones", f"'{p.value[:80]}' has no digits; not made primary")
              for p in phones if not is_valid_phone(p.value)]
    first, last = _text(contact.first_name), _text(contact.last_name)
    name = _text(contact.name) or " ".join(part for part in (first, last) if part)
    return Contact(
        name=name,
        first_name=first,
        last_name=last,
        emails=_one_primary(emails, is_valid_email),
        phones=_one_primary(phones, is_valid_phone),
        organization=_text(contact.organization),
        job_title=_text(contact.job_title),
        address=_address(contact.address),
        ims=_one_primary(ims),
        notes=_multiline(contact.notes),
        # A birthday we cannot read is dropped rather than guessed at.
        birthday=format_birthday(*parts) if parts else "",
        name_derived=contact.name_derived,
        issues=with_issues(contact, *found).issues,
    )


def with_name(contact: Contact) -> Contact | None:
    """Return the contact with a name, derived from its e-mail or phone if it has none.

    Returns None when the contact has nothing usable to name a person by.
    """
    if contact.name:
        return contact
    source = contact.primary_email or (contact.phones[0].value if contact.phones else "")
    if not source:
        if contact.organization:
            return replace(contact, name=contact.organization, name_derived=True)
        return None
    return replace(contact, name=source, name_derived=True)


def synced_fields(contact: Contact) -> dict[str, Any]:
    """The fields that are compared and hashed; first/last name are only read hints."""
    data = contact.to_dict()
    data.pop("first_name")
    data.pop("last_name")
    if data.get("address"):
        # Pipedrive's address field has no label: comparing it would make every
        # labelled address look changed on each read back from the CRM.
        data["address"].pop("label")
    return data


def without_notes(contact: Contact) -> Contact:
    """For providers whose notes are not synced (Outlook.com / Office 365, DESIGN §7)."""
    return replace(contact, notes="")


def content_hash(contact: Contact) -> str:
    payload = json.dumps(synced_fields(contact), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
