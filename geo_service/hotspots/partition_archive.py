"""Archive years of detections: GeoParquet files of whole year partitions, detach, and attach back.

``detach_before`` writes each year before a date to a GeoParquet file (GeoParquet 1.0: WKB geometry and the
``geo`` metadata; readable by geopandas, dask-geopandas, GDAL, DuckDB), checks the file holds every row, then
detaches the partition (``hotspots.partitions``) and drops the table, or keeps it as a plain table when no
archive is written. A year holding a detection linked to a case, directly or through its fire event, is
refused unless forced: case evidence must stay in the service. Every detach and attach is audited.

Written with pyarrow rather than geopandas: the rows go from a server-side cursor to the file in batches, so a
year of 3 million detections never sits in memory whole (geopandas writes a whole GeoDataFrame at once).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.cases import store as cases_store
from geo_service.hashing import sha256_file
from geo_service.hotspots import partitions
from geo_service.hotspots.partitions import PartitionError

# PostgreSQL type (format_type) -> Arrow type of the archive column
ARROW_TYPES = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "character varying": pa.string(),
    "text": pa.string(),
    "text[]": pa.list_(pa.string()),
    "geometry": pa.binary(),
}
META_KEY = b"geo_service"


@dataclass
class YearArchive:
    """What happened to one year's partition."""

    name: str
    year: int
    rows: int
    archive: str | None = None
    archive_sha256: str | None = None
    dropped: bool = False
    forced: bool = False
    linked: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """For the audit entry and the command's output."""
        return asdict(self)


def _schema(columns: list[tuple[str, str]]) -> pa.Schema:
    fields = []
    for name, pg_type in columns:
        if pg_type not in ARROW_TYPES:
            raise PartitionError(f"Column {name} has type {pg_type}, which the archive does not know.")
        fields.append(pa.field(name, ARROW_TYPES[pg_type]))
    return pa.schema(fields)


def _geo_metadata(bbox: list[float] | None) -> dict:
    from pyproj import CRS

    column: dict = {"encoding": "WKB", "geometry_types": ["Point"], "crs": CRS.from_epsg(4326).to_json_dict()}
    if bbox:
        column["bbox"] = bbox
    return {"version": "1.0.0", "primary_column": "geom", "columns": {"geom": column}}


def write_year(session: Session, year: int, path: Path) -> tuple[int, str]:
    """Write a year's partition to a GeoParquet file (via a temporary name, renamed when complete); returns the
    number of rows and the file's SHA-256."""
    columns = partitions.archive_columns(session)
    schema = _schema(columns)
    lo, hi = partitions.year_bounds(year)
    meta = {"table": partitions.partition_name(year), "year": year, "lower": lo.isoformat(), "upper": hi.isoformat()}
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    bbox = [180.0, 90.0, -180.0, -90.0]
    lon_i, lat_i = (next(i for i, (c, _) in enumerate(columns) if c == n) for n in ("longitude", "latitude"))
    # the geo metadata (with the bbox) is only known at the end: written into the footer's schema metadata
    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
    try:
        for batch in partitions.partition_rows(session, year):
            cols = list(zip(*batch, strict=True))
            table = pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema=schema
            )
            writer.write_table(table)
            rows += len(batch)
            lons, lats = cols[lon_i], cols[lat_i]
            bbox = [min(bbox[0], *lons), min(bbox[1], *lats), max(bbox[2], *lons), max(bbox[3], *lats)]
        writer.add_key_value_metadata(
            {
                "geo": json.dumps(_geo_metadata(bbox if rows else None)),
                META_KEY.decode(): json.dumps({**meta, "rows": rows}),
            }
        )
    finally:
        writer.close()
    os.replace(tmp, path)
    return rows, sha256_file(path)


def read_meta(path: Path) -> dict:
    """The service's metadata of an archive file (table, year, bounds, rows); refused when it has none."""
    try:
        meta = pq.read_metadata(path).metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise PartitionError(f"{path.name} is not a Parquet file: {exc}") from None
    if META_KEY not in meta:
        raise PartitionError(f"{path.name} is not a detections archive written by geo-service.")
    return json.loads(meta[META_KEY])


def _archive_path(target: Path, year: int, several: bool) -> Path:
    if target.is_dir() or str(target).endswith(os.sep):
        return target / f"{partitions.partition_name(year)}.parquet"
    if several:
        return target.with_name(f"{target.stem}_y{year}{target.suffix or '.parquet'}")
    return target


def detach_before(
    session: Session,
    before: date,
    *,
    actor: str,
    archive: Path | None = None,
    keep_table: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> list[YearArchive]:
    """Detach every year partition that ends on or before local midnight of ``before``, in the caller's
    transaction.

    With ``archive`` (a file, or a folder for one file per year) each year is written to GeoParquet first and
    the table dropped (unless ``keep_table``); without it the table is always kept, detached, as a plain table
    of the same name (nothing is deleted without an archive). A year with detections a case links, directly or
    through their fire event, is refused unless ``force``. ``dry_run`` only reports what would be detached.
    """
    years = partitions.years_before(session, before)
    if not years:
        return []
    linked_hotspots = sorted(cases_store.linked_ids(session, "hotspot"))
    linked_events = sorted(cases_store.linked_ids(session, "fire_event"))
    sizes = {p.year: p.rows for p in partitions.list_partitions(session) if p.year is not None}
    out = []
    for year in years:
        item = YearArchive(partitions.partition_name(year), year, sizes.get(year, 0), forced=force)
        item.linked = partitions.ids_linked(session, year, linked_hotspots, linked_events)
        if (item.linked["hotspots"] or item.linked["via_events"]) and not force:
            raise PartitionError(
                f"{item.name} holds detections linked to a case ({item.linked['hotspots']} directly, "
                f"{item.linked['via_events']} through their fire event): nothing was detached. Unlink them, "
                "or detach with --force (the case links then point at archived detections)."
            )
        out.append(item)
    if dry_run:
        return out
    for item in out:
        partitions.lock_for_archive(session, item.year, lock_timeout_s=5.0)
        if archive is not None:
            path = _archive_path(archive, item.year, len(out) > 1)
            written, digest = write_year(session, item.year, path)
            if written != item.rows:
                raise PartitionError(f"The archive of {item.name} holds {written} rows of {item.rows}: not detached.")
            item.archive, item.archive_sha256 = str(path), digest
        item.dropped = archive is not None and not keep_table
        partitions.detach(session, item.year, drop=item.dropped)
        audit.record(
            session,
            actor,
            "hotspot_partition.detach",
            "hotspot_partition",
            item.name,
            before={"year": item.year, "rows": item.rows},
            after=item.as_dict(),
        )
    return out


def _archive_batches(path: Path, columns: list[str]) -> Iterator[list[tuple]]:
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=50_000, columns=columns):
        yield list(zip(*(batch.column(c).to_pylist() for c in columns), strict=True))


def attach_from_archive(session: Session, path: Path, *, actor: str) -> YearArchive:
    """Attach a year back from its GeoParquet archive (the partition is rebuilt with the same ids), audited."""
    meta = read_meta(path)
    year = int(meta["year"])
    current = [c for c, _ in partitions.archive_columns(session)]
    names = pq.read_schema(path).names
    unknown = sorted(set(names) - set(current))
    if unknown:
        raise PartitionError(f"The archive has columns the detections table no longer has: {', '.join(unknown)}.")
    columns = [c for c in current if c in names]
    rows = partitions.attach_rows(session, year, columns, _archive_batches(path, columns))
    if rows != int(meta.get("rows", rows)):
        raise PartitionError(f"The archive says {meta['rows']} rows but holds {rows}: not attached.")
    item = YearArchive(partitions.partition_name(year), year, rows, archive=str(path), archive_sha256=sha256_file(path))
    audit.record(session, actor, "hotspot_partition.attach", "hotspot_partition", item.name, after=item.as_dict())
    return item
