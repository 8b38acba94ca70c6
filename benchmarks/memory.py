"""Benchmark: the client's peak memory on a first pass, by the number of contacts.

For each size, a fresh sandbox runs in a process of its own (its memory is not
counted) with no added latency and a burst limit that never throttles, and a
fresh client process runs one first pass (one-way, Google -> Pipedrive) against
it; the client process reports its peak resident set size and CPU time. Memory
stays flat when the peak does not grow with the number of contacts:

    python benchmarks/memory.py --sizes 1000 10000 50000 [--direction two-way] [--json]

MB per 1,000 contacts is the slope between the smallest and the largest size.
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
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sandbox_process import person  # noqa: E402

UNTHROTTLED = 1_000_000  # requests per 2 s: memory, not the rate limit, is measured here


def serve(conn: Connection, contacts: int, orgs: int) -> None:
    """The sandbox process: seed `contacts` Google contacts, serve until told to stop."""
    from contactsync.sandbox import launch

    with tempfile.TemporaryDirectory() as tmp:
        box = launch.start(Path(tmp), seed=False, plan="ultimate")
        box.pipedrive.load({"users": [{"id": 1, "name": "Ann", "email": "ann@acme.example", "is_admin": True}]})
        box.pipedrive.set_burst_limit(UNTHROTTLED)
        box.pipedrive.set_daily_budget(100 * contacts + 10_000)
        for i in range(contacts):
            box.google.add_person(person(i, orgs))
        conn.send({"google": box.google_url, "pipedrive": box.pipedrive_url, "token": box.api_token,
                   "domain": box.domain, "email": box.google_email,
                   "client_secrets": box.client_secrets.read_text(encoding="utf-8")})
        try:
            conn.recv()  # stop
        finally:
            box.stop()


def client(conn: Connection, info: dict[str, Any], contacts: int, direction: str = "one-way") -> None:
    """The client process: one first pass; reports its peak RSS and CPU time."""
    import keyring

    from contactsync.auth.secrets import MemoryKeyring
    from contactsync.engine.run import PassOptions
    from contactsync.sandbox.browser import register_sandbox_browser
    from contactsync.services import account_setup
    from contactsync.services.runner import run_once

    sys.stdout = sys.stderr = open(os.devnull, "w")  # what sign-in and the pass print is not what is measured
    keyring.set_keyring(MemoryKeyring())
    register_sandbox_browser()
    with tempfile.TemporaryDirectory() as home:
        os.environ["CONTACTSYNC_HOME"] = home
        secrets_file = Path(home) / "client_secret.json"
        secrets_file.write_text(info["client_secrets"], encoding="utf-8")
        account_setup.connect_crm(info["domain"], info["token"], "ultimate", info["pipedrive"])
        account = account_setup.add_account("google", info["email"], client_secrets=secrets_file,
                                            endpoint=info["google"])
        if direction != "one-way":
            account_setup.configure_account(account.key, direction=direction)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu, wall = time.process_time(), time.perf_counter()
        report = run_once([account.key], PassOptions())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result = report.results[0]
        conn.send({"contacts": contacts, "outcome": result.outcome, "created": result.counts.get("create", 0),
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "rss_before_pass_mb": before, "seconds": wall,
                   "cpu_ms_per_contact": 1000 * cpu / max(contacts, 1)})


def measure(contacts: int, orgs: int, direction: str = "one-way") -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    box_conn, box_end = context.Pipe()
    box = context.Process(target=serve, args=(box_end, contacts, orgs), daemon=True)
    box.start()
    try:
        info = box_conn.recv()
        mine, theirs = context.Pipe()
        process = context.Process(target=client, args=(theirs, info, contacts, direction))
        process.start()
        row: dict[str, Any] = mine.recv()
        process.join()
        return row
    finally:
        if box.is_alive():
            box_conn.send("stop")
        box.join(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--orgs", type=int, default=25, help="distinct organizations")
    parser.add_argument("--direction", choices=("one-way", "two-way"), default="one-way")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    rows = [measure(n, args.orgs, args.direction) for n in sorted(args.sizes)]
    small, large = rows[0], rows[-1]
    span = (large["contacts"] - small["contacts"]) / 1000
    slope = (large["peak_rss_mb"] - small["peak_rss_mb"]) / span if span else 0.0
    summary = {"direction": args.direction, "sizes": rows, "mb_per_1000_contacts": slope, "peak_rss_mb": max(r["peak_rss_mb"] for r in rows)}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
        return
    print(f"{'contacts':>9}{'outcome':>9}{'created':>9}{'peak RSS MB':>13}{'seconds':>9}{'cpu ms/contact':>16}")
    for r in rows:
        print(f"{r['contacts']:>9}{r['outcome']:>9}{r['created']:>9}{r['peak_rss_mb']:>13.1f}{r['seconds']:>9.1f}"
              f"{r['cpu_ms_per_contact']:>16.2f}")
    print(f"MB per 1,000 contacts: {slope:.2f} (from {small['contacts']} to {large['contacts']})")


if __name__ == "__main__":
    main()
