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
from sqlalchemy.orm import Session

from geo_service import audit, coords, redaction
from geo_service.auth import Principal, Role
from geo_service.db.models import INCIDENT_KIND_LABELS, IncidentKind, IncidentStatus
from geo_service.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from geo_service.incidents import store
from geo_service.incidents.schemas import IncidentCreate, IncidentFilter, IncidentUpdate, LocationIn
from geo_service.places import Attribution, gazetteer, gazetteer_in_transaction
from geo_service.thai import BANGKOK, area_units, fiscal_year_be

MAX_AREA_M2 = 500e6  # an affected area larger than 500 km2 is a typing mistake, not an incident
# An outline drawn or walked in the field needs far fewer points; one of 1M points made every incident
# list that included it 25 MB.
MAX_AREA_VERTICES = 10_000
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


class OutsideProvince(InvalidInput):
    """A point outside the loaded province(s), not confirmed as such."""

    code = "outside_province"


# --- locating a point ------------------------------------------------------------------------------
@dataclass
class Located:
    """A parsed position and where it falls (the gazetteer's attribution)."""

    point: coords.ParsedPoint
    place: dict[str, Any]
    accuracy_m: float | None = None
    notes: list[str] = field(default_factory=list)


def _parse(loc: LocationIn) -> coords.ParsedPoint:
    if loc.text is not None:
        return coords.parse_point(loc.text, datum=loc.datum)
    assert loc.lat is not None and loc.lon is not None  # LocationIn requires text, or both numbers
    return coords.point_from_lat_lon(loc.lat, loc.lon, datum=loc.datum)


def _province_names(session: Session) -> str:
    return ", ".join(store.province_names(session)) or "the loaded provinces"


def nearest_jurisdiction(session: Session, lon: float, lat: float) -> dict[str, Any]:
    """For a point outside the loaded province(s): metres to the nearest of them and the nearest district.

    Geodesic distances (PostGIS geography, WGS 84 spheroid) to the current province and district polygons.
    """
    row = store.nearest_jurisdiction(session, lon, lat)
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
    row = store.place_names(
        session,
        place["district_code"],
        place["subdistrict_code"],
        place["protected_area_codes"],
        lon,
        lat,
        when or date.today(),
    )
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


def where_is(session: Session, loc: LocationIn) -> dict:
    """Where a position falls, without saving anything: the position as read, its accuracy and its place."""
    located = locate(session, loc)
    return {
        "position": located.point.as_dict(),
        "accuracy_m": loc.accuracy_m,
        "place": describe_place(session, located.place, located.point.lon, located.point.lat),
    }


# --- affected area -------------------------------------------------------------------------------
def _positions(geojson: dict) -> int:
    """The number of positions in a GeoJSON Polygon or MultiPolygon as sent (0 for anything else)."""
    coords = geojson.get("coordinates") if isinstance(geojson, dict) else None
    kind = geojson.get("type") if isinstance(geojson, dict) else None
    depth = {"Polygon": 1, "MultiPolygon": 2}.get(kind) if isinstance(kind, str) else None
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


def observed_time(value: datetime | None) -> datetime:
    """When an incident was observed: now when not given, Asia/Bangkok when given without a time zone;
    refused when in the future (beyond 10 minutes of clock skew) or before 1990."""
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
    """SHA-256 of the request as sent (its canonical JSON): tells a retry from a different request."""
    canonical = json.dumps(body.model_dump(mode="json", exclude_unset=True), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_incident(
    session: Session, body: IncidentCreate, principal: Principal, idempotency_key: str | None = None
) -> tuple[dict, bool]:
    """Create an incident in the caller's transaction. Returns (incident, created).

    With an idempotency key, a retry of the same request returns the incident created the first time
    (created=False), even when retries race; the same key with a different body is a Conflict.
    """
    observed = observed_time(body.observed_at)
    day = observed.astimezone(BANGKOK).date()
    loc = locate(session, body.location, day)
    check_in_scope(loc.place["province_code"], principal)
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
    new_id = store.insert_incident(session, values, idempotent=bool(idempotency_key))
    if new_id is None:
        assert idempotency_key  # only a taken key leaves the insert without a row
        existing = store.by_idempotency_key(session, idempotency_key)
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


def check_in_scope(province_code: str | None, principal: Principal) -> None:
    """An incident is logged in the caller's own province(s): a point attributed to another loaded province is
    refused (its office logs it), so nobody stores what they could not read back."""
    if province_code is not None and not principal.sees_province(province_code):
        raise InvalidInput(
            f"This point lies in province {province_code}, outside your province(s) "
            f"({', '.join(sorted(principal.provinces or []))}); that province's office logs it.",
            code="outside_your_provinces",
        )


def _finish_geometry(session: Session, ids: list[int]) -> None:
    """Derived values measured in PostGIS (area, distance to the nearest reserve); refuse an area too large."""
    areas = store.finish_geometry(session, ids)
    if any(a is not None and a > MAX_AREA_M2 for a in areas):
        raise InvalidInput("The affected area is larger than 500 km²; check the outline.", code="invalid_area")


# --- read ------------------------------------------------------------------------------------------
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


def get_incident(session: Session, incident_id: int, viewer: Principal | None = None) -> dict:
    """One incident in the API's shape (place names, area units, photos), unredacted; NotFound if none, or if
    it lies outside ``viewer``'s provinces (the same answer: its existence does not leak)."""
    row = store.incident_row(session, incident_id, viewer)
    if row is None:
        raise NotFound("No incident with this number.")
    return _public(row)


# --- the status machine ----------------------------------------------------------------------------
# reported, verified and rejected are set by investigators (update_incident); 'linked' only by a case link
# (mark_linked), and an incident whose last case link is removed goes back from 'linked' to 'verified'
# (mark_unlinked). Every change bumps the version and is audited.
def check_status_edit(status: IncidentStatus | None, principal: Principal, current: str | None = None) -> None:
    """Whether an edit may set ``status``: only investigators and administrators verify or reject, never to
    'linked' (a case link does that), and never away from 'linked' while a case links it (unlinking does)."""
    if status is None:
        return
    if current == IncidentStatus.linked.value and status != IncidentStatus.linked:
        raise Conflict(
            "This incident is attached to a case: it leaves 'linked' when the case unlinks it.",
            code="incident_linked",
        )
    if not principal.has(Role.investigator, Role.administrator):
        raise Forbidden("Only investigators verify or reject incidents.")
    if status == IncidentStatus.linked:
        raise InvalidInput("'linked' is set when the incident is attached to a case.", code="invalid_status")


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


# --- update ----------------------------------------------------------------------------------------
def update_incident(
    session: Session, incident_id: int, body: IncidentUpdate, expected_version: int | None, principal: Principal
) -> dict:
    """Change an incident still at ``expected_version`` (optimistic locking) and return it; re-attributes it
    when it moves or its observation day changes. Field officers change only their own, unverified ones."""
    current = get_incident(session, incident_id, principal)
    if expected_version is None:
        raise PreconditionRequired()
    if not principal.has(Role.investigator, Role.administrator) and (
        current["created_by"] != principal.name or current["status"] != IncidentStatus.reported.value
    ):
        raise Forbidden("Field officers may change only their own incidents, until they are verified.")
    check_status_edit(body.status, principal, current["status"])
    changes: dict[str, Any] = {}
    for name in ("kind", "status", "severity", "description", "reporter", "tags"):
        value = getattr(body, name)
        if value is not None:
            changes[name] = value.value if hasattr(value, "value") else value
    observed = observed_time(body.observed_at) if body.observed_at else None
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
        check_in_scope(loc.place["province_code"], principal)
        changes.update(loc.place, outside_province=loc.place["province_code"] is None)
    if "area" in body.model_fields_set:
        area = _area(body.area)
        changes["area_geom"] = None if area is None else f"SRID=4326;{area.wkt}"
    if not changes:
        return current
    if not store.update_fields(session, incident_id, changes, expected_version=expected_version, by=principal.name):
        raise PreconditionFailed(
            "Someone else changed this incident since you loaded it; reload, check, and save again.",
            details=[{"current": get_incident(session, incident_id)}],
        )
    _finish_geometry(session, [incident_id])
    after = get_incident(session, incident_id)
    audit.record(session, principal.name, "update", "incident", incident_id, before=current, after=after)
    return after


# --- list ------------------------------------------------------------------------------------------
def list_incidents(session: Session, f: IncidentFilter, limit: int = 50, offset: int = 0) -> dict:
    """One page of the incidents matching ``f``, newest first, unredacted: items, total, limit, offset."""
    total, rows = store.incident_rows(session, f, limit, offset)
    return {"items": [_public(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def list_for(session: Session, f: IncidentFilter, principal: Principal, limit: int = 50, offset: int = 0) -> dict:
    """The page a caller reads: text search covers reporter names only for who may read them, what they may
    not read is withheld, and ``next_offset`` says where the next page starts (when there is one)."""
    f.q_names = redaction.may_read(principal, "reporter")
    f.viewer = principal
    page = list_incidents(session, f, limit, offset)
    page["items"] = redaction.incidents(page["items"], principal)
    if offset + limit < page["total"]:
        page["next_offset"] = offset + limit
    return page


def as_feature(incident: dict) -> dict:
    """An incident (API shape) as a GeoJSON Feature: its point, and the rest as properties."""
    props = {k: v for k, v in incident.items() if k != "location"}
    props["location_text"] = incident["location"]["text"]
    return {
        "type": "Feature",
        "id": incident["id"],
        "geometry": {"type": "Point", "coordinates": [incident["location"]["lon"], incident["location"]["lat"]]},
        "properties": props,
    }


def feature_collection(
    session: Session, f: IncidentFilter, principal: Principal, limit: int = 1000, offset: int = 0
) -> dict:
    """A page of incidents as a GeoJSON FeatureCollection (OGC API counts), redacted for the caller."""
    page = list_for(session, f, principal, limit, offset)
    return {
        "type": "FeatureCollection",
        "numberMatched": page["total"],
        "numberReturned": len(page["items"]),
        "features": [as_feature(i) for i in page["items"]],
    }


# --- re-attribution when boundaries change --------------------------------------------------------
def reattribute_incidents(session: Session, layer_type: str | None = None, ids: list[int] | None = None) -> int:
    """Recompute the stored attribution of incidents (all, or ``ids``) against the boundaries in this session."""
    rows = store.positions(session, ids)
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
    store.write_attribution(session, records)
    _finish_geometry(session, [r.id for r in rows])
    return len(rows)
