"""Sign in to a provider and open an account's provider adapter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contactsync import config as cfg
from contactsync.auth import secrets
from contactsync.config import AccountConfig
from contactsync.engine.lock import account_lock
from contactsync.errors import (
    AuthError, ConfigError, ContactSyncError, LockHeld, SecretStoreError, TemporaryError, UsageError,
)
from contactsync.providers.base import Provider

KINDS = ("google", "microsoft", "carddav")
TENANTS = ("common", "consumers", "organizations")
# Secrets written back on every refresh: read from the stores before any environment variable.
ROTATING = {"microsoft"}


def readd_hint(account: AccountConfig) -> str:
    """The one command that repairs an account's sign-in (exit 3)."""
    return f"run `contactsync reconnect {account.key}`"


def sign_in_google(email: str, client_secrets: Path | dict[str, Any], open_browser: bool) -> str:
    """Run Google's installed-app flow; returns the small secret to keep in the secret store."""
    from contactsync.auth.google import sign_in

    return sign_in(client_secrets, email, open_browser=open_browser).to_json()


def google_client_for_reconnect(account: AccountConfig) -> dict[str, Any] | None:
    """The OAuth client of an account's stored grant, or None when no grant is stored here."""
    from contactsync.auth.google import DEFAULT_AUTH_URI, GoogleGrant, client_config_of

    stored = secrets.get(secrets.provider_secret_name(account.provider, account.email))
    if not stored:
        return None
    try:
        grant = GoogleGrant.from_json(stored)
    except ContactSyncError:
        return None
    return client_config_of(grant, account.options.get("auth_uri") or DEFAULT_AUTH_URI)


def sign_in_microsoft(email: str, client_id: str, tenant: str, authority: str | None) -> str:
    """Run MSAL's device-code flow (prints the URL and code); returns the compact token cache."""
    from contactsync.auth.microsoft import sign_in

    if tenant not in TENANTS and "." not in tenant and len(tenant) != 36:
        raise UsageError(f"unknown tenant {tenant!r}", f"use one of {', '.join(TENANTS)}, or your tenant's id")
    return sign_in(client_id, email, tenant=tenant, authority_host=authority)


def _secret(account: AccountConfig) -> str:
    name = secrets.provider_secret_name(account.provider, account.email)
    return secrets.require(name, readd_hint(account), rotating=account.provider in ROTATING)


@contextmanager
def _refresh_lock(account: AccountConfig) -> Iterator[None]:
    # One refresh at a time per account across processes; separate from the pass lock,
    # which the pass itself holds while it refreshes.
    try:
        with account_lock(cfg.state_dir(), f"refresh-{account.key}", wait=True):
            yield  # the body is a token refresh, which never raises LockHeld itself
    except LockHeld:  # Windows gives up waiting after about 10 s
        raise TemporaryError(f"{account.key}: another contactsync process is refreshing this sign-in",
                             "run again in a moment") from None


@contextmanager
def provider_session(account: AccountConfig, secret: str | None = None) -> Iterator[Provider]:
    """The account's provider adapter; each refreshed credential is saved before it is used."""
    if account.provider == "google":
        from contactsync.auth.google import TESTING_GRANT_DAYS, GoogleGrant
        from contactsync.providers.google import GoogleProvider

        name = secrets.provider_secret_name(account.provider, account.email)
        found = None if secret else secrets.find(name)
        secret = secret or (found.value if found else _secret(account))
        try:
            grant = GoogleGrant.from_json(secret)
        except ContactSyncError:
            raise UsageError(f"{account.key}: the stored Google grant is unreadable", readd_hint(account)) from None
        # The access token is kept with the grant so that the next pass reuses it; a grant
        # given in an environment variable cannot be written back, and is refreshed every pass.
        writable = found is not None and found.kind != "env"
        on_refresh = (lambda new: secrets.put(name, new.to_json())) if writable else None
        try:
            yield GoogleProvider(grant, account=account.email, endpoint=account.endpoint or None,
                                 on_refresh=on_refresh)
        except AuthError as exc:
            age = grant.age_days()
            if account.key in (exc.fix or "") and age is not None and age >= TESTING_GRANT_DAYS - 0.5:
                exc.message += (f" — it was signed in {age:.0f} days ago, and Google expires the sign-ins of an "
                                "OAuth client in Testing after 7 days (the README tells how to publish it)")
            raise
        return
    if account.provider == "microsoft":
        from contactsync.auth.microsoft import MicrosoftSession
        from contactsync.providers.microsoft import MicrosoftProvider

        client_id = account.options.get("client_id")
        if not client_id:
            raise ConfigError(f"{account.key} has no client id in the config", readd_hint(account))
        name = secrets.provider_secret_name(account.provider, account.email)
        if not secrets.writable():
            # Each refresh must be written back before it is used; an environment variable cannot be.
            raise SecretStoreError(
                f"{account.key}: a Microsoft sign-in rotates its refresh token and needs a writable secret store",
                f"keep secrets in files with {secrets.STORE_VARIABLE}=file (see the README), "
                f"then run `contactsync reconnect {account.key}`",
            )
        session = MicrosoftSession(
            secret or _secret(account), client_id, account.email,
            tenant=account.options.get("tenant", "common"), authority_host=account.options.get("authority") or None,
            save=lambda value: secrets.put(name, value),
            load=lambda: secrets.get(name, rotating=True),
            refresh_lock=lambda: _refresh_lock(account),
        )
        yield MicrosoftProvider(session, account.email, endpoint=account.endpoint or None)
        return
    if account.provider == "carddav":
        from contactsync.providers.carddav_setup import open_provider

        yield open_provider(account, secret or _secret(account))
        return
    raise ConfigError(f"{account.key}: unknown provider {account.provider!r}", f"providers: {', '.join(KINDS)}")
