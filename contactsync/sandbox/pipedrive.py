"""A loopback emulator of the Pipedrive API: v2 persons/organizations, v1 fields/users.

Faithful to Pipedrive's published OpenAPI documents (tests validate every exchange
against them) and to the documented behaviour around them: `x-api-token` auth, a
burst limit per 2-second window with `x-ratelimit-*` headers, a daily token budget,
permission 403s, v2 cursor paging and strict v2 request validation. Seeded with
resources in the API's own v2 `person` / `organization` format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contactsync.sandbox import pipedrive_data as pd
from contactsync.sandbox.pipedrive_data import ApiReject, error_response
from contactsync.sandbox.pipedrive_picture import form_summary
from contactsync.sandbox.pipedrive_org_routes import PipedriveOrgRoutes
from contactsync.sandbox.pipedrive_recents import PipedriveRecentsRoutes
from contactsync.sandbox.pipedrive_realism import BURST_BY_PLAN, CloudflareGate, PipedriveQuirks, strip_daily_headers
from contactsync.sandbox.pipedrive_search import PipedriveSearchRoutes
from contactsync.sandbox.pipedrive_v1 import PipedriveV1Routes
from contactsync.sandbox.server import Emulator, Request, Response

DEFAULT_TOKEN = "0123456789abcdef0123456789abcdef01234567"
SEED_PATH = Path(__file__).parent / "seed" / "pipedrive.json"

ApiHandler = Callable[[Request, dict[str, Any]], Response]


class PipedriveEmulator(PipedriveSearchRoutes, PipedriveRecentsRoutes, PipedriveV1Routes, PipedriveOrgRoutes, Emulator):
    name = "pipedrive"

    def __init__(self, seed: dict[str, Any] | None = None, api_token: str = DEFAULT_TOKEN, *,
                 burst_limit: int | None = None, search_burst_limit: int = 10, daily_budget: int = 1_000_000,
                 plan: str = "premium") -> None:
        super().__init__()
        if plan not in pd.VISIBILITY:
            raise ValueError(f"unknown Pipedrive plan {plan!r}; one of {', '.join(pd.VISIBILITY)}")
        self.burst_limit = burst_limit if burst_limit is not None else BURST_BY_PLAN[plan]
        self.quirks = PipedriveQuirks()
        self.cloudflare = CloudflareGate(self.quirks)
        self.search_burst_limit = search_burst_limit
        self.burst_window = 2.0
        self.daily_budget = daily_budget
        self.daily_used = 0
        self.plan = plan
        # Overrides the plan's custom field limit when set (tests, `control`).
        self.custom_field_limit: int | None = None
        self.pictures: dict[int, dict[str, Any]] = {}
        self.company = {"id": 1, "name": "Sandbox Company", "domain": "sandbox"}
        self.users: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, int] = {api_token: 1}
        self.revoked: set[str] = set()
        self._persons: dict[int, dict[str, Any]] = {}
        self.orgs: dict[int, dict[str, Any]] = {}
        self._last_time = 0
        self.fields: list[dict[str, Any]] = pd.default_person_fields(self._tick())
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._register()
        self.load(seed or {"users": [{"id": 1, "name": "Admin", "email": "admin@example.com", "is_admin": True}]})

    # --- seeding and Python controls ------------------------------------------------

    def load_seed(self, path: str | Path = SEED_PATH) -> None:
        self.load(json.loads(Path(path).read_text(encoding="utf-8")))

    def load(self, seed: dict[str, Any]) -> None:
        with self.lock:
            self.company.update(seed.get("company", {}))
            for user in seed.get("users", []):
                self.add_user(**user)
            self.tokens.update({t: int(u) for t, u in seed.get("api_tokens", {}).items()})
            for field in seed.get("personFields", []):
                self._add_field(field["name"], field.get("field_type", "varchar"), field.get("key"),
                                field.get("options"))
            for org in seed.get("organizations", []):
                self._store_org(dict(org))
            for person in seed.get("persons", []):
                self._store_person(dict(person))

    def add_user(self, id: int, name: str, email: str, is_admin: bool = False,
                 permissions: dict[str, bool] | None = None, api_token: str | None = None) -> None:
        perms = {k: True for k in (*pd.PERMISSION_KEYS, *pd.INTERNAL_PERMISSIONS)}
        perms.update(permissions or {})
        with self.lock:
            self.users[id] = {"id": id, "name": name, "email": email, "is_admin": is_admin, "permissions": perms}
            if api_token:
                self.tokens[api_token] = id

    def set_permissions(self, user_id: int, **permissions: bool) -> None:
        with self.lock:
            self.users[user_id]["permissions"].update(permissions)

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self.revoked.add(token)

    def set_burst_limit(self, limit: int, window: float = 2.0) -> None:
        with self.lock:
            self.burst_limit, self.burst_window = limit, window
            self._windows.clear()

    def set_daily_budget(self, budget: int, used: int = 0) -> None:
        with self.lock:
            self.daily_budget, self.daily_used = budget, used

    def edit_person(self, id: int, changes: dict[str, Any], at: int | None = None) -> dict[str, Any]:
        """A user editing the person in Pipedrive: no validation, update_time advances.

        `at` stamps the edit with that second instead: update_time has whole seconds, so
        another person's change can share the second of an earlier one."""
        with self.lock:
            person = self._persons[id]
            custom = changes.get("custom_fields")
            person.update({k: v for k, v in changes.items() if k != "custom_fields"})
            if custom:
                person["custom_fields"].update(custom)
            self._touch(person)
            if at is not None:
                person["_update"], person["update_time"] = at, pd.rfc3339(at)
            return dict(person)

    def add_person(self, person: dict[str, Any]) -> int:
        """A user creating a person in Pipedrive (v2 shape; owner_id defaults to 1); returns its id."""
        with self.lock:
            return int(self._store_person(dict(person))["id"])

    def person(self, id: int) -> dict[str, Any]:
        """One person (deleted or not) in the v2 shape."""
        with self.lock:
            return self._person_out(self._persons[id])

    def delete_person(self, id: int) -> None:
        with self.lock:
            person = self._persons[id]
            person["is_deleted"] = True
            self._touch(person)

    def restore_person(self, id: int) -> None:
        """Deleted persons stay recoverable for 30 days (v2 DELETE description)."""
        with self.lock:
            self._persons[id]["is_deleted"] = False
            self._touch(self._persons[id])

    def add_org(self, org: dict[str, Any]) -> int:
        """An organization made by someone else (another user, the web app)."""
        with self.lock:
            return int(self._store_org(dict(org))["id"])

    def edit_org(self, id: int, changes: dict[str, Any]) -> None:
        with self.lock:
            self.orgs[id].update(changes)
            self._touch(self.orgs[id])

    def delete_org(self, id: int) -> None:
        with self.lock:
            self.orgs[id]["is_deleted"] = True
            self._touch(self.orgs[id])

    def persons(self) -> list[dict[str, Any]]:
        """The current, non-deleted persons in the v2 shape."""
        with self.lock:
            return [self._person_out(p) for p in self._persons.values() if not p["is_deleted"]]

    def control(self, data: dict[str, Any]) -> dict[str, Any]:
        result = super().control(data)
        if "burst_limit" in data:
            self.set_burst_limit(int(data["burst_limit"]), float(data.get("burst_window", 2.0)))
        if "daily_budget" in data:
            self.set_daily_budget(int(data["daily_budget"]), int(data.get("daily_used", 0)))
        if "revoke_token" in data:
            self.revoke_token(str(data["revoke_token"]))
        for user_id, perms in data.get("permissions", {}).items():
            self.set_permissions(int(user_id), **perms)
        if "plan" in data:
            if str(data["plan"]) not in pd.VISIBILITY:
                raise ValueError(f"unknown Pipedrive plan {data['plan']!r}")
            self.plan = str(data["plan"])
            if "burst_limit" not in data:
                self.set_burst_limit(BURST_BY_PLAN[self.plan])
        if "quirks" in data:
            with self.lock:
                self.quirks.update(dict(data["quirks"]))
        if "cloudflare_block" in data:  # Cloudflare's block page for the next N requests of any token
            with self.lock:
                if data["cloudflare_block"]:
                    self.cloudflare.block(int(data["cloudflare_block"]))
                else:
                    self.cloudflare.unblock()
        if "custom_field_limit" in data:
            self.custom_field_limit = data["custom_field_limit"]
        if "edit_person" in data:
            self.edit_person(int(data["edit_person"]["id"]), data["edit_person"]["changes"])
        if "delete_person" in data:
            self.delete_person(int(data["delete_person"]))
        if "seed" in data:
            self.load(data["seed"])
        return result

    def field_limit(self) -> int | None:
        """How many custom fields the company may have: the override, else the plan's."""
        if self.custom_field_limit is not None:
            return self.custom_field_limit
        return pd.CUSTOM_FIELD_LIMITS[self.plan]

    def record(self, req: Request, resp: Response) -> None:
        # A multipart upload is logged as its form fields (files by size) so that the
        # log stays JSON and can be validated against the document.
        if not (req.header("content-type") or "").lower().startswith("multipart/form-data"):
            super().record(req, resp)
            return
        with self.lock:
            super().record(req, resp)
            self.log[-1].body = form_summary(req.header("content-type"), req.body)

    # --- storage ------------------------------------------------------------------

    def _tick(self) -> int:
        # update_time has one-second resolution; keep it strictly increasing so that
        # every change moves the version, as it would across real edits.
        self._last_time = max(int(self.clock.time()), self._last_time + 1)
        return self._last_time

    def _touch(self, record: dict[str, Any]) -> None:
        record["_update"] = self._tick()
        record["update_time"] = pd.rfc3339(record["_update"])

    def _add_field(self, name: str, field_type: str, key: str | None = None,
                   options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        new_id = max(f["id"] for f in self.fields) + 1
        key = key or pd.field_key(f"{self.company['id']}:{new_id}:{name}")
        field = pd.field_record(new_id, key, name, field_type, self._tick(), options=options)
        self.fields.append(field)
        return field

    def _store_org(self, org: dict[str, Any]) -> dict[str, Any]:
        org.setdefault("id", max(self.orgs, default=0) + 1)
        now = self._tick()
        org.setdefault("owner_id", 1)
        org.setdefault("visible_to", 3)
        org.setdefault("label_ids", [])
        org.setdefault("custom_fields", {})
        org.setdefault("add_time", pd.rfc3339(now))
        org["is_deleted"] = False
        org["_add"], org["_update"] = now, now
        org["update_time"] = pd.rfc3339(now)
        self.orgs[org["id"]] = org
        return org

    def _store_person(self, person: dict[str, Any]) -> dict[str, Any]:
        person.setdefault("id", max(self._persons, default=0) + 1)
        now = self._tick()
        name = person.get("name", "")
        first, _, last = name.partition(" ")
        person.setdefault("first_name", first)
        person.setdefault("last_name", last)
        for key, default in (("owner_id", 1), ("org_id", None), ("emails", []), ("phones", []),
                             ("visible_to", 3), ("label_ids", []), ("picture_id", None), ("custom_fields", {})):
            person.setdefault(key, default)
        person.setdefault("add_time", pd.rfc3339(now))
        person["is_deleted"] = bool(person.get("is_deleted", False))
        person["_add"], person["_update"] = now, now
        person["update_time"] = pd.rfc3339(now)
        self._persons[person["id"]] = person
        return person

    def _custom_fields(self) -> dict[str, dict[str, Any]]:
        return {f["key"]: f for f in self.fields if f["edit_flag"]}

    def _person_out(self, person: dict[str, Any], only: set[str] | None = None) -> dict[str, Any]:
        out = {k: v for k, v in person.items() if not k.startswith("_")}
        out["emails"] = [dict(e) for e in person["emails"]]
        out["phones"] = [dict(p) for p in person["phones"]]
        # v2 returns every custom field of the company, null when unset.
        keys = only if only is not None else set(self._custom_fields())
        out["custom_fields"] = {k: person["custom_fields"].get(k) for k in sorted(keys)}
        return out

    def _org_out(self, org: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in org.items() if not k.startswith("_")}

    # --- the request pipeline ---------------------------------------------------------

    def _register(self) -> None:
        api = self._api
        self.route("GET", r"/api/v2/persons", api("getPersons", self._list_persons))
        self.route("POST", r"/api/v2/persons", api("addPerson", self._add_person))
        self.route("GET", r"/api/v2/persons/search", api("searchPersons", self._search_persons))
        self.route("GET", r"/api/v2/persons/(?P<id>\d+)", api("getPerson", self._get_person))
        self.route("PATCH", r"/api/v2/persons/(?P<id>\d+)", api("updatePerson", self._update_person))
        self.route("DELETE", r"/api/v2/persons/(?P<id>\d+)", api("deletePerson", self._delete_person))
        self.route("GET", r"/api/v2/organizations", api("getOrganizations", self._list_orgs))
        self.route("POST", r"/api/v2/organizations", api("addOrganization", self._add_org))
        self.route("GET", r"/api/v2/organizations/search", api("searchOrganization", self._search_orgs))
        self.route("GET", r"/api/v2/organizations/(?P<id>\d+)", api("getOrganization", self._get_org))
        # v1 is served under /api/v1/ (what the documentation prescribes) and /v1/: "Only
        # /api/v2/... prefix is supported. Previously both /api/v1/... and /v1/... could
        # be used" (pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide).
        v1 = r"(?:/api)?/v1"
        self.route("GET", v1 + r"/personFields", api("getPersonFields", self._list_fields))
        self.route("POST", v1 + r"/personFields", api("addPersonField", self._add_field_route))
        self.route("POST", v1 + r"/persons/(?P<id>\d+)/picture", api("addPersonPicture", self._add_picture))
        self.route("GET", v1 + r"/users/me", api("getCurrentUser", self._me))
        self.route("GET", v1 + r"/recents", api("getRecents", self._recents))
        self.route("GET", v1 + r"/users/(?P<id>\d+)/permissions", api("getUserPermissions", self._permissions))

    def not_found(self, req: Request) -> Response:
        return error_response(404, f"Unknown method {req.method} {req.path}")

    def _api(self, operation: str, handler: ApiHandler) -> Callable[[Request], Response]:
        def run(req: Request) -> Response:
            token = req.header("x-api-token") or req.arg("api_token")
            with self.lock:
                block = self.cloudflare.blocked(token or "")
                if block is not None:
                    return block
                resp = self._serve(operation, handler, req, token)
                self.cloudflare.answered(token or "", resp.status)
                if self.quirks.hide_daily_headers:
                    strip_daily_headers(resp.headers)
                return resp
        return run

    def _serve(self, operation: str, handler: ApiHandler, req: Request, token: str | None) -> Response:
        user_id = self.tokens.get(token or "")
        if user_id is None or token in self.revoked or user_id not in self.users:
            # The v1 document's 401 example body, plus the common error_info.
            return Response(401, {"success": False, "error": "unauthorized access", "errorCode": 401,
                                  "error_info": pd.ERROR_INFO, "data": None, "additional_data": None})
        headers, limited = self._rate(token or "", "search" if "search" in operation else "all")
        if limited is not None:
            return limited
        cost = pd.TOKEN_COST[operation]
        if self.daily_used + cost > self.daily_budget:
            # Budget exhausted: 429 with x-daily-ratelimit-token-remaining: 0, the
            # header clients use to tell it from a burst 429 (seen on the live API).
            headers["x-daily-ratelimit-token-remaining"] = "0"
            return error_response(429, "Daily API token budget exceeded", headers)
        try:
            resp = handler(req, self.users[user_id])
        except ApiReject as reject:
            resp = error_response(reject.status, reject.error, **reject.extra)
        if resp.status < 400 or resp.status == 404:
            self.daily_used += cost
        headers["x-daily-ratelimit-token-remaining"] = str(max(0, self.daily_budget - self.daily_used))
        resp.headers.update(headers)
        return resp

    def _rate(self, token: str, bucket: str) -> tuple[dict[str, str], Response | None]:
        """A fixed 2-second window per token, started by a request.

        pipedrive.readme.io/docs/core-api-concepts-rate-limiting: "Rate limiting of the
        Pipedrive API is considered per token", "the Pipedrive API rate limit window
        duration is 2 seconds"; every answer carries `x-ratelimit-limit` ("the maximum
        number of requests current api_token can perform per 2-second window"),
        `x-ratelimit-remaining` ("the number of requests left for the 2-second window") and
        `x-ratelimit-reset` ("the remaining window before the rate limit resets"; whole
        seconds in the page's example: limit 40, remaining 39, reset 2); past the limit,
        HTTP 429. The user's own actions in the web app count too (same page), which is
        what a client's limiter learns from these headers (contactsync/ratelimit.py).
        """
        limit = self.search_burst_limit if bucket == "search" else self.burst_limit
        now = self.clock.monotonic()
        start, count = self._windows.get((token, bucket), (now, 0))
        if now - start >= self.burst_window:
            start, count = now, 0
        reset = max(1, math.ceil(self.burst_window - (now - start)))
        headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-reset": str(reset),
                   "x-daily-ratelimit-token-limit": str(self.daily_budget)}
        if count >= limit:
            headers["x-ratelimit-remaining"] = "0"
            headers["x-daily-ratelimit-token-remaining"] = str(max(0, self.daily_budget - self.daily_used))
            headers["Retry-After"] = str(reset)
            # The 429 body carries "Request over limit" as its error.
            return headers, error_response(429, "Request over limit", headers)
        self._windows[(token, bucket)] = (start, count + 1)
        headers["x-ratelimit-remaining"] = str(limit - count - 1)
        return headers, None

    @staticmethod
    def _ok(data: Any, additional: Any = None) -> Response:
        body: dict[str, Any] = {"success": True, "data": data}
        if additional is not None:
            body["additional_data"] = additional
        return Response(200, body)

    def _person(self, req: Request, deleted_ok: bool = False) -> dict[str, Any]:
        person = self._persons.get(int(req.params["id"]))
        if person is not None and person["is_deleted"] and deleted_ok and self.quirks.deleted_as_flag:
            return person  # the v2 migration guide's `is_deleted: true` (PipedriveQuirks)
        if person is None or person["is_deleted"]:
            # A deleted person is gone from v2 reads: lists, search and GET by id (404).
            raise ApiReject(404, "Person not found")
        return person

    # --- persons ----------------------------------------------------------------------

    def _list_persons(self, req: Request, user: dict[str, Any]) -> Response:
        pd.check_query(req.query, {"filter_id", "ids", "owner_id", "org_id", "deal_id", "updated_since",
                                   "updated_until", "sort_by", "sort_direction", "include_fields",
                                   "custom_fields", "include_option_labels", "include_labels", "limit", "cursor"})
        items = [p for p in self._persons.values() if not p["is_deleted"]]
        ids = req.args("ids")
        if ids:
            if len(ids) > 100:
                raise ApiReject(400, "Validation failed: ids: At most 100 ids are allowed")
            wanted = {pd.int_arg(i, "ids") for i in ids}
            items = [p for p in items if p["id"] in wanted]
        for name in ("owner_id", "org_id"):
            value = pd.int_arg(req.arg(name), name)
            if value is not None:
                items = [p for p in items if p[name] == value]
        items = pd.updated_between(items, req.arg("updated_since"), req.arg("updated_until"))
        only = self._custom_field_filter(req)
        return self._paged(req, items, lambda p: self._person_out(p, only))

    def _custom_field_filter(self, req: Request) -> set[str] | None:
        keys = req.args("custom_fields")
        if not keys:
            return None
        if len(keys) > 15:
            raise ApiReject(400, "Validation failed: custom_fields: A maximum of 15 keys is allowed")
        unknown = [k for k in keys if k not in self._custom_fields()]
        if unknown:
            raise ApiReject(400, f"Validation failed: custom_fields: Unknown custom field key '{unknown[0]}'")
        return set(keys)

    def _paged(self, req: Request, items: list[dict[str, Any]], render: Callable[[dict[str, Any]], Any]) -> Response:
        sort_by = req.arg("sort_by", "id") or "id"
        direction = req.arg("sort_direction", "asc") or "asc"
        if sort_by not in ("id", "update_time", "add_time"):
            raise ApiReject(400, "Validation failed: sort_by: Must be one of id, update_time, add_time")
        if direction not in ("asc", "desc"):
            raise ApiReject(400, "Validation failed: sort_direction: Must be one of asc, desc")
        key = {"id": "id", "update_time": "_update", "add_time": "_add"}[sort_by]
        page, nxt = pd.page_after(items, key, direction, req.arg("cursor"), pd.limit_arg(req.arg("limit")))
        return self._ok([render(p) for p in page], {"next_cursor": nxt})

    def _get_person(self, req: Request, user: dict[str, Any]) -> Response:
        pd.check_query(req.query, {"include_fields", "custom_fields", "include_option_labels", "include_labels"})
        return self._ok(self._person_out(self._person(req, deleted_ok=True), self._custom_field_filter(req)))

    def _validate_person(self, body: dict[str, Any], creating: bool) -> dict[str, Any]:
        return pd.check_person(body, creating, set(self.users), self.orgs, pd.VISIBILITY[self.plan],
                               self._custom_fields())

    def _add_person(self, req: Request, user: dict[str, Any]) -> Response:
        body = pd.check_body_keys(req.json(), pd.PERSON_BODY_KEYS)
        if not user["is_admin"] and not user["permissions"].get("add_persons", True):
            raise ApiReject(403, "You do not have permission to add people")
        fields = self._validate_person(body, creating=True)
        fields.setdefault("owner_id", user["id"])
        custom = fields.pop("custom_fields", {})
        person = self._store_person(fields)
        person["custom_fields"] = {k: v for k, v in custom.items() if v is not None}
        return self._ok(self._person_out(person))

    def _update_person(self, req: Request, user: dict[str, Any]) -> Response:
        body = pd.check_body_keys(req.json(), pd.PERSON_BODY_KEYS)
        person = self._person(req)
        fields = self._validate_person(body, creating=False)
        custom = fields.pop("custom_fields", None)
        person.update(fields)
        if "name" in fields and not {"first_name", "last_name"} & set(fields):
            # Pipedrive splits a new name into first/last itself.
            first, _, last = fields["name"].partition(" ")
            person["first_name"], person["last_name"] = first, last
        if custom:
            for key, value in custom.items():
                if value is None:
                    person["custom_fields"].pop(key, None)
                else:
                    person["custom_fields"][key] = value
        self._touch(person)
        return self._ok(self._person_out(person))

    def _delete_person(self, req: Request, user: dict[str, Any]) -> Response:
        person = self._person(req)
        person["is_deleted"] = True
        self._touch(person)
        return self._ok({"id": person["id"]})
