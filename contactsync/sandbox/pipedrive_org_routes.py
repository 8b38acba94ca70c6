"""The v2 organization routes of the Pipedrive emulator: list, read by id, add.

Mixed into :class:`PipedriveEmulator`, which owns the state (the search is in pipedrive_search.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contactsync.sandbox import pipedrive_data as pd
from contactsync.sandbox.pipedrive_data import ApiReject
from contactsync.sandbox.server import Request, Response


class PipedriveOrgRoutes:
    orgs: dict[int, dict[str, Any]]
    users: dict[int, dict[str, Any]]
    plan: str

    @staticmethod
    def _ok(data: Any, additional: Any = None) -> Response:
        raise NotImplementedError

    def _paged(self, req: Request, items: list[dict[str, Any]], render: Callable[[dict[str, Any]], Any]) -> Response:
        raise NotImplementedError

    def _org_out(self, org: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _store_org(self, org: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _list_orgs(self, req: Request, user: dict[str, Any]) -> Response:
        pd.check_query(req.query, {"filter_id", "ids", "owner_id", "updated_since", "updated_until", "sort_by",
                                   "sort_direction", "include_fields", "custom_fields", "limit", "cursor"})
        items = [o for o in self.orgs.values() if not o["is_deleted"]]
        owner = pd.int_arg(req.arg("owner_id"), "owner_id")
        if owner is not None:
            items = [o for o in items if o["owner_id"] == owner]
        if req.args("ids"):
            wanted = {pd.int_arg(i, "ids") for i in req.args("ids")}
            items = [o for o in items if o["id"] in wanted]
        # As for persons: "updated_since: If set, only organizations with an update_time later
        # than or equal to this time are returned. In RFC3339 format" (v2 getOrganizations).
        items = pd.updated_between(items, req.arg("updated_since"), req.arg("updated_until"))
        return self._paged(req, items, self._org_out)

    def _get_org(self, req: Request, user: dict[str, Any]) -> Response:
        org = self.orgs.get(int(req.params["id"]))
        if org is None or org["is_deleted"]:
            raise ApiReject(404, "Organization not found")
        return self._ok(self._org_out(org))

    def _add_org(self, req: Request, user: dict[str, Any]) -> Response:
        body = pd.check_body_keys(req.json(), pd.ORG_BODY_KEYS)
        if not user["is_admin"] and not user["permissions"].get("add_organizations", True):
            raise ApiReject(403, "You do not have permission to add organizations")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiReject(400, "Validation failed: name: Name must be given")
        visible_to = body.get("visible_to", 3)
        if visible_to not in pd.VISIBILITY[self.plan]:
            allowed = ", ".join(str(v) for v in sorted(pd.VISIBILITY[self.plan]))
            raise ApiReject(400, f"Validation failed: visible_to: Must be one of {allowed}")
        owner = body.get("owner_id", user["id"])
        if owner not in self.users:
            raise ApiReject(400, f"Validation failed: owner_id: User {owner} not found")
        org = self._store_org({"name": name, "owner_id": owner, "visible_to": visible_to,
                               "label_ids": body.get("label_ids", [])})
        return self._ok(self._org_out(org))
