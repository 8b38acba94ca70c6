"""The Pipedrive adapter: persons and organizations on API v2; fields, users and pictures on v1.

Every request goes through :func:`contactsync.http.make_session` with the token in
the ``x-api-token`` header only, so it never appears in URLs, logs or errors.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests

from contactsync.crm import pipedrive_fields as fields
from contactsync.crm.cache import CrmCache, org_key  # noqa: F401 - org_key is part of this module's interface
from contactsync.crm.base import STAMP_FIELD, Crm, CrmPerson, CrmUser, Crop, PersonChange, PersonWrite
from contactsync.crm.pipedrive_recents import recent_persons
from contactsync.crm.pipedrive_fields import TEXT_LIMITS
from contactsync.crm.pipedrive_answers import (
    budget_spent, check_response, header_float, header_int,
)
from contactsync.crm.pipedrive_fieldkeys import PipedriveFieldKeys
from contactsync.crm.pipedrive_orgs import PipedriveOrgs, in_background
from contactsync.errors import (
    ApiError, BudgetExhausted, NotFound, ServiceBlocked, TemporaryError,
)
from contactsync.clock import SYSTEM_CLOCK, Clock
from contactsync.ratelimit import SlidingWindow
from contactsync.http import make_session, retry_after_seconds
from contactsync.model import LABELS, Contact, Email, Phone, clean_contact, with_issues, with_name
from contactsync.providers.json_reader import FieldReader

# GET /v1/users/{id}/permissions keys we rely on -> the names Pipedrive's UI uses.
# The published v1 document lists no key for adding persons or organizations; those
# two are read when present, otherwise a 403 on the first create is the last word.
PERMISSION_NAMES = {
    "can_use_api": "Use API",
    "can_add_persons": "Add people",
    "can_add_organizations": "Add organizations",
}

# Pipedrive e-mails are labelled work/home/other; phones also have mobile.
EMAIL_LABELS = ("work", "home", "other")
PICTURE_TYPES = {"image/gif": "gif", "image/jpeg": "jpg", "image/png": "png"}
DEFAULT_RECONNECT_HINT = "run `contactsync crm connect` again with a valid API token"
MAX_RATE_RETRIES = 4
SEARCH_BURST = 10  # search requests per 2-second window, every plan
MAX_RATE_WAIT = 60.0
# Calls in flight: this many times what the average rate needs (concurrency()).
BURST_SHARE = 4
# The calls that set a pass up (the connected user, its permissions, the custom fields)
# are retried after a temporary error like a contact's write (engine/apply.py): a 5xx,
# a reset or a timeout at the start costs retries, not the pass. The session retries
# only idempotent requests; these retries also cover the POST of a custom field, made
# safe by reading the field list again before any create.
SETUP_ATTEMPTS = 4
SETUP_BACKOFF = 0.25  # seconds before the 2nd attempt, doubled after each

log = logging.getLogger(__name__)
T = TypeVar("T")

# GET /api/v2/persons `ids`: "comma separated string array of up to 100 entity ids".
IDS_BATCH = 100


class PipedriveCrm(PipedriveFieldKeys, Crm):
    """One Pipedrive company, authenticated with one user's API token."""

    text_limits = TEXT_LIMITS

    def __init__(self, base_url: str, api_token: str, *, session: requests.Session | None = None,
                 limiter: SlidingWindow | None = None, field_keys: dict[str, str] | None = None,
                 reconnect_hint: str = DEFAULT_RECONNECT_HINT, clock: Clock = SYSTEM_CLOCK,
                 cache: CrmCache | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = api_token
        self.session = session or make_session()
        self.limiter = limiter
        # The search endpoints have their own burst limit, counted apart from the general
        # one ("All other Pipedrive API endpoints, besides the 7 Search API endpoints, will
        # continue to adhere to general rate limiting rules", developers.pipedrive.com
        # changelog, "Announcing Search API rate limit", 2022): a search takes a slot of
        # this limiter only, and its x-ratelimit-* headers speak of this bucket only.
        self.search_limiter = SlidingWindow(SEARCH_BURST, 2.0, clock=clock, probe=True)
        self.field_keys: dict[str, str] = dict(field_keys or {})
        self.reconnect_hint = reconnect_hint
        self.clock = clock
        # Without a cache from the store, one that lives as long as this adapter, for the
        # organizations only: the user, permissions and field keys are then read on each call.
        self.cache = cache or CrmCache()
        self._trust_cache = cache is not None
        self.orgs = PipedriveOrgs(self._json, self.cache)
        self._fields_lock = threading.Lock()
        self._rtt: float | None = None  # a moving average of the round trip, seconds
        self._fields_read = False  # the field list was read by this adapter (at most once more when stale)
        self._fields_ahead: Future[list[dict[str, Any]]] | None = None
        # The burst limit of the token's plan, as the last answer announced it (x-ratelimit-limit).
        self.burst_limit_seen: int | None = None
        if cache is not None:
            self._resume_rate(cache.get("rate"))
            cache.track("rate", self._rate_state)

    def __repr__(self) -> str:  # never show the token
        return f"PipedriveCrm({self.base_url!r})"

    @property
    def stamp_key(self) -> str | None:
        return self.field_keys.get(STAMP_FIELD)

    # --- HTTP -------------------------------------------------------------------------

    def _request(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
                 form: dict[str, Any] | None = None) -> requests.Response:
        """One API call; retries only 429s (an unprocessed request), raises our errors."""
        search = path.endswith("/search")
        limiter = self.search_limiter if search else self.limiter
        for attempt in range(MAX_RATE_RETRIES + 1):
            started = limiter.acquire() if limiter is not None else 0.0
            try:
                resp = self.session.request(method, self.base_url + path, params=params, json=body,
                                            files=files, data=form,
                                            headers={"x-api-token": self._token, "Accept": "application/json"})
            except requests.RequestException as exc:
                if limiter is not None:
                    limiter.abandon()
                if isinstance(exc, requests.Timeout):
                    raise TemporaryError(f"Pipedrive did not answer in time while trying to {what}",
                                         fix="retry later; a create is confirmed by its stamp first") from None
                raise TemporaryError(f"Pipedrive could not be reached to {what} ({type(exc).__name__})",
                                     fix="check the network and retry later") from None
            except BaseException:
                # Any other failure (a header that cannot be encoded, an interrupt) frees the
                # probe too: otherwise every other request waits for its answer forever.
                if limiter is not None:
                    limiter.abandon()
                raise
            self._note_rate(limiter, resp, started, search)
            if resp.status_code != 429:
                return check_response(resp, what, self.cache, self.reconnect_hint)
            if budget_spent(resp, search=search):
                raise BudgetExhausted("Pipedrive's daily API budget of this company is used up",
                                     fix="run again after midnight (server time); progress is kept")
            if attempt == MAX_RATE_RETRIES:
                break
            reset = header_float(resp.headers.get("x-ratelimit-reset"), 0.0)
            wait = min(max(retry_after_seconds(resp), reset), MAX_RATE_WAIT)
            if limiter is not None:
                limiter.refused(wait, reset)  # every worker waits, as long as the limiter's log says
            else:
                self.clock.sleep(wait)
        raise TemporaryError(f"Pipedrive kept answering 'too many requests' while trying to {what}",
                             fix="retry later")

    def _note_rate(self, limiter: SlidingWindow | None, resp: requests.Response, started: float | None,
                   search: bool) -> None:
        """What an answer tells of the rate: the bucket's limit and use (seeding the limiter's log,
        so it never overspends a window shared with an earlier pass or another client), the
        plan's limit and the round trip (kept for the next pass)."""
        headers = resp.headers
        limit = header_int(headers.get("x-ratelimit-limit"))
        if not search and limit is not None:
            self.burst_limit_seen = limit
        if search and limit is not None:
            # A search answer may carry the general bucket's headers (budget_spent()): a lower
            # limit is followed, never one above the search API's own.
            limit = min(limit, SEARCH_BURST)
        if limiter is not None:
            limiter.observe(limit, header_int(headers.get("x-ratelimit-remaining")),
                            header_float(headers.get("x-ratelimit-reset"), 0.0) if "x-ratelimit-reset" in headers else None,
                            started)
        self._observe(resp.elapsed.total_seconds())

    def _rate_state(self) -> dict[str, Any]:
        """What the next pass's limiters start from: the windows this pass may still hold, the
        plan's limit as Pipedrive announced it, the round trip."""
        state: dict[str, Any] = {"search": self.search_limiter.snapshot()}
        if self.limiter is not None:
            state["starts"] = self.limiter.snapshot()
        if self.burst_limit_seen is not None:
            state["limit"] = self.burst_limit_seen
        if self._rtt is not None:
            state["rtt"] = round(self._rtt, 4)
        return state

    def _resume_rate(self, state: Any) -> None:
        if not isinstance(state, dict):
            return
        limit, rtt, starts = state.get("limit"), state.get("rtt"), state.get("starts")
        if isinstance(rtt, (int, float)) and rtt > 0:
            self._rtt = float(rtt)
        if self.limiter is not None:
            if isinstance(limit, int):
                self.burst_limit_seen = limit
                self.limiter.adopt_limit(limit)
            if isinstance(starts, list):
                self.limiter.restore(t for t in starts if isinstance(t, (int, float)))
        search = state.get("search")
        if isinstance(search, list):
            self.search_limiter.restore(t for t in search if isinstance(t, (int, float)))

    def _observe(self, seconds: float) -> None:
        self._rtt = seconds if self._rtt is None else 0.8 * self._rtt + 0.2 * seconds

    def concurrency(self) -> int | None:
        """Calls in flight to send the plan's whole budget: requests per second × round trip
        (Little's law), BURST_SHARE times that, so a window's budget goes out in a part of
        the window (the pass ends sooner: its last window is spent at once, not at the
        average rate). The limiter keeps the rate."""
        if self.limiter is None or self._rtt is None:
            return None
        return math.ceil(self.limiter.limit / self.limiter.period * self._rtt * BURST_SHARE) + 1

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        return self._request(method, path, what, **kwargs).json()

    def _setup(self, call: Callable[[], T]) -> T:
        """`call()`, again after a temporary error (not a spent budget or an edge block), with backoff."""
        for attempt in range(SETUP_ATTEMPTS):
            try:
                return call()
            except TemporaryError as exc:
                if isinstance(exc, BudgetExhausted | ServiceBlocked) or attempt == SETUP_ATTEMPTS - 1:
                    raise
                log.info("retrying after a temporary error: %s", exc.line())
                self.clock.sleep(SETUP_BACKOFF * 2 ** attempt)
        raise AssertionError("unreachable")

    # --- users and permissions --------------------------------------------------------

    def me(self) -> CrmUser:
        cached = self.cache.get("user") if self._trust_cache else None
        if isinstance(cached, dict):
            return CrmUser(**cached)
        if self._trust_cache:
            self._read_ahead()
        data = self._setup(lambda: self._json("GET", "/api/v1/users/me", "read the connected user"))["data"]
        admin = bool(data.get("is_admin")) or any(
            a.get("admin") for a in data.get("access") or [] if a.get("app") == "global")
        user = CrmUser(id=data["id"], name=data.get("name", ""), email=data.get("email", ""),
                       is_admin=admin, company_domain=data.get("company_domain", ""))
        self.cache.put("user", asdict(user))
        return user

    def missing_permissions(self, user: CrmUser) -> list[str]:
        if user.is_admin:
            return []  # global admins may do everything (DESIGN §6, §8)
        cached = self.cache.get("missing_permissions") if self._trust_cache else None
        if isinstance(cached, list) and not cached:
            return []  # granted before; a 403 on a write is the last word (DESIGN §8)
        data = self._setup(lambda: self._json("GET", f"/api/v1/users/{user.id}/permissions",
                                              "read the user's permissions"))["data"]
        missing = [name for key, name in PERMISSION_NAMES.items() if data.get(key) is False]
        self.cache.put("missing_permissions", missing)
        return missing

    def settle(self, timeout: float = 30.0) -> None:
        ahead, self._fields_ahead = self._fields_ahead, None
        if ahead is not None:
            with contextlib.suppress(Exception):  # the field reading meets its error again when needed
                ahead.result(timeout)
        self.orgs.settle(timeout)

    def _read_ahead(self) -> None:
        """A pass that does not know the user yet (the first) will need the field list and the
        organizations too: both are read now, beside the user, instead of one after another."""
        if not self.cache.get("fields_checked") and self._fields_ahead is None:
            self._fields_ahead = in_background(lambda: list(self._person_fields()))
        self.orgs.read_ahead()

    # --- organizations ----------------------------------------------------------------

    def find_org(self, name: str) -> int | None:
        """The organization of this name (whatever its case, spacing or Unicode form), from the
        cache, else after listing the organizations changed since the cache's cursor (once a pass)."""
        return self.orgs.find(name)

    def find_or_create_org(self, name: str, visible_to: int | None = None) -> int:
        """The organization of exactly this name: cached, listed or created (pipedrive_orgs.py)."""
        return self.orgs.find_or_create(name, visible_to)

    # --- persons ----------------------------------------------------------------------

    def _payload(self, write: PersonWrite, creating: bool) -> dict[str, Any]:
        contact = write.contact if write.contact.name else (with_name(write.contact) or write.contact)
        body: dict[str, Any] = {
            "name": contact.name,
            "emails": [{"value": e.value, "label": e.label if e.label in EMAIL_LABELS else "other",
                        "primary": e.primary} for e in contact.emails],
            "phones": [{"value": p.value, "label": p.label if p.label in LABELS else "other",
                        "primary": p.primary} for p in contact.phones],
        }
        if write.org_id is not None or not creating:
            body["org_id"] = write.org_id  # null on update unlinks the organization
        if not creating:
            # A value that could not be read is left as it is (never cleared).
            for attribute, native in (("emails", "emails"), ("phones", "phones"), ("organization", "org_id")):
                if attribute in contact.unreadable():
                    body.pop(native, None)
        if write.owner_id is not None:
            body["owner_id"] = write.owner_id
        if write.visible_to is not None:
            body["visible_to"] = write.visible_to
        try:
            custom: dict[str, Any] = fields.custom_values(contact, self.field_keys, creating)
        except KeyError as missing:
            raise ApiError(f"The custom field {missing} is unknown; call ensure_fields() first") from None
        if write.stamp is not None:
            if not self.stamp_key:
                raise ApiError(f"The '{STAMP_FIELD}' field key is unknown; call ensure_fields() first")
            custom[self.stamp_key] = write.stamp
        for name, value in write.extra_fields.items():
            key = self.field_keys.get(name)
            if key is None:
                raise ApiError(f"The custom field '{name}' is unknown; call ensure_fields() first")
            custom[key] = value
        if custom:
            body["custom_fields"] = custom
        return body

    def _to_person(self, data: dict[str, Any]) -> CrmPerson:
        # first_name/last_name are left out: contactsync writes `name` only, so they
        # are Pipedrive's own split of it ("Mary Ann Smith" -> "Mary" + "Ann Smith"),
        # which must not flow back to the address book as given and family names.
        read = FieldReader()
        custom = read.obj(data, "custom_fields", "custom fields")
        extra = fields.contact_fields(custom, self.field_keys)
        org_id = data.get("org_id")
        org_id = org_id if isinstance(org_id, int) and not isinstance(org_id, bool) else None
        contact = Contact(
            name=read.text(data, "name", "name"),
            emails=tuple(Email(value, _label(e), e.get("primary") is True)
                         for e in read.items(data, "emails", "emails") if (value := read.text(e, "value", "emails"))),
            phones=tuple(Phone(value, _label(p), p.get("primary") is True)
                         for p in read.items(data, "phones", "phones") if (value := read.text(p, "value", "phones"))),
            organization=self.orgs.name_of(org_id),
            **{k: v for k, v in extra.items() if k != "issues"},
        )
        contact = with_issues(clean_contact(contact), *read.issues, *extra["issues"])
        stamp = custom.get(self.stamp_key) if self.stamp_key else None
        owner = data.get("owner_id")
        return CrmPerson(id=int(data["id"]), version=read.text(data, "update_time", "version"),
                         owner_id=owner if isinstance(owner, int) else None, contact=contact,
                         stamp=stamp if isinstance(stamp, str) else None, org_id=org_id,
                         has_picture=bool(data.get("picture_id")))

    def create(self, write: PersonWrite) -> CrmPerson:
        return self._write("POST", "/api/v2/persons", "add a person", write, True)

    def update(self, id: int, write: PersonWrite) -> CrmPerson:
        return self._write("PATCH", f"/api/v2/persons/{id}", f"update person {id}", write, False)

    def _write(self, method: str, path: str, what: str, write: PersonWrite, creating: bool) -> CrmPerson:
        """One person write; when the answer shows cached metadata stale (an unknown field key, an
        organization that is gone), read it again and send once more. A 400 is a refused
        request: nothing was created, so a create may be repeated too."""
        for attempt in (1, 2):
            keys = dict(self.field_keys)
            try:
                data = self._json(method, path, what, body=self._payload(write, creating))["data"]
                return self._to_person(data)
            except ApiError as exc:
                if attempt == 2 or exc.status != 400:
                    raise
                if "custom_fields" in exc.message:
                    self._refresh_fields(keys)
                elif "org_id" in exc.message and write.org_id is not None:
                    write = replace(write, org_id=self.orgs.replace(write.org_id, write.visible_to))
                else:
                    raise
        raise AssertionError("unreachable")

    def delete(self, id: int) -> None:
        try:
            self._request("DELETE", f"/api/v2/persons/{id}", f"delete person {id}")
        except NotFound:
            pass  # already deleted: the goal is reached

    def set_picture(self, id: int, image: bytes, mime: str, crop: Crop | None) -> None:
        """POST /v1/persons/{id}/picture (v1: v2 has no picture endpoint), multipart/form-data."""
        if mime not in PICTURE_TYPES:
            raise ApiError(f"Pipedrive takes GIF, JPEG or PNG pictures, not {mime}")
        form = None
        if crop is not None:
            form = {"crop_x": str(crop.x), "crop_y": str(crop.y),
                    "crop_width": str(crop.size), "crop_height": str(crop.size)}
        files = {"file": (f"picture.{PICTURE_TYPES[mime]}", image, mime)}
        self._request("POST", f"/api/v1/persons/{id}/picture", f"add the picture of person {id}", files=files, form=form)

    def get(self, id: int) -> CrmPerson | None:
        try:
            data = self._json("GET", f"/api/v2/persons/{id}", f"read person {id}")["data"]
        except NotFound:
            return None
        return None if data.get("is_deleted") else self._to_person(data)

    def get_many(self, ids: list[int]) -> dict[int, CrmPerson]:
        """GET /api/v2/persons?ids=... in batches of IDS_BATCH ("up to 100 entity ids";
        ids that do not exist, were deleted or are not visible are left out of the answer)."""
        unique = list(dict.fromkeys(int(i) for i in ids))
        found: dict[int, CrmPerson] = {}
        for start in range(0, len(unique), IDS_BATCH):
            batch = unique[start:start + IDS_BATCH]
            params: dict[str, Any] = {"ids": ",".join(str(i) for i in batch), "limit": IDS_BATCH}
            while True:
                body = self._json("GET", "/api/v2/persons", f"read {len(batch)} persons", params=params)
                for data in body.get("data") or []:
                    if data.get("id") in batch and not data.get("is_deleted"):
                        found[data["id"]] = self._to_person(data)
                cursor = (body.get("additional_data") or {}).get("next_cursor")
                if not cursor:
                    break
                params["cursor"] = cursor
        return found

    def _search_ids(self, term: str, field: str) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"term": term, "fields": field, "exact_match": "true", "limit": 100}
        while True:
            body = self._json("GET", "/api/v2/persons/search", "search persons", params=params)
            for hit in (body.get("data") or {}).get("items") or []:
                yield hit["item"]
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    def find_by_stamp(self, stamp: str) -> CrmPerson | None:
        if not self.stamp_key:
            raise ApiError(f"The '{STAMP_FIELD}' field key is unknown; call ensure_fields() first")
        for item in self._search_ids(stamp, "custom_fields"):
            person = self.get(item["id"])
            # The search matches any searchable custom field; confirm it is our stamp.
            if person is not None and person.stamp == stamp:
                return person
        return None

    def find_by_email(self, email: str, owner_id: int) -> list[CrmPerson]:
        wanted = email.strip().lower()
        found = []
        for item in self._search_ids(email.strip(), "email"):
            if (item.get("owner") or {}).get("id") != owner_id:
                continue
            person = self.get(item["id"])
            if person is not None and any(e.value.strip().lower() == wanted for e in person.contact.emails):
                found.append(person)
        return found

    def recent_changes(self, since: str) -> Iterator[PersonChange]:
        """GET /v1/recents?items=person (pipedrive_recents.py): one request when little changed."""
        return recent_persons(lambda params: self._json("GET", "/api/v1/recents", "list recent changes", params=params),
                              since, datetime.fromtimestamp(self.clock.time(), UTC))

    def list_persons(self, owner_id: int | None = None, updated_since: str | None = None) -> Iterator[CrmPerson]:
        """Every (non-deleted) person, page by page; `updated_since` is RFC 3339."""
        params: dict[str, Any] = {"limit": 500}
        if owner_id is not None:
            params["owner_id"] = owner_id
        if updated_since is not None:
            params.update(updated_since=updated_since, sort_by="update_time")
        while True:
            body = self._json("GET", "/api/v2/persons", "list persons", params=params)
            for data in body.get("data") or []:
                yield self._to_person(data)
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor


def _label(item: dict[str, Any]) -> str:
    label = item.get("label")
    return label if isinstance(label, str) and label else "other"
