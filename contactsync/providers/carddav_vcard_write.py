"""Writing vCards: a new card, and an update that edits only the lines of changed fields.

An update never re-serialises the parsed card (see carddav_vcard: vobject rewrites
properties it does not model). The logical lines of a mapped field are replaced only
when that field changed, an old line that still says what an item says is kept as it
was (parameters, Apple label groups and all), and every other line is copied untouched.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from contactsync.model import Address, Contact, Email, Im, Phone, birthday_parts, normalise
# The reading side's helpers: one parser of content lines for both directions.
from contactsync.providers.carddav_vcard import (
    APPLE_OMIT_YEAR, FIELD_PROPS, GROUP_MEMBER, LABEL_SCHEME, SERVICE_NAMES, Card, MalformedCard, _ims, _is_pref,
    _label, _lines, _split_value, _text, _types, escape, fold, line_name, logical_lines, parse, read_card,
)


def _params(types: Iterable[str], pref: bool, v4: bool) -> str:
    kinds = [t for t in types if t]
    out = ""
    if pref and not v4:
        kinds.append("pref")
    if kinds:
        out += ";TYPE=" + ",".join(kinds)
    if pref and v4:
        out += ";PREF=1"
    return out


def _email_line(email: Email, v4: bool) -> str:
    kinds = [] if email.label == "other" else [email.label.upper() if not v4 else email.label]
    if not v4:
        kinds.insert(0, "INTERNET")
    return "EMAIL" + _params(kinds, email.primary, v4) + ":" + escape(email.value)


def _phone_line(phone: Phone, v4: bool) -> str:
    kind = {"mobile": "cell", "work": "work", "home": "home"}.get(phone.label, "")
    return "TEL" + _params([kind if v4 else kind.upper()], phone.primary, v4) + ":" + escape(phone.value)


def _im_line(im: Im, v4: bool) -> str:
    scheme = LABEL_SCHEME.get(im.label) or (im.label if re.fullmatch(r"[a-z][a-z0-9+.-]*", im.label) else "im")
    service = SERVICE_NAMES.get(im.label)
    params = f";X-SERVICE-TYPE={service}" if service and not v4 else ""
    if im.primary:
        params += ";PREF=1" if v4 else ";TYPE=pref"
    # The handle is part of a URI: IMPP is not TEXT, so only line breaks need care.
    return f"IMPP{params}:{scheme}:{im.value.replace(chr(10), ' ')}"


def _name_lines(contact: Contact, old_n: str | None) -> list[str]:
    first, last = contact.first_name, contact.last_name
    if not (first or last) and contact.name:
        # No name parts given (a CRM person has only a name): Apple's clients show N
        # before FN, so N must follow the new name; the last word is taken as the family name.
        words = contact.name.rsplit(" ", 1)
        first, last = (words[0], words[1]) if len(words) == 2 else ("", words[0])
    parts = ["", "", "", "", ""]
    if old_n is not None:
        _, _, value = _split_value(old_n)
        old = _split_components(value)
        parts[2:5] = (old + ["", "", "", "", ""])[2:5]  # keep additional names, prefix and suffix
    parts[0], parts[1] = escape(last), escape(first)
    return ["FN:" + escape(contact.name), "N:" + ";".join(parts)]


def _split_components(value: str) -> list[str]:
    return re.split(r"(?<!\\);", value)


def _address_line(address: Address, v4: bool) -> str:
    label = address.label if address.label in ("work", "home") else ""
    kind = label if v4 else label.upper()
    parts = ["", "", address.street, address.city, address.region, address.postal_code, address.country]
    return "ADR" + _params([kind], False, v4) + ":" + ";".join(escape(p) for p in parts)


def _birthday_line(value: str, v4: bool) -> str:
    parts = birthday_parts(value)
    if parts is None:
        return ""
    year, month, day = parts
    if year is None:
        if v4:
            return f"BDAY:--{month:02d}{day:02d}"
        return f"BDAY;X-APPLE-OMIT-YEAR={APPLE_OMIT_YEAR}:{APPLE_OMIT_YEAR}-{month:02d}-{day:02d}"
    return f"BDAY:{year:04d}{month:02d}{day:02d}" if v4 else f"BDAY:{year:04d}-{month:02d}-{day:02d}"


def _org_line(organization: str, old: str | None) -> str:
    units: list[str] = []
    if old is not None:
        units = _split_components(_split_value(old)[2])[1:]
    return "ORG:" + ";".join([escape(organization), *units])


def _line_item(name: str, line: str, version: str) -> tuple[Any, bool] | None:
    """What one e-mail, phone or IM line of a card maps to, without its primary flag, and its pref."""
    try:
        card = parse(f"BEGIN:VCARD\r\nVERSION:{version}\r\nFN:x\r\n{line}\r\nEND:VCARD\r\n")
    except MalformedCard:
        return None
    items: list[Any]
    if name == "emails":
        items = [Email(_text(x.value), _label(_types(x)), _is_pref(x)) for x in _lines(card, "EMAIL")]
    elif name == "phones":
        items = [Phone(_text(x.value).strip().removeprefix("tel:"), _label(_types(x), mobile=True), _is_pref(x))
                 for x in _lines(card, "TEL")]
    else:
        items = [*_ims(card)]
    if len(items) != 1:
        return None
    blank = Contact()
    single = (replace(blank, emails=tuple(items)) if name == "emails" else
              replace(blank, phones=tuple(items)) if name == "phones" else replace(blank, ims=tuple(items)))
    normal: tuple[Any, ...] = getattr(normalise(single), name)
    return (replace(normal[0], primary=False), items[0].primary) if normal else None


def _reused(name: str, items: tuple[Any, ...], old: list[str], version: str, v4: bool) -> list[str]:
    """Lines for a list field: an old line that already says what an item says is kept as it
    was (with its parameters and Apple label group); only new or changed items get new lines."""
    available = [(line, _line_item(name, line, version)) for line in old]
    out: list[str] = []
    for item in items:
        key = (replace(item, primary=False), item.primary)
        match = next((i for i, (_, found) in enumerate(available) if found == key), None)
        if match is not None:
            out.append(available.pop(match)[0])
        else:
            out.append(_email_line(item, v4) if name == "emails" else
                       _phone_line(item, v4) if name == "phones" else _im_line(item, v4))
    return out


def _new_lines(name: str, contact: Contact, v4: bool, old: list[str], version: str = "3.0") -> list[str]:
    """The content lines that carry field `name` of `contact` (`old`: the lines they replace)."""
    first_old = {line_name(line)[1]: line for line in reversed(old)}
    if name == "name":
        return _name_lines(contact, first_old.get("N"))
    if name in ("emails", "phones", "ims"):
        return _reused(name, getattr(contact, name), old, version, v4)
    if name == "address":
        return [_address_line(contact.address, v4)] if contact.address else []
    if name == "organization":
        return [_org_line(contact.organization, first_old.get("ORG"))] if contact.organization else []
    if name == "job_title":
        return ["TITLE:" + escape(contact.job_title)] if contact.job_title else []
    if name == "notes":
        return ["NOTE:" + escape(contact.notes)] if contact.notes else []
    if name == "birthday":
        line = _birthday_line(contact.birthday, v4)
        return [line] if line else []
    raise KeyError(name)


def _same(name: str, old: Contact, new: Contact) -> bool:
    if name == "name":
        return old.name == new.name and (not (new.first_name or new.last_name) or
                                          (old.first_name, old.last_name) == (new.first_name, new.last_name))
    return bool(getattr(old, name) == getattr(new, name))


def _owned(line: str, name: str, card: Card, text_lines: list[str]) -> bool:
    """Whether `line` carries field `name`; for the address only the one contactsync reads."""
    prop = line_name(line)[1]
    if prop not in FIELD_PROPS[name]:
        return False
    if name != "address":
        return True
    addresses = [candidate for candidate in text_lines if line_name(candidate)[1] == "ADR"]
    chosen = next((a for a in addresses if "PREF" in _split_value(a)[0].upper()), addresses[0] if addresses else None)
    return line is chosen


def update_card(text: str, contact: Contact) -> str:
    """The card `text` with the mapped fields of `contact`; every other line is kept as it was."""
    current = read_card(text)
    contact = normalise(contact)
    lines = logical_lines(text)
    v4 = current.version.startswith("4")
    unreadable = current.contact.unreadable()
    for name in FIELD_PROPS:
        if name in unreadable or _same(name, current.contact, contact):
            continue  # a value contactsync cannot read is never overwritten or cleared
        owned = [i for i, line in enumerate(lines) if _owned(line, name, current, lines)]
        removed_groups = {line_name(lines[i])[0] for i in owned} - {""}
        new = _new_lines(name, contact, v4, [lines[i] for i in owned], current.version)
        removed_groups -= {line_name(line)[0] for line in new}
        at = owned[0] if owned else next(i for i, line in enumerate(lines) if line.upper().startswith("END:VCARD"))
        kept = [line for i, line in enumerate(lines) if i not in set(owned)]
        at -= sum(1 for i in owned if i < at)
        lines = kept[:at] + new + kept[at:]
        lines = _drop_orphan_labels(lines, removed_groups)
    return "\r\n".join(fold(line) for line in lines) + "\r\n"


def _drop_orphan_labels(lines: list[str], groups: set[str]) -> list[str]:
    """Apple writes a custom label as ``item1.X-ABLabel`` beside ``item1.EMAIL``: when the
    grouped property is gone, its label goes with it."""
    if not groups:
        return lines
    alive = {line_name(line)[0] for line in lines if line_name(line)[1] != "X-ABLABEL"}
    return [line for line in lines
            if not (line_name(line)[1] == "X-ABLABEL" and line_name(line)[0] in groups - alive)]


def new_card(contact: Contact, uid: str | None = None) -> tuple[str, str]:
    """A new vCard 3.0 for `contact`: (uid, text).

    vCard 3.0 because every CardDAV server must accept it (RFC 6352 §6.1.1,
    "MUST support vCard v3.0") and iCloud accepts nothing newer.
    """
    uid = uid or str(uuid.uuid4()).upper()
    contact = normalise(contact)
    lines = ["BEGIN:VCARD", "VERSION:3.0", "PRODID:-//contactsync//EN", f"UID:{uid}"]
    for name in FIELD_PROPS:
        lines += _new_lines(name, contact, False, [])
    lines.append("END:VCARD")
    return uid, "\r\n".join(fold(line) for line in lines) + "\r\n"


def group_card_with(text: str, member_uid: str, present: bool) -> str:
    """A group card (iCloud style) with `member_uid` added or removed, other lines untouched."""
    lines = logical_lines(text)
    prop = next((p for p in GROUP_MEMBER if any(line_name(x)[1] == p for x in lines)), GROUP_MEMBER[0])
    value = f"urn:uuid:{member_uid}"

    def is_member(line: str) -> bool:
        return line_name(line)[1] == prop and _split_value(line)[2].strip().removeprefix("urn:uuid:") == member_uid

    lines = [line for line in lines if not is_member(line)]
    if present:
        end = next(i for i, line in enumerate(lines) if line.upper().startswith("END:VCARD"))
        lines.insert(end, f"{prop}:{value}")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"
