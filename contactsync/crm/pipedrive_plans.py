"""Pipedrive's plans and what each offers: visibility settings and `visible_to` values (DESIGN §6).

The effective visibility of an account (its own setting, or the plan's default)
is computed here and nowhere else: `effective_visibility`.

Source: Pipedrive's "Visibility groups" and API docs for `visible_to` — Lite and
Growth (legacy Essential/Advanced) offer 1 (owner & followers) and 3 (entire
company); Premium and Ultimate (legacy Professional/Power/Enterprise) offer 1
(owner only), 3 (owner's visibility group), 5 (the group and its sub-groups) and
7 (entire company).
"""

from __future__ import annotations

from contactsync.errors import UsageError
from contactsync.settings import Plan, Visibility

# Legacy plan names map onto the current tiers.
PLANS = {
    "lite": "lite", "growth": "growth", "premium": "premium", "ultimate": "ultimate",
    "essential": "lite", "advanced": "growth",
    "professional": "premium", "power": "premium", "enterprise": "ultimate",
}
assert set(PLANS) == {p.value for p in Plan}

_BASIC = {"owner-followers": 1, "company": 3}
_ADVANCED = {"owner": 1, "owner-role": 3, "owner-role-and-below": 5, "company": 7}

DESCRIPTIONS = {
    "owner-followers": "owner and followers",
    "owner": "owner only",
    "owner-role": "users in the owner's visibility group",
    "owner-role-and-below": "the owner's visibility group and its sub-groups",
    "company": "entire company",
}


def tier(plan: str) -> str:
    try:
        return PLANS[str(plan).lower()]
    except KeyError:
        names = ", ".join(sorted(PLANS))
        raise UsageError(f"unknown Pipedrive plan {plan!r}", f"use one of: {names}") from None


def options(plan: str) -> dict[str, int]:
    return dict(_BASIC if tier(plan) in ("lite", "growth") else _ADVANCED)


def default_setting(plan: str) -> str:
    return "owner-followers" if tier(plan) in ("lite", "growth") else "owner"


def visible_to(setting: str, plan: str) -> int:
    valid = options(plan)
    if setting not in valid:
        raise UsageError(
            f"visibility {setting!r} is not offered on the {tier(plan)} plan",
            f"choose one of: {', '.join(valid)}",
        )
    return valid[setting]


def effective_setting(setting: Visibility | None, plan: Plan | str) -> Visibility:
    """The account's visibility setting: its own, or the plan's default."""
    return setting or Visibility(default_setting(plan))


def effective_visibility(setting: Visibility | None, plan: Plan | str) -> tuple[Visibility, int]:
    """The account's visibility and the `visible_to` it sends; UsageError when the plan does not offer it."""
    chosen = effective_setting(setting, plan)
    return chosen, visible_to(chosen, plan)
