"""A pass's contact updates through the People API's batch methods (issue 13).

Each update merges with the parts of the stored person the Contact does not hold
(MERGE_FIELDS) and carries the etag it replaces. Those read by this pass's listing are
reused; the others are read with people.getBatchGet ("There is a maximum of 200
resource names", discovery document) instead of one people.get each. The updates are
then sent with people.batchUpdateContacts ("Allows up to 200 contacts in a single
request"; one updateMask for all of them, so contacts are grouped by the fields they
write). "Mutate requests for the same user should be sent sequentially to avoid
increased latency and failures" (batchUpdateContacts doc): one request at a time, on
the caller's thread.

A batch is refused whole when one of its contacts is ("If not successful, returns
BatchUpdateContactsErrorDetails, a list of errors corresponding to each contact",
BatchUpdateContactsResponse). The shape of those details is not documented, so a
refused batch is sent again one contact at a time with updateContact: the contacts
that were fine are written, and the one refused gets its own error (a stale etag as
StaleVersion, which the caller merges and retries; anything else as a failure).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from contactsync.errors import ApiError, ContactSyncError, NotFound
from contactsync.providers.base import Provider, Update, UpdateResult
from contactsync.providers.google_mapping import MERGE_FIELDS, READ_FIELDS, contact_to_person, write_fields

if TYPE_CHECKING:
    from contactsync.providers.google import GoogleProvider

BATCH_GET_LIMIT = 200  # people.getBatchGet: resourceNames
BATCH_UPDATE_LIMIT = 200  # BatchUpdateContactsRequest.contacts
NOT_FOUND_CODE = 5  # google.rpc.Code.NOT_FOUND in a PersonResponse.status

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class GoogleBatch:
    """The batched `update_many` of one GoogleProvider."""

    def __init__(self, provider: GoogleProvider) -> None:
        self.provider = provider

    def update_many(self, updates: Sequence[Update]) -> dict[str, UpdateResult]:
        out: dict[str, UpdateResult] = {}
        try:
            self._update_many(updates, out)
        except ContactSyncError:
            pass  # the account's error (auth, quota, network): `out` holds what was done before it
        return out

    def _update_many(self, updates: Sequence[Update], out: dict[str, UpdateResult]) -> None:
        current = self._current(updates)
        groups: dict[str, list[Update]] = {}
        for update in updates:
            if update.id in current:
                groups.setdefault(write_fields(update.contact), []).append(update)
            else:
                out[update.id] = NotFound(f"contact {update.id} of {self.provider.account} was deleted in Google",
                                          status=404)
        for mask, group in groups.items():
            for chunk in chunks(group, BATCH_UPDATE_LIMIT):
                out.update(self._update(mask, chunk, current))

    def _current(self, updates: Sequence[Update]) -> dict[str, dict[str, Any]]:
        """The MERGE_FIELDS parts of each contact: remembered from the listing, or read in batches."""
        out: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for update in updates:
            held = self.provider.held(update.id, update.version)
            if held is None:
                missing.append(update.id)
            else:
                out[update.id] = held
        for names in chunks(missing, BATCH_GET_LIMIT):
            request = self.provider.service.people().getBatchGet(resourceNames=list(names), personFields=MERGE_FIELDS)
            for response in self.provider.execute(request, retry=True).get("responses") or []:
                person = response.get("person") if isinstance(response, dict) else None
                status = (response.get("status") or {}) if isinstance(response, dict) else {}
                name = response.get("requestedResourceName") if isinstance(response, dict) else None
                if not isinstance(person, dict) or status.get("code", 0) == NOT_FOUND_CODE or name not in names:
                    continue
                # Kept for a contact sent again on its own (a refused batch): no second read.
                self.provider.remember(person)
                out[str(name)] = {k: person[k] for k in MERGE_FIELDS.split(",") if k in person}
        return out

    def _update(self, mask: str, chunk: Sequence[Update], current: dict[str, dict[str, Any]]) -> dict[str, UpdateResult]:
        contacts = {u.id: {**contact_to_person(u.contact, current=current[u.id]), "etag": u.version} for u in chunk}
        request = self.provider.service.people().batchUpdateContacts(
            body={"contacts": contacts, "updateMask": mask, "readMask": READ_FIELDS})
        try:
            answer = self.provider.execute(request, retry=True)
        except ApiError:
            return self._one_by_one(chunk)
        out: dict[str, UpdateResult] = {}
        results = answer.get("updateResult") or {}
        for update in chunk:
            result = results.get(update.id)
            person = result.get("person") if isinstance(result, dict) else None
            if isinstance(person, dict):
                out[update.id] = self.provider.written(person)
        # A contact missing from the answer has no result: the caller writes it alone.
        return out

    def _one_by_one(self, chunk: Sequence[Update]) -> dict[str, UpdateResult]:
        return Provider.update_many(self.provider, chunk)
