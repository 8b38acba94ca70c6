"""The dry run for people and for scripts: the plan a real pass would apply, contact by contact."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from contactsync.cli.render import id_table, out, plural
from contactsync.errors import SafetyStop

if TYPE_CHECKING:
    from contactsync.engine.dry_run import PlannedAction
    from contactsync.engine.run import PassResult

HEADINGS = {
    "create": "Create in Pipedrive", "adopt": "Link to a person already in Pipedrive",
    "update": "Update in Pipedrive", "delete": "Delete in Pipedrive",
    "forget": "Forget (no live person in Pipedrive)",
    # Two-way "sync", by the sides it writes: the words of the real pass's summary.
    "sync-crm": "Update in Pipedrive", "sync-provider": "Update in the address book",
    "sync-both": "Update in Pipedrive and in the address book",
    "sync-none": "Record what is already in step (nothing to write)",
    "create-contact": "Create in the address book", "delete-contact": "Delete in the address book",
    "claim-contact": "Link a contact an interrupted pass created", "skip": "Skip",
}
WITH_CHANGES = ("update", "sync-crm", "sync-provider", "sync-both")


def _heading_key(action: PlannedAction) -> str:
    """The heading an action is listed under: a two-way sync by the sides it writes."""
    if action.action != "sync":
        return action.action
    if len(action.writes) == 2:
        return "sync-both"
    return f"sync-{action.writes[0]}" if action.writes else "sync-none"


def show_value(value: Any) -> str:
    """A field's value on one line: lists of e-mails or phones by value, an address by its parts."""
    if value in (None, "", [], ()):
        return "(none)"
    if isinstance(value, (list, tuple)):
        return ", ".join(show_value(v) for v in value)
    if isinstance(value, dict):
        if "value" in value:
            return str(value["value"])
        return ", ".join(str(v) for k, v in value.items() if v and k != "label")
    return f'"{value}"' if isinstance(value, str) else str(value)


def plan_json(result: PassResult) -> dict[str, Any]:
    """The keys a dry run adds to its account's entry of `run --json` (schema contactsync/run/1)."""
    described = result.described
    stop = result.error if isinstance(result.error, SafetyStop) else None
    return {
        "plan": [asdict(a) for a in described.actions] if described else [],
        "stopped_by": None if stop is None else {"rail": stop.rail, "message": stop.message,
                                                 "allow_with": stop.allow_with},
        "creates_in_crm": {"organizations": described.organizations if described else [],
                           "custom_fields": described.custom_fields if described else []},
    }


def _who(action: PlannedAction) -> str:
    name = action.name or "(no name)"
    return f"{name} <{action.email}>" if action.email else name


def render_plan(result: PassResult) -> None:
    described = result.described
    if described is None:
        return
    planned = [_heading_key(a) for a in described.actions]
    summary = ", ".join(f"{planned.count(kind)} to {heading[0].lower()}{heading[1:]}"
                        for kind, heading in HEADINGS.items() if kind in planned) or "nothing to do"
    out.print(f"\n[bold]{escape(result.account)}[/bold]: dry run, nothing written — {escape(summary)}",
              soft_wrap=True)
    stop = result.error if isinstance(result.error, SafetyStop) else None
    if stop is not None:
        allow = f"; {stop.allow_with} lets it go ahead" if stop.allow_with else ""
        out.print(f"[red]A safety rail ({escape(stop.rail)}) would stop this pass:[/red] "
                  f"{escape(stop.message)}{escape(allow)}", soft_wrap=True)
    for kind, heading in HEADINGS.items():
        actions = [a for a in described.actions if _heading_key(a) == kind]
        if not actions:
            continue
        if kind in WITH_CHANGES:
            out.print(f"[bold]{heading} ({len(actions)})[/bold]")
            for a in actions:
                person = f" (person {a.crm_id})" if a.crm_id else ""
                out.print(f"  {_who(a)}  {a.contact}{person}", soft_wrap=True, markup=False, highlight=False)
                for change in a.changes:
                    out.print(f"      {change.field}: {show_value(change.before)} → {show_value(change.after)}",
                              soft_wrap=True, markup=False, highlight=False)
                if a.reason:
                    out.print(f"      {a.reason}", soft_wrap=True, markup=False)
            continue
        id_table(
            f"{heading} ({len(actions)})",
            ["name", "e-mail", "person", "reason", "contact"],
            [[a.name or "", a.email or "", str(a.crm_id or ""), a.reason or "", a.contact or ""] for a in actions],
            ids=(1, 4),
        )
    gains = []
    if described.organizations:
        gains.append(f"{plural(len(described.organizations), 'organization')}: {', '.join(described.organizations)}")
    if described.custom_fields:
        gains.append(f"{plural(len(described.custom_fields), 'custom field')}: {', '.join(described.custom_fields)}")
    if gains:
        out.print("Pipedrive would gain " + "; ".join(gains), soft_wrap=True, markup=False)
