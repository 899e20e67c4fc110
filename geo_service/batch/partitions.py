"""A national detection archive as a folder of GeoParquet partitions: list them, read one, write them.

Each file holds FIRMS detections with the columns the ingest knows (``hotspots.firms``: latitude, longitude,
acq_date, acq_time, satellite, confidence, frp, ...; any spelling ``firms.normalise_header`` maps) and a
GeoParquet point geometry. A part is read with pyarrow and normalised by the ingest's own ``firms.normalise``,
so a batch job and an ingest see the same detections (same validity rules, same local dates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from geo_service.errors import InvalidInput
from geo_service.hotspots.firms import FLOAT_COLUMNS, TEXT_COLUMNS, Chunk, normalise, normalise_header


@dataclass(frozen=True)
class Part:
    """One GeoParquet file of the archive: its name (the part's key in the job record), path and size."""

    name: str
    path: str
    size: int


def list_parts(folder: Path | str) -> list[Part]:
    """The ``*.parquet`` files of ``folder`` (not recursive), sorted by name; InvalidInput if there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a folder.", code="not_a_folder")
    files = sorted(p for p in root.glob("*.parquet") if p.is_file())
    if not files:
        raise InvalidInput(f"{root} holds no .parquet files.", code="no_partitions")
    return [Part(p.name, str(p.resolve()), p.stat().st_size) for p in files]


def read_part(path: str) -> Chunk:
    """Read one partition and normalise it as an ingest would (``firms.normalise``): valid rows, problems.

    Longitude and latitude come from the FIRMS columns, or from the GeoParquet geometry when those are absent.
    """
    table = pq.read_table(path)
    names = normalise_header(table.column_names)
    table = table.rename_columns(names)
    if "latitude" not in names or "longitude" not in names:
        geom = next((c for c in ("_extra_geometry", "_extra_geom") if c in names), None)
        if geom is not None:
            points = shapely.from_wkb(table.column(geom).to_numpy(zero_copy_only=False))
            table = table.append_column("longitude", pa.array(shapely.get_x(points)))
            table = table.append_column("latitude", pa.array(shapely.get_y(points)))
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if name in FLOAT_COLUMNS and col.type != pa.float64():
            col = col.cast(pa.float64())
        elif name in TEXT_COLUMNS and col.type != pa.string():
            col = col.cast(pa.string())
        if name in FLOAT_COLUMNS or name in TEXT_COLUMNS:
            columns[name] = col
    return normalise(pa.table(columns), 2)


def write_part(raw: pd.DataFrame, path: Path | str) -> None:
    """Write FIRMS rows (raw columns, e.g. a FIRMS CSV read as text) as one GeoParquet file with point geometry."""
    frame = gpd.GeoDataFrame(
        raw.reset_index(drop=True),
        geometry=gpd.points_from_xy(raw["longitude"].astype(float), raw["latitude"].astype(float)),
        crs=4326,
    )
    frame.to_parquet(path, index=False)
