"""Reading an API resource that may hold anything: the wrong JSON types, nulls, huge values.

The mappings read every field through a :class:`FieldReader`, which never raises:
a value of the wrong type is taken as absent *and* recorded as an ``unreadable``
issue of the field it feeds, so that a write leaves that field as it is in the
provider instead of clearing it (contactsync.engine.unreadable).
"""

from __future__ import annotations

from typing import Any

from contactsync.errors import ContactSkipped
from contactsync.model import Issue, IssueKind

# Python refuses to convert longer digit strings (sys.int_info.str_digits_check_threshold).
_MAX_DIGITS = 12


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


class FieldReader:
    """Typed reads of one resource; every value of the wrong type becomes an issue."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def _wrong(self, field: str, key: str, value: Any, expected: str) -> None:
        self.issues.append(Issue(IssueKind.UNREADABLE, field,
                                 f"'{key}' is {_kind(value)}, not {expected}; left as it is"))

    def items(self, obj: dict[str, Any], key: str, field: str) -> list[dict[str, Any]]:
        """A list of objects; entries of another type are left out (and recorded)."""
        return self._list_of(obj, key, field, dict, "an object", null_is_wrong=True)

    def strings(self, obj: dict[str, Any], key: str, field: str) -> list[str]:
        """A list of strings; entries of another type are left out (and recorded; a null is only left out)."""
        return self._list_of(obj, key, field, str, "text", null_is_wrong=False)

    def _list_of(self, obj: dict[str, Any], key: str, field: str, kind: type, expected: str, *,
                 null_is_wrong: bool) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._wrong(field, key, value, "a list")
            return []
        good = [item for item in value if isinstance(item, kind)]
        bad = [item for item in value if not isinstance(item, kind) and (null_is_wrong or item is not None)]
        if bad:
            self._wrong(field, key + "[]", bad[0], expected)
        return good

    def obj(self, obj: dict[str, Any], key: str, field: str) -> dict[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self._wrong(field, key, value, "an object")
            return {}
        return value

    def text(self, obj: dict[str, Any], key: str, field: str) -> str:
        value = obj.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self._wrong(field, key, value, "text")
            return ""
        return value

    def number(self, obj: dict[str, Any], key: str, field: str) -> int:
        """A whole number (0 when absent); a number written as digits is taken too."""
        value = obj.get(key)
        if value is None:
            return 0
        if isinstance(value, bool):
            self._wrong(field, key, value, "a number")
            return 0
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= _MAX_DIGITS:
            return int(value.strip())
        self._wrong(field, key, value, "a whole number")
        return 0

    def flag(self, obj: dict[str, Any], key: str) -> bool:
        return obj.get(key) is True


def resource_id(item: Any, key: str) -> str:
    """The id of a resource; ContactSkipped when there is none to report it by."""
    if not isinstance(item, dict):
        raise ContactSkipped("(no id)", f"the API returned {_kind(item)} instead of a contact")
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ContactSkipped("(no id)", f"the API returned a contact without a usable '{key}'")
    return value
