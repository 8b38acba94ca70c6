"""Behaviours of the real People API that a kind emulator would hide, each switchable.

Off by default so that a test states which one it exercises; switched on with
`GoogleEmulator.quirks` or `control({"quirks": {...}})`. Counted in requests, never
in time, so that tests never wait.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contactsync.sandbox.google import GoogleEmulator


@dataclass
class GoogleQuirks:
    # The next N updateContact calls are refused with 400 FAILED_PRECONDITION ("Request
    # person.etag is different than the current person.etag") although the etag sent
    # is the one a read has just returned (googleapis/google-api-python-client#2417,
    # googleapis/google-api-go-client#1904: "it's not happening every time").
    spurious_etag_failures: int = 0
    # "Writes may have a propagation delay of several minutes for sync requests.
    # Incremental syncs are not intended for read-after-write use cases"
    # (people.connections.list, discovery document): a contact written is left out of
    # the results of the next N sync-token listings, and the sync tokens handed out
    # meanwhile do not move past it, so that it shows up later.
    propagation_listings: int = 0
    # The user edits (or deletes) the first N contacts of the next batchUpdateContacts
    # in Google Contacts while the request is on its way: the etag it carries is stale
    # (400 FAILED_PRECONDITION, people.updateContact doc) or the contact is gone, and the
    # batch is refused for that contact (BatchUpdateContactsResponse: "a list of errors
    # corresponding to each contact").
    edited_during_batch: int = 0
    deleted_during_batch: int = 0
    # As edited_during_batch, and the edit makes the contact's organization one with the
    # job title "Retitled in Google" (a field the pass is about to write, too).
    retitled_during_batch: int = 0

    def race_batch(self, emulator: GoogleEmulator, names: list[str]) -> None:
        """Apply the edits and deletions the user makes while a batch is in flight."""
        for rn in names:
            if rn not in emulator.people:
                continue
            if self.deleted_during_batch > 0:
                self.deleted_during_batch -= 1
                emulator._delete(rn)
            elif self.edited_during_batch > 0:
                self.edited_during_batch -= 1
                emulator._touch(emulator.people[rn])
            elif self.retitled_during_batch > 0:
                self.retitled_during_batch -= 1
                emulator.edit_person(rn, {"organizations": [{"title": "Retitled in Google"}]})

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown Google quirk {key!r}; one of {', '.join(sorted(known))}")
            setattr(self, key, int(value))
