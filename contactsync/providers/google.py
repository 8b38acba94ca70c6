"""Google Contacts through the People API (v1), built from the shipped discovery document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import googleapiclient
import httplib2
import requests
from google.auth.exceptions import RefreshError, TransportError
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError

from contactsync.auth.google import GoogleGrant, credentials
from contactsync.errors import ApiError, AuthError, CursorExpired, NotFound, StaleVersion, TemporaryError
from contactsync.http import TIMEOUT, make_session
from contactsync.model import Contact
from contactsync.providers.base import (
    Capabilities, Change, ChangeFeed, Group, Provider, ProviderDeletion, ProviderRecord, fields_key, join_cursor,
    split_cursor,
)
from contactsync.providers.google_mapping import (
    MERGE_FIELDS, READ_FIELDS, WRITE_FIELDS, is_primary, contact_to_person, person_to_contact, photo_url,
)

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "people.v1.json"
MY_CONTACTS = "contactGroups/myContacts"
# "When the sync_token is specified, all other request parameters must match the
# first call" (people.connections.list): a cursor remembers the field mask it was
# taken with, so a release that reads more fields falls back to one full listing.
CURSOR_KEY = fields_key(READ_FIELDS)
PAGE_SIZE = 1000  # the documented maximum of people.connections.list
# Photo.url serves a small rendition unless asked for a size: "You can change the
# desired size by appending a query parameter sz={size}" (people.v1 Photo.url).
PHOTO_SIZE = 1024

__all__ = ["GoogleProvider", "contact_to_person", "person_to_contact", "photo_url"]


def _record(person: dict[str, Any]) -> ProviderRecord:
    return ProviderRecord(person["resourceName"], person.get("etag", ""), person_to_contact(person),
                          photo_url(person), updated_at(person))


def updated_at(person: dict[str, Any]) -> str | None:
    """When the contact itself last changed: the `updateTime` of its CONTACT source.

    PersonMetadata.sources lists every source of the person (the contact, a linked
    profile, …); only the CONTACT source is what the user edits in Google Contacts
    and what our writes change (Source.updateTime, "Output only. Last update
    timestamp of this source", people.v1 discovery document).
    """
    sources = (person.get("metadata") or {}).get("sources") or []
    return next((str(s["updateTime"]) for s in sources if s.get("type") == "CONTACT" and s.get("updateTime")),
                None)


def _groups_of(person: dict[str, Any]) -> set[str]:
    return {(m.get("contactGroupMembership") or {}).get("contactGroupResourceName", "")
            for m in person.get("memberships") or []}


def group_id(group: str) -> str:
    return group if group.startswith("contactGroups/") else f"contactGroups/{group}"


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


def _error_info(exc: HttpError) -> tuple[str, str, set[str]]:
    """(status, message, reasons) of a Google error body."""
    try:
        error = json.loads(exc.content.decode("utf-8")).get("error") or {}
    except (ValueError, AttributeError, UnicodeDecodeError):
        return "", str(exc.resp.reason or ""), set()
    if not isinstance(error, dict):  # OAuth-style {"error": "invalid_grant"}
        return str(error), "", set()
    reasons = {d.get("reason", "") for d in error.get("details") or [] if isinstance(d, dict)}
    reasons |= {e.get("reason", "") for e in error.get("errors") or [] if isinstance(e, dict)}
    return error.get("status", ""), error.get("message", ""), reasons - {""}


def is_expired_sync_token(exc: HttpError) -> bool:
    # People answers 400 FAILED_PRECONDITION + ErrorInfo reason EXPIRED_SYNC_TOKEN
    # (people.connections.list doc); other Google APIs use 410 GONE for the same.
    _, _, reasons = _error_info(exc)
    return exc.resp.status == 410 or (exc.resp.status == 400 and "EXPIRED_SYNC_TOKEN" in reasons)


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
        # people.connections.list returns totalPeople, the number of connections a full
        # listing pages through (https://developers.google.com/people/api/rest/v1/people.connections/list).
        total = self._first.get("totalPeople")
        self.expected = int(total) if self.complete and isinstance(total, int) else None

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
        response = self._first
        while True:
            yield [c for c in (self._change(p) for p in response.get("connections") or []) if c is not None]
            token = response.get("nextPageToken")
            if not token:
                sync = response.get("nextSyncToken")
                self.cursor = join_cursor(CURSOR_KEY, sync)
                return
            response = self._fetch(token)

    def _change(self, person: dict[str, Any]) -> Change | None:
        if (person.get("metadata") or {}).get("deleted"):
            return ProviderDeletion(person["resourceName"])
        if self.group in _groups_of(person):
            return _record(person)
        # Incremental: it changed and is not in the group (any more) -> gone for us.
        return None if self.complete else ProviderDeletion(person["resourceName"])


class GoogleProvider(Provider):
    kind = "google"
    capabilities = Capabilities(supports_incremental=True, supports_write=True, supports_photo=True, syncs_notes=True)

    def __init__(self, grant: GoogleGrant, account: str, endpoint: str | None = None,
                 retries: int = 3, page_size: int = PAGE_SIZE) -> None:
        self.grant = grant
        self.account = account
        self.retries = retries
        self.page_size = page_size
        http = AuthorizedHttp(credentials(grant), http=SessionHttp(make_session(retries=0)))
        document = DISCOVERY.read_text(encoding="utf-8")
        options = {"api_endpoint": endpoint.rstrip("/") + "/"} if endpoint else None
        self.service = build_from_document(document, http=http, client_options=options)
        # Photo URLs are plain https URLs on Google's image host: no Authorization header.
        self.photo_session = make_session(retries=retries)

    @property
    def fix(self) -> str:
        return f"run `contactsync add-account google {self.account} --client-secrets client_secret.json`"

    def execute(self, request: Any, retry: bool, expired_ok: bool = True) -> dict[str, Any]:
        """Run one API request, mapping failures to the core's errors.

        Reads (and the idempotent update/delete) are retried with backoff; a
        create is never retried (DESIGN §12). With `expired_ok` False an
        expired-sync-token answer is re-raised as the HttpError for the caller.
        """
        try:
            return request.execute(num_retries=self.retries if retry else 0) or {}
        except HttpError as exc:
            if not expired_ok and is_expired_sync_token(exc):
                raise
            raise self._error(exc) from exc
        except RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise TemporaryError(f"Google's token service is unavailable for {self.account}") from exc
            raise AuthError(f"Google no longer accepts the sign-in of {self.account} (revoked or expired)",
                            self.fix) from exc
        except (TransportError, requests.RequestException, httplib2.HttpLib2Error, OSError) as exc:
            raise TemporaryError(f"cannot reach Google for {self.account}: {type(exc).__name__}",
                                 "check the network and run again") from exc

    def _error(self, exc: HttpError) -> Exception:
        code = exc.resp.status
        status, message, reasons = _error_info(exc)
        if code == 401 or status == "invalid_grant":
            return AuthError(f"Google rejected the sign-in of {self.account}", self.fix)
        quota = any("RATE_LIMIT" in r or "QUOTA" in r for r in reasons) or status == "RESOURCE_EXHAUSTED"
        if code == 429 or code >= 500 or (code == 403 and quota):
            return TemporaryError(f"Google is busy or rate limiting {self.account} (HTTP {code})",
                                  "run again later")
        if code == 403:
            return AuthError(f"Google refused access to the contacts of {self.account}: "
                             f"{message or 'permission denied'} (the contacts scope may be missing)", self.fix)
        if code == 404:
            return NotFound(f"not found in Google Contacts of {self.account}: {message}", status=code)
        return ApiError(f"Google refused a request for {self.account}: {message or exc.resp.reason} (HTTP {code})",
                        status=code)

    # -- contract -------------------------------------------------------------------

    def check(self) -> None:
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

    def update(self, id: str, contact: Contact, version: str) -> ProviderRecord:
        current = self.execute(self.service.people().get(resourceName=id, personFields=MERGE_FIELDS), retry=True)
        body = contact_to_person(contact, current=current)
        body["etag"] = version
        request = self.service.people().updateContact(
            resourceName=id, updatePersonFields=WRITE_FIELDS, personFields=READ_FIELDS, body=body)
        try:
            return _record(self.execute(request, retry=True))
        except ApiError as exc:
            cause = exc.__cause__
            if isinstance(cause, HttpError) and _error_info(cause)[0] == "FAILED_PRECONDITION":
                # updateContact doc: 400 "failedPrecondition" when the etag is stale.
                raise StaleVersion(f"contact {id} of {self.account} changed in Google since it was read",
                                   status=400) from exc
            raise

    def delete(self, id: str) -> None:
        try:
            self.execute(self.service.people().deleteContact(resourceName=id), retry=True)
        except NotFound:
            pass  # already gone is what we wanted

    def get(self, id: str) -> ProviderRecord | None:
        # The same read mask as the listing, so the record (etag, photo, updated) compares like one.
        request = self.service.people().get(resourceName=id, personFields=READ_FIELDS)
        try:
            return _record(self.execute(request, retry=True))
        except NotFound:
            return None

    def photo(self, id: str, ref: str) -> bytes | None:
        try:
            response = self.photo_session.get(ref, params={"sz": PHOTO_SIZE}, timeout=TIMEOUT)
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
