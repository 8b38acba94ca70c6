"""The v1 routes of the Pipedrive emulator: person fields, the current user, permissions.

Only what v2 lacks (DESIGN §7). Mixed into :class:`PipedriveEmulator`, which owns the state.
"""

from __future__ import annotations

from typing import Any

from contactsync.clock import Clock
from contactsync.sandbox import pipedrive_data as pd
from contactsync.sandbox.pipedrive_data import ApiReject
from contactsync.sandbox.pipedrive_picture import check_picture, parse_form
from contactsync.sandbox.server import Request, Response


class PipedriveV1Routes:
    fields: list[dict[str, Any]]
    users: dict[int, dict[str, Any]]
    company: dict[str, Any]
    pictures: dict[int, dict[str, Any]]
    clock: Clock

    def field_limit(self) -> int | None:
        raise NotImplementedError

    def _person(self, req: Request) -> dict[str, Any]:
        raise NotImplementedError

    def _touch(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def _add_field(self, name: str, field_type: str, key: str | None = None,
                   options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def _ok(data: Any, additional: Any = None) -> Response:
        raise NotImplementedError

    def _list_fields(self, req: Request, user: dict[str, Any]) -> Response:
        start = pd.int_arg(req.arg("start"), "start") or 0
        limit = pd.int_arg(req.arg("limit"), "limit", minimum=1) or 100
        if limit > pd.MAX_LIMIT:
            raise ApiReject(400, f"Validation failed: limit: Must be less than or equal to {pd.MAX_LIMIT}")
        page = self.fields[start:start + limit]
        more = start + limit < len(self.fields)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return self._ok([dict(f) for f in page], {"pagination": pagination})

    def _add_field_route(self, req: Request, user: dict[str, Any]) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiReject(400, "Validation failed: name: Name must be given")
        if body.get("field_type") not in pd.FIELD_TYPES:
            raise ApiReject(400, f"Validation failed: field_type: Must be one of {', '.join(pd.FIELD_TYPES)}")
        if not user["is_admin"] and not user["permissions"].get("can_add_custom_fields", True):
            raise ApiReject(403, "You do not have permission to add custom fields")
        custom = sum(1 for f in self.fields if f["edit_flag"])
        limit = self.field_limit()
        if limit is not None and custom >= limit:
            # The plan's custom field cap: 403 with a feature-capping code
            # (pipedrive.readme.io/docs/core-api-concepts-responses).
            raise ApiReject(403, "Couldn't add the custom field. Custom fields limit reached.",
                            code="feature_capping_custom_fields_limit")
        options = body.get("options")
        if body["field_type"] in ("enum", "set") and not options:
            raise ApiReject(400, "Validation failed: options: Options must be given for enum and set fields")
        if options:
            options = [{"id": 100 + i, "label": o["label"]} for i, o in enumerate(options)]
        field = self._add_field(body["name"], body["field_type"], options=options)
        return self._ok(dict(field))

    def _add_picture(self, req: Request, user: dict[str, Any]) -> Response:
        person = self._person(req)
        kind, side = check_picture(parse_form(req.header("content-type"), req.body))
        picture_id = max(self.pictures, default=0) + 1
        now = pd.v1_time(self.clock.time())
        ext = {"GIF": "gif", "JPEG": "jpg", "PNG": "png"}[kind]
        # "All added images will be resized to 128 and 512 pixel wide squares."
        urls = {size: f"https://pipedrive-profile-pics.example.com/{pd.field_key(str(picture_id))}_{size}.{ext}"
                for size in ("128", "512")}
        picture = {"id": picture_id, "item_type": "person", "item_id": person["id"], "active_flag": True,
                   "add_time": now, "update_time": now, "added_by_user_id": user["id"], "pictures": urls}
        self.pictures[picture_id] = dict(picture, _side=side)
        # "If a picture is already set, the old picture will be replaced."
        person["picture_id"] = picture_id
        self._touch(person)
        return self._ok(picture)

    def _me(self, req: Request, user: dict[str, Any]) -> Response:
        now = pd.v1_time(self.clock.time())
        access = [{"app": app, "admin": user["is_admin"], "permission_set_id": f"set-{app}-{user['id']}"}
                  for app in ("sales", "global", "account_settings")]
        return self._ok({
            "id": user["id"], "name": user["name"], "default_currency": "EUR", "locale": "en_US", "lang": 1,
            "email": user["email"], "phone": None, "activated": True, "last_login": now, "created": now,
            "modified": None, "has_created_company": user["id"] == 1, "access": access, "active_flag": True,
            "timezone_name": "UTC", "timezone_offset": "+00:00", "role_id": 1, "icon_url": None,
            "is_you": True, "is_deleted": False, "company_id": self.company["id"],
            "company_name": self.company["name"], "company_domain": self.company["domain"],
            "company_country": "EE", "company_industry": "Software",
            "language": {"language_code": "en", "country_code": "US"},
        })

    def _permissions(self, req: Request, user: dict[str, Any]) -> Response:
        target = self.users.get(int(req.params["id"]))
        if target is None:
            raise ApiReject(404, "User not found")
        if target["id"] != user["id"] and not user["is_admin"]:
            raise ApiReject(403, "You do not have permission to view other users' permissions")
        perms = target["permissions"]
        return self._ok({k: bool(target["is_admin"] or perms.get(k, True)) for k in pd.PERMISSION_KEYS})
