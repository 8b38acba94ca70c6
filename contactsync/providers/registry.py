"""Sign in to a provider and open an account's provider adapter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contactsync.auth import secrets
from contactsync.config import AccountConfig
from contactsync.errors import ConfigError, UsageError
from contactsync.providers.base import Provider

KINDS = ("google", "microsoft", "carddav")
TENANTS = ("common", "consumers", "organizations")


def readd_hint(account: AccountConfig) -> str:
    if account.provider == "carddav":
        from contactsync.providers.carddav_setup import readd_hint as carddav_hint

        return carddav_hint(account)
    if account.provider == "google":
        return f"run `contactsync add-account google {account.email} --client-secrets client_secret.json` again"
    client = account.options.get("client_id", "APP_ID")
    return f"run `contactsync add-account microsoft {account.email} --client-id {client}` again"


def sign_in_google(email: str, client_secrets: Path, open_browser: bool) -> str:
    """Run Google's installed-app flow; returns the small secret to keep in the keyring."""
    from contactsync.auth.google import sign_in

    return sign_in(client_secrets, email, open_browser=open_browser).to_json()


def sign_in_microsoft(email: str, client_id: str, tenant: str, authority: str | None) -> str:
    """Run MSAL's device-code flow (prints the URL and code); returns the compact token cache."""
    from contactsync.auth.microsoft import sign_in

    if tenant not in TENANTS and "." not in tenant and len(tenant) != 36:
        raise UsageError(f"unknown tenant {tenant!r}", f"use one of {', '.join(TENANTS)}, or your tenant's id")
    return sign_in(client_id, email, tenant=tenant, authority_host=authority)


def _secret(account: AccountConfig) -> str:
    name = secrets.provider_secret_name(account.provider, account.email)
    return secrets.require(name, readd_hint(account))


@contextmanager
def provider_session(account: AccountConfig, secret: str | None = None) -> Iterator[Provider]:
    """The account's provider adapter; credentials a provider rotated are stored back on exit."""
    if account.provider == "google":
        from contactsync.auth.google import GoogleGrant
        from contactsync.providers.google import GoogleProvider

        secret = secret or _secret(account)
        try:
            grant = GoogleGrant.from_json(secret)
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{account.key}: the stored Google grant is unreadable", readd_hint(account)) from None
        yield GoogleProvider(grant, account=account.email, endpoint=account.endpoint or None)
        return
    if account.provider == "microsoft":
        from contactsync.auth.microsoft import MicrosoftSession
        from contactsync.providers.microsoft import MicrosoftProvider

        client_id = account.options.get("client_id")
        if not client_id:
            raise ConfigError(f"{account.key} has no client id in the config", readd_hint(account))
        session = MicrosoftSession(
            secret or _secret(account), client_id, account.email,
            tenant=account.options.get("tenant", "common"), authority_host=account.options.get("authority") or None,
        )
        try:
            yield MicrosoftProvider(session.token, account.email, endpoint=account.endpoint or None)
        finally:
            # MSAL rotates refresh tokens: keep the new one, and only write when it changed.
            if session.changed:
                secrets.put(secrets.provider_secret_name(account.provider, account.email), session.cache_string())
        return
    if account.provider == "carddav":
        from contactsync.providers.carddav_setup import open_provider

        yield open_provider(account, secret or _secret(account))
        return
    raise ConfigError(f"{account.key}: unknown provider {account.provider!r}", f"providers: {', '.join(KINDS)}")
