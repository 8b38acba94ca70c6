"""What a CRM answered that outlives a pass: the user, its permissions, the field keys'
check, and the organizations by name.

An adapter fills a :class:`CrmCache` while it works (from any worker thread); the
runner loads it from the store before a pass and writes it back after, on the thread
that owns the store (adapters never touch the store). Entries are trusted until the
CRM shows they changed: a write naming an unknown field or organization makes the
adapter read again (DESIGN §12, issue 13).
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contactsync.config import CrmConfig
from contactsync.store import LinkStore


def org_key(name: str) -> str:
    """The match key of an organization name: "ACME  S.R.O." and "Acme s.r.o." are one organization.

    Case (casefold), runs of spaces and the Unicode normalization form (NFKC: "é" typed
    as e + combining accent, full-width letters) do not tell organizations apart.
    """
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def cache_key(config: CrmConfig) -> str:
    """Entries belong to one company and one connected user (what it may see)."""
    return f"{config.domain}:{config.user_id or ''}"


@dataclass
class CrmCache:
    # JSON values by name: 'user', 'missing_permissions', 'fields_checked', 'field_keys', 'orgs_since',
    # 'rate' (the limiter's recent starts, the plan's burst limit, the round trip).
    meta: dict[str, Any] = field(default_factory=dict)
    # id -> name of every organization seen; the index by org_key picks the oldest id.
    orgs: dict[int, str] = field(default_factory=dict)
    _by_name: dict[str, int] = field(default_factory=dict)
    _org_changes: dict[int, str | None] = field(default_factory=dict)
    _meta_changed: bool = False
    # Values taken when the cache is saved (state that changes with every request).
    _tracked: dict[str, Callable[[], Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- the runner: load and save ----------------------------------------------------

    @classmethod
    def load(cls, store: LinkStore, key: str) -> CrmCache:
        cache = cls(meta=store.crm_meta(key))
        for id, name in store.crm_orgs(key):
            cache.orgs[id] = name
            cache._by_name.setdefault(org_key(name), id)
        return cache

    def save(self, store: LinkStore, key: str) -> None:
        for name, supplier in self._tracked.items():
            self.put(name, supplier())
        with self.lock:
            if self._org_changes:
                store.put_crm_orgs(key, dict(self._org_changes))
                self._org_changes.clear()
            if self._meta_changed:
                store.set_crm_meta(key, dict(self.meta))
                self._meta_changed = False

    # -- the adapter: read and fill ---------------------------------------------------

    def get(self, name: str) -> Any:
        with self.lock:
            return self.meta.get(name)

    def track(self, name: str, supplier: Callable[[], Any]) -> None:
        """Keep `supplier()` under `name` whenever the cache is saved."""
        with self.lock:
            self._tracked[name] = supplier

    def put(self, name: str, value: Any) -> None:
        with self.lock:
            if self.meta.get(name) != value:
                self.meta[name] = value
                self._meta_changed = True

    def org_id(self, name: str) -> int | None:
        with self.lock:
            return self._by_name.get(org_key(name))

    def org_name(self, id: int) -> str | None:
        with self.lock:
            return self.orgs.get(id)

    def put_org(self, id: int, name: str) -> None:
        """An organization as the CRM holds it now (new, or renamed)."""
        with self.lock:
            old = self.orgs.get(id)
            if old == name:
                return
            if old is not None:
                self._unindex(id, old)
            self.orgs[id] = name
            key = org_key(name)
            if self._by_name.get(key, id + 1) > id:
                self._by_name[key] = id
            self._org_changes[id] = name

    def forget_org(self, id: int) -> None:
        """The CRM no longer has it (deleted, merged, or out of the user's sight)."""
        with self.lock:
            name = self.orgs.pop(id, None)
            if name is not None:
                self._unindex(id, name)
            self._org_changes[id] = None

    def _unindex(self, id: int, name: str) -> None:
        key = org_key(name)
        if self._by_name.get(key) == id:
            del self._by_name[key]
            others = [i for i, n in self.orgs.items() if org_key(n) == key and i != id]
            if others:
                self._by_name[key] = min(others)
