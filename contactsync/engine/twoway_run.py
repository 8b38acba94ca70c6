"""The CRM side of a two-way pass: what changed in the CRM, what was deleted there.

Linked persons are confirmed in batches through `ids` on every pass: the v2 list
never shows deleted persons, and a version that moved is a change whatever the
clocks say. The `updated_since` listing (with an hour of overlap, deduplicated
by version) only has to find persons the user created or changed that are not
linked yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contactsync.crm.base import Crm, CrmPerson
from contactsync.engine.plan import AdoptionIndex, Policy, plan_changes
from contactsync.engine.twoway_plan import TwoWayAction, TwoWaySettings, plan_link, plan_new_person
from contactsync.providers.base import Change, ProviderDeletion
from contactsync.store.db import Link, LinkStore

OVERLAP = timedelta(hours=1)
CURSOR = "crm"
# When two-way sync began: unlinked persons last changed before it are not copied.
START = "crm-start"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class CrmSide:
    """The CRM's changes for one pass, handed out link by link to the planner."""

    key: str
    provider_kind: str
    account_email: str
    settings: TwoWaySettings
    changes: dict[int, CrmPerson] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)
    cursor: str | None = None
    start: str | None = None

    @classmethod
    def read(cls, store: LinkStore, crm: Crm, key: str, provider_kind: str, account_email: str,
             owner_id: int, settings: TwoWaySettings) -> CrmSide:
        side = cls(key, provider_kind, account_email, settings)
        linked = {link.crm_id: link for link in store.iter_links(key, ("linked",)) if link.crm_id is not None}
        existing = crm.get_many(list(linked))
        side.gone = set(linked) - set(existing)
        for crm_id, person in existing.items():
            # A person now owned by someone else is never written back (and not deleted).
            if person.owner_id == owner_id and person.version != linked[crm_id].crm_version:
                side.changes[crm_id] = person
        row, start = store.cursor(key, CURSOR), store.cursor(key, START)
        if row is None or start is None:
            # The first two-way pass: persons that exist now are copied to the provider
            # only once they change. "Now" is the CRM's newest update time, not our
            # clock, so that a skewed machine clock cannot hide or invent changes.
            newest = ""
            for person in crm.list_persons(owner_id=owner_id):
                newest = max(newest, person.version or "")
            side.start = newest
            side.cursor = newest or _iso(datetime.now(UTC) - OVERLAP)
            return side
        side.cursor, side.start = row[0], start[0]
        since = _iso(_parse(row[0]) - OVERLAP)
        for person in crm.list_persons(owner_id=owner_id, updated_since=since):
            if person.version and person.version > (side.cursor or ""):
                side.cursor = person.version
            if person.id not in linked and person.owner_id == owner_id and person.version > side.start:
                side.changes[person.id] = person
        return side

    def plan_page(self, page: Iterable[Change], links: dict[str, Link], adoption: AdoptionIndex | None,
                  policy: Policy) -> list[TwoWayAction]:
        latest: dict[str, Change] = {}
        for change in page:
            latest.pop(change.id, None)
            latest[change.id] = change
        actions: list[TwoWayAction] = []
        for provider_id, change in latest.items():
            link = links.get(provider_id)
            if link is not None and link.state == "linked" and link.crm_id is not None and link.base is not None:
                actions.extend(self._link(link, change))
            else:
                one = {provider_id: link} if link is not None else {}
                actions.extend(plan_changes(self.key, self.provider_kind, self.account_email, [change], one,
                                            adoption, policy))
        return actions

    def plan_missing(self, links: Iterable[Link], seen: set[str]) -> list[TwoWayAction]:
        """After a complete provider listing: linked contacts not in it were deleted there."""
        actions: list[TwoWayAction] = []
        for link in links:
            if link.provider_id in seen:
                continue
            if link.state == "linked" and link.crm_id is not None and link.base is not None:
                actions.extend(self._link(link, ProviderDeletion(link.provider_id)))
            else:
                actions.extend(plan_changes(self.key, self.provider_kind, self.account_email,
                                            [ProviderDeletion(link.provider_id)], {link.provider_id: link}))
        return actions

    def plan_rest(self, store: LinkStore) -> list[TwoWayAction]:
        """CRM changes whose provider contact did not change: edits, deletions, new persons."""
        actions: list[TwoWayAction] = []
        for crm_id in sorted(self.gone):
            link = store.link_by_crm(self.key, crm_id)
            if link is not None and link.base is not None:
                actions.extend(plan_link(link, None, None, True, self.settings))
        self.gone.clear()
        for crm_id, person in sorted(self.changes.items()):
            link = store.link_by_crm(self.key, crm_id)
            if link is None:
                actions.extend(plan_new_person(person, self.settings))
            elif link.state == "linked" and link.base is not None:
                actions.extend(plan_link(link, None, person, False, self.settings))
        self.changes.clear()
        return actions

    def _link(self, link: Link, change: Change | None) -> list[TwoWayAction]:
        assert link.crm_id is not None
        person = self.changes.pop(link.crm_id, None)
        gone = link.crm_id in self.gone
        self.gone.discard(link.crm_id)
        return plan_link(link, change, person, gone, self.settings)
