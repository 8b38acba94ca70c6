"""One sync pass for one account: preflight, read, plan, guard, apply, record."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from dataclasses import dataclass, field

from contactsync import visibility
from contactsync.config import AccountConfig, CrmConfig
from contactsync.crm.base import Crm, CrmUser
from contactsync.engine.apply import Executor, Target, is_change_record, record_from_dict
from contactsync.engine.plan import (
    WRITES,
    Action,
    AdoptionIndex,
    DeletePerson,
    ForgetLink,
    Policy,
    plan_changes,
    plan_missing,
)
from contactsync.engine.safety import check_deletions, check_listing
from contactsync.engine.twoway_apply import TwoWayExecutor
from contactsync.engine.twoway_plan import PROVIDER_WRITES, DeleteContact, TwoWaySettings
from contactsync.engine.twoway_run import CURSOR as CRM_CURSOR
from contactsync.engine.twoway_run import START as CRM_START
from contactsync.engine.twoway_run import CrmSide
from contactsync.errors import ContactSyncError, CursorExpired, Interrupted, PermissionDenied
from contactsync.model import normalise_email
from contactsync.providers.base import Change, ChangeFeed, Provider, ProviderRecord
from contactsync.store.db import Failure, LinkStore


log = logging.getLogger(__name__)

# Deletions wait for the end of the pass, where the mass-deletion guard sees them all.
DELETIONS = (DeletePerson, ForgetLink, DeleteContact)


@dataclass
class PassOptions:
    full: bool = False
    dry_run: bool = False
    allow_mass_delete: bool = False
    allow_empty: bool = False
    workers: int = 4
    stop: threading.Event | None = None


@dataclass
class PassResult:
    account: str
    outcome: str = "ok"  # ok | partial | dry-run | failed
    full: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    plan: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: ContactSyncError | None = None


# Called with the number of contacts read after each page, and with -1 when the pass ends.
Progress = Callable[[int], None]


def preflight(provider: Provider, crm: Crm, account: AccountConfig) -> CrmUser:
    """The provider grant works and the CRM user may add people and organizations."""
    provider.check()
    user = crm.me()
    missing = crm.missing_permissions(user)
    if missing:
        raise PermissionDenied(
            f"{account.key}: the Pipedrive user {user.email} may not {' or '.join(m.lower() for m in missing)}",
            "a Pipedrive admin grants it in Settings > Manage users > Permission sets; then run again",
        )
    return user


def sync_account(
    store: LinkStore,
    provider: Provider,
    crm: Crm,
    account: AccountConfig,
    crm_config: CrmConfig,
    options: PassOptions,
    progress: Progress | None = None,
) -> PassResult:
    key = account.key
    result = PassResult(key, full=options.full)
    user = preflight(provider, crm, account)
    if not options.dry_run:
        # A dry run creates nothing, custom fields included; the CRM adapter was
        # opened with the keys the store already knows.
        store.set_crm_fields(crm.ensure_fields(store.crm_fields()))
    setting = account.visibility or visibility.default_setting(crm_config.plan)
    target = Target(key, user.id, visibility.visible_to(setting, crm_config.plan))
    group = account.group or provider.default_group().id

    cursor_row = None if options.full else store.cursor(key)
    feed = _open_feed(provider, cursor_row[0] if cursor_row else None, group, result)
    result.full = feed.complete
    log.info("%s: pass starts (%s%s)", key, "full listing" if feed.complete else "changes since last pass",
             ", dry run" if options.dry_run else "")

    counts = store.count_links(key)
    first_sync = not store.has_history(key) and counts["linked"] == 0
    adoption = _adoption_index(crm, user, key, account) if first_sync else None

    run_id = None if options.dry_run else store.start_run(key, feed.complete)
    # Photos go one way only: provider -> CRM, and only in one-way sync (DESIGN §7).
    photos = provider if provider.capabilities.supports_photo and account.direction == "one-way" else None
    executor = Executor(store, crm, target, run_id, workers=options.workers, photos_from=photos, stop=options.stop)
    policy = Policy(syncs_notes=provider.capabilities.syncs_notes, text_limits=crm.text_limits)
    apply: Callable[[list[Any]], None] = executor.apply
    crm_side: CrmSide | None = None
    if account.direction == "two-way":
        settings = TwoWaySettings(policy, account.conflicts, provider.representable)
        crm_side = CrmSide.read(store, crm, key, account.provider, account.email, user.id, settings)
        apply = TwoWayExecutor(executor, provider, account.provider, account.email, group, settings).apply
    seen: set[str] = set()
    deletions: list[Action] = []
    retries = {f.provider_id: f for f in store.failures(key)}
    try:
        handled: dict[str, str | None] = {}
        for page in _with_retries(feed, retries):
            # An entry repeated in a later page (a replayed delta) was handled already;
            # after our own write its old version would look like a provider edit.
            page = [c for c in page if handled.get(c.id, "") != getattr(c, "version", None)]
            for change in page:
                handled[change.id] = getattr(change, "version", None)
                if isinstance(change, ProviderRecord):
                    seen.add(change.id)
            links = store.links_for(key, (c.id for c in page))
            if crm_side is not None:
                actions: list[Any] = crm_side.plan_page(page, links, adoption, policy)
            else:
                actions = plan_changes(key, account.provider, account.email, page, links, adoption, policy)
            deletions.extend(a for a in actions if isinstance(a, DELETIONS))
            _run(apply, [a for a in actions if not isinstance(a, DELETIONS)], options, result)
            if progress:
                progress(len(page))
        later: list[Any] = []
        if feed.complete:
            linked = counts["linked"] + counts["pending"]
            check_listing(key, True, len(seen), linked, options.allow_empty)
            every = store.iter_links(key, ("pending", "linked", "tombstone", "foreign"))
            later += crm_side.plan_missing(every, seen) if crm_side else plan_missing(every, seen)
        if crm_side is not None:
            later += crm_side.plan_rest(store)
        # Missing contacts and CRM-only changes may also re-create (an edit beats a deletion).
        deletions.extend(a for a in later if isinstance(a, DELETIONS))
        _run(apply, [a for a in later if not isinstance(a, DELETIONS)], options, result)
        if feed.complete and not options.dry_run:
            for provider_id, failure in retries.items():  # left the group: nothing to retry
                if is_change_record(failure.record):
                    store.clear_failure(key, provider_id)
        real = sum(isinstance(a, (DeletePerson, DeleteContact)) for a in deletions)
        check_deletions(key, real, counts["linked"], options.allow_mass_delete)
        _run(apply, [a for a in deletions if isinstance(a, DELETIONS)], options, result)
    except ContactSyncError as exc:
        log.error("%s: pass stopped: %s", key, exc.line())
        if run_id is not None:
            store.finish_run(run_id, "interrupted" if isinstance(exc, Interrupted) else "failed", exc.line())
        raise
    finally:
        result.counts.update(executor.tally)
        if progress:
            progress(-1)  # the pass is over: a negative count closes the progress display

    if not options.dry_run:
        store.set_cursor(key, feed.cursor)
        if crm_side is not None:
            store.set_cursor(key, crm_side.cursor, CRM_CURSOR)
            store.set_cursor(key, crm_side.start, CRM_START)
        result.failures = [(f.provider_id, f.reason) for f in store.failures(key)]
        result.outcome = "partial" if executor.tally.get("fail") else "ok"
        assert run_id is not None
        store.finish_run(run_id, result.outcome, "; ".join(result.notes) or None)
    else:
        result.outcome = "dry-run"
    log.info("%s: pass %s: %s", key, result.outcome, dict(result.counts) or "no changes")
    return result


def _open_feed(provider: Provider, cursor: str | None, group: str, result: PassResult) -> ChangeFeed:
    if cursor is None:
        return provider.changes(None, group)
    try:
        return provider.changes(cursor, group)
    except CursorExpired:
        log.info("the provider expired the sync cursor; reading everything once")
        result.notes.append("the provider expired our sync cursor; read everything once")
        return provider.changes(None, group)


def _with_retries(feed: ChangeFeed, retries: dict[str, Failure]) -> Iterator[list[Change]]:
    """The feed's pages, then the contacts that failed before and did not come again.

    A failed contact is retried even though the cursor moved past it (DESIGN §5).
    """
    for page in feed.pages():
        for change in page:
            retries.pop(change.id, None)
        yield page
    if feed.complete:
        # A complete listing has just shown every contact of the group: a failed
        # contact it did not show has left the group, and its stored copy is stale.
        return
    leftover: list[Change] = [record_from_dict(f.record) for f in retries.values() if is_change_record(f.record)]
    if leftover:
        yield leftover


def _adoption_index(crm: Crm, user: CrmUser, key: str, account: AccountConfig) -> AdoptionIndex:
    index = AdoptionIndex(use_email=account.adopt)
    prefix = f"{account.provider}:{account.email.lower()}:"
    for person in crm.list_persons(owner_id=user.id):
        if person.stamp:
            if person.stamp.startswith(prefix):
                index.by_stamp[person.stamp] = person.id
            continue  # stamped by another account: never adopted by e-mail
        email = person.contact.primary_email
        if email:
            index.by_email.setdefault(normalise_email(email), []).append(person.id)
    return index


def _run(apply: Callable[[list[Any]], None], actions: list[Any], options: PassOptions, result: PassResult) -> None:
    if options.dry_run:
        result.plan.extend(actions)
        result.counts.update(a.kind for a in actions if isinstance(a, (*WRITES, *PROVIDER_WRITES)) or a.kind == "skip")
        return
    apply(actions)

