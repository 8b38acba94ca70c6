"""Progress: a total known from the start and moving with every write; plain lines off a terminal."""

from __future__ import annotations

import re

from cli_support import EMAIL, cli, cli_json, setup_account
from contactsync.cli import progress
from contactsync.cli.progress import PassProgress, PlainLines


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[int, int | None]] = []
        self.closed = False

    def update(self, state: PassProgress) -> None:
        self.updates.append((state.done, state.total))

    def close(self, state: PassProgress) -> None:
        self.closed = True


def test_the_total_is_known_from_the_start_and_settles_on_the_plan():
    display = Recorder()
    state = PassProgress("google:ann@example.com", display, clock=lambda: 0.0)
    assert state.total is None
    state.on_start("first", 3000)
    assert state.total == 3000 and state.kind == "first"
    # As the engine reports: a page's writes as they are applied, then the page as read.
    state.on_applied(1, 1000)
    assert state.total == 3000
    state.on_applied(1000, 1000)
    state.on_read(1000)  # a third read, a thousand writes: about 3000 in all
    assert state.total == 3000
    state.on_applied(1001, 1990)  # the second page's writes do not count twice
    assert state.total == 3000
    state.on_applied(1990, 1990)
    state.on_read(1000)
    assert state.total == round(1990 * 3000 / 2000)
    state.on_applied(2950, 2950)
    state.on_read(1000)  # all read: the plan is the total
    assert state.total == 2950
    state.on_read(-1)
    assert display.closed and display.updates[-1] == (2950, 2950)


def test_plain_lines_come_at_least_every_ten_seconds():
    now = [0.0]
    lines = PlainLines(every=10.0, clock=lambda: now[0], ticker=False)
    state = PassProgress("google:ann@example.com", lines, clock=lambda: now[0])
    printed = []
    lines._print = lambda s: (printed.append(s.line()), setattr(lines, "last", now[0]))  # type: ignore[method-assign]
    state.on_start("incremental", None)
    for _ in range(12):
        now[0] += 3.0
        state.on_applied(state.done + 1, 12)
    assert len(printed) == 3  # at 12 s, 24 s and 36 s
    assert printed[0].startswith("google:ann@example.com: incremental pass, 4 of 12 written")


def test_off_a_terminal_run_prints_a_line_per_write_with_a_total_from_the_start(box, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)  # every update prints: the lines show each write
    setup_account(box)
    r = cli("run", "--once")
    assert r.exit_code in (0, 1), r.output
    lines = [line for line in r.stderr.splitlines() if "pass," in line]
    assert lines and all(line.startswith(f"google:{EMAIL}: first pass") for line in lines)
    done = [int(m.group(1)) for m in (re.search(r"(\d+) of \d+ written", line) for line in lines) if m]
    totals = {int(m.group(1)) for m in (re.search(r"of (\d+) written", line) for line in lines) if m}
    assert done[-1] >= 10 and sorted(done) == done  # moves with every write
    assert all(re.search(r"\d+ of \d+ written", line) for line in lines)  # a total from the first line on
    assert 0 not in totals  # (Google's totalPeople), never "?"
    assert "(first)" in r.stdout
    assert cli_json("status", "status")["accounts"][0]["last_run"]["kind"] == "first"
    assert "ok, first" in " ".join(cli("status").stdout.split())  # status says what run said
    r = cli("run", "--once")
    assert "(incremental)" in r.stdout


def test_a_pass_says_what_it_is():
    from contactsync.engine.run import pass_kind
    from contactsync.store.db import RunRecord

    def run(outcome: str | None) -> RunRecord:
        return RunRecord(1, "google:ann@example.com", "2026-01-01T00:00:00+00:00", None, True, outcome, None)

    assert pass_kind(None, first_sync=True, complete=True) == "first"
    assert pass_kind(run(None), first_sync=True, complete=True) == "continued"  # killed mid-pass
    assert pass_kind(run("interrupted"), first_sync=False, complete=False) == "continued"
    assert pass_kind(run("ok"), first_sync=False, complete=False) == "incremental"
    assert pass_kind(run("partial"), first_sync=False, complete=True) == "full"
    assert pass_kind(run("failed"), first_sync=False, complete=False) == "continued"
    # A safety rail's stop interrupted nothing: all but the held-back deletions were applied.
    assert pass_kind(run("stopped"), first_sync=False, complete=False) == "incremental"


def bar_output(monkeypatch, width: int) -> str:
    """What a Bar draws on a terminal `width` columns wide, colours and cursor moves taken out."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    monkeypatch.setattr(progress, "err", console)
    bar = progress.Bar()
    state = PassProgress("google:[bold]x@example.com", bar, clock=lambda: 0.0)
    state.on_start("first", 3000)
    state.on_applied(1, 1000)
    state.on_applied(1000, 1000)  # the first page's writes, then the page as read
    state.on_read(1000)
    state.on_applied(1001, 1500)
    state.on_read(-1)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", console.file.getvalue())  # type: ignore[attr-defined]


def test_a_wide_bar_shows_the_total_the_contacts_read_and_the_account_as_it_is(monkeypatch):
    drawn = bar_output(monkeypatch, 120)
    assert "google:[bold]x@example.com (first)" in drawn  # no markup taken from an account key
    assert "1001/3000" in drawn and "1000 of 3000 read" in drawn


def test_a_narrow_bar_keeps_the_words_and_folds_them(monkeypatch):
    drawn = " ".join(bar_output(monkeypatch, 60).split())
    assert "google:[bold]x@example.com: first pass, 1001 of 3000 written, 1000 of 3000 read, 0/s" in drawn


def test_an_unknown_count_is_not_made_up():
    state = PassProgress("carddav:ann@example.com", Recorder(), clock=lambda: 0.0)
    state.on_start("incremental", None)
    assert state.line() == "carddav:ann@example.com: incremental pass, 0 written, 0 read, 0/s"
    state.on_read(5)
    state.on_applied(1, 2)
    assert state.line() == "carddav:ann@example.com: incremental pass, 1 of 2 written, 5 read, 0/s"


def test_an_outlook_first_pass_has_graphs_count_from_its_first_line(box, monkeypatch):
    from cli_support import setup_microsoft

    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    setup_account(box)
    setup_microsoft(box)
    r = cli("run", "--once", "--account", f"microsoft:{box.microsoft_email}")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stderr.splitlines() if "pass," in line]
    assert lines and all(line.startswith(f"microsoft:{box.microsoft_email}: first pass") for line in lines)
    assert re.search(r"\d+ of 4 written, 0 of 4 read", lines[0]), lines  # Graph's @odata.count, before a page
    assert "4 of 4 written, 4 of 4 read" in lines[-1], lines


def test_a_pass_that_raised_leaves_no_display_running():
    from contactsync.config import AccountConfig
    from contactsync.engine.run import PassOptions

    options = PassOptions()
    displays = progress.progress_factory(options, quiet=False)
    assert displays is not None and progress.progress_factory(options, quiet=True) is None
    displays(AccountConfig("google", "ann@example.com"))
    first = displays.current
    assert first is not None and options.on_start == first.on_start
    first.on_start("first", 10)  # the pass starts its ticker, then raises before its end
    displays(AccountConfig("microsoft", "ann@outlook.example"))
    second = displays.current
    assert first.closed and first.display._stop.is_set()  # type: ignore[attr-defined]
    assert second is not None and not second.closed and options.on_applied == second.on_applied
    displays.close()
    assert second.closed


def test_a_dry_run_counts_the_contacts_read_and_writes_nothing():
    now = [0.0]
    state = PassProgress("google:ann@example.com", Recorder(), clock=lambda: now[0], dry_run=True)
    state.on_start("first", 3000)
    assert (state.completed, state.bar_total) == (0, 3000)
    now[0] = 2.0
    state.on_read(1000)
    assert (state.completed, state.bar_total) == (1000, 3000)
    assert state.line() == "google:ann@example.com: first pass, dry run, nothing written, 1000 of 3000 read, 500/s"
