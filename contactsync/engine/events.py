"""The one list of event kinds: recorded by the executor, counted by `status`, worded by the renderer.

An event is (side, kind): the side written (the CRM, or the provider's address
book) and what happened. A pass's tally names CRM events by their kind
("create") and provider events with a prefix ("provider-create").
"""

from __future__ import annotations

from enum import Enum


class _Named(str, Enum):
    """Prints as its stored spelling ("create"), in logs and messages alike."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class EventSide(_Named):
    CRM = "crm"
    PROVIDER = "provider"


class EventKind(_Named):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"  # linked to a person the user already had (first sync)
    RECOVER = "recover"  # an interrupted create found again by its stamp
    GONE = "gone"  # deleted in the CRM during one-way sync: not re-created
    SKIP = "skip"
    FAIL = "fail"
    PHOTO = "photo"
    PHOTO_SKIP = "photo-skip"
    TRUNCATE = "truncate"  # a value cut at the CRM's documented limit
    CONFLICT = "conflict"  # a field changed on both sides, settled by the policy
    OWNER = "owner"  # the person changed hands: no longer synced back, or synced again
    OVERFLOW = "overflow"  # a value the address book cannot hold stays in the CRM only
    CLAIM = "claim"  # a contact an interrupted pass created, linked instead of created again
    # What happened to a contact's values on the way in (model.IssueKind), issue 11:
    CLEANED = "cleaned"  # control characters or lone surrogates removed
    INVALID = "invalid"  # an e-mail or phone that is not one: kept, never primary
    UNREADABLE = "unreadable"  # a value that cannot be read: left as it is on both sides
    RETRY = "retry"  # a temporary error retried inside the pass (counted, not recorded)


# The events each side can record, in the order they are shown.
SIDE_KINDS: dict[EventSide, tuple[EventKind, ...]] = {
    EventSide.CRM: (
        EventKind.CREATE, EventKind.UPDATE, EventKind.DELETE, EventKind.ADOPT, EventKind.RECOVER, EventKind.GONE,
        EventKind.SKIP, EventKind.FAIL, EventKind.PHOTO, EventKind.PHOTO_SKIP, EventKind.TRUNCATE,
        EventKind.CONFLICT, EventKind.OWNER, EventKind.CLEANED, EventKind.INVALID, EventKind.UNREADABLE,
        EventKind.RETRY,
    ),
    EventSide.PROVIDER: (
        EventKind.CREATE, EventKind.UPDATE, EventKind.DELETE, EventKind.OVERFLOW, EventKind.CLAIM,
    ),
}


def tally_key(side: EventSide, kind: EventKind) -> str:
    return kind.value if side is EventSide.CRM else f"provider-{kind.value}"


# A pass's counts in words, by tally key, for people.
PASS_WORDS: dict[str, str] = {
    "create": "created", "update": "updated", "delete": "deleted", "adopt": "adopted",
    "recover": "recovered", "gone": "deleted in CRM (kept deleted)", "skip": "skipped", "fail": "failed",
    "photo": "photos added", "photo-skip": "photos skipped", "truncate": "values cut at the CRM's limit",
    "conflict": "conflicts settled", "owner": "persons handed to or back from another owner",
    "provider-create": "created in the address book", "provider-update": "updated in the address book",
    "provider-delete": "deleted in the address book",
    "provider-overflow": "values kept in Pipedrive only (the address book cannot hold them)",
    "provider-claim": "linked a contact an interrupted pass had created",
    "cleaned": "values cleaned", "invalid": "invalid values (never primary)",
    "unreadable": "unreadable values left as they are", "retry": "retried after a temporary error",
}
assert set(PASS_WORDS) == {tally_key(s, k) for s, kinds in SIDE_KINDS.items() for k in kinds}

# The same words for a count of one, where they differ ("1 photo added", "2 photos added").
ONE_WORDS: dict[str, str] = {
    "photo": "photo added", "photo-skip": "photo skipped", "truncate": "value cut at the CRM's limit",
    "conflict": "conflict settled", "owner": "person handed to or back from another owner",
    "provider-overflow": "value kept in Pipedrive only (the address book cannot hold it)",
}
assert set(ONE_WORDS) <= set(PASS_WORDS)
