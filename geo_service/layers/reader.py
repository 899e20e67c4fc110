"""Read a boundary file (GeoJSON, GeoPackage, zipped Shapefile, KML) and check it before anything is stored.

Every refusal names the feature and the reason, so the person who prepared the file can fix it:
no CRS, an unknown format, missing fields, empty/invalid/non-polygon geometries, features outside
Thailand, duplicate codes. Invalid geometries are repaired only when asked (``repair=True``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo_service import uploads
from geo_service.db.models import AdminLevel, ProtectedKind
from geo_service.errors import LayerRejected
from geo_service.layers.dbf_encoding import shapefile_encoding
from geo_service.settings import THAILAND_BBOX
from geo_service.thai import parse_date

# File endings we accept; the format and its one GDAL driver are decided from the bytes (geo_service.uploads).
FORMATS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile",
    ".shp": "shapefile",
    ".kml": "kml",
}
LAYER_FORMATS = ("geojson", "gpkg", "shapefile", "kml")
LAYER_TYPES = ("province", "district", "subdistrict", "protected_area")
MAX_LISTED = 20  # problems listed per refusal; the count says how many more

ADMIN_FIELDS = ("code", "name_th", "name_en", "parent_code")
PROTECTED_FIELDS = (
    "code",
    "name_th",
    "name_en",
    "kind",
    "version",
    "legal_reference",
    "agency",
    "valid_from",
    "valid_to",
    "note",
)

# Spellings of protected-area kinds found in Thai and English source files.
KIND_ALIASES: dict[str, ProtectedKind] = {
    "nrf": ProtectedKind.national_reserved_forest,
    "national reserved forest": ProtectedKind.national_reserved_forest,
    "ป่าสงวนแห่งชาติ": ProtectedKind.national_reserved_forest,
    "national park": ProtectedKind.national_park,
    "อุทยานแห่งชาติ": ProtectedKind.national_park,
    "np": ProtectedKind.national_park,
    "wildlife sanctuary": ProtectedKind.wildlife_sanctuary,
    "เขตรักษาพันธุ์สัตว์ป่า": ProtectedKind.wildlife_sanctuary,
    "ws": ProtectedKind.wildlife_sanctuary,
    "forest park": ProtectedKind.forest_park,
    "วนอุทยาน": ProtectedKind.forest_park,
    "community forest": ProtectedKind.community_forest,
    "ป่าชุมชน": ProtectedKind.community_forest,
}


@dataclass
class LayerFeature:
    """One checked feature of a layer file, geometry in EPSG:4326."""

    code: str
    name_th: str
    name_en: str
    geom: MultiPolygon
    parent_code: str | None = None
    kind: ProtectedKind | None = None
    version: str | None = None
    legal_reference: str | None = None
    agency: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    note: str | None = None


@dataclass
class LayerData:
    """A checked layer file: its features, CRS, driver, bounds and warnings."""

    layer_type: str
    features: list[LayerFeature]
    source_crs: str
    driver: str
    bounds: tuple[float, float, float, float]
    warnings: list[str] = field(default_factory=list)


def _problem(feature: int | None, reason: str, code: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"reason": reason}
    if feature is not None:
        item["feature"] = feature
    if code:
        item["code"] = code
    return item


def _refuse(message: str, problems: list[dict] | None = None) -> LayerRejected:
    problems = problems or []
    details = problems[:MAX_LISTED]
    if len(problems) > MAX_LISTED:
        details.append({"reason": f"... and {len(problems) - MAX_LISTED} more problems of this kind"})
    return LayerRejected(message + " Nothing was stored.", details=details)


def _open_path(path: Path, original_name: str, formats: dict[str, str] = FORMATS) -> tuple[str, frozenset[str]]:
    """The GDAL path and driver of a layer file, decided from its bytes (uploads.sniff), never by GDAL."""
    suffix = Path(original_name).suffix.lower()
    if suffix not in formats or formats[suffix] == "csv":
        raise _refuse(
            f"'{Path(original_name).name}' is not a supported layer file: use GeoJSON (.geojson), "
            "GeoPackage (.gpkg), a zipped Shapefile (.zip) or KML (.kml)."
        )
    sniffed = uploads.sniff(path, LAYER_FORMATS, lambda message: _refuse(message))
    if sniffed.format != formats[suffix]:
        raise _refuse(
            f"The file was recognised as {uploads.DESCRIPTIONS[sniffed.format]}, which does not match its name."
        )
    return sniffed.gdal_path, sniffed.drivers


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    s = str(value).strip()
    return s or None


def normalise_code(value) -> str | None:
    """Official codes as text; the 'TH' prefix of OCHA P-codes is dropped (TH5401 -> 5401)."""
    s = _text(value)
    if s is None:
        return None
    if isinstance(value, float) and value.is_integer():
        s = str(int(value))
    if len(s) > 2 and s[:2].upper() == "TH" and s[2:].isdigit():
        s = s[2:]
    return s


def _kind(value) -> ProtectedKind | None:
    s = _text(value)
    if s is None:
        return None
    try:
        return ProtectedKind(s)
    except ValueError:
        return KIND_ALIASES.get(s.lower())


def _polygonal(geom) -> MultiPolygon | None:
    """The polygon parts of a geometry as a MultiPolygon (None if it has none)."""
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
    polys: list[Polygon] = []
    for p in parts:
        polys.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    return MultiPolygon(polys) if polys else None


@dataclass
class RawFrame:
    """A layer file read but not yet checked: its features in the file's CRS, the driver and any encoding note."""

    gdf: Any  # geopandas.GeoDataFrame (geopandas is imported only when a file is read)
    driver: str
    encoding_note: str | None = None


def read_frame(
    path: str | Path,
    *,
    original_name: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    csv_crs: str = "EPSG:4326",
    wkt_column: str = "wkt",
    formats: dict[str, str] = FORMATS,
) -> RawFrame:
    """Open a layer file the one safe way (format from its bytes, GDAL off the network, Thai encodings) and read it.

    Used by the boundary layers and by every other loader of vector files (the red-flag contracts and parcels);
    a ``.csv`` (when ``formats`` allows it) is read without GDAL: one row per feature, geometry as WKT in
    ``wkt_column``, coordinates in ``csv_crs``. Raises LayerRejected with a message a person can act on.
    """
    import geopandas as gpd  # heavy (GDAL): imported when a layer is loaded, not when the service starts
    import pyogrio

    path = Path(path)
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise _refuse(
                f"Unknown text encoding '{encoding[:40]}'; Thai Shapefiles are usually cp874 "
                "(or tis-620), others utf-8."
            ) from None
    name = original_name or path.name
    if Path(name).suffix.lower() == ".csv" and formats.get(".csv") == "csv":
        return RawFrame(_read_csv(path, encoding, csv_crs, wkt_column), "CSV")
    gdal_path, drivers = _open_path(path, name, formats)
    pyogrio.set_gdal_config_options(uploads.GDAL_SAFE_OPTIONS)  # no network, no /vsicurl/ for pyogrio's GDAL

    try:
        layers = pyogrio.list_layers(gdal_path)
    except Exception:
        raise _refuse(
            "The file could not be read as a layer: it is damaged or not in the format its name says."
        ) from None
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if not names:
        raise _refuse("The file contains no layers.")
    if layer is None and len(names) > 1:
        raise _refuse("The file has several layers; choose one.", [{"reason": f"layer '{n}'"} for n in names])
    if layer is not None and layer not in names:
        raise _refuse(f"The file has no layer named '{layer}'.", [{"reason": f"layer '{n}'"} for n in names])
    chosen = layer or names[0]
    encoding_note = None
    if encoding is None and Path(name).suffix.lower() == ".zip":
        encoding, encoding_note = shapefile_encoding(path)  # never mojibake from a file without .cpg

    info = pyogrio.read_info(gdal_path, layer=chosen, encoding=encoding)
    if info["driver"] not in drivers:
        raise _refuse(f"The file was recognised as {info['driver']}, which does not match its name.")
    try:
        gdf = pyogrio.read_dataframe(gdal_path, layer=chosen, encoding=encoding, force_2d=True, on_invalid="warn")
    except UnicodeDecodeError:
        raise _refuse(
            "The file's text is not in " + (encoding or "UTF-8") + "; give its encoding (Thai files are often cp874)."
        ) from None
    _check_frame(gdf)
    assert isinstance(gdf, gpd.GeoDataFrame)
    return RawFrame(gdf, str(info["driver"]), encoding_note)


def _check_frame(gdf) -> None:
    text_columns = [c for c in gdf.columns if c != gdf.geometry.name and gdf[c].dtype == object]
    if any(gdf[c].astype(str).str.contains("\x00", regex=False).any() for c in text_columns):
        raise _refuse("The file's text contains NUL characters (is the encoding right?).")
    if gdf.crs is None:
        raise _refuse(
            "The file has no coordinate reference system (for a Shapefile, the .prj file is missing). "
            "Add it and send the file again."
        )
    if len(gdf) == 0:
        raise _refuse("The layer has no features.")


def _read_csv(path: Path, encoding: str | None, crs: str, wkt_column: str):
    """A CSV with a WKT column, read by pandas and shapely (no GDAL: a CSV cannot point GDAL anywhere)."""
    import geopandas as gpd
    import pandas as pd
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs_obj = CRS.from_user_input(crs)
    except CRSError:
        raise _refuse(f"Unknown coordinate system '{str(crs)[:40]}'; give an EPSG code such as EPSG:32647.") from None
    try:
        df = pd.read_csv(path, encoding=encoding or "utf-8-sig", dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        raise _refuse(
            "The file's text is not in " + (encoding or "UTF-8") + "; give its encoding (Thai files are often cp874)."
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        raise _refuse("The CSV file could not be read: is it a comma-separated file with a header row?") from None
    if wkt_column not in df.columns:
        raise _refuse(
            f"The CSV file has no geometry column '{wkt_column}' (WKT); name it or map it.",
            [{"reason": "columns in the file: " + ", ".join(map(str, df.columns))}],
        )
    texts = df.pop(wkt_column).replace("", None)
    geoms = shapely.from_wkt(texts.to_numpy(dtype=object), on_invalid="ignore")
    bad = np.flatnonzero(shapely.is_missing(geoms) & texts.notna().to_numpy())
    if len(bad):
        raise _refuse(
            "Some rows have geometry text that is not WKT.",
            [_problem(int(k), f"row {int(k) + 2}: not WKT") for k in bad],
        )
    df = df.replace("", None)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=crs_obj))
    _check_frame(gdf)
    return gdf


def read_layer(
    path: str | Path,
    layer_type: str,
    *,
    original_name: str | None = None,
    fields: dict[str, str] | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    default_kind: str | None = None,
    repair: bool = False,
    country_bbox: tuple[float, float, float, float] = THAILAND_BBOX,
) -> LayerData:
    """Read and check a layer file; raise LayerRejected (with per-feature details) if anything is wrong.

    Parameters
    ----------
    path : the file on disk (an upload is saved to a temporary file first).
    layer_type : province, district, subdistrict or protected_area.
    original_name : the user's file name, whose ending selects the format (defaults to ``path``).
    fields : target field -> column in the file, e.g. ``{"code": "amp_code", "name_th": "ADM2_TH"}``;
        a target not mapped is read from the column of the same name.
    layer : the layer inside a multi-layer file (GeoPackage, KML).
    encoding : text encoding of a Shapefile without .cpg (Thai files are often cp874).
    default_kind : the protected-area kind for files without a kind column.
    repair : repair invalid geometries (shapely.make_valid) instead of refusing them.
    """
    if layer_type not in LAYER_TYPES:
        raise _refuse(f"Unknown layer type '{layer_type}'; use one of: {', '.join(LAYER_TYPES)}.")
    import geopandas as gpd  # heavy (GDAL): imported when a layer is loaded, not when the service starts

    frame = read_frame(path, original_name=original_name, layer=layer, encoding=encoding)
    gdf, encoding_note, info = frame.gdf, frame.encoding_note, {"driver": frame.driver}

    targets = ADMIN_FIELDS if layer_type != "protected_area" else PROTECTED_FIELDS
    mapping = {t: (fields or {}).get(t, t) for t in targets}
    unknown = sorted(set(fields or {}) - set(targets))
    if unknown:
        raise _refuse(f"Unknown target fields: {', '.join(unknown)}; the layer takes {', '.join(targets)}.")
    required = ["code", "name_th"] + (["kind"] if layer_type == "protected_area" and not default_kind else [])
    missing = [f"{t} (column '{mapping[t]}')" for t in required if mapping[t] not in gdf.columns]
    if missing:
        raise _refuse(
            "Required fields are missing: " + "; ".join(missing) + ". Map them to the file's columns.",
            [{"reason": "columns in the file: " + ", ".join(map(str, gdf.columns.drop(gdf.geometry.name)))}],
        )

    problems: list[dict] = []
    warnings: list[str] = [encoding_note] if encoding_note else []
    geoms = gdf.geometry.values
    codes = [normalise_code(v) for v in gdf[mapping["code"]]]

    # Geometry checks, vectorised over the whole layer.
    is_missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    type_ids = shapely.get_type_id(geoms)
    polygonal = np.isin(type_ids, (3, 6))  # Polygon, MultiPolygon
    valid = shapely.is_valid(geoms)
    for k in np.flatnonzero(is_missing):
        problems.append(_problem(int(k), "the feature has no geometry", codes[k]))
    for k in np.flatnonzero(~is_missing & ~polygonal & (type_ids != 7)):
        problems.append(_problem(int(k), f"the geometry is a {geoms[k].geom_type}, not a polygon", codes[k]))
    bad = np.flatnonzero(~is_missing & ~valid)
    if len(bad) and not repair:
        for k in bad:
            problems.append(
                _problem(
                    int(k),
                    f"invalid geometry: {shapely.is_valid_reason(geoms[k])} "
                    "(send again with repair to fix it automatically)",
                    codes[k],
                )
            )
    elif len(bad):
        repaired = shapely.make_valid(geoms[bad])
        geoms = geoms.copy()
        geoms[bad] = repaired
        warnings.extend(f"feature {int(i)} ({codes[i]}): geometry repaired" for i in bad)
    if problems:
        raise _refuse("Some features have unusable geometries.", problems)

    source_crs = gdf.crs.to_string()
    gs = gpd.GeoSeries(geoms, crs=gdf.crs)
    if not gs.crs.equals("EPSG:4326"):
        gs = gs.to_crs("EPSG:4326")
    bounds = shapely.bounds(gs.values)
    minx, miny, maxx, maxy = country_bbox
    outside = ~((bounds[:, 0] >= minx) & (bounds[:, 1] >= miny) & (bounds[:, 2] <= maxx) & (bounds[:, 3] <= maxy))
    for k in np.flatnonzero(outside):
        b = bounds[k]
        problems.append(
            _problem(
                int(k),
                f"lies outside Thailand (lon {b[0]:.4f}..{b[2]:.4f}, lat {b[1]:.4f}..{b[3]:.4f}); "
                f"is the coordinate system ({source_crs}) right?",
                codes[k],
            )
        )
    if problems:
        raise _refuse("Some features lie outside Thailand.", problems)

    features: list[LayerFeature] = []
    seen: dict[tuple[str, str | None], int] = {}
    for i, rec in enumerate(gdf.drop(columns=gdf.geometry.name).to_dict("records")):
        code = codes[i]
        name_th = _text(rec.get(mapping["name_th"]))
        name_en = _text(rec.get(mapping["name_en"])) or name_th or ""
        if not code:
            problems.append(_problem(i, f"the code (column '{mapping['code']}') is empty"))
            continue
        if not name_th:
            problems.append(_problem(i, f"the Thai name (column '{mapping['name_th']}') is empty", code))
            continue
        geom = _polygonal(gs.values[i])
        if geom is None:
            problems.append(_problem(i, "no polygon left after repair", code))
            continue
        feat = LayerFeature(
            code=code,
            name_th=name_th,
            name_en=name_en,
            geom=geom,
            parent_code=normalise_code(rec.get(mapping.get("parent_code", ""), None)),
        )
        if layer_type == "protected_area":
            raw_kind = rec.get(mapping["kind"]) if mapping["kind"] in rec else default_kind
            feat.kind = _kind(raw_kind)
            if feat.kind is None:
                problems.append(
                    _problem(
                        i,
                        f"unknown kind '{_text(raw_kind)}'; use one of " + ", ".join(k.value for k in ProtectedKind),
                        code,
                    )
                )
                continue
            feat.version = _text(rec.get(mapping["version"]))
            feat.legal_reference = _text(rec.get(mapping["legal_reference"]))
            feat.agency = _text(rec.get(mapping["agency"]))
            feat.note = _text(rec.get(mapping["note"]))
            try:
                feat.valid_from = parse_date(rec.get(mapping["valid_from"]))
                feat.valid_to = parse_date(rec.get(mapping["valid_to"]))
            except ValueError as exc:
                problems.append(_problem(i, str(exc), code))
                continue
            if feat.valid_from and feat.valid_to and feat.valid_to <= feat.valid_from:
                problems.append(_problem(i, "valid_to is not after valid_from", code))
                continue
        key = (code, feat.version)
        if key in seen:
            problems.append(_problem(i, f"the code {code} appears twice (also feature {seen[key]})", code))
            continue
        seen[key] = i
        features.append(feat)
    if problems:
        raise _refuse("Some features have missing or wrong attributes.", problems)

    if layer_type in (AdminLevel.district.value, AdminLevel.subdistrict.value):
        no_parent = [f.code for f in features if not f.parent_code]
        if no_parent:
            warnings.append(f"{len(no_parent)} features have no parent code")
    total = gs.total_bounds
    return LayerData(
        layer_type=layer_type,
        features=features,
        source_crs=source_crs,
        driver=info["driver"],
        bounds=(float(total[0]), float(total[1]), float(total[2]), float(total[3])),
        warnings=warnings,
    )
