"""`run --dry-run` shows the plan a real pass would apply, contact by contact, also when a rail would stop it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli_support import EMAIL, cli, crm_persons, envelope, google_rn, setup_account
from contactsync.cli import app, render

DELETED = ("José Álvarez", "山田 太郎", "Ольга Петрова", "Chloé 🌻 Martin", "Priya Natarajan", "Lena Fischer")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rich reads COLUMNS once; a wide console keeps table cells on one line for the assertions."""
    monkeypatch.setattr(render.out, "_width", 250)


def wide(*args: str) -> str:
    return CliRunner().invoke(app, list(args)).stdout


def test_a_first_dry_run_lists_creates_with_names_and_what_pipedrive_would_gain(box):
    setup_account(box)
    box.pipedrive.log.clear()
    r = cli("run", "--once", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    entry = envelope(r.stdout, "run")["data"]["accounts"][0]
    creates = [a for a in entry["plan"] if a["action"] == "create"]
    assert creates and all(a["name"] for a in creates)
    assert {"Lena Fischer"} <= {a["name"] for a in creates}
    assert any(a["email"] for a in creates)
    assert "Contact sync ID" in entry["creates_in_crm"]["custom_fields"]
    assert entry["creates_in_crm"]["organizations"]  # the seed's companies are not in Pipedrive yet
    assert entry["stopped_by"] is None
    assert [e for e in box.pipedrive.log if e.method != "GET"] == []
    text = wide("run", "--once", "--dry-run")
    assert "Create in Pipedrive" in text and "Lena Fischer" in text and "Pipedrive would gain" in text


def test_an_update_shows_each_field_before_and_after_and_the_new_organization(box):
    setup_account(box)
    assert cli("run", "--once").exit_code in (0, 1)
    box.google.edit_person(google_rn(box, "Lena Fischer"), {"organizations": [{"name": "Globex Research"}]})
    r = cli("run", "--once", "--dry-run", "--json")
    entry = envelope(r.stdout, "run")["data"]["accounts"][0]
    update = next(a for a in entry["plan"] if a["action"] == "update")
    assert update["name"] == "Lena Fischer" and update["crm_id"]
    assert {"field": "organization", "after": "Globex Research"}.items() <= next(
        c for c in update["changes"] if c["field"] == "organization").items()
    assert entry["creates_in_crm"]["organizations"] == ["Globex Research"]
    assert entry["creates_in_crm"]["custom_fields"] == []
    text = wide("run", "--once", "--dry-run")
    assert "Update in Pipedrive (1)" in text and '"Globex Research"' in text and "→" in text


def test_the_mass_deletion_rail_still_shows_the_plan_with_names_and_the_flag(box):
    setup_account(box)
    assert cli("run", "--once").exit_code in (0, 1)
    before = crm_persons(box)
    for name in DELETED:
        box.google.delete_person(google_rn(box, name))
    r = cli("run", "--once", "--dry-run", "--json")
    assert r.exit_code == 4
    entry = envelope(r.stdout, "run")["data"]["accounts"][0]
    assert entry["stopped_by"]["rail"] == "mass-delete" and entry["stopped_by"]["allow_with"] == "--allow-mass-delete"
    deletes = [a for a in entry["plan"] if a["action"] == "delete"]
    assert {a["name"] for a in deletes} == set(DELETED)
    assert all(a["crm_id"] for a in deletes)
    r = CliRunner().invoke(app, ["run", "--once", "--dry-run"])
    assert r.exit_code == 4
    assert "Delete in Pipedrive (6)" in r.stdout and "Priya Natarajan" in r.stdout
    assert "mass-delete" in r.stdout and "--allow-mass-delete" in r.stdout
    r = cli("run", "--once", "--dry-run", "--allow-mass-delete", "--json")
    assert r.exit_code == 0 and envelope(r.stdout, "run")["data"]["accounts"][0]["stopped_by"] is None
    assert crm_persons(box) == before


def test_a_two_way_dry_run_says_what_the_real_pass_will_report(box):
    setup_account(box)
    assert cli("configure", f"google:{EMAIL}", "--direction", "two-way").exit_code == 0
    assert cli("run", "--once").exit_code in (0, 1)
    person = crm_persons(box)["Lena Fischer"]
    title = next(f["key"] for f in box.pipedrive.fields if f["name"] == "Job title")
    box.pipedrive.edit_person(person["id"], {"custom_fields": {title: "Head of Research"}})
    text = " ".join(wide("run", "--once", "--dry-run").split())
    assert "Update in the address book (1)" in text and "1 to update in the address book" in text, text
    assert "both sides" not in text
    entry = envelope(cli("run", "--once", "--dry-run", "--json").stdout, "run")["data"]["accounts"][0]
    assert [a["writes"] for a in entry["plan"] if a["action"] == "sync"] == [["provider"]]
    real = " ".join(wide("run", "--once").split())
    assert "1 updated in the address book" in real, real


def test_the_pass_after_a_rail_stop_is_not_called_continued(box):
    setup_account(box)
    assert cli("run", "--once").exit_code in (0, 1)
    for name in DELETED:
        box.google.delete_person(google_rn(box, name))
    assert cli("run", "--once").exit_code == 4
    r = cli("run", "--once", "--allow-mass-delete")
    assert r.exit_code in (0, 1) and "(incremental)" in r.stdout and "(continued)" not in r.stdout, r.output
