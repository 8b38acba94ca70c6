"""Connecting the CRM and adding, configuring, listing and removing accounts.

The CLI calls one function here per command; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from contactsync import config as cfg
from contactsync.crm import pipedrive_plans as visibility
from contactsync.auth import secrets
from contactsync.config import AccountConfig, Config, CrmConfig
from contactsync.crm.base import CrmUser
from contactsync.crm.registry import open_crm, token_name
from contactsync.engine.run import check_direction, preflight
from contactsync.errors import UsageError
from contactsync.settings import ConflictPolicy, Direction, Plan, SettingError, Visibility, parse
from contactsync.providers.base import Group, Provider, ProviderRecord
from contactsync.providers.registry import (
    KINDS, google_client_for_reconnect, provider_session, sign_in_google, sign_in_microsoft,
)
from contactsync.store import LinkStore


def open_store() -> LinkStore:
    return LinkStore.open(cfg.state_path())


E = TypeVar("E", Direction, ConflictPolicy, Plan, Visibility)


def _setting(kind: type[E], value: str, option: str) -> E:
    """A setting given on the command line, parsed once; an unknown value is a usage error (exit 2)."""
    try:
        return parse(kind, value, option)
    except SettingError as exc:
        raise UsageError(str(exc)) from None


def detect_plan(domain: str, token: str, base_url: str = "") -> tuple[Plan | None, int | None]:
    """The company's plan as Pipedrive's burst limit tells it (one read of the user), and that limit.

    (None, limit) when the answer carries no limit of a known plan; the token is checked either way.
    """
    from contactsync.crm.registry import plan_for_burst_limit

    domain = domain.strip().removesuffix(".pipedrive.com")
    if not domain or not token.strip():
        raise UsageError("a company domain and an API token are needed",
                         "pass --domain and pipe the token in: `echo TOKEN | contactsync crm connect --api-token-stdin`")
    crm_config = CrmConfig(domain=domain, base_url=base_url.rstrip("/"))
    crm = open_crm(crm_config, token=token.strip())
    crm.me()
    limit = getattr(crm, "burst_limit_seen", None)
    return plan_for_burst_limit(limit), limit


def connect_crm(domain: str, token: str, plan: str = "growth", base_url: str = "") -> CrmUser:
    """Check the token against the CRM, then keep it in the keyring and the rest in the config."""
    domain = domain.strip().removesuffix(".pipedrive.com")
    if not domain:
        raise UsageError("a company domain is needed", "pass --domain, e.g. --domain acme for acme.pipedrive.com")
    visibility.tier(plan)
    token = token.strip()
    if not token:
        raise UsageError("no API token was given", "pipe it in: `echo TOKEN | contactsync crm connect --api-token-stdin`")
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        # A token travels in an HTTP header; a curly quote or a space pasted with it could not
        # (requests raises UnicodeEncodeError). The token itself is never echoed.
        raise UsageError("the API token holds a character a Pipedrive token never has (a quote, a space or a "
                         "letter outside ASCII, pasted with it?)",
                         "copy it again from Settings → Personal preferences → API and run crm connect again")
    crm_config = CrmConfig(domain=domain, base_url=base_url.rstrip("/"), plan=_setting(Plan, plan, "--plan"))
    user = open_crm(crm_config, token=token).me()
    secrets.put(token_name(crm_config), token)
    crm_config.user_id, crm_config.user_email = user.id, user.email
    config = cfg.load()
    if config.crm is not None and token_name(config.crm) != token_name(crm_config):
        secrets.delete(token_name(config.crm))  # the token of the company connected before
    config.crm = crm_config
    for account in config.accounts.values():
        if account.visibility and account.visibility not in visibility.options(plan):
            account.visibility = None  # the new plan does not offer it: fall back to the plan default
    cfg.save(config)
    return user


def add_account(
    provider: str,
    email: str,
    *,
    client_secrets: Path | None = None,
    open_browser: bool = True,
    endpoint: str = "",
    client_id: str | None = None,
    tenant: str = "common",
    authority: str = "",
    url: str = "",
    username: str = "",
    password: str = "",
) -> AccountConfig:
    """Sign in to the provider as `email`, keep the secret in the keyring, add the account."""
    provider = provider.lower()
    if provider not in KINDS:
        raise UsageError(f"unknown provider {provider!r}", f"use one of: {', '.join(KINDS)}")
    if "@" not in email:
        raise UsageError(f"{email!r} is not an e-mail address", "accounts are named by their e-mail address")
    options: dict[str, str] = {}
    if provider == "google":
        if client_secrets is None:
            raise UsageError(
                "Google needs the OAuth client of a Desktop app",
                "download its client_secret.json from the Google Cloud console and pass --client-secrets FILE",
            )
        from contactsync.auth.google import DEFAULT_AUTH_URI, read_client_config

        client = read_client_config(client_secrets)
        secret = sign_in_google(email, client, open_browser)
        if client["installed"]["auth_uri"] != DEFAULT_AUTH_URI:
            options["auth_uri"] = client["installed"]["auth_uri"]  # for reconnect (the sandbox)
    elif provider == "carddav":
        if not url:
            raise UsageError("CardDAV needs the server's URL",
                             "pass --url https://SERVER/ (or --url icloud, --url fastmail)")
        from contactsync.providers.carddav_setup import sign_in as sign_in_carddav

        options, secret = sign_in_carddav(email, url, username, password), password.strip()
    else:
        if not client_id:
            raise UsageError(
                "Microsoft needs the application (client) id of your app registration",
                "pass --client-id APP_ID (the README explains the registration)",
            )
        secret = sign_in_microsoft(email, client_id, tenant, authority.rstrip("/") or None)
        options = {"client_id": client_id, "tenant": tenant}
        if authority:
            options["authority"] = authority.rstrip("/")
    account = AccountConfig(provider=provider, email=email.lower(), endpoint=endpoint.rstrip("/"), options=options)
    config = cfg.load()
    previous = config.accounts.get(account.key)
    if previous is not None:  # signing in again keeps the settings, links and history (a reconnect)
        previous.endpoint, previous.options = account.endpoint, account.options
        account = previous
    secrets.put(secrets.provider_secret_name(provider, email), secret)
    if not account.group:
        with provider_session(account) as opened:
            group = opened.default_group()
        account.group, account.group_name = group.id, group.name
    config.accounts[account.key] = account
    cfg.save(config)
    return account


def has_account(provider: str, email: str) -> bool:
    return f"{provider.lower()}:{email.lower()}" in cfg.load().accounts


def provider_of(name: str) -> str:
    """The provider of an existing account (the CLI asks CardDAV accounts for a password)."""
    return cfg.load().account(name).provider


def reconnect_account(name: str, *, client_secrets: Path | None = None, open_browser: bool = True,
                      password: str = "") -> AccountConfig:
    """Sign in again to an existing account (expired, revoked, or moved to another machine).

    Only its secret is replaced: its links, settings, endpoint and history stay.
    """
    config = cfg.load()
    account = config.account(name)
    if account.provider == "google":
        from contactsync.auth.google import DEFAULT_AUTH_URI, read_client_config

        client = read_client_config(client_secrets) if client_secrets else google_client_for_reconnect(account)
        if client is None:
            raise UsageError(f"{account.key}: no Google sign-in is stored here to take the OAuth client from",
                             f"pass the client's JSON: `contactsync reconnect {account.key} --client-secrets "
                             "client_secret.json`")
        secret = sign_in_google(account.email, client, open_browser)
        if client_secrets and client["installed"]["auth_uri"] != DEFAULT_AUTH_URI:
            account.options["auth_uri"] = client["installed"]["auth_uri"]
    elif account.provider == "microsoft":
        client_id = account.options.get("client_id")
        if not client_id:
            raise UsageError(f"{account.key} has no client id in the config",
                             f"add it again: `contactsync add-account microsoft {account.email} --client-id APP_ID`")
        secret = sign_in_microsoft(account.email, client_id, account.options.get("tenant", "common"),
                                   account.options.get("authority") or None)
    elif account.provider == "carddav":
        from contactsync.providers.carddav_setup import sign_in as sign_in_carddav

        account.options = sign_in_carddav(account.email, account.options.get("url", ""),
                                          account.options.get("username", ""), password,
                                          fix=f"run `contactsync reconnect {account.key}` again with the right password")
        secret = password.strip()
    else:
        raise UsageError(f"{account.key}: unknown provider {account.provider!r}", f"use one of: {', '.join(KINDS)}")
    secrets.put(secrets.provider_secret_name(account.provider, account.email), secret)
    cfg.save(config)
    return account


def disconnect_crm() -> tuple[CrmConfig, list[str]]:
    """Forget the CRM connection and its API token (in whichever store holds it); links stay for a reconnect."""
    config = cfg.load()
    crm = config.require_crm()
    removed = secrets.delete(token_name(crm))
    config.crm = None
    cfg.save(config)
    return crm, removed


def list_groups(name: str) -> list[Group]:
    account = cfg.load().account(name)
    with provider_session(account) as provider:
        return provider.groups()


@dataclass
class ConfigureResult:
    account: AccountConfig
    group_changed: bool = False
    direction_changed: bool = False
    unlinked: int = 0
    pruned: bool = False


def configure_account(
    name: str,
    *,
    group: str | None = None,
    direction: str | None = None,
    visibility_setting: str | None = None,
    adopt: bool | None = None,
    prune: bool = False,
    conflicts: str | None = None,
) -> ConfigureResult:
    config = cfg.load()
    account = config.account(name)
    result = ConfigureResult(account)
    if direction is not None:
        chosen_direction = _setting(Direction, direction, "--direction")
        if chosen_direction != account.direction:
            result.direction_changed = True
        account.direction = chosen_direction
    if conflicts is not None:
        account.conflicts = _setting(ConflictPolicy, conflicts, "--conflicts")
    if visibility_setting is not None:
        crm = config.require_crm()
        chosen_visibility = _setting(Visibility, visibility_setting, "--visibility") if visibility_setting else None
        visibility.effective_visibility(chosen_visibility, crm.plan)
        account.visibility = chosen_visibility
    if adopt is not None:
        account.adopt = adopt
    with provider_session(account) as provider:
        check_direction(account, provider)
        if config.crm is not None:
            _check_permissions(config, account, provider)
        if group is not None:
            chosen = _find_group(provider.groups(), group, account)
            if chosen.id != account.group:
                result.group_changed = True
                result.pruned = prune
                result.unlinked = _switch_group(account, provider, chosen, prune)
                account.group, account.group_name = chosen.id, chosen.name
    if result.direction_changed:
        # The CRM cursor belongs to a two-way period: the next one starts afresh.
        store = open_store()
        try:
            store.set_cursor(account.key, None, "crm")
            store.set_cursor(account.key, None, "crm-start")
        finally:
            store.close()
    config.accounts[account.key] = account
    cfg.save(config)
    return result


def _check_permissions(config: Config, account: AccountConfig, provider: Provider) -> None:
    """DESIGN §8: the grant works and the CRM user may add people and organizations."""
    preflight(provider, open_crm(config.require_crm()), account)


def _find_group(groups: list[Group], wanted: str, account: AccountConfig) -> Group:
    for group in groups:
        if wanted in (group.id, group.name) or wanted.lower() == group.name.lower():
            return group
    names = ", ".join(f'"{g.name}"' for g in groups)
    raise UsageError(f"{account.key} has no group {wanted!r}", f"choose one of: {names}")


def _switch_group(account: AccountConfig, provider: Provider, group: Group, prune: bool) -> int:
    """Start the new group from a full listing; without --prune, what the new group
    does not cover is unlinked (its persons stay in the CRM) instead of deleted."""
    store = open_store()
    try:
        store.set_cursor(account.key, None)
        if prune:
            return 0
        members: set[str] = set()
        for page in provider.changes(None, group.id).pages():
            members.update(c.id for c in page if isinstance(c, ProviderRecord))
        unlinked = 0
        for link in list(store.iter_links(account.key, ("pending", "linked", "tombstone"))):
            if link.provider_id not in members:
                store.delete_link(account.key, link.provider_id)
                unlinked += 1
        return unlinked
    finally:
        store.close()


def remove_account(name: str) -> AccountConfig:
    """Forget an account: its settings, secret (in whichever store holds it) and links. Its CRM persons stay."""
    config = cfg.load()
    account = config.account(name)
    secrets.delete(secrets.provider_secret_name(account.provider, account.email))
    store = open_store()
    try:
        store.delete_account(account.key)
    finally:
        store.close()
    del config.accounts[account.key]
    cfg.save(config)
    return account


def accounts() -> tuple[CrmConfig | None, list[AccountConfig]]:
    config = cfg.load()
    return config.crm, sorted(config.accounts.values(), key=lambda a: a.key)
