"""The Google emulator rejects what the real People API rejects, in Google's error shape."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google_support import ANN, CLIENTS, EMAIL, JOSE, OLGA, Sandbox
from PIL import Image

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


# -- the fields of DESIGN §7 -------------------------------------------------------------

def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def test_photos_have_urls_served_without_a_token_and_placeholders_are_default(sandbox: Sandbox) -> None:
    token = sandbox.token()
    ann = sandbox.api("GET", f"/v1/{ANN}", token, params={"personFields": "photos"}).json()
    [photo] = ann["photos"]
    assert "default" not in photo and photo["metadata"]["primary"] is True
    # Google's image host needs no Authorization header. Photo.url carries its size as
    # the `=sNNN` option of its last path segment; `?sz=` is ignored; never enlarged.
    assert photo["url"].endswith("=s100")
    assert image_size(requests.get(photo["url"], timeout=10).content) == (100, 75)
    assert image_size(requests.get(photo["url"], params={"sz": 1024}, timeout=10).content) == (100, 75)
    base = photo["url"].rsplit("=", 1)[0]
    full = requests.get(base + "=s1024", timeout=10)
    assert full.status_code == 200 and full.headers["Content-Type"] == "image/png"
    assert image_size(full.content) == (400, 300)
    assert image_size(requests.get(base, timeout=10).content) == (400, 300)  # no option: as stored
    assert image_size(requests.get(base + "=s200-p-k-rw-no", timeout=10).content) == (200, 150)
    jose = sandbox.api("GET", f"/v1/{JOSE}", token, params={"personFields": "photos"}).json()["photos"][0]
    assert image_size(requests.get(jose["url"].replace("=s100", "=s1024"), timeout=10).content) == (256, 256)
    olga = sandbox.api("GET", f"/v1/{OLGA}", token, params={"personFields": "photos,names"}).json()
    assert olga["photos"][0]["default"] is True
    assert requests.get(olga["photos"][0]["url"], timeout=10).headers["Content-Type"] == "image/png"
    assert requests.get(sandbox.url + "/photos/unknown-token", timeout=10).status_code == 404


def test_update_contact_photo_replaces_the_url(sandbox: Sandbox) -> None:
    token = sandbox.token()
    before = sandbox.emulator.person(OLGA)
    png = io.BytesIO()
    Image.new("RGB", (300, 200), (1, 2, 3)).save(png, format="PNG")
    response = sandbox.api("PATCH", f"/v1/{OLGA}:updateContactPhoto", token,
                           json={"photoBytes": base64.b64encode(png.getvalue()).decode(), "personFields": "photos"})
    assert response.status_code == 200
    photo = response.json()["person"]["photos"][0]
    assert "default" not in photo
    assert image_size(requests.get(photo["url"].replace("=s100", "=s999"), timeout=10).content) == (300, 200)
    assert sandbox.emulator.person(OLGA)["etag"] != before["etag"]
    bad = sandbox.api("PATCH", f"/v1/{OLGA}:updateContactPhoto", token, json={"photoBytes": "bm90IGFuIGltYWdl"})
    assert bad.status_code == 400
    deleted = sandbox.api("DELETE", f"/v1/{OLGA}:deleteContactPhoto", token, params={"personFields": "photos"})
    assert deleted.json()["person"]["photos"][0]["default"] is True
    assert requests.get(photo["url"], timeout=10).status_code == 404


def test_update_contact_rejects_photos_in_the_mask(sandbox: Sandbox) -> None:
    token = sandbox.token()
    current = sandbox.emulator.person(ANN)
    response = sandbox.api("PATCH", f"/v1/{ANN}:updateContact", token,
                           params={"updatePersonFields": "names,photos"},
                           json={"etag": current["etag"], "names": [{"givenName": "Ann"}],
                                 "photos": [{"url": "https://lh3.example/x"}]})
    assert response.status_code == 400
    assert 'mask path: "photos"' in error_of(response)["message"]
    assert sandbox.emulator.person(ANN)["etag"] == current["etag"]
    # Sent with an accepted mask, `photos` is output only and ignored.
    ok = sandbox.api("PATCH", f"/v1/{ANN}:updateContact", token, params={"updatePersonFields": "names"},
                     json={"etag": current["etag"], "names": [{"givenName": "Ann"}],
                           "photos": [{"url": "https://lh3.example/x"}]})
    assert ok.status_code == 200
    assert sandbox.emulator.person(ANN)["photos"][0]["url"] == current["photos"][0]["url"]


@pytest.mark.parametrize("field", ["biographies", "birthdays"])
def test_singleton_biographies_and_birthdays(sandbox: Sandbox, field: str) -> None:
    token = sandbox.token()
    two = {"biographies": [{"value": "a"}, {"value": "b"}],
           "birthdays": [{"date": {"month": 1, "day": 2}}, {"date": {"month": 3, "day": 4}}]}[field]
    created = sandbox.api("POST", "/v1/people:createContact", token, json={field: two})
    assert created.status_code == 400
    assert error_of(created)["message"] == f"Cannot have more than one person.{field} per source."
    current = sandbox.emulator.person(ANN)
    updated = sandbox.api("PATCH", f"/v1/{ANN}:updateContact", token, params={"updatePersonFields": field},
                          json={"etag": current["etag"], field: two})
    assert updated.status_code == 400
    assert sandbox.emulator.person(ANN)[field] == current[field]


def test_new_fields_are_stored_and_rendered_as_google_does(sandbox: Sandbox) -> None:
    token = sandbox.token()
    response = sandbox.api("POST", "/v1/people:createContact", token, params={
        "personFields": "addresses,imClients,biographies,birthdays"}, json={
        "addresses": [{"streetAddress": "Kungsgatan 1", "postalCode": "111 43", "city": "Stockholm",
                       "country": "Sverige", "type": "home"}],
        "imClients": [{"username": "sven", "protocol": "googleTalk"}, {"username": "s", "protocol": "Signal"}],
        "biographies": [{"value": "Hej 👋"}],
        "birthdays": [{"date": {"year": 0, "month": 6, "day": 6}}],
    })
    assert response.status_code == 200
    person = response.json()
    address = person["addresses"][0]
    assert address["formattedValue"] == "Kungsgatan 1\n111 43 Stockholm\nSverige"
    assert address["formattedType"] == "Home" and address["metadata"]["primary"] is True
    assert [i["formattedProtocol"] for i in person["imClients"]] == ["Google Talk", "Signal"]
    assert person["biographies"][0]["contentType"] == "TEXT_PLAIN"
    assert person["birthdays"][0]["date"] == {"month": 6, "day": 6}  # proto3 omits the zero year
    assert set(person) == {"resourceName", "etag", "addresses", "imClients", "biographies", "birthdays"}
    bad = sandbox.api("POST", "/v1/people:createContact", token,
                      json={"birthdays": [{"date": {"month": 13, "day": 1}}]})
    assert bad.status_code == 400


def test_seed_conventions_expand(sandbox: Sandbox) -> None:
    olga = sandbox.emulator.person(OLGA)
    assert len(olga["biographies"][0]["value"]) == 12_500
    assert "sandbox:" not in json.dumps(olga)
    ann = sandbox.emulator.person(ANN)
    assert len(ann["addresses"]) == 2 and ann["addresses"][0]["metadata"]["primary"] is True
    assert ann["photos"][0]["url"].startswith(sandbox.url + "/photos/")
