"""The contract every CRM adapter fulfils (DESIGN §4)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from contactsync.model import Contact

# Name of the custom field that carries our stamp `provider:account:provider_id`.
STAMP_FIELD = "Contact sync ID"


@dataclass(frozen=True)
class CrmUser:
    id: int
    name: str
    email: str
    is_admin: bool
    company_domain: str = ""


@dataclass(frozen=True)
class CrmPerson:
    """A CRM person: id, version token (update_time), owner, stamp and mapped fields."""

    id: int
    version: str
    owner_id: int | None
    contact: Contact
    stamp: str | None = None
    org_id: int | None = None
    has_picture: bool = False


@dataclass(frozen=True)
class PersonChange:
    """One person changed (or deleted) in the CRM: enough to decide whether to fetch it."""

    id: int
    version: str  # update_time, in the form `CrmPerson.version` has
    owner_id: int | None
    deleted: bool


@dataclass(frozen=True)
class PersonWrite:
    """Everything one create or update sends besides the contact's own fields."""

    contact: Contact
    org_id: int | None = None
    owner_id: int | None = None
    visible_to: int | None = None
    stamp: str | None = None
    extra_fields: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Crop:
    """A square region of an image, in pixels from its top-left corner."""

    x: int
    y: int
    size: int


class Crm(ABC):
    """A connected CRM company, authenticated as one user."""

    # The CRM's documented maximum length of each text field of `Contact`; the
    # engine cuts longer values there (and only there) and records the cut.
    text_limits: ClassVar[dict[str, int]] = {}

    def concurrency(self) -> int | None:
        """How many calls in flight would use the CRM's whole rate budget (None: no opinion)."""
        return None

    def recent_changes(self, since: str) -> Iterator[PersonChange] | None:
        """The persons changed at or after `since` (a version), deletions included, oldest first
        (an entry may repeat); None when the CRM cannot say, and every linked person is read.
        Raises CursorExpired (when iterated) if `since` is further back than the CRM remembers."""
        return None

    @abstractmethod
    def me(self) -> CrmUser:
        """The connected user; raises AuthError when the token is refused."""

    @abstractmethod
    def missing_permissions(self, user: CrmUser) -> list[str]:
        """Human-readable names of the permissions to add people and to add
        organizations that `user` lacks; empty for admins (DESIGN §8)."""

    @abstractmethod
    def ensure_fields(self, known: dict[str, str]) -> dict[str, str]:
        """Find by name or create each custom field we need; returns name -> field key.

        `known` holds keys found before; they are verified, not trusted blindly.
        """

    @abstractmethod
    def missing_fields(self, known: dict[str, str]) -> list[str]:
        """The names of the custom fields `ensure_fields` would create; reads only (a dry run)."""

    @abstractmethod
    def find_or_create_org(self, name: str, visible_to: int | None = None) -> int:
        """The id of the organization with exactly this name, created if missing."""

    def settle(self, timeout: float = 30.0) -> None:
        """Wait (at most `timeout` s) for the reads this adapter started in the background;
        called before the pass's cache is saved. None by default."""

    @abstractmethod
    def find_org(self, name: str) -> int | None:
        """The id of the organization with exactly this name, or None; reads only (a dry run)."""

    @abstractmethod
    def create(self, write: PersonWrite) -> CrmPerson:
        """Create a person; never retried blindly (the stamp lookup decides)."""

    @abstractmethod
    def update(self, id: int, write: PersonWrite) -> CrmPerson:
        """Update the mapped fields of a person; raises NotFound when it is gone."""

    @abstractmethod
    def delete(self, id: int) -> None:
        """Delete a person; one already gone is not an error."""

    @abstractmethod
    def set_picture(self, id: int, image: bytes, mime: str, crop: Crop | None) -> None:
        """Upload a person's picture (GIF/JPEG/PNG `mime`), cropped to `crop` by the CRM when given."""

    @abstractmethod
    def get(self, id: int) -> CrmPerson | None:
        """One person, or None when it does not exist or was deleted."""

    @abstractmethod
    def get_many(self, ids: list[int]) -> dict[int, CrmPerson]:
        """The persons of `ids` that still exist (deleted ones are absent), fetched in batches."""

    @abstractmethod
    def list_persons(self, owner_id: int | None = None, updated_since: str | None = None) -> Iterator[CrmPerson]:
        """Every (non-deleted) person, optionally of one owner or changed since a time."""

    @abstractmethod
    def find_by_stamp(self, stamp: str) -> CrmPerson | None:
        """The person carrying this stamp in the "Contact sync ID" field, if any."""

    @abstractmethod
    def find_by_email(self, email: str, owner_id: int) -> list[CrmPerson]:
        """Persons owned by `owner_id` whose e-mail exactly matches `email`."""
