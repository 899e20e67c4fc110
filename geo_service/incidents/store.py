"""The incidents store: the only module that names the ``incidents`` and ``incident_photos`` tables in SQL.

Every read and write of incidents and their photos goes through these functions, whichever domain needs them
(cases, exports, maps, briefs). They run in the caller's transaction and never commit (README, Layout). Places
(districts, protected areas) are read through the shared views and functions of migration 0017
(``current_admin_areas``, ``latest_protected_areas``, ``protected_areas_on``), never from the layer tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.db.models import Incident
from geo_service.incidents.schemas import IncidentFilter

# Names of protected areas by code (the newest version's names).
_PROTECTED_JSON = """
    SELECT coalesce(json_agg(json_build_object('code', p.code, 'name_th', p.name_th, 'name_en', p.name_en,
                                               'kind', p.kind, 'illustrative', p.illustrative) ORDER BY p.code), '[]')
    FROM latest_protected_areas p WHERE p.code = ANY({codes})
"""
# Metres from a point to the boundary of the nearest National Reserved Forest in force on a day
# (inside or outside it), on the spheroid. The 8 nearest by bounding box are measured exactly.
_RESERVE_DISTANCE = """
    SELECT min(ST_Distance(ST_Boundary(n.geom)::geography, {point}::geography))
    FROM (SELECT r.geom FROM protected_areas_on({day}) r WHERE r.kind = 'national_reserved_forest'
          ORDER BY r.geom <-> {point} LIMIT 8) n
"""


# --- province scope ---------------------------------------------------------------------------------
def scope_sql(viewer: Principal | None, alias: str = "i") -> tuple[str, dict[str, Any]]:
    """The condition that keeps an incident query within ``viewer``'s provinces, with its bound parameters.

    National principals (and None: the service itself) see every incident. A provincial one sees the incidents
    attributed to its provinces, and those it logged itself outside every loaded province (no province code):
    another province's incident does not exist for it (404, like an invisible case)."""
    if viewer is None or viewer.provinces is None:
        return "TRUE", {}
    if alias not in ("i", "b", "incidents"):  # interpolated into the SQL: only these names
        raise ValueError("unknown alias")
    return (
        f"({alias}.province_code = ANY(CAST(:scope_provinces AS text[])) "
        f"OR ({alias}.province_code IS NULL AND {alias}.created_by = :scope_user))",
        {"scope_provinces": sorted(viewer.provinces), "scope_user": viewer.name},
    )


def _numeric(ids: Sequence[str]) -> list[str]:
    """The ids (text, as case links hold them) that can be incident ids: compared as bigint, the primary key's index
    serves the lookup (``id::text = ANY`` reads the whole table)."""
    return [i for i in ids if i.isascii() and i.isdigit() and len(i) < 19]


# --- places (shared views only) ------------------------------------------------------------------
def province_names(session: Session) -> list[str]:
    """The current provinces as "English (Thai)", by code."""
    return list(
        session.execute(
            text(
                "SELECT name_en || ' (' || name_th || ')' FROM current_admin_areas "
                "WHERE level = 'province' ORDER BY code"
            )
        ).scalars()
    )


def nearest_jurisdiction(session: Session, lon: float, lat: float) -> Row:
    """Geodesic metres from a point to the nearest current province (``province_m``) and the nearest current
    district (``district``: code, names, ``distance_m`` rounded to the metre; the 8 districts nearest by bounding
    box are measured exactly)."""
    return session.execute(
        text("""
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
        SELECT (SELECT min(ST_Distance(a.geom::geography, p.g::geography)) FROM current_admin_areas a, p
                WHERE a.level = 'province') AS province_m,
               (SELECT json_build_object('code', d.code, 'name_th', d.name_th, 'name_en', d.name_en,
                                         'distance_m', round(d.m::numeric, 0))
                FROM (SELECT a.code, a.name_th, a.name_en, ST_Distance(a.geom::geography, p.g::geography) AS m
                      FROM current_admin_areas a, p WHERE a.level = 'district'
                      ORDER BY a.geom <-> p.g LIMIT 8) d
                ORDER BY d.m, d.code LIMIT 1) AS district
    """),
        {"lon": lon, "lat": lat},
    ).one()


def place_names(
    session: Session,
    district_code: str | None,
    subdistrict_code: str | None,
    protected_area_codes: list[str],
    lon: float,
    lat: float,
    day: date,
) -> Row:
    """Names of a district, a subdistrict and protected areas by code (``district``, ``subdistrict``,
    ``protected_areas`` as JSON), and the metres from the point to the nearest reserve boundary in force on
    ``day`` (``distance``)."""
    point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    return session.execute(
        text(f"""
        SELECT (SELECT json_build_object('code', code, 'name_th', name_th, 'name_en', name_en)
                FROM current_admin_areas WHERE level = 'district' AND code = :d) AS district,
               (SELECT json_build_object('code', code, 'name_th', name_th, 'name_en', name_en)
                FROM current_admin_areas WHERE level = 'subdistrict' AND code = :s) AS subdistrict,
               ({_PROTECTED_JSON.format(codes=":codes")}) AS protected_areas,
               ({_RESERVE_DISTANCE.format(point=point, day="CAST(:day AS date)")}) AS distance
    """),
        {
            "d": district_code,
            "s": subdistrict_code,
            "codes": protected_area_codes,
            "lon": lon,
            "lat": lat,
            "day": day,
        },
    ).one()


# --- incidents: write -----------------------------------------------------------------------------
def insert_incident(session: Session, values: dict[str, Any], *, idempotent: bool) -> int | None:
    """Insert one incident; its id, or None when ``idempotent`` and its idempotency key is already taken."""
    stmt = insert(Incident).values(**values)
    if idempotent:
        stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
    return session.execute(stmt.returning(Incident.id)).scalar()


def by_idempotency_key(session: Session, key: str) -> Row:
    """The ``id`` and ``request_hash`` of the incident created with this idempotency key."""
    return session.execute(text("SELECT id, request_hash FROM incidents WHERE idempotency_key = :k"), {"k": key}).one()


def finish_geometry(session: Session, ids: Sequence[int]) -> list[float | None]:
    """Store the values measured in PostGIS: the affected area in the local UTM zone and the distance to the
    nearest reserve boundary in force on the day observed. Returns the areas (m²) of these incidents."""
    reserve = _RESERVE_DISTANCE.format(point="i.geom", day="(i.observed_at AT TIME ZONE 'Asia/Bangkok')::date")
    return list(
        session.execute(
            text(f"""
        UPDATE incidents i SET
          area_m2 = CASE WHEN i.area_geom IS NULL THEN NULL
                         ELSE ST_Area(ST_Transform(i.area_geom, utm_srid(i.area_geom))) END,
          reserve_distance_m = ({reserve})
        WHERE i.id = ANY(:ids)
        RETURNING i.area_m2
    """),
            {"ids": list(ids)},
        ).scalars()
    )


# How a changed column is written when it is not a plain bound value.
_SET_SQL = {
    "kind": "CAST(:kind AS incident_kind)",
    "status": "CAST(:status AS incident_status)",
    "severity": "CAST(:severity AS incident_severity)",
    "geom": "ST_GeomFromEWKT(:geom)",
    "area_geom": "ST_GeomFromEWKT(:area_geom)",
}
# The columns update_fields may change (the rest are the store's: id, version, who and when).
EDITABLE = frozenset(
    {
        "kind",
        "status",
        "severity",
        "observed_at",
        "description",
        "reporter",
        "tags",
        "geom",
        "location_text",
        "location_format",
        "location_datum",
        "accuracy_m",
        "area_geom",
        "province_code",
        "district_code",
        "subdistrict_code",
        "protected_area_codes",
        "reserve_code",
        "in_reserve",
        "outside_province",
    }
)


def update_fields(
    session: Session, incident_id: int, changes: dict[str, Any], *, expected_version: int, by: str
) -> bool:
    """Write ``changes`` (column -> value) to an incident still at ``expected_version``, bumping its version;
    False when it is no longer at that version (or does not exist)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    sets = ", ".join(f"{k} = {_SET_SQL.get(k, ':' + k)}" for k in changes)  # column names: checked above
    updated = session.execute(
        text(
            f"UPDATE incidents SET {sets}, version = version + 1, updated_by = :_by, updated_at = now() "
            "WHERE id = :_id AND version = :_v RETURNING id"
        ),
        {**changes, "_by": by, "_id": incident_id, "_v": expected_version},
    ).scalar()
    return updated is not None


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


def positions(session: Session, ids: Sequence[int] | None = None) -> list[Row]:
    """``id``, ``lon``, ``lat`` and the ``day`` observed (Asia/Bangkok) of every incident, or of ``ids``."""
    return list(
        session.execute(
            text(
                "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
                "(observed_at AT TIME ZONE 'Asia/Bangkok')::date AS day "
                "FROM incidents" + (" WHERE id = ANY(:ids)" if ids is not None else "")
            ),
            {"ids": None if ids is None else list(ids)},
        ).all()
    )


def write_attribution(session: Session, records: list[dict[str, Any]]) -> None:
    """Store recomputed attributions, one set-based UPDATE: each record has ``id``, ``province_code``,
    ``district_code``, ``subdistrict_code``, ``protected_area_codes``, ``reserve_code``, ``in_reserve`` and
    ``outside_province``."""
    session.execute(
        text("""
        UPDATE incidents i SET province_code = u.province_code, district_code = u.district_code,
               subdistrict_code = u.subdistrict_code, protected_area_codes = u.protected_area_codes,
               reserve_code = u.reserve_code, in_reserve = u.in_reserve, outside_province = u.outside_province
        FROM json_to_recordset(CAST(:data AS json)) AS u(id bigint, province_code text, district_code text,
             subdistrict_code text, protected_area_codes text[], reserve_code text, in_reserve boolean,
             outside_province boolean)
        WHERE i.id = u.id
    """),
        {"data": json.dumps(records)},
    )


# --- incidents: read ------------------------------------------------------------------------------
_SELECT = f"""
SELECT i.id, i.kind::text AS kind, i.status::text AS status, i.severity::text AS severity, i.observed_at,
       i.description, i.reporter, i.tags, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.location_text,
       i.location_format, i.location_datum, i.accuracy_m, i.area_m2,
       CASE WHEN i.area_geom IS NULL THEN NULL ELSE ST_AsGeoJSON(ST_ForcePolygonCCW(i.area_geom), 7)::json END AS area_geojson,
       i.province_code, i.district_code, d.name_th AS district_th, d.name_en AS district_en,
       i.subdistrict_code, s.name_th AS subdistrict_th, s.name_en AS subdistrict_en,
       ({_PROTECTED_JSON.format(codes="i.protected_area_codes")}) AS protected_areas,
       i.reserve_code, i.in_reserve, i.reserve_distance_m, i.outside_province, i.version,
       i.created_by, i.created_at, i.updated_by, i.updated_at,
       (SELECT coalesce(json_agg(json_build_object(
                 'id', ph.id, 'sha256', ph.sha256, 'filename', ph.filename, 'content_type', ph.content_type,
                 'size_bytes', ph.size_bytes, 'width', ph.width, 'height', ph.height, 'flags', ph.flags,
                 'exif_lat', ph.exif_lat, 'exif_lon', ph.exif_lon, 'exif_taken_at', ph.exif_taken_at,
                 'distance_m', ph.distance_m, 'time_offset_s', ph.time_offset_s,
                 'url', '/api/v1/photos/' || ph.id, 'thumbnail_url', '/api/v1/photos/' || ph.id || '/thumbnail')
               ORDER BY ph.id), '[]')
        FROM incident_photos ph WHERE ph.incident_id = i.id) AS photos
FROM incidents i
LEFT JOIN current_admin_areas d ON d.level = 'district' AND d.code = i.district_code
LEFT JOIN current_admin_areas s ON s.level = 'subdistrict' AND s.code = i.subdistrict_code
"""


def incident_row(session: Session, incident_id: int, viewer: Principal | None = None) -> Row | None:
    """One incident with its place names and photos (the columns the service turns into the API shape); None
    when there is none, or it lies outside ``viewer``'s provinces."""
    scope, params = scope_sql(viewer)
    return session.execute(text(_SELECT + f" WHERE i.id = :id AND {scope}"), {"id": incident_id, **params}).first()


def _where(f: IncidentFilter) -> tuple[str, dict[str, Any]]:
    scope, p = scope_sql(f.viewer)
    where: list[str] = [scope]
    if f.district:
        where.append("i.district_code = :district")
        p["district"] = f.district
    if f.subdistrict:
        where.append("i.subdistrict_code = :subdistrict")
        p["subdistrict"] = f.subdistrict
    if f.protected_area:
        where.append("i.protected_area_codes @> ARRAY[CAST(:pa AS text)]")
        p["pa"] = f.protected_area
    if f.in_reserve is not None:
        where.append("i.in_reserve = :in_reserve")
        p["in_reserve"] = f.in_reserve
    if f.kinds:
        where.append("i.kind::text = ANY(:kinds)")
        p["kinds"] = f.kinds
    if f.statuses:
        where.append("i.status::text = ANY(:statuses)")
        p["statuses"] = f.statuses
    # Dates are days in Asia/Bangkok, both ends included.
    if f.start:
        where.append("i.observed_at >= (CAST(:start AS date)::timestamp AT TIME ZONE 'Asia/Bangkok')")
        p["start"] = f.start
    if f.end:
        where.append("i.observed_at < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE 'Asia/Bangkok')")
        p["end"] = f.end
    if f.bbox:
        where.append("i.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)")
        p.update(dict(zip(("minx", "miny", "maxx", "maxy"), f.bbox, strict=True)))
    if f.q:
        like = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            "(i.description ILIKE :q "
            + ("OR i.reporter ILIKE :q " if f.q_names else "")
            + "OR i.location_text ILIKE :q OR array_to_string(i.tags, ' ') ILIKE :q)"
        )
        p["q"] = like
    return " AND ".join(where), p


def incident_rows(session: Session, f: IncidentFilter, limit: int, offset: int) -> tuple[int, list[Row]]:
    """How many incidents match ``f``, and one page of them (newest observation first), as ``incident_row``."""
    where, params = _where(f)
    total = session.execute(text(f"SELECT count(*) FROM incidents i WHERE {where}"), params).scalar_one()
    rows = session.execute(
        text(_SELECT + f" WHERE {where} ORDER BY i.observed_at DESC, i.id DESC LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    ).all()
    return total, list(rows)


# --- photos ---------------------------------------------------------------------------------------
def lock_for_photos(session: Session, incident_id: int, viewer: Principal | None = None) -> Row | None:
    """An incident's ``created_by``, ``status``, ``lon``, ``lat`` and ``observed_at``, the row locked FOR SHARE
    (a concurrent case link waits until the photos are stored); None when there is no such incident (or it is
    outside ``viewer``'s provinces)."""
    scope, params = scope_sql(viewer, "incidents")
    return session.execute(
        text(
            "SELECT created_by, status::text AS status, ST_X(geom) AS lon, ST_Y(geom) AS lat, observed_at "
            f"FROM incidents WHERE id = :id AND {scope} FOR SHARE"
        ),
        {"id": incident_id, **params},
    ).first()


def insert_photo(session: Session, values: dict[str, Any]) -> tuple[int, bool]:
    """Store a photo of an incident unless the same bytes (``sha256``) are already stored for it; returns
    (photo id, whether it was new)."""
    photo_id = session.execute(
        text("""
        INSERT INTO incident_photos (incident_id, sha256, filename, content_type, size_bytes, width, height, original,
                                     thumbnail, exif_lon, exif_lat, exif_taken_at, distance_m, time_offset_s, flags,
                                     uploaded_by)
        VALUES (:incident_id, :sha256, :filename, :content_type, :size_bytes, :width, :height, :original, :thumbnail,
                :exif_lon, :exif_lat, :exif_taken_at, :distance_m, :time_offset_s, :flags, :uploaded_by)
        ON CONFLICT (incident_id, sha256) DO NOTHING
        RETURNING id
    """),
        values,
    ).scalar()
    if photo_id is not None:
        return photo_id, True
    existing = session.execute(
        text("SELECT id FROM incident_photos WHERE incident_id = :i AND sha256 = :s"),
        {"i": values["incident_id"], "s": values["sha256"]},
    ).scalar_one()
    return existing, False


def photo_content(session: Session, photo_id: int, *, thumbnail: bool, viewer: Principal | None = None) -> Row | None:
    """A photo's ``data`` (the original or the thumbnail), ``content_type``, ``filename`` and ``sha256``; None
    when there is none, or its incident is outside ``viewer``'s provinces."""
    column = "thumbnail" if thumbnail else "original"
    scope, params = scope_sql(viewer)
    return session.execute(
        text(
            f"SELECT ph.{column} AS data, ph.content_type, ph.filename, ph.sha256 FROM incident_photos ph "
            f"JOIN incidents i ON i.id = ph.incident_id WHERE ph.id = :id AND {scope}"
        ),
        {"id": photo_id, **params},
    ).first()


def photo_rows(session: Session, incident_id: int, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The photos of an incident (all, or those of ``ids``) without their bytes, by id."""
    rows = session.execute(
        text("""
        SELECT id, sha256, filename, content_type, size_bytes, width, height, exif_lon, exif_lat, exif_taken_at,
               distance_m, time_offset_s, flags, uploaded_by, uploaded_at
        FROM incident_photos WHERE incident_id = :i AND (CAST(:ids AS int[]) IS NULL OR id = ANY(:ids)) ORDER BY id
    """),
        {"i": incident_id, "ids": None if ids is None else list(ids)},
    ).mappings()
    return [dict(r) for r in rows]


# --- for cases.service, cases.suggestions, cases.evidence_geojson ---
def existing_ids(session: Session, incident_ids: Sequence[str], viewer: Principal | None = None) -> set[str]:
    """Which of these ids (as text) are incidents (within ``viewer``'s provinces)."""
    if not incident_ids:
        return set()
    scope, params = scope_sql(viewer)
    return set(
        session.execute(
            text(f"SELECT i.id::text FROM incidents i WHERE i.id = ANY(CAST(:ids AS bigint[])) AND {scope}"),
            {"ids": _numeric(incident_ids), **params},
        ).scalars()
    )


def places_of(session: Session, incident_ids: Sequence[str]) -> dict[str, tuple[str | None, list[str]]]:
    """Each incident's district code and protected-area codes, by id (as text)."""
    if not incident_ids:
        return {}
    rows = session.execute(
        text("SELECT id::text, district_code, protected_area_codes FROM incidents WHERE id::text = ANY(:ids)"),
        {"ids": list(incident_ids)},
    ).all()
    return {r[0]: (r[1], list(r[2] or [])) for r in rows}


def search_points(session: Session, incident_ids: Sequence[str]) -> list[tuple[int, bytes, datetime]]:
    """(id, point as EWKB, observed_at) of these incidents: where and when, for searches near them."""
    if not incident_ids:
        return []
    rows = session.execute(
        text("SELECT id, ST_AsEWKB(geom), observed_at FROM incidents WHERE id::text = ANY(:ids) ORDER BY id"),
        {"ids": list(incident_ids)},
    ).all()
    return [(r[0], bytes(r[1]), r[2]) for r in rows]


def evidence_features(
    session: Session, incident_ids: Sequence[str], viewer: Principal | None = None
) -> dict[str, tuple[str | None, dict]]:
    """GeoJSON geometry (text, 7 decimals) and main attributes of these incidents within ``viewer``'s provinces
    (``scope_sql``), by id (as text)."""
    if not incident_ids:
        return {}
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(
            "SELECT i.id::text, ST_AsGeoJSON(i.geom, 7), json_build_object('kind', i.kind, 'observed_at', "
            "i.observed_at, 'district_code', i.district_code, 'reserve_code', i.reserve_code, 'status', i.status) "
            f"FROM incidents i WHERE i.id = ANY(CAST(:ids AS bigint[])) AND {scope}"
        ),
        {"ids": _numeric(incident_ids), **params},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


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


# --- for maps.layers, maps.overview, maps.case_map and reports.brief ---
# (imported here, not at the top: the top of this file is edited in parallel; hoist when merged)


def district_counts(session: Session, lo: datetime, hi: datetime, viewer: Principal | None = None) -> dict[str, int]:
    """Incidents observed in [lo, hi) per district code (incidents with no district left out), within ``viewer``'s
    provinces (``scope_sql``: what its maps draw)."""
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(
            "SELECT district_code, count(*) FROM incidents i WHERE observed_at >= :lo "
            f"AND observed_at < :hi AND district_code IS NOT NULL AND {scope} GROUP BY 1"
        ),
        {"lo": lo, "hi": hi, **params},
    )
    return {code: n for code, n in rows}


def map_rows(
    session: Session,
    lo: datetime | None = None,
    hi: datetime | None = None,
    ids: list[int] | None = None,
    viewer: Principal | None = None,
) -> list[dict]:
    """Incidents for a map, oldest first: observed in [lo, hi) when given, and among ``ids`` when given (within
    ``viewer``'s provinces); with their position, district names (current boundaries) and first photo's id."""
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(f"""
        SELECT i.id, i.kind::text AS kind, i.observed_at, i.description, i.reporter, i.status::text AS status,
               ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, d.name_th AS district_th, d.name_en AS district_en,
               (SELECT min(p.id) FROM incident_photos p WHERE p.incident_id = i.id) AS photo_id
        FROM incidents i
        LEFT JOIN current_admin_areas d ON d.code = i.district_code AND d.level = 'district'
        WHERE (CAST(:lo AS timestamptz) IS NULL OR (i.observed_at >= :lo AND i.observed_at < :hi))
          AND (CAST(:ids AS bigint[]) IS NULL OR i.id = ANY(:ids)) AND {scope}
        ORDER BY i.observed_at"""),
        {"lo": lo, "hi": hi, "ids": ids, **params},
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
        FROM incidents i WHERE observed_at >= :lo AND observed_at < :hi AND {{scope}}
        GROUP BY 1, 2, 3"""


def time_grid_size(
    session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float, viewer: Principal | None = None
) -> int:
    """How many (day or week, grid cell) groups the incidents observed in [lo, hi) within ``viewer``'s provinces
    make."""
    scope, params = scope_sql(viewer)
    return session.execute(
        text(f"SELECT count(*) FROM ({_grid_sql(unit).replace('{scope}', scope)}) g"),
        {"lo": lo, "hi": hi, "cell": cell, **params},
    ).scalar_one()


def time_grid(
    session: Session, lo: datetime, hi: datetime, *, unit: str, cell: float, viewer: Principal | None = None
) -> list[dict]:
    """Incidents observed in [lo, hi) within ``viewer``'s provinces, counted per day or week (Asia/Bangkok) and grid
    cell of ``cell`` degrees."""
    scope, params = scope_sql(viewer)
    rows = session.execute(
        text(_grid_sql(unit).replace("{scope}", scope) + " ORDER BY 1"), {"lo": lo, "hi": hi, "cell": cell, **params}
    ).mappings()
    return [dict(r) for r in rows]


def counts_by_kind_and_district(
    session: Session, start: date, end: date, province: str | None = None, *, with_unplaced: bool = False
) -> list[tuple[str, str, int]]:
    """(kind, district code or '', count) of the incidents observed from ``start`` to ``end`` (Asia/Bangkok days,
    both included; of ``province`` when given, and then also those of no province with ``with_unplaced``),
    ordered by kind and district."""
    rows = session.execute(
        text("""
        SELECT kind::text AS kind, coalesce(district_code, '') AS district, count(*) AS n FROM incidents
        WHERE (observed_at AT TIME ZONE 'Asia/Bangkok')::date BETWEEN :s AND :e
          AND (CAST(:p AS text) IS NULL OR province_code = :p OR (:unplaced AND province_code IS NULL))
        GROUP BY 1, 2 ORDER BY 1, 2"""),
        {"s": start, "e": end, "p": province, "unplaced": with_unplaced},
    ).all()
    return [(k, d, n) for k, d, n in rows]


def province_counts(session: Session, start: date, end: date) -> dict[str | None, int]:
    """Incidents observed from ``start`` to ``end`` (Asia/Bangkok days, both included) by province code (None:
    outside every loaded province)."""
    rows = session.execute(
        text("""
        SELECT province_code, count(*) FROM incidents
        WHERE (observed_at AT TIME ZONE 'Asia/Bangkok')::date BETWEEN :s AND :e GROUP BY 1"""),
        {"s": start, "e": end},
    ).all()
    return {code: n for code, n in rows}


def freshness(session: Session) -> dict:
    """The latest observation time and the highest id of the incidents (None when there are none)."""
    return dict(
        session.execute(text("SELECT max(observed_at) AS incident_latest, max(id) AS incident_max_id FROM incidents"))
        .mappings()
        .one()
    )


# For exports.tiles: the data version of the incidents (a new, edited or removed incident changes it).
INCIDENTS_VERSION_SQL = "SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM incidents"


def district_month_counts(session: Session, provinces: Sequence[str]) -> dict[str, Any]:
    """Incidents of ``provinces`` by district code ('' for none) and month observed (first day, Asia/Bangkok):
    ``{"rows": [(district, month, n)], "last_update": datetime | None}`` (the latest change of any of them).
    Counts only, for the transparency page."""
    params = {"p": list(provinces)}
    rows = session.execute(
        text("""
        SELECT coalesce(district_code, '') AS district,
               date_trunc('month', observed_at AT TIME ZONE 'Asia/Bangkok')::date AS month, count(*) AS n
        FROM incidents WHERE province_code = ANY(:p) GROUP BY 1, 2 ORDER BY 1, 2"""),
        params,
    ).all()
    last = session.execute(text("SELECT max(updated_at) FROM incidents WHERE province_code = ANY(:p)"), params).scalar()
    return {"rows": [(d, m, n) for d, m, n in rows], "last_update": last}
