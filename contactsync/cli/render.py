"""Rendering for people (rich) and for scripts (JSON on stdout)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from contactsync.engine import events
from contactsync.engine.actions import Action
from contactsync.engine.run import PassResult

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def kv_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


def counts_line(counts: dict[str, int]) -> str:
    shown = [f"{n} {name}" for name, n in counts.items() if n]
    return ", ".join(shown) or "no changes"


# The words of each event kind live with the kinds (engine/events.py).
PASS_WORDS = events.PASS_WORDS


def pass_summary(result: PassResult) -> dict[str, Any]:
    return {
        "account": result.account,
        "outcome": result.outcome,
        "full": result.full,
        "counts": {k: result.counts.get(k, 0) for k in PASS_WORDS},
        "failures": [{"contact": pid, "reason": reason} for pid, reason in result.failures],
        "notes": result.notes,
        "error": None if result.error is None else {"message": result.error.line(), "exit_code": result.error.exit_code},
    }


def render_pass(result: PassResult) -> None:
    if result.error is not None:
        return  # the error line is printed by the error boundary
    words = {PASS_WORDS[k]: n for k, n in result.counts.items() if k in PASS_WORDS}
    kind = "full" if result.full else "incremental"
    out.print(f"[bold]{result.account}[/bold] ({kind}): {counts_line(words)}")
    for note in result.notes:
        out.print(f"  note: {note}")
    for pid, reason in result.failures:
        out.print(f"  [yellow]not synced[/yellow] {pid}: {reason}")


def action_row(action: Action) -> dict[str, Any]:
    row: dict[str, Any] = {"action": action.kind, "contact": action.provider_id}
    contact = getattr(action, "contact", None)
    if contact is not None:
        row["name"] = contact.name
    for attr in ("crm_id", "reason"):
        if getattr(action, attr, None) is not None:
            row[attr] = getattr(action, attr)
    return row


def render_plan(result: PassResult) -> None:
    table = Table(title=f"{result.account}: planned (dry run, nothing written)", title_justify="left")
    for column in ("action", "contact", "name", "CRM id", "reason"):
        table.add_column(column)
    for action in result.plan:
        row = action_row(action)
        if row["action"] == "record-version":
            continue
        table.add_row(row["action"], row["contact"], row.get("name", ""), str(row.get("crm_id", "")), row.get("reason", ""))
    out.print(table)
