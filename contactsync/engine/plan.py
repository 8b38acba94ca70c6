"""The one planner: (links, provider changes, CRM snapshot, typed settings) -> actions. Pure.

No clock, no store, no HTTP: everything it decides from is passed in as data
(the reader in snapshot.py did the I/O beforehand). `plan` plans a whole pass
at once; a pass that streams the provider's pages calls `plan_step` once per
page and once more at the end (`rest=True`) with the links of the CRM-only
changes, carrying `Handled` (what earlier steps planned) from step to step.

The rules (DESIGN §5): provider-only changes follow the one-way rules; in a
two-way pass a linked contact whose CRM side changed too is merged field by
field, CRM edits go back to the provider, a deletion on one side while the
other edited keeps the edit, and new persons the user owns are copied to the
provider. Persons another user owns are never written back nor deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from contactsync.crm.base import CrmPerson
from contactsync.engine.actions import (
    Action,
    AdoptPerson,
    ClaimContact,
    CreateContact,
    CreatePerson,
    DeleteContact,
    DeletePerson,
    DropPendingCopy,
    ForgetLink,
    RecordCrmVersion,
    RecordVersion,
    SkipContact,
    SyncBoth,
    UpdatePerson,
)
from contactsync.engine.merge import changed_fields, effective_provider, merge, preferred_side
from contactsync.engine.rules import INTENT, Held, SyncSettings, crm_contact, fit, make_stamp, prepare, record_hash
from contactsync.engine.snapshot import CrmSnapshot
from contactsync.engine.unreadable import settle_unreadable
from contactsync.model import Contact, normalise, synced_fields
from contactsync.providers.base import Change, ProviderDeletion, ProviderRecord, ProviderSkip
from contactsync.store.db import Link

NAMELESS = "has no name, e-mail, phone or organization to name a person by"


@dataclass(frozen=True)
class Handled:
    """What earlier steps of the same pass planned, so that no person is planned twice."""

    started: bool = False  # the snapshot's transitions were handed out
    crm_ids: frozenset[int] = frozenset()  # persons planned with their provider change
    adopted: frozenset[int] = frozenset()  # persons adopted by a contact (first sync)
    claimed: frozenset[int] = frozenset()  # pending copies claimed by a contact


def plan(links: Mapping[str, Link], changes: Iterable[Change], crm: CrmSnapshot, settings: SyncSettings) -> list[Action]:
    """Plan a whole pass: the provider's changes, then what changed in the CRM only.

    `links` holds the links of the changed contacts and of the changed persons;
    a contact missing from a complete listing is passed as a `ProviderDeletion`.
    """
    return plan_step(links, changes, crm, settings, Handled(), rest=True)[0]


def plan_step(
    links: Mapping[str, Link],
    changes: Iterable[Change],
    crm: CrmSnapshot,
    settings: SyncSettings,
    handled: Handled,
    *,
    rest: bool = False,
) -> tuple[list[Action], Handled]:
    """Plan one page of provider changes (and with `rest` the CRM-only changes); return what is now handled."""
    actions: list[Action] = [] if handled.started else list(crm.transitions)
    crm_ids, adopted, claimed = set(handled.crm_ids), set(handled.adopted), set(handled.claimed)
    for provider_id, change in _latest(changes).items():
        link = links.get(provider_id)
        if isinstance(change, ProviderSkip):
            # The adapter could not map it (no id, not an object): reported, nothing else touched.
            actions.append(SkipContact(provider_id, change.reason))
            continue
        if link is None and isinstance(change, ProviderRecord):
            claim = _claim(change, crm, claimed, settings)
            if claim is not None:
                actions.append(claim)
                continue
        if link is not None and _foreign_link(link, crm, settings):
            actions.extend(_foreign(link, change))
        elif link is not None and _live(link, crm, settings):
            assert link.crm_id is not None
            crm_ids.add(link.crm_id)
            person = crm.changes.get(link.crm_id) if link.crm_id not in handled.crm_ids else None
            gone = link.crm_id in crm.gone and link.crm_id not in handled.crm_ids
            actions.extend(plan_link(replace(link, state="linked"), change, person, gone, settings))
        elif isinstance(change, ProviderDeletion):
            actions.extend(_plan_deletion(link))
        else:
            actions.extend(_plan_upsert(change, link, crm, adopted, settings))
    done = Handled(True, frozenset(crm_ids), frozenset(adopted), frozenset(claimed))
    if rest:
        actions.extend(_plan_rest(links, crm, settings, done))
    return actions, done


def rest_ids(crm: CrmSnapshot, handled: Handled) -> set[int]:
    """The persons whose links the last step needs: CRM-only changes and unclaimed copies."""
    pending = {i for i in crm.pending_copies if i not in handled.claimed and i in crm.unclaimed}
    return {i for i in (*crm.changes, *crm.gone) if i not in handled.crm_ids} | pending


def _latest(changes: Iterable[Change]) -> dict[str, Change]:
    latest: dict[str, Change] = {}
    for change in changes:  # a contact seen twice: the later entry wins
        latest.pop(change.id, None)
        latest[change.id] = change
    return latest


def _foreign_link(link: Link, crm: CrmSnapshot, settings: SyncSettings) -> bool:
    """A person another user owns: found so this pass, or a foreign link the CRM did not
    hand back (an incremental read only reports the persons that changed)."""
    if link.crm_id in crm.foreign:
        return True
    return settings.two_way and link.state == "foreign" and link.crm_id not in crm.reclaimed \
        and link.crm_id not in crm.gone and not any(
            isinstance(t, ForgetLink) and t.provider_id == link.provider_id for t in crm.transitions)


def _live(link: Link, crm: CrmSnapshot, settings: SyncSettings) -> bool:
    """A link two-way sync works on: linked (or handed back this pass), with a base."""
    return (settings.two_way and link.crm_id is not None and link.base is not None
            and (link.state == "linked" or link.crm_id in crm.reclaimed))


# -- provider changes by the one-way rules ------------------------------------------


def _plan_deletion(link: Link | None) -> list[Action]:
    if link is None:
        return []
    if link.state == "linked" and link.crm_id is not None:
        return [DeletePerson(link.provider_id, link.crm_id)]
    return [ForgetLink(link.provider_id, link.stamp if link.state == "pending" else None)]


def _plan_upsert(record: ProviderRecord, link: Link | None, crm: CrmSnapshot, adopted: set[int],
                 settings: SyncSettings) -> list[Action]:
    if link is not None and link.state == "tombstone":
        # Deleted in the CRM during one-way sync: never re-created (DESIGN §5).
        return [RecordVersion(record.id, record.version)] if record.version != link.provider_version else []
    if link is not None and link.state == "linked" and link.provider_version == record.version:
        return []  # a replayed or duplicate change entry
    named = prepare(record.contact)
    if named is None:
        return [SkipContact(record.id, NAMELESS, record)]
    before = Contact.from_dict(link.base) if link is not None and link.base is not None else None
    fitted, cuts = fit(named, settings.policy)
    # A value the provider holds but we cannot read is left as it is in the CRM too.
    contact = settle_unreadable(before, fitted, None).provider or fitted
    photo = record.photo
    stamp = link.stamp if link is not None else make_stamp(settings.provider, settings.account_email, record.id)
    if link is None:
        if crm.adoption is not None:
            crm_id, reason = crm.adoption.match(stamp, contact, adopted)
            if crm_id is not None:
                return [AdoptPerson(record.id, record.version, contact, stamp, crm_id, reason, photo, cuts)]
        return [CreatePerson(record.id, record.version, contact, stamp, photo=photo, cuts=cuts)]
    if link.state == "pending" or link.crm_id is None:
        return [CreatePerson(record.id, record.version, contact, stamp, recover=True, photo=photo, cuts=cuts)]
    if link.hash == record_hash(contact, photo):
        return [RecordVersion(record.id, record.version)]
    return [UpdatePerson(record.id, record.version, contact, stamp, link.crm_id, photo, cuts, before)]


# -- both sides (two-way) --------------------------------------------------------------


def plan_link(link: Link, change: Change | None, person: CrmPerson | None, gone: bool,
              settings: SyncSettings) -> list[Action]:
    """Plan one linked contact whose provider side, CRM side, or both changed."""
    assert link.crm_id is not None and link.base is not None
    base = Contact.from_dict(link.base)
    held = settings.held

    # The provider side: deleted, changed (in what it can hold), or the same.
    record: ProviderRecord | None = None
    p_read: Contact | None = None
    if isinstance(change, ProviderRecord) and change.version != link.provider_version:
        named = prepare(change.contact)
        if named is None:
            return [SkipContact(change.id, NAMELESS, change)]
        record = change
        p_read = fit(named, settings.policy)[0]
    p_deleted = isinstance(change, ProviderDeletion)

    c_read = crm_contact(person, settings.policy) if person is not None else None
    # A write of a pass killed before it committed: a side that holds exactly what
    # it was about to write holds our own write, not a user's edit (issue 11).
    own = _own_write(link, p_read, c_read, held)
    if own is not None:
        base = own

    # The CRM side: deleted, changed, or the same. A value either side cannot read
    # is held at the base, so the merge copies nothing over it (engine/unreadable.py).
    settled = settle_unreadable(base, p_read, c_read)
    p_contact: Contact | None = None
    p_changed = False
    if settled.provider is not None:
        p_contact = effective_provider(base, settled.provider, held(base))
        p_changed = bool(changed_fields(base, p_contact))
    # The CRM's address has no label: it keeps the one the provider gave it, so the
    # address stays in its slot.
    c_contact = settled.crm
    if c_contact is not None and c_contact.address is not None and base.address is not None:
        c_contact = replace(c_contact, address=replace(c_contact.address, label=base.address.label))
    c_changed = c_contact is not None and person is not None and person.version != link.crm_version \
        and bool(changed_fields(base, c_contact))

    if gone and p_deleted:
        return [ForgetLink(link.provider_id)]
    if gone:
        if p_changed and record is not None and p_contact is not None:  # edited in the provider: the edit wins
            return [CreatePerson(record.id, record.version, p_contact, link.stamp)]
        return [DeleteContact(link.provider_id, link.crm_id)]
    if p_deleted:
        if c_changed and person is not None and c_contact is not None:  # edited in the CRM: the edit wins
            return [CreateContact(link.crm_id, c_contact, person.version, replaces=link.provider_id)]
        return [DeletePerson(link.provider_id, link.crm_id)]

    if p_changed and not c_changed:
        assert record is not None and p_contact is not None
        return [UpdatePerson(record.id, record.version, p_contact, link.stamp, link.crm_id, before=base)]
    if c_changed and not p_changed:
        assert person is not None and c_contact is not None
        version = record.version if record is not None else (link.provider_version or "")
        write_provider = bool(changed_fields(held(base), held(c_contact)))
        return [SyncBoth(link.provider_id, link.crm_id, link.stamp, c_contact, version, person.version,
                         write_crm=False, write_provider=write_provider, before=base)]
    if p_changed and c_changed:
        assert record is not None and p_contact is not None and person is not None and c_contact is not None
        prefer = preferred_side(settings.conflicts.value, record.updated, person.version)
        merged, conflicts = merge(base, p_contact, c_contact, prefer)
        merged = settled.mark(merged)
        return [SyncBoth(
            link.provider_id, link.crm_id, link.stamp, merged, record.version, person.version,
            write_crm=bool(changed_fields(c_contact, merged)),
            write_provider=bool(changed_fields(held(p_contact), held(merged))),
            conflicts=tuple(conflicts), before=base, record=record,
        )]

    if own is not None or settled.issues:
        # Nothing to write: commit what a killed pass wrote, or record the values left unread.
        return [SyncBoth(link.provider_id, link.crm_id, link.stamp, own or settled.mark(base),
                         record.version if record is not None else (link.provider_version or ""),
                         person.version if person is not None else (link.crm_version or ""),
                         write_crm=False, write_provider=False, before=Contact.from_dict(link.base))]
    actions: list[Action] = []
    if record is not None:
        actions.append(RecordVersion(record.id, record.version))
    if person is not None and person.version != link.crm_version:
        actions.append(RecordCrmVersion(link.provider_id, person.version))
    return actions


def _own_write(link: Link, provider: Contact | None, crm: Contact | None, held: Held) -> Contact | None:
    """The record a killed pass was writing, when a side it was writing to now holds exactly it; else None.

    Only a side that was being written counts: the other may hold the same record
    because the user's edit there was what the pass was copying.
    """
    data = (link.base or {}).get(INTENT)
    if not isinstance(data, dict) or not isinstance(data.get("contact"), dict):
        return None
    own, sides = Contact.from_dict(data["contact"]), data.get("sides") or ()
    if "crm" in sides and crm is not None and not changed_fields(own, crm):
        return own
    if "provider" in sides and provider is not None and not changed_fields(held(own), held(provider)):
        return own
    return None


def plan_new_person(person: CrmPerson, settings: SyncSettings) -> list[Action]:
    """A person the user owns, changed in the CRM, not linked: create it in the provider.

    A person stamped by an account (this one after a lost store, or another) is
    never copied: it belongs to that account's contact.
    """
    if person.stamp:
        return []
    contact = crm_contact(person, settings.policy)
    if contact is None:
        return []
    return [CreateContact(person.id, settle_unreadable(None, None, normalise(contact)).crm or contact, person.version)]


def _foreign(link: Link, change: Change | None) -> list[Action]:
    """A contact whose person another user owns: its changes and deletion stay on the provider side."""
    if isinstance(change, ProviderDeletion):
        return [ForgetLink(link.provider_id)]
    if isinstance(change, ProviderRecord) and change.version != link.provider_version:
        return [RecordVersion(change.id, change.version)]
    return []


def _claim(record: ProviderRecord, crm: CrmSnapshot, claimed: set[int], settings: SyncSettings) -> ClaimContact | None:
    """The contact an interrupted copy made, recognised by its content.

    Only the copy of a person that is still there and the user's: when the person is
    gone, a contact of the same content is as likely the user's own new one, and
    claiming it would leave it with no person (a contact is never lost for a guess)."""
    open_copies = [(i, c) for i, c in crm.pending_copies.items() if i not in claimed and i in crm.unclaimed]
    if not open_copies:
        return None
    named = prepare(record.contact)
    if named is None:
        return None
    held = settings.held
    mine = synced_fields(held(fit(named, settings.policy)[0]))
    for crm_id, contact in open_copies:
        if synced_fields(held(contact)) == mine:
            claimed.add(crm_id)
            return ClaimContact(record.id, record.version, crm_id, contact)
    return None


def _plan_rest(links: Mapping[str, Link], crm: CrmSnapshot, settings: SyncSettings, handled: Handled) -> list[Action]:
    """CRM changes whose provider contact did not change: edits, deletions, new persons."""
    by_crm = {link.crm_id: link for link in links.values() if link.crm_id is not None}
    changes = {i: p for i, p in crm.changes.items() if i not in handled.crm_ids}
    actions: list[Action] = []
    for crm_id in sorted(crm.pending_copies):
        if crm_id in handled.claimed:
            continue
        # The interrupted create never happened: forget it, copy the person again.
        actions.append(DropPendingCopy(crm_id))
        if crm_id in by_crm:
            continue  # it happened and was linked; the pass stopped before dropping the marker
        person = crm.unclaimed.get(crm_id)
        if person is not None:
            changes.setdefault(crm_id, person)
    for crm_id in sorted(crm.gone - handled.crm_ids):
        link = by_crm.get(crm_id)
        if link is not None and link.base is not None:
            actions.extend(plan_link(link, None, None, True, settings))
    for crm_id, person in sorted(changes.items()):
        link = by_crm.get(crm_id)
        if link is None:
            actions.extend(plan_new_person(person, settings))
        elif _live(link, crm, settings):
            actions.extend(plan_link(replace(link, state="linked"), None, person, False, settings))
    return actions
