"""What changed in Pipedrive since a time, in as few requests as it takes: GET /v1/recents.

One request answers a quiet two-way pass (v2 has no equivalent that also shows
deletions: its lists leave deleted persons out). Only the id, version, owner and
active flag of each entry are read here; the engine fetches the persons it needs
in full through v2 (`get_many`).

The rules of the real endpoint this follows (sources in sandbox/pipedrive_recents.py):
`since_timestamp` has whole seconds and lists changes *after* it, so the request
starts one second before the cursor and entries seen before are told apart by
version; it reaches at most a month back, silently, so an older cursor counts as
expired; pages come oldest first, and the next page is asked from the last time
on the page (again one second before it) rather than by offset, because an entry
edited while the list is read moves to its end and would shift an offset past an
entry not read yet. Only a page whose entries all share one second is stepped
through by offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from contactsync.crm.base import PersonChange
from contactsync.errors import CursorExpired

# "A maximum of 1 month of past data" (changelog, effective 2024-12-01); a day less for clock skew.
RECENTS_REACH = timedelta(days=29)
PAGE = 500  # the largest `limit` Pipedrive takes
OVERLAP = timedelta(seconds=1)

Get = Callable[[dict[str, Any]], dict[str, Any]]


def parse_rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def v1_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def v2_time(v1: str) -> str:
    """`2024-05-01 10:00:00` (v1, UTC) -> `2024-05-01T10:00:00Z` (v2)."""
    return v1.replace(" ", "T") + "Z"


def recent_persons(get: Get, since: str, now: datetime) -> Iterator[PersonChange]:
    """Every person changed at or after `since` (RFC 3339), oldest first; an entry may repeat.

    `get(params)` is one GET /v1/recents. Raises CursorExpired when `since` is further back
    than the endpoint reaches (it would silently leave changes out)."""
    start_at = parse_rfc3339(since) - OVERLAP
    if now - start_at > RECENTS_REACH:
        raise CursorExpired("Pipedrive's list of recent changes reaches one month back; the last pass is older",
                            "every linked person is read again once")
    params: dict[str, Any] = {"since_timestamp": v1_time(start_at), "items": "person", "start": 0, "limit": PAGE}
    while True:
        body = get(params)
        for entry in body.get("data") or []:
            change = _change(entry)
            if change is not None:
                yield change
        additional = body.get("additional_data") or {}
        pagination = additional.get("pagination") or {}
        if not pagination.get("more_items_in_collection"):
            return
        last = additional.get("last_timestamp_on_page")
        floor = params["since_timestamp"]
        if isinstance(last, str) and last > floor and last != _next_second(floor):
            # Ask again from the page's last second (one second before it: "after" is strict).
            params = {**params, "since_timestamp": v1_time(parse_rfc3339(v2_time(last)) - OVERLAP), "start": 0}
        else:  # a whole page in one second: step through that second by offset
            params = {**params, "start": int(pagination.get("next_start") or params["start"] + PAGE)}


def _next_second(v1: str) -> str:
    return v1_time(parse_rfc3339(v2_time(v1)) + OVERLAP)


def _change(entry: Any) -> PersonChange | None:
    if not isinstance(entry, dict) or entry.get("item") != "person":
        return None
    data = entry.get("data")
    id = entry.get("id")
    if not isinstance(data, dict) or not isinstance(id, int) or isinstance(id, bool):
        return None
    updated = data.get("update_time")
    if not isinstance(updated, str):
        return None
    owner = data.get("owner_id")
    if isinstance(owner, dict):  # v1 elsewhere gives the owner as an object with its id in `value`
        owner = owner.get("value", owner.get("id"))
    return PersonChange(id, v2_time(updated), owner if isinstance(owner, int) else None,
                        data.get("active_flag") is False)
