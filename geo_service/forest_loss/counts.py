"""Counts of forest clearing for the transparency page (issue 17): the one read of ``clearing_patches`` that
publishes figures, counts and areas only (no geometry, no verification or field notes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.forest_loss.queries import EXPORT_DISTRICT_MONTHS_SQL


def district_month_counts(session: Session) -> dict[str, Any]:
    """Current clearing patches (not merged into another) of the area of interest, by district and month of their
    first alert date, counted as the summaries and the aggregate collection count them (``queries.EXPORT_DISTRICT_MONTHS_SQL``): the part of each patch inside
    each district of the area's provinces, ``n`` the patches with a part in it; a patch across the province line
    adds its part inside only, and a neighbour's district never appears:
    ``{"rows": [(district, month, patches, area_m2)], "last_update": datetime | None}``.

    ``first_date`` is the day the alert system gives (not shifted). ``last_update``: the latest change of any patch
    (a merge or a new ingest included)."""
    rows = session.execute(
        text(f"SELECT district_code, month_start, patches, area_m2 FROM ({EXPORT_DISTRICT_MONTHS_SQL}) t ORDER BY 1, 2")
    ).all()
    last = session.execute(text("SELECT max(updated_at) FROM clearing_patches")).scalar()
    return {"rows": [(d, m, n, float(a)) for d, m, n, a in rows], "last_update": last}
