"""Benchmark: attribution + summaries of a national detection archive (GeoParquet) single-process vs Dask 1 and 2 workers.

    .venv/bin/python bench/batch_national.py                     # 20,000,000 detections (the issue's figure)
    .venv/bin/python bench/batch_national.py --rows 2000000      # a quick run

A throwaway PostGIS (as the tests use) with the bundled Phrae layers. The boundaries and the detections come
from ``national_source``, the national simulation (``geo_service.simulation``, SIMULATED data): boundaries
``simulate_boundaries`` with national counts (77 provinces, 928 districts, 7,400 subdistricts, ~300 simulated
protected areas) held in memory as the job's Gazetteer, and ``simulate_detections`` 2012-2025 (fire events
with regional seasons, MODIS + VIIRS) written as flat GeoParquet parts, one year per part.
Each configuration runs the whole job (read, attribute, summarise, COPY the summaries with each part's done
mark) as a fresh job; rows/s, ratios against the
single-process path and per-worker throughput are printed. The COPY write rate of PostgreSQL is measured on
the same machine (attributed detections into ``hotspots`` in the ingest's binary format, rolled back), the
limit a write-back of the detections would meet.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

YEARS = (2012, 2025)  # 14 fire years, as the stand-in generator this replaces


def _areas(frame):
    """A simulated level (GeoDataFrame with code, parent_code) as the Gazetteer's in-memory Areas."""
    import shapely

    from geo_service.places import Areas

    geoms = np.array(frame.geometry.to_numpy(), dtype=object)
    shapely.prepare(geoms)
    return Areas(
        codes=frame["code"].to_numpy(dtype=object),
        geoms=geoms,
        bounds=shapely.bounds(geoms).reshape(-1, 4),
        parents=frame["parent_code"].to_numpy(dtype=object),
    )


def simulated_gazetteer(session, seed: int):
    """The national simulated boundaries (77 provinces, 928 districts, 7,400 subdistricts and the simulated
    protected areas) as the Gazetteer a batch job attributes with, held in memory as ``places.Gazetteer.load``
    holds loaded layers; the deployment's area of interest is the database's (the bundled Phrae one)."""
    import shapely

    from geo_service.places import Gazetteer, ProtectedAreas
    from geo_service.simulation.boundaries import simulate_boundaries

    sim = simulate_boundaries(seed)
    pa = sim.protected_areas
    assert pa is not None
    geoms = np.array(pa.geometry.to_numpy(), dtype=object)
    shapely.prepare(geoms)
    protected = ProtectedAreas(
        codes=pa["code"].to_numpy(dtype=object),
        kinds=pa["kind"].to_numpy(dtype=object),
        geoms=geoms,
        bounds=shapely.bounds(geoms).reshape(-1, 4),
        valid_from=np.array(pa["valid_from"].tolist(), dtype="datetime64[D]"),
        valid_to=np.full(len(pa), np.datetime64("9999-12-31", "D")),
    )
    aoi = Gazetteer.load(session).aoi
    gaz = Gazetteer(
        _areas(sim.provinces), _areas(sim.districts), _areas(sim.subdistricts), protected, (sim.version,), aoi
    )
    return gaz, sim.version


def national_source(session, folder: Path, rows: int, parts: int, seed: int = 18):
    """THE data source of this benchmark (``geo_service.simulation``): writes the simulated national archive of
    ``rows`` detections (``simulate_detections``, 2012-2025) as GeoParquet parts of about ``rows / parts`` rows
    each (one year per part, flat in ``folder`` as ``batch.partitions.list_parts`` reads them) and returns
    (Gazetteer of the simulated national boundaries, boundaries label)."""
    import pyarrow.parquet as pq
    from _simulated import firms_frame

    from geo_service.simulation.detections import geoparquet_table, simulate_detections

    per = -(-rows // parts)
    for year, part, frame in simulate_detections(rows, YEARS, seed=seed, chunk_rows=per):
        pq.write_table(
            geoparquet_table(firms_frame(frame)), folder / f"part-{year}-{part:03d}.parquet", compression="zstd"
        )
    return simulated_gazetteer(session, seed)


def _copy_rate(sm, folder: Path, gaz, limit: int) -> tuple[int, float]:
    """Attributed detections COPYed into ``hotspots`` (binary, the ingest's format) in a rolled-back transaction."""
    import pandas as pd
    import pyarrow as pa

    from geo_service.batch.partitions import list_parts, read_part
    from geo_service.db.engine import driver_connection, transaction
    from geo_service.hotspots.rows import HOTSPOT_SCHEMA, BinaryCopy, copy_sql, hotspot_batch

    frames = []
    for p in list_parts(folder):
        frames.append(read_part(p.path).frame)
        if sum(len(f) for f in frames) >= limit:
            break
    frame = pd.concat(frames, ignore_index=True).iloc[:limit]
    # the simulation repeats a few keys (static sources, fronts within ~10 m): the ingest keeps the first
    frame = frame.drop_duplicates(["acq_epoch", "lat_e4", "lon_e4", "satellite"], ignore_index=True)
    attr = gaz.attribute(
        frame["longitude"].to_numpy(), frame["latitude"].to_numpy(), frame["acq_date_local"].to_numpy()
    )
    batch = hotspot_batch(frame, attr, 0)
    enc = BinaryCopy(HOTSPOT_SCHEMA)
    data = enc.header() + enc.rows(batch) + enc.finish()
    with transaction(sm, dry_run=True) as s:
        conn = driver_connection(s)
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy(copy_sql("hotspots", HOTSPOT_SCHEMA)) as copy:
            for i in range(0, len(data), 8 << 20):
                copy.write(data[i : i + (8 << 20)])
        elapsed = time.perf_counter() - t
    del pa
    return len(frame), elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000, help="detections in the archive (default 20M)")
    ap.add_argument("--parts", type=int, help="GeoParquet files (default: one per 500,000 rows)")
    ap.add_argument("--copy-rows", type=int, default=1_000_000, help="rows of the COPY rate measurement")
    ap.add_argument("--skip-single", action="store_true", help="skip the single-process baseline")
    args = ap.parse_args()

    from _harness import database

    from geo_service.batch import store
    from geo_service.batch.cluster import dask_client
    from geo_service.batch.jobs import run_attribution
    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.settings import BatchSettings

    parts = args.parts or max(2, args.rows // 500_000)
    work = Path(tempfile.mkdtemp(prefix="batch_bench_"))
    atexit.register(shutil.rmtree, work, True)  # the generated archive goes with the run
    os.chmod(work, 0o755)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with database(work / "db") as (_url, engine, _cluster):
        sm = make_sessionmaker(engine)
        t = time.perf_counter()
        base = work / "archive"
        base.mkdir()
        with sm() as s:
            gaz, label = national_source(s, base, args.rows, parts)
        files = list(base.glob("*.parquet"))
        parts = len(files)  # one year per part: a few more than asked
        size = sum(p.stat().st_size for p in files)
        print(
            f"generated {args.rows:,} detections in {parts} GeoParquet files ({size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - t:.1f} s; boundaries: {len(gaz.provinces.codes)} provinces, "
            f"{len(gaz.districts.codes)} districts, {len(gaz.subdistricts.codes)} subdistricts"
        )
        unit = partial(transaction, sm)
        results = {}
        configs = ([] if args.skip_single else [("single process", None)]) + [
            ("dask 1 worker", 1),
            ("dask 2 workers", 2),
        ]
        for name, workers in configs:
            folder = base
            tag = f"{label}/{name}"  # another job on the same files for each configuration
            t = time.perf_counter()
            if workers is None:
                job = run_attribution(unit, folder, gazetteer=gaz, boundaries=tag)
            else:
                with dask_client(BatchSettings(), workers=workers, processes=True) as client:  # as the CLI's
                    started = time.perf_counter()
                    job = run_attribution(unit, folder, client=client, gazetteer=gaz, boundaries=tag)
                    print(f"  ({name}: cluster start {started - t:.1f} s, not counted)")
                    t = started
            elapsed = time.perf_counter() - t
            assert job.status == "done" and len(job.done) == parts, job
            results[name] = elapsed
            rate = args.rows / elapsed
            with sm() as s:
                from sqlalchemy import text

                (info,) = store.list_jobs(s, job.id)
                written = s.execute(text("SELECT count(*) FROM batch_summaries WHERE job_id = :j"), {"j": job.id})
                summary_rows = written.scalar()
            print(
                f"{name:>15}: {elapsed:7.1f} s = {rate:>10,.0f} rows/s"
                + (f" = {rate / workers:,.0f} rows/s per worker" if workers else "")
                + f"; tasks {info['seconds']:.1f} s wall, {info['cpu_seconds']:.1f} s CPU "
                + f"({args.rows / info['cpu_seconds']:,.0f} rows per CPU second); {summary_rows:,} summary rows COPYed"
            )
        ref = results.get("single process")
        if ref:
            for name, elapsed in results.items():
                print(f"  ratio {name} vs single process: {ref / elapsed:.2f}x")
        if "dask 1 worker" in results and "dask 2 workers" in results:
            print(f"  ratio 2 workers vs 1 worker: {results['dask 1 worker'] / results['dask 2 workers']:.2f}x")
        n, elapsed = _copy_rate(sm, base, gaz, args.copy_rows)
        print(
            f"PostgreSQL COPY of attributed detections into hotspots (binary, indexes on, fsync off): "
            f"{n:,} rows in {elapsed:.1f} s = {n / elapsed:,.0f} rows/s"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
