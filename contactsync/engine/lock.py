"""One pass per account at a time: an OS file lock next to the store (DESIGN §5).

The lock is filelock's `FileLock` (py-filelock): `flock` on POSIX and `msvcrt`
with its own polling on Windows, where `msvcrt.locking` alone gives up after ten
one-second tries — a `--wait` behind a long pass must wait for as long as it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from contactsync.config import private_dir
from contactsync.errors import LockHeld


def lock_path(state_dir: Path, account: str) -> Path:
    """A file name that does not show the account's e-mail address: a hash of it."""
    return state_dir / "locks" / (hashlib.sha256(account.encode("utf-8")).hexdigest()[:24] + ".lock")


@contextmanager
def account_lock(state_dir: Path, account: str, wait: bool = False) -> Iterator[None]:
    """Hold `account`'s lock for the block; without `wait`, a held lock is `LockHeld` at once."""
    path = lock_path(state_dir, account)
    private_dir(path.parent)
    # thread_local=False: a pass hands work to threads; the lock belongs to the process.
    lock = FileLock(path, timeout=-1 if wait else 0, mode=0o600, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(
            f"{account}: another contactsync pass is already running for this account",
            "wait for it to finish, or add --wait to queue behind it",
        ) from None
    try:
        yield
    finally:
        lock.release()
