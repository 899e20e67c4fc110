"""Benchmark: what read routing costs and how it falls back, on a real primary and streaming replica.

    .venv/bin/python bench/bench_read_routing.py                    # 20,000 detections, 200 reads a cell
    .venv/bin/python bench/bench_read_routing.py --rows 50000 --reads 500

It starts a throwaway primary (LocalPostgres with replication on, fsync off) and a standby made from it with
``pg_basebackup -R``, migrates, loads the bundled layers and ingests ``--rows`` synthetic VIIRS detections, then
runs the app in this process (Starlette's TestClient, no network) and measures, for two read-only routes
(a page of GeoJSON detections, and the district x month summary):

* ``no replica``          every read on the primary: the baseline
* ``replica, look 1 s``   the default: one look at the replica's position per second per process
* ``replica, look always`` a look (a query on each server) before every read: the cost of the look itself

each with the median and p95 time per request, the ratio to the baseline, and how many reads the replica served.
Then: the cost of marking a write (``pg_current_wal_insert_lsn()`` on the primary), and the fallback when the
replica stops: the time of the first read after it (the look fails, the read goes to the primary) and of the
reads during the retry wait.

Both servers run on this machine (2 cores here): the replica takes no load off anything, so this measures the
routing's overhead, not the capacity a replica adds. It prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "bench-admin-token-" + "x" * 24
HEADER = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
    "bright_ti5,frp,daynight\n"
)
ROUTES = {
    "hotspots page": ("/api/v1/hotspots", {"limit": 100}),
    "summary": ("/api/v1/hotspots/summary", {"group_by": "district", "period": "month"}),
}


def firms_file(path: Path, rows: int, seed: int = 18) -> Path:
    """``rows`` VIIRS detections over Phrae in the 2024 fire season (unique keys)."""
    rng = random.Random(seed)
    with path.open("w") as f:
        f.write(HEADER)
        for i in range(rows):
            day = date(2024, 1, 1) + timedelta(days=i % 120)
            lat, lon = 17.8 + rng.random() * 0.9, 99.9 + rng.random() * 0.6
            f.write(
                f"{lat:.5f},{lon:.5f},340.1,0.39,0.36,{day.isoformat()},{i % 1440 // 60:02d}{i % 60:02d},"
                f"N,VIIRS,n,2.0NRT,295.3,{rng.random() * 20:.2f},D\n"
            )
    return path


def timed(client, path: str, params: dict, n: int) -> tuple[list[float], int]:
    """Times (ms) of ``n`` GET requests and how many the replica served."""
    times, on_replica = [], 0
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path, params=params)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text[:300]
        on_replica += r.headers.get("X-Read-From") == "replica"
    return times, on_replica


def p95(values: list[float]) -> float:
    """The 95th percentile."""
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic detections to ingest (20,000)")
    parser.add_argument("--reads", type=int, default=200, help="requests per route and configuration (200)")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from geo_service.db import migrate
    from geo_service.db.engine import make_engine, make_sessionmaker, transaction
    from geo_service.db.local_pg import LocalPostgres, free_port
    from geo_service.hotspots.service import ingest_path
    from geo_service.layers.manifest import load_bundled
    from geo_service.main import create_app
    from geo_service.settings import Settings
    from geo_service.wiring import wire

    wire()
    root = Path(tempfile.mkdtemp(prefix="geo_service_bench_replica_"))
    os.chmod(root, 0o755)
    primary = LocalPostgres(root / "primary", port=free_port(), durable=False, replication=True)
    standby = None
    try:
        primary.start()
        primary.ensure_database("bench")
        url = primary.url("bench")
        migrate.upgrade(url)
        engine = make_engine(url, pool_size=2)
        with transaction(make_sessionmaker(engine)) as session:
            load_bundled(session)
        with transaction(make_sessionmaker(engine)) as session:
            ingest_path(session, firms_file(root / "v.csv", args.rows))
        engine.dispose()
        started = time.perf_counter()
        standby = primary.make_standby(root / "standby", free_port())
        standby.start()
        print(f"standby made with pg_basebackup -R and started in {time.perf_counter() - started:.1f} s")
        time.sleep(1)

        def client(**extra) -> TestClient:
            settings = Settings(
                database_url=url.render_as_string(hide_password=False),
                environment="test",
                admin_token=ADMIN_TOKEN,
                data_dir=root / "app",
                **extra,
            )
            return TestClient(create_app(settings), raise_server_exceptions=False)

        replica = {"replica_url": standby.url("bench").render_as_string(hide_password=False)}
        configs = {
            "no replica": {},
            "replica, look 1 s": {**replica, "replica_check_s": 1.0},
            "replica, look always": {**replica, "replica_check_s": 0.0},
        }
        print(f"\n{args.rows:,} detections, {args.reads} sequential reads per cell (ms per request)\n")
        print(f"{'route':<15}{'configuration':<24}{'median':>8}{'p95':>8}{'x base':>8}{'on replica':>12}")
        for name, (path, params) in ROUTES.items():
            base = None
            for label, extra in configs.items():
                with client(**extra) as c:
                    timed(c, path, params, 10)  # warm-up: pools, plans, the Gazetteer
                    times, on_replica = timed(c, path, params, args.reads)
                median = statistics.median(times)
                base = base or median
                print(
                    f"{name:<15}{label:<24}{median:8.1f}{p95(times):8.1f}{median / base:8.2f}"
                    f"{on_replica:>7}/{args.reads}"
                )

        with client(**replica) as c:
            router = c.app.state.read_router
            n = 500
            t = time.perf_counter()
            for _ in range(n):
                router.primary_lsn()
            print(
                f"\nmarking a write (pg_current_wal_insert_lsn on the primary): {(time.perf_counter() - t) / n * 1000:.2f} ms"
            )
            path, params = ROUTES["hotspots page"]
            timed(c, path, params, 5)
            standby.stop()
            t = time.perf_counter()
            r = c.get(path, params=params)
            first = (time.perf_counter() - t) * 1000
            rest, on_replica = timed(c, path, params, 50)
            print(
                f"replica stopped: first read {first:.1f} ms from the {r.headers['X-Read-From']} ({r.status_code}); "
                f"the next 50 (retry wait {router.retry_s:g} s): median {statistics.median(rest):.1f} ms, "
                f"{on_replica} on the replica"
            )
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
