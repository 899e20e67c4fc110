"""The hotspots store: reads and writes of detections, ingest batches and fire events.

With ``hotspots.ingest`` (the COPY fast path) and ``hotspots.events`` (event clustering in SQL) it is the only
code that names these tables in SQL; other domains call its functions. They run in the caller's transaction and
never commit (README, Layout).
"""

# --- for maps.layers, maps.hotspot_layers and reports.brief ---
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


def district_counts(session: Session, lo: datetime, hi: datetime) -> dict[str, int]:
    """Detections of the area of interest acquired in [lo, hi) per district code."""
    rows = session.execute(
        text(
            "SELECT district_code, count(*) FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi "
            "AND in_aoi AND district_code IS NOT NULL GROUP BY 1"
        ),
        {"lo": lo, "hi": hi},
    )
    return {code: n for code, n in rows}


def heat_points(session: Session, lo: datetime, hi: datetime, limit: int) -> list[tuple[float, float, float]]:
    """(lat, lon, weight 0.2-1 from FRP) of the ``limit`` strongest detections of the area of interest acquired
    in [lo, hi)."""
    rows = session.execute(
        text("""
        SELECT round(latitude::numeric, 4)::float, round(longitude::numeric, 4)::float,
               least(1.0, greatest(0.2, coalesce(frp, 5) / 50.0))
        FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi AND in_aoi
        ORDER BY frp DESC NULLS LAST LIMIT :n"""),
        {"lo": lo, "hi": hi, "n": limit},
    ).all()
    return [(lat, lon, w) for lat, lon, w in rows]


def strongest_detections(
    session: Session, lo: datetime, hi: datetime, *, inside: bool, limit: int
) -> list[tuple[float, float, str, str, int, float]]:
    """(lat, lon, local time, satellite, confidence, FRP) of the ``limit`` strongest detections acquired in
    [lo, hi), inside the area of interest or outside it."""
    rows = session.execute(
        text("""
        SELECT round(latitude::numeric, 4)::float, round(longitude::numeric, 4)::float,
               to_char(acq_utc AT TIME ZONE 'Asia/Bangkok', 'YYYY-MM-DD HH24:MI'), satellite, confidence,
               round(coalesce(frp, 0)::numeric, 1)::float
        FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi AND in_aoi = :inside
        ORDER BY frp DESC NULLS LAST LIMIT :n"""),
        {"lo": lo, "hi": hi, "n": limit, "inside": inside},
    ).all()
    return [(lat, lon, when, sat, conf, frp) for lat, lon, when, sat, conf, frp in rows]


def events_between(session: Session, lo: datetime, hi: datetime, limit: int = 5000) -> list[dict]:
    """Fire events seen in [lo, hi) whose footprint touches the area of interest, strongest first: id, footprint
    (GeoJSON text, counter-clockwise), first and last seen, detections, peak FRP, sensors, district, reserve, rai."""
    rows = (
        session.execute(
            text("""
        SELECT e.id, ST_AsGeoJSON(ST_ForcePolygonCCW(e.footprint), 6) AS geom, e.first_seen, e.last_seen,
               e.detections, e.max_frp, array_to_string(e.sensors, ', ') AS sensors, e.district_code, e.reserve_code,
               round((e.area_m2 / 1600)::numeric)::int AS rai
        FROM fire_events e WHERE e.last_seen >= :lo AND e.first_seen < :hi AND in_area_of_interest(e.footprint)
        ORDER BY e.max_frp DESC NULLS LAST LIMIT :n"""),
            {"lo": lo, "hi": hi, "n": limit},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def months_detected(session: Session) -> list[date]:
    """The first day of every month (Asia/Bangkok) with a detection of the area of interest, oldest first.

    Walked month by month on the index of the acquisition time (one index probe per month with data, however
    many detections there are)."""
    return list(
        session.execute(
            text("""
        WITH RECURSIVE m AS (
          SELECT date_trunc('month', min(acq_utc) AT TIME ZONE 'Asia/Bangkok') AS month FROM hotspots WHERE in_aoi
          UNION ALL
          SELECT (SELECT date_trunc('month', min(h.acq_utc) AT TIME ZONE 'Asia/Bangkok') FROM hotspots h
                  WHERE h.in_aoi AND h.acq_utc >= (m.month + interval '1 month') AT TIME ZONE 'Asia/Bangkok')
          FROM m WHERE m.month IS NOT NULL)
        SELECT month::date FROM m WHERE month IS NOT NULL""")
        ).scalars()
    )


def _grid_sql(unit: str) -> str:
    if unit not in ("day", "week"):  # interpolated into the SQL: only these two words
        raise ValueError("unit is 'day' or 'week'")
    return f"""
        SELECT date_trunc('{unit}', acq_utc AT TIME ZONE 'Asia/Bangkok')::date AS bucket,
               (round(ST_Y(geom) / :cell) * :cell)::float AS lat, (round(ST_X(geom) / :cell) * :cell)::float AS lon,
               count(*) AS n
        FROM hotspots WHERE acq_utc >= :lo AND acq_utc < :hi AND in_aoi
        GROUP BY 1, 2, 3"""


def time_grid_size(session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float) -> int:
    """How many (day or week, grid cell) groups the detections of the area of interest in [lo, hi) make."""
    return session.execute(
        text(f"SELECT count(*) FROM ({_grid_sql(unit)}) g"), {"lo": lo, "hi": hi, "cell": cell}
    ).scalar_one()


def time_grid(session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float) -> list[dict]:
    """Detections of the area of interest in [lo, hi) counted per day or week (Asia/Bangkok) and grid cell of
    ``cell`` degrees."""
    rows = session.execute(text(_grid_sql(unit) + " ORDER BY 1"), {"lo": lo, "hi": hi, "cell": cell}).mappings()
    return [dict(r) for r in rows]


def period_counts(session: Session, start: date, end: date) -> dict:
    """Detections of the area of interest with a local date from ``start`` to ``end`` (both included): by district
    (code '' for the area's buffer, last), by protected area, and by week from ``start`` ({week: n}); and how many
    lay outside the area (``outside_aoi``)."""
    p = {"s": start, "e": end}
    by_district = (
        session.execute(
            text("""
        SELECT coalesce(h.district_code, '') AS code, count(*) AS n, round(coalesce(sum(h.frp), 0)::numeric, 1)::float AS frp
        FROM hotspots h WHERE h.in_aoi AND h.acq_date_local BETWEEN :s AND :e
        GROUP BY 1 ORDER BY coalesce(h.district_code, '') = '', 1"""),
            p,
        )
        .mappings()
        .all()
    )
    by_area = (
        session.execute(
            text("""
        SELECT pa.code, count(*) AS n FROM hotspots h, unnest(h.protected_area_codes) AS pa(code)
        WHERE h.in_aoi AND h.acq_date_local BETWEEN :s AND :e GROUP BY 1 ORDER BY 1"""),
            p,
        )
        .mappings()
        .all()
    )
    weekly = session.execute(
        text("""
        SELECT ((h.acq_date_local - CAST(:s AS date)) / 7) AS week, count(*) AS n
        FROM hotspots h WHERE h.in_aoi AND h.acq_date_local BETWEEN :s AND :e GROUP BY 1 ORDER BY 1"""),
        p,
    ).all()
    outside = session.execute(
        text("SELECT count(*) FROM hotspots h WHERE NOT h.in_aoi AND h.acq_date_local BETWEEN :s AND :e"), p
    ).scalar()
    return {
        "by_district": [dict(r) for r in by_district],
        "by_protected_area": [dict(r) for r in by_area],
        "weekly": {int(week): n for week, n in weekly},
        "outside_aoi": outside,
    }


def freshness(session: Session) -> dict:
    """The latest acquisition time, the latest load time and the highest batch id (None when there are none)."""
    return dict(
        session.execute(
            text("""
        SELECT (SELECT max(acq_utc) FROM hotspots) AS hotspot_latest,
               (SELECT max(loaded_at) FROM hotspot_batches) AS hotspot_loaded,
               (SELECT max(id) FROM hotspot_batches) AS hotspot_batch""")
        )
        .mappings()
        .one()
    )
