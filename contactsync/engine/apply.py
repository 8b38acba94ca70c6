"""The one executor: applies any planned action and commits each to the store.

Actions that write the CRM run on a small thread pool; the calling thread owns
the store and commits every action as soon as its call returns (DESIGN §5,
crash safety). Actions that write the provider run after them, one at a time and
in order (apply_provider.py: Google wants one mutation at a time per user, Graph
at most four in flight, DESIGN §12). A failure of one contact is recorded and
the others go on; an error that concerns the whole account (auth, permission,
rate budget, network) stops the pass after the calls in flight are committed.

`on_applied(done, total)` is called after every applied action; `total` counts
the actions handed to the executor so far (it grows while a pass streams pages).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from contactsync.crm.base import Crm, CrmPerson, PersonWrite
from contactsync.engine.actions import (
    Action,
    AdoptPerson,
    CreatePerson,
    DeletePerson,
    ForgetLink,
    RecordVersion,
    Side,
    SkipContact,
    UpdatePerson,
)
from contactsync.engine.apply_provider import ProviderWrites, record_to_dict
from contactsync.engine.events import EventKind, EventSide, tally_key
from contactsync.engine.rules import INTENT, SyncSettings, record_hash
from contactsync.errors import (
    ApiError, BudgetExhausted, ContactSkipped, ContactSyncError, Interrupted, NotFound, ServiceBlocked,
    TemporaryError,
)
from contactsync.model import Contact, Issue, IssueKind
from contactsync.crm.pipedrive_photo import plan_photo
from contactsync.providers.base import Provider, ProviderDeletion, ProviderRecord
from contactsync.store.db import Link, LinkStore


log = logging.getLogger(__name__)

# A temporary error on one contact (5xx, 429, timeout, reset, an answer lost after
# the write) is retried inside the pass, with backoff: faults cost retries, not passes.
CONTACT_ATTEMPTS = 4
RETRY_BACKOFF = 0.25  # seconds before the 2nd attempt, doubled after each
# So many contacts in a row failing for a temporary reason means the service (or the
# network) is down, not one contact: the pass stops, exit 75, the next one resumes.
MAX_CONSECUTIVE_TEMPORARY = 8
# Issues of a contact that are recorded as events when it is written (cuts are `truncate`).
RECORDED_ISSUES = (IssueKind.CLEANED, IssueKind.INVALID, IssueKind.UNREADABLE)


def retryable(error: ContactSyncError) -> bool:
    return isinstance(error, TemporaryError) and not isinstance(error, BudgetExhausted | ServiceBlocked)


# Marks a failure row as a skipped contact (cannot be synced; not retried for a fault).
SKIPPED = "skipped"


def is_skipped(data: dict[str, Any] | None) -> bool:
    return bool(data) and bool(data.get(SKIPPED))  # type: ignore[union-attr]


def is_change_record(data: dict[str, Any] | None) -> bool:
    """A failure's record that replays a provider change (others name a CRM person)."""
    return bool(data) and "id" in data and ("deleted" in data or "contact" in data)  # type: ignore[operator]


def record_from_dict(data: dict[str, Any]) -> ProviderRecord | ProviderDeletion:
    """A change kept with a failure, replayed by the next pass."""
    if data.get("deleted"):
        return ProviderDeletion(data["id"])
    # `updated` weighs the change under the "newest" policy when it is merged again.
    return ProviderRecord(data["id"], data["version"], Contact.from_dict(data["contact"]), updated=data.get("updated"))


@dataclass
class Target:
    """Who and how we write: the account key, the CRM user, the visibility to create with."""

    account: str
    owner_id: int
    visible_to: int | None = None


@dataclass
class Outcome:
    """What one remote call did, handed from a worker to the committing thread."""

    action: Action
    event: EventKind | None = None
    person: CrmPerson | None = None
    detail: str | None = None
    error: ContactSyncError | None = None
    # What became of the contact's photo: (PHOTO, None) uploaded, (PHOTO_SKIP, reason).
    photo: tuple[EventKind, str | None] | None = None
    # The person call was never sent (its organization could not be resolved).
    unsent: bool = False


# The most CRM calls in flight at once, whatever the plan: Ultimate's 120 requests per
# 2 s at a 0.25 s round trip need about 15; the limiter holds the rest back.
MAX_IN_FLIGHT = 32
DEFAULT_WORKERS = 4

# Called after every applied action with (done, total).
OnApplied = Callable[[int, int], None]

# Store-only actions about the provider's record commit with the CRM writes they
# go with; the others (about the CRM's record) after them, in planned order.
_WITH_CRM_WRITES = (RecordVersion, SkipContact)


@dataclass
class Executor:
    store: LinkStore
    crm: Crm
    target: Target
    run_id: int | None
    settings: SyncSettings
    # The address book, written only in a two-way pass (None in one-way: no provider writes).
    provider: Provider | None = None
    group: str = ""
    # Calls in flight to the CRM: None follows the CRM's rate and round trip (at least
    # DEFAULT_WORKERS); a number fixes it (1: a strictly sequential client).
    workers: int | None = None
    # Set for one-way sync with a provider that has photos: pictures go to the CRM.
    photos_from: Provider | None = None
    # Set by a signal handler: finish and commit the calls in flight, start no more.
    stop: threading.Event | None = None
    on_applied: OnApplied | None = None
    tally: Counter[str] = field(default_factory=Counter)
    done: int = 0
    total: int = 0
    sleep: Callable[[float], None] = time.sleep
    consecutive_temporary: int = 0

    def with_retries(self, call: Callable[[int], Any]) -> Any:
        """`call(attempt)`, again after a temporary error, up to CONTACT_ATTEMPTS times with backoff."""
        for attempt in range(CONTACT_ATTEMPTS):
            try:
                return call(attempt)
            except ContactSyncError as exc:
                if not retryable(exc) or attempt == CONTACT_ATTEMPTS - 1:
                    raise
                log.info("%s: retrying after a temporary error: %s", self.target.account, exc.line())
                self.tally[tally_key(EventSide.CRM, EventKind.RETRY)] += 1
                self.sleep(RETRY_BACKOFF * 2 ** attempt)
        raise AssertionError("unreachable")

    def temporary_failure(self, error: ContactSyncError) -> bool:
        """Whether a contact's error, after its retries, is its own (record it, go on) or the account's."""
        if not retryable(error):
            return False
        self.consecutive_temporary += 1
        return self.consecutive_temporary < MAX_CONSECUTIVE_TEMPORARY

    def apply(self, actions: list[Action]) -> None:
        """Apply `actions`; raise the first account-wide error after committing what finished."""
        self.total += len(actions)
        first: list[Action] = [a for a in actions if a.side is Side.CRM or isinstance(a, _WITH_CRM_WRITES)]
        self._apply_crm(first)
        rest: list[Action] = [a for a in actions if not (a.side is Side.CRM or isinstance(a, _WITH_CRM_WRITES))]
        if rest:
            ProviderWrites(self).apply(rest)
        self.check_stop()

    def applied(self) -> None:
        self.done += 1
        if self.on_applied is not None:
            self.on_applied(self.done, self.total)

    def _apply_crm(self, actions: list[Action]) -> None:
        fatal: ContactSyncError | None = None
        # As many calls in flight as the CRM's rate limit and round trip allow (its
        # limiter keeps the rate), at least `workers`; re-read as the round trip is measured.
        most = self.workers or MAX_IN_FLIGHT
        with ThreadPoolExecutor(max_workers=most, thread_name_prefix="crm") as pool:
            running: set[Future[Outcome]] = set()
            queue = list(actions)
            while queue or running:
                if self.stop is not None and self.stop.is_set():
                    queue.clear()
                in_flight = self.workers or min(most, max(DEFAULT_WORKERS, self.crm.concurrency() or 0))
                while queue and fatal is None and len(running) < in_flight + 2:
                    action = queue.pop(0)
                    try:
                        write = self._prepare(action)
                    except ContactSyncError as exc:  # account-wide (e.g. 403 on an organization)
                        fatal = exc
                        break
                    if write is None and isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson)):
                        self.applied()
                        continue  # preparing failed and was recorded
                    if isinstance(action, (RecordVersion, SkipContact)):
                        self._commit(Outcome(action))
                        continue
                    running.add(pool.submit(self._remote, action, write))
                if fatal is not None:
                    queue.clear()
                if not running:
                    continue
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    if outcome.unsent and isinstance(outcome.action, CreatePerson) and not outcome.action.recover:
                        # Nothing was created: the pending link written before the call goes.
                        self.store.delete_link(self.target.account, outcome.action.provider_id)
                    if outcome.error is not None and not isinstance(outcome.error, ApiError) \
                            and not self.temporary_failure(outcome.error):
                        fatal = fatal or outcome.error
                        continue
                    if outcome.error is None:
                        self.consecutive_temporary = 0
                    self._commit(outcome)
        if fatal is not None:
            raise fatal

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted(f"{self.target.account}: stopped on request; what finished is recorded")

    # -- main thread: before the call ---------------------------------------

    def _prepare(self, action: Action) -> PersonWrite | None:
        if not isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson)):
            return None
        org_id = None  # resolved by the worker (_organization): a new one never stalls this thread
        if self.settings.two_way and isinstance(action, (AdoptPerson, UpdatePerson)):
            self.note_intent(action.provider_id, action.contact, ("crm",))
        if isinstance(action, CreatePerson) and not action.recover:
            # Written before the call: if we die after the create, the next pass
            # finds this pending link and looks the stamp up instead of creating again.
            self.store.put_link(Link(self.target.account, action.provider_id, None, "pending", action.stamp))
        is_create = isinstance(action, CreatePerson)
        return PersonWrite(
            contact=action.contact,
            org_id=org_id,
            owner_id=self.target.owner_id if is_create else None,
            visible_to=self.target.visible_to if is_create else None,
            stamp=action.stamp,
        )

    # -- worker thread: the API call -----------------------------------------

    def note_intent(self, provider_id: str, contact: Contact, sides: tuple[str, ...]) -> None:
        """Record, before sending, what a two-way write is about to make of a linked contact, on which sides."""
        link = self.store.link(self.target.account, provider_id)
        if link is not None and link.base is not None:
            intent = {"contact": contact.to_dict(), "sides": list(sides)}
            self.store.put_link(replace(link, base={**link.base, INTENT: intent}))

    def _organization(self, action: Action, write: PersonWrite | None) -> PersonWrite | None:
        if write is None or not write.contact.organization:
            return write
        organization = write.contact.organization
        try:
            # Every attempt searches first: an organization made by a lost answer is found, not made twice.
            org_id = self.with_retries(lambda _: self.crm.find_or_create_org(organization, self.target.visible_to))
        except ApiError as exc:
            raise ApiError(f"organization {organization!r}: {exc.message}", status=exc.status) from exc
        return replace(write, org_id=org_id)

    def _remote(self, action: Action, write: PersonWrite | None) -> Outcome:
        def attempt(n: int) -> Outcome:
            # A create retried may have happened (its answer lost): look its stamp up first.
            current = replace(action, recover=True) if n and isinstance(action, CreatePerson) else action
            return self._call(current, write)

        try:
            write = self._organization(action, write)
        except ContactSyncError as exc:
            return Outcome(action, error=exc, unsent=True)
        try:
            outcome = self.with_retries(attempt)
            if outcome.person is not None and getattr(action, "photo", None):
                outcome.photo = self._photo(action, outcome.person)
            return outcome
        except NotFound as exc:
            if isinstance(action, UpdatePerson):
                return Outcome(action, EventKind.GONE, detail="deleted in the CRM; not re-created")
            return Outcome(action, error=exc)
        except ContactSkipped as exc:
            record = ProviderRecord(action.provider_id, getattr(action, "version", ""), action.contact) \
                if isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson)) else None
            return Outcome(SkipContact(action.provider_id, exc.reason, record))
        except ContactSyncError as exc:
            return Outcome(action, error=exc)

    def _photo(self, action: Action, person: CrmPerson) -> tuple[EventKind, str | None] | None:
        """Upload the contact's photo when the person has none yet (DESIGN §7: one-way only)."""
        provider, ref = self.photos_from, getattr(action, "photo", None)
        if provider is None or ref is None or person.has_picture:
            return None
        try:
            image = self.with_retries(lambda _: provider.photo(action.provider_id, ref))
        except ContactSyncError as exc:
            if not retryable(exc):
                raise
            return (EventKind.PHOTO_SKIP, f"the photo could not be fetched: {exc.message}")
        if image is None:
            return None
        decision = plan_photo(image)
        if decision.skip is not None or decision.mime is None:
            return (EventKind.PHOTO_SKIP, decision.skip)
        mime = decision.mime
        try:
            self.with_retries(lambda _: self.crm.set_picture(person.id, image, mime, decision.crop))
        except ApiError as exc:
            return (EventKind.PHOTO_SKIP, f"Pipedrive refused the photo: {exc.message}")
        return (EventKind.PHOTO, None)

    def _call(self, action: Action, write: PersonWrite | None) -> Outcome:
        crm = self.crm
        if isinstance(action, CreatePerson):
            assert write is not None
            found = crm.find_by_stamp(action.stamp) if action.recover else None
            if found is not None:
                return Outcome(action, EventKind.RECOVER, crm.update(found.id, write), "found by its Contact sync ID")
            detail = "name taken from e-mail or phone" if action.contact.name_derived else None
            return Outcome(action, EventKind.CREATE, crm.create(write), detail)
        if isinstance(action, AdoptPerson):
            assert write is not None
            return Outcome(action, EventKind.ADOPT, crm.update(action.crm_id, write), action.reason)
        if isinstance(action, UpdatePerson):
            assert write is not None
            return Outcome(action, EventKind.UPDATE, crm.update(action.crm_id, write))
        if isinstance(action, DeletePerson):
            crm.delete(action.crm_id)
            return Outcome(action, EventKind.DELETE)
        if isinstance(action, ForgetLink):
            if action.stamp:
                found = crm.find_by_stamp(action.stamp)
                if found is not None:
                    crm.delete(found.id)
                    return Outcome(action, EventKind.DELETE, detail="created by an interrupted pass")
            return Outcome(action)
        raise AssertionError(f"not a remote action: {action!r}")

    # -- main thread: after the call -----------------------------------------

    def _commit(self, outcome: Outcome) -> None:
        with self.store.transaction():  # the action's link, failure and events: all or none
            self._commit_one(outcome)
        self.applied()

    def _commit_one(self, outcome: Outcome) -> None:
        action, store, account = outcome.action, self.store, self.target.account
        # The name as written, or as last linked: taken before a delete drops the link.
        name = action.contact.name if isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson)) else None
        name = name or self.link_name(action.provider_id)
        if outcome.error is not None:
            self.record_failure(action.provider_id, outcome.error.message, action)
            return
        if isinstance(action, SkipContact):
            # Kept apart from failures: nothing the user can fix by waiting (issue 11).
            record = record_to_dict(action.record) if action.record else {"id": action.provider_id}
            self.record_failure(action.provider_id, action.reason, action, record={**record, SKIPPED: True},
                                event=EventKind.SKIP)
            return
        if isinstance(action, RecordVersion):
            link = store.link(account, action.provider_id)
            if link is not None:
                store.put_link(replace(link, provider_version=action.version))
            # The contact was read afresh and needs nothing: a failure kept from an
            # earlier pass is settled. Left, its stale record was replayed by the next
            # incremental pass as the provider's news, over the user's later edits.
            store.clear_failure(account, action.provider_id)
            return
        if isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson)):
            if outcome.event == "gone":
                link = store.link(account, action.provider_id)
                if link is not None:
                    store.put_link(replace(link, state="tombstone", provider_version=action.version))
            else:
                person = outcome.person
                assert person is not None
                store.put_link(
                    Link(
                        account, action.provider_id, person.id, "linked", action.stamp,
                        provider_version=action.version, crm_version=person.version,
                        hash=record_hash(action.contact, action.photo), base=action.contact.to_dict(),
                    )
                )
        elif isinstance(action, (DeletePerson, ForgetLink)):
            store.delete_link(account, action.provider_id)
        store.clear_failure(account, action.provider_id)
        if outcome.event is not None:
            crm_id = outcome.person.id if outcome.person else getattr(action, "crm_id", None)
            log.info("%s: crm %s %s -> person %s%s", account, outcome.event, action.provider_id, crm_id,
                     f" ({outcome.detail})" if outcome.detail else "")
            self.event(outcome.event, action.provider_id, crm_id, outcome.detail, name=name)
            if outcome.event is not EventKind.GONE:
                for cut in getattr(action, "cuts", ()):
                    self.event(EventKind.TRUNCATE, action.provider_id, crm_id, cut, name=name)
                if isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson)):
                    self.record_issues(action.provider_id, crm_id, action.contact)
            if outcome.photo is not None:
                self.event(outcome.photo[0], action.provider_id, crm_id, outcome.photo[1], name=name)

    def record_issues(self, provider_id: str, crm_id: int | None, contact: Contact) -> None:
        """Each cleaning, invalid value and value left unread of a written contact, as an event."""
        # One event per field and kind: the first issue says the most (the value as read).
        first: dict[tuple[IssueKind, str], Issue] = {}
        for i in contact.issues:
            if i.kind in RECORDED_ISSUES:
                first.setdefault((i.kind, i.field), i)
        for issue in first.values():
            self.event(EventKind(issue.kind.value), provider_id, crm_id, issue.line(), name=contact.name or None)

    def record_failure(
        self, provider_id: str, reason: str, action: Action,
        record: dict[str, Any] | None = None, event: EventKind = EventKind.FAIL, crm_id: int | None = None,
    ) -> None:
        """Record a failure the next pass retries; `crm_id` for a CRM person's (its name is only shown)."""
        if record is None and isinstance(action, (CreatePerson, AdoptPerson, UpdatePerson)):
            record = record_to_dict(ProviderRecord(provider_id, action.version, action.contact))
        elif record is None and isinstance(action, (DeletePerson, ForgetLink)):
            record = record_to_dict(ProviderDeletion(provider_id))
        log.warning("%s: %s %s: %s", self.target.account, event, provider_id, reason)
        with self.store.transaction():
            known = self.store.failure_reason(self.target.account, provider_id)
            self.store.add_failure(self.target.account, provider_id, reason, record, crm_id)
            if known != reason:
                self.store.add_event(self.target.account, self.run_id, EventSide.CRM.value, event.value,
                                     provider_id, None, reason)
        self.tally[tally_key(EventSide.CRM, event)] += 1

    def link_name(self, provider_id: str) -> str | None:
        """The contact's name as last synced (its link's base), or None."""
        link = self.store.link(self.target.account, provider_id)
        name = link.base.get("name") if link is not None and isinstance(link.base, dict) else None
        return name if isinstance(name, str) and name else None

    def event(self, kind: EventKind, provider_id: str, crm_id: int | None, detail: str | None,
              side: EventSide = EventSide.CRM, name: str | None = None) -> None:
        """Record one event of the pass in the store and count it in the tally.

        `name`: the contact's display name; by default the linked one, looked up now,
        so that `status` can name the contact after its link is gone."""
        name = name or self.link_name(provider_id)
        self.store.add_event(self.target.account, self.run_id, side.value, kind.value, provider_id, crm_id, detail,
                             name)
        self.tally[tally_key(side, kind)] += 1
