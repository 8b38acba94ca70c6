"""Outlook.com / Office 365 contacts through Microsoft Graph v1.0, over requests.

Throttling follows Outlook's per-mailbox limits: at most 4 requests in flight
("MailboxConcurrency", https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits),
and a 429/503 ``Retry-After`` pauses every request of the mailbox, not only the one
that got it (https://learn.microsoft.com/graph/throttling#best-practices-to-handle-throttling).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import requests

from contactsync.clock import SYSTEM_CLOCK, Clock
from contactsync.errors import (
    ApiError, AuthError, ContactSkipped, CursorExpired, NotFound, StaleVersion, TemporaryError,
)
from contactsync.http import backoff_seconds, make_session, retry_after_seconds
from contactsync.model import Contact, normalise
from contactsync.providers.base import (
    Capabilities, Change, ChangeFeed, Group, Provider, ProviderDeletion, ProviderRecord, ProviderSkip, fields_key,
    join_cursor, split_cursor,
)
from contactsync.providers.microsoft_mapping import (
    MAX_BUSINESS_PHONES, MAX_EMAILS, SELECT, Overflow, contact_to_graph, graph_to_contact,
)
from contactsync.providers.json_reader import FieldReader, resource_id

log = logging.getLogger(__name__)

GRAPH = "https://graph.microsoft.com"
ID_SAFE = "=-_"  # Outlook ids are URL-safe base64; '=' padding needs no escaping
DEFAULT_FOLDER = "contacts"  # Graph does not list the default folder among contactFolders
MAX_IN_FLIGHT = 4
# What listings, delta and get() read: the mapped properties, the time of the last
# change (contact.lastModifiedDateTime, for the "newest wins" conflict policy) and the
# version: changeKey is a property of the contact like any other and, under $select,
# only selected properties come back (`@odata.etag` is an OData annotation whose
# content the contact resource does not document).
READ_SELECT = (*SELECT, "lastModifiedDateTime", "changeKey")
# Delta tokens remember the $select they were taken with; a release that reads more
# fields must start over with one full listing rather than get thinner records.
CURSOR_KEY = fields_key(",".join(READ_SELECT))
# Errors of an expired or unusable delta state (delta-query-overview, "Synchronization reset").
EXPIRED_CODES = {"syncstatenotfound", "syncstateinvalid", "resyncrequired"}
RETRYABLE = {429, 503, 504}
# "$count: Retrieves the total count of matching resources" (learn.microsoft.com/graph/query-parameters),
# one item long: how many contacts a folder holds, in the request that looks its id up.
COUNT = {"$count": "true", "$top": "1"}


def _error(response: requests.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return "", response.reason or ""
    if not isinstance(error, dict):
        return str(error), ""
    return str(error.get("code") or ""), str(error.get("message") or "")


class GraphClient:
    """One mailbox's HTTP client: the bearer token, the in-flight cap and the shared pause gate."""

    def __init__(self, token_source: Callable[[], str], account: str, endpoint: str | None,
                 retries: int = 4, max_in_flight: int = MAX_IN_FLIGHT, clock: Clock = SYSTEM_CLOCK) -> None:
        self.token_source = token_source
        self.account = account
        self.base = (endpoint or GRAPH).rstrip("/") + "/v1.0"
        self.session = make_session(retries=0)  # retries are ours: they must honour the shared gate
        self.retries = retries
        self.clock = clock
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self._gate_lock = threading.Lock()
        self._resume_at = 0.0

    @property
    def fix(self) -> str:
        return f"run `contactsync reconnect microsoft:{self.account.lower()}`"

    def pause(self, seconds: float) -> None:
        with self._gate_lock:
            self._resume_at = max(self._resume_at, self.clock.monotonic() + seconds)

    def _wait_gate(self) -> None:
        while True:
            with self._gate_lock:
                wait = self._resume_at - self.clock.monotonic()
            if wait <= 0:
                return
            self.clock.sleep(wait)

    def request(self, method: str, path_or_url: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> requests.Response:
        """Send one request; map failures to the core's errors. Statuses in `ok` are returned as is."""
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        attempt = 0
        reauthenticated = False
        while True:
            self._wait_gate()
            headers = dict(kwargs.pop("headers", None) or {})
            token = self.token_source()
            headers["Authorization"] = f"Bearer {token}"
            try:
                with self.slots:
                    response = self.session.request(method, url, headers=headers, **kwargs)
            except requests.RequestException as exc:
                # A POST that may have reached the server is never repeated (DESIGN §12).
                if method != "POST" and attempt < self.retries:
                    attempt += 1
                    kwargs["headers"] = headers
                    self.clock.sleep(backoff_seconds(attempt))
                    continue
                raise TemporaryError(f"cannot reach Microsoft Graph for {self.account}: {type(exc).__name__}",
                                     "check the network and run again") from exc
            status = response.status_code
            # A token the clock calls valid may still be refused (revoked, clock skew): a token
            # source that can refresh (auth.microsoft.MicrosoftSession.reject) gets one retry.
            # A 401 was refused before processing, so even a create may be repeated.
            reject = getattr(self.token_source, "reject", None)
            if status == 401 and reject is not None and not reauthenticated:
                reauthenticated = True
                reject(token)
                kwargs["headers"] = headers
                continue
            # A 429 was refused before processing, so even a create may be repeated.
            retryable = status in RETRYABLE and (method != "POST" or status == 429)
            if retryable and attempt < self.retries:
                attempt += 1
                self.pause(retry_after_seconds(response, default=backoff_seconds(attempt, scale=2, cap=30)))
                kwargs["headers"] = headers
                continue
            if status < 400 or status in ok:
                return response
            raise self._failure(response)

    def _failure(self, response: requests.Response) -> Exception:
        status = response.status_code
        code, message = _error(response)
        if status == 401:
            return AuthError(f"Microsoft Graph rejected the sign-in of {self.account} ({code or 'HTTP 401'})",
                             self.fix)
        if status == 403:
            return AuthError(f"Microsoft Graph refused access to the contacts of {self.account}: "
                             f"{message or code or 'access denied'} (the Contacts.ReadWrite permission or "
                             "consent may be missing)", self.fix)
        if status in RETRYABLE or status >= 500:
            detail = f" {code}" if code and code != str(status) else ""  # Graph's code, e.g. serviceNotAvailable
            return TemporaryError(f"Microsoft Graph is busy or throttling {self.account} (HTTP {status}{detail})",
                                  "run again later")
        if status == 404:
            return NotFound(f"not found in the Outlook contacts of {self.account}: {message}", status=status)
        if status == 412 or code == "ErrorIrresolvableConflict":
            return StaleVersion(f"a contact of {self.account} changed in Outlook since it was read",
                                status=status)
        return ApiError(f"Microsoft Graph refused a request for {self.account}: {message or code} "
                        f"(HTTP {status} {code})", status=status)


class GraphChangeFeed(ChangeFeed):
    def __init__(self, provider: MicrosoftProvider, folder: str, delta_link: str | None, page_size: int) -> None:
        self.provider = provider
        self.client = client = provider.client
        self.folder = folder
        self.complete = delta_link is None
        self.cursor = None
        self.page_size = page_size
        # "GET /me/contactFolders/{id}/contacts/delta" is the documented form (contact-delta);
        # /me/contacts/delta is not documented.
        # A full listing's size, for a progress display: asked before the folder's path so that
        # the default folder's one lookup also brings it. A delta round is not counted.
        self.expected = None if delta_link else provider.listed_count(folder)
        url = delta_link or client.base + provider.folder_path(folder) + "/delta"
        params = None if delta_link else {"$select": ",".join(READ_SELECT)}
        # The first page is read now so that an expired cursor surfaces from changes().
        self._first = self._fetch(url, params)

    def _fetch(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        headers = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        response = self.client.request("GET", url, params=params, headers=headers, ok=(400, 410))
        if response.status_code in (400, 410):
            code, message = _error(response)
            # 410 (with a Location to start over at) and the documented reset codes mean
            # "resynchronize" (delta-query-overview, "Synchronization reset"); a delta link
            # the service cannot read at all is a plain 400. Either way a full listing is
            # the safe answer: it only deletes what it has seen to be gone.
            if response.status_code == 410 or code.lower() in EXPIRED_CODES or not self.complete:
                raise CursorExpired(f"Microsoft Graph no longer accepts the delta link of {self.client.account} "
                                    f"({code or 'HTTP 410'})", "a full listing is read instead")
            raise self.client._failure(response)
        return response.json()

    def pages(self) -> Iterator[list[Change]]:
        page = self._first
        given: dict[str, str] = {}  # id -> version already yielded in this round
        while True:
            yield [c for c in (self._change(item, given) for item in page.get("value") or []) if c is not None]
            next_link = page.get("@odata.nextLink")
            if not next_link:
                delta = page.get("@odata.deltaLink")
                self.cursor = join_cursor(CURSOR_KEY, delta)
                return
            page = self._fetch(next_link, None)

    def _change(self, item: Any, given: dict[str, str]) -> Change | None:
        change = item_change(item)
        if not isinstance(change, ProviderRecord):
            given.pop(change.id, None)
            return change
        if given.get(change.id) == change.version:
            return None  # the same item again in this round: already given
        if any(name not in item for name in READ_SELECT):
            # A partial delta item ("updated instances are represented by their id with at
            # least the properties that have been updated", delta-query-overview): an
            # absent property is unknown, not cleared. Read the whole contact.
            full = self.provider.get(change.id)
            if full is None:
                return ProviderDeletion(change.id)
            change = full
        given[change.id] = change.version
        return change


def item_change(item: Any) -> Change:
    """One entry of a delta or listing page as a change; never raises, whatever the entry holds."""
    try:
        id = resource_id(item, "id")
    except ContactSkipped as skipped:
        return ProviderSkip(skipped.contact_id, skipped.reason)
    if "@removed" in item:
        return ProviderDeletion(id)
    return _record(item)


def _record(item: dict[str, Any]) -> ProviderRecord:
    # Whether a contact has a photo is not knowable without asking for it; the
    # reference is the contact id and photo() answers None when there is none.
    id = resource_id(item, "id")
    read = FieldReader()
    return ProviderRecord(id, read.text(item, "changeKey", "version") or _etag_key(item), graph_to_contact(item), id,
                          read.text(item, "lastModifiedDateTime", "version") or None)


def _etag_key(item: dict[str, Any]) -> str:
    etag = FieldReader().text(item, "@odata.etag", "version")
    return etag[3:-1] if etag.startswith('W/"') else etag


def _count(page: dict[str, Any]) -> int | None:
    """`@odata.count` of a list asked with COUNT; None when absent or -1 (GraphQuirks.count_unknown).

    It is a progress display's total only: Outlook counts contact lists (distribution
    lists) too, which the contacts listing never returns (microsoft-graph-docs#1094).
    """
    value = page.get("@odata.count")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _folder_contacts(folder_id: str) -> str:
    return f"/me/contactFolders/{quote(folder_id, safe=ID_SAFE)}/contacts"


class MicrosoftProvider(Provider):
    kind = "microsoft"
    capabilities = Capabilities(supports_incremental=True, supports_write=True, supports_photo=True,
                                syncs_notes=False, max_emails=MAX_EMAILS, max_phones=MAX_BUSINESS_PHONES)

    def __init__(self, token_source: Callable[[], str], account: str, endpoint: str | None = None,
                 retries: int = 4, page_size: int = 100, clock: Clock = SYSTEM_CLOCK) -> None:
        self.account = account
        self.client = GraphClient(token_source, account, endpoint, retries=retries, clock=clock)
        self.page_size = page_size
        # Values left out of the last create/update because Graph cannot hold them.
        self.last_overflow: list[Overflow] = []
        self._default_id: str | None = None
        self._default_count: int | None = None
        self._default_lock = threading.Lock()
        self._folder = DEFAULT_FOLDER  # the folder of this pass: its contacts are addressed through it

    def folder_path(self, folder: str) -> str:
        """The documented path of a folder's contacts: /me/contactFolders/{id}/contacts.

        /me/contacts is documented for the default folder only, and the default folder is
        not among /me/contactFolders: its id is read once, from a contact's parentFolderId.
        While the default folder is empty there is no id to read, and /me/contacts serves.
        """
        if folder != DEFAULT_FOLDER:
            return _folder_contacts(folder)
        with self._default_lock:
            if self._default_id is None:
                page = self.client.request("GET", "/me/contacts", params=COUNT | {"$select": "parentFolderId"}).json()
                first = (page.get("value") or [{}])[0]
                self._default_id = first.get("parentFolderId") or None
                self._default_count = _count(page)
        return "/me/contacts" if self._default_id is None else _folder_contacts(self._default_id)

    def listed_count(self, folder: str) -> int | None:
        """How many contacts the folder holds, or None when Graph does not say (a display total only)."""
        if folder == DEFAULT_FOLDER and self._default_id is None:
            self.folder_path(folder)  # that lookup asked for the count too: no second request
            return self._default_count
        try:
            page = self.client.request("GET", self.folder_path(folder), params=COUNT | {"$select": "id"}).json()
        except ApiError as exc:  # a count refused never stops the listing it only describes
            log.info("%s: Graph did not count the contacts (%s)", self.account, exc.line())
            return None
        return _count(page)

    def _item(self, id: str) -> str:
        return f"{self.folder_path(self._folder)}/{quote(id, safe=ID_SAFE)}"

    def check(self) -> None:
        self.client.request("GET", "/me", params={"$select": "id,userPrincipalName,mail"})

    def signed_in_email(self) -> str | None:
        me = self.client.request("GET", "/me", params={"$select": "userPrincipalName,mail"}).json()
        return me.get("mail") or me.get("userPrincipalName")

    def groups(self) -> list[Group]:
        folders = [Group(DEFAULT_FOLDER, "Contacts", None, True)]
        url: str | None = "/me/contactFolders"
        params: dict[str, str] | None = {"$top": "100", "$select": "id,displayName"}
        others: list[Group] = []
        while url:
            page = self.client.request("GET", url, params=params).json()
            others += [Group(f["id"], f.get("displayName") or f["id"]) for f in page.get("value") or []]
            url, params = page.get("@odata.nextLink"), None
        return folders + sorted(others, key=lambda g: g.name.lower())

    def default_group(self) -> Group:
        return Group(DEFAULT_FOLDER, "Contacts", None, True)

    def changes(self, cursor: str | None, group: str) -> ChangeFeed:
        delta_link = split_cursor(cursor, CURSOR_KEY, self.account) if cursor else None
        self._folder = group
        return GraphChangeFeed(self, group, delta_link, self.page_size)

    def create(self, contact: Contact, group: str) -> ProviderRecord:
        body, self.last_overflow = contact_to_graph(contact)
        body = {k: v for k, v in body.items() if v not in (None, [], {})}
        self._folder = group
        response = self.client.request("POST", self.folder_path(group), json=body)
        return _record(response.json())

    def update(self, id: str, contact: Contact, version: str) -> ProviderRecord:
        path = self._item(id)
        current = self.client.request("GET", path, params={"$select": ",".join(SELECT + ("changeKey",))}).json()
        if current.get("changeKey") != version:
            raise StaleVersion(f"contact {id} of {self.account} changed in Outlook since it was read", status=412)
        body, self.last_overflow = contact_to_graph(contact, current)
        # Outlook items honour If-Match with their etag and answer 412
        # ErrorIrresolvableConflict when it is stale, closing the GET-PATCH race.
        headers = {"If-Match": current.get("@odata.etag") or f'W/"{version}"'}
        return _record(self.client.request("PATCH", path, json=body, headers=headers).json())

    def delete(self, id: str) -> None:
        self.client.request("DELETE", self._item(id), ok=(404,))

    def get(self, id: str) -> ProviderRecord | None:
        response = self.client.request("GET", self._item(id), params={"$select": ",".join(READ_SELECT)}, ok=(404,))
        return None if response.status_code == 404 else _record(response.json())

    def representable(self, contact: Contact) -> Contact:
        """What Graph holds of `contact` once written: the mapping there and back.

        Caps (3 e-mails, 2 business and 2 home phones, one mobile, 3 IM addresses),
        no notes, no birthday without a year, e-mails without types, "other" phones
        as home phones, the address in its slot. A contact read from Graph is
        unchanged by it, and it is idempotent.
        """
        contact = normalise(contact)
        body, _ = contact_to_graph(contact)
        if not (contact.first_name or contact.last_name):
            # contact_to_graph files a name-only contact under its given name so that
            # Outlook shows it; that is presentation, not a name part the user set.
            body["givenName"] = None
        return graph_to_contact(body)

    def photo(self, id: str, ref: str) -> bytes | None:
        response = self.client.request("GET", self._item(ref or id) + "/photo/$value", ok=(404,))
        return None if response.status_code == 404 else response.content
