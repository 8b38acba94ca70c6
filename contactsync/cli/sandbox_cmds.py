"""sandbox and demo: try contactsync on the built-in emulators, no real accounts."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from contactsync.cli.app import app
from contactsync.cli.errors import boundary
from contactsync.cli.render import (
    err,
    id_table,
    out,
    print_command,
    render_added,
    render_configured,
    render_connected,
    render_groups,
)
from contactsync.cli.status_view import render_status
from contactsync.errors import UsageError
from contactsync.settings import Plan, choices

if TYPE_CHECKING:
    from contactsync.sandbox import launch

# The emulators are imported by these two commands only, so that every other
# command starts without loading them.


@app.command("sandbox", short_help="Serve the Google, Graph and Pipedrive emulators on loopback.")
@boundary(home=False)
def sandbox(
    google_port: int = typer.Option(0, "--google-port", metavar="PORT", help="Port of the Google emulator (0: any free one)."),
    pipedrive_port: int = typer.Option(0, "--pipedrive-port", metavar="PORT", help="Port of the Pipedrive emulator (0: any free one)."),
    graph_port: int = typer.Option(0, "--graph-port", metavar="PORT", help="Port of the Microsoft Graph emulator (0: any free one)."),
    plan: str = typer.Option("growth", "--plan", autocompletion=lambda: sandbox_plans(),
                             metavar="[" + "|".join(choices(Plan)) + "]",
                             help="Pipedrive plan the emulator models, with its burst limit per 2 s: lite 20, "
                                  "growth 40, premium 80, power 100, ultimate 120."),
    no_seed: bool = typer.Option(False, "--no-seed", help="Start empty instead of with the example contacts."),
    seed: Path = typer.Option(None, "--seed", metavar="DIR",
                              help="Load contacts from DIR/google.json, microsoft.json and pipedrive.json, each in "
                                   "its API's own format (People API Person, Graph contact, Pipedrive v2 person), "
                                   "like the built-in ones."),
    faults: float = typer.Option(0.0, "--faults", metavar="RATE",
                                 help="Fail this share of requests (0.1 = 10 %) on every API (and the CardDAV server): HTTP 500, 503, "
                                      "429 with Retry-After, timeouts, connection resets, and answers lost after "
                                      "the write was applied."),
    fault_kinds: str = typer.Option(None, "--fault-kinds", metavar="KINDS",
                                    help="The kinds of fault --faults draws from, comma-separated (default: all of "
                                         "500, 503, 429, timeout, reset, lost)."),
    fault_seed: int = typer.Option(None, "--fault-seed", metavar="N",
                                   help="Seed of the fault draws, to replay the same faults."),
    fault_timeout: float = typer.Option(None, "--fault-timeout", metavar="SECONDS",
                                        help="How long a 'timeout' fault holds the answer before dropping it "
                                             "(default: longer than contactsync's read timeout)."),
    latency: float = typer.Option(0.0, "--latency", metavar="SECONDS",
                                  help="Delay every answer by this many seconds (a real round trip is 0.1-0.3)."),
) -> None:
    """Serve the Google, Microsoft Graph and Pipedrive emulators (and Radicale for CardDAV) on loopback until Ctrl-C.

    With --faults, --latency and --plan the sandbox is as hostile as the real services
    on a bad day, for trying contactsync out or for tests in other processes.
    """
    from contactsync.sandbox import launch
    from contactsync.sandbox.faults import DEFAULT_TIMEOUT_DELAY, FAULT_KINDS, RandomFaults

    if plan not in launch.PLAN_BURST_LIMITS:
        raise UsageError(f"unknown Pipedrive plan {plan!r}", f"use one of {', '.join(launch.PLAN_BURST_LIMITS)}")
    if seed is not None:
        problems = launch.check_seed_dir(seed)
        if problems:
            raise UsageError(f"the seed folder {seed} cannot be used: {'; '.join(problems)}",
                             "give a folder with google.json, microsoft.json and pipedrive.json")
    if latency < 0:
        raise UsageError("--latency is a number of seconds, 0 or more")
    kinds = FAULT_KINDS if fault_kinds is None else tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
    try:
        random_faults = RandomFaults(faults, fault_seed, kinds,
                                     timeout_delay=DEFAULT_TIMEOUT_DELAY if fault_timeout is None else fault_timeout,
                                     ) if faults else None
    except ValueError as exc:
        raise UsageError(str(exc), "--faults takes a share between 0 and 1, e.g. 0.1") from None
    workdir = Path(tempfile.mkdtemp(prefix="contactsync-sandbox-"))
    box = launch.start(workdir, seed=not no_seed, seed_dir=seed, plan=plan,
                       ports=(google_port, pipedrive_port, graph_port), latency=latency, faults=random_faults)
    out.print(f"Google People API emulator  {box.google_url}", soft_wrap=True, markup=False)
    out.print(f"Microsoft Graph emulator    {box.graph_url}", soft_wrap=True, markup=False)
    out.print(f"Pipedrive API emulator      {box.pipedrive_url}", soft_wrap=True, markup=False)
    if box.carddav is not None:
        out.print(f"CardDAV server (Radicale)   {box.carddav.url}/  user {box.carddav.username}",
                  soft_wrap=True, markup=False)
    out.print(f"Pipedrive API token         {box.api_token}", soft_wrap=True, markup=False)
    out.print(f"Google OAuth client         {box.client_secrets}", soft_wrap=True, markup=False)
    if random_faults is not None:
        out.print(f"Faults                      {faults:.0%} of requests ({', '.join(random_faults.kinds)}), "
                  f"seed {fault_seed if fault_seed is not None else 'random'}")
    if latency:
        out.print(f"Latency                     {latency} s per answer")
    out.print("\nTry it from another terminal, with a throw-away home:\n")
    for command in sandbox_commands(box, plan):
        print_command(command)
    out.print("")
    out.print(
        "With CONTACTSYNC_SECRET_STORE=file the secrets go to files (mode 0600) in that home, not to your OS "
        "keyring (where they go without it, service name contactsync). The sandbox approves sign-ins by itself: "
        "open the URL add-account google prints (in a browser, or `curl -sL URL`) and its consent page redirects "
        "at once; Microsoft's device code is approved a moment after it is shown.",
        soft_wrap=True, markup=False,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    err.print("Serving; Ctrl-C stops.")
    stop.wait()
    box.stop()


def sandbox_plans() -> list[str]:
    from contactsync.sandbox import launch

    return list(launch.PLAN_BURST_LIMITS)


def sandbox_commands(box: launch.Sandbox, plan: str) -> list[str]:
    """The commands that point contactsync at a running sandbox, one per line, to paste as they are."""
    return [
        "export CONTACTSYNC_HOME=$(mktemp -d) CONTACTSYNC_SECRET_STORE=file",
        f"echo {box.api_token} | contactsync crm connect --domain {box.domain} --plan {plan} "
        f"--base-url {box.pipedrive_url} --api-token-stdin",
        f"contactsync add-account google {box.google_email} --client-secrets {box.client_secrets} "
        f"--endpoint {box.google_url} --no-browser",
        f"contactsync add-account microsoft {box.microsoft_email} --client-id {box.microsoft_client_id} "
        f"--endpoint {box.graph_url} --authority {box.graph_url}",
    ] + ([f"echo {box.carddav.password} | contactsync add-account carddav {box.carddav.username} "
          f"--url {box.carddav.url}/"] if box.carddav is not None else []) + [
        "contactsync run --once && contactsync status",
    ]


@contextmanager
def throwaway_home() -> Iterator[Path]:
    """A temporary CONTACTSYNC_HOME and an in-memory keyring: the user's own are never touched."""
    import keyring

    from contactsync.auth.secrets import MemoryKeyring

    previous_home = os.environ.get("CONTACTSYNC_HOME")
    previous_keyring = keyring.get_keyring()
    with tempfile.TemporaryDirectory(prefix="contactsync-demo-") as tmp:
        os.environ["CONTACTSYNC_HOME"] = tmp
        keyring.set_keyring(MemoryKeyring())
        try:
            yield Path(tmp)
        finally:
            keyring.set_keyring(previous_keyring)
            if previous_home is None:
                os.environ.pop("CONTACTSYNC_HOME", None)
            else:
                os.environ["CONTACTSYNC_HOME"] = previous_home


def _persons_table(box: launch.Sandbox, title: str) -> None:
    """The persons in the Pipedrive emulator; ids and e-mails are identifiers: never cut, other columns fold."""
    orgs = {o["id"]: o["name"] for o in list(box.pipedrive.orgs.values())}
    rows = [[str(person["id"]), person["name"], ", ".join(e["value"] for e in person.get("emails") or []),
             ", ".join(p["value"] for p in person.get("phones") or []), orgs.get(person.get("org_id"), ""),
             str(person.get("owner_id"))]
            for person in sorted(box.pipedrive.persons(), key=lambda p: p["id"])]
    id_table(title, ["id", "name", "e-mails", "phones", "organization", "owner"], rows, ids=(2, 0))


def _step(text: str) -> None:
    out.print(f"\n[bold cyan]▶ {escape(text)}[/bold cyan]", soft_wrap=True)


def _pass() -> int:
    """`contactsync run --once`, rendered as the command renders it."""
    from contactsync.cli.run_cmds import report_passes
    from contactsync.services.runner import run_once

    report = run_once()
    report_passes(report, json_out=False, quiet=False, dry_run=False)
    return report.exit_code


@app.command("demo", short_help="A one-shot tour on the sandbox, in a temporary home.")
@boundary(home=False)
def demo() -> None:
    """A one-shot tour on the sandbox: connect, add an account, sync, edit, delete, status.

    Runs in a temporary home with an in-memory keyring; your real config and keyring are never touched.
    """
    from contactsync.sandbox import launch

    with throwaway_home() as home:
        box = launch.start(home / "sandbox")
        try:
            code = _tour(box)
        finally:
            box.stop()
    raise typer.Exit(code)


def _tour(box: launch.Sandbox) -> int:
    from contactsync.services import account_setup
    from contactsync.sandbox.browser import register_sandbox_browser

    register_sandbox_browser()
    out.print("[bold]contactsync demo[/bold] — Google Contacts and Outlook → Pipedrive on the built-in sandbox")
    out.print(f"Emulators: Google {box.google_url}, Microsoft Graph {box.graph_url}, Pipedrive {box.pipedrive_url}",
              soft_wrap=True, markup=False)
    _persons_table(box, "Pipedrive before the first sync")

    _step(f"contactsync crm connect --domain {box.domain} --plan {box.plan} --api-token-stdin")
    user = account_setup.connect_crm(box.domain, box.api_token, box.plan, box.pipedrive_url)
    render_connected(box.domain, user)

    _step(f"contactsync add-account google {box.google_email} --client-secrets client_secret.json")
    out.print("(the sandbox's consent page approves itself)", style="dim")
    account = account_setup.add_account(
        "google", box.google_email, client_secrets=box.client_secrets, endpoint=box.google_url
    )
    render_added(account)

    _step(f"contactsync add-account microsoft {box.microsoft_email} --client-id {box.microsoft_client_id}")
    out.print("(the sandbox approves the device code by itself)", style="dim")
    microsoft = account_setup.add_account(
        "microsoft", box.microsoft_email, client_id=box.microsoft_client_id,
        endpoint=box.graph_url, authority=box.graph_url,
    )
    render_added(microsoft)

    carddav = _add_carddav(box)

    _step(f"contactsync groups {account.email}")
    render_groups(account.key, account_setup.list_groups(account.key))

    _step(f"contactsync configure {account.email} --direction one-way --visibility company")
    result = account_setup.configure_account(account.key, direction="one-way", visibility_setting="company")
    render_configured(result, box.plan)

    _step("contactsync run --once")
    codes = [_pass()]
    _persons_table(box, "Pipedrive after the first sync")

    edited = _find(box, "José Álvarez")
    removed = _find(box, "Lena Fischer")
    _step("In Google: José gets a new job and phone number, Lena is deleted, Maya is added; in Outlook, Lars moves")
    box.google.edit_person(
        edited,
        {
            "organizations": [{"name": "Northwind Traders"}],
            "phoneNumbers": [{"value": "+34 600 123 456", "type": "mobile"}],
        },
    )
    box.google.delete_person(removed)
    box.google.add_person(
        {
            "names": [{"givenName": "Maya", "familyName": "Okafor"}],
            "emailAddresses": [{"value": "maya@okafor.example", "type": "work"}],
            "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}],
        }
    )

    lars = next(id for id in list(box.graph.contacts) if box.graph.contact(id).get("displayName") == "Lars Øvergaard")
    box.graph.edit_contact(lars, {"businessPhones": ["+45 33 55 55 01"], "companyName": "Fourth Coffee Nordic"})

    _step("contactsync run --once")
    codes.append(_pass())
    _persons_table(box, "Pipedrive after the second sync")

    _step("contactsync status")
    from contactsync.services import status as status_core

    render_status(status_core.status())
    out.print("\nThe demo ran in a temporary home; nothing of yours was touched.")
    out.print("Next: read the README to connect your own Google account and Pipedrive company.")
    return max(codes)


def _add_carddav(box: launch.Sandbox) -> str | None:
    """The CardDAV part of the tour, when Radicale is installed (the carddav-server extra)."""
    if box.carddav is None:
        return None
    from contactsync.services import account_setup

    server = box.carddav
    _step(f"contactsync add-account carddav {server.username} --url {server.url}/   (password on stdin)")
    account = account_setup.add_account("carddav", server.username, url=server.url + "/", password=server.password)
    render_added(account)  # what the real command prints
    return account.key


def _find(box: launch.Sandbox, name: str) -> str:
    for rn in list(box.google.people):
        person = box.google.person(rn)
        if any(n.get("displayName") == name for n in person.get("names", [])):
            return rn
    raise LookupError(f"the sandbox seed has no {name}")
