"""The core's exception hierarchy; the CLI maps each class to an exit code (DESIGN §10)."""

from __future__ import annotations


class ContactSyncError(Exception):
    """Base of every error the core reports to the user.

    ``message`` says what went wrong and for what; ``fix`` is the command or step
    that repairs it. Neither may ever contain a secret.
    """

    exit_code = 1

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def line(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message


class UsageError(ContactSyncError):
    """Bad command-line usage or configuration."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file that cannot be read, or an account that does not exist."""


class LocalEnvironmentError(UsageError):
    """A local file or folder contactsync needs cannot be used: home, log file, disk full."""


class AuthError(ContactSyncError):
    """A token that is missing, expired or revoked."""

    exit_code = 3


class SafetyStop(ContactSyncError):
    """A safety rail stopped the run before it wrote anything dangerous.

    `rail` names the rail (`mass-delete`, `empty-listing`); `allow_with` is the
    option of `run` that lets the pass go ahead.
    """

    exit_code = 4

    def __init__(self, message: str, fix: str | None = None, *, rail: str = "", allow_with: str = "") -> None:
        super().__init__(message, fix)
        self.rail = rail
        self.allow_with = allow_with


class LockHeld(ContactSyncError):
    """Another pass holds the lock of this account."""

    exit_code = 5


class TemporaryError(ContactSyncError):
    """Network down, rate limit or budget exhausted: retry later, progress kept."""

    exit_code = 75


class BudgetExhausted(TemporaryError):
    """A daily API budget is used up: no retry inside the pass can help; the next pass resumes."""


class ServiceBlocked(TemporaryError):
    """The service blocks this client for a while (an edge's rate-limit block): the pass stops, no retries."""


class Interrupted(ContactSyncError):
    """SIGTERM or Ctrl-C: the actions in flight were finished and recorded, then the pass stopped."""

    exit_code = 75


class PermissionDenied(ContactSyncError):
    """The CRM user lacks a permission the sync needs."""

    exit_code = 1


class ApiError(ContactSyncError):
    """An API refused a request for a reason that is not auth, permission or rate."""

    exit_code = 1

    def __init__(self, message: str, status: int | None = None, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.status = status


class NotFound(ApiError):
    """The remote object does not exist (any more)."""


class StaleVersion(ApiError):
    """The remote object changed since we read it (stale etag / changeKey)."""


class CursorExpired(ContactSyncError):
    """The provider no longer accepts our incremental cursor; do one full listing."""


class SecretStoreError(ContactSyncError):
    """The secret store failed: no usable keyring, a backend error, an unwritable file store."""

    exit_code = 2



class ContactSkipped(ContactSyncError):
    """One contact cannot be synced and waiting will not change that: skipped and reported, never retried.

    Told apart from a failure (temporary, retried next pass) in the pass summary and status.
    """

    exit_code = 1

    def __init__(self, contact_id: str, reason: str, fix: str | None = None) -> None:
        super().__init__(f"contact {contact_id}: {reason}", fix)
        self.contact_id = contact_id
        self.reason = reason
