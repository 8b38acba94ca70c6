"""Sign in to a provider and open an account's provider adapter."""

from __future__ import annotations

from pathlib import Path

from contactsync.auth import secrets
from contactsync.config import AccountConfig
from contactsync.errors import ConfigError, UsageError
from contactsync.providers.base import Provider

KINDS = ("google",)


def readd_hint(account: AccountConfig) -> str:
    if account.provider == "google":
        return f"run `contactsync add-account google {account.email} --client-secrets client_secret.json` again"
    return f"run `contactsync add-account {account.provider} {account.email}` again"


def sign_in_google(email: str, client_secrets: Path, open_browser: bool) -> str:
    """Run Google's installed-app flow; returns the small secret to keep in the keyring."""
    from contactsync.auth.google import sign_in

    return sign_in(client_secrets, email, open_browser=open_browser).to_json()


def open_provider(account: AccountConfig, secret: str | None = None) -> Provider:
    if account.provider == "google":
        from contactsync.auth.google import GoogleGrant
        from contactsync.providers.google import GoogleProvider

        name = secrets.provider_secret_name("google", account.email)
        secret = secret or secrets.require(name, readd_hint(account))
        try:
            grant = GoogleGrant.from_json(secret)
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{account.key}: the stored Google grant is unreadable", readd_hint(account)) from None
        return GoogleProvider(grant, account=account.email, endpoint=account.endpoint or None)
    raise ConfigError(f"{account.key}: unknown provider {account.provider!r}", f"providers: {', '.join(KINDS)}")
