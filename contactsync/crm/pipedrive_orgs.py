"""Pipedrive organizations by name: from the persistent cache, refreshed by one listing of what
changed, created when missing — never a 20-token search per organization (issue 13).

Workers of a pass resolve organizations side by side: one listing per pass (the others
wait for it), then a lock per name (striped), so that two persons of one new organization
never create it twice while persons of other organizations go on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import unicodedata
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from contactsync.crm.cache import CrmCache, org_key
from contactsync.errors import ContactSyncError, NotFound, TemporaryError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Locks for names, by a hash of the name's key: two names rarely share one.
STRIPES = 64

JsonCall = Callable[..., dict[str, Any]]


def in_background(call: Callable[[], T]) -> Future[T]:
    """`call()` on a thread of its own; its result or exception in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name="crm-read-ahead", daemon=True).start()
    return future


def org_name(name: str) -> str:
    """The name as sent: NFC, single spaces (one organization whatever its Unicode form, org_key)."""
    return " ".join(unicodedata.normalize("NFC", name).split())


class PipedriveOrgs:
    """Resolves organization names to ids for one adapter (one pass)."""

    def __init__(self, call: JsonCall, cache: CrmCache) -> None:
        self._json = call
        self.cache = cache
        self._listed = False  # listed (since the cache's cursor) in this pass
        self._ahead: Future[None] | None = None  # the listing read_ahead started
        self._listing = threading.Lock()
        self._names = [threading.Lock() for _ in range(STRIPES)]

    def _lock(self, name: str) -> threading.Lock:
        return self._names[zlib.crc32(org_key(name).encode()) % STRIPES]

    def find(self, name: str) -> int | None:
        """The organization of this name, from the cache, else after listing what changed (once a pass)."""
        name = org_name(name)
        found = self.cache.org_id(name)
        if found is None:
            # Looked up again even when another thread listed meanwhile (_list_once() False).
            self._list_once()
            found = self.cache.org_id(name)
        return found

    def find_or_create(self, name: str, visible_to: int | None) -> int:
        """The organization of exactly this name, from the cache; else after listing the
        organizations changed since the cache's cursor (once a pass); else created.

        Every organization the user can see is in the cache after the first full listing.
        """
        name = org_name(name)
        found = self.find(name)
        if found is not None:
            return found
        with self._lock(name):
            found = self.cache.org_id(name)  # made by another worker meanwhile
            if found is not None:
                return found
            payload: dict[str, Any] = {"name": name}
            if visible_to is not None:
                payload["visible_to"] = visible_to
            try:
                data = self._json("POST", "/api/v2/organizations", f"add the organization '{name}'",
                                  body=payload)["data"]
            except TemporaryError:
                # The answer may be lost after Pipedrive made it: the next attempt lists
                # what changed again first, and finds it instead of making a second one.
                self._listed = False
                raise
            self.cache.put_org(data["id"], data.get("name") or name)
            return int(data["id"])

    def replace(self, gone: int, visible_to: int | None) -> int | None:
        """A write named an organization the CRM no longer has: forget it, resolve its name again."""
        name = self.cache.org_name(gone)
        self.cache.forget_org(gone)
        return self.find_or_create(name, visible_to) if name else None

    def name_of(self, id: int | None) -> str:
        if not id:
            return ""
        name = self.cache.org_name(id)
        if name is None:
            try:
                data = self._json("GET", f"/api/v2/organizations/{id}", "read an organization")["data"]
            except NotFound:
                return ""
            name = data.get("name") or ""
            self.cache.put_org(id, name)
        return name

    def read_ahead(self) -> None:
        """Organizations never listed for this cache (a first pass): list them now, in the background;
        whoever needs one meanwhile waits for this listing instead of making another."""
        if self._listed or self.cache.get("orgs_since") or self.cache.orgs:
            return

        def listing() -> None:
            try:
                self._list_once()
            except ContactSyncError as exc:  # the first organization needed lists them again
                log.info("listing the organizations ahead failed: %s", exc.line())

        self._ahead = in_background(listing)

    def settle(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for the listing read_ahead started: what it finds belongs in
        the cache this pass saves, and its requests in this pass's rate window, not the next's."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            with contextlib.suppress(Exception):  # it logged its failure; the next pass lists again
                ahead.result(timeout)

    def _list_once(self) -> bool:
        """List what changed unless done in this pass; whether a listing ran (here or in another thread)."""
        if self._listed:
            return False
        with self._listing:
            if not self._listed:
                self._list()
        return True

    def _list(self) -> None:
        """GET /api/v2/organizations changed since the cursor (all, the first time), oldest change first."""
        since = self.cache.get("orgs_since")
        params: dict[str, Any] = {"limit": 500, "sort_by": "update_time", "sort_direction": "asc"}
        if since:
            params["updated_since"] = since
        newest = since
        while True:
            body = self._json("GET", "/api/v2/organizations", "list organizations", params=params)
            for org in body.get("data") or []:
                id, name, changed = org.get("id"), org.get("name"), org.get("update_time")
                if isinstance(id, int) and isinstance(name, str) and name.strip():
                    self.cache.put_org(id, " ".join(name.split()))
                if isinstance(changed, str) and changed > (newest or ""):
                    newest = changed
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                break
            params["cursor"] = cursor
        self._listed = True
        if newest:
            self.cache.put("orgs_since", newest)
