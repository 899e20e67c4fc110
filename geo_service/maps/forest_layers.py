"""Forest-clearing patches (satellite forest-loss alerts, issue 14) on the committee maps: outlines coloured by
what the field found, a darker edge where the patch also burned ("cleared by fire"), and a label with the
area (rai and ha), alert dates (Buddhist Era), sources, confidence and verification.

Every string reaches the page through ``maps.escaping`` (sources and codes come from files and users)."""

from __future__ import annotations

from datetime import date

import folium
import folium.plugins as plugins
import orjson
from folium.template import Template
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.exports.collections import COLLECTIONS
from geo_service.forest_loss import evidence
from geo_service.forest_loss.fire_words import fire_summary
from geo_service.maps import escaping as esc
from geo_service.maps.period import Period
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI, be_date_en, be_date_th

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
    """The escaped label of one patch (tooltip HTML): number, area, dates, sources, confidence, what burned near it
    (``fire_words.fire_summary``, Thai then English), place."""
    th, en, _ = VERIFICATION.get(p["verification"], (p["verification"], p["verification"], ""))
    area = p["area_m2"]
    place = " / ".join(x for x in (p.get("district_th"), p.get("district_en")) if x)
    reserve = p.get("reserve_th") or p.get("reserve_code")
    lines = [
        f"<b>{esc.text('แปลงแผ้วถาง / clearing patch #' + str(p['id']))}</b>",
        esc.text(f"{area / M2_PER_RAI:,.2f} ไร่ / rai ({area / M2_PER_HECTARE:,.2f} ha)"),
        esc.text(f"แจ้งเตือน / alerts: {_day(p['first_date'])} – {_day(p['last_date'])}"),
        esc.text("แหล่ง / sources: " + ", ".join(p["sources"] or [])),
        esc.text("ความเชื่อมั่น / confidence: " + CONFIDENCE.get(p["confidence_max"], str(p["confidence_max"]))),
    ]
    lines += [esc.text(x) for x in fire_summary(bool(p["cleared_by_fire"]), p.get("fire_evidence"), p["first_date"])]
    if place:
        lines.append(esc.text(place))
    if reserve:
        share = p.get("reserve_share")
        part = f" ({share:.0%} ของแปลง / of the patch)" if share is not None and share < 0.995 else ""
        lines.append(esc.text("ในเขต / in: " + str(reserve) + part))
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


def count_words(shown: int, total: int | None = None, tiled: bool = False) -> tuple[str, str]:
    """How many patches the layer draws, in Thai and English: every one, or the ``shown`` largest of ``total`` and
    how many were left out (the layer embeds at most MAP_PATCHES), or all of them as vector tiles."""
    if tiled:
        return f"ทั้งหมด {shown:,} แปลง (ไทล์เวกเตอร์)", f"all {shown:,} (vector tiles)"
    left = max((total or shown) - shown, 0)
    if not left:
        return f"แสดงทั้งหมด {shown:,} แปลง", f"all {shown:,} shown"
    return (
        f"แสดง {shown:,} จาก {total:,} แปลง (แปลงใหญ่สุดก่อน); ไม่แสดง {left:,} แปลง",
        f"{shown:,} shown of {total:,} (the {shown:,} largest); {left:,} left out",
    )


def counted_words(period: Period, area: tuple[str, str]) -> tuple[str, str]:
    """Over which period and area the overview's patches are counted (``area``: the reader's provinces, Thai and
    English), in Thai and English."""
    return (
        f"นับ: แปลงที่มีการแจ้งเตือนในช่วง {period.label_th} ที่มีส่วนอยู่ใน{area[0]}; ไม่รวมแปลงที่ถูกรวมเข้ากับแปลงอื่น",
        f"Counted: patches with an alert in {period.label_en}, with a part in {area[1]}; patches absorbed by "
        "another left out",
    )


def total_patches(session: Session, period: Period, viewer: Principal | None) -> int:
    """How many patches the period has within the viewer's provinces (what the layer would draw without its cap)."""
    return evidence.count_patches(session, period.start, period.end, viewer=viewer)


def legend_html(
    shown: int, tiled: bool = False, total: int | None = None, counted: tuple[str, str] | None = None
) -> str:
    """The legend's lines for the patch layer: how many are drawn (of ``total``), colours by field check, the fire
    edge, the units, and over what they are counted (``counted``: ``counted_words``)."""
    th, en = count_words(shown, total, tiled)
    parts = [
        f"<div><b>{esc.text('แปลงแผ้วถางป่า / forest-clearing patches')}</b><br>{esc.text(th)}<br>{esc.text(en)}</div>"
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
    if counted is not None:
        parts.append(f"<div>{esc.text(counted[0])}<br>{esc.text(counted[1])}</div>")
    return "".join(parts)


# --- above a feature count: the patches as vector tiles (OGC API - Tiles), when the service publishes them -------
TILE_COLLECTION = "clearing_patches"  # the OGC collection of the patches (exports/collections.py)
TILE_LAYER_NAME = "แปลงแผ้วถางป่า (ไทล์เวกเตอร์) / Forest-clearing patches as vector tiles"
# Coloured by field check like the embedded layer; the popup is built with textContent from the tile's properties
# (whichever of these the collection's tiles carry), so nothing in them is parsed as HTML.
_TILE_OPTIONS = """{
  "rendererFactory": L.svg.tile,
  "interactive": true,
  "maxNativeZoom": 22,
  "vectorTileLayerStyles": {
    "%(layer)s": function (p, zoom) {
      var fill = {verified: '#b42318', false_alarm: '#8c8c8c', already_known: '#7a5195'}[p.verification] || '#d9822b';
      return {fill: true, fillColor: fill, fillOpacity: 0.55, color: p.cleared_by_fire ? '#7f1d1d' : fill,
              weight: p.cleared_by_fire ? 3 : 1.5};
    }
  }
}"""


class PatchTiles(plugins.VectorGridProtobuf):
    """Leaflet.VectorGrid (self-hosted) over the patches' tiles, with a text-only popup."""

    _template = Template("""
{% macro script(this, kwargs) -%}
var {{ this.get_name() }} = L.vectorGrid.protobuf({{ this.url_json }}, {{ this.options }});
{{ this.get_name() }}.on('click', function (e) {
  var p = (e.layer && e.layer.properties) || {};
  var labels = [['patch_id', 'แปลงแผ้วถาง / clearing patch #'], ['area_rai', 'ไร่ / rai: '], ['area_ha', 'ha: '],
                ['first_date', 'แจ้งเตือนแรก / first alert: '], ['last_date', 'แจ้งเตือนล่าสุด / last alert: '],
                ['sources', 'แหล่ง / sources: '], ['confidence_max', 'ความเชื่อมั่น / confidence: '],
                ['cleared_by_fire', 'ถูกเผา / cleared by fire: '], ['verification', 'ตรวจภาคสนาม / field check: ']];
  var yes = {true: 'ใช่ / yes (รายละเอียดในข้อมูลแปลง / what burned: in the patch details)', false: 'ไม่พบไฟใกล้แปลง / no fire found near the patch'};
  var div = document.createElement('div');
  labels.forEach(function (l) {
    if (p[l[0]] === undefined || p[l[0]] === null) return;
    var v = l[0] === 'cleared_by_fire' ? yes[!!p[l[0]]] : p[l[0]];
    var d = document.createElement('div'); d.textContent = l[1] + v; div.appendChild(d);
  });
  if (p.patch_id !== undefined) {  // the details (fire_th / fire_en: what burned near it) on this service
    var a = document.createElement('a');
    a.href = '/api/v1/forest-loss/patches/' + encodeURIComponent(p.patch_id);
    a.target = '_blank'; a.rel = 'noopener';
    a.textContent = 'ข้อมูลแปลง / patch details';
    div.appendChild(a);
  }
  L.popup().setLatLng(e.latlng).setContent(div).openOn({{ this._parent.get_name() }});
});
{%- endmacro %}
""")

    def __init__(self, url: str, name: str) -> None:
        super().__init__(url, name=name, options=_TILE_OPTIONS % {"layer": TILE_COLLECTION})
        self.url_json = esc.js_json(url)


def tiles_available() -> bool:
    """Whether the service publishes the patches as vector tiles (an OGC collection declaring tile properties)."""
    collection = COLLECTIONS.get(TILE_COLLECTION)
    return collection is not None and bool(collection.tile_properties)


def tile_url(period: Period) -> str:
    """The patches' tile address on this service, filtered to the period when the collection has a time."""
    url = f"/ogc/collections/{TILE_COLLECTION}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
    collection = COLLECTIONS.get(TILE_COLLECTION)
    if collection is not None and collection.datetime:
        url += f"?datetime={period.start.isoformat()}T00:00:00+07:00/{period.end.isoformat()}T23:59:59+07:00"
    return url


def layer_for(
    session: Session, period: Period, viewer: Principal | None, tiles_above: int | None
) -> tuple[folium.GeoJson | PatchTiles | None, int, bool]:
    """The period's patches as a layer: embedded, or as vector tiles when there are more than ``tiles_above`` and
    the service publishes them. Returns (layer or None, how many patches, tiled?)."""
    if tiles_above is not None and tiles_available():
        count = evidence.count_patches(session, period.start, period.end, viewer=viewer)
        if count > tiles_above:
            return PatchTiles(tile_url(period), esc.text(f"{TILE_LAYER_NAME} ({count:,})")), count, True
    rows = period_patches(session, period, viewer)
    return patch_layer(rows), len(rows), False
