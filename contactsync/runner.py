"""Sync passes over the configured accounts: lock, open adapters, run, collect results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from contactsync import config as cfg
from contactsync.config import AccountConfig
from contactsync.crm.cache import CrmCache, cache_key
from contactsync.crm.registry import open_crm
from contactsync.engine.lock import account_lock
from contactsync.engine.run import PassOptions, PassResult, Progress, sync_account
from contactsync.errors import ContactSyncError, Interrupted, UsageError
from contactsync.providers.registry import provider_session
from contactsync.store import LinkStore

ProgressFactory = Callable[[AccountConfig], Progress | None]


@dataclass
class RunReport:
    results: list[PassResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """DESIGN §10: 0 all synced; one account's own code when it alone failed; else 1."""
        errors = [r.error for r in self.results if r.error is not None]
        if not errors:
            return 1 if any(r.outcome == "partial" for r in self.results) else 0
        if len(errors) == len(self.results) and len({e.exit_code for e in errors}) == 1:
            return errors[0].exit_code
        return 1


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
) -> RunReport:
    """One pass of each selected account; one failing account never stops the others."""
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
                        save_cache(store, cache, cache_key(crm_config), options.dry_run)
            except ContactSyncError as exc:
                if account.email not in exc.message:
                    exc.message = f"{account.key}: {exc.message}"  # every line names its account
                outcome = "interrupted" if isinstance(exc, Interrupted) else "failed"
                result = PassResult(account.key, outcome=outcome, full=options.full, error=exc)
                result.failures = [(f.provider_id, f.reason) for f in store.failures(account.key)]
            report.results.append(result)
            if isinstance(result.error, Interrupted):
                break  # stop requested: leave the other accounts for the next pass
    finally:
        store.close()
    return report
