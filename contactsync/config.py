"""Where contactsync keeps its files, and the TOML config (DESIGN §11).

`CONTACTSYNC_HOME` overrides every path (tests always set it). Otherwise the
config goes to the user's config directory and the state to the data directory.
The config holds no secret; secrets live in the keyring (see auth/secrets.py).

Settings are types (settings.py): `load` parses the direction, conflict policy,
visibility and plan of every entry, and an unknown value is a ConfigError (exit
2) naming the key, the file and the values allowed — never a silent default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from contactsync import paths
from contactsync.errors import ConfigError
from contactsync.settings import ConflictPolicy, Direction, Plan, SettingError, Visibility, choices, parse

DIRECTIONS = tuple(choices(Direction))
CONFLICT_POLICIES = tuple(choices(ConflictPolicy))
# Where secrets are kept: the OS keyring (default) or the opt-in file store (auth/secrets.py).
SECRET_STORES = ("keyring", "file")


def config_dir() -> Path:
    return paths.config_dir()


def state_dir() -> Path:
    return paths.state_dir()


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parent with mode 0700 (whatever the umask); existing folders are left alone."""
    paths._private_mkdir(path)  # the one implementation, beside the other path rules
    return path


def config_path() -> Path:
    return config_dir() / "config.toml"


def state_path() -> Path:
    return state_dir() / "state.db"


@dataclass
class CrmConfig:
    kind: str = "pipedrive"
    domain: str = ""
    base_url: str = ""
    plan: Plan = Plan.GROWTH
    user_id: int | None = None
    user_email: str = ""


@dataclass
class AccountConfig:
    provider: str
    email: str
    group: str = ""
    group_name: str = ""
    direction: Direction = Direction.ONE_WAY
    # None: the plan's default (crm/pipedrive_plans.py: effective_visibility).
    visibility: Visibility | None = None
    conflicts: ConflictPolicy = ConflictPolicy.NEWEST
    adopt: bool = True
    # API endpoint override (the sandbox); empty means the real service.
    endpoint: str = ""
    # Extra provider settings that are not secret (Microsoft client id, tenant…).
    options: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.email}"


@dataclass
class Config:
    crm: CrmConfig | None = None
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    # `[secrets] store = "file"`; empty means the default (the keyring).
    secrets_store: str = ""

    def account(self, name: str) -> AccountConfig:
        """Find an account by `provider:email` or, when unambiguous, by e-mail."""
        if name in self.accounts:
            return self.accounts[name]
        matches = [a for a in self.accounts.values() if a.email.lower() == name.lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(a.key for a in matches)
            raise ConfigError(f"{name} names more than one account ({names})", "name it as provider:email")
        raise ConfigError(f"no account {name}", "see `contactsync accounts`, or add it with `contactsync add-account`")

    def require_crm(self) -> CrmConfig:
        if self.crm is None:
            raise ConfigError("no CRM is connected", "run `contactsync crm connect --domain YOURCOMPANY --plan PLAN` first")
        return self.crm


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, "", {})}


def load(path: Path | None = None) -> Config:
    path = path or config_path()
    if not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line N, column M)".
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix that line or remove the file and set up again") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        crm = CrmConfig(**data["crm"]) if "crm" in data else None
        accounts = {}
        for key, raw in data.get("accounts", {}).items():
            account = AccountConfig(**raw)
            accounts[account.key] = account
    except TypeError as exc:
        raise ConfigError(f"{path} has an unknown or missing setting: {exc}", "fix the file or set up again") from None
    try:
        if crm is not None:
            crm.plan = parse(Plan, crm.plan, "crm.plan")
        for key, account in accounts.items():
            where = f'accounts."{key}"'
            account.direction = parse(Direction, account.direction, f"{where}.direction")
            account.conflicts = parse(ConflictPolicy, account.conflicts, f"{where}.conflicts")
            account.visibility = parse(Visibility, account.visibility, f"{where}.visibility") \
                if account.visibility else None
    except SettingError as exc:
        # Every command reads the whole file first (configure included), so the file is the fix.
        raise ConfigError(f"{path}: {exc}", f"edit {path} and give it one of the values listed") from None
    store = (data.get("secrets") or {}).get("store", "")
    if store and store not in SECRET_STORES:
        raise ConfigError(f"{path}: unknown secret store {store!r} in [secrets]", f"use one of: {', '.join(SECRET_STORES)}")
    return Config(crm=crm, accounts=accounts, secrets_store=store)


def save(config: Config, path: Path | None = None) -> None:
    path = path or config_path()
    paths.ensure_dir(path.parent, "config folder")
    data: dict[str, Any] = {}
    if config.secrets_store:
        data["secrets"] = {"store": config.secrets_store}
    if config.crm is not None:
        data["crm"] = _drop_empty(asdict(config.crm))
    data["accounts"] = {key: _drop_empty(asdict(acc)) for key, acc in sorted(config.accounts.items())}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
