"""Adding a CardDAV account and opening its provider: the URL, discovery and the password.

The password (an app-specific password for iCloud and Fastmail, an app password
for Nextcloud) is the account's secret and lives with the other secrets; the
config keeps the URL, the user name and the address-book home found by discovery.
"""

from __future__ import annotations

from contactsync.config import AccountConfig
from contactsync.errors import ConfigError, UsageError
from contactsync.providers.carddav import CardDavProvider, preset_url
from contactsync.providers.carddav_dav import DavClient, discover_home


def readd_hint(account: AccountConfig) -> str:
    return f"run `contactsync reconnect {account.key}` (it asks for the password again)"


def _client(url: str, username: str, password: str, email: str, fix: str) -> DavClient:
    return DavClient(url, username, password, f"carddav:{email}", fix)


def sign_in(email: str, url: str, username: str, password: str, fix: str | None = None) -> dict[str, str]:
    """Find the address-book home with these credentials; returns the account's options.

    `fix`: what to tell on a refused password; by default to add the account again,
    for an existing account (`reconnect`) to reconnect it.
    """
    url = preset_url(url)
    if not url.startswith(("https://", "http://")):
        raise UsageError(f"{url!r} is not a CardDAV URL",
                         "pass --url https://SERVER/ (or --url icloud, --url fastmail)")
    if not password.strip():
        raise UsageError("no password was given", "type it at the prompt, or pipe it in on standard input")
    username = username or email
    fix = fix or f"run `contactsync add-account carddav {email} --url {url}` again with the right password"
    home = discover_home(_client(url, username, password.strip(), email, fix))
    return {"url": url, "username": username, "home": home}


def open_provider(account: AccountConfig, password: str) -> CardDavProvider:
    url = account.options.get("home") or account.options.get("url")
    if not url:
        raise ConfigError(f"{account.key} has no CardDAV URL in the config", readd_hint(account))
    client = _client(url, account.options.get("username") or account.email, password, account.email,
                     readd_hint(account))
    home = account.options.get("home") or discover_home(client)
    return CardDavProvider(client, home, account.key)
