"""People API resource rules for the Google emulator: errors, field masks, rendering.

Everything here follows the discovery document shipped with
google-api-python-client (``people.v1.json``) and the service's observed
behaviour; each quirk names where it comes from.
"""

from __future__ import annotations

import copy
import secrets
from datetime import UTC, datetime
from typing import Any

from contactsync.sandbox.server import Response

# The `personFields` paths of people.connections.list / people.get (discovery doc).
PERSON_FIELDS = frozenset(
    """addresses ageRanges biographies birthdays calendarUrls clientData coverPhotos
    emailAddresses events externalIds genders imClients interests locales locations
    memberships metadata miscKeywords names nicknames occupations organizations
    phoneNumbers photos relations sipAddresses skills urls userDefined""".split()
)
# The `updatePersonFields` paths of people.updateContact (discovery doc).
UPDATE_FIELDS = frozenset(
    """addresses biographies birthdays calendarUrls clientData emailAddresses events
    externalIds genders imClients interests locales locations memberships miscKeywords
    names nicknames occupations organizations phoneNumbers relations sipAddresses urls
    userDefined""".split()
)
# "The server returns a 400 error if more than one field is specified on a field
# that is a singleton for contact sources" (people.createContact / updateContact).
SINGLETONS = ("biographies", "birthdays", "genders", "names")
# Fields the service computes; a client cannot set them.
READ_ONLY = frozenset({"resourceName", "etag", "metadata", "ageRanges", "coverPhotos", "photos", "skills"})
# Groups a contact may be added to besides user groups (ContactGroupMembership doc).
ADDABLE_SYSTEM_GROUPS = frozenset({"contactGroups/myContacts", "contactGroups/starred"})
MY_CONTACTS = "contactGroups/myContacts"

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}


class ApiFailure(Exception):
    """Raised inside a handler; becomes Google's JSON error body."""

    def __init__(self, code: int, message: str, status: str | None = None, reason: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS.get(code, "UNKNOWN")
        self.reason = reason
        self.headers = headers or {}

    def response(self) -> Response:
        # Google's error shape (https://cloud.google.com/apis/design/errors): code,
        # message, status and a details list whose ErrorInfo carries the reason.
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason:
            error["details"] = [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": self.reason,
                "domain": "googleapis.com" if self.code in (401, 403) else "people.googleapis.com",
                "metadata": {"service": "people.googleapis.com"},
            }]
        return Response(self.code, {"error": error}, dict(self.headers))


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_etag(prefix: str) -> str:
    # Real etags look like "%EgcBAgkLLjc9GgQBAgUHIgxr..." (person) and "#e3Rk..." (source).
    return prefix + secrets.token_urlsafe(12)


def parse_mask(value: str | None, valid: frozenset[str], name: str, doc: str) -> set[str]:
    """Split a field mask; reject it empty or with an unknown path, as the service does."""
    paths = {p.strip() for p in (value or "").split(",") if p.strip()}
    if not paths:
        # Observed body: "personFields mask is required. Please specify one or more
        # valid paths. Valid paths are documented at ..." (googleapis/
        # google-api-php-client-services#129).
        raise ApiFailure(400, f"{name} mask is required. Please specify one or more valid paths. "
                              f"Valid paths are documented at {doc}.")
    for path in sorted(paths):
        if path not in valid:
            raise ApiFailure(400, f'Invalid {name} mask path: "{path}". '
                                  f"Valid paths are documented at {doc}.")
    return paths


def check_singletons(person: dict[str, Any], fields: set[str] | None = None) -> None:
    for key in SINGLETONS:
        if (fields is None or key in fields) and len(person.get(key) or []) > 1:
            # Observed message (mrmattwilkins/google-contacts-sync#2).
            raise ApiFailure(400, f"Cannot have more than one person.{key} per source.")


def display_name(name: dict[str, Any]) -> str:
    """The server derives displayName from the structured parts (it ignores the client's)."""
    parts = [name.get(k, "") for k in ("honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix")]
    joined = " ".join(p.strip() for p in parts if p and p.strip())
    return joined or (name.get("unstructuredName") or "").strip()


def normalise_name(name: dict[str, Any], keep_display: bool = False) -> dict[str, Any]:
    name = {k: v for k, v in name.items() if k not in ("metadata", "displayNameLastFirst")}
    shown = name.pop("displayName", "")
    unstructured = (name.get("unstructuredName") or "").strip()
    if unstructured and not any(name.get(k) for k in ("givenName", "familyName", "middleName")):
        # The service parses a free-form name into its parts.
        first, _, rest = unstructured.partition(" ")
        name["givenName"] = first
        if rest.strip():
            name["familyName"] = rest.strip()
    name["displayName"] = shown if keep_display and shown else display_name(name)
    family, given = name.get("familyName", ""), name.get("givenName", "")
    name["displayNameLastFirst"] = f"{family}, {given}" if family and given else name["displayName"]
    if not name.get("unstructuredName"):
        name["unstructuredName"] = name["displayName"]
    return name


def clean_input(person: dict[str, Any], fields: set[str] | None, source_id: str, keep_display: bool = False) -> dict[str, Any]:
    """Keep the writable fields of a request body, with server-side derivations applied."""
    out: dict[str, Any] = {}
    for key, value in person.items():
        if key in READ_ONLY or (fields is not None and key not in fields):
            continue
        if not isinstance(value, list):
            raise ApiFailure(400, f'Invalid value at \'person.{key}\', expected a list.')
        # proto3: empty strings and zero numbers are never stored nor rendered.
        items = [_without_defaults(copy.deepcopy(item)) for item in value if isinstance(item, dict)]
        if key == "names":
            items = [normalise_name(item, keep_display) for item in items]
        derive = _DERIVED.get(key)
        if derive:
            items = [derive(item) for item in items]
        if key == "memberships":
            continue  # memberships are resolved by the emulator, which knows the groups
        _set_field_metadata(items, source_id)
        if items:
            out[key] = items
    return out


def _without_defaults(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _without_defaults(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ("", 0, None, {})}
    return value


# ImClient.formattedProtocol of the predefined protocols; a custom one is shown as given.
IM_PROTOCOL_NAMES = {
    "aim": "AIM", "msn": "MSN", "yahoo": "Yahoo", "skype": "Skype", "qq": "QQ", "googleTalk": "Google Talk",
    "icq": "ICQ", "jabber": "Jabber", "netMeeting": "NetMeeting",
}


def _address(item: dict[str, Any]) -> dict[str, Any]:
    # "If this is not set by the user it will be automatically constructed from
    # structured values" (Address.formattedValue).
    if not item.get("formattedValue"):
        city = " ".join(p for p in (item.get("postalCode", ""), item.get("city", "")) if p)
        lines = [item.get("poBox", ""), item.get("streetAddress", ""), item.get("extendedAddress", ""),
                 ", ".join(p for p in (city, item.get("region", "")) if p),
                 item.get("country") or item.get("countryCode", "")]
        formatted = "\n".join(line for line in lines if line)
        if formatted:
            item["formattedValue"] = formatted
    return item


def _im_client(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("protocol"):
        item["formattedProtocol"] = IM_PROTOCOL_NAMES.get(item["protocol"], item["protocol"])
    return item


def _biography(item: dict[str, Any]) -> dict[str, Any]:
    item.setdefault("contentType", "TEXT_PLAIN")
    return item


def _birthday(item: dict[str, Any]) -> dict[str, Any]:
    date = item.get("date")
    if date is not None:
        year, month, day = (int(date.get(k) or 0) for k in ("year", "month", "day"))
        # Date doc: year 1..9999 or 0, month 1..12 or 0, day 1..31 or 0.
        if not (0 <= year <= 9999 and 0 <= month <= 12 and 0 <= day <= 31) or (day and not month):
            raise ApiFailure(400, "Invalid value at 'person.birthdays[0].date': the date is not a valid date.")
    return item


_DERIVED = {"addresses": _address, "imClients": _im_client, "biographies": _biography, "birthdays": _birthday}


def _set_field_metadata(items: list[dict[str, Any]], source_id: str) -> None:
    # Each field carries metadata.source and, on one item, primary/sourcePrimary; a
    # client may only choose sourcePrimary (FieldMetadata: `primary` is output only).
    chosen = next((i for i, item in enumerate(items)
                   if (item.get("metadata") or {}).get("sourcePrimary") or (item.get("metadata") or {}).get("primary")), 0)
    for i, item in enumerate(items):
        meta: dict[str, Any] = {"source": {"type": "CONTACT", "id": source_id}}
        if i == chosen:
            meta["primary"] = True
            meta["sourcePrimary"] = True
        item["metadata"] = meta
        if "type" in item and "formattedType" not in item:
            item["formattedType"] = item["type"][:1].upper() + item["type"][1:]


def memberships_of(groups: list[str], source_id: str) -> list[dict[str, Any]]:
    return [{
        "metadata": {"source": {"type": "CONTACT", "id": source_id}},
        "contactGroupMembership": {
            "contactGroupId": group.split("/", 1)[1],
            "contactGroupResourceName": group,
        },
    } for group in groups]


def requested_groups(person: dict[str, Any]) -> list[str] | None:
    """The contactGroupResourceNames of a request body, or None when it has no memberships."""
    if "memberships" not in person:
        return None
    out: list[str] = []
    for membership in person.get("memberships") or []:
        cgm = membership.get("contactGroupMembership") or {}
        name = cgm.get("contactGroupResourceName")
        if not name and cgm.get("contactGroupId"):
            name = f"contactGroups/{cgm['contactGroupId']}"
        if name and name not in out:
            out.append(name)
    return out


def render(record: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    """The Person a client sees: resourceName and etag always, then the masked fields."""
    person: dict[str, Any] = {"resourceName": record["resourceName"], "etag": record["etag"]}
    data = record["data"]
    for key in sorted(data):
        if fields is None or key in fields:
            person[key] = copy.deepcopy(data[key])
    if fields is None or "memberships" in fields:
        if record["groups"]:
            person["memberships"] = memberships_of(record["groups"], record["sourceId"])
    if fields is None or "metadata" in fields:
        person["metadata"] = {
            "sources": [source(record)],
            "objectType": "PERSON",
        }
    return person


def source(record: dict[str, Any]) -> dict[str, Any]:
    return {"type": "CONTACT", "id": record["sourceId"], "etag": record["sourceEtag"],
            "updateTime": record["updateTime"]}


def tombstone(record: dict[str, Any]) -> dict[str, Any]:
    # Deleted people come back in a sync with PersonMetadata.deleted (discovery doc).
    return {"resourceName": record["resourceName"], "etag": record["etag"],
            "metadata": {"sources": [source(record)], "objectType": "PERSON", "deleted": True}}
