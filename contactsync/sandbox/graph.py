"""A loopback emulator of Microsoft Graph v1.0 contacts (one mailbox) and its sign-in.

Paths, parameters, payloads and errors are those of Graph v1.0
(https://learn.microsoft.com/graph/api/resources/contact, contact-delta,
contactfolder-*, profilephoto-get/update). Quirks reproduced:

* The default folder is not listed by ``/me/contactFolders``; ``/me/contacts`` lists it.
* Lists page with ``$top``/``$skip`` (default 10, max 1000); delta pages with
  ``Prefer: odata.maxpagesize`` and ``$skiptoken`` and ends in ``@odata.deltaLink``
  (``$deltatoken``); deletions and moves out of the folder are ``@removed`` entries.
* An expired delta state answers like the service: 410 ``SyncStateNotFound`` (seen for
  contacts, learn.microsoft.com Q&A 649481), or 400 ``syncStateInvalid`` / 410
  ``resyncRequired`` (delta-query-overview, "Synchronization reset") — a control picks.
* More than 3 e-mails or 2 business phones: 400 (microsoft-graph-docs#15276).
* Moving a contact to another folder gives it a new id (Outlook item ids are not
  immutable unless the client asks for ImmutableId).
* ``$count=true`` on a contacts list adds ``@odata.count`` (-1 with a quirk: GraphQuirks.count_unknown).
* ``If-Match`` with a stale etag: 412 ``ErrorIrresolvableConflict``.
* Outlook's per-mailbox limits: more than `max_concurrency` (4) requests in flight or
  more than `rate_limit` requests per `rate_period` seconds answer 429 with Retry-After.
"""

from __future__ import annotations

import base64
import collections
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from contactsync.sandbox import graph_model as gm
from contactsync.sandbox.graph_identity import GraphIdentity, required_scopes
from contactsync.sandbox.graph_model import GraphFailure
from contactsync.sandbox.graph_realism import GraphQuirks
from contactsync.sandbox.server import Emulator, Request, Response

DEFAULT_FOLDER_ID = "AQMkADAwATM0MDAAMS1kZWZhdWx0LWNvbnRhY3RzAC4AAAMAAAA="
EXPIRED = {
    "SyncStateNotFound": (410, "The sync state generation is not found. The delta token is expired and data must "
                               "be synchronized again."),
    "syncStateInvalid": (400, "The sync state is invalid. The delta token is malformed or was issued for another "
                              "request."),
    "resyncRequired": (410, "The delta token is no longer valid; the application must resynchronize."),
}
ME = "/v1.0/me"
FOLDER = r"/v1.0/me/contactFolders/(?P<folder>[^/]+)"
ITEM = r"(?P<id>[^/]+)"

Handler = Callable[[Request], Response]


class GraphEmulator(Emulator):
    name = "graph"

    def __init__(self, seed: dict[str, Any] | None = None, email: str = "ann@outlook.example",
                 device_approval: str = "after_first_poll", device_interval: int = 1) -> None:
        super().__init__()
        self.email = email.lower()
        self.identity = GraphIdentity(self, device_approval, device_interval)
        self.folders: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.tombstones: list[tuple[int, str, str]] = []  # (seq, folder id, contact id)
        self.seq = 0
        self.delta_tokens: dict[str, dict[str, Any]] = {}
        self.skip_tokens: dict[str, dict[str, Any]] = {}
        # Throttling controls and what the tests observe.
        self.max_concurrency = 4
        self.rate_limit: int | None = None
        self.rate_period = 1.0
        self.retry_after = 1
        self.work_time = 0.0  # seconds each API request takes while it counts as in flight
        self.in_flight = 0
        self.max_in_flight = 0
        self._recent: collections.deque[float] = collections.deque()
        self.quirks = GraphQuirks()
        api = self._api
        self.route("GET", ME, api(self.get_me))
        self.route("GET", r"/v1.0/me/contactFolders", api(self.list_folders))
        self.route("POST", r"/v1.0/me/contactFolders", api(self.create_folder))
        self.route("GET", FOLDER, api(self.get_folder))
        for prefix in (r"/v1.0/me/contacts", FOLDER + "/contacts"):
            self.route("GET", prefix + "/delta", api(self.delta))
            self.route("GET", prefix, api(self.list_contacts))
            self.route("POST", prefix, api(self.create_contact))
            self.route("GET", f"{prefix}/{ITEM}/photo/\\$value", api(self.get_photo))
            self.route("PUT", f"{prefix}/{ITEM}/photo/\\$value", api(self.put_photo))
            self.route("GET", f"{prefix}/{ITEM}", api(self.get_contact))
            self.route("PATCH", f"{prefix}/{ITEM}", api(self.update_contact))
            self.route("DELETE", f"{prefix}/{ITEM}", api(self.delete_contact_api))
        if seed:
            self.load(seed)

    # -- seeding and simulated user edits ----------------------------------------

    def load(self, seed: dict[str, Any]) -> None:
        """Load ``{"contactFolders": [contactFolder...], "contacts": [contact...]}`` (Graph format).

        A contact's ``parentFolderId`` names its folder (default folder when absent); an
        ``@sandbox.photo`` property holds base64 photo bytes.
        """
        with self.lock:
            for folder in seed.get("contactFolders", []):
                fid = folder.get("id") or gm.new_id()
                self.folders[fid] = {"id": fid, "displayName": folder["displayName"],
                                     "parentFolderId": DEFAULT_FOLDER_ID}
            for contact in seed.get("contacts", []):
                photo = contact.get("@sandbox.photo")
                record = self._create(contact.get("parentFolderId") or DEFAULT_FOLDER_ID,
                                      {k: v for k, v in contact.items() if k != "@sandbox.photo"},
                                      contact.get("id"))
                if photo:
                    record["photo"] = base64.b64decode(photo)

    def add_folder(self, name: str) -> str:
        with self.lock:
            return self._create_folder(name)["id"]

    def folder_id(self, folder: str | None) -> str:
        """A folder id from an id, a display name, or None / "contacts" for the default folder."""
        with self.lock:
            if folder in (None, "contacts", DEFAULT_FOLDER_ID):
                return DEFAULT_FOLDER_ID
            if folder in self.folders:
                return folder
            for fid, info in self.folders.items():
                if info["displayName"] == folder:
                    return fid
            raise KeyError(f"no contact folder {folder!r}")

    def add_contact(self, folder: str | None, contact: dict[str, Any]) -> str:
        """Create a contact as the user would in Outlook; returns its id."""
        with self.lock:
            return self._create(self.folder_id(folder), contact)["id"]

    def edit_contact(self, id: str, changes: dict[str, Any]) -> str:
        """Change properties (Graph format); returns the new changeKey."""
        with self.lock:
            record = self._record(id)
            gm.apply(record, gm.check_body(changes), self.clock.time())
            self._touch(record)
            return record["changeKey"]

    def delete_contact(self, id: str) -> None:
        with self.lock:
            self._delete(self._record(id))

    def move_contact(self, id: str, folder: str | None) -> str:
        """Move to another folder; like Outlook, the contact gets a new id, which is returned."""
        with self.lock:
            record = self._record(id)
            self._delete(record)
            moved = dict(record, id=gm.new_id(), folder_id=self.folder_id(folder))
            self.contacts[moved["id"]] = moved
            self._touch(moved)
            return moved["id"]

    def set_photo(self, id: str, data: bytes | None) -> None:
        """Change a contact's photo as the user would. This changes the item (a new
        changeKey) but is not a delta entry: photo-only changes are not tracked by
        contact delta (reported by the audit behind contactsync's issue 12)."""
        with self.lock:
            record = self._record(id)
            record["photo"] = data
            gm.apply(record, {}, self.clock.time())

    def contact(self, id: str) -> dict[str, Any]:
        with self.lock:
            return gm.render(self._record(id), None)

    def set_rate_limit(self, limit: int | None, period: float = 1.0, retry_after: int = 1) -> None:
        """Answer 429 past `limit` requests per `period` seconds (counted from now)."""
        with self.lock:
            self.rate_limit, self.rate_period, self.retry_after = limit, period, retry_after
            self._recent.clear()

    def expire_delta_tokens(self, code: str = "SyncStateNotFound") -> None:
        with self.lock:
            for state in self.delta_tokens.values():
                state["expired"] = code

    def control(self, data: dict[str, Any]) -> dict[str, Any]:
        result = super().control(data)
        with self.lock:
            for key in ("max_concurrency", "retry_after", "work_time"):
                if key in data:
                    setattr(self, key, data[key])
            if "rate_limit" in data:
                self.set_rate_limit(data["rate_limit"], float(data.get("rate_period", 1.0)),
                                    int(data.get("retry_after", self.retry_after)))
            if "expire_delta_tokens" in data:
                value = data["expire_delta_tokens"]
                self.expire_delta_tokens(value if isinstance(value, str) else "SyncStateNotFound")
            if "revoke_grants" in data:
                value = data["revoke_grants"]
                result["revoked"] = self.identity.revoke(value if isinstance(value, str) else None)
            if "device_approval" in data:
                self.identity.device_approval = data["device_approval"]
            if "sign_in_as" in data:
                self.identity.sign_in_as = data["sign_in_as"] or None
            if data.get("approve_device_codes"):
                result["approved"] = self.identity.approve_device_code()
            self.identity.control(data, result)
            if "quirks" in data:
                self.quirks.update(dict(data["quirks"]))
            if data.get("reset_concurrency"):
                self.max_in_flight = 0
        return result

    # -- plumbing ----------------------------------------------------------------

    def _api(self, handler: Callable[[Request], Any]) -> Handler:
        def wrapped(req: Request) -> Response:
            with self.lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                busy = self.in_flight > self.max_concurrency
                now = time.monotonic()
                while self._recent and self._recent[0] < now - self.rate_period:
                    self._recent.popleft()
                over_rate = self.rate_limit is not None and len(self._recent) >= self.rate_limit
                self._recent.append(now)
            try:
                retry = {"Retry-After": str(self.retry_after)}
                if busy:
                    raise GraphFailure(429, "ApplicationThrottled",
                                       "Application is over its MailboxConcurrency limit.", retry)
                if over_rate:
                    raise GraphFailure(429, "TooManyRequests", "Too many requests. Please retry after the time "
                                       "specified in the Retry-After header.", retry)
                if self.work_time:
                    time.sleep(self.work_time)
                self._authenticate(req)
                with self.lock:
                    result = handler(req)
                return result if isinstance(result, Response) else Response(200, result)
            except GraphFailure as failure:
                return failure.response()
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return GraphFailure(400, "BadRequest", f"Invalid request: {exc}").response()
            finally:
                with self.lock:
                    self.in_flight -= 1

        return wrapped

    def _authenticate(self, req: Request) -> None:
        header = req.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        www = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                                   'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
        if not token or scheme.lower() != "bearer":
            raise GraphFailure(401, "InvalidAuthenticationToken", "Access token is empty.", www)
        if self.identity.email_for(token) is None:
            raise GraphFailure(401, "InvalidAuthenticationToken",
                               "Lifetime validation failed, the token is expired.", www)
        if not self.identity.scopes_for(token) & required_scopes(req.method, req.path):
            # Graph's answers to a token without the permission: directory (/me) vs Outlook resources.
            if req.path.rstrip("/") == ME:
                raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the "
                                   "operation.")
            raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _touch(self, record: dict[str, Any]) -> None:
        self.seq += 1
        record["seq"] = self.seq

    def _record(self, id: str, folder: str | None = None) -> dict[str, Any]:
        record = self.contacts.get(unquote(id))
        if record is None or (folder is not None and record["folder_id"] != self._folder(folder)):
            raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return record

    def _folder(self, folder: str | None) -> str:
        if folder is None:
            return DEFAULT_FOLDER_ID
        folder = unquote(folder)
        if folder == DEFAULT_FOLDER_ID or folder in self.folders:
            return folder
        raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _create(self, folder_id: str, body: dict[str, Any], id: str | None = None) -> dict[str, Any]:
        changes = gm.check_body(body)
        stamp = gm.now_iso(self.clock.time())
        record: dict[str, Any] = {"id": id if id and id not in self.contacts else gm.new_id(), "folder_id": folder_id,
                  "data": gm.empty_contact(), "createdDateTime": stamp, "photo": None}
        gm.apply(record, changes, self.clock.time())
        self.contacts[record["id"]] = record
        self._touch(record)
        return record

    def _create_folder(self, name: str) -> dict[str, Any]:
        if any(f["displayName"] == name for f in self.folders.values()):
            raise GraphFailure(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        folder = {"id": gm.new_id(), "displayName": name, "parentFolderId": DEFAULT_FOLDER_ID}
        self.folders[folder["id"]] = folder
        return folder

    def _delete(self, record: dict[str, Any]) -> None:
        del self.contacts[record["id"]]
        self.seq += 1
        self.tombstones.append((self.seq, record["folder_id"], record["id"]))

    def _check_if_match(self, req: Request, record: dict[str, Any]) -> None:
        expected = req.header("If-Match")
        if expected and expected != "*" and expected.strip() != f'W/"{record["changeKey"]}"':
            raise GraphFailure(412, "ErrorIrresolvableConflict", "The send or update operation could not be "
                               "performed because the change key passed in the request does not match the "
                               "current change key for the item.")

    def _context(self, req: Request, suffix: str) -> str:
        return f"{self.base_url}/v1.0/$metadata#users('{self.email}')/{suffix}"

    # -- me and folders ---------------------------------------------------------------

    def get_me(self, req: Request) -> dict[str, Any]:
        local = self.email.split("@")[0]
        return {"@odata.context": f"{self.base_url}/v1.0/$metadata#users/$entity", "displayName": local.title(),
                "mail": self.email, "userPrincipalName": self.email, "id": "00000000-0000-0000-0001-000000000001"}

    def _render_folder(self, folder: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        fields = select or ["id", "displayName", "parentFolderId"]
        return {k: folder[k] for k in ("id", *fields) if k in folder}

    def list_folders(self, req: Request) -> dict[str, Any]:
        top, skip = self._top_skip(req)
        select = [s for s in (req.arg("$select") or "").split(",") if s] or None
        folders = sorted(self.folders.values(), key=lambda f: f["displayName"].lower())
        out: dict[str, Any] = {"@odata.context": self._context(req, "contactFolders"),
                               "value": [self._render_folder(f, select) for f in folders[skip:skip + top]]}
        if skip + top < len(folders):
            out["@odata.nextLink"] = self._link(req, {"$skip": str(skip + top)})
        return out

    def create_folder(self, req: Request) -> Response:
        body = req.json() or {}
        if not body.get("displayName"):
            raise GraphFailure(400, "ErrorInvalidParameter", "The value of the parameter 'DisplayName' is empty.")
        return Response(201, self._render_folder(self._create_folder(body["displayName"]), None))

    def get_folder(self, req: Request) -> dict[str, Any]:
        folder = self.folders.get(unquote(req.params["folder"]))
        if folder is None:
            raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return self._render_folder(folder, None)

    # -- contacts ------------------------------------------------------------------------

    @staticmethod
    def _top_skip(req: Request) -> tuple[int, int]:
        top, skip = int(req.arg("$top") or 10), int(req.arg("$skip") or 0)
        if not 1 <= top <= 1000 or skip < 0:
            raise GraphFailure(400, "ErrorInvalidUrlQuery", "The value of $top or $skip is out of range.")
        return top, skip

    def _link(self, req: Request, params: dict[str, str]) -> str:
        query = {k: v[0] for k, v in req.query.items() if k not in ("$skip", "$skiptoken", "$deltatoken")}
        query.update(params)
        return f"{self.base_url}{req.path}?{urlencode(query, safe='$,')}"

    def list_contacts(self, req: Request) -> dict[str, Any]:
        folder = self._folder(req.params.get("folder"))
        select = gm.parse_select(req.arg("$select"))
        top, skip = self._top_skip(req)
        items = sorted((r for r in self.contacts.values() if r["folder_id"] == folder),
                       key=lambda r: r["createdDateTime"] + r["id"])
        out: dict[str, Any] = {"@odata.context": self._context(req, "contacts"),
                               "value": [gm.render(r, select) for r in items[skip:skip + top]]}
        if req.arg("$count") == "true":
            # "$count: Retrieves the total count of matching resources" (learn.microsoft.com/graph/
            # query-parameters); Outlook resources need no ConsistencyLevel header (directory objects do).
            out["@odata.count"] = -1 if self.quirks.count_unknown else len(items)
        if skip + top < len(items):
            out["@odata.nextLink"] = self._link(req, {"$skip": str(skip + top)})
        return out

    def create_contact(self, req: Request) -> Response:
        folder = self._folder(req.params.get("folder"))
        record = self._create(folder, req.json())
        return Response(201, gm.render(record, None, self._context(req, "contacts/$entity")))

    def get_contact(self, req: Request) -> dict[str, Any]:
        record = self._record(req.params["id"], req.params.get("folder"))
        return gm.render(record, gm.parse_select(req.arg("$select")), self._context(req, "contacts/$entity"))

    def update_contact(self, req: Request) -> dict[str, Any]:
        record = self._record(req.params["id"], req.params.get("folder"))
        self._check_if_match(req, record)
        gm.apply(record, gm.check_body(req.json()), self.clock.time())
        self._touch(record)
        return gm.render(record, None, self._context(req, "contacts/$entity"))

    def delete_contact_api(self, req: Request) -> Response:
        record = self._record(req.params["id"], req.params.get("folder"))
        self._check_if_match(req, record)
        self._delete(record)
        return Response(204)

    def get_photo(self, req: Request) -> Response:
        record = self._record(req.params["id"], req.params.get("folder"))
        if not record.get("photo"):
            raise GraphFailure(404, "ImageNotFound", "The photo wasn't found.")
        return Response(200, raw=record["photo"], content_type="image/jpeg")

    def put_photo(self, req: Request) -> Response:
        record = self._record(req.params["id"], req.params.get("folder"))
        if not req.body:
            raise GraphFailure(400, "ErrorInvalidRequest", "The request body is empty.")
        record["photo"] = req.body
        gm.apply(record, {}, self.clock.time())  # not a delta entry: see set_photo
        return Response(200)

    # -- delta ---------------------------------------------------------------------------

    def delta(self, req: Request) -> dict[str, Any]:
        folder = self._folder(req.params.get("folder"))
        size = self._page_size(req)
        if req.arg("$skiptoken"):
            state = self.skip_tokens.pop(req.arg("$skiptoken") or "", None)
            if state is None or state["folder"] != folder:
                raise GraphFailure(400, "syncStateInvalid", EXPIRED["syncStateInvalid"][1])
        elif req.arg("$deltatoken"):
            token = self.delta_tokens.get(req.arg("$deltatoken") or "")
            if token is None and self.quirks.malformed_token_plain_400:
                raise GraphFailure(400, "ErrorInvalidUrlQuery", "The parameter '$deltatoken' is invalid.")
            if token is None or token["folder"] != folder:
                raise GraphFailure(400, "syncStateInvalid", EXPIRED["syncStateInvalid"][1])
            if token["expired"]:
                status, message = EXPIRED[token["expired"]]
                headers = {"Location": self._link(req, {})} if token["expired"] == "resyncRequired" else {}
                raise GraphFailure(status, token["expired"], message, headers)
            state = self._round(folder, token["select"], token["seq"])
        else:
            state = self._round(folder, gm.parse_select(req.arg("$select")), None)
        page, rest = state["items"][:size], state["items"][size:]
        value = []
        for kind, id in page:
            record = self.contacts.get(id)
            if kind == "removed" or record is None or record["folder_id"] != folder:
                value.append({"@odata.type": "#microsoft.graph.contact", "id": id, "@removed": {"reason": "deleted"}})
            elif state.get("since") is not None and self.quirks.partial_delta_items:
                value.append({"@odata.type": "#microsoft.graph.contact", **gm.render_partial(record, state["select"])})
            else:
                value.append({"@odata.type": "#microsoft.graph.contact", **gm.render(record, state["select"])})
        out: dict[str, Any] = {"@odata.context": self._context(req, "contacts(delta)"), "value": value}
        base = f"{self.base_url}{req.path}"
        if rest:
            skip = secrets.token_urlsafe(24)
            self.skip_tokens[skip] = dict(state, items=rest)
            out["@odata.nextLink"] = f"{base}?$skiptoken={skip}"
        else:
            delta = secrets.token_urlsafe(24)
            self.delta_tokens[delta] = {"folder": folder, "seq": state["seq"], "select": state["select"],
                                        "expired": None}
            out["@odata.deltaLink"] = f"{base}?$deltatoken={delta}"
        return out

    def _round(self, folder: str, select: list[str] | None, since: int | None) -> dict[str, Any]:
        """The entries of one delta round: every contact, or what changed after `since`."""
        items: list[tuple[str, str]] = []
        live = sorted((r for r in self.contacts.values() if r["folder_id"] == folder), key=lambda r: r["seq"])
        if since is not None:
            items += [("removed", id) for seq, fid, id in self.tombstones if fid == folder and seq > since]
        items += [("changed", r["id"]) for r in live if since is None or r["seq"] > since]
        if since is not None and self.quirks.repeat_delta_items:
            items += [item for item in items if item[0] == "changed"]  # GraphQuirks.repeat_delta_items
        return {"folder": folder, "select": select, "seq": self.seq, "items": items, "since": since}

    @staticmethod
    def _page_size(req: Request) -> int:
        for part in (req.header("Prefer") or "").split(","):
            name, _, value = part.strip().partition("=")
            if name == "odata.maxpagesize" and value.isdigit():
                return max(1, min(int(value), 1000))
        return 10


def load_seed(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


SEED_FILE = Path(__file__).with_name("seed") / "microsoft.json"
