"""Issue 11's headline case end to end: "next tuesday" typed into Pipedrive's Birthday is never cleared."""

from __future__ import annotations

from cli_support import EMAIL, cli, cli_json, crm_persons, google_rn, setup_account


def _key(box, name: str) -> str:  # noqa: F811
    return next(f["key"] for f in box.pipedrive.fields if f["name"] == name)


def test_an_unreadable_birthday_stays_on_both_sides_and_is_recorded(box):  # noqa: F811
    setup_account(box)
    assert cli("configure", EMAIL, "--direction", "two-way").exit_code == 0
    assert cli("run", "--once").exit_code == 0
    rn = google_rn(box, "José Álvarez")
    box.google.edit_person(rn, {"birthdays": [{"date": {"year": 1980, "month": 5, "day": 17}}]})
    assert cli("run", "--once").exit_code == 0
    jose = crm_persons(box)["José Álvarez"]
    assert jose["custom_fields"][_key(box, "Birthday")] == "1980-05-17"
    box.pipedrive.edit_person(jose["id"], {"custom_fields": {_key(box, "Birthday"): "next tuesday"}})
    for _ in range(2):
        r = cli("run", "--once")
        assert r.exit_code == 0, r.output
        assert crm_persons(box)["José Álvarez"]["custom_fields"][_key(box, "Birthday")] == "next tuesday"
        assert box.google.person(rn)["birthdays"][0]["date"] == {"year": 1980, "month": 5, "day": 17}
    recent = cli_json("status", "status")["accounts"][0]["recent"]
    assert any(e["action"] == "unreadable" and "birthday" in (e["detail"] or "") for e in recent), recent
    # An edit of another field in Pipedrive still syncs, and still leaves the birthday alone.
    box.pipedrive.edit_person(jose["id"], {"custom_fields": {_key(box, "Job title"): "Chief Buyer"}})
    assert cli("run", "--once").exit_code == 0
    person = box.google.person(rn)
    assert person["organizations"][0]["title"] == "Chief Buyer"
    assert person["birthdays"][0]["date"] == {"year": 1980, "month": 5, "day": 17}
    assert crm_persons(box)["José Álvarez"]["custom_fields"][_key(box, "Birthday")] == "next tuesday"
