"""Crashes, lost connections and concurrent passes: nothing duplicated, nothing lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import keyring

from cli_support import EMAIL, cli, crm_persons, setup_account
from contactsync import config as cfg
from contactsync.engine.lock import account_lock
from contactsync.sandbox.server import Fault
from contactsync.store import LinkStore

CREATE = r"^/api/v2/persons$"


def subprocess_env(box) -> dict[str, str]:
    """The environment of a second process: same home, secrets from the environment."""
    env = dict(os.environ)
    env["CONTACTSYNC_SECRET_PIPEDRIVE_ACME_SANDBOX"] = box.api_token
    env["CONTACTSYNC_SECRET_GOOGLE_ANN_EXAMPLE_COM"] = keyring.get_password("contactsync", f"google:{EMAIL}")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env


def names_counted(box) -> Counter[str]:
    return Counter(p["name"] for p in box.pipedrive.persons())


def test_lost_answer_to_a_create_is_recovered_by_stamp(box):
    setup_account(box)
    box.pipedrive.add_fault(Fault(nth=3, method="POST", path=CREATE, drop=True, after=True))
    r = cli("run", "--once")
    # The dropped answer costs a retry, not the pass: the retry looks the stamp up first.
    assert r.exit_code == 0, r.output
    assert max(names_counted(box).values()) == 1  # no duplicate person
    assert re.search(r"1\s+recovered", r.stdout)
    store = LinkStore.open(cfg.state_path())
    assert store.count_links(f"google:{EMAIL}") == {"pending": 0, "linked": 10, "tombstone": 0, "foreign": 0}
    store.close()
    assert "recovered" not in cli("run", "--once").stdout


def test_run_killed_between_create_and_commit_leaves_no_duplicate(box):
    setup_account(box)
    before = len(box.pipedrive.persons())
    # The 2nd create is carried out, then its answer is held back while we kill the process.
    box.pipedrive.add_fault(Fault(nth=2, method="POST", path=CREATE, delay=30, after=True))
    proc = subprocess.Popen([sys.executable, "-m", "contactsync", "run", "--once"], env=subprocess_env(box),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(box.pipedrive.persons()) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(box.pipedrive.persons()) >= before + 2
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    store = LinkStore.open(cfg.state_path())
    assert store.count_links(f"google:{EMAIL}")["pending"] >= 1  # the create was never committed
    store.close()
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    counted = names_counted(box)
    assert max(counted.values()) == 1, counted
    assert len(counted) == before + 9  # 9 created, Ann Lee adopted, the empty contact skipped


def test_second_concurrent_pass_exits_5(box):
    setup_account(box)
    with account_lock(cfg.state_dir(), f"google:{EMAIL}"):
        proc = subprocess.run([sys.executable, "-m", "contactsync", "run", "--once"], env=subprocess_env(box),
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 5, proc.stderr
    assert "already running" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert cli("run", "--once").exit_code == 0  # the lock is released with its holder
