"""`status` for people: what Pipedrive's Contact Sync status page shows, plus failures, per account."""

from __future__ import annotations

from typing import Any

from contactsync.cli.render import counts_line, id_table, out, plural, print_kv, when

# Recent events worth a line: the adds, updates and deletes on either side.
SHOWN = {
    ("crm", "create"): "added to Pipedrive", ("crm", "adopt"): "linked to an existing person",
    ("crm", "update"): "updated in Pipedrive", ("crm", "delete"): "deleted in Pipedrive",
    ("crm", "recover"): "re-created in Pipedrive", ("crm", "fail"): "failed",
    ("provider", "create"): "added to the address book", ("provider", "update"): "updated in the address book",
    ("provider", "delete"): "deleted in the address book", ("provider", "fail"): "failed",
}


def last_pass(row: dict[str, Any]) -> str:
    last = row["last_run"]
    if last is None:
        return "never"
    outcome = last["outcome"]
    if outcome == "running":
        return f"running now (started {when(last['started_at'])})"
    if outcome == "interrupted":
        return f"interrupted (started {when(last['started_at'])}); the next pass resumes it"
    kind = last.get("kind") or ("full" if last["full"] else "incremental")
    text = f"{when(last['finished_at'] or last['started_at'])}: {outcome}, {kind}"
    return f"{text} — {last['message']}" if last.get("message") else text


def summary_rows(row: dict[str, Any]) -> list[tuple[str, str]]:
    group = row["group"]["name"] or row["group"]["id"] or "(default)"
    arrow = "↔" if row["direction"] == "two-way" else "→"
    age = row["cursor_age_seconds"]
    rows = [
        ("sync", f"{row['provider']} \"{group}\" {arrow} Pipedrive ({row['direction']})"),
        ("visibility", row["visibility"]),
        ("contacts synced", str(row["linked"])),
        ("last pass", last_pass(row)),
        ("last pass → Pipedrive", counts_line(row["last_run_counts"]["to_crm"])),
        ("7 days → Pipedrive", counts_line(row["last_7_days"]["to_crm"])),
    ]
    if row["direction"] == "two-way":
        rows += [
            ("last pass → address book", counts_line(row["last_run_counts"]["to_provider"])),
            ("7 days → address book", counts_line(row["last_7_days"]["to_provider"])),
            ("conflicts (7 days)", str(row["conflicts"])),
        ]
    if row["not_recreated"]:
        rows.append(("deleted in Pipedrive, kept deleted", str(row["not_recreated"])))
    if row["handed_over"]:
        rows.append(("handed to another Pipedrive user", str(row["handed_over"])))
    if row["pending"]:
        rows.append(("creates to confirm on the next pass", str(row["pending"])))
    rows.append(("changes read up to", "nothing yet (the next pass reads everything)" if age is None
                 else when_seconds_ago(age)))
    return rows


def when_seconds_ago(seconds: int) -> str:
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return plural(seconds // 3600, "hour") + " ago"
    return plural(seconds // 86400, "day") + " ago"


def render_account(row: dict[str, Any]) -> None:
    print_kv(row["account"], summary_rows(row))
    recent = [e for e in row.get("recent_changes", row["recent"]) if (e["side"], e["action"]) in SHOWN]
    if recent:
        id_table(
            "Recent changes" + (f" (last {len(recent)}; {row['changes_total'] - len(recent)} earlier)"
                                if row.get("changes_total", 0) > len(recent) else ""),
            ["name", "change", "when", "contact"],
            [[e.get("name") or (f"person {e['crm_id']}" if e["crm_id"] else ""), SHOWN[(e["side"], e["action"])],
              when(e["at"]), e["contact"] or ""] for e in recent],
            ids=(3,),
        )
    if row["failures"]:
        id_table(
            f"Not synced ({plural(len(row['failures']), 'contact')}; retried on every pass)",
            ["name", "reason", "since", "contact"],
            [[f.get("name") or "", f["reason"], f"{when(f['since'])} ({plural(f['attempts'], 'attempt')})",
              f["contact"]] for f in row["failures"]],
            ids=(3,),
        )
    if row.get("skipped"):
        id_table(
            f"Skipped ({plural(len(row['skipped']), 'contact')}; cannot be synced as they are, waiting will not help)",
            ["name", "reason", "since", "contact"],
            [[f.get("name") or "", f["reason"], when(f["since"]), f["contact"]] for f in row["skipped"]],
            ids=(3,),
        )


def render_status(report: dict[str, Any]) -> None:
    if not report["accounts"]:
        out.print("No accounts yet. Add one with `contactsync add-account`.", markup=False)
    for row in report["accounts"]:
        render_account(row)
