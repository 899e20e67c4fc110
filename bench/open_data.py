"""The transparency page's cost against the committee brief's own count of the same incidents.

    .venv/bin/python bench/open_data.py                  # 10k and 100k synthetic incidents
    .venv/bin/python bench/open_data.py --sizes 300000 --repeat 5

A throwaway PostGIS with the bundled layers; incidents are inserted with SQL at random points in Phrae's districts
over two years. For each size it times, best of ``--repeat``: the brief's count of the same incidents by kind and
district (``incidents.store.counts_by_kind_and_district``, the baseline: one scan, one grouping), the open table
of incidents by district and month with suppression (``opendata.tables.incidents_table``), the whole page's
figures (``opendata.service.page``: every table) and the DCAT catalogue (``opendata.service.catalog``), and prints
each against the baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench._harness import database
from geo_service.incidents import store as incidents
from geo_service.opendata import service, tables
from geo_service.settings import OpenDataSettings


def insert(engine, n: int) -> None:
    """Top the incidents table up to n rows (random points in Phrae's districts, random times over 2023-2024)."""
    with engine.begin() as c:
        have = c.execute(text("SELECT count(*) FROM incidents")).scalar()
        if have >= n:
            return
        c.execute(
            text("""
            WITH d AS (SELECT code, parent_code, geom FROM admin_areas WHERE level = 'district' AND is_current),
            pts AS (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), :n, 42))).geom AS geom FROM d)
            INSERT INTO incidents (kind, observed_at, description, reporter, geom, location_text, location_format,
                                   location_datum, district_code, province_code, created_by)
            SELECT 'encroachment', timestamptz '2023-01-01 00:00+07' + random() * interval '730 days',
                   'synthetic', 'bench', p.geom, 'bench', 'decimal', 'WGS84', dd.code, dd.parent_code, 'bench'
            FROM pts p LEFT JOIN LATERAL (SELECT code, parent_code FROM d WHERE ST_Intersects(d.geom, p.geom)
                                          LIMIT 1) dd ON true"""),
            {"n": n - have},
        )
        c.execute(text("ANALYZE incidents"))


def best(fn, repeat: int) -> float:
    """The best wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="incidents in the table")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the best is kept)")
    args = ap.parse_args()
    settings = OpenDataSettings()
    print(f"{'incidents':>10} {'brief s':>8} {'table s':>8} {'x':>5} {'page s':>8} {'x':>5} {'catalog s':>9} {'x':>5}")
    with database() as (_url, engine, _cluster):
        for n in sorted(args.sizes):
            insert(engine, n)
            with Session(engine) as s:

                def brief() -> None:
                    incidents.counts_by_kind_and_district(s, date(2022, 10, 1), date(2025, 9, 30))

                def table() -> None:
                    tables.incidents_table(s, settings)

                def page() -> None:
                    service.page(s, settings)

                def catalog() -> None:
                    service.catalog(s, settings, "http://bench")

                base = best(brief, args.repeat)
                t, p, c = (best(f, args.repeat) for f in (table, page, catalog))
                s.rollback()
            print(
                f"{n:>10,} {base:>8.3f} {t:>8.3f} {t / base:>5.1f} {p:>8.3f} {p / base:>5.1f} {c:>9.3f} {c / base:>5.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
