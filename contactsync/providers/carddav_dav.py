"""The WebDAV side of CardDAV: discovery, listings, sync-collection, multiget and writes.

XML is read with the standard library's ElementTree: its expat (2.4.1 or later,
bundled with every supported Python) refuses entity-expansion bombs, and DAV
answers need no DTDs. Requests go through `contactsync.http.make_session`.

References: RFC 4918 (WebDAV), RFC 6352 (CardDAV), RFC 6578 (collection
synchronisation), RFC 6764 (locating services: /.well-known/carddav), and
vdirsyncer's `vdirsyncer/storage/dav.py` (pimutils/vdirsyncer) for what real
servers do differently.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests

from contactsync.errors import ApiError, AuthError, ContactSyncError, CursorExpired, StaleVersion, TemporaryError
from contactsync.http import backoff_seconds, make_session, retry_after_seconds

DAV = "DAV:"
CARD = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
ET.register_namespace("d", DAV)
ET.register_namespace("card", CARD)
# Retried with backoff: every request we send is a read or a conditional write, so a
# repeat is harmless (a write that was applied comes back 412 and is recognised).
RETRYABLE = {429, 500, 502, 503, 504}
MAX_REDIRECTS = 5
MULTIGET_BATCH = 100
# Some servers put ASCII control characters into their XML (vdirsyncer's `_clean_body`);
# expat refuses them, so they are removed before parsing.
_BAD_XML = bytes(c for c in range(32) if c not in (9, 10, 13))


def tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def normalize_href(base: str, href: str) -> str:
    """The path of `href`, percent-encoded one way whatever the server sent.

    Servers disagree on quoting (vdirsyncer's `_normalize_href`: unquote, then quote
    keeping '/' and '@', which iCloud and Fastmail hrefs hold); ids must compare equal.
    """
    path = urlsplit(urljoin(base, href)).path
    return quote(unquote(path), "/@")


@dataclass
class DavResponse:
    """One <response> of a multistatus: its href, status and the properties found (200)."""

    href: str
    status: int | None
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        element = self.props.get(name)
        return element.text if element is not None and element.text is not None else None


def _status(text: str | None) -> int | None:
    parts = (text or "").split()
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def parse_xml(body: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(body.translate(None, _BAD_XML))
    except ET.ParseError as exc:
        raise ApiError(f"the CardDAV server answered {what} with unreadable XML ({exc})",
                       fix="check the --url of the account") from None


def parse_multistatus(base: str, body: bytes, what: str) -> tuple[list[DavResponse], str | None]:
    """The responses of a multistatus and its top-level <sync-token>, if any."""
    root = parse_xml(body, what)
    responses: list[DavResponse] = []
    for element in root.iter(tag(DAV, "response")):
        href = element.find(tag(DAV, "href"))
        if href is None or not (href.text or "").strip():
            continue  # vdirsyncer: "Skipping response, href is missing."
        response = DavResponse(normalize_href(base, href.text.strip()  # type: ignore[union-attr]
                                              ), _status(element.findtext(tag(DAV, "status"))))
        for propstat in element.findall(tag(DAV, "propstat")):
            if _status(propstat.findtext(tag(DAV, "status"))) not in (200, None):
                continue
            prop = propstat.find(tag(DAV, "prop"))
            for child in prop if prop is not None else []:
                response.props[child.tag] = child
        responses.append(response)
    token = root.findtext(tag(DAV, "sync-token"))
    return responses, token.strip() if token else None


def _propfind_body(props: Iterable[str]) -> bytes:
    root = ET.Element(tag(DAV, "propfind"))
    prop = ET.SubElement(root, tag(DAV, "prop"))
    for name in props:
        ET.SubElement(prop, name)
    return bytes(ET.tostring(root, xml_declaration=True, encoding="utf-8"))


def is_vcard_type(content_type: str | None) -> bool:
    """Servers label vCards "text/vcard", "text/x-vcard", "text/directory;profile=vCard"… (vdirsyncer's
    `_fuzzy_matches_mimetype`); no type at all is taken as a vCard too."""
    return content_type is None or "vcard" in content_type.lower() or "directory" in content_type.lower()


@dataclass
class SyncAnswer:
    changed: list[tuple[str, str]]  # (href, etag) of members added or changed
    removed: list[str]  # hrefs of members removed
    token: str | None
    truncated: bool  # RFC 6578 §3.6: 507 on the request-URI, ask again with the new token


class DavClient:
    """One account's HTTP client for a CardDAV server, with Basic authentication."""

    def __init__(self, url: str, username: str, password: str, account: str, fix: str,
                 session: requests.Session | None = None, retries: int = 3) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.account = account
        self.fix = fix
        self.session = session or make_session(retries=0)  # retries are ours: PROPFIND and REPORT too
        self.session.auth = (username, password)
        self.retries = retries
        # Last-Modified of the cards read with GET, for the "newest wins" conflict policy
        # (Radicale answers DAV:getlastmodified in a multiget REPORT with a 404 propstat).
        self.modified: dict[str, str] = {}

    def absolute(self, href: str, base: str | None = None) -> str:
        return urljoin(base or self.url, href)

    def request(self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
                ok: tuple[int, ...] = ()) -> requests.Response:
        """Send one request. Every write we send is conditional (If-Match / If-None-Match),
        so a repeat after a lost answer gets a 412 instead of doing the write twice."""
        attempt = 0
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self.session.request(method, url, data=body, headers=headers, allow_redirects=False)
            except requests.RequestException as exc:
                if attempt < self.retries:
                    attempt += 1
                    time.sleep(backoff_seconds(attempt, scale=0.5, cap=4))
                    continue
                raise TemporaryError(f"cannot reach the CardDAV server of {self.account}: {type(exc).__name__}",
                                     "check the network and run again") from None
            status = response.status_code
            if status in RETRYABLE and attempt < self.retries:
                attempt += 1
                time.sleep(retry_after_seconds(response, default=backoff_seconds(attempt)))
                continue
            if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                # requests turns a redirected PROPFIND into a GET; RFC 6764 §5 redirects
                # /.well-known/carddav to the context path, where PROPFIND must go on.
                url = urljoin(url, response.headers["Location"])
                continue
            if status < 400 or status in ok:
                return response
            raise self.failure(response, method)
        raise ApiError(f"the CardDAV server of {self.account} redirected too often", fix=self.fix)

    def failure(self, response: requests.Response, method: str) -> ContactSyncError:
        status = response.status_code
        where = urlsplit(response.url or "").path
        if status == 401:
            return AuthError(f"the CardDAV server refused the user name or password of {self.account}", self.fix)
        if status == 412:
            return StaleVersion(f"{where} changed on the CardDAV server of {self.account} since it was read",
                                status=status)
        if status in RETRYABLE or status >= 500:
            return TemporaryError(f"the CardDAV server of {self.account} is busy or failing (HTTP {status} on "
                                  f"{method})", "run again later")
        return ApiError(f"the CardDAV server of {self.account} refused {method} {where} (HTTP {status})",
                        status=status, fix=self.fix if status in (403, 404, 405) else None)

    # -- reading ------------------------------------------------------------------------------

    def propfind(self, url: str, props: Iterable[str], depth: str) -> list[DavResponse]:
        response = self.request("PROPFIND", url, body=_propfind_body(props),
                                headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})
        return parse_multistatus(response.url or url, response.content, "PROPFIND")[0]

    def report(self, url: str, body: bytes, depth: str, ok: tuple[int, ...] = ()) -> requests.Response:
        return self.request("REPORT", url, body=body, ok=ok,
                            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})

    def sync_collection(self, book: str, token: str | None) -> SyncAnswer:
        """One sync-collection REPORT (RFC 6578 §3.2); raises CursorExpired on an invalid token."""
        root = ET.Element(tag(DAV, "sync-collection"))
        ET.SubElement(root, tag(DAV, "sync-token")).text = token or ""
        ET.SubElement(root, tag(DAV, "sync-level")).text = "1"
        ET.SubElement(ET.SubElement(root, tag(DAV, "prop")), tag(DAV, "getetag"))
        url = self.absolute(book)
        # Depth 0: the only value RFC 6578 §3.2 defines for this report.
        response = self.report(url, ET.tostring(root, xml_declaration=True, encoding="utf-8"), "0",
                               ok=(400, 403, 409, 410))
        if response.status_code >= 400:
            # RFC 6578 §3.2: an unknown or expired token fails the DAV:valid-sync-token
            # precondition, with 403 (Radicale, sabre/dav) or 409 on some servers.
            if b"valid-sync-token" in response.content or response.status_code == 410:
                raise CursorExpired(f"the CardDAV server no longer accepts the sync token of {self.account}",
                                    "a full listing is read instead")
            raise self.failure(response, "REPORT sync-collection")
        responses, new_token = parse_multistatus(response.url or url, response.content, "sync-collection")
        own = normalize_href(url, url)
        changed: list[tuple[str, str]] = []
        removed: list[str] = []
        truncated = False
        for item in responses:
            if item.href == own:
                truncated = truncated or item.status == 507
                continue
            if item.status == 404:
                removed.append(item.href)
            elif item.href.endswith("/"):
                continue  # a sub-collection, not a card
            else:
                changed.append((item.href, item.text(tag(DAV, "getetag")) or ""))
        return SyncAnswer(changed, removed, new_token, truncated)

    def list_etags(self, book: str) -> dict[str, str]:
        """href -> ETag of every card of an address book: PROPFIND Depth 1, not addressbook-query,
        which some servers answer wrongly (vdirsyncer #83, Zimbra)."""
        url = self.absolute(book)
        own = normalize_href(url, url)
        found: dict[str, str] = {}
        props = (tag(DAV, "resourcetype"), tag(DAV, "getcontenttype"), tag(DAV, "getetag"))
        for item in self.propfind(url, props, "1"):
            resourcetype = item.props.get(tag(DAV, "resourcetype"))
            is_collection = resourcetype is not None and resourcetype.find(tag(DAV, "collection")) is not None
            etag = item.text(tag(DAV, "getetag"))
            if item.href == own or is_collection or not etag:
                continue
            if is_vcard_type(item.text(tag(DAV, "getcontenttype"))):
                found[item.href] = etag
        return found

    def multiget(self, book: str, hrefs: list[str]) -> Iterator[tuple[str, str, str | None, str | None]]:
        """(href, etag, vCard text, last modified) of each href, in batches (RFC 6352 §8.7)."""
        url = self.absolute(book)
        for start in range(0, len(hrefs), MULTIGET_BATCH):
            batch = hrefs[start:start + MULTIGET_BATCH]
            root = ET.Element(tag(CARD, "addressbook-multiget"))
            prop = ET.SubElement(root, tag(DAV, "prop"))
            for name in (tag(DAV, "getetag"), tag(DAV, "getlastmodified"), tag(CARD, "address-data")):
                ET.SubElement(prop, name)
            for href in batch:
                ET.SubElement(root, tag(DAV, "href")).text = href
            response = self.report(url, ET.tostring(root, xml_declaration=True, encoding="utf-8"), "1")
            responses, _ = parse_multistatus(response.url or url, response.content, "addressbook-multiget")
            for item in responses:
                if item.status == 404 or item.href not in batch:
                    continue  # gone since it was listed, or not asked for
                yield (item.href, item.text(tag(DAV, "getetag")) or "", item.text(tag(CARD, "address-data")),
                       item.text(tag(DAV, "getlastmodified")))

    def get(self, href: str) -> tuple[str, str] | None:
        """(vCard text, ETag) of one card, None when it is gone."""
        response = self.request("GET", self.absolute(href), ok=(404, 410))
        if response.status_code in (404, 410):
            return None
        etag = response.headers.get("ETag") or self.etag(href)
        if response.headers.get("Last-Modified"):
            self.modified[href] = response.headers["Last-Modified"]
        response.encoding = response.encoding or "utf-8"
        return response.text, etag or ""

    def etag(self, href: str) -> str | None:
        found = self.propfind(self.absolute(href), (tag(DAV, "getetag"),), "0")
        return found[0].text(tag(DAV, "getetag")) if found else None

    # -- writing ------------------------------------------------------------------------------

    def put(self, href: str, text: str, etag: str | None) -> str | None:
        """Create (`etag` None: If-None-Match: *) or replace (If-Match) one card; its new ETag,
        or None when the server changed what we sent and so gave none (RFC 7231 §4.3.4)."""
        headers = {"Content-Type": "text/vcard; charset=utf-8"}
        if etag is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = etag
        # Text read from a server is valid UTF-8; "replace" only guards against what never came from one.
        response = self.request("PUT", self.absolute(href), body=text.encode("utf-8", "replace"), headers=headers)
        return response.headers.get("ETag")

    def delete(self, href: str, etag: str | None) -> None:
        headers = {"If-Match": etag} if etag else {}
        self.request("DELETE", self.absolute(href), headers=headers, ok=(404, 410))



# -- discovery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressBook:
    href: str
    name: str
    sync_token: bool  # the collection offers sync-collection (RFC 6578 §3.1, DAV:sync-token)


def _href_of(response: DavResponse, name: str) -> str | None:
    element = response.props.get(name)
    href = element.find(tag(DAV, "href")) if element is not None else None
    return href.text.strip() if href is not None and href.text else None


def _is_book(response: DavResponse) -> bool:
    resourcetype = response.props.get(tag(DAV, "resourcetype"))
    return resourcetype is not None and resourcetype.find(tag(CARD, "addressbook")) is not None


HOME_PROPS = (tag(DAV, "current-user-principal"), tag(CARD, "addressbook-home-set"), tag(DAV, "resourcetype"))


def discover_home(client: DavClient) -> str:
    """The absolute URL of the user's address-book home (RFC 6352 §7.1, RFC 6764 §6).

    Tried in turn: the URL itself (a home, or a principal), its current-user-principal,
    then /.well-known/carddav on its host. A URL that is an address book is taken as
    its own home's only book. iCloud answers the principal on contacts.icloud.com and
    puts the home on another host (pNN-contacts.icloud.com), hence absolute URLs.
    """
    candidates = [client.url, urljoin(client.url, "/.well-known/carddav")]
    last: ContactSyncError | None = None
    for url in candidates:
        try:
            found = client.request("PROPFIND", url, body=_propfind_body(HOME_PROPS), headers={"Depth": "0"})
        except (ApiError, TemporaryError) as exc:
            last = exc
            continue
        base = found.url or url
        responses, _ = parse_multistatus(base, found.content, "PROPFIND")
        if not responses:
            continue
        first = responses[0]
        if _is_book(first):
            return urljoin(base, first.href)
        home = _href_of(first, tag(CARD, "addressbook-home-set"))
        if home:
            return urljoin(base, home).rstrip("/") + "/"
        principal = _href_of(first, tag(DAV, "current-user-principal"))
        if principal:
            principal_url = urljoin(base, principal)
            for item in client.propfind(principal_url, (tag(CARD, "addressbook-home-set"),), "0"):
                home = _href_of(item, tag(CARD, "addressbook-home-set"))
                if home:
                    return urljoin(principal_url, home).rstrip("/") + "/"
    if isinstance(last, TemporaryError):
        raise last
    raise ApiError(f"no CardDAV address books found at {client.url} for {client.account}",
                   fix="pass the address-book URL your provider documents as --url (see the README)")


def address_books(client: DavClient, home: str, depth: str = "1") -> list[AddressBook]:
    """The address books in the home (or the home itself when it is one); with depth "0",
    only `home` itself when it is an address book."""
    props = (tag(DAV, "resourcetype"), tag(DAV, "displayname"), tag(DAV, "sync-token"),
             tag(DAV, "supported-report-set"))
    books: list[AddressBook] = []
    for item in client.propfind(home, props, depth):
        if not _is_book(item):
            continue
        reports = item.props.get(tag(DAV, "supported-report-set"))
        has_sync = item.text(tag(DAV, "sync-token")) is not None or (
            reports is not None and reports.find(f".//{tag(DAV, 'sync-collection')}") is not None)
        name = item.text(tag(DAV, "displayname")) or unquote(item.href.rstrip("/").rsplit("/", 1)[-1])
        books.append(AddressBook(item.href, name, has_sync))
    return books
