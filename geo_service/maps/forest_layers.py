"""Forest-clearing patches (satellite forest-loss alerts, issue 14) on the committee maps: outlines coloured by
what the field found, a darker edge where the patch also burned ("cleared by fire"), and a label with the
area (rai and ha), alert dates (Buddhist Era), sources, confidence and verification.

Every string reaches the page through ``maps.escaping`` (sources and codes come from files and users)."""

from __future__ import annotations

from datetime import date

import folium
import orjson
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.forest_loss import evidence
from geo_service.maps import escaping as esc
from geo_service.maps.period import Period, be_date_en, be_date_th
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI

PATCH_CREDIT = (
    "Forest-loss alerts: GFW / GLAD / RADD / DIST-ALERT / Hansen as ingested; clearing patches by geo_service"
)
MAP_PATCHES = 5000  # the largest patches of the period are embedded; beyond this the legend says how many are left out
LAYER_NAME = "แปลงแผ้วถางป่า (ดาวเทียม) / Forest-clearing patches (satellite alerts)"
CONFIDENCE = {2: "ต่ำ/low", 3: "สูง/high", 4: "สูงสุด/highest"}
VERIFICATION = {
    "unverified": ("ยังไม่ตรวจ", "not checked", "#d9822b"),
    "verified": ("ยืนยันแล้ว", "verified", "#b42318"),
    "false_alarm": ("แจ้งเตือนผิด", "false alarm", "#8c8c8c"),
    "already_known": ("ทราบอยู่แล้ว", "already known", "#7a5195"),
}


def _day(d: date) -> str:
    return f"{be_date_th(d)} ({be_date_en(d)})"


def patch_label(p: dict) -> str:
    """The escaped label of one patch (tooltip HTML): number, area, dates, sources, confidence, fire, place."""
    th, en, _ = VERIFICATION.get(p["verification"], (p["verification"], p["verification"], ""))
    area = p["area_m2"]
    place = " / ".join(x for x in (p.get("district_th"), p.get("district_en")) if x)
    reserve = p.get("reserve_th") or p.get("reserve_code")
    lines = [
        f"<b>{esc.text('แปลงแผ้วถาง / clearing patch #' + str(p['id']))}</b>",
        esc.text(f"{area / M2_PER_RAI:,.1f} ไร่ / rai ({area / M2_PER_HECTARE:,.2f} ha)"),
        esc.text(f"แจ้งเตือน / alerts: {_day(p['first_date'])} – {_day(p['last_date'])}"),
        esc.text("แหล่ง / sources: " + ", ".join(p["sources"] or [])),
        esc.text("ความเชื่อมั่น / confidence: " + CONFIDENCE.get(p["confidence_max"], str(p["confidence_max"]))),
        esc.text("ถูกเผา / cleared by fire: " + ("ใช่ / yes" if p["cleared_by_fire"] else "ไม่พบ / no")),
    ]
    if place:
        lines.append(esc.text(place))
    if reserve:
        lines.append(esc.text("ในเขต / in: " + str(reserve)))
    lines.append(esc.text(f"ตรวจภาคสนาม / field check: {th} / {en}"))
    return esc.check_fragment("<br>".join(lines))


def _style(feature: dict) -> dict:
    p = feature["properties"]
    return {
        "color": "#7f1d1d" if p["fire"] else VERIFICATION.get(p["verification"], ("", "", "#d9822b"))[2],
        "weight": 3 if p["fire"] else 1.5,
        "fillColor": VERIFICATION.get(p["verification"], ("", "", "#d9822b"))[2],
        "fillOpacity": 0.55,
        "dashArray": "4 3" if p["verification"] == "false_alarm" else None,
    }


def patch_layer(rows: list[dict], name: str = LAYER_NAME) -> folium.GeoJson | None:
    """The patches as one layer (None: no patch)."""
    if not rows:
        return None
    features = [
        {
            "type": "Feature",
            "geometry": orjson.loads(r["geometry"]),
            "properties": {
                "label": patch_label(r),
                "verification": r["verification"] if r["verification"] in VERIFICATION else "unverified",
                "fire": bool(r["cleared_by_fire"]),
            },
        }
        for r in rows
    ]
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=esc.text(f"{name} ({len(rows):,})"),
        style_function=_style,
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        popup=folium.GeoJsonPopup(fields=["label"], labels=False),
    )


def period_patches(session: Session, period: Period, viewer: Principal | None) -> list[dict]:
    """The period's patches within the viewer's provinces (largest first, at most MAP_PATCHES)."""
    return evidence.map_patches(session, period.start, period.end, viewer=viewer, limit=MAP_PATCHES)


def legend_html(shown: int) -> str:
    """The legend's lines for the patch layer: colours by field check, the fire edge, the units."""
    parts = [
        f"<div><b>{esc.text('แปลงแผ้วถางป่า / forest-clearing patches')}</b> ({shown:,}"
        + (esc.text(f"; the {MAP_PATCHES:,} largest") if shown >= MAP_PATCHES else "")
        + ")</div>"
    ]
    for th, en, colour in VERIFICATION.values():
        parts.append(f"<div><span class='sw' style='background:{colour}'></span>{esc.text(f'{th} / {en}')}</div>")
    parts.append(
        "<div><span class='sw' style='background:#fff;border:3px solid #7f1d1d'></span>"
        + esc.text("ขอบเข้ม: ถูกเผาร่วมด้วย / dark edge: cleared by fire")
        + "</div>"
    )
    parts.append(
        "<div>"
        + esc.text("พื้นที่เป็นไร่และเฮกตาร์ วัดในระบบ UTM; วันที่ พ.ศ. / areas in rai and ha (UTM); dates in BE")
        + "</div>"
    )
    return "".join(parts)
