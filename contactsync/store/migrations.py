"""Ordered, named schema migrations; `schema_migrations` records which ran."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE links (
            account TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            crm_id INTEGER,
            -- pending: a create was sent and may have happened; linked; tombstone:
            -- the person was deleted in the CRM during one-way sync, never re-created.
            state TEXT NOT NULL CHECK (state IN ('pending', 'linked', 'tombstone')),
            stamp TEXT NOT NULL,
            provider_version TEXT,
            crm_version TEXT,
            hash TEXT,
            base TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (account, provider_id)
        );
        CREATE UNIQUE INDEX links_crm ON links (account, crm_id) WHERE crm_id IS NOT NULL;
        CREATE TABLE cursors (
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (account, name)
        );
        CREATE TABLE failures (
            account TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            record TEXT,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (account, provider_id)
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            full INTEGER NOT NULL DEFAULT 0,
            outcome TEXT,
            message TEXT
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER,
            account TEXT NOT NULL,
            at TEXT NOT NULL,
            side TEXT NOT NULL,
            action TEXT NOT NULL,
            provider_id TEXT,
            crm_id INTEGER,
            detail TEXT
        );
        CREATE INDEX events_account_at ON events (account, at);
        CREATE TABLE crm_fields (
            name TEXT PRIMARY KEY,
            key TEXT NOT NULL
        );
        """,
    ),
    (
        # Two-way sync: a person handed to another owner is neither synced back nor
        # deleted; its link is kept, marked 'foreign', until it comes back to the user.
        # SQLite cannot change a CHECK constraint in place: the table is rebuilt.
        "0002_foreign_links",
        """
        CREATE TABLE links_new (
            account TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            crm_id INTEGER,
            state TEXT NOT NULL CHECK (state IN ('pending', 'linked', 'tombstone', 'foreign')),
            stamp TEXT NOT NULL,
            provider_version TEXT,
            crm_version TEXT,
            hash TEXT,
            base TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (account, provider_id)
        );
        INSERT INTO links_new SELECT account, provider_id, crm_id, state, stamp, provider_version, crm_version,
            hash, base, updated_at FROM links;
        DROP TABLE links;
        ALTER TABLE links_new RENAME TO links;
        CREATE UNIQUE INDEX links_crm ON links (account, crm_id) WHERE crm_id IS NOT NULL;
        """,
    ),
    (
        # No magic strings: a copy of a CRM person to the provider that may have
        # happened was a 'pending' link named "crm-pending:N"; it gets its own table.
        # A failure's kind (a provider change to replay, or a CRM person whose copy
        # failed, once told apart by a "crm:N" name) gets its own columns.
        "0003_pending_copies_and_failure_kinds",
        """
        CREATE TABLE pending_copies (
            account TEXT NOT NULL,
            crm_id INTEGER NOT NULL,
            contact TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (account, crm_id)
        );
        INSERT OR REPLACE INTO pending_copies (account, crm_id, contact, created_at)
            SELECT account, CAST(substr(provider_id, 13) AS INTEGER), base, updated_at FROM links
            WHERE provider_id LIKE 'crm-pending:%' AND base IS NOT NULL;
        DELETE FROM links WHERE provider_id LIKE 'crm-pending:%';
        ALTER TABLE failures ADD COLUMN kind TEXT NOT NULL DEFAULT 'contact' CHECK (kind IN ('contact', 'person'));
        ALTER TABLE failures ADD COLUMN crm_id INTEGER;
        UPDATE failures SET kind = 'person', crm_id = CAST(json_extract(record, '$.crm_id') AS INTEGER)
            WHERE provider_id LIKE 'crm:%' AND record IS NOT NULL AND json_extract(record, '$.crm_id') IS NOT NULL;
        """,
    ),
    (
        # What the CRM told us that rarely changes, kept across passes so that a quiet
        # pass asks nothing: the connected user, its permissions, the organizations by
        # name (refreshed by their update time) and the listing cursor. `crm` names the
        # company and user the entries belong to. Only new tables: this migration does
        # not depend on any other after 0002 and may run before or after them.
        "0004_crm_caches",
        """
        CREATE TABLE IF NOT EXISTS crm_orgs (
            crm TEXT NOT NULL,
            id INTEGER NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (crm, id)
        );
        CREATE INDEX IF NOT EXISTS crm_orgs_name ON crm_orgs (crm, name);
        CREATE TABLE IF NOT EXISTS crm_meta (
            crm TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (crm, name)
        );
        """,
    ),
    (
        # The contact's display name with each event, written when the event is: a
        # deleted person's link is gone, so `status` could not name it afterwards.
        "0005_event_names",
        """
        ALTER TABLE events ADD COLUMN name TEXT;
        """,
    ),
    (
        # What each pass was (first, continued, full, incremental), as `run` said it:
        # `status` repeats it instead of guessing it from the `full` flag.
        "0006_run_kinds",
        """
        ALTER TABLE runs ADD COLUMN kind TEXT;
        """,
    ),
]


def migrate(conn: sqlite3.Connection, migrations: list[tuple[str, str]] | None = None) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction (`migrations`: a prefix, for tests)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for name, sql in MIGRATIONS if migrations is None else migrations:
        if name in done:
            continue
        # The connection is in autocommit mode; DDL joins this explicit transaction,
        # so a migration applies whole or not at all.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
