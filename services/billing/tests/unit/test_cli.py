"""portal-billing: the progress bar, its ETA, and following a run to its end."""

from __future__ import annotations

import io
from typing import Any

from billing.cli import BillingApi, Progress, exit_code, follow, format_duration, progress_line


def _run(status: str, done: int, failed: int, total: int) -> dict[str, Any]:
    return {
        "period": "2026-11",
        "status": status,
        "done_accounts": done,
        "failed_accounts": failed,
        "total_accounts": total,
    }


def test_the_eta_comes_from_the_rate_seen_while_watching():
    line = progress_line(
        Progress.of(_run("running", 240, 10, 1000)), worked_s=10, worked_accounts=50
    )
    # 50 accounts in 10 s = 5/s; 750 left -> 150 s.
    assert "[#######.......................]  25% 250/1000 accounts" in line
    assert "(240 done, 10 failed)" in line
    assert "5.0 accounts/s, ETA 0:02:30" in line


def test_a_pending_run_waits_for_a_worker_and_shows_no_eta():
    line = progress_line(Progress.of(_run("pending", 0, 0, 0)), worked_s=3, worked_accounts=0)
    assert line.endswith("waiting for a billing worker")


def test_a_finished_run_shows_its_status_instead_of_an_eta():
    line = progress_line(Progress.of(_run("failed", 9, 1, 10)), worked_s=2, worked_accounts=10)
    assert "[##############################] 100% 10/10" in line
    assert line.endswith("- failed") and "ETA" not in line


def test_durations_are_hours_minutes_seconds():
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(-1) == "0:00:00"


class _Api(BillingApi):
    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    def run(self, run_id: str) -> dict[str, Any]:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def test_following_a_run_redraws_until_it_finishes_and_exits_1_on_failed_accounts():
    api = _Api(
        [
            _run("pending", 0, 0, 0),
            _run("running", 0, 0, 4),
            _run("running", 2, 0, 4),
            _run("failed", 3, 1, 4),
        ]
    )
    ticks = iter(range(100))
    out = io.StringIO()
    last = follow(api, "r1", out, clock=lambda: float(next(ticks)), sleep=lambda _s: None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("waiting for a billing worker")
    assert "2/4 accounts" in lines[2] and "ETA" in lines[2]
    assert lines[3].endswith("- failed")
    assert (last.done, last.failed, exit_code(last)) == (3, 1, 1)
