"""The demo prints what the real commands print: its CardDAV step, like `add-account carddav`."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from contactsync.cli import render, sandbox_cmds
from contactsync.config import AccountConfig
from contactsync.services import account_setup


def test_the_demo_carddav_step_prints_what_add_account_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    account = AccountConfig("carddav", "ann@example.com", group="g1", group_name="Contacts")
    monkeypatch.setattr(account_setup, "add_account", lambda *args, **kwargs: account)
    server = SimpleNamespace(username="ann@example.com", url="http://127.0.0.1:1", password="pw")
    demo, real = io.StringIO(), io.StringIO()
    for buffer in (demo, real):
        console = Console(file=buffer, width=200, color_system=None)
        monkeypatch.setattr(render, "out", console)
        monkeypatch.setattr(sandbox_cmds, "out", console)
        if buffer is demo:
            assert sandbox_cmds._add_carddav(SimpleNamespace(carddav=server)) == account.key  # type: ignore[arg-type]
        else:
            render.render_added(account)
    assert real.getvalue() and real.getvalue() in demo.getvalue(), demo.getvalue()


def test_the_demo_persons_table_folds_names_not_e_mails(monkeypatch: pytest.MonkeyPatch) -> None:
    emails = ["carla@initech.example", "carla.diaz.with.a.long.address@subsidiary.example.com"]
    person = {"id": 3, "name": "Carla [b]Diaz[/b] de la Fuente", "emails": [{"value": e} for e in emails],
              "phones": [{"value": "+1 555 0100"}], "org_id": 7, "owner_id": 2}
    box = SimpleNamespace(pipedrive=SimpleNamespace(orgs={7: {"id": 7, "name": "Initech"}}, persons=lambda: [person]))
    for terminal in (True, False):
        buffer = io.StringIO()
        monkeypatch.setattr(render, "out", Console(file=buffer, width=60, force_terminal=terminal, color_system=None))
        sandbox_cmds._persons_table(box, "Pipedrive")  # type: ignore[arg-type]
        assert ", ".join(emails) in buffer.getvalue() and "[b]Diaz[/b]" in buffer.getvalue(), buffer.getvalue()
