"""Reads of clearing patches (issue 14): what the routes, maps, summaries, exports, briefs, suggestions and case links
ask.

**What a figure counts** (the one definition of the summaries, the aggregate collection and the committee brief):

- only **current** patches: a patch absorbed by an older one when later alerts joined them (``merged_into`` set) is
  never counted (its pixels are in the patch that absorbed it); nor a patch the field check found a **false
  alarm** (``verification = 'false_alarm'``; "already known" and unchecked patches count);
- only the **area of interest**: the parts of patches inside its provinces (below); a neighbouring province's
  patch is stored, and shown in the lists with ``area=outside`` / ``all``, but never summed;
- **by share, inside the counted provinces only**: a figure counts the *part* of each patch inside the provinces
  it is about (the province asked, or the caller's, each one of the area of interest's provinces; a national
  figure: the area of interest's provinces, ``aoi_provinces()``), from the patch's province zone rows. A patch
  across the province line adds its inside part only; the part beyond (a neighbour, or the area's buffer) is
  never counted, and a patch with no part inside is not counted at all. (The lists, the map and the exports show
  a patch to the callers of every province it has a part in, ``PATCH_SCOPE``.) A district row sums the parts inside districts
  of the counted provinces only, so a neighbour's district never appears;
- **areas** are measured in UTM (``area_m2``, stored at ingest; hectares and rai with ``thai.M2_PER_HECTARE`` /
  ``M2_PER_RAI``); a row of a district or protected area sums the part of each patch inside it
  (``clearing_patch_zones.area_m2``), so a patch across a reserve boundary adds its inside share only; ``patches``
  counts the patches with a part in the zone (a patch across a district line counts in both districts, once in
  the totals). A reserve that itself crosses the province line adds the patch's whole part inside it (the zone
  rows do not split a reserve part by province);
- a patch's **month** and **fiscal year** are those of its first alert date (``first_date``: the day the alert
  system gives, not shifted; the service has no time of day for it); fiscal years are Thai (October-September),
  labelled in the Buddhist Era by the SQL functions of migration 0016 (twins of ``thai.py``). A patch whose first
  alert is on 30 September and last on 1 October belongs to the fiscal year ending that September.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.bbox import BBox
from geo_service.errors import InvalidInput, NotFound
from geo_service.forest_loss.fire_words import fire_summary, rule_words
from geo_service.hotspots.event_summary import HALF_PIXEL_M
from geo_service.settings import settings_of
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI

SOURCES = ("gfw_integrated", "glad_l", "glad_s2", "radd", "dist_alert", "hansen_lossyear", "change_pair")
AREAS = ("aoi", "outside", "all")
PERIODS = ("month", "fiscal_year")
ZONE_TYPES = {"district": "district", "reserve": "protected_area"}
CONFIDENCE_LABELS = {2: ("ต่ำ", "low"), 3: ("สูง", "high"), 4: ("สูงสุด", "highest")}
# How the row of a patch's part outside every zone of a kind is labelled (Thai, English): never an unnamed row.
NONE_LABELS = {
    "district": ("นอกเขตอำเภอที่โหลดไว้", "Outside the loaded districts"),
    "reserve": ("นอกพื้นที่ป่าและพื้นที่คุ้มครอง", "Outside every reserve and protected area"),
}
# What every figure counts (module docstring): current patches; the area of interest is applied by counting only
# the parts inside its provinces (aoi_provinces(), read live), not by the in_aoi flag stored at ingest, which a
# later change of GEO_SERVICE_AOI_PROVINCES does not re-mark (hotspots are re-marked, patches are not).
# A patch found to be a false alarm in the field is no forest loss: never counted (the per-source verification
# shares report it; the red flags' active_clearing_patches_v leaves it out alike).
COUNTED = "p.merged_into IS NULL AND p.verification <> 'false_alarm'"
DEFINITION_TH = (
    "แปลงแผ้วถางจากการแจ้งเตือนดาวเทียมที่ยังเป็นปัจจุบัน (ไม่นับแปลงที่ถูกรวมเข้ากับแปลงอื่น และแปลงที่ตรวจสอบภาคสนามแล้วพบว่าแจ้งเตือนผิด) "
    "นับเฉพาะส่วนของแปลงที่อยู่ภายในจังหวัดที่รายงาน (แปลงที่คร่อมเขตจังหวัดนับตามสัดส่วนพื้นที่ภายใน ส่วนที่อยู่ในจังหวัดข้างเคียงไม่นับ) "
    "นับตามวันแจ้งเตือนแรกตามที่ระบบแจ้งเตือนระบุ พื้นที่วัดในระบบพิกัด UTM แถวของอำเภอหรือป่าสงวนนับเฉพาะส่วนของแปลงที่อยู่ภายใน"
)
DEFINITION_EN = (
    "Current clearing patches from satellite forest-loss alerts (patches absorbed by another, and patches a field "
    "check found to be false alarms, not counted), "
    "counted by their part inside the province(s) reported (a patch across the province line by its share inside; "
    "the part in a neighbouring province is not counted), by their first alert date as the alert system gives it; "
    "areas measured in UTM; a district or reserve row sums the part of each patch inside it"
)


def existing_patch_ids(session: Session, ids: list[str], provinces: frozenset[str] | None = None) -> set[str]:
    """Which of these clearing-patch ids exist within ``provinces`` (``PATCH_SCOPE``: a patch with a part in one of
    them; None: every patch); ids as the case links hold them (text). A patch outside them is left out exactly as
    an absent one (merged patches count: a link to one stays meaningful)."""
    wanted = [i for i in ids if i.isascii() and i.isdigit() and len(i) < 19]  # bigint ids only
    if not wanted:
        return set()
    params: dict[str, Any] = {"ids": wanted}
    scope = provinces_scope_sql(provinces, params)
    rows = session.execute(
        text(f"SELECT p.id::text FROM clearing_patches p WHERE p.id = ANY(CAST(:ids AS bigint[])) AND {scope}"),
        params,
    )
    return {r[0] for r in rows}


def ha(m2: float) -> float:
    """Square metres as hectares (2 decimals)."""
    return round(m2 / M2_PER_HECTARE, 2)


def rai(m2: float) -> float:
    """Square metres as rai (2 decimals, as the patch list, the OGC collections and the open data give them: a
    summary row must show the same figure as the one patch it holds)."""
    return round(m2 / M2_PER_RAI, 2)


# --- who sees which patch ---------------------------------------------------------------------------------
# The one scope rule of a patch (lists, detail, map, exports, OGC items and tiles, field tasks, statistics): a
# patch is within a set of provinces when its largest-share province (``province_code``) is among them, or when any
# part of it (a province zone row with a share above 0) lies in one of them. So a patch across a provincial border
# is seen in both provinces, as its figures count its part in each (``_counted_patches``). National callers see
# every patch; a patch of no province (outside every loaded one) is national only.
_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
SCOPE_PROVINCES = "CAST(:scope_provinces AS text[])"  # the bound parameter of the caller's provinces


def patch_scope_sql(provinces: str = SCOPE_PROVINCES, patch: str = "p", patch_id: str = "id") -> str:
    """The condition keeping the clearing patch ``patch`` (an alias of a relation with the patch's ``province_code``
    and its id in the column ``patch_id``) within the provinces of ``provinces``: the bound parameter
    ``SCOPE_PROVINCES`` (default) or a ``text[]`` column name. True when the patch's ``province_code`` is among them
    or one of its province zone rows (share > 0) is.

    The names are interpolated into the SQL, so only column names (and ``SCOPE_PROVINCES``) are accepted."""
    if not (
        (provinces == SCOPE_PROVINCES or _SQL_NAME.fullmatch(provinces))
        and _SQL_NAME.fullmatch(patch)
        and _SQL_NAME.fullmatch(patch_id)
    ):
        raise ValueError("patch_scope_sql takes column names only")
    return f"""({patch}.province_code = ANY({provinces})
    OR EXISTS (SELECT 1 FROM clearing_patch_zones sz WHERE sz.patch_id = {patch}.{patch_id}
               AND sz.zone_type = 'province' AND sz.share > 0 AND sz.zone_code = ANY({provinces})))"""


PATCH_SCOPE = patch_scope_sql()


def scope_sql(viewer: Principal | None, params: dict[str, Any]) -> str:
    """The condition keeping a patch query (alias ``p``) within ``viewer``'s provinces (``PATCH_SCOPE``), its
    parameters added to ``params``. National callers and partner keys (None: the service itself) see every patch."""
    return provinces_scope_sql(None if viewer is None else viewer.provinces, params)


def provinces_scope_sql(provinces: frozenset[str] | None, params: dict[str, Any]) -> str:
    """The condition keeping a patch query (alias ``p``) within ``provinces`` (``PATCH_SCOPE``), its parameters
    added to ``params``; None (national) keeps every patch."""
    if provinces is None:
        return "TRUE"
    params["scope_provinces"] = sorted(provinces)
    return PATCH_SCOPE


def patch_visible(session: Session, patch_id: int, viewer: Principal | None) -> bool:
    """Whether the patch exists (merged or not) and lies within ``viewer``'s provinces (``PATCH_SCOPE``)."""
    params: dict[str, Any] = {"id": patch_id}
    scope = scope_sql(viewer, params)
    return (
        session.execute(text(f"SELECT 1 FROM clearing_patches p WHERE p.id = :id AND {scope}"), params).first()
        is not None
    )


def summary_provinces(viewer: Principal | None, province: str | None) -> list[str] | None:
    """The provinces a summary counts: ``province`` if the caller may see it (403 otherwise), else the caller's
    provinces; None: every province (national callers)."""
    from geo_service.errors import Forbidden

    if province is not None:
        if viewer is not None and not viewer.sees_province(province):
            raise Forbidden(f"You see your province(s) only: {', '.join(sorted(viewer.provinces or []))}.")
        return [province]
    if viewer is None or viewer.provinces is None:
        return None
    return sorted(viewer.provinces)


# --- lists and one patch ---------------------------------------------------------------------------------
@dataclass
class PatchFilter:
    """The filters of the patch list (all optional; the dates select patches alerting in the period)."""

    bbox: BBox | None = None
    date_from: date | None = None
    date_to: date | None = None
    district: str | None = None
    reserve: str | None = None
    sources: list[str] | None = None
    min_confidence: int | None = None
    cleared_by_fire: bool | None = None
    area: str = "aoi"

    def check(self) -> None:
        """Refuse (InvalidInput) an unknown source, confidence or area, or a period that ends before it starts."""
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise InvalidInput("'to' is before 'from'.", code="invalid_period")
        bad = [s for s in self.sources or [] if s not in SOURCES]
        if bad:
            raise InvalidInput(
                f"Unknown alert source '{bad[0][:40]}'; sources: {', '.join(SOURCES)}.", code="invalid_source"
            )
        if self.min_confidence is not None and self.min_confidence not in CONFIDENCE_LABELS:
            raise InvalidInput(
                "min_confidence is 2 (low), 3 (high) or 4 (highest, several systems agree).", code="invalid_confidence"
            )
        if self.area not in AREAS:
            raise InvalidInput(f"area must be one of {', '.join(AREAS)}.", code="invalid_area")


def _where(flt: PatchFilter, viewer: Principal | None, params: dict[str, Any]) -> str:
    where = ["p.merged_into IS NULL", scope_sql(viewer, params)]
    if flt.area == "aoi":
        where.append("p.in_aoi")
    elif flt.area == "outside":
        where.append("NOT p.in_aoi")
    if flt.bbox:
        params.update(dict(zip(("x0", "y0", "x1", "y1"), flt.bbox, strict=True)))
        where.append("p.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)")
        where.append("ST_Intersects(p.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))")
    if flt.date_from:  # alerting in the period: its alert dates overlap it
        params["date_from"] = flt.date_from
        where.append("p.last_date >= :date_from")
    if flt.date_to:
        params["date_to"] = flt.date_to
        where.append("p.first_date <= :date_to")
    for key, zone_type in (("district", "district"), ("reserve", "protected_area")):
        code = getattr(flt, key)
        if code:
            params[key] = code
            where.append(
                "EXISTS (SELECT 1 FROM clearing_patch_zones z WHERE z.patch_id = p.id "
                f"AND z.zone_type = '{zone_type}' AND z.zone_code = :{key})"
            )
    if flt.sources:
        params["sources"] = flt.sources
        where.append("p.sources && CAST(:sources AS text[])")
    if flt.min_confidence is not None:
        params["min_confidence"] = flt.min_confidence
        where.append("p.confidence_max >= :min_confidence")
    if flt.cleared_by_fire is not None:
        params["cleared_by_fire"] = flt.cleared_by_fire
        where.append("p.cleared_by_fire = :cleared_by_fire")
    return " AND ".join(where)


_PROPERTIES = """json_build_object(
    'id', p.id, 'sources', p.sources, 'first_date', p.first_date, 'last_date', p.last_date,
    'first_date_be', be_dmy(p.first_date), 'last_date_be', be_dmy(p.last_date),
    'fiscal_year_be', fiscal_year_be(p.first_date), 'pixels', p.pixels,
    'area_m2', round(p.area_m2::numeric, 1)::float, 'area_ha', round((p.area_m2 / 1e4)::numeric, 4)::float,
    'area_rai', round((p.area_m2 / 1600)::numeric, 2)::float, 'confidence_max', p.confidence_max,
    'share_low', round((p.pixels_low::numeric / greatest(p.pixels, 1)), 4)::float,
    'share_high', round((p.pixels_high::numeric / greatest(p.pixels, 1)), 4)::float,
    'share_highest', round((p.pixels_highest::numeric / greatest(p.pixels, 1)), 4)::float,
    'province_code', p.province_code, 'district_code', p.district_code, 'district_th', d.name_th,
    'district_en', d.name_en, 'subdistrict_code', p.subdistrict_code, 'reserve_code', p.reserve_code,
    'reserve_th', r.name_th, 'reserve_en', r.name_en, 'protected_area_codes', p.protected_area_codes,
    'in_aoi', p.in_aoi, 'cleared_by_fire', p.cleared_by_fire, 'verification', p.verification,
    'merged_into', p.merged_into)"""
_NAMES = """
LEFT JOIN current_admin_areas d ON d.level = 'district' AND d.code = p.district_code
LEFT JOIN latest_protected_areas r ON r.code = p.reserve_code"""


def patch_page(session: Session, flt: PatchFilter, viewer: Principal | None, limit: int, offset: int) -> dict:
    """A page of current patches as a GeoJSON FeatureCollection (newest first alert first, then by id) with
    ``numberMatched`` / ``numberReturned``; the features and their GeoJSON are built by PostGIS."""
    flt.check()
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = _where(flt, viewer, params)
    total = session.execute(text(f"SELECT count(*) FROM clearing_patches p WHERE {where}"), params).scalar_one()
    rows = session.execute(
        text(
            f"""SELECT json_build_object('type', 'Feature', 'id', p.id,
                    'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(p.geom), 7)::json,
                    'properties', {_PROPERTIES}) AS feature
                FROM clearing_patches p{_NAMES}
                WHERE {where}
                ORDER BY p.first_date DESC, p.id DESC LIMIT :limit OFFSET :offset"""
        ),
        params,
    ).scalars()
    features = list(rows)
    return {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(features),
        "features": features,
    }


def patch_detail(session: Session, patch_id: int, viewer: Principal | None) -> dict:
    """One patch as a GeoJSON Feature with its zones (every district, subdistrict, province and protected area it
    touches, with area and share), its fire evidence (and ``fire_th``/``fire_en``: ``fire_words.fire_summary``) and
    verification; NotFound if absent or outside ``viewer``'s
    provinces (never a 403, so existence does not leak). An absorbed patch is shown with ``merged_into``."""
    params: dict[str, Any] = {"id": patch_id}
    scope = scope_sql(viewer, params)
    row = session.execute(
        text(
            f"""SELECT json_build_object('type', 'Feature', 'id', p.id,
                    'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(p.geom), 7)::json,
                    'properties', {_PROPERTIES}::jsonb || jsonb_build_object(
                        'fire_evidence', p.fire_evidence, 'verified_at', p.verified_at,
                        'pixels_low', p.pixels_low, 'pixels_high', p.pixels_high,
                        'pixels_highest', p.pixels_highest)) AS feature
                FROM clearing_patches p{_NAMES}
                WHERE p.id = :id AND {scope}"""
        ),
        params,
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("No clearing patch with this number.")
    zones = session.execute(
        text(
            """SELECT z.zone_type, z.zone_code, coalesce(a.name_th, pa.name_th) AS name_th,
                      coalesce(a.name_en, pa.name_en) AS name_en, z.area_m2, z.share
               FROM clearing_patch_zones z
               LEFT JOIN current_admin_areas a ON z.zone_type <> 'protected_area' AND a.level::text = z.zone_type
                    AND a.code = z.zone_code
               LEFT JOIN latest_protected_areas pa ON z.zone_type = 'protected_area' AND pa.code = z.zone_code
               WHERE z.patch_id = :id ORDER BY z.zone_type, z.share DESC, z.zone_code"""
        ),
        {"id": patch_id},
    ).mappings()
    row["properties"]["zones"] = [
        {**z, "area_ha": ha(z["area_m2"]), "area_rai": rai(z["area_m2"]), "share": round(z["share"], 4)} for z in zones
    ]
    props = row["properties"]  # what burned near it, as every place says it (None: no fire found near it)
    fire = (
        fire_summary(True, props.get("fire_evidence"), props.get("first_date"))
        if props.get("cleared_by_fire")
        else None
    )
    props["fire_th"], props["fire_en"] = fire or (None, None)
    return row


# --- summaries ------------------------------------------------------------------------------------------
@dataclass
class SummaryQuery:
    """What to summarise: by district or reserve, per month or fiscal year, with optional filters."""

    by: str = "district"  # district | reserve
    period: str = "month"  # month | fiscal_year
    date_from: date | None = None
    date_to: date | None = None
    provinces: list[str] | None = None  # None: every province
    sources: list[str] | None = None
    min_confidence: int | None = None

    def check(self) -> None:
        """Refuse (InvalidInput) an unknown grouping, period, source or confidence, or a reversed period."""
        if self.by not in ZONE_TYPES:
            raise InvalidInput("by is district or reserve.", code="invalid_group_by")
        if self.period not in PERIODS:
            raise InvalidInput("period is month or fiscal_year.", code="invalid_period")
        PatchFilter(
            date_from=self.date_from, date_to=self.date_to, sources=self.sources, min_confidence=self.min_confidence
        ).check()


_PERIOD_SQL = {
    # key (of a patch p), Thai and English labels of a day {d} of the period (BE years: SQL functions of 0016)
    "month": (
        "to_char(p.first_date, 'YYYY-MM')",
        "extract(month FROM {d})::int || '/' || be_year({d})",
        "to_char({d}, 'FMMonth') || ' ' || be_year({d}) || ' BE'",
    ),
    "fiscal_year": (
        "fiscal_year_be(p.first_date)::text",
        "'ปีงบประมาณ ' || fiscal_year_be({d})",
        "'FY ' || fiscal_year_be({d}) || ' BE'",
    ),
}


def count_provinces(session: Session, provinces: list[str] | None) -> list[str]:
    """The provinces a figure counts the patches' parts in: ``provinces`` (None: every one) within the area of
    interest's provinces (``aoi_provinces()``)."""
    aoi = list(session.execute(text("SELECT aoi_provinces()")).scalar_one() or [])
    return aoi if provinces is None else [p for p in provinces if p in aoi]


def _counted(q: SummaryQuery, params: dict[str, Any]) -> str:
    where = [COUNTED]
    if q.date_from:
        params["date_from"] = q.date_from
        where.append("p.first_date >= :date_from")
    if q.date_to:
        params["date_to"] = q.date_to
        where.append("p.first_date <= :date_to")
    if q.sources:
        params["sources"] = q.sources
        where.append("p.sources && CAST(:sources AS text[])")
    if q.min_confidence is not None:
        params["min_confidence"] = q.min_confidence
        where.append("p.confidence_max >= :min_confidence")
    return " AND ".join(where)


def _counted_patches(session: Session, q: SummaryQuery, params: dict[str, Any], key: str) -> str:
    """A subquery: one row per counted patch (``id``, ``period``, ``first_date``, ``cleared_by_fire``, ``sources``)
    with ``m2``, its part inside the counted provinces: its province zone rows there, or, where a deployment loaded
    districts only (no province polygons, so no province rows), the rows of those provinces' districts. Patches with
    no part there (more than 0.05 m2: the rounding of the shares is no part) are left out. Sets the parameters
    ``count_provinces`` and ``count_districts`` (the districts of those provinces, for the district rows)."""
    provinces = count_provinces(session, q.provinces)
    params["count_provinces"] = provinces
    params["count_districts"] = list(
        session.execute(
            text(
                "SELECT code FROM current_admin_areas WHERE level = 'district' "
                "AND parent_code = ANY(CAST(:p AS text[]))"
            ),
            {"p": provinces},
        ).scalars()
    )
    where = _counted(q, params)
    return f"""(SELECT p.id, {key} AS period, p.first_date, p.cleared_by_fire, p.sources, c.m2
               FROM clearing_patches p
               JOIN (SELECT patch_id, coalesce(sum(area_m2) FILTER (WHERE zone_type = 'province'),
                                               sum(area_m2)) AS m2
                     FROM clearing_patch_zones
                     WHERE (zone_type = 'province' AND zone_code = ANY(CAST(:count_provinces AS text[])))
                        OR (zone_type = 'district' AND zone_code = ANY(CAST(:count_districts AS text[])))
                     GROUP BY patch_id) c ON c.patch_id = p.id
               WHERE {where} AND c.m2 > 0.05)"""


def _figures(n: int, m2: float, fire: int, fire_m2: float) -> dict:
    return {
        "patches": n,
        "area_m2": round(m2, 1),
        "area_ha": ha(m2),
        "area_rai": rai(m2),
        "cleared_by_fire": fire,
        "cleared_by_fire_area_m2": round(fire_m2, 1),
        "cleared_by_fire_area_ha": ha(fire_m2),
        "cleared_by_fire_area_rai": rai(fire_m2),
        "cleared_by_fire_share": round(fire_m2 / m2, 4) if m2 > 0 else 0.0,
    }


def summarise(session: Session, q: SummaryQuery) -> dict:
    """Clearing per zone (district or reserve) and period, with the totals of each period (each patch once) and of
    the whole answer; definitions in the module docstring. Rows of the part of patches outside every zone of the
    kind are labelled and come after the named ones."""
    q.check()
    params: dict[str, Any] = {"zone_type": ZONE_TYPES[q.by]}
    key, label_th, label_en = _PERIOD_SQL[q.period]
    base = _counted_patches(session, q, params, key)
    # a district row counts the districts of the counted provinces only (a neighbour's district never shows)
    in_zone = "AND z.zone_code = ANY(CAST(:count_districts AS text[]))" if q.by == "district" else ""
    names = (
        "SELECT code, name_th, name_en FROM current_admin_areas WHERE level = 'district'"
        if q.by == "district"
        else "SELECT code, name_th, name_en FROM latest_protected_areas"
    )
    rows = list(
        session.execute(
            text(
                # The counted patches (b) and their zone parts (pz) once each, materialised: both are read twice
                # (for 100k patches 0.5-0.8 s in two statements with b recomputed, bench/forest_loss_summary.py).
                # The period totals come from the same b, as rows with kind 'total'.
                f"""WITH b AS MATERIALIZED {base},
                pz AS MATERIALIZED (
                    SELECT b.id, b.period, b.first_date, b.cleared_by_fire, b.m2, z.zone_code, z.area_m2
                    FROM b LEFT JOIN clearing_patch_zones z ON z.patch_id = b.id AND z.zone_type = :zone_type
                         {in_zone}),
                parts AS (  -- one row per (patch, zone): count(*) counts patches
                    SELECT period, first_date, cleared_by_fire, zone_code, area_m2 AS zone_m2
                    FROM pz WHERE zone_code IS NOT NULL
                    UNION ALL  -- the counted part of each patch outside every (counted) zone of the kind
                    SELECT period, min(first_date), bool_or(cleared_by_fire), NULL,
                           greatest(max(m2) - coalesce(sum(area_m2), 0), 0)
                    FROM pz GROUP BY id, period),
                g AS (
                    SELECT period, zone_code, min(first_date) AS d, count(*) AS n, sum(zone_m2) AS m2,
                           count(*) FILTER (WHERE cleared_by_fire) AS fire,
                           coalesce(sum(zone_m2) FILTER (WHERE cleared_by_fire), 0) AS fire_m2
                    FROM parts
                    WHERE zone_code IS NOT NULL OR zone_m2 > 0.05  -- rounding of the shares is no part
                    GROUP BY period, zone_code)
                SELECT 'row' AS kind, g.period, {label_th.format(d="g.d")} AS label_th,
                       {label_en.format(d="g.d")} AS label_en, g.zone_code, n.name_th, n.name_en, g.n, g.m2,
                       g.fire, g.fire_m2
                FROM g LEFT JOIN ({names}) n ON n.code = g.zone_code
                UNION ALL
                SELECT 'total', period, NULL, NULL, NULL, NULL, NULL, count(*), sum(m2),
                       count(*) FILTER (WHERE cleared_by_fire), coalesce(sum(m2) FILTER (WHERE cleared_by_fire), 0)
                FROM b GROUP BY period
                ORDER BY 1 DESC, 2, 5 NULLS LAST"""
            ),
            params,
        ).mappings()
    )
    none_th, none_en = NONE_LABELS[q.by]
    out_rows = [
        {
            "period": r["period"],
            "period_th": r["label_th"],
            "period_en": r["label_en"],
            "code": r["zone_code"],
            "name_th": r["name_th"] or (none_th if r["zone_code"] is None else r["zone_code"]),
            "name_en": r["name_en"] or (none_en if r["zone_code"] is None else r["zone_code"]),
            **_figures(r["n"], r["m2"], r["fire"], r["fire_m2"]),
        }
        for r in rows
        if r["kind"] == "row"
    ]
    totals = [{"period": r["period"], "n": r["n"], "m2": r["m2"], "fire": r["fire"], "fire_m2": r["fire_m2"]}
              for r in rows if r["kind"] == "total"]  # fmt: skip
    periods = [{"period": t["period"], **_figures(t["n"], t["m2"], t["fire"], t["fire_m2"])} for t in totals]
    whole = _figures(
        sum(t["n"] for t in totals),
        sum(t["m2"] for t in totals),
        sum(t["fire"] for t in totals),
        sum(t["fire_m2"] for t in totals),
    )
    return {"by": q.by, "period": q.period, "rows": out_rows, "periods": periods, "total": whole}


def brief_figures(session: Session, start: date, end: date, province: str | None) -> dict:
    """The committee brief's forest-loss section for a period (first alert date in it) and a province (None: every
    province of the area of interest), with the summaries' definitions: by district, by reserve, per source, the
    cleared-by-fire share and the total."""
    q = SummaryQuery(
        period="fiscal_year", date_from=start, date_to=end, provinces=None if province is None else [province]
    )
    district = summarise(session, SummaryQuery(**{**q.__dict__, "by": "district"}))
    reserve = summarise(session, SummaryQuery(**{**q.__dict__, "by": "reserve"}))

    def merged(rows: list[dict]) -> list[dict]:  # a period across two fiscal years: one row per zone
        acc: dict[str | None, dict] = {}
        for r in rows:
            a = acc.setdefault(
                r["code"],
                {
                    "code": r["code"],
                    "name_th": r["name_th"],
                    "name_en": r["name_en"],
                    "n": 0,
                    "m2": 0.0,
                    "fire": 0,
                    "fire_m2": 0.0,
                },
            )
            a["n"] += r["patches"]
            a["m2"] += r["area_m2"]
            a["fire"] += r["cleared_by_fire"]
            a["fire_m2"] += r["cleared_by_fire_area_m2"]
        return [
            {
                "code": a["code"],
                "name_th": a["name_th"],
                "name_en": a["name_en"],
                **_figures(a["n"], a["m2"], a["fire"], a["fire_m2"]),
            }
            for a in sorted(acc.values(), key=lambda a: (a["code"] is None, a["code"] or ""))
        ]

    params: dict[str, Any] = {}
    base = _counted_patches(session, q, params, "NULL")
    sources = session.execute(
        text(
            f"""SELECT s.source, count(*) AS n, sum(b.m2) AS m2, count(*) FILTER (WHERE b.cleared_by_fire) AS fire,
                       coalesce(sum(b.m2) FILTER (WHERE b.cleared_by_fire), 0) AS fire_m2
                FROM {base} b CROSS JOIN LATERAL unnest(b.sources) AS s(source)
                GROUP BY s.source ORDER BY s.source"""
        ),
        params,
    ).mappings()
    fl = settings_of(session).forest_loss  # the rule the marks are made by now (each mark records its own)
    fire_th, fire_en = rule_words(
        {
            "distance_m": fl.fire_distance_m,
            "days_before": fl.fire_days_before,
            "days_after": fl.fire_days_after,
            "half_pixel_m": HALF_PIXEL_M,
        }
    )
    return {
        "definition_th": DEFINITION_TH,
        "definition_en": DEFINITION_EN,
        "fire_rule_th": fire_th,
        "fire_rule_en": fire_en,
        "total": district["total"],
        "by_district": merged(district["rows"]),
        "by_reserve": [r for r in merged(reserve["rows"]) if r["code"] is not None],
        "by_source": [{"source": r["source"], **_figures(r["n"], r["m2"], r["fire"], r["fire_m2"])} for r in sources],
    }


def freshness(session: Session) -> dict:
    """How current the clearing patches are: the latest alert date of a current patch, when a patch last changed
    (an ingest), and how many current patches are stored (a brief's data version includes them)."""
    row = session.execute(
        text(
            "SELECT max(last_date) AS latest, max(updated_at) AS changed, count(*) AS n "
            "FROM clearing_patches WHERE merged_into IS NULL"
        )
    ).one()
    return {"forest_alert_latest": row.latest, "forest_alert_changed": row.changed, "forest_alert_patches": row.n}


# --- exports and the OGC API (exports/collections.py presents these bases) ----------------------------------
EXPORT_PATCHES_SQL = """SELECT p.id, p.geom, p.sources, p.first_date, p.last_date, p.pixels, p.area_m2,
       p.confidence_max, p.pixels_low, p.pixels_high, p.pixels_highest, p.province_code, p.district_code,
       p.subdistrict_code, p.reserve_code, p.protected_area_codes, p.in_aoi, p.cleared_by_fire, p.verification,
       p.verified_by, NULL::text AS created_by
FROM clearing_patches p WHERE p.merged_into IS NULL"""

# Per district and month of the first alert date (the summaries' definition): counts and areas, no patch geometry;
# the districts of the area of interest's provinces only (a patch across the line adds its part inside).
EXPORT_DISTRICT_MONTHS_SQL = f"""SELECT z.zone_code AS district_code, date_trunc('month', p.first_date)::date AS month_start,
       count(*)::int AS patches, sum(z.area_m2) AS area_m2,
       count(*) FILTER (WHERE p.cleared_by_fire)::int AS cleared_by_fire_patches
FROM clearing_patches p JOIN clearing_patch_zones z ON z.patch_id = p.id AND z.zone_type = 'district'
JOIN current_admin_areas cd ON cd.level = 'district' AND cd.code = z.zone_code AND cd.parent_code = ANY(aoi_provinces())
WHERE {COUNTED} AND z.area_m2 > 0.05
GROUP BY z.zone_code, date_trunc('month', p.first_date)"""

PATCHES_VERSION_SQL = (
    "SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') || ':' || coalesce(max(id)::text, '') "
    "FROM clearing_patches"
)
