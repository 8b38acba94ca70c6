"""Where contactsync keeps its files, and the one-line errors when it cannot (DESIGN §11).

`CONTACTSYNC_HOME` puts everything in one folder (tests always set it). Otherwise
platformdirs gives the platform's folders: on Linux `$XDG_CONFIG_HOME` (or
~/.config) for the config and `$XDG_DATA_HOME` (or ~/.local/share) for the state;
on macOS ~/Library/Application Support for both; on Windows %APPDATA% for the
config and %LOCALAPPDATA% for the state.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import platformdirs

from contactsync.errors import LocalEnvironmentError

APP = "contactsync"
HOME_VARIABLE = "CONTACTSYNC_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_VARIABLE)
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    return _home() or platformdirs.user_config_path(APP, appauthor=False, roaming=True)


def state_dir() -> Path:
    return _home() or platformdirs.user_data_path(APP, appauthor=False)


def _fix_for(path: Path) -> str:
    if _home() is not None:
        return f"set {HOME_VARIABLE} to a folder you can write, or unset it"
    return f"make {path} a folder you can write (or set {HOME_VARIABLE} to one)"


def _private_mkdir(path: Path) -> None:
    """Create `path` and its missing parents with mode 0700 whatever the umask (everything kept is the user's alone)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)


def ensure_dir(path: Path, what: str) -> Path:
    """Create `path` if needed and check it can be written; else one line naming it and the fix."""
    try:
        _private_mkdir(path)
    except (FileExistsError, NotADirectoryError):
        raise LocalEnvironmentError(f"the {what} {path} is not a folder (a file is in the way)", _fix_for(path)) from None
    except OSError as exc:
        raise os_error(exc, what, path) from None
    if not path.is_dir():
        raise LocalEnvironmentError(f"the {what} {path} is not a folder (a file is in the way)", _fix_for(path))
    try:
        # os.access says yes to root on a read-only mount: write a file to know.
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise os_error(exc, what, path) from None
    return path


def ensure_home() -> None:
    """The config and state folders exist and can be written."""
    ensure_dir(config_dir(), "config folder")
    if state_dir() != config_dir():
        ensure_dir(state_dir(), "state folder")


FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def os_error(exc: OSError, what: str | None = None, path: Path | str | None = None) -> LocalEnvironmentError:
    """One line for an operating-system failure on a local file: what, where, the fix."""
    where = path if path is not None else (exc.filename or "a file")
    name = f"the {what} {where}" if what else f"{where}"
    if exc.errno in FULL:
        return LocalEnvironmentError(f"the disk holding {where} is full", "free some space and run again; progress is kept")
    if exc.errno in DENIED:
        fix = _fix_for(Path(where)) if what and "folder" in what else f"give your user write access to {where}"
        return LocalEnvironmentError(f"cannot write {name}: {exc.strerror or 'permission denied'}", fix)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return LocalEnvironmentError(f"cannot use {name}: {exc.strerror}", "a file or folder is in the way; move it")
    if what and "folder" in what:
        return LocalEnvironmentError(f"cannot use {name}: {exc.strerror or exc}", _fix_for(Path(where)))
    return LocalEnvironmentError(f"cannot use {name}: {exc.strerror or exc}",
                                 f"check that {where} is on a disk that is mounted and can be written")


def local_failure(exc: BaseException, state_file: Path | None = None) -> LocalEnvironmentError | None:
    """An operating-system or SQLite failure on a local file as one line (disk full, no access), else None.

    Network errors are OSErrors too; only one that names a file, or a full disk, is local.
    """
    import sqlite3

    if isinstance(exc, OSError) and type(exc).__module__.split(".")[0] not in ("requests", "urllib3"):
        if exc.filename is not None or exc.errno in FULL:
            return os_error(exc)
        return None
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        where = str(state_file) if state_file else "the state file"
        if "full" in text:
            return os_error(OSError(errno.ENOSPC, text, where))
        if "readonly" in text or "unable to open" in text:
            return LocalEnvironmentError(f"cannot write the state file {where}: {text}",
                                         "give your user write access to it and its folder")
    return None
