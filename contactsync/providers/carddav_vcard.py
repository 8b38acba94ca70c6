"""vCard 3.0 / 4.0 <-> :class:`Contact`, for the CardDAV provider.

Reading uses vobject (https://github.com/py-vobject/vobject): a maintained
parser that unfolds lines and unescapes values of vCard 3.0 (RFC 2426) and 4.0
(RFC 6350) alike, so that quoting, folding and escaping are not ours to get
wrong. Writing does not re-serialise the whole parsed card, because vobject
rewrites properties it does not model: a vCard 4 ``PHOTO:data:image/png;base64,…``
comes back as ``PHOTO:data:image/png\\;base64`` without its data. So an update
edits the card line by line: the logical lines of the properties contactsync
maps are replaced only when their field changed, every other line is copied
as it was. A property contactsync does not map is kept untouched.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import vobject  # type: ignore[import-untyped]

from contactsync.cleaning import clean_text
from contactsync.model import (
    Address, Contact, Email, Im, Issue, IssueKind, Phone, birthday_parts, format_birthday, normalise, with_issues,
)

# Apple's clients store a birthday without a year as year 1604 and say so in a
# parameter (``BDAY;X-APPLE-OMIT-YEAR=1604:1604-05-17``); vCard 4 writes ``--0517``
# (RFC 6350 §4.3.1, "--MMDD"). 1604 is a leap year, so 29 February fits.
APPLE_OMIT_YEAR = "1604"
# Address-book groups kept as vCards inside the address book, as iCloud does
# (Apple's CalendarServer extension), and vCard 4's own KIND:group (RFC 6350 §6.1.4).
GROUP_KIND = ("X-ADDRESSBOOKSERVER-KIND", "KIND")
GROUP_MEMBER = ("X-ADDRESSBOOKSERVER-MEMBER", "MEMBER")
# The older one-property-per-service IM properties (Apple, Evolution, KDE), with their service.
X_IM = {
    "X-AIM": "aim", "X-JABBER": "jabber", "X-SKYPE": "skype", "X-SKYPE-USERNAME": "skype", "X-ICQ": "icq",
    "X-MSN": "msn", "X-YAHOO": "yahoo", "X-GOOGLE-TALK": "googletalk", "X-QQ": "qq", "X-GADUGADU": "gadugadu",
    "X-TWITTER": "twitter",
}
# IMPP URI schemes (RFC 4770 and the schemes Apple and Android write) <-> our service label.
# "im:" is the generic instant-messaging scheme of RFC 3860: it carries "other".
SCHEME_LABEL = {"xmpp": "jabber", "aim": "aim", "ymsgr": "yahoo", "msnim": "msn", "skype": "skype", "icq": "icq",
                "qq": "qq", "gtalk": "googletalk", "sip": "sip", "im": "other"}
LABEL_SCHEME = {label: scheme for scheme, label in SCHEME_LABEL.items()}
# X-SERVICE-TYPE values as Apple writes them, by our label.
SERVICE_NAMES = {"aim": "AIM", "jabber": "Jabber", "yahoo": "Yahoo", "msn": "MSN", "skype": "Skype", "icq": "ICQ",
                 "qq": "QQ", "googletalk": "GoogleTalk", "facebook": "Facebook", "gadugadu": "GaduGadu"}

# The properties an update may rewrite, by the Contact field they carry.
FIELD_PROPS: dict[str, tuple[str, ...]] = {
    "name": ("FN", "N"),
    "emails": ("EMAIL",),
    "phones": ("TEL",),
    "address": ("ADR",),
    "organization": ("ORG",),
    "job_title": ("TITLE",),
    "notes": ("NOTE",),
    "birthday": ("BDAY",),
    "ims": ("IMPP", *X_IM),
}


class MalformedCard(ValueError):
    """A vCard that cannot be read; the message says why (never the card's content)."""


@dataclass(frozen=True)
class PhotoRef:
    """Where a card's photo is: inline (by a hash of its data) or at a URI."""

    inline: bool
    value: str

    def ref(self) -> str:
        return ("inline:" if self.inline else "uri:") + self.value


@dataclass
class Card:
    """What contactsync reads from one vCard."""

    contact: Contact
    uid: str
    version: str
    photo: PhotoRef | None = None
    is_group: bool = False
    members: list[str] = field(default_factory=list)  # member UIDs of a group card
    updated: str | None = None  # REV, when the card has one


# -- logical lines ---------------------------------------------------------------------------------

_NAME = re.compile(r"^(?:([A-Za-z0-9-]+)\.)?([A-Za-z0-9-]+)")


def logical_lines(text: str) -> list[str]:
    """The card's content lines, unfolded (RFC 6350 §3.2: CRLF followed by a space or tab)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines: list[str] = []
    for raw in text.split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def line_name(line: str) -> tuple[str, str]:
    """(group, upper-case property name) of a content line."""
    match = _NAME.match(line)
    if not match:
        return "", ""
    return (match.group(1) or "").lower(), match.group(2).upper()


def fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 sequence (RFC 6350 §3.2)."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8", "surrogatepass"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def escape(value: str) -> str:
    """A TEXT value escaped (RFC 6350 §3.4)."""
    return (value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\n").replace("\n", "\\n"))


# -- reading ---------------------------------------------------------------------------------------


def parse(text: str) -> Any:
    try:
        card = vobject.readOne(text)
    except Exception as exc:  # vobject raises ParseError, but also ValueError/AttributeError on odd input
        # The reason names the line, never its content: a card's text is personal data and may
        # hold anything (a lone surrogate would not even survive a log handler).
        line = getattr(exc, "lineNumber", None)
        where = f" at line {line}" if isinstance(line, int) else ""
        raise MalformedCard(f"not a readable vCard ({type(exc).__name__}{where})") from None
    if getattr(card, "name", "").upper() != "VCARD":
        raise MalformedCard(f"a {clean_text(str(getattr(card, 'name', '?')))[0][:20]} object, not a VCARD")
    return card


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _types(line: Any) -> set[str]:
    found: set[str] = set()
    for value in line.params.get("TYPE", []):
        found.update(part.strip().lower() for part in str(value).split(","))
    # vCard 2.1 writes bare types as parameters without a value: "TEL;CELL:…".
    found.update(key.lower() for key, values in line.params.items() if not values or values == [""])
    return found


def _is_pref(line: Any) -> bool:
    return "pref" in _types(line) or bool(line.params.get("PREF"))


def _label(types: set[str], mobile: bool = False) -> str:
    if mobile and ({"cell", "iphone", "mobile"} & types):
        return "mobile"
    for label in ("work", "home"):
        if label in types:
            return label
    return "other"


def _lines(card: Any, name: str) -> list[Any]:
    return list(card.contents.get(name.lower(), []))


def _birthday(line: Any) -> str:
    value = _text(line.value).strip()
    omit = (line.params.get("X-APPLE-OMIT-YEAR") or [""])[0]
    compact = value.split("T")[0].replace("-", "") if not value.startswith("--") else value
    if value.startswith("--"):
        digits = value[2:].replace("-", "")
        if len(digits) == 4 and digits.isdigit():
            return _date(None, int(digits[:2]), int(digits[2:]))
        return ""
    if len(compact) != 8 or not compact.isdigit():
        return ""  # vCard 4 free text ("circa 1800") is not a date: left as it is
    year, month, day = compact[:4], int(compact[4:6]), int(compact[6:])
    return _date(None if year == omit else int(year), month, day)


def _date(year: int | None, month: int, day: int) -> str:
    """The ISO birthday, or "" for a day no calendar has (30 February is never guessed at)."""
    try:
        datetime.date(year or 2004, month, day)  # 2004: a leap year stands in for "no year"
    except ValueError:
        return ""
    parsed = format_birthday(year, month, day)
    return parsed if birthday_parts(parsed) else ""


def _im_from_uri(uri: str, service: str) -> Im | None:
    scheme, sep, handle = uri.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        scheme, handle = "", uri
    label = service.lower() or SCHEME_LABEL.get(scheme.lower(), scheme.lower() or "other")
    if label == "xmpp":
        label = "jabber"
    handle = handle.strip()
    return Im(handle, label) if handle else None


def _ims(card: Any) -> list[Im]:
    ims: list[Im] = []
    for line in _lines(card, "IMPP"):
        service = (line.params.get("X-SERVICE-TYPE") or [""])[0]
        im = _im_from_uri(_text(line.value), service)
        if im is not None:
            ims.append(Im(im.value, im.label, _is_pref(line)))
    for prop, label in X_IM.items():
        for line in _lines(card, prop):
            value = _text(line.value).strip()
            if value:
                ims.append(Im(value, label, _is_pref(line)))
    return ims


def _address(card: Any) -> Address | None:
    lines = [line for line in _lines(card, "ADR") if not isinstance(line.value, str)]
    if not lines:
        return None
    line = next((candidate for candidate in lines if _is_pref(candidate)), lines[0])
    adr = line.value
    street = "\n".join(part for part in (_text(adr.street), _text(adr.extended), _text(adr.box)) if part)
    return Address(street, _text(adr.city), _text(adr.region), _text(adr.code), _text(adr.country),
                   _label(_types(line)))


def _photo(text: str) -> PhotoRef | None:
    for line in logical_lines(text):
        if line_name(line)[1] != "PHOTO":
            continue
        head, _, value = _split_value(line)
        value = value.strip()
        if not value:
            continue
        params = head.upper()
        if value.startswith("data:") or "ENCODING=B" in params or "ENCODING=BASE64" in params:
            return PhotoRef(True, hashlib.sha1(value.encode()).hexdigest()[:16])
        return PhotoRef(False, value)
    return None


def _split_value(line: str) -> tuple[str, str, str]:
    """(name;params, ':', value) of a content line, honouring quoted parameter values."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:index], ":", line[index + 1:]
    return line, "", ""


def photo_bytes(text: str) -> bytes | None:
    """The bytes of an inline photo of a card, None when it has none or it cannot be decoded."""
    for line in logical_lines(text):
        if line_name(line)[1] != "PHOTO":
            continue
        _, _, value = _split_value(line)
        value = value.strip()
        if value.startswith("data:"):
            meta, _, value = value.partition(",")
            if not meta.endswith(";base64"):
                return None
        try:
            return base64.b64decode(value, validate=False) or None
        except (binascii.Error, ValueError):
            return None
    return None


def read_card(text: str) -> Card:
    """Map a vCard to a :class:`Card`; raise MalformedCard when it cannot be read."""
    card = parse(text)
    version = _text(getattr(getattr(card, "version", None), "value", "")) or "3.0"
    uid = _text(card.uid.value).strip() if "uid" in card.contents else ""
    kind = next((_text(_lines(card, p)[0].value).lower() for p in GROUP_KIND if _lines(card, p)), "")
    if kind == "group":
        members = [_text(line.value).strip().removeprefix("urn:uuid:")
                   for prop in GROUP_MEMBER for line in _lines(card, prop)]
        name = _text(card.fn.value) if "fn" in card.contents else uid
        return Card(Contact(name=name), uid, version, is_group=True, members=[m for m in members if m])
    emails = [Email(_text(line.value), _label(_types(line)), _is_pref(line)) for line in _lines(card, "EMAIL")]
    phones = []
    for line in _lines(card, "TEL"):
        value = _text(line.value).strip()
        phones.append(Phone(value.removeprefix("tel:"), _label(_types(line), mobile=True), _is_pref(line)))
    first = last = ""
    if "n" in card.contents and not isinstance(card.n.value, str):
        first, last = _text(card.n.value.given), _text(card.n.value.family)
    org = ""
    if "org" in card.contents:
        value = card.org.value
        org = _text(value[0] if isinstance(value, list) and value else value)
    birthday = _birthday(card.bday) if "bday" in card.contents else ""
    contact = Contact(
        name=_text(card.fn.value) if "fn" in card.contents else "",
        first_name=first, last_name=last, emails=tuple(emails), phones=tuple(phones), organization=org,
        job_title=_text(card.title.value) if "title" in card.contents else "",
        address=_address(card), ims=tuple(_ims(card)),
        notes=_text(card.note.value) if "note" in card.contents else "", birthday=birthday,
    )
    issues = _unreadable(card, contact)
    rev = _text(card.rev.value).strip() if "rev" in card.contents else None
    return Card(normalise(with_issues(contact, *issues)), uid, version, _photo(text), updated=rev or None)


def _unreadable(card: Any, contact: Contact) -> list[Issue]:
    """Values present in the card that contactsync cannot read: an update leaves their lines alone."""
    issues: list[Issue] = []
    if "bday" in card.contents and not contact.birthday:
        issues.append(Issue(IssueKind.UNREADABLE, "birthday",
                            f"'{_text(card.bday.value)[:40]}' is not a date contactsync can read"))
    if _lines(card, "ADR") and contact.address is None and any(isinstance(x.value, str) for x in _lines(card, "ADR")):
        issues.append(Issue(IssueKind.UNREADABLE, "address", "the address is not in the structured vCard form"))
    return issues


# -- writing ---------------------------------------------------------------------------------------


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
