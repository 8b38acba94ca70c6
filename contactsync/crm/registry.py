"""Open the connected CRM from the config and the keyring."""

from __future__ import annotations

from contactsync.auth import secrets
from contactsync.config import CrmConfig
from contactsync.crm.base import Crm
from contactsync.crm.cache import CrmCache
from contactsync.errors import ConfigError
from contactsync.ratelimit import SlidingWindow
from contactsync.settings import Plan, parse


def base_url(config: CrmConfig) -> str:
    return config.base_url or f"https://{config.domain}.pipedrive.com"


def token_name(config: CrmConfig) -> str:
    return secrets.pipedrive_token_name(config.domain)


def reconnect_hint(config: CrmConfig) -> str:
    extra = f" --base-url {config.base_url}" if config.base_url else ""
    return f"run `contactsync crm connect --domain {config.domain} --plan {config.plan}{extra}` with a valid API token"


# Requests per 2-second window and api_token by plan: "Essential 20, Advanced 40,
# Professional 80, Power 100, Enterprise 120" (pipedrive.readme.io/docs/
# core-api-concepts-rate-limiting); Lite/Growth/Premium/Ultimate are the current names
# of Essential/Advanced/Professional/Enterprise. Power shares Premium's visibility
# tier but not its burst limit, so this goes by plan, not tier. One limiter per
# process keeps every worker of a pass under it.
BURST_BY_PLAN = {
    Plan.LITE: 20, Plan.ESSENTIAL: 20, Plan.GROWTH: 40, Plan.ADVANCED: 40, Plan.PREMIUM: 80,
    Plan.PROFESSIONAL: 80, Plan.POWER: 100, Plan.ULTIMATE: 120, Plan.ENTERPRISE: 120,
}


def plan_for_burst_limit(limit: int | None) -> Plan | None:
    """The plan whose burst limit Pipedrive announced in `x-ratelimit-limit` ("the maximum number of
    requests current api_token can perform per 2-second window", same page), by its current name;
    None for a value no plan has (a header missing, or limits Pipedrive changed)."""
    return next((plan for plan, burst in BURST_BY_PLAN.items() if burst == limit), None)


def open_crm(config: CrmConfig, field_keys: dict[str, str] | None = None, token: str | None = None,
             cache: CrmCache | None = None) -> Crm:
    if config.kind != "pipedrive":
        raise ConfigError(f"unknown CRM {config.kind!r} in the config", "only pipedrive is supported")
    from contactsync.crm.pipedrive import PipedriveCrm

    token = token or secrets.require(token_name(config), reconnect_hint(config))
    # The first request goes out alone: its answer tells what the window already holds.
    limiter = SlidingWindow(BURST_BY_PLAN[parse(Plan, config.plan, "crm.plan")], 2.0, probe=True)
    return PipedriveCrm(base_url(config), token, field_keys=field_keys or {}, reconnect_hint=reconnect_hint(config),
                        limiter=limiter, cache=cache)
