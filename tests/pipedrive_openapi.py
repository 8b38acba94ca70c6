"""Validate Pipedrive exchanges against Pipedrive's published OpenAPI documents.

Both documents are parsed once per process (they are ~3 MB of YAML). Where the
published documents contradict what the real API does, a narrow correction is
applied to the parsed document before it is used; each names the contradiction.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from collections.abc import Callable
from typing import Any

import jsonschema
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC_DIR = Path(__file__).parent / "openapi"
HOST = "https://api.pipedrive.com"

# https://pipedrive.readme.io/docs/core-api-concepts-responses: the common error body.
# Most error statuses are undocumented per operation; they are checked against this.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string"},
        "error_info": {"type": "string"},
        "errorCode": {"type": "integer"},
        "code": {"type": "string"},
        "data": {"type": "null"},
        "additional_data": {"type": "null"},
    },
}

# The search `fields` parameter is "a comma-separated string array" in its own
# description, but the documents type it as one enum value; accept a list of them.
_SEARCH_FIELDS = {
    "/persons/search": ["custom_fields", "email", "notes", "phone", "name"],
    "/organizations/search": ["address", "custom_fields", "notes", "name"],
}


def _nullable(schema: Any, names: set[str]) -> None:
    """Mark properties called `names` nullable anywhere under `schema`."""
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name in names and isinstance(prop, dict):
                prop["nullable"] = True
        for value in schema.values():
            _nullable(value, names)
    elif isinstance(schema, list):
        for value in schema:
            _nullable(value, names)


def _drop_format(schema: Any, names: set[str]) -> None:
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name in names and isinstance(prop, dict):
                prop.pop("format", None)
        for value in schema.values():
            _drop_format(value, names)
    elif isinstance(schema, list):
        for value in schema:
            _drop_format(value, names)


def _v2_nullable_in_responses(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    for path in ("/persons", "/persons/{id}", "/persons/search", "/organizations",
                 "/organizations/{id}", "/organizations/search"):
        for operation in paths[path].values():
            if isinstance(operation, dict):
                _nullable(operation.get("responses"),
                          {"next_cursor", "org_id", "picture_id", "organization", "address"})


def _v2_org_id_null_in_patch(doc: dict[str, Any]) -> None:
    _nullable(doc["paths"]["/persons/{id}"]["patch"]["requestBody"], {"org_id"})


def _v2_org_requires_name(doc: dict[str, Any]) -> None:
    doc["paths"]["/organizations"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] = [
        "name"]


def _v2_search_fields_list(doc: dict[str, Any]) -> None:
    for path, values in _SEARCH_FIELDS.items():
        for param in doc["paths"][path]["get"]["parameters"]:
            if param["name"] == "fields":
                alternatives = "|".join(values)
                param["schema"] = {"type": "string", "pattern": f"^({alternatives})(,({alternatives}))*$"}


def _v2_person_first_last_name(doc: dict[str, Any]) -> None:
    schema = doc["paths"]["/persons"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for name in ("first_name", "last_name"):
        schema["properties"][name] = {"type": "string"}


def _v1_field_times(doc: dict[str, Any]) -> None:
    _drop_format(doc["paths"]["/personFields"], {"add_time", "update_time"})


def _v1_crop_as_text(doc: dict[str, Any]) -> None:
    picture = doc["paths"]["/persons/{id}/picture"]["post"]["requestBody"]["content"]["multipart/form-data"]
    for name in ("crop_x", "crop_y", "crop_width", "crop_height"):
        picture["schema"]["properties"][name] = {"type": "string", "pattern": "^[0-9]+$"}


def _v1_picture_data(doc: dict[str, Any]) -> None:
    answer = doc["paths"]["/persons/{id}/picture"]["post"]["responses"]["200"]["content"]["application/json"]
    data = answer["schema"]["allOf"][1]["properties"]["data"]
    answer["schema"]["allOf"][1]["properties"]["data"] = data["properties"]["PICTURE_ID"]


# Where the real API is known to differ from its published document: the ONE list of
# corrections applied to the parsed documents before anything is validated. Each
# entry is (document, what differs and the evidence, the correction). Nothing else
# loosens the validator.
KNOWN_DIFFERENCES: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("v2", "next_cursor is typed a non-nullable string, yet 'will be null if you have reached the end' "
           "(its own description); a person without organization or picture has org_id/picture_id null, "
           "a search hit without organization has organization null, an org without address has it null",
     _v2_nullable_in_responses),
    ("v2", "PATCH /persons/{id} {'org_id': null} unlinks the organization, but the request schema types "
           "org_id as a plain integer (UNCONFIRMED either way against a live account: the v1 API accepted "
           "null, and v2 documents no other way to unlink)",
     _v2_org_id_null_in_patch),
    ("v2", "POST /organizations lists `title` as required, but the property is `name` (and the API requires "
           "`name`)",
     _v2_org_requires_name),
    ("v2", "search `fields` is 'a comma-separated string array' in its own description, but typed as one "
           "enum value",
     _v2_search_fields_list),
    ("v2", "POST /persons: the v2 migration guide (Persons) lets a create give first_name/last_name instead "
           "of name; the request schema lists only name",
     _v2_person_first_last_name),
    ("v1", "personFields add_time/update_time are typed `format: date-time`, yet the document's own example "
           "(and the API) uses '2019-02-04 13:58:03', which is not RFC 3339",
     _v1_field_times),
    ("v1", "the picture upload's crop parameters are typed integer, but a multipart/form-data text part is "
           "a string on the wire (openapi-core does not cast it): each must be a decimal integer",
     _v1_crop_as_text),
    ("v1", "the picture upload's 200 schema nests the picture under a property literally named PICTURE_ID, "
           "while the document's own example (and the API) puts it directly in `data`",
     _v1_picture_data),
]
# Not a difference of the API: answers that do not come from it at all (Cloudflare's
# HTML 403 block page after repeated 429s, sandbox/pipedrive_realism.py) are not
# validated; see log_problems.


_BOUNDARY = "contactsync-validator"
_FILE_PART = re.compile(r"^<(\d+) bytes (\S+)>$")


def _multipart(form: dict[str, str]) -> bytes:
    """Re-encode a logged form (see PipedriveEmulator.record): files by placeholder bytes."""
    out = b""
    for name, value in form.items():
        file = _FILE_PART.match(value)
        if file:
            head = (f'Content-Disposition: form-data; name="{name}"; filename="upload"\r\n'
                    f"Content-Type: {file.group(2)}\r\n")
            data = b"\0" * int(file.group(1))
        else:
            head, data = f'Content-Disposition: form-data; name="{name}"\r\n', value.encode("utf-8")
        out += f"--{_BOUNDARY}\r\n{head}\r\n".encode() + data + b"\r\n"
    return out + f"--{_BOUNDARY}--\r\n".encode()


# Checking a 3 MB document against the OpenAPI meta-schema takes seconds in every test
# process; it is done once, by test_pipedrive_emulator (`check_documents`), not on every load.
_UNCHECKED = Config(spec_validator_cls=None)


@lru_cache(maxsize=None)
def corrected_documents() -> dict[str, dict[str, Any]]:
    """The published documents, parsed and corrected, by path prefix."""
    docs = {}
    # v1 is documented at https://api.pipedrive.com/v1; the documentation prescribes
    # /api/v1/, and the API serves both (v2 migration guide, General API changes).
    for version, prefixes in (("v1", ("/v1", "/api/v1")), ("v2", ("/api/v2",))):
        text = (SPEC_DIR / f"pipedrive-{version}-openapi.yml").read_text(encoding="utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        parsed = yaml.load(text, Loader=loader)
        for which, _why, correct in KNOWN_DIFFERENCES:
            if which == version:
                correct(parsed)
        for prefix in prefixes:
            docs[prefix] = {**parsed, "servers": [{"url": HOST + prefix}]}
    return docs


def check_documents() -> None:
    """Both corrected documents are valid OpenAPI (raises otherwise)."""
    for prefix in ("/api/v1", "/api/v2"):  # /v1 is the same document as /api/v1
        OpenAPI.from_dict(corrected_documents()[prefix])


@lru_cache(maxsize=None)
def _documents() -> dict[str, tuple[OpenAPI, dict[str, Any]]]:
    return {prefix: (OpenAPI.from_dict(doc, config=_UNCHECKED), doc) for prefix, doc in corrected_documents().items()}


def _document_for(path: str) -> tuple[str, OpenAPI, dict[str, Any]] | None:
    for prefix, (api, doc) in _documents().items():
        if path.startswith(prefix + "/"):
            return prefix, api, doc
    return None


def _errors(exc: Exception) -> str:
    cause = exc.__cause__
    details = getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None)
    if details:
        return f"{exc}: " + "; ".join(e.message for e in details)
    return f"{type(exc).__name__}: {exc}" + (f" ({cause})" if cause else "")


def _documented(doc: dict[str, Any], prefix: str, method: str, path: str, status: int) -> bool:
    """Whether the operation serving `path` documents `status`."""
    rel = path[len(prefix):]
    templates = sorted(doc["paths"], key=lambda t: t.count("{"))  # literal paths win
    for template in templates:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), rel):
            operation = doc["paths"][template].get(method.lower())
            return bool(operation) and str(status) in operation.get("responses", {})
    return False


def validate_exchange(method: str, url_path: str, query: dict[str, list[str]] | dict[str, str] | None,
                      request_body: Any, status: int, response_body: Any,
                      content_type: str | None = None) -> list[str]:
    """Problems with one request/response pair; an empty list means both are valid."""
    found = _document_for(url_path)
    if found is None:
        return [f"{method} {url_path}: not under /v1, /api/v1 or /api/v2 of a published document"]
    prefix, api, doc = found
    args = {k: (v[0] if isinstance(v, list) else v) for k, v in (query or {}).items()}
    args.pop("api_token", None)
    headers = {"x-api-token": "t"}
    data = None
    mime = "application/json"
    if content_type and content_type.lower().startswith("multipart/form-data"):
        if not isinstance(request_body, dict):
            return [f"request {method} {url_path}: unreadable multipart body {request_body!r}"]
        mime, data = f"multipart/form-data; boundary={_BOUNDARY}", _multipart(request_body)
    elif request_body is not None:
        data = json.dumps(request_body).encode()
    request = MockRequest(HOST, method.lower(), url_path, args=args, headers=headers, data=data, content_type=mime)
    problems = []
    try:
        api.validate_request(request)
    except Exception as exc:  # noqa: BLE001 - every validation failure becomes a message
        problems.append(f"request {method} {url_path}: {_errors(exc)}")
        if "PathNotFound" in type(exc).__name__ or "OperationNotFound" in type(exc).__name__:
            return problems
    if status >= 400 and not _documented(doc, prefix, method, url_path, status):
        try:
            jsonschema.validate(response_body, ERROR_SCHEMA)
        except jsonschema.ValidationError as exc:
            problems.append(f"response {status} {method} {url_path}: error body: {exc.message}")
        return problems
    response = MockResponse(json.dumps(response_body).encode(), status_code=status,
                            content_type="application/json")
    try:
        api.validate_response(request, response)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"response {status} {method} {url_path}: {_errors(exc)}")
    return problems


def log_problems(emulator: Any) -> list[str]:
    problems = []
    for entry in emulator.log:
        if entry.status == 403 and isinstance(entry.response, str):  # raw, i.e. Cloudflare's HTML page
            continue
        problems += validate_exchange(entry.method, entry.path, entry.query, entry.body, entry.status,
                                      entry.response, entry.headers.get("content-type"))
    return problems


def assert_log_valid(emulator: Any) -> None:
    """Every request the emulator served, and its response, is valid per the documents."""
    assert emulator.log, "the emulator served no request"
    problems = log_problems(emulator)
    assert not problems, "\n".join(problems)
