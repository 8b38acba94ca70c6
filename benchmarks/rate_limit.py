"""Benchmark: how close a pass runs to Pipedrive's burst limit, and what it costs.

The sandbox runs in a process of its own with a real round trip (``--latency``)
and the plan's real burst limit; contactsync runs here, so the CPU time and peak
memory printed are the client's alone. It runs a first pass, an incremental pass
(edits, creates and a deletion) and a quiet pass, then the same first pass with a
strictly sequential client (one request in flight) over a fresh sandbox, and
prints one table (``--json`` for a machine-readable one):

    python benchmarks/rate_limit.py --contacts 500 --orgs 25 --latency 0.1 --plan growth

Counts (requests, 429s, tokens) do not drift between runs; rates, times and CPU
do, with the machine's load — compare them within one run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import keyring  # noqa: E402

from sandbox_process import BURST, serve, summarise  # noqa: E402

from contactsync.services import account_setup  # noqa: E402
from contactsync.auth.secrets import MemoryKeyring  # noqa: E402
from contactsync.engine.run import PassOptions  # noqa: E402
from contactsync.services.runner import run_once  # noqa: E402
from contactsync.sandbox.browser import register_sandbox_browser  # noqa: E402


class Sandbox:
    """A sandbox process and the pipe that steers it."""

    def __init__(self, args: argparse.Namespace) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, args.contacts, args.orgs, args.plan, args.latency),
                                       daemon=True)
        self.process.start()
        self.info: dict[str, Any] = self.conn.recv()

    def call(self, *command: Any) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send(("stop",))
        self.process.join(10)


def connect(box: Sandbox, home: Path, plan: str) -> str:
    """Set contactsync up against `box` in a fresh home; the account's key."""
    os.environ["CONTACTSYNC_HOME"] = str(home)
    secrets_file = home / "client_secret.json"
    secrets_file.write_text(box.info["client_secrets"], encoding="utf-8")
    account_setup.connect_crm(box.info["domain"], box.info["token"], plan, box.info["pipedrive"])
    account = account_setup.add_account("google", box.info["email"], client_secrets=secrets_file,
                                        endpoint=box.info["google"])
    return account.key


def measure(box: Sandbox, account: str, options: PassOptions, contacts: int) -> dict[str, Any]:
    tokens_before = box.call("take")["tokens"]
    cpu, wall = time.process_time(), time.perf_counter()
    report = run_once([account], options)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    taken = box.call("take")
    result = report.results[0]
    row = summarise(taken["requests"])
    row.update(outcome=result.outcome, counts=dict(result.counts), seconds=wall,
               cpu_ms_per_contact=1000 * cpu / max(contacts, 1), tokens=taken["tokens"] - tokens_before)
    return row


def run_passes(args: argparse.Namespace, workers: int | None, *, churn: bool) -> dict[str, dict[str, Any]]:
    box = Sandbox(args)
    try:
        with tempfile.TemporaryDirectory() as home:
            account = connect(box, Path(home), args.plan)
            box.call("latency")
            options = PassOptions() if workers is None else PassOptions(workers=workers)
            rows = {"first": measure(box, account, options, args.contacts)}
            if churn:
                box.call("churn", args.edits, args.creates, args.deletes)
                rows["incremental"] = measure(box, account, options, args.edits + args.creates + args.deletes)
                rows["quiet"] = measure(box, account, options, 1)
            return rows
    finally:
        box.stop()


def report(args: argparse.Namespace, rows: dict[str, dict[str, Any]], peak_mb: float) -> dict[str, Any]:
    limit = BURST[args.plan] / 2.0
    for row in rows.values():
        row["rate_per_limit"] = row["pipedrive_rate"] / limit
        row["share_429"] = row["pipedrive_429"] / max(row["pipedrive_requests"], 1)
    first = rows["first"]
    created = first["counts"].get("create", 0) or args.contacts
    orgs_made = first["requests"].get("pipedrive POST /api/v2/organizations", 0)
    fields_made = first["requests"].get("pipedrive POST /api/v1/personFields", 0)
    # What the persons cost: the pass's tokens less the organizations it created and the
    # one-time setup of the custom fields (TOKEN_COST: an organization 5, a field 10).
    person_tokens = first["tokens"] - 5 * orgs_made - 10 * fields_made
    sequential = rows.get("sequential first")
    return {
        "contacts": args.contacts, "orgs": args.orgs, "plan": args.plan, "burst_limit_per_2s": BURST[args.plan],
        "latency_s": args.latency, "passes": rows, "peak_rss_mb": peak_mb,
        "tokens_per_created_person": rows["first"]["tokens"] / max(created, 1),
        "tokens_per_created_person_alone": person_tokens / max(created, 1),
        # Issue 13's measure: at most 5.2 tokens per created person plus 5.2 per created organization.
        "tokens_per_created_person_and_org": rows["first"]["tokens"] / max(created + orgs_made, 1),
        "organizations_created": orgs_made,
        "speedup_over_sequential": (sequential["seconds"] / rows["first"]["seconds"]) if sequential else None,
    }


def print_table(summary: dict[str, Any]) -> None:
    print(f"{summary['contacts']} contacts, {summary['orgs'] or 'one per contact'} organizations, "
          f"plan {summary['plan']} ({summary['burst_limit_per_2s']} requests per 2 s), "
          f"latency {summary['latency_s'] * 1000:.0f} ms")
    header = f"{'pass':<17}{'google':>8}{'pipedrive':>10}{'429s':>6}{'tokens':>8}{'rate/limit':>11}" \
             f"{'seconds':>9}{'cpu ms/contact':>15}"
    print(header)
    for name, row in summary["passes"].items():
        print(f"{name:<17}{row['google_requests']:>8}{row['pipedrive_requests']:>10}{row['pipedrive_429']:>6}"
              f"{row['tokens']:>8}{row['rate_per_limit']:>11.2f}{row['seconds']:>9.2f}"
              f"{row['cpu_ms_per_contact']:>15.2f}")
    print(f"tokens per created person: {summary['tokens_per_created_person']:.2f} in all, "
          f"{summary['tokens_per_created_person_alone']:.2f} without the {summary['organizations_created']} "
          f"organizations created (5 each) and the custom fields' one-time setup; "
          f"{summary['tokens_per_created_person_and_org']:.2f} per person or organization created")
    print("429s: " + ", ".join(f"{name} {100 * row['share_429']:.1f} %" for name, row in summary["passes"].items()))
    busiest = max(row["pipedrive_most_in_2s"] for row in summary["passes"].values())
    print(f"most Pipedrive requests within any 2 s: {busiest} (limit {summary['burst_limit_per_2s']})")
    if summary["speedup_over_sequential"] is not None:
        print(f"speed-up over a sequential client: {summary['speedup_over_sequential']:.1f}x")
    print(f"peak RSS of the client: {summary['peak_rss_mb']:.1f} MB")
    for name, row in summary["passes"].items():
        print(f"\n{name}: outcome {row['outcome']}, {row['counts']}")
        for endpoint, n in row["requests"].items():
            print(f"  {n:6d}  {endpoint}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--orgs", type=int, default=25, help="distinct organizations; 0 gives each contact its own")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every emulator request")
    parser.add_argument("--plan", choices=sorted(BURST), default="growth")
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--creates", type=int, default=2)
    parser.add_argument("--deletes", type=int, default=1)
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential client's pass")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    keyring.set_keyring(MemoryKeyring())
    register_sandbox_browser()
    rows = run_passes(args, None, churn=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not args.no_sequential:
        rows["sequential first"] = run_passes(args, 1, churn=False)["first"]
    summary = report(args, rows, peak_mb)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print_table(summary)


if __name__ == "__main__":
    main()
