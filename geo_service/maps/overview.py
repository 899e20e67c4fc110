"""The committee's overview map: district choropleth, protected areas, incidents by kind, cases (for roles
that may see them), a time slider, legend, sources; and the map of one case's evidence."""

from __future__ import annotations

from datetime import date, timedelta

import folium
import folium.plugins as plugins
from branca.element import Element, Figure
from sqlalchemy.orm import Session

from geo_service import redaction
from geo_service.auth import Principal
from geo_service.cases import service as cases_service
from geo_service.layers import aoi
from geo_service.maps import assets
from geo_service.maps import escaping as esc
from geo_service.maps import flag_layers as RF
from geo_service.maps import forest_layers as F
from geo_service.maps import hotspot_layers as H
from geo_service.maps import layers as L
from geo_service.maps.period import Period, choose_period, fiscal_period
from geo_service.thai import TH_MONTHS, be_date_en, be_date_th, fiscal_year_be

BOUNDARY_CREDIT = "Administrative boundaries: Royal Thai Survey Department / OCHA COD-AB (CC BY-IGO)"
INCIDENT_CREDIT = "Incidents: NACC Phrae field reports (สำนักงาน ป.ป.ช. ประจำจังหวัดแพร่)"
CASE_CREDIT = "Cases: NACC Phrae case register (redacted by role)"


def base_map(rows: list[dict], tile_url: str | None, tile_attribution: str | None) -> folium.Map:
    """A map with no tiles unless a tile URL is configured; scale bar, fullscreen, measure, minimap."""
    assets.use_local_assets()
    m = folium.Map(
        location=[18.15, 100.15],
        zoom_start=9,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
        maxZoom=18,
        minZoom=5,
    )  # MarkerCluster needs a maxZoom, which no tile layer gives here
    root = m.get_root()
    assert isinstance(root, Figure)  # a map's root is its page
    root.header.add_child(Element('<link rel="icon" href="data:,">'))  # no /favicon.ico request
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=esc.text(tile_attribution or "Base map"),
            name=esc.text("แผนที่ฐาน / Base map"),
            overlay=False,
            control=True,
        ).add_to(m)
    plugins.Fullscreen(position="topleft", title="เต็มจอ / Full screen", title_cancel="ออก / Exit").add_to(m)
    plugins.MeasureControl(
        position="topleft",
        primary_length_unit="kilometers",
        secondary_length_unit="meters",
        primary_area_unit="hectares",
        secondary_area_unit="sqmeters",
    ).add_to(m)
    if rows:
        # The minimap shows the district boundaries: with no tile URL there are no tiles to show, and the
        # boundaries are what a committee member orients by. With tiles it still needs no second tile request.
        L.BoundaryMiniMap(L.feature_collection(rows, lambda r: {})).add_to(m)
        lats = [r["lat"] for r in rows]
        lons = [r["lon"] for r in rows]
        m.fit_bounds([[min(lats) - 0.1, min(lons) - 0.1], [max(lats) + 0.1, max(lons) + 0.1]])
    return m


def sources_html(session: Session, extra: list[str], tile_attribution: str | None) -> str:
    """The legend's sources box: boundaries, protected areas (illustrative ones said so), ``extra``, base map."""
    items = [BOUNDARY_CREDIT]
    for s in L.sources(session, "protected_area"):
        credit = (
            s["attribution"]
            if s["attribution"].lower().startswith("protected areas")
            else "Protected areas: " + s["attribution"]
        )
        if s["illustrative"] and "ILLUSTRATIVE" not in credit.upper():
            credit += " — ILLUSTRATIVE, not official boundaries"
        items.append(credit + (" / ขอบเขตสมมติ ไม่ใช่ขอบเขตทางการ" if s["illustrative"] else ""))
    items += extra
    if tile_attribution:
        items.append("Base map: " + tile_attribution)
    else:
        items.append("No base map tiles (offline) / ไม่มีแผนที่ฐาน")
    return "<div class='src'><b>แหล่งข้อมูล / Sources</b><br>" + "<br>".join(esc.text(i) for i in items) + "</div>"


def choose(session: Session, start: date | None, end: date | None, fy_be: int | None) -> tuple[Period, list[date]]:
    """The period to show (as asked; by default the latest fiscal year with hotspots or incidents, not an
    empty current year) and the months with data, for the period picker."""
    months = L.months_with_data(session)
    return choose_period(start, end, fy_be, latest_fy_be=fiscal_year_be(months[0]) if months else None), months


def _month_period(first: date) -> Period:
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period(first, nxt - timedelta(days=1))


def period_picker(months: list[date], current: Period) -> L.PeriodPicker:
    """Links to every fiscal year with data and to the months with data of the fiscal year shown."""
    years = sorted({fiscal_year_be(m) for m in months}, reverse=True)
    shown = fiscal_year_be(current.end)

    def link(href: str, label: str, is_current: bool) -> str:
        return f"<a href='{esc.attr(href)}'" + (" class='current'" if is_current else "") + f">{esc.text(label)}</a>"

    parts = [esc.text("ช่วงเวลาที่มีข้อมูล / Periods with data:"), "<b>" + esc.text(" ปีงบประมาณ / FY") + "</b>"]
    parts += [link(f"?fiscal_year_be={fy}", str(fy), current == fiscal_period(fy)) for fy in years]
    mine = sorted(m for m in months if fiscal_year_be(m) == shown)
    if mine:
        parts.append("<br><b>" + esc.text(f"เดือน / months (FY {shown}):") + "</b>")
        for first in mine:
            p = _month_period(first)
            parts.append(
                link(
                    f"?from={p.start.isoformat()}&to={p.end.isoformat()}",
                    f"{TH_MONTHS[first.month - 1]} {first.year + 543}",
                    current == p,
                )
            )
    if not years:
        parts.append(esc.text("— ยังไม่มีข้อมูล / no data yet"))
    return L.PeriodPicker(" ".join(parts))


def overview(
    session: Session,
    period: L.Period,
    *,
    principal: Principal | None,
    cases: list[dict] | None,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    photo_base: str | None = "",
    months: list[date] | None = None,
    outside_aoi: bool = False,
    tiles_above: int | None = None,
    flag_filters: dict | None = None,
    flags_dismissed: bool = False,
) -> folium.Map:
    """The overview for ``period``. ``cases``: what the cases service returned for the caller (already
    redacted), or None when the caller may not see cases. ``photo_base``: prefix of thumbnail URLs
    ("" for this server; None: no thumbnails). ``months``: the months with data, for a period picker of
    links to this page (None: no picker, e.g. in a file). Hotspots are those of the area of interest;
    ``outside_aoi`` adds the detections beyond it as a separate, labelled layer, hidden until switched on.
    ``tiles_above``: with more detections than this in the period, they are drawn from this service's vector
    tiles (/ogc/.../tiles) instead of being embedded in the page (None: always embedded). Red flags (investigators
    and administrators only, maps.flag_layers): ``flag_filters`` (district, reserve, agency, contractor,
    fiscal_year_be, rule) narrow them, ``flags_dismissed`` adds the dismissed ones."""
    districts = L.districts(session)
    m = base_map(districts, tile_url, tile_attribution)
    counts = {c.key: c.count(session, period, principal) for c in L.DISTRICT_COUNTS}
    mine = principal.provinces if principal is not None else None
    outside = {d["code"] for d in districts if mine is not None and d["parent_code"] not in mine}
    choropleth, classes = L.district_layer(districts, counts, period, outside)
    choropleth.add_to(m)
    L.district_labels(districts).add_to(m)
    if months is not None:
        period_picker(months, period).add_to(m)
    L.protected_layer(L.protected_areas(session, period.end)).add_to(m)
    patch_layer, clearings, tiled = F.layer_for(session, period, principal, tiles_above)
    if patch_layer is not None:
        patch_layer.add_to(m)
    flag_layer, flag_legend = RF.overview_flags(
        session, principal, period, flag_filters, include_dismissed=flags_dismissed
    )
    if flag_layer is not None:
        flag_layer.add_to(m)
    detections = sum(counts["hotspots"].values())
    hotspot_layers: list = [H.heat_layer(session, period), H.events_layer(session, period)]
    if tiles_above is not None and detections > tiles_above:
        hotspot_layers.append(H.tile_layer(period, detections, outside_aoi))
    else:
        hotspot_layers.append(H.cluster_layer(session, period))
        if outside_aoi:
            hotspot_layers.append(H.outside_layer(session, period))
    for layer in hotspot_layers:
        if layer is not None:
            layer.add_to(m)
    rows = redaction.incidents(L.incidents(session, period, viewer=principal), principal)
    for layer in L.incident_layers(rows, photo_base):
        layer.add_to(m)
    extra = [H.HOTSPOT_CREDIT, INCIDENT_CREDIT] + ([F.PATCH_CREDIT] if clearings else [])
    extra += [RF.CREDIT] if flag_legend is not None else []
    if cases is not None:
        case_layer(cases, {d["code"]: d for d in districts}).add_to(m)
        extra.append(CASE_CREDIT)
    L.time_layer(
        [L.point_buckets(session, period, "hotspots"), L.point_buckets(session, period, "incidents", principal)],
        period,
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)

    primary = L.DISTRICT_COUNTS[0]
    area = aoi.describe(session, "aoi")
    body = [
        f"<h4>{esc.text('ภาพรวม ' + period.label_th)}</h4>",
        f"<div>{esc.text('Overview ' + period.label_en)}</div>",
        f"<div class='aoi'>{esc.text(area['label_th'])} / {esc.text(area['label_en'])}"
        + (
            f"; {esc.text(H.OUTSIDE_LAYER_NAME)}: ชั้นแยก ปิดไว้ / separate layer, off"
            if outside_aoi
            else "; จุดความร้อนนอกพื้นที่ไม่แสดง / hotspots outside it not shown"
        )
        + "</div>",
        f"<div><b>{esc.text(primary.label_th)} / {esc.text(primary.label_en)}</b> "
        f"({esc.text(primary.unit_th)} / {esc.text(primary.unit_en)} per district)</div>",
    ]
    body += [f"<div><span class='sw' style='background:{c}'></span>{esc.text(label)}</div>" for c, label in classes]
    body.append(
        "<div><span class='sw' style='background:#2da44e;opacity:.4;border:2px dashed #1a7f37'></span>"
        + esc.text(
            f"พื้นที่คุ้มครอง (เส้นประ: ขอบเขตสมมติ) ขอบเขต ณ {be_date_th(period.end)} / Protected areas (dashed: "
            f"ILLUSTRATIVE), boundaries in force on {be_date_en(period.end)}"
        )
        + "</div>"
    )
    if clearings:
        total = F.total_patches(session, period, principal) if not tiled and clearings >= F.MAP_PATCHES else None
        counted = F.counted_words(period, RF.area_words(session, principal))
        body.append(F.legend_html(clearings, tiled, total, counted))
    if flag_legend is not None:
        body.append(flag_legend)
    # incidents (markers, district counts, the slider) are those of the reader's provinces: said, with the area
    area_th, area_en = RF.area_words(session, principal)
    body.append(
        f"<div>{esc.text(f'นับเหตุ: {area_th}')} / {esc.text(f'incidents counted: {area_en}')}"
        + (f" ({esc.text(L.NOT_COUNTED[0])} / {esc.text('other provinces: ' + L.NOT_COUNTED[1])})" if outside else "")
        + "</div>"
    )
    per_th, per_en = ("วัน", "day") if period.step == "P1D" else ("สัปดาห์", "week")
    body.append(
        f"<div><span class='sw' style='background:#d62728;border-radius:50%'></span>"
        f"<span class='sw' style='background:#6f42c1;border-radius:50%'></span>"
        f"{esc.text(f'แถบเวลา: จุดความร้อน (แดง) และเหตุ (ม่วง) ต่อ{per_th}')} / "
        f"{esc.text(f'time slider: hotspots (red) and incidents (purple) per {per_en}')}</div>"
    )
    body.append(sources_html(session, extra, tile_attribution if tile_url else None))
    L.Legend("".join(body)).add_to(m)
    return m


def overview_for_caller(
    session: Session,
    principal: Principal,
    start: date | None,
    end: date | None,
    fy_be: int | None,
    *,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    outside_aoi: bool = False,
    tiles_above: int | None = None,
    flag_filters: dict | None = None,
    flags_dismissed: bool = False,
) -> folium.Map:
    """The overview page for a signed-in caller: the period asked (default: the latest with data) with its period
    picker, and the cases received in it that the caller may see (one bounded read through the cases service).
    Runs in the caller's transaction after access.act_as (row-level security decides which cases exist)."""
    period, months = choose(session, start, end, fy_be)
    visible = cases_service.list_cases(session, principal, received=(period.start, period.end), limit=100_000)
    return overview(
        session,
        period,
        principal=principal,
        cases=visible["items"],
        months=months,
        tile_url=tile_url,
        tile_attribution=tile_attribution,
        outside_aoi=outside_aoi,
        tiles_above=tiles_above,
        flag_filters=flag_filters,
        flags_dismissed=flags_dismissed,
    )


def case_layer(cases: list[dict], districts: dict[str, dict]) -> folium.FeatureGroup:
    """Cases by district: one marker per district listing what the caller may see of each case. The layer's name
    says what is counted (the cases received in the map's period) and how many have no district and so no marker."""
    unplaced = sum(1 for c in cases if not any(code in districts for code in c.get("districts") or []))
    name = f"คดีที่รับในช่วงนี้ / Cases received in the period ({len(cases):,})" + (
        f"; ไม่มีอำเภอ ไม่อยู่บนแผนที่ {unplaced:,} / {unplaced:,} with no district, not on the map" if unplaced else ""
    )
    group = folium.FeatureGroup(name=esc.text(name))
    by_district: dict[str, list[dict]] = {}
    for c in cases:
        for code in c.get("districts") or []:
            by_district.setdefault(code, []).append(c)
    for code, items in sorted(by_district.items()):
        d = districts.get(code)
        if not d:
            continue
        lines = [f"<b>{esc.text(d['name_th'])} / {esc.text(d['name_en'])}</b>"]
        for c in items:
            line = (
                f"<br>{esc.text(c['reference'])}: {esc.text(c['stage_th'])} / {esc.text(c['stage_en'])}; "
                f"{esc.text(c['category_th'])} / {esc.text(c['category_en'])}; "
                f"{esc.text(be_date_th(date.fromisoformat(c['received_on'])))}"
            )
            if c.get("title"):  # only in what investigators and administrators get
                line += f"<br><i>{esc.text(c['title'])}</i>"
            lines.append(line)
        folium.Marker(
            [d["lat"], d["lon"]],
            icon=folium.Icon(icon="scale-balanced", prefix="fa", color="purple"),
            popup=folium.Popup(esc.check_fragment("<div class='gs-popup'>" + "".join(lines) + "</div>"), max_width=320),
            tooltip=folium.Tooltip(esc.text(f"คดี / cases: {len(items)}")),
        ).add_to(group)
    return group


def render(m: folium.Map, tile_url: str | None = None) -> str:
    """The map as one HTML page, checked to fetch nothing from the internet (but the configured tiles)."""
    return assets.assert_offline(m.get_root().render(), tile_url)
