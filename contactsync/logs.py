"""The log file: size-rotated, in the state directory, never holding a secret.

Every secret the process reads or stores is registered with :func:`redact`; a
filter on our handlers replaces any registered value that would still reach a
record, as a second line of defence behind "never log a secret" in the code.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

from contactsync import __version__
from contactsync.errors import LocalEnvironmentError
from contactsync.paths import os_error

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


def _private_file(path: Path, chosen: bool) -> None:
    """Create the log file with mode 0600 in a 0700 folder; an unusable path is one line naming it and the fix."""
    from contactsync.config import private_dir

    fix = "give --log-file a file in a folder you can write" if chosen else None
    try:
        private_dir(path.parent)
        if path.is_dir():
            raise LocalEnvironmentError(f"the log file {path} is a folder", fix or f"move {path} aside")
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    except (FileExistsError, NotADirectoryError):
        raise LocalEnvironmentError(
            f"cannot create the log file {path}: a file is in the way of its folder", fix or f"move {path.parent} aside"
        ) from None
    except OSError as exc:
        error = os_error(exc, "log file", path)
        raise LocalEnvironmentError(error.message, fix or error.fix) from None


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotated log file; a write that fails (a full disk) stops the log with one line on stderr
    instead of logging's traceback per record, and the pass goes on."""

    failed: LocalEnvironmentError | None = None
    opened = False  # past the first line: a failure from here on is a warning, not a setup error

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        if self.failed is None:
            self.failed = os_error(exc, "log file", self.baseFilename)
            self.setLevel(logging.CRITICAL + 1)  # no more records: each would fail the same way
            if self.opened:
                sys.stderr.write(f"warning: {self.failed.line()}; the log stops here, the pass goes on\n")


def setup(path: Path, verbose: int = 0, stderr: bool = False, chosen: bool = False) -> None:
    """Log to `path` (INFO, or DEBUG with -v); with `stderr` also to the terminal.

    `chosen`: the user named the path (--log-file), so a failure names that option.
    """
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    _private_file(path, chosen)
    handler = LogFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    # The first line proves the file takes writes: one that does not (a full disk, /dev/full)
    # is an error of the environment before anything runs, one line and exit 2.
    handler.handle(logging.LogRecord(LOGGER, logging.INFO, __file__, 0, "contactsync %s, process %d",
                                     (__version__, os.getpid()), None))
    if handler.failed is not None:
        with contextlib.suppress(OSError):  # its buffer cannot be written either
            handler.close()
        error = handler.failed
        raise LocalEnvironmentError(error.message, "give --log-file a file on a disk with room" if chosen else error.fix)
    handler.opened = True
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
