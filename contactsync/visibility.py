"""Kept for existing imports: the rules live beside the Pipedrive adapter, in crm/pipedrive_plans.py."""

from contactsync.crm.pipedrive_plans import (
    DESCRIPTIONS,
    PLANS,
    default_setting,
    effective_setting,
    effective_visibility,
    options,
    tier,
    visible_to,
)

__all__ = ["DESCRIPTIONS", "PLANS", "default_setting", "effective_setting", "effective_visibility", "options", "tier", "visible_to"]
