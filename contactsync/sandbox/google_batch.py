"""The batch methods of the Google People API emulator: people.getBatchGet and
people.batch{Create,Update,Delete}Contacts, each a handler taking the GoogleEmulator.

Paths and shapes follow the discovery document shipped with google-api-python-client
(``people.v1.json``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contactsync.sandbox import google_people as gp
from contactsync.sandbox.google_oauth import Grant
from contactsync.sandbox.google_people import ApiFailure
from contactsync.sandbox.server import Request

if TYPE_CHECKING:
    from contactsync.sandbox.google import GoogleEmulator

DOC_GET = "https://developers.google.com/people/api/rest/v1/people/get"
DOC_UPDATE = "https://developers.google.com/people/api/rest/v1/people/updateContact"
# BatchCreate/Update/DeleteContactsRequest ("Allows up to 200 contacts in a single request", 500 resource
# names for a delete) and people.getBatchGet ("There is a maximum of 200 resource names"), discovery document.
BATCH_LIMITS = {"create": 200, "update": 200, "delete": 500, "get": 200}


def batch_size(items: Any, kind: str, field: str) -> None:
    if not items:
        raise ApiFailure(400, f"{field} must not be empty.")
    if len(items) > BATCH_LIMITS[kind]:
        raise ApiFailure(400, f"Too many {field} in the request: {len(items)}. "
                              f"The maximum is {BATCH_LIMITS[kind]}.")


def batch_create(emulator: GoogleEmulator, req: Request, grant: Grant) -> dict[str, Any]:
    body = req.json() or {}
    contacts = body.get("contacts") or []
    batch_size(contacts, "create", "contacts")
    read = emulator._read_mask(body.get("readMask"))
    for item in contacts:  # validate all before writing any
        gp.check_singletons(item.get("contactPerson") or {})
        emulator._check_groups(gp.requested_groups(item.get("contactPerson") or {}) or [], api=True)
    created = [emulator._create(item.get("contactPerson") or {}, api=True) for item in contacts]
    if read is None:
        return {}  # "If read mask is left empty, the post-mutate-get is skipped"
    return {"createdPeople": [{"httpStatusCode": 200, "person": emulator.render(r, read), "status": {}}
                              for r in created]}


def batch_get(emulator: GoogleEmulator, req: Request, grant: Grant) -> dict[str, Any]:
    """people.getBatchGet: one PersonResponse per requested name, in order.

    A name that is not (any more) a contact is answered in its own PersonResponse
    with a NOT_FOUND status (google.rpc.Code 5) instead of failing the request: the
    method's answer is "The response for each requested resource name"
    (GetPeopleResponse.responses, discovery document).
    """
    names = req.args("resourceNames")
    batch_size(names, "get", "resourceNames")
    fields = gp.parse_mask(req.arg("personFields"), gp.PERSON_FIELDS, "personFields", DOC_GET)
    out = []
    for rn in names:
        record = emulator.people.get(rn)
        if record is None:
            out.append({"requestedResourceName": rn, "httpStatusCode": 404,
                        "status": {"code": 5, "message": "Requested entity was not found."}})
        else:
            out.append({"requestedResourceName": rn, "httpStatusCode": 200,
                        "person": emulator.render(record, fields), "status": {}})
    return {"responses": out}


def batch_update(emulator: GoogleEmulator, req: Request, grant: Grant) -> dict[str, Any]:
    """people.batchUpdateContacts: every contact is checked (etag, values) before any is written.

    "If not successful, returns BatchUpdateContactsErrorDetails, a list of errors
    corresponding to each contact" (BatchUpdateContactsResponse, discovery document):
    one refused contact refuses the request and nothing of it is written. The wire
    shape of those details is not in the discovery document, so the emulator names
    the refused contacts in the message only and a client must not rely on more.
    Each contact's etag is checked as updateContact checks it (400 FAILED_PRECONDITION,
    "failedPrecondition", people.updateContact doc).
    """
    body = req.json() or {}
    contacts = body.get("contacts") or {}
    batch_size(contacts, "update", "contacts")
    fields = gp.parse_mask(body.get("updateMask"), gp.UPDATE_FIELDS, "updateMask", DOC_UPDATE)
    read = emulator._read_mask(body.get("readMask"))
    emulator.quirks.race_batch(emulator, sorted(contacts))
    changes: dict[str, dict[str, Any]] = {}
    refused: dict[str, ApiFailure] = {}
    for rn, person in contacts.items():
        try:
            changes[rn] = emulator._update(rn, person, fields)
        except ApiFailure as failure:
            refused[rn] = failure
    if refused:
        stale = all(f.status == "FAILED_PRECONDITION" for f in refused.values())
        listed = "; ".join(f"{rn}: {f.message}" for rn, f in sorted(refused.items()))
        raise ApiFailure(400, f"{len(refused)} of {len(contacts)} contacts could not be updated. {listed}",
                         status="FAILED_PRECONDITION" if stale else "INVALID_ARGUMENT")
    updated = {rn: emulator._apply_update(rn, change, fields) for rn, change in changes.items()}
    if read is None:
        return {}
    return {"updateResult": {rn: {"requestedResourceName": rn, "httpStatusCode": 200,
                                  "person": emulator.render(r, read), "status": {}}
                             for rn, r in updated.items()}}


def batch_delete(emulator: GoogleEmulator, req: Request, grant: Grant) -> dict[str, Any]:
    names = (req.json() or {}).get("resourceNames") or []
    batch_size(names, "delete", "resourceNames")
    for rn in names:
        emulator._record(rn)
    for rn in names:
        emulator._delete(rn)
    return {}
