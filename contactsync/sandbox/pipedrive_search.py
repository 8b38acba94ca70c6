"""The search routes of the Pipedrive emulator (v2 persons/search, organizations/search).

Mixed into :class:`PipedriveEmulator`, which owns the state.
"""

from __future__ import annotations

from typing import Any

from contactsync.sandbox import pipedrive_data as pd
from contactsync.sandbox.pipedrive_data import ApiReject
from contactsync.sandbox.server import Request, Response


class PipedriveSearchRoutes:
    _persons: dict[int, dict[str, Any]]
    orgs: dict[int, dict[str, Any]]

    def _custom_fields(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    @staticmethod
    def _ok(data: Any, additional: Any = None) -> Response:
        raise NotImplementedError

    def _search_args(self, req: Request, allowed_fields: set[str]) -> tuple[str, set[str], bool, int, int]:
        term = req.arg("term") or ""
        exact = pd.bool_arg(req.arg("exact_match"), "exact_match")
        # "Minimum 2 characters (or 1 if using exact_match)" (v2 search `term`).
        if len(term.strip()) < (1 if exact else 2):
            raise ApiReject(400, "Validation failed: term: Search term must be at least 2 characters long")
        fields = set(req.args("fields")) or set(allowed_fields)
        bad = fields - allowed_fields
        if bad:
            raise ApiReject(400, f"Validation failed: fields: Must be one of {', '.join(sorted(allowed_fields))}")
        limit = pd.limit_arg(req.arg("limit"))
        offset = 0
        if req.arg("cursor"):
            _, offset = pd.decode_cursor(req.arg("cursor") or "", "search", "asc")
        return term.strip().lower(), fields, exact, limit, offset

    @staticmethod
    def _matches(term: str, exact: bool, values: list[str]) -> bool:
        values = [v.lower() for v in values if v]
        return any(v == term for v in values) if exact else any(term in v for v in values)

    def _search_page(self, hits: list[dict[str, Any]], limit: int, offset: int) -> Response:
        page = hits[offset:offset + limit]
        nxt = pd.encode_cursor("search", 0, "asc", offset + limit) if len(hits) > offset + limit else None
        return self._ok({"items": page}, {"next_cursor": nxt})

    def _search_persons(self, req: Request, user: dict[str, Any]) -> Response:
        pd.check_query(req.query, {"term", "fields", "exact_match", "organization_id", "include_fields",
                                   "limit", "cursor"})
        term, fields, exact, limit, offset = self._search_args(
            req, {"custom_fields", "email", "notes", "phone", "name"})
        org_id = pd.int_arg(req.arg("organization_id"), "organization_id")
        searchable = {k for k, f in self._custom_fields().items() if f["field_type"] in pd.SEARCHABLE_TYPES}
        hits = []
        for person in sorted(self._persons.values(), key=lambda p: p["id"]):
            if person["is_deleted"] or (org_id is not None and person["org_id"] != org_id):
                continue
            custom = [pd.searchable_text(person["custom_fields"].get(k)) for k in sorted(searchable)]
            candidates = {
                "name": [person["name"]], "email": [e["value"] for e in person["emails"]],
                "phone": [p["value"] for p in person["phones"]], "custom_fields": custom, "notes": [],
            }
            if any(self._matches(term, exact, candidates[f]) for f in fields):
                org = self.orgs.get(person["org_id"]) if person["org_id"] else None
                hits.append({"result_score": 1.0 if exact else 0.5, "item": {
                    "id": person["id"], "type": "person", "name": person["name"],
                    "phones": candidates["phone"], "emails": candidates["email"],
                    "visible_to": person["visible_to"], "owner": {"id": person["owner_id"]},
                    "organization": {"id": org["id"], "name": org["name"], "address": None} if org else None,
                    "custom_fields": [v for v in custom if v], "notes": [],
                }})
        return self._search_page(hits, limit, offset)

    # --- organizations ---------------------------------------------------------------

    def _search_orgs(self, req: Request, user: dict[str, Any]) -> Response:
        pd.check_query(req.query, {"term", "fields", "exact_match", "limit", "cursor"})
        term, fields, exact, limit, offset = self._search_args(req, {"address", "custom_fields", "notes", "name"})
        hits = [
            {"result_score": 1.0 if exact else 0.5, "item": {
                "id": o["id"], "type": "organization", "name": o["name"], "visible_to": o["visible_to"],
                "owner": {"id": o["owner_id"]}, "custom_fields": [], "notes": [],
            }}
            for o in sorted(self.orgs.values(), key=lambda o: o["id"])
            if not o["is_deleted"] and "name" in fields and self._matches(term, exact, [o["name"]])
        ]
        return self._search_page(hits, limit, offset)
