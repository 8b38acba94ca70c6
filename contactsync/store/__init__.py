"""The SQLite state file: the only SQL of the project.

    db.py          LinkStore: links (provider contact <-> CRM person, with the last synced
                   record), cursors, failures (kind 'contact' or 'person'), pending copies,
                   runs, events, CRM field keys; `transaction()` groups one action's writes
    migrations.py  ordered, named migrations, recorded in `schema_migrations`; an
                   existing state.db is upgraded in place when opened

Rules: only the engine writes links; every other part reads through LinkStore.
"""

from contactsync.store.db import Event, Failure, Link, LinkStore, RunRecord

__all__ = ["Event", "Failure", "Link", "LinkStore", "RunRecord"]
