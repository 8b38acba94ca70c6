"""Kill anywhere, lose nothing: two-way passes SIGKILLed at random instants, with both providers.

Between kills, the user edits on both sides (each contact on one side only, so the
last edit is the one that must win), adds contacts in the address book and persons
in Pipedrive. After the last kill, passes run to completion; then every edit must
be on both sides, every new contact once on each side, and no person or contact
twice. CONTACTSYNC_KILLS=N kills N times per provider (CI-sized by default).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring
import pytest
from cli_support import EMAIL, cli, setup_account, setup_microsoft, start_sandbox
from file_keyring import FileKeyring

from contactsync.sandbox import launch
from contactsync.sandbox.browser import register_sandbox_browser

KILLS = int(os.environ.get("CONTACTSYNC_KILLS", "6"))
MS = launch.MICROSOFT_EMAIL
JOB = "Job title"


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TEST_KEYRING_FILE=str(tmp / "keyring.json"), PYTHON_KEYRING_BACKEND="file_keyring.FileKeyring",
               PYTHONPATH=str(Path(__file__).parent) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def _key(box: launch.Sandbox) -> str:
    return next(f["key"] for f in box.pipedrive.fields if f["name"] == JOB)


class Book:
    """The address book of one provider, as the test's user sees it."""

    def __init__(self, box: launch.Sandbox, provider: str) -> None:
        self.box, self.provider = box, provider

    def names(self) -> list[str]:
        if self.provider == "google":
            return [(self.box.google.person(rn).get("names") or [{}])[0].get("displayName", "")
                    for rn in list(self.box.google.people)]
        return [self.box.graph.contact(i).get("displayName", "") for i in list(self.box.graph.contacts)]

    def _id(self, name: str) -> str:
        if self.provider == "google":
            return next(rn for rn in list(self.box.google.people)
                        if (self.box.google.person(rn).get("names") or [{}])[0].get("displayName") == name)
        return next(i for i in list(self.box.graph.contacts) if self.box.graph.contact(i).get("displayName") == name)

    def job(self, name: str) -> str | None:
        if self.provider == "google":
            orgs = self.box.google.person(self._id(name)).get("organizations") or [{}]
            return orgs[0].get("title")
        return self.box.graph.contact(self._id(name)).get("jobTitle")

    def set_job(self, name: str, job: str) -> None:
        if self.provider == "google":
            self.box.google.edit_person(self._id(name), {"organizations": [{"name": "Kill Co", "title": job}]})
        else:
            self.box.graph.edit_contact(self._id(name), {"jobTitle": job, "companyName": "Kill Co"})

    def add(self, given: str) -> None:
        if self.provider == "google":
            self.box.google.add_person({
                "names": [{"givenName": given, "familyName": "Kill"}],
                "emailAddresses": [{"value": f"{given.lower()}@kill.example"}],
                "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}],
            })
        else:
            self.box.graph.add_contact(None, {"givenName": given, "surname": "Kill", "displayName": f"{given} Kill",
                                              "emailAddresses": [{"address": f"{given.lower()}@kill.example"}]})


def _crm_by_name(box: launch.Sandbox) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for p in box.pipedrive.persons():
        found.setdefault(p["name"], []).append(p)
    return found


def _requests(box: launch.Sandbox) -> int:
    return sum(len(e.log) for e in (box.google, box.pipedrive, box.graph))


def _run_and_kill(env: dict[str, str], rng: random.Random, box: launch.Sandbox) -> bool:
    """One pass in another process, SIGKILLed after a random number of its requests; True if killed."""
    start = _requests(box)
    target = start + rng.randint(1, 25)  # a pass here makes some 15 to 60 requests
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "run", "--once"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while proc.poll() is None and _requests(box) < target and time.monotonic() < deadline:
        time.sleep(0.002)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return killed


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_kills_at_random_instants_lose_nothing(tmp_path: Path, provider: str) -> None:
    register_sandbox_browser()
    env = _env(tmp_path)
    os.environ["TEST_KEYRING_FILE"] = env["TEST_KEYRING_FILE"]
    keyring.set_keyring(FileKeyring())  # shared with the processes we kill
    box = start_sandbox(tmp_path / "box")
    try:
        if provider == "google":
            setup_account(box)
            account = EMAIL
        else:
            r = cli("crm", "connect", "--domain", box.domain, "--plan", box.plan, "--base-url", box.pipedrive_url,
                    "--api-token-stdin", input=box.api_token + "\n")
            assert r.exit_code == 0, r.output
            setup_microsoft(box)
            account = MS
        assert cli("configure", account, "--direction", "two-way").exit_code == 0
        assert cli("run", "--once").exit_code == 0, "the first pass, unkilled"
        book = Book(box, provider)
        for emulator in (box.google, box.pipedrive, box.graph):
            emulator.latency = 0.01
        rng = random.Random(f"{provider}-kills")
        synced = [n for n in book.names() if n in _crm_by_name(box)]
        # Each contact is edited on one side only: half in the address book, half in Pipedrive.
        by_book, by_crm = synced[::2], synced[1::2]
        expected: dict[str, str] = {}
        added_book: list[str] = []
        added_crm: list[str] = []
        kills = 0
        for k in range(KILLS):
            name = rng.choice(by_book)
            expected[name] = f"book edit {k}"
            book.set_job(name, expected[name])
            crm_name = rng.choice(by_crm)
            expected[crm_name] = f"crm edit {k}"
            person = _crm_by_name(box)[crm_name][0]
            box.pipedrive.edit_person(person["id"], {"custom_fields": {_key(box): expected[crm_name]}})
            given = f"Kilian{k}"
            book.add(given)
            added_book.append(f"{given} Kill")
            box.pipedrive.add_person({"name": f"Pia{k} Kill", "owner_id": 1,
                                      "emails": [{"value": f"pia{k}@kill.example", "primary": True,
                                                  "label": "work"}]})
            added_crm.append(f"Pia{k} Kill")
            kills += _run_and_kill(env, rng, box)
        print(f"{provider}: {kills} of {KILLS} passes killed")
        assert kills >= KILLS // 3  # passes were killed, after 1 to 25 of their requests
        for emulator in (box.google, box.pipedrive, box.graph):
            emulator.latency = 0
        for _ in range(3):
            if cli("run", "--once").exit_code == 0:
                break
        assert cli("run", "--once").exit_code == 0

        crm = _crm_by_name(box)
        twice = {n: len(p) for n, p in crm.items() if len(p) > 1}
        assert not twice, f"duplicate persons: {twice}"
        in_book = Counter(book.names())
        assert not {n: c for n, c in in_book.items() if c > 1 and n}, f"duplicate contacts: {in_book}"
        for name in added_book + added_crm:
            assert name in crm and in_book[name] == 1, f"{name} is not on both sides"
        key = _key(box)
        lost = {n: (v, book.job(n), (crm[n][0].get("custom_fields") or {}).get(key))
                for n, v in expected.items()
                if book.job(n) != v or (crm[n][0].get("custom_fields") or {}).get(key) != v}
        assert not lost, f"lost edits (expected, address book, Pipedrive): {lost}"
    finally:
        box.stop()
