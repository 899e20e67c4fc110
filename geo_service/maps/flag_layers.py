"""Red flags (issue 15) on the staff maps: each flag drawn from its subject's shape (the contract area, a line
contract buffered by its stated width, the parcel, the reserve cell; a double payment's overlap), coloured by
severity, with a Thai and English popup: the rule and its reason, severity, agency, contractor, contract number,
fiscal year (BE), the figures and over which area and period they count, the status, and a link to the red-flag
sheet.

Who sees the layer: the same rule as the flags list (``redflags.service.FLAG_READERS``: investigators and
administrators), within the caller's provinces. A committee member's map has no red-flag layer at all, so it never
carries a parcel's shape or a document number. Dismissed flags are left out unless asked for.

Not vector tiles, even above the maps' feature threshold (``map_tiles_above``), unlike hotspots and clearing
patches: the tiles (OGC API - Tiles) take only a ``datetime`` filter, so the layer's district, reserve, agency and
contractor filters could not reach them, and the ``red_flags`` OGC collection is for administrators only (parcels
are confidential) while this layer also serves investigators. A flag is one per subject and rule, so their number
follows the contracts and parcels, not the detections: at most MAP_FLAGS are embedded, highest severity first, and
the legend says how many were left out.

Every string (project names, contractors, agencies and reasons come from loaded files) goes through
``maps.escaping``."""

from __future__ import annotations

import json
from datetime import datetime

import folium

from geo_service.auth import Principal
from geo_service.layers import aoi
from geo_service.maps import escaping as esc
from geo_service.maps.period import Period
from geo_service.redflags import rules, store
from geo_service.redflags.labels import DOC_LABELS, SEVERITY_LABELS, STATUS_LABELS
from geo_service.redflags.service import may_read_flags
from geo_service.thai import BANGKOK, be_dmy, fiscal_year_be

MAP_FLAGS = 2000  # flags embedded in one page (highest severity first); the legend counts the rest
LAYER_NAME = "สัญญาณเตือน (สัญญา เอกสารสิทธิ) / Red flags (contracts, land documents)"
CREDIT = "Red flags: geo_service rules over contracts, land documents, NASA FIRMS and forest-loss alerts"
COLOURS = {"high": "#b42318", "medium": "#dc6803", "low": "#eaaa08"}  # outline / fill by severity
SEVERITY = {k: (th, en, COLOURS[k]) for k, (th, en) in SEVERITY_LABELS.items()}  # Thai, English, colour
STATUS = STATUS_LABELS
DISMISSED_COLOUR = "#667085"
DOC_TYPES = {k: f"{th} / {en}" for k, (th, en) in DOC_LABELS.items()}


def _sheet_links(r: dict) -> list[tuple[str, str]]:
    """(href, label) of the red-flag sheets of the flag's contracts and parcels (a reserve cell: the flag itself)."""
    links = [
        (f"/api/v1/redflags/contracts/{c['id']}/sheet", f"สัญญา / contract {c['contract_number']}")
        for c in r["contracts"]
    ]
    links += [(f"/api/v1/redflags/parcels/{p['id']}/sheet", f"แปลง / parcel #{p['id']}") for p in r["parcels"]]
    if not links:
        links.append((f"/api/v1/redflags/flags/{r['id']}", f"สัญญาณเตือน / flag #{r['id']} (JSON)"))
    return links


def _names(r: dict) -> tuple[tuple[str, str], tuple[str, str]]:
    """(rule Thai, English), (severity Thai, English) of one flag (its own codes when unknown)."""
    sev_th, sev_en, _ = SEVERITY.get(r["severity"], (r["severity"], r["severity"], ""))
    return rules.RULE_LABELS.get(r["rule"], (r["rule"], r["rule"])), (sev_th, sev_en)


def flag_label(r: dict) -> str:
    """The escaped popup HTML of one flag (a row of ``redflags.store.map_flags``)."""
    (rule_th, rule_en), (sev_th, sev_en) = _names(r)
    st_th, st_en = STATUS.get(r["status"], (r["status"], r["status"]))
    status = f"สถานะ / status: {st_th} / {st_en}"
    if r["status"] == "linked" and r.get("case_id"):
        status += f" (คดี / case {r['case_id']})"
    if not r["current"]:
        status += "; ไม่พบแล้วในการตรวจล่าสุด / no longer found by the last run"
    lines = [
        f"<b>{esc.text('สัญญาณเตือน / red flag #' + str(r['id']) + f': {rule_th} / {rule_en}')}</b>",
        esc.text(f"ระดับ / severity: {sev_th} / {sev_en}"),
        esc.text(status),
    ]
    if r["status"] == "dismissed":
        lines.append(
            esc.text(f"ยกเลิกโดย / dismissed by {r.get('dismissed_by') or '-'}: {r.get('dismissed_reason') or '-'}")
        )
    lines += [esc.text(r["reason_th"] or ""), esc.text(r["reason_en"] or "")]
    for c in r["contracts"]:
        lines.append(
            esc.text(
                f"สัญญา / contract {c['contract_number']}: {c['project_name']}; หน่วยงาน / agency: {c['agency']}; "
                f"ผู้รับจ้าง / contractor: {c.get('contractor') or '-'}; ปีงบประมาณ / fiscal year "
                f"{c.get('fiscal_year_be') or '-'} (พ.ศ. / BE)"
            )
        )
    if not r["contracts"] and (r.get("agency") or r.get("contractor")):
        lines.append(
            esc.text(f"หน่วยงาน / agency: {r.get('agency') or '-'}; ผู้รับจ้าง / contractor: {r.get('contractor') or '-'}")
        )
    for p in r["parcels"]:  # investigators and administrators only: the layer is theirs (FLAG_READERS)
        lines.append(
            esc.text(f"เอกสารสิทธิ / land document: {DOC_TYPES.get(p['doc_type'], p['doc_type'])} {p['doc_number']}")
        )
    if r.get("fiscal_year_be") and not r["contracts"]:
        lines.append(esc.text(f"ปีงบประมาณ / fiscal year {r['fiscal_year_be']} (พ.ศ. / BE)"))
    over_th, over_en = rules.counted_over(r)
    if over_en:
        lines.append(f"<i>{esc.text(over_th)}<br>{esc.text(over_en)}</i>")
    figures = rules.figure_lines(r.get("figures") or {})
    if figures:
        lines.append("<small>" + "<br>".join(esc.text(x) for x in figures) + "</small>")
    lines.append(
        esc.text("แบบสรุป / red-flag sheet: ")
        + ", ".join(
            f"<a href='{esc.attr(href)}' target='_blank' rel='noopener'>{esc.text(label)}</a>"
            for href, label in _sheet_links(r)
        )
    )
    return esc.check_fragment("<div class='gs-popup'>" + "<br>".join(lines) + "</div>")


def _style(feature: dict) -> dict:
    p = feature["properties"]
    if p["status"] == "dismissed":
        return {
            "color": DISMISSED_COLOUR,
            "weight": 1.5,
            "fillColor": DISMISSED_COLOUR,
            "fillOpacity": 0.15,
            "dashArray": "4 4",
        }
    colour = SEVERITY.get(p["severity"], SEVERITY["medium"])[2]
    return {"color": colour, "weight": 3 if p["severity"] == "high" else 2, "fillColor": colour, "fillOpacity": 0.35}


def _tip(r: dict) -> str:
    """The hover line, Thai first as the popups are: '#12 <rule> (<severity>) / <rule> (<severity>)'."""
    (rule_th, rule_en), (sev_th, sev_en) = _names(r)
    return esc.text(f"#{r['id']} {rule_th} ({sev_th}) / {rule_en} ({sev_en})")


def flag_layer(rows: list[dict], name: str = LAYER_NAME) -> folium.GeoJson | None:
    """The flags as one layer (None: no flag)."""
    if not rows:
        return None
    features = [
        {
            "type": "Feature",
            "geometry": json.loads(r["geometry"]),
            "properties": {
                "label": flag_label(r),
                "tip": _tip(r),
                "severity": r["severity"] if r["severity"] in SEVERITY else "medium",
                "status": r["status"] if r["status"] in STATUS else "open",
            },
        }
        for r in rows
    ]
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=esc.text(f"{name} ({len(rows):,})"),
        style_function=_style,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        popup=folium.GeoJsonPopup(fields=["label"], labels=False, max_width=420),
    )


def count_words(shown: int, matched: int) -> tuple[str, str]:
    """How many flags the layer draws, in Thai and English: every one, or the ``shown`` of highest severity of the
    ``matched`` and how many were left out (the layer embeds at most MAP_FLAGS)."""
    left = max(matched - shown, 0)
    if not left:
        return f"แสดงทั้งหมด {shown:,} รายการ", f"all {shown:,} shown"
    return (
        f"แสดง {shown:,} จาก {matched:,} รายการ (ระดับสูงสุดก่อน); ไม่แสดง {left:,} รายการ",
        f"{shown:,} shown of {matched:,} (the {shown:,} of highest severity); {left:,} left out",
    )


def legend_html(shown: int, matched: int, scope_th: str, scope_en: str, dismissed: bool) -> str:
    """The legend's lines for the flag layer: colours by severity, what is counted (area and period)."""
    th, en = count_words(shown, matched)
    parts = [f"<div><b>{esc.text('สัญญาณเตือน / red flags')}</b><br>{esc.text(th)}<br>{esc.text(en)}</div>"]
    for th, en, colour in SEVERITY.values():
        parts.append(
            f"<div><span class='sw' style='background:{colour};opacity:.6;border:2px solid {colour}'></span>"
            f"{esc.text(f'{th} / {en}')}</div>"
        )
    if dismissed:
        parts.append(
            f"<div><span class='sw' style='background:#fff;border:2px dashed {DISMISSED_COLOUR}'></span>"
            + esc.text("ยกเลิกแล้ว / dismissed")
            + "</div>"
        )
    parts.append(f"<div>{esc.text(scope_th)}<br>{esc.text(scope_en)}</div>")
    return "".join(parts)


def _filter_words(filters: dict) -> str:
    named = [
        (k, filters.get(k))
        for k in ("district", "reserve", "agency", "contractor", "fy", "rule")
        if filters.get(k) not in (None, "")
    ]
    labels = {
        "fy": "fiscal year",
        "district": "district",
        "reserve": "reserve",
        "agency": "agency",
        "contractor": "contractor",
        "rule": "rule",
    }
    return "; ".join(f"{labels[k]} = {v}" for k, v in named)


def area_words(session, principal: Principal | None) -> tuple[str, str]:
    """The caller's provinces by name, in Thai and English ("every province" for a national caller, or None: the
    service itself)."""
    if principal is None or principal.provinces is None:
        return "ทุกจังหวัด", "every province"
    codes = sorted(principal.provinces)
    names = aoi.province_names(session, codes)
    th = ", ".join(f"{names.get(c, (None, None))[0] or c} ({c})" for c in codes)
    en = ", ".join(f"{names.get(c, (None, None))[1] or c} ({c})" for c in codes)
    return f"จังหวัด {th or '-'}", f"province {en or '-'}"


def scope_words(area: tuple[str, str], period: Period | None, filters: dict, dismissed: bool) -> tuple[str, str]:
    """Over which area (``area``: area_words) and period the layer's flags are counted, in Thai and English."""
    area_th, area_en = area
    if filters.get("fy"):
        when_th = f"ปีงบประมาณ {filters['fy']} (สัญญา: ปีของสัญญา; เอกสารสิทธิ: ปีที่ออก)"
        when_en = f"fiscal year {filters['fy']} BE (contracts: their fiscal year; land documents: the year issued)"
    elif period is not None:
        lo, hi = fiscal_year_be(period.start), fiscal_year_be(period.end)
        years = str(lo) if lo == hi else f"{lo}–{hi}"
        when_th = f"สัญญาปีงบประมาณ {years} และสัญญาณเตือนของเอกสารสิทธิและพื้นที่ป่าที่ยังพบอยู่ทั้งหมด"
        when_en = (
            f"contracts of fiscal year {years} BE (the years the map's period touches), and every standing flag on "
            "land documents and reserve cells"
        )
    else:
        when_th, when_en = "ทุกปี", "every year"
    extra = _filter_words(filters)
    th = f"นับ: {area_th}; {when_th}" + ("" if dismissed else "; ไม่รวมที่ยกเลิกแล้ว")
    en = f"Counted: {area_en}; {when_en}" + ("" if dismissed else "; dismissed flags left out")
    if extra:
        th += f"; ตัวกรอง {extra}"
        en += f"; filters {extra}"
    return th, en


def overview_flags(
    session,
    principal: Principal | None,
    period: Period,
    filters: dict | None = None,
    *,
    include_dismissed: bool = False,
) -> tuple[folium.GeoJson | None, str | None]:
    """The overview's red-flag layer and its legend lines for ``principal`` (None, None: the caller may not read
    flags). ``filters``: district, reserve, agency, contractor, fiscal_year_be, rule (as the flags list)."""
    if principal is None or not may_read_flags(principal):
        return None, None
    params = store.flag_params(**(filters or {}), provinces=principal.provinces)
    years = (fiscal_year_be(period.start), fiscal_year_be(period.end))
    rows = store.map_flags(session, params, years=years, include_dismissed=include_dismissed, limit=MAP_FLAGS)
    matched = int(rows[0]["matched"]) if rows else 0
    th, en = scope_words(area_words(session, principal), period, params, include_dismissed)
    return flag_layer(rows), legend_html(len(rows), matched, th, en, include_dismissed)


def case_flags(
    session, principal: Principal, flag_ids: list[int], reserve_codes: list[str]
) -> tuple[folium.GeoJson | None, str | None, int]:
    """A case map's red-flag layer: the flags linked to the case and the open flags inside its reserves, within the
    caller's provinces; (layer, legend lines, how many)."""
    if not may_read_flags(principal) or not (flag_ids or reserve_codes):
        return None, None, 0
    rows = store.case_map_flags(
        session, flag_ids=flag_ids, reserve_codes=reserve_codes, provinces=principal.provinces, limit=MAP_FLAGS
    )
    if not rows:
        return None, None, 0
    matched = int(rows[0]["matched"])
    area_th, area_en = area_words(session, principal)
    today, reserves = be_dmy(datetime.now(BANGKOK).date()), ", ".join(reserve_codes) or "-"
    th = f"นับ: สัญญาณเตือนที่เชื่อมโยงกับคดี และที่ยังเปิดอยู่ในเขตป่าของคดี ({reserves}; ขอบเขตที่มีผล ณ {today}); {area_th}"
    en = (
        f"Counted: the flags linked to this case, and the open flags still found in its reserves "
        f"({reserves}; boundary in force on {today}); {area_en}"
    )
    return (
        flag_layer(rows, "สัญญาณเตือนของคดี / Red flags of this case"),
        legend_html(len(rows), matched, th, en, any(r["status"] == "dismissed" for r in rows)),
        len(rows),
    )
