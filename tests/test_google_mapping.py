"""People API Person <-> Contact, field by field (DESIGN §7), as plain functions on plain data."""

from __future__ import annotations

import pytest

from contactsync.model import Address, Contact, Email, Im, Phone
from contactsync.providers.google_mapping import (
    WRITE_FIELDS, contact_to_person, person_to_contact, photo_url, read_address,
)
from contactsync.sandbox import google_people as gp

RICH = {
    "resourceName": "people/c42", "etag": "%x",
    "names": [{"displayName": "Ольга 🌸 Петрова", "givenName": "Ольга 🌸", "familyName": "Петрова"}],
    "emailAddresses": [{"value": "olga@tailspin.example", "type": "work"},
                       {"value": "ольга@почта.example", "type": "home", "metadata": {"primary": True}}],
    "phoneNumbers": [{"value": "+7 495 555-01-77", "type": "home"},
                     {"value": "+7 916 555-01-78", "type": "mobile", "metadata": {"primary": True}}],
    "organizations": [{"name": "Тейлспин 🚀", "title": "Главный инженер", "department": "R&D"}],
    "addresses": [
        {"streetAddress": "ул. Тверская, 7", "extendedAddress": "кв. 12", "city": "Москва", "postalCode": "125009",
         "country": "Россия", "countryCode": "RU", "type": "home", "poBox": "а/я 5",
         "metadata": {"primary": True}},
        {"streetAddress": "Невский пр., 1", "city": "Санкт-Петербург", "type": "work"},
    ],
    "imClients": [{"username": "olga.p", "protocol": "skype", "type": "work"},
                  {"username": "@olga_p", "protocol": "Telegram", "metadata": {"primary": True}},
                  {"username": "olga@jabber.example", "protocol": "googleTalk"}],
    "biographies": [{"value": "Первая строка.\nSecond line 😀\n\nThird paragraph.", "contentType": "TEXT_PLAIN"}],
    "birthdays": [{"date": {"month": 2, "day": 29}}],
    "photos": [{"url": "https://lh3.example/placeholder", "default": True},
               {"url": "https://lh3.example/own", "metadata": {"primary": True}}],
}


# -- reading ---------------------------------------------------------------------------

def test_rich_person_maps_every_field() -> None:
    contact = person_to_contact(RICH)
    assert (contact.name, contact.first_name, contact.last_name) == ("Ольга 🌸 Петрова", "Ольга 🌸", "Петрова")
    assert [(e.value, e.label, e.primary) for e in contact.emails] == [
        ("olga@tailspin.example", "work", False), ("ольга@почта.example", "home", True)]
    assert [(p.label, p.primary) for p in contact.phones] == [("home", False), ("mobile", True)]
    assert (contact.organization, contact.job_title) == ("Тейлспин 🚀", "Главный инженер")
    assert contact.address == Address("ул. Тверская, 7\nкв. 12", "Москва", "", "125009", "Россия", "home")
    assert contact.ims == (Im("olga.p", "skype", False), Im("@olga_p", "telegram", True),
                           Im("olga@jabber.example", "googletalk", False))
    assert contact.notes == "Первая строка.\nSecond line 😀\n\nThird paragraph."
    assert contact.birthday == "--02-29"
    assert photo_url(RICH) == "https://lh3.example/own"


def test_missing_parts_stay_empty() -> None:
    contact = person_to_contact({"resourceName": "people/c1", "emailAddresses": [{"value": "x@y.example"}]})
    assert contact.name == "" and contact.organization == "" and contact.job_title == ""
    assert contact.address is None and contact.ims == () and contact.notes == "" and contact.birthday == ""
    assert photo_url({"resourceName": "people/c1"}) is None
    # An organization with only a title still gives the title.
    assert person_to_contact({"organizations": [{"title": "CTO"}]}).job_title == "CTO"


def test_primary_address_is_the_flagged_one_else_the_first() -> None:
    home = {"streetAddress": "1 Home Rd", "city": "Leeds", "type": "home"}
    work = {"streetAddress": "2 Work St", "city": "York", "type": "work"}
    assert person_to_contact({"addresses": [home, work]}).address.city == "Leeds"
    flagged = {**work, "metadata": {"primary": True}}
    assert person_to_contact({"addresses": [home, flagged]}).address.city == "York"
    source_flagged = {**work, "metadata": {"sourcePrimary": True}}
    assert person_to_contact({"addresses": [home, source_flagged]}).address.label == "work"


@pytest.mark.parametrize(("entry", "expected"), [
    ({"country": "Deutschland", "countryCode": "DE"}, "Deutschland"),
    ({"countryCode": "DE"}, "DE"),
    ({"country": "", "countryCode": "FR"}, "FR"),
])
def test_address_prefers_country_over_its_code(entry: dict, expected: str) -> None:
    assert read_address({"city": "X", **entry}).country == expected


@pytest.mark.parametrize(("kind", "label"), [("home", "home"), ("work", "work"), ("other", "other"),
                                             ("Ferienhaus", "other"), (None, "other")])
def test_address_type_maps_custom_to_other(kind: str | None, label: str) -> None:
    entry = {"city": "Bern", **({"type": kind} if kind else {})}
    assert read_address(entry).label == label


def test_address_of_only_a_formatted_value_is_kept_as_street() -> None:
    address = read_address({"formattedValue": "Hauptstr. 5\n3011 Bern"})
    assert address == Address(street="Hauptstr. 5\n3011 Bern")
    assert read_address({"type": "home"}) is None  # nothing but a type is no address


def test_im_protocols() -> None:
    contact = person_to_contact({"imClients": [
        {"username": "a", "protocol": "WhatsApp"}, {"username": "b"}, {"username": "c", "protocol": "netMeeting"},
        {"protocol": "skype"},  # no username: nothing to keep
    ]})
    assert [(i.value, i.label) for i in contact.ims] == [("a", "whatsapp"), ("b", "other"), ("c", "netmeeting")]
    assert [i.primary for i in contact.ims] == [True, False, False]  # exactly one, the first when none flagged


def test_notes_in_html_become_text() -> None:
    person = {"biographies": [{"value": "<p>Line 1</p><p>Fish &amp; chips<br>Line 3</p>", "contentType": "TEXT_HTML"}]}
    assert person_to_contact(person).notes == "Line 1\nFish & chips\nLine 3"


@pytest.mark.parametrize(("birthday", "expected"), [
    ({"date": {"year": 1984, "month": 3, "day": 12}}, "1984-03-12"),
    ({"date": {"month": 7, "day": 25}}, "--07-25"),
    ({"date": {"year": 0, "month": 7, "day": 5}}, "--07-05"),
    ({"date": {"year": 1984}}, ""),  # a year alone is not a birthday
    ({"date": {"year": 1984, "month": 3}}, ""),
    ({"text": "1979-11-02"}, "1979-11-02"),
    ({"text": "--12-24"}, "--12-24"),
    ({"text": "early June"}, ""),  # never guessed
    ({"text": "02/11/1979"}, ""),  # ambiguous: day or month first?
    ({"date": {"month": 1, "day": 2}, "text": "something else"}, "--01-02"),  # date wins
])
def test_birthdays(birthday: dict, expected: str) -> None:
    assert person_to_contact({"birthdays": [birthday]}).birthday == expected


def test_placeholder_photo_is_no_photo() -> None:
    placeholder = {"photos": [{"url": "https://lh3.example/a", "default": True, "metadata": {"primary": True}}]}
    assert photo_url(placeholder) is None
    assert photo_url({"photos": [{"url": "https://lh3.example/b", "default": False}]}) == "https://lh3.example/b"
    assert photo_url({"photos": [{"default": False}]}) is None


# -- writing ---------------------------------------------------------------------------

FULL = Contact(
    name="Taro Yamada", first_name="Taro", last_name="Yamada",
    emails=(Email("taro@fabrikam.example", "work", True),), phones=(Phone("+81 3-5555-0199", "work", True),),
    organization="ファブリカム株式会社", job_title="営業部長 🏯",
    address=Address("千代田区丸の内1-9-1\n丸の内ビル 5F", "東京都", "", "100-0005", "日本", "work"),
    ims=(Im("taro_yamada", "line", True), Im("taro.y", "skype"), Im("taro-yahoo", "other")),
    notes="名刺交換\n2023年 展示会 🎌", birthday="--04-01",
)


def test_contact_to_person_writes_every_field() -> None:
    body = contact_to_person(FULL)
    assert body["organizations"] == [{"name": "ファブリカム株式会社", "title": "営業部長 🏯"}]
    assert body["addresses"] == [{
        "streetAddress": "千代田区丸の内1-9-1", "extendedAddress": "丸の内ビル 5F", "city": "東京都",
        "postalCode": "100-0005", "country": "日本", "type": "work", "metadata": {"sourcePrimary": True}}]
    assert body["imClients"] == [
        {"username": "taro_yamada", "protocol": "line", "metadata": {"sourcePrimary": True}},
        {"username": "taro.y", "protocol": "skype"},
        {"username": "taro-yahoo"},  # "other" is no protocol: nothing invented
    ]
    assert body["biographies"] == [{"value": "名刺交換\n2023年 展示会 🎌", "contentType": "TEXT_PLAIN"}]
    assert body["birthdays"] == [{"date": {"month": 4, "day": 1}}]  # no year: none sent
    assert "photos" not in body and "photos" not in WRITE_FIELDS.split(",")
    assert set(body) - {"memberships"} == set(WRITE_FIELDS.split(","))


def test_contact_to_person_clears_empty_fields() -> None:
    body = contact_to_person(Contact(name="Bare"))
    for key in ("organizations", "addresses", "imClients", "biographies", "birthdays"):
        assert body[key] == [], key


def test_birthday_with_year_and_predefined_protocols() -> None:
    body = contact_to_person(Contact(birthday="1990-02-28", ims=(Im("a", "googletalk"), Im("b", "netmeeting"))))
    assert body["birthdays"] == [{"date": {"year": 1990, "month": 2, "day": 28}}]
    assert [i["protocol"] for i in body["imClients"]] == ["googleTalk", "netMeeting"]


def test_update_replaces_only_the_primary_address() -> None:
    current = {"addresses": [
        {"streetAddress": "2 Work St", "city": "York", "type": "work", "formattedType": "Work",
         "metadata": {"source": {"type": "CONTACT", "id": "1"}}},
        {"streetAddress": "1 Home Rd", "poBox": "PO 9", "city": "Leeds", "countryCode": "GB", "type": "Zuhause",
         "formattedValue": "1 Home Rd\nLeeds", "metadata": {"primary": True, "sourcePrimary": True}},
    ]}
    moved = Contact(address=Address("1 Home Rd", "Bradford", "", "BD1", "GB", "other"))
    body = contact_to_person(moved, current=current)
    assert body["addresses"] == [
        {"streetAddress": "2 Work St", "city": "York", "type": "work"},
        # Unmapped parts (poBox), the custom type and the country code stay; the
        # stale formattedValue goes so that the service rebuilds it.
        {"streetAddress": "1 Home Rd", "poBox": "PO 9", "city": "Bradford", "postalCode": "BD1",
         "countryCode": "GB", "type": "Zuhause", "metadata": {"sourcePrimary": True}},
    ]
    unchanged = contact_to_person(person_to_contact(current), current=current)["addresses"][1]
    assert unchanged["formattedValue"] == "1 Home Rd\nLeeds"  # nothing changed, nothing rebuilt
    renamed = contact_to_person(Contact(address=Address("1 Home Rd", "Leeds", country="England")), current=current)
    assert renamed["addresses"][1]["country"] == "England" and "countryCode" not in renamed["addresses"][1]
    cleared = contact_to_person(Contact(name="X"), current=current)
    assert cleared["addresses"] == [{"streetAddress": "2 Work St", "city": "York", "type": "work"}]


def test_update_keeps_im_types_and_other_organization_parts() -> None:
    current = {"imClients": [{"username": "taro.y", "protocol": "skype", "type": "work", "formattedProtocol": "Skype"}],
               "organizations": [{"name": "Old", "title": "Old title", "department": "Sales", "symbol": "FBK"}]}
    body = contact_to_person(FULL, current=current)
    assert body["imClients"][1] == {"username": "taro.y", "protocol": "skype", "type": "work"}
    assert body["organizations"] == [{"name": "ファブリカム株式会社", "title": "営業部長 🏯", "department": "Sales",
                                      "symbol": "FBK"}]
    no_title = contact_to_person(Contact(organization="Fabrikam"), current=current)
    assert no_title["organizations"] == [{"name": "Fabrikam", "department": "Sales", "symbol": "FBK"}]


# -- round trips -------------------------------------------------------------------------

def _as_stored(body: dict) -> dict:
    """What the service stores and renders for a write body (the emulator's rules)."""
    return {"resourceName": "people/c1", "etag": "%e", **gp.clean_input(body, None, "src")}


@pytest.mark.parametrize("person", [RICH, {
    "names": [{"givenName": "Chloé 🌻", "familyName": "Martin"}],
    "birthdays": [{"date": {"year": 1990, "month": 2, "day": 28}}],
    "addresses": [{"formattedValue": "Atelier 3, Cour des Arts"}],
    "imClients": [{"username": "chloe", "protocol": "qq"}, {"username": "c2"}],
    "biographies": [{"value": "x" * 12_500}],
}, {"emailAddresses": [{"value": "only@mail.example"}]}])
def test_person_contact_person_contact_is_lossless(person: dict) -> None:
    first = person_to_contact(person)
    for current in (None, person):
        again = person_to_contact(_as_stored(contact_to_person(first, current=current)))
        assert again.to_dict() == first.to_dict()
        assert again.first_name == first.first_name and again.last_name == first.last_name


def test_contact_person_contact_is_lossless() -> None:
    assert person_to_contact(_as_stored(contact_to_person(FULL))).to_dict() == FULL.to_dict()
