"""File exports partners open in QGIS, ArcGIS, Google Earth or a spreadsheet: GeoPackage, CSV, Excel (xlsx),
KML and zipped Shapefile, written in chunks, each with its metadata (source, licence, period, filters,
generation time).

Spreadsheet formats (CSV, xlsx) carry a point (lon/lat, or x/y in UTM) and the geometry as WKT; a WKT longer
than a spreadsheet cell (32,767 characters) is simplified until it fits, or left out, and ``wkt_note`` says which.
Shapefile field names are at most 10 characters: ``DBF_FIELDS`` is the explicit, documented renaming.
"""

from __future__ import annotations

import json
import tempfile
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path

import shapely
from sqlalchemy import Engine

from geo_service import scratch

CHUNK = 50_000
# GeoPackage 1.2: pyogrio's GDAL writes 1.4 by default, which GDAL 3.6 (Debian 12's QGIS and ogrinfo) opens with
# a "may only be partially supported" warning; the layers written here need nothing newer than 1.2.
GPKG_OPTIONS = {"VERSION": "1.2"}
# A text cell that a spreadsheet would run as a formula (OWASP "CSV injection"): = + - @, tab, CR, and the
# full-width forms of the first four (the open-data CSV shares this list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMATS = {
    "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
    "csv": ("application/zip", ".csv.zip"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    "kml": ("application/vnd.google-earth.kml+xml", ".kml"),
    "shp": ("application/zip", ".shp.zip"),
}
CELL_MAX = 32_767  # characters in one spreadsheet cell (Excel, LibreOffice)
XLSX_MAX_ROWS = 1_048_575  # rows of a worksheet below its header
# Simplification tolerances tried, in order, for a WKT that does not fit a cell: degrees (EPSG:4326, about
# 1, 5, 10, 50 and 100 m) or metres (UTM).
TOLERANCES = {True: (1e-5, 5e-5, 1e-4, 5e-4, 1e-3), False: (1.0, 5.0, 10.0, 50.0, 100.0)}

# dBase (Shapefile) field names are at most 10 characters; cutting them made names collide (confidence /
# confidence_raw) and GDAL refused the file. Every longer property name has its short name here (README,
# "Exports"); a name that is short enough is kept.
DBF_FIELDS = {
    "acq_date_local": "acq_date",
    "acq_date_be": "acq_be",
    "confidence_raw": "conf_raw",
    "province_code": "prov_code",
    "district_code": "dist_code",
    "district_th": "dist_th",
    "district_en": "dist_en",
    "subdistrict_code": "subd_code",
    "subdistrict_th": "subd_th",
    "subdistrict_en": "subd_en",
    "reserve_code": "res_code",
    "reserve_th": "res_th",
    "reserve_en": "res_en",
    "protected_area_codes": "pa_codes",
    "reserve_distance_m": "res_dist_m",
    "parent_code": "parent",
    "attribution": "attrib",
    "legal_reference": "legal_ref",
    "illustrative": "illustr",
    "valid_from_be": "from_be",
    "valid_to_be": "to_be",
    "first_seen_local": "first_loc",
    "last_seen_local": "last_loc",
    "first_date_be": "first_be",
    "last_date_be": "last_be",
    "observed_at": "observed",
    "observed_local": "obs_local",
    "observed_date_be": "obs_be",
    "description": "descr",
    "incident_id": "inc_id",
    "fiscal_year_be": "fy_be",
    "confidence_max": "conf_max",
    "share_highest": "sh_highest",
    "cleared_by_fire": "by_fire",
    "verification": "verified",
    "verified_by": "verifier",
    "month_start": "month_1st",
    "cleared_by_fire_patches": "fire_n",
    "contract_id": "contr_id",
    "contract_no": "contr_no",
}


DBF_TEXT_BYTES = 254  # a dBase character field: 254 bytes, 84 Thai letters in UTF-8
_THAI_LEADING_VOWELS = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44")  # เ แ โ ใ ไ: written before their consonant


def dbf_text(value: str) -> tuple[str, bool]:
    """A text as a Shapefile field can hold it, and whether it was cut.

    Longer than ``DBF_TEXT_BYTES`` in UTF-8, it is cut between letters and ends with "…": never between a Thai
    consonant and its vowel or tone mark (a combining mark: GDAL's own cut turned ชาติ into ชาต, another word) nor
    after a leading vowel. Hand-written: the standard library has no grapheme clusters, and Thai needs only this."""
    raw = value.encode("utf-8")
    if len(raw) <= DBF_TEXT_BYTES:
        return value, False
    cut = raw[: DBF_TEXT_BYTES - len("…".encode())].decode("utf-8", "ignore")
    while cut and unicodedata.category(value[len(cut)]) in ("Mn", "Mc", "Me"):
        cut = cut[:-1]  # the letter before a mark goes with it
    while cut and cut[-1] in _THAI_LEADING_VOWELS:
        cut = cut[:-1]
    return cut + "…", True


def _dbf_frame(gdf, cut: dict[str, int]):
    """A chunk with its long texts cut for dBase (``dbf_text``), counting the cut values per field in ``cut``."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    for col in gdf.columns:
        if col == gdf.geometry.name or not (is_object_dtype(gdf[col]) or is_string_dtype(gdf[col])):
            continue
        long = gdf[col].map(lambda v: isinstance(v, str) and len(v) > DBF_TEXT_BYTES // 4)
        if not long.any():
            continue
        fitted = gdf.loc[long, col].map(dbf_text)
        n = sum(was_cut for _, was_cut in fitted)
        if n:
            gdf.loc[long, col] = [text_ for text_, _ in fitted]
            cut[col] = cut.get(col, 0) + n
    return gdf


def dbf_names(columns: list[str]) -> dict[str, str]:
    """Each column's Shapefile field name: ``DBF_FIELDS``, else the name itself; always unique, <= 10 characters.

    A property added later without an entry is cut and numbered rather than failing (the tests require an entry).
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        name = DBF_FIELDS.get(col, col)[:10]
        n = 1
        while name.lower() in taken:
            name = f"{DBF_FIELDS.get(col, col)[:8]}_{n}"
            n += 1
        taken.add(name.lower())
        names[col] = name
    return names


def _frames(engine: Engine, stmt, shown: list[str], crs: int):
    # geopandas, pandas and pyogrio (GDAL) are imported when a file is written, not at start-up.
    import geopandas as gpd
    import pandas as pd

    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(stmt)
        for part in result.partitions(CHUNK):
            df = pd.DataFrame([tuple(r) for r in part], columns=["id", "wkb", *shown])
            geom = shapely.from_wkb(df.pop("wkb").map(bytes).to_numpy())
            for col in df.columns:  # lists (arrays) become text; Shapefile and CSV have no list type
                if df[col].map(lambda v: isinstance(v, list)).any():
                    df[col] = df[col].map(lambda v: ";".join(map(str, v)) if isinstance(v, list) else v)
            yield gpd.GeoDataFrame(df, geometry=geom, crs=crs)


def _safe_cell(value):
    """Spreadsheets run a cell that starts with = + - @ as a formula: make such text inert."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


# the column types of an empty layer, from the queryables' property types (exports/queryables.py)
_EMPTY_DTYPES = {"integer": "int64", "number": "float64", "boolean": "bool", "date-time": "datetime64[ms, UTC]"}


def _empty_frame(shown: list[str], crs: int, types: dict[str, str] | None):
    """No feature: a layer with the columns and types a non-empty export has (an empty Shapefile of hotspots was a
    LineString layer with only ``id``, which broke a partner's daily load on a day without fire)."""
    import geopandas as gpd
    import pandas as pd

    columns = {"id": pd.Series([], dtype="object")}
    for name in shown:
        columns[name] = pd.Series([], dtype=_EMPTY_DTYPES.get((types or {}).get(name, "string"), "object"))
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def write_file(
    engine: Engine,
    stmt,
    shown: list[str],
    fmt: str,
    crs: int,
    metadata: dict,
    layer: str,
    workdir: Path,
    *,
    geometry_type: str | None = None,
    types: dict[str, str] | None = None,
) -> Path:
    """Write the export into ``workdir`` and return the file to send. ``geometry_type`` (e.g. "Point") and
    ``types`` (property -> queryable type) give an empty GeoPackage or Shapefile the layer a non-empty one has."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    meta_text = json.dumps(metadata, ensure_ascii=False, indent=2, default=str)
    if fmt == "gpkg":
        path = workdir / f"{layer}.gpkg"
        wrote = False
        for gdf in _frames(engine, stmt, shown, crs):
            pyogrio.write_dataframe(
                gdf,
                path,
                layer=layer,
                driver="GPKG",
                append=wrote,
                dataset_options=None if wrote else GPKG_OPTIONS,
                layer_metadata={"DESCRIPTION": meta_text} if not wrote else None,
            )
            wrote = True
        if not wrote:
            pyogrio.write_dataframe(
                _empty_frame(shown, crs, types),
                path,
                layer=layer,
                driver="GPKG",
                dataset_options=GPKG_OPTIONS,
                layer_metadata={"DESCRIPTION": meta_text},
                geometry_type=geometry_type,
            )
        return path
    if fmt == "kml":
        path = workdir / f"{layer}.kml"
        frames = list(_frames(engine, stmt, shown, crs))
        gdf = pd.concat(frames, ignore_index=True) if frames else gpd.GeoDataFrame({"id": []}, geometry=[], crs=crs)
        gdf = gpd.GeoDataFrame(gdf, crs=crs).to_crs(4326)
        if "name_th" in gdf.columns:
            gdf["Name"] = gdf["name_th"]
        pyogrio.write_dataframe(gdf, path, driver="KML", dataset_metadata={"DESCRIPTION": meta_text})
        return path
    if fmt == "csv":
        csv_path = workdir / f"{layer}.csv"
        first = True
        with open(csv_path, "w", encoding="utf-8-sig", newline="") as out:  # BOM: Excel reads Thai correctly
            for gdf in _frames(engine, stmt, shown, crs):
                df = _table(gdf, crs).map(_safe_cell)
                df.to_csv(out, index=False, header=first)
                first = False
            if first:
                out.write(",".join(_table_columns(shown, crs)) + "\n")
        return _zip(workdir / f"{layer}.csv.zip", [csv_path], meta_text)
    if fmt == "xlsx":
        return _write_xlsx(engine, stmt, shown, crs, metadata, layer, workdir / f"{layer}.xlsx")
    if fmt == "shp":
        shp_dir = workdir / "shp"
        shp_dir.mkdir()
        path = shp_dir / f"{layer}.shp"
        wrote = False
        renamed = dbf_names(["id", *shown])
        cut: dict[str, int] = {}  # field -> values cut to fit dBase's 254 bytes (metadata.json says so)
        for gdf in _frames(engine, stmt, shown, crs):
            gdf = _dbf_frame(gdf.rename(columns=renamed), cut)
            pyogrio.write_dataframe(gdf, path, driver="ESRI Shapefile", encoding="UTF-8", append=wrote)
            wrote = True
        if not wrote:
            pyogrio.write_dataframe(
                _empty_frame(shown, crs, types).rename(columns=renamed),
                path,
                driver="ESRI Shapefile",
                encoding="UTF-8",
                geometry_type=geometry_type,
            )
        if not (shp_dir / f"{layer}.cpg").exists():
            (shp_dir / f"{layer}.cpg").write_text("UTF-8")
        meta_text = json.dumps(
            {
                **metadata,
                "dbf_fields": renamed,
                "dbf_truncated": cut,
                "dbf_truncated_note": f"texts longer than {DBF_TEXT_BYTES} bytes (84 Thai letters) are cut and end "
                "with '…' (a dBase field holds no more); GeoPackage and GeoJSON keep them whole",
            },
            ensure_ascii=False,
            indent=2,
            default=str,
        )
        return _zip(workdir / f"{layer}.shp.zip", sorted(shp_dir.iterdir()), meta_text)
    raise ValueError(fmt)


def _table_columns(shown: list[str], crs: int) -> list[str]:
    x, y = ("lon", "lat") if crs == 4326 else ("x", "y")
    return ["id", x, y, *shown, "wkt", "wkt_note"]


def _table(gdf, crs: int):
    """A chunk as spreadsheet columns: id, a point inside the feature, the properties, WKT and its note."""
    import pandas as pd

    pts = gdf.geometry.representative_point()
    df = pd.DataFrame(gdf.drop(columns="geometry"))
    df.insert(1, "lon" if crs == 4326 else "x", pts.x.round(7))
    df.insert(2, "lat" if crs == 4326 else "y", pts.y.round(7))
    df["wkt"], df["wkt_note"] = cell_wkt(gdf.geometry.values, geographic=crs == 4326)
    return df


def cell_wkt(geoms, *, geographic: bool) -> tuple[list[str], list[str]]:
    """WKT of each geometry that fits one spreadsheet cell (``CELL_MAX`` characters), and a note per geometry.

    A longer WKT is simplified (topology preserved) with growing tolerances until it fits and the note gives the
    tolerance; if even the largest does not fit, the WKT is left empty and the note says so. Full geometries:
    GeoPackage, GeoJSON or Shapefile.
    """
    precision = 7 if geographic else 2
    wkt = shapely.to_wkt(geoms, rounding_precision=precision)
    notes = [""] * len(wkt)
    long = [i for i, w in enumerate(wkt) if w is not None and len(w) > CELL_MAX]
    for tol in TOLERANCES[geographic]:
        if not long:
            break
        simple = shapely.to_wkt(
            shapely.simplify(geoms[long], tol, preserve_topology=True), rounding_precision=precision
        )
        unit = f"{tol:g} degrees (about {tol * 111_000:.0f} m)" if geographic else f"{tol:g} m"
        still = []
        for i, w in zip(long, simple):
            if len(w) <= CELL_MAX:
                wkt[i], notes[i] = w, f"simplified with a tolerance of {unit} to fit a spreadsheet cell"
            else:
                still.append(i)
        long = still
    for i in long:
        wkt[i], notes[i] = "", "omitted: longer than a spreadsheet cell even simplified; use GeoPackage or GeoJSON"
    return list(wkt), notes


def _xlsx_value(value):
    """A value openpyxl can store: text without control characters, capped at a cell; no time zone objects."""
    import pandas as pd
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", _safe_cell(value))
        return value if len(value) <= CELL_MAX else value[: CELL_MAX - 1] + "…"
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _write_xlsx(engine: Engine, stmt, shown: list[str], crs: int, metadata: dict, layer: str, path: Path) -> Path:
    """One worksheet of features (streamed, write-only) and one of metadata."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet(layer[:31])
    sheet.append(_table_columns(shown, crs))
    for gdf in _frames(engine, stmt, shown, crs):
        for row in _table(gdf, crs).itertuples(index=False, name=None):
            sheet.append([_xlsx_value(v) for v in row])
    meta = wb.create_sheet("metadata")
    meta.append(["key", "value"])
    for key, value in metadata.items():
        meta.append(
            [
                key,
                _xlsx_value(
                    value
                    if isinstance(value, (str, int, float)) or value is None
                    else json.dumps(value, ensure_ascii=False, default=str)
                ),
            ]
        )
    wb.save(path)
    return path


def _zip(target: Path, files: list[Path], meta_text: str) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.name)
        zf.writestr("metadata.json", meta_text)
    return target


def temp_dir() -> tempfile.TemporaryDirectory:
    """A scratch folder for one export's files (removed after the response is sent)."""
    return scratch.temp_dir("geo_service_export_")
