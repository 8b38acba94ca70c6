"""crm connect, add-account, accounts, groups, configure, remove-account."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

import typer

from contactsync import account_setup, visibility
from contactsync.auth import secrets
from contactsync.cli.app import app, crm_app
from contactsync.cli.errors import boundary, start_logging
from contactsync.cli.render import err, kv_table, out, print_json
from contactsync.errors import UsageError

VISIBILITY_HELP = (
    "Who in the company sees the persons created: "
    + ", ".join(f"{k} ({v})" for k, v in visibility.DESCRIPTIONS.items())
    + ". Lite/Growth offer owner-followers and company; Premium/Ultimate the other four. "
    "Global admins always see every contact."
)


@crm_app.command("connect")
@boundary
def crm_connect(
    domain: str = typer.Option(..., "--domain", help="Your company domain: acme for acme.pipedrive.com."),
    plan: str = typer.Option("growth", "--plan", help="Your Pipedrive plan: lite, growth, premium, ultimate (or a legacy name)."),
    api_token_stdin: bool = typer.Option(False, "--api-token-stdin", help="Read the API token from standard input."),
    base_url: str = typer.Option("", "--base-url", help="API base URL, for the sandbox (default https://DOMAIN.pipedrive.com)."),
) -> None:
    """Connect Pipedrive with your personal API token (Settings > Personal preferences > API)."""
    start_logging()
    if api_token_stdin:
        token = sys.stdin.readline()
    elif sys.stdin.isatty():
        token = typer.prompt("Pipedrive API token", hide_input=True)
    else:
        raise UsageError("no API token: stdin is not a terminal", "pass --api-token-stdin and pipe the token in")
    before, _ = account_setup.accounts()
    user = account_setup.connect_crm(domain, token, plan, base_url)
    admin = " (admin)" if user.is_admin else ""
    verb = "Reconnected" if before is not None and before.domain == domain.removesuffix(".pipedrive.com") else "Connected"
    out.print(f"{verb} to Pipedrive company {domain} as {user.name} <{user.email}>{admin}.")
    _mention_variable(secrets.pipedrive_token_name(domain.strip().removesuffix(".pipedrive.com")), saved=True)


def _confirm(question: str, yes: bool, command: str) -> None:
    """Ask on a terminal; elsewhere (scripts, cron) only --yes goes ahead."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{command} removes secrets and needs confirmation, but stdin is not a terminal",
                         f"add --yes: `contactsync {command} --yes`")
    if not typer.confirm(question, default=False):
        err.print("Nothing was removed.")
        raise typer.Exit(1)


@crm_app.command("disconnect")
@boundary
def crm_disconnect(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Forget the Pipedrive connection and remove its API token from the secret store.

    Links and history stay: `contactsync crm connect` with the same company picks them up again.
    """
    start_logging()
    crm, _ = account_setup.accounts()
    if crm is None:
        raise UsageError("no CRM is connected", "nothing to disconnect")
    _confirm(f"Disconnect Pipedrive company {crm.domain} and remove its API token?", yes, "crm disconnect")
    crm, removed = account_setup.disconnect_crm()
    gone = f"its API token was removed from {' and '.join(removed)}" if removed else "no stored API token was found"
    err.print(f"Disconnected Pipedrive company {crm.domain}; {gone}.", soft_wrap=True)
    _mention_variable(secrets.pipedrive_token_name(crm.domain))


def _mention_variable(name: str, saved: bool = False) -> None:
    variable = secrets.env_name(name)
    if not os.environ.get(variable):
        return
    if saved:
        err.print(f"warning: {variable} is set and is read before the stored secret: update or unset it.",
                  soft_wrap=True)
    else:
        err.print(f"{variable} is still set in the environment: unset it too.", soft_wrap=True)


def _sign_in_interrupted() -> typer.Exit:
    err.print("sign-in interrupted: nothing was saved; run the command again to sign in")
    return typer.Exit(130)


@app.command("add-account")
@boundary
def add_account(
    provider: str = typer.Argument(..., help="google or microsoft"),
    email: str = typer.Argument(..., help="The account's e-mail address."),
    client_secrets: Path = typer.Option(None, "--client-secrets", help="Google: client_secret.json of a Desktop OAuth client."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Google: print the sign-in URL instead of opening a browser."),
    client_id: str = typer.Option(None, "--client-id", help="Microsoft: the application (client) id of your app registration."),
    tenant: str = typer.Option("common", "--tenant", help="Microsoft: common, consumers (Outlook.com) or organizations (Office 365)."),
    endpoint: str = typer.Option("", "--endpoint", help="Provider API endpoint, for the sandbox."),
    authority: str = typer.Option("", "--authority", help="Microsoft sign-in host, for the sandbox."),
) -> None:
    """Sign in to an address book and add it as an account.

    Google opens a browser (or prints the URL with --no-browser); Microsoft prints a
    URL and a code to enter on any device, so it works over SSH.
    """
    start_logging()
    existed = account_setup.has_account(provider, email)
    try:
        account = account_setup.add_account(
            provider, email, client_secrets=client_secrets, open_browser=not no_browser, endpoint=endpoint,
            client_id=client_id, tenant=tenant, authority=authority,
        )
    except KeyboardInterrupt:
        raise _sign_in_interrupted() from None
    if account.provider != "microsoft":  # a Microsoft sign-in is read from the stores first
        _mention_variable(secrets.provider_secret_name(account.provider, account.email), saved=True)
    if existed:
        out.print(f"Reconnected {account.key}; its links, settings and history are kept.")
        return
    out.print(f"Added {account.key}; syncing group \"{account.group_name}\", {account.direction}.")
    out.print(f"Next: contactsync run --once --account {account.key}")


@app.command("reconnect")
@boundary
def reconnect(
    account: str = typer.Argument(..., help="The account, as `contactsync accounts` lists it."),
    client_secrets: Path = typer.Option(
        None, "--client-secrets",
        help="Google: client_secret.json, needed only when this machine has no sign-in of the account."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Google: print the sign-in URL instead of opening a browser."),
) -> None:
    """Sign in again to an account whose sign-in expired, was revoked or is on another machine.

    Its links, settings and history are kept; only the stored sign-in is replaced.
    """
    start_logging()
    try:
        done = account_setup.reconnect_account(account, client_secrets=client_secrets, open_browser=not no_browser)
    except KeyboardInterrupt:
        raise _sign_in_interrupted() from None
    out.print(f"Reconnected {done.key}; its links, settings and history are kept.")
    if done.provider != "microsoft":
        _mention_variable(secrets.provider_secret_name(done.provider, done.email), saved=True)


@app.command("accounts")
@boundary
def accounts(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every account with its group, direction and visibility."""
    crm, rows = account_setup.accounts()
    if json_out:
        print_json({"crm": asdict(crm) if crm else None, "accounts": [asdict(a) | {"account": a.key} for a in rows]})
        return
    if not rows:
        out.print("No accounts yet. Add one with `contactsync add-account google EMAIL --client-secrets FILE`.")
        return
    from rich.table import Table

    table = Table(title="Accounts", title_justify="left")
    for col in ("account", "group", "direction", "visibility"):
        table.add_column(col)
    for a in rows:
        default = visibility.default_setting(crm.plan) + " (default)" if crm else ""
        table.add_row(a.key, a.group_name or a.group, a.direction, a.visibility or default)
    out.print(table)


@app.command("groups")
@boundary
def groups(account: str, json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The sync groups the account's provider offers."""
    found = account_setup.list_groups(account)
    if json_out:
        print_json([asdict(g) for g in found])
        return
    for g in found:
        size = f" ({g.member_count} contacts)" if g.member_count is not None else ""
        mark = "  (default)" if g.is_default else ""
        out.print(f"{g.name}{size}  id={g.id}{mark}")


@app.command("configure")
@boundary
def configure(
    account: str,
    group: str = typer.Option(None, "--group", help="Sync group by name or id (see `contactsync groups`)."),
    direction: str = typer.Option(
        None, "--direction",
        help="one-way (provider -> CRM) or two-way (also CRM -> provider, for persons you own).",
    ),
    conflicts: str = typer.Option(
        None, "--conflicts",
        help="Two-way: who wins a field changed on both sides: newest (default), provider or crm.",
    ),
    visibility_: str = typer.Option(None, "--visibility", help=VISIBILITY_HELP),
    adopt: bool = typer.Option(None, "--adopt/--no-adopt", help="On the first sync, link persons you own with the same e-mail."),
    prune: bool = typer.Option(False, "--prune", help="With --group: delete persons of contacts the new group no longer covers."),
) -> None:
    """Choose an account's sync group, direction and visibility."""
    start_logging()
    result = account_setup.configure_account(
        account, group=group, direction=direction, visibility_setting=visibility_, adopt=adopt, prune=prune,
        conflicts=conflicts,
    )
    a = result.account
    out.print(kv_table(a.key, [("group", a.group_name), ("direction", a.direction), ("conflicts", a.conflicts), ("visibility", a.visibility or "plan default"), ("adopt", str(a.adopt).lower())]))
    if result.group_changed and not result.pruned:
        out.print(f"{result.unlinked} linked contacts are outside the new group: unlinked, their persons kept.")
    elif result.pruned:
        out.print("Persons of contacts outside the new group will be deleted on the next run (safety rails apply).")


@app.command("remove-account")
@boundary
def remove_account(
    account: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Forget an account, its secret and its links; its persons stay in the CRM."""
    start_logging()
    _confirm(f"Remove {account}, its stored sign-in and its links? Its persons stay in Pipedrive.", yes,
             f"remove-account {account}")
    removed = account_setup.remove_account(account)
    err.print(f"Removed {removed.key}. Persons it created stay in Pipedrive.", soft_wrap=True)
    _mention_variable(secrets.provider_secret_name(removed.provider, removed.email))


@app.command("doctor")
@boundary
def doctor(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Check the secret store, the config, the CRM connection, permissions, custom fields and every account.

    Says where each secret is kept (keyring, file store or environment variable).
    """
    from contactsync.doctor import run_checks

    checks = run_checks()
    if json_out:
        print_json([asdict(c) for c in checks])
    else:
        for check in checks:
            mark = ("[yellow]![/yellow]" if check.warning else "[green]✓[/green]") if check.ok else "[red]✗[/red]"
            out.print(f"{mark} {check.name}: {check.detail}", soft_wrap=True)
            if check.fix:
                out.print(f"    fix: {check.fix}", soft_wrap=True)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)
