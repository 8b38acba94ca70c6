"""run, refresh, status."""

from __future__ import annotations

import re
import signal
import threading
from typing import TYPE_CHECKING, Any

import typer

from contactsync.cli.app import app
from contactsync.cli.envelope import print_envelope
from contactsync.cli.errors import boundary, debug_enabled, fail, start_logging
from contactsync.cli.options import account_argument, complete_accounts
from contactsync.cli.plan_view import plan_json, render_plan
from contactsync.cli.progress import progress_factory
from contactsync.cli.render import err, pass_summary, render_pass
from contactsync.cli.status_view import render_status
from contactsync.errors import ContactSyncError, UsageError

if TYPE_CHECKING:
    from contactsync.engine.run import PassOptions
    from contactsync.services.runner import RunReport


def parse_interval(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"bad interval {text!r}", "write it like 30s, 15m, 2h or 1d")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def decisive_error(report: RunReport) -> ContactSyncError | None:
    """The error behind the run's exit code, for the JSON envelope: the first account's
    error with that code; for contacts that failed (1, no account-wide error), a summary."""
    code = report.exit_code
    if code == 0:
        return None
    for r in report.results:
        if r.error is not None and r.error.exit_code == code:
            return r.error
    partial = [r.account for r in report.results if r.outcome == "partial"]
    return ContactSyncError(f"some contacts of {', '.join(partial) or 'the accounts'} could not be synced; "
                            "they are retried on the next pass", "see `contactsync status` for each one")


def report_passes(report: RunReport, json_out: bool, quiet: bool, dry_run: bool) -> None:
    from contactsync.services.runner import account_exit_code

    if json_out:
        rows: list[dict[str, Any]] = []
        for r in report.results:
            row = pass_summary(r)
            row["exit_code"] = account_exit_code(r)
            row["exit_code"] = account_exit_code(r)
            if dry_run:
                row.update(plan_json(r))
            rows.append(row)
        print_envelope("run", {"exit_code": report.exit_code, "dry_run": dry_run, "accounts": rows},
                       ok=report.exit_code == 0, error=decisive_error(report))
    for r in report.results:
        if dry_run and not json_out:
            render_plan(r)  # also when a safety rail would stop the pass: the plan is what to check
        elif not quiet and not json_out:
            render_pass(r)
        if r.error is not None:
            fail(r.error)  # prints its one line on stderr


@app.command("run", short_help="One sync pass of every account (--once), or one every --interval.")
@boundary(json_kind="run")
def run(
    once: bool = typer.Option(False, "--once", help="One pass, then exit (for cron)."),
    account: list[str] = typer.Option(None, "--account", metavar="ACCOUNT", autocompletion=complete_accounts,
                                      help="Only this account (repeatable)."),
    full: bool = typer.Option(False, "--full", help="Re-read everything instead of changes since the last pass."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; write nothing anywhere."),
    allow_mass_delete: bool = typer.Option(False, "--allow-mass-delete", help="Let a pass delete more than 10% of the links."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Let an empty provider listing delete persons."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a pass already running instead of exiting 5."),
    interval: str = typer.Option("15m", "--interval", metavar="DURATION", help="Time between passes without --once, e.g. 15m."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary of each pass (schema contactsync/run/1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
) -> None:
    """Sync every account (or the ones named) once, or every --interval until stopped."""
    from contactsync.engine.run import PassOptions

    start_logging()
    stop = _stop_on_signals()
    options = PassOptions(
        full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete, allow_empty=allow_empty, stop=stop
    )
    if once or dry_run:
        report = _passes(account or None, options, wait, quiet or json_out)
        report_passes(report, json_out, quiet, dry_run)
        raise typer.Exit(report.exit_code)
    seconds = parse_interval(interval)
    if not quiet:
        err.print(f"Syncing every {interval}; stop with Ctrl-C or SIGTERM.")
    while not stop.is_set():
        report = _passes(account or None, options, wait, quiet or json_out)
        report_passes(report, json_out, quiet, False)
        options.full = False
        stop.wait(seconds)
    if not quiet:
        err.print("Stopped; the next pass resumes where this one ended.")
    raise typer.Exit(0)


def _passes(names: list[str] | None, options: PassOptions, wait: bool, quiet: bool) -> RunReport:
    """One pass of each account, with a progress display per account unless quiet."""
    from contactsync.services.runner import run_once

    displays = progress_factory(options, quiet)
    try:
        return run_once(names, options, wait=wait, progress=displays, reraise=debug_enabled())
    finally:
        if displays is not None:
            displays.close()


def _stop_on_signals() -> threading.Event:
    """SIGTERM or Ctrl-C: finish the calls in flight, record them, stop. A second Ctrl-C quits at once."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return stop


@app.command("refresh", short_help="Force a full re-read and sync of one account now.")
@boundary(json_kind="run")
def refresh(account: str = account_argument(), json_out: bool = typer.Option(False, "--json", help="Print a JSON summary (schema contactsync/run/1).")) -> None:
    """Force a full re-read and sync of one account now."""
    from contactsync.engine.run import PassOptions

    start_logging()
    options = PassOptions(full=True, stop=_stop_on_signals())
    report = _passes([account], options, False, json_out)
    report_passes(report, json_out, False, False)
    raise typer.Exit(report.exit_code)


@app.command("status", short_help="Totals, recent changes, last pass and failing contacts.")
@boundary(json_kind="status")
def status(
    account: str | None = account_argument("One account; all when omitted.", None),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (schema contactsync/status/1, in the README)."),
) -> None:
    """Totals, recent adds/updates/deletes, last pass and problems of each account."""
    from contactsync.services import status as status_core

    report = status_core.status([account] if account else None)
    if json_out:
        print_envelope("status", report)
        return
    render_status(report)
