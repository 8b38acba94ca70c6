"""The engine's field rules: notes by capability, cuts at the CRM's limits, photos one way."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image

from contactsync.config import AccountConfig, CrmConfig
from contactsync.crm.base import Crop, PersonWrite
from contactsync.engine.run import PassOptions, sync_account
from contactsync.model import Contact, Email
from contactsync.providers.base import Capabilities
from contactsync.store import LinkStore
from fakes import FakeCrm, FakeProvider

ACCOUNT = AccountConfig(provider="google", email="ann@example.com")
CRM = CrmConfig(domain="acme", plan="growth")


def image(width: int, height: int, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def world():
    provider = FakeProvider()
    provider.capabilities = Capabilities(supports_photo=True)
    return LinkStore.memory(), provider, FakeCrm()


def sync(world, account=ACCOUNT, **options):
    store, provider, crm = world
    return sync_account(store, provider, crm, account, CRM, PassOptions(**options))


def only_person(crm):
    [person] = crm.persons.values()
    return person


def test_notes_are_not_synced_for_providers_without_notes(world):
    store, provider, crm = world
    provider.capabilities = Capabilities(syncs_notes=False)
    id = provider.put(Contact(name="Ann", notes="private"))
    sync(world)
    assert only_person(crm).contact.notes == ""
    provider.put(Contact(name="Ann", notes="changed, still private"), id=id)
    crm.calls.clear()
    sync(world)
    assert crm.calls == []


def test_text_is_cut_only_at_the_crm_limit_and_the_cut_recorded(world):
    store, provider, crm = world
    crm.text_limits = {"notes": 10, "job_title": 255}
    id = provider.put(Contact(name="Ann", notes="x" * 25, job_title="CEO"))
    result = sync(world)
    person = only_person(crm)
    assert person.contact.notes == "x" * 10 and person.contact.job_title == "CEO"
    assert result.counts["truncate"] == 1
    [event] = [e for e in store.recent_events(ACCOUNT.key) if e.action == "truncate"]
    assert event.detail == "notes cut from 25 to 10 characters (the CRM's limit)" and event.provider_id == id
    crm.calls.clear()
    sync(world, full=True)
    assert crm.calls == []  # the cut value is what we synced: no update loop


def test_non_square_photo_is_uploaded_cropped_to_its_centre(world):
    store, provider, crm = world
    provider.photos["p1"] = image(400, 300)
    provider.put(Contact(name="Ann"), photo="p1")
    result = sync(world)
    person = only_person(crm)
    data, mime, crop = crm.pictures[person.id]
    assert mime == "image/png" and crop == Crop(50, 0, 300) and result.counts["photo"] == 1


def test_small_photo_is_skipped_with_the_reason(world):
    store, provider, crm = world
    provider.photos["p1"] = image(100, 100, "JPEG")
    provider.put(Contact(name="Ann"), photo="p1")
    sync(world)
    assert crm.pictures == {}
    [event] = [e for e in store.recent_events(ACCOUNT.key) if e.action == "photo-skip"]
    assert "100x100" in event.detail and "128" in event.detail


def test_photo_is_never_replaced_and_not_sent_in_two_way(world):
    store, provider, crm = world
    provider.photos["p1"] = image(200, 200)
    id = provider.put(Contact(name="Ann"), photo="p1")
    sync(world)
    person = only_person(crm)
    assert person.has_picture and crm.calls.count("set_picture") == 1
    provider.photos["p2"] = image(300, 300)
    provider.put(Contact(name="Ann"), id=id, photo="p2")
    sync(world)
    assert crm.calls.count("set_picture") == 1  # it has a picture already

    other = (LinkStore.memory(), provider, FakeCrm())
    provider.put(Contact(name="Bo"), photo="p1")
    sync(other, account=replace(ACCOUNT, direction="two-way"))
    assert other[2].pictures == {}


def test_adopted_person_with_a_picture_keeps_it(world):
    store, provider, crm = world
    mine = crm.create(PersonWrite(Contact(name="Ann", emails=(Email("a@x.org", "work", True),)), owner_id=1))
    crm.persons[mine.id] = replace(mine, has_picture=True)
    provider.photos["p1"] = image(200, 200)
    provider.put(Contact(name="Ann", emails=(Email("a@x.org"),)), photo="p1")
    result = sync(world)
    assert result.counts["adopt"] == 1 and crm.pictures == {}
