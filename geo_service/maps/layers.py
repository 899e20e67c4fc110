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

from geo_service.db.models import INCIDENT_KIND_LABELS, IncidentKind
from geo_service.maps import escaping as esc
from geo_service.maps.period import Period, be_date_en, be_date_th
from geo_service.thai import BANGKOK

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
    key: str
    label_th: str
    label_en: str
    unit_th: str
    unit_en: str
    count: Callable[[Session, Period], dict[str, int]]


DISTRICT_COUNTS: list[DistrictCount] = []


def district_count(key: str, label_th: str, label_en: str, unit_th: str, unit_en: str, *, primary: bool = False):
    """Register a per-district count for the choropleth and its tooltip. The primary one colours the
    districts (the first registered unless another says primary=True), e.g. later::

        @district_count("hotspots", "จุดความร้อน", "Hotspots", "จุด", "detections", primary=True)
        def hotspots_by_district(session, period): ...
    """

    def register(func: Callable[[Session, Period], dict[str, int]]):
        entry = DistrictCount(key, label_th, label_en, unit_th, unit_en, func)
        DISTRICT_COUNTS[:] = [c for c in DISTRICT_COUNTS if c.key != key]
        DISTRICT_COUNTS.insert(0 if primary else len(DISTRICT_COUNTS), entry)
        return func

    return register


@district_count("incidents", "เหตุการณ์ที่แจ้ง", "Reported incidents", "เหตุ", "incidents")
def incidents_by_district(session: Session, period: Period) -> dict[str, int]:
    lo, hi = period.bounds
    rows = session.execute(
        sql(
            "SELECT district_code, count(*) FROM incidents WHERE observed_at >= :lo "
            "AND observed_at < :hi AND district_code IS NOT NULL GROUP BY 1"
        ),
        {"lo": lo, "hi": hi},
    )
    return {code: n for code, n in rows}


# --- data -----------------------------------------------------------------------------------------
def sources(session: Session, layer_type: str) -> list[dict]:
    return [
        dict(r)
        for r in session.execute(
            sql("SELECT DISTINCT attribution, illustrative FROM layer_sources WHERE layer_type = :t ORDER BY 1"),
            {"t": layer_type},
        ).mappings()
    ]


def districts(session: Session, codes: list[str] | None = None) -> list[dict]:
    rows = session.execute(
        sql("""
        SELECT code, name_th, name_en, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.0005), 5) AS geometry,
               ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
        FROM admin_areas WHERE level = 'district' AND is_current AND (CAST(:codes AS text[]) IS NULL OR code = ANY(:codes))
        ORDER BY code"""),
        {"codes": codes},
    ).mappings()
    return [dict(r) for r in rows]


def protected_areas(session: Session, at: date, codes: list[str] | None = None) -> list[dict]:
    rows = session.execute(
        sql("""
        SELECT DISTINCT ON (code) code, name_th, name_en, kind::text AS kind, illustrative, area_m2,
               ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.0002), 5) AS geometry
        FROM protected_areas
        WHERE (CAST(:codes AS text[]) IS NULL OR code = ANY(:codes))
          AND ((valid_from IS NULL OR valid_from <= :at) AND (valid_to IS NULL OR valid_to > :at)
               OR CAST(:codes AS text[]) IS NOT NULL)
        ORDER BY code, valid_from DESC NULLS LAST"""),
        {"at": at, "codes": codes},
    ).mappings()
    return [dict(r) for r in rows]


def incidents(session: Session, period: Period | None = None, ids: list[int] | None = None) -> list[dict]:
    lo, hi = period.bounds if period else (None, None)
    rows = session.execute(
        sql("""
        SELECT i.id, i.kind::text AS kind, i.observed_at, i.description, i.reporter, i.status::text AS status,
               ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, d.name_th AS district_th, d.name_en AS district_en,
               (SELECT min(p.id) FROM incident_photos p WHERE p.incident_id = i.id) AS photo_id
        FROM incidents i
        LEFT JOIN admin_areas d ON d.code = i.district_code AND d.level = 'district' AND d.is_current
        WHERE (CAST(:lo AS timestamptz) IS NULL OR (i.observed_at >= :lo AND i.observed_at < :hi))
          AND (CAST(:ids AS bigint[]) IS NULL OR i.id = ANY(:ids))
        ORDER BY i.observed_at"""),
        {"lo": lo, "hi": hi, "ids": ids},
    ).mappings()
    return [dict(r) for r in rows]


def months_with_data(session: Session) -> list[date]:
    """The first day of every month (Asia/Bangkok) with a hotspot of the area of interest or an incident,
    newest first (a neighbour's detections alone do not make a period "with data").

    Hotspots are walked month by month on the index of their acquisition time (one index probe per month
    with data, however many detections there are)."""
    rows = (
        session.execute(
            sql("""
        WITH RECURSIVE m AS (
          SELECT date_trunc('month', min(acq_utc) AT TIME ZONE 'Asia/Bangkok') AS month FROM hotspots WHERE in_aoi
          UNION ALL
          SELECT (SELECT date_trunc('month', min(h.acq_utc) AT TIME ZONE 'Asia/Bangkok') FROM hotspots h
                  WHERE h.in_aoi AND h.acq_utc >= (m.month + interval '1 month') AT TIME ZONE 'Asia/Bangkok')
          FROM m WHERE m.month IS NOT NULL)
        SELECT month::date FROM m WHERE month IS NOT NULL
        UNION
        SELECT DISTINCT date_trunc('month', observed_at AT TIME ZONE 'Asia/Bangkok')::date FROM incidents
        ORDER BY 1 DESC""")
        )
        .scalars()
        .all()
    )
    return list(rows)


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


# What the time slider can show: table, time column (UTC instants), and how a bucket is labelled.
TIME_SOURCES = {
    "incidents": ("incidents", "observed_at", "เหตุ", "incidents", "#6f42c1"),
    "hotspots": ("hotspots", "acq_utc", "จุดความร้อน", "hotspots", "#d62728"),
}
# Rows a source shows (fixed SQL): hotspots of the area of interest only (README, *Area of interest*).
TIME_SOURCE_WHERE = {"hotspots": "in_aoi"}


@dataclass
class Buckets:
    source: str
    rows: list[dict]
    cell: float


def point_buckets(session: Session, period: Period, source: str = "incidents") -> Buckets:
    """Points per day or week and grid cell: what the time slider shows (no free text). The cell grows
    (0.01° ≈ 1 km, then 0.05°, 0.1°, 0.25°) until there are at most MAX_TIME_FEATURES features."""
    table, column = TIME_SOURCES[source][:2]  # fixed names from the table above, never user input
    lo, hi = period.bounds
    unit = "day" if period.step == "P1D" else "week"
    grouped = f"""
        SELECT date_trunc('{unit}', {column} AT TIME ZONE 'Asia/Bangkok')::date AS bucket,
               (round(ST_Y(geom) / :cell) * :cell)::float AS lat, (round(ST_X(geom) / :cell) * :cell)::float AS lon,
               count(*) AS n
        FROM {table} WHERE {column} >= :lo AND {column} < :hi AND {TIME_SOURCE_WHERE.get(source, "true")}
        GROUP BY 1, 2, 3"""
    for cell in (0.01, 0.05, 0.1, 0.25):
        params = {"lo": lo, "hi": hi, "cell": cell}
        if (
            cell == 0.25
            or session.execute(sql(f"SELECT count(*) FROM ({grouped}) g"), params).scalar() <= MAX_TIME_FEATURES
        ):
            break
    rows = session.execute(sql(grouped + " ORDER BY 1"), params).mappings()
    return Buckets(source, [dict(r) for r in rows], cell)


# --- layers ---------------------------------------------------------------------------------------
def _feature_collection(rows: list[dict], props: Callable[[dict], dict]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": json.loads(r["geometry"]), "properties": props(r)} for r in rows],
    }


def district_layer(rows: list[dict], counts: dict[str, dict[str, int]], period: Period) -> tuple[folium.GeoJson, list]:
    """The district choropleth, coloured by the primary count; the tooltip lists every count."""
    primary = DISTRICT_COUNTS[0]
    top = max([counts[primary.key].get(r["code"], 0) for r in rows] + [0])
    breaks = _breaks(top)

    def props(r):
        lines = [f"<b>{esc.text(r['name_th'])}</b> / {esc.text(r['name_en'])}"]
        for c in DISTRICT_COUNTS:
            lines.append(
                f"{esc.text(c.label_th)} / {esc.text(c.label_en)}: "
                f"{counts[c.key].get(r['code'], 0):,} {esc.text(c.unit_en)}"
            )
        n = counts[primary.key].get(r["code"], 0)
        return {"code": r["code"], "label": esc.check_fragment("<br>".join(lines)), "fill": _colour(n, breaks)}

    name = esc.text(f"อำเภอ: {primary.label_th} / Districts: {primary.label_en}")
    layer = folium.GeoJson(
        _feature_collection(rows, props),
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
    def props(r):
        label = f"<b>{esc.text(r['name_th'])}</b><br>{esc.text(r['name_en'])}<br>{esc.text(r['kind'])}"
        if r["illustrative"]:
            label += "<br><b>ILLUSTRATIVE / ขอบเขตสมมติ (ไม่ใช่ขอบเขตทางการ)</b>"
        return {"code": r["code"], "label": esc.check_fragment(label), "illustrative": bool(r["illustrative"])}

    illustrative = any(r["illustrative"] for r in rows)
    name = "พื้นที่คุ้มครอง / Protected areas" + (" (ILLUSTRATIVE / สมมติ)" if illustrative else "")
    return folium.GeoJson(
        _feature_collection(rows, props),
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
        _, _, unit_th, unit_en, colour = TIME_SOURCES[buckets.source]
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
