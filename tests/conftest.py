from __future__ import annotations

import compileall
import functools
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import keyring
import pytest
import typer.testing
from hypothesis import HealthCheck, settings

# Property tests: ~50 examples per run by default; CONTACTSYNC_HYPOTHESIS=thorough
# runs 1000 (before a release, or to hunt a flaky sequence down).
settings.register_profile("default", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("CONTACTSYNC_HYPOTHESIS", "default"))

# The fixtures of the support modules, registered here once for every test module
# (modules import only the helpers and constants they use).
from carddav_support import dav  # noqa: F401  (a real Radicale server)
from cli_support import box  # noqa: F401  (the whole sandbox, for CLI tests)
import contactsync
from contactsync.auth.secrets import MemoryKeyring
from google_support import sandbox  # noqa: F401  (the Google emulator)
from microsoft_support import graph  # noqa: F401  (the Graph emulator)
from pipedrive_support import clock, crm, emulator, server  # noqa: F401  (the Pipedrive emulator and adapter)
from crm_contract import CRM_SUBJECTS, CrmSubject
from provider_contract import SUBJECTS, Subject


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    """Collect with bytecode caching on, even under PYTHONDONTWRITEBYTECODE.

    pytest keeps the assertion-rewritten test modules in __pycache__ only when Python may
    write bytecode; with the variable set, every xdist worker rewrote all test modules on
    every run (~2 s of CPU each), and each CLI subprocess (`python -m contactsync`) compiled
    contactsync again. The caches are the ones Python and pytest write without the variable
    (git ignores them); compileall skips the modules whose cache is current.
    """
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        compileall.compile_dir(Path(contactsync.__file__).parent, quiet=2)
        return (yield)
    finally:
        sys.dont_write_bytecode = saved


# Modules whose tests take seconds each (CLI subprocesses and kills, the state machines, whole
# sandboxes with faults, the OpenAPI check), run first: xdist hands tests out in collection
# order, so one of them collected near the end ran alone while the other worker sat idle.
SLOW_FIRST = (
    "test_sandbox_command.py", "test_kill_anywhere.py", "test_two_way_properties.py", "test_faults_converge.py",
    "test_carddav_reliability.py", "test_readme.py", "test_pipedrive_emulator.py", "test_one_way_properties.py",
    "test_carddav_cli.py", "test_signin_durability.py", "test_operations.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own CONTACTSYNC_HOME and an in-memory keyring."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CONTACTSYNC_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("CONTACTSYNC_SECRET_") or name == "CONTACTSYNC_DEBUG":
            monkeypatch.delenv(name)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True, scope="session")
def one_click_command_per_app() -> Iterator[None]:
    """typer.testing.CliRunner builds the whole click command tree from the Typer app on every
    invoke (~4 ms of CPU, some 600 times in the suite); the tree does not change, so it is
    built once per app. A Typer that renames the helper fails here, loudly."""
    build = functools.lru_cache(maxsize=None)(typer.testing._get_command)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", build)
        yield


@pytest.fixture(autouse=True)
def no_retry_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries of server errors and resets wait nothing in tests (contactsync.http.backoff_seconds
    and urllib3's Retry read the factor on each call): the retries still happen and are counted,
    the seconds between them were only idle time. Tests of the curve itself set it back."""
    monkeypatch.setattr("contactsync.http.RETRY_BACKOFF_FACTOR", 0.0)


@pytest.fixture(params=sorted(SUBJECTS))
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    """One provider under the contract suite (tests/provider_contract.py documents the interface)."""
    with SUBJECTS[request.param]() as value:
        yield value


@pytest.fixture(params=sorted(CRM_SUBJECTS))
def crm_subject(request: pytest.FixtureRequest) -> Iterator[CrmSubject]:
    """One CRM under the contract suite (tests/crm_contract.py documents the interface)."""
    with CRM_SUBJECTS[request.param]() as value:
        yield value
