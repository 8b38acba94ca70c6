"""One JSON envelope for every `--json` output, described by a JSON Schema in contactsync/schemas/.

    {"schema": "contactsync/<kind>/1", "ok": true, "data": {...}, "error": null}

`schema` names the shape of `data` and its version: keys are only ever added
within a version. On failure `ok` is false, `data` is whatever was gathered (or
null) and `error` holds the one line, the fix and the exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from contactsync.errors import ContactSyncError

VERSION = 1
KINDS = ("accounts", "doctor", "groups", "run", "status")


def schema_id(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"no JSON schema for {kind!r}")
    return f"contactsync/{kind}/{VERSION}"


def error_object(error: ContactSyncError) -> dict[str, Any]:
    return {"message": error.message, "fix": error.fix, "line": error.line(), "exit_code": error.exit_code,
            "type": type(error).__name__}


def envelope(kind: str, data: Any, *, ok: bool = True, error: ContactSyncError | None = None) -> dict[str, Any]:
    return {"schema": schema_id(kind), "ok": ok and error is None, "data": data,
            "error": None if error is None else error_object(error)}


def print_envelope(kind: str, data: Any, *, ok: bool = True, error: ContactSyncError | None = None) -> None:
    text = json.dumps(envelope(kind, data, ok=ok, error=error), indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
