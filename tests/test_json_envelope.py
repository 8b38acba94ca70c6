"""Every --json output is one envelope, valid against the JSON Schema shipped in the package."""

from __future__ import annotations

import json

import jsonschema
import pytest

from cli_support import EMAIL, cli, envelope, setup_account
from contactsync import schemas
from contactsync.cli.envelope import KINDS


def test_every_schema_is_a_valid_draft_2020_12_schema_for_its_kind():
    for kind in KINDS:
        schema = schemas.load(kind)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["schema"]["const"] == f"contactsync/{kind}/1"


def test_every_json_output_matches_its_schema(box):
    setup_account(box)
    outputs = {
        "accounts": cli("accounts", "--json"),
        "groups": cli("groups", EMAIL, "--json"),
        "run": cli("run", "--once", "--json"),
        "status": cli("status", "--json"),
        "doctor": cli("doctor", "--json"),
    }
    for kind, result in outputs.items():
        document = envelope(result.stdout, kind)
        assert document["ok"] is True and document["error"] is None, (kind, result.output)
    dry = envelope(cli("run", "--once", "--dry-run", "--full", "--json").stdout, "run")
    assert dry["data"]["dry_run"] is True
    refresh = envelope(cli("refresh", EMAIL, "--json").stdout, "run")
    assert refresh["data"]["accounts"][0]["account"] == f"google:{EMAIL}"
    accounts = envelope(outputs["accounts"].stdout, "accounts")["data"]["accounts"]
    assert accounts[0]["visibility"] == "owner-followers" and accounts[0]["visibility_is_default"] is True


@pytest.mark.parametrize("args,kind,code", [
    (("status", "nobody@example.com"), "status", 2),
    (("groups", "nobody@example.com"), "groups", 2),
    (("run", "--once"), "run", 2),
    (("refresh", "nobody@example.com"), "run", 2),
])
def test_a_failing_json_command_prints_the_error_in_its_envelope(args, kind, code):
    r = cli(*args, "--json")
    assert r.exit_code == code
    document = envelope(r.stdout, kind)
    assert document["ok"] is False and document["data"] is None
    assert document["error"]["exit_code"] == code and document["error"]["line"] in r.stderr


def test_a_failed_pass_is_not_ok(box):
    setup_account(box)
    box.pipedrive.revoke_token(box.api_token)
    r = cli("run", "--once", "--json")
    assert r.exit_code == 3
    document = envelope(r.stdout, "run")
    assert document["ok"] is False
    assert document["data"]["accounts"][0]["error"]["exit_code"] == 3
    assert box.api_token not in json.dumps(document)
