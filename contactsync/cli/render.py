"""Rendering for people (rich) and for scripts (JSON on stdout)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from contactsync.cli.envelope import error_object
from contactsync.engine import events

if TYPE_CHECKING:
    from contactsync.services.account_setup import ConfigureResult
    from contactsync.config import AccountConfig
    from contactsync.crm.base import CrmUser
    from contactsync.engine.actions import Action
    from contactsync.engine.run import PassResult
    from contactsync.providers.base import Group
    from contactsync.settings import Plan, Visibility

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_command(command: str) -> None:
    """A command to copy: never wrapped (a pasted half runs without its options), no markup."""
    out.print(f"  {command}", soft_wrap=True, markup=False, highlight=False)


WORD_MAX = 20  # the widest word a table column makes room for; a longer one folds


def id_table(title: str, columns: list[str], rows: list[list[str]], ids: tuple[int, ...] = (0,)) -> None:
    """Print a table whose identifier columns (`ids`: account keys, contact ids, URLs) are never cut or wrapped.

    Other columns fold. Off a terminal the table is as wide as it needs (a pipe has
    no width); on a terminal too narrow for the identifiers, each row becomes a block
    of `column: value` lines instead. Cells are text, never markup: a contact named
    `[bold]x` shows as written.
    """
    id_widths = {i: max([cell_len(columns[i]), *(cell_len(r[i]) for r in rows)]) for i in ids}
    # Other columns wrap between words, never inside one: each is at least as wide as
    # its header and its longest word (up to WORD_MAX; only a longer word folds).
    others = [i for i in range(len(columns)) if i not in id_widths]
    word_widths = {i: min(WORD_MAX, max([cell_len(columns[i]), *(cell_len(w) for r in rows for w in r[i].split())]))
                   for i in others}
    # Each column costs its width plus 3 for borders and padding.
    needed = 1 + sum(w + 3 for w in id_widths.values()) + sum(w + 3 for w in word_widths.values())
    if out.is_terminal and out.width < needed:
        out.print(title, style="bold", soft_wrap=True, markup=False)
        for row in rows:
            out.print(row[ids[-1]], soft_wrap=True, markup=False, highlight=False)
            for i, (name, value) in enumerate(zip(columns, row, strict=True)):
                if i != ids[-1] and value:
                    out.print(f"  {name}: {value}", soft_wrap=True, markup=False, highlight=False)
        return
    width = out.width if out.is_terminal or out.width >= needed else needed  # a pipe has no width
    # Every width is set here, not left to rich: rich narrows a table that does not fit
    # by shaving every column, identifiers included (their end would be cut off).
    widths = _spread(word_widths, {i: max([cell_len(columns[i]), *(cell_len(r[i]) for r in rows)]) for i in others},
                     width - needed)
    table = Table()
    for i, name in enumerate(columns):
        if i in id_widths:
            table.add_column(name, no_wrap=True, width=id_widths[i], overflow="ignore")
        else:
            table.add_column(name, overflow="fold", width=widths[i])
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console = out if width == out.width else Console(file=out.file, width=width, highlight=False, color_system=None)
    console.print(Text(title, style="table.title"), soft_wrap=True)  # it may name an account: never wrapped
    console.print(table)


def _spread(least: dict[int, int], most: dict[int, int], spare: int) -> dict[int, int]:
    """Column widths from `least` up to `most`, `spare` cells shared one at a time where most is missing."""
    widths = dict(least)
    while spare > 0:
        short = [i for i in widths if widths[i] < most[i]]
        if not short:
            break
        widest_gap = max(short, key=lambda i: (most[i] - widths[i]) / max(most[i], 1))
        widths[widest_gap] += 1
        spare -= 1
    return widths


def effective_visibility(setting: Visibility | str | None, plan: Plan | str | None) -> str:
    """The setting in force: the chosen one, else the plan's default ("" with no CRM connected)."""
    if setting or not plan:
        return str(setting or "")
    from contactsync.crm.pipedrive_plans import effective_setting

    return str(effective_setting(None, plan))


def visibility_text(setting: Visibility | str | None, plan: Plan | str | None) -> str:
    """A visibility as every command shows it: the setting, and "(plan default)" when not chosen."""
    if setting:
        return str(setting)
    return f"{effective_visibility(setting, plan)} (plan default)".strip()


def render_connected(domain: str, user: CrmUser, verb: str = "Connected") -> None:
    admin = " (admin)" if user.is_admin else ""
    out.print(f"{verb} to Pipedrive company {domain} as {user.name} <{user.email}>{admin}.", soft_wrap=True,
              markup=False)


def render_added(account: AccountConfig) -> None:
    out.print(f"Added {account.key}; syncing group \"{account.group_name}\", {account.direction}.", soft_wrap=True,
              markup=False)
    out.print(f"Next: contactsync run --once --account {account.key}", soft_wrap=True, markup=False)


def render_configured(result: ConfigureResult, plan: str | None) -> None:
    a = result.account
    rows = [("group", a.group_name), ("direction", a.direction), ("conflicts", a.conflicts),
            ("visibility", visibility_text(a.visibility, plan)), ("adopt", str(a.adopt).lower())]
    print_kv(a.key, rows)
    if result.group_changed and not result.pruned:
        out.print(f"{plural(result.unlinked, 'linked contact')} outside the new group: unlinked, their persons kept.")
    elif result.pruned:
        out.print("Persons of contacts outside the new group will be deleted on the next run (safety rails apply).")


def render_groups(account: str, groups: list[Group]) -> None:
    """`groups` for people, as the command and the demo show it."""
    id_table(
        f"{account}: sync groups ({plural(len(groups), 'group')})",
        ["id", "name", "contacts", "default"],
        [[g.id, g.name, "" if g.member_count is None else str(g.member_count), "yes" if g.is_default else ""]
         for g in groups],
    )


def when(stamp: str | None, now: datetime | None = None) -> str:
    """A stored UTC time as people read it: relative, then the local clock time ("3 min ago, 14:02")."""
    if not stamp:
        return "never"
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    seconds = int((now - at).total_seconds())
    local = at.astimezone()
    if seconds < 0:
        ago = "in the future"
    elif seconds < 60:
        ago = "just now"
    elif seconds < 3600:
        ago = f"{seconds // 60} min ago"
    elif seconds < 86400:
        ago = plural(seconds // 3600, "hour") + " ago"
    else:
        ago = plural(seconds // 86400, "day") + " ago"
    clock = local.strftime("%H:%M") if seconds < 86400 else local.strftime("%Y-%m-%d %H:%M")
    return f"{ago}, {clock}"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def print_kv(title: str, rows: list[tuple[str, str]]) -> None:
    """A titled two-column table. The title (an account key) is a line of its own, never wrapped
    to the table's width; the values are text, never markup."""
    out.print(Text(title, style="table.title"), soft_wrap=True)
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, Text(value))  # values quote names the user chose: text, never markup
    out.print(table)


# The words of each event kind live with the kinds (engine/events.py); keys are also
# the keys of `counts` in `run --json`.
PASS_WORDS = events.PASS_WORDS


def counts_line(counts: Mapping[str, int]) -> str:
    """Counts by event kind in words, singular or plural as the number asks: "1 photo skipped"."""
    shown = []
    for kind, n in counts.items():
        if n:
            many = PASS_WORDS.get(kind, kind)
            shown.append(f"{n} {events.ONE_WORDS.get(kind, many) if n == 1 else many}")
    return ", ".join(shown) or "no changes"


def pass_summary(result: PassResult) -> dict[str, Any]:
    return {
        "account": result.account,
        "outcome": result.outcome,
        "full": result.full,
        "counts": {k: result.counts.get(k, 0) for k in PASS_WORDS},
        "failures": [{"contact": pid, "reason": reason} for pid, reason in result.failures],
        "skipped": [{"contact": pid, "reason": reason} for pid, reason in result.skipped],
        "notes": result.notes,
        "error": None if result.error is None else error_object(result.error),
    }


def render_pass(result: PassResult) -> None:
    if result.error is not None:
        return  # the error line is printed by the error boundary
    # In the words' own order, not the order the pass's threads counted them in: the same pass
    # prints the same line (a script or a log comparison may read it).
    words = {k: result.counts[k] for k in PASS_WORDS if result.counts.get(k)}
    kind = result.kind
    out.print(f"[bold]{escape(result.account)}[/bold] ({kind}): {escape(counts_line(words))}", soft_wrap=True)
    for note in result.notes:
        out.print(f"  note: {note}", soft_wrap=True, markup=False)
    for pid, reason in result.failures:
        out.print(f"  [yellow]failing (retried next pass)[/yellow] {escape(pid)}: {escape(reason)}", soft_wrap=True)
    for pid, reason in result.skipped:
        out.print(f"  [yellow]skipped (cannot be synced as it is)[/yellow] {escape(pid)}: {escape(reason)}",
                  soft_wrap=True)
