"""Golden file: rich Google persons mapped to the exact Pipedrive request payloads.

The payloads are what the Pipedrive emulator received on `POST /api/v2/persons`,
with the random custom-field keys replaced by the fields' names and organization
ids by their names. Set CONTACTSYNC_REGEN_GOLDEN=1 to rewrite the expected file
after a deliberate mapping change, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_support import cli, setup_account
from contactsync import config as cfg
from contactsync.store import LinkStore
from pipedrive_openapi import assert_log_valid

GOLDEN = Path(__file__).parent / "golden"


def readable(payload: dict, field_names: dict[str, str], org_names: dict[int, str]) -> dict:
    out = dict(payload)
    if "org_id" in out:
        out["org_id"] = org_names.get(out["org_id"], out["org_id"])
    out["custom_fields"] = {field_names[k]: v for k, v in sorted((payload.get("custom_fields") or {}).items())}
    if "Notes" in out["custom_fields"] and len(out["custom_fields"]["Notes"]) > 200:
        notes = out["custom_fields"]["Notes"]
        out["custom_fields"]["Notes"] = f"<{len(notes)} characters, starting {notes[:40]!r}>"
    return out


def test_rich_google_persons_become_these_pipedrive_payloads(box):
    people = json.loads((GOLDEN / "google_people.json").read_text(encoding="utf-8"))
    box.google.load(people)
    ours = {p["resourceName"] for p in people["people"]}
    setup_account(box)
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    field_names = {f["key"]: f["name"] for f in box.pipedrive.fields}
    org_names = {o["id"]: o["name"] for o in box.pipedrive.orgs.values()}
    payloads = []
    for entry in box.pipedrive.log:
        if entry.method == "POST" and entry.path == "/api/v2/persons":
            body = readable(entry.body, field_names, org_names)
            stamp = body["custom_fields"]["Contact sync ID"]
            if stamp.rsplit(":", 1)[-1] in ours:
                payloads.append(body)
    payloads.sort(key=lambda p: p["custom_fields"]["Contact sync ID"])
    expected_file = GOLDEN / "pipedrive_payloads.json"
    if os.environ.get("CONTACTSYNC_REGEN_GOLDEN") == "1":
        expected_file.write_text(json.dumps(payloads, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert payloads == json.loads(expected_file.read_text(encoding="utf-8"))
    assert_log_valid(box.pipedrive)
    store = LinkStore.open(cfg.state_path())
    cuts = [e for e in store.recent_events("google:ann@example.com", 1000) if e.action == "truncate"]
    store.close()
    assert [(c.provider_id, c.detail) for c in cuts] == [
        ("people/c2000000000000000003", "notes cut from 70000 to 65000 characters (the CRM's limit)")
    ]
