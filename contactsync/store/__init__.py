from contactsync.store.db import Event, Failure, Link, LinkStore, RunRecord

__all__ = ["Event", "Failure", "Link", "LinkStore", "RunRecord"]
