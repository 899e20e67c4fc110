"""Reference layers out of PostGIS as GeoJSON (built by PostGIS itself), with bbox, filters and simplification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.db.models import ADMIN_LEVEL_LABELS, PROTECTED_KIND_LABELS, AdminLevel
from geo_service.errors import NotFound

# GeoJSON coordinates keep 7 decimals (about 1 cm), the RFC 7946 recommendation for precision.
DECIMALS = 7


@dataclass
class GeoFilter:
    """A bounding box and a simplification tolerance (metres) for GeoJSON output."""

    bbox: tuple[float, float, float, float] | None = None
    simplify_m: float = 0.0


def _geometry_sql(simplify_m: float) -> str:
    """Exterior rings counter-clockwise (RFC 7946); optional simplification in metres, done in UTM."""
    if simplify_m and simplify_m > 0:
        return (
            "ST_ForcePolygonCCW(ST_Multi(ST_Transform(ST_SimplifyPreserveTopology("
            "ST_Transform(g.geom, utm_srid(g.geom)), :simplify_m), 4326)))"
        )
    return "ST_ForcePolygonCCW(g.geom)"


def _area_props() -> str:
    return (
        "'area_km2', round((g.area_m2 / 1e6)::numeric, 3), 'area_ha', round((g.area_m2 / 1e4)::numeric, 2), "
        "'area_rai', round((g.area_m2 / 1600)::numeric, 1)"
    )


def _collection(session: Session, inner_sql: str, params: dict) -> bytes:
    sql = f"""
    SELECT json_build_object(
      'type', 'FeatureCollection',
      'numberReturned', count(*),
      'attribution', (SELECT string_agg(DISTINCT attribution, '; ') FROM layer_sources
                      WHERE id = ANY(array_agg(f.source_id))),
      'features', coalesce(json_agg(f.feature ORDER BY f.sort_key), '[]'::json)
    )::text
    FROM ({inner_sql}) f
    """
    return session.execute(text(sql), params).scalar_one().encode()


def _where_geo(flt: GeoFilter, params: dict) -> list[str]:
    where = []
    if flt.bbox:
        params.update(dict(zip(("minx", "miny", "maxx", "maxy"), flt.bbox)))
        where.append("ST_Intersects(g.geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
    params["simplify_m"] = flt.simplify_m
    return where


def admin_areas_geojson(
    session: Session, level: AdminLevel, flt: GeoFilter, *, parent: str | None = None, code: str | None = None
) -> bytes:
    """Current administrative areas of one level as a FeatureCollection."""
    params: dict = {"level": level.value}
    where = ["g.is_current", "g.level = CAST(:level AS admin_level)", *_where_geo(flt, params)]
    if parent:
        where.append("g.parent_code = :parent")
        params["parent"] = parent
    if code:
        where.append("g.code = :code")
        params["code"] = code
    th, en = ADMIN_LEVEL_LABELS[level]
    params.update(level_th=th, level_en=en)
    inner = f"""
      SELECT g.code AS sort_key, g.source_id, json_build_object(
        'type', 'Feature', 'id', g.code,
        'geometry', ST_AsGeoJSON({_geometry_sql(flt.simplify_m)}, {DECIMALS})::json,
        'properties', json_build_object(
          'code', g.code, 'level', g.level, 'level_th', CAST(:level_th AS text), 'level_en', CAST(:level_en AS text),
          'name_th', g.name_th, 'name_en', g.name_en, 'parent_code', g.parent_code,
          {_area_props()}, 'layer', s.name, 'version', g.version, 'illustrative', s.illustrative)
      ) AS feature
      FROM admin_areas g JOIN layer_sources s ON s.id = g.source_id
      WHERE {" AND ".join(where)}
    """
    return _collection(session, inner, params)


def protected_areas_geojson(
    session: Session,
    flt: GeoFilter,
    *,
    kinds: list[str] | None = None,
    at: date | None = None,
    all_versions: bool = False,
    code: str | None = None,
) -> bytes:
    """Protected areas in force on ``at`` (default: every version when ``all_versions``)."""
    params: dict = {}
    where = _where_geo(flt, params)
    if not all_versions:
        params["at"] = at or date.today()
        where.append("(g.valid_from IS NULL OR g.valid_from <= :at) AND (g.valid_to IS NULL OR g.valid_to > :at)")
    if kinds:
        params["kinds"] = kinds
        where.append("g.kind::text = ANY(:kinds)")
    if code:
        params["code"] = code
        where.append("g.code = :code")
    labels = " ".join(f"WHEN '{k.value}' THEN '{th}|{en}'" for k, (th, en) in PROTECTED_KIND_LABELS.items())
    inner = f"""
      SELECT g.code || '@' || g.version AS sort_key, g.source_id, json_build_object(
        'type', 'Feature', 'id', g.code || '@' || g.version,
        'geometry', ST_AsGeoJSON({_geometry_sql(flt.simplify_m)}, {DECIMALS})::json,
        'properties', json_build_object(
          'code', g.code, 'version', g.version, 'kind', g.kind,
          'kind_th', split_part(CASE g.kind::text {labels} END, '|', 1),
          'kind_en', split_part(CASE g.kind::text {labels} END, '|', 2),
          'name_th', g.name_th, 'name_en', g.name_en, 'legal_reference', g.legal_reference,
          'agency', g.agency, 'valid_from', g.valid_from, 'valid_to', g.valid_to, 'note', g.note,
          'illustrative', g.illustrative, {_area_props()}, 'layer', s.name)
      ) AS feature
      FROM protected_areas g JOIN layer_sources s ON s.id = g.source_id
      {"WHERE " + " AND ".join(where) if where else ""}
    """
    return _collection(session, inner, params)


def single_feature(collection: bytes, what: str) -> bytes:
    """The one feature of a filtered collection, or NotFound."""
    import orjson

    fc = orjson.loads(collection)
    if not fc["features"]:
        raise NotFound(f"No {what} with this code.")
    feature = fc["features"][0] if len(fc["features"]) == 1 else fc
    if len(fc["features"]) == 1:
        feature["attribution"] = fc["attribution"]
    return orjson.dumps(feature)


def layer_sources(session: Session) -> list[dict]:
    """Every loaded layer version with its source, licence, attribution and file."""
    rows = session.execute(
        text("""
        SELECT s.name, s.version, s.layer_type, s.title, s.source, s.licence, s.attribution, s.illustrative,
               s.file_name, s.file_sha256, s.feature_count, s.loaded_at, s.loaded_by
        FROM layer_sources s ORDER BY s.layer_type, s.name, s.loaded_at
    """)
    ).mappings()
    return [dict(r) for r in rows]


# --- for places (the Gazetteer), the health check and the CLI ------------------------------------------
def boundaries_version(session: Session) -> tuple:
    """Changes whenever a boundary layer is loaded or changed: the newest change and the row counts of the
    current administrative areas and of every protected-area version."""
    return tuple(
        session.execute(
            text(
                "SELECT (SELECT max(updated_at) FROM admin_areas), (SELECT count(*) FROM admin_areas WHERE is_current), "
                "(SELECT max(updated_at) FROM protected_areas), (SELECT count(*) FROM protected_areas)"
            )
        ).one()
    )


def current_area_shapes(session: Session, level: str) -> list:
    """The current areas of one level in code order: rows of ``code``, ``parent_code`` and ``wkb`` (EPSG:4326)."""
    return list(
        session.execute(
            text(
                "SELECT code, parent_code, ST_AsBinary(geom) AS wkb FROM admin_areas "
                "WHERE is_current AND level = CAST(:level AS admin_level) ORDER BY code"
            ),
            {"level": level},
        ).all()
    )


def protected_area_shapes(session: Session) -> list:
    """Every protected-area version in code and version order: rows of ``code``, ``kind``, ``valid_from``,
    ``valid_to`` and ``wkb`` (EPSG:4326)."""
    return list(
        session.execute(
            text(
                "SELECT code, kind::text AS kind, valid_from, valid_to, ST_AsBinary(geom) AS wkb "
                "FROM protected_areas ORDER BY code, version"
            )
        ).all()
    )


def boundary_counts(session: Session) -> dict[str, int]:
    """How many current administrative areas and protected-area versions are loaded."""
    row = session.execute(
        text(
            "SELECT (SELECT count(*) FROM admin_areas WHERE is_current) AS admin_areas, "
            "(SELECT count(*) FROM protected_areas) AS protected_areas"
        )
    ).one()
    return {"admin_areas": row.admin_areas, "protected_areas": row.protected_areas}


def current_counts_by_level(session: Session) -> list[tuple[str, int]]:
    """(level, number of current areas) for each loaded administrative level, in level order."""
    return [
        (level, n)
        for level, n in session.execute(
            text("SELECT level, count(*) FROM admin_areas WHERE is_current GROUP BY level ORDER BY level")
        ).all()
    ]


def has_boundaries(session: Session) -> bool:
    """Whether any administrative area is stored (an empty database gets the bundled layers)."""
    return bool(session.execute(text("SELECT EXISTS (SELECT 1 FROM admin_areas)")).scalar())


# --- for cases.service, cases.evidence, cases.evidence_geojson ---
# Province scope of places linked as a case's evidence (cases.evidence_scope), the caller's provinces bound as
# ``:scope_provinces``: a district lies in its province (``parent_code``); a protected area in every current province
# its outline has a part in (interiors meet: a reserve on the border line is in both, one only touching it is not),
# as a clearing patch is in every province it has a part in.
_DISTRICT_IN_PROVINCES = "a.parent_code = ANY(CAST(:scope_provinces AS text[]))"
# ``p``: a row of latest_protected_areas; its newest outline (the one drawn) decides, not an older version's.
# "Interiors meet" is first asked of one interior point of the reserve (ST_PointOnSurface) inside the province (a
# point test against the province's prepared outline, cached across the rows); only when it is not (a reserve across
# or beyond the border) does the full outline test (ST_Relate, about 1 ms per reserve) decide. Same answer: a point of
# both interiors means the interiors meet.
_PROTECTED_AREA_IN_PROVINCES = """EXISTS (
    SELECT 1 FROM current_admin_areas sv
    WHERE sv.level = 'province' AND sv.code = ANY(CAST(:scope_provinces AS text[])) AND sv.geom && p.geom
      AND (ST_Contains(sv.geom, ST_PointOnSurface(p.geom)) OR ST_Relate(p.geom, sv.geom, 'T********')))"""


def _scope(condition: str, viewer: Principal | None) -> tuple[str, dict]:
    if viewer is None or viewer.provinces is None:
        return "TRUE", {}
    return condition, {"scope_provinces": sorted(viewer.provinces)}


def existing_protected_area_codes(session: Session, codes: list[str], viewer: Principal | None = None) -> set[str]:
    """Which of these codes are protected areas (any version) whose newest outline has a part in ``viewer``'s
    provinces (None, national: all)."""
    if not codes:
        return set()
    scope, params = _scope(_PROTECTED_AREA_IN_PROVINCES, viewer)
    return set(
        session.execute(
            text(f"SELECT p.code FROM latest_protected_areas p WHERE p.code = ANY(:c) AND {scope}"),
            {"c": codes, **params},
        ).scalars()
    )


def existing_district_codes(session: Session, codes: list[str], viewer: Principal | None = None) -> set[str]:
    """Which of these codes are current districts within ``viewer``'s provinces (None, national: every one)."""
    if not codes:
        return set()
    scope, params = _scope(_DISTRICT_IN_PROVINCES, viewer)
    return set(
        session.execute(
            text(
                f"SELECT a.code FROM current_admin_areas a WHERE a.level = 'district' AND a.code = ANY(:c) AND {scope}"
            ),
            {"c": codes, **params},
        ).scalars()
    )


def protected_area_features(
    session: Session, codes: list[str], viewer: Principal | None = None
) -> dict[str, tuple[str | None, dict]]:
    """The newest version of these protected areas within ``viewer``'s provinces as GeoJSON geometry (text, 7
    decimals, exterior rings counter-clockwise) and attributes, by code."""
    if not codes:
        return {}
    scope, params = _scope(_PROTECTED_AREA_IN_PROVINCES, viewer)
    rows = session.execute(
        text(
            "SELECT p.code, ST_AsGeoJSON(ST_ForcePolygonCCW(p.geom), 7), json_build_object('name_th', p.name_th, "
            "'name_en', p.name_en, 'kind', p.kind, 'version', p.version, 'illustrative', p.illustrative) "
            f"FROM latest_protected_areas p WHERE p.code = ANY(:c) AND {scope}"
        ),
        {"c": codes, **params},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def district_features(
    session: Session, codes: list[str], viewer: Principal | None = None
) -> dict[str, tuple[str | None, dict]]:
    """These current districts within ``viewer``'s provinces as GeoJSON geometry (text, 7 decimals, exterior rings
    counter-clockwise) and names, by code."""
    if not codes:
        return {}
    scope, params = _scope(_DISTRICT_IN_PROVINCES, viewer)
    rows = session.execute(
        text(
            "SELECT a.code, ST_AsGeoJSON(ST_ForcePolygonCCW(a.geom), 7), "
            "json_build_object('name_th', a.name_th, 'name_en', a.name_en) "
            f"FROM current_admin_areas a WHERE a.level = 'district' AND a.code = ANY(:c) AND {scope}"
        ),
        {"c": codes, **params},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def protected_area_cards(session: Session, codes: list[str]) -> list[dict]:
    """Name, kind, area, whether illustrative and the source's attribution of the newest version of these
    protected areas, by code."""
    rows = session.execute(
        text("""
        SELECT p.code, p.name_th, p.name_en, p.kind::text AS kind, p.area_m2, p.illustrative, s.attribution
        FROM latest_protected_areas p JOIN layer_sources s ON s.id = p.source_id
        WHERE p.code = ANY(:codes) ORDER BY p.code
    """),
        {"codes": codes},
    ).mappings()
    return [dict(r) for r in rows]


def district_outlines_wkb(session: Session, tolerance_deg: float = 0.001) -> list[tuple[str, bytes]]:
    """(code, simplified geometry as WKB) of every current district, for a static overview map."""
    rows = session.execute(
        text(
            "SELECT code, ST_AsBinary(ST_SimplifyPreserveTopology(geom, :t)) FROM current_admin_areas "
            "WHERE level = 'district'"
        ),
        {"t": tolerance_deg},
    ).all()
    return [(r[0], bytes(r[1])) for r in rows]


def protected_area_outlines_wkb(session: Session, codes: list[str]) -> list[tuple[str, bytes]]:
    """(code, geometry as WKB) of the newest version of these protected areas."""
    rows = session.execute(
        text("SELECT code, ST_AsBinary(geom) FROM latest_protected_areas WHERE code = ANY(:c) ORDER BY code"),
        {"c": codes},
    ).all()
    return [(r[0], bytes(r[1])) for r in rows]


# --- for exports.collections ---
def export_admin_areas_sql(level: AdminLevel) -> str:
    """SELECT of the current administrative areas of one level as the exports and the OGC API read them (the
    stored columns and the layer's attribution)."""
    return f"""SELECT a.code, a.geom, a.name_th, a.name_en, a.parent_code, a.area_m2, a.version, a.attribution
FROM current_admin_areas a WHERE a.level = '{AdminLevel(level).value}'"""


# Every protected-area version (whatever its validity) with its layer's attribution.
EXPORT_PROTECTED_AREAS_SQL = """SELECT p.code, p.version, p.geom, p.kind::text AS kind, p.name_th, p.name_en,
       p.legal_reference, p.agency, p.valid_from, p.valid_to, p.illustrative, p.area_m2, s.attribution
FROM protected_areas p JOIN layer_sources s ON s.id = p.source_id"""


# --- for maps.overview (via maps.layers) and reports.brief ---
def attributions(session: Session, layer_type: str) -> list[dict]:
    """The distinct (attribution, illustrative) of the loaded layers of one type, by attribution."""
    return [
        dict(r)
        for r in session.execute(
            text("SELECT DISTINCT attribution, illustrative FROM layer_sources WHERE layer_type = :t ORDER BY 1"),
            {"t": layer_type},
        ).mappings()
    ]


def loaded_layers(session: Session) -> list[dict]:
    """Every loaded layer version (name, version, attribution, illustrative, loaded_at), by name and version."""
    return [
        dict(r)
        for r in session.execute(
            text("SELECT name, version, attribution, illustrative, loaded_at FROM layer_sources ORDER BY name, version")
        ).mappings()
    ]


# For exports.tiles: the data version of the boundaries (a load, a reload or a removal changes it).
LAYERS_VERSION_SQL = "SELECT count(*) || ':' || coalesce(max(loaded_at)::text, '') FROM layer_sources"
