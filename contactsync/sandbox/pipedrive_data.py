"""Pipedrive emulator data: error bodies, default fields, token costs, cursors, validation.

Kept apart from the routing in :mod:`contactsync.sandbox.pipedrive` so that each
module stays small. Everything here mirrors Pipedrive's published OpenAPI documents
(``tests/openapi/pipedrive-v{1,2}-openapi.yml``) unless a comment names another source.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from contactsync.sandbox.server import Response

# https://pipedrive.readme.io/docs/core-api-concepts-responses: every error body is
# {success: false, error, error_info, data: null, additional_data: null}.
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."

# Daily token cost of each operation: the `x-token-cost` of the operation in the
# published documents (token-based rate limiting, pipedrive.readme.io
# /docs/core-api-concepts-rate-limiting).
TOKEN_COST = {
    "getPersons": 10,
    "getPerson": 1,
    "addPerson": 5,
    "updatePerson": 5,
    "deletePerson": 3,
    "searchPersons": 20,
    "getOrganizations": 10,
    "getOrganization": 1,
    "addOrganization": 5,
    "searchOrganization": 20,
    "getPersonFields": 20,
    "addPersonField": 10,
    "getCurrentUser": 2,
    "getUserPermissions": 10,
    "addPersonPicture": 10,
    "getRecents": 20,
}

# Keys of GET /v1/users/{id}/permissions, exactly as the v1 document lists them. The
# document has no key for adding persons or organizations; the emulator keeps those
# two (`add_persons`, `add_organizations`) internally and enforces them with a 403.
PERMISSION_KEYS = (
    "can_add_custom_fields", "can_add_products", "can_add_prospects_as_leads",
    "can_bulk_edit_items", "can_change_visibility_of_items", "can_convert_deals_to_leads",
    "can_create_own_workflow", "can_delete_activities", "can_delete_custom_fields",
    "can_delete_deals", "can_edit_custom_fields", "can_edit_deals_closed_date",
    "can_edit_products", "can_edit_shared_filters", "can_export_data_from_lists",
    "can_follow_other_users", "can_merge_deals", "can_merge_organizations",
    "can_merge_people", "can_modify_labels", "can_see_company_wide_statistics",
    "can_see_deals_list_summary", "can_see_hidden_items_names", "can_see_other_users",
    "can_see_other_users_statistics", "can_see_security_dashboard", "can_share_filters",
    "can_share_insights", "can_use_api", "can_use_email_tracking", "can_use_import",
)
INTERNAL_PERMISSIONS = ("add_persons", "add_organizations")

FIELD_TYPES = (
    "address", "date", "daterange", "double", "enum", "monetary", "org", "people", "phone",
    "set", "text", "time", "timerange", "user", "varchar", "varchar_auto", "visible_to",
)
# Only these custom field types are searchable (v2 /persons/search `fields` description).
SEARCHABLE_TYPES = frozenset({"address", "varchar", "text", "varchar_auto", "double", "monetary", "phone"})

# first_name/last_name: the v2 request schema lists only `name`, but the v2 migration
# guide (pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide, Persons) lets a
# create give `first_name`/`last_name` instead of `name`.
PERSON_BODY_KEYS = frozenset({
    "name", "first_name", "last_name", "owner_id", "org_id", "add_time", "update_time", "emails", "phones",
    "visible_to", "label_ids", "marketing_status", "custom_fields",
})
ORG_BODY_KEYS = frozenset({
    "name", "owner_id", "add_time", "update_time", "visible_to", "label_ids", "address", "custom_fields",
})
EMAIL_LABELS = frozenset({"work", "home", "other"})
PHONE_LABELS = frozenset({"work", "home", "mobile", "other"})
# DESIGN §6 (the `visible_to` description of addPerson/addOrganization): Lite/Growth
# and the legacy Essential/Advanced offer 1 and 3; Premium/Ultimate and the legacy
# Professional/Power/Enterprise 1, 3, 5 and 7.
_BASIC, _FULL = frozenset({1, 3}), frozenset({1, 3, 5, 7})
VISIBILITY = {
    "lite": _BASIC, "growth": _BASIC, "premium": _FULL, "ultimate": _FULL,
    "essential": _BASIC, "advanced": _BASIC, "professional": _FULL, "power": _FULL, "enterprise": _FULL,
}
# Custom fields per company by plan (None: unlimited), from "Usage limits in
# Pipedrive" (support.pipedrive.com/en/article/usage-limits-in-pipedrive): Lite 30,
# Growth 100, Premium 300, Ultimate 500; legacy Essential 30, Advanced 100,
# Professional 300, Power 500, Enterprise unlimited. The emulator counts person
# fields only; `PipedriveEmulator.custom_field_limit` overrides the plan's number.
CUSTOM_FIELD_LIMITS: dict[str, int | None] = {
    "lite": 30, "growth": 100, "premium": 300, "ultimate": 500,
    "essential": 30, "advanced": 100, "professional": 300, "power": 500, "enterprise": None,
}
# Documented lengths: `varchar` "Text (up to 255 characters)", `text` "Long text (up
# to 65k characters)" (field_type of POST /v1/personFields); 65k taken as 65,000.
VARCHAR_MAX = 255
TEXT_MAX = 65_000
# Subfields of an address field: v1 `<key>_<subfield>` keys, v2 keys of the object
# in `custom_fields`; labels from the v1 document's `address_field_components`.
ADDRESS_SUBFIELDS = {
    "subpremise": "Apartment/suite no", "street_number": "House number", "route": "Street/road name",
    "sublocality": "District/sublocality", "locality": "City/town/village/locality",
    "admin_area_level_1": "State/county", "admin_area_level_2": "Region", "country": "Country",
    "postal_code": "ZIP/Postal code", "formatted_address": "Full/combined address",
}

MAX_LIMIT = 500


class ApiReject(Exception):
    """Raised inside a handler: answer with this status and Pipedrive's error body."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.extra = extra


def error_response(status: int, error: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "success": False, "error": error, "error_info": ERROR_INFO, "data": None, "additional_data": None,
    }
    body.update(extra)
    return Response(status, body, dict(headers or {}))


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(value: str, name: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiReject(400, f"Validation failed: {name}: Invalid date-time, expected RFC3339") from None


def updated_between(items: list[dict[str, Any]], since: str | None, until: str | None) -> list[dict[str, Any]]:
    """The v2 lists' `updated_since` (update_time later than or equal to, RFC3339) and
    `updated_until` (earlier than) filters; an empty or missing value filters nothing."""
    if since:
        start = parse_rfc3339(since, "updated_since")
        items = [i for i in items if i["_update"] >= start]
    if until:
        end = parse_rfc3339(until, "updated_until")
        items = [i for i in items if i["_update"] < end]
    return items


def field_key(seed: str) -> str:
    """Custom field keys are 40-hex hashes (v2 `custom_fields` description)."""
    return hashlib.sha1(seed.encode("utf-8")).hexdigest()


def default_person_fields(now: float) -> list[dict[str, Any]]:
    specs = [
        ("name", "Name", "varchar"), ("first_name", "First name", "varchar"),
        ("last_name", "Last name", "varchar"), ("email", "Email", "varchar"),
        ("phone", "Phone", "phone"), ("org_id", "Organization", "org"),
        ("owner_id", "Owner", "user"), ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Person created", "date"), ("update_time", "Update time", "date"),
    ]
    return [field_record(i + 1, key, name, ftype, now, edit=False) for i, (key, name, ftype) in enumerate(specs)]


def field_record(
    id: int, key: str, name: str, field_type: str, now: float, *, edit: bool = True,
    options: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": id, "key": key, "name": name, "order_nr": id, "field_type": field_type,
        "add_time": v1_time(now), "update_time": v1_time(now), "last_updated_by_user_id": 1,
        "created_by_user_id": 1, "active_flag": True, "edit_flag": edit, "index_visible_flag": True,
        "details_visible_flag": True, "add_visible_flag": True, "important_flag": False,
        "bulk_edit_allowed": True, "searchable_flag": field_type in SEARCHABLE_TYPES,
        "filtering_allowed": True, "sortable_flag": True, "options": options, "mandatory_flag": False,
    }
    if field_type == "address":
        # "subfields: The subfields of the field. Only present when the field has subfields."
        record["subfields"] = [{"key": f"{key}_{sub}", "name": f"{label} of {name}", "field_type": "varchar"}
                               for sub, label in ADDRESS_SUBFIELDS.items()]
    return record


# --- cursors -------------------------------------------------------------------
# The v2 cursor is opaque base64 of {"field", "fieldValue", "sortDirection", "id"}
# (see the `next_cursor` example in the v2 document).

def encode_cursor(field: str, value: Any, direction: str, id: int) -> str:
    raw = json.dumps({"field": field, "fieldValue": value, "sortDirection": direction, "id": id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str, direction: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if data["field"] != field or data["sortDirection"] != direction:
            raise ValueError("cursor for another sort")
        return data["fieldValue"], int(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiReject(400, "Validation failed: cursor: Invalid cursor") from None


def page_after(items: list[dict[str, Any]], sort_by: str, direction: str, cursor: str | None, limit: int
               ) -> tuple[list[dict[str, Any]], str | None]:
    """Sort, skip past `cursor`, cut to `limit`; return the page and the next cursor."""
    reverse = direction == "desc"
    items = sorted(items, key=lambda p: (p[sort_by], p["id"]), reverse=reverse)
    if cursor:
        value, last_id = decode_cursor(cursor, sort_by, direction)
        key = (value, last_id)
        items = [p for p in items if ((p[sort_by], p["id"]) < key if reverse else (p[sort_by], p["id"]) > key)]
    page = items[:limit]
    nxt = None
    if len(items) > limit:
        last = page[-1]
        nxt = encode_cursor(sort_by, last[sort_by], direction, last["id"])
    return page, nxt


def int_arg(value: str | None, name: str, *, minimum: int = 0) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApiReject(400, f"Validation failed: {name}: Must be an integer") from None
    if number < minimum:
        raise ApiReject(400, f"Validation failed: {name}: Must be greater than or equal to {minimum}")
    return number


def limit_arg(value: str | None) -> int:
    limit = int_arg(value, "limit", minimum=1)
    if limit is None:
        return 100
    if limit > MAX_LIMIT:
        raise ApiReject(400, f"Validation failed: limit: Must be less than or equal to {MAX_LIMIT}")
    return limit


def bool_arg(value: str | None, name: str) -> bool:
    if value in (None, "", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise ApiReject(400, f"Validation failed: {name}: Must be a boolean")


def check_query(query: dict[str, list[str]], allowed: set[str]) -> None:
    # v2 validates strictly: an unknown query parameter is a 400, not silently ignored.
    for name in query:
        if name not in allowed and name != "api_token":
            raise ApiReject(400, f"Validation failed: Parameter '{name}' is not allowed for this request")


def check_body_keys(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiReject(400, "Validation failed: body: Must be a JSON object")
    for name in body:
        if name not in allowed:
            raise ApiReject(400, f"Validation failed: Parameter '{name}' is not allowed for this request")
    return body


# A person's name is a `varchar` person field: "Text (up to 255 characters)" (the
# field_type table of the v1/v2 documents' personFields).
NAME_LIMIT = 255


def check_person_name(body: dict[str, Any], creating: bool) -> dict[str, str]:
    """`name`, or on create `first_name`/`last_name` joined into it; each part at most 255 characters."""
    out: dict[str, str] = {}
    for key in ("name", "first_name", "last_name"):
        if key in body:
            value = body[key]
            if not isinstance(value, str):
                raise ApiReject(400, f"Validation failed: {key}: Must be a string")
            if len(value) > NAME_LIMIT:
                raise ApiReject(400, f"Validation failed: {key}: Must be at most {NAME_LIMIT} characters")
            out[key] = value
    if "name" not in out and (out.get("first_name", "").strip() or out.get("last_name", "").strip()):
        out["name"] = " ".join(v.strip() for v in (out.get("first_name", ""), out.get("last_name", "")) if v.strip())
    if ("name" in body or creating) and not out.get("name", "").strip():
        raise ApiReject(400, "Validation failed: name: Name must be given")
    return out


def check_channels(values: Any, name: str, labels: frozenset[str]) -> list[dict[str, Any]]:
    """Validate `emails`/`phones`: a list of {value, label, primary}; exactly one primary out."""
    if not isinstance(values, list):
        raise ApiReject(400, f"Validation failed: {name}: Must be an array")
    out: list[dict[str, Any]] = []
    for item in values:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"].strip():
            raise ApiReject(400, f"Validation failed: {name}: Each item needs a non-empty string value")
        extra = set(item) - {"value", "label", "primary"}
        if extra:
            raise ApiReject(400, f"Validation failed: {name}: Parameter '{sorted(extra)[0]}' is not allowed")
        label = item.get("label", "work")
        if label not in labels:
            raise ApiReject(400, f"Validation failed: {name}.label: Must be one of {', '.join(sorted(labels))}")
        primary = item.get("primary", False)
        if not isinstance(primary, bool):
            raise ApiReject(400, f"Validation failed: {name}.primary: Must be a boolean")
        out.append({"value": item["value"], "primary": primary, "label": label})
    # Two primaries are refused (audit behind contactsync's issue 12; v2 has
    # "significantly stricter input validation", v2 migration guide); the wording of
    # this message is ours.
    if sum(1 for i in out if i["primary"]) > 1:
        raise ApiReject(400, f"Validation failed: {name}: Only one primary {name[:-1]} is allowed")
    if out and not any(i["primary"] for i in out):
        out[0]["primary"] = True
    return out


def check_custom_value(key: str, field: dict[str, Any], value: Any) -> Any:
    """Validate one v2 `custom_fields` value by the field's type; returns what is stored."""
    if value is None:
        return None  # "To clear a custom field value, set it to `null`."
    name = f"custom_fields.{key}"
    ftype = field["field_type"]
    if ftype in ("varchar", "varchar_auto", "phone"):
        if not isinstance(value, str):
            raise ApiReject(400, f"Validation failed: {name}: Must be a string")
        if len(value) > VARCHAR_MAX:
            raise ApiReject(400, f"Validation failed: {name}: Must be at most {VARCHAR_MAX} characters long")
    elif ftype == "text":
        if not isinstance(value, str):
            raise ApiReject(400, f"Validation failed: {name}: Must be a string")
        if len(value) > TEXT_MAX:
            raise ApiReject(400, f"Validation failed: {name}: Must be at most {TEXT_MAX} characters long")
    elif ftype == "date":
        if not _is_date(value):
            raise ApiReject(400, f"Validation failed: {name}: Must be a date in format YYYY-MM-DD")
    elif ftype == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiReject(400, f"Validation failed: {name}: Must be a number")
    elif ftype == "address":
        value = check_address(name, value)
    return value


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False  # strptime alone would take "2024-1-5"
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def check_address(name: str, value: Any) -> dict[str, Any]:
    """An address value is an object: `value` (the full address) and its subfields."""
    if not isinstance(value, dict):
        raise ApiReject(400, f"Validation failed: {name}: Must be an object")
    unknown = sorted(set(value) - {"value", *ADDRESS_SUBFIELDS})
    if unknown:
        raise ApiReject(400, f"Validation failed: {name}: Parameter '{unknown[0]}' is not allowed")
    for sub, item in value.items():
        if item is not None and not isinstance(item, str):
            raise ApiReject(400, f"Validation failed: {name}.{sub}: Must be a string")
    if not isinstance(value.get("value"), str) or not value["value"].strip():
        raise ApiReject(400, f"Validation failed: {name}.value: Address value must be given")
    stored: dict[str, Any] = {"value": value["value"]}
    stored.update({sub: value.get(sub) or None for sub in ADDRESS_SUBFIELDS})
    # Pipedrive fills the formatted address itself (from geocoding); without a
    # geocoder, the emulator repeats the address as given.
    stored["formatted_address"] = stored["formatted_address"] or value["value"]
    return stored


def searchable_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value") or "")
    return "" if value is None else str(value)


def check_person(body: dict[str, Any], creating: bool, users: set[int], orgs: dict[int, dict[str, Any]],
                 visible: frozenset[int] | set[int], custom_fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Validate a v2 person create/update body; returns the fields it sets."""
    out: dict[str, Any] = check_person_name(body, creating)
    for key in ("owner_id", "org_id", "visible_to"):
        if key not in body:
            continue
        value = body[key]
        if value is None and key == "org_id":
            out[key] = None
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiReject(400, f"Validation failed: {key}: Must be an integer")
        if key == "owner_id" and value not in users:
            raise ApiReject(400, f"Validation failed: owner_id: User {value} not found")
        if key == "org_id" and (value not in orgs or orgs[value]["is_deleted"]):
            raise ApiReject(400, f"Validation failed: org_id: Organization {value} not found")
        if key == "visible_to" and value not in visible:
            allowed = ", ".join(str(v) for v in sorted(visible))
            raise ApiReject(400, f"Validation failed: visible_to: Must be one of {allowed}")
        out[key] = value
    if "emails" in body:
        out["emails"] = check_channels(body["emails"], "emails", EMAIL_LABELS)
    if "phones" in body:
        out["phones"] = check_channels(body["phones"], "phones", PHONE_LABELS)
    if "label_ids" in body:
        out["label_ids"] = body["label_ids"]
    if "custom_fields" in body:
        custom = body["custom_fields"]
        if not isinstance(custom, dict):
            raise ApiReject(400, "Validation failed: custom_fields: Must be an object")
        out["custom_fields"] = {}
        for key, value in custom.items():
            if key not in custom_fields:
                raise ApiReject(400, f"Validation failed: custom_fields: Unknown custom field key '{key}'")
            out["custom_fields"][key] = check_custom_value(key, custom_fields[key], value)
    return out
