"""`status` for people: totals and recent changes with names, failures, local relative times, running vs interrupted."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

from rich.console import Console
from typer.testing import CliRunner

from cli_support import EMAIL, cli, cli_json, google_rn, setup_account
from contactsync import config as cfg
from contactsync.cli import app, render
from contactsync.engine.lock import account_lock
from contactsync.store import LinkStore


def test_status_lists_recent_changes_with_names_and_failures(box, monkeypatch):
    monkeypatch.setattr(render.out, "_width", 200)  # rich reads COLUMNS once: cells on one line
    setup_account(box)
    assert cli("run", "--once").exit_code in (0, 1)
    box.google.edit_person(google_rn(box, "Lena Fischer"), {"organizations": [{"name": "Contoso"}]})
    assert cli("run", "--once").exit_code in (0, 1)
    r = CliRunner().invoke(app, ["status"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "Recent changes" in text
    assert "Lena Fischer" in text and "updated in Pipedrive" in text and "added to Pipedrive" in text
    assert "min ago" in text or "just now" in text
    assert "T00:" not in r.stdout and "+00:00" not in r.stdout  # no raw ISO stamps
    data = cli_json("status", "status")["accounts"][0]
    names = {e["name"] for e in data["recent"]}
    assert "Lena Fischer" in names
    for failure in data["failures"]:  # the seed has one contact without a name: named by nothing, listed by id
        assert failure["contact"] in r.stdout


def test_a_running_pass_is_told_apart_from_an_interrupted_one(box):
    setup_account(box)
    store = LinkStore.open(cfg.state_path())
    store.start_run(f"google:{EMAIL}", False)  # a pass that never finished
    store.close()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with account_lock(cfg.state_dir(), f"google:{EMAIL}"):
            held.set()
            release.wait(20)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        data = cli_json("status", "status")["accounts"][0]
        assert data["running"] is True and data["last_run"]["outcome"] == "running"
        assert "running now" in cli("status").stdout
    finally:
        release.set()
        thread.join()
    data = cli_json("status", "status")["accounts"][0]
    assert data["running"] is False and data["last_run"]["outcome"] == "interrupted"
    assert "interrupted" in cli("status").stdout


def test_times_are_relative_and_local():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    stamp = (now - timedelta(minutes=3)).isoformat()
    local = (now - timedelta(minutes=3)).astimezone().strftime("%H:%M")
    assert render.when(stamp, now) == f"3 min ago, {local}"
    assert render.when((now - timedelta(hours=1)).isoformat(), now).startswith("1 hour ago")
    assert render.when((now - timedelta(days=2)).isoformat(), now).startswith("2 days ago")
    assert render.when(None) == "never"


def test_counts_in_words_agree_in_number():
    assert render.counts_line({"photo-skip": 1, "photo": 2}) == "1 photo skipped, 2 photos added"
    assert render.counts_line({"create": 1, "truncate": 1}) == "1 created, 1 value cut at the CRM's limit"
    assert render.plural(1, "account") == "1 account" and render.plural(2, "account") == "2 accounts"


def test_identifiers_are_never_cut_or_wrapped(monkeypatch):
    key = "microsoft:someone.with.a.rather.long.address@subsidiary.outlook.example"
    rows = [[key, "Contacts", "two-way", "owner-role-and-below (plan default)"]]
    for terminal in (True, False):
        buffer = io.StringIO()
        console = Console(file=buffer, width=40, force_terminal=terminal, color_system=None)
        monkeypatch.setattr(render, "out", console)
        render.id_table("Accounts", ["account", "group", "direction", "visibility"], rows)
        assert key in buffer.getvalue(), buffer.getvalue()
        if terminal:  # too narrow for a table: one block per row, every value whole
            assert "visibility: owner-role-and-below (plan default)" in buffer.getvalue()


def test_a_deleted_person_keeps_its_name_in_recent_changes(box, monkeypatch):
    monkeypatch.setattr(render.out, "_width", 200)
    setup_account(box)
    assert cli("run", "--once").exit_code in (0, 1)
    box.google.delete_person(google_rn(box, "Lena Fischer"))
    assert cli("run", "--once").exit_code in (0, 1)
    recent = cli_json("status", "status")["accounts"][0]["recent"]
    deleted = [e for e in recent if e["action"] == "delete"]
    assert deleted and all(e["name"] == "Lena Fischer" for e in deleted), deleted
    rows = [line for line in cli("status").stdout.splitlines() if "deleted in Pipedrive" in line]
    assert rows and all("Lena Fischer" in line for line in rows), rows


def test_narrow_tables_wrap_between_words_never_inside_one(monkeypatch):
    rows = [["Lena Fischer", "updated in Pipedrive", "3 min ago, 02:15", "people/c1234567890"],
            ["person 15", "deleted in Pipedrive", "3 min ago, 02:15", "people/c99"]]
    for terminal in (True, False):
        buffer = io.StringIO()
        monkeypatch.setattr(render, "out", Console(file=buffer, width=60, force_terminal=terminal, color_system=None))
        render.id_table("Recent changes", ["name", "change", "when", "contact"], rows, ids=(3,))
        accounts = [["google:ann@example.com", "myContacts (default)", "two-way", "owner-followers (default)"]]
        render.id_table("Accounts", ["account", "group", "direction", "visibility"], accounts)
        words = set(buffer.getvalue().replace("│", " ").replace("┃", " ").replace(": ", " ").split())
        cells = [*rows, *accounts, ["name", "change", "when", "contact", "group", "direction", "visibility"]]
        for word in {w for r in cells for cell in r for w in cell.split()}:
            assert word in words, (word, buffer.getvalue())


def test_recent_changes_show_the_persons_not_their_photos(box, monkeypatch):
    monkeypatch.setattr(render.out, "_width", 200)
    setup_account(box)
    assert cli("run", "--once").exit_code in (0, 1)
    data = cli_json("status", "status")["accounts"][0]
    created = data["last_run_counts"]["to_crm"]["create"]
    assert data["last_run_counts"]["to_crm"]["photo"]  # the seed's photos: events that crowded the creates out
    assert not {e["action"] for e in data["recent_changes"]} - {"create", "adopt", "fail", "update"}
    assert " ".join(cli("status").stdout.split()).count("added to Pipedrive") == created
    for name in ("Lena Fischer", "Priya Natarajan"):
        box.google.edit_person(google_rn(box, name), {"organizations": [{"name": "Initech"}]})
    assert cli("run", "--once").exit_code in (0, 1)
    data = cli_json("status", "status")["accounts"][0]
    assert len(data["recent_changes"]) == 10 and data["changes_total"] > 10
    text = cli("status").stdout
    assert "updated in Pipedrive" in text and f"{data['changes_total'] - 10} earlier" in text


def test_a_table_that_must_fold_keeps_its_identifiers_whole_and_its_cells_as_written(monkeypatch):
    # Wider than 60 columns as written, so rich would shave every column, the id's too.
    rows = [["Kenji Watanabe", "added to Pipedrive", "just now, 10:48", "/ann@icloud.example/contacts/seed-1.vcf"],
            ["[bold]Astrid[/bold] Lindqvist", "added to Pipedrive", "just now, 10:48",
             "/ann@icloud.example/contacts/seed-0.vcf"]]
    for terminal in (True, False):
        buffer = io.StringIO()
        monkeypatch.setattr(render, "out", Console(file=buffer, width=60, force_terminal=terminal, color_system=None))
        render.id_table("Recent [red]changes[/red]", ["name", "change", "when", "contact"], rows, ids=(3,))
        text = buffer.getvalue()
        assert "Recent [red]changes[/red]" in text
        for row in rows:
            assert f"│ {row[3]} │" in text or f"{row[3]}\n" in text, text  # whole, its border or line end after it
        assert "[bold]Astrid[/bold]" in text  # one word under WORD_MAX: never folded


def test_names_and_error_lines_with_brackets_print_as_written(box, monkeypatch):
    from contactsync.cli import errors
    from contactsync.errors import ContactSyncError

    monkeypatch.setattr(render.out, "_width", 200)
    setup_account(box)
    box.google.add_person({"names": [{"givenName": "[bold]Mallory[/bold]"}], "memberships": [
        {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}]})
    assert cli("run", "--once").exit_code in (0, 1)
    assert "[bold]Mallory[/bold]" in cli("status").stdout

    buffer = io.StringIO()
    monkeypatch.setattr(render, "err", Console(file=buffer, width=200, color_system=None))
    errors.fail(ContactSyncError("the group [red]Clients[/red] is gone", "choose another with `--group [NAME]`"))
    assert "the group [red]Clients[/red] is gone — choose another with `--group [NAME]`" in buffer.getvalue()


def test_an_account_key_over_its_table_is_one_line(monkeypatch):
    key = "microsoft:someone.with.a.rather.long.address@subsidiary.outlook.example"
    for terminal in (True, False):
        buffer = io.StringIO()
        monkeypatch.setattr(render, "out", Console(file=buffer, width=60, force_terminal=terminal, color_system=None))
        render.print_kv(key, [("group", "[b]Clients[/b]"), ("direction", "one-way")])
        assert buffer.getvalue().splitlines()[0].strip() == key and "[b]Clients[/b]" in buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        render.id_table(f"{key}: sync groups (1 group)", ["id", "name"], [["contacts", "Contacts"]])
        assert buffer.getvalue().splitlines()[0].strip() == f"{key}: sync groups (1 group)"


def test_a_pass_line_lists_its_counts_in_one_order_whatever_order_they_were_counted_in(capsys):
    from collections import Counter

    from contactsync.engine.run import PassResult

    lines = []
    for order in (["photo", "adopt", "create"], ["create", "photo", "adopt"]):
        counts = Counter({kind: {"create": 9, "adopt": 1, "photo": 2}[kind] for kind in order})
        render.render_pass(PassResult("google:ann@example.com", counts=counts, kind="first"))
        lines.append(capsys.readouterr().out.strip())
    assert lines[0] == lines[1] == "google:ann@example.com (first): 9 created, 1 adopted, 2 photos added"
