"""The permission check (DESIGN §8): refusals name the permission and where it is granted."""

from __future__ import annotations


from cli_support import EMAIL, cli, cli_json, crm_persons, setup_account
from pipedrive_support import SELLER_TOKEN

from contactsync import config as cfg
from contactsync.crm.pipedrive import PipedriveCrm
from contactsync.store import LinkStore


def connect_as_seller(box):
    r = cli("crm", "connect", "--domain", box.domain, "--plan", "growth", "--base-url", box.pipedrive_url, "--api-token-stdin",
            input=SELLER_TOKEN + "\n")
    assert r.exit_code == 0, r.output


def test_user_who_may_not_add_organizations_is_stopped_with_the_permission_named(box):
    setup_account(box)
    # An admin set the custom fields up; then the seller (no "add organizations") connects.
    PipedriveCrm(box.pipedrive_url, box.api_token).ensure_fields({})
    connect_as_seller(box)
    r = cli("run", "--once")
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "add organizations" in line.lower() and "Permission sets" in line
    # Persons without an organization that were created before the refusal stay linked.
    store = LinkStore.open(cfg.state_path())
    counts = store.count_links(f"google:{EMAIL}")
    store.close()
    assert counts["pending"] == 0
    ours = [p for p in box.pipedrive.persons()
            if any(str(v).startswith("google:") for v in (p.get("custom_fields") or {}).values())]
    assert counts["linked"] == len(ours) > 0 and all(p["owner_id"] == 2 for p in ours)


def test_user_who_may_not_add_custom_fields_is_told_to_ask_an_admin(box):
    setup_account(box)
    connect_as_seller(box)
    r = cli("run", "--once")
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "Contact sync ID" in line and "Add custom fields" in line and "Permission sets" in line
    assert crm_persons(box).keys() == {"Ann Lee", "Bob Stone", "Carla Diaz"}


def test_api_access_revoked_is_refused_before_the_first_pass(box):
    setup_account(box)
    box.pipedrive.set_permissions(1, can_use_api=False)
    box.pipedrive.users[1]["is_admin"] = False
    r = cli("configure", EMAIL, "--visibility", "company")
    assert r.exit_code == 1
    assert "use api" in r.stderr.lower() and "Permission sets" in r.stderr
    status = cli_json("status", "status")["accounts"][0]
    assert status["visibility"] != "company"  # refused: nothing changed
