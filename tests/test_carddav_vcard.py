"""vCard 3.0 and 4.0 <-> Contact: every mapped field, and what an update leaves alone."""

from __future__ import annotations

import base64

import pytest

from contactsync.model import Address, Contact, Email, Im, Phone, normalise
from contactsync.providers.carddav_vcard import MalformedCard, logical_lines, photo_bytes, read_card
from contactsync.providers.carddav_vcard_write import group_card_with, new_card, update_card

APPLE = "\r\n".join([
    "BEGIN:VCARD",
    "VERSION:3.0",
    "PRODID:-//Apple Inc.//iPhone OS 17.0//EN",
    "N:Kowalski;Maria;Anna;Dr.;PhD",
    "FN:Maria Kowalski",
    "ORG:Blue Yonder\\, Inc.;Sales",
    "TITLE:Head of Sales",
    "item1.EMAIL;type=INTERNET;type=WORK;type=pref:maria@blue.example",
    "item1.X-ABLabel:_$!<Work>!$_",
    "item2.EMAIL;type=INTERNET:maria@home.example",
    "item2.X-ABLabel:private",
    "TEL;type=CELL;type=VOICE;type=pref:+48 600 100 200",
    "TEL;type=WORK;type=VOICE:+48 22 100 200",
    "item3.ADR;type=WORK;type=pref:;;ul. Prosta 1;Warszawa;;00-001;Poland",
    "item3.X-ABADR:pl",
    "ADR;type=HOME:;;Home St 2;Kraków;;30-001;Poland",
    "NOTE:Met at the fair\\nlikes tea\\, not coffee",
    "BDAY;X-APPLE-OMIT-YEAR=1604:1604-05-17",
    "IMPP;X-SERVICE-TYPE=Skype;type=pref:skype:maria.k",
    "X-JABBER:maria@jabber.example",
    "X-SOCIALPROFILE;type=twitter:https://twitter.com/mariak",
    "PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(b"\xff\xd8jpeg-bytes").decode(),
    "UID:1D6A2C4E-0000-4000-8000-MARIA",
    "X-CUSTOM;X-PARAM=\"a:b\":kept\\, exactly",
    "END:VCARD",
]) + "\r\n"

V4 = "\r\n".join([
    "BEGIN:VCARD",
    "VERSION:4.0",
    "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
    "FN:Jürgen Weiß",
    "N:Weiß;Jürgen;;;",
    "EMAIL;TYPE=work;PREF=1:j@weiss.example",
    "TEL;VALUE=uri;TYPE=cell:tel:+49-170-1234567",
    "BDAY:--0229",
    "IMPP;PREF=1:xmpp:juergen@jabber.example",
    "ADR;TYPE=home:;;Hauptstr. 5;Berlin;;10115;Germany",
    "PHOTO:data:image/png;base64," + base64.b64encode(b"\x89PNG-bytes").decode(),
    "GENDER:M",
    "END:VCARD",
]) + "\r\n"


def test_apple_vcard_3_every_field():
    card = read_card(APPLE)
    c = card.contact
    assert (c.name, c.first_name, c.last_name) == ("Maria Kowalski", "Maria", "Kowalski")
    assert c.emails == (Email("maria@blue.example", "work", True), Email("maria@home.example", "other", False))
    assert c.phones == (Phone("+48 600 100 200", "mobile", True), Phone("+48 22 100 200", "work", False))
    assert c.organization == "Blue Yonder, Inc." and c.job_title == "Head of Sales"
    assert c.address == Address("ul. Prosta 1", "Warszawa", "", "00-001", "Poland", "work")
    assert c.notes == "Met at the fair\nlikes tea, not coffee"
    assert c.birthday == "--05-17"  # Apple's year 1604 means "no year"
    assert c.ims == (Im("maria.k", "skype", True), Im("maria@jabber.example", "jabber", False))
    assert card.uid == "1D6A2C4E-0000-4000-8000-MARIA"
    assert card.photo is not None and card.photo.inline
    assert photo_bytes(APPLE) == b"\xff\xd8jpeg-bytes"


def test_vcard_4_every_field():
    card = read_card(V4)
    c = card.contact
    assert c.name == "Jürgen Weiß" and c.emails == (Email("j@weiss.example", "work", True),)
    assert c.phones == (Phone("+49-170-1234567", "mobile", True),)
    assert c.birthday == "--02-29"
    assert c.ims == (Im("juergen@jabber.example", "jabber", True),)
    assert c.address == Address("Hauptstr. 5", "Berlin", "", "10115", "Germany", "home")
    assert card.photo is not None and card.photo.inline
    assert photo_bytes(V4) == b"\x89PNG-bytes"  # a data: URI, which vobject alone would cut


@pytest.mark.parametrize("line,expected", [
    ("BDAY:1985-03-04", "1985-03-04"),
    ("BDAY:19850304", "1985-03-04"),
    ("BDAY;VALUE=date:1985-03-04T00:00:00Z", "1985-03-04"),
    ("BDAY:--0304", "--03-04"),
    ("BDAY:--03-04", "--03-04"),
    ("BDAY;X-APPLE-OMIT-YEAR=1604:1604-03-04", "--03-04"),
    ("BDAY:1604-03-04", "1604-03-04"),  # without Apple's flag, 1604 is a year
    ("BDAY;VALUE=text:circa 1800", ""),
    ("BDAY:2001-02-30", ""),
])
def test_birthday_forms(line, expected):
    text = f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\n{line}\r\nEND:VCARD\r\n"
    assert read_card(text).contact.birthday == expected


def test_photo_by_uri():
    text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\nPHOTO;VALUE=uri:https://photos.example/x.jpg\r\nEND:VCARD\r\n"
    card = read_card(text)
    assert card.photo is not None and not card.photo.inline
    assert card.photo.ref() == "uri:https://photos.example/x.jpg"


def test_update_keeps_every_unmapped_line_byte_for_byte():
    edited = normalise(read_card(APPLE).contact)
    edited = Contact(**{**edited.__dict__, "job_title": "CEO", "emails": edited.emails[:1]})
    out = update_card(APPLE, edited)
    before, after = logical_lines(APPLE), logical_lines(out)
    assert "TITLE:CEO" in after and "TITLE:Head of Sales" not in after
    for line in before:
        if line.startswith(("TITLE", "item2.")):
            continue
        assert line in after, line  # PHOTO, X-SOCIALPROFILE, item1 label, N parts, UID, X-CUSTOM…
    assert not any(line.startswith("item2.") for line in after)  # the removed e-mail took its label along
    assert read_card(out).contact == edited


def test_update_only_touches_changed_fields():
    same = read_card(APPLE).contact
    assert update_card(APPLE, same).replace("\r\n ", "") == APPLE.replace("\r\n ", "")


def test_update_vcard_4_writes_vcard_4_forms():
    c = read_card(V4).contact
    changed = Contact(**{**c.__dict__, "birthday": "--12-24", "phones": (Phone("+49 30 1", "work", True),)})
    out = update_card(V4, changed)
    assert "BDAY:--1224" in logical_lines(out)
    assert any(line.startswith("TEL;TYPE=work;PREF=1:") for line in logical_lines(out))
    assert "GENDER:M" in logical_lines(out) and any(line.startswith("PHOTO:data:") for line in logical_lines(out))
    assert read_card(out).contact == changed


def test_new_card_round_trips_every_field():
    contact = normalise(Contact(
        name="Ann O'Neil", first_name="Ann", last_name="O'Neil",
        emails=(Email("ann@x.example", "work", True), Email("a@home.example", "home")),
        phones=(Phone("+1 555 0100", "mobile", True), Phone("+1 555 0101", "other")),
        organization="Acme; Sons, Ltd", job_title="CTO",
        address=Address("1 Main St\nSuite 5", "Springfield", "IL", "62701", "USA", "work"),
        ims=(Im("ann.o", "skype", True), Im("ann@chat.example", "jabber"), Im("ann-x", "other")),
        notes="multi\nline; with, punctuation \\ backslash", birthday="--02-29",
    ))
    uid, text = new_card(contact)
    card = read_card(text)
    assert card.uid == uid and card.version == "3.0"
    assert card.contact == contact
    assert "BDAY;X-APPLE-OMIT-YEAR=1604:1604-02-29" in logical_lines(text)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_long_unicode_lines_fold_without_splitting_characters():
    contact = Contact(name="Zoë", notes="ł" * 200)
    _, text = new_card(contact)
    for physical in text.split("\r\n"):
        assert len(physical.encode("utf-8")) <= 75
    assert read_card(text).contact.notes == "ł" * 200


@pytest.mark.parametrize("text", [
    "garbage",
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:never closed\r\n",
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEMAIL\r\nEND:VCARD\r\n",
    "",
])
def test_malformed_cards_raise_one_readable_error(text):
    with pytest.raises(MalformedCard) as raised:
        read_card(text)
    assert "vCard" in str(raised.value) or "VCARD" in str(raised.value)


def test_group_cards_and_membership_edits():
    group = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:G1\r\nFN:Clients\r\nN:Clients;;;;\r\n"
             "X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:A\r\nX-OTHER:kept\r\nEND:VCARD\r\n")
    card = read_card(group)
    assert card.is_group and card.members == ["A"] and card.contact.name == "Clients"
    added = group_card_with(group, "B", True)
    assert read_card(added).members == ["A", "B"] and "X-OTHER:kept" in logical_lines(added)
    assert read_card(group_card_with(added, "A", False)).members == ["B"]
    v4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:G2\r\nFN:Team\r\nKIND:group\r\nMEMBER:urn:uuid:C\r\nEND:VCARD\r\n"
    assert read_card(v4).members == ["C"]


def test_a_value_contactsync_cannot_read_is_never_overwritten():
    text = ("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Old Timer\r\nBDAY;VALUE=text:circa 1800\r\n"
            "EMAIL:old@x.example\r\nEND:VCARD\r\n")
    card = read_card(text)
    assert card.contact.birthday == "" and "birthday" in card.contact.unreadable()
    out = update_card(text, Contact(name="Old Timer", birthday="1800-01-01", emails=(Email("new@x.example"),)))
    assert "BDAY;VALUE=text:circa 1800" in logical_lines(out)  # left as it was
    assert read_card(out).contact.emails == (Email("new@x.example", "other", True),)
