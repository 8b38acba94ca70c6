"""The typed settings of an account and of the CRM connection (STYLE: settings are types).

Each setting is an `Enum` parsed once, where the config is read or an option is
given; everything after that trusts the type. `parse` gives the one error line
for an unknown value: which key, and the values allowed.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar


class Setting(str, Enum):
    """A setting's member prints as its spelling in the config ("two-way"), not as its Python name."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Direction(Setting):
    ONE_WAY = "one-way"
    TWO_WAY = "two-way"


class ConflictPolicy(Setting):
    """Who wins a field changed on both sides since the last sync (two-way only)."""

    NEWEST = "newest"
    PROVIDER = "provider"
    CRM = "crm"


class Visibility(Setting):
    """`visible_to` of what contactsync creates (DESIGN §6); which ones a plan offers is in crm/."""

    OWNER_FOLLOWERS = "owner-followers"
    OWNER = "owner"
    OWNER_ROLE = "owner-role"
    OWNER_ROLE_AND_BELOW = "owner-role-and-below"
    COMPANY = "company"


class Plan(Setting):
    """Pipedrive's plans, current names first, then the legacy names customers still have.

    Burst limits differ per plan, including between Premium and Power, so every
    name is kept rather than folded onto a tier here.
    """

    LITE = "lite"
    GROWTH = "growth"
    PREMIUM = "premium"
    ULTIMATE = "ultimate"
    ESSENTIAL = "essential"
    ADVANCED = "advanced"
    PROFESSIONAL = "professional"
    POWER = "power"
    ENTERPRISE = "enterprise"


class Tenant(str, Enum):
    """Microsoft's named sign-in audiences; a tenant's own id or domain is accepted too."""

    COMMON = "common"
    CONSUMERS = "consumers"
    ORGANIZATIONS = "organizations"


E = TypeVar("E", bound=Enum)


class SettingError(ValueError):
    """An unknown value for a setting; the message names the allowed values."""


def parse(kind: type[E], value: object, key: str) -> E:
    """The member of `kind` spelled `value` (case-insensitive), else a `SettingError` naming `key`."""
    if isinstance(value, kind):
        return value
    text = str(value).strip().lower()
    for member in kind:
        if member.value == text:
            return member
    allowed = ", ".join(str(m.value) for m in kind)
    raise SettingError(f"{key} = {value!r} is not one of: {allowed}")


def choices(kind: type[Enum]) -> list[str]:
    """The spellings of a setting, for help texts and shell completion."""
    return [str(m.value) for m in kind]
