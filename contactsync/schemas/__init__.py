"""JSON Schemas of the `--json` outputs (see contactsync/cli/envelope.py), shipped with the package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def load(kind: str) -> dict[str, Any]:
    """The JSON Schema of `contactsync/<kind>/1`, the envelope included."""
    text = resources.files(__name__).joinpath(f"{kind}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
