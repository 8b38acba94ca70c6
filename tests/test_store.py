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
