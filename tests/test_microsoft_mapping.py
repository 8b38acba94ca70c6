"""Unit tests of the Graph contact <-> Contact mapping (pure functions)."""

from __future__ import annotations

from contactsync.model import Address, Contact, Email, Im, Phone, normalise
from contactsync.providers.microsoft_mapping import (
    Overflow, contact_to_graph, graph_birthday, graph_to_contact, primary_address_slot,
)

FULL = {
    "id": "x", "changeKey": "k", "givenName": "Maria", "surname": "Kowalski", "displayName": "Maria Kowalski",
    "emailAddresses": [{"name": "M", "address": "Maria@Blue.example"}, {"name": "h", "address": "m@home.example"}],
    "businessPhones": ["+48 1", "+48 2"], "mobilePhone": "+48 3", "homePhones": ["+48 4"],
    "companyName": "Blue Yonder", "jobTitle": "Buyer",
    "homeAddress": {"street": "Lipowa 7", "city": "Kraków", "state": "", "postalCode": "30-001",
                    "countryOrRegion": "Poland"},
    "businessAddress": {"street": "Marszałkowska 1", "city": "Warszawa", "state": "Mazowieckie",
                        "postalCode": "00-001", "countryOrRegion": "Poland"},
    "imAddresses": ["sip:maria@blue.example", "maria_kow"],
    "birthday": "1984-03-09T00:00:00Z", "personalNotes": "secret notes",
}


def test_graph_to_contact_maps_every_field() -> None:
    c = graph_to_contact(FULL)
    assert (c.name, c.first_name, c.last_name) == ("Maria Kowalski", "Maria", "Kowalski")
    assert [(e.value, e.label, e.primary) for e in c.emails] == [
        ("maria@blue.example", "other", True), ("m@home.example", "other", False)]
    assert [(p.value, p.label) for p in c.phones] == [
        ("+48 1", "work"), ("+48 2", "work"), ("+48 3", "mobile"), ("+48 4", "home")]
    assert c.phones[0].primary and not any(p.primary for p in c.phones[1:])
    assert (c.organization, c.job_title) == ("Blue Yonder", "Buyer")
    # The business address wins over the home one; state -> region, countryOrRegion -> country.
    assert c.address == Address("Marszałkowska 1", "Warszawa", "Mazowieckie", "00-001", "Poland", "work")
    assert [(i.value, i.label) for i in c.ims] == [("maria@blue.example", "sip"), ("maria_kow", "other")]
    assert c.birthday == "1984-03-09"
    assert c.notes == ""  # personalNotes is never synced (DESIGN §7)


def test_address_falls_back_to_home_then_other() -> None:
    other = {"street": "Ermou 22", "city": "Athina", "postalCode": "105 63", "countryOrRegion": "Greece"}
    assert graph_to_contact({"otherAddress": other, "homeAddress": {}}).address.label == "other"
    assert graph_to_contact({**FULL, "businessAddress": {}}).address.city == "Kraków"
    assert primary_address_slot({"otherAddress": other}) == "otherAddress"
    assert primary_address_slot({"homeAddress": {"street": ""}}) is None


def test_birthday_takes_the_date_of_the_timestamp() -> None:
    assert graph_birthday("1975-06-30T11:59:00Z") == "1975-06-30"
    assert graph_birthday(None) == ""
    # Not a date: passed on, recorded unreadable, and left out of any write.
    assert graph_birthday("garbage") == "garbage"
    contact = graph_to_contact({"displayName": "Ann", "birthday": "garbage"})
    assert contact.birthday == "" and contact.unreadable() == {"birthday"}
    assert "birthday" not in contact_to_graph(contact)[0]


def test_contact_to_graph_writes_every_field_and_never_notes() -> None:
    contact = normalise(Contact(
        name="Ann Lee", first_name="Ann", last_name="Lee",
        emails=(Email("ann@lee.example", primary=True), Email("a@b.example")),
        phones=(Phone("+1 1", "work", True), Phone("+1 2", "mobile"), Phone("+1 3", "home"), Phone("+1 4", "other")),
        organization="Lee Ltd", job_title="CEO", address=Address("1 Main St", "Springfield", "IL", "62701", "USA", "home"),
        ims=(Im("ann@lee.example", "sip"), Im("annlee", "skype"), Im("ann#1", "other")),
        notes="must not be sent", birthday="1990-02-03",
    ))
    body, dropped = contact_to_graph(contact)
    assert dropped == []
    assert body["displayName"] == "Ann Lee" and body["givenName"] == "Ann" and body["surname"] == "Lee"
    assert body["emailAddresses"] == [{"address": "ann@lee.example", "name": "ann@lee.example"},
                                      {"address": "a@b.example", "name": "a@b.example"}]
    assert body["businessPhones"] == ["+1 1"] and body["mobilePhone"] == "+1 2"
    assert body["homePhones"] == ["+1 3", "+1 4"]
    assert body["homeAddress"] == {"street": "1 Main St", "city": "Springfield", "state": "IL",
                                   "postalCode": "62701", "countryOrRegion": "USA"}
    assert "businessAddress" not in body and "otherAddress" not in body
    assert body["imAddresses"] == ["sip:ann@lee.example", "skype:annlee", "ann#1"]
    assert body["birthday"] == "1990-02-03T00:00:00Z"
    assert "personalNotes" not in body
    assert (body["companyName"], body["jobTitle"]) == ("Lee Ltd", "CEO")


def test_overflow_is_not_sent_but_reported() -> None:
    contact = normalise(Contact(
        name="Many", emails=tuple(Email(f"e{i}@x.example") for i in range(5)),
        phones=(Phone("+1 1", "work"), Phone("+1 2", "work"), Phone("+1 3", "work"),
                Phone("+1 4", "mobile"), Phone("+1 5", "mobile")),
        birthday="--12-24",
    ))
    body, dropped = contact_to_graph(contact)
    assert len(body["emailAddresses"]) == 3 and body["emailAddresses"][0]["address"] == "e0@x.example"
    assert body["businessPhones"] == ["+1 1", "+1 2"] and body["mobilePhone"] == "+1 4"
    assert body["birthday"] is None  # no year: Graph cannot hold it, and a year is never invented
    assert [(d.field, d.value) for d in dropped] == [
        ("email", "e3@x.example"), ("email", "e4@x.example"), ("phone", "+1 3"), ("phone", "+1 5"),
        ("birthday", "--12-24")]
    assert all(isinstance(d, Overflow) and d.reason for d in dropped)


def test_clearing_sends_nulls_and_moves_the_address_slot() -> None:
    current = {"businessAddress": {"street": "Old 1", "city": "Oldtown"}, "homeAddress": {"city": "Keep"}}
    moved, _ = contact_to_graph(Contact(name="X", address=Address(city="Newtown", label="other")), current)
    assert moved["otherAddress"]["city"] == "Newtown" and moved["businessAddress"] == {}
    assert "homeAddress" not in moved  # a slot that was not the primary one is left alone
    cleared, _ = contact_to_graph(Contact(name="X"), current)
    assert cleared["businessAddress"] == {} and "homeAddress" not in cleared
    assert cleared["mobilePhone"] is None and cleared["emailAddresses"] == [] and cleared["birthday"] is None
    assert cleared["givenName"] == "X"  # a name without parts is filed under its given name


def test_round_trip_is_lossless_for_what_graph_holds() -> None:
    contact = normalise(Contact(
        name="Олег Смирнов", first_name="Олег", last_name="Смирнов",
        emails=(Email("oleg@proseware.example", "other", True), Email("o@home.example")),
        phones=(Phone("+7 1", "work", True), Phone("+7 2", "work"), Phone("+7 3", "mobile"), Phone("+7 4", "home")),
        organization="Proseware", job_title="Директор",
        address=Address("Tverskaya 1", "Moskva", "", "125009", "Russia", "work"),
        ims=(Im("oleg@proseware.example", "sip"), Im("oleg.s", "other")), birthday="1979-12-31",
    ))
    body, dropped = contact_to_graph(contact)
    assert dropped == []
    assert graph_to_contact(body) == contact
