"""Behaviours of Microsoft Graph (Outlook contacts) that a kind emulator would hide, each switchable.

Off by default so that a test states which one it exercises; switched on with
`GraphEmulator.quirks` or `control({"quirks": {...}})`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class GraphQuirks:
    # Incremental delta rounds give an updated contact with only its id, etag and the
    # properties that changed: "Updated instances are represented by their id with at
    # least the properties that have been updated, but additional properties may be
    # included" (learn.microsoft.com/graph/delta-query-overview, "Resource
    # representation in the delta query response"); an absent property is unknown,
    # not cleared.
    partial_delta_items: bool = False
    # The same item can come back more than once in one delta round (reported against
    # Outlook delta by the audit in contactsync's issue tracker; delta rounds are built
    # from replayed change logs, so a contact changed twice is listed twice): every
    # changed contact is given again at the end of the round.
    repeat_delta_items: bool = False
    # A delta token that is not one the service issued is a plain 400 (ErrorInvalidUrlQuery
    # style), not the 410/`syncStateInvalid` resync signal (issue audit of contactsync;
    # delta-query-overview documents only the resync codes, not this answer).
    malformed_token_plain_400: bool = False
    # A contacts list asked for `$count=true` with `$top` answers "@odata.count": -1, at
    # random ("this bug can't be reproduced all the time", microsoft-graph-docs#5064, on
    # contactfolder-list-contacts): the count is then unknown, never a number to show.
    count_unknown: bool = False

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown Graph quirk {key!r}; one of {', '.join(sorted(known))}")
            setattr(self, key, bool(value))
