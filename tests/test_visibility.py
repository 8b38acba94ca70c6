"""Visibility by plan (DESIGN §6): every option against every plan tier."""

from __future__ import annotations

import pytest

from contactsync.crm import pipedrive_plans as visibility
from contactsync.errors import UsageError

EXPECTED = {
    "lite": {"owner-followers": 1, "company": 3},
    "growth": {"owner-followers": 1, "company": 3},
    "premium": {"owner": 1, "owner-role": 3, "owner-role-and-below": 5, "company": 7},
    "ultimate": {"owner": 1, "owner-role": 3, "owner-role-and-below": 5, "company": 7},
}
LEGACY = {"essential": "lite", "advanced": "growth", "professional": "premium", "power": "premium",
          "enterprise": "ultimate"}
SETTINGS = ("owner-followers", "owner", "owner-role", "owner-role-and-below", "company")


@pytest.mark.parametrize("plan", [*EXPECTED, *LEGACY])
@pytest.mark.parametrize("setting", SETTINGS)
def test_each_setting_on_each_plan(plan, setting):
    offered = EXPECTED[LEGACY.get(plan, plan)]
    if setting in offered:
        assert visibility.visible_to(setting, plan) == offered[setting]
    else:
        with pytest.raises(UsageError) as refused:
            visibility.visible_to(setting, plan)
        assert all(valid in refused.value.fix for valid in offered)


def test_defaults_are_the_most_private_setting_of_the_plan():
    assert visibility.default_setting("Growth") == "owner-followers"
    assert visibility.default_setting("power") == "owner"


def test_unknown_plan_lists_the_names():
    with pytest.raises(UsageError) as refused:
        visibility.tier("gold")
    assert "ultimate" in refused.value.fix and "enterprise" in refused.value.fix
