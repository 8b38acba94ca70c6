"""run, refresh, status."""

from __future__ import annotations

import re
import signal
import threading
from typing import Any

import typer
from rich.table import Table

from contactsync import status as status_core
from contactsync.cli.app import app
from contactsync.cli.errors import boundary, debug_enabled, fail, start_logging
from contactsync.cli.progress import progress_bars
from contactsync.cli.render import PASS_WORDS, action_row, counts_line, err, kv_table, out, pass_summary, print_json, render_pass, render_plan
from contactsync.engine.run import PassOptions
from contactsync.errors import UsageError
from contactsync.runner import RunReport, account_exit_code, run_once


def parse_interval(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"bad interval {text!r}", "write it like 30s, 15m, 2h or 1d")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _report(report: RunReport, json_out: bool, quiet: bool, dry_run: bool) -> None:
    if json_out:
        rows: list[dict[str, Any]] = []
        for r in report.results:
            row = pass_summary(r)
            row["exit_code"] = account_exit_code(r)
            if dry_run:
                row["plan"] = [action_row(a) for a in r.plan]
            rows.append(row)
        print_json({"exit_code": report.exit_code, "accounts": rows})
    for r in report.results:
        if r.error is not None:
            fail(r.error)  # prints its one line on stderr
        elif dry_run and not json_out:
            render_plan(r)
        elif not quiet and not json_out:
            render_pass(r)


@app.command("run")
@boundary
def run(
    once: bool = typer.Option(False, "--once", help="One pass, then exit (for cron)."),
    account: list[str] = typer.Option(None, "--account", help="Only this account (repeatable)."),
    full: bool = typer.Option(False, "--full", help="Re-read everything instead of changes since the last pass."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; write nothing anywhere."),
    allow_mass_delete: bool = typer.Option(False, "--allow-mass-delete", help="Let a pass delete more than 10% of the links."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Let an empty provider listing delete persons."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a pass already running instead of exiting 5."),
    interval: str = typer.Option("15m", "--interval", help="Time between passes without --once, e.g. 15m."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary of each pass."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
) -> None:
    """Sync every account (or the ones named) once, or every --interval until stopped."""
    start_logging()
    stop = _stop_on_signals()
    options = PassOptions(
        full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete, allow_empty=allow_empty, stop=stop
    )
    if once or dry_run:
        report = run_once(account or None, options, wait=wait, progress=progress_bars(quiet or json_out),
                          reraise=debug_enabled())
        _report(report, json_out, quiet, dry_run)
        raise typer.Exit(report.exit_code)
    seconds = parse_interval(interval)
    if not quiet:
        err.print(f"Syncing every {interval}; stop with Ctrl-C or SIGTERM.")
    while not stop.is_set():
        report = run_once(account or None, options, wait=wait, progress=progress_bars(quiet or json_out),
                          reraise=debug_enabled())
        _report(report, json_out, quiet, False)
        options.full = False
        stop.wait(seconds)
    if not quiet:
        err.print("Stopped; the next pass resumes where this one ended.")
    raise typer.Exit(0)


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


@app.command("refresh")
@boundary
def refresh(account: str, json_out: bool = typer.Option(False, "--json", help="Print a JSON summary.")) -> None:
    """Force a full re-read and sync of one account now."""
    start_logging()
    report = run_once([account], PassOptions(full=True, stop=_stop_on_signals()), progress=progress_bars(json_out),
                      reraise=debug_enabled())
    _report(report, json_out, False, False)
    raise typer.Exit(report.exit_code)


def _words(counts: dict[str, int]) -> str:
    return counts_line({PASS_WORDS.get(k, k): n for k, n in counts.items()})


def _status_table(row: dict[str, Any]) -> Table:
    last = row["last_run"]
    when = "never" if last is None else f"{last['finished_at'] or last['started_at']} ({last['outcome']})"
    age = row["cursor_age_seconds"]
    rows = [
        ("provider", row["provider"]),
        ("group", row["group"]["name"] or row["group"]["id"]),
        ("direction", row["direction"]),
        ("visibility", row["visibility"]),
        ("linked contacts", str(row["linked"])),
        ("last pass", when),
        ("last pass → Pipedrive", _words(row["last_run_counts"]["to_crm"])),
        ("7 days → Pipedrive", _words(row["last_7_days"]["to_crm"])),
    ]
    if row["direction"] == "two-way":
        rows += [
            ("last pass → address book", _words(row["last_run_counts"]["to_provider"])),
            ("7 days → address book", _words(row["last_7_days"]["to_provider"])),
            ("conflicts (7 days)", str(row["conflicts"])),
        ]
    rows += [
        ("deleted in Pipedrive, kept deleted", str(row["not_recreated"])),
        ("cursor age", "none (next pass reads everything)" if age is None else f"{age // 60} min"),
        ("failing contacts", str(len(row["failures"]))),
    ]
    return kv_table(row["account"], rows)


@app.command("status")
@boundary
def status(
    account: str | None = typer.Argument(None, help="One account; all when omitted."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (shape documented in the README)."),
) -> None:
    """Totals, recent adds/updates/deletes, last pass and problems of each account."""
    report = status_core.status([account] if account else None)
    if json_out:
        print_json(report)
        return
    if not report["accounts"]:
        out.print("No accounts yet.")
    for row in report["accounts"]:
        out.print(_status_table(row))
        for failure in row["failures"]:
            out.print(f"  [yellow]not synced[/yellow] {failure['contact']}: {failure['reason']}")
