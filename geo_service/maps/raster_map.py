"""The map of one hotspot raster: the image reprojected to Web Mercator for Leaflet, coloured by product
(fire classes, burn day of year, or a continuous scale), with its legend, zonal figures and sources.

Burned area is listed only for products that encode it (``rasters.burned_area_by_zone``, the reading the
brief and the summary use); an index raster shows its statistics by district, and the area meeting its
recorded threshold under the meaning recorded with it."""

from __future__ import annotations

import folium
import numpy as np
from sqlalchemy.orm import Session

from geo_service.errors import NotFound
from geo_service.hotspots import raster_products as rp
from geo_service.hotspots.rasters import burned_area_by_zone, raster_file, raster_stats
from geo_service.maps import escaping as esc
from geo_service.maps import layers as L
from geo_service.maps.overview import base_map, sources_html
from geo_service.thai import be_date_en, be_date_th

MAX_SIDE = 1600  # pixels of the web image: enough for a province, small enough for the page
FIRE_CLASS_COLOURS = {
    7: ((255, 221, 0), "ต่ำ / low"),
    8: ((255, 140, 0), "ปานกลาง / nominal"),
    9: ((215, 25, 28), "สูง / high"),
}


def web_image(path: str, product: str, nodata: float | None) -> tuple[np.ndarray, list[list[float]], dict]:
    """RGBA image in EPSG:3857 (at most MAX_SIDE pixels a side), its lat/lon bounds, and the colour key."""
    import rasterio
    from matplotlib import colormaps
    from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

    with rasterio.open(path, driver="GTiff") as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        scale = max(width, height) / MAX_SIDE
        if scale > 1:
            width, height = int(width / scale), int(height / scale)
            transform = transform * transform.scale(scale, scale)
        out = np.full((height, width), np.nan, dtype="float64")
        resampling = Resampling.nearest if product in ("fire_mask", "burned_doy") else Resampling.bilinear
        reproject(
            rasterio.band(src, 1),
            out,
            dst_transform=transform,
            dst_crs="EPSG:3857",
            src_nodata=nodata if nodata is not None else src.nodata,
            dst_nodata=np.nan,
            resampling=resampling,
        )
        left, bottom, right, top = rasterio.transform.array_bounds(height, width, transform)
        west, south, east, north = transform_bounds("EPSG:3857", "EPSG:4326", left, bottom, right, top)
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    valid = np.isfinite(out)
    if product == "fire_mask":
        key: dict[str, list] = {"classes": []}
        for value, (colour, label) in FIRE_CLASS_COLOURS.items():
            hit = valid & (out == value)
            rgba[hit, :3] = colour
            rgba[hit, 3] = 230
            key["classes"].append({"colour": "#{:02x}{:02x}{:02x}".format(*colour), "label": label})
        return rgba, [[south, west], [north, east]], key
    show = valid & (out > 0) if product == "burned_doy" else valid
    if not show.any():
        return rgba, [[south, west], [north, east]], {"ramp": None}
    lo, hi = np.percentile(out[show], [2, 98]) if show.sum() > 50 else (out[show].min(), out[show].max())
    hi = hi if hi > lo else lo + 1
    # a generic index gets a neutral scale: red-to-green would read as burned / not burned
    cmap = colormaps["inferno_r" if product == "frp" else "RdYlGn_r" if product == "dnbr" else "viridis"]
    colours = cmap(np.clip((out - lo) / (hi - lo), 0, 1))
    rgba[show] = (colours[show] * 255).astype(np.uint8)
    rgba[show, 3] = 210
    stops = ["#{:02x}{:02x}{:02x}".format(*(int(255 * c) for c in cmap(x)[:3])) for x in (0, 0.25, 0.5, 0.75, 1)]
    return rgba, [[south, west], [north, east]], {"ramp": {"min": float(lo), "max": float(hi), "stops": stops}}


def raster_map(
    session: Session, raster_id: int, *, tile_url: str | None = None, tile_attribution: str | None = None
) -> folium.Map:
    """The map of one registered raster: the image, districts, protected areas of its day, legend, figures and
    sources (NotFound if no raster has this id)."""
    row = raster_file(session, raster_id)
    if row is None:
        raise NotFound("No raster with this number.")
    info = raster_stats(session, raster_id)
    meaning = info["meaning"]
    districts = L.districts(session)
    m = base_map(districts, tile_url, tile_attribution)
    rgba, bounds, key = web_image(row["file_path"], row["product"], row["nodata"])
    th, en, unit = meaning["label_th"], meaning["label_en"], meaning["unit"]
    name = f"{th} / {en} — {be_date_th(row['acq_date'])}"
    folium.raster_layers.ImageOverlay(
        rgba, bounds=bounds, name=esc.text(name), opacity=0.85, mercator_project=False
    ).add_to(m)
    folium.GeoJson(
        L.feature_collection(districts, lambda r: {"label": esc.text(f"{r['name_th']} / {r['name_en']}")}),
        name=esc.text("อำเภอ / Districts"),
        style_function=lambda f: {"color": "#444444", "weight": 1, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    ).add_to(m)
    L.protected_layer(L.protected_areas(session, row["acq_date"])).add_to(m)
    m.fit_bounds(bounds)
    folium.LayerControl(collapsed=False).add_to(m)
    names = {d["code"]: d for d in districts}
    body = [
        f"<h4>{esc.text(th)}</h4><div>{esc.text(en)}</div>",
        f"<div>{esc.text(be_date_th(row['acq_date']))} / {esc.text(be_date_en(row['acq_date']))} · "
        f"{esc.text(row['name'])} ({esc.text(row['crs'])}) · v{info['version']}</div>",
    ]
    if info["superseded_by"] is not None:
        body.append(
            f"<div><b>ฉบับเก่า / superseded</b> by raster {int(info['superseded_by'])}: "
            f"these figures are not in the totals</div>"
        )
    if key.get("classes"):
        body += [
            f"<div><span class='sw' style='background:{c['colour']}'></span>{esc.text(c['label'])}</div>"
            for c in key["classes"]
        ]
    elif key.get("ramp"):
        r = key["ramp"]
        gradient = ", ".join(r["stops"])
        body.append(
            f"<div><span class='sw' style='width:8em;background:linear-gradient(to right, {gradient})'></span>"
            f"</div><div>{r['min']:.1f} – {r['max']:.1f} {esc.text(unit)}</div>"
        )
    body += _figures_html(session, raster_id, info, names)
    body.append(
        sources_html(
            session,
            [f"Raster: {row['name']} (SHA-256 kept with the registration)"],
            tile_attribution if tile_url else None,
        )
    )
    L.Legend("".join(body)).add_to(m)
    return m


def _district_name(names: dict, code: str) -> str:
    return esc.text(names.get(code, {}).get("name_th", code))


def _figures_html(session: Session, raster_id: int, info: dict, names: dict) -> list[str]:
    """Burned area by district for products that encode it; statistics (and the area meeting a recorded
    threshold, under its recorded meaning) for the others."""
    meaning = info["meaning"]
    if meaning["burned_area"]:
        burned = sorted(burned_area_by_zone(session, "district", raster_id=raster_id), key=lambda r: -r["burned_m2"])
        if not burned:
            return []
        return ["<div><b>พื้นที่เผาไหม้ / burned area (ha, rai)</b></div>"] + [
            f"<div>{_district_name(names, r['zone_code'])}: {r['burned_ha']:,.1f} ha / {r['burned_rai']:,.0f} rai</div>"
            for r in burned[:8]
        ]
    stats = [s for s in info["stats"] if s["zone_type"] == "district"]
    out = [f"<div><i>{esc.text(meaning['definition'])}</i></div>"]
    if stats:
        out.append("<div><b>ค่าสถิติ / statistics (mean; min – max)</b></div>")
        out += [
            f"<div>{_district_name(names, s['zone_code'])}: {s['mean']:.3g}; {s['min']:.3g} – {s['max']:.3g}</div>"
            for s in stats[:8]
            if s["mean"] is not None
        ]
    rule = meaning["threshold"]
    flagged = sorted((s for s in stats if s["flagged_m2"]), key=lambda s: -s["flagged_m2"])
    if rule and flagged:
        label = rp.Threshold(**rule).describe()
        out.append(f"<div><b>{esc.text(label)} (ha, rai)</b></div>")
        out += [
            f"<div>{_district_name(names, s['zone_code'])}: {s['flagged_ha']:,.1f} ha / "
            f"{s['flagged_rai']:,.0f} rai</div>"
            for s in flagged[:8]
        ]
    return out
