"""Every synced field through Pipedrive custom fields, field setup, pictures, plan limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pipedrive_openapi import assert_log_valid
from pipedrive_support import ADMIN_TOKEN, SELLER_TOKEN, call

from contactsync.crm.base import STAMP_FIELD, Crop, PersonWrite
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.crm.pipedrive_fields import (
    ADDRESS_FIELD,
    BIRTHDAY_FIELD,
    IM_FIELD,
    JOB_TITLE_FIELD,
    NOTES_FIELD,
    PERSON_FIELDS,
)
from contactsync.errors import ApiError, PermissionDenied
from contactsync.model import Address, Contact, Email, Im, Phone, normalise, synced_fields
from contactsync.crm.pipedrive_photo import plan_photo
from contactsync.sandbox.pipedrive import PipedriveEmulator

RICH = Contact(
    name="Дмитрий Иванов",
    emails=(Email("dima@example.ru", "work", True), Email("дима@пример.рф", "home")),
    phones=(Phone("+7 495 000-00-00", "mobile", True),),
    organization="ООО «Ромашка»",
    job_title="Главный инженер 🚀",
    address=Address("Flat 2\n10 Downing Street", "London", "Greater London", "SW1A 2AA", "United Kingdom"),
    ims=(Im("dima.ivanov", "skype", True), Im("+7 900 000 00 00", "whatsapp"), Im("dima@jabber.ru", "jabber")),
    notes="Первая строка\n\n  indented line ✨\nlast: line with a colon",
    birthday="--02-29",
)
CASES = {
    "rich": RICH,
    "primary im not first": Contact(name="Li Wei 李伟", ims=(Im("liwei", "qq"), Im("li.wei", "skype", True))),
    "dated birthday, city only": Contact(name="Ana", birthday="1985-07-14", address=Address(city="Lisboa")),
    "job title only": Contact(name="Zed", job_title="CTO"),
    "nothing extra": Contact(name="Plain Person"),
}


def png(width: int, height: int, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, kind)
    return out.getvalue()


def canonical(contact: Contact) -> dict:
    return synced_fields(normalise(contact))


def person_posts(emulator):  # noqa: F811
    return [e for e in emulator.log if e.method == "POST" and e.path == "/api/v2/persons"]


def field_posts(emulator):  # noqa: F811
    return [e for e in emulator.log if e.method == "POST" and e.path == "/api/v1/personFields"]


@pytest.mark.parametrize("name", list(CASES))
def test_every_field_round_trips(crm, emulator, name):  # noqa: F811
    contact = normalise(CASES[name])
    crm.ensure_fields({})
    org = crm.find_or_create_org(contact.organization) if contact.organization else None
    created = crm.create(PersonWrite(contact, org_id=org, stamp="google:a@x:1"))
    assert canonical(created.contact) == canonical(contact)
    fresh = PipedriveCrm(crm.base_url, ADMIN_TOKEN, field_keys=crm.field_keys)
    got = fresh.get(created.id)
    assert got is not None and canonical(got.contact) == canonical(contact)
    assert got.stamp == "google:a@x:1" and got.has_picture is False
    assert_log_valid(emulator)


def test_payload_shape(crm, emulator):  # noqa: F811
    keys = crm.ensure_fields({})
    crm.create(PersonWrite(normalise(RICH)))
    custom = person_posts(emulator)[-1].body["custom_fields"]
    assert custom[keys[ADDRESS_FIELD]] == {
        "value": "Flat 2, 10 Downing Street, SW1A 2AA London, Greater London, United Kingdom",
        "route": "Flat 2\n10 Downing Street", "locality": "London", "admin_area_level_1": "Greater London",
        "postal_code": "SW1A 2AA", "country": "United Kingdom",
    }
    assert custom[keys[IM_FIELD]] == "skype: dima.ivanov\nwhatsapp: +7 900 000 00 00\njabber: dima@jabber.ru"
    assert custom[keys[BIRTHDAY_FIELD]] == "--02-29"
    assert custom[keys[NOTES_FIELD]] == RICH.notes
    assert custom[keys[JOB_TITLE_FIELD]] == "Главный инженер 🚀"
    crm.create(PersonWrite(normalise(CASES["primary im not first"])))
    assert person_posts(emulator)[-1].body["custom_fields"] == {keys[IM_FIELD]: "qq: liwei\nskype: li.wei (primary)"}
    assert_log_valid(emulator)


def test_update_clears_and_changes_fields(crm, emulator):  # noqa: F811
    crm.ensure_fields({})
    created = crm.create(PersonWrite(normalise(RICH)))
    plain = normalise(Contact(name="Дмитрий Иванов", emails=RICH.emails))
    updated = crm.update(created.id, PersonWrite(plain))
    assert canonical(updated.contact) == canonical(plain)
    stored = next(p for p in emulator.persons() if p["id"] == created.id)["custom_fields"]
    assert all(stored[key] is None for name, key in crm.field_keys.items() if name != STAMP_FIELD)
    again = normalise(CASES["dated birthday, city only"])
    assert canonical(crm.update(created.id, PersonWrite(again)).contact) == canonical(again)
    assert_log_valid(emulator)


def test_values_edited_in_pipedrive_are_read(crm, emulator):  # noqa: F811
    keys = crm.ensure_fields({})
    created = crm.create(PersonWrite(Contact(name="Edited")))
    emulator.edit_person(created.id, {"custom_fields": {
        keys[ADDRESS_FIELD]: {"value": "Mustamäe tee 3, 10616 Tallinn, Estonia", "street_number": "3",
                              "route": "Mustamäe tee", "locality": "Tallinn", "postal_code": "10616",
                              "country": "Estonia"},
        keys[IM_FIELD]: "ann_on_signal\nSkype: ann.k",
    }})
    got = crm.get(created.id)
    assert got is not None
    assert got.contact.address == Address("3 Mustamäe tee", "Tallinn", "", "10616", "Estonia")
    assert got.contact.ims == (Im("ann_on_signal", "other", True), Im("ann.k", "skype", False))
    assert_log_valid(emulator)


def test_field_setup_twice_creates_each_once(crm, emulator, server):  # noqa: F811
    first = crm.ensure_fields({})
    assert sorted(first) == sorted(PERSON_FIELDS) and len(field_posts(emulator)) == len(PERSON_FIELDS)
    assert crm.ensure_fields(first) == first
    # A second account of the same company, with its own (empty) store.
    assert PipedriveCrm(server.url, ADMIN_TOKEN).ensure_fields({}) == first
    # A stale key (a field deleted since) is not trusted: the field is found by name.
    assert crm.ensure_fields({**first, NOTES_FIELD: "0" * 40}) == first
    assert len(field_posts(emulator)) == len(PERSON_FIELDS)
    types = {f["name"]: f["field_type"] for f in call(server, "GET", "/v1/personFields").json()["data"]}
    assert {name: types[name] for name in PERSON_FIELDS} == PERSON_FIELDS
    assert_log_valid(emulator)


def test_two_users_of_one_company_create_each_field_once(crm, emulator, server):  # noqa: F811
    seller = PipedriveCrm(server.url, SELLER_TOKEN)  # may not add custom fields (seed)
    with pytest.raises(PermissionDenied) as refused:
        seller.ensure_fields({})
    assert "'Contact sync ID'" in refused.value.line() and "admin" in refused.value.line()
    keys = crm.ensure_fields({})
    assert seller.ensure_fields({}) == keys
    assert [e.status for e in field_posts(emulator)] == [403] + [200] * len(PERSON_FIELDS)
    assert_log_valid(emulator)


def test_address_field_lists_its_subfields(crm, emulator, server):  # noqa: F811
    keys = crm.ensure_fields({})
    fields = {f["key"]: f for f in call(server, "GET", "/v1/personFields").json()["data"]}
    address = fields[keys[ADDRESS_FIELD]]
    assert address["field_type"] == "address"
    assert [s["key"] for s in address["subfields"]][:3] == [keys[ADDRESS_FIELD] + s
                                                            for s in ("_subpremise", "_street_number", "_route")]
    assert "subfields" not in fields[keys[NOTES_FIELD]]
    assert_log_valid(emulator)


def test_custom_field_limit_ends_setup_with_one_line(server):  # noqa: F811
    emulator = server.emulator
    emulator.control({"plan": "lite", "burst_limit": 1000})  # 30 custom fields per company; no 429s here
    for n in range(28):  # with the seed's one: 29 in use, one slot left
        call(server, "POST", "/v1/personFields", json={"name": f"Extra {n}", "field_type": "varchar"})
    with pytest.raises(PermissionDenied) as info:
        PipedriveCrm(server.url, ADMIN_TOKEN).ensure_fields({})
    line = info.value.line()
    assert "\n" not in line and "custom field limit" in line
    assert f"'{ADDRESS_FIELD}'" in line and "upgrade" in line
    capped = field_posts(emulator)[-1]
    assert capped.status == 403 and capped.response["code"] == "feature_capping_custom_fields_limit"
    emulator.control({"plan": "enterprise"})  # unlimited
    assert len(PipedriveCrm(server.url, ADMIN_TOKEN).ensure_fields({})) == len(PERSON_FIELDS)
    assert_log_valid(emulator)


def test_plan_custom_field_limits():
    assert {p: PipedriveEmulator(plan=p).field_limit() for p in ("lite", "growth", "premium", "ultimate")} == {
        "lite": 30, "growth": 100, "premium": 300, "ultimate": 500}
    assert PipedriveEmulator(plan="power").field_limit() == 500
    assert PipedriveEmulator(plan="enterprise").field_limit() is None
    with pytest.raises(ValueError):
        PipedriveEmulator(plan="platinum")


@pytest.mark.parametrize(("plan", "allowed"), [("lite", {1, 3}), ("essential", {1, 3}), ("advanced", {1, 3}),
                                               ("growth", {1, 3}), ("professional", {1, 3, 5, 7}),
                                               ("ultimate", {1, 3, 5, 7})])
def test_visible_to_per_plan_for_persons_and_organizations(server, plan, allowed):  # noqa: F811
    server.emulator.control({"plan": plan})
    for value in (1, 3, 5, 7):
        person = call(server, "POST", "/api/v2/persons", json={"name": f"P{value}", "visible_to": value})
        org = call(server, "POST", "/api/v2/organizations", json={"name": f"O{value}", "visible_to": value})
        expected = 200 if value in allowed else 400
        assert (person.status_code, org.status_code) == (expected, expected), value
    assert_log_valid(server.emulator)


def test_custom_fields_validated_by_type(crm, emulator, server):  # noqa: F811
    keys = crm.ensure_fields({})
    date_key = "3f5a0c2e9b7d41a6c8e0f2b4d6a8c0e2f4b6d8a0"  # "Customer since" in the seed
    rejected = [
        {keys[JOB_TITLE_FIELD]: "x" * 256},
        {keys[JOB_TITLE_FIELD]: 42},
        {keys[NOTES_FIELD]: "x" * 65_001},
        {keys[ADDRESS_FIELD]: "Main St 1"},
        {keys[ADDRESS_FIELD]: {"value": "Main St 1", "street": "Main St"}},
        {keys[ADDRESS_FIELD]: {"route": "Main St"}},
        {date_key: "--02-29"},
        {date_key: "2023-02-29"},
        {"f" * 40: "unknown key"},
    ]
    for custom in rejected:
        resp = call(server, "POST", "/api/v2/persons", json={"name": "V", "custom_fields": custom})
        assert resp.status_code == 400, custom
        assert resp.json()["success"] is False and "custom_fields" in resp.json()["error"]
    accepted = {keys[JOB_TITLE_FIELD]: "x" * 255, keys[NOTES_FIELD]: "x" * 65_000, date_key: "2024-02-29",
                keys[ADDRESS_FIELD]: {"value": "Main St 1", "route": "Main St 1", "country": None}}
    body = call(server, "POST", "/api/v2/persons", json={"name": "V", "custom_fields": accepted}).json()["data"]
    address = body["custom_fields"][keys[ADDRESS_FIELD]]
    assert address["route"] == "Main St 1" and address["locality"] is None
    assert address["formatted_address"] == "Main St 1"
    assert body["custom_fields"][date_key] == "2024-02-29"
    assert_log_valid(emulator)


def test_text_limits_are_pipedrive_documented_ones():
    assert PipedriveCrm.text_limits == {"name": 255, "organization": 255, "job_title": 255, "birthday": 255,
                                        "notes": 65_000, "ims": 65_000}


@pytest.mark.parametrize(("size", "kind", "mime"), [((200, 200), "PNG", "image/png"),
                                                    ((320, 200), "JPEG", "image/jpeg"),
                                                    ((128, 300), "GIF", "image/gif")])
def test_set_picture_accepted_sets_has_picture(crm, emulator, size, kind, mime):  # noqa: F811
    person = crm.create(PersonWrite(Contact(name="Pictured")))
    image = png(*size, kind)
    plan = plan_photo(image)
    assert plan.skip is None and plan.mime == mime
    crm.set_picture(person.id, image, plan.mime, plan.crop)
    got = crm.get(person.id)
    assert got is not None and got.has_picture and got.version > person.version
    upload = emulator.log[-2]
    assert upload.path == f"/api/v1/persons/{person.id}/picture" and upload.status == 200
    if plan.crop is not None:
        side = min(size)
        assert upload.body["crop_width"] == upload.body["crop_height"] == str(side)
        assert (upload.body["crop_x"], upload.body["crop_y"]) == (str(plan.crop.x), str(plan.crop.y))
    else:
        assert "crop_x" not in upload.body
    assert_log_valid(emulator)


@pytest.mark.parametrize(("image", "crop", "reason"), [
    (png(300, 200), None, "square"),
    (png(100, 100), None, "128"),
    (png(300, 300), Crop(0, 0, 100), "128"),
    (png(300, 300), Crop(250, 0, 200), "inside"),
])
def test_set_picture_rejected_like_pipedrive(crm, emulator, image, crop, reason):  # noqa: F811
    person = crm.create(PersonWrite(Contact(name="Unpictured")))
    with pytest.raises(ApiError, match=reason) as info:
        crm.set_picture(person.id, image, "image/png", crop)
    assert info.value.status == 400
    got = crm.get(person.id)
    assert got is not None and not got.has_picture
    assert_log_valid(emulator)


def test_picture_endpoint_rejects_other_formats_and_missing_persons(server, emulator):  # noqa: F811
    bmp = png(200, 200, "BMP")
    resp = call(server, "POST", "/v1/persons/1/picture", files={"file": ("a.bmp", bmp, "image/bmp")})
    assert resp.status_code == 400 and "GIF, JPG or PNG" in resp.json()["error"]
    resp = call(server, "POST", "/v1/persons/1/picture", files={"file": ("a.txt", b"hello", "text/plain")})
    assert resp.status_code == 400
    resp = call(server, "POST", "/v1/persons/999/picture", files={"file": ("a.png", png(200, 200), "image/png")})
    assert resp.status_code == 404
    resp = call(server, "POST", "/v1/persons/1/picture", files={"file": ("a.png", png(300, 200), "image/png")},
                data={"crop_x": "50", "crop_y": "0", "crop_width": "200"})
    assert resp.status_code == 400 and "crop_height" in resp.json()["error"]
    assert call(server, "GET", "/api/v2/persons/1").json()["data"]["picture_id"] is None
    with pytest.raises(ApiError, match="GIF, JPEG or PNG"):
        PipedriveCrm(server.url, ADMIN_TOKEN).set_picture(1, bmp, "image/bmp", None)
    assert_log_valid(emulator)
