"""Benchmark: what the FIRMS ingest costs PostgreSQL, index by index (server CPU of the binary COPY into hotspots).

    .venv/bin/python bench/ingest_server_cost.py --rows 1000000

The ingest's critical path is its server backend (README, *Satellite hotspots / Speed*): Python prepares the
next block on one core while PostgreSQL stores the previous one on the other. This script isolates the server's
share. A generated season (``firms_ingest.generate``) is read, checked and attributed exactly as the ingest does,
encoded once in PostgreSQL's binary COPY format, then COPYed into ``hotspots`` under each configuration below in
its own transaction, which is rolled back (the DDL too) and followed by a ``TRUNCATE``, so every configuration
starts from the same empty table. Nothing here changes the schema the service runs with.

Configurations (``--only`` takes a comma-separated list of these names):

* ``deployed``: every key and index the service has (primary key, unique detection key, BRIN on the local date,
  GiST on ``geom``);
* ``no-gist``: without the GiST index (what the ingest cost before migration 0019);
* ``gist-after``: without the GiST index during the COPY, then the index built over the loaded rows in the same
  transaction (PostgreSQL 15 + PostGIS build a GiST index on points by sorting): what a bulk load could do;
* ``no-gist-no-unique``: also without the unique detection key;
* ``no-index``: no key or index at all (the table's width, the partition routing and the geometry input alone).

Baseline in the same run: the server CPU of a bare CSV ``COPY`` of the same file into an unlogged, unindexed
table of its 14 columns (``firms_ingest.bare_copy``). CPU seconds are read from /proc for the backend, so they
do not depend much on what else the machine runs; wall-clock seconds are printed too but do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CONFIGS = {
    # name: statements run before the COPY (in the transaction that is rolled back)
    "deployed": [],
    "no-gist": ["DROP INDEX idx_hotspots_geom"],
    "gist-after": ["DROP INDEX idx_hotspots_geom"],
    "no-gist-no-unique": ["DROP INDEX idx_hotspots_geom", "ALTER TABLE hotspots DROP CONSTRAINT uq_hotspots_detection"],
    "no-index": [
        "DROP INDEX idx_hotspots_geom",
        "ALTER TABLE hotspots DROP CONSTRAINT uq_hotspots_detection",
        "ALTER TABLE hotspots DROP CONSTRAINT pk_hotspots",
        "DROP INDEX ix_hotspots_acq_date_local",
    ],
}
KEY = ["acq_utc", "lat_e4", "lon_e4", "satellite"]


def encoded_rows(engine, csv: Path):
    """The file's rows as the ingest streams them: binary COPY blocks (a repeated key kept once)."""
    import pyarrow as pa
    from sqlalchemy import text

    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.hotspots.firms import read_firms_csv
    from geo_service.hotspots.rows import HOTSPOT_SCHEMA, BinaryCopy, hotspot_batch
    from geo_service.places import Gazetteer
    from geo_service.settings import THAILAND_BBOX

    sm = make_sessionmaker(engine)
    with sm() as s:
        gaz = Gazetteer.load(s)
    with transaction(sm) as s:
        batch_id = s.execute(
            text("INSERT INTO hotspot_batches (source) VALUES ('bench:ingest_server_cost') RETURNING id")
        ).scalar_one()
    batches = []
    for chunk in read_firms_csv(csv, country_bbox=THAILAND_BBOX):
        frame = chunk.frame.sort_values("acq_epoch", kind="stable", ignore_index=True)  # as the ingest does
        attr = gaz.attribute(
            frame["longitude"].to_numpy(), frame["latitude"].to_numpy(), frame["acq_date_local"].to_numpy()
        )
        batches.append(hotspot_batch(frame, attr, batch_id))
    table = pa.Table.from_batches(batches)
    repeated = table.select(KEY).to_pandas().duplicated().to_numpy()  # the ingest merges these instead
    table = table.filter(pa.array(~repeated))
    encoder = BinaryCopy(HOTSPOT_SCHEMA)
    blocks = [encoder.header(), *(encoder.rows(b) for b in table.to_batches(max_chunksize=50_000)), encoder.finish()]
    return table.num_rows, blocks


def run_config(engine, name: str, blocks: list[bytes]) -> tuple[float, float, float]:
    """(server CPU s, wall s) of the COPY under one configuration, and the CPU s of the GiST build after it."""
    from firms_ingest import backend_cpu

    from geo_service.hotspots.rows import HOTSPOT_SCHEMA, copy_sql

    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            for statement in CONFIGS[name]:
                cur.execute(statement)
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            cpu0, t0 = backend_cpu(pid), time.perf_counter()
            with cur.copy(copy_sql("hotspots", HOTSPOT_SCHEMA)) as copy:
                for block in blocks:
                    copy.write(block)
            cpu, wall = backend_cpu(pid) - cpu0, time.perf_counter() - t0
            build = 0.0
            if name == "gist-after":
                cpu1 = backend_cpu(pid)
                cur.execute("CREATE INDEX idx_hotspots_geom ON hotspots USING gist (geom)")
                build = backend_cpu(pid) - cpu1
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("TRUNCATE hotspots")
        conn.commit()
        return cpu, wall, build
    finally:
        raw.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated FIRMS file")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each configuration, alternated (median kept)")
    ap.add_argument("--only", help=f"comma-separated configurations (default: all of {', '.join(CONFIGS)})")
    ap.add_argument("--csv", type=Path, help="use this FIRMS CSV (e.g. one kept by firms_ingest.py --keep)")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(CONFIGS)
    unknown = set(names) - set(CONFIGS)
    if unknown:
        ap.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")

    import multiprocessing as mp

    from _harness import database
    from firms_ingest import bare_copy, generate

    work = Path(tempfile.mkdtemp(prefix="ingest_cost_"))
    os.chmod(work, 0o755)
    csv = args.csv
    if csv is None:
        csv = work / "firms.csv"
        child = mp.get_context("spawn").Process(target=generate, args=(csv, args.rows))
        child.start()
        child.join()
    print(f"machine load average {os.getloadavg()[0]:.2f}; PostgreSQL fsync off (as in tests)")
    with database(work) as (_url, engine, _cluster):
        rows, blocks = encoded_rows(engine, csv)
        _, bare_cpu = bare_copy(engine, csv)
        results: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
        for _ in range(args.rounds):
            for name in names:
                results[name].append(run_config(engine, name, blocks))
        _, bare_cpu2 = bare_copy(engine, csv)
        bare_cpu = min(bare_cpu, bare_cpu2)
        print(f"{rows:,} rows; bare CSV COPY into an unlogged unindexed table: server CPU {bare_cpu:.2f} s")
        print(f"{'configuration':20s} {'server CPU s':>12s} {'wall s':>8s} {'bare / this':>12s}")
        for name in names:
            cpu = statistics.median(r[0] for r in results[name])
            wall = statistics.median(r[1] for r in results[name])
            build = statistics.median(r[2] for r in results[name])
            total = cpu + build
            extra = f"  (COPY {cpu:.2f} + GiST build {build:.2f})" if name == "gist-after" else ""
            print(f"{name:20s} {total:12.2f} {wall:8.2f} {bare_cpu / total:12.0%}{extra}")
        engine.dispose()


if __name__ == "__main__":
    main()
