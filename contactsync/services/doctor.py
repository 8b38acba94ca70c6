"""`doctor`: check every piece a pass needs, and say how to fix what fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contactsync import config as cfg
from contactsync.auth import secrets
from contactsync.config import Config
from contactsync.crm.base import Crm
from contactsync.crm.registry import open_crm, token_name
from contactsync.errors import AuthError, ContactSyncError
from contactsync.providers.registry import provider_session, readd_hint
from contactsync.store import LinkStore

# A Google sign-in this old may be about to hit the 7-day limit of OAuth clients in Testing.
GOOGLE_WARN_DAYS = 6.0
PUBLISH_FIX = ("if the Google OAuth client is in Testing, publish it (Google Auth Platform > Audience > "
               "Publish app, see the README) so its sign-ins stop expiring after 7 days")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False  # ok now, but something will fail soon


def _guard(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except ContactSyncError as exc:
        return Check(name, False, exc.message, exc.fix)


def _store_check() -> Check:
    try:
        kind = secrets.chosen_kind()
        usable = secrets.writable()
        where = secrets.where_written()
    except ContactSyncError as exc:
        return Check("secret store", False, exc.message, exc.fix)
    if usable and kind == "file":
        loose = secrets.file_store().readable_by_others()
        if loose:
            return Check("secret store", True, f"new secrets go to {where}; other users may read "
                         f"{', '.join(p.name for p in loose)}", f"chmod 700 {secrets.file_store().folder} and "
                         "chmod 600 the files in it", warning=True)
    if usable:
        return Check("secret store", True, f"new secrets go to {where}")
    return Check("secret store", False, f"no keyring backend is available ({kind} chosen)",
                 f"on a server, keep secrets in files with {secrets.STORE_VARIABLE}=file; or install a keyring "
                 "backend or choose one with PYTHON_KEYRING_BACKEND; secrets that never rotate may come from "
                 "CONTACTSYNC_SECRET_* environment variables (see the README)")


def _located(name: str, rotating: bool = False) -> str:
    try:
        found = secrets.find(name, rotating)
    except ContactSyncError as exc:
        return f"its secret store failed: {exc.message}"
    return f"kept in {found.where}" if found else "no secret stored"


def run_checks() -> list[Check]:
    checks: list[Check] = [_store_check()]
    try:
        config = cfg.load()
    except ContactSyncError as exc:
        checks.append(Check("config", False, exc.message, exc.fix))
        return checks
    checks.append(Check("config", True, f"{cfg.config_path()} ({len(config.accounts)} accounts)"))
    checks.extend(_crm_checks(config))
    for account in sorted(config.accounts.values(), key=lambda a: a.key):
        checks.append(_account_check(account))
    return checks


def _account_check(account: cfg.AccountConfig) -> Check:
    name = f"account {account.key}"
    where = _located(secrets.provider_secret_name(account.provider, account.email), account.provider == "microsoft")
    age = _google_age(account)
    try:
        detail = _grant(account)
    except AuthError as exc:
        if age is not None and age >= GOOGLE_WARN_DAYS:
            return Check(name, False, f"{exc.message} (signed in {age:.1f} days ago; {where})",
                         f"{PUBLISH_FIX}; then {readd_hint(account)}")
        return Check(name, False, f"{exc.message} ({where})", exc.fix)
    except ContactSyncError as exc:
        return Check(name, False, f"{exc.message} ({where})", exc.fix)
    if age is not None and age >= GOOGLE_WARN_DAYS:
        return Check(name, True, f"{detail}; signed in {age:.1f} days ago; {where}", PUBLISH_FIX, warning=True)
    return Check(name, True, f"{detail}; {where}")


def _grant(account: cfg.AccountConfig) -> str:
    with provider_session(account) as provider:
        provider.verify()
    return f"signed in; group {account.group_name or account.group or 'default'}, {account.direction}"


def _google_age(account: cfg.AccountConfig) -> float | None:
    if account.provider != "google":
        return None
    from contactsync.auth.google import GoogleGrant

    try:
        stored = secrets.get(secrets.provider_secret_name(account.provider, account.email))
        return GoogleGrant.from_json(stored).age_days() if stored else None
    except ContactSyncError:
        return None


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
        return (f"{crm_config.domain}: signed in as {user.name} <{user.email}> ({role}); "
                f"API token {_located(token_name(crm_config))}")

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
