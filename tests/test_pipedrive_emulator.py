"""The Pipedrive emulator rejects what the real API rejects, the way it does."""

from __future__ import annotations

import re

from pipedrive_openapi import assert_log_valid, check_documents, log_problems, validate_exchange
from pipedrive_support import ADMIN_TOKEN, SELLER_TOKEN, call


def test_the_corrected_documents_are_valid_openapi():
    check_documents()  # the validator loads them unchecked, for speed


def test_validator_rejects_unknown_path_and_invalid_body():
    assert validate_exchange("GET", "/api/v2/persons", {}, None, 200,
                             {"success": True, "data": [], "additional_data": {"next_cursor": None}}) == []
    assert validate_exchange("GET", "/api/v2/contacts", {}, None, 200, {"success": True})
    assert validate_exchange("GET", "/api/v2/persons", {}, None, 200, {"success": True, "data": [{"id": "x"}]})
    assert validate_exchange("POST", "/api/v2/persons", {}, {"name": 5}, 200, {"success": True, "data": {}})
    assert validate_exchange("GET", "/api/v2/persons", {"sort_by": ["name"]}, None, 400,
                             {"success": False, "error": "x"})
    assert validate_exchange("GET", "/api/v2/persons/1", {}, None, 404, {"oops": True})


def test_auth_missing_wrong_and_query_token(server, emulator):  # noqa: F811
    for token in (None, "bad"):
        resp = call(server, "GET", "/v1/users/me", token=token)
        assert resp.status_code == 401
        assert resp.json()["success"] is False and resp.json()["error"] == "unauthorized access"
    resp = call(server, "GET", "/v1/users/me", token=None, params={"api_token": ADMIN_TOKEN})
    assert resp.status_code == 200 and resp.json()["data"]["company_domain"] == "acme-sandbox"
    emulator.revoke_token(ADMIN_TOKEN)
    assert call(server, "GET", "/v1/users/me").status_code == 401
    assert_log_valid(emulator)


def test_rate_headers_and_burst_429(server, emulator):  # noqa: F811
    emulator.set_burst_limit(2)
    first = call(server, "GET", "/api/v2/persons/1")
    assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    assert int(first.headers["x-ratelimit-reset"]) >= 1
    assert "x-daily-ratelimit-token-remaining" in first.headers
    call(server, "GET", "/api/v2/persons/1")
    limited = call(server, "GET", "/api/v2/persons/1")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json() == {"success": False, "error": "Request over limit", "error_info": limited.json()["error_info"],
                              "data": None, "additional_data": None}
    assert_log_valid(emulator)


def test_daily_budget_counts_token_costs(server, emulator):  # noqa: F811
    emulator.set_daily_budget(12)
    assert call(server, "GET", "/api/v2/persons").headers["x-daily-ratelimit-token-remaining"] == "2"
    resp = call(server, "GET", "/api/v2/persons")
    assert resp.status_code == 429 and resp.headers["x-daily-ratelimit-token-remaining"] == "0"
    assert call(server, "GET", "/api/v2/persons/1").status_code == 200  # cost 1 still fits
    assert_log_valid(emulator)


def test_person_create_rejections(server, emulator):  # noqa: F811
    bad = [
        {"emails": [{"value": "a@b.c"}]},                      # no name
        {"name": "X", "email": "a@b.c"},                        # v1-style property
        {"name": "X", "visible_to": 9},
        {"name": "X", "custom_fields": {"abc": "1"}},           # not a field key
        {"name": "X", "0123456789abcdef0123456789abcdef01234567": "v"},  # custom field at top level
        {"name": "X", "owner_id": 99},
        {"name": "X", "emails": [{"value": "a@b.c", "label": "mobile"}]},
    ]
    for body in bad:
        resp = call(server, "POST", "/api/v2/persons", json=body)
        assert resp.status_code == 400, body
        assert resp.json()["success"] is False and resp.json()["error"]
    assert len(emulator.persons()) == 3
    assert_log_valid(emulator)


def test_visibility_depends_on_plan(server, emulator):  # noqa: F811
    assert call(server, "POST", "/api/v2/persons", json={"name": "P", "visible_to": 7}).status_code == 200
    emulator.control({"plan": "growth"})
    assert call(server, "POST", "/api/v2/persons", json={"name": "G", "visible_to": 7}).status_code == 400
    assert_log_valid(emulator)


def test_list_query_rejections(server, emulator):  # noqa: F811
    for params in ({"limit": 501}, {"cursor": "not-a-cursor"}, {"start": 0}, {"updated_since": "yesterday"},
                   {"custom_fields": "nope"}):
        assert call(server, "GET", "/api/v2/persons", params=params).status_code == 400, params
    assert call(server, "GET", "/api/v2/persons", params={"limit": 500}).status_code == 200
    assert_log_valid(emulator)


def test_cursor_paging_sort_and_filters(server, emulator):  # noqa: F811
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "sort_by": "id", "sort_direction": "desc"}
        if cursor:
            params["cursor"] = cursor
        body = call(server, "GET", "/api/v2/persons", params=params).json()
        seen += [p["id"] for p in body["data"]]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [3, 2, 1]
    owned = call(server, "GET", "/api/v2/persons", params={"owner_id": 2}).json()["data"]
    assert [p["id"] for p in owned] == [3]
    by_org = call(server, "GET", "/api/v2/persons", params={"org_id": 1, "ids": "1,2"}).json()["data"]
    assert [p["id"] for p in by_org] == [1]
    edited = emulator.edit_person(2, {"name": "Robert Stone"})
    since = call(server, "GET", "/api/v2/persons", params={"updated_since": edited["update_time"],
                                                           "sort_by": "update_time"}).json()["data"]
    assert [p["id"] for p in since] == [2]
    assert_log_valid(emulator)


def test_update_time_advances_and_deleted_are_gone(server, emulator):  # noqa: F811
    before = call(server, "GET", "/api/v2/persons/2").json()["data"]["update_time"]
    after = call(server, "PATCH", "/api/v2/persons/2", json={"name": "Bob S."}).json()["data"]
    assert after["update_time"] > before and after["first_name"] == "Bob"
    assert call(server, "DELETE", "/api/v2/persons/2").json() == {"success": True, "data": {"id": 2}}
    assert call(server, "GET", "/api/v2/persons/2").status_code == 404
    assert call(server, "PATCH", "/api/v2/persons/2", json={"name": "Zombie"}).status_code == 404
    assert 2 not in [p["id"] for p in call(server, "GET", "/api/v2/persons").json()["data"]]
    hits = call(server, "GET", "/api/v2/persons/search", params={"term": "bob@globex.example"}).json()
    assert hits["data"]["items"] == []
    emulator.restore_person(2)
    assert call(server, "GET", "/api/v2/persons/2").status_code == 200
    assert_log_valid(emulator)


def test_search_rules(server, emulator):  # noqa: F811
    assert call(server, "GET", "/api/v2/persons/search", params={"term": "a"}).status_code == 400
    one = call(server, "GET", "/api/v2/persons/search", params={"term": "a", "exact_match": "true"})
    assert one.status_code == 200 and one.json()["data"]["items"] == []
    exact = call(server, "GET", "/api/v2/persons/search",
                 params={"term": "ANN.LEE@example.com", "fields": "email", "exact_match": "true"}).json()
    assert [h["item"]["id"] for h in exact["data"]["items"]] == [1]
    item = exact["data"]["items"][0]["item"]
    assert item["owner"] == {"id": 1} and item["organization"]["name"] == "Lee & Partners"
    partial = call(server, "GET", "/api/v2/persons/search", params={"term": "example.com", "fields": "email,name"})
    assert sorted(h["item"]["id"] for h in partial.json()["data"]["items"]) == [1, 3]
    assert call(server, "GET", "/api/v2/persons/search", params={"term": "ann", "fields": "title"}).status_code == 400
    orgs = call(server, "GET", "/api/v2/organizations/search",
                params={"term": "globex", "exact_match": "true"}).json()["data"]["items"]
    assert [o["item"]["id"] for o in orgs] == [2]
    # The one spec-invalid request sent (an unknown `fields` value) is the only one flagged.
    problems = log_problems(emulator)
    assert len(problems) == 1 and "fields" in problems[0], problems


def test_person_fields_and_permissions(server, emulator):  # noqa: F811
    created = call(server, "POST", "/v1/personFields", json={"name": "Job title", "field_type": "varchar"}).json()
    assert re.fullmatch(r"[0-9a-f]{40}", created["data"]["key"])
    assert call(server, "POST", "/v1/personFields", json={"name": "X", "field_type": "bogus"}).status_code == 400
    key = created["data"]["key"]
    person = call(server, "POST", "/api/v2/persons", json={"name": "J", "custom_fields": {key: "CTO"}}).json()
    assert person["data"]["custom_fields"][key] == "CTO"
    emulator.custom_field_limit = 2
    capped = call(server, "POST", "/v1/personFields", json={"name": "More", "field_type": "text"})
    assert capped.status_code == 403 and capped.json()["code"] == "feature_capping_custom_fields_limit"
    seller = call(server, "GET", "/v1/users/2/permissions", token=SELLER_TOKEN).json()["data"]
    assert seller["can_add_custom_fields"] is False and "add_persons" not in seller
    assert call(server, "GET", "/v1/users/1/permissions", token=SELLER_TOKEN).status_code == 403
    assert call(server, "POST", "/api/v2/organizations", token=SELLER_TOKEN, json={"name": "S"}).status_code == 403
    emulator.set_permissions(2, add_persons=False)
    denied = call(server, "POST", "/api/v2/persons", token=SELLER_TOKEN, json={"name": "S"})
    assert denied.status_code == 403 and "add people" in denied.json()["error"]
    problems = log_problems(emulator)
    assert len(problems) == 1 and "'bogus' is not one of" in problems[0], problems


def test_http_controls(server, emulator):  # noqa: F811
    import requests

    requests.post(server.url + "/_sandbox/control", json={"burst_limit": 1, "delete_person": 1,
                                                           "edit_person": {"id": 2, "changes": {"name": "B2"}}},
                  timeout=5)
    assert [p["name"] for p in emulator.persons()] == ["B2", "Carla Diaz"]
    assert call(server, "GET", "/api/v2/persons/2").status_code == 200
    assert call(server, "GET", "/api/v2/persons/2").status_code == 429
    assert_log_valid(emulator)


def test_validator_checks_multipart_picture_uploads():
    form = "multipart/form-data; boundary=x"
    picture = {"id": 1, "item_type": "person", "item_id": 1, "active_flag": True, "add_time": "2020-09-08 08:17:52",
               "update_time": "2020-09-08 08:17:52", "added_by_user_id": 1, "pictures": {"128": "u", "512": "u"}}
    ok = {"success": True, "data": picture}
    upload = {"file": "<10 bytes image/png>", "crop_x": "5", "crop_y": "0", "crop_width": "9", "crop_height": "9"}
    assert validate_exchange("POST", "/v1/persons/1/picture", {}, upload, 200, ok, form) == []
    assert validate_exchange("POST", "/v1/persons/1/picture", {}, {**upload, "crop_x": "left"}, 200, ok, form)
    assert validate_exchange("POST", "/v1/persons/1/picture", {}, {"crop_x": "5"}, 200, ok, form)
    assert validate_exchange("POST", "/v1/persons/1/picture", {}, upload, 200,
                             {"success": True, "data": {"id": "1"}}, form)
