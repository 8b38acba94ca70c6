"""The executor's provider side: writes to the address book, in order, each committed once confirmed.

Google wants one mutation at a time per user and Graph at most four in flight
(DESIGN §12), so the actions that write to the provider run in order on the
calling thread, after the executor's pool has run the CRM writes of the batch.
Only a two-way pass plans them; the executor refuses them without a provider.

The batch's contact updates are sent first, together (`Provider.update_many`: one
batch request on Google, one update each elsewhere), after the intent of each has
been recorded; each contact's link is then committed in its own turn, from the
result of its own update. A contact the batch refused is handled as a refused
single update: merged again on a stale version, recorded as a failure otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from contactsync.crm.base import Crm, PersonWrite
from contactsync.engine.actions import (
    Action,
    ClaimContact,
    CreateContact,
    DeleteContact,
    DropFailure,
    DropPendingCopy,
    RecordCrmVersion,
    SetLinkState,
    Side,
    SyncBoth,
)
from contactsync.engine.events import EventKind, EventSide
from contactsync.engine.merge import changed_fields, effective_provider, merge, preferred_side
from contactsync.engine.rules import SyncSettings, make_stamp, prepare, record_hash
from contactsync.errors import ApiError, ContactSyncError, StaleVersion
from contactsync.model import Contact
from contactsync.providers.base import Provider, ProviderDeletion, ProviderRecord, Update, UpdateResult
from contactsync.store.db import Link, LinkStore

if TYPE_CHECKING:
    from contactsync.engine.apply import Executor

log = logging.getLogger(__name__)

STALE_RETRIES = 3


def record_to_dict(record: ProviderRecord | ProviderDeletion) -> dict[str, Any]:
    if isinstance(record, ProviderDeletion):
        return {"id": record.id, "deleted": True}
    return {"id": record.id, "version": record.version, "contact": record.contact.to_dict(),
            "updated": record.updated}


@dataclass
class ProviderWrites:
    """The provider-side and CRM-record actions of one batch, applied in order by the executor."""

    crm_side: Executor
    # The results of the batch's updates sent together, taken by each contact's turn.
    written: dict[str, UpdateResult] = field(default_factory=dict)

    def apply(self, actions: Sequence[Action]) -> None:
        self._update_together([a for a in actions if isinstance(a, SyncBoth) and a.write_provider])
        for action in actions:
            if self.crm_side.stop is not None and self.crm_side.stop.is_set():
                break
            self._one(action)
            self.crm_side.applied()

    def _one(self, action: Action) -> None:
        if action.side is Side.PROVIDER:
            try:
                if isinstance(action, CreateContact):
                    # Never repeated blindly: a lost answer leaves a pending copy the next pass claims.
                    self._apply(action)
                else:
                    self.crm_side.with_retries(lambda _: self._apply(action))
                self.crm_side.consecutive_temporary = 0
            except ContactSyncError as exc:
                if not isinstance(exc, ApiError) and not self.crm_side.temporary_failure(exc):
                    raise
                with self.store.transaction():
                    self._failed(action, exc.message)
            return
        with self.store.transaction():
            self._store_only(action)

    def _store_only(self, action: Action) -> None:
        if isinstance(action, RecordCrmVersion):
            self._record_crm_version(action)
        elif isinstance(action, DropFailure):
            self.store.clear_person_failure(self.account, action.crm_id)
        elif isinstance(action, DropPendingCopy):
            self.store.drop_pending_copy(self.account, action.crm_id)
        elif isinstance(action, SetLinkState):
            link = self.store.link(self.account, action.provider_id)
            if link is not None:
                self.store.put_link(replace(link, state=action.state))
                detail = "handed to another owner: no longer synced back" if action.state == "foreign" \
                    else "handed back: synced again"
                self._event(EventSide.CRM, EventKind.OWNER, action.provider_id, link.crm_id, detail)
        else:
            raise AssertionError(f"not a provider or store action: {action!r}")

    def _update_together(self, actions: list[SyncBoth]) -> None:
        """Send the provider updates of the batch at once; each contact is committed later, in its turn."""
        if len(actions) < 2 or (self.crm_side.stop is not None and self.crm_side.stop.is_set()):
            return
        updates: dict[str, Update] = {}
        for action in actions:
            link = self.store.link(self.account, action.provider_id)
            if link is None or link.base is None or action.provider_id in updates:
                continue
            sides = ("provider", "crm") if action.write_crm else ("provider",)
            # Recorded before sending, as for a single write: a pass killed after the
            # batch takes each contact's new state for its own next time.
            self.crm_side.note_intent(action.provider_id, action.contact, sides)
            updates[action.provider_id] = Update(action.provider_id, action.contact, action.provider_version)
        if len(updates) < 2:
            return
        try:
            self.written = self.provider.update_many(list(updates.values()))
        except ContactSyncError as exc:
            # An account-wide refusal: each contact meets it again in its own turn and is
            # retried or recorded there as a single update would be.
            log.info("%s: the batch of updates failed, writing one at a time: %s", self.account, exc.line())
            self.written = {}

    # -- one action -------------------------------------------------------------

    def _apply(self, action: Action) -> None:
        if isinstance(action, SyncBoth):
            self._sync(action)
        elif isinstance(action, CreateContact):
            self._create(action)
        elif isinstance(action, ClaimContact):
            self._claim(action)
        elif isinstance(action, DeleteContact):
            self.provider.delete(action.provider_id)
            name = self.crm_side.link_name(action.provider_id)  # before the link goes
            with self.store.transaction():
                self.store.delete_link(self.account, action.provider_id)
                self._event(EventSide.PROVIDER, EventKind.DELETE, action.provider_id, action.crm_id,
                            "deleted in the CRM", name=name)

    def _sync(self, action: SyncBoth) -> None:
        link = self.store.link(self.account, action.provider_id)
        if link is None or link.base is None:
            return
        final, provider_version = action.contact, action.provider_version
        if action.write_provider or action.write_crm:
            # Recorded before sending: a pass killed after either write takes it for its own next time.
            sides = tuple(side for side, on in (("provider", action.write_provider), ("crm", action.write_crm)) if on)
            self.crm_side.note_intent(action.provider_id, action.contact, sides)
        if action.write_provider:
            record = self._write_provider(link, action)
            final, provider_version = record[1], record[0].version
        crm_version, wrote_crm = action.crm_version, False
        if action.write_crm or final != action.contact:
            crm_version, wrote_crm = self.crm.update(action.crm_id, self._write(final, action.stamp)).version, True
        with self.store.transaction():
            if action.write_provider:
                self._event(EventSide.PROVIDER, EventKind.UPDATE, action.provider_id, action.crm_id, None)
                self._overflow(action.provider_id, action.crm_id, final)
            if wrote_crm:
                self._event(EventSide.CRM, EventKind.UPDATE, action.provider_id, action.crm_id, None)
            for conflict in action.conflicts:
                self._event(EventSide.CRM, EventKind.CONFLICT, action.provider_id, action.crm_id,
                            conflict.describe())
            self.store.put_link(replace(
                link, provider_version=provider_version, crm_version=crm_version,
                hash=record_hash(final, None), base=final.to_dict(),
            ))
            self.store.clear_failure(self.account, action.provider_id)
            self.crm_side.record_issues(action.provider_id, action.crm_id, final)

    def _write_provider(self, link: Link, action: SyncBoth) -> tuple[ProviderRecord, Contact]:
        """Update the provider; on a stale version re-read, merge again and retry (bounded)."""
        base = Contact.from_dict(link.base or {})
        contact, version = action.contact, action.provider_version
        sent = self.written.pop(action.provider_id, None)
        for _ in range(STALE_RETRIES):
            try:
                # The first turn takes the batch's result, if the batch had one for this contact.
                done, sent = sent, None
                if isinstance(done, ApiError):
                    raise done
                record = done if done is not None else self.provider.update(action.provider_id, contact, version)
            except StaleVersion:
                current = self.provider.get(action.provider_id)
                if current is None:
                    raise ApiError(f"{action.provider_id} was deleted in the provider while being updated") from None
                named = prepare(current.contact) or current.contact
                mine = effective_provider(base, named, self.settings.held(base))
                # The account's conflict rule, weighed as the planner weighs it: under newest,
                # an edit made in the provider while this pass ran is the later one and wins.
                prefer = preferred_side(self.settings.conflicts.value, current.updated, action.crm_version)
                contact, _ = merge(base, mine, contact, prefer)
                version = current.version
                continue
            return record, contact
        raise ApiError(f"{action.provider_id} kept changing in the provider; tried {STALE_RETRIES} times")

    def _create(self, action: CreateContact) -> None:
        # Written before the call: if we die after the create, the next pass finds
        # this pending copy and claims the new contact instead of creating another.
        self.store.put_pending_copy(self.account, action.crm_id, action.contact.to_dict())
        record = self.provider.create(action.contact, self.group)
        stamp = make_stamp(self.settings.provider, self.settings.account_email, record.id)
        # Linked before the CRM is stamped: if we stop in between, the link exists and
        # the next pass only has to stamp, never creates the contact twice.
        link = Link(self.account, record.id, action.crm_id, "linked", stamp, record.version, action.crm_version,
                    record_hash(action.contact, None), action.contact.to_dict())
        with self.store.transaction():
            self.store.drop_pending_copy(self.account, action.crm_id)
            if action.replaces:
                self.store.delete_link(self.account, action.replaces)
            self.store.put_link(link)
        person = self.crm.update(action.crm_id, self._write(action.contact, stamp))
        with self.store.transaction():
            self.store.put_link(replace(link, crm_version=person.version))
            self.store.clear_person_failure(self.account, action.crm_id)
            if action.replaces:
                self.store.clear_failure(self.account, action.replaces)
            detail = "re-created: it was deleted in the provider while edited in the CRM" if action.replaces else None
            self._event(EventSide.PROVIDER, EventKind.CREATE, record.id, action.crm_id, detail)
            self._overflow(record.id, action.crm_id, action.contact)

    def _claim(self, action: ClaimContact) -> None:
        stamp = make_stamp(self.settings.provider, self.settings.account_email, action.provider_id)
        # The person is stamped first: if we stop before the link, the pending copy is
        # still there and the next pass claims the contact again (never copies twice).
        person = self.crm.update(action.crm_id, self._write(action.contact, stamp))
        with self.store.transaction():
            self.store.drop_pending_copy(self.account, action.crm_id)
            old = self.store.link_by_crm(self.account, action.crm_id)  # the contact it was to replace
            if old is not None:
                self.store.delete_link(self.account, old.provider_id)
            self.store.put_link(Link(
                self.account, action.provider_id, action.crm_id, "linked", stamp, action.version, person.version,
                record_hash(action.contact, None), action.contact.to_dict(),
            ))
            self.store.clear_person_failure(self.account, action.crm_id)
            self._event(EventSide.PROVIDER, EventKind.CLAIM, action.provider_id, action.crm_id,
                        "created by an interrupted pass; linked instead of created again")

    def _overflow(self, provider_id: str, crm_id: int, contact: Contact) -> None:
        """Record values the provider cannot hold (e.g. Graph's 3 e-mails): they stay in the CRM only."""
        held = self.settings.held(contact)
        ignored = set() if self.provider.capabilities.syncs_notes else {"notes"}
        for name in sorted(changed_fields(contact, held) - ignored):
            self._event(EventSide.PROVIDER, EventKind.OVERFLOW, provider_id, crm_id,
                        f"{name}: the address book cannot hold all of it; the rest stays in Pipedrive only")

    def _failed(self, action: Action, reason: str) -> None:
        """Record the failure so that the next pass retries it, whatever the cursors say."""
        if isinstance(action, CreateContact) and action.replaces:
            # Replayed as the provider-side deletion that made us re-create it.
            self.crm_side.record_failure(action.replaces, reason, action,
                                record=record_to_dict(ProviderDeletion(action.replaces)))
        elif isinstance(action, CreateContact):
            # A new CRM person: the CRM cursor moves on, so keep its id to fetch it again.
            self.crm_side.record_failure(f"crm:{action.crm_id}", reason, action, crm_id=action.crm_id)
        elif isinstance(action, SyncBoth) and action.record is not None:
            # The provider's side of a merge: replayed by the next pass, which merges again.
            self.crm_side.record_failure(action.provider_id, reason, action, record=record_to_dict(action.record))
        else:
            self.crm_side.record_failure(action.provider_id, reason, action)

    def _record_crm_version(self, action: RecordCrmVersion) -> None:
        link = self.store.link(self.account, action.provider_id)
        if link is not None:
            self.store.put_link(replace(link, crm_version=action.crm_version))

    # -- helpers ----------------------------------------------------------------

    def _write(self, contact: Contact, stamp: str) -> PersonWrite:
        org_id = None
        if contact.organization:
            org_id = self.crm.find_or_create_org(contact.organization, self.crm_side.target.visible_to)
        return PersonWrite(contact=contact, org_id=org_id, stamp=stamp)

    def _event(self, side: EventSide, kind: EventKind, provider_id: str, crm_id: int | None,
               detail: str | None, name: str | None = None) -> None:
        log.info("%s: %s %s %s -> person %s%s", self.account, side.value, kind.value, provider_id, crm_id,
                 f" ({detail})" if detail else "")
        self.crm_side.event(kind, provider_id, crm_id, detail, side, name=name)

    @property
    def store(self) -> LinkStore:
        return self.crm_side.store

    @property
    def crm(self) -> Crm:
        return self.crm_side.crm

    @property
    def account(self) -> str:
        return self.crm_side.target.account

    @property
    def provider(self) -> Provider:
        # The engine never asks a provider to write unless the pass is two-way and
        # the provider says it can (capabilities.supports_write).
        if self.crm_side.provider is None:
            raise AssertionError("a provider write was planned in a pass that does not write the provider")
        return self.crm_side.provider

    @property
    def group(self) -> str:
        return self.crm_side.group

    @property
    def settings(self) -> SyncSettings:
        return self.crm_side.settings

