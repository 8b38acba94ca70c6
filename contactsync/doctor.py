"""`doctor`: check every piece a pass needs, and say how to fix what fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keyring
from keyring.backends import fail

from contactsync import config as cfg
from contactsync.config import Config
from contactsync.crm.base import Crm
from contactsync.crm.registry import open_crm
from contactsync.errors import ContactSyncError
from contactsync.providers.registry import provider_session
from contactsync.store import LinkStore


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def _guard(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except ContactSyncError as exc:
        return Check(name, False, exc.message, exc.fix)


def run_checks() -> list[Check]:
    checks: list[Check] = []
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        checks.append(Check("keyring", False, "no keyring backend is available",
                            "install one, choose one with PYTHON_KEYRING_BACKEND, or give secrets in "
                            "CONTACTSYNC_SECRET_* environment variables (see the README)"))
    else:
        checks.append(Check("keyring", True, f"{type(backend).__module__}.{type(backend).__name__}"))
    try:
        config = cfg.load()
    except ContactSyncError as exc:
        checks.append(Check("config", False, exc.message, exc.fix))
        return checks
    checks.append(Check("config", True, f"{cfg.config_path()} ({len(config.accounts)} accounts)"))
    checks.extend(_crm_checks(config))
    for account in sorted(config.accounts.values(), key=lambda a: a.key):
        checks.append(_guard(f"account {account.key}", lambda a=account: _grant(a)))  # type: ignore[misc]
    return checks


def _grant(account: cfg.AccountConfig) -> str:
    with provider_session(account) as provider:
        provider.check()
    return f"signed in; group {account.group_name or account.group or 'default'}, {account.direction}"


def _crm_checks(config: Config) -> list[Check]:
    if config.crm is None:
        return [Check("CRM", False, "no CRM is connected", "run `contactsync crm connect --domain YOURCOMPANY --plan PLAN`")]
    crm_config = config.crm
    store = LinkStore.open(cfg.state_path())
    try:
        known = store.crm_fields()
    finally:
        store.close()
    holder: dict[str, Crm] = {}

    def reach() -> str:
        crm = open_crm(crm_config, known)
        user = crm.me()
        holder["crm"] = crm
        holder["user"] = user  # type: ignore[assignment]
        role = "admin" if user.is_admin else "regular user"
        return f"{crm_config.domain}: signed in as {user.name} <{user.email}> ({role})"

    checks = [_guard("CRM", reach)]
    if "crm" not in holder:
        return checks
    crm, user = holder["crm"], holder["user"]

    def permissions() -> str:
        missing = crm.missing_permissions(user)  # type: ignore[arg-type]
        if missing:
            raise ContactSyncError(f"missing: {', '.join(missing)}",
                                   "a Pipedrive admin grants them in Company settings > Permission sets")
        return "may add people and organizations (a refusal on create would still be reported)"

    checks.append(_guard("CRM permissions", permissions))
    if known:
        checks.append(Check("custom fields", True, ", ".join(sorted(known))))
    else:
        checks.append(Check("custom fields", False, "not set up yet",
                            "the first `contactsync run --once` finds or creates them"))
    return checks
