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


# --- for maps.layers, maps.overview, maps.case_map and reports.brief ---
# (imported here, not at the top: the top of this file is edited in parallel; hoist when merged)
from datetime import date, datetime  # noqa: E402


def district_counts(session: Session, lo: datetime, hi: datetime) -> dict[str, int]:
    """Incidents observed in [lo, hi) per district code (incidents with no district left out)."""
    rows = session.execute(
        text(
            "SELECT district_code, count(*) FROM incidents WHERE observed_at >= :lo "
            "AND observed_at < :hi AND district_code IS NOT NULL GROUP BY 1"
        ),
        {"lo": lo, "hi": hi},
    )
    return {code: n for code, n in rows}


def map_rows(
    session: Session, lo: datetime | None = None, hi: datetime | None = None, ids: list[int] | None = None
) -> list[dict]:
    """Incidents for a map, oldest first: observed in [lo, hi) when given, and among ``ids`` when given; with
    their position, district names (current boundaries) and first photo's id."""
    rows = session.execute(
        text("""
        SELECT i.id, i.kind::text AS kind, i.observed_at, i.description, i.reporter, i.status::text AS status,
               ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, d.name_th AS district_th, d.name_en AS district_en,
               (SELECT min(p.id) FROM incident_photos p WHERE p.incident_id = i.id) AS photo_id
        FROM incidents i
        LEFT JOIN current_admin_areas d ON d.code = i.district_code AND d.level = 'district'
        WHERE (CAST(:lo AS timestamptz) IS NULL OR (i.observed_at >= :lo AND i.observed_at < :hi))
          AND (CAST(:ids AS bigint[]) IS NULL OR i.id = ANY(:ids))
        ORDER BY i.observed_at"""),
        {"lo": lo, "hi": hi, "ids": ids},
    ).mappings()
    return [dict(r) for r in rows]


def months_observed(session: Session) -> list[date]:
    """The first day of every month (Asia/Bangkok) in which an incident was observed."""
    return list(
        session.execute(
            text("SELECT DISTINCT date_trunc('month', observed_at AT TIME ZONE 'Asia/Bangkok')::date FROM incidents")
        ).scalars()
    )


def _grid_sql(unit: str) -> str:
    if unit not in ("day", "week"):  # interpolated into the SQL: only these two words
        raise ValueError("unit is 'day' or 'week'")
    return f"""
        SELECT date_trunc('{unit}', observed_at AT TIME ZONE 'Asia/Bangkok')::date AS bucket,
               (round(ST_Y(geom) / :cell) * :cell)::float AS lat, (round(ST_X(geom) / :cell) * :cell)::float AS lon,
               count(*) AS n
        FROM incidents WHERE observed_at >= :lo AND observed_at < :hi
        GROUP BY 1, 2, 3"""


def time_grid_size(session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float) -> int:
    """How many (day or week, grid cell) groups the incidents observed in [lo, hi) make."""
    return session.execute(
        text(f"SELECT count(*) FROM ({_grid_sql(unit)}) g"), {"lo": lo, "hi": hi, "cell": cell}
    ).scalar_one()


def time_grid(session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float) -> list[dict]:
    """Incidents observed in [lo, hi) counted per day or week (Asia/Bangkok) and grid cell of ``cell`` degrees."""
    rows = session.execute(text(_grid_sql(unit) + " ORDER BY 1"), {"lo": lo, "hi": hi, "cell": cell}).mappings()
    return [dict(r) for r in rows]


def counts_by_kind_and_district(session: Session, start: date, end: date) -> list[tuple[str, str, int]]:
    """(kind, district code or '', count) of the incidents observed from ``start`` to ``end`` (Asia/Bangkok days,
    both included), ordered by kind and district."""
    rows = session.execute(
        text("""
        SELECT kind::text AS kind, coalesce(district_code, '') AS district, count(*) AS n FROM incidents
        WHERE (observed_at AT TIME ZONE 'Asia/Bangkok')::date BETWEEN :s AND :e GROUP BY 1, 2 ORDER BY 1, 2"""),
        {"s": start, "e": end},
    ).all()
    return [(k, d, n) for k, d, n in rows]


def freshness(session: Session) -> dict:
    """The latest observation time and the highest id of the incidents (None when there are none)."""
    return dict(
        session.execute(text("SELECT max(observed_at) AS incident_latest, max(id) AS incident_max_id FROM incidents"))
        .mappings()
        .one()
    )
