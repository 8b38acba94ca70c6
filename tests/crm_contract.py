"""The CRM contract: one suite every CRM adapter passes (Pipedrive today, against its emulator).

Each test takes the `crm_subject` fixture (registered in conftest.py),
parametrized over `CRM_SUBJECTS` below. A subject factory is a context manager
`() -> Iterator[CrmSubject]` yielding:

    crm        the adapter, connected as a user who may add people and organizations
               (a `contactsync.crm.base.Crm`), its custom fields ensured
    user       that user (`crm.me()`)

A second CRM proves itself by adding a subject here and passing. Tests use the
adapter only, so they run unchanged against any CRM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest

from contactsync.clock import ManualClock
from contactsync.crm.base import Crm, CrmUser, PersonWrite
from contactsync.errors import NotFound
from contactsync.model import Contact, Email


@dataclass
class CrmSubject:
    crm: Crm
    user: CrmUser


CRM_SUBJECTS: dict[str, Callable[[], Iterator[CrmSubject]]] = {}


@contextmanager
def _pipedrive() -> Iterator[CrmSubject]:
    from contactsync.crm.pipedrive import PipedriveCrm
    from contactsync.sandbox.pipedrive import PipedriveEmulator
    from contactsync.sandbox.server import serve
    from pipedrive_support import ADMIN_TOKEN

    emulator = PipedriveEmulator(api_token=ADMIN_TOKEN)
    emulator.load_seed()
    server = serve(emulator)
    try:
        crm = PipedriveCrm(server.url, ADMIN_TOKEN, clock=ManualClock())
        crm.field_keys = crm.ensure_fields({})
        yield CrmSubject(crm, crm.me())
    finally:
        server.stop()


CRM_SUBJECTS["pipedrive"] = _pipedrive

STAMP = "google:ann@example.com:people/contract1"


def new(subject: CrmSubject, name: str, stamp: str | None = None, email: str = "") -> int:
    contact = Contact(name=name, emails=(Email(email, "work", True),) if email else ())
    return subject.crm.create(PersonWrite(contact, owner_id=subject.user.id, stamp=stamp)).id


def test_the_connected_user_may_add_people_and_organizations(crm_subject: CrmSubject) -> None:
    assert crm_subject.user.id and crm_subject.crm.missing_permissions(crm_subject.user) == []


def test_custom_fields_are_found_again_not_created_twice(crm_subject: CrmSubject) -> None:
    first = crm_subject.crm.ensure_fields({})
    assert crm_subject.crm.ensure_fields(first) == first == crm_subject.crm.ensure_fields({})
    assert crm_subject.crm.missing_fields(first) == []


def test_a_created_person_reads_back_with_owner_and_stamp(crm_subject: CrmSubject) -> None:
    crm = crm_subject.crm
    person_id = new(crm_subject, "Ann Contract", STAMP, "ann.contract@example.org")
    person = crm.get(person_id)
    assert person is not None and person.contact.name == "Ann Contract"
    assert person.owner_id == crm_subject.user.id and person.stamp == STAMP
    assert [e.value for e in person.contact.emails] == ["ann.contract@example.org"]
    found = crm.find_by_stamp(STAMP)
    assert found is not None and found.id == person_id
    assert person_id in {p.id for p in crm.list_persons(owner_id=crm_subject.user.id)}


def test_an_update_moves_the_version_and_a_deleted_person_is_not_found(crm_subject: CrmSubject) -> None:
    crm = crm_subject.crm
    person_id = new(crm_subject, "Bo Contract")
    before = crm.get(person_id)
    assert before is not None
    after = crm.update(person_id, PersonWrite(replace(before.contact, job_title="CTO")))
    assert after.contact.job_title == "CTO" and after.version >= before.version
    crm.delete(person_id)
    assert crm.get(person_id) is None and person_id not in crm.get_many([person_id])
    crm.delete(person_id)  # one already gone is not an error
    with pytest.raises(NotFound):
        crm.update(person_id, PersonWrite(Contact(name="Bo Contract")))


def test_get_many_returns_the_living_persons_only(crm_subject: CrmSubject) -> None:
    crm = crm_subject.crm
    ids = [new(crm_subject, f"Many {n}") for n in range(3)]
    crm.delete(ids[1])
    assert set(crm.get_many(ids)) == {ids[0], ids[2]}


def test_an_organization_is_found_by_its_exact_name(crm_subject: CrmSubject) -> None:
    crm = crm_subject.crm
    assert crm.find_org("Contract Industries") is None  # reading creates nothing
    org = crm.find_or_create_org("Contract Industries")
    assert crm.find_or_create_org("Contract Industries") == org == crm.find_org("Contract Industries")
    assert crm.find_or_create_org("Contract Industries Ltd") != org


def test_persons_are_found_by_e_mail_of_their_owner(crm_subject: CrmSubject) -> None:
    person_id = new(crm_subject, "Cy Contract", email="cy.contract@example.org")
    found = crm_subject.crm.find_by_email("cy.contract@example.org", crm_subject.user.id)
    assert [p.id for p in found] == [person_id]
