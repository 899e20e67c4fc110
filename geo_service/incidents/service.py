"""Incidents: locate a point, create idempotently, read, update with optimistic locking, list, re-attribute."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo_service import audit, coords
from geo_service.auth import Principal, Role
from geo_service.db.models import INCIDENT_KIND_LABELS, Incident, IncidentKind, IncidentStatus
from geo_service.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from geo_service.incidents import store
from geo_service.incidents.schemas import IncidentCreate, IncidentUpdate, LocationIn
from geo_service.places import Attribution, gazetteer, gazetteer_in_transaction
from geo_service.thai import BANGKOK, area_units, fiscal_year_be

MAX_AREA_M2 = 500e6  # an affected area larger than 500 km2 is a typing mistake, not an incident
# An outline drawn or walked in the field needs far fewer points; one of 1M points made every incident
# list that included it 25 MB.
MAX_AREA_VERTICES = 10_000
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


class OutsideProvince(InvalidInput):
    code = "outside_province"


# --- locating a point ------------------------------------------------------------------------------
@dataclass
class Located:
    point: coords.ParsedPoint
    place: dict[str, Any]
    accuracy_m: float | None = None
    notes: list[str] = field(default_factory=list)


def _parse(loc: LocationIn) -> coords.ParsedPoint:
    if loc.text is not None:
        return coords.parse_point(loc.text, datum=loc.datum)
    return coords.point_from_lat_lon(loc.lat, loc.lon, datum=loc.datum)


def _province_names(session: Session) -> str:
    names = (
        session.execute(
            text(
                "SELECT name_en || ' (' || name_th || ')' FROM admin_areas "
                "WHERE level = 'province' AND is_current ORDER BY code"
            )
        )
        .scalars()
        .all()
    )
    return ", ".join(names) or "the loaded provinces"


def nearest_jurisdiction(session: Session, lon: float, lat: float) -> dict[str, Any]:
    """For a point outside the loaded province(s): metres to the nearest of them and the nearest district.

    Geodesic distances (PostGIS geography, WGS 84 spheroid) to the current province and district polygons;
    the 8 districts nearest by bounding box are measured exactly.
    """
    row = session.execute(
        text("""
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
        SELECT (SELECT min(ST_Distance(a.geom::geography, p.g::geography)) FROM admin_areas a, p
                WHERE a.level = 'province' AND a.is_current) AS province_m,
               (SELECT json_build_object('code', d.code, 'name_th', d.name_th, 'name_en', d.name_en,
                                         'distance_m', round(d.m::numeric, 0))
                FROM (SELECT a.code, a.name_th, a.name_en, ST_Distance(a.geom::geography, p.g::geography) AS m
                      FROM admin_areas a, p WHERE a.level = 'district' AND a.is_current
                      ORDER BY a.geom <-> p.g LIMIT 8) d
                ORDER BY d.m, d.code LIMIT 1) AS district
    """),
        {"lon": lon, "lat": lat},
    ).one()
    district = row.district
    if district is not None:
        district["distance_m"] = float(district["distance_m"])
    return {
        "province_distance_m": None if row.province_m is None else round(row.province_m, 0),
        "nearest_district": district,
    }


def locate(session: Session, loc: LocationIn, when: date | None = None) -> Located:
    """Parse a location and say where it falls; refuse a point outside the province unless confirmed."""
    point = _parse(loc)
    gaz = gazetteer(session)
    a = gaz.attribute([point.lon], [point.lat], np.datetime64(when or date.today(), "D"))
    place = a.row(0)
    if place["province_code"] is None and not loc.confirm_outside_province:
        hint = ""
        alt = coords.alternative_zone(point)
        if alt is not None:
            alt_place = gaz.attribute([alt[0]], [alt[1]]).row(0)
            if alt_place["province_code"] is not None:
                hint = (
                    f" With UTM zone {alt[2]} it would be at latitude {alt[1]:.5f}, longitude {alt[0]:.5f}, "
                    "inside the province: is the zone right?"
                )
        near = nearest_jurisdiction(session, point.lon, point.lat)
        where = ""
        if near["province_distance_m"] is not None and near["nearest_district"]:
            d = near["nearest_district"]
            where = (
                f" It is {near['province_distance_m'] / 1000:,.1f} km from the province; the nearest district "
                f"is {d['name_en']} ({d['name_th']}), {d['distance_m'] / 1000:,.1f} km away."
            )
        raise OutsideProvince(
            f"This point (latitude {point.lat:.5f}, longitude {point.lon:.5f}) is outside {_province_names(session)}."
            f"{where}{hint} If the position is right, confirm that it is outside the province and send again.",
            details=[{"lat": point.lat, "lon": point.lon, "position": point.as_dict(), **near}],
        )
    return Located(point=point, place=place, accuracy_m=loc.accuracy_m, notes=list(point.notes))


def describe_place(session: Session, place: dict, lon: float, lat: float, when: date | None = None) -> dict:
    """Names for the codes of an attribution, the distance to the nearest reserve boundary and, for a point
    outside the province(s), the distance to them and the nearest district (inside: 0 and its own district)."""
    row = session.execute(
        text(f"""
        SELECT (SELECT json_build_object('code', code, 'name_th', name_th, 'name_en', name_en) FROM admin_areas
                WHERE level = 'district' AND is_current AND code = :d) AS district,
               (SELECT json_build_object('code', code, 'name_th', name_th, 'name_en', name_en) FROM admin_areas
                WHERE level = 'subdistrict' AND is_current AND code = :s) AS subdistrict,
               ({_PROTECTED_JSON.format(codes=":codes")}) AS protected_areas,
               ({_RESERVE_DISTANCE.format(point="ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)", day=":day")}) AS distance
    """),
        {
            "d": place["district_code"],
            "s": place["subdistrict_code"],
            "codes": place["protected_area_codes"],
            "lon": lon,
            "lat": lat,
            "day": when or date.today(),
        },
    ).one()
    outside = place["province_code"] is None
    return {
        "province_code": place["province_code"],
        "district": row.district,
        "subdistrict": row.subdistrict,
        "protected_areas": row.protected_areas,
        "in_reserve": place["in_reserve"],
        "reserve_code": place["reserve_code"],
        "reserve_distance_m": None if row.distance is None else round(row.distance, 1),
        "outside_province": outside,
        **(
            nearest_jurisdiction(session, lon, lat)
            if outside
            else {"province_distance_m": 0.0, "nearest_district": row.district and {**row.district, "distance_m": 0.0}}
        ),
    }


# Names of protected areas by code (the newest version's names).
_PROTECTED_JSON = """
    SELECT coalesce(json_agg(json_build_object('code', p.code, 'name_th', p.name_th, 'name_en', p.name_en,
                                               'kind', p.kind, 'illustrative', p.illustrative) ORDER BY p.code), '[]')
    FROM (SELECT DISTINCT ON (code) code, name_th, name_en, kind, illustrative FROM protected_areas
          WHERE code = ANY({codes}) ORDER BY code, valid_from DESC NULLS LAST) p
"""
# Metres from a point to the boundary of the nearest National Reserved Forest in force on a day
# (inside or outside it), on the spheroid. The 8 nearest by bounding box are measured exactly.
_RESERVE_DISTANCE = """
    SELECT min(ST_Distance(ST_Boundary(n.geom)::geography, {point}::geography))
    FROM (SELECT geom FROM protected_areas
          WHERE kind = 'national_reserved_forest'
            AND (valid_from IS NULL OR valid_from <= {day}) AND (valid_to IS NULL OR valid_to > {day})
          ORDER BY geom <-> {point} LIMIT 8) n
"""


# --- affected area -------------------------------------------------------------------------------
def _positions(geojson: dict) -> int:
    """The number of positions in a GeoJSON Polygon or MultiPolygon as sent (0 for anything else)."""
    coords = geojson.get("coordinates") if isinstance(geojson, dict) else None
    depth = {"Polygon": 1, "MultiPolygon": 2}.get(geojson.get("type") if isinstance(geojson, dict) else None)
    if depth is None or not isinstance(coords, list):
        return 0
    rings = coords if depth == 1 else [r for p in coords if isinstance(p, list) for r in p]
    return sum(len(r) for r in rings if isinstance(r, list))


def _check_vertices(vertices: int) -> None:
    if vertices > MAX_AREA_VERTICES:
        raise InvalidInput(
            f"The affected area's outline has {vertices:,} points; at most {MAX_AREA_VERTICES:,} are "
            "accepted. Simplify it (for example in QGIS: Vector > Geometry Tools > Simplify) and send "
            "it again.",
            code="area_too_complex",
        )


def _area(geojson: dict | None) -> MultiPolygon | None:
    if geojson is None:
        return None
    _check_vertices(_positions(geojson))  # before shapely builds anything from a huge outline
    try:
        geom = shape(geojson)
    except Exception:
        raise InvalidInput(
            "The affected area must be a GeoJSON Polygon or MultiPolygon.", code="invalid_area"
        ) from None
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    if not isinstance(geom, MultiPolygon) or geom.is_empty:
        raise InvalidInput("The affected area must be a GeoJSON Polygon or MultiPolygon.", code="invalid_area")
    if not geom.is_valid:
        raise InvalidInput(
            f"The affected area's outline is not valid ({shapely.is_valid_reason(geom)}); "
            "draw it again without crossing lines.",
            code="invalid_area",
        )
    minx, miny, maxx, maxy = geom.bounds
    if not (coords.in_thailand(minx, miny) and coords.in_thailand(maxx, maxy)):
        raise InvalidInput(
            "The affected area lies outside Thailand; coordinates are longitude, latitude.", code="invalid_area"
        )
    return geom


def _observed(value: datetime | None) -> datetime:
    now = datetime.now(UTC)
    if value is None:
        return now
    if value.tzinfo is None:
        value = value.replace(tzinfo=BANGKOK)
    if value > now + timedelta(minutes=10):
        raise InvalidInput("The observation time is in the future; check the date and time.", code="future_time")
    if value < EARLIEST:
        raise InvalidInput(
            "The observation time is before 1990; check the year (Buddhist Era years are CE + 543).", code="too_old"
        )
    return value


# --- create ----------------------------------------------------------------------------------------
def request_hash(body: IncidentCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json", exclude_unset=True), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_incident(
    session: Session, body: IncidentCreate, principal: Principal, idempotency_key: str | None = None
) -> tuple[dict, bool]:
    """Create an incident in the caller's transaction. Returns (incident, created).

    With an idempotency key, a retry of the same request returns the incident created the first time
    (created=False), even when retries race; the same key with a different body is a Conflict.
    """
    observed = _observed(body.observed_at)
    day = observed.astimezone(BANGKOK).date()
    loc = locate(session, body.location, day)
    area = _area(body.area)
    digest = request_hash(body)
    values = dict(
        idempotency_key=idempotency_key,
        request_hash=digest,
        kind=body.kind,
        severity=body.severity,
        observed_at=observed,
        description=body.description,
        reporter=body.reporter or principal.display_name,
        tags=body.tags,
        geom=f"SRID=4326;POINT({loc.point.lon!r} {loc.point.lat!r})",
        location_text=loc.point.text,
        location_format=loc.point.format,
        location_datum=loc.point.datum,
        accuracy_m=body.location.accuracy_m,
        outside_province=loc.place["province_code"] is None,
        created_by=principal.name,
        updated_by=principal.name,
        **{k: v for k, v in loc.place.items()},
    )
    if area is not None:
        values["area_geom"] = f"SRID=4326;{area.wkt}"
    stmt = insert(Incident).values(**values).returning(Incident.id)
    if idempotency_key:
        stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
    new_id = session.execute(stmt).scalar()
    if new_id is None:
        existing = session.execute(
            text("SELECT id, request_hash FROM incidents WHERE idempotency_key = :k"), {"k": idempotency_key}
        ).one()
        if existing.request_hash != digest:
            raise Conflict(
                "This Idempotency-Key was already used for a different incident; use a new key for a new incident.",
                code="idempotency_key_reused",
            )
        return get_incident(session, existing.id), False
    _finish_geometry(session, [new_id])
    incident = get_incident(session, new_id)
    audit.record(session, principal.name, "create", "incident", new_id, after=incident)
    return incident, True


def _finish_geometry(session: Session, ids: list[int]) -> None:
    """Derived values measured in PostGIS: area in the local UTM zone, distance to the nearest reserve."""
    areas = (
        session.execute(
            text(f"""
        UPDATE incidents i SET
          area_m2 = CASE WHEN i.area_geom IS NULL THEN NULL
                         ELSE ST_Area(ST_Transform(i.area_geom, utm_srid(i.area_geom))) END,
          reserve_distance_m = ({
                _RESERVE_DISTANCE.format(point="i.geom", day="(i.observed_at AT TIME ZONE 'Asia/Bangkok')::date")
            })
        WHERE i.id = ANY(:ids)
        RETURNING i.area_m2
    """),
            {"ids": ids},
        )
        .scalars()
        .all()
    )
    if any(a is not None and a > MAX_AREA_M2 for a in areas):
        raise InvalidInput("The affected area is larger than 500 km²; check the outline.", code="invalid_area")


# --- read ------------------------------------------------------------------------------------------
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
LEFT JOIN admin_areas d ON d.level = 'district' AND d.is_current AND d.code = i.district_code
LEFT JOIN admin_areas s ON s.level = 'subdistrict' AND s.is_current AND s.code = i.subdistrict_code
"""


def _public(r) -> dict:
    kind_th, kind_en = INCIDENT_KIND_LABELS[IncidentKind(r.kind)]
    local = r.observed_at.astimezone(BANGKOK)
    area = None
    if r.area_m2 is not None:
        area = {**area_units(r.area_m2), "geometry": r.area_geojson}
    return {
        "id": r.id,
        "reference": f"INC-{r.id:06d}",
        "kind": r.kind,
        "kind_th": kind_th,
        "kind_en": kind_en,
        "status": r.status,
        "severity": r.severity,
        "observed_at": local.isoformat(),
        "observed_at_utc": r.observed_at.astimezone(UTC).isoformat(),
        "fiscal_year_be": fiscal_year_be(local.date()),
        "description": r.description,
        "reporter": r.reporter,
        "tags": list(r.tags),
        "location": {
            "lon": round(r.lon, 7),
            "lat": round(r.lat, 7),
            "text": r.location_text,
            "format": r.location_format,
            "datum": r.location_datum,
            "accuracy_m": r.accuracy_m,
        },
        "area": area,
        "place": {
            "province_code": r.province_code,
            "district": r.district_code
            and {"code": r.district_code, "name_th": r.district_th, "name_en": r.district_en},
            "subdistrict": r.subdistrict_code
            and {"code": r.subdistrict_code, "name_th": r.subdistrict_th, "name_en": r.subdistrict_en},
            "protected_areas": r.protected_areas,
            "in_reserve": r.in_reserve,
            "reserve_code": r.reserve_code,
            "reserve_distance_m": None if r.reserve_distance_m is None else round(r.reserve_distance_m, 1),
            "outside_province": r.outside_province,
        },
        "photos": r.photos,
        "version": r.version,
        "created_by": r.created_by,
        "created_at": r.created_at.isoformat(),
        "updated_by": r.updated_by,
        "updated_at": r.updated_at.isoformat(),
    }


def get_incident(session: Session, incident_id: int) -> dict:
    row = session.execute(text(_SELECT + " WHERE i.id = :id"), {"id": incident_id}).first()
    if row is None:
        raise NotFound("No incident with this number.")
    return _public(row)


# --- update ----------------------------------------------------------------------------------------
# How a changed column is written when it is not a plain bound value.
_SET_SQL = {
    "kind": "CAST(:kind AS incident_kind)",
    "status": "CAST(:status AS incident_status)",
    "severity": "CAST(:severity AS incident_severity)",
    "geom": "ST_GeomFromEWKT(:geom)",
    "area_geom": "ST_GeomFromEWKT(:area_geom)",
}


def update_incident(
    session: Session, incident_id: int, body: IncidentUpdate, expected_version: int | None, principal: Principal
) -> dict:
    current = get_incident(session, incident_id)
    if expected_version is None:
        raise PreconditionRequired()
    if not principal.has(Role.investigator, Role.administrator):
        if current["created_by"] != principal.name or current["status"] != IncidentStatus.reported.value:
            raise Forbidden("Field officers may change only their own incidents, until they are verified.")
        if body.status is not None:
            raise Forbidden("Only investigators verify or reject incidents.")
    if body.status == IncidentStatus.linked:
        raise InvalidInput("'linked' is set when the incident is attached to a case.", code="invalid_status")
    changes: dict[str, Any] = {}
    for name in ("kind", "status", "severity", "description", "reporter", "tags"):
        value = getattr(body, name)
        if value is not None:
            changes[name] = value.value if hasattr(value, "value") else value
    observed = _observed(body.observed_at) if body.observed_at else None
    if observed:
        changes["observed_at"] = observed
    if body.location is not None or observed is not None:
        day = (observed or datetime.fromisoformat(current["observed_at"])).astimezone(BANGKOK).date()
        loc_in = body.location or LocationIn(
            lat=current["location"]["lat"], lon=current["location"]["lon"], confirm_outside_province=True
        )
        loc = locate(session, loc_in, day)
        if body.location is not None:
            changes.update(
                geom=f"SRID=4326;POINT({loc.point.lon!r} {loc.point.lat!r})",
                location_text=loc.point.text,
                location_format=loc.point.format,
                location_datum=loc.point.datum,
                accuracy_m=body.location.accuracy_m,
            )
        changes.update(loc.place, outside_province=loc.place["province_code"] is None)
    if "area" in body.model_fields_set:
        area = _area(body.area)
        changes["area_geom"] = None if area is None else f"SRID=4326;{area.wkt}"
    if not changes:
        return current
    sets = ", ".join(f"{k} = {_SET_SQL.get(k, ':' + k)}" for k in changes)  # column names: ours, never input
    updated = session.execute(
        text(
            f"UPDATE incidents SET {sets}, version = version + 1, updated_by = :_by, updated_at = now() "
            "WHERE id = :_id AND version = :_v RETURNING id"
        ),
        {**changes, "_by": principal.name, "_id": incident_id, "_v": expected_version},
    ).scalar()
    if updated is None:
        raise PreconditionFailed(
            "Someone else changed this incident since you loaded it; reload, check, and save again.",
            details=[{"current": get_incident(session, incident_id)}],
        )
    _finish_geometry(session, [incident_id])
    after = get_incident(session, incident_id)
    audit.record(session, principal.name, "update", "incident", incident_id, before=current, after=after)
    return after


# --- list ------------------------------------------------------------------------------------------
@dataclass
class IncidentFilter:
    district: str | None = None
    subdistrict: str | None = None
    protected_area: str | None = None
    in_reserve: bool | None = None
    kinds: list[str] | None = None
    statuses: list[str] | None = None
    start: date | None = None
    end: date | None = None
    bbox: tuple[float, float, float, float] | None = None
    q: str | None = None
    q_names: bool = True  # whether q also searches reporter names (only for callers who may read them)


def _where(f: IncidentFilter) -> tuple[str, dict]:
    where, p = ["TRUE"], {}
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
        p.update(dict(zip(("minx", "miny", "maxx", "maxy"), f.bbox)))
    if f.q:
        like = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            "(i.description ILIKE :q "
            + ("OR i.reporter ILIKE :q " if f.q_names else "")
            + "OR i.location_text ILIKE :q OR array_to_string(i.tags, ' ') ILIKE :q)"
        )
        p["q"] = like
    return " AND ".join(where), p


def list_incidents(session: Session, f: IncidentFilter, limit: int = 50, offset: int = 0) -> dict:
    where, params = _where(f)
    total = session.execute(text(f"SELECT count(*) FROM incidents i WHERE {where}"), params).scalar()
    rows = session.execute(
        text(_SELECT + f" WHERE {where} ORDER BY i.observed_at DESC, i.id DESC LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    ).all()
    return {"items": [_public(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def as_feature(incident: dict) -> dict:
    props = {k: v for k, v in incident.items() if k != "location"}
    props["location_text"] = incident["location"]["text"]
    return {
        "type": "Feature",
        "id": incident["id"],
        "geometry": {"type": "Point", "coordinates": [incident["location"]["lon"], incident["location"]["lat"]]},
        "properties": props,
    }


# --- re-attribution when boundaries change --------------------------------------------------------
def reattribute_incidents(session: Session, layer_type: str | None = None, ids: list[int] | None = None) -> int:
    """Recompute the stored attribution of incidents (all, or ``ids``) against the boundaries in this session."""
    rows = session.execute(
        text(
            "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, (observed_at AT TIME ZONE 'Asia/Bangkok')::date AS day "
            "FROM incidents" + (" WHERE id = ANY(:ids)" if ids is not None else "")
        ),
        {"ids": ids},
    ).all()
    if not rows:
        return 0
    gaz = gazetteer_in_transaction(session)  # the new boundaries are not committed yet
    a: Attribution = gaz.attribute(
        np.array([r.lon for r in rows]),
        np.array([r.lat for r in rows]),
        np.array([r.day for r in rows], dtype="datetime64[D]"),
    )
    areas = a.protected_area_lists()  # one pass; row(i) would scan every (point, area) pair per row
    records = [
        {
            "id": r.id,
            "province_code": a.province[i],
            "district_code": a.district[i],
            "subdistrict_code": a.subdistrict[i],
            "protected_area_codes": areas[i],
            "reserve_code": a.reserve[i],
            "in_reserve": bool(a.in_reserve[i]),
            "outside_province": a.province[i] is None,
        }
        for i, r in enumerate(rows)
    ]
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
    _finish_geometry(session, [r.id for r in rows])
    return len(rows)


# --- the status machine's case side: only a case link makes an incident 'linked' ---------------------------
def mark_linked(session: Session, incident_ids: list[str], principal: Principal) -> list[int]:
    """Incidents attached to a case become ``linked`` (whatever their status was); audited per incident."""
    return _move(session, incident_ids, None, IncidentStatus.linked, principal)


def mark_unlinked(session: Session, incident_ids: list[str], principal: Principal) -> list[int]:
    """Incidents no longer attached to any case go back from ``linked`` to ``verified``; audited per incident.
    The caller (the cases domain) decides which incidents have no case link left."""
    return _move(session, incident_ids, IncidentStatus.linked, IncidentStatus.verified, principal)


def _move(
    session: Session,
    incident_ids: list[str],
    from_status: IncidentStatus | None,
    to_status: IncidentStatus,
    principal: Principal,
) -> list[int]:
    changed = store.set_status(
        session,
        incident_ids,
        to_status.value,
        from_status=from_status.value if from_status else None,
        by=principal.name,
    )
    for incident_id in changed:
        audit.record(session, principal.name, "update", "incident", incident_id, after={"status": to_status.value})
    return changed
