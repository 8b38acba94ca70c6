"""`contactsync sandbox` as a new user runs it: its printed commands work from other processes."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


def contactsync(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contactsync", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=120)


def no_browser_env(tmp_path: Path) -> dict[str, str]:
    """A new user's shell on a server: output through a pipe at rich's default width, no browser."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(CONTACTSYNC_HOME=str(tmp_path / "home"), TEST_KEYRING_FILE=str(tmp_path / "keyring.json"),
               PYTHON_KEYRING_BACKEND="file_keyring.FileKeyring",
               PYTHONPATH=str(Path(__file__).parent) + os.pathsep + env.get("PYTHONPATH", ""),
               # A path without console browsers (lynx, w3m…), so webbrowser finds none.
               PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/sbin", "/sbin"]))
    return env


def test_the_printed_commands_sync_against_the_running_sandbox(tmp_path):
    env = no_browser_env(tmp_path)
    server = subprocess.Popen([sys.executable, "-m", "contactsync", "sandbox"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        while not any("contactsync run --once" in line for line in lines):
            line = server.stdout.readline()
            assert line, server.stderr.read()
            lines.append(line.strip())
        commands = [line for line in lines if "contactsync " in line and not line.startswith("Google")]
        for line in commands:  # every command line is whole: no option was wrapped onto a line of its own
            assert not line.startswith("-"), lines
        connect = next(line for line in lines if "crm connect" in line)
        token, connect_cmd = re.match(r"echo (\S+) \| contactsync (.*)", connect).groups()
        r = contactsync(*shlex.split(connect_cmd), env=env, input=token + "\n")
        assert r.returncode == 0, r.stderr

        google = next(line for line in lines if "add-account google" in line)
        assert google.endswith("--no-browser")
        args = shlex.split(google.removeprefix("contactsync "))
        signin = subprocess.Popen([sys.executable, "-m", "contactsync", *args], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = None
        while url is None:
            line = signin.stderr.readline()
            assert line, signin.stdout.read()
            if line.startswith("http"):
                url = line.strip()
        requests.get(url, timeout=30)  # the user's browser opens the consent page
        out, err = signin.communicate(timeout=60)
        assert signin.returncode == 0, err

        microsoft = next(line for line in lines if "add-account microsoft" in line)
        r = contactsync(*shlex.split(microsoft.removeprefix("contactsync ")), env=env)
        assert r.returncode == 0, r.stderr
        assert "enter the code" in r.stderr

        r = contactsync("run", "--once", env=env)
        assert r.returncode == 0, r.stderr
        status = json.loads(contactsync("status", "--json", env=env).stdout)["data"]
        linked = {a["account"]: a["linked"] for a in status["accounts"]}
        assert linked == {"google:ann@example.com": 10, "microsoft:ann@outlook.example": 4}
        secrets = json.loads((tmp_path / "keyring.json").read_text())
        # Values over a Windows-sized entry are split into parts named "NAME#GEN:I".
        assert {name for name in secrets if "#" not in name} == {"contactsync/pipedrive:acme-sandbox", "contactsync/google:ann@example.com",
                                "contactsync/microsoft:ann@outlook.example"}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0


@pytest.mark.parametrize("browser", [None, "/nonexistent/browser"])
def test_add_account_without_a_browser_prints_the_url_and_waits(tmp_path, browser):
    """No --no-browser on a machine without a browser (none at all, or a BROWSER that cannot run):
    the URL is printed, not a traceback."""
    from contactsync.sandbox import launch

    env = no_browser_env(tmp_path)
    if browser:
        env["BROWSER"] = browser
    box = launch.start(tmp_path / "sandbox", carddav=False)
    try:
        args = ["add-account", "google", box.google_email, "--client-secrets", str(box.client_secrets),
                "--endpoint", box.google_url]
        signin = subprocess.Popen([sys.executable, "-m", "contactsync", *args], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: list[str] = []
        url = None
        while url is None:
            line = signin.stderr.readline()
            assert line, "".join(seen) + signin.stdout.read()
            seen.append(line)
            if line.startswith("http"):
                url = line.strip()
        if browser is None:
            assert any("No web browser found" in line for line in seen)
        requests.get(url, timeout=30)
        out, err = signin.communicate(timeout=60)
        assert signin.returncode == 0, err
        assert "Traceback" not in err and f"google:{box.google_email}" in out
    finally:
        box.stop()
