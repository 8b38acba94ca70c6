"""10 % injected faults of every kind on all three emulators: at most two passes to the exact expected state.

Every kind the sandbox injects (contactsync/sandbox/faults.py) is drawn: HTTP 500,
503, 429 with Retry-After, timeouts, connection resets and answers lost after the
write was applied. The expected state is not written down here: the same steps
run against a second sandbox without faults, and the two Pipedrive companies and
address books must end up the same, with no duplicate. One fault seed by default;
CONTACTSYNC_FAULT_SEEDS=N runs N of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cli_support import EMAIL, cli, crm_persons, graph_id, setup_account, setup_microsoft, start_sandbox

from contactsync.sandbox import launch
from contactsync.sandbox.browser import register_sandbox_browser
from contactsync.sandbox.faults import FAULT_KINDS, RandomFaults

MS = launch.MICROSOFT_EMAIL
SEEDS = range(int(os.environ.get("CONTACTSYNC_FAULT_SEEDS", "1")))
EXTRA = 24  # contacts added to each address book besides the example ones


def _populate(box: launch.Sandbox) -> None:
    for i in range(EXTRA):
        box.google.add_person({
            "names": [{"givenName": f"Gina{i}", "familyName": "Fault"}],
            "emailAddresses": [{"value": f"gina{i}@faults.example", "type": "work"}],
            "phoneNumbers": [{"value": f"+1 555 01{i:02d}", "type": "mobile"}],
            "organizations": [{"name": f"Org {i % 5}", "title": "Buyer"}],
            "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}],
        })
        box.graph.add_contact(None, {
            "givenName": f"Otto{i}", "surname": "Fault", "displayName": f"Otto{i} Fault",
            "emailAddresses": [{"address": f"otto{i}@faults.example", "name": f"Otto{i}"}],
            "businessPhones": [f"+49 30 555 {i:04d}"], "companyName": f"Org {i % 5}",
        })


def _edit(box: launch.Sandbox) -> None:
    """Edits on all three sides between passes, by name (ids differ between sandboxes)."""
    for rn in list(box.google.people):
        names = box.google.person(rn).get("names") or [{}]
        if names[0].get("givenName") in ("Gina1", "Gina2"):
            box.google.edit_person(rn, {"organizations": [{"name": "Moved Inc", "title": "Head"}]})
    box.graph.edit_contact(graph_id(box, "Otto3 Fault"), {"jobTitle": "Chief Fault Officer"})
    box.graph.delete_contact(graph_id(box, "Otto4 Fault"))
    persons = crm_persons(box)
    box.pipedrive.edit_person(persons["Otto5 Fault"]["id"], {
        "phones": [{"value": "+49 30 999 0005", "primary": True, "label": "work"}]})


def _state(box: launch.Sandbox) -> dict[str, Any]:
    """Pipedrive's persons and organizations and Outlook's contacts, without ids or times."""
    orgs = {o["id"]: o["name"] for o in box.pipedrive.orgs.values() if not o["is_deleted"]}
    org_names = sorted(orgs.values())
    assert len(org_names) == len(set(org_names)), f"duplicate organizations: {org_names}"
    people = {}
    names = {f["key"]: f["name"] for f in box.pipedrive.fields}
    for p in box.pipedrive.persons():
        assert p["name"] not in people, f"duplicate person {p['name']}"
        # By the field's name: keys are hashes of ids, given in the order parallel creates arrive.
        custom = {names.get(k, k): v for k, v in (p.get("custom_fields") or {}).items()
                  if not (isinstance(v, str) and v.startswith(("google:", "microsoft:")))}
        people[p["name"]] = (sorted(e["value"] for e in p.get("emails") or []),
                             sorted(x["value"] for x in p.get("phones") or []), orgs.get(p.get("org_id")), custom)
    outlook = {}
    for id in list(box.graph.contacts):
        c = box.graph.contact(id)
        outlook[c.get("displayName")] = (c.get("businessPhones"), c.get("jobTitle"), c.get("companyName"))
    return {"pipedrive": people, "outlook": outlook}


def _world(tmp: Path, monkeypatch: pytest.MonkeyPatch, faults: RandomFaults | None) -> launch.Sandbox:
    monkeypatch.setenv("CONTACTSYNC_HOME", str(tmp / "home"))
    # The Ultimate plan's burst limit (120 per 2 s): the limiter's waits are not what this test
    # is about, and on Growth they were most of its time (tests/test_rate_limit.py has them).
    box = start_sandbox(tmp / "box", faults=None, plan="ultimate")
    _populate(box)
    setup_account(box)
    setup_microsoft(box)
    assert cli("configure", MS, "--direction", "two-way").exit_code == 0
    if faults is not None:
        for offset, emulator in enumerate((box.google, box.pipedrive, box.graph)):
            emulator.random_faults = RandomFaults(faults.rate, faults.seed + offset if faults.seed is not None else None,
                                                  faults.kinds, faults.timeout_delay, faults.retry_after)
    return box


def _passes(box: launch.Sandbox, at_most: int) -> int:
    """Run passes until one ends with exit 0 and nothing left failing; return how many it took."""
    for n in range(1, at_most + 1):
        r = cli("run", "--once", "--json")
        if r.exit_code == 0:
            return n
    raise AssertionError(f"not converged in {at_most} passes: {r.output}")


@pytest.mark.parametrize("seed", SEEDS)
def test_ten_percent_faults_converge_in_two_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   seed: int) -> None:
    register_sandbox_browser()
    # A short client timeout, and 'timeout' faults that hold the answer longer than it.
    monkeypatch.setattr("contactsync.http.TIMEOUT", (2.0, 1.0))
    monkeypatch.setattr("contactsync.providers.google.TIMEOUT", (2.0, 1.0))
    monkeypatch.setattr("contactsync.engine.apply.RETRY_BACKOFF", 0.05)
    reference = _world(tmp_path / "reference", monkeypatch, None)
    try:
        assert _passes(reference, 1) == 1
        _edit(reference)
        assert _passes(reference, 1) == 1
        expected = _state(reference)
    finally:
        reference.stop()

    # 429s ask for Retry-After: 0: each is still answered and retried, without the second's wait.
    faults = RandomFaults(0.1, seed=1000 + seed * 3, kinds=FAULT_KINDS, timeout_delay=1.5, retry_after=0)
    box = _world(tmp_path / "faulty", monkeypatch, faults)
    emulators = (box.google, box.pipedrive, box.graph)
    drawn = [e.random_faults for e in emulators]
    try:
        first = _passes(box, 2)
        for e in emulators:
            e.random_faults = None  # the user's own edits are not faulted
        _edit(box)
        for e, f in zip(emulators, drawn, strict=True):
            e.random_faults = f
        second = _passes(box, 2)
        for e in emulators:
            e.random_faults = None
        injected: dict[str, int] = {}
        for f in drawn:
            assert f is not None
            for kind, n in f.injected.items():
                injected[kind] = injected.get(kind, 0) + n
        print(f"seed {seed}: passes {first} + {second}, faults injected {injected}")
        # The default seed draws every kind; other seeds must draw most of them.
        assert set(injected) == set(FAULT_KINDS) if seed == 0 else len(injected) >= 4, injected
        assert sum(injected.values()) >= 10  # some 10 % of the requests of three passes
        assert _state(box) == expected
        assert first <= 2 and second <= 2
    finally:
        box.stop()
