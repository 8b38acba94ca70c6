"""A loopback emulator of the Google People API (contacts and contact groups) and its OAuth.

Paths, parameters and payloads are those of the discovery document shipped with
google-api-python-client (``discovery_cache/documents/people.v1.json``); the
rejections a client can run into are reproduced with Google's error shape.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from contactsync.sandbox import google_batch as gb
from contactsync.sandbox import google_people as gp
from contactsync.sandbox.google_groups import SYSTEM_GROUPS, ContactGroupsApi
from contactsync.sandbox.google_oauth import CONTACTS_SCOPE, READONLY_SCOPE, GoogleOAuth, Grant
from contactsync.sandbox.google_people import MY_CONTACTS, ApiFailure
from contactsync.sandbox.google_photos import GooglePhotos, expand_text, seed_photo
from contactsync.sandbox.google_realism import GoogleQuirks
from contactsync.sandbox.server import Emulator, Request, Response

DOC_CONNECTIONS = "https://developers.google.com/people/api/rest/v1/people.connections/list"
DOC_GET = "https://developers.google.com/people/api/rest/v1/people/get"
DOC_UPDATE = "https://developers.google.com/people/api/rest/v1/people/updateContact"
# Query parameters every Google API accepts; they never take part in the
# "all other parameters must match" rule of paging and syncing.
SYSTEM_PARAMS = {"alt", "fields", "key", "prettyPrint", "quotaUser", "access_token", "$.xgafv", "callback"}
EXPIRED_MESSAGE = "Sync token is expired. Clear local cache and retry call without the sync token."

Handler = Callable[[Request, Grant], Any]


class GoogleEmulator(ContactGroupsApi, Emulator):
    name = "google"

    def __init__(self, seed: dict[str, Any] | None = None, default_email: str = "ann@example.com") -> None:
        super().__init__()
        self.oauth = GoogleOAuth(self, default_email)
        self.groups: dict[str, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.tombstones: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.sync_tokens: dict[str, dict[str, Any]] = {}
        self.page_tokens: dict[str, dict[str, Any]] = {}
        self.photos = GooglePhotos(self)
        self.quirks = GoogleQuirks()
        for group_id, name in SYSTEM_GROUPS.items():
            self._add_group(f"contactGroups/{group_id}", name, "SYSTEM_CONTACT_GROUP")
        api = self._api
        self.route("GET", r"/v1/contactGroups", api(self.list_groups))
        self.route("POST", r"/v1/contactGroups", api(self.create_group, write=True))
        self.route("GET", r"/v1/contactGroups/(?P<id>[^/:]+)", api(self.get_group))
        self.route("GET", r"/v1/people/(?P<id>[^/:]+)/connections", api(self.list_connections))
        self.route("GET", r"/v1/people:batchGet", api(partial(gb.batch_get, self)))
        self.route("GET", r"/v1/people/(?P<id>[^/:]+)", api(self.get_person))
        self.route("POST", r"/v1/people:createContact", api(self.create_contact, write=True))
        self.route("PATCH", r"/v1/people/(?P<id>[^/:]+):updateContact", api(self.update_contact, write=True))
        self.route("DELETE", r"/v1/people/(?P<id>[^/:]+):deleteContact", api(self.delete_contact, write=True))
        self.route("POST", r"/v1/people:batchCreateContacts", api(partial(gb.batch_create, self), write=True))
        self.route("POST", r"/v1/people:batchUpdateContacts", api(partial(gb.batch_update, self), write=True))
        self.route("POST", r"/v1/people:batchDeleteContacts", api(partial(gb.batch_delete, self), write=True))
        if seed:
            self.load(seed)

    # -- seeding and simulated user edits ------------------------------------

    def load(self, seed: dict[str, Any]) -> None:
        with self.lock:
            for group in seed.get("contactGroups", []):
                rn = group.get("resourceName") or f"contactGroups/{secrets.token_hex(6)}"
                if rn not in self.groups:
                    self._add_group(rn, group["name"], "USER_CONTACT_GROUP")
            for person in seed.get("people", []):
                self._create(person, api=False)

    def load_seed(self, path: str | Path) -> None:
        self.load(json.loads(Path(path).read_text(encoding="utf-8")))

    def add_group(self, name: str) -> str:
        with self.lock:
            rn = f"contactGroups/{secrets.token_hex(6)}"
            self._add_group(rn, name, "USER_CONTACT_GROUP")
            return rn

    def add_person(self, person: dict[str, Any]) -> str:
        """Create a contact as the user would in Google Contacts; returns its resourceName."""
        with self.lock:
            return self._create(person, api=False)["resourceName"]

    def edit_person(self, resource_name: str, changes: dict[str, Any]) -> str:
        """Replace fields (API format; an empty list or None clears one); returns the new etag.

        ``photos`` takes the seed's ``sandbox:<name>-<W>x<H>.png`` form (or [] to
        remove the photo), as the user would change it in Google Contacts.
        """
        with self.lock:
            record = self._record(resource_name)
            changes = expand_text(changes)
            if "memberships" in changes:
                groups = gp.requested_groups({"memberships": changes["memberships"] or []}) or []
                self._check_groups(groups, api=False)
                record["groups"] = groups
            if "photos" in changes:
                self.photos.images.pop(record.get("photo") or "", None)
                record["photo"] = self.photos.store(seed_photo(changes))
            fields = {k for k in changes if k not in ("memberships", "photos")}
            gp.check_singletons(changes, fields)
            data = gp.clean_input({k: v or [] for k, v in changes.items()}, fields, record["sourceId"], keep_display=True)
            for key in fields:
                record["data"].pop(key, None)
                if key in data:
                    record["data"][key] = data[key]
            self._touch(record)
            return record["etag"]

    def set_photo(self, resource_name: str, image: bytes | None) -> str:
        """Give a contact its own photo (None removes it); returns the new etag."""
        with self.lock:
            record = self._record(resource_name)
            self.photos.images.pop(record.get("photo") or "", None)
            record["photo"] = self.photos.store(image)
            self._touch(record)
            return record["etag"]

    def delete_person(self, resource_name: str) -> None:
        with self.lock:
            self._delete(resource_name)

    def rename_person(self, resource_name: str) -> str:
        """Give a contact a new resource name, as Google does when a contact gets linked to
        a profile ("The resource name may change when adding or removing fields that link
        a contact and profile such as a verified email", PersonMetadata.previousResourceNames).
        The old name is gone (404); sync-token listings name it in `previousResourceNames`."""
        with self.lock:
            record = self.people.pop(self._record(resource_name)["resourceName"])
            new = f"people/c{secrets.randbits(62)}"
            record["resourceName"] = new
            record.setdefault("previous", []).append(resource_name)
            self.people[new] = record
            self._touch(record)
            return new

    def person(self, resource_name: str) -> dict[str, Any]:
        """The stored person as the API would render it with every field."""
        with self.lock:
            return self.render(self._record(resource_name), None)

    # -- controls -------------------------------------------------------------

    def expire_sync_tokens(self) -> None:
        with self.lock:
            for token in self.sync_tokens.values():
                token["expired"] = True

    def issue_grant(self, email: str | None = None, scope: str | None = None) -> str:
        return self.oauth.issue_grant(email or self.oauth.default_email, scope)

    def revoke_grants(self, email: str | None = None) -> int:
        return self.oauth.revoke(email)

    def client_config(self) -> dict[str, Any]:
        return self.oauth.client_config()

    def control(self, data: dict[str, Any]) -> dict[str, Any]:
        result = super().control(data)
        if data.get("expire_sync_tokens"):
            self.expire_sync_tokens()
        if "revoke_grants" in data:
            value = data["revoke_grants"]
            result["revoked"] = self.revoke_grants(value if isinstance(value, str) else None)
        if data.get("expire_access_tokens"):
            self.oauth.expire_access_tokens()
        self.oauth.control(data)
        if "sign_in_as" in data:
            self.oauth.sign_in_as = data["sign_in_as"] or None
        if "default_email" in data:
            self.oauth.default_email = data["default_email"]
        if "quirks" in data:
            with self.lock:
                self.quirks.update(dict(data["quirks"]))
        if "rename_person" in data:
            result["resourceName"] = self.rename_person(str(data["rename_person"]))
        return result

    # -- plumbing ---------------------------------------------------------------

    def _api(self, handler: Handler, write: bool = False) -> Callable[[Request], Response]:
        def wrapped(req: Request) -> Response:
            try:
                with self.lock:
                    grant = self.oauth.grant_for(req)
                    if grant is None:
                        raise ApiFailure(
                            401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                 "login cookie or other valid authentication credential. See "
                                 "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                            reason="ACCESS_TOKEN_TYPE_UNSUPPORTED" if not req.header("Authorization") else "ACCESS_TOKEN_EXPIRED",
                            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
                        )
                    scopes = set(grant.scope.split())
                    if CONTACTS_SCOPE not in scopes and (write or READONLY_SCOPE not in scopes):
                        raise ApiFailure(403, "Request had insufficient authentication scopes.",
                                         reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT")
                    return Response(200, handler(req, grant))
            except ApiFailure as failure:
                return failure.response()
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return ApiFailure(400, f"Invalid JSON payload received. {exc}").response()

        return wrapped

    def render(self, record: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
        """gp.render plus `photos`, whose URLs point at this server's image host."""
        person = gp.render(record, fields)
        if fields is None or "photos" in fields:
            person["photos"] = self.photos.render(record)
        return person

    def _record(self, rn: str) -> dict[str, Any]:
        record = self.people.get(rn)
        if record is None:
            raise ApiFailure(404, "Requested entity was not found.")
        return record

    def _touch(self, record: dict[str, Any]) -> None:
        self.seq += 1
        record["seq"] = self.seq
        record["etag"] = gp.new_etag("%")
        record["sourceEtag"] = gp.new_etag("#")
        record["updateTime"] = gp.now_rfc3339()
        if self.quirks.propagation_listings:
            record["hidden"] = self.quirks.propagation_listings

    def _check_groups(self, groups: list[str], api: bool, current: list[str] | tuple[str, ...] = ()) -> None:
        for group in groups:
            info = self.groups.get(group)
            if info is None:
                raise ApiFailure(400, f"Contact group resource name is invalid: {group}")
            addable = info["groupType"] == "USER_CONTACT_GROUP" or group in gp.ADDABLE_SYSTEM_GROUPS
            if api and not addable and group not in current:
                # ContactGroupMembership doc: only user groups, myContacts or starred can be added.
                raise ApiFailure(400, f"Cannot add contact to system contact group: {group}")

    def _create(self, body: dict[str, Any], api: bool) -> dict[str, Any]:
        # Seeds and simulated user edits may use the shorthand of google_photos;
        # an API client's `photos` are read-only and dropped like Google does.
        image = None if api else seed_photo(body)
        body = body if api else expand_text(body)
        gp.check_singletons(body)
        groups = gp.requested_groups(body)
        groups = [MY_CONTACTS] if not groups else groups
        self._check_groups(groups, api)
        if MY_CONTACTS not in groups:
            groups.insert(0, MY_CONTACTS)
        source_id = secrets.token_hex(8)
        rn = body.get("resourceName") if not api and body.get("resourceName") else None
        while rn is None or rn in self.people or rn in self.tombstones:
            rn = f"people/c{secrets.randbits(62)}"
        record = {"resourceName": rn, "sourceId": source_id, "groups": groups,
                  "data": gp.clean_input(body, None, source_id, keep_display=not api),
                  "photo": self.photos.store(image)}
        self._touch(record)
        self.people[rn] = record
        return record

    def _delete(self, rn: str) -> None:
        record = self._record(rn)
        del self.people[rn]
        self._touch(record)
        self.tombstones[rn] = record

    def _etag_check(self, record: dict[str, Any], body: dict[str, Any]) -> None:
        sources = (body.get("metadata") or {}).get("sources") or []
        source_etag = next((s.get("etag") for s in sources if s.get("type", "CONTACT") == "CONTACT" and s.get("etag")), None)
        etag = body.get("etag")
        if not etag and not source_etag:
            # Observed message for an update without an etag.
            raise ApiFailure(400, "Request must set person.etag or person.metadata.sources.etag "
                                  "for the source that is being updated.")
        if (etag and etag != record["etag"]) or (source_etag and source_etag != record["sourceEtag"]):
            # people.updateContact doc: 400 with reason "failedPrecondition".
            raise ApiFailure(400, "Request person.etag is different than the current person.etag. "
                                  "Clear local cache and get the latest person.", status="FAILED_PRECONDITION")
        if self.quirks.spurious_etag_failures > 0:
            self.quirks.spurious_etag_failures -= 1  # GoogleQuirks: refused although current
            raise ApiFailure(400, "Request person.etag is different than the current person.etag. "
                                  "Clear local cache and get the latest person.", status="FAILED_PRECONDITION")

    def _update(self, rn: str, body: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        record = self._record(rn)
        self._etag_check(record, body)
        gp.check_singletons(body, fields)
        if "memberships" in fields:
            groups = gp.requested_groups(body) or []
            if not groups:
                raise ApiFailure(400, "Cannot update memberships without any contact group memberships.")
            self._check_groups(groups, api=True, current=record["groups"])
        return {"groups": groups if "memberships" in fields else None,
                "data": gp.clean_input(body, fields - {"memberships"}, record["sourceId"])}

    def _apply_update(self, rn: str, change: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        record = self.people[rn]
        if change["groups"] is not None:
            record["groups"] = change["groups"]
        for key in fields - {"memberships"}:
            record["data"].pop(key, None)
            if key in change["data"]:
                record["data"][key] = change["data"][key]
        self._touch(record)
        return record

    @staticmethod
    def _read_mask(value: str | None) -> set[str] | None:
        return gp.parse_mask(value, gp.PERSON_FIELDS, "personFields", DOC_GET) if value else None

    # -- people ------------------------------------------------------------------------

    def get_person(self, req: Request, grant: Grant) -> dict[str, Any]:
        fields = gp.parse_mask(req.arg("personFields"), gp.PERSON_FIELDS, "personFields", DOC_GET)
        if req.params["id"] == "me":
            return self._profile(grant, fields)
        return self.render(self._record(f"people/{req.params['id']}"), fields)

    def _profile(self, grant: Grant, fields: set[str]) -> dict[str, Any]:
        user_id = str(int.from_bytes(grant.email.lower().encode()[:8].ljust(8, b"_"), "big"))
        local = grant.email.split("@")[0]
        meta = {"primary": True, "verified": True, "source": {"type": "ACCOUNT", "id": user_id}}
        person: dict[str, Any] = {"resourceName": f"people/{user_id}", "etag": "%EgUBAi43PRoEAQIFByIM"}
        if "names" in fields:
            person["names"] = [{"metadata": meta, "displayName": local, "givenName": local, "unstructuredName": local}]
        if "emailAddresses" in fields:
            person["emailAddresses"] = [{"metadata": meta, "value": grant.email}]
        if "metadata" in fields:
            person["metadata"] = {"sources": [{"type": "PROFILE", "id": user_id}], "objectType": "PERSON"}
        return person

    def list_connections(self, req: Request, grant: Grant) -> dict[str, Any]:
        if req.params["id"] != "me":
            raise ApiFailure(400, "Only people/me is valid for people.connections.list.")
        fields = gp.parse_mask(req.arg("personFields"), gp.PERSON_FIELDS, "personFields", DOC_CONNECTIONS)
        size = int(req.arg("pageSize") or 100) or 100
        if not 1 <= size <= 1000:
            raise ApiFailure(400, "pageSize must be between 1 and 1000.")
        sort = req.arg("sortOrder") or "LAST_MODIFIED_ASCENDING"
        want_sync = req.arg("requestSyncToken") == "true"
        if want_sync and sort != "LAST_MODIFIED_ASCENDING":
            raise ApiFailure(400, "requestSyncToken is only supported with sortOrder LAST_MODIFIED_ASCENDING.")
        # "When the page_token or sync_token is specified, all other request
        # parameters must match the first call" (people.connections.list doc).
        # pageSize is left out: clients legitimately vary it between pages.
        sig = sorted((k, tuple(v)) for k, v in req.query.items()
                     if k not in SYSTEM_PARAMS | {"pageToken", "syncToken", "pageSize"})
        sync_token = req.arg("syncToken")
        page_token = req.arg("pageToken")
        if page_token:
            state = self.page_tokens.get(page_token)
            if state is None:
                raise ApiFailure(400, "Page token is invalid.")
            if state["sig"] != sig or state["syncToken"] != sync_token:
                raise ApiFailure(400, "Parameters provided with a page token must match the first call "
                                      "that provided the page token.")
        else:
            state = self._start_listing(sig, sync_token, sort)
            for record in [*self.people.values(), *self.tombstones.values()]:
                if record.get("hidden"):
                    record["hidden"] -= 1  # one more listing towards propagation (GoogleQuirks)
        names = state["names"]
        start = state["offset"]
        page = []
        for rn in names[start:start + size]:
            if rn in self.people:
                person = self.render(self.people[rn], fields)
                previous = self.people[rn].get("previous")
                if sync_token and previous and "metadata" in person:
                    # "Populated only for people.connections.list requests that include a sync token."
                    person["metadata"]["previousResourceNames"] = list(previous)
                page.append(person)
            elif sync_token and rn in self.tombstones:
                page.append(gp.tombstone(self.tombstones[rn]))
        out: dict[str, Any] = {"connections": page, "totalPeople": len(names), "totalItems": len(names)}
        if not page:
            del out["connections"]  # proto3: an empty repeated field is omitted
        if start + size < len(names):
            token = secrets.token_urlsafe(18)
            self.page_tokens[token] = {**state, "offset": start + size}
            out["nextPageToken"] = token
        elif want_sync:
            token = "EAE" + secrets.token_urlsafe(24)
            self.sync_tokens[token] = {"seq": state["hw"], "sig": sig, "expired": False}
            out["nextSyncToken"] = token
        return out

    def _start_listing(self, sig: list[Any], sync_token: str | None, sort: str) -> dict[str, Any]:
        if sync_token:
            known = self.sync_tokens.get(sync_token)
            if known is None or known["expired"]:
                # Observed body: 400 FAILED_PRECONDITION with an ErrorInfo whose
                # reason is EXPIRED_SYNC_TOKEN (people.connections.list doc; captured
                # bodies in public client test suites).
                raise ApiFailure(400, EXPIRED_MESSAGE, status="FAILED_PRECONDITION", reason="EXPIRED_SYNC_TOKEN")
            if known["sig"] != sig:
                raise ApiFailure(400, "Parameters provided with a sync token must match the first call "
                                      "that provided the sync token.")
            records = [r for r in [*self.people.values(), *self.tombstones.values()]
                       if r["seq"] > known["seq"] and not r.get("hidden")]
        else:
            records = list(self.people.values())
        # A write not yet propagated keeps every sync token handed out now before it.
        unpropagated = [r["seq"] for r in [*self.people.values(), *self.tombstones.values()] if r.get("hidden")]
        high_water = min([self.seq, *(seq - 1 for seq in unpropagated)])

        def name_key(part: str) -> Callable[[dict[str, Any]], Any]:
            return lambda r: ((r["data"].get("names") or [{}])[0].get(part, "").lower(), r["seq"])

        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "LAST_MODIFIED_ASCENDING": lambda r: r["seq"],
            "LAST_MODIFIED_DESCENDING": lambda r: -r["seq"],
            "FIRST_NAME_ASCENDING": name_key("givenName"),
            "LAST_NAME_ASCENDING": name_key("familyName"),
        }
        if sort not in keys:
            raise ApiFailure(400, f'Invalid value at \'sort_order\', "{sort}"')
        records.sort(key=keys[sort])
        return {"sig": sig, "syncToken": sync_token, "names": [r["resourceName"] for r in records],
                "offset": 0, "hw": high_water}

    def create_contact(self, req: Request, grant: Grant) -> dict[str, Any]:
        fields = self._read_mask(req.arg("personFields"))
        return self.render(self._create(req.json() or {}, api=True), fields)

    def update_contact(self, req: Request, grant: Grant) -> dict[str, Any]:
        rn = f"people/{req.params['id']}"
        fields = gp.parse_mask(req.arg("updatePersonFields"), gp.UPDATE_FIELDS, "updatePersonFields", DOC_UPDATE)
        read = self._read_mask(req.arg("personFields"))
        change = self._update(rn, req.json() or {}, fields)
        return self.render(self._apply_update(rn, change, fields), read)

    def delete_contact(self, req: Request, grant: Grant) -> dict[str, Any]:
        self._delete(f"people/{req.params['id']}")
        return {}


def load_seed(path: str | Path) -> dict[str, Any]:
    """Read a seed file: ``{"contactGroups": [ContactGroup...], "people": [Person...]}``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


SEED_FILE = Path(__file__).with_name("seed") / "google.json"
