"""Google Contacts through the People API (v1), built from the shipped discovery document."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import googleapiclient
import httplib2
import requests
from google.auth.exceptions import RefreshError, TransportError
import google_auth_httplib2
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError

from contactsync.auth.google import GoogleGrant, credentials
from contactsync.errors import (
    ApiError, AuthError, ContactSkipped, CursorExpired, NotFound, StaleVersion, TemporaryError,
)
from contactsync.http import TIMEOUT, make_session
from contactsync.model import Contact
from contactsync.providers.base import (
    Capabilities, Change, ChangeFeed, Group, Provider, ProviderDeletion, ProviderRecord, ProviderSkip, Update,
    UpdateResult, fields_key, join_cursor, split_cursor,
)
from contactsync.providers.google_batch import GoogleBatch
from contactsync.providers.google_errors import (
    error_info, google_error, is_expired_sync_token, is_rate_limit, retry_after,
)
from contactsync.providers.google_mapping import (
    MERGE_FIELDS, READ_FIELDS, contact_to_person, is_primary, person_to_contact, photo_url,
    write_fields,
)
from contactsync.providers.json_reader import FieldReader, resource_id

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "people.v1.json"
MY_CONTACTS = "contactGroups/myContacts"
# "When the sync_token is specified, all other request parameters must match the
# first call" (people.connections.list): a cursor remembers the field mask it was
# taken with, so a release that reads more fields falls back to one full listing.
CURSOR_KEY = fields_key(READ_FIELDS)
PAGE_SIZE = 1000  # the documented maximum of people.connections.list
# Photo.url carries its size as the option suffix of its last path segment
# (`…/contacts/<id>=s100`) and the image host ignores the `?sz=` that people.v1's
# Photo.url description suggests (a People API client's live measurement in public
# code; nextcloud/integration_google#140: photos arrive at 100x100). The option is
# replaced: appending `?sz=` leaves a 100 px image, under Pipedrive's 128 px.
PHOTO_SIZE = 1024

# People API quotas are counted per minute (the Cloud console lists "Critical read
# requests (Contact and Profile Reads) per minute per user" among others), and "the
# first page of a full sync request has an additional quota … fixed and can not be
# increased" with a 429 past it (people.connections.list, discovery document): a 429
# is waited out over about a minute (5+10+20+30 s), not seconds.
RATE_BACKOFF = (5.0, 10.0, 20.0, 30.0)
SERVER_BACKOFF = (1.0, 2.0, 4.0)
# An etag refused right after a fresh read returned that same etag
# (googleapis/google-api-python-client#2417, google-api-go-client#1904): re-read and
# re-send this many times before reporting the contact as changed.
SPURIOUS_ETAG_RETRIES = 2
# update() keeps the parts of a Person the Contact does not hold (MERGE_FIELDS);
# those read by the listing of this pass are reused instead of a read per update.
# The most recent page's worth: more would grow memory with the book (benchmarks/memory.py:
# 10,000 entries were ~9 MB of a 50,000-contact first pass), and an update beyond it reads once.
MERGE_CACHE_SIZE = 1_000

__all__ = ["GoogleProvider", "contact_to_person", "person_to_contact", "photo_url"]


def _record(person: dict[str, Any]) -> ProviderRecord:
    # "Any former resource names this person has had. Populated only for
    # people.connections.list requests that include a sync token. The resource name may
    # change when adding or removing fields that link a contact and profile"
    # (PersonMetadata.previousResourceNames, discovery document).
    metadata = person.get("metadata")
    former = metadata.get("previousResourceNames") if isinstance(metadata, dict) else None
    previous = tuple(p for p in former if isinstance(p, str)) if isinstance(former, list) else ()
    etag = person.get("etag")
    return ProviderRecord(resource_id(person, "resourceName"), etag if isinstance(etag, str) else "",
                          person_to_contact(person), photo_url(person), updated_at(person), previous)


def updated_at(person: dict[str, Any]) -> str | None:
    """When the contact itself last changed: the `updateTime` of its CONTACT source.

    PersonMetadata.sources lists every source of the person (the contact, a linked
    profile, …); only the CONTACT source is what the user edits in Google Contacts
    and what our writes change (Source.updateTime, "Output only. Last update
    timestamp of this source", people.v1 discovery document).
    """
    sources = FieldReader().items(FieldReader().obj(person, "metadata", "metadata"), "sources", "metadata")
    return next((s["updateTime"] for s in sources
                 if s.get("type") == "CONTACT" and isinstance(s.get("updateTime"), str) and s["updateTime"]), None)


def _groups_of(person: dict[str, Any]) -> set[str]:
    read = FieldReader()
    return {read.text(read.obj(m, "contactGroupMembership", "group"), "contactGroupResourceName", "group")
            for m in read.items(person, "memberships", "group")}


def person_change(person: Any, group: str, complete: bool) -> Change | None:
    """One entry of a connections listing as a change; never raises, whatever the entry holds."""
    try:
        id = resource_id(person, "resourceName")
    except ContactSkipped as skipped:
        return ProviderSkip(skipped.contact_id, skipped.reason)
    metadata = person.get("metadata")
    if isinstance(metadata, dict) and metadata.get("deleted") is True:
        return ProviderDeletion(id)
    if group in _groups_of(person):
        return _record(person)
    # Incremental: it changed and is not in the group (any more) -> gone for us.
    return None if complete else ProviderDeletion(id)


def group_id(group: str) -> str:
    return group if group.startswith("contactGroups/") else f"contactGroups/{group}"


def sized_photo_url(url: str, size: int = PHOTO_SIZE) -> str:
    """`url` with its last path segment's `=<options>` suffix replaced by `=s<size>`."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    path, tail = url[:cut], url[cut:]
    start = path.rfind("/") + 1
    # Photo ids are unpadded URL-safe base64: a `=` in the last segment starts the options.
    eq = path.find("=", start)
    base = path if eq < 0 else path[:eq]
    return f"{base}=s{size}{tail}"


# -- transport -----------------------------------------------------------------

class SessionHttp:
    """httplib2's ``request()`` over a session from contactsync.http.

    googleapiclient wants an httplib2-like object; going through requests gives
    us the project's timeouts and User-Agent, and — unlike httplib2, which
    silently re-sends any request once after a dropped connection — never
    repeats a create.
    """

    def __init__(self, session: requests.Session) -> None:
        self.session = session
        self.timeout = TIMEOUT

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None,
                redirections: int = 5, connection_type: Any = None) -> tuple[httplib2.Response, bytes]:
        response = self.session.request(method, uri, data=body, headers=headers, timeout=self.timeout)
        info = {k.lower(): v for k, v in response.headers.items()
                if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")}
        info["status"] = str(response.status_code)
        result = httplib2.Response(info)
        result.reason = response.reason
        return result, response.content


# -- the adapter -----------------------------------------------------------------

class GoogleChangeFeed(ChangeFeed):
    def __init__(self, provider: GoogleProvider, group: str, sync_token: str | None) -> None:
        self.provider = provider
        self.group = group
        self.sync_token = sync_token
        self.complete = sync_token is None
        self.cursor = None
        # The first page is read now so that an expired cursor surfaces from changes().
        self._first = self._fetch(None)
        self.expected = self._listed_count() if self.complete else None

    def _listed_count(self) -> int | None:
        """How many contacts of the group a full listing holds, for a progress display.

        people.connections.list returns totalPeople, the number of connections the listing
        pages through (https://developers.google.com/people/api/rest/v1/people.connections/list);
        a group's own count is its memberCount, "the total number of contacts in the group
        irrespective of max members" (ContactGroup), omitted when zero (proto3 default).
        """
        if self.group != MY_CONTACTS:
            try:
                group = self.provider.execute(self.provider.service.contactGroups().get(
                    resourceName=self.group, maxMembers=0, groupFields="memberCount"), retry=True)
            except ApiError:  # a group gone shows in the listing; a count never stops it
                return None
            count = group.get("memberCount", 0)
        else:
            count = self._first.get("totalPeople")
        return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None

    def _fetch(self, page_token: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "resourceName": "people/me", "personFields": READ_FIELDS, "pageSize": self.provider.page_size,
            "requestSyncToken": True,
        }
        if self.sync_token:
            params["syncToken"] = self.sync_token
        if page_token:
            params["pageToken"] = page_token
        request = self.provider.service.people().connections().list(**params)
        try:
            return self.provider.execute(request, retry=True, expired_ok=False)
        except HttpError as exc:  # only an expired-token answer gets here
            raise CursorExpired(f"Google no longer accepts the sync cursor of {self.provider.account}",
                                "a full listing is read instead") from exc

    def pages(self) -> Iterator[list[Change]]:
        # One page of the answer in memory at a time: each is let go before the next is read.
        response, self._first = self._first, {}
        while True:
            page = [c for c in (self._change(p) for p in response.get("connections") or []) if c is not None]
            token, sync = response.get("nextPageToken"), response.get("nextSyncToken")
            del response
            yield page
            del page
            if not token:
                self.cursor = join_cursor(CURSOR_KEY, sync)
                return
            response = self._fetch(token)

    def _change(self, person: Any) -> Change | None:
        change = person_change(person, self.group, self.complete)
        if isinstance(change, ProviderRecord):
            self.provider.remember(person)
        return change


class GoogleProvider(Provider):
    kind = "google"
    capabilities = Capabilities(supports_incremental=True, supports_write=True, supports_photo=True, syncs_notes=True)

    def __init__(self, grant: GoogleGrant, account: str, endpoint: str | None = None,
                 retries: int = 3, page_size: int = PAGE_SIZE, sleep: Callable[[float], None] = time.sleep,
                 rate_backoff: tuple[float, ...] = RATE_BACKOFF,
                 on_refresh: Callable[[GoogleGrant], None] | None = None) -> None:
        self.grant = grant
        self.account = account
        self.retries = retries
        self.page_size = page_size
        self.sleep = sleep
        self.rate_backoff = rate_backoff
        self._merge: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        # on_refresh: where each refreshed access token is saved (providers/registry.py).
        http = AuthorizedHttp(credentials(grant, on_refresh), http=SessionHttp(make_session(retries=0)))
        self._authorized = http
        document = DISCOVERY.read_text(encoding="utf-8")
        options = {"api_endpoint": endpoint.rstrip("/") + "/"} if endpoint else None
        self.service = build_from_document(document, http=http, client_options=options)
        # Photo URLs are plain https URLs on Google's image host: no Authorization header.
        self.photo_session = make_session(retries=retries)

    @property
    def fix(self) -> str:
        return f"run `contactsync reconnect google:{self.account.lower()}`"

    def execute(self, request: Any, retry: bool, expired_ok: bool = True) -> dict[str, Any]:
        """Run one API request, mapping failures to the core's errors.

        A rate-limit answer (429, or 403 with a quota reason) is retried for every
        request, creates included: it means nothing was done (DESIGN §12). Server
        errors and dropped connections are retried only for reads and the idempotent
        update/delete (`retry`); a create that may have happened is never repeated.
        With `expired_ok` False an expired-sync-token answer is re-raised as the
        HttpError for the caller.
        """
        rate_tries = server_tries = 0
        while True:
            try:
                return request.execute(num_retries=0) or {}
            except HttpError as exc:
                if not expired_ok and is_expired_sync_token(exc):
                    raise
                if is_rate_limit(exc) and rate_tries < len(self.rate_backoff):
                    self.sleep(max(self.rate_backoff[rate_tries], retry_after(exc)))
                    rate_tries += 1
                    continue
                if retry and exc.resp.status >= 500 and server_tries < min(self.retries, len(SERVER_BACKOFF)):
                    self.sleep(SERVER_BACKOFF[server_tries])
                    server_tries += 1
                    continue
                raise google_error(exc, self.account, self.fix) from exc
            except RefreshError as exc:
                if getattr(exc, "retryable", False):
                    raise TemporaryError(f"Google's token service is unavailable for {self.account}") from exc
                raise AuthError(f"Google no longer accepts the sign-in of {self.account} (revoked or expired)",
                                self.fix) from exc
            except (TransportError, requests.RequestException, httplib2.HttpLib2Error, OSError) as exc:
                if retry and server_tries < min(self.retries, len(SERVER_BACKOFF)):
                    self.sleep(SERVER_BACKOFF[server_tries])
                    server_tries += 1
                    continue
                raise TemporaryError(f"cannot reach Google for {self.account}: {type(exc).__name__}",
                                     "check the network and run again") from exc

    # -- contract -------------------------------------------------------------------

    def check(self) -> None:
        """An access token is held or minted: a refresh the grant no longer allows raises AuthError.

        No API call: the pass reads the connections right after, where any other refusal
        shows with the same errors; a group read here was one request on every pass,
        quiet ones included (issue 13). `verify` makes the call.
        """
        creds = self._authorized.credentials
        if creds.valid:
            return
        try:
            creds.refresh(google_auth_httplib2.Request(self._authorized.http))
        except RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise TemporaryError(f"Google's token service is unavailable for {self.account}") from exc
            raise AuthError(f"Google no longer accepts the sign-in of {self.account} (revoked or expired)",
                            self.fix) from exc
        except (TransportError, requests.RequestException, httplib2.HttpLib2Error, OSError) as exc:
            raise TemporaryError(f"cannot reach Google for {self.account}: {type(exc).__name__}",
                                 "check the network and run again") from exc

    def verify(self) -> None:
        self.execute(self.service.contactGroups().get(resourceName=MY_CONTACTS, groupFields="name"), retry=True)

    def signed_in_email(self) -> str | None:
        me = self.execute(self.service.people().get(resourceName="people/me", personFields="emailAddresses"),
                          retry=True)
        emails = me.get("emailAddresses") or []
        chosen = next((e for e in emails if is_primary(e)), emails[0] if emails else {})
        return chosen.get("value")

    def groups(self) -> list[Group]:
        out: list[Group] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"pageSize": 1000, "groupFields": "name,groupType,memberCount"}
            if token:
                params["pageToken"] = token
            page = self.execute(self.service.contactGroups().list(**params), retry=True)
            for g in page.get("contactGroups") or []:
                rn = g["resourceName"]
                if g.get("groupType") == "USER_CONTACT_GROUP" or rn in (MY_CONTACTS, "contactGroups/starred"):
                    # memberCount is omitted when zero (proto3 default).
                    out.append(Group(rn, g.get("formattedName") or g.get("name") or rn,
                                     g.get("memberCount", 0), rn == MY_CONTACTS))
            token = page.get("nextPageToken")
            if not token:
                break
        system = [g for g in out if g.id in (MY_CONTACTS, "contactGroups/starred")]
        system.sort(key=lambda g: not g.is_default)
        return system + sorted((g for g in out if g not in system), key=lambda g: g.name.lower())

    def default_group(self) -> Group:
        return next(g for g in self.groups() if g.is_default)

    def changes(self, cursor: str | None, group: str) -> ChangeFeed:
        sync_token = split_cursor(cursor, CURSOR_KEY, self.account) if cursor else None
        return GoogleChangeFeed(self, group_id(group), sync_token)

    def create(self, contact: Contact, group: str) -> ProviderRecord:
        body = contact_to_person(contact, group=group_id(group))
        request = self.service.people().createContact(personFields=READ_FIELDS, body=body)
        return _record(self.execute(request, retry=False))

    def remember(self, person: dict[str, Any]) -> None:
        """Keep the MERGE_FIELDS parts of a person just read, for an update later in the pass."""
        rn, etag = person.get("resourceName"), person.get("etag")
        if not rn or not etag:
            return
        self._merge[rn] = (etag, {k: person[k] for k in MERGE_FIELDS.split(",") if k in person})
        self._merge.move_to_end(rn)
        while len(self._merge) > MERGE_CACHE_SIZE:
            self._merge.popitem(last=False)

    def held(self, id: str, version: str) -> dict[str, Any] | None:
        """The MERGE_FIELDS parts of contact `id` remembered at `version`, or None."""
        held = self._merge.get(id)
        return held[1] if held is not None and held[0] == version else None

    def written(self, person: dict[str, Any]) -> ProviderRecord:
        """The record of a person an update answered with, remembered for the next update."""
        self.remember(person)
        return _record(person)

    def _current(self, id: str, version: str) -> dict[str, Any]:
        held = self.held(id, version)
        if held is not None:
            return held
        return self.execute(self.service.people().get(resourceName=id, personFields=MERGE_FIELDS), retry=True)

    def update(self, id: str, contact: Contact, version: str) -> ProviderRecord:
        body = contact_to_person(contact, current=self._current(id, version))
        for attempt in range(SPURIOUS_ETAG_RETRIES + 1):
            body["etag"] = version
            request = self.service.people().updateContact(
                resourceName=id, updatePersonFields=write_fields(contact), personFields=READ_FIELDS, body=body)
            try:
                person = self.execute(request, retry=True)
            except ApiError as exc:
                cause = exc.__cause__
                if not (isinstance(cause, HttpError) and error_info(cause)[0] == "FAILED_PRECONDITION"):
                    raise
                # updateContact doc: 400 "failedPrecondition" when the etag is stale.
                # Google also refuses an etag it has just served (#2417): re-read, and
                # only a different etag is a real change by someone else.
                fresh = self.get(id)
                if fresh is None:
                    raise NotFound(f"contact {id} of {self.account} was deleted in Google", status=404) from exc
                if fresh.version != version or attempt == SPURIOUS_ETAG_RETRIES:
                    raise StaleVersion(f"contact {id} of {self.account} changed in Google since it was read",
                                       status=400) from exc
                continue
            return self.written(person)
        raise AssertionError("unreachable")

    def update_many(self, updates: Sequence[Update]) -> dict[str, UpdateResult]:
        # One contact costs the same either way (a read if needed, a write): the single path keeps it.
        return super().update_many(updates) if len(updates) < 2 else GoogleBatch(self).update_many(updates)

    def delete(self, id: str) -> None:
        try:
            self.execute(self.service.people().deleteContact(resourceName=id), retry=True)
        except NotFound:
            pass  # already gone is what we wanted

    def get(self, id: str) -> ProviderRecord | None:
        # The same read mask as the listing, so the record (etag, photo, updated) compares like one.
        request = self.service.people().get(resourceName=id, personFields=READ_FIELDS)
        try:
            person = self.execute(request, retry=True)
        except NotFound:
            return None
        self.remember(person)
        return _record(person)

    def photo(self, id: str, ref: str) -> bytes | None:
        try:
            response = self.photo_session.get(sized_photo_url(ref), timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise TemporaryError(f"cannot fetch the photo of {id} from Google for {self.account}: "
                                 f"{type(exc).__name__}", "check the network and run again") from exc
        if response.status_code in (404, 410):
            return None  # the photo was replaced or removed since the listing
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporaryError(f"Google is busy serving the photo of {id} (HTTP {response.status_code})",
                                 "run again later")
        if response.status_code >= 400:
            raise ApiError(f"Google refused the photo of {id} for {self.account} (HTTP {response.status_code})",
                           status=response.status_code)
        return response.content
