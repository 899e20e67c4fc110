"""Satellite hotspots on the committee maps: the district count, a heat map weighted by FRP, and the
fire events' footprints with their dates, sensors and peak FRP.

Every layer shows the area of interest only (``hotspots.in_aoi``; a fire event whose footprint touches the
area). Detections outside it appear only in ``outside_layer``: a separate, labelled layer, hidden until
switched on, added when asked for."""

from __future__ import annotations

from datetime import UTC, timedelta

import folium
import folium.plugins as plugins
import orjson
from folium.template import Template
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.hotspots import store as hotspots
from geo_service.maps import escaping as esc
from geo_service.maps.layers import district_count
from geo_service.maps.period import Period
from geo_service.thai import BANGKOK, be_date_en, be_date_th

HOTSPOT_CREDIT = "Fire hotspots: NASA FIRMS (MODIS C6.1, VIIRS 375 m); fire events derived by geo_service"
HEAT_POINTS = 50_000  # the heat map takes the strongest detections beyond this (page size stays small)
CLUSTER_POINTS = 20_000  # clickable detections (with their time, sensor, confidence and FRP), strongest first
CONFIDENCE = {1: "ต่ำ/low", 2: "ปานกลาง/nominal", 3: "สูง/high"}
# Built in the browser from numbers and codes only, with textContent: nothing is parsed as HTML.
_CALLBACK = """function (row) {
  var m = L.circleMarker(new L.LatLng(row[0], row[1]), {radius: 4, color: '#b22222', weight: 1,
                                                         fillColor: '#ff4500', fillOpacity: 0.8});
  var div = document.createElement('div');
  var lines = ['จุดความร้อน / hotspot ' + row[2], 'ดาวเทียม / sensor: ' + row[3],
               'ความเชื่อมั่น / confidence: ' + row[4], 'FRP: ' + row[5] + ' MW'];
  lines.forEach(function (t) { var p = document.createElement('div'); p.textContent = t; div.appendChild(p); });
  m.bindPopup(div);
  return m;
}"""
# Detections outside the area of interest: grey, and their popup says so.
_OUTSIDE_CALLBACK = """function (row) {
  var m = L.circleMarker(new L.LatLng(row[0], row[1]), {radius: 4, color: '#555555', weight: 1,
                                                         fillColor: '#9e9e9e', fillOpacity: 0.8});
  var div = document.createElement('div');
  var lines = ['นอกพื้นที่รับผิดชอบ / outside the area of interest', 'จุดความร้อน / hotspot ' + row[2],
               'ดาวเทียม / sensor: ' + row[3], 'ความเชื่อมั่น / confidence: ' + row[4], 'FRP: ' + row[5] + ' MW'];
  lines.forEach(function (t) { var p = document.createElement('div'); p.textContent = t; div.appendChild(p); });
  m.bindPopup(div);
  return m;
}"""


@district_count("hotspots", "จุดความร้อน", "Satellite hotspots", "จุด", "detections", primary=True)
def hotspots_by_district(session: Session, period: Period, viewer: Principal | None = None) -> dict[str, int]:
    """Detections of the area of interest in the period, per district code (the choropleth's primary count). Public
    data of the area of interest, the same for every reader (``viewer`` is not used)."""
    return hotspots.district_counts(session, *period.bounds)


def heat_layer(session: Session, period: Period) -> folium.FeatureGroup | None:
    """A heat map of the period's detections of the area of interest, weighted by FRP (None: no detection)."""
    lo, hi = period.bounds
    rows = hotspots.heat_points(session, lo, hi, HEAT_POINTS)
    if not rows:
        return None
    group = folium.FeatureGroup(
        name=esc.text(capped_name("จุดความร้อน (ความหนาแน่น) / Hotspot heat map", len(rows), HEAT_POINTS))
    )
    plugins.HeatMap([list(r) for r in rows], radius=12, blur=14, min_opacity=0.35).add_to(group)
    return group


def _detections(session: Session, period: Period, inside: bool) -> list[list]:
    """The strongest detections inside (or outside) the area of interest: position, local time, sensor,
    confidence, FRP."""
    lo, hi = period.bounds
    rows = hotspots.strongest_detections(session, lo, hi, inside=inside, limit=CLUSTER_POINTS)
    return [[lat, lon, when, sat, CONFIDENCE.get(conf, str(conf)), frp] for lat, lon, when, sat, conf, frp in rows]


def capped_name(name: str, n: int, cap: int) -> str:
    """A layer's name with how many it draws: "(1,234)", or at its cap "(the 20,000 strongest by FRP)" in Thai and
    English (the layer then leaves weaker detections out; the district counts are of them all)."""
    if n < cap:
        return f"{name} ({n:,})"
    return f"{name} ({n:,} จุดที่ FRP สูงสุด จุดที่อ่อนกว่าไม่แสดง / the {n:,} strongest by FRP; any weaker not drawn)"


CLUSTER_LAYER_NAME = "จุดความร้อน (คลิกดูรายละเอียด) / Hotspots, clickable"
OUTSIDE_LAYER_NAME = "นอกพื้นที่รับผิดชอบ (จังหวัดข้างเคียง) / Outside the area of interest (neighbouring provinces)"


def _clusters(session: Session, period: Period, inside: bool) -> plugins.FastMarkerCluster | None:
    data = _detections(session, period, inside)
    if not data:
        return None
    name = CLUSTER_LAYER_NAME if inside else OUTSIDE_LAYER_NAME
    return plugins.FastMarkerCluster(
        data,
        callback=_CALLBACK if inside else _OUTSIDE_CALLBACK,
        show=False,
        name=esc.text(capped_name(name, len(data), CLUSTER_POINTS)),
    )


def cluster_layer(session: Session, period: Period) -> plugins.FastMarkerCluster | None:
    """Detections as clusters; a click shows the detection's time (Asia/Bangkok), sensor, confidence and FRP."""
    return _clusters(session, period, True)


def outside_layer(session: Session, period: Period) -> plugins.FastMarkerCluster | None:
    """Detections outside the area of interest, grey, in a layer of their own that starts hidden."""
    return _clusters(session, period, False)


def event_label(r: dict) -> str:
    """A fire event's escaped tooltip in Thai and English: its days (BE), detections and sensors, highest FRP ("-"
    when none was recorded, never a made-up 0), footprint area, reserve."""
    frp = "-" if r.get("max_frp") is None else f"{r['max_frp']:.0f}"
    # local days: a night pass at 18:30 UTC is the next day in Bangkok (sessions run in UTC)
    first, last = (r[k].astimezone(BANGKOK).date() for k in ("first_seen", "last_seen"))
    days_th = f"{be_date_th(first)} – {be_date_th(last)}"
    days_en = f"{be_date_en(first)} – {be_date_en(last)}"
    reserve = f"; {r['reserve_code']}" if r.get("reserve_code") else ""
    # the footprint is the detections' pixels (MODIS 1 km, VIIRS 375 m), not the ground that burned: one MODIS
    # detection of a one-hectare fire is about 490 rai
    th = (
        f"เหตุไฟ #{r['id']}: {days_th}; {r['detections']:,} จุด ({r['sensors']}); FRP สูงสุด {frp} MW; "
        f"พื้นที่จุดภาพ ~{r['rai']:,} ไร่ ไม่ใช่พื้นที่ไหม้"
    )
    en = (
        f"fire event #{r['id']}: {days_en}; {r['detections']:,} detections; max FRP {frp} MW; "
        f"pixel footprint ~{r['rai']:,} rai, not burned area"
    )
    return esc.text(th + reserve) + "<br>" + esc.text(en + reserve)


def events_layer(session: Session, period: Period) -> folium.GeoJson | None:
    """Fire events of the period touching the area of interest: footprints with dates, sensors, peak FRP, area."""
    lo, hi = period.bounds
    rows = hotspots.events_between(session, lo, hi)
    if not rows:
        return None
    features = [
        {"type": "Feature", "geometry": orjson.loads(r["geom"]), "properties": {"label": event_label(r)}} for r in rows
    ]
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=esc.text(f"เหตุไฟ / Fire events ({len(rows):,})"),
        style_function=lambda f: {"color": "#b22222", "weight": 1, "fillColor": "#ff7f0e", "fillOpacity": 0.35},
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    )


# --- above a feature count: the detections as vector tiles (OGC API - Tiles, api/ogc_tiles.py) -------------------
TILE_LAYER_NAME = "จุดความร้อน (ไทล์เวกเตอร์ คลิกดูรายละเอียด) / Hotspots as vector tiles, clickable"
# Styled like the clustered detections: red inside the area of interest; grey outside it, drawn only when the
# caller asked for the outside layer (an empty style list hides a feature in Leaflet.VectorGrid). SVG tiles: only
# the detections' circles take the mouse, so the districts and reserves beneath keep their tooltips (a canvas
# tile would cover them whole); in the marker pane, above the polygons, as the clustered markers are.
_TILE_OPTIONS = """{
  "rendererFactory": L.svg.tile,
  "pane": "markerPane",
  "interactive": true,
  "maxNativeZoom": 22,
  "attribution": "NASA FIRMS",
  "vectorTileLayerStyles": {
    "hotspots": function (p, zoom) {
      if (!p.in_aoi) {
        return %(outside)s ? {radius: 4, color: '#555555', weight: 1, fill: true, fillColor: '#9e9e9e',
                              fillOpacity: 0.8} : [];
      }
      return {radius: zoom < 9 ? 3 : 4, color: '#b22222', weight: 1, fill: true, fillColor: '#ff4500',
              fillOpacity: 0.8};
    }
  }
}"""


class HotspotTiles(plugins.VectorGridProtobuf):
    """Folium's VectorGridProtobuf (Leaflet.VectorGrid, self-hosted by maps.assets) with the detections' popup:
    built in the browser with textContent from the tile's properties, so nothing in them is parsed as HTML."""

    _template = Template("""
{% macro script(this, kwargs) -%}
var {{ this.get_name() }} = L.vectorGrid.protobuf({{ this.url_json }}, {{ this.options }});
(function (grid) {
  // Leaflet 1.9 asks a clicked circle for its position, and VectorGrid 1.3's circles have none (a page
  // error on every click): without getLatLng, Leaflet takes the click's position from the mouse.
  var createLayer = grid._createLayer;
  grid._createLayer = function () {
    var symbol = createLayer.apply(this, arguments);
    symbol.getLatLng = null;
    return symbol;
  };
})({{ this.get_name() }});
{{ this.get_name() }}.on('click', function (e) {
  var p = (e.layer && e.layer.properties) || {};
  var conf = {1: 'ต่ำ/low', 2: 'ปานกลาง/nominal', 3: 'สูง/high'}[p.confidence] || String(p.confidence);
  var lines = [(p.in_aoi ? '' : 'นอกพื้นที่รับผิดชอบ / outside the area of interest; ') +
               'จุดความร้อน / hotspot ' + p.acq_local, 'ดาวเทียม / sensor: ' + p.satellite,
               'ความเชื่อมั่น / confidence: ' + conf, 'FRP: ' + p.frp + ' MW',
               'อำเภอ / district: ' + (p.district_th || '-') + ' / ' + (p.district_en || '-')];
  var div = document.createElement('div');
  lines.forEach(function (t) { var d = document.createElement('div'); d.textContent = t; div.appendChild(d); });
  L.popup().setLatLng(e.latlng).setContent(div).openOn({{ this._parent.get_name() }});
});
{%- endmacro %}
""")

    def __init__(self, url: str, name: str, outside: bool) -> None:
        super().__init__(url, name=name, options=_TILE_OPTIONS % {"outside": "true" if outside else "false"})
        self.url_json = esc.js_json(url)


def tile_url(period: Period) -> str:
    """This service's tile address of the hotspots collection for the period's detections (relative: the map
    page and its tiles come from the same server)."""
    lo, hi = period.bounds

    def utc(t) -> str:
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return (
        "/ogc/collections/hotspots/tiles/WebMercatorQuad/{z}/{y}/{x}"
        f"?datetime={utc(lo)}/{utc(hi - timedelta(seconds=1))}"
    )


def tile_layer(period: Period, count: int, outside: bool) -> HotspotTiles:
    """The period's ``count`` detections as vector tiles, for periods too large to embed in the page."""
    return HotspotTiles(tile_url(period), esc.text(f"{TILE_LAYER_NAME} ({count:,})"), outside)
