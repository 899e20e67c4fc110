"""Benchmark: FIRMS CSV ingest end to end (parse, validate, attribute, COPY, upsert) and a geopandas.sjoin baseline.

    .venv/bin/python bench/firms_ingest.py --rows 1000000          # rows/s and peak memory
    .venv/bin/python bench/firms_ingest.py --rows 5000000 --no-sjoin
    .venv/bin/python bench/firms_ingest.py --rows 1000000 --no-sjoin --no-events --bulk   # bulk path too

A throwaway PostGIS cluster is started (as the tests do), migrated and loaded with the bundled Phrae layers.
The data are generated with a fixed seed: a whole fire season (January-May, peak March-April) of clustered
fires over northern Thailand (Phrae and its neighbours), each fire burning for a few days and seen by
MODIS (Terra/Aqua) and VIIRS (S-NPP, NOAA-20, NOAA-21) passes, NRT format, in date order like FIRMS files.
The same run re-ingests the file (every row an unchanged update: the slower merge path). Peak memory is the ingest
process's maximum resident set (the file is generated in a child process).

The ingest is timed on the row path (``bulk_min_bytes`` out of reach); ``--bulk`` then empties the file's year
(its partition detached and dropped) and ingests the file again through the bulk path (a bare table, keys and
indexes built after the COPY, ``ATTACH PARTITION``), printed against the same bare COPY and the row path.
The bulk path fills and indexes its table on connections of its own: its server CPU is that of the whole cluster
(every backend and server process, ``cluster_cpu``), printed with the bare COPY's measured the same way, and
with the sum of both sides halved (the wall clock of two perfectly busy cores: a bound on a quiet machine).

Baseline in the same run: a bare ``COPY ... FROM STDIN (FORMAT csv)`` of the same file, streamed from this process in
4 MiB blocks into an UNLOGGED table with the file's 14 columns and no index, key or geometry (what PostgreSQL alone
needs to take the file), before and after the ingest (the faster one counts); printed as ingest rate / COPY rate.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SATS = np.array(["N", "1", "2", "T", "A"])
PASSES_UTC = {"N": (610, 1820), "1": (540, 1750), "2": (640, 1850), "T": (330, 1500), "A": (620, 1840)}


def generate(path: Path, rows: int, seed: int = 2567) -> None:
    """Write ``rows`` FIRMS-like detections, one season, in date order as FIRMS delivers them.

    Daily counts follow the season (January-May, peak in late March); each day's detections belong to
    fires that burn for one to four days around 60 % Phrae-centred and 40 % northern-Thailand centres;
    VIIRS rows carry l/n/h confidence and MODIS rows a percentage, like the real files.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    days = np.arange(151)
    weight = np.exp(-0.5 * ((days - 85) / 25.0) ** 2)
    per_day = np.floor(weight / weight.sum() * rows).astype(int)
    per_day[85] += rows - per_day.sum()
    season_start = np.datetime64("2024-01-01")
    n_fires = max(1, rows // 40)  # about 40 detections a fire
    cx = np.where(rng.random(n_fires) < 0.6, rng.normal(100.15, 0.25, n_fires), rng.uniform(98.0, 101.5, n_fires))
    cy = np.where(rng.random(n_fires) < 0.6, rng.normal(18.15, 0.25, n_fires), rng.uniform(16.5, 20.3, n_fires))
    start = np.clip(rng.normal(85, 25, n_fires), 0, 150).astype(int)
    first = True
    with open(path, "wb") as out:
        for day in days:
            n = int(per_day[day])
            if n == 0:
                continue
            burning = np.flatnonzero((start <= day) & (start + 4 > day))
            if len(burning) == 0:
                burning = rng.integers(0, n_fires, 10)
            fire = burning[rng.integers(0, len(burning), n)]
            sat = SATS[rng.integers(0, 5, n)]
            night = rng.random(n) < 0.3
            base = np.array([PASSES_UTC[s][1] if nt else PASSES_UTC[s][0] for s, nt in zip(sat, night)])
            hhmm = base + rng.integers(0, 9, n)
            order = np.argsort(hhmm, kind="stable")
            fire, sat, night, hhmm = fire[order], sat[order], night[order], hhmm[order]
            modis = (sat == "T") | (sat == "A")
            conf = np.where(
                modis, rng.integers(0, 101, n).astype(str), np.array(["l", "n", "h"])[rng.integers(0, 3, n)]
            )
            frame = pd.DataFrame(
                {
                    "latitude": np.round(cy[fire] + rng.normal(0, 0.01, n), 5),
                    "longitude": np.round(cx[fire] + rng.normal(0, 0.01, n), 5),
                    "bright_ti4": np.round(rng.normal(335, 15, n), 2),
                    "scan": np.round(rng.uniform(0.32, 0.8, n), 2),
                    "track": np.round(rng.uniform(0.36, 0.7, n), 2),
                    "acq_date": str(season_start + day),
                    "acq_time": pd.Series(hhmm).astype(str).str.zfill(4).to_numpy(),
                    "satellite": sat,
                    "instrument": np.where(modis, "MODIS", "VIIRS"),
                    "confidence": conf,
                    "version": np.where(modis, "6.1NRT", "2.0NRT"),
                    "bright_ti5": np.round(rng.normal(293, 5, n), 2),
                    "frp": np.round(rng.gamma(1.5, 6.0, n), 2),
                    "daynight": np.where(night, "N", "D"),
                }
            )
            pacsv.write_csv(
                pa.Table.from_pandas(frame, preserve_index=False),
                out,
                write_options=pacsv.WriteOptions(include_header=first, quoting_style="none"),
            )
            first = False


BARE_TABLE = """
CREATE UNLOGGED TABLE IF NOT EXISTS bench_firms_bare (
  latitude float8, longitude float8, bright_ti4 float8, scan float8, track float8, acq_date date,
  acq_time smallint, satellite text, instrument text, confidence text, version text, bright_ti5 float8,
  frp float8, daynight text)"""


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a PostgreSQL backend process (from /proc; same machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_cpu(data_dir: Path) -> float:
    """CPU seconds (user + system) used so far by every process of a local PostgreSQL cluster: its live processes
    (backends, parallel workers, checkpointer, WAL writer...) and, through the postmaster's children times,
    those that have ended. The bulk path works on several connections: its server CPU is the cluster's."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile (counted in the postmaster's children times)
            continue
        pid = int(stat.parent.name)
        if pid == postmaster:
            total += int(fields[13]) + int(fields[14])  # its children that ended (cutime, cstime)
        elif int(fields[1]) == postmaster:
            total += sum(int(f) for f in fields[11:15])
    return total / tick


def bare_copy(engine, csv: Path) -> tuple[float, float]:
    """Seconds to COPY the CSV file as it is into an unlogged, unindexed table of its own columns (committed),
    and the server's CPU seconds for it."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute(BARE_TABLE)
            cur.execute("TRUNCATE bench_firms_bare")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        conn.commit()
        cpu0 = backend_cpu(pid)
        t = time.perf_counter()
        copy = "COPY bench_firms_bare FROM STDIN (FORMAT csv, HEADER true)"
        with conn.cursor() as cur, open(csv, "rb") as f, cur.copy(copy) as cp:
            while block := f.read(4 << 20):
                cp.write(block)
        conn.commit()
        elapsed = time.perf_counter() - t
        cpu = backend_cpu(pid) - cpu0
        with conn.cursor() as cur:
            cur.execute("DROP TABLE bench_firms_bare")
        conn.commit()
        return elapsed, cpu
    finally:
        raw.close()


ROW_PATH = 1 << 62  # bulk_min_bytes that keeps every file on the row path


def bulk_path(
    sm, csv: Path, gaz, bare: float, server_bare: float, row: tuple[float, float, float], cluster=None, cluster_bare=0.0
) -> None:
    """Empty the year the row path filled (its partition detached and dropped), ingest the file again through
    the bulk path, and print it against the bare COPY and the row path of the same run."""
    from sqlalchemy import text

    from geo_service.db.engine import transaction
    from geo_service.hotspots import partitions
    from geo_service.hotspots.ingest import ingest_file
    from geo_service.settings import THAILAND_BBOX

    with transaction(sm) as s:
        years = [p.year for p in partitions.list_partitions(s) if p.year is not None and p.rows]
        for year in years:
            partitions.detach(s, year, drop=True)
    with transaction(sm) as s:
        s.execute(text("CHECKPOINT"))
    t = time.perf_counter()
    with transaction(sm) as s:
        pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
        server0, client0 = backend_cpu(pid), time.process_time()
        all0 = cluster_cpu(cluster.data_dir) if cluster is not None else 0.0
        report = ingest_file(s, csv, gaz, country_bbox=THAILAND_BBOX, bulk_min_bytes=0)
    elapsed = time.perf_counter() - t
    client_cpu, server_cpu = time.process_time() - client0, backend_cpu(pid) - server0
    all_cpu = cluster_cpu(cluster.data_dir) - all0 if cluster is not None else 0.0
    if cluster is not None:  # the bulk path's COPY and builds run on connections of their own
        server_cpu = all_cpu
    assert "attach" in report.timings, "the bulk path was not taken"
    row_elapsed, row_client, row_server = row
    print(
        f"bulk path (year {', '.join(map(str, years))} emptied first): {report.rows_total:,} rows in {elapsed:.2f} s "
        f"= {report.rows_total / elapsed:,.0f} rows/s (new {report.rows_new:,}); ingest / bare COPY = "
        f"{bare / elapsed:.0%} (row path {bare / row_elapsed:.0%}); bulk / row path wall clock "
        f"{elapsed / row_elapsed:.2f}"
    )
    print(f"  phases (s): {report.timings}")
    print(
        f"  CPU seconds: {client_cpu:.2f} in this process + {server_cpu:.2f} in the server (all its connections; row path "
        f"{row_client:.2f} + {row_server:.2f}); bare COPY server CPU / bulk server CPU = "
        f"{server_bare / server_cpu:.0%} (row path {server_bare / row_server:.0%}); bare COPY server CPU / "
        f"max(bulk CPU sides) = {server_bare / max(client_cpu, server_cpu):.0%}; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    if cluster is not None:
        # the bulk table is filled and indexed on connections of its own: the ingest backend's CPU above is
        # the attach and the batch row; the cluster's CPU is the server's whole share
        work = client_cpu + all_cpu
        print(
            f"  CPU seconds, whole cluster (every connection and server process): bulk {all_cpu:.2f}, bare COPY "
            f"{cluster_bare:.2f}; bulk total {work:.2f} (this process + cluster) = {work / 2:.2f} s on 2 cores at "
            f"best; bare COPY / (total / 2) = {bare / (work / 2):.0%} by this run's wall clock, "
            f"{cluster_bare / (work / 2):.0%} by the bare COPY's CPU (its wall clock on a quiet machine): the "
            f"best ratio two perfectly busy cores could give"
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--no-sjoin", action="store_true", help="skip the geopandas baseline")
    ap.add_argument("--keep", type=Path, help="keep the generated CSV here")
    ap.add_argument(
        "--durable",
        action="store_true",
        help="fsync and full-page writes on, as in the service's own database (default: off, as in tests)",
    )
    ap.add_argument("--no-events", action="store_true", help="skip the fire-event clustering and the re-ingest")
    ap.add_argument(
        "--bulk",
        action="store_true",
        help="also time the bulk path (the file's year emptied, then loaded as its own table and attached) "
        "after the row path, both against the same run's bare COPY",
    )
    args = ap.parse_args()

    from _harness import database
    from sqlalchemy import text

    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.hotspots.ingest import ingest_file
    from geo_service.places import Gazetteer
    from geo_service.settings import THAILAND_BBOX

    work = Path(tempfile.mkdtemp(prefix="firms_bench_"))
    os.chmod(work, 0o755)
    csv = args.keep or work / "firms.csv"
    t = time.perf_counter()
    child = mp.get_context("spawn").Process(target=generate, args=(csv, args.rows))
    child.start()
    child.join()
    print(f"generated {args.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")

    print(
        f"PostgreSQL {'durable (fsync on)' if args.durable else 'fsync off'}; machine load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    with database(work, durable=args.durable) as (_url, engine, cluster):
        sm = make_sessionmaker(engine)
        with sm() as s:
            gaz = Gazetteer.load(s)
        all0 = cluster_cpu(cluster.data_dir)
        copy_before, server_before = bare_copy(engine, csv)
        cluster_bare = cluster_cpu(cluster.data_dir) - all0
        rss0 = peak_rss_mb()
        t = time.perf_counter()
        with transaction(sm) as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
            server0, client0 = backend_cpu(pid), time.process_time()
            report = ingest_file(s, csv, gaz, country_bbox=THAILAND_BBOX, bulk_min_bytes=ROW_PATH)
        elapsed = time.perf_counter() - t
        client_cpu, server_cpu = time.process_time() - client0, backend_cpu(pid) - server0
        print(
            f"ingest: {report.rows_total:,} rows in {elapsed:.2f} s = {report.rows_total / elapsed:,.0f} rows/s "
            f"(new {report.rows_new:,}, outside {report.rows_outside:,}); peak RSS {peak_rss_mb():.0f} MB "
            f"(before ingest {rss0:.0f} MB)"
        )
        print(f"  phases (s): {report.timings}")
        copy_after, server_after = bare_copy(engine, csv)
        bare = min(copy_before, copy_after)
        print(
            f"bare COPY of the same file (CSV, unlogged table, no index): {bare:.2f} s = "
            f"{args.rows / bare:,.0f} rows/s (before the ingest {copy_before:.2f} s, after {copy_after:.2f} s); "
            f"ingest / bare COPY = {bare / elapsed:.0%}"
        )
        # CPU seconds do not depend on what else the machine runs: on a quiet 2-core machine the ingest's
        # Python thread(s) and its server backend work at once, so it takes about the larger of the two
        server_bare = min(server_before, server_after)
        print(
            f"CPU seconds: ingest {client_cpu:.2f} in this process + {server_cpu:.2f} in its server backend (the "
            f"stored-key look-ups' second connection not counted); bare COPY {server_bare:.2f} in the server; "
            f"bare COPY server CPU / max(ingest CPU sides) = {server_bare / max(client_cpu, server_cpu):.0%}"
        )
        if args.bulk:
            bulk_path(sm, csv, gaz, bare, server_bare, (elapsed, client_cpu, server_cpu), cluster, cluster_bare)
        if args.no_events:
            engine.dispose()
            return
        from geo_service.hotspots.events import update_events

        t = time.perf_counter()
        with transaction(sm) as s:
            result = update_events(s)
        print(
            f"fire events over the whole season: {len(result['events']):,} events from "
            f"{result['detections']:,} detections in {time.perf_counter() - t:.1f} s"
        )
        t = time.perf_counter()
        with transaction(sm) as s:
            again = ingest_file(s, csv, gaz, country_bbox=THAILAND_BBOX, bulk_min_bytes=ROW_PATH)
        elapsed = time.perf_counter() - t
        print(
            f"re-ingest (all unchanged): {again.rows_total / elapsed:,.0f} rows/s, unchanged {again.rows_unchanged:,}"
        )
        print(f"  phases (s): {again.timings}")
        engine.dispose()

        if not args.no_sjoin:
            import geopandas as gpd
            import pandas as pd

            from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

            frame = pd.read_csv(csv, usecols=["latitude", "longitude"], engine="pyarrow")
            x, y = frame.longitude.to_numpy(), frame.latitude.to_numpy()
            t = time.perf_counter()
            attr = gaz.attribute(x, y)
            g_time = time.perf_counter() - t
            districts = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson")
            tambons = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_tambon_hdx_codab.geojson")
            t = time.perf_counter()
            pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=4326)
            j1 = gpd.sjoin(pts, districts[["amp_code", "geometry"]], predicate="within")
            gpd.sjoin(pts, tambons[["tam_code", "geometry"]], predicate="within")
            s_time = time.perf_counter() - t
            agree = (
                pd.Series(attr.district).loc[j1.index.unique()].values == j1.groupby(level=0).amp_code.min().values
            ).mean()
            print(
                f"attribution of {len(x):,} points (districts + subdistricts + protected areas): "
                f"Gazetteer {g_time:.2f} s; geopandas.sjoin(within) districts + subdistricts only {s_time:.2f} s; "
                f"district agreement {agree:.4%}"
            )


if __name__ == "__main__":
    main()
