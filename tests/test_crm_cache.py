"""What the CRM told us is kept across passes and read again only when it shows it changed (issue 13).

Each adapter below stands for one pass; the CrmCache goes through the store between them.
Counted in requests, never timed.
"""

from __future__ import annotations

import threading

from pipedrive_openapi import assert_log_valid
from pipedrive_support import ADMIN_TOKEN, SELLER_TOKEN

from contactsync.crm.base import PersonWrite
from contactsync.crm.cache import CrmCache
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.crm.pipedrive_orgs import PipedriveOrgs
from contactsync.model import Contact
from contactsync.sandbox.server import Fault
from contactsync.store import LinkStore

KEY = "acme-sandbox:1"


def next_pass(server, clock, store: LinkStore, previous: CrmCache | None = None,  # noqa: F811
              token: str = ADMIN_TOKEN) -> PipedriveCrm:
    """A new adapter with the cache as the store kept it after the previous pass."""
    if previous is not None:
        previous.save(store, KEY)
    return PipedriveCrm(server.url, token, clock=clock, cache=CrmCache.load(store, KEY))


def requests_of(emulator, since: int) -> list[tuple[str, str]]:  # noqa: F811
    return [(e.method, e.path) for e in emulator.log[since:]]


def test_organizations_come_from_one_listing_then_from_the_cache(server, emulator, clock):  # noqa: F811
    store = LinkStore.memory()
    crm = next_pass(server, clock, store)
    names = ["Globex", "Initech", "Lee & Partners", "New One", "New Two"]
    ids = [crm.find_or_create_org(n) for n in names]
    assert requests_of(emulator, 0) == [("GET", "/api/v2/organizations"),
                                        ("POST", "/api/v2/organizations"), ("POST", "/api/v2/organizations")]
    assert ids[:3] == [2, 3, 1]

    crm = next_pass(server, clock, store, crm.cache)
    mark = len(emulator.log)
    assert [crm.find_or_create_org(n) for n in names] == ids
    assert requests_of(emulator, mark) == []  # a later pass: no search, no listing

    # Someone adds one in the web app and renames another: one listing of what changed finds both.
    added = emulator.add_org({"name": "Made Elsewhere"})
    emulator.edit_org(ids[0], {"name": "Globex Corporation"})
    crm = next_pass(server, clock, store, crm.cache)
    mark = len(emulator.log)
    assert crm.find_or_create_org("Made Elsewhere") == added
    assert crm.find_or_create_org("Globex Corporation") == ids[0]
    assert crm.find_or_create_org("Initech") == ids[1]
    listing = [e for e in emulator.log[mark:]]
    assert [(e.method, e.path) for e in listing] == [("GET", "/api/v2/organizations")]
    assert listing[0].query.get("updated_since") and listing[0].query.get("sort_by") == ["update_time"]
    # The old name is no organization any more: a new one is made for it.
    assert crm.find_or_create_org("Globex") not in ids
    assert_log_valid(emulator)


def test_a_write_naming_a_deleted_organization_resolves_it_again(server, emulator, clock):  # noqa: F811
    store = LinkStore.memory()
    crm = next_pass(server, clock, store)
    old = crm.find_or_create_org("Short Lived")
    emulator.delete_org(old)
    crm = next_pass(server, clock, store, crm.cache)
    org = crm.find_or_create_org("Short Lived")
    assert org == old  # trusted from the cache
    person = crm.create(PersonWrite(Contact(name="Ann Lee"), org_id=org))
    assert person.org_id not in (None, old) and emulator.orgs[person.org_id]["name"] == "Short Lived"
    statuses = [(e.method, e.path, e.status) for e in emulator.log if e.path.startswith("/api/v2/persons")]
    assert statuses == [("POST", "/api/v2/persons", 400), ("POST", "/api/v2/persons", 200)]
    assert crm.cache.org_id("Short Lived") == person.org_id


def test_user_permissions_and_fields_are_read_once_then_trusted(server, emulator, clock):  # noqa: F811
    store = LinkStore.memory()
    PipedriveCrm(server.url, ADMIN_TOKEN).ensure_fields({})  # an admin made the fields at setup
    crm = next_pass(server, clock, store, token=SELLER_TOKEN)
    user = crm.me()
    assert crm.missing_permissions(user) == []
    keys = crm.ensure_fields({})
    # The first pass lists the organizations in the background; wait for that listing
    # (it may still be under way), so that it is not counted as the second pass's.
    crm.orgs._list_once()
    first = len(emulator.log)
    assert ("GET", "/api/v2/organizations") in requests_of(emulator, 0)

    crm = next_pass(server, clock, store, crm.cache, token=SELLER_TOKEN)
    assert crm.me() == user and crm.missing_permissions(user) == [] and crm.ensure_fields(keys) == keys
    assert requests_of(emulator, first) == []  # a quiet pass asks the CRM nothing


def test_a_stale_field_key_is_read_again_when_a_write_refuses_it(server, emulator, clock):  # noqa: F811
    store = LinkStore.memory()
    crm = next_pass(server, clock, store)
    keys = crm.ensure_fields({})
    crm = next_pass(server, clock, store, crm.cache)
    stale = dict(keys, Notes="0" * 40)  # e.g. the field was deleted and made again
    assert crm.ensure_fields(stale) == stale  # trusted
    mark = len(emulator.log)
    person = crm.create(PersonWrite(Contact(name="Noor Haddad", notes="met at the fair")))
    assert person.contact.notes == "met at the fair"
    assert [(e.method, e.path, e.status) for e in emulator.log[mark:]] == [
        ("POST", "/api/v2/persons", 400), ("GET", "/api/v1/personFields", 200), ("POST", "/api/v2/persons", 200)]
    assert crm.cache.get("field_keys") == keys  # the runner writes these back to the store


def test_workers_resolve_organizations_side_by_side_and_never_create_one_twice(server, emulator, clock):  # noqa: F811
    """Eight workers at once, two per new organization and two for one the CRM has: one listing,
    one create per new name, and both workers of a name get the same organization."""
    store = LinkStore.memory()
    crm = next_pass(server, clock, store)
    names = ["Nova One", "Nova Two", "Nova Three", "Globex"] * 2
    start = threading.Barrier(len(names))
    found: dict[int, int] = {}

    def work(i: int) -> None:
        start.wait()
        found[i] = crm.find_or_create_org(names[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(found[i] == found[i + 4] for i in range(4)) and len(set(found.values())) == 4
    assert sorted(requests_of(emulator, 0)) == [("GET", "/api/v2/organizations")] + [("POST", "/api/v2/organizations")] * 3
    assert found[3] == 2  # Globex, from the seed


def test_an_organization_listed_by_another_worker_meanwhile_is_found() -> None:
    """The listing of another worker (or of the read-ahead) ends between this worker's look in
    the cache and its own turn to list: the name is looked up again, not reported missing (a
    dry run would announce an organization the CRM has as one to create)."""
    listings: list[str] = []

    def call(method: str, path: str, what: str, **kwargs: object) -> dict[str, object]:
        listings.append(path)
        return {"data": [{"id": 7, "name": "Globex", "update_time": "2026-01-01T00:00:00Z"}]}

    class RacingCache(CrmCache):
        def org_id(self, name: str) -> int | None:
            found = super().org_id(name)
            if not listings:
                orgs._list_once()  # the other worker's listing ends just now
            return found

    orgs = PipedriveOrgs(call, RacingCache())
    assert orgs.find("Globex") == 7
    assert listings == ["/api/v2/organizations"]  # still one listing


def test_the_organizations_listed_ahead_are_in_the_cache_the_pass_saves(server, emulator, clock):  # noqa: F811
    """The first pass lists the organizations in the background; settle() (the runner calls it
    before saving the cache) waits for that listing, so that a slow one is not lost to the next
    pass nor sent through its rate window."""
    emulator.add_fault(Fault(path="/api/v2/organizations$", method="GET", delay=0.5))
    store = LinkStore.memory()
    crm = next_pass(server, clock, store)
    crm.me()  # a first pass: the organizations are listed ahead, beside the user
    crm.settle()
    assert crm.cache.get("orgs_since") is not None or crm.cache.orgs
    crm = next_pass(server, clock, store, crm.cache)
    mark = len(emulator.log)
    assert crm.find_org("Globex") is not None
    assert requests_of(emulator, mark) == []  # from the cache the first pass saved
