"""Map building blocks: data from PostGIS and the Folium layers made from it. Every user-entered string
goes through ``escaping`` before it reaches a layer; nothing here needs the internet."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import folium
import folium.plugins as plugins
from branca.element import MacroElement
from folium.template import Template
from folium.utilities import remove_empty
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.db.models import INCIDENT_KIND_LABELS, IncidentKind
from geo_service.hotspots import store as hotspot_store
from geo_service.incidents import store as incident_store
from geo_service.layers.queries import attributions
from geo_service.maps import escaping as esc
from geo_service.maps.period import Period
from geo_service.thai import BANGKOK, be_date_en, be_date_th

MAX_DETAILED_MARKERS = 1000  # above this, incidents are drawn by FastMarkerCluster (no per-marker popup HTML)
COLOURS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
KIND_ICONS = {  # Font Awesome 6 (self-hosted) on awesome-markers
    IncidentKind.encroachment: ("house-chimney", "darkred"),
    IncidentKind.land_clearing: ("tractor", "orange"),
    IncidentKind.illegal_logging: ("tree", "darkgreen"),
    IncidentKind.burning: ("fire", "orange"),
    IncidentKind.wildfire: ("fire", "red"),
    IncidentKind.other: ("circle-question", "gray"),
}


@dataclass(frozen=True)
class DistrictCount:
    """A per-district count of the choropleth: its key, labels, units and the function that counts."""

    key: str
    label_th: str
    label_en: str
    unit_th: str
    unit_en: str
    count: Callable[[Session, Period, Principal | None], dict[str, int]]
    scoped: bool = False  # counted within the reader's provinces: a district of another province is "not counted"


DISTRICT_COUNTS: list[DistrictCount] = []


def district_count(
    key: str,
    label_th: str,
    label_en: str,
    unit_th: str,
    unit_en: str,
    *,
    primary: bool = False,
    scoped: bool = False,
):
    """Register a per-district count for the choropleth and its tooltip. The primary one colours the
    districts (the first registered unless another says primary=True), e.g. later::

        @district_count("hotspots", "จุดความร้อน", "Hotspots", "จุด", "detections", primary=True)
        def hotspots_by_district(session, period, viewer): ...

    ``scoped``: the function counts within the reader's (``viewer``'s) provinces only; the tooltip of a district
    outside them then says "not counted" instead of a figure."""

    def register(func: Callable[[Session, Period, Principal | None], dict[str, int]]):
        entry = DistrictCount(key, label_th, label_en, unit_th, unit_en, func, scoped)
        DISTRICT_COUNTS[:] = [c for c in DISTRICT_COUNTS if c.key != key]
        DISTRICT_COUNTS.insert(0 if primary else len(DISTRICT_COUNTS), entry)
        return func

    return register


@district_count("incidents", "เหตุการณ์ที่แจ้ง", "Reported incidents", "เหตุ", "incidents", scoped=True)
def incidents_by_district(session: Session, period: Period, viewer: Principal | None) -> dict[str, int]:
    """Incidents observed in the period within ``viewer``'s provinces (those its map draws), per district code."""
    return incident_store.district_counts(session, *period.bounds, viewer)


# --- data -----------------------------------------------------------------------------------------
def sources(session: Session, layer_type: str) -> list[dict]:
    """The distinct attributions (and whether illustrative) of the loaded layers of one type."""
    return attributions(session, layer_type)


def districts(session: Session, codes: list[str] | None = None) -> list[dict]:
    """Current districts (all, or these codes): names, province (``parent_code``), simplified outline (GeoJSON
    text), a point inside."""
    rows = session.execute(
        sql("""
        SELECT code, parent_code, name_th, name_en, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.0005), 5) AS geometry,
               ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
        FROM current_admin_areas WHERE level = 'district' AND (CAST(:codes AS text[]) IS NULL OR code = ANY(:codes))
        ORDER BY code"""),
        {"codes": codes},
    ).mappings()
    return [dict(r) for r in rows]


def protected_areas(session: Session, at: date, codes: list[str] | None = None) -> list[dict]:
    """Protected areas for a map, one version per code: those in force on ``at``; or, given ``codes``, the newest
    version of each of them whatever the day."""
    columns = """code, name_th, name_en, kind::text AS kind, illustrative, area_m2,
               ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.0002), 5) AS geometry"""
    if codes is None:
        query = f"SELECT DISTINCT ON (code) {columns} FROM protected_areas_on(:at) ORDER BY code, valid_from DESC NULLS LAST"
        params: dict = {"at": at}
    else:
        query = f"SELECT {columns} FROM latest_protected_areas WHERE code = ANY(:codes) ORDER BY code"
        params = {"codes": codes}
    return [dict(r) for r in session.execute(sql(query), params).mappings()]


def incidents(
    session: Session, period: Period | None = None, ids: list[int] | None = None, viewer: Principal | None = None
) -> list[dict]:
    """Incidents for a map (observed in the period, and among ``ids``, when given; within ``viewer``'s
    provinces), oldest first."""
    lo, hi = period.bounds if period else (None, None)
    return incident_store.map_rows(session, lo, hi, ids, viewer)


def months_with_data(session: Session) -> list[date]:
    """The first day of every month (Asia/Bangkok) with a hotspot of the area of interest or an incident,
    newest first (a neighbour's detections alone do not make a period "with data")."""
    return sorted(
        set(hotspot_store.months_detected(session)) | set(incident_store.months_observed(session)), reverse=True
    )


def district_labels(rows: list[dict]) -> folium.FeatureGroup:
    """District names (Thai and English) as permanent labels at a point inside each district: readable on a
    printed map without hovering."""
    group = folium.FeatureGroup(name=esc.text("ชื่ออำเภอ / District names"), show=True)
    for r in rows:
        label = f"{esc.text(r['name_th'])}<br>{esc.text(r['name_en'])}"
        folium.Marker(
            [r["lat"], r["lon"]],
            icon=folium.DivIcon(
                html=esc.check_fragment(f"<div class='gs-district-label'>{label}</div>"),
                icon_size=(120, 30),
                icon_anchor=(60, 15),
                class_name="gs-district-label-icon",
            ),
            interactive=False,
        ).add_to(group)
    return group


MAX_TIME_FEATURES = 4000


# What the time slider can show: where its counts come from, and how a bucket is labelled. Hotspots are those
# of the area of interest only (README, *Area of interest*).
@dataclass(frozen=True)
class TimeSource:
    """A series of the time slider: its store's grid counts, its unit (Thai, English) and colour."""

    grid_size: Callable[..., int]
    grid: Callable[..., list[dict]]
    unit_th: str
    unit_en: str
    colour: str
    scoped: bool = False  # the store counts within a ``viewer``'s provinces (its functions take ``viewer``)


TIME_SOURCES = {
    "incidents": TimeSource(
        incident_store.time_grid_size, incident_store.time_grid, "เหตุ", "incidents", "#6f42c1", scoped=True
    ),
    "hotspots": TimeSource(hotspot_store.time_grid_size, hotspot_store.time_grid, "จุดความร้อน", "hotspots", "#d62728"),
}


@dataclass
class Buckets:
    """Counts of one time-slider series per day or week and grid cell of ``cell`` degrees."""

    source: str
    rows: list[dict]
    cell: float


def point_buckets(
    session: Session, period: Period, source: str = "incidents", viewer: Principal | None = None
) -> Buckets:
    """Points per day or week and grid cell: what the time slider shows (no free text); incidents within
    ``viewer``'s provinces (those its map draws). The cell grows (0.01° ≈ 1 km, then 0.05°, 0.1°, 0.25°) until there
    are at most MAX_TIME_FEATURES features."""
    src = TIME_SOURCES[source]
    lo, hi = period.bounds
    unit = "day" if period.step == "P1D" else "week"
    scope = {"viewer": viewer} if src.scoped else {}
    for cell in (0.01, 0.05, 0.1, 0.25):
        if cell == 0.25 or src.grid_size(session, lo, hi, unit=unit, cell=cell, **scope) <= MAX_TIME_FEATURES:
            break
    return Buckets(source, src.grid(session, lo, hi, unit=unit, cell=cell, **scope), cell)


# --- layers ---------------------------------------------------------------------------------------
def feature_collection(rows: list[dict], props: Callable[[dict], dict]) -> dict:
    """A GeoJSON FeatureCollection of rows with a ``geometry`` (GeoJSON text) and the properties ``props`` gives."""
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": json.loads(r["geometry"]), "properties": props(r)} for r in rows],
    }


NOT_COUNTED = ("ไม่นับ (นอกจังหวัดที่ท่านรับผิดชอบ)", "not counted (outside your provinces)")


def district_layer(
    rows: list[dict],
    counts: dict[str, dict[str, int]] | None,
    period: Period | None = None,
    outside: frozenset[str] | set[str] = frozenset(),
) -> tuple[folium.GeoJson, list]:
    """The district choropleth, coloured by the primary count; the tooltip lists every count. ``counts`` None: the
    districts with their names only (nothing is counted, e.g. on a case's map: no false "0"). ``outside``: the
    districts outside the reader's provinces, whose ``scoped`` counts are said "not counted" (and left uncoloured
    when the primary count is scoped)."""
    primary = DISTRICT_COUNTS[0]
    shown = counts or {}
    top = max([shown.get(primary.key, {}).get(r["code"], 0) for r in rows] + [0])
    breaks = _breaks(top)

    def props(r):
        lines = [f"<b>{esc.text(r['name_th'])}</b> / {esc.text(r['name_en'])}"]
        for c in DISTRICT_COUNTS if counts is not None else []:
            if c.scoped and r["code"] in outside:
                figure = f"{esc.text(NOT_COUNTED[1])} / {esc.text(NOT_COUNTED[0])}"
            else:
                figure = f"{shown[c.key].get(r['code'], 0):,} {esc.text(c.unit_en)}"
            lines.append(f"{esc.text(c.label_th)} / {esc.text(c.label_en)}: {figure}")
        n = shown.get(primary.key, {}).get(r["code"], 0)
        fill = "#ffffff" if counts is None or (primary.scoped and r["code"] in outside) else _colour(n, breaks)
        return {"code": r["code"], "label": esc.check_fragment("<br>".join(lines)), "fill": fill}

    name = (
        esc.text(f"อำเภอ: {primary.label_th} / Districts: {primary.label_en}")
        if counts is not None
        else esc.text("อำเภอ / Districts")
    )
    layer = folium.GeoJson(
        feature_collection(rows, props),
        name=name,
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "color": "#555",
            "weight": 1,
            "fillOpacity": 0.55,
        },
        highlight_function=lambda f: {"weight": 3, "color": "#000"},
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    )
    legend = [(COLOURS[i], f"{lo:,}–{hi:,}" if hi != lo else f"{lo:,}") for i, (lo, hi) in enumerate(breaks)]
    return layer, legend


def _breaks(top: int) -> list[tuple[int, int]]:
    """Five classes: none, then four of equal width (whole numbers) up to the largest count."""
    width = max(1, -(-top // 4))
    return [(0, 0)] + [(1 + i * width, (i + 1) * width) for i in range(4)]


def _colour(n: int, breaks: list[tuple[int, int]]) -> str:
    for i, (_, hi) in enumerate(breaks):
        if n <= hi:
            return COLOURS[i]
    return COLOURS[-1]


KIND_TH = {"national_reserved_forest": "ป่าสงวนแห่งชาติ"}


def protected_layer(rows: list[dict]) -> folium.GeoJson:
    """Protected areas outlined in green (dashed where illustrative), with their names as tooltip."""

    def props(r):
        label = f"<b>{esc.text(r['name_th'])}</b><br>{esc.text(r['name_en'])}<br>{esc.text(r['kind'])}"
        if r["illustrative"]:
            label += "<br><b>ILLUSTRATIVE / ขอบเขตสมมติ (ไม่ใช่ขอบเขตทางการ)</b>"
        return {"code": r["code"], "label": esc.check_fragment(label), "illustrative": bool(r["illustrative"])}

    illustrative = any(r["illustrative"] for r in rows)
    name = "พื้นที่คุ้มครอง / Protected areas" + (" (ILLUSTRATIVE / สมมติ)" if illustrative else "")
    return folium.GeoJson(
        feature_collection(rows, props),
        name=esc.text(name),
        style_function=lambda f: {
            "color": "#1a7f37",
            "weight": 2,
            "fillColor": "#2da44e",
            "fillOpacity": 0.12,
            "dashArray": "6 4" if f["properties"]["illustrative"] else None,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    )


def incident_popup(r: dict, photo_base: str | None) -> str:
    """The popup of one incident (escaped): kind, number, time in BE, district, status, text, first photo."""
    kind = IncidentKind(r["kind"])
    th, en = INCIDENT_KIND_LABELS[kind]
    when = r["observed_at"].astimezone(BANGKOK)
    parts = [
        f"<div class='gs-popup'><b>{esc.text(th)} / {esc.text(en)}</b> INC-{int(r['id']):06d}",
        f"<br>{esc.text(be_date_th(when.date()))} {when:%H:%M} ({esc.text(be_date_en(when.date()))})",
        f"<br>{esc.text(r['district_th'] or '')} / {esc.text(r['district_en'] or '')}",
        f"<br>สถานะ / status: {esc.text(r['status'])}",
        f"<p>{esc.text(r['description'])}</p>",
        f"<i>ผู้แจ้ง / reporter: {esc.text(r['reporter'] or '-')}</i>",
    ]
    if r.get("photo_id") and photo_base is not None:
        parts.append(
            f"<br><img src='{esc.attr(photo_base)}/api/v1/photos/{int(r['photo_id'])}/thumbnail' "
            f"width='160' alt='photo {int(r['photo_id'])}' loading='lazy'>"
        )
    return esc.check_fragment("".join(parts) + "</div>")


def incident_layers(rows: list[dict], photo_base: str | None) -> list:
    """One clustered layer per incident kind, with Font Awesome icons; popups while the set is small."""
    layers = []
    detailed = len(rows) <= MAX_DETAILED_MARKERS
    for kind in IncidentKind:
        mine = [r for r in rows if r["kind"] == kind.value]
        if not mine:
            continue
        th, en = INCIDENT_KIND_LABELS[kind]
        icon, colour = KIND_ICONS[kind]
        name = esc.text(f"{th} / {en} ({len(mine):,})")
        if detailed:
            cluster = plugins.MarkerCluster(name=name)
            for r in mine:
                folium.Marker(
                    [r["lat"], r["lon"]],
                    icon=folium.Icon(icon=icon, prefix="fa", color=colour),
                    popup=folium.Popup(incident_popup(r, photo_base), max_width=300),
                    tooltip=folium.Tooltip(esc.text(f"{th} / {en} INC-{int(r['id']):06d}")),
                ).add_to(cluster)
        else:
            callback = (
                "function (row) { return L.marker(new L.LatLng(row[0], row[1]), {icon: L.AwesomeMarkers.icon("
                f"{{icon: {esc.js_json(icon)}, prefix: 'fa', markerColor: {esc.js_json(colour)}}})}}); }}"
            )
            cluster = plugins.FastMarkerCluster(
                [[round(r["lat"], 5), round(r["lon"], 5)] for r in mine], name=name, callback=callback
            )
        layers.append(cluster)
    return layers


def _folium_template(module) -> str:
    """The Jinja source of a folium plugin's template (jinja2 keeps no source on the compiled one)."""
    source = inspect.getsource(module)
    start = source.index('_template = Template(\n        """') + len('_template = Template(\n        """')
    return source[start : source.index('"""', start)]


class TimeSlider(plugins.TimestampedGeoJson):
    """TimestampedGeoJson with Buddhist Era dates on the control and no console logging."""

    _template = Template(
        _folium_template(plugins.timestamped_geo_json)
        .replace("console.log(newdate)\n", "")
        .replace(
            'return newdate.format("{{this.date_options}}");',
            'return newdate.format("D MMM ") + (newdate.year() + 543);',
        )
    )


def time_layer(series: list[Buckets], period: Period) -> TimeSlider:
    """One slider for every series (hotspots in red, incidents in purple), one day or week at a time."""
    features = []
    for buckets in series:
        src = TIME_SOURCES[buckets.source]
        unit_th, unit_en, colour = src.unit_th, src.unit_en, src.colour
        for b in buckets.rows:
            t = b["bucket"].isoformat()
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [round(b["lon"], 4), round(b["lat"], 4)]},
                    "properties": {
                        "times": [t],
                        "icon": "circle",
                        "popup": f"{int(b['n'])} {unit_th} / {unit_en} ({buckets.cell}°)",
                        "iconstyle": {
                            "radius": 4 + min(int(b["n"]), 20),
                            "color": colour,
                            "fillColor": colour,
                            "fillOpacity": 0.6,
                        },
                    },
                }
            )
    if not features:  # the control still needs its period
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [0, 0]},
                "properties": {
                    "times": [period.start.isoformat()],
                    "icon": "circle",
                    "iconstyle": {"radius": 0, "opacity": 0, "fillOpacity": 0},
                },
            }
        )
    return TimeSlider(
        esc.js_json({"type": "FeatureCollection", "features": features}),
        period=period.step,
        duration="PT23H59M" if period.step == "P1D" else "P6DT23H59M",  # one step shown at a time
        auto_play=False,
        add_last_point=False,
        loop=False,
        date_options="YYYY-MM-DD",
    )


class BoundaryMiniMap(plugins.MiniMap):
    """Leaflet-MiniMap showing the boundaries instead of tiles (no tile URL: nothing to fetch)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }}_layer = L.geoJson({{ this.boundaries }},
                {style: {color: "#333", weight: 1, fillColor: "#ddd", fillOpacity: 0.5}});
            var {{ this.get_name() }} = new L.Control.MiniMap({{ this.get_name() }}_layer,
                {{ this.options|tojavascript }});
            {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, boundaries: dict):
        MacroElement.__init__(self)  # not MiniMap.__init__: it would make an OpenStreetMap tile layer
        self._name = "MiniMap"
        self.boundaries = esc.js_json(boundaries)
        self.options = remove_empty(
            position="topleft", width=150, height=150, zoom_level_offset=-4, toggle_display=True
        )


class Legend(MacroElement):
    """A fixed legend box; every string is escaped by the caller (esc.text)."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>
          .gs-legend {position: absolute; z-index: 1000; bottom: 24px; right: 10px; background: #fff;
            padding: 8px 10px; border-radius: 4px; box-shadow: 0 1px 5px rgba(0,0,0,.4); max-width: 340px;
            font: 12px/1.35 "Loma", "Garuda", "Norasi", sans-serif;}
          .gs-legend h4 {font-size: 14px; margin: 0 0 4px;} .gs-legend .sw {display: inline-block; width: 14px;
            height: 12px; margin-right: 4px; border: 1px solid #777; vertical-align: middle;}
          .gs-legend .src {margin-top: 6px; font-size: 11px; color: #333;}
          .gs-district-label {text-align: center; font: 600 11px/1.15 "Loma", "Garuda", "Norasi", sans-serif;
            color: #222; pointer-events: none; white-space: nowrap;
            text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff;}
          .gs-period {position: absolute; z-index: 1000; top: 10px; left: 60px; max-width: 45%;
            background: #fff; padding: 4px 8px; border-radius: 4px; box-shadow: 0 1px 5px rgba(0,0,0,.4);
            font: 12px/1.5 "Loma", "Garuda", "Norasi", sans-serif;}
          .gs-period a {margin: 0 3px;} .gs-period a.current {font-weight: bold; color: #000;
            text-decoration: none; border-bottom: 2px solid #d62728;}
          @media print {.gs-period {display: none;}}
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="gs-legend" id="gs-legend">{{ this.body }}</div>
        {% endmacro %}
    """)

    def __init__(self, body: str):
        super().__init__()
        self.body = esc.check_fragment(body)


class PeriodPicker(MacroElement):
    """A box of links to the periods with data (fiscal years, and the months of the one shown); every string
    is escaped by the caller."""

    _template = Template("""
        {% macro html(this, kwargs) %}
        <div class="gs-period" id="gs-period">{{ this.body }}</div>
        {% endmacro %}
    """)

    def __init__(self, body: str):
        super().__init__()
        self.body = esc.check_fragment(body)
