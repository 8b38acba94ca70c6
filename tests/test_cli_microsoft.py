"""A Microsoft account end to end through the CLI: device-code sign-in, folders, delta, caps."""

from __future__ import annotations


from cli_support import cli, crm_persons, envelope, graph_id, setup_account, setup_microsoft
from pipedrive_openapi import assert_log_valid

MS = "ann@outlook.example"


def emails(person):
    return sorted(e["value"] for e in person.get("emails") or [])


def test_add_run_edit_run_delete_run(box):
    setup_account(box)
    setup_microsoft(box)
    r = cli("groups", MS, "--json")
    groups = {g["name"]: g for g in envelope(r.stdout, "groups")["data"]["groups"]}
    assert groups["Contacts"]["is_default"] and "Clients" in groups
    r = cli("configure", MS, "--group", "Clients")
    assert r.exit_code == 0, r.output

    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 0, r.output
    persons = crm_persons(box)
    maria = persons["Maria Kowalski"]
    assert emails(maria) == ["maria.k@post.example", "maria.kowalski@blue-yonder.example",
                             "maria@kowalski-home.example"]
    assert "Olivia" not in persons and "Lars Øvergaard" not in persons  # not in the Clients folder
    stamps = [v for v in maria["custom_fields"].values() if isinstance(v, str) and v.startswith("microsoft:")]
    assert stamps and stamps[0].startswith(f"microsoft:{MS}:")
    notes_key = next(f["key"] for f in box.pipedrive.fields if f["name"] == "Notes")
    assert maria["custom_fields"].get(notes_key) is None  # Outlook notes are never synced

    box.graph.edit_contact(graph_id(box, "Олег Смирнов"), {"jobTitle": "Директор", "companyName": "Proseware"})
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 0 and "1 updated" in r.stdout, r.output
    oleg = crm_persons(box)["Олег Смирнов"]
    title_key = next(f["key"] for f in box.pipedrive.fields if f["name"] == "Job title")
    assert oleg["custom_fields"][title_key] == "Директор"

    box.graph.delete_contact(graph_id(box, "Олег Смирнов"))
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 0 and "1 deleted" in r.stdout, r.output
    assert "Олег Смирнов" not in crm_persons(box)
    assert_log_valid(box.pipedrive)


def test_expired_delta_falls_back_to_one_full_listing(box):
    setup_account(box)
    setup_microsoft(box)
    assert cli("run", "--once", "--account", MS).exit_code == 0
    box.graph.expire_delta_tokens("SyncStateNotFound")
    box.graph.edit_contact(graph_id(box, "Lars Øvergaard"), {"companyName": "Fourth Coffee Nordic"})
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 0, r.output
    assert "expired our sync cursor" in r.stdout and "(full)" in r.stdout and "1 updated" in r.stdout


def test_two_accounts_share_the_custom_fields(box):
    setup_account(box)
    setup_microsoft(box)
    assert cli("run", "--once").exit_code == 0
    names = [f["name"] for f in box.pipedrive.fields]
    for field in ("Contact sync ID", "Postal address", "Instant messenger", "Notes", "Birthday", "Job title"):
        assert names.count(field) == 1, field


def test_a_quiet_pass_asks_no_token_and_a_revoked_grant_exits_3_naming_reconnect(box):
    setup_microsoft(box)
    setup_account(box)
    assert cli("run", "--once", "--account", MS).exit_code == 0
    box.graph.control({"clear_log": True})
    assert cli("run", "--once", "--account", MS).exit_code == 0
    assert [e.path for e in box.graph.log if e.path.endswith("/token")] == []  # the stored access token served
    box.graph.identity.revoke(MS)
    r = cli("run", "--once", "--account", MS)
    assert r.exit_code == 3
    assert f"contactsync reconnect microsoft:{MS}" in r.stderr
