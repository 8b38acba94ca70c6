"""CardDAV address books (RFC 6352): iCloud, Fastmail, Nextcloud and any standard server.

Ids are the cards' hrefs (paths), versions their ETags. A sync group is an
address book, or a group card inside one (iCloud keeps groups as vCards with
``X-ADDRESSBOOKSERVER-KIND:group``): then its id is ``BOOK#GROUPCARD``.

Reads are incremental with sync-collection (RFC 6578) where the address book
offers it; elsewhere each pass compares the ETags of a PROPFIND listing with the
ones of the last pass. Writes are conditional: ``If-None-Match: *`` on create,
``If-Match`` on update and delete, so a write never overwrites an edit made in
between and a write repeated after a lost answer is refused instead of applied twice.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import requests

from contactsync.errors import ApiError, CursorExpired, NotFound, StaleVersion
from contactsync.http import make_session
from contactsync.model import Contact, normalise
from contactsync.providers.base import (
    Capabilities, Change, ChangeFeed, Group, Provider, ProviderDeletion, ProviderRecord, ProviderSkip,
    fields_key,
)
from contactsync.providers.carddav_dav import AddressBook, DavClient, address_books, normalize_href
from contactsync.providers.carddav_vcard import Card, MalformedCard, photo_bytes, read_card
from contactsync.providers.carddav_vcard_write import group_card_with, new_card, update_card

log = logging.getLogger("contactsync.carddav")

# `--url icloud` / `--url fastmail`: the addresses the providers document
# (vdirsyncer's docs/config for iCloud; Fastmail's "Server names and ports" help page).
PRESETS = {"icloud": "https://contacts.icloud.com/", "fastmail": "https://carddav.fastmail.com/"}
GROUP_MARK = "#"
# Cursors are tagged with the mapping they were taken with: a release that reads
# more of a card starts over with one full listing (as for Google and Graph).
CURSOR_KEY = fields_key("carddav-vcard-1")
PAGE_SIZE = 100
MAX_PHOTO_BYTES = 10_000_000
STALE_GROUP_RETRIES = 3


def preset_url(url: str) -> str:
    return PRESETS.get(url.strip().lower(), url.strip())


@dataclass(frozen=True)
class Unreadable:
    """A card that could not be read: left as it is, reported with its href and reason."""

    href: str
    reason: str


def _rfc3339(http_date: str | None) -> str | None:
    if not http_date:
        return None
    try:
        return parsedate_to_datetime(http_date).isoformat().replace("+00:00", "Z")
    except (TypeError, ValueError):
        return None


def _pack_etags(etags: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(zlib.compress(json.dumps(etags, sort_keys=True).encode())).decode()


def _unpack_etags(value: str) -> dict[str, str]:
    try:
        data = json.loads(zlib.decompress(base64.urlsafe_b64decode(value.encode())))
    except (ValueError, zlib.error):
        raise CursorExpired("the stored CardDAV listing cannot be read", "a full listing is read instead") from None
    if not isinstance(data, dict):
        raise CursorExpired("the stored CardDAV listing cannot be read", "a full listing is read instead")
    return {str(k): str(v) for k, v in data.items()}


def split_group(group: str) -> tuple[str, str | None]:
    """(address book href, group card href or None) of a group id."""
    book, mark, card = group.partition(GROUP_MARK)
    return book, (card if mark else None)


class CardDavFeed(ChangeFeed):
    """The changes of one address book, or of the members of one group card in it."""

    def __init__(self, provider: CardDavProvider, group: str, cursor: str | None) -> None:
        self.provider = provider
        self.client = provider.client
        self.book, self.group_card = split_group(group)
        self.cursor = None
        self.unreadable: list[Unreadable] = []
        self._token: str | None = None
        self._etags: dict[str, str] | None = None
        self._changed: list[tuple[str, str]] = []
        self._removed: list[str] = []
        kind, _, value = (cursor or "").partition(":")
        tag, _, kind = kind.rpartition("|")
        if cursor and (tag != CURSOR_KEY or kind not in ("sync", "etags")):
            raise CursorExpired(f"the sync cursor of {provider.account} was taken with another mapping",
                                "a full listing is read instead")
        self.complete = cursor is None
        # The first requests are sent now so that an expired cursor surfaces from changes().
        if kind == "sync":
            self._sync(value)
        elif kind == "etags":
            self._compare(_unpack_etags(value))
        else:
            self._full()
        if self.group_card and not self.complete and (
                self.group_card in self._removed or any(h == self.group_card for h, _ in self._changed)):
            # The group's membership changed: who joined or left is known only from a full listing.
            self.complete = True
            self._changed, self._removed = [], []
            self._full_listing_only()
        self._group_members: set[str] | None = None
        if self.complete:
            # A full listing's size, for a progress display: the hrefs the listing gave, or the
            # members the group card names (read now instead of in pages(): no extra request).
            if self.group_card:
                self._group_members = self._members()
                self.expected = len(self._group_members or ())
            else:
                self.expected = len(self._changed)

    def _book_has_sync(self) -> bool:
        books = address_books(self.client, self.provider.absolute(self.book), depth="0")
        return bool(books) and books[0].sync_token

    def _full(self) -> None:
        if self._book_has_sync():
            try:
                self._sync("")
                return
            except ApiError as exc:
                # Advertised but refused: fruux answered 415 to a valid sync-collection
                # (sabre-io/dav#1075), other servers 403 supported-report or 501.
                if exc.status not in (400, 403, 405, 415, 501):
                    raise
                log.info("%s: the server refused sync-collection (HTTP %s); comparing ETags instead",
                         self.provider.account, exc.status)
        self._full_listing_only()

    def _full_listing_only(self) -> None:
        self._etags = self.client.list_etags(self.book)
        self._changed = sorted(self._etags.items())

    def _sync(self, token: str) -> None:
        """sync-collection until the server stops truncating (RFC 6578 §3.6: a 507 on the
        request-URI means more changes wait; ask again with the token it gave)."""
        rounds = 0
        changed: dict[str, str] = {}
        removed: set[str] = set()
        while True:
            answer = self.client.sync_collection(self.book, token or None)
            for href, etag in answer.changed:
                changed[href] = etag
                removed.discard(href)
            for href in answer.removed:
                changed.pop(href, None)
                removed.add(href)
            rounds += 1
            if not answer.truncated or not answer.token or answer.token == token or rounds > 10_000:
                break
            token = answer.token
        self._token = answer.token
        self._changed = sorted(changed.items())
        self._removed = sorted(removed)

    def _compare(self, previous: dict[str, str]) -> None:
        self._etags = self.client.list_etags(self.book)
        self._changed = sorted((h, e) for h, e in self._etags.items() if previous.get(h) != e)
        self._removed = sorted(h for h in previous if h not in self._etags)

    def _members(self) -> set[str] | None:
        if not self.group_card:
            return None
        got = self.client.get(self.group_card)
        if got is None:
            raise ApiError(f"the group {self.group_card} of {self.provider.account} is gone",
                           fix=f"choose another with `contactsync configure {self.provider.account} --group NAME`")
        return set(read_card(got[0]).members)

    def pages(self) -> Iterator[list[Change]]:
        members = self._group_members if self._group_members is not None else self._members()
        if self._removed:
            yield [ProviderDeletion(href) for href in self._removed]
        hrefs = [href for href, _ in self._changed if href != self.group_card]
        for start in range(0, len(hrefs), PAGE_SIZE):
            page: list[Change] = []
            for href, etag, text, modified in self.client.multiget(self.book, hrefs[start:start + PAGE_SIZE]):
                known = len(self.unreadable)
                record = self.provider.record(href, etag, text, modified, self.unreadable)
                if len(self.unreadable) > known:
                    # Reported with its href and reason, left as it is, and present: never a deletion.
                    page.append(ProviderSkip(href, self.unreadable[-1].reason))
                if record is None:
                    continue
                if members is not None and record[1].uid not in members:
                    # Not in the group. One that left it did so by a change of the group
                    # card, and that change made this feed a full listing of the group.
                    continue
                page.append(record[0])
            yield page
        if self._etags is not None:
            self.cursor = f"{CURSOR_KEY}|etags:{_pack_etags(self._etags)}"
        elif self._token:
            self.cursor = f"{CURSOR_KEY}|sync:{self._token}"


class CardDavProvider(Provider):
    kind = "carddav"
    capabilities = Capabilities(supports_incremental=True, supports_write=True, supports_photo=True,
                                syncs_notes=True)

    def __init__(self, client: DavClient, home: str, account: str) -> None:
        self.client = client
        self.home = home if home.endswith("/") else home + "/"
        self.account = account
        # ETags seen in this session, for If-Match on delete (Provider.delete takes no version).
        self._etags: dict[str, str] = {}
        self._books: list[AddressBook] | None = None

    def absolute(self, href: str) -> str:
        return self.client.absolute(href, self.home)

    def check(self) -> None:
        self.client.propfind(self.home, ("{DAV:}resourcetype",), "0")

    def books(self) -> list[AddressBook]:
        if self._books is None:
            self._books = address_books(self.client, self.home)
        return self._books

    def groups(self) -> list[Group]:
        found: list[Group] = []
        for index, book in enumerate(self.books()):
            cards: list[Card] = []
            hrefs = sorted(self.client.list_etags(book.href))
            group_cards: list[tuple[str, Card]] = []
            for href, _, text, _ in self.client.multiget(book.href, hrefs):
                try:
                    card = read_card(text or "")
                except MalformedCard:
                    continue
                (group_cards.append((href, card)) if card.is_group else cards.append(card))
            found.append(Group(book.href, book.name, len(cards), index == 0))
            for href, card in sorted(group_cards, key=lambda g: g[1].contact.name.lower()):
                found.append(Group(f"{book.href}{GROUP_MARK}{href}", f"{book.name} / {card.contact.name}",
                                   len(card.members)))
        return found

    def default_group(self) -> Group:
        books = self.books()
        if not books:
            raise ApiError(f"the CardDAV account {self.account} has no address book",
                           fix="create one in your provider's contacts app, then run again")
        return Group(books[0].href, books[0].name, None, True)

    def changes(self, cursor: str | None, group: str) -> ChangeFeed:
        return CardDavFeed(self, group, cursor)

    def record(self, href: str, etag: str, text: str | None, modified: str | None,
               unreadable: list[Unreadable] | None = None) -> tuple[ProviderRecord, Card] | None:
        """The record of one card; None for a group card or an unreadable one (then reported)."""
        try:
            card = read_card(text or "")
        except MalformedCard as exc:
            log.warning("%s: skipped the card %s: %s", self.account, href, exc)
            if unreadable is not None:
                unreadable.append(Unreadable(href, str(exc)))
            return None
        if card.is_group:
            return None
        self._etags[href] = etag
        photo = card.photo.ref() if card.photo else None
        return ProviderRecord(href, etag, card.contact, photo, _rfc3339(modified) or card.updated), card

    def _read(self, href: str) -> tuple[ProviderRecord, Card, str] | None:
        got = self.client.get(href)
        if got is None:
            return None
        text, etag = got
        try:
            card = read_card(text)
        except MalformedCard as exc:
            raise ApiError(f"the card {href} of {self.account} cannot be read: {exc}") from None
        self._etags[href] = etag
        photo = card.photo.ref() if card.photo else None
        updated = _rfc3339(self.client.modified.get(href)) or card.updated
        return ProviderRecord(href, etag, card.contact, photo, updated), card, text

    def get(self, id: str) -> ProviderRecord | None:
        found = self._read(id)
        return found[0] if found else None

    def create(self, contact: Contact, group: str) -> ProviderRecord:
        book, group_card = split_group(group)
        uid, text = new_card(contact)
        # The resource name is ours and derived from the UID: a PUT repeated after a
        # lost answer finds its own card there (412) instead of making a second one.
        href = normalize_href(self.absolute(book), book.rstrip("/") + "/" + quote(uid, safe="") + ".vcf")
        try:
            self.client.put(href, text, None)
        except StaleVersion:
            pass  # something is at our href already: below, it must be our card
        found = self._read(href)
        if found is None or found[1].uid != uid:
            raise ApiError(f"could not create a card at {href} for {self.account}: the server kept another there")
        if group_card:
            self._set_member(group_card, uid, True)
        return found[0]

    def update(self, id: str, contact: Contact, version: str) -> ProviderRecord:
        found = self._read(id)
        if found is None:
            raise NotFound(f"the card {id} of {self.account} is gone", status=404)
        record, _, text = found
        if record.version != version:
            raise StaleVersion(f"the card {id} of {self.account} changed since it was read", status=412)
        updated = update_card(text, contact)
        if updated == text:
            return record
        etag = self.client.put(id, updated, version)
        if etag is None:
            # The server changed what we sent and gave no ETag (RFC 7231 §4.3.4): read it back.
            again = self.get(id)
            if again is None:
                raise NotFound(f"the card {id} of {self.account} is gone", status=404)
            return again
        self._etags[id] = etag
        card = read_card(updated)
        return ProviderRecord(id, etag, card.contact, card.photo.ref() if card.photo else None, card.updated)

    def delete(self, id: str) -> None:
        self.client.delete(id, self._etags.get(id))
        self._etags.pop(id, None)

    def _set_member(self, group_card: str, uid: str, present: bool) -> None:
        for _ in range(STALE_GROUP_RETRIES):
            got = self.client.get(group_card)
            if got is None:
                raise ApiError(f"the group {group_card} of {self.account} is gone")
            try:
                self.client.put(group_card, group_card_with(got[0], uid, present), got[1])
                return
            except StaleVersion:
                continue
        raise ApiError(f"the group {group_card} of {self.account} kept changing; the contact was not added to it")

    def representable(self, contact: Contact) -> Contact:
        """What a card holds of `contact` once written and read back (one address, IM services
        by their URI scheme); a contact read from a card is unchanged by it."""
        return read_card(new_card(normalise(contact), uid="x")[1]).contact

    def photo(self, id: str, ref: str) -> bytes | None:
        if ref.startswith("uri:"):
            return self._photo_uri(ref[4:])
        got = self.client.get(id)
        return photo_bytes(got[0]) if got else None

    def _photo_uri(self, uri: str) -> bytes | None:
        if uri.startswith("data:") or not uri.startswith(("http://", "https://")):
            return None
        same_host = urlsplit(uri).netloc == urlsplit(self.home).netloc
        # The account's password goes only to the account's own server.
        session = self.client.session if same_host else make_session()
        try:
            response = session.get(uri, stream=True)
        except requests.RequestException:
            return None
        with response:
            if response.status_code != 200:
                return None
            data = response.raw.read(MAX_PHOTO_BYTES + 1, decode_content=True)
        return data if data and len(data) <= MAX_PHOTO_BYTES else None
