"""Open the connected CRM from the config and the keyring."""

from __future__ import annotations

from contactsync.auth import secrets
from contactsync.config import CrmConfig
from contactsync.crm.base import Crm
from contactsync.errors import ConfigError


def base_url(config: CrmConfig) -> str:
    return config.base_url or f"https://{config.domain}.pipedrive.com"


def token_name(config: CrmConfig) -> str:
    return secrets.pipedrive_token_name(config.domain)


def reconnect_hint(config: CrmConfig) -> str:
    extra = f" --base-url {config.base_url}" if config.base_url else ""
    return f"run `contactsync crm connect --domain {config.domain}{extra}` with a valid API token"


def open_crm(config: CrmConfig, field_keys: dict[str, str] | None = None, token: str | None = None) -> Crm:
    if config.kind != "pipedrive":
        raise ConfigError(f"unknown CRM {config.kind!r} in the config", "only pipedrive is supported")
    from contactsync.crm.pipedrive import PipedriveCrm

    token = token or secrets.require(token_name(config), reconnect_hint(config))
    return PipedriveCrm(base_url(config), token, field_keys=field_keys or {}, reconnect_hint=reconnect_hint(config))
