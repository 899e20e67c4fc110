"""Which UTC days a pulling job pulls at a run: the catch-up rule.

A window is a UTC day. It is **open** until ``settle`` after it ends (near-real-time detections of a day keep
arriving for some hours): an open day is pulled again at every run (the ingest is idempotent: what was stored
is ``unchanged``). A day pulled after it closed is **done** and never pulled again. After downtime the days
between the last pulled and today are missing from the record: the next run pulls them, each once (at most
``max_days`` back from today); the very first run of a job pulls ``initial_days`` ending today.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def is_closed(day: date, now: datetime, settle: timedelta) -> bool:
    """Whether the UTC day ``day`` has ended ``settle`` before ``now``."""
    return now >= datetime.combine(day + timedelta(days=1), time(0), UTC) + settle


def days_to_pull(
    now: datetime,
    recorded: dict[date, str],
    first_recorded: date | None,
    *,
    initial_days: int,
    max_days: int,
) -> list[date]:
    """The days to pull at ``now``: not ``done`` in ``recorded``, from the first recorded day (or
    ``initial_days`` back on a first run) and at most ``max_days`` back, to today (UTC), in order."""
    today = now.astimezone(UTC).date()
    if first_recorded is None:
        first = today - timedelta(days=initial_days - 1)
    else:
        first = max(first_recorded, today - timedelta(days=max_days - 1))
    n = (today - first).days + 1
    return [d for d in (first + timedelta(days=k) for k in range(n)) if recorded.get(d) != "done"]


def runs_of_days(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) ranges (one FIRMS request covers up to 10 days)."""
    out: list[tuple[date, date]] = []
    for d in days:
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out
