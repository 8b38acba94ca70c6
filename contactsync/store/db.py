"""The SQLite mapping store: links, cursors, failures, runs, events, CRM field keys.

This module and migrations.py hold the only SQL of the project. Every write is
its own transaction (autocommit), so an action is durable as soon as it is recorded.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contactsync.config import private_dir
from contactsync.errors import ConfigError, TemporaryError
from contactsync.store.migrations import migrate


# How long a pass waits for another process to let go of state.db before it gives up (exit 75).
BUSY_TIMEOUT = 5.0


def busy_error(exc: BaseException, path: Path | None = None) -> TemporaryError | None:
    """The one-line error of a state file another process keeps locked; None for any other error."""
    if not isinstance(exc, sqlite3.OperationalError) or not any(
            word in str(exc) for word in ("database is locked", "database is busy", "database table is locked")):
        return None
    where = f"the state file {path}" if path is not None else "the state file"
    return TemporaryError(f"{where} is kept busy by another process (waited {BUSY_TIMEOUT:.0f} s)",
                          "run again later; close any program that has it open (an sqlite3 shell, a backup tool)")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Link:
    account: str
    provider_id: str
    crm_id: int | None
    state: str
    stamp: str
    provider_version: str | None = None
    crm_version: str | None = None
    hash: str | None = None
    base: dict[str, Any] | None = None


@dataclass(frozen=True)
class Failure:
    """A contact or person that did not sync; retried by the next pass.

    kind 'contact': a provider change (`record` replays it); kind 'person': a CRM
    person whose copy to the provider failed (`crm_id` fetches it again).
    """

    account: str
    provider_id: str
    reason: str
    record: dict[str, Any] | None
    first_at: str
    last_at: str
    attempts: int
    kind: str = "contact"
    crm_id: int | None = None


@dataclass(frozen=True)
class Event:
    at: str
    side: str
    action: str
    provider_id: str | None
    crm_id: int | None
    detail: str | None
    run_id: int | None
    name: str | None = None


@dataclass(frozen=True)
class RunRecord:
    id: int
    account: str
    started_at: str
    finished_at: str | None
    full: bool
    outcome: str | None
    message: str | None
    kind: str | None = None  # first | continued | full | incremental (None: before migration 0006)


_LINK_COLS = "account, provider_id, crm_id, state, stamp, provider_version, crm_version, hash, base"


def _link(row: sqlite3.Row) -> Link:
    base = json.loads(row["base"]) if row["base"] else None
    return Link(
        row["account"], row["provider_id"], row["crm_id"], row["state"], row["stamp"],
        row["provider_version"], row["crm_version"], row["hash"], base,
    )


class LinkStore:
    """The state file. Open it with :meth:`open`; close it when done."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> LinkStore:
        private_dir(path.parent)
        if not path.exists():
            # Create with 0600 before SQLite does, so the file is never world-readable.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            busy = busy_error(exc, path)
            if busy is not None:
                raise busy from None
            raise ConfigError(
                f"the state file {path} cannot be read ({exc})",
                "move it aside and run again: nothing is deleted, and the links are rebuilt from the "
                "Contact sync IDs in Pipedrive",
            ) from None
        return cls(conn, path)

    @classmethod
    def memory(cls) -> LinkStore:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        migrate(conn)
        return cls(conn, None)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction around the writes of one action: all of them or none (a nested one joins it)."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def migrations(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM schema_migrations ORDER BY name")]

    # -- links ---------------------------------------------------------------

    def link(self, account: str, provider_id: str) -> Link | None:
        row = self.conn.execute(
            f"SELECT {_LINK_COLS} FROM links WHERE account = ? AND provider_id = ?", (account, provider_id)
        ).fetchone()
        return _link(row) if row else None

    def links_for(self, account: str, provider_ids: Iterable[str]) -> dict[str, Link]:
        return self._links_where(account, "provider_id", list(provider_ids))

    def _links_where(self, account: str, column: str, values: list[Any]) -> dict[str, Link]:
        """The links whose `column` is one of `values`, by provider id (500 bound values per query)."""
        out: dict[str, Link] = {}
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT {_LINK_COLS} FROM links WHERE account = ? AND {column} IN ({marks})", (account, *chunk)
            )
            out.update((row["provider_id"], _link(row)) for row in rows)
        return out

    def link_by_crm(self, account: str, crm_id: int) -> Link | None:
        row = self.conn.execute(
            f"SELECT {_LINK_COLS} FROM links WHERE account = ? AND crm_id = ?", (account, crm_id)
        ).fetchone()
        return _link(row) if row else None

    def links_by_crm(self, account: str, crm_ids: Iterable[int]) -> dict[str, Link]:
        """The links of these CRM persons, by provider id."""
        return self._links_where(account, "crm_id", list(crm_ids))

    def iter_links(self, account: str, states: tuple[str, ...] = ("pending", "linked")) -> Iterator[Link]:
        """The account's links in these states, by provider id, read a chunk at a time (memory stays flat)."""
        for chunk in self.link_chunks(account, states):
            yield from chunk

    def link_chunks(self, account: str, states: tuple[str, ...], size: int = 500) -> Iterator[list[Link]]:
        """The links in chunks of `size`, by provider id. Each chunk is its own query (keyset paging),
        so no statement stays open across the writes a caller makes between chunks."""
        marks = ",".join("?" * len(states))
        after = ""
        while True:
            rows = self.conn.execute(
                f"SELECT {_LINK_COLS} FROM links WHERE account = ? AND state IN ({marks}) AND provider_id > ? "
                "ORDER BY provider_id LIMIT ?",
                (account, *states, after, size),
            ).fetchall()
            if not rows:
                return
            yield [_link(row) for row in rows]
            after = rows[-1]["provider_id"]

    # -- what this pass has seen (a temporary table: gone with the connection) --

    def seen_start(self) -> None:
        """Forget what an earlier pass on this connection saw. Kept in SQLite, not in a
        set, so that memory stays flat in the number of contacts."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen "
                          "(provider_id TEXT PRIMARY KEY, version TEXT, present INTEGER NOT NULL)")
        self.conn.execute("DELETE FROM temp.seen")

    def seen_add(self, entries: Iterable[tuple[str, str | None, bool]]) -> None:
        """Record (provider id, version, present: not a deletion) of each entry of a page; once
        present in this pass, a contact stays present (a later deletion entry is planned on its own)."""
        self.conn.executemany(
            "INSERT INTO temp.seen (provider_id, version, present) VALUES (?,?,?) ON CONFLICT (provider_id) "
            "DO UPDATE SET version = excluded.version, present = MAX(present, excluded.present)",
            [(id, version, int(present)) for id, version, present in entries])

    def seen_versions(self, provider_ids: Iterable[str]) -> dict[str, str | None]:
        """The versions this pass saw of these ids (None for a deletion); unseen ids are absent."""
        ids = list(dict.fromkeys(provider_ids))
        out: dict[str, str | None] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.conn.execute(
                f"SELECT provider_id, version FROM temp.seen WHERE provider_id IN ({','.join('?' * len(chunk))})",
                chunk)
            out.update((row[0], row[1]) for row in rows)
        return out

    def seen_present(self) -> int:
        """How many contacts (not deletions) this pass saw."""
        return int(self.conn.execute("SELECT COUNT(*) FROM temp.seen WHERE present").fetchone()[0])

    def unseen_links(self, account: str, states: tuple[str, ...], size: int = 500) -> Iterator[Link]:
        """The links in these states whose contact this pass did not see present, by provider id, in chunks."""
        marks = ",".join("?" * len(states))
        after = ""
        while True:
            rows = self.conn.execute(
                f"SELECT {_LINK_COLS} FROM links WHERE account = ? AND state IN ({marks}) AND provider_id > ? "
                "AND NOT EXISTS (SELECT 1 FROM temp.seen s WHERE s.provider_id = links.provider_id AND s.present) "
                "ORDER BY provider_id LIMIT ?",
                (account, *states, after, size),
            ).fetchall()
            if not rows:
                return
            yield from (_link(row) for row in rows)
            after = rows[-1]["provider_id"]

    def count_links(self, account: str) -> dict[str, int]:
        rows = self.conn.execute("SELECT state, COUNT(*) FROM links WHERE account = ? GROUP BY state", (account,))
        counts = {"pending": 0, "linked": 0, "tombstone": 0, "foreign": 0}
        counts.update({state: n for state, n in rows})
        return counts

    def has_history(self, account: str) -> bool:
        """True once a pass of the account has finished without an account-wide error."""
        row = self.conn.execute(
            "SELECT 1 FROM runs WHERE account = ? AND outcome IN ('ok', 'partial') LIMIT 1", (account,)
        )
        return row.fetchone() is not None

    def put_link(self, link: Link) -> None:
        self.conn.execute(
            f"INSERT OR REPLACE INTO links ({_LINK_COLS}, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                link.account, link.provider_id, link.crm_id, link.state, link.stamp,
                link.provider_version, link.crm_version, link.hash,
                json.dumps(link.base, ensure_ascii=False) if link.base is not None else None, now(),
            ),
        )

    def rename_link(self, account: str, old_id: str, new_id: str) -> bool:
        """Move the link of `old_id` to `new_id` (the provider renamed the contact);
        False when there is no such link or `new_id` is linked already."""
        cur = self.conn.execute(
            "UPDATE links SET provider_id = ? WHERE account = ? AND provider_id = ? "
            "AND NOT EXISTS (SELECT 1 FROM links WHERE account = ? AND provider_id = ?)",
            (new_id, account, old_id, account, new_id),
        )
        self.conn.execute("UPDATE failures SET provider_id = ? WHERE account = ? AND provider_id = ? "
                          "AND NOT EXISTS (SELECT 1 FROM failures WHERE account = ? AND provider_id = ?)",
                          (new_id, account, old_id, account, new_id))
        return cur.rowcount > 0

    def delete_link(self, account: str, provider_id: str) -> None:
        self.conn.execute("DELETE FROM links WHERE account = ? AND provider_id = ?", (account, provider_id))

    # -- pending copies (two-way: a CRM person being created in the provider) --

    def pending_copies(self, account: str) -> dict[int, dict[str, Any]]:
        rows = self.conn.execute("SELECT crm_id, contact FROM pending_copies WHERE account = ? ORDER BY crm_id",
                                 (account,))
        return {crm_id: json.loads(contact) for crm_id, contact in rows}

    def put_pending_copy(self, account: str, crm_id: int, contact: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO pending_copies (account, crm_id, contact, created_at) VALUES (?,?,?,?)",
            (account, crm_id, json.dumps(contact, ensure_ascii=False), now()),
        )

    def drop_pending_copy(self, account: str, crm_id: int) -> None:
        self.conn.execute("DELETE FROM pending_copies WHERE account = ? AND crm_id = ?", (account, crm_id))

    def delete_account(self, account: str) -> None:
        for table in ("links", "cursors", "failures", "events", "runs", "pending_copies"):
            self.conn.execute(f"DELETE FROM {table} WHERE account = ?", (account,))

    # -- cursors -------------------------------------------------------------

    def cursor(self, account: str, name: str = "provider") -> tuple[str, str] | None:
        row = self.conn.execute(
            "SELECT value, updated_at FROM cursors WHERE account = ? AND name = ?", (account, name)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def set_cursor(self, account: str, value: str | None, name: str = "provider") -> None:
        if value is None:
            self.conn.execute("DELETE FROM cursors WHERE account = ? AND name = ?", (account, name))
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO cursors (account, name, value, updated_at) VALUES (?,?,?,?)",
            (account, name, value, now()),
        )

    # -- failures ------------------------------------------------------------

    def failures(self, account: str) -> list[Failure]:
        rows = self.conn.execute(
            "SELECT account, provider_id, reason, record, first_at, last_at, attempts, kind, crm_id FROM failures "
            "WHERE account = ? ORDER BY provider_id",
            (account,),
        )
        return [
            Failure(r[0], r[1], r[2], json.loads(r[3]) if r[3] else None, r[4], r[5], r[6], r[7], r[8]) for r in rows
        ]

    def failure_reason(self, account: str, provider_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT reason FROM failures WHERE account = ? AND provider_id = ?", (account, provider_id)
        ).fetchone()
        return row[0] if row else None

    def add_failure(self, account: str, provider_id: str, reason: str, record: dict[str, Any] | None,
                    crm_id: int | None = None) -> None:
        """Record a failure; with `crm_id` it is a CRM person's (kind 'person'), else a contact's."""
        stamp = now()
        kind = "person" if crm_id is not None else "contact"
        self.conn.execute(
            "INSERT INTO failures (account, provider_id, reason, record, first_at, last_at, kind, crm_id) "
            "VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT (account, provider_id) DO UPDATE SET reason = excluded.reason, "
            "record = COALESCE(excluded.record, failures.record), last_at = excluded.last_at, "
            "attempts = failures.attempts + 1",
            (account, provider_id, reason, json.dumps(record, ensure_ascii=False) if record else None, stamp, stamp,
             kind, crm_id),
        )

    def clear_person_failure(self, account: str, crm_id: int) -> None:
        self.conn.execute("DELETE FROM failures WHERE account = ? AND kind = 'person' AND crm_id = ?",
                          (account, crm_id))

    def clear_failure(self, account: str, provider_id: str) -> None:
        self.conn.execute("DELETE FROM failures WHERE account = ? AND provider_id = ?", (account, provider_id))

    # -- runs and events -----------------------------------------------------

    def start_run(self, account: str, full: bool, kind: str | None = None) -> int:
        cur = self.conn.execute(
            "INSERT INTO runs (account, started_at, full, kind) VALUES (?,?,?,?)", (account, now(), int(full), kind)
        )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, message: str | None = None) -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at = ?, outcome = ?, message = ? WHERE id = ?", (now(), outcome, message, run_id)
        )

    def last_run(self, account: str) -> RunRecord | None:
        row = self.conn.execute(
            "SELECT id, account, started_at, finished_at, full, outcome, message, kind FROM runs "
            "WHERE account = ? ORDER BY id DESC LIMIT 1",
            (account,),
        ).fetchone()
        return RunRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7]) if row else None

    def add_event(
        self, account: str, run_id: int | None, side: str, action: str,
        provider_id: str | None = None, crm_id: int | None = None, detail: str | None = None,
        name: str | None = None,
    ) -> None:
        """Record one event; `name`: the contact's display name as it was when the event happened."""
        self.conn.execute(
            "INSERT INTO events (run_id, account, at, side, action, provider_id, crm_id, detail, name) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (run_id, account, now(), side, action, provider_id, crm_id, detail, name or None),
        )

    def event_counts(self, account: str, *, run_id: int | None = None, days: int | None = None) -> dict[str, int]:
        """Counts of `side:action` events for one run, or for the last `days` days."""
        if run_id is not None:
            rows = self.conn.execute(
                "SELECT side, action, COUNT(*) FROM events WHERE account = ? AND run_id = ? GROUP BY side, action",
                (account, run_id),
            )
        else:
            since = (datetime.now(UTC) - timedelta(days=days or 7)).isoformat(timespec="seconds")
            rows = self.conn.execute(
                "SELECT side, action, COUNT(*) FROM events WHERE account = ? AND at >= ? GROUP BY side, action",
                (account, since),
            )
        return {f"{side}:{action}": n for side, action, n in rows}

    def recent_events(self, account: str, limit: int = 20, actions: tuple[str, ...] | None = None) -> list[Event]:
        """The account's last `limit` events, newest first; only those of `actions` when given."""
        only = f" AND action IN ({','.join('?' * len(actions))})" if actions else ""
        rows = self.conn.execute(
            "SELECT at, side, action, provider_id, crm_id, detail, run_id, name FROM events WHERE account = ?"
            f"{only} ORDER BY id DESC LIMIT ?",
            (account, *(actions or ()), limit),
        )
        return [Event(*row) for row in rows]

    def count_events(self, account: str, actions: tuple[str, ...]) -> int:
        """How many events of `actions` the account has recorded."""
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM events WHERE account = ? AND action IN ({','.join('?' * len(actions))})",
            (account, *actions),
        ).fetchone()
        return int(row[0])

    # -- CRM field keys ------------------------------------------------------

    def crm_fields(self) -> dict[str, str]:
        return {name: key for name, key in self.conn.execute("SELECT name, key FROM crm_fields")}

    def set_crm_fields(self, fields: dict[str, str]) -> None:
        with self.transaction():  # rolled back if a write fails (a busy file): never left open
            self.conn.execute("DELETE FROM crm_fields")
            self.conn.executemany("INSERT INTO crm_fields (name, key) VALUES (?, ?)", sorted(fields.items()))

    # -- CRM caches (migration 0004) ------------------------------------------

    def crm_meta(self, crm: str) -> dict[str, Any]:
        rows = self.conn.execute("SELECT name, value FROM crm_meta WHERE crm = ?", (crm,))
        return {name: json.loads(value) for name, value in rows}

    def set_crm_meta(self, crm: str, values: dict[str, Any]) -> None:
        stamp = now()
        with self.transaction():  # rolled back if a write fails (a busy file): never left open
            self.conn.executemany(
                "INSERT OR REPLACE INTO crm_meta (crm, name, value, updated_at) VALUES (?, ?, ?, ?)",
                [(crm, name, json.dumps(value, ensure_ascii=False), stamp) for name, value in sorted(values.items())],
            )

    def crm_orgs(self, crm: str) -> Iterator[tuple[int, str]]:
        """(id, name) of every cached organization, oldest id first."""
        for row in self.conn.execute("SELECT id, name FROM crm_orgs WHERE crm = ? ORDER BY id", (crm,)):
            yield row[0], row[1]

    def put_crm_orgs(self, crm: str, orgs: dict[int, str | None]) -> None:
        """Add, rename (a name) or forget (None) cached organizations, in one transaction."""
        with self.transaction():  # rolled back if a write fails (a busy file): never left open
            self.conn.executemany("DELETE FROM crm_orgs WHERE crm = ? AND id = ?",
                                  [(crm, id) for id, name in orgs.items() if name is None])
            self.conn.executemany("INSERT OR REPLACE INTO crm_orgs (crm, id, name) VALUES (?, ?, ?)",
                                  [(crm, id, name) for id, name in orgs.items() if name is not None])

    def clear_crm_caches(self, crm: str | None = None) -> None:
        """Forget the cached CRM answers (of one `crm`, or all: another company was connected)."""
        for table in ("crm_orgs", "crm_meta"):
            if crm is None:
                self.conn.execute(f"DELETE FROM {table}")
            else:
                self.conn.execute(f"DELETE FROM {table} WHERE crm = ?", (crm,))
