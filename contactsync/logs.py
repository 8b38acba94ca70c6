"""The log file: size-rotated, in the state directory, never holding a secret.

Every secret the process reads or stores is registered with :func:`redact`; a
filter on our handlers replaces any registered value that would still reach a
record, as a second line of defence behind "never log a secret" in the code.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
from pathlib import Path

LOGGER = "contactsync"
MAX_BYTES = 1_000_000
BACKUPS = 3

_secrets: set[str] = set()
_lock = threading.Lock()


def redact(value: str | None) -> None:
    """Register a secret value that must never appear in a log record."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        with _lock:
            secrets = list(_secrets)
        if not secrets:
            return True
        text = record.getMessage()
        cleaned = text
        for secret in secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != text:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            record.exc_text = "(traceback withheld: it referred to a secret)"  # never format locals/args
            record.exc_info = None
        return True


def _private_file(path: Path) -> None:
    from contactsync.config import private_dir

    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def setup(path: Path, verbose: int = 0, stderr: bool = False) -> None:
    """Log to `path` (INFO, or DEBUG with -v); with `stderr` also to the terminal."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    _private_file(path)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    logger.addHandler(handler)
    if stderr:
        console = logging.StreamHandler()
        console.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        console.addFilter(RedactSecrets())
        logger.addHandler(console)


def shutdown() -> None:
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
