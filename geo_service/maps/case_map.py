"""The map of one case's evidence (assigned investigators and administrators): every kind of linked evidence -
incidents, hotspots, fire events, raster statistics (over their zone), protected areas and districts - with
the same building blocks as the overview, zoomed to the evidence."""

from __future__ import annotations

from datetime import date, datetime

import folium
import orjson
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.cases import access
from geo_service.cases import service as cases
from geo_service.cases.evidence_geojson import evidence_features, features_bbox
from geo_service.cases.evidence_scope import hidden_note
from geo_service.forest_loss import evidence as patches
from geo_service.maps import escaping as esc
from geo_service.maps import flag_layers as RF
from geo_service.maps import forest_layers as F
from geo_service.maps import layers as L
from geo_service.maps.hotspot_layers import CONFIDENCE, HOTSPOT_CREDIT
from geo_service.maps.overview import INCIDENT_CREDIT, base_map, sources_html
from geo_service.thai import BANGKOK, M2_PER_HECTARE, M2_PER_RAI, be_date_th

RASTER_CREDIT = "Rasters: as registered (product and date in each label); zonal statistics by exactextract"
# What the legend calls each kind of evidence, in the order it is listed.
KINDS = {
    "incident": ("เหตุที่แจ้ง", "incidents"),
    "hotspot": ("จุดความร้อน", "hotspots"),
    "fire_event": ("เหตุไฟ", "fire events"),
    "clearing_patch": ("แปลงแผ้วถางป่า", "clearing patches"),
    "raster_stat": ("สถิติภาพถ่ายดาวเทียม", "raster statistics"),
    "protected_area": ("พื้นที่คุ้มครอง", "protected areas"),
    "district": ("อำเภอ", "districts"),
}


def _when(value: str) -> str:
    t = datetime.fromisoformat(value).astimezone(BANGKOK)
    return f"{be_date_th(t.date())} {t:%H:%M}"


def _why(p: dict) -> str:
    return f"<br><i>{esc.text('เหตุผล / why linked: ' + (p.get('reason') or '-'))}</i>"


def _confidence(value: int | None) -> str | int | None:
    return CONFIDENCE.get(value, value) if value is not None else None


def _figure(value: object, fmt: str) -> str:
    """A recorded figure, or "-" when the detection has none (never a made-up 0, never "None")."""
    return "-" if value is None else format(value, fmt)


def hotspot_label(p: dict) -> str:
    """The escaped label of a linked detection: local time, satellite, FRP, confidence ("-" for what it lacks)."""
    return esc.check_fragment(
        f"<b>{esc.text('จุดความร้อน / hotspot #' + p['target_id'])}</b><br>"
        + esc.text(
            f"{_when(p['acq_utc'])} (เวลาไทย / Bangkok); {p.get('satellite') or '-'}; "
            f"FRP {_figure(p.get('frp'), '.1f')} MW; confidence {_figure(_confidence(p.get('confidence')), '')}"
        )
        + _why(p)
    )


def event_label(p: dict) -> str:
    """The escaped label of a linked fire event: its span (Bangkok), detections, highest FRP ("-" when none)."""
    return esc.check_fragment(
        f"<b>{esc.text('เหตุไฟ / fire event #' + p['target_id'])}</b><br>"
        + esc.text(
            f"{_when(p['first_seen'])} – {_when(p['last_seen'])}; {p['detections']} detections; "
            f"FRP max {_figure(p.get('max_frp'), '.0f')} MW"
            + (f"; {p['reserve_code']}" if p.get("reserve_code") else "")
        )
        + _why(p)
    )


def _raster_label(p: dict) -> str:
    burned = p.get("burned_m2") or 0
    figures = (
        f"burned {burned / M2_PER_HECTARE:,.1f} ha ({burned / M2_PER_RAI:,.0f} ไร่ / rai)"
        if burned
        else f"mean {p['mean']:.3g}, max {p['max']:.3g}"
        if p.get("mean") is not None
        else "no valid pixel"
    )
    return esc.check_fragment(
        f"<b>{esc.text('ภาพถ่ายดาวเทียม / raster: ' + str(p['raster_name']) + ' v' + str(p.get('raster_version') or 1))}"
        f"{esc.text(' (superseded / มีฉบับใหม่กว่า)') if p.get('superseded_by') else ''}</b><br>"
        + esc.text(
            f"{p['product']}, {be_date_th(date.fromisoformat(p['acq_date']))}; "
            f"{p['zone_type']} {p['zone_code']} (the part the raster covers): {figures}"
        )
        + _why(p)
    )


def _evidence_layer(features: list[dict], kind: str, label, style: dict) -> folium.GeoJson | None:
    mine = [
        {**f, "properties": {"label": label(f["properties"])}}
        for f in features
        if f["properties"]["target_type"] == kind
    ]
    if not mine:
        return None
    th, en = KINDS[kind]
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": mine},
        name=esc.text(f"{th} / {en} ({len(mine)})"),
        style_function=lambda f: style,
        marker=folium.CircleMarker(radius=6, color="#b22222", weight=2, fill_color="#ff4500", fill_opacity=0.9),
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    )


def case_map(
    session: Session,
    case_id: int,
    principal: Principal,
    *,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    photo_base: str | None = "",
) -> folium.Map:
    """Runs in the caller's transaction after access.act_as (row-level security applies). Draws the evidence within
    the reader's provinces and says how many linked items are not shown (``cases.evidence_scope``)."""
    access.require_insider(session, principal, case_id)  # the same rule as the evidence pack
    case = cases.get_case(session, case_id, principal)
    links = case.get("links", [])
    # the evidence within the reader's provinces; case["links"] holds the same (cases.evidence_scope, one rule)
    evidence = evidence_features(session, case_id, principal)
    features = evidence.features
    ids = [int(x["target_id"]) for x in links if x["target_type"] == "incident" and x["target_id"].isdigit()]
    pa_codes = sorted({x["target_id"] for x in links if x["target_type"] == "protected_area"})
    district_codes = sorted(
        set(case.get("districts", [])) | {x["target_id"] for x in links if x["target_type"] == "district"}
    )
    all_districts = L.districts(session)
    m = base_map(all_districts, tile_url, tile_attribution)
    linked = [d for d in all_districts if d["code"] in district_codes]
    if linked:  # names only: nothing is counted over a period on a case's map (a "0" would be false)
        choropleth, _ = L.district_layer(linked, None)
        choropleth.add_to(m)
    if pa_codes:
        L.protected_layer(L.protected_areas(session, datetime.now(BANGKOK).date(), pa_codes)).add_to(m)
    drawn = {kind: 0 for kind in KINDS}
    for kind, label, style in (
        (
            "raster_stat",
            _raster_label,
            {"color": "#6f42c1", "weight": 2, "fillColor": "#6f42c1", "fillOpacity": 0.15, "dashArray": "4 3"},
        ),
        ("fire_event", event_label, {"color": "#b22222", "weight": 2, "fillColor": "#ff7f0e", "fillOpacity": 0.4}),
        ("hotspot", hotspot_label, {}),
    ):
        layer = _evidence_layer(features, kind, label, style)
        if layer is not None:
            layer.add_to(m)
    patch_ids = [x["target_id"] for x in links if x["target_type"] == "clearing_patch"]
    if patch_ids:
        cards = patches.patch_cards(session, patch_ids, viewer=principal)  # within the reader's provinces
        outlines = {
            f["properties"]["target_id"]: f["geometry"]
            for f in features
            if f["properties"]["target_type"] == "clearing_patch"
        }
        rows_p = [
            {**c, "geometry": orjson.dumps(outlines[str(c["id"])]).decode()} for c in cards if str(c["id"]) in outlines
        ]
        layer_p = F.patch_layer(rows_p, "แปลงแผ้วถางป่าที่เชื่อมโยง / Linked clearing patches")
        if layer_p is not None:
            layer_p.add_to(m)
    flag_ids = [int(x["target_id"]) for x in links if x["target_type"] == "red_flag" and x["target_id"].isdigit()]
    flag_layer, flag_legend, flag_count = RF.case_flags(session, principal, flag_ids, pa_codes)
    if flag_layer is not None:
        flag_layer.add_to(m)
    rows = L.incidents(session, None, ids=ids or [-1], viewer=principal)  # within the reader's provinces
    for layer in L.incident_layers(rows, photo_base):
        layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    for f in features:  # red flags: the flag layer above counts them (contracts and parcels show through them)
        if f["properties"]["target_type"] in drawn:
            drawn[f["properties"]["target_type"]] += 1
    drawn["incident"], drawn["district"] = len(rows), len(linked)
    # zoom to the evidence this map draws (contracts and parcels are features of evidence.geojson, not layers
    # here: they show through their red flags); districts (large) only when nothing else is linked
    shown = [
        f for f in features if f["properties"]["target_type"] in drawn or f["properties"]["target_type"] == "red_flag"
    ]
    focus = [f for f in shown if f["properties"]["target_type"] != "district"] or shown
    bbox = features_bbox(focus)
    if bbox:
        pad = 0.01
        m.fit_bounds([[bbox[1] - pad, bbox[0] - pad], [bbox[3] + pad, bbox[2] + pad]])
    body = [
        f"<h4>{esc.text(case['reference'])}</h4>",
        f"<div>{esc.text(case.get('title') or '')}</div>",
        f"<div>{esc.text(case['stage_th'])} / {esc.text(case['stage_en'])}</div>",
        "<div>"
        + esc.text(
            "หลักฐาน: "
            + ", ".join(
                [f"{KINDS[k][0]} {n}" for k, n in drawn.items() if n]
                + ([f"สัญญาณเตือน {flag_count}"] if flag_count else [])
            )
        )
        + "<br>"
        + esc.text(
            "evidence: "
            + ", ".join(
                [f"{n} {KINDS[k][1]}" for k, n in drawn.items() if n]
                + ([f"{flag_count} red flags"] if flag_count else [])
            )
        )
        + "</div>",
    ]
    if (note := hidden_note(evidence.hidden)) is not None:
        body.append(f"<div><i>{esc.text(note['th'])} / {esc.text(note['en'])}</i></div>")
    extra = (
        [INCIDENT_CREDIT]
        + ([HOTSPOT_CREDIT] if drawn["hotspot"] or drawn["fire_event"] else [])
        + ([RASTER_CREDIT] if drawn["raster_stat"] else [])
        + ([F.PATCH_CREDIT] if drawn["clearing_patch"] else [])
        + ([RF.CREDIT] if flag_count else [])
    )
    if drawn["clearing_patch"]:
        body.append(F.legend_html(drawn["clearing_patch"]))
    if flag_legend is not None:
        body.append(flag_legend)
    body.append(sources_html(session, extra, tile_attribution if tile_url else None))
    L.Legend("".join(body)).add_to(m)
    return m
