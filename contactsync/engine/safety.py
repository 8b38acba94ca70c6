"""The safety rails (DESIGN §5): guards that stop a plan before it does damage.

Every deletion a pass plans, on either side, is held back to the end of the
pass and passes through `check_deletions` here before a single one is applied.
"""

from __future__ import annotations

from collections.abc import Sequence

from contactsync.engine.actions import REAL_DELETIONS, Action
from contactsync.errors import SafetyStop

MASS_DELETE_SHARE = 0.10
MASS_DELETE_MIN = 5


def check_listing(account: str, complete: bool, seen: int, linked: int, allow_empty: bool) -> None:
    """An empty complete listing of a group that has linked contacts deletes nothing."""
    if complete and seen == 0 and linked > 0 and not allow_empty:
        raise SafetyStop(
            f"{account}: the provider listed no contacts in the sync group, but {linked} are linked; nothing was deleted",
            f"if the group really is empty now, run `contactsync run --once --account {account} --allow-empty`",
            rail="empty-listing", allow_with="--allow-empty",
        )


def check_deletions(account: str, deletions: Sequence[Action], linked: int, allow_mass_delete: bool) -> None:
    """More than 10 % of the links, and more than 5, deleted in one pass (persons and contacts) needs consent."""
    count = sum(isinstance(a, REAL_DELETIONS) for a in deletions)
    if allow_mass_delete or count <= MASS_DELETE_MIN:
        return
    if count > linked * MASS_DELETE_SHARE:
        raise SafetyStop(
            f"{account}: this pass would delete {count} of {linked} linked persons; nothing was deleted",
            f"check the provider, then run `contactsync run --once --account {account} --allow-mass-delete`",
            rail="mass-delete", allow_with="--allow-mass-delete",
        )
