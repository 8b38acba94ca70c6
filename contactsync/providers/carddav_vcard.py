"""vCard 3.0 / 4.0 <-> :class:`Contact`, for the CardDAV provider.

Reading uses vobject (https://github.com/py-vobject/vobject): a maintained
parser that unfolds lines and unescapes values of vCard 3.0 (RFC 2426) and 4.0
(RFC 6350) alike, so that quoting, folding and escaping are not ours to get
wrong. Writing does not re-serialise the whole parsed card, because vobject
rewrites properties it does not model: a vCard 4 ``PHOTO:data:image/png;base64,…``
comes back as ``PHOTO:data:image/png\\;base64`` without its data. So an update
edits the card line by line (carddav_vcard_write): the logical lines of the
properties contactsync maps are replaced only when their field changed, every
other line is copied as it was. A property contactsync does not map is kept untouched.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
from dataclasses import dataclass, field
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
