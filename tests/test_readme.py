"""The README's commands are real: the sandbox tour runs, every documented command has help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cli_support import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_setup_commands():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert blocks[0].strip() == "pip install . && contactsync demo"
    assert blocks[1].strip() == "pip install -e '.[test]' && pytest"


def test_readme_demo_runs_and_leaves_the_users_home_alone(tmp_path):
    home = tmp_path / "users-home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CONTACTSYNC_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "contactsync", "demo"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "9 created" in proc.stdout and "1 adopted" in proc.stdout
    assert "1 created, 1 updated" in proc.stdout and "1 deleted" in proc.stdout
    assert "Maya Okafor" in proc.stdout
    # The demo shows what the real commands print (the same rendering functions).
    for printed in ("Connected to Pipedrive company acme-sandbox as", "Added google:ann@example.com; syncing group",
                    "Added microsoft:ann@outlook.example", "Recent changes", "contacts synced"):
        assert printed in proc.stdout, printed
    assert list(home.iterdir()) == []


def test_every_documented_command_has_help():
    commands = set(re.findall(r"^\| `contactsync ([a-z-]+(?: connect)?)", README, re.M))
    assert {"demo", "sandbox", "run", "status", "refresh", "add-account", "crm connect"} <= commands
    for command in commands:
        r = cli(*command.split(), "--help")
        assert r.exit_code == 0, command
        assert "Usage" in r.stdout
