"""The Graph v1.0 `contact` resource for the sandbox: properties, validation, rendering.

Property names and types: https://learn.microsoft.com/graph/api/resources/contact.
Error codes and messages are the ones the service answers (quoted where observed).
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from typing import Any

from contactsync.sandbox.server import Response

STRING_PROPS = {
    "givenName", "surname", "middleName", "displayName", "nickName", "title", "generation", "initials",
    "mobilePhone", "companyName", "jobTitle", "department", "officeLocation", "profession",
    "businessHomePage", "assistantName", "manager", "spouseName", "personalNotes", "fileAs",
    "yomiGivenName", "yomiSurname", "yomiCompanyName", "birthday",
}
LIST_PROPS = {"businessPhones", "homePhones", "imAddresses", "children", "categories"}
ADDRESS_PROPS = {"homeAddress", "businessAddress", "otherAddress"}
ADDRESS_KEYS = ("street", "city", "state", "countryOrRegion", "postalCode")
WRITABLE = STRING_PROPS | LIST_PROPS | ADDRESS_PROPS | {"emailAddresses"}
READ_ONLY = {"id", "changeKey", "createdDateTime", "lastModifiedDateTime", "parentFolderId", "@odata.etag"}
ALL_PROPS = WRITABLE | READ_ONLY
# Undocumented but enforced multi-value caps (microsoftgraph/microsoft-graph-docs#15276).
CAPS = {"emailAddresses": ("EmailAddresses", 3), "businessPhones": ("BusinessPhones", 2)}


class GraphFailure(Exception):
    """An API error, rendered as Graph's ``{"error": {"code", "message", "innerError"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> Response:
        request_id = str(uuid.uuid4())
        return Response(self.status, {"error": {
            "code": self.code, "message": self.message,
            "innerError": {"date": now_iso(), "request-id": request_id, "client-request-id": request_id},
        }}, {"request-id": request_id, **self.headers})


def now_iso(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def new_change_key() -> str:
    return base64.b64encode(b"\x10\x00\x00\x00" + secrets.token_bytes(12)).decode("ascii")


def new_id() -> str:
    return "AQMkADAwATM0MDAAMS" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode("ascii")


def check_body(body: Any) -> dict[str, Any]:
    """Validate a create/update body; returns the writable properties it sets."""
    if not isinstance(body, dict):
        raise GraphFailure(400, "RequestBodyRead", "Cannot read the request body: a JSON object was expected.")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata.") or key in READ_ONLY:
            continue
        if key not in WRITABLE:
            raise GraphFailure(400, "RequestBodyRead", f"The property '{key}' does not exist on type "
                               "'microsoft.graph.contact'. Make sure to only use property names that are defined "
                               "by the type or mark the type as open type.")
        if key in LIST_PROPS:
            value = [str(v) for v in value or []]
        elif key == "emailAddresses":
            value = [{"name": e.get("name") or e.get("address"), "address": e.get("address")}
                     for e in value or [] if isinstance(e, dict) and (e.get("address") or e.get("name"))]
        elif key in ADDRESS_PROPS:
            value = {k: (value or {}).get(k) or "" for k in ADDRESS_KEYS} if value else {}
            value = value if any(value.values()) else {}
        elif key == "birthday" and value is not None:
            value = _birthday(value)
        out[key] = value
        if key in CAPS and len(value) > CAPS[key][1]:
            name, cap = CAPS[key]
            # Observed: "The multi value property EmailAddresses has 4 entries, that
            # exceeds the max allowed value of 3" (microsoft-graph-docs#15276).
            raise GraphFailure(400, "ErrorInvalidArgument", f"The multi value property {name} has {len(value)} "
                               f"entries, that exceeds the max allowed value of {cap}")
    return out


def _birthday(value: Any) -> str:
    text = str(value)
    if len(text) < 10 or text[4] != "-" or text[7] != "-":
        raise GraphFailure(400, "BadRequest", f"Cannot convert the literal '{text}' to the expected type "
                           "'Edm.DateTimeOffset'.")
    # A birthday written at midnight reads back as "…T11:59:00Z" (reported by the
    # audit behind contactsync's issue 12; no primary source found). A reader must keep
    # the date only.
    if "T" not in text or text[10:19] == "T00:00:00":
        return text[:10] + "T11:59:00Z"
    return text


def empty_contact() -> dict[str, Any]:
    data: dict[str, Any] = {key: None for key in STRING_PROPS}
    data.update({key: [] for key in LIST_PROPS})
    data.update({key: {} for key in ADDRESS_PROPS})
    data["emailAddresses"] = []
    return data


def apply(record: dict[str, Any], changes: dict[str, Any], at: float | None = None) -> None:
    """Set properties; a changed name without a displayName regenerates it, as Outlook does."""
    data = record["data"]
    for key, value in changes.items():
        data[key] = value if value is not None or key in STRING_PROPS else ([] if key in LIST_PROPS else {})
    if "displayName" not in changes and ({"givenName", "surname"} & set(changes)):
        data["displayName"] = " ".join(p for p in (data.get("givenName"), data.get("surname")) if p) or None
    record["changeKey"] = new_change_key()
    record["lastModifiedDateTime"] = now_iso(at)
    record["changed"] = sorted(changes)  # for partial delta items (graph_realism.GraphQuirks)


def parse_select(value: str | None) -> list[str] | None:
    if not value:
        return None
    fields = [f.strip() for f in value.split(",") if f.strip()]
    for name in fields:
        if name not in ALL_PROPS:
            raise GraphFailure(400, "RequestBroker--ParseUri",
                               f"Could not find a property named '{name}' on type 'microsoft.graph.contact'.")
    return fields


def render_partial(record: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """An updated contact as a partial delta item: id, etag, changeKey and what changed last."""
    full = render(record, select)
    keep = {"@odata.etag", "id", "changeKey", "lastModifiedDateTime", *record.get("changed", ())}
    return {k: v for k, v in full.items() if k in keep}


def render(record: dict[str, Any], select: list[str] | None, context: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if context:
        out["@odata.context"] = context
    out["@odata.etag"] = f'W/"{record["changeKey"]}"'
    meta = {"id": record["id"], "changeKey": record["changeKey"], "createdDateTime": record["createdDateTime"],
            "lastModifiedDateTime": record["lastModifiedDateTime"], "parentFolderId": record["folder_id"]}
    names = select if select is not None else [*meta, *sorted(WRITABLE)]
    out["id"] = record["id"]
    for name in names:
        if name in meta:
            out[name] = meta[name]
        elif name != "@odata.etag":
            value = record["data"].get(name)
            if name in ADDRESS_PROPS:
                value = dict(value or {})
            out[name] = value
    return out
