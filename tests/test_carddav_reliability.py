"""CardDAV passes killed at any instant, and a server that fails: nothing duplicated, nothing lost.

The pass runs in a child process that is SIGKILLed while it writes (to Pipedrive one way,
to the real Radicale the other way); the next pass must converge to exactly one person per
card and one card per person. CONTACTSYNC_KILLS sets how many kills (CI-sized by default).
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
from urllib.parse import unquote

import keyring
import pytest

from cli_support import cli, setup_account
from contactsync.auth.secrets import env_name
from contactsync.sandbox.faults import RandomFaults

ME = "ann@icloud.example"
KEY = f"carddav:{ME}"
KILLS = int(os.environ.get("CONTACTSYNC_KILLS", "3"))


def child_env(box) -> dict[str, str]:
    """A second process: the same home, its secrets from the environment."""
    env = dict(os.environ)
    env[env_name(f"pipedrive:{box.domain}")] = box.api_token
    env[env_name(KEY)] = keyring.get_password("contactsync", KEY) or ""
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env


def kill_when(box, condition: Callable[[], bool], timeout: float = 60) -> bool:
    """Run a pass in a child process and SIGKILL it once `condition` holds; False if it finished first."""
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "run", "--once", "--account", KEY],
                            env=child_env(box), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if condition():
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                return True
            time.sleep(0.01)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def setup(box, dav, cards: int) -> None:
    for i in range(cards):
        dav.put(f"c{i:03d}", f"Card Person{i:03d}", f"EMAIL:card{i:03d}@x.example", f"TITLE:Role {i}")
    setup_account(box)
    r = cli("add-account", "carddav", ME, "--url", dav.url + "/", input=dav.server.password + "\n")
    assert r.exit_code == 0, r.output


@pytest.mark.sandbox_plan("ultimate")
def test_one_way_passes_killed_while_writing_to_pipedrive_leave_no_duplicate(box, dav):
    cards = 24
    setup(box, dav, cards)
    before = len(box.pipedrive.persons())
    rng = random.Random(15)
    killed = []
    for _ in range(KILLS):
        target = len(box.pipedrive.persons()) + rng.randint(1, 4)
        killed.append(kill_when(box, lambda: len(box.pipedrive.persons()) >= target))
    assert any(killed), "no pass was killed mid-way: the test proved nothing"
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0, r.output
    counted = Counter(p["name"] for p in box.pipedrive.persons())
    assert max(counted.values()) == 1, counted
    assert len(box.pipedrive.persons()) == before + cards
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0 and "created" not in r.stdout, r.output


def test_two_way_passes_killed_while_writing_to_the_address_book_leave_one_card_per_person(box, dav):
    setup(box, dav, 2)
    assert cli("configure", KEY, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once", "--account", KEY).exit_code == 0
    persons = 12
    for i in range(persons):
        box.pipedrive.add_person({"name": f"Crm Person{i:02d}", "owner_id": 1,
                                  "emails": [{"value": f"crm{i:02d}@x.example", "primary": True, "label": "work"}]})
    rng = random.Random(6578)
    killed = []
    for _ in range(KILLS):
        target = len(dav.hrefs()) + rng.randint(1, 3)
        killed.append(kill_when(box, lambda: len(dav.hrefs()) >= target))
    assert any(killed), "no pass was killed mid-way: the test proved nothing"
    for _ in range(2):
        r = cli("run", "--once", "--account", KEY)
        assert r.exit_code == 0, r.output
    names = Counter()
    for href in dav.hrefs():
        card = dav.get(unquote(href))
        names[next(line[3:] for line in card.splitlines() if line.startswith("FN:"))] += 1
    assert max(names.values()) == 1, names  # no card twice, whatever instant the pass died at
    assert sum(1 for n in names if n.startswith("Crm Person")) == persons
    stamps = Counter(p["custom_fields"].get(next(f["key"] for f in box.pipedrive.fields
                                                 if f["name"] == "Contact sync ID"))
                     for p in box.pipedrive.persons())
    assert all(count == 1 for stamp, count in stamps.items() if stamp), stamps


@pytest.mark.sandbox_plan("ultimate")
def test_faults_on_the_carddav_server_converge_within_two_passes(box, dav):
    """500, 503, 429, resets, held-then-reset requests and writes applied whose answer is lost,
    on the CardDAV server, both directions at once. A CardDAV pass needs few requests (one
    sync-collection, one multiget per 100 cards, one PUT per write), so the rate is 30 %
    rather than 10 %: enough that faults of several kinds really happen."""
    setup(box, dav, 20)
    assert cli("configure", KEY, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once", "--account", KEY).exit_code == 0
    for i in range(6):
        box.pipedrive.add_person({"name": f"Crm Faulty{i}", "owner_id": 1,
                                  "emails": [{"value": f"faulty{i}@x.example", "primary": True, "label": "work"}]})
    for i in range(5):
        dav.put(f"c{i:03d}", f"Card Person{i:03d}", f"EMAIL:card{i:03d}@x.example", "TITLE:Promoted")
    for i in (18, 19):
        dav.delete(f"{dav.book}c{i:03d}.vcf")
    # Retry-After: 0 on the 429s: still refused and retried, without the second's wait.
    dav_faults = RandomFaults(0.3, seed=21, kinds=("500", "503", "429", "reset", "lost", "timeout"), retry_after=0)
    dav.server.set_faults(dav_faults)
    codes = [cli("run", "--once", "--account", KEY).exit_code for _ in range(2)]
    dav.server.set_faults(None)
    assert codes[-1] == 0, codes
    assert sum(dav_faults.injected.values()) >= 3, dav_faults.injected  # the server really failed

    title = next(f["key"] for f in box.pipedrive.fields if f["name"] == "Job title")
    persons = {p["name"]: p for p in box.pipedrive.persons()}
    assert Counter(p["name"] for p in box.pipedrive.persons())["Card Person000"] == 1
    assert [persons[f"Card Person{i:03d}"]["custom_fields"][title] for i in range(5)] == ["Promoted"] * 5
    assert all(f"Card Person{i:03d}" in persons for i in range(18))
    assert "Card Person018" not in persons and "Card Person019" not in persons
    names = Counter()
    for href in dav.hrefs():
        card = dav.get(unquote(href))
        names[next(line[3:] for line in card.splitlines() if line.startswith("FN:"))] += 1
    assert all(names[f"Crm Faulty{i}"] == 1 for i in range(6)), names
    assert max(names.values()) == 1, names
    r = cli("run", "--once", "--account", KEY)  # settled: a quiet pass
    assert r.exit_code == 0 and "created" not in r.stdout and "updated" not in r.stdout, r.output
