"""crm connect, add-account, accounts, groups, configure, remove-account."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

import typer
from rich.markup import escape

from contactsync.crm import pipedrive_plans as visibility
from contactsync.cli.app import app, crm_app
from contactsync.cli.errors import boundary, start_logging
from contactsync.cli.options import account_argument
from contactsync.cli.envelope import print_envelope
from contactsync.cli.render import (
    effective_visibility,
    err,
    id_table,
    out,
    plural,
    render_added,
    render_configured,
    render_connected,
    render_groups,
    visibility_text,
)
from contactsync.errors import UsageError
from contactsync.settings import ConflictPolicy, Direction, Plan, SettingError, Tenant, Visibility, choices, parse


def complete_providers() -> list[str]:
    from contactsync.providers.registry import KINDS

    return list(KINDS)

VISIBILITY_HELP = (
    "Who in the company sees the persons created: "
    + ", ".join(f"{k} ({v})" for k, v in visibility.DESCRIPTIONS.items())
    + ". Lite/Growth offer owner-followers and company; Premium/Ultimate the other four. "
    "Global admins always see every contact."
)


def choose_plan(detected: Plan | None, limit: int | None) -> Plan:
    """The plan when --plan was not given: asked on a terminal (what Pipedrive's burst limit suggests is
    the default), else the detected one, said aloud; never a guess. It sets the burst limit and the
    visibility choices."""
    names = ", ".join(choices(Plan))
    if not sys.stdin.isatty():
        if detected is None:
            seen = f"Pipedrive announced a limit of {limit} requests per 2 s, which no plan has" if limit \
                else "Pipedrive's answer did not say (no x-ratelimit-limit header)"
            raise UsageError(f"which Pipedrive plan the company has is not known: {seen}",
                             f"add --plan with one of: {names} (Pipedrive: Settings > Billing)")
        err.print(f"Plan: {detected} — Pipedrive allows this API token {limit} requests per 2 s, as on that plan; "
                  "--plan chooses another.", soft_wrap=True, markup=False)
        return detected
    while True:
        answer = typer.prompt(f"Your Pipedrive plan, as Settings > Billing names it ({names})",
                              default=str(detected) if detected else None)
        try:
            return parse(Plan, answer, "plan")
        except SettingError as exc:
            err.print(str(exc), soft_wrap=True, markup=False)


@crm_app.command("connect", short_help="Connect Pipedrive with your personal API token.")
@boundary
def crm_connect(
    domain: str = typer.Option(..., "--domain", metavar="DOMAIN", help="Your company domain: acme for acme.pipedrive.com."),
    plan: Plan = typer.Option(
        None, "--plan", case_sensitive=False,
        help="Your Pipedrive plan (legacy names too). Without it, asked on a terminal, else taken from the "
        "burst limit Pipedrive announces for the token. It sets the visibility choices and the request rate "
        "contactsync allows itself.",
    ),
    api_token_stdin: bool = typer.Option(False, "--api-token-stdin", help="Read the API token from standard input."),
    base_url: str = typer.Option("", "--base-url", metavar="URL",
                                 help="API base URL, for the sandbox (default: the company's own, DOMAIN.pipedrive.com)."),
) -> None:
    """Connect Pipedrive with your personal API token (Settings > Personal preferences > API)."""
    from contactsync.services import account_setup
    from contactsync.auth import secrets

    start_logging()
    if api_token_stdin:
        token = sys.stdin.readline()
    elif sys.stdin.isatty():
        token = typer.prompt("Pipedrive API token", hide_input=True)
    else:
        raise UsageError("no API token: stdin is not a terminal", "pass --api-token-stdin and pipe the token in")
    if plan is None:
        plan = choose_plan(*account_setup.detect_plan(domain, token, base_url))
    before, _ = account_setup.accounts()
    user = account_setup.connect_crm(domain, token, plan.value, base_url)
    same = before is not None and before.domain == domain.removesuffix(".pipedrive.com")
    render_connected(domain, user, "Reconnected" if same else "Connected")
    _mention_variable(secrets.pipedrive_token_name(domain.strip().removesuffix(".pipedrive.com")), saved=True)


def _confirm(question: str, yes: bool, command: str) -> None:
    """Ask on a terminal; elsewhere (scripts, cron) only --yes goes ahead."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{command} removes secrets and needs confirmation, but stdin is not a terminal",
                         f"add --yes: `contactsync {command} --yes`")
    if not typer.confirm(question, default=False):
        # The user's own answer, not a failure: exit 1 means "some contacts failed".
        err.print("Nothing was removed.")
        raise typer.Exit(0)


@crm_app.command("disconnect", short_help="Forget the Pipedrive connection and its token.")
@boundary
def crm_disconnect(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Forget the Pipedrive connection and remove its API token from the secret store.

    Links and history stay: `contactsync crm connect` with the same company picks them up again.
    """
    from contactsync.services import account_setup
    from contactsync.auth import secrets

    start_logging()
    crm, _ = account_setup.accounts()
    if crm is None:
        raise UsageError("no CRM is connected", "nothing to disconnect")
    _confirm(f"Disconnect Pipedrive company {crm.domain} and remove its API token?", yes, "crm disconnect")
    crm, removed = account_setup.disconnect_crm()
    gone = f"its API token was removed from {' and '.join(removed)}" if removed else "no stored API token was found"
    err.print(f"Disconnected Pipedrive company {crm.domain}; {gone}.", soft_wrap=True, markup=False)
    _mention_variable(secrets.pipedrive_token_name(crm.domain))


def _mention_variable(name: str, saved: bool = False) -> None:
    from contactsync.auth import secrets

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


@app.command("add-account", short_help="Sign in to an address book and add it.")
@boundary
def add_account(
    provider: str = typer.Argument(..., metavar="PROVIDER", help="google, microsoft or carddav",
                                   autocompletion=complete_providers),
    email: str = typer.Argument(..., metavar="EMAIL", help="The account's e-mail address."),
    client_secrets: Path = typer.Option(None, "--client-secrets", metavar="FILE", help="Google: client_secret.json of a Desktop OAuth client."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Google: print the sign-in URL instead of opening a browser."),
    client_id: str = typer.Option(None, "--client-id", metavar="APP_ID", help="Microsoft: the application (client) id of your app registration."),
    tenant: str = typer.Option(
        Tenant.COMMON.value, "--tenant", metavar="[" + "|".join(choices(Tenant)) + "|TENANT-ID]",
        autocompletion=lambda: choices(Tenant),
        help="Microsoft: common, consumers (Outlook.com), organizations (Office 365) or your tenant's id.",
    ),
    endpoint: str = typer.Option("", "--endpoint", metavar="URL", help="Provider API endpoint, for the sandbox."),
    authority: str = typer.Option("", "--authority", metavar="URL", help="Microsoft sign-in host, for the sandbox."),
    url: str = typer.Option("", "--url", metavar="URL", help="CardDAV: the server's URL, or icloud or fastmail."),
    username: str = typer.Option("", "--username", metavar="USER", help="CardDAV: the user name, when it is not the e-mail address."),
) -> None:
    """Sign in to an address book and add it as an account.

    Google opens a browser (or prints the URL with --no-browser); Microsoft prints a
    URL and a code to enter on any device, so it works over SSH. CardDAV asks for the
    password (an app-specific password for iCloud and Fastmail) on a terminal, and
    reads it from standard input otherwise.
    """
    from contactsync.services import account_setup
    from contactsync.auth import secrets

    start_logging()
    existed = account_setup.has_account(provider, email)
    try:
        account = account_setup.add_account(
            provider, email, client_secrets=client_secrets, open_browser=not no_browser, endpoint=endpoint,
            client_id=client_id, tenant=tenant, authority=authority, url=url, username=username,
            password=_carddav_password(email) if provider.lower() == "carddav" else "",
        )
    except KeyboardInterrupt:
        raise _sign_in_interrupted() from None
    if account.provider != "microsoft":  # a Microsoft sign-in is read from the stores first
        _mention_variable(secrets.provider_secret_name(account.provider, account.email), saved=True)
    if existed:
        out.print(f"Reconnected {account.key}; its links, settings and history are kept.", soft_wrap=True, markup=False)
        return
    render_added(account)


def _carddav_password(email: str) -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(f"Password for {email} (an app-specific password for iCloud or Fastmail)",
                                hide_input=True))
    return sys.stdin.readline().rstrip("\r\n")


@app.command("reconnect", short_help="Sign in again; links and settings are kept.")
@boundary
def reconnect(
    account: str = account_argument("The account, as `contactsync accounts` lists it."),
    client_secrets: Path = typer.Option(
        None, "--client-secrets", metavar="FILE",
        help="Google: client_secret.json, needed only when this machine has no sign-in of the account."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Google: print the sign-in URL instead of opening a browser."),
) -> None:
    """Sign in again to an account whose sign-in expired, was revoked or is on another machine.

    Its links, settings and history are kept; only the stored sign-in is replaced.
    """
    from contactsync.services import account_setup
    from contactsync.auth import secrets

    start_logging()
    try:
        password = _carddav_password(account) if account_setup.provider_of(account) == "carddav" else ""
        done = account_setup.reconnect_account(account, client_secrets=client_secrets, open_browser=not no_browser,
                                               password=password)
    except KeyboardInterrupt:
        raise _sign_in_interrupted() from None
    out.print(f"Reconnected {done.key}; its links, settings and history are kept.", soft_wrap=True, markup=False)
    if done.provider != "microsoft":
        _mention_variable(secrets.provider_secret_name(done.provider, done.email), saved=True)


@app.command("accounts", short_help="Every account: group, direction, visibility.")
@boundary(json_kind="accounts")
def accounts(json_out: bool = typer.Option(False, "--json", help="Print JSON (schema contactsync/accounts/1).")) -> None:
    """Every account with its group, direction and visibility."""
    from contactsync.services import account_setup

    crm, rows = account_setup.accounts()
    plan = crm.plan if crm else None
    if json_out:
        listed = [
            asdict(a) | {"account": a.key, "visibility": effective_visibility(a.visibility, plan),
                         "visibility_is_default": not a.visibility}
            for a in rows
        ]
        print_envelope("accounts", {"crm": asdict(crm) if crm else None, "accounts": listed})
        return
    if not rows:
        out.print("No accounts yet. Add one with `contactsync add-account google EMAIL --client-secrets FILE`.",
                  soft_wrap=True, markup=False)
        return
    id_table(
        f"Accounts ({plural(len(rows), 'account')})",
        ["account", "group", "direction", "visibility"],
        [[a.key, a.group_name or a.group or "(default)", a.direction, visibility_text(a.visibility, plan)] for a in rows],
    )


@app.command("groups", short_help="The sync groups an account's provider offers.")
@boundary(json_kind="groups")
def groups(
    account: str = account_argument(),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (schema contactsync/groups/1)."),
) -> None:
    """The sync groups the account's provider offers."""
    from contactsync.services import account_setup

    from contactsync import config

    key = config.load().account(account).key
    found = account_setup.list_groups(account)
    if json_out:
        print_envelope("groups", {"account": key, "groups": [asdict(g) for g in found]})
        return
    render_groups(key, found)


@app.command("configure", short_help="Set an account's group, direction, visibility.")
@boundary
def configure(
    account: str = account_argument(),
    group: str = typer.Option(None, "--group", metavar="GROUP", help="Sync group by name or id (see `contactsync groups`)."),
    direction: Direction = typer.Option(
        None, "--direction", case_sensitive=False,
        help="one-way (provider -> CRM) or two-way (also CRM -> provider, for persons you own).",
    ),
    conflicts: ConflictPolicy = typer.Option(
        None, "--conflicts", case_sensitive=False,
        help="Two-way: who wins a field changed on both sides: newest (default), provider or crm.",
    ),
    visibility_: Visibility = typer.Option(None, "--visibility", case_sensitive=False, help=VISIBILITY_HELP),
    adopt: bool = typer.Option(None, "--adopt/--no-adopt", help="On the first sync, link persons you own with the same e-mail."),
    prune: bool = typer.Option(False, "--prune", help="With --group: delete persons of contacts the new group no longer covers."),
) -> None:
    """Choose an account's sync group, direction and visibility."""
    from contactsync import config
    from contactsync.services import account_setup

    start_logging()
    result = account_setup.configure_account(
        account, group=group, direction=direction and direction.value,
        visibility_setting=visibility_ and visibility_.value, adopt=adopt, prune=prune,
        conflicts=conflicts and conflicts.value,
    )
    crm = config.load().crm
    render_configured(result, crm.plan if crm else None)


@app.command("remove-account", short_help="Forget an account; its persons stay in the CRM.")
@boundary
def remove_account(
    account: str = account_argument(),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Forget an account, its secret and its links; its persons stay in the CRM."""
    from contactsync.services import account_setup
    from contactsync.auth import secrets

    start_logging()
    _confirm(f"Remove {account}, its stored sign-in and its links? Its persons stay in Pipedrive.", yes,
             f"remove-account {account}")
    removed = account_setup.remove_account(account)
    err.print(f"Removed {removed.key}. Persons it created stay in Pipedrive.", soft_wrap=True, markup=False)
    _mention_variable(secrets.provider_secret_name(removed.provider, removed.email))


@app.command("doctor", short_help="Check secret store, config, CRM, permissions, fields, accounts.")
@boundary(json_kind="doctor")
def doctor(json_out: bool = typer.Option(False, "--json", help="Print JSON (schema contactsync/doctor/1).")) -> None:
    """Check the secret store, the config, the CRM connection, permissions, custom fields and every account.

    Says where each secret is kept (keyring, file store or environment variable).
    """
    from contactsync.services.doctor import run_checks

    checks = run_checks()
    if json_out:
        print_envelope("doctor", {"checks": [asdict(c) for c in checks]}, ok=all(c.ok for c in checks))
    else:
        for check in checks:
            mark = ("[yellow]![/yellow]" if check.warning else "[green]✓[/green]") if check.ok else "[red]✗[/red]"
            out.print(f"{mark} {escape(check.name)}: {escape(check.detail)}", soft_wrap=True)
            if check.fix:
                out.print(f"    fix: {check.fix}", soft_wrap=True, markup=False)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)
