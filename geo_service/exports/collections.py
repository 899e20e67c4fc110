"""The collections that can leave the service, what each exposes, and to whom.

Each collection is a SQL query with an allow-list of properties. Filters, CQL2 expressions and property
choices can only name those properties; confidential properties are dropped for callers who may not
see them. Collections marked public are the OGC API's anonymous collections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from geo_service.auth import Principal, Role
from geo_service.db.models import AdminLevel
from geo_service.forest_loss import queries as forest_queries
from geo_service.hotspots import store as hotspot_store
from geo_service.incidents import store as incident_store
from geo_service.layers import aoi
from geo_service.layers import queries as layer_queries
from geo_service.redaction import INCIDENT_CONFIDENTIAL, STAFF  # one policy for confidential properties
from geo_service.redflags import store as redflag_store

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Collection:
    """A collection that can leave the service: its query, its allowed properties, and who may read what."""

    name: str
    title: str
    title_th: str
    sql: str  # SELECT ... FROM ...: columns id, geom, datetime?, and properties
    properties: tuple[str, ...]  # allow-list, in output order
    geometry_type: str
    public: bool = False
    readers: frozenset[Role] = ALL_ROLES  # roles that may read it (API keys: also by scope)
    confidential: dict[str, frozenset[Role]] = field(default_factory=dict)  # property -> roles that may see it
    datetime: str | None = None  # the property used by datetime filters
    order_by: str = "id"  # stable order for paging (an indexed column where large)
    province_scoped: bool = False  # rows limited to a provincial caller's provinces (province_code, created_by)
    # The scope condition of a province-scoped collection whose domain defines its own rule: SQL on the row (alias
    # ``t``) with the caller's provinces as the bound ``:scope_provinces`` (clearing patches: PATCH_SCOPE, a patch
    # with a part in them). Empty: the row's province_code (or, with none, the caller's own rows by created_by).
    scope_sql: str = ""
    licence: str = "Terms of the geo_service operator"
    attribution: str = ""
    description: str = ""
    # Vector tiles (exports/tiles.py, OGC API - Tiles): the properties a tile carries (a short subset of
    # ``properties``, still narrowed by the caller's role and key), the first zoom served, and a SELECT giving
    # one text value that changes whenever the collection's data do (its tiles' ETag). A collection with no
    # tile properties has no tiles. New data (e.g. forest-clearing patches) get tiles by declaring these three.
    tile_properties: tuple[str, ...] = ()
    tile_minzoom: int = 0
    version_sql: str = ""
    # A collection made public by a deployment's setting (aggregates only): a function of the Settings.
    public_when: Callable[[Any], bool] | None = None
    # API-key scopes that also open the collection (clearing patches: a key allowed incidents)
    also_scopes: frozenset[str] = frozenset()

    def visible_to(self, principal: Principal | None) -> bool:
        """Whether this caller may read the collection at all (public, by role, or by an API key's scopes)."""
        if self.public:
            return True
        if principal is None:
            return False
        if principal.scopes is not None:  # an API key: its scopes decide
            return self.name in principal.scopes or bool(principal.scopes & self.also_scopes)
        return bool(principal.roles & self.readers)

    def properties_for(self, principal: Principal | None) -> tuple[str, ...]:
        """The properties this caller may see: by role, and narrowed to an API key's fields if it names any."""
        roles = principal.roles if principal else frozenset()
        allowed = principal.fields_for(self.name) if principal else None
        return tuple(
            p
            for p in self.properties
            if (p not in self.confidential or (roles & self.confidential[p])) and (allowed is None or p in allowed)
        )


COD_AB = "Administrative boundaries: Royal Thai Survey Department / OCHA COD-AB (CC BY-IGO)"

# Each collection's query reads its domain's rows through the domain's store (``b``, the base) and adds the
# presentation: identifiers, local times, Buddhist Era dates, areas in rai and hectares, and names beside codes
# from the shared views. PostgreSQL flattens the base into the query, so its indexes serve the paging order.


def _admin_sql(level: AdminLevel) -> str:
    return f"""
SELECT b.code AS id, b.geom AS geom, b.code, b.name_th, b.name_en, b.parent_code,
       round((b.area_m2 / 1e6)::numeric, 3)::float AS area_km2, round((b.area_m2 / 1600)::numeric, 1)::float AS area_rai,
       b.version, b.attribution
FROM ({layer_queries.export_admin_areas_sql(level)}) b
"""


def _local(ts: str) -> str:
    """SQL: a timestamp as Asia/Bangkok local time, ISO 8601 with its offset (beside the UTC column)."""
    return f"""to_char({ts} AT TIME ZONE 'Asia/Bangkok', 'YYYY-MM-DD"T"HH24:MI:SS"+07:00"')"""


def _be(day: str) -> str:
    """SQL: a date as officials write it, D/M/YYYY in the Buddhist Era (the SQL twin of ``thai.be_dmy``)."""
    return f"be_dmy({day})"


def _bangkok_day(ts: str) -> str:
    return f"({ts} AT TIME ZONE 'Asia/Bangkok')::date"


# Names beside codes: the current district and subdistrict, and the latest version of the reserve (one small
# hashed view each: the joins cost the same for 1,000 or 1,000,000 rows).
_NAME_COLUMNS = (
    "d.name_th AS district_th, d.name_en AS district_en, {sub}r.name_th AS reserve_th, r.name_en AS reserve_en"
)
_NAME_JOINS = """
LEFT JOIN current_admin_areas d ON d.level = 'district' AND d.code = b.district_code
{sub}LEFT JOIN latest_protected_areas r ON r.code = b.reserve_code
"""


def _names(subdistrict: bool = True) -> tuple[str, str]:
    cols = _NAME_COLUMNS.format(sub="s.name_th AS subdistrict_th, s.name_en AS subdistrict_en, " if subdistrict else "")
    joins = _NAME_JOINS.format(
        sub="LEFT JOIN current_admin_areas s ON s.level = 'subdistrict' AND s.code = b.subdistrict_code\n"
        if subdistrict
        else "",
    )
    return cols, joins


_HOTSPOT_NAMES, _HOTSPOT_JOINS = _names()
_EVENT_NAMES, _EVENT_JOINS = _names(subdistrict=False)
_INCIDENT_NAMES, _INCIDENT_JOINS = _names()
_PATCH_NAMES, _PATCH_JOINS = _names()

_NAMED = (
    "district_code",
    "district_th",
    "district_en",
    "subdistrict_code",
    "subdistrict_th",
    "subdistrict_en",
    "reserve_code",
    "reserve_th",
    "reserve_en",
)
_INCIDENT_WHEN = (
    "reference",
    "incident_id",
    "kind",
    "status",
    "severity",
    "observed_at",
    "observed_local",
    "observed_date_be",
)


def _incident_sql(base: str) -> str:
    return f"""
SELECT b.id::text AS id, b.geom AS geom, 'INC-' || lpad(b.id::text, 6, '0') AS reference, b.id AS incident_id,
       b.kind, b.status, b.severity, b.observed_at, {_local("b.observed_at")} AS observed_local,
       {_be(_bangkok_day("b.observed_at"))} AS observed_date_be, b.province_code, b.district_code,
       b.subdistrict_code, b.protected_area_codes, b.reserve_code, {_INCIDENT_NAMES}, b.in_reserve,
       b.reserve_distance_m, round((b.area_m2 / 1600)::numeric, 2)::float AS area_rai,
       round((b.area_m2 / 1e4)::numeric, 4)::float AS area_ha, b.tags, b.description, b.reporter, b.created_by
FROM ({base}) b{_INCIDENT_JOINS}"""


_BOUNDARY_TILES = ("code", "name_th", "name_en", "parent_code", "area_rai")
_LAYERS_VERSION = layer_queries.LAYERS_VERSION_SQL
_PLACES_VERSION = f"SELECT concat_ws('/', ({_LAYERS_VERSION}), ({aoi.AOI_VERSION_SQL}))"  # names and in_aoi
_HOTSPOTS_VERSION = f"SELECT concat_ws('/', ({hotspot_store.HOTSPOTS_VERSION_SQL}), ({_PLACES_VERSION}))"
_EVENTS_VERSION = f"SELECT concat_ws('/', ({hotspot_store.FIRE_EVENTS_VERSION_SQL}), ({_PLACES_VERSION}))"
_PATCHES_VERSION = f"SELECT concat_ws('/', ({forest_queries.PATCHES_VERSION_SQL}), ({_LAYERS_VERSION}))"
_INCIDENTS_VERSION = f"SELECT concat_ws('/', ({incident_store.INCIDENTS_VERSION_SQL}), ({_LAYERS_VERSION}))"

COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection(
            name="provinces",
            title="Provinces (changwat)",
            title_th="จังหวัด",
            sql=_admin_sql(AdminLevel.province),
            properties=("code", "name_th", "name_en", "parent_code", "area_km2", "area_rai", "version", "attribution"),
            geometry_type="MultiPolygon",
            public=True,
            licence="CC BY-IGO 3.0",
            attribution=COD_AB,
            description="Current province boundaries with official codes and Thai/English names.",
            tile_properties=_BOUNDARY_TILES,
            version_sql=_LAYERS_VERSION,
        ),
        Collection(
            name="districts",
            title="Districts (amphoe)",
            title_th="อำเภอ",
            sql=_admin_sql(AdminLevel.district),
            properties=("code", "name_th", "name_en", "parent_code", "area_km2", "area_rai", "version", "attribution"),
            geometry_type="MultiPolygon",
            public=True,
            licence="CC BY-IGO 3.0",
            attribution=COD_AB,
            description="Current district boundaries with official codes and Thai/English names.",
            tile_properties=_BOUNDARY_TILES,
            version_sql=_LAYERS_VERSION,
        ),
        Collection(
            name="subdistricts",
            title="Subdistricts (tambon)",
            title_th="ตำบล",
            sql=_admin_sql(AdminLevel.subdistrict),
            properties=("code", "name_th", "name_en", "parent_code", "area_km2", "area_rai", "version", "attribution"),
            geometry_type="MultiPolygon",
            public=True,
            licence="CC BY-IGO 3.0",
            attribution=COD_AB,
            description="Current subdistrict boundaries with official codes and Thai/English names.",
            tile_properties=_BOUNDARY_TILES,
            version_sql=_LAYERS_VERSION,
        ),
        Collection(
            name="protected_areas",
            title="Forest reserves and protected areas",
            title_th="พื้นที่ป่าและพื้นที่คุ้มครอง",
            sql=f"""
SELECT b.code || '@' || b.version AS id, b.geom AS geom, b.code, b.version, b.kind, b.name_th,
       b.name_en, b.legal_reference, b.agency, b.valid_from, b.valid_to, {_be("b.valid_from")} AS valid_from_be,
       {_be("b.valid_to")} AS valid_to_be, in_force(b.valid_from, b.valid_to, current_date) AS in_force,
       b.illustrative, round((b.area_m2 / 1600)::numeric, 1)::float AS area_rai,
       round((b.area_m2 / 1e4)::numeric, 2)::float AS area_ha, b.attribution
FROM ({layer_queries.EXPORT_PROTECTED_AREAS_SQL}) b
""",
            properties=(
                "code",
                "version",
                "kind",
                "name_th",
                "name_en",
                "legal_reference",
                "agency",
                "valid_from",
                "valid_from_be",
                "valid_to",
                "valid_to_be",
                "in_force",
                "illustrative",
                "area_rai",
                "area_ha",
                "attribution",
            ),
            geometry_type="MultiPolygon",
            public=True,
            datetime="valid_from",
            licence="See each feature's attribution; illustrative boundaries are CC0 and NOT official",
            attribution="See each feature's attribution",
            description="Every boundary version with its validity period; the bundled ones are ILLUSTRATIVE.",
            tile_properties=(
                "code",
                "version",
                "kind",
                "name_th",
                "name_en",
                "valid_from_be",
                "valid_to_be",
                "in_force",
                "illustrative",
                "area_rai",
            ),
            version_sql=_LAYERS_VERSION,
        ),
        Collection(
            name="hotspots",
            title="Satellite fire hotspots (NASA FIRMS)",
            title_th="จุดความร้อน (NASA FIRMS)",
            sql=f"""
SELECT b.id::text AS id, b.geom AS geom, b.id AS hotspot_id, b.acq_utc, {_local("b.acq_utc")} AS acq_local,
       b.acq_date_local, {_be("b.acq_date_local")} AS acq_date_be, b.satellite, b.instrument,
       b.processing, b.version, b.confidence, b.confidence_raw, b.frp, b.daynight, b.brightness, b.province_code,
       b.district_code, b.subdistrict_code, b.reserve_code, {_HOTSPOT_NAMES}, b.protected_area_codes, b.event_id, b.in_aoi
FROM ({hotspot_store.EXPORT_HOTSPOTS_SQL}) b{_HOTSPOT_JOINS}""",
            properties=(
                "hotspot_id",
                "acq_utc",
                "acq_local",
                "acq_date_local",
                "acq_date_be",
                "satellite",
                "instrument",
                "processing",
                "version",
                "confidence",
                "confidence_raw",
                "frp",
                "daynight",
                "brightness",
                "province_code",
                *_NAMED,
                "protected_area_codes",
                "event_id",
                "in_aoi",
            ),
            geometry_type="Point",
            public=True,
            datetime="acq_utc",
            order_by="hotspot_id",
            licence="NASA FIRMS data are free to use with acknowledgement",
            attribution="Fire hotspots: NASA FIRMS (LANCE, MODIS C6.1 and VIIRS 375 m)",
            description="Detections attributed to district, subdistrict and the protected areas in force; confidence "
            "1 low, 2 nominal, 3 high (original in confidence_raw); acq_utc in UTC, acq_local and the dates "
            "in Asia/Bangkok (acq_date_be: D/M/YYYY, Buddhist Era); in_aoi: inside the deployment's area of "
            "interest (false: a neighbouring province's detection).",
            tile_properties=(
                "hotspot_id",
                "acq_local",
                "acq_date_local",
                "acq_date_be",
                "satellite",
                "confidence",
                "frp",
                "daynight",
                "district_code",
                "district_th",
                "district_en",
                "reserve_code",
                "event_id",
                "in_aoi",
            ),
            version_sql=_HOTSPOTS_VERSION,
        ),
        Collection(
            name="fire_events",
            title="Fire events (hotspots clustered in space and time)",
            title_th="เหตุไฟ",
            sql=f"""
SELECT b.id::text AS id, b.geom AS geom, b.id AS event_id, b.first_seen, {_local("b.first_seen")} AS first_seen_local,
       {_be(_bangkok_day("b.first_seen"))} AS first_date_be, b.last_seen, {_local("b.last_seen")} AS last_seen_local,
       {_be(_bangkok_day("b.last_seen"))} AS last_date_be, b.detections, b.max_frp,
       b.sensors, b.district_code, b.reserve_code, {_EVENT_NAMES},
       round((b.area_m2 / 1600)::numeric, 1)::float AS area_rai, round((b.area_m2 / 1e4)::numeric, 2)::float AS area_ha,
       in_area_of_interest(b.geom) AS in_aoi
FROM ({hotspot_store.EXPORT_FIRE_EVENTS_SQL}) b{_EVENT_JOINS}""",
            properties=(
                "event_id",
                "first_seen",
                "first_seen_local",
                "first_date_be",
                "last_seen",
                "last_seen_local",
                "last_date_be",
                "detections",
                "max_frp",
                "sensors",
                "district_code",
                "district_th",
                "district_en",
                "reserve_code",
                "reserve_th",
                "reserve_en",
                "area_rai",
                "area_ha",
                "in_aoi",
            ),
            geometry_type="Polygon",
            public=True,
            datetime="first_seen",
            order_by="event_id",
            licence="Derived from NASA FIRMS",
            attribution="Fire events derived from NASA FIRMS hotspots by geo_service",
            description="Footprints of detections at most 1 km and 2 days apart, with first/last seen and max FRP; "
            "in_aoi: the footprint touches the deployment's area of interest. area_rai and area_ha are the footprint's "
            "area: the detections' pixels (MODIS 1 km, VIIRS 375 m), not burned area.",
            tile_properties=(
                "event_id",
                "first_seen_local",
                "last_seen_local",
                "first_date_be",
                "last_date_be",
                "detections",
                "max_frp",
                "district_code",
                "district_th",
                "district_en",
                "reserve_code",
                "area_rai",
                "area_ha",
                "in_aoi",
            ),
            version_sql=_EVENTS_VERSION,
        ),
        Collection(
            name="incidents",
            title="Field incidents",
            title_th="เหตุการณ์ที่พบในพื้นที่",
            sql=_incident_sql(incident_store.EXPORT_INCIDENTS_SQL),
            properties=(
                *_INCIDENT_WHEN,
                "province_code",
                *_NAMED,
                "protected_area_codes",
                "in_reserve",
                "reserve_distance_m",
                "area_rai",
                "area_ha",
                "tags",
                "description",
                "reporter",
                "created_by",
            ),
            geometry_type="Point",
            readers=STAFF | {Role.partner},
            datetime="observed_at",
            order_by="incident_id",
            province_scoped=True,
            confidential=INCIDENT_CONFIDENTIAL,
            attribution="Field incidents: NACC Phrae provincial office and partners",
            description="Incidents logged by field officers (reference INC-nnnnnn), attributed to districts and "
            "reserves; observed_at in UTC, observed_local in Asia/Bangkok. The affected areas are the "
            "collection incident_areas. Partners receive no descriptions, tags or names.",
            tile_properties=(
                "reference",
                "incident_id",
                "kind",
                "status",
                "severity",
                "observed_local",
                "observed_date_be",
                "district_code",
                "district_th",
                "district_en",
                "reserve_code",
                "in_reserve",
            ),
            version_sql=_INCIDENTS_VERSION,
        ),
        Collection(
            name="incident_areas",
            title="Field incidents: affected areas",
            title_th="พื้นที่ได้รับผลกระทบ",
            sql=_incident_sql(incident_store.EXPORT_INCIDENT_AREAS_SQL),
            properties=(*_INCIDENT_WHEN, *_NAMED, "area_rai", "area_ha", "tags", "description"),
            geometry_type="MultiPolygon",
            readers=STAFF | {Role.partner},
            datetime="observed_at",
            order_by="incident_id",
            province_scoped=True,
            confidential=INCIDENT_CONFIDENTIAL,
            attribution="Field incidents: NACC Phrae provincial office and partners",
            description="The affected-area polygon drawn for an incident (only incidents that have one), with its "
            "reference INC-nnnnnn, its area in rai and hectares, and the point incident's attribution.",
            tile_properties=("reference", "incident_id", "kind", "status", "observed_local", "area_rai", "area_ha"),
            version_sql=_INCIDENTS_VERSION,
        ),
        Collection(
            name="clearing_patches",
            title="Forest clearing patches (satellite forest-loss alerts)",
            title_th="แปลงแผ้วถางป่า (การแจ้งเตือนการสูญเสียป่าจากดาวเทียม)",
            sql=f"""
SELECT b.id::text AS id, b.geom AS geom, b.id AS patch_id, b.sources, b.first_date, b.last_date,
       {_be("b.first_date")} AS first_date_be, {_be("b.last_date")} AS last_date_be,
       fiscal_year_be(b.first_date) AS fiscal_year_be, b.pixels,
       round((b.area_m2 / 1600)::numeric, 2)::float AS area_rai, round((b.area_m2 / 1e4)::numeric, 4)::float AS area_ha,
       b.confidence_max, round(b.pixels_low::numeric / greatest(b.pixels, 1), 4)::float AS share_low,
       round(b.pixels_high::numeric / greatest(b.pixels, 1), 4)::float AS share_high,
       round(b.pixels_highest::numeric / greatest(b.pixels, 1), 4)::float AS share_highest,
       b.province_code, b.district_code, b.subdistrict_code, b.reserve_code, {_PATCH_NAMES},
       b.protected_area_codes, b.in_aoi, b.cleared_by_fire, b.verification, b.verified_by, b.created_by
FROM ({forest_queries.EXPORT_PATCHES_SQL}) b{_PATCH_JOINS}""",
            properties=(
                "patch_id",
                "sources",
                "first_date",
                "last_date",
                "first_date_be",
                "last_date_be",
                "fiscal_year_be",
                "pixels",
                "area_rai",
                "area_ha",
                "confidence_max",
                "share_low",
                "share_high",
                "share_highest",
                "province_code",
                *_NAMED,
                "protected_area_codes",
                "in_aoi",
                "cleared_by_fire",
                "verification",
                "verified_by",
            ),
            geometry_type="MultiPolygon",
            readers=STAFF | {Role.partner},
            also_scopes=frozenset({"incidents"}),
            datetime="first_date",
            order_by="patch_id",
            province_scoped=True,
            scope_sql=forest_queries.patch_scope_sql(patch="t", patch_id="patch_id"),
            confidential={"verified_by": STAFF},
            licence="Derived from the alert products named in sources (see each product's licence)",
            attribution="Clearing patches derived by geo_service from satellite forest-loss alerts",
            description="Connected forest-loss alert pixels within a date window, vectorised (absorbed patches left "
            "out); area measured in UTM, first and last alert date (BE twins), highest confidence (2 low, 3 high, 4 "
            "highest) and pixel shares, attribution to the zone of the largest share; cleared_by_fire: a fire "
            "detection's pixel (VIIRS 375 m, MODIS 1 km, around its published position) or a fire event's footprint "
            "came within the configured distance (FIRE_DISTANCE_M, 500 m by default) of the patch, in the configured "
            "days around its alerts (detections of a neighbouring province too); re-made after every hotspot "
            "ingest. Partners receive no verifier names.",
            tile_properties=(
                "patch_id",
                "first_date",
                "last_date",
                "first_date_be",
                "area_ha",
                "area_rai",
                "confidence_max",
                "district_code",
                "reserve_code",
                "in_aoi",
                "cleared_by_fire",
                "verification",
            ),
            version_sql=_PATCHES_VERSION,
        ),
        Collection(
            name="forest_loss_by_district",
            title="Forest clearing per district and month (aggregates)",
            title_th="การสูญเสียป่ารายอำเภอรายเดือน (ข้อมูลสรุป)",
            sql=f"""
SELECT b.district_code || '/' || to_char(b.month_start, 'YYYY-MM') AS id, d.geom AS geom, b.district_code,
       d.name_th AS district_th, d.name_en AS district_en, d.parent_code AS province_code,
       to_char(b.month_start, 'YYYY-MM') AS month, b.month_start,
       extract(month FROM b.month_start)::int || '/' || be_year(b.month_start) AS month_be,
       fiscal_year_be(b.month_start) AS fiscal_year_be, b.patches,
       round((b.area_m2 / 1e4)::numeric, 2)::float AS area_ha, round((b.area_m2 / 1600)::numeric, 2)::float AS area_rai,
       b.cleared_by_fire_patches, NULL::text AS created_by
FROM ({forest_queries.EXPORT_DISTRICT_MONTHS_SQL}) b
JOIN (SELECT code, name_th, name_en, parent_code, ST_Multi(ST_SimplifyPreserveTopology(geom, 0.0005)) AS geom
      FROM current_admin_areas WHERE level = 'district' OFFSET 0) d  -- OFFSET 0: each outline simplified once
  ON d.code = b.district_code""",
            properties=(
                "district_code",
                "district_th",
                "district_en",
                "province_code",
                "month",
                "month_start",
                "month_be",
                "fiscal_year_be",
                "patches",
                "area_ha",
                "area_rai",
                "cleared_by_fire_patches",
            ),
            geometry_type="MultiPolygon",
            readers=STAFF | {Role.partner},
            also_scopes=frozenset({"incidents", "clearing_patches"}),
            public_when=lambda settings: settings.forest_loss_output.forest_loss_public_aggregates,
            datetime="month_start",
            province_scoped=True,
            licence="Derived from the alert products (see clearing_patches)",
            attribution="Forest clearing per district, derived by geo_service from satellite forest-loss alerts",
            description="Per district and month of the first alert date: current clearing patches in the area of "
            "interest with a part in the district, the area of those parts (UTM; ha and rai) and how many were "
            "cleared by fire (a fire detection's pixel, VIIRS 375 m or MODIS 1 km around its published position, or "
            "a fire event's footprint within 500 m of the patch by default, in the days around its alerts; "
            "detections of a neighbouring province count too; re-made after every hotspot ingest, so a month's "
            "count can change later). The geometry is the district's outline simplified to about 50 m (the districts "
            "collection has it in full); no patch outline. Public only when the deployment "
            "sets GEO_SERVICE_FOREST_LOSS_PUBLIC_AGGREGATES.",
            version_sql=_PATCHES_VERSION,
        ),
        Collection(
            name="red_flags",
            title="Red flags on public money and public land",
            title_th="สัญญาณเตือนการใช้เงินและที่ดินของรัฐ",
            sql=f"SELECT b.* FROM ({redflag_store.EXPORT_FLAGS_SQL}) b",
            properties=(
                "flag_id",
                "rule",
                "severity",
                "subj_type",
                "subj_id",
                "status",
                "reason_th",
                "reason_en",
                "district_code",
                "reserve_code",
                "agency",
                "contractor",
                "fy_be",
                "found_at",
                "case_id",
            ),
            geometry_type="MultiPolygon",
            province_scoped=True,  # defence in depth: administrators are national today
            readers=frozenset({Role.administrator}),
            datetime="found_at",
            order_by="flag_id",
            attribution="Red flags: geo_service rules over contracts, land documents, FIRMS and forest-loss alerts",
            description="What the red-flag rules found (README: Red flags on public money and public land): the "
            "contract area, parcel or reserve cell, the rule, severity, reasons in Thai and English and the status "
            "(dismissed flags included, with their status). Administrators only: parcels are confidential.",
            version_sql=redflag_store.FLAGS_VERSION_SQL,
        ),
        Collection(
            name="redflag_contracts",
            title="Public-works contracts on forest land",
            title_th="สัญญาจ้างงานในเขตป่า",
            sql=f"SELECT b.* FROM ({redflag_store.EXPORT_CONTRACTS_SQL}) b",
            properties=(
                "contract_id",
                "contract_no",
                "project",
                "agency",
                "contractor",
                "work_type",
                "budget_thb",
                "paid_thb",
                "fy_be",
                "start_date",
                "end_date",
                "width_m",
                "area_rai",
                "area_ha",
                "named_dist",
                "named_res",
            ),
            geometry_type="MultiPolygon",
            province_scoped=True,  # defence in depth: administrators are national today
            readers=frozenset({Role.administrator}),
            datetime="start_date",
            order_by="contract_id",
            attribution="Contracts: as loaded by the office (e-GP and agency records)",
            description="Firebreak, fire-control, patrol, reforestation, check-dam and forest-road contracts with the "
            "area the red-flag rules use (a line buffered by its stated width). Administrators only.",
            version_sql=redflag_store.CONTRACTS_VERSION_SQL,
        ),
    )
}


def configured(collection: Collection, settings: Any = None) -> Collection:
    """The collection as this deployment serves it: public when its ``public_when`` setting says so."""
    if collection.public_when is not None and settings is not None and collection.public_when(settings):
        return replace(collection, public=True)
    return collection


def visible_collections(principal: Principal | None, settings: Any = None) -> list[Collection]:
    """The collections this caller may read (as ``settings`` configure them), in registry order."""
    return [c for c in (configured(c, settings) for c in COLLECTIONS.values()) if c.visible_to(principal)]
