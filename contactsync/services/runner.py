"""Sync passes over the configured accounts: lock, open adapters, run, collect results."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from contactsync import config as cfg
from contactsync.paths import local_failure
from contactsync.cleaning import clean_text
from contactsync.config import AccountConfig
from contactsync.crm.cache import CrmCache, cache_key
from contactsync.crm.registry import open_crm
from contactsync.engine.lock import account_lock
from contactsync.engine.run import PassOptions, PassResult, Progress, failures_and_skips, sync_account
from contactsync.errors import ContactSyncError, Interrupted, UsageError
from contactsync.providers.registry import provider_session
from contactsync.store import LinkStore
from contactsync.store.db import busy_error

ProgressFactory = Callable[[AccountConfig], Progress | None]

log = logging.getLogger(__name__)


# With several accounts, the code of the run is the first of these any account has
# (README, "Exit codes"): what needs the user (sign in again) before what passes by
# itself (retry later, another pass running), before a safety stop, before failures.
EXIT_PRECEDENCE = (3, 2, 75, 5, 4, 1)


class UnexpectedError(ContactSyncError):
    """Anything else one account's pass raised (a bug): recorded in one line; the other accounts run."""

    exit_code = 1


def account_exit_code(result: PassResult) -> int:
    """One account's own exit code (DESIGN §10), as `run --json` reports it."""
    if result.error is not None:
        return result.error.exit_code
    return 1 if result.outcome == "partial" else 0


@dataclass
class RunReport:
    results: list[PassResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The most pressing of the accounts' own codes, by EXIT_PRECEDENCE; 0 when every account synced."""
        codes = {account_exit_code(r) for r in self.results}
        return next((code for code in EXIT_PRECEDENCE if code in codes), max(codes, default=0))


def _as_error(exc: Exception, reraise: bool) -> ContactSyncError:
    if isinstance(exc, ContactSyncError):
        return exc
    busy = busy_error(exc)
    if busy is not None:
        return busy
    if reraise:
        raise exc
    local = local_failure(exc, cfg.state_path())  # a full disk, a file that cannot be written
    if local is not None:
        return local
    first_line = clean_text((str(exc).splitlines() or [""])[0][:200])[0]
    return UnexpectedError(f"unexpected {type(exc).__name__}: {first_line}".rstrip(": "),
                           "the other accounts ran; run again with --debug for the traceback and report it")


def _failures(store: LinkStore, account: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    try:
        return failures_and_skips(store, account)
    except Exception as exc:  # noqa: BLE001 - only a busy state file is expected here
        if busy_error(exc) is None:
            raise
        return [], []


def select_accounts(config: cfg.Config, names: list[str] | None) -> list[AccountConfig]:
    if names:
        return [config.account(name) for name in names]
    if not config.accounts:
        raise UsageError("no accounts to sync", "add one with `contactsync add-account google EMAIL --client-secrets FILE`")
    return sorted(config.accounts.values(), key=lambda a: a.key)


def save_cache(store: LinkStore, cache: CrmCache, key: str, dry_run: bool) -> None:
    """What the CRM told us this pass, for the next (also after a failed pass: it was true)."""
    keys = cache.get("field_keys")
    if not dry_run and isinstance(keys, dict) and keys != store.crm_fields():
        store.set_crm_fields(keys)
    cache.save(store, key)


def run_once(
    names: list[str] | None = None,
    options: PassOptions | None = None,
    *,
    wait: bool = False,
    progress: ProgressFactory | None = None,
    reraise: bool = False,
) -> RunReport:
    """One pass of each selected account; one failing account never stops the others.

    An error that is not a ContactSyncError (a bug, a malformed answer no adapter
    foresaw) ends only that account's pass, as one line; `reraise` (--debug) lets
    it through with its traceback instead.
    """
    options = options or PassOptions()
    config = cfg.load()
    crm_config = config.require_crm()
    accounts = select_accounts(config, names)
    report = RunReport()
    store = LinkStore.open(cfg.state_path())
    try:
        for account in accounts:
            try:
                with account_lock(cfg.state_dir(), account.key, wait):
                    cache = CrmCache.load(store, cache_key(crm_config))
                    crm = open_crm(crm_config, store.crm_fields(), cache=cache)
                    try:
                        with provider_session(account) as provider:
                            result = sync_account(
                                store, provider, crm, account, crm_config, options,
                                progress(account) if progress else None,
                            )
                    finally:
                        # Reads the adapter started ahead end in this pass (none when it was stopped).
                        crm.settle(0 if options.stop is not None and options.stop.is_set() else 30)
                        save_cache(store, cache, cache_key(crm_config), options.dry_run)
            except Exception as raw:  # noqa: BLE001 - the per-account boundary (issue 11)
                exc = _as_error(raw, reraise)
                if account.email not in exc.message:
                    exc.message = f"{account.key}: {exc.message}"  # every line names its account
                outcome = "interrupted" if isinstance(exc, Interrupted) else "failed"
                # Every account's error line reaches the log, also one raised before its pass
                # started (a sign-in refresh, the CRM's field listing): cron users read only the log.
                line = exc.line()
                log.log(logging.WARNING if outcome == "interrupted" else logging.ERROR, "%s",
                        line if line.startswith(account.key) else f"{account.key}: {line}")
                result = PassResult(account.key, outcome=outcome, full=options.full, error=exc)
                result.failures, result.skipped = _failures(store, account.key)
            report.results.append(result)
            if isinstance(result.error, Interrupted):
                break  # stop requested: leave the other accounts for the next pass
    finally:
        store.close()
    return report
