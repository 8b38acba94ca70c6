"""Contract tests of the Google adapter against the People API emulator, over real HTTP."""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from google_support import (  # noqa: F401
    ANN, CHLOE, CLIENTS, EMAIL, JOSE, MOHAMMED, OLGA, PRIYA, TARO, Sandbox,
)
from PIL import Image

from contactsync.auth.google import GoogleGrant, credentials, id_token_email, sign_in
from contactsync.errors import AuthError, CursorExpired, StaleVersion, TemporaryError, UsageError
from contactsync.model import Address, Contact, Email, Im, Phone, normalise
from contactsync.providers.base import ProviderDeletion, ProviderRecord
from contactsync.providers.google import contact_to_person, person_to_contact, sized_photo_url
from contactsync.sandbox.browser import register_sandbox_browser
from contactsync.sandbox.server import Fault


def read_all(feed) -> list:
    return [change for page in feed.pages() for change in page]


# -- mapping ------------------------------------------------------------------------

def test_person_to_contact_maps_labels_and_primary() -> None:
    contact = person_to_contact({
        "resourceName": "people/c1", "etag": "%x",
        "names": [{"displayName": "Ann Smith", "givenName": "Ann", "familyName": "Smith"}],
        "emailAddresses": [{"value": "a@x.example", "type": "work"},
                           {"value": "A@Home.example", "type": "custom", "metadata": {"primary": True}}],
        "phoneNumbers": [{"value": "+1 555", "type": "workMobile"}, {"value": "+1 556", "type": "main"},
                         {"value": "+1 557", "type": "homeFax"}, {"value": "+1 558", "type": "googleVoice"}],
        "organizations": [{"name": "Northwind", "title": "Buyer"}],
    })
    assert (contact.name, contact.first_name, contact.last_name) == ("Ann Smith", "Ann", "Smith")
    assert [(e.value, e.label, e.primary) for e in contact.emails] == [
        ("a@x.example", "work", False), ("a@home.example", "other", True)]
    assert [p.label for p in contact.phones] == ["mobile", "work", "home", "other"]
    assert contact.organization == "Northwind" and contact.job_title == "Buyer"


def test_contact_to_person_keeps_unmapped_organization_parts() -> None:
    contact = Contact(name="Ann B. Smith", first_name="Ann", last_name="Smith",
                      emails=(Email("a@x.example", "work", True),), phones=(Phone("+1 5", "mobile"),),
                      organization="Contoso", job_title="Head Buyer")
    body = contact_to_person(contact, current={"organizations": [{"name": "Old", "title": "Buyer",
                                                                  "department": "Procurement"}]})
    assert body["names"] == [{"givenName": "Ann", "familyName": "Smith", "middleName": "B."}]
    assert body["emailAddresses"] == [{"value": "a@x.example", "type": "work", "metadata": {"sourcePrimary": True}}]
    assert body["phoneNumbers"] == [{"value": "+1 5", "type": "mobile"}]
    assert body["organizations"] == [{"name": "Contoso", "title": "Head Buyer", "department": "Procurement"}]
    assert "memberships" not in body
    assert contact_to_person(Contact(name="Acme Desk"), group=CLIENTS)["names"] == [{"unstructuredName": "Acme Desk"}]


# -- reads --------------------------------------------------------------------------

def test_groups_flag_my_contacts_as_default(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    groups = {g.id: g for g in provider.groups()}
    assert groups["contactGroups/myContacts"].is_default
    assert groups[CLIENTS].name == "Clients" and groups[CLIENTS].member_count == 6
    assert "contactGroups/all" not in groups and "contactGroups/blocked" not in groups
    assert provider.default_group().id == "contactGroups/myContacts"
    provider.check()


def test_full_listing_honours_the_group(sandbox: Sandbox) -> None:
    feed = sandbox.provider(page_size=4).changes(None, CLIENTS)
    changes = read_all(feed)
    assert feed.complete and feed.cursor
    assert all(isinstance(c, ProviderRecord) for c in changes)
    ids = {c.id for c in changes}
    assert len(ids) == 6 and ANN in ids and TARO in ids and PRIYA not in ids
    taro = next(c for c in changes if c.id == TARO)
    assert taro.contact.name == "山田 太郎" and taro.version == sandbox.emulator.person(TARO)["etag"]
    nameless = next(c for c in changes if c.id == "people/c1000000000000000006")
    assert nameless.contact.name == "" and nameless.contact.emails[0].value == "orders@wide-world-importers.example"
    # A group's total is its memberCount (one contactGroups.get), not the connections' totalPeople.
    assert feed.expected == 6
    assert [e.path for e in sandbox.emulator.log].count(f"/v1/{CLIENTS}") == 1
    assert sandbox.provider().changes(feed.cursor, CLIENTS).expected is None  # no count asked for changes
    assert [e.path for e in sandbox.emulator.log].count(f"/v1/{CLIENTS}") == 1


def test_incremental_reports_edits_deletions_and_group_removals(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    first = provider.changes(None, CLIENTS)
    read_all(first)
    emu = sandbox.emulator
    emu.edit_person(ANN, {"phoneNumbers": [{"value": "+1 415 555 0199", "type": "mobile"}]})
    emu.delete_person(JOSE)
    emu.edit_person(TARO, {"memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}]})
    new = emu.add_person({"names": [{"givenName": "Noor"}], "memberships": [
        {"contactGroupMembership": {"contactGroupResourceName": CLIENTS}}]})
    feed = provider.changes(first.cursor, CLIENTS)
    changes = {c.id: c for c in read_all(feed)}
    assert not feed.complete and feed.cursor and feed.cursor != first.cursor
    assert changes[ANN].contact.phones[0].value == "+1 415 555 0199"
    assert changes[ANN].version == emu.person(ANN)["etag"]
    assert isinstance(changes[JOSE], ProviderDeletion)
    assert isinstance(changes[TARO], ProviderDeletion)
    assert changes[new].contact.name == "Noor"
    assert set(changes) == {ANN, JOSE, TARO, new}
    # Nothing changed since: the next incremental read is empty.
    quiet = provider.changes(feed.cursor, CLIENTS)
    assert read_all(quiet) == []


def test_expired_cursor_raises_cursor_expired(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    feed = provider.changes(None, CLIENTS)
    read_all(feed)
    sandbox.emulator.expire_sync_tokens()
    with pytest.raises(CursorExpired):
        provider.changes(feed.cursor, CLIENTS)
    with pytest.raises(CursorExpired):  # a cursor taken with another field mask
        provider.changes("0000|" + feed.cursor.split("|", 1)[1], CLIENTS)
    assert len(read_all(provider.changes(None, CLIENTS))) == 6


# -- writes -------------------------------------------------------------------------

def test_create_update_delete(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    contact = Contact(name="Zoë Ng", first_name="Zoë", last_name="Ng",
                      emails=(Email("zoe@ng.example", "work", True),), phones=(Phone("+44 20 5555 0101", "mobile"),),
                      organization="Ng & Co")
    created = provider.create(contact, CLIENTS)
    stored = sandbox.emulator.person(created.id)
    groups = {m["contactGroupMembership"]["contactGroupResourceName"] for m in stored["memberships"]}
    assert groups == {"contactGroups/myContacts", CLIENTS}
    assert created.contact.name == "Zoë Ng" and created.version == stored["etag"]
    assert stored["phoneNumbers"][0]["type"] == "mobile"

    sandbox.emulator.edit_person(created.id, {"organizations": [{"name": "Ng & Co", "department": "R&D"}]})
    version = sandbox.emulator.person(created.id)["etag"]
    changed = Contact(name="Zoë Ng", first_name="Zoë", last_name="Ng", emails=(Email("zoe@new.example", "home"),),
                      organization="Ng Holdings")
    updated = provider.update(created.id, changed, version)
    assert updated.version != version
    after = sandbox.emulator.person(created.id)
    assert [e["value"] for e in after["emailAddresses"]] == ["zoe@new.example"]
    assert "phoneNumbers" not in after
    assert after["organizations"][0] == {**after["organizations"][0], "name": "Ng Holdings", "department": "R&D"}

    provider.delete(created.id)
    assert created.id not in sandbox.emulator.people
    provider.delete(created.id)  # already gone is fine


def test_stale_version_raises_stale_version(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    version = sandbox.emulator.person(ANN)["etag"]
    sandbox.emulator.edit_person(ANN, {"organizations": [{"name": "Moved On Inc"}]})
    with pytest.raises(StaleVersion):
        provider.update(ANN, Contact(name="Ann Smith", first_name="Ann", last_name="Smith"), version)
    assert sandbox.emulator.person(ANN)["organizations"][0]["name"] == "Moved On Inc"


def test_create_is_never_retried(sandbox: Sandbox) -> None:
    provider = sandbox.provider(retries=3)
    sandbox.emulator.add_fault(Fault(drop=True, path=r"createContact"))
    with pytest.raises(TemporaryError):
        provider.create(Contact(name="Once Only"), CLIENTS)
    assert len(sandbox.emulator.people) == 11  # a retry would have created it


# -- auth and faults --------------------------------------------------------------------

def test_revoked_grant_is_an_auth_error_naming_the_fix(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    sandbox.emulator.revoke_grants(EMAIL)
    with pytest.raises(AuthError) as info:
        provider.check()
    assert "contactsync reconnect google:ann@example.com" in info.value.fix


def test_expired_access_token_is_refreshed_transparently(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    provider.verify()
    sandbox.emulator.oauth.expire_access_tokens()
    provider.verify()
    token_calls = [e for e in sandbox.emulator.log if e.path == "/token"]
    assert len(token_calls) == 2
    assert [e.status for e in sandbox.emulator.log if e.path.startswith("/v1/")] == [200, 401, 200]


def test_persistent_401_is_an_auth_error(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    body = {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                      "status": "UNAUTHENTICATED"}}
    for _ in range(3):
        sandbox.emulator.add_fault(Fault(status=401, body=body, path=r"^/v1/"))
    with pytest.raises(AuthError):
        provider.groups()


def test_missing_scope_is_an_auth_error(sandbox: Sandbox) -> None:
    grant = sandbox.grant(scope="https://www.googleapis.com/auth/contacts.readonly openid")
    provider = sandbox.provider(grant)
    assert len(read_all(provider.changes(None, CLIENTS))) == 6
    with pytest.raises(AuthError) as info:
        provider.create(Contact(name="X"), CLIENTS)
    assert "scope" in info.value.message


def test_server_errors_are_retried_then_temporary(sandbox: Sandbox) -> None:
    provider = sandbox.provider(retries=1)
    sandbox.emulator.add_fault(Fault(status=500, body={"error": {"code": 500, "status": "INTERNAL"}}, path="/v1/"))
    assert provider.groups()  # one failure is absorbed by the retry
    for _ in range(2):
        sandbox.emulator.add_fault(Fault(status=503, path="/v1/"))
    with pytest.raises(TemporaryError):
        provider.groups()
    # A 429 is waited out over about a minute (per-minute quotas), then reported.
    waits: list[float] = []
    provider = sandbox.provider(retries=1, sleep=waits.append)
    for _ in range(5):
        sandbox.emulator.add_fault(Fault(status=429, path="/v1/people/me/connections"))
    with pytest.raises(TemporaryError, match="quota"):
        provider.changes(None, CLIENTS)
    assert waits == [5.0, 10.0, 20.0, 30.0]


def test_dropped_connection_is_temporary(sandbox: Sandbox) -> None:
    provider = sandbox.provider(retries=1)
    provider.check()
    for _ in range(2):
        sandbox.emulator.add_fault(Fault(drop=True, path="/v1/people/me/connections"))
    with pytest.raises(TemporaryError):
        provider.changes(None, CLIENTS)


# -- sign-in ----------------------------------------------------------------------------

def write_secrets(sandbox: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps(sandbox.emulator.client_config()))
    return path


def test_sign_in_end_to_end_produces_a_working_grant(sandbox: Sandbox, tmp_path: Path) -> None:
    browser = register_sandbox_browser()
    grant = sign_in(write_secrets(sandbox, tmp_path), "Ann@Example.com")
    assert grant.refresh_token in sandbox.emulator.oauth.grants
    assert grant.token_uri == sandbox.url + "/token"
    assert any(url.startswith(sandbox.url + "/o/oauth2/auth") for url in browser.visits)
    restored = GoogleGrant.from_json(grant.to_json())
    assert restored == grant
    provider = sandbox.provider(restored)
    assert provider.signed_in_email() == "Ann@Example.com"
    creds = credentials(restored)
    assert creds.refresh_token == grant.refresh_token and creds.token == grant.access_token and creds.valid


def test_sign_in_refuses_another_account(sandbox: Sandbox, tmp_path: Path) -> None:
    register_sandbox_browser()
    sandbox.emulator.control({"sign_in_as": "bob@example.com"})
    with pytest.raises(UsageError) as info:
        sign_in(write_secrets(sandbox, tmp_path), EMAIL)
    assert "bob@example.com" in info.value.message and EMAIL in info.value.message


def test_sign_in_without_browser_prints_the_url_to_stderr(sandbox: Sandbox, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    browser = register_sandbox_browser()

    class User(io.StringIO):
        """Reads the printed URL and opens it, as a person would."""

        def write(self, text: str) -> int:
            match = re.search(r"http://\S+/o/oauth2/auth\S+", text)
            if match:
                threading.Thread(target=browser.open, args=(match.group(0),)).start()
            return super().write(text)

    user = User()
    monkeypatch.setattr("sys.stderr", user)
    before = len(browser.visits)
    grant = sign_in(write_secrets(sandbox, tmp_path), EMAIL, open_browser=False)
    assert grant.refresh_token in sandbox.emulator.oauth.grants
    assert "/o/oauth2/auth" in user.getvalue()
    assert len(browser.visits) == before + 1  # only the "user" opened it


def test_a_sign_in_nobody_finishes_times_out_in_one_plain_line(sandbox: Sandbox, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())  # the URL is printed; nobody opens it
    with pytest.raises(AuthError) as info:
        sign_in(write_secrets(sandbox, tmp_path), EMAIL, open_browser=False, timeout_seconds=1)
    assert info.value.exit_code == 3
    assert info.value.message == f"Google sign-in for {EMAIL}: no answer from the browser sign-in within 1 second"
    assert "WSGI" not in info.value.line() and "authorization server" not in info.value.line()
    assert "run the same command again" in info.value.fix and "--no-browser" in info.value.fix


def test_the_default_sign_in_wait_is_named_in_minutes(sandbox: Sandbox, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError

    def never_answered(self: object, **kwargs: object) -> None:
        assert kwargs["timeout_seconds"] == 300
        raise WSGITimeoutError("Timed out waiting for response from authorization server")

    monkeypatch.setattr(InstalledAppFlow, "run_local_server", never_answered)
    with pytest.raises(AuthError) as info:
        sign_in(write_secrets(sandbox, tmp_path), EMAIL, open_browser=False)
    assert info.value.message.endswith("within 5 minutes")


def test_sign_in_explains_a_missing_or_wrong_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as missing:
        sign_in(tmp_path / "nope.json", EMAIL, open_browser=False)
    assert "Desktop app" in missing.value.fix
    web = tmp_path / "web.json"
    web.write_text(json.dumps({"web": {"client_id": "x"}}))
    with pytest.raises(UsageError) as wrong:
        sign_in(web, EMAIL, open_browser=False)
    assert "Web application" in wrong.value.message


def test_id_token_email_reads_the_payload() -> None:
    assert id_token_email("e30.eyJlbWFpbCI6ImFAYi5jIn0.sig") == "a@b.c"
    assert id_token_email("garbage") is None and id_token_email(None) is None


# -- the fields of DESIGN §7 through the adapter ------------------------------------------

MY_CONTACTS = "contactGroups/myContacts"


def test_listing_maps_the_rich_seed(sandbox: Sandbox) -> None:
    records = {r.id: r for r in read_all(sandbox.provider().changes(None, MY_CONTACTS))}
    ann = records[ANN].contact
    assert ann.job_title == "Purchasing Manager"
    assert ann.address == Address("1 Market Street\nSuite 400", "San Francisco", "CA", "94105", "United States",
                                  "work")
    assert ann.ims == (Im("ann.smith.nw", "skype", True),)
    assert ann.notes == "Prefers e-mail before noon.\nBudget owner for Q3 purchasing."
    assert ann.birthday == "1984-03-12"
    assert records[JOSE].contact.birthday == "--07-25"
    assert records[JOSE].contact.address.street == "Calle de Alcalá, 48\n3º izquierda"
    assert records[MOHAMMED].contact.birthday == ""  # "early June" is not a date
    assert records[OLGA].contact.address.country == "RU" and len(records[OLGA].contact.notes) > 12_000
    assert [i.label for i in records[CHLOE].contact.ims if i.primary] == ["jabber"]
    assert records[TARO].contact.job_title == "営業部長"
    with_photo = {id for id, r in records.items() if r.photo}
    assert with_photo == {ANN, JOSE, TARO}  # the rest have Google's placeholder only


def test_photo_bytes_are_fetched_at_full_size(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    records = {r.id: r for r in read_all(provider.changes(None, MY_CONTACTS))}
    image = provider.photo(ANN, records[ANN].photo)
    with Image.open(io.BytesIO(image)) as img:
        assert (img.format, img.size) == ("PNG", (400, 300))
    with Image.open(io.BytesIO(provider.photo(TARO, records[TARO].photo))) as img:
        assert img.size == (96, 96)  # small stays small: never enlarged
    photo_requests = [e for e in sandbox.emulator.log if e.path.startswith("/photos/")]
    assert photo_requests and all("authorization" not in e.headers for e in photo_requests)
    sandbox.emulator.set_photo(ANN, None)
    assert provider.photo(ANN, records[ANN].photo) is None  # replaced since the listing


def test_photo_errors_map_like_the_api(sandbox: Sandbox) -> None:
    provider = sandbox.provider(retries=1)
    ref = next(r.photo for r in read_all(provider.changes(None, MY_CONTACTS)) if r.id == JOSE)
    for _ in range(2):  # a 500 is retried (once here), like a 503
        sandbox.emulator.add_fault(Fault(status=500, path="^/photos/"))
    with pytest.raises(TemporaryError):
        provider.photo(JOSE, ref)
    for _ in range(2):
        sandbox.emulator.add_fault(Fault(drop=True, path="^/photos/"))
    with pytest.raises(TemporaryError):
        provider.photo(JOSE, ref)
    assert provider.photo(JOSE, ref)  # served again


def test_update_keeps_the_non_primary_addresses(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    record = next(r for r in read_all(provider.changes(None, MY_CONTACTS)) if r.id == ANN)
    moved = replace(record.contact, address=replace(record.contact.address, city="Daly City", postal_code="94014"))
    updated = provider.update(ANN, moved, record.version)
    assert updated.contact.address.city == "Daly City"
    stored = sandbox.emulator.person(ANN)["addresses"]
    assert [(a["city"], a["type"]) for a in stored] == [("Daly City", "work"), ("Oakland", "home")]
    assert stored[0]["streetAddress"] == "1 Market Street\nSuite 400" and stored[0]["countryCode"] == "US"
    assert "Daly City" in stored[0]["formattedValue"]
    assert stored[1]["streetAddress"] == "742 Evergreen Terrace"


def test_every_seed_contact_survives_an_update_unchanged(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    before = {r.id: r for r in read_all(provider.changes(None, MY_CONTACTS))}
    for id, record in before.items():
        updated = provider.update(id, record.contact, record.version)
        expected = record.contact.to_dict()
        if id == TARO:
            # Known limitation: displayName is output only and the service derives it
            # given-name first, so a family-first name ("山田 太郎") written back as
            # parts reads "太郎 山田". Every other field must survive untouched.
            assert updated.contact.name == "太郎 山田"
            expected["name"] = updated.contact.name
        assert updated.contact.to_dict() == expected, id
        assert updated.photo == record.photo  # photos are never written by updateContact
    assert sandbox.emulator.person(OLGA)["addresses"][0]["countryCode"] == "RU"


def test_create_writes_every_field(sandbox: Sandbox) -> None:
    provider = sandbox.provider()
    contact = Contact(name="Zoë Ng", first_name="Zoë", last_name="Ng", organization="Ng & Co", job_title="Founder",
                      address=Address("5 Rue 🌈", "Lyon", "", "69001", "France", "home"),
                      ims=(Im("zoe", "skype", True),), notes="Line 1\nLine 2", birthday="--12-31")
    created = provider.create(contact, CLIENTS)
    assert created.contact.to_dict() == normalise(contact).to_dict()
    assert created.photo is None
    stored = sandbox.emulator.person(created.id)
    assert stored["birthdays"][0]["date"] == {"month": 12, "day": 31}
    assert stored["photos"][0]["default"] is True


def test_sized_photo_url_replaces_the_size_option_of_the_last_segment() -> None:
    base = "https://lh3.googleusercontent.com/contacts/AG6tpzFm-x_1"
    assert sized_photo_url(base + "=s100") == base + "=s1024"
    assert sized_photo_url(base + "=s408-p-k-rw-no") == base + "=s1024"
    assert sized_photo_url(base) == base + "=s1024"
    assert sized_photo_url("https://h.example/a=b/p=s100?k=v") == "https://h.example/a=b/p=s1024?k=v"


def test_check_mints_a_token_but_asks_the_api_nothing(sandbox: Sandbox) -> None:
    """A quiet pass is one connections read (issue 13): the preflight only needs a working grant."""
    provider, later = sandbox.provider(), sandbox.provider()
    provider.check()
    provider.check()
    assert [e.path for e in sandbox.emulator.log] == ["/token"]
    sandbox.emulator.oauth.revoke()
    with pytest.raises(AuthError):
        later.check()  # the next pass: its refresh is refused
