"""The contract every contact provider adapter fulfils (DESIGN §4)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from contactsync.errors import ApiError, ContactSyncError, CursorExpired
from contactsync.model import Contact


@dataclass(frozen=True)
class Group:
    """A selectable sync group: a Google contact group or a Microsoft contact folder."""

    id: str
    name: str
    member_count: int | None = None
    is_default: bool = False


@dataclass(frozen=True)
class ProviderRecord:
    """A contact as the provider holds it now: id, version token and mapped fields."""

    id: str
    version: str
    contact: Contact
    # An opaque reference to the contact's own photo (never a generated placeholder),
    # handed back to `Provider.photo`; None when the contact has no photo.
    photo: str | None = None
    # When the provider last changed the contact (RFC 3339), for the "newest wins" policy.
    updated: str | None = None
    # Ids the provider knew this same contact by before (Google's
    # metadata.previousResourceNames): its link follows it instead of a delete + create.
    previous_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderDeletion:
    """The contact left the sync group or was deleted in the provider."""

    id: str


@dataclass(frozen=True)
class ProviderSkip:
    """A contact the adapter cannot map (no id, not an object): reported with the reason, never synced."""

    id: str
    reason: str


Change = ProviderRecord | ProviderDeletion | ProviderSkip


@dataclass(frozen=True)
class Update:
    """One contact of `Provider.update_many`: its id, the fields to write and the version they replace."""

    id: str
    contact: Contact
    version: str


# What `update_many` made of each contact: its record, or the error that refused it.
UpdateResult = ProviderRecord | ApiError


class ChangeFeed(ABC):
    """Pages of changes; `cursor` is valid only once every page has been read.

    `complete` is True when the feed is a full listing of the group: then any
    linked contact absent from it has been deleted.
    """

    complete: bool
    cursor: str | None
    # How many entries the pages will hold, when the provider says so up front
    # (Google's totalPeople); a progress display's total, never a decision's input.
    expected: int | None = None

    @abstractmethod
    def pages(self) -> Iterator[list[Change]]:
        """Yield the changes a page at a time, following the provider's paging."""


def fields_key(fields: str) -> str:
    """A short hash of the fields a cursor was taken with."""
    return hashlib.sha1(fields.encode()).hexdigest()[:8]


def join_cursor(key: str, token: str | None) -> str | None:
    """The stored cursor: the provider's token, tagged with the fields it was taken with."""
    return f"{key}|{token}" if token else None


def split_cursor(cursor: str, key: str, account: str) -> str:
    """The provider's token of a stored cursor.

    Google and Graph refuse a sync token or delta link used with other fields than
    the request that produced it, so a cursor taken before the mapped fields changed
    is reported expired: the engine then reads everything once.
    """
    tag, sep, token = cursor.partition("|")
    if not sep or tag != key or not token:
        raise CursorExpired(f"the sync cursor of {account} was taken with other fields",
                            "a full listing is read instead")
    return token


@dataclass(frozen=True)
class Capabilities:
    supports_incremental: bool = True
    supports_write: bool = True
    supports_photo: bool = False
    syncs_notes: bool = True
    max_emails: int | None = None
    max_phones: int | None = None


class Provider(ABC):
    """A provider account, already authenticated."""

    kind: str
    capabilities: Capabilities

    @abstractmethod
    def check(self) -> None:
        """Prove the grant still works (one cheap call, or none); raise AuthError if not."""

    def verify(self) -> None:
        """What `doctor` runs: a real API call that proves the grant and the access to contacts."""
        self.check()

    @abstractmethod
    def groups(self) -> list[Group]:
        """The sync groups the provider offers, the default one included."""

    @abstractmethod
    def default_group(self) -> Group:
        """The group synced when the user chose none ("My Contacts", "Contacts")."""

    @abstractmethod
    def changes(self, cursor: str | None, group: str) -> ChangeFeed:
        """Changes since `cursor`, or a full listing of `group` when it is None.

        Raises CursorExpired when the provider no longer accepts `cursor`.
        """

    @abstractmethod
    def create(self, contact: Contact, group: str) -> ProviderRecord:
        """Create a contact inside `group` (two-way sync)."""

    @abstractmethod
    def update(self, id: str, contact: Contact, version: str) -> ProviderRecord:
        """Replace the mapped fields of a contact; raise StaleVersion on a stale version."""

    def update_many(self, updates: Sequence[Update]) -> dict[str, UpdateResult]:
        """Update several contacts, one result per contact id, as `update` would one by one.

        A contact the provider refused has its ApiError (StaleVersion included) as result.
        An error of the whole account (auth, rate, network) stops the writes: the contacts
        written so far keep their results and the others have none, for the caller to
        write one at a time (and meet that error there). This default writes them one at
        a time; a provider with a batch method overrides it.
        """
        out: dict[str, UpdateResult] = {}
        for update in updates:
            try:
                out[update.id] = self.update(update.id, update.contact, update.version)
            except ApiError as exc:
                out[update.id] = exc
            except ContactSyncError:
                break
        return out

    @abstractmethod
    def delete(self, id: str) -> None:
        """Delete a contact; a contact already gone is not an error."""

    @abstractmethod
    def get(self, id: str) -> ProviderRecord | None:
        """One contact as it is now, or None when it is gone (re-read after a stale version)."""

    def representable(self, contact: Contact) -> Contact:
        """What this provider can hold of `contact` (caps, unsynced fields dropped).

        Two-way sync compares the provider's contact with this view of the last
        synced record, so that a value the provider cannot hold is not taken for
        a deletion by the user.
        """
        caps = self.capabilities
        if not caps.syncs_notes:
            contact = replace(contact, notes="")
        if caps.max_emails is not None and len(contact.emails) > caps.max_emails:
            contact = replace(contact, emails=contact.emails[:caps.max_emails])
        if caps.max_phones is not None and len(contact.phones) > caps.max_phones:
            contact = replace(contact, phones=contact.phones[:caps.max_phones])
        return contact

    @abstractmethod
    def photo(self, id: str, ref: str) -> bytes | None:
        """The bytes of the photo `ref` of contact `id`; None when it is gone."""
