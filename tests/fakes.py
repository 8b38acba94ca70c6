"""In-memory adapters for engine tests: the boundary faked, not our own functions."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from dataclasses import replace

from contactsync.crm.base import STAMP_FIELD, Crm, CrmPerson, CrmUser, Crop, PersonChange, PersonWrite
from contactsync.errors import ApiError, NotFound, StaleVersion
from contactsync.model import Contact
from contactsync.providers.base import (
    Capabilities,
    Change,
    ChangeFeed,
    Group,
    Provider,
    ProviderDeletion,
    ProviderRecord,
)


# One clock for both fakes, a second per change from now on, so that update times
# order the two sides' edits as they happened (the "newest" conflict policy).
_CLOCK = itertools.count(int(time.time()))


def _now() -> str:
    moment = datetime.fromtimestamp(next(_CLOCK), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ListFeed(ChangeFeed):
    def __init__(self, changes: list[Change], complete: bool, cursor: str, page_size: int = 3) -> None:
        self._changes = changes
        self.complete = complete
        self.cursor = cursor
        self.page_size = page_size

    def pages(self) -> Iterator[list[Change]]:
        for start in range(0, len(self._changes), self.page_size):
            yield self._changes[start : start + self.page_size]


class FakeProvider(Provider):
    kind = "google"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.contacts: dict[str, tuple[str, Contact, set[str]]] = {}
        self.log: list[tuple[int, str, str | None]] = []  # (tick, id, None = deleted)
        self.tick = 0
        self._ids = itertools.count(1)
        self.fail_listing = False
        self.photos: dict[str, bytes] = {}
        self.photo_refs: dict[str, str | None] = {}
        self.writes: list[tuple[str, str]] = []
        self.fail_writes = False
        self.updated: dict[str, str] = {}

    # -- test controls --
    def put(self, contact: Contact, id: str | None = None, groups: set[str] | None = None,
            photo: str | None = None) -> str:
        id = id or f"people/c{next(self._ids)}"
        self.photo_refs[id] = photo
        self.tick += 1
        self.contacts[id] = (f"v{self.tick}", contact, groups if groups is not None else {"all"})
        self.updated[id] = _now()
        self.log.append((self.tick, id, id))
        return id

    def remove(self, id: str) -> None:
        self.tick += 1
        del self.contacts[id]
        self.log.append((self.tick, id, None))

    # -- Provider --
    def check(self) -> None:
        pass

    def groups(self) -> list[Group]:
        return [Group("all", "All", is_default=True)]

    def default_group(self) -> Group:
        return self.groups()[0]

    def changes(self, cursor: str | None, group: str) -> ChangeFeed:
        if self.fail_listing:
            raise ApiError("listing failed", 500)
        if cursor is None:
            records: list[Change] = [
                self._record(id) for id, (v, c, g) in self.contacts.items() if group in g
            ]
            return ListFeed(records, True, str(self.tick))
        since = int(cursor)
        out: list[Change] = []
        for tick, id, alive in self.log:
            if tick <= since:
                continue
            if alive is None or id not in self.contacts or group not in self.contacts[id][2]:
                out.append(ProviderDeletion(id))
            else:
                out.append(self._record(id))
        return ListFeed(out, False, str(self.tick))

    # -- writes (two-way sync); every write is logged in `writes` --
    def _record(self, id: str) -> ProviderRecord:
        version, contact, _ = self.contacts[id]
        return ProviderRecord(id, version, contact, self.photo_refs.get(id), self.updated.get(id))

    def create(self, contact: Contact, group: str) -> ProviderRecord:
        self.writes.append(("create", contact.name))
        if self.fail_writes:
            raise ApiError("the provider refused the write", 500)
        id = self.put(contact, groups={group, "all"})
        return self._record(id)

    def update(self, id: str, contact: Contact, version: str) -> ProviderRecord:
        self.writes.append(("update", id))
        if self.fail_writes:
            raise ApiError("the provider refused the write", 500)
        if id not in self.contacts:
            raise NotFound(f"{id} not found", 404)
        if self.contacts[id][0] != version:
            raise StaleVersion(f"{id}: stale version {version}", 400)
        self.put(contact, id=id, groups=self.contacts[id][2], photo=self.photo_refs.get(id))
        return self._record(id)

    def delete(self, id: str) -> None:
        self.writes.append(("delete", id))
        if self.fail_writes:
            raise ApiError("the provider refused the write", 500)
        if id in self.contacts:
            self.remove(id)

    def get(self, id: str) -> ProviderRecord | None:
        return self._record(id) if id in self.contacts else None

    def get(self, id: str) -> ProviderRecord | None:
        if id not in self.contacts:
            return None
        v, c, _ = self.contacts[id]
        return ProviderRecord(id, v, c, self.photo_refs.get(id))

    def photo(self, id: str, ref: str) -> bytes | None:
        return self.photos.get(ref)


class FakeCrm(Crm):
    def __init__(self, user_id: int = 1) -> None:
        self.user = CrmUser(user_id, "Ann", "ann@example.com", True)
        self.persons: dict[int, CrmPerson] = {}
        self.orgs: dict[str, int] = {}
        self.fields: dict[str, str] = {}
        self._ids = itertools.count(100)
        self.calls: list[str] = []
        self.fail_create_for: set[str] = set()  # names whose create raises ApiError
        self.crash_after_create = False
        self.pictures: dict[int, tuple[bytes, str, Crop | None]] = {}
        # Every change, deletions included, as Pipedrive's recents lists them (None: not offered).
        self.changelog: list[PersonChange] | None = []

    def _tick(self) -> str:
        return _now()  # versions are RFC 3339 update times, like Pipedrive's

    def _changed(self, id: int, deleted: bool = False) -> None:
        if self.changelog is None:
            return
        person = self.persons.get(id)
        version = person.version if person is not None and not deleted else self._tick()
        self.changelog.append(PersonChange(id, version, person.owner_id if person else None, deleted))

    def recent_changes(self, since: str) -> Iterator[PersonChange] | None:
        if self.changelog is None:
            return None
        return iter(sorted((c for c in self.changelog if c.version >= since), key=lambda c: c.version))

    # -- test controls: a user working in the CRM --
    def edit(self, id: int, **changes: object) -> None:
        person = self.persons[id]
        self.persons[id] = replace(person, version=self._tick(), contact=replace(person.contact, **changes))
        self._changed(id)

    def remove(self, id: int) -> None:
        del self.persons[id]
        self._changed(id, deleted=True)

    def add(self, contact: Contact, owner_id: int | None = None) -> int:
        id = next(self._ids)
        self.persons[id] = CrmPerson(id, self._tick(), owner_id or self.user.id, contact)
        self._changed(id)
        return id

    def give_away(self, id: int, owner_id: int) -> None:
        self.persons[id] = replace(self.persons[id], owner_id=owner_id, version=self._tick())
        self._changed(id)

    def me(self) -> CrmUser:
        return self.user

    def missing_permissions(self, user: CrmUser) -> list[str]:
        return []

    def ensure_fields(self, known: dict[str, str]) -> dict[str, str]:
        self.fields.setdefault(STAMP_FIELD, "stampkey")
        return dict(self.fields)

    def missing_fields(self, known: dict[str, str]) -> list[str]:
        return [] if STAMP_FIELD in self.fields else [STAMP_FIELD]

    def find_org(self, name: str) -> int | None:
        return self.orgs.get(name)

    def find_or_create_org(self, name: str, visible_to: int | None = None) -> int:
        if name not in self.orgs:
            self.orgs[name] = next(self._ids)
        return self.orgs[name]

    def _person(self, id: int, write: PersonWrite, owner: int | None, version: str) -> CrmPerson:
        org = next((n for n, i in self.orgs.items() if i == write.org_id), "")
        return CrmPerson(id, version, owner, replace(write.contact, organization=org), write.stamp, write.org_id)

    def create(self, write: PersonWrite) -> CrmPerson:
        self.calls.append("create")
        if write.contact.name in self.fail_create_for:
            raise ApiError(f"refused {write.contact.name}", 400)
        id = next(self._ids)
        self.persons[id] = self._person(id, write, write.owner_id, self._tick())
        self._changed(id)
        if self.crash_after_create:
            raise KeyboardInterrupt("simulated crash after the create returned")
        return self.persons[id]

    def update(self, id: int, write: PersonWrite) -> CrmPerson:
        self.calls.append("update")
        if id not in self.persons:
            raise NotFound(f"person {id} not found", 404)
        old = self.persons[id]
        self.persons[id] = replace(self._person(id, write, old.owner_id, self._tick()), has_picture=old.has_picture,
                                   stamp=write.stamp or old.stamp)
        self._changed(id)
        return self.persons[id]

    def delete(self, id: int) -> None:
        self.calls.append("delete")
        if self.persons.pop(id, None) is not None:
            self._changed(id, deleted=True)

    def get(self, id: int) -> CrmPerson | None:
        return self.persons.get(id)

    def get_many(self, ids: list[int]) -> dict[int, CrmPerson]:
        return {id: self.persons[id] for id in ids if id in self.persons}

    def set_picture(self, id: int, image: bytes, mime: str, crop: Crop | None) -> None:
        self.calls.append("set_picture")
        self.pictures[id] = (image, mime, crop)
        self.persons[id] = replace(self.persons[id], has_picture=True)

    def list_persons(self, owner_id: int | None = None, updated_since: str | None = None) -> Iterator[CrmPerson]:
        return iter(sorted(
            (p for p in self.persons.values()
             if (owner_id is None or p.owner_id == owner_id) and (updated_since is None or p.version >= updated_since)),
            key=lambda p: p.version,
        ))

    def find_by_stamp(self, stamp: str) -> CrmPerson | None:
        self.calls.append("find_by_stamp")
        return next((p for p in self.persons.values() if p.stamp == stamp), None)

    def find_by_email(self, email: str, owner_id: int) -> list[CrmPerson]:
        return [p for p in self.persons.values() if p.owner_id == owner_id and p.contact.primary_email == email]
