"""Contract tests of the Microsoft adapter and its MSAL sign-in against the Graph emulator, over real HTTP."""

from __future__ import annotations

import io
import json
import threading

import pytest
from microsoft_support import CLIENT_ID, CLIENTS, EMAIL, FATIMA, MARIA, MISAKI, OLEG, GraphSandbox, aged

from contactsync.auth.microsoft import MicrosoftSession, sign_in
from contactsync.clock import ManualClock
from contactsync.errors import AuthError, CursorExpired, StaleVersion, UsageError
from contactsync.model import Address, Contact, Email, Phone
from contactsync.providers.base import ProviderDeletion, ProviderRecord
from contactsync.providers.microsoft import MicrosoftProvider
from contactsync.sandbox.server import Fault


def read_all(feed) -> list:
    return [change for page in feed.pages() for change in page]


# -- reads ------------------------------------------------------------------------

def test_groups_include_the_default_folder(graph: GraphSandbox) -> None:
    provider = graph.provider()
    provider.check()
    groups = provider.groups()
    assert [(g.id, g.name, g.is_default) for g in groups] == [("contacts", "Contacts", True),
                                                               (CLIENTS, "Clients", False)]
    assert provider.default_group().id == "contacts"


def test_full_listing_of_each_folder(graph: GraphSandbox) -> None:
    provider = graph.provider(page_size=2)
    feed = provider.changes(None, CLIENTS)
    changes = read_all(feed)
    assert feed.complete and feed.cursor and "$deltatoken=" in feed.cursor
    assert all(isinstance(c, ProviderRecord) for c in changes)
    by_id = {c.id: c for c in changes}
    assert len(by_id) == 5 and FATIMA not in by_id
    maria = by_id[MARIA]
    assert maria.version == graph.emulator.contact(MARIA)["changeKey"]
    assert len(maria.contact.emails) == 3 and maria.contact.birthday == "1984-03-09"
    assert maria.contact.notes == "" and maria.photo == MARIA
    assert by_id[OLEG].contact.name == "Олег Смирнов"
    default = read_all(provider.changes(None, "contacts"))
    assert {c.id for c in default} >= {FATIMA} and len(default) == 4
    # $select is sent, so unmapped properties (personalNotes) never leave Graph.
    delta_calls = [e for e in graph.emulator.log if e.path.endswith("/delta") and "$select" in e.query]
    assert delta_calls and "personalNotes" not in delta_calls[0].query["$select"][0]


def test_a_full_listing_is_counted_in_the_request_that_finds_the_default_folder(graph: GraphSandbox) -> None:
    provider = graph.provider()
    feed = provider.changes(None, "contacts")
    assert feed.expected == len(read_all(feed)) == 4
    lists = [e for e in graph.emulator.log if e.path == "/v1.0/me/contacts"]
    assert len(lists) == 1 and lists[0].query["$count"] == ["true"]  # no request of its own
    graph.emulator.log.clear()
    assert provider.changes(None, CLIENTS).expected == 5
    assert provider.changes(feed.cursor, "contacts").expected is None  # a delta round is not counted
    assert [e.path.rsplit("/", 1)[-1] for e in graph.emulator.log] == ["contacts", "delta", "delta"]


def test_a_count_graph_does_not_give_is_unknown_not_a_number(graph: GraphSandbox) -> None:
    graph.emulator.quirks.update({"count_unknown": True})  # "@odata.count": -1 (microsoft-graph-docs#5064)
    feed = graph.provider().changes(None, CLIENTS)
    assert feed.expected is None and len(read_all(feed)) == 5


def test_incremental_reports_edits_deletions_and_moves(graph: GraphSandbox) -> None:
    provider = graph.provider()
    first = provider.changes(None, CLIENTS)
    read_all(first)
    emu = graph.emulator
    emu.edit_contact(MARIA, {"mobilePhone": "+48 601 000 000"})
    emu.delete_contact(OLEG)
    moved = emu.move_contact(MISAKI, None)
    new = emu.add_contact(CLIENTS, {"givenName": "Noor", "displayName": "Noor"})
    feed = provider.changes(first.cursor, CLIENTS)
    changes = {c.id: c for c in read_all(feed)}
    assert not feed.complete and feed.cursor and feed.cursor != first.cursor
    assert "+48 601 000 000" in [p.value for p in changes[MARIA].contact.phones]
    assert changes[MARIA].version == emu.contact(MARIA)["changeKey"]
    assert isinstance(changes[OLEG], ProviderDeletion) and isinstance(changes[MISAKI], ProviderDeletion)
    assert changes[new].contact.name == "Noor"
    assert set(changes) == {MARIA, OLEG, MISAKI, new} and moved not in changes
    assert read_all(provider.changes(feed.cursor, CLIENTS)) == []


@pytest.mark.parametrize("code", ["SyncStateNotFound", "syncStateInvalid", "resyncRequired"])
def test_expired_delta_raises_cursor_expired(graph: GraphSandbox, code: str) -> None:
    provider = graph.provider()
    feed = provider.changes(None, CLIENTS)
    read_all(feed)
    graph.emulator.expire_delta_tokens(code)
    with pytest.raises(CursorExpired):
        provider.changes(feed.cursor, CLIENTS)
    with pytest.raises(CursorExpired):  # a cursor taken with another $select
        provider.changes("0000|" + feed.cursor.split("|", 1)[1], CLIENTS)
    assert len(read_all(provider.changes(None, CLIENTS))) == 5


# -- writes ------------------------------------------------------------------------

def test_create_update_delete(graph: GraphSandbox) -> None:
    provider = graph.provider()
    contact = Contact(name="Zoë Ng", first_name="Zoë", last_name="Ng", emails=(Email("zoe@ng.example", primary=True),),
                      phones=(Phone("+44 20 5555 0101", "mobile"),), organization="Ng & Co",
                      address=Address("1 High St", "London", "", "EC1A 1AA", "UK", "work"), notes="not sent")
    created = provider.create(contact, CLIENTS)
    stored = graph.emulator.contact(created.id)
    assert stored["parentFolderId"] == CLIENTS and stored["mobilePhone"] == "+44 20 5555 0101"
    assert stored["businessAddress"]["city"] == "London" and stored["personalNotes"] is None
    assert created.version == stored["changeKey"] and created.contact.name == "Zoë Ng"

    graph.emulator.edit_contact(created.id, {"personalNotes": "user's own note"})
    version = graph.emulator.contact(created.id)["changeKey"]
    changed = Contact(name="Zoë Ng", first_name="Zoë", last_name="Ng", emails=(Email("zoe@new.example"),),
                      address=Address(city="Leeds", label="home"))
    updated = provider.update(created.id, changed, version)
    after = graph.emulator.contact(created.id)
    assert updated.version == after["changeKey"] != version
    assert [e["address"] for e in after["emailAddresses"]] == ["zoe@new.example"]
    assert after["mobilePhone"] is None and after["companyName"] is None
    assert after["homeAddress"]["city"] == "Leeds" and after["businessAddress"] == {}
    assert after["personalNotes"] == "user's own note"  # notes are not ours to touch
    patch = [e for e in graph.emulator.log if e.method == "PATCH"][-1]
    assert patch.headers["if-match"] == f'W/"{version}"'

    provider.delete(created.id)
    assert created.id not in graph.emulator.contacts
    provider.delete(created.id)  # already gone is fine


def test_stale_version_raises_stale_version(graph: GraphSandbox) -> None:
    provider = graph.provider()
    provider.changes(None, CLIENTS)  # items are addressed through the folder of the pass
    version = graph.emulator.contact(MARIA)["changeKey"]
    graph.emulator.edit_contact(MARIA, {"companyName": "Moved On"})
    with pytest.raises(StaleVersion):
        provider.update(MARIA, Contact(name="Maria Kowalski"), version)
    assert graph.emulator.contact(MARIA)["companyName"] == "Moved On"


def test_caps_are_respected_and_the_overflow_reported(graph: GraphSandbox) -> None:
    provider = graph.provider()
    contact = Contact(name="Many Ways", emails=tuple(Email(f"m{i}@ways.example") for i in range(5)),
                      phones=tuple(Phone(f"+1 555 010{i}", "work") for i in range(3)) + (Phone("+1 1", "mobile"),
                                                                                          Phone("+1 2", "mobile")))
    created = provider.create(contact, "contacts")
    stored = graph.emulator.contact(created.id)
    assert len(stored["emailAddresses"]) == 3 and len(stored["businessPhones"]) == 2
    assert stored["mobilePhone"] == "+1 1"
    assert [(o.field, o.value) for o in provider.last_overflow] == [
        ("email", "m3@ways.example"), ("email", "m4@ways.example"), ("phone", "+1 555 0102"), ("phone", "+1 2")]


def test_photo(graph: GraphSandbox) -> None:
    provider = graph.provider()
    provider.changes(None, CLIENTS)  # items are addressed through the folder of the pass
    data = provider.photo(MARIA, MARIA)
    assert data is not None and data[:2] == b"\xff\xd8"
    provider.changes(None, "contacts")
    assert provider.photo(FATIMA, FATIMA) is None


# -- throttling and errors ---------------------------------------------------------------

def test_retry_after_pauses_and_retries(graph: GraphSandbox) -> None:
    clock = ManualClock()
    provider = graph.provider(clock=clock)
    graph.emulator.add_fault(Fault(status=429, headers={"Retry-After": "1"}, path=r"contactFolders$",
                                   body={"error": {"code": "ApplicationThrottled", "message": "slow down"}}))
    assert len(provider.groups()) == 2
    assert sum(clock.sleeps) >= 1.0
    assert [e.status for e in graph.emulator.log if e.path.endswith("contactFolders")] == [429, 200]


def test_retry_after_pauses_every_request_of_the_mailbox(graph: GraphSandbox) -> None:
    clock = ManualClock()
    provider = graph.provider(clock=clock)
    provider.client.pause(1.0)
    provider.check()
    assert clock.sleeps == [1.0]


def test_never_more_than_four_in_flight(graph: GraphSandbox) -> None:
    provider = graph.provider()
    provider.changes(None, CLIENTS)
    graph.emulator.work_time = 0.15
    threads = [threading.Thread(target=provider.photo, args=(MARIA, MARIA)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert graph.emulator.max_in_flight == 4
    assert all(e.status == 200 for e in graph.emulator.log)


def test_401_is_an_auth_error_naming_the_fix(graph: GraphSandbox) -> None:
    provider = MicrosoftProvider(lambda: "expired", EMAIL, endpoint=graph.url)
    with pytest.raises(AuthError) as info:
        provider.groups()
    assert f"contactsync reconnect microsoft:{EMAIL}" in info.value.fix


def test_bad_request_is_an_api_error_with_graphs_message(graph: GraphSandbox) -> None:
    provider = graph.provider()
    graph.emulator.add_fault(Fault(status=400, method="POST", body={
        "error": {"code": "ErrorInvalidProperty", "message": "The property 'GivenName' is required."}}))
    with pytest.raises(Exception) as info:
        provider.create(Contact(name="X"), "contacts")
    assert "GivenName" in str(info.value) and type(info.value).__name__ == "ApiError"


# -- sign-in (MSAL's real code path) -------------------------------------------------------

def token_requests(graph: GraphSandbox) -> int:
    return sum(1 for e in graph.emulator.log if e.path.endswith("/oauth2/v2.0/token"))


def test_device_code_sign_in_keeps_the_access_token_and_saves_each_refresh_before_use(graph: GraphSandbox) -> None:
    out = io.StringIO()
    cache = sign_in(CLIENT_ID, EMAIL.upper(), authority_host=graph.url, out=out)
    assert "/devicelogin" in out.getvalue() and "enter the code" in out.getvalue()
    data = json.loads(cache)
    assert {"AccessToken", "RefreshToken", "Account"} <= set(data)
    assert len(cache) > 3000  # real token sizes: larger than one Windows credential
    polls = [e for e in graph.emulator.log if e.path.endswith("/token")]
    assert [e.status for e in polls] == [400, 200]  # authorization_pending, then approved
    saved: list[str] = []
    session = MicrosoftSession(cache, CLIENT_ID, EMAIL, authority_host=graph.url, save=saved.append)
    token = session.token()
    assert graph.emulator.identity.email_for(token) == EMAIL
    assert token_requests(graph) == 2 and saved == []  # the stored access token is used as it is
    provider = MicrosoftProvider(session, EMAIL, endpoint=graph.url)
    assert len(provider.groups()) == 2
    graph.emulator.identity.expire_access_tokens()
    session = MicrosoftSession(aged(cache), CLIENT_ID, EMAIL, authority_host=graph.url, save=saved.append)
    fresh = session.token()
    assert token_requests(graph) == 3 and len(saved) == 1
    stored = json.loads(saved[0])
    assert [t["secret"] for t in stored["AccessToken"].values()] == [fresh]
    old_rt = next(iter(data["RefreshToken"].values()))["secret"]
    assert next(iter(stored["RefreshToken"].values()))["secret"] != old_rt
    assert session.token() == fresh and token_requests(graph) == 3  # reused within the pass


def test_a_refused_unexpired_token_is_refreshed_once_and_the_request_repeated(graph: GraphSandbox) -> None:
    cache = sign_in(CLIENT_ID, EMAIL, authority_host=graph.url, out=io.StringIO())
    saved: list[str] = []
    session = MicrosoftSession(cache, CLIENT_ID, EMAIL, authority_host=graph.url, save=saved.append)
    provider = MicrosoftProvider(session, EMAIL, endpoint=graph.url)
    graph.emulator.identity.revoke_access_tokens()  # the clock still says they are valid
    before = token_requests(graph)
    assert len(provider.groups()) == 2
    assert token_requests(graph) == before + 1 and len(saved) == 1
    statuses = [e.status for e in graph.emulator.log if e.path.startswith("/v1.0/")]
    assert statuses.count(401) == 1


def test_revoked_grant_is_an_auth_error(graph: GraphSandbox) -> None:
    cache = sign_in(CLIENT_ID, EMAIL, authority_host=graph.url, out=io.StringIO())
    graph.emulator.identity.revoke(EMAIL)
    saved: list[str] = []
    session = MicrosoftSession(cache, CLIENT_ID, EMAIL, authority_host=graph.url, save=saved.append)
    with pytest.raises(AuthError) as info:
        MicrosoftProvider(session, EMAIL, endpoint=graph.url).groups()
    assert "invalid_grant" in info.value.message and f"reconnect microsoft:{EMAIL}" in info.value.fix
    assert not saved


def test_the_preflight_needs_user_read_and_a_token_without_it_is_refused(graph: GraphSandbox) -> None:
    token = graph.emulator.identity.issue_access_token(EMAIL, scopes={"Contacts.ReadWrite"})
    me = graph.api("GET", "/v1.0/me", token)
    assert me.status_code == 403 and me.json()["error"]["code"] == "Authorization_RequestDenied"
    assert graph.api("GET", "/v1.0/me/contacts", token).status_code == 200
    reader = graph.emulator.identity.issue_access_token(EMAIL, scopes={"Contacts.Read", "User.Read"})
    assert graph.api("GET", "/v1.0/me/contactFolders", reader).status_code == 200
    denied = graph.api("POST", "/v1.0/me/contacts", reader, json={"givenName": "X"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"
    # A grant consented without User.Read cannot be refreshed for it: sign in again.
    cache = sign_in(CLIENT_ID, EMAIL, authority_host=graph.url, out=io.StringIO())
    for grant in graph.emulator.identity.state.grants.values():
        grant.scope = "Contacts.ReadWrite offline_access openid profile"
    with pytest.raises(AuthError) as info:
        MicrosoftSession(aged(cache), CLIENT_ID, EMAIL, authority_host=graph.url).token()
    assert "invalid_grant" in info.value.message


def test_sign_in_as_another_account_is_refused(graph: GraphSandbox) -> None:
    graph.emulator.identity.sign_in_as = "someone.else@outlook.example"
    with pytest.raises(UsageError) as info:
        sign_in(CLIENT_ID, EMAIL, authority_host=graph.url, out=io.StringIO())
    assert "someone.else@outlook.example" in info.value.message and EMAIL in info.value.message


def test_cache_without_the_account_is_an_auth_error(graph: GraphSandbox) -> None:
    cache = sign_in(CLIENT_ID, EMAIL, authority_host=graph.url, out=io.StringIO())
    with pytest.raises(AuthError):
        MicrosoftSession(cache, CLIENT_ID, "other@outlook.example", authority_host=graph.url).token()


@pytest.mark.parametrize("body", [None, {"error": "server_error", "error_description": "AADSTS50000"}])
def test_a_server_error_of_the_sign_in_service_is_temporary(graph: GraphSandbox, body) -> None:
    # MSAL raises MsalServiceError("HTTP Error: 500") for an error answer without an
    # OAuth body (msal/throttled_http_client.py): a fault of the service, retried next pass.
    from contactsync.errors import TemporaryError

    cache = sign_in(CLIENT_ID, EMAIL, authority_host=graph.url, out=io.StringIO())
    session = MicrosoftSession(cache, CLIENT_ID, EMAIL, authority_host=graph.url, save=lambda _: None)
    session.reject(session.token())  # the next token() refreshes
    graph.emulator.add_fault(Fault(status=500, method="POST", path=r"/oauth2/v2\.0/token$", body=body))
    with pytest.raises(TemporaryError) as info:
        session.token()
    assert EMAIL in info.value.message


@pytest.mark.parametrize(("status", "code", "shown"), [
    (500, 500, "(HTTP 500)"), (503, "", "(HTTP 503)"), (503, "serviceNotAvailable", "(HTTP 503 serviceNotAvailable)")])
def test_a_busy_answer_names_its_status_once(status, code, shown) -> None:
    import json

    import requests

    from contactsync.providers.microsoft import GraphClient

    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"error": {"code": code, "message": "busy"}}).encode()
    error = GraphClient(lambda: "token", "microsoft:ann@outlook.example", None)._failure(response)
    assert error.message.endswith(shown), error.message  # type: ignore[attr-defined]
