"""Query latency on the partitioned detections vs the same rows in an unpartitioned table, in the same run.

The national simulation (``geo_service.simulation``, SIMULATED data, seeded: fire events with regional seasons,
MODIS + VIIRS, 2012-2026), attributed with the simulated national boundaries (77 / 928 / 7,400, loaded as
layers through the real loader), is COPYed into ``hotspots`` (partitioned by local year, migration
0020) and copied into an unpartitioned table with the same columns and indexes, ``flat.hotspots``. The service's
own code runs against each: with ``search_path = flat, public`` the unqualified ``hotspots`` of the store's SQL
is the unpartitioned copy, everything else (events, places) the same. Measured, p50 and p95 over --repeat runs,
alternating the two tables:

* summary   -- ``hotspots.summaries.summarise``: one fire season (Feb-Apr) by district and month (the summary
               route's query, pruned by the acq_utc range derived from the local dates);
* export    -- the export/OGC collection query of one month (``datetime`` filter), every feature streamed by
               COPY as the export route does;
* ogc_items -- an OGC API items page: numberMatched count and 100 features of one month;
* geojson   -- ``hotspots.queries.hotspots_geojson``: the /hotspots page of one week (limit 1000).

It also prints which partitions each plan reads (EXPLAIN), the evidence of pruning.

Run: .venv/bin/python bench/partitions.py [--rows N | --quick] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from datetime import date

from _harness import database
from _simulated import columns, copy_detections, load_layers
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection, make_sessionmaker
from geo_service.exports.collections import COLLECTIONS
from geo_service.exports.query import ItemQuery, build_select, compile_for_psycopg
from geo_service.hotspots.queries import HotspotFilter, hotspots_geojson
from geo_service.hotspots.summaries import SummaryQuery, date_range, summarise

YEARS = (2012, 2026)


def generate(session: Session, n: int, seed: int = 0, chunk_rows: int = 1_000_000) -> str:
    """``n`` detections of the national simulation (``simulate_detections``, seeded: the same rows every run),
    normalised, attributed with the simulated national boundaries loaded as layers (``_simulated.load_layers``,
    through the real loader) and COPYed in the ingest's binary format into an unlogged staging table, then written
    into ``hotspots`` in time order with ids in that order, as the ingest of a growing archive leaves them.
    Returns the layers' version."""
    from geo_service.places import Gazetteer
    from geo_service.simulation.detections import simulate_detections

    t = time.perf_counter()
    version = load_layers(session, seed)
    session.execute(text("INSERT INTO hotspot_batches (id, source) VALUES (1, 'bench') ON CONFLICT DO NOTHING"))
    session.commit()
    gaz = Gazetteer.load(session)
    print(f"  simulated boundaries {version} loaded as layers in {time.perf_counter() - t:.0f} s", flush=True)
    session.execute(text("CREATE UNLOGGED TABLE hotspot_gen (LIKE hotspots INCLUDING DEFAULTS)"))
    done = 0
    for chunk in simulate_detections(n, YEARS, seed=seed, chunk_rows=chunk_rows):
        copy_detections(session, "hotspot_gen", [chunk], gaz, 1)
        session.commit()
        done += len(chunk[2])
        print(f"  generated {done:,} / {n:,} ({chunk[0]})", flush=True)
    cols = columns()
    session.execute(
        text(f"INSERT INTO hotspots ({cols}) SELECT {cols} FROM hotspot_gen ORDER BY acq_utc ON CONFLICT DO NOTHING")
    )
    session.execute(text("DROP TABLE hotspot_gen"))
    session.commit()
    return version


FLAT = """
CREATE SCHEMA flat;
CREATE TABLE flat.hotspots (LIKE public.hotspots INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO flat.hotspots SELECT * FROM public.hotspots ORDER BY acq_utc;
ALTER TABLE flat.hotspots ADD PRIMARY KEY (id);
ALTER TABLE flat.hotspots ADD UNIQUE (acq_utc, lat_e4, lon_e4, satellite);
CREATE INDEX ON flat.hotspots USING brin (acq_date_local);
ANALYZE flat.hotspots;
ANALYZE public.hotspots;
"""


@contextmanager
def on(sm, table: str):
    """A session whose unqualified ``hotspots`` is the partitioned table or the unpartitioned copy."""
    with sm() as session:
        if table == "flat":
            session.execute(text("SET search_path = flat, public"))
        try:
            yield session
        finally:
            session.rollback()
            session.execute(text("RESET search_path"))


def _summary(session):
    q = SummaryQuery(
        group_by=["district"], period="month", date_from=date(2024, 2, 1), date_to=date(2024, 4, 30), area="all"
    )
    summarise(session, q)


def _month_query(limit: int | None):
    return build_select(
        COLLECTIONS["hotspots"], None, ItemQuery(datetime="2024-03-01T00:00:00Z/2024-03-31T23:59:59Z", limit=limit)
    )


def _export(session):
    sql, params = compile_for_psycopg(_month_query(None).features)
    size = 0
    with driver_connection(session).cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params) as cp:
        for block in cp:
            size += len(block)


def _ogc_items(session):
    built = _month_query(100)
    session.execute(built.count).scalar()
    session.execute(built.features).all()


def _geojson(session):
    hotspots_geojson(
        session, HotspotFilter(date_from=date(2024, 3, 10), date_to=date(2024, 3, 16), limit=1000, area="all")
    )


QUERIES = {"summary": _summary, "export": _export, "ogc_items": _ogc_items, "geojson": _geojson}


def _relations(plan) -> list[str]:
    """The detection tables (partitions after pruning) an EXPLAIN (FORMAT JSON) plan reads."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("Relation Name", "")).startswith("hotspots"):
                found.add(node["Relation Name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(plan) if isinstance(plan, str) else plan)
    return sorted(found)


def explain(sm) -> None:
    """Print which partitions the plans of the measured queries read: the evidence of pruning."""
    params: dict = {}
    where = date_range("h.acq_date_local", date(2024, 2, 1), date(2024, 4, 30), params, utc_column="h.acq_utc")
    with sm() as s:
        total = s.execute(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'hotspots'::regclass")).scalar()
        print(f"EXPLAIN: the detection tables each plan reads ({total} partitions in all)")
        pruned = "SELECT count(*) FROM hotspots h WHERE " + " AND ".join(where)
        plan = s.execute(text("EXPLAIN (FORMAT JSON) " + pruned), params).scalar()
        print("  summary, local dates 2024-02-01..2024-04-30 + derived acq_utc range:", _relations(plan))
        local = "SELECT count(*) FROM hotspots h WHERE h.acq_date_local >= :date_from AND h.acq_date_local <= :date_to"
        plan = s.execute(text("EXPLAIN (FORMAT JSON) " + local), params).scalar()
        print(f"  the same, local date alone (before the change): {len(_relations(plan))} tables")
        sql, p = compile_for_psycopg(_month_query(None).features)
        with driver_connection(s).cursor() as cur:
            cur.execute(f"EXPLAIN (FORMAT JSON) {sql}", p)
            row = cur.fetchone()
        print("  export / OGC items, datetime 2024-03:", _relations(row[0] if row else []))


def measure(sm, repeat: int) -> dict[str, dict[str, list[float]]]:
    """Seconds of each query on each table, alternating, after one warm-up run each."""
    times: dict[str, dict[str, list[float]]] = {q: {"partitioned": [], "flat": []} for q in QUERIES}
    for name, fn in QUERIES.items():
        for table in ("partitioned", "flat"):
            with on(sm, table) as s:
                fn(s)  # warm-up: plans and caches
        for _ in range(repeat):
            for table in ("partitioned", "flat"):
                with on(sm, table) as s:
                    t = time.perf_counter()
                    fn(s)
                    times[name][table].append(time.perf_counter() - t)
    return times


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p * (len(values) - 1)))]


def main() -> None:
    """Parse the options, build both tables, measure, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000_000, help="simulated detections (default: 20,000,000)")
    ap.add_argument("--quick", action="store_true", help="200,000 rows and 5 repeats: a quick check")
    ap.add_argument("--repeat", type=int, default=15, help="measured runs per query and table (default: 15)")
    ap.add_argument("--seed", type=int, default=0, help="simulation seed (default: 0)")
    args = ap.parse_args()
    rows, repeat = (200_000, 5) if args.quick else (args.rows, args.repeat)
    with database() as (_url, engine, _cluster):
        sm = make_sessionmaker(engine)
        t = time.perf_counter()
        with sm() as s:
            generate(s, rows, seed=args.seed)
        gen_s = time.perf_counter() - t
        t = time.perf_counter()
        with engine.begin() as c:
            for stmt in FLAT.strip().split(";\n"):
                c.execute(text(stmt))
        flat_s = time.perf_counter() - t
        with engine.connect() as c:
            n = c.execute(text("SELECT count(*) FROM hotspots")).scalar()
            parts = c.execute(
                text(
                    "SELECT c.relname, c.reltuples::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'hotspots'::regclass ORDER BY 1"
                )
            ).all()
        print(f"{n:,} detections: generated into the partitioned table in {gen_s:.0f} s, copied flat in {flat_s:.0f} s")
        print("rows per partition:", ", ".join(f"{name[10:]}={r:,}" for name, r in parts if r > 0))
        explain(sm)
        times = measure(sm, repeat)
        print(f"\nlatency over {repeat} runs each (ms), partitioned vs unpartitioned, same data, same run:")
        print(f"{'query':<10} {'part p50':>9} {'part p95':>9} {'flat p50':>9} {'flat p95':>9} {'p50 ratio':>10}")
        for name, by in times.items():
            pp50, pp95 = _pct(by["partitioned"], 0.5) * 1e3, _pct(by["partitioned"], 0.95) * 1e3
            fp50, fp95 = _pct(by["flat"], 0.5) * 1e3, _pct(by["flat"], 0.95) * 1e3
            print(f"{name:<10} {pp50:>9.1f} {pp95:>9.1f} {fp50:>9.1f} {fp95:>9.1f} {fp50 / pp50:>9.2f}x")
        print("(ratio = unpartitioned p50 / partitioned p50: above 1, the partitioned table is faster)")


if __name__ == "__main__":
    main()
