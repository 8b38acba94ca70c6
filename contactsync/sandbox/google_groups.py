"""The contactGroups half of the Google People API emulator (a mixin of GoogleEmulator).

Paths and shapes follow the discovery document shipped with
google-api-python-client (``people.v1.json``, resource ``contactGroups``).
"""

from __future__ import annotations

import secrets
from typing import Any

from contactsync.sandbox import google_people as gp
from contactsync.sandbox.google_oauth import Grant
from contactsync.sandbox.google_people import ApiFailure
from contactsync.sandbox.server import Request

SYSTEM_GROUPS = {
    "chatBuddies": "Chat contacts", "all": "All Contacts", "friends": "Friends", "family": "Family",
    "coworkers": "Coworkers", "myContacts": "My Contacts", "starred": "Starred", "blocked": "Blocked",
}
GROUP_FIELDS = frozenset({"clientData", "groupType", "memberCount", "metadata", "name"})
DEFAULT_GROUP_FIELDS = {"metadata", "groupType", "memberCount", "name"}


class ContactGroupsApi:
    """contactGroups.list/get/create over the emulator's `groups` and `people`."""

    groups: dict[str, dict[str, Any]]
    people: dict[str, dict[str, Any]]

    def _add_group(self, rn: str, name: str, group_type: str) -> None:
        self.groups[rn] = {"resourceName": rn, "name": name, "groupType": group_type,
                           "etag": gp.new_etag(""), "updateTime": gp.now_rfc3339()}

    def _render_group(self, group: dict[str, Any], fields: set[str], max_members: int = 0) -> dict[str, Any]:
        members = [rn for rn, rec in self.people.items() if group["resourceName"] in rec["groups"]]
        out: dict[str, Any] = {"resourceName": group["resourceName"], "etag": group["etag"]}
        if "metadata" in fields:
            out["metadata"] = {"updateTime": group["updateTime"]}
        if "groupType" in fields:
            out["groupType"] = group["groupType"]
        if "name" in fields:
            out["name"] = group["name"]
        out["formattedName"] = group["name"]
        if "memberCount" in fields and members:
            out["memberCount"] = len(members)  # proto3: a zero count is omitted
        if max_members:
            out["memberResourceNames"] = members[:max_members]
        return out

    def _group_fields(self, req: Request) -> set[str]:
        value = req.arg("groupFields")
        if not value:
            return set(DEFAULT_GROUP_FIELDS)
        return gp.parse_mask(value, GROUP_FIELDS, "groupFields",
                             "https://developers.google.com/people/api/rest/v1/contactGroups/list")

    def list_groups(self, req: Request, grant: Grant) -> dict[str, Any]:
        fields = self._group_fields(req)
        size = int(req.arg("pageSize") or 30) or 30
        if not 1 <= size <= 1000:
            raise ApiFailure(400, "pageSize must be between 1 and 1000.")
        start = int(req.arg("pageToken") or 0)
        groups = list(self.groups.values())
        page = groups[start:start + size]
        out: dict[str, Any] = {"contactGroups": [self._render_group(g, fields) for g in page],
                               "totalItems": len(groups)}
        if start + size < len(groups):
            out["nextPageToken"] = str(start + size)
        else:
            out["nextSyncToken"] = f"EPg{secrets.token_urlsafe(9)}"
        return out

    def get_group(self, req: Request, grant: Grant) -> dict[str, Any]:
        group = self.groups.get(f"contactGroups/{req.params['id']}")
        if group is None:
            raise ApiFailure(404, "Requested entity was not found.")
        return self._render_group(group, self._group_fields(req), int(req.arg("maxMembers") or 0))

    def create_group(self, req: Request, grant: Grant) -> dict[str, Any]:
        name = ((req.json() or {}).get("contactGroup") or {}).get("name", "").strip()
        if not name:
            raise ApiFailure(400, "Contact group name must not be empty.")
        if any(g["name"] == name for g in self.groups.values()):
            raise ApiFailure(409, "Contact group name already exists.", status="ALREADY_EXISTS")
        rn = f"contactGroups/{secrets.token_hex(6)}"
        self._add_group(rn, name, "USER_CONTACT_GROUP")
        return self._render_group(self.groups[rn], DEFAULT_GROUP_FIELDS)
