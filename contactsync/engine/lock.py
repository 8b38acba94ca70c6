"""One pass per account at a time: an OS file lock next to the store (DESIGN §5)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contactsync.errors import LockHeld

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def lock_path(state_dir: Path, account: str) -> Path:
    return state_dir / "locks" / (re.sub(r"[^A-Za-z0-9@._-]", "_", account) + ".lock")


@contextmanager
def account_lock(state_dir: Path, account: str, wait: bool = False) -> Iterator[None]:
    path = lock_path(state_dir, account)
    path.parent.mkdir(parents=True, exist_ok=True)
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
