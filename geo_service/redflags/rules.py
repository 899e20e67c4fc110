"""The red-flag rules: one set-based SQL statement each, idempotent, data-driven by RedFlagSettings.

Each rule is a SELECT of what it finds (one row per flag, keyed by ``flag_key`` = rule:subject:discriminator)
wrapped in the same statement that upserts the flags, marks as gone the ones it no longer finds, and writes
every change to ``red_flag_history``. A dismissed flag is never touched again (the upsert skips it), so it is
never silently recreated; a flag found again keeps its id and history. Other domains' data is read only through
the views of migration 0025 (``fire_detections_v``, ``fire_events_v``, ``active_clearing_patches_v``,
``protected_area_versions_v``) and the shared ``current_admin_areas``, ``in_force``, ``be_dmy``.

Definitions (thresholds in settings):

- ``fire_in_fire_contract``: a firebreak / fire-control / patrol contract whose area (a line buffered by its stated
  width) holds fire detections dated within its contract period (the season it was paid to protect); a detection on
  the boundary counts (``ST_Intersects``). Burned area: the union of the detections' nominal pixels (375 m squares
  in the contract's UTM zone) inside the area. Protected side: detections outside the area but within
  ``protected_side_m`` of it (the area buffered in its UTM zone: one prepared polygon per contract, not a geodesic
  distance per detection) inside the reserve the contract names (any protected area if it names none).
- ``reforestation_loss``: a reforestation plot with detections or clearing patches from its start to
  ``reforestation_watch_years`` after its end, or whose measured mean index change (``redflag_vegetation``, from a
  registered raster pair) is below ``vegetation_min_gain`` (no vegetation gain).
- ``outside_named_area``: more than ``outside_tolerance`` of a contract's area outside the reserve (in force at its
  start) or the district its documents name (or the named area does not exist).
- ``double_payment``: two paid contracts for the same work in the same fiscal year whose areas overlap by at least
  ``double_payment_min_share`` of the smaller one.
- ``document_in_reserve``: a parcel overlapping (share >= ``document_min_share``) a reserve, park, sanctuary or
  forest park whose boundary was in force on the document's issue date (issued on or after ``valid_from``: a
  document issued the day the reserve started counts).
- ``cleared_before_issue``: detections or clearing patches inside a parcel in the ``cleared_before_days`` before its
  document's issue date.
- ``recurrence``: a ``recurrence_cell_m`` cell of a reserve with detections in ``recurrence_seasons`` or more fire
  seasons (season months ``season_first_month``..``season_last_month``, named by the year they end in).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.redflags import store
from geo_service.redflags.labels import RULE_LABELS, WORK_LABELS
from geo_service.settings import RedFlagSettings
from geo_service.thai import M2_PER_RAI, be_dmy

PIXEL_M = 375.0  # VIIRS I-band nominal pixel: the burned-area footprint of one detection
EVIDENCE_MAX = 50  # ids listed per kind of evidence (the count is always complete)
FIRE_WORK = ("firebreak", "fire_control", "patrol")
PROTECTING_KINDS = ("national_reserved_forest", "national_park", "wildlife_sanctuary", "forest_park")
RULES = tuple(RULE_LABELS)


_day = partial(be_dmy, missing="?")  # a figure's day in BE, "?" when the flag's figures lack it


def _rai_figure(value: object) -> str:
    """An area in rai from a flag's figures, with thousands separators; "?" when they lack it (older runs)."""
    return "?" if value is None else figure_value(value)


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def figure_value(v: object) -> str:
    """A figure as text: numbers with thousands separators, ISO days in BE, lists joined."""
    if isinstance(v, bool):
        return "ใช่ / yes" if v else "ไม่ / no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{int(v):,}" if v.is_integer() else f"{v:,.4f}".rstrip("0")
    if isinstance(v, str) and _ISO_DAY.match(v):
        return be_dmy(v)
    if isinstance(v, list):
        return ", ".join(figure_value(x) for x in v)
    return "-" if v is None else str(v)


def figure_lines(figures: dict, *, provenance: bool = False) -> list[str]:
    """The flag's figures as 'name: value' lines, days in BE (a nested figure flattened one level; what is nested
    deeper, such as the files and SHA-256 of a vegetation pair, only with ``provenance``, as compact JSON). Not
    escaped: the caller escapes."""
    lines = []
    for key, v in (figures or {}).items():
        if not isinstance(v, dict):
            lines.append(f"{key}: {figure_value(v)}")
            continue
        for k2, v2 in v.items():
            if not isinstance(v2, (dict, list)):
                lines.append(f"{key}.{k2}: {figure_value(v2)}")
            elif provenance:
                lines.append(f"{key}.{k2}: {json.dumps(v2, ensure_ascii=False, sort_keys=True)}")
    return lines


def counted_over(flag: dict) -> tuple[str, str]:
    """Over which area and which period a flag's figures count, in Thai and English (from its figures, so that a
    sheet or a map printed later still says what the run counted)."""
    fig = flag.get("figures") or {}
    rule = flag.get("rule")
    if rule == "fire_in_fire_contract":
        start, end = (fig.get("period") or [None, None])[:2]
        side = fig.get("protected_side_m")
        side_th = f"; ด้านที่ต้องป้องกัน: ภายใน {side:,.0f} ม. นอกพื้นที่สัญญา ในเขตป่าที่สัญญาระบุ" if side else ""
        side_en = (
            f"; protected side: within {side:,.0f} m outside it, in the reserve it names (any protected area if none)"
            if side
            else ""
        )
        return (
            f"นับในพื้นที่สัญญา ({_rai_figure(fig.get('contract_area_rai'))} ไร่) ช่วงสัญญา {_day(start)} – {_day(end)}{side_th}",
            f"Counted inside the contract area ({_rai_figure(fig.get('contract_area_rai'))} rai) over the contract period "
            f"{_day(start)} – {_day(end)}{side_en}",
        )
    if rule == "reforestation_loss":
        start, until = (fig.get("window") or [None, None])[:2]
        th = f"นับในแปลงปลูกป่า ({_rai_figure(fig.get('plot_area_rai'))} ไร่) ตั้งแต่เริ่มสัญญา {_day(start)} ถึง {_day(until)}"
        en = f"Counted inside the plot ({_rai_figure(fig.get('plot_area_rai'))} rai) from the contract start {_day(start)} to {_day(until)}"
        veg = fig.get("vegetation_gain") or {}
        if veg:
            th += f"; พืชพรรณ: ภาพ {_day(veg.get('before_date'))} เทียบ {_day(veg.get('after_date'))}"
            en += f"; vegetation: image of {_day(veg.get('before_date'))} against {_day(veg.get('after_date'))}"
        return th, en
    if rule == "outside_named_area":
        kind = fig.get("named_kind")
        return (
            f"พื้นที่สัญญาทั้งแปลง เทียบกับขอบเขต{'เขตป่า' if kind == 'reserve' else 'อำเภอ'} {fig.get('named_code')} "
            "ที่มีผลในวันเริ่มสัญญา",
            f"The whole contract area against the boundary of the {kind} {fig.get('named_code')} in force on the "
            "contract's start date (districts: the current boundary)",
        )
    if rule == "double_payment":
        fy = flag.get("fiscal_year_be")
        return (
            f"พื้นที่ที่ซ้อนทับกันของสัญญาสองฉบับ ปีงบประมาณ {fy}",
            f"The overlap of the two contracts' areas, fiscal year {fy} BE",
        )
    if rule == "document_in_reserve":
        return (
            f"แปลงเอกสารสิทธิทั้งแปลง เทียบกับขอบเขต {fig.get('protected_area')} ที่มีผลในวันออกเอกสาร "
            f"{_day(fig.get('issue_date'))} (มีผลตั้งแต่ {_day(fig.get('valid_from'))})",
            f"The whole parcel against the boundary of {fig.get('protected_area')} in force on the issue date "
            f"{_day(fig.get('issue_date'))} (in force since {_day(fig.get('valid_from'))})",
        )
    if rule == "cleared_before_issue":
        days = fig.get("window_days")
        issue = fig.get("issue_date")
        return (
            f"นับในแปลงเอกสารสิทธิ ช่วง {days} วันก่อนวันออกเอกสาร {_day(issue)}",
            f"Counted inside the parcel over the {days} days before the issue date {_day(issue)}",
        )
    if rule == "recurrence":
        m1, m2 = (fig.get("season_months") or [None, None])[:2]
        months = f"{m1}–{m2}" if m1 else "?"
        years = ", ".join(str(y) for y in fig.get("years_be") or [])
        return (
            f"นับในช่อง {fig.get('cell_m')} ม. ของเขตป่า ฤดูไฟ (เดือน {months}) ปี พ.ศ. {years}",
            f"Counted in one {fig.get('cell_m')} m cell of the reserve, fire seasons (months {months}) of {years} BE",
        )
    return "", ""


def _work_th(col: str) -> str:
    return "CASE " + " ".join(f"WHEN {col} = '{k}' THEN '{v[0]}'" for k, v in WORK_LABELS.items()) + " END"


def _work_en(col: str) -> str:
    return "CASE " + " ".join(f"WHEN {col} = '{k}' THEN '{v[1]}'" for k, v in WORK_LABELS.items()) + " END"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _rai(m2: str) -> str:
    return f"round(CAST(({m2}) / {M2_PER_RAI} AS numeric), 2)"


# Every rule's SELECT yields these columns, in this order.
COLUMNS = (
    "flag_key, rule, severity, subject_type, subject_id, contract_ids, parcel_ids, reason_th, reason_en, figures, "
    "evidence, district_code, reserve_code, agency, contractor, fiscal_year_be, geom"
)

_FIRE_IN_FIRE_CONTRACT = f"""
SELECT 'fire_in_fire_contract:contract:' || c.id, 'fire_in_fire_contract',
  CASE WHEN burn.m2 / nullif(c.area_m2, 0) >= :fire_high_share OR side.n > 0 THEN 'high' ELSE 'medium' END,
  'contract', c.id::text, ARRAY[c.id], CAST('{{}}' AS bigint[]),
  format('พบจุดความร้อน %s จุดในพื้นที่สัญญา%s "%s" (%s) ระหว่างระยะเวลาสัญญา %s ถึง %s พื้นที่เผาไหม้ประมาณ %s ไร่ (%s%% ของพื้นที่สัญญา)%s',
    h.n, {_work_th("c.work_type")}, c.project_name, c.contract_number, be_dmy(c.start_date), be_dmy(c.end_date),
    {_rai("burn.m2")}, round(CAST(100 * burn.m2 / nullif(c.area_m2, 0) AS numeric), 1),
    CASE WHEN side.n > 0 THEN format(' และไฟลามถึงด้านที่ต้องป้องกัน %s จุด', side.n) ELSE '' END),
  format('%s fire detections inside the %s contract area "%s" (%s) during its contract period %s to %s; about %s rai burned (%s%% of the contracted area)%s',
    h.n, {_work_en("c.work_type")}, c.project_name, c.contract_number, c.start_date, c.end_date,
    {_rai("burn.m2")}, round(CAST(100 * burn.m2 / nullif(c.area_m2, 0) AS numeric), 1),
    CASE WHEN side.n > 0 THEN format('; the fire reached the protected side (%s detections)', side.n) ELSE '' END),
  jsonb_build_object('detections', h.n, 'first_day', h.first_day, 'last_day', h.last_day,
    'burned_m2', round(CAST(burn.m2 AS numeric), 1), 'burned_rai', {_rai("burn.m2")},
    'contract_area_m2', round(CAST(c.area_m2 AS numeric), 1), 'contract_area_rai', {_rai("c.area_m2")},
    'burned_share', round(CAST(burn.m2 / nullif(c.area_m2, 0) AS numeric), 4),
    'reached_protected_side', side.n > 0, 'protected_side_detections', side.n,
    'fire_events', coalesce(cardinality(ev.ids), 0), 'paid_thb', c.paid_thb, 'budget_thb', c.budget_thb,
    'period', jsonb_build_array(c.start_date, c.end_date), 'protected_side_m', CAST(:side_m AS float8)),
  jsonb_build_array(jsonb_build_object('type', 'contract', 'id', c.id),
    jsonb_build_object('type', 'hotspot', 'ids', to_jsonb(h.ids[1:{EVIDENCE_MAX}]), 'count', h.n),
    jsonb_build_object('type', 'fire_event', 'ids', to_jsonb(coalesce(ev.ids, '{{}}')))),
  coalesce(c.named_district_code, h.district), coalesce(c.named_reserve_code, h.reserve), c.agency, c.contractor,
  c.fiscal_year_be, CAST(c.area_geom AS geometry)
FROM redflag_contracts c
CROSS JOIN LATERAL (
  SELECT count(*) AS n, min(d.acq_date_local) AS first_day, max(d.acq_date_local) AS last_day,
         array_agg(d.id ORDER BY d.acq_utc, d.id) AS ids, ST_Collect(d.geom) AS pts,
         mode() WITHIN GROUP (ORDER BY d.district_code) AS district,
         mode() WITHIN GROUP (ORDER BY d.reserve_code) AS reserve
  FROM fire_detections_v d
  WHERE ST_Intersects(d.geom, c.area_geom) AND d.acq_date_local BETWEEN c.start_date AND c.end_date
) h
CROSS JOIN LATERAL (
  SELECT coalesce(ST_Area(ST_Intersection(
           ST_Union(ST_Expand(ST_Transform(p.geom, utm_srid(c.area_geom)), {PIXEL_M / 2})),
           ST_Transform(c.area_geom, utm_srid(c.area_geom)))), 0) AS m2
  FROM ST_Dump(h.pts) p
) burn
CROSS JOIN LATERAL (
  SELECT ST_Transform(ST_Buffer(ST_Transform(c.area_geom, utm_srid(c.area_geom)), :side_m), 4326) AS zone
) z
CROSS JOIN LATERAL (
  SELECT count(*) AS n FROM fire_detections_v d
  WHERE ST_Intersects(d.geom, z.zone)
    AND d.acq_date_local BETWEEN c.start_date AND c.end_date
    AND NOT ST_Intersects(d.geom, c.area_geom)
    AND CASE WHEN c.named_reserve_code IS NULL THEN cardinality(d.protected_area_codes) > 0
             ELSE c.named_reserve_code = ANY(d.protected_area_codes) END
) side
CROSS JOIN LATERAL (
  SELECT array_agg(e.id ORDER BY e.id) AS ids FROM fire_events_v e
  WHERE ST_Intersects(e.geom, c.area_geom)
    AND e.first_seen::date <= c.end_date AND e.last_seen::date >= c.start_date
) ev
WHERE c.work_type IN {_in(FIRE_WORK)} AND c.start_date IS NOT NULL AND c.end_date IS NOT NULL /*scope:c*/
  AND h.n >= :fire_min_detections
"""

_REFORESTATION_LOSS = f"""
SELECT 'reforestation_loss:contract:' || c.id, 'reforestation_loss',
  CASE WHEN cl.m2 / nullif(c.area_m2, 0) >= :fire_high_share OR h.n >= 3 OR v.change < 0 THEN 'high'
       ELSE 'medium' END,
  'contract', c.id::text, ARRAY[c.id], CAST('{{}}' AS bigint[]),
  format('แปลงปลูกป่า "%s" (%s) พบจุดความร้อน %s จุด และพื้นที่ถูกแผ้วถาง %s แปลง (%s ไร่, %s%% ของแปลง) ตั้งแต่เริ่มสัญญา %s ถึง %s%s',
    c.project_name, c.contract_number, h.n, cl.n, {_rai("cl.m2")},
    round(CAST(100 * cl.m2 / nullif(c.area_m2, 0) AS numeric), 1), be_dmy(c.start_date), be_dmy(w.until),
    CASE WHEN v.no_gain THEN format(' และพืชพรรณไม่เพิ่มขึ้น (ค่า %s เฉลี่ยเปลี่ยน %s จาก %s เป็น %s, %s พิกเซล)',
      upper(v.index_name), round(CAST(v.change AS numeric), 3), round(CAST(v.before_mean AS numeric), 3),
      round(CAST(v.after_mean AS numeric), 3), v.pixels) ELSE '' END),
  format('Reforestation plot "%s" (%s): %s fire detections and %s clearing patches (%s rai, %s%% of the plot) between the contract start %s and %s%s',
    c.project_name, c.contract_number, h.n, cl.n, {_rai("cl.m2")},
    round(CAST(100 * cl.m2 / nullif(c.area_m2, 0) AS numeric), 1), c.start_date, w.until,
    CASE WHEN v.no_gain THEN format('; no vegetation gain (mean %s change %s, from %s to %s, %s pixels)',
      upper(v.index_name), round(CAST(v.change AS numeric), 3), round(CAST(v.before_mean AS numeric), 3),
      round(CAST(v.after_mean AS numeric), 3), v.pixels) ELSE '' END),
  jsonb_build_object('detections', h.n, 'during_contract', h.during, 'after_contract', h.n - h.during,
    'clearing_patches', cl.n, 'cleared_m2', round(CAST(cl.m2 AS numeric), 1), 'cleared_rai', {_rai("cl.m2")},
    'cleared_share', round(CAST(cl.m2 / nullif(c.area_m2, 0) AS numeric), 4),
    'plot_area_rai', {_rai("c.area_m2")}, 'window', jsonb_build_array(c.start_date, w.until),
    'paid_thb', c.paid_thb, 'quantities', c.quantities,
    'vegetation_gain', CASE WHEN v.contract_id IS NOT NULL THEN jsonb_build_object('index', v.index_name,
      'before_mean', round(CAST(v.before_mean AS numeric), 4), 'after_mean', round(CAST(v.after_mean AS numeric), 4),
      'change', round(CAST(v.change AS numeric), 4), 'pixels', v.pixels, 'before_date', v.before_date,
      'after_date', v.after_date, 'min_gain', CAST(:veg_min_gain AS float8), 'no_gain', v.no_gain,
      'source', v.source) END),
  jsonb_build_array(jsonb_build_object('type', 'contract', 'id', c.id),
    jsonb_build_object('type', 'hotspot', 'ids', to_jsonb(coalesce(h.ids[1:{EVIDENCE_MAX}], '{{}}')), 'count', h.n),
    jsonb_build_object('type', 'clearing_patch', 'ids', to_jsonb(coalesce(cl.ids, '{{}}')))),
  c.named_district_code, c.named_reserve_code, c.agency, c.contractor, c.fiscal_year_be,
  CAST(c.area_geom AS geometry)
FROM redflag_contracts c
LEFT JOIN LATERAL (
  SELECT g.*, g.change < :veg_min_gain AS no_gain FROM redflag_vegetation g WHERE g.contract_id = c.id
) v ON true
CROSS JOIN LATERAL (SELECT coalesce(c.end_date, c.start_date) + make_interval(years => :watch_years) AS until0) w0
CROSS JOIN LATERAL (SELECT CAST(w0.until0 AS date) AS until) w
CROSS JOIN LATERAL (
  SELECT count(*) AS n, count(*) FILTER (WHERE d.acq_date_local <= coalesce(c.end_date, c.start_date)) AS during,
         array_agg(d.id ORDER BY d.acq_utc, d.id) AS ids
  FROM fire_detections_v d
  WHERE ST_Intersects(d.geom, c.area_geom) AND d.acq_date_local BETWEEN c.start_date AND w.until
) h
CROSS JOIN LATERAL (
  SELECT count(*) AS n, array_agg(p.id ORDER BY p.id) AS ids,
         coalesce(ST_Area(CAST(ST_Intersection(ST_Union(p.geom), c.area_geom) AS geography)), 0) AS m2
  FROM active_clearing_patches_v p
  WHERE ST_Intersects(p.geom, c.area_geom) AND p.last_date >= c.start_date AND p.first_date <= w.until
) cl
WHERE c.work_type = 'reforestation' AND c.start_date IS NOT NULL /*scope:c*/ AND (h.n > 0 OR cl.n > 0 OR v.no_gain)
"""

_OUTSIDE_NAMED_AREA = f"""
SELECT 'outside_named_area:contract:' || x.id || ':' || x.kind, 'outside_named_area',
  CASE WHEN x.inside_m2 / nullif(x.area_m2, 0) < 0.5 THEN 'high' ELSE 'medium' END,
  'contract', x.id::text, ARRAY[x.id], CAST('{{}}' AS bigint[]),
  format('พื้นที่สัญญา "%s" (%s) อยู่นอก%sที่ระบุในเอกสาร (%s) %s%% ของพื้นที่%s',
    x.project_name, x.contract_number, CASE x.kind WHEN 'reserve' THEN 'เขตป่า' ELSE 'อำเภอ' END, x.named,
    round(CAST(100 * (1 - x.inside_m2 / nullif(x.area_m2, 0)) AS numeric), 1),
    CASE WHEN NOT x.found THEN ' (ไม่พบรหัสพื้นที่นี้ในชั้นข้อมูล)' ELSE '' END),
  format('%s%% of the contract area "%s" (%s) lies outside the %s its documents name (%s)%s',
    round(CAST(100 * (1 - x.inside_m2 / nullif(x.area_m2, 0)) AS numeric), 1), x.project_name, x.contract_number,
    x.kind, x.named, CASE WHEN NOT x.found THEN '; no such code in the loaded layers' ELSE '' END),
  jsonb_build_object('named_kind', x.kind, 'named_code', x.named, 'named_found', x.found,
    'inside_share', round(CAST(x.inside_m2 / nullif(x.area_m2, 0) AS numeric), 4),
    'outside_share', round(CAST(1 - x.inside_m2 / nullif(x.area_m2, 0) AS numeric), 4),
    'outside_rai', {_rai("x.area_m2 - x.inside_m2")}, 'lies_in', to_jsonb(x.lies_in), 'paid_thb', x.paid_thb),
  jsonb_build_array(jsonb_build_object('type', 'contract', 'id', x.id),
    jsonb_build_object('type', CASE x.kind WHEN 'reserve' THEN 'protected_area' ELSE 'district' END,
                       'ids', jsonb_build_array(x.named))),
  CASE x.kind WHEN 'district' THEN x.named ELSE x.named_district_code END,
  CASE x.kind WHEN 'reserve' THEN x.named ELSE x.named_reserve_code END,
  x.agency, x.contractor, x.fiscal_year_be, CAST(x.area_geom AS geometry)
FROM (
  SELECT c.*, 'reserve' AS kind, c.named_reserve_code AS named, z.found, z.inside_m2, z.lies_in
  FROM redflag_contracts c
  CROSS JOIN LATERAL (
    SELECT count(*) > 0 AS found,
           coalesce(ST_Area(CAST(ST_Intersection(c.area_geom, ST_Union(pa.geom)) AS geography)), 0) AS inside_m2,
           (SELECT array_agg(DISTINCT o.code ORDER BY o.code) FROM protected_area_versions_v o
            WHERE ST_Intersects(o.geom, c.area_geom)
              AND in_force(o.valid_from, o.valid_to, coalesce(c.start_date, CURRENT_DATE))) AS lies_in
    FROM protected_area_versions_v pa
    WHERE pa.code = c.named_reserve_code AND in_force(pa.valid_from, pa.valid_to, coalesce(c.start_date, CURRENT_DATE))
  ) z
  WHERE c.named_reserve_code IS NOT NULL
  UNION ALL
  SELECT c.*, 'district', c.named_district_code, z.found, z.inside_m2, z.lies_in
  FROM redflag_contracts c
  CROSS JOIN LATERAL (
    SELECT count(*) > 0 AS found,
           coalesce(ST_Area(CAST(ST_Intersection(c.area_geom, ST_Union(a.geom)) AS geography)), 0) AS inside_m2,
           (SELECT array_agg(o.code ORDER BY o.code) FROM current_admin_areas o
            WHERE o.level = 'district' AND ST_Intersects(o.geom, c.area_geom)) AS lies_in
    FROM current_admin_areas a WHERE a.level = 'district' AND a.code = c.named_district_code
  ) z
  WHERE c.named_district_code IS NOT NULL
) x
WHERE NOT x.found OR 1 - x.inside_m2 / nullif(x.area_m2, 0) > :outside_tolerance
"""

_DOUBLE_PAYMENT = f"""
SELECT 'double_payment:contract:' || a.id || ':' || b.id, 'double_payment',
  CASE WHEN o.share >= 0.5 THEN 'high' ELSE 'medium' END,
  'contract', a.id::text, ARRAY[a.id, b.id], CAST('{{}}' AS bigint[]),
  format('สัญญา %s และ %s เป็นงาน%sเดียวกันในปีงบประมาณ %s พื้นที่ซ้อนทับกัน %s ไร่ (%s%% ของสัญญาที่เล็กกว่า) จ่ายเงินแล้ว %s และ %s บาท',
    a.contract_number, b.contract_number, {_work_th("a.work_type")}, a.fiscal_year_be, {_rai("o.m2")},
    round(CAST(100 * o.share AS numeric), 1), a.paid_thb, b.paid_thb),
  format('Contracts %s and %s pay for the same %s work in fiscal year %s over %s rai of the same land (%s%% of the smaller); paid %s and %s THB',
    a.contract_number, b.contract_number, {_work_en("a.work_type")}, a.fiscal_year_be, {_rai("o.m2")},
    round(CAST(100 * o.share AS numeric), 1), a.paid_thb, b.paid_thb),
  jsonb_build_object('overlap_m2', round(CAST(o.m2 AS numeric), 1), 'overlap_rai', {_rai("o.m2")},
    'overlap_share', round(CAST(o.share AS numeric), 4), 'contracts', jsonb_build_array(a.contract_number, b.contract_number),
    'paid_thb', jsonb_build_array(a.paid_thb, b.paid_thb), 'contractors', jsonb_build_array(a.contractor, b.contractor)),
  jsonb_build_array(jsonb_build_object('type', 'contract', 'id', a.id), jsonb_build_object('type', 'contract', 'id', b.id)),
  coalesce(a.named_district_code, b.named_district_code), coalesce(a.named_reserve_code, b.named_reserve_code),
  a.agency, a.contractor, a.fiscal_year_be, CAST(o.g AS geometry)
FROM redflag_contracts a
JOIN redflag_contracts b ON a.id < b.id AND a.work_type = b.work_type AND a.fiscal_year_be = b.fiscal_year_be
  AND ST_Intersects(a.area_geom, b.area_geom)
CROSS JOIN LATERAL (SELECT ST_Intersection(a.area_geom, b.area_geom) AS g) i
CROSS JOIN LATERAL (
  SELECT i.g, ST_Area(CAST(i.g AS geography)) AS m2,
         ST_Area(CAST(i.g AS geography)) / nullif(least(a.area_m2, b.area_m2), 0) AS share
) o
WHERE coalesce(a.paid_thb, 0) > 0 AND coalesce(b.paid_thb, 0) > 0 AND o.share >= :double_min_share
"""

_DOCUMENT_IN_RESERVE = f"""
SELECT DISTINCT ON (p.id, pa.code) 'document_in_reserve:parcel:' || p.id || ':' || pa.code, 'document_in_reserve',
  CASE WHEN o.share >= 0.5 THEN 'high' ELSE 'medium' END,
  'parcel', p.id::text, CAST('{{}}' AS bigint[]), ARRAY[p.id],
  format('เอกสารสิทธิออกเมื่อ %s ทับพื้นที่ %s (ประกาศ %s) %s ไร่ (%s%% ของแปลง)',
    be_dmy(p.issue_date), pa.name_th, be_dmy(pa.valid_from), {_rai("o.m2")}, round(CAST(100 * o.share AS numeric), 1)),
  format('A land document issued on %s overlaps %s (in force since %s) by %s rai (%s%% of the parcel)',
    p.issue_date, pa.name_en, pa.valid_from, {_rai("o.m2")}, round(CAST(100 * o.share AS numeric), 1)),
  jsonb_build_object('protected_area', pa.code, 'protected_area_version', pa.version, 'kind', pa.kind,
    'valid_from', pa.valid_from, 'issue_date', p.issue_date, 'days_after_start', p.issue_date - pa.valid_from,
    'overlap_m2', round(CAST(o.m2 AS numeric), 1), 'overlap_rai', {_rai("o.m2")},
    'overlap_share', round(CAST(o.share AS numeric), 4), 'illustrative_boundary', pa.illustrative),
  jsonb_build_array(jsonb_build_object('type', 'parcel', 'id', p.id),
    jsonb_build_object('type', 'protected_area', 'ids', jsonb_build_array(pa.code))),
  (SELECT a.code FROM current_admin_areas a WHERE a.level = 'district' AND ST_Intersects(a.geom, ST_PointOnSurface(p.geom))
   ORDER BY a.code LIMIT 1),
  pa.code, CAST(NULL AS text), CAST(NULL AS text), fiscal_year_be(p.issue_date), CAST(p.geom AS geometry)
FROM redflag_parcels p
JOIN protected_area_versions_v pa ON ST_Intersects(pa.geom, p.geom) AND pa.kind IN {_in(PROTECTING_KINDS)}
  AND pa.valid_from IS NOT NULL AND in_force(pa.valid_from, pa.valid_to, p.issue_date)
CROSS JOIN LATERAL (
  SELECT ST_Area(CAST(ST_Intersection(pa.geom, p.geom) AS geography)) AS m2,
         ST_Area(CAST(ST_Intersection(pa.geom, p.geom) AS geography)) / nullif(p.area_m2, 0) AS share
) o
WHERE p.issue_date IS NOT NULL AND o.share >= :document_min_share
ORDER BY p.id, pa.code, pa.valid_from DESC
"""

_CLEARED_BEFORE_ISSUE = f"""
SELECT 'cleared_before_issue:parcel:' || p.id, 'cleared_before_issue',
  CASE WHEN cl.n > 0 AND h.n > 0 THEN 'high' ELSE 'medium' END,
  'parcel', p.id::text, CAST('{{}}' AS bigint[]), ARRAY[p.id],
  format('แปลงถูกเผาหรือแผ้วถางก่อนออกเอกสารสิทธิ (%s): จุดความร้อน %s จุด แปลงแผ้วถาง %s แปลง ภายใน %s วันก่อนออกเอกสาร',
    be_dmy(p.issue_date), h.n, cl.n, :before_days),
  format('The parcel burned or was cleared shortly before its document was issued (%s): %s fire detections, %s clearing patches in the %s days before',
    p.issue_date, h.n, cl.n, :before_days),
  jsonb_build_object('issue_date', p.issue_date, 'detections', h.n, 'clearing_patches', cl.n,
    'last_fire_day', h.last_day, 'days_before_issue', p.issue_date - greatest(h.last_day, cl.last_day),
    'window_days', :before_days),
  jsonb_build_array(jsonb_build_object('type', 'parcel', 'id', p.id),
    jsonb_build_object('type', 'hotspot', 'ids', to_jsonb(coalesce(h.ids[1:{EVIDENCE_MAX}], '{{}}')), 'count', h.n),
    jsonb_build_object('type', 'clearing_patch', 'ids', to_jsonb(coalesce(cl.ids, '{{}}')))),
  h.district, h.reserve, CAST(NULL AS text), CAST(NULL AS text), fiscal_year_be(p.issue_date), CAST(p.geom AS geometry)
FROM redflag_parcels p
CROSS JOIN LATERAL (
  SELECT count(*) AS n, max(d.acq_date_local) AS last_day, array_agg(d.id ORDER BY d.acq_utc, d.id) AS ids,
         mode() WITHIN GROUP (ORDER BY d.district_code) AS district,
         mode() WITHIN GROUP (ORDER BY d.reserve_code) AS reserve
  FROM fire_detections_v d
  WHERE ST_Intersects(d.geom, p.geom) AND d.acq_date_local >= p.issue_date - :before_days
    AND d.acq_date_local < p.issue_date
) h
CROSS JOIN LATERAL (
  SELECT count(*) AS n, max(c.last_date) AS last_day, array_agg(c.id ORDER BY c.id) AS ids
  FROM active_clearing_patches_v c
  WHERE ST_Intersects(c.geom, p.geom) AND c.last_date >= p.issue_date - :before_days AND c.first_date < p.issue_date
) cl
WHERE p.issue_date IS NOT NULL /*scope:p*/ AND (h.n > 0 OR cl.n > 0)
"""

_RECURRENCE = """
SELECT 'recurrence:reserve_cell:' || r.reserve_code || ':' || r.cx || ':' || r.cy, 'recurrence',
  CASE WHEN r.seasons >= :rec_seasons + 2 THEN 'high' ELSE 'medium' END,
  'reserve_cell', r.reserve_code || ':' || r.cx || ':' || r.cy, CAST('{}' AS bigint[]), CAST('{}' AS bigint[]),
  format('พื้นที่ป่า %s (ช่อง %s ม.) เกิดไฟซ้ำ %s ฤดู (ปี พ.ศ. %s) รวม %s จุด',
    coalesce(pa.name_th, r.reserve_code), CAST(:cell AS int), r.seasons,
    array_to_string(ARRAY(SELECT y + 543 FROM unnest(r.years) y), ', '), r.n),
  format('The same %s m cell of %s burned in %s fire seasons (%s), %s detections',
    CAST(:cell AS int), coalesce(pa.name_en, r.reserve_code), r.seasons, array_to_string(r.years, ', '), r.n),
  jsonb_build_object('seasons', r.seasons, 'years', to_jsonb(r.years),
    'years_be', to_jsonb(ARRAY(SELECT y + 543 FROM unnest(r.years) y)), 'detections', r.n, 'cell_m', :cell,
    'cell', jsonb_build_array(r.cx, r.cy), 'srid', :srid, 'season_months', jsonb_build_array(:m1, :m2)),
  jsonb_build_array(jsonb_build_object('type', 'protected_area', 'ids', jsonb_build_array(r.reserve_code)),
    jsonb_build_object('type', 'hotspot', 'ids', to_jsonb(r.ids), 'count', r.n)),
  r.district, r.reserve_code, CAST(NULL AS text), CAST(NULL AS text), CAST(NULL AS int),
  ST_Transform(ST_MakeEnvelope(r.cx * :cell, r.cy * :cell, (r.cx + 1) * :cell, (r.cy + 1) * :cell, :srid), 4326)
FROM (
  SELECT x.reserve_code, x.cx, x.cy, count(DISTINCT x.season) AS seasons,
         array_agg(DISTINCT x.season ORDER BY x.season) AS years, count(*) AS n,
         (array_agg(x.id ORDER BY x.id))[1:50] AS ids, mode() WITHIN GROUP (ORDER BY x.district_code) AS district
  FROM (
    SELECT d.id, d.reserve_code, d.district_code,
           floor(ST_X(u.g) / :cell)::bigint AS cx, floor(ST_Y(u.g) / :cell)::bigint AS cy,
           extract(year FROM d.acq_date_local)::int
             + CASE WHEN :m1 > :m2 AND extract(month FROM d.acq_date_local) >= :m1 THEN 1 ELSE 0 END AS season
    FROM fire_detections_v d /*scope:cells-join*/ CROSS JOIN LATERAL (SELECT ST_Transform(d.geom, :srid) AS g) u
    WHERE d.reserve_code IS NOT NULL /*scope:cells*/
      AND CASE WHEN :m1 <= :m2 THEN extract(month FROM d.acq_date_local) BETWEEN :m1 AND :m2
               ELSE extract(month FROM d.acq_date_local) >= :m1 OR extract(month FROM d.acq_date_local) <= :m2 END
  ) x
  GROUP BY 1, 2, 3
  HAVING count(DISTINCT x.season) >= :rec_seasons
) r
LEFT JOIN (SELECT DISTINCT ON (code) code, name_th, name_en FROM protected_area_versions_v
           ORDER BY code, valid_from DESC NULLS LAST) pa ON pa.code = r.reserve_code
"""

SQL = {
    "fire_in_fire_contract": _FIRE_IN_FIRE_CONTRACT,
    "reforestation_loss": _REFORESTATION_LOSS,
    "outside_named_area": _OUTSIDE_NAMED_AREA,
    "double_payment": _DOUBLE_PAYMENT,
    "document_in_reserve": _DOCUMENT_IN_RESERVE,
    "cleared_before_issue": _CLEARED_BEFORE_ISSUE,
    "recurrence": _RECURRENCE,
}
SWITCH = {
    "fire_in_fire_contract": "rule_fire_in_fire_contract",
    "reforestation_loss": "rule_reforestation_loss",
    "outside_named_area": "rule_outside_named_area",
    "double_payment": "rule_double_payment",
    "document_in_reserve": "rule_document_in_reserve",
    "cleared_before_issue": "rule_cleared_before_issue",
    "recurrence": "rule_recurrence",
}
# What each kind of change can change the answer of (the listeners run only these).
AFTER = {
    "hotspots": ("fire_in_fire_contract", "reforestation_loss", "cleared_before_issue", "recurrence"),
    "contracts": ("fire_in_fire_contract", "reforestation_loss", "outside_named_area", "double_payment"),
    "parcels": ("document_in_reserve", "cleared_before_issue"),
    "layers": ("outside_named_area", "document_in_reserve", "recurrence"),
    "clearing": ("reforestation_loss", "cleared_before_issue"),
}

UPSERT = """
WITH found AS (SELECT * FROM ({select}) AS s({columns})),
was_gone AS (  -- flags found again after a run that no longer found them (the statement's snapshot: before)
  SELECT g.id FROM red_flags g JOIN found ON found.flag_key = g.flag_key
  WHERE NOT g.current AND g.status <> 'dismissed'
),
up AS (
  INSERT INTO red_flags AS f ({columns})
  SELECT {columns} FROM found
  ON CONFLICT (flag_key) DO UPDATE SET severity = EXCLUDED.severity, contract_ids = EXCLUDED.contract_ids,
    parcel_ids = EXCLUDED.parcel_ids, reason_th = EXCLUDED.reason_th, reason_en = EXCLUDED.reason_en,
    figures = EXCLUDED.figures, evidence = EXCLUDED.evidence, district_code = EXCLUDED.district_code,
    reserve_code = EXCLUDED.reserve_code, agency = EXCLUDED.agency, contractor = EXCLUDED.contractor,
    fiscal_year_be = EXCLUDED.fiscal_year_be, geom = EXCLUDED.geom, current = true, last_found_at = now(),
    version = f.version + 1, updated_at = now()
  WHERE f.status <> 'dismissed' AND (NOT f.current OR f.severity IS DISTINCT FROM EXCLUDED.severity
    OR f.figures IS DISTINCT FROM EXCLUDED.figures OR f.evidence IS DISTINCT FROM EXCLUDED.evidence
    OR f.reason_en IS DISTINCT FROM EXCLUDED.reason_en OR f.reason_th IS DISTINCT FROM EXCLUDED.reason_th
    OR f.contract_ids IS DISTINCT FROM EXCLUDED.contract_ids OR f.agency IS DISTINCT FROM EXCLUDED.agency
    OR f.contractor IS DISTINCT FROM EXCLUDED.contractor OR NOT ST_Equals(f.geom, EXCLUDED.geom))
  RETURNING f.id, (f.xmax = 0) AS inserted, f.figures, f.severity
),
gone AS (
  UPDATE red_flags g SET current = false, version = g.version + 1, updated_at = now()
  WHERE g.rule = :rule AND g.current AND g.status <> 'dismissed' /*scope:gone*/
    AND NOT EXISTS (SELECT 1 FROM found WHERE found.flag_key = g.flag_key)
  RETURNING g.id
),
hist AS (
  INSERT INTO red_flag_history (flag_id, action, actor, detail)
  SELECT id, CASE WHEN inserted THEN 'found' ELSE 'changed' END, :actor,
         jsonb_build_object('severity', severity, 'figures', figures) FROM up
  UNION ALL
  SELECT id, 'gone', :actor, '{{}}'::jsonb FROM gone
  RETURNING action
)
SELECT (SELECT count(*) FROM found) AS found,
       count(*) FILTER (WHERE action = 'found') AS new,
       count(*) FILTER (WHERE action = 'changed') AS changed,
       count(*) FILTER (WHERE action = 'gone') AS gone,
       ARRAY(SELECT id FROM up WHERE inserted OR id IN (SELECT id FROM was_gone) ORDER BY id) AS raised,
       ARRAY(SELECT id FROM up ORDER BY id) AS written
FROM hist
"""


def params(settings: RedFlagSettings) -> dict:
    """The bound parameters every rule may use, from the settings."""
    return {
        "fire_min_detections": settings.fire_min_detections,
        "fire_high_share": settings.fire_high_share,
        "side_m": settings.protected_side_m,
        "watch_years": settings.reforestation_watch_years,
        "veg_min_gain": settings.vegetation_min_gain,
        "outside_tolerance": settings.outside_tolerance,
        "double_min_share": settings.double_payment_min_share,
        "document_min_share": settings.document_min_share,
        "before_days": settings.cleared_before_days,
        "rec_seasons": settings.recurrence_seasons,
        "cell": settings.recurrence_cell_m,
        "srid": settings.recurrence_srid,
        "m1": settings.season_first_month,
        "m2": settings.season_last_month,
    }


@dataclass
class RuleRun:
    """What one rule did: flags it finds now, new ones, changed ones, ones it no longer finds, seconds taken, and
    the ids of the flags it raised (new, or found again after they were gone; never a dismissed one)."""

    rule: str
    found: int
    new: int
    changed: int
    gone: int
    seconds: float
    raised_ids: list[int] = field(default_factory=list, repr=False)
    subjects: int | None = None  # a scoped run: the subjects it re-ran (None: every subject)
    written_ids: list[int] = field(default_factory=list, repr=False)  # flags it inserted or updated


# Called with the ids of the flags a run raised, in the run's transaction (alerts: registered by wiring.py).
FlagsRaisedListener = Callable[[Session, list[int]], object]
_RAISED_LISTENERS: list[FlagsRaisedListener] = []


def on_flags_raised(listener: FlagsRaisedListener) -> FlagsRaisedListener:
    """Register a listener of the flags a rule run raises (idempotent: registering it again adds nothing)."""
    if listener not in _RAISED_LISTENERS:
        _RAISED_LISTENERS.append(listener)
    return listener


# --- scoped re-runs: only the subjects a change can reach ------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """What an ingest changed, for a re-run limited to it (``run_rules(scope=...)``).

    ``batch_id`` with ``first_acq``/``last_acq``: the detections a FIRMS ingest wrote (new or updated; the batch
    and its acquisition span, so the lookup uses the detection key's index); ``event_ids``: the fire events its
    re-clustering wrote; ``patch_ids``: the clearing patches a forest-loss ingest created or extended. A rule
    re-runs over the subjects (contract, parcel, reserve cell) these can reach within the rule's own window (the
    contract period, the watch years after a reforestation contract, the days before a document's issue, the fire
    season), the flagged fire contracts whose list of fire events the re-clustering changed, and the subjects whose
    current flag cites one of these patches or one that no longer exists (merged away); every other subject's flag
    is left as it is, which is what a full run would leave (``SCOPE_SQL``)."""

    batch_id: int | None = None
    first_acq: str | None = None
    last_acq: str | None = None
    event_ids: tuple[int, ...] = ()
    patch_ids: tuple[int, ...] = ()


# A detection written again keeps its key (time, lat/lon to 1e-4 degree, satellite), so it moved less than 1e-4
# degree: subjects within this distance of an ingested detection are re-run (its old place is covered too).
MARGIN_DEG = 0.0002
# Degrees (lon/lat, Euclidean) covering ``metres`` on the ground anywhere in Thailand (latitude <= 21 N: a degree
# of longitude is at least 103.9 km there, of latitude 110.5 km; UTM's scale error is under 0.1 %).
_DEG_PER_M = 1.0 / 103_000.0

# The detections the ingest wrote (its batch, by the detection key's index), read ONCE per run: every scoped rule's
# lookup below reads this CTE (``scopes_of`` runs them as one statement, the CTE materialised once).
_INGESTED_SELECT = """
  SELECT d.acq_date_local AS day, d.reserve_code, d.protected_area_codes, d.geom FROM fire_detections_v d
  WHERE d.batch_id = CAST(:batch_id AS bigint)
    AND d.acq_utc BETWEEN CAST(:first_acq AS timestamptz) AND CAST(:last_acq AS timestamptz)"""


def _cites_patches(rule: str) -> str:
    """Subjects whose current flag of ``rule`` cites a clearing patch the ingest extended (its cleared area grew) or
    one that is no longer active (merged into another)."""
    return f"""
SELECT f.subject_id FROM red_flags f
WHERE f.rule = '{rule}' AND f.current AND f.status <> 'dismissed' AND EXISTS (
  SELECT 1 FROM jsonb_array_elements(f.evidence) ev CROSS JOIN LATERAL jsonb_array_elements_text(ev -> 'ids') i
  WHERE ev ->> 'type' = 'clearing_patch' AND (CAST(i AS bigint) = ANY(CAST(:patch_ids AS bigint[]))
    OR NOT EXISTS (SELECT 1 FROM active_clearing_patches_v v WHERE v.id = CAST(i AS bigint))))"""


# Further CTEs a rule's lookup reads (besides ``ingested``), named after the rule so that they can share a statement.
_SCOPE_CTES = {
    "fire_in_fire_contract": """fire_flagged AS (
  SELECT CAST(f.subject_id AS bigint) AS id, coalesce((
    SELECT array_agg(CAST(i AS bigint) ORDER BY CAST(i AS bigint))
    FROM jsonb_array_elements(f.evidence) ev CROSS JOIN LATERAL jsonb_array_elements_text(ev -> 'ids') i
    WHERE ev ->> 'type' = 'fire_event'), '{}') AS event_ids
  FROM red_flags f
  WHERE f.rule = 'fire_in_fire_contract' AND f.current AND f.status <> 'dismissed'),
fire_span AS (
  SELECT min(e.first_seen)::date AS lo, max(e.last_seen)::date AS hi FROM fire_events_v e
  WHERE e.id = ANY(CAST(:event_ids AS bigint[])))""",
}

# Per scopable rule: the subject ids (as the flags' subject_id) a Scope can reach, as one SELECT over the CTE
# ``ingested`` (and the rule's own CTEs, ``_SCOPE_CTES``); set-based, driven from the changed rows into the subjects'
# spatial indexes.
SCOPE_SQL = {
    # A detection inside a contract's area can make its flag. One on the protected side (in a protected area, within
    # protected_side_m) can only change a flag that is there (current, not dismissed); so can the re-clustering of
    # fire events, and only the list of events the flag cites: for the flagged contracts whose period meets the
    # re-clustered span, that list is worked out again (as the rule does) and compared.
    "fire_in_fire_contract": f"""
SELECT CAST(c.id AS text) FROM ingested d
JOIN redflag_contracts c ON ST_DWithin(c.area_geom, d.geom, :margin_deg) AND d.day BETWEEN c.start_date AND c.end_date
WHERE c.work_type IN {_in(FIRE_WORK)}
UNION
SELECT CAST(c.id AS text) FROM ingested d
JOIN redflag_contracts c ON ST_DWithin(c.area_geom, d.geom, :near_deg) AND d.day BETWEEN c.start_date AND c.end_date
JOIN fire_flagged flagged ON flagged.id = c.id
WHERE cardinality(d.protected_area_codes) > 0 AND c.work_type IN {_in(FIRE_WORK)}
UNION
SELECT CAST(c.id AS text) FROM fire_span span
JOIN redflag_contracts c ON c.end_date >= span.lo AND c.start_date <= span.hi
JOIN fire_flagged flagged ON flagged.id = c.id
CROSS JOIN LATERAL (
  SELECT coalesce(array_agg(e.id ORDER BY e.id), '{{}}') AS ids FROM fire_events_v e
  WHERE ST_Intersects(e.geom, c.area_geom) AND e.first_seen::date <= c.end_date AND e.last_seen::date >= c.start_date
) now
WHERE now.ids IS DISTINCT FROM flagged.event_ids""",
    "reforestation_loss": f"""
SELECT CAST(c.id AS text) FROM ingested d
JOIN redflag_contracts c ON ST_DWithin(c.area_geom, d.geom, :margin_deg) AND d.day >= c.start_date
  AND d.day <= CAST(coalesce(c.end_date, c.start_date) + make_interval(years => :watch_years) AS date)
WHERE c.work_type = 'reforestation'
UNION
SELECT CAST(c.id AS text) FROM active_clearing_patches_v p
JOIN redflag_contracts c ON ST_DWithin(c.area_geom, p.geom, :margin_deg)
WHERE p.id = ANY(CAST(:patch_ids AS bigint[])) AND c.work_type = 'reforestation'
UNION {_cites_patches("reforestation_loss")}""",
    "cleared_before_issue": f"""
SELECT CAST(p.id AS text) FROM ingested d
JOIN redflag_parcels p ON ST_DWithin(p.geom, d.geom, :margin_deg)
  AND d.day >= p.issue_date - :before_days AND d.day < p.issue_date
UNION
SELECT CAST(p.id AS text) FROM active_clearing_patches_v c
JOIN redflag_parcels p ON ST_DWithin(p.geom, c.geom, :margin_deg)
WHERE c.id = ANY(CAST(:patch_ids AS bigint[])) AND p.issue_date IS NOT NULL
UNION {_cites_patches("cleared_before_issue")}""",
    # the cells of the ingested detections in the season (each detection's box widened by MARGIN_DEG: a
    # detection written again may have crossed a cell's edge by less than that)
    "recurrence": """
SELECT DISTINCT d.reserve_code || ':' || x || ':' || y FROM ingested d
CROSS JOIN LATERAL (SELECT ST_Transform(ST_Expand(d.geom, :margin_deg), :srid) AS b) u
CROSS JOIN LATERAL generate_series(floor(ST_XMin(u.b) / :cell)::bigint, floor(ST_XMax(u.b) / :cell)::bigint) x
CROSS JOIN LATERAL generate_series(floor(ST_YMin(u.b) / :cell)::bigint, floor(ST_YMax(u.b) / :cell)::bigint) y
WHERE d.reserve_code IS NOT NULL
  AND CASE WHEN :m1 <= :m2 THEN extract(month FROM d.day) BETWEEN :m1 AND :m2
           ELSE extract(month FROM d.day) >= :m1 OR extract(month FROM d.day) <= :m2 END""",
}


def scope_statement(chosen: tuple[str, ...] | list[str]) -> str:
    """One statement yielding ``(rule, subject_id)`` for each scopable rule in ``chosen``: the batch's detections
    read once (the CTE ``ingested``, materialised when several rules share it), each rule's lookup over it."""
    wanted = [r for r in chosen if r in SCOPE_SQL]
    materialised = "MATERIALIZED " if len(wanted) > 1 else ""
    ctes = [f"ingested AS {materialised}({_INGESTED_SELECT})"] + [_SCOPE_CTES[r] for r in wanted if r in _SCOPE_CTES]
    arms = [f"SELECT CAST('{r}' AS text) AS rule, s.subject FROM ({SCOPE_SQL[r]}\n) AS s(subject)" for r in wanted]
    return "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(arms)


# How a scoped run restricts a rule (markers in the rule's SQL and in UPSERT): to the subjects found above.
_SCOPE_IDS = "AND {alias}.id = ANY(CAST(:scope_ids AS bigint[]))"
_SCOPE_MARKERS = {
    "/*scope:c*/": _SCOPE_IDS.format(alias="c"),
    "/*scope:p*/": _SCOPE_IDS.format(alias="p"),
    "/*scope:gone*/": "AND g.subject_id = ANY(CAST(:scope_subjects AS text[]))",
    # the recurrence rule reads only the detections of the scoped cells (the cell's square, widened, through the
    # detections' spatial index; then the exact cell)
    "/*scope:cells-join*/": """JOIN (
      SELECT s.reserve_code, s.cx, s.cy, ST_Expand(ST_Transform(ST_MakeEnvelope(s.cx * :cell, s.cy * :cell,
               (s.cx + 1) * :cell, (s.cy + 1) * :cell, :srid), 4326), 0.001) AS env
      FROM unnest(CAST(:scope_reserves AS text[]), CAST(:scope_cx AS bigint[]), CAST(:scope_cy AS bigint[]))
        AS s(reserve_code, cx, cy)) s ON s.reserve_code = d.reserve_code AND d.geom && s.env""",
    "/*scope:cells*/": "AND floor(ST_X(u.g) / :cell)::bigint = s.cx AND floor(ST_Y(u.g) / :cell)::bigint = s.cy",
}
_UNSCOPED = {marker: "" for marker in _SCOPE_MARKERS}


def _bind(sql: str, values: dict) -> dict:
    return {k: v for k, v in values.items() if f":{k}" in sql}


def scopes_of(
    session: Session, chosen: tuple[str, ...] | list[str], settings: RedFlagSettings, scope: Scope
) -> dict[str, list[str]]:
    """The subject ids (flags' ``subject_id``) that ``scope`` can change, for each scopable rule in ``chosen`` (every
    one of them a key, sorted ids): ONE statement, the batch's detections read once (``scope_statement``)."""
    wanted = [r for r in chosen if r in SCOPE_SQL]
    if not wanted:
        return {}
    sql = scope_statement(wanted)
    values = {
        **params(settings),
        "batch_id": scope.batch_id if scope.first_acq and scope.last_acq else None,
        "first_acq": scope.first_acq,
        "last_acq": scope.last_acq,
        "event_ids": list(scope.event_ids),
        "patch_ids": list(scope.patch_ids),
        "margin_deg": MARGIN_DEG,
        "near_deg": settings.protected_side_m * _DEG_PER_M + MARGIN_DEG,
    }
    out: dict[str, list[str]] = {r: [] for r in wanted}
    for rule, subject in session.execute(text(sql), _bind(sql, values)):
        out[rule].append(subject)
    return {r: sorted(v) for r, v in out.items()}


def scope_subjects(session: Session, rule: str, settings: RedFlagSettings, scope: Scope) -> list[str]:
    """The subject ids (flags' ``subject_id``) of ``rule`` that ``scope`` can change (one statement of its own)."""
    return scopes_of(session, (rule,), settings, scope)[rule]


def _scope_values(rule: str, subjects: list[str]) -> dict:
    if rule == "recurrence":
        cells = [s.rsplit(":", 2) for s in subjects]
        return {
            "scope_subjects": subjects,
            "scope_reserves": [c[0] for c in cells],
            "scope_cx": [int(c[1]) for c in cells],
            "scope_cy": [int(c[2]) for c in cells],
        }
    return {"scope_subjects": subjects, "scope_ids": [int(s) for s in subjects]}


def run_rule(
    session: Session,
    rule: str,
    settings: RedFlagSettings,
    actor: str = "system",
    subjects: list[str] | None = None,
) -> RuleRun:
    """Run one rule (one statement) in the caller's transaction: over every subject, or over ``subjects`` only
    (flags of other subjects are neither found nor marked gone)."""
    t0 = time.perf_counter()
    sql = UPSERT.format(select=SQL[rule], columns=COLUMNS)
    markers = _UNSCOPED if subjects is None else _SCOPE_MARKERS
    for marker, predicate in markers.items():
        sql = sql.replace(marker, predicate)
    values = {**params(settings), "rule": rule, "actor": actor}
    if subjects is not None:
        values |= _scope_values(rule, subjects)
    row = session.execute(text(sql), _bind(sql, values)).one()
    seconds = round(time.perf_counter() - t0, 3)
    return RuleRun(
        rule,
        int(row[0]),
        int(row[1]),
        int(row[2]),
        int(row[3]),
        seconds,
        [int(i) for i in row[4]],
        written_ids=[int(i) for i in row[5]],
    )


def run_rules(
    session: Session,
    settings: RedFlagSettings,
    *,
    rules: tuple[str, ...] | None = None,
    actor: str = "system",
    scope: Scope | None = None,
) -> list[RuleRun]:
    """Run the enabled rules among ``rules`` (default: all), in the caller's transaction, in a fixed order; then
    tell the listeners (``on_flags_raised``) which flags the run raised, in the same transaction.

    With ``scope`` (what an ingest changed), each rule that can be scoped (``SCOPE_SQL``) runs over the subjects the
    change can reach only, and leaves the flags table as a full run would; the others run in full."""
    chosen = [r for r in RULES if (rules is None or r in rules) and getattr(settings, SWITCH[r])]
    # JIT compiling these wide plans (a scan per yearly partition) cost 10 s on the 2-core machine for a 20 ms query
    session.execute(text("SET LOCAL jit = off"))
    subjects_of: dict[str, list[str]] = {}
    lookup_share = 0.0
    if scope is not None:
        t0 = time.perf_counter()
        subjects_of = scopes_of(session, chosen, settings, scope)  # one lookup for every scoped rule
        lookup_share = (time.perf_counter() - t0) / max(len(subjects_of), 1)
    runs = []
    for r in chosen:
        if r in subjects_of:
            subjects = subjects_of[r]
            run = run_rule(session, r, settings, actor, subjects) if subjects else RuleRun(r, 0, 0, 0, 0, 0.0)
            run.seconds = round(run.seconds + lookup_share, 3)  # its statement and its share of the lookup
            run.subjects = len(subjects)
        else:
            run = run_rule(session, r, settings, actor)
        runs.append(run)
    # each flag the run wrote in its contract's, parcel's or cell's province (a flag it did not write keeps its
    # province: a contract's or parcel's move, or a boundary change, refreshes theirs, ``store.refresh_provinces``)
    written = sorted({i for run in runs for i in run.written_ids})
    if written:
        store.refresh_flag_provinces(session, flag_ids=written)
    raised = sorted({i for run in runs for i in run.raised_ids})
    if raised:
        for listener in list(_RAISED_LISTENERS):
            listener(session, raised)
    return runs
