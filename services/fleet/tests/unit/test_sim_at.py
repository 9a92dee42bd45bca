"""Which SIM rated usage of a line belongs to (fleet.repository.sim_at): the line's active
SIM, else the one deactivated most recently after the usage started."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fleet.models import Sim
from fleet.repository import sim_at

T = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def _sim(status: str, deactivated_at: datetime | None = None) -> Sim:
    return Sim(id=uuid.uuid4(), status=status, deactivated_at=deactivated_at)


def test_the_active_sim_of_the_line_takes_the_usage_even_if_listed_after_an_older_one():
    old = _sim("deactivated", T + timedelta(days=1))
    active = _sim("active")
    assert sim_at([old, active], T) is active


def test_usage_that_arrives_after_a_deactivation_counts_on_the_sim_that_had_the_line():
    newest_after = _sim("deactivated", T + timedelta(hours=2))
    older_after = _sim("deactivated", T + timedelta(hours=1))
    assert sim_at([newest_after, older_after], T) is newest_after  # newest first
    before = _sim("deactivated", T - timedelta(hours=1))
    assert sim_at([before], T) is None  # the SIM no longer had the line then
    assert sim_at([before, older_after], T) is older_after
    assert sim_at([], T) is None
