"""The CLI end to end on the sandbox: the real adapters over loopback HTTP."""

from __future__ import annotations


from cli_support import EMAIL, cli, cli_json, crm_persons, envelope, google_rn, setup_account
from pipedrive_openapi import assert_log_valid

MY_CONTACTS = "contactGroups/myContacts"


def emails(person):
    return sorted(e["value"] for e in person.get("emails") or [])


def test_add_configure_run_edit_run_delete_run(box):
    before = crm_persons(box)
    setup_account(box)
    r = cli("configure", EMAIL, "--visibility", "company")
    assert r.exit_code == 0, r.output

    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    persons = crm_persons(box)
    synced = {name: p for name, p in persons.items() if name not in before}
    # Every usable seed contact of My Contacts became a person; the nameless one got its e-mail as name.
    assert {"José Álvarez", "山田 太郎", "Ольга Петрова", "orders@wide-world-importers.example"} <= set(synced)
    jose = synced["José Álvarez"]
    assert emails(jose) == ["jose.alvarez@contoso.example"]
    assert jose["owner_id"] == 1 and jose["visible_to"] == 3
    stamp_key = next(iter(k for k, v in (jose.get("custom_fields") or {}).items() if v and str(v).startswith("google:")))
    assert jose["custom_fields"][stamp_key].startswith(f"google:{EMAIL}:people/")
    status = cli_json("status", "status")["accounts"][0]
    assert status["linked"] == len(synced) + 1 and status["failures"] == []
    assert status["skipped"][0]["reason"].startswith("has no name")  # skipped, not failing

    rn = google_rn(box, "José Álvarez")
    box.google.edit_person(rn, {"emailAddresses": [{"value": "jose@northwind.example", "type": "work"}]})
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    after = crm_persons(box)
    assert emails(after["José Álvarez"]) == ["jose@northwind.example"]
    assert after["José Álvarez"]["id"] == jose["id"] and len(after) == len(persons)

    box.google.delete_person(google_rn(box, "Ольга Петрова"))
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    final = crm_persons(box)
    assert "Ольга Петрова" not in final and len(final) == len(persons) - 1

    status = cli_json("status", "status")["accounts"][0]
    assert status["last_run_counts"]["to_crm"]["delete"] == 1
    assert status["last_7_days"]["to_crm"]["update"] == 1
    assert status["visibility"] == "company" and status["group"]["id"] == MY_CONTACTS
    assert_log_valid(box.pipedrive)


def test_quiet_passes_write_nothing(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    box.pipedrive.log.clear()
    for _ in range(2):
        assert cli("run", "--once").exit_code == 0
    writes = [e for e in box.pipedrive.log if e.method in ("POST", "PATCH", "DELETE")]
    assert writes == []


def test_first_sync_adopts_the_owned_person_with_the_same_email(box):
    # The seed has Ann Lee in Google (Ann.Lee@example.com) and, owned by user 1, in Pipedrive.
    before = crm_persons(box)
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    after = crm_persons(box)
    assert after["Ann Lee"]["id"] == before["Ann Lee"]["id"]
    assert sum(1 for p in after.values() if "ann.lee@example.com" in emails(p)) == 1
    status = cli_json("status", "status")["accounts"][0]
    assert status["last_run_counts"]["to_crm"]["adopt"] == 1


def test_group_is_honoured(box):
    setup_account(box)
    r = cli("configure", EMAIL, "--group", "Suppliers")
    assert r.exit_code == 0, r.output
    assert cli("run", "--once").exit_code == 0
    new = set(crm_persons(box)) - {"Ann Lee", "Bob Stone", "Carla Diaz"}
    assert new == {"Priya Natarajan"}


def test_dry_run_writes_nothing(box):
    setup_account(box)
    box.pipedrive.log.clear()
    r = cli("run", "--once", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    plan = envelope(r.stdout, "run")["data"]["accounts"][0]["plan"]
    assert {a["action"] for a in plan} >= {"create"}
    assert [e for e in box.pipedrive.log if e.method != "GET"] == []
    assert len(crm_persons(box)) == 3


def test_photos_follow_the_rules(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    persons = crm_persons(box)
    with_picture = {name for name, p in persons.items() if p.get("picture_id")}
    # Ann Smith: 400x300, uploaded cropped to its centre; José: square; Taro: 96 px, skipped;
    # everyone else has Google's generated placeholder, which is not a photo.
    assert with_picture == {"Ann Smith", "José Álvarez"}
    uploads = [e for e in box.pipedrive.log if e.method == "POST" and e.path.endswith("/picture")]
    crops = sorted(str((e.body.get("crop_x"), e.body.get("crop_width"))) for e in uploads)
    assert crops == [str(("50", "300")), str((None, None))]
    status = cli_json("status", "status")["accounts"][0]
    assert status["last_run_counts"]["to_crm"]["create"] == 9
    from contactsync.store import LinkStore
    from contactsync import config as cfg

    store = LinkStore.open(cfg.state_path())
    skips = [e.detail for e in store.recent_events(f"google:{EMAIL}", 100) if e.action == "photo-skip"]
    store.close()
    assert skips == ["the photo is 96x96 px; Pipedrive needs at least 128 px"]
    box.pipedrive.log.clear()
    assert cli("run", "--once", "--full").exit_code == 0
    assert not [e for e in box.pipedrive.log if e.path.endswith("/picture")]
