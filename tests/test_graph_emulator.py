"""The Graph emulator over raw HTTP: paths, paging, delta, errors and throttling as the service answers."""

from __future__ import annotations

import threading

from microsoft_support import CLIENTS, EMAIL, FATIMA, MARIA, GraphSandbox

from contactsync.sandbox.graph import DEFAULT_FOLDER_ID


def test_requests_without_a_valid_token_get_401(graph: GraphSandbox) -> None:
    missing = graph.api("GET", "/v1.0/me/contacts")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "request-id" in missing.json()["error"]["innerError"]
    assert graph.api("GET", "/v1.0/me/contacts", token="bogus").status_code == 401
    assert graph.api("GET", "/v1.0/me", token=graph.token()).json()["mail"] == EMAIL


def test_folders_omit_the_default_folder_and_contacts_page_with_skip(graph: GraphSandbox) -> None:
    token = graph.token()
    folders = graph.api("GET", "/v1.0/me/contactFolders", token).json()["value"]
    assert [f["displayName"] for f in folders] == ["Clients"]
    assert folders[0]["parentFolderId"] == DEFAULT_FOLDER_ID
    page = graph.api("GET", "/v1.0/me/contacts", token, params={"$top": "3", "$select": "displayName"}).json()
    assert len(page["value"]) == 3 and "$skip=3" in page["@odata.nextLink"]
    assert set(page["value"][0]) == {"@odata.etag", "id", "displayName"}
    rest = graph.api("GET", page["@odata.nextLink"], token).json()
    assert len(rest["value"]) == 1 and "@odata.nextLink" not in rest  # 4 contacts in the default folder
    bad = graph.api("GET", "/v1.0/me/contacts", token, params={"$select": "nope"})
    assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]


def test_caps_are_enforced_with_the_services_message(graph: GraphSandbox) -> None:
    token = graph.token()
    emails = [{"address": f"e{i}@x.example"} for i in range(4)]
    refused = graph.api("POST", "/v1.0/me/contacts", token, json={"givenName": "Cap", "emailAddresses": emails})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "The multi value property EmailAddresses has 4 entries, that exceeds the max allowed value of 3")
    phones = graph.api("PATCH", f"/v1.0/me/contacts/{MARIA}", token, json={"businessPhones": ["1", "2", "3"]})
    assert phones.status_code == 400 and "BusinessPhones has 3 entries" in phones.json()["error"]["message"]
    unknown = graph.api("POST", "/v1.0/me/contacts", token, json={"givenName": "X", "shoeSize": 44})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "RequestBodyRead"


def test_delta_pages_then_reports_changes_and_removals(graph: GraphSandbox) -> None:
    token = graph.token()
    url = f"/v1.0/me/contactFolders/{CLIENTS}/contacts/delta"
    prefer = {"Prefer": "odata.maxpagesize=2"}
    page = graph.api("GET", url, token, params={"$select": "displayName"}, headers=prefer).json()
    seen = [c["id"] for c in page["value"]]
    while "@odata.nextLink" in page:
        assert "$skiptoken=" in page["@odata.nextLink"]
        page = graph.api("GET", page["@odata.nextLink"], token, headers=prefer).json()
        seen += [c["id"] for c in page["value"]]
    assert len(seen) == 5 and MARIA in seen and "$deltatoken=" in page["@odata.deltaLink"]
    emu = graph.emulator
    key = emu.edit_contact(MARIA, {"jobTitle": "CFO"})
    gone = seen[1]
    emu.delete_contact(gone)
    moved = emu.move_contact(FATIMA, CLIENTS)
    changes = graph.api("GET", page["@odata.deltaLink"], token).json()
    by_id = {c["id"]: c for c in changes["value"]}
    assert by_id[gone]["@removed"] == {"reason": "deleted"}
    assert by_id[MARIA]["@odata.etag"] == f'W/"{key}"' and set(by_id[MARIA]) >= {"displayName"}
    assert "jobTitle" not in by_id[MARIA]  # the $select of the first round still applies
    assert moved in by_id and moved != FATIMA  # a moved contact has a new id
    default = graph.api("GET", "/v1.0/me/contacts/delta", token).json()
    assert FATIMA not in {c["id"] for c in default["value"]}


def test_expired_delta_state_answers_like_the_service(graph: GraphSandbox) -> None:
    token = graph.token()
    first = graph.api("GET", "/v1.0/me/contacts/delta", token).json()
    graph.emulator.expire_delta_tokens()
    expired = graph.api("GET", first["@odata.deltaLink"], token)
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "SyncStateNotFound"
    graph.emulator.expire_delta_tokens("syncStateInvalid")
    assert graph.api("GET", first["@odata.deltaLink"], token).status_code == 400
    graph.emulator.expire_delta_tokens("resyncRequired")
    reset = graph.api("GET", first["@odata.deltaLink"], token)
    assert reset.status_code == 410 and reset.json()["error"]["code"] == "resyncRequired"
    assert "$deltatoken" not in reset.headers["Location"]


def test_if_match_and_photo(graph: GraphSandbox) -> None:
    token = graph.token()
    stale = graph.api("PATCH", f"/v1.0/me/contacts/{MARIA}", token, json={"jobTitle": "x"},
                      headers={"If-Match": 'W/"old"'})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    photo = graph.api("GET", f"/v1.0/me/contacts/{MARIA}/photo/$value", token)
    assert photo.status_code == 200 and photo.content[:2] == b"\xff\xd8"
    missing = graph.api("GET", f"/v1.0/me/contacts/{FATIMA}/photo/$value", token)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ImageNotFound"
    before = graph.emulator.contact(FATIMA)["changeKey"]
    put = graph.api("PUT", f"/v1.0/me/contacts/{FATIMA}/photo/$value", token, data=b"\xff\xd8new",
                    headers={"Content-Type": "image/jpeg"})
    assert put.status_code == 200
    assert graph.api("GET", f"/v1.0/me/contacts/{FATIMA}/photo/$value", token).content == b"\xff\xd8new"
    assert graph.emulator.contact(FATIMA)["changeKey"] != before


def test_concurrency_and_rate_limits_answer_429(graph: GraphSandbox) -> None:
    token = graph.token()
    graph.emulator.work_time = 0.3
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(graph.api("GET", "/v1.0/me", token).status_code))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(429) >= 1 and results.count(200) >= 4
    assert graph.emulator.max_in_flight >= 5
    graph.emulator.work_time = 0.0
    graph.emulator.set_rate_limit(2, 60.0, retry_after=7)
    statuses = [graph.api("GET", "/v1.0/me", token) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "7"


def test_identity_refresh_rotation_and_revocation(graph: GraphSandbox) -> None:
    base = graph.url + "/common"
    config = graph.api("GET", "/common/v2.0/.well-known/openid-configuration").json()
    assert config["device_authorization_endpoint"] == base + "/oauth2/v2.0/devicecode"
    graph.emulator.identity.device_approval = "immediate"
    code = graph.api("POST", "/common/oauth2/v2.0/devicecode",
                     data={"client_id": "app", "scope": "Contacts.ReadWrite offline_access"}).json()
    assert code["user_code"] in code["message"]
    tokens = graph.api("POST", "/common/oauth2/v2.0/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": code["device_code"],
        "client_id": "app"}).json()
    assert tokens["client_info"] and tokens["id_token"].count(".") == 2
    refreshed = graph.api("POST", "/common/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "app"}).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert 1500 <= len(refreshed["access_token"]) <= 2600 and 800 <= len(refreshed["id_token"]) <= 1400
    # Microsoft keeps the old refresh token valid after a rotation (the default) ...
    reused = graph.api("POST", "/common/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "app"})
    assert reused.status_code == 200
    # ... and the single-use switch refuses a second use.
    graph.emulator.control({"refresh_token_reuse": "single_use"})
    reused = graph.api("POST", "/common/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "app"})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    graph.emulator.identity.revoke(EMAIL)
    revoked = graph.api("POST", "/common/oauth2/v2.0/token", data={
        "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "client_id": "app"})
    assert revoked.json()["error"] == "invalid_grant"
    assert graph.api("GET", "/v1.0/me", refreshed["access_token"]).status_code == 401
