"""Benchmark: attribution + summaries of a national detection archive (GeoParquet) single-process vs Dask 1 and 2 workers.

    .venv/bin/python bench/batch_national.py                     # 20,000,000 detections (the issue's figure)
    .venv/bin/python bench/batch_national.py --rows 2000000      # a quick run

A throwaway PostGIS (as the tests use) with the bundled Phrae layers. The boundaries and the detections come
from ``national_source`` (one function: the national simulation replaces it at merge): Phrae's real districts
and subdistricts plus a synthetic grid over Thailand's extent with national counts (89 provinces, 938
districts, 7,518 subdistricts), and detections spread over Thailand with a fire season (January-May peak) over
14 years (fires of about 15 detections over a few days and a kilometre), written as GeoParquet partitions.
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

THAILAND = (97.3, 5.5, 105.7, 20.6)
SATS = [("N", "VIIRS"), ("1", "VIIRS"), ("2", "VIIRS"), ("T", "MODIS"), ("A", "MODIS")]


def _grid_gazetteer(phrae, cols: int = 31, rows: int = 30, subs: tuple[int, int] = (2, 4)):
    """Phrae's real areas plus a grid of districts (cols x rows) over Thailand, each cut in subs[0] x subs[1]
    subdistricts, and one province per 12 districts (synthetic codes after Phrae's in code order)."""
    import shapely

    from geo_service.places import Areas, Gazetteer

    minx, miny, maxx, maxy = THAILAND
    dx, dy = (maxx - minx) / cols, (maxy - miny) / rows
    d_codes, d_geoms, d_parents, s_codes, s_geoms, s_parents = [], [], [], [], [], []
    p_boxes: dict[str, list] = {}
    for i in range(cols):
        for j in range(rows):
            code = f"G{i:02d}{j:02d}"
            x0, y0 = minx + i * dx, miny + j * dy
            prov = f"GP{(i // 3):02d}{(j // 4):02d}"
            d_codes.append(code)
            d_geoms.append(shapely.box(x0, y0, x0 + dx, y0 + dy))
            d_parents.append(prov)
            p_boxes.setdefault(prov, []).append(d_geoms[-1])
            for a in range(subs[0]):
                for b in range(subs[1]):
                    sx, sy = dx / subs[0], dy / subs[1]
                    s_codes.append(f"{code}{a}{b}")
                    s_geoms.append(shapely.box(x0 + a * sx, y0 + b * sy, x0 + (a + 1) * sx, y0 + (b + 1) * sy))
                    s_parents.append(code)

    def areas(base, codes, geoms, parents):
        g = np.concatenate([base.geoms, np.array(geoms, dtype=object)])
        shapely.prepare(g)
        return Areas(
            codes=np.concatenate([base.codes, np.array(codes, dtype=object)]),
            geoms=g,
            bounds=shapely.bounds(g).reshape(-1, 4),
            parents=np.concatenate([base.parents, np.array(parents, dtype=object)]),
        )

    provinces = areas(
        phrae.provinces, list(p_boxes), [shapely.union_all(v) for v in p_boxes.values()], [None] * len(p_boxes)
    )
    districts = areas(phrae.districts, d_codes, d_geoms, d_parents)
    subdistricts = areas(phrae.subdistricts, s_codes, s_geoms, s_parents)
    return Gazetteer(provinces, districts, subdistricts, phrae.protected, ("bench-grid",), phrae.aoi)


def _write_parts(folder: Path, rows: int, parts: int, seed: int) -> None:
    import pandas as pd

    from geo_service.batch.partitions import write_part

    rng = np.random.default_rng(seed)
    per = int(np.ceil(rows / parts))
    minx, miny, maxx, maxy = THAILAND
    for k in range(parts):
        n = min(per, rows - k * per)
        if n <= 0:
            break
        # fires (about 15 detections each, over up to 5 days and ~1 km), years 2012-2025, 80 % of them in
        # the January-May season; each file a mix of years (an archive in arbitrary chunks)
        fires = max(1, n // 15)
        year = rng.integers(2012, 2026, fires)
        doy = np.where(rng.random(fires) < 0.8, rng.integers(0, 151, fires), rng.integers(0, 365, fires))
        start = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + doy.astype("timedelta64[D]")
        fx, fy = rng.uniform(minx, maxx, fires), rng.uniform(miny, maxy, fires)
        f = rng.integers(0, fires, n)
        day = start[f] + rng.integers(0, 5, n).astype("timedelta64[D]")
        minute = rng.integers(0, 1440, n)
        sat = rng.integers(0, len(SATS), n)
        raw = pd.DataFrame(
            {
                "latitude": np.round(np.clip(fy[f] + rng.normal(0, 0.005, n), miny, maxy), 5),
                "longitude": np.round(np.clip(fx[f] + rng.normal(0, 0.005, n), minx, maxx), 5),
                "brightness": np.round(rng.uniform(300, 360, n), 2),
                "scan": 0.4,
                "track": 0.4,
                "acq_date": day.astype(str),
                "acq_time": np.char.zfill((minute // 60 * 100 + minute % 60).astype(str), 4),
                "satellite": np.array([s for s, _ in SATS])[sat],
                "instrument": np.array([i for _, i in SATS])[sat],
                "confidence": rng.choice(np.array(["l", "n", "h"]), n),
                "version": "2.0NRT",
                "bright_2": 290.0,
                "frp": np.round(rng.gamma(1.5, 8.0, n), 2),
                "daynight": rng.choice(np.array(["D", "N"]), n),
            }
        )
        write_part(raw, folder / f"part-{k:04d}.parquet")


def national_source(session, folder: Path, rows: int, parts: int, seed: int = 18):
    """THE data source of this benchmark: writes ``rows`` detections in ``parts`` GeoParquet files to
    ``folder`` and returns (Gazetteer, boundaries label). Switch this body to ``geo_service.simulation``."""
    from geo_service.places import Gazetteer

    _write_parts(folder, rows, parts, seed)
    return _grid_gazetteer(Gazetteer.load(session)), "bench-grid-v1"


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
        size = sum(p.stat().st_size for p in base.glob("*.parquet"))
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
