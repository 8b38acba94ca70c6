"""GET /v1/recents of the Pipedrive emulator: what changed after a time, persons and organizations.

Mixed into :class:`PipedriveEmulator`, which owns the state. What it models, and from where:

* `since_timestamp` is required, UTC, `YYYY-MM-DD HH:MM:SS` (v1 document, getRecents), so a
  client's cursor has whole seconds; changes "occurred after the given timestamp" are listed,
  that is a change stamped in the cursor's own second is *not* listed again (clients overlap
  by a second: singer-io/tap-pipedrive subtracts one second from its state).
* At most a month back: "All other users will be limited to retrieving a maximum of 1 month
  of past data, even if they request data from a date further in the past" (changelog,
  "Breaking change: added limit to the since_timestamp parameter", effective 2024-12-01). The
  limit is silent: the answer echoes the timestamp asked for, not the one applied.
* Oldest change first, paged by `start`/`limit` with `more_items_in_collection` and
  `next_start`; `additional_data.last_timestamp_on_page` is the newest time on the page (the
  document's example; airbytehq/airbyte#27502 shows a page of 500 ending at its newest time).
  Offset paging over a list that changes while it is read skips entries when an entry already
  read moves to the end; a client pages by moving `since_timestamp` instead.
* Each entry carries the item in the v1 shape (`mergePersonItem` for persons: `owner_id` and
  `org_id` as ids, `email`/`phone` arrays, `active_flag`, v1 times, custom fields as top-level
  keys). A deleted person is kept for 30 days marked inactive ("Permanent deletion logic for 6
  core entities", changelog 2022) and its deletion is a change, so it is listed with
  `active_flag: false`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from contactsync.clock import Clock
from contactsync.sandbox import pipedrive_data as pd
from contactsync.sandbox.pipedrive_data import ApiReject
from contactsync.sandbox.server import Request, Response

RECENTS_WINDOW = 30 * 24 * 3600  # "a maximum of 1 month of past data"
ITEM_TYPES = ("activity", "activityType", "deal", "file", "filter", "note", "person", "organization",
              "pipeline", "product", "stage", "user")
DEFAULT_LIMIT = 100


def parse_v1_time(value: str, name: str) -> float:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise ApiReject(400, f"Validation failed: {name}: Invalid date, expected format YYYY-MM-DD HH:MM:SS") from None


class PipedriveRecentsRoutes:
    _persons: dict[int, dict[str, Any]]
    orgs: dict[int, dict[str, Any]]
    users: dict[int, dict[str, Any]]
    company: dict[str, Any]
    clock: Clock

    def _custom_fields(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    @staticmethod
    def _ok(data: Any, additional: Any = None) -> Response:
        raise NotImplementedError

    def _recents(self, req: Request, user: dict[str, Any]) -> Response:
        pd.check_query(req.query, {"since_timestamp", "items", "start", "limit"})
        asked = req.arg("since_timestamp")
        if not asked:
            raise ApiReject(400, "Validation failed: since_timestamp: Required")
        since = max(parse_v1_time(asked, "since_timestamp"), self.clock.time() - RECENTS_WINDOW)
        kinds = {k for value in req.args("items") for k in value.split(",") if k} or set(ITEM_TYPES)
        unknown = kinds - set(ITEM_TYPES)
        if unknown:
            raise ApiReject(400, f"Validation failed: items: Must be one of {', '.join(ITEM_TYPES)}")
        start = pd.int_arg(req.arg("start"), "start") or 0
        limit = pd.int_arg(req.arg("limit"), "limit", minimum=1) or DEFAULT_LIMIT
        if limit > pd.MAX_LIMIT:
            raise ApiReject(400, f"Validation failed: limit: Must be less than or equal to {pd.MAX_LIMIT}")
        entries: list[tuple[int, int, str, dict[str, Any]]] = []
        if "person" in kinds:
            entries += [(p["_update"], p["id"], "person", p) for p in self._persons.values() if p["_update"] > since]
        if "organization" in kinds:
            entries += [(o["_update"], o["id"], "organization", o) for o in self.orgs.values() if o["_update"] > since]
        entries.sort(key=lambda e: (e[0], e[2], e[1]))
        page = entries[start:start + limit]
        more = start + limit < len(entries)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        data = [{"item": kind, "id": id, "data": self._v1_person(record) if kind == "person" else self._v1_org(record)}
                for _, id, kind, record in page]
        return self._ok(data, {"since_timestamp": asked,
                               "last_timestamp_on_page": pd.v1_time(page[-1][0]) if page else asked,
                               "pagination": pagination})

    def _v1_person(self, person: dict[str, Any]) -> dict[str, Any]:
        """A person as v1 shows it (`mergePersonItem` of the v1 document)."""
        owner = self.users.get(person["owner_id"], {})
        org = self.orgs.get(person["org_id"]) if person["org_id"] else None
        out: dict[str, Any] = {
            "id": person["id"], "company_id": self.company["id"], "active_flag": not person["is_deleted"],
            "name": person.get("name", ""), "first_name": person.get("first_name", ""),
            "last_name": person.get("last_name") or None, "owner_id": person["owner_id"],
            "owner_name": owner.get("name", ""), "org_name": org["name"] if org else None,
            "email": [dict(e) for e in person["emails"]] or [{"value": "", "primary": True}],
            "phone": [dict(p) for p in person["phones"]] or [{"value": "", "primary": True}],
            "first_char": (person.get("name") or " ")[0].lower(),
            "add_time": pd.v1_time(person["_add"]), "update_time": pd.v1_time(person["_update"]),
            "visible_to": str(person["visible_to"]), "picture_id": None, "label_ids": list(person["label_ids"]),
        }
        if org is not None:
            out["org_id"] = org["id"]
        for key in self._custom_fields():
            value = person["custom_fields"].get(key)
            if isinstance(value, dict):  # an address: the formatted text, and each part as `<key>_<part>`
                out[key] = value.get("value") or value.get("formatted_address")
                out.update({f"{key}_{part}": value.get(part) for part in pd.ADDRESS_SUBFIELDS if part in value})
            else:
                out[key] = value
        return out

    def _v1_org(self, org: dict[str, Any]) -> dict[str, Any]:
        return {"id": org["id"], "company_id": self.company["id"], "name": org["name"],
                "owner_id": org["owner_id"], "active_flag": not org["is_deleted"],
                "add_time": pd.v1_time(org["_add"]), "update_time": pd.v1_time(org["_update"]),
                "visible_to": str(org["visible_to"]), "label_ids": list(org["label_ids"])}
