"""Benchmark: requests, API tokens and time of a first and an incremental pass.

Counts what does not drift (requests per endpoint, Pipedrive token cost) and
reports wall time for information. Runs the real adapters against the sandbox
emulators on loopback, with optional latency per request:

    python benchmarks/sync_requests.py --contacts 500 --latency 0.005
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
from pathlib import Path

import keyring

from contactsync import account_setup
from contactsync.auth.secrets import MemoryKeyring
from contactsync.runner import run_once
from contactsync.sandbox import launch
from contactsync.sandbox.browser import register_sandbox_browser


def person(i: int) -> dict:
    return {
        "names": [{"givenName": f"Bench{i}", "familyName": "Person"}],
        "emailAddresses": [{"value": f"bench{i}@example.org", "type": "work"}],
        "phoneNumbers": [{"value": f"+1 555 {i:04d}", "type": "mobile"}],
        "organizations": [{"name": f"Org {i % 25}", "title": "Buyer"}],
        "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}],
    }


def counted(box: launch.Sandbox) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for name, emulator in (("google", box.google), ("pipedrive", box.pipedrive)):
        for entry in emulator.log:
            path = "/".join("{id}" if part.isdigit() or part.startswith("c1") else part
                            for part in entry.path.split("/"))
            counts[f"{name} {entry.method} {path}"] += 1
        emulator.log.clear()
    return counts


def measure(box: launch.Sandbox, label: str, account: str) -> None:
    used = box.pipedrive.daily_used
    start = time.perf_counter()
    report = run_once([account])
    seconds = time.perf_counter() - start
    counts = counted(box)
    result = report.results[0]
    print(f"\n{label}: outcome {result.outcome}, {dict(result.counts)}")
    print(f"  {sum(counts.values())} requests, {box.pipedrive.daily_used - used} Pipedrive tokens, {seconds:.2f} s")
    for key, n in counts.most_common():
        print(f"  {n:6d}  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every emulator request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["CONTACTSYNC_HOME"] = home
        keyring.set_keyring(MemoryKeyring())
        register_sandbox_browser()
        box = launch.start(Path(home) / "sandbox", seed=False)
        box.pipedrive.load({"users": [{"id": 1, "name": "Ann", "email": "ann@acme.example", "is_admin": True}]})
        box.pipedrive.set_burst_limit(10_000)
        ids = [box.google.add_person(person(i)) for i in range(args.contacts)]
        try:
            account_setup.connect_crm(box.domain, box.api_token, box.plan, box.pipedrive_url)
            account = account_setup.add_account("google", box.google_email, client_secrets=box.client_secrets,
                                                endpoint=box.google_url).key
            for emulator in (box.google, box.pipedrive):
                emulator.log.clear()
                emulator.latency = args.latency
            print(f"{args.contacts} contacts, latency {args.latency * 1000:.0f} ms per request")
            measure(box, "first pass", account)
            for rn in ids[: args.edits]:
                box.google.edit_person(rn, {"organizations": [{"name": "Edited Org", "title": "Chief"}]})
            measure(box, f"incremental pass after {args.edits} edits", account)
            measure(box, "quiet pass", account)
        finally:
            box.stop()


if __name__ == "__main__":
    main()
