"""Query latency on the partitioned detections vs the same rows in an unpartitioned table, in the same run.

A seeded synthetic national archive (Thailand's box 97.3-105.7 E, 5.6-20.5 N, 2012-2026, most detections in the
February-April fire season, a northern bias) is written into ``hotspots`` (partitioned by local year, migration
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

The generator is a stand-in until the shared national simulation (``geo_service.simulation``) exists.
Run: .venv/bin/python bench/partitions.py [--rows N | --quick] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from datetime import date

from _harness import database
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.db.engine import driver_connection, make_sessionmaker
from geo_service.exports.collections import COLLECTIONS
from geo_service.exports.query import ItemQuery, build_select, compile_for_psycopg
from geo_service.hotspots.queries import HotspotFilter, hotspots_geojson
from geo_service.hotspots.summaries import SummaryQuery, date_range, summarise

BOX = (97.3, 5.6, 105.7, 20.5)
YEARS = (2012, 2026)
SEASON_SHARE = 0.7  # share of detections in February-April

# One statement, seeded (setseed): day of year (fire season Feb-Apr = days 32-120 for SEASON_SHARE of rows),
# a satellite overpass (about 13:30 or 01:30 local), a position (half in the north, 17-20.5 N), FRP.
GENERATE = """
INSERT INTO {table} (satellite, instrument, processing, version, acq_utc, acq_date_local, lat_e4, lon_e4, latitude,
  longitude, brightness, scan, track, frp, daynight, confidence, confidence_raw, province_code, district_code,
  in_aoi, batch_id, geom)
SELECT sat, 'VIIRS', 'SP', '2', t, (t AT TIME ZONE 'Asia/Bangkok')::date, round(lat * 1e4)::int,
       round(lon * 1e4)::int, round(lat::numeric, 4)::float8, round(lon::numeric, 4)::float8, 300 + 60 * r1, 0.4,
       0.4, round((1 + 80 * r1 * r1)::numeric, 2)::float8, CASE WHEN night THEN 'N' ELSE 'D' END, 1 + (g % 3),
       (ARRAY['l', 'n', 'h'])[1 + g % 3], '54', '54' || lpad((1 + g % 8)::text, 2, '0'), g % 4 = 0, 1,
       ST_SetSRID(ST_MakePoint(round(lon::numeric, 4)::float8, round(lat::numeric, 4)::float8), 4326)
FROM (
  SELECT g, sat, night, r1, lat, lon,
         make_timestamptz(y, 1, 1, CASE WHEN night THEN 18 ELSE 6 END, (g % 60)::int, 0, 'UTC')
           + make_interval(days => doy) AS t
  FROM (
    SELECT g, (ARRAY['N', 'N20', 'N21'])[1 + (g % 3)] AS sat, random() < 0.3 AS night, random() AS r1,
           :y0 + floor(random() * (:y1 - :y0 + 1))::int AS y,
           CASE WHEN random() < :season THEN 31 + floor(random() * 89)::int ELSE floor(random() * 365)::int END AS doy,
           CASE WHEN random() < 0.5 THEN 17 + random() * 3.5 ELSE :s + random() * (:n - :s) END AS lat,
           :w + random() * (:e - :w) AS lon
    FROM generate_series(:first, :last) g) a) b
"""


COLUMNS = (
    "satellite, instrument, processing, version, acq_utc, acq_date_local, lat_e4, lon_e4, latitude, longitude, "
    "brightness, scan, track, frp, daynight, confidence, confidence_raw, province_code, district_code, in_aoi, "
    "batch_id, geom"
)


def generate(session: Session, n: int, seed: float = 0.42, block: int = 1_000_000) -> None:
    """``n`` synthetic detections (seeded: the same rows every run), generated in blocks into an unlogged staging
    table, then written into ``hotspots`` in time order with ids in that order, as the ingest of a growing
    archive leaves them."""
    session.execute(text("SELECT setseed(:s)"), {"s": seed})
    session.execute(text("CREATE UNLOGGED TABLE hotspot_gen (LIKE hotspots INCLUDING DEFAULTS)"))
    w, s, e, north = BOX
    for first in range(1, n + 1, block):
        last = min(n, first + block - 1)
        session.execute(
            text(GENERATE.format(table="hotspot_gen")),
            {
                "first": first,
                "last": last,
                "y0": YEARS[0],
                "y1": YEARS[1],
                "season": SEASON_SHARE,
                "w": w,
                "s": s,
                "e": e,
                "n": north,
            },
        )
        session.commit()
        print(f"  generated {last:,} / {n:,}", flush=True)
    session.execute(
        text(
            f"INSERT INTO hotspots ({COLUMNS}) SELECT {COLUMNS} FROM hotspot_gen ORDER BY acq_utc ON CONFLICT DO NOTHING"
        )
    )
    session.execute(text("DROP TABLE hotspot_gen"))
    session.commit()


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
    ap.add_argument("--rows", type=int, default=20_000_000, help="synthetic detections (default: 20,000,000)")
    ap.add_argument("--quick", action="store_true", help="200,000 rows and 5 repeats: a quick check")
    ap.add_argument("--repeat", type=int, default=15, help="measured runs per query and table (default: 15)")
    ap.add_argument("--seed", type=float, default=0.42, help="generator seed, -1..1 (default: 0.42)")
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
