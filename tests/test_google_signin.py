"""Google sign-ins: access tokens reused across passes, and the 7-day limit of clients in Testing."""

from __future__ import annotations

import time

from cli_support import EMAIL, cli, envelope, setup_account
from contactsync.auth import secrets
from contactsync.auth.google import GoogleGrant

GOOGLE = f"google:{EMAIL}"
DAY = 86400


def token_requests(box) -> int:
    return sum(1 for e in box.google.log if e.path == "/token")


def stored_grant() -> GoogleGrant:
    return GoogleGrant.from_json(secrets.get(GOOGLE))


def store(grant: GoogleGrant) -> None:
    secrets.put(GOOGLE, grant.to_json())


def test_a_quiet_pass_asks_google_for_no_token_and_a_refreshed_one_is_kept(box):
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    box.google.control({"clear_log": True})
    assert cli("run", "--once").exit_code == 0
    assert token_requests(box) == 0  # the access token of the sign-in is still good
    grant = stored_grant()
    store(GoogleGrant(grant.client_id, grant.client_secret, grant.refresh_token, grant.token_uri,
                      grant.issued_at, grant.access_token, time.time() - 60))  # an hour later
    assert cli("run", "--once").exit_code == 0
    assert token_requests(box) == 1
    refreshed = stored_grant()
    assert refreshed.access_token != grant.access_token and refreshed.expiry > time.time() + 3000
    assert cli("run", "--once").exit_code == 0
    assert token_requests(box) == 1  # the refreshed token was saved and served the next pass


def test_a_refused_google_token_is_refreshed_once_in_the_pass(box):
    setup_account(box)
    box.google.control({"expire_access_tokens": True})  # refused by Google, unexpired by our clock
    box.google.control({"clear_log": True})
    r = cli("run", "--once")
    assert r.exit_code == 0, r.output
    assert token_requests(box) == 1
    assert [e.status for e in box.google.log].count(401) == 1


def test_a_grant_of_a_client_in_testing_expires_after_7_days_and_doctor_warns_before(box):
    box.google.control({"publishing_status": "testing"})
    setup_account(box)
    assert cli("run", "--once").exit_code == 0
    grant = stored_grant()
    assert abs(grant.issued_at - time.time()) < 600
    # Six and a half days later by our clock: doctor warns while the sign-in still works.
    store(GoogleGrant(grant.client_id, grant.client_secret, grant.refresh_token, grant.token_uri,
                      grant.issued_at - 6.5 * DAY, grant.access_token, time.time() - 60))
    r = cli("doctor", "--json")
    check = {c["name"]: c for c in envelope(r.stdout, "doctor")["data"]["checks"]}[f"account {GOOGLE}"]
    assert check["ok"] and check["warning"] and "Publish app" in check["fix"]
    assert "signed in 6.5 days ago" in check["detail"]
    # The eighth day: Google refuses the refresh token.
    box.google.control({"advance_clock": 7 * DAY, "expire_access_tokens": True})
    grant = stored_grant()
    store(GoogleGrant(grant.client_id, grant.client_secret, grant.refresh_token, grant.token_uri,
                      time.time() - 7.5 * DAY, grant.access_token, time.time() - 60))
    r = cli("run", "--once")
    assert r.exit_code == 3
    assert f"contactsync reconnect {GOOGLE}" in r.stderr and "Testing after 7 days" in r.stderr
    r = cli("doctor", "--json")
    check = {c["name"]: c for c in envelope(r.stdout, "doctor")["data"]["checks"]}[f"account {GOOGLE}"]
    assert not check["ok"] and "Publish app" in check["fix"] and f"reconnect {GOOGLE}" in check["fix"]
    assert "kept in the keyring" in check["detail"]
    assert cli("reconnect", GOOGLE).exit_code == 0  # a new grant: 7 more days, or forever once published
    assert cli("run", "--once").exit_code == 0
