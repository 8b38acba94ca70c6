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
