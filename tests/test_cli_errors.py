"""Bad input and broken credentials end in one clear line and the right exit code."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail

from cli_support import EMAIL, cli, crm_persons, google_rn, setup_account
from contactsync import config as cfg


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def error_lines(account: str) -> list[str]:
    text = (cfg.state_dir() / "contactsync.log").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if " ERROR " in line and account in line]


def test_revoked_pipedrive_token_exits_3_naming_account_and_fix(box):
    setup_account(box)
    box.pipedrive.revoke_token(box.api_token)
    r = cli("run", "--once")
    assert r.exit_code == 3
    line = one_line(r.stderr)
    assert f"google:{EMAIL}" in line and "Pipedrive refused the API token" in line
    assert "contactsync crm connect --domain acme-sandbox" in line
    assert box.api_token not in r.output
    logged = error_lines(f"google:{EMAIL}")
    assert len(logged) == 1 and "Pipedrive refused the API token" in logged[0]
    assert box.api_token not in (cfg.state_dir() / "contactsync.log").read_text()


def test_revoked_google_grant_exits_3_naming_account_and_fix(box):
    setup_account(box)
    box.google.revoke_grants()
    r = cli("run", "--once")
    assert r.exit_code == 3
    line = one_line(r.stderr)
    assert EMAIL in line and f"contactsync reconnect google:{EMAIL}" in line
    # The sign-in failed before the pass started; a cron user still finds why in the log.
    logged = error_lines(f"google:{EMAIL}")
    assert len(logged) == 1 and f"contactsync reconnect google:{EMAIL}" in logged[0]


def test_malformed_config_exits_2_naming_file_and_line(box):
    setup_account(box)
    path = cfg.config_path()
    path.write_text(path.read_text() + "\n[accounts\nbroken = \n", encoding="utf-8")
    r = cli("status")
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert "config.toml" in line and "line" in line


def test_unknown_account_is_a_usage_error():
    r = cli("status", "nobody@example.com")
    assert r.exit_code == 2 and "no account nobody@example.com" in one_line(r.stderr)


def test_run_without_crm_says_how_to_connect():
    r = cli("run", "--once")
    assert r.exit_code == 2 and "contactsync crm connect" in one_line(r.stderr)


def test_no_keyring_backend_explains_the_ways_out(box):
    keyring.set_keyring(fail.Keyring())
    r = cli("crm", "connect", "--domain", box.domain, "--plan", "growth", "--base-url", box.pipedrive_url, "--api-token-stdin",
            input=box.api_token + "\n")
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert "PYTHON_KEYRING_BACKEND" in line and "CONTACTSYNC_SECRET_PIPEDRIVE_ACME_SANDBOX" in line
    assert box.api_token not in r.output


def test_secret_from_environment_when_no_keyring(box, monkeypatch):
    setup_account(box)
    grant = keyring.get_password("contactsync", f"google:{EMAIL}")
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setenv("CONTACTSYNC_SECRET_PIPEDRIVE_ACME_SANDBOX", box.api_token)
    monkeypatch.setenv("CONTACTSYNC_SECRET_GOOGLE_ANN_EXAMPLE_COM", grant)
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    assert "José Álvarez" in crm_persons(box)


def test_wrong_token_at_connect_is_refused_and_not_stored(box):
    r = cli("crm", "connect", "--domain", box.domain, "--plan", "growth", "--base-url", box.pipedrive_url, "--api-token-stdin",
            input="0" * 40 + "\n")
    assert r.exit_code == 3 and "refused the API token" in one_line(r.stderr)
    assert keyring.get_password("contactsync", "pipedrive:acme-sandbox") is None
    assert cfg.load().crm is None


def test_a_token_pasted_with_a_curly_quote_is_one_line_and_not_echoed(box):
    token = "\u201c" + box.api_token + "\u201d"
    r = cli("crm", "connect", "--domain", box.domain, "--plan", "growth", "--base-url", box.pipedrive_url,
            "--api-token-stdin", input=token + "\n")
    assert r.exit_code == 2, r.output
    line = one_line(r.stderr)
    assert "API token" in line and "copy it again" in line
    assert box.api_token not in r.output
    assert cfg.load().crm is None


def test_mass_deletion_stops_with_exit_4_and_deletes_nothing(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    before = crm_persons(box)
    for name in ("José Álvarez", "山田 太郎", "Ольга Петрова", "Chloé 🌻 Martin", "Priya Natarajan", "Lena Fischer"):
        box.google.delete_person(google_rn(box, name))
    r = cli("run", "--once")
    assert r.exit_code == 4
    assert "would delete 6 of 10" in one_line(r.stderr) and "--allow-mass-delete" in r.stderr
    assert crm_persons(box) == before
    r = cli("run", "--once", "--allow-mass-delete")
    assert r.exit_code == 0 and len(crm_persons(box)) == len(before) - 6


def test_expired_sync_token_falls_back_to_one_full_listing(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    box.google.expire_sync_tokens()
    box.google.edit_person(google_rn(box, "Lena Fischer"), {"organizations": [{"name": "Contoso"}]})
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    assert "expired our sync cursor" in r.stdout and "(full)" in r.stdout
    lena = crm_persons(box)["Lena Fischer"]
    orgs = {o["id"]: o["name"] for o in box.pipedrive.orgs.values()}
    assert orgs[lena["org_id"]] == "Contoso"


@pytest.mark.sandbox_plan("ultimate")
def test_corrupt_state_file_is_one_line_and_deletes_nothing(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    before = crm_persons(box)
    for suffix in ("", "-wal", "-shm"):
        path = cfg.state_path().with_name("state.db" + suffix)
        if path.exists():
            path.unlink()
    cfg.state_path().write_bytes(b"this is not a database" * 100)
    r = cli("run", "--once")
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert "state.db cannot be read" in line and "move it aside" in line
    cfg.state_path().rename(cfg.state_path().with_name("state.db.broken"))
    r = cli("run", "--once")  # a fresh store: links rebuilt from the stamps, no duplicates
    assert r.exit_code == 0, r.output
    assert crm_persons(box).keys() == before.keys()
