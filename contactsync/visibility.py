"""`visible_to` by visibility setting and Pipedrive plan (DESIGN §6)."""

from __future__ import annotations

from contactsync.errors import UsageError

# Legacy plan names map onto the current tiers.
PLANS = {
    "lite": "lite", "growth": "growth", "premium": "premium", "ultimate": "ultimate",
    "essential": "lite", "advanced": "growth",
    "professional": "premium", "power": "premium", "enterprise": "ultimate",
}

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
        return PLANS[plan.lower()]
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
