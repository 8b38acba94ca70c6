"""Settings are types: parsed when the config is read, refused in one line when unknown; capabilities enforced."""

from __future__ import annotations

import pytest

from contactsync import config as cfg
from contactsync.config import AccountConfig, CrmConfig
from contactsync.crm.pipedrive_plans import effective_visibility
from contactsync.engine.run import PassOptions, sync_account
from contactsync.errors import ConfigError, UsageError
from contactsync.model import Contact
from contactsync.providers.base import Capabilities
from contactsync.settings import ConflictPolicy, Direction, Plan, Visibility
from contactsync.store import LinkStore
from cli_support import cli
from fakes import FakeCrm, FakeProvider

CONFIG = """
[crm]
domain = "acme"
plan = "{plan}"

[accounts."google:ann@example.com"]
provider = "google"
email = "ann@example.com"
direction = "{direction}"
conflicts = "crm"
visibility = "{visibility}"
"""


def write(plan: str = "growth", direction: str = "two-way", visibility: str = "company") -> None:
    path = cfg.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG.format(plan=plan, direction=direction, visibility=visibility), encoding="utf-8")


def test_known_values_load_as_enums():
    write(plan="Power", direction="two-way", visibility="")
    config = cfg.load()
    account = config.account("ann@example.com")
    assert account.direction is Direction.TWO_WAY and account.conflicts is ConflictPolicy.CRM
    assert account.visibility is None and config.require_crm().plan is Plan.POWER
    # The plan's default, computed in one place.
    assert effective_visibility(account.visibility, config.require_crm().plan) == (Visibility.OWNER, 1)


@pytest.mark.parametrize(("key", "values"), [
    ("direction", dict(direction="twoway")),
    ("visibility", dict(visibility="everyone")),
    ("plan", dict(plan="gold")),
])
def test_unknown_value_is_exit_2_naming_key_file_and_allowed_values(key, values):
    write(**values)
    with pytest.raises(ConfigError) as error:
        cfg.load()
    assert key in error.value.message and "config.toml" in error.value.message
    r = cli("status")
    assert r.exit_code == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "config.toml" in lines[0] and key in lines[0]
    allowed = {"direction": "one-way, two-way", "visibility": "owner-followers, owner", "plan": "lite, growth"}[key]
    assert allowed in lines[0]


def test_settings_print_as_their_spelling():
    assert f"{Direction.TWO_WAY}" == "two-way" and str(Visibility.OWNER_ROLE) == "owner-role"


class ReadOnlyProvider(FakeProvider):
    capabilities = Capabilities(supports_write=False, supports_incremental=False)


def test_two_way_is_refused_for_a_provider_that_cannot_write():
    provider = ReadOnlyProvider()
    provider.put(Contact(name="Ann"))
    crm = FakeCrm()
    account = AccountConfig(provider="google", email="ann@example.com", direction=Direction.TWO_WAY)
    with pytest.raises(UsageError) as error:
        sync_account(LinkStore.memory(), provider, crm, account, CrmConfig(domain="acme"), PassOptions())
    assert error.value.exit_code == 2 and "--direction one-way" in error.value.line()
    assert crm.persons == {}  # refused before anything was read or written


def test_a_provider_without_incremental_reads_is_listed_whole_and_never_written():
    store, provider, crm = LinkStore.memory(), ReadOnlyProvider(), FakeCrm()
    provider.put(Contact(name="Ann"))
    account = AccountConfig(provider="google", email="ann@example.com")
    for _ in range(2):
        result = sync_account(store, provider, crm, account, CrmConfig(domain="acme"), PassOptions())
        assert result.full  # no cursor was handed to the provider
    assert len(crm.persons) == 1 and provider.writes == []


def test_status_counts_every_event_kind_the_engine_records():
    from contactsync.config import AccountConfig
    from contactsync.engine.events import SIDE_KINDS, EventSide
    from contactsync.services.status import account_status

    store = LinkStore.memory()
    account = AccountConfig(provider="google", email="ann@example.com")
    run = store.start_run(account.key, True)
    for side, kinds in SIDE_KINDS.items():
        for kind in kinds:
            store.add_event(account.key, run, side.value, kind.value, "c1", 1, None)
    store.finish_run(run, "ok")
    row = account_status(store, account, "growth")
    for side, key in ((EventSide.CRM, "to_crm"), (EventSide.PROVIDER, "to_provider")):
        assert all(row["last_run_counts"][key][kind.value] == 1 for kind in SIDE_KINDS[side])
        assert all(row["last_7_days"][key][kind.value] == 1 for kind in SIDE_KINDS[side])


def test_what_a_provider_can_hold_follows_its_capability_flags():
    from contactsync.model import Email, Phone

    class Capped(FakeProvider):
        capabilities = Capabilities(syncs_notes=False, max_emails=1, max_phones=2)

    held = Capped().representable(Contact(name="Ann", notes="n", emails=(Email("a@x.org"), Email("b@x.org")),
                                          phones=(Phone("1"), Phone("2"), Phone("3"))))
    assert (held.notes, len(held.emails), len(held.phones)) == ("", 1, 2)
