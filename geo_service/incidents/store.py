"""The incidents store: the only module that names the ``incidents`` and ``incident_photos`` tables in SQL.

Every read and write of incidents and their photos goes through these functions, whichever domain needs them
(cases, exports, maps, briefs). They run in the caller's transaction and never commit (README, Layout).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session


def set_status(
    session: Session, incident_ids: Sequence[str], to_status: str, *, from_status: str | None, by: str
) -> list[int]:
    """Move these incidents to ``to_status`` (only those in ``from_status`` when given, and not already there),
    bumping their version; returns the ids that changed."""
    if not incident_ids:
        return []
    rows = session.execute(
        text(
            "UPDATE incidents SET status = CAST(:to AS incident_status), version = version + 1, updated_by = :by, "
            "updated_at = now() WHERE id::text = ANY(:ids) AND status::text <> :to "
            "AND (CAST(:from AS text) IS NULL OR status::text = :from) RETURNING id"
        ),
        {"to": to_status, "from": from_status, "by": by, "ids": list(incident_ids)},
    ).scalars()
    return sorted(rows)


# --- for exports.collections ---
_EXPORT_COLUMNS = """i.id, {geom} AS geom, i.kind::text AS kind, i.status::text AS status, i.severity::text AS severity,
       i.observed_at, i.province_code, i.district_code, i.subdistrict_code, i.protected_area_codes, i.reserve_code,
       i.in_reserve, i.reserve_distance_m, i.area_m2, i.tags, i.description, i.reporter, i.created_by"""

# Every incident as the exports and the OGC API read it: the stored columns, the point as ``geom``. The
# collection adds the presentation (reference, local times, Buddhist Era dates, names, rai).
EXPORT_INCIDENTS_SQL = f"SELECT {_EXPORT_COLUMNS.format(geom='i.geom')}\nFROM incidents i"

# The incidents that have an affected-area polygon, that polygon as ``geom``; the same columns otherwise.
EXPORT_INCIDENT_AREAS_SQL = (
    f"SELECT {_EXPORT_COLUMNS.format(geom='i.area_geom')}\nFROM incidents i WHERE i.area_geom IS NOT NULL"
)
