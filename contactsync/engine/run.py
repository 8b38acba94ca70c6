"""One sync pass for one account: preflight, read, plan, guard, apply, record.

`sync_account` only sequences. The provider's changes stream in pages (memory
stays flat); the CRM's side is read whole by snapshot.py before the first page
is planned; each page is planned by the one pure planner and applied at once,
except deletions, which wait for the end of the pass where the safety rails
see every one of them on both sides.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from contactsync.config import AccountConfig, CrmConfig
from contactsync.crm.base import Crm, CrmUser
from contactsync.crm.pipedrive_plans import effective_visibility
from contactsync.engine.actions import DELETIONS, Action, planned_events
from contactsync.engine.apply import Executor, OnApplied, Target, is_change_record, is_skipped, record_from_dict
from contactsync.engine.plan import Handled, plan_step, rest_ids
from contactsync.engine.rules import Policy, SyncSettings
from contactsync.engine.dry_run import DryRun, dry_run
from contactsync.engine.safety import check_deletions, check_listing
from contactsync.engine.snapshot import CURSOR as CRM_CURSOR
from contactsync.engine.snapshot import START as CRM_START
from contactsync.engine.snapshot import CrmSnapshot, read_adoption, read_snapshot
from contactsync.errors import ContactSyncError, CursorExpired, Interrupted, PermissionDenied, SafetyStop, UsageError
from contactsync.providers.base import Change, ChangeFeed, Provider, ProviderDeletion, ProviderRecord, ProviderSkip
from contactsync.settings import ConflictPolicy, Direction, parse
from contactsync.store.db import Failure, LinkStore, RunRecord

log = logging.getLogger(__name__)


@dataclass
class PassOptions:
    full: bool = False
    dry_run: bool = False
    allow_mass_delete: bool = False
    allow_empty: bool = False
    workers: int | None = None  # calls in flight to the CRM; None: as its rate and round trip call for
    stop: threading.Event | None = None
    # Called after every applied action with (done, total); see apply.py.
    on_applied: OnApplied | None = None
    # Called once the listing is open, with the pass's kind and how many contacts the provider says a
    # full listing holds (ChangeFeed.expected: None for changes since a cursor, or when it does not say).
    on_start: Callable[[str, int | None], None] | None = None


@dataclass
class PassResult:
    account: str
    outcome: str = "ok"  # ok | partial | dry-run | failed
    full: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    # Contacts that cannot be synced as they are (no name, not mappable): not failures.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    plan: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: ContactSyncError | None = None
    # A dry run: the plan described for people (names, field changes, what the CRM would gain).
    described: DryRun | None = None
    # first (nothing synced before), continued (after an interrupted pass), full or incremental.
    kind: str = "incremental"


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


def check_direction(account: AccountConfig, provider: Provider) -> None:
    """Two-way needs a provider that can write: refused at `configure` and at every pass."""
    if account.direction == Direction.TWO_WAY and not provider.capabilities.supports_write:
        raise UsageError(
            f"{account.key}: this {provider.kind} account cannot be written to, so it syncs one-way only",
            f"run `contactsync configure {account.key} --direction one-way`",
        )


def account_settings(account: AccountConfig, provider: Provider, crm: Crm) -> SyncSettings:
    """The typed settings of one account's pass, with what the provider and the CRM allow."""
    return SyncSettings(
        account=account.key, provider=account.provider, account_email=account.email,
        direction=parse(Direction, account.direction, "direction"),
        conflicts=parse(ConflictPolicy, account.conflicts, "conflicts"),
        policy=Policy(syncs_notes=provider.capabilities.syncs_notes, text_limits=crm.text_limits),
        held=provider.representable,
    )


def sync_account(
    store: LinkStore,
    provider: Provider,
    crm: Crm,
    account: AccountConfig,
    crm_config: CrmConfig,
    options: PassOptions,
    progress: Progress | None = None,
) -> PassResult:
    key, result = account.key, PassResult(account.key, full=options.full)
    check_direction(account, provider)
    user = preflight(provider, crm, account)
    settings = account_settings(account, provider, crm)
    if not options.dry_run:
        # A dry run creates nothing, custom fields included; the CRM adapter was
        # opened with the keys the store already knows.
        store.set_crm_fields(crm.ensure_fields(store.crm_fields()))
    target = Target(key, user.id, effective_visibility(account.visibility, crm_config.plan)[1])
    group = account.group or provider.default_group().id
    # Read: the CRM side whole, then the provider's pages as they come.
    counts = store.count_links(key)
    first_sync = not store.has_history(key) and counts["linked"] == 0
    adoption = read_adoption(crm, user.id, account.provider, account.email, account.adopt) if first_sync else None
    snapshot = read_snapshot(store, crm, settings, user.id, adoption, full=options.full)
    # A provider without incremental reads is always listed whole (its cursor is never asked for).
    incremental = provider.capabilities.supports_incremental and not options.full
    cursor_row = store.cursor(key) if incremental else None
    feed = _open_feed(provider, cursor_row[0] if cursor_row else None, group, result)
    result.full = feed.complete
    result.kind = pass_kind(store.last_run(key), first_sync, feed.complete)
    if options.on_start is not None:
        options.on_start(result.kind, feed.expected)
    log.info("%s: pass starts (%s%s)", key, "full listing" if feed.complete else "changes since last pass",
             ", dry run" if options.dry_run else "")
    run_id = None if options.dry_run else store.start_run(key, feed.complete, result.kind)
    # Photos go one way only: provider -> CRM, and only in one-way sync (DESIGN §7).
    photos = provider if provider.capabilities.supports_photo and not settings.two_way else None
    executor = Executor(store, crm, target, run_id, settings, provider if settings.two_way else None, group,
                        workers=options.workers, photos_from=photos, stop=options.stop, on_applied=options.on_applied)
    try:
        _plan_and_apply(store, feed, snapshot, settings, executor, counts, options, result, progress)
    except ContactSyncError as exc:  # logged by the runner, with every other account error
        if run_id is not None:
            store.finish_run(run_id, _stopped_outcome(exc), exc.line())
        raise
    finally:
        result.counts.update(executor.tally)
        if progress:
            progress(-1)  # the pass is over: a negative count closes the progress display
    if options.dry_run:
        result.outcome = "dry-run"
        result.described = dry_run(result.plan, store, crm, key)
    else:  # Record.
        assert run_id is not None
        store.set_cursor(key, feed.cursor)
        if settings.two_way:
            store.set_cursor(key, snapshot.cursor, CRM_CURSOR)
            store.set_cursor(key, snapshot.start, CRM_START)
        result.failures, result.skipped = failures_and_skips(store, key)
        result.outcome = "partial" if executor.tally.get("fail") else "ok"
        store.finish_run(run_id, result.outcome, "; ".join(result.notes) or None)
    log.info("%s: pass %s: %s", key, result.outcome, dict(result.counts) or "no changes")
    return result


def failures_and_skips(store: LinkStore, key: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The account's failing contacts (retried) and skipped ones (cannot be synced as they are)."""
    rows = store.failures(key)
    return ([(f.provider_id, f.reason) for f in rows if not is_skipped(f.record)],
            [(f.provider_id, f.reason) for f in rows if is_skipped(f.record)])


def _stopped_outcome(exc: ContactSyncError) -> str:
    """How a pass that raised is recorded: `stopped` by a safety rail (its work done but
    the held-back deletions), `interrupted` on request, else `failed`."""
    if isinstance(exc, Interrupted):
        return "interrupted"
    return "stopped" if isinstance(exc, SafetyStop) else "failed"


def pass_kind(last: RunRecord | None, first_sync: bool, complete: bool) -> str:
    """What the pass is, in words a person checks: first, continued (after an interrupted one), full, incremental.

    Continued only when the last pass left its work half done: killed (no outcome),
    interrupted or failed. A safety rail's stop listed and applied everything but the
    deletions it held back: nothing is continued after it."""
    if last is not None and last.outcome not in ("ok", "partial", "stopped"):
        return "continued"
    if first_sync:
        return "first"
    return "full" if complete else "incremental"


def _plan_and_apply(store: LinkStore, feed: ChangeFeed, snapshot: CrmSnapshot, settings: SyncSettings,
                    executor: Executor, counts: dict[str, int], options: PassOptions, result: PassResult,
                    progress: Progress | None) -> None:
    """Plan page by page and apply, holding deletions back; then the rest, the guard, the deletions."""
    key = settings.account
    # What the pages showed is kept in the store's temporary table, not in memory (flat in the book's size).
    store.seen_start()
    deletions: list[Action] = []
    retries = {f.provider_id: f for f in store.failures(key)}
    handled = Handled()

    def step(actions: list[Action]) -> None:
        deletions.extend(a for a in actions if isinstance(a, DELETIONS))
        _apply([a for a in actions if not isinstance(a, DELETIONS)], executor, options, result)

    for page in _pages(store, feed, retries):
        if not options.dry_run:
            _follow_renames(store, key, page)
        links = store.links_for(key, (c.id for c in page))
        actions, handled = plan_step(links, page, snapshot, settings, handled)
        step(actions)
        if progress:
            progress(len(page))
        del page, links, actions  # let this page go before the next one is read
    if feed.complete:
        # A linked contact absent from a complete listing was deleted or left the group.
        listed = store.seen_present()
        _guard(lambda: check_listing(key, True, listed, counts["linked"] + counts["pending"], options.allow_empty),
               options, result)
    if feed.complete and not options.dry_run:
        # Cleared now, before this pass plans anything more: a failure it records from
        # here on (a contact it re-creates, say) is kept for the next pass to retry.
        # After the empty-listing guard: a pass it stops plans nothing for them, and a
        # failure cleared before it (a failed re-create) was never retried again.
        for provider_id, failure in retries.items():  # left the group: nothing to retry
            if failure.kind == "contact" and is_change_record(failure.record):
                store.clear_failure(key, provider_id)
    if feed.complete:
        missing = {link.provider_id: link for link in store.unseen_links(key, ("pending", "linked", "tombstone", "foreign"))}
        actions, handled = plan_step(missing, [ProviderDeletion(i) for i in missing], snapshot, settings, handled)
        step(actions)
    # What changed in the CRM only (an edit there may also re-create: it beats a deletion).
    actions, handled = plan_step(store.links_by_crm(key, rest_ids(snapshot, handled)), [], snapshot, settings,
                                 handled, rest=True)
    step(actions)
    _guard(lambda: check_deletions(key, deletions, counts["linked"], options.allow_mass_delete), options, result)
    _apply(deletions, executor, options, result)


def _follow_renames(store: LinkStore, key: str, page: list[Change]) -> None:
    """A contact the provider gave a new id keeps its link: an update, not a delete and a create."""
    for change in page:
        for old in change.previous_ids if isinstance(change, ProviderRecord) else ():
            if store.rename_link(key, old, change.id):
                log.info("%s: contact %s is now %s in the provider; its link follows it", key, old, change.id)


def _guard(check: Callable[[], None], options: PassOptions, result: PassResult) -> None:
    """A safety rail: a real pass stops; a dry run records which rail would stop it and shows the whole plan."""
    try:
        check()
    except SafetyStop as stop:
        if not options.dry_run:
            raise
        if result.error is None:
            result.error = stop


def _open_feed(provider: Provider, cursor: str | None, group: str, result: PassResult) -> ChangeFeed:
    if cursor is None:
        return provider.changes(None, group)
    try:
        return provider.changes(cursor, group)
    except CursorExpired:
        log.info("the provider expired the sync cursor; reading everything once")
        result.notes.append("the provider expired our sync cursor; read everything once")
        return provider.changes(None, group)


def _pages(store: LinkStore, feed: ChangeFeed, retries: dict[str, Failure]) -> Iterator[list[Change]]:
    """The feed's pages, then the contacts that failed before and did not come again.

    A failed contact is retried even though the cursor moved past it (DESIGN §5).
    An entry repeated in a later page (a replayed delta) was handled already;
    after our own write its old version would look like a provider edit. What
    each page held is recorded in the store's `seen` table: a contact the adapter
    could not read (a skip) is still there, and never taken for a deletion.
    """
    for page in feed.pages():
        before = store.seen_versions(c.id for c in page)
        page = [c for c in page if before.get(c.id, "") != getattr(c, "version", None)]
        store.seen_add((c.id, getattr(c, "version", None), isinstance(c, (ProviderRecord, ProviderSkip)))
                       for c in page)
        for change in page:
            retries.pop(change.id, None)
        del before
        yield page
        del page
    if feed.complete:
        # A complete listing has just shown every contact of the group: a failed
        # contact it did not show has left the group, and its stored copy is stale.
        return
    leftover: list[Change] = [record_from_dict(f.record) for f in retries.values()
                              if f.kind == "contact" and f.record and is_change_record(f.record)]
    if leftover:
        yield leftover


def _apply(actions: list[Action], executor: Executor, options: PassOptions, result: PassResult) -> None:
    if options.dry_run:
        result.plan.extend(actions)
        result.counts.update(key for a in actions for key in planned_events(a))
        return
    executor.apply(actions)
