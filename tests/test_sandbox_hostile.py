"""`contactsync sandbox --faults --fault-seed --latency --plan --seed`, driven from another process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from contactsync.sandbox import launch
from contactsync.sandbox.faults import FAULT_KINDS, RandomFaults
from contactsync.sandbox.server import Request

SEED = launch.SEED_DIR


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = dict(os.environ, CONTACTSYNC_HOME=str(tmp_path / "home"), COLUMNS="400")
    server = subprocess.Popen([sys.executable, "-m", "contactsync", "sandbox", *args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    urls: dict[str, str] = {}
    while "token" not in urls:
        line = server.stdout.readline() if server.stdout else ""
        assert line, server.stderr.read() if server.stderr else ""
        for name, key in (("Google People API emulator", "google"), ("Microsoft Graph emulator", "graph"),
                          ("Pipedrive API emulator", "pipedrive"), ("Pipedrive API token", "token")):
            if line.startswith(name):
                urls[key] = line.split()[-1]
    return server, urls


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.communicate(timeout=30)


def test_faults_latency_plan_and_seed_from_the_command_line(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    for name in launch.SEED_FILES:
        data: dict[str, Any] = json.loads((SEED / name).read_text(encoding="utf-8"))
        if name == "pipedrive.json":
            data["persons"] = [dict(data["persons"][0], name="Only Seeded Person")]
        (seed / name).write_text(json.dumps(data), encoding="utf-8")
    server, urls = _start(tmp_path, "--faults", "1", "--fault-kinds", "503", "--fault-seed", "7",
                          "--latency", "0.01", "--plan", "lite", "--seed", str(seed))
    try:
        headers = {"x-api-token": urls["token"]}
        resp = requests.get(f"{urls['pipedrive']}/api/v2/persons", headers=headers, timeout=10)
        assert resp.status_code == 503
        faults = requests.get(f"{urls['pipedrive']}/_sandbox/faults", timeout=10).json()
        assert faults["injected"] == {"503": 1} and faults["seed"] == 8  # each emulator draws from its own seed
        requests.post(f"{urls['pipedrive']}/_sandbox/control", json={"random_faults": None}, timeout=10)
        resp = requests.get(f"{urls['pipedrive']}/api/v2/persons", headers=headers, timeout=10)
        assert [p["name"] for p in resp.json()["data"]] == ["Only Seeded Person"]
        assert resp.headers["x-ratelimit-limit"] == "20"  # Lite's burst limit
    finally:
        _stop(server)


@pytest.mark.parametrize(("args", "message"), [
    (["--faults", "2"], "between 0 and 1"),
    (["--fault-kinds", "boom", "--faults", "0.1"], "unknown fault kinds"),
    (["--plan", "gold"], "unknown Pipedrive plan"),
    (["--seed", "/nonexistent-seed-dir"], "google.json is missing"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    env = dict(os.environ, CONTACTSYNC_HOME=str(tmp_path / "home"), COLUMNS="400")
    r = subprocess.run([sys.executable, "-m", "contactsync", "sandbox", *args], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_every_kind_is_drawn_and_a_seed_replays_the_same_faults() -> None:
    req = Request("GET", "/v1/persons", {}, {}, b"")
    first, again = RandomFaults(0.5, seed=11), RandomFaults(0.5, seed=11)
    draws = [first.draw(req) for _ in range(400)]
    assert draws == [again.draw(req) for _ in range(400)]
    assert set(first.injected) == set(FAULT_KINDS)
    assert 150 < sum(first.injected.values()) < 250
    lost = [d for d in draws if d is not None and d.after]
    assert lost and all(d.drop for d in lost)
    assert any(d is not None and d.status == 429 and d.headers["Retry-After"] for d in draws)


def test_a_lost_answer_is_applied_but_never_arrives() -> None:
    with launch.start(Path(os.environ["CONTACTSYNC_HOME"]) / "box", seed=False, carddav=False,
                      faults=RandomFaults(1.0, seed=1, kinds=("lost",))) as box:
        token = {"x-api-token": box.api_token}
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{box.pipedrive_url}/api/v2/persons", json={"name": "Ann"}, headers=token, timeout=10)
        box.pipedrive.random_faults = None
        names = [p["name"] for p in requests.get(f"{box.pipedrive_url}/api/v2/persons", headers=token,
                                                 timeout=10).json()["data"]]
        assert names == ["Ann"]
        assert re.match(r"http://127\.0\.0\.1:\d+", box.pipedrive_url)
