"""The provider-neutral contact record, its normalisation and its content hash.

Adapters translate an API's resource to a :class:`Contact` and back; the engine
only ever compares normalised contacts. Labels use Pipedrive's vocabulary
(``work``, ``home``, ``mobile``, ``other``) so that the CRM side maps one to one.
Fields beyond name, e-mails, phones and organization (address, IM, job title,
notes, birthday, photo — DESIGN §7) are added here as new fields with empty
defaults, so that stored bases of older versions still load.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from typing import Any

LABELS = ("work", "home", "mobile", "other")


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
class Contact:
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    emails: tuple[Email, ...] = ()
    phones: tuple[Phone, ...] = ()
    organization: str = ""
    # Set when `name` was derived from an e-mail or phone because the source had none.
    name_derived: bool = field(default=False, compare=False)

    @property
    def primary_email(self) -> str | None:
        for email in self.emails:
            if email.primary:
                return email.value
        return self.emails[0].value if self.emails else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("name_derived")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contact:
        return cls(
            name=data.get("name", ""),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            emails=tuple(Email(**e) for e in data.get("emails", ())),
            phones=tuple(Phone(**p) for p in data.get("phones", ())),
            organization=data.get("organization", ""),
        )


_SPACE = re.compile(r"\s+")


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


def _one_primary(items: list[Any]) -> tuple[Any, ...]:
    if not items:
        return ()
    index = next((i for i, item in enumerate(items) if item.primary), 0)
    return tuple(replace(item, primary=(i == index)) for i, item in enumerate(items))


def normalise(contact: Contact) -> Contact:
    """Trim and canonicalise every field; drop empty and duplicate values.

    Exactly one e-mail and one phone are primary (the first flagged one, else the
    first), so that two sides which disagree only on an implicit primary compare equal.
    """
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
    first, last = _text(contact.first_name), _text(contact.last_name)
    name = _text(contact.name) or " ".join(part for part in (first, last) if part)
    return Contact(
        name=name,
        first_name=first,
        last_name=last,
        emails=_one_primary(emails),
        phones=_one_primary(phones),
        organization=_text(contact.organization),
        name_derived=contact.name_derived,
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
    return data


def content_hash(contact: Contact) -> str:
    payload = json.dumps(synced_fields(contact), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
