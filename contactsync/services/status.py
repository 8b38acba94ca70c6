"""The status report of each account (DESIGN §9); its dict is the stable `--json` shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contactsync import config as cfg
from contactsync.crm import pipedrive_plans as visibility
from contactsync.config import AccountConfig
from contactsync.engine.apply import is_skipped
from contactsync.engine.events import SIDE_KINDS, EventSide
from contactsync.store import Event, LinkStore

# Every event kind the engine records (engine/events.py), counted for both sides: each
# side's dict has every key, so the --json shape does not depend on the direction.
COUNTED = tuple(dict.fromkeys(kind.value for kinds in SIDE_KINDS.values() for kind in kinds))
# What happened to a person or contact (not its photo, nor a value cleaned): `recent_changes`.
PERSON_CHANGES = ("create", "adopt", "update", "delete", "recover", "fail")
RECENT_CHANGES = 10


def _counts(raw: dict[str, int], side: EventSide) -> dict[str, int]:
    return {action: raw.get(f"{side.value}:{action}", 0) for action in COUNTED}


def _age_seconds(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds())


def _name_in(record: dict[str, Any] | None) -> str | None:
    """The contact's name in a stored record: a link's base, or a failure's replayed change."""
    if not record:
        return None
    contact = record.get("contact", record)
    name = contact.get("name") if isinstance(contact, dict) else None
    return name or None


def _names(store: LinkStore, key: str, provider_ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for provider_id in provider_ids:
        link = store.link(key, provider_id)
        name = _name_in(link.base) if link else None
        if name:
            names[provider_id] = name
    return names


def _event_row(e: Event, names: dict[str, str]) -> dict[str, Any]:
    return {"at": e.at, "side": e.side, "action": e.action, "contact": e.provider_id, "crm_id": e.crm_id,
            "detail": e.detail, "name": e.name or names.get(e.provider_id or "")}


def pass_running(account: AccountConfig) -> bool:
    """Whether another process holds the account's lock now: a pass is running, not interrupted.

    The lock is taken and let go at once; a pass starting in that instant would see
    it held and exit 5, a window of microseconds.
    """
    from contactsync.engine.lock import account_lock
    from contactsync.errors import LockHeld

    try:
        with account_lock(cfg.state_dir(), account.key, wait=False):
            return False
    except LockHeld:
        return True


def account_status(store: LinkStore, account: AccountConfig, plan: str | None) -> dict[str, Any]:
    key = account.key
    events = store.recent_events(key, 10)
    # The person changes (adds, updates, deletes, failures), apart: photo and cleaning
    # events would push them out of the last ten.
    changes = store.recent_events(key, RECENT_CHANGES, PERSON_CHANGES)
    failures = store.failures(key)
    names = _names(store, key, {e.provider_id for e in [*events, *changes] if e.provider_id})
    # The name recorded with an event (migration 0005) also names that contact's older
    # events, recorded before it, and outlives its link (a deleted person).
    for e in [*events, *changes]:
        if e.name and e.provider_id:
            names.setdefault(e.provider_id, e.name)
    for failure in failures:
        name = _name_in(failure.record)
        if name:
            names.setdefault(failure.provider_id, name)
    running = pass_running(account)
    links = store.count_links(key)
    last = store.last_run(key)
    cursor = store.cursor(key)
    last_counts = store.event_counts(key, run_id=last.id) if last else {}
    week = store.event_counts(key, days=7)
    setting = str(visibility.effective_setting(account.visibility, plan)) if plan else str(account.visibility or "")
    return {
        "account": key,
        "provider": account.provider,
        "email": account.email,
        "group": {"id": account.group, "name": account.group_name},
        "direction": account.direction,
        "visibility": setting,
        "linked": links["linked"],
        "pending": links["pending"],
        "not_recreated": links["tombstone"],
        # Two-way: persons handed to another owner, neither synced back nor deleted.
        "handed_over": links["foreign"],
        "last_run": None
        if last is None
        else {
            "started_at": last.started_at,
            "finished_at": last.finished_at,
            "outcome": last.outcome or ("running" if running else "interrupted"),
            "full": last.full,
            # What `run` called the pass; older passes (before migration 0006) by their listing.
            "kind": last.kind or ("full" if last.full else "incremental"),
            "message": last.message,
        },
        "last_run_counts": {"to_crm": _counts(last_counts, EventSide.CRM),
                            "to_provider": _counts(last_counts, EventSide.PROVIDER)},
        "last_7_days": {"to_crm": _counts(week, EventSide.CRM), "to_provider": _counts(week, EventSide.PROVIDER)},
        "running": running,
        "conflicts": week.get("crm:conflict", 0) + week.get("provider:conflict", 0),
        # Failing: retried by every pass. Skipped: cannot be synced as it is (issue 11).
        "failures": [
            {"contact": f.provider_id, "reason": f.reason, "since": f.first_at, "attempts": f.attempts,
             "name": names.get(f.provider_id)}
            for f in failures if not is_skipped(f.record)
        ],
        "skipped": [
            {"contact": f.provider_id, "reason": f.reason, "since": f.first_at, "name": names.get(f.provider_id)}
            for f in failures if is_skipped(f.record)
        ],
        "cursor_age_seconds": _age_seconds(cursor[1]) if cursor else None,
        "recent": [_event_row(e, names) for e in events],
        "recent_changes": [_event_row(e, names) for e in changes],
        "changes_total": store.count_events(key, PERSON_CHANGES),
    }


def status(names: list[str] | None = None) -> dict[str, Any]:
    config = cfg.load()
    accounts = [config.account(n) for n in names] if names else sorted(config.accounts.values(), key=lambda a: a.key)
    crm = config.crm
    store = LinkStore.open(cfg.state_path())
    try:
        rows = [account_status(store, account, crm.plan if crm else None) for account in accounts]
    finally:
        store.close()
    return {
        "crm": None if crm is None else {"kind": crm.kind, "domain": crm.domain, "plan": crm.plan, "user": crm.user_email},
        "accounts": rows,
    }
