"""A CardDAV account end to end through the CLI: a real Radicale, the Pipedrive emulator, both directions."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import signal
import subprocess
import sys
import termios
import time

import keyring

from cli_support import cli, crm_persons, envelope, setup_account
from pipedrive_openapi import assert_log_valid

ME = "ann@icloud.example"
KEY = f"carddav:{ME}"
WRITES = ("PUT", "DELETE", "MKCOL", "PROPPATCH")


def add_carddav(dav, url=None, password=None):
    return cli("add-account", "carddav", ME, "--url", url or dav.url + "/",
               input=(password or dav.server.password) + "\n")


def field_key(box, name: str) -> str:
    return next(f["key"] for f in box.pipedrive.fields if f["name"] == name)


def seed(dav):
    dav.put("maria", "Maria Kowalski", "EMAIL;TYPE=INTERNET,WORK,pref:maria@blue.example",
            "TEL;TYPE=CELL:+48 600 100 200", "ORG:Blue Yonder;Sales", "TITLE:Head of Sales",
            "ADR;TYPE=WORK:;;ul. Prosta 1;Warszawa;;00-001;Poland", "NOTE:Met at the fair",
            "BDAY;X-APPLE-OMIT-YEAR=1604:1604-05-17", "IMPP;X-SERVICE-TYPE=Skype:skype:maria.k",
            "X-SOCIALPROFILE;type=twitter:https://twitter.com/mariak")
    dav.put("juergen", "Jürgen Weiß", "EMAIL;TYPE=work;PREF=1:j@weiss.example", "BDAY:--0229", version="4.0")


def test_add_account_reads_the_password_from_stdin_and_keeps_it_with_the_secrets(box, dav):
    r = add_carddav(dav)
    assert r.exit_code == 0, r.output
    assert f"Added {KEY}" in r.stdout and '"Contacts"' in r.stdout
    assert keyring.get_password("contactsync", KEY) == dav.server.password
    config = (os.environ["CONTACTSYNC_HOME"] + "/config.toml")
    text = open(config, encoding="utf-8").read()
    assert dav.server.password not in text and "/ann%40icloud.example/" in text  # the discovered home

    r = cli("accounts", "--json")
    account = next(a for a in envelope(r.stdout, "accounts")["data"]["accounts"] if a["account"] == KEY)
    assert account["group_name"] == "Contacts"


def test_a_wrong_password_is_one_line_and_exit_3(box, dav):
    r = add_carddav(dav, password="not-the-password")
    assert r.exit_code == 3, r.output
    assert "not-the-password" not in r.output and "Traceback" not in r.output
    assert "add-account carddav" in r.output
    assert keyring.get_password("contactsync", KEY) is None


def test_a_wrong_password_on_reconnect_names_reconnect(box, dav):
    setup_account(box)
    assert add_carddav(dav).exit_code == 0
    r = cli("reconnect", KEY, input="not-the-password\n")
    assert r.exit_code == 3, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"contactsync reconnect {KEY}" in lines[0], r.stderr
    assert "add-account" not in r.output and "not-the-password" not in r.output
    assert keyring.get_password("contactsync", KEY) == dav.server.password  # the working one is kept


def test_a_changed_password_during_run_exits_3_naming_reconnect(box, dav):
    setup_account(box)
    assert add_carddav(dav).exit_code == 0
    keyring.set_password("contactsync", KEY, "changed-on-the-server")  # the server no longer takes the stored one
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 3, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and KEY in lines[0] and f"contactsync reconnect {KEY}" in lines[0], r.stderr
    assert "changed-on-the-server" not in r.output and "Traceback" not in r.output


def test_a_url_without_a_server_is_one_line(box, dav):
    r = cli("add-account", "carddav", ME, "--url", "not a url", input="pw\n")
    assert r.exit_code == 2 and "--url" in r.output, r.output
    r = cli("add-account", "carddav", ME, input="pw\n")
    assert r.exit_code == 2 and "--url" in r.output, r.output


def test_the_password_prompt_on_a_terminal(dav):
    """On a terminal the password is asked for, without echo; nothing is read from a pipe."""
    env = dict(os.environ)
    code = ("import keyring, sys; from contactsync.auth.secrets import MemoryKeyring; "
            "keyring.set_keyring(MemoryKeyring()); from contactsync.cli import main; "
            f"sys.argv = ['contactsync', 'add-account', 'carddav', '{ME}', '--url', '{dav.url}/']; main()")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal on stdin and stdout
        os.execve(sys.executable, [sys.executable, "-c", code], env)
    output, sent, status = b"", False, None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not sent and b"Password for" in output and not termios.tcgetattr(fd)[3] & termios.ECHO:
                # Typed only once the prompt has switched echo off: getpass flushes what came before.
                os.write(fd, dav.server.password.encode() + b"\n")
                sent = True
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                output += chunk
                if not chunk:
                    break
        while status is None and time.monotonic() < deadline:
            done, code_ = os.waitpid(pid, os.WNOHANG)
            status = code_ if done else None
            time.sleep(0.05)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode(errors="replace")
    assert sent, text
    assert status is not None and os.waitstatus_to_exitcode(status) == 0, text
    assert f"Added {KEY}" in text
    assert dav.server.password not in text  # not echoed


def test_one_way_add_edit_delete(box, dav):
    seed(dav)
    setup_account(box)
    assert add_carddav(dav).exit_code == 0
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0, r.output
    persons = crm_persons(box)
    maria = persons["Maria Kowalski"]
    assert [e["value"] for e in maria["emails"]] == ["maria@blue.example"]
    assert maria["custom_fields"][field_key(box, "Job title")] == "Head of Sales"
    assert maria["custom_fields"][field_key(box, "Birthday")] == "--05-17"  # Apple's 1604: no year
    assert persons["Jürgen Weiß"]["custom_fields"][field_key(box, "Birthday")] == "--02-29"  # vCard 4 --MMDD
    assert "skype" in maria["custom_fields"][field_key(box, "Instant messenger")].lower()
    stamp = maria["custom_fields"][field_key(box, "Contact sync ID")]
    assert stamp.startswith(f"carddav:{ME}:/ann@icloud.example/contacts/")
    assert "Jürgen Weiß" in persons

    dav.put("maria", "Maria Kowalski", "EMAIL;TYPE=INTERNET,WORK,pref:maria@blue.example",
            "TITLE:Chief Revenue Officer")
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0 and "1 updated" in r.stdout, r.output
    assert crm_persons(box)["Maria Kowalski"]["custom_fields"][field_key(box, "Job title")] == "Chief Revenue Officer"

    dav.delete(f"{dav.book}juergen.vcf")
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0 and "1 deleted" in r.stdout, r.output
    assert "Jürgen Weiß" not in crm_persons(box)

    assert_log_valid(box.pipedrive)
    box.pipedrive.log.clear()
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0 and box.pipedrive.log == []  # a quiet one-way pass asks Pipedrive nothing


def test_two_way_writes_back_keeping_what_contactsync_does_not_map(box, dav):
    seed(dav)
    setup_account(box)
    assert add_carddav(dav).exit_code == 0
    assert cli("configure", KEY, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once", "--account", KEY).exit_code == 0

    maria = crm_persons(box)["Maria Kowalski"]
    box.pipedrive.edit_person(maria["id"], {"custom_fields": {field_key(box, "Job title"): "CEO"}})
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0 and "1 updated in the address book" in r.stdout, r.output
    card = dav.get(f"{dav.book}maria.vcf")
    assert "TITLE:CEO" in card
    # Radicale stores its own serialisation (upper-case parameter names): the property is intact.
    assert "X-SOCIALPROFILE;TYPE=TWITTER:HTTPS://TWITTER.COM/MARIAK" in card.replace("\r\n ", "").upper()
    assert "X-APPLE-OMIT-YEAR=1604" in card  # the birthday without a year stayed one

    created = box.pipedrive.add_person({"name": "Nadia Haddad", "owner_id": 1,
                                        "emails": [{"value": "nadia@haddad.example", "primary": True,
                                                    "label": "work"}]})
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0 and "1 created in the address book" in r.stdout, r.output
    hrefs = dav.hrefs()
    assert len(hrefs) == 3
    new = next(h for h in hrefs if "maria" not in h and "juergen" not in h)
    assert "FN:Nadia Haddad" in dav.get(new)
    stamp = box.pipedrive.person(created)["custom_fields"][field_key(box, "Contact sync ID")]
    assert stamp.startswith(f"carddav:{ME}:") and stamp.endswith(".vcf")

    for _ in range(2):  # settled: nothing is written on either side
        box.pipedrive.log.clear()
        before = {h: dav.get(h) for h in dav.hrefs()}
        assert cli("run", "--once", "--account", KEY).exit_code == 0
        assert not [e for e in box.pipedrive.log if e.method in ("POST", "PATCH", "DELETE")]
        assert {h: dav.get(h) for h in dav.hrefs()} == before

    box.pipedrive.delete_person(created)
    r = cli("run", "--once", "--account", KEY)
    assert r.exit_code == 0 and "1 deleted in the address book" in r.stdout, r.output
    assert len(dav.hrefs()) == 2
    assert_log_valid(box.pipedrive)


def test_groups_lists_books_and_group_cards_and_configure_picks_one(box, dav):
    seed(dav)
    dav.put_raw("clients.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:CLIENTS\r\nFN:Clients\r\nN:Clients;;;;\r\n"
                               "X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:maria\r\n"
                               "END:VCARD\r\n")
    setup_account(box)
    assert add_carddav(dav).exit_code == 0
    r = cli("groups", KEY, "--json")
    names = [g["name"] for g in envelope(r.stdout, "groups")["data"]["groups"]]
    assert names == ["Contacts", "Contacts / Clients"]
    r = cli("configure", KEY, "--group", "Contacts / Clients")
    assert r.exit_code == 0, r.output
    assert cli("run", "--once", "--account", KEY).exit_code == 0
    persons = crm_persons(box)
    assert "Maria Kowalski" in persons and "Jürgen Weiß" not in persons and "Clients" not in persons


def test_the_sandbox_serves_radicale_and_prints_a_working_carddav_command(tmp_path):
    """`contactsync sandbox` in one process, the printed CardDAV commands in others, as a user would."""
    env = dict(os.environ)
    env.update(CONTACTSYNC_HOME=str(tmp_path / "home"), TEST_KEYRING_FILE=str(tmp_path / "keyring.json"),
               PYTHON_KEYRING_BACKEND="file_keyring.FileKeyring", COLUMNS="400",
               PYTHONPATH=os.path.dirname(__file__) + os.pathsep + env.get("PYTHONPATH", ""))

    def run(*args, input=None):
        return subprocess.run([sys.executable, "-m", "contactsync", *args], env=env, input=input,
                              capture_output=True, text=True, timeout=120)

    server = subprocess.Popen([sys.executable, "-m", "contactsync", "sandbox"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        while not any("contactsync run --once" in line for line in lines):
            line = server.stdout.readline()
            assert line, server.stderr.read()
            lines.append(line.strip())
        connect = next(line for line in lines if "crm connect" in line)
        token, _, connect_cmd = connect.removeprefix("echo ").partition(" | contactsync ")
        assert run(*shlex.split(connect_cmd), input=token + "\n").returncode == 0
        carddav = next(line for line in lines if "add-account carddav" in line)
        password, _, command = carddav.removeprefix("echo ").partition(" | contactsync ")
        r = run(*shlex.split(command), input=password + "\n")
        assert r.returncode == 0, r.stderr
        r = run("run", "--once", "--account", KEY)
        assert r.returncode == 0, r.stderr
        status = envelope(run("status", "--json").stdout, "status")["data"]
        linked = {a["account"]: a["linked"] for a in status["accounts"]}
        assert linked == {KEY: 3}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
