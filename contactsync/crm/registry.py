"""Open the connected CRM from the config and the keyring."""

from __future__ import annotations

from contactsync import visibility
from contactsync.auth import secrets
from contactsync.config import CrmConfig
from contactsync.crm.base import Crm
from contactsync.crm.cache import CrmCache
from contactsync.errors import ConfigError
from contactsync.http import SlidingWindow


def base_url(config: CrmConfig) -> str:
    return config.base_url or f"https://{config.domain}.pipedrive.com"


def token_name(config: CrmConfig) -> str:
    return secrets.pipedrive_token_name(config.domain)


def reconnect_hint(config: CrmConfig) -> str:
    extra = f" --base-url {config.base_url}" if config.base_url else ""
    return f"run `contactsync crm connect --domain {config.domain}{extra}` with a valid API token"


# Requests per 2-second window by plan (Pipedrive's rate-limiting documentation);
# one limiter per process keeps every worker of a pass under it.
BURST_BY_TIER = {"lite": 20, "growth": 40, "premium": 80, "ultimate": 120}


def open_crm(config: CrmConfig, field_keys: dict[str, str] | None = None, token: str | None = None,
             cache: CrmCache | None = None) -> Crm:
    if config.kind != "pipedrive":
        raise ConfigError(f"unknown CRM {config.kind!r} in the config", "only pipedrive is supported")
    from contactsync.crm.pipedrive import PipedriveCrm

    token = token or secrets.require(token_name(config), reconnect_hint(config))
    limiter = SlidingWindow(BURST_BY_TIER.get(visibility.tier(config.plan), 20), 2.0)
    return PipedriveCrm(base_url(config), token, field_keys=field_keys or {}, reconnect_hint=reconnect_hint(config),
                        limiter=limiter, cache=cache)
