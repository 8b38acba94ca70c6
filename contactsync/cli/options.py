"""Options and arguments shared by several commands, with their shell completion."""

from __future__ import annotations

from typing import Any

import typer


def complete_accounts(incomplete: str) -> list[str]:
    """The configured accounts' keys and e-mails that start with what was typed."""
    from contactsync import config
    from contactsync.errors import ContactSyncError

    try:
        accounts = config.load().accounts.values()
    except ContactSyncError:
        return []
    names = sorted({a.key for a in accounts} | {a.email for a in accounts})
    return [n for n in names if n.startswith(incomplete)]


def account_argument(help: str = "The account: its e-mail address, or provider:email.", default: Any = ...) -> Any:
    return typer.Argument(default, metavar="ACCOUNT", help=help, autocompletion=complete_accounts)
