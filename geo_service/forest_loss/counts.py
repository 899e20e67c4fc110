"""Counts of forest clearing for the transparency page (issue 17): the one read of ``clearing_patches`` that
publishes figures, counts and areas only (no geometry, no verification or field notes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def district_month_counts(session: Session) -> dict[str, Any]:
    """Clearing patches of the area of interest that were not merged into another, by district code ('' for a
    patch in no district of a loaded province, e.g. in the area's buffer) and month of their first alert date:
    ``{"rows": [(district, month, patches, area_m2)], "last_update": datetime | None}``.

    ``first_date`` is the alert system's own calendar day (already a local date), so its month is the month in
    Asia/Bangkok. ``last_update``: the latest change of any patch (a merge or a new ingest included)."""
    rows = session.execute(
        text("""
        SELECT coalesce(district_code, '') AS district, date_trunc('month', first_date)::date AS month,
               count(*) AS n, sum(area_m2) AS area_m2
        FROM clearing_patches WHERE merged_into IS NULL AND in_aoi GROUP BY 1, 2 ORDER BY 1, 2""")
    ).all()
    last = session.execute(text("SELECT max(updated_at) FROM clearing_patches")).scalar()
    return {"rows": [(d, m, n, float(a)) for d, m, n, a in rows], "last_update": last}
