"""The Google emulator rejects what the real People API rejects, in Google's error shape."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import requests
from google_support import ANN, CLIENTS, EMAIL, JOSE, Sandbox, sandbox  # noqa: F401

CONNECTIONS = "/v1/people/me/connections"
FIELDS = "names,emailAddresses,memberships,metadata"


def error_of(response: requests.Response) -> dict:
    return response.json()["error"]


def test_api_requires_a_bearer_token(sandbox: Sandbox) -> None:
    response = sandbox.api("GET", CONNECTIONS, params={"personFields": "names"})
    assert response.status_code == 401
    assert error_of(response)["status"] == "UNAUTHENTICATED"
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    bad = sandbox.api("GET", CONNECTIONS, token="ya29.not-issued", params={"personFields": "names"})
    assert bad.status_code == 401


def test_connections_require_person_fields(sandbox: Sandbox) -> None:
    token = sandbox.token()
    response = sandbox.api("GET", CONNECTIONS, token)
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("personFields mask is required")
    assert sandbox.api("GET", CONNECTIONS, token, params={"personFields": "etag"}).status_code == 400


def test_connections_page_and_return_sync_token_on_last_page_only(sandbox: Sandbox) -> None:
    token = sandbox.token()
    params = {"personFields": FIELDS, "pageSize": 4, "requestSyncToken": "true"}
    first = sandbox.api("GET", CONNECTIONS, token, params=params).json()
    assert len(first["connections"]) == 4 and first["totalItems"] == 11 and first["totalPeople"] == 11
    assert "nextSyncToken" not in first
    seen = [p["resourceName"] for p in first["connections"]]
    page = first
    while "nextPageToken" in page:
        page = sandbox.api("GET", CONNECTIONS, token, params={**params, "pageToken": page["nextPageToken"]}).json()
        seen += [p["resourceName"] for p in page.get("connections", [])]
    assert len(set(seen)) == 11
    assert page["nextSyncToken"]
    person = first["connections"][0]
    assert person["resourceName"].startswith("people/c") and person["etag"]
    source = person["metadata"]["sources"][0]
    assert source["type"] == "CONTACT" and source["etag"] and source["updateTime"]
    groups = {m["contactGroupMembership"]["contactGroupResourceName"] for m in person["memberships"]}
    assert "contactGroups/myContacts" in groups


def test_sync_token_returns_changes_and_deletions(sandbox: Sandbox) -> None:
    token = sandbox.token()
    params = {"personFields": FIELDS, "requestSyncToken": "true"}
    sync = sandbox.api("GET", CONNECTIONS, token, params=params).json()["nextSyncToken"]
    old_etag = sandbox.emulator.person(ANN)["etag"]
    sandbox.emulator.edit_person(ANN, {"organizations": [{"name": "Northwind Ltd"}]})
    sandbox.emulator.delete_person(JOSE)
    changes = sandbox.api("GET", CONNECTIONS, token, params={**params, "syncToken": sync}).json()
    by_name = {p["resourceName"]: p for p in changes["connections"]}
    assert set(by_name) == {ANN, JOSE}
    assert by_name[ANN]["etag"] != old_etag
    assert by_name[JOSE]["metadata"]["deleted"] is True
    assert changes["nextSyncToken"] != sync


def test_sync_token_with_other_parameters_is_rejected(sandbox: Sandbox) -> None:
    token = sandbox.token()
    params = {"personFields": FIELDS, "requestSyncToken": "true"}
    sync = sandbox.api("GET", CONNECTIONS, token, params=params).json()["nextSyncToken"]
    response = sandbox.api("GET", CONNECTIONS, token,
                           params={**params, "personFields": "names", "syncToken": sync})
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_expired_sync_token_answers_like_google(sandbox: Sandbox) -> None:
    token = sandbox.token()
    params = {"personFields": FIELDS, "requestSyncToken": "true"}
    sync = sandbox.api("GET", CONNECTIONS, token, params=params).json()["nextSyncToken"]
    control = requests.post(sandbox.url + "/_sandbox/control", json={"expire_sync_tokens": True}, timeout=10)
    assert control.status_code == 200
    response = sandbox.api("GET", CONNECTIONS, token, params={**params, "syncToken": sync})
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "FAILED_PRECONDITION"
    assert error["message"].startswith("Sync token is expired")
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert error["details"][0]["reason"] == "EXPIRED_SYNC_TOKEN"


def test_update_requires_mask_and_current_etag(sandbox: Sandbox) -> None:
    token = sandbox.token()
    path = f"/v1/{ANN}:updateContact"
    body = {"names": [{"givenName": "Annie"}]}
    no_mask = sandbox.api("PATCH", path, token, json={**body, "etag": sandbox.emulator.person(ANN)["etag"]})
    assert no_mask.status_code == 400 and "updatePersonFields" in error_of(no_mask)["message"]
    no_etag = sandbox.api("PATCH", path, token, params={"updatePersonFields": "names"}, json=body)
    assert no_etag.status_code == 400
    assert error_of(no_etag)["message"].startswith("Request must set person.etag")
    etag = sandbox.emulator.person(ANN)["etag"]
    sandbox.emulator.edit_person(ANN, {"phoneNumbers": []})
    stale = sandbox.api("PATCH", path, token, params={"updatePersonFields": "names"}, json={**body, "etag": etag})
    assert stale.status_code == 400 and error_of(stale)["status"] == "FAILED_PRECONDITION"
    current = sandbox.emulator.person(ANN)
    ok = sandbox.api("PATCH", path, token, params={"updatePersonFields": "names", "personFields": "names"},
                     json={**body, "etag": current["etag"]})
    assert ok.status_code == 200
    assert ok.json()["names"][0]["displayName"] == "Annie"
    assert ok.json()["etag"] != current["etag"]
    # Only the masked field was replaced.
    assert sandbox.emulator.person(ANN)["emailAddresses"][0]["value"] == "ann.smith@northwind.example"
    by_source = sandbox.api("PATCH", path, token, params={"updatePersonFields": "names"}, json={
        **body, "metadata": {"sources": [{"type": "CONTACT", "etag": current["metadata"]["sources"][0]["etag"]}]}})
    assert by_source.status_code == 400  # that source etag is stale now too


def test_singleton_fields_reject_two_values(sandbox: Sandbox) -> None:
    token = sandbox.token()
    response = sandbox.api("POST", "/v1/people:createContact", token,
                           json={"names": [{"givenName": "A"}, {"givenName": "B"}]})
    assert response.status_code == 400
    assert error_of(response)["message"] == "Cannot have more than one person.names per source."


def test_create_puts_contact_in_my_contacts_and_requested_group(sandbox: Sandbox) -> None:
    token = sandbox.token()
    response = sandbox.api("POST", "/v1/people:createContact", token, params={"personFields": "names,memberships"},
                           json={"names": [{"givenName": "Zoë", "familyName": "Ng"}],
                                 "memberships": [{"contactGroupMembership": {"contactGroupResourceName": CLIENTS}}]})
    assert response.status_code == 200
    person = response.json()
    groups = {m["contactGroupMembership"]["contactGroupResourceName"] for m in person["memberships"]}
    assert groups == {"contactGroups/myContacts", CLIENTS}
    assert person["names"][0]["displayName"] == "Zoë Ng"
    group = sandbox.api("GET", "/v1/contactGroups/" + CLIENTS.split("/")[1], token).json()
    assert group["memberCount"] == 7 and group["groupType"] == "USER_CONTACT_GROUP"


def test_contact_groups_list_system_and_user_groups(sandbox: Sandbox) -> None:
    token = sandbox.token()
    groups = {g["resourceName"]: g for g in sandbox.api("GET", "/v1/contactGroups", token,
                                                         params={"pageSize": 100}).json()["contactGroups"]}
    assert groups["contactGroups/myContacts"]["groupType"] == "SYSTEM_CONTACT_GROUP"
    assert groups["contactGroups/myContacts"]["formattedName"] == "My Contacts"
    assert groups["contactGroups/myContacts"]["memberCount"] == 11
    assert groups[CLIENTS]["name"] == "Clients"
    assert "memberCount" not in groups["contactGroups/blocked"]  # zero is omitted


def test_batches_enforce_documented_limits(sandbox: Sandbox) -> None:
    token = sandbox.token()
    too_many = [{"contactPerson": {"names": [{"givenName": f"P{i}"}]}} for i in range(201)]
    response = sandbox.api("POST", "/v1/people:batchCreateContacts", token,
                           json={"contacts": too_many, "readMask": "names"})
    assert response.status_code == 400 and error_of(response)["status"] == "INVALID_ARGUMENT"
    assert len(sandbox.emulator.people) == 11  # nothing of the batch was written
    ok = sandbox.api("POST", "/v1/people:batchCreateContacts", token,
                     json={"contacts": too_many[:2], "readMask": "names"})
    created = [r["person"]["resourceName"] for r in ok.json()["createdPeople"]]
    assert len(created) == 2
    deletes = sandbox.api("POST", "/v1/people:batchDeleteContacts", token,
                          json={"resourceNames": created * 251})
    assert deletes.status_code == 400
    assert sandbox.api("POST", "/v1/people:batchDeleteContacts", token,
                       json={"resourceNames": created}).status_code == 200
    assert len(sandbox.emulator.people) == 11


def test_batch_update_checks_every_etag(sandbox: Sandbox) -> None:
    token = sandbox.token()
    ann, jose = sandbox.emulator.person(ANN), sandbox.emulator.person(JOSE)
    body = {"updateMask": "organizations", "readMask": "organizations", "contacts": {
        ANN: {"etag": ann["etag"], "organizations": [{"name": "A"}]},
        JOSE: {"etag": "%stale", "organizations": [{"name": "B"}]},
    }}
    assert sandbox.api("POST", "/v1/people:batchUpdateContacts", token, json=body).status_code == 400
    assert sandbox.emulator.person(ANN)["etag"] == ann["etag"]  # all or nothing
    body["contacts"][JOSE]["etag"] = jose["etag"]
    result = sandbox.api("POST", "/v1/people:batchUpdateContacts", token, json=body).json()["updateResult"]
    assert result[JOSE]["person"]["organizations"][0]["name"] == "B"


def test_write_needs_contacts_scope(sandbox: Sandbox) -> None:
    token = sandbox.token(scope="https://www.googleapis.com/auth/contacts.readonly openid")
    assert sandbox.api("GET", CONNECTIONS, token, params={"personFields": "names"}).status_code == 200
    response = sandbox.api("POST", "/v1/people:createContact", token, json={"names": [{"givenName": "X"}]})
    assert response.status_code == 403
    assert error_of(response)["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_oauth_code_flow_with_pkce_and_revocation(sandbox: Sandbox) -> None:
    installed = sandbox.emulator.client_config()["installed"]
    verifier = "v" * 50
    redirect = "http://localhost:5555/"
    consent = requests.get(installed["auth_uri"], allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": installed["client_id"], "redirect_uri": redirect,
        "scope": "https://www.googleapis.com/auth/contacts openid", "state": "xyz", "login_hint": "bo@example.com",
        "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()), "code_challenge_method": "S256",
    })
    assert consent.status_code == 302
    location = consent.headers["Location"]
    assert location.startswith(redirect)
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["xyz"]
    form = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect,
            "client_id": installed["client_id"], "client_secret": installed["client_secret"]}
    wrong = requests.post(installed["token_uri"], data={**form, "code_verifier": "w" * 50}, timeout=10)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The failed attempt used up the code, as at Google; get a fresh one.
    code = parse_qs(urlsplit(requests.get(consent.url, allow_redirects=False, timeout=10)
                             .headers["Location"]).query)["code"][0]
    tokens = requests.post(installed["token_uri"], data={**form, "code": code, "code_verifier": verifier},
                           timeout=10).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0 and tokens["refresh_token"]
    payload = tokens["id_token"].split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["email"] == "bo@example.com"
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": installed["client_id"], "client_secret": installed["client_secret"]}
    refreshed = requests.post(installed["token_uri"], data=refresh, timeout=10).json()
    assert refreshed["access_token"] != tokens["access_token"] and "refresh_token" not in refreshed
    assert requests.post(sandbox.url + "/_sandbox/control", json={"revoke_grants": "bo@example.com"},
                         timeout=10).json()["revoked"] == 1
    revoked = requests.post(installed["token_uri"], data=refresh, timeout=10)
    assert revoked.status_code == 400
    assert revoked.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    api = sandbox.api("GET", CONNECTIONS, refreshed["access_token"], params={"personFields": "names"})
    assert api.status_code == 401


def test_people_me_returns_signed_in_email(sandbox: Sandbox) -> None:
    token = sandbox.token("cy@example.com")
    me = sandbox.api("GET", "/v1/people/me", token, params={"personFields": "emailAddresses"}).json()
    assert me["emailAddresses"][0]["value"] == "cy@example.com"
