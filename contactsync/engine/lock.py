"""One pass per account at a time: an OS file lock next to the store (DESIGN §5)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contactsync.config import private_dir
from contactsync.errors import LockHeld

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def lock_path(state_dir: Path, account: str) -> Path:
    """A file name that does not show the account's e-mail address: a hash of it."""
    return state_dir / "locks" / (hashlib.sha256(account.encode("utf-8")).hexdigest()[:24] + ".lock")


@contextmanager
def account_lock(state_dir: Path, account: str, wait: bool = False) -> Iterator[None]:
    path = lock_path(state_dir, account)
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                msvcrt.locking(fd, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
        except OSError:
            raise LockHeld(
                f"{account}: another contactsync pass is already running for this account",
                "wait for it to finish, or add --wait to queue behind it",
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
