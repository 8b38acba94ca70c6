"""The Pipedrive adapter's custom person fields: found by name, else created, their keys kept.

A mixin of :class:`contactsync.crm.pipedrive.PipedriveCrm`, which provides the requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from contactsync.crm.cache import CrmCache
from contactsync.crm.pipedrive_answers import FieldLimitReached
from contactsync.crm.pipedrive_fields import PERSON_FIELDS
from contactsync.errors import ContactSyncError, PermissionDenied

log = logging.getLogger(__name__)
T = TypeVar("T")


class PipedriveFieldKeys:
    """ensure_fields() and missing_fields() of the adapter, with the list read ahead or afresh."""

    field_keys: dict[str, str]
    cache: CrmCache
    _trust_cache: bool
    _fields_lock: threading.Lock
    _fields_read: bool
    _fields_ahead: Future[list[dict[str, Any]]] | None

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError  # the adapter's

    def _setup(self, call: Callable[[], T]) -> T:
        raise NotImplementedError  # the adapter's

    def _field_list(self) -> list[dict[str, Any]]:
        """The person fields: as read ahead (once), else now."""
        ahead, self._fields_ahead = self._fields_ahead, None
        if ahead is not None:
            try:
                return ahead.result()
            except ContactSyncError as exc:  # read again, with the setup's retries
                log.info("reading the fields ahead failed: %s", exc.line())
        return list(self._person_fields())

    def _person_fields(self) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            body = self._json("GET", "/api/v1/personFields", "list the person fields",
                              params={"start": start, "limit": 500})
            yield from body.get("data") or []
            pagination = (body.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection"):
                return
            start = pagination.get("next_start", start + 500)

    def ensure_fields(self, known: dict[str, str]) -> dict[str, str]:
        """Find each field by name, else create it; a `known` key counts only while it still exists.

        With a cache that says the keys were checked, `known` keys are trusted without
        a request (a quiet pass asks nothing); a write or a read that shows them stale
        makes :meth:`_refresh_fields` read the list again.
        """
        if self._trust_cache and self.cache.get("fields_checked") and all(known.get(name) for name in PERSON_FIELDS):
            keys = {name: known[name] for name in PERSON_FIELDS}
            self.field_keys.update(keys)
            return keys
        # A failed create is retried only after the list is read again: a create whose
        # answer was lost is then found, not made twice.
        return self._setup(lambda: self._read_fields(known))

    def _refresh_fields(self, stale: dict[str, str]) -> None:
        """The field keys `stale` were refused or missing: read the list again (once for all threads)."""
        with self._fields_lock:
            if self.field_keys != stale or self._fields_read:
                return  # read meanwhile by another thread, or already this pass
            known = dict(self.field_keys)
            self._setup(lambda: self._read_fields(known))

    def _read_fields(self, known: dict[str, str]) -> dict[str, str]:
        """The list is read afresh, so a field another account or user of the company
        created since is found, not created twice."""
        result = self._found_fields(known)
        missing = [(name, field_type) for name, field_type in PERSON_FIELDS.items() if name not in result]
        if missing:
            # The first alone: a refusal (no permission, the plan's field cap) or an outage
            # costs one request, not one per field. Then the others side by side.
            name, field_type = missing[0]
            result[name] = self._create_field(name, field_type)
        if len(missing) > 1:
            with ThreadPoolExecutor(max_workers=len(missing) - 1, thread_name_prefix="fields") as pool:
                made = {name: pool.submit(self._create_field, name, field_type) for name, field_type in missing[1:]}
            for name, future in made.items():
                result[name] = future.result()  # the first failure, in the fields' order, is raised
        self.field_keys.update(result)
        self.cache.put("fields_checked", True)
        self.cache.put("field_keys", dict(self.field_keys))
        self._fields_read = True
        return result

    def missing_fields(self, known: dict[str, str]) -> list[str]:
        found = self._setup(lambda: self._found_fields(known))
        return [name for name in PERSON_FIELDS if name not in found]

    def _found_fields(self, known: dict[str, str]) -> dict[str, str]:
        """The keys of the fields that exist, by name (those missing are absent)."""
        existing = [f for f in self._field_list() if f.get("edit_flag", True) and f.get("key")]
        by_key = {f["key"]: f for f in existing}
        result: dict[str, str] = {}
        for name, field_type in PERSON_FIELDS.items():
            key = known.get(name)
            if key is not None and key in by_key and by_key[key].get("name") == name and by_key[key].get("field_type") == field_type:
                result[name] = key
                continue
            same = [f for f in existing if f.get("name") == name and f.get("field_type") == field_type]
            if same:
                # Two made at once by racing setups: everyone settles on the oldest.
                result[name] = min(same, key=lambda f: f.get("id") or 0)["key"]
        return result

    def _create_field(self, name: str, field_type: str) -> str:
        what = f"create the custom person field '{name}'"
        try:
            return self._json("POST", "/api/v1/personFields", what, body={"name": name, "field_type": field_type})["data"]["key"]
        except FieldLimitReached:
            raise PermissionDenied(
                f"Pipedrive's custom field limit of this plan is reached: could not create the person field '{name}'",
                fix=f"delete unused custom fields, upgrade the plan, or have an admin create a {field_type} "
                    f"person field named '{name}', then run again",
            ) from None
        except PermissionDenied:
            raise PermissionDenied(
                f"Pipedrive refused to create the custom person field '{name}' (no permission to add custom fields)",
                fix=f"ask a Pipedrive admin to create a {field_type} person field named '{name}' or to grant "
                    "'Add custom fields' in Company settings > Permission sets, then run again",
            ) from None
