"""Migration 0003 upgrades a state.db written by the schema before it, in place."""

from __future__ import annotations

import json
import sqlite3

from contactsync.model import Contact
from contactsync.store import LinkStore
from contactsync.store.migrations import MIGRATIONS, migrate

ACC = "google:ann@example.com"


def old_state(path) -> None:
    """A state.db as 0001+0002 wrote it: a pending copy as a 'crm-pending:N' link, a person failure as 'crm:N'."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, [m for m in MIGRATIONS if m[0] < "0003"])
    cy = json.dumps(Contact(name="Cy").to_dict())
    conn.execute("INSERT INTO links VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (ACC, "crm-pending:42", None, "pending", "", None, None, None, cy, "2026-01-01T00:00:00+00:00"))
    conn.execute("INSERT INTO links VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (ACC, "people/c1", 7, "linked", "google:ann@example.com:people/c1", "e1", "t1", "h", cy,
                  "2026-01-01T00:00:00+00:00"))
    conn.execute("INSERT INTO failures (account, provider_id, reason, record, first_at, last_at) VALUES (?,?,?,?,?,?)",
                 (ACC, "crm:9", "HTTP 500", json.dumps({"crm_id": 9}), "2026-01-01", "2026-01-01"))
    conn.execute("INSERT INTO failures (account, provider_id, reason, record, first_at, last_at) VALUES (?,?,?,?,?,?)",
                 (ACC, "people/c2", "HTTP 500", json.dumps({"id": "people/c2", "deleted": True}), "2026-01-01",
                  "2026-01-01"))
    conn.close()


def test_an_existing_state_file_is_upgraded_in_place(tmp_path):
    path = tmp_path / "state.db"
    old_state(path)
    store = LinkStore.open(path)
    try:
        assert [m for m in store.migrations() if m.startswith("0003")] == ["0003_pending_copies_and_failure_kinds"]
        assert {i: Contact.from_dict(c) for i, c in store.pending_copies(ACC).items()} == {42: Contact(name="Cy")}
        assert [link.provider_id for link in store.iter_links(ACC, ("pending", "linked"))] == ["people/c1"]
        kinds = {f.provider_id: (f.kind, f.crm_id) for f in store.failures(ACC)}
        assert kinds == {"crm:9": ("person", 9), "people/c2": ("contact", None)}
        store.clear_person_failure(ACC, 9)
        assert [f.provider_id for f in store.failures(ACC)] == ["people/c2"]
    finally:
        store.close()
    again = LinkStore.open(path)  # opening again applies nothing twice
    try:
        assert list(again.pending_copies(ACC)) == [42]
    finally:
        again.close()


def test_migrations_are_ordered_and_named_once():
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert names.index("0005_event_names") > names.index("0004_crm_caches")


def test_a_transaction_writes_all_of_an_action_or_nothing():
    from contactsync.store.db import Link

    store = LinkStore.memory()
    link = Link(ACC, "people/c1", 7, "linked", "stamp", "e1")
    try:
        with store.transaction():
            store.put_link(link)
            with store.transaction():  # a nested one joins the outer
                store.add_failure(ACC, "people/c1", "HTTP 500", None)
            raise KeyboardInterrupt("killed between two writes of one action")
    except KeyboardInterrupt:
        pass
    assert store.link(ACC, "people/c1") is None and store.failures(ACC) == []
    with store.transaction():
        store.put_link(link)
    assert store.link(ACC, "people/c1") == link
