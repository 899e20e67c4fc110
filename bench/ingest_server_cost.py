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

``--builds``: the bulk path's server side instead (``partitions.BulkYear``), step by step: the binary
``COPY ... (FREEZE)`` (or without FREEZE) into a new bare table, then the parent's keys and indexes built over the
committed rows on one connection or on two at once (as the bulk path shares them), each build's CPU seconds and
WAL bytes; ``--wal-minimal`` then restarts the cluster with ``wal_level = minimal`` and measures it again (the
service keeps ``replica`` for its standby: this only prices the WAL).

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


def bulk_builds(engine, cluster, blocks: list[bytes], rounds: int, label: str) -> None:
    """Print the bulk path's server steps: COPY into a new bare table (FREEZE or not), then its keys and indexes
    built on one connection or two at once (medians of ``rounds``; CPU of the whole cluster and per connection)."""
    import statistics
    import threading

    from firms_ingest import backend_cpu, cluster_cpu
    from sqlalchemy import text

    from geo_service.db.engine import make_sessionmaker
    from geo_service.hotspots import partitions
    from geo_service.hotspots.rows import HOTSPOT_SCHEMA

    with make_sessionmaker(engine)() as s:
        builds, _ = partitions.bulk_index_statements(s, "{t}", "{t}")
        wal_level = s.execute(text("SHOW wal_level")).scalar()
    n = 0

    def wal(cur, since) -> float:
        return float(cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (since,)).fetchone()[0])

    def one(freeze: bool, connections: int) -> dict:
        nonlocal n
        n += 1
        table = f"bench_bulk_{n}"
        raw = engine.raw_connection()
        conn = raw.driver_connection
        cur = conn.cursor()
        lsn0 = cur.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        conn.commit()
        cpu0 = cluster_cpu(cluster.data_dir)
        cur.execute(f"CREATE TABLE {table} (LIKE hotspots INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
        options = "FORMAT binary, FREEZE" if freeze else "FORMAT binary"
        with cur.copy(f"COPY {table} ({', '.join(HOTSPOT_SCHEMA.names)}) FROM STDIN ({options})") as copy:
            for block in blocks:
                copy.write(block)
        conn.commit()
        cpu1 = cluster_cpu(cluster.data_dir)
        wal_copy = wal(cur, lsn0)
        conn.commit()
        per: list[float] = []
        steps: dict[str, float] = {}

        def run(statements: list[str]) -> None:
            side = engine.raw_connection()
            c = side.driver_connection
            c.autocommit = True
            pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            c.execute("SET maintenance_work_mem = '256MB'")
            c.execute("SET max_parallel_maintenance_workers = 0")
            start = backend_cpu(pid)
            for statement in statements:
                before = backend_cpu(pid)
                c.execute(statement.format(t=table))
                steps[statement.split(" USING ", 1)[1]] = backend_cpu(pid) - before  # e.g. "gist (geom)"
            per.append(backend_cpu(pid) - start)
            c.autocommit = False
            side.close()

        threads = [threading.Thread(target=run, args=(lst,)) for lst in partitions.share_builds(builds, connections)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        out = {
            "copy_cpu": cpu1 - cpu0,
            "copy_wal_mb": wal_copy / 1e6,
            "builds_cpu": cluster_cpu(cluster.data_dir) - cpu1,
            "builds_wal_mb": (wal(cur, lsn0) - wal_copy) / 1e6,
            "builds_wall": wall,
            "per_connection": sorted(per),
            "steps": steps,
        }
        cur.execute(f"DROP TABLE {table}")
        conn.commit()
        cur.close()
        raw.close()
        return out

    results: dict[tuple[bool, int], list[dict]] = {}
    for _ in range(rounds):
        for freeze in (True, False):
            for connections in (2, 1):
                results.setdefault((freeze, connections), []).append(one(freeze, connections))
    print(f"{label} (wal_level {wal_level}), medians of {rounds} rounds; CPU s of the whole cluster:")
    for (freeze, connections), runs in results.items():
        med = {
            k: statistics.median(r[k] for r in runs)
            for k in ("copy_cpu", "copy_wal_mb", "builds_cpu", "builds_wal_mb", "builds_wall")
        }
        per = [statistics.median(r["per_connection"][i] for r in runs) for i in range(len(runs[0]["per_connection"]))]
        print(
            f"  COPY{' FREEZE' if freeze else '       '} CPU {med['copy_cpu']:.2f} (WAL {med['copy_wal_mb']:.0f} MB); "
            f"builds on {connections} connection(s): CPU {med['builds_cpu']:.2f} (WAL {med['builds_wal_mb']:.0f} MB), "
            f"per connection {', '.join(f'{c:.2f}' for c in per)}, wall {med['builds_wall']:.2f} s"
        )
    steps = results[(True, 1)]
    for name in steps[0]["steps"]:
        print(f"  build {name[:60]:60s} CPU {statistics.median(r['steps'][name] for r in steps):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated FIRMS file")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each configuration, alternated (median kept)")
    ap.add_argument("--only", help=f"comma-separated configurations (default: all of {', '.join(CONFIGS)})")
    ap.add_argument("--csv", type=Path, help="use this FIRMS CSV (e.g. one kept by firms_ingest.py --keep)")
    ap.add_argument("--builds", action="store_true", help="the bulk path's COPY and index builds instead (see above)")
    ap.add_argument("--wal-minimal", action="store_true", help="with --builds: again with wal_level = minimal")
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
    with database(work) as (_url, engine, cluster):
        rows, blocks = encoded_rows(engine, csv)
        if args.builds:
            from sqlalchemy import text

            _, bare_cpu = bare_copy(engine, csv)
            print(f"{rows:,} rows; bare CSV COPY into an unlogged unindexed table: server CPU {bare_cpu:.2f} s")
            bulk_builds(engine, cluster, blocks, args.rounds, "bulk path")
            if args.wal_minimal:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("ALTER SYSTEM SET wal_level = 'minimal'"))
                    c.execute(text("ALTER SYSTEM SET max_wal_senders = 0"))
                engine.dispose()
                cluster.stop()
                cluster.start()
                bulk_builds(engine, cluster, blocks, args.rounds, "bulk path")
            engine.dispose()
            return
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
