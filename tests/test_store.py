"""The store's migrations keep what an older version wrote."""

from __future__ import annotations

import sqlite3

from contactsync.store import LinkStore
from contactsync.store.migrations import MIGRATIONS, _statements


def test_a_version_1_state_file_is_migrated_without_losing_links(tmp_path):
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    name, sql = MIGRATIONS[0]
    for statement in _statements(sql):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (name,))
    conn.execute("INSERT INTO links VALUES ('acc', 'people/c1', 7, 'linked', 'stamp', 'e1', 't1', 'h', '{}', 'then')")
    conn.close()

    store = LinkStore.open(path)
    assert store.migrations() == [m[0] for m in MIGRATIONS]
    link = store.link("acc", "people/c1")
    assert link is not None and (link.crm_id, link.state, link.provider_version) == (7, "linked", "e1")
    store.put_link(link.__class__(**{**link.__dict__, "state": "foreign"}))  # the new state is accepted
    assert store.count_links("acc")["foreign"] == 1
    store.close()


def test_new_state_file_is_private(tmp_path):
    store = LinkStore.open(tmp_path / "state.db")
    store.close()
    assert (tmp_path / "state.db").stat().st_mode & 0o077 == 0


def _links(store: LinkStore, n: int) -> None:
    from contactsync.store.db import Link

    for i in range(n):
        store.put_link(Link("acc", f"c{i:04d}", i + 1, "linked" if i % 3 else "pending", f"s{i}"))


def test_links_come_in_chunks_each_its_own_query():
    store = LinkStore.memory()
    _links(store, 1001)
    chunks = list(store.link_chunks("acc", ("linked", "pending"), size=400))
    assert [len(c) for c in chunks] == [400, 400, 201]
    assert [link.provider_id for c in chunks for link in c] == [f"c{i:04d}" for i in range(1001)]
    # A write between chunks (what a caller may do) neither repeats nor skips a link.
    seen = []
    for link in store.iter_links("acc", ("linked",)):
        seen.append(link.provider_id)
        store.put_link(link.__class__(**{**link.__dict__, "crm_version": "v2"}))
    assert seen == [f"c{i:04d}" for i in range(1001) if i % 3]


def test_what_a_pass_saw_is_kept_in_a_temporary_table():
    store = LinkStore.memory()
    _links(store, 6)
    store.seen_start()
    store.seen_add([("c0000", "e1", True), ("c0001", None, False), ("c0002", "e2", True)])
    store.seen_add([("c0002", None, False)])  # present once in this pass: stays present
    assert store.seen_versions(["c0000", "c0001", "c0002", "c0005"]) == {"c0000": "e1", "c0001": None,
                                                                         "c0002": None}
    assert store.seen_present() == 2
    assert [link.provider_id for link in store.unseen_links("acc", ("linked", "pending"), size=2)] == [
        "c0001", "c0003", "c0004", "c0005"]
    store.seen_start()  # the next pass on the same connection starts afresh
    assert store.seen_present() == 0 and store.seen_versions(["c0000"]) == {}
