"""Forest-clearing patches where people work: the overview map with a season of patches, and the field officer's
"open tasks near me" query, each with a baseline measured in the same run.

    .venv/bin/python bench/bench_patch_links.py                   # 2,000 and 20,000 patches
    .venv/bin/python bench/bench_patch_links.py --sizes 50000     # one size

A throwaway PostGIS with the bundled layers; patches (squares of 50-300 m, random places in Phrae's districts,
random dates over the 2024 season, each with an open field task) are inserted with SQL.
- map: build time and page size of the overview (geo_service.maps.overview, as GET /maps/overview) with the
  patches, against the same map with none (baseline: the same period and layers, no patch layer);
- near: mean time of ``forest_loss.tasks.open_tasks_near`` (10 km, 20 positions), against a naive baseline that
  reads every open task's outline and measures distances with Shapely in Python.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench._harness import database
from geo_service.auth import Principal, Role
from geo_service.forest_loss import tasks
from geo_service.maps import overview
from geo_service.maps.period import Period

SEASON = Period(date(2024, 1, 1), date(2024, 5, 31))
OFFICER = Principal("bench", frozenset({Role.field_officer}))


def insert(engine, n: int) -> None:
    """Top the patches up to n (each with an open task)."""
    with engine.begin() as c:
        have = c.execute(text("SELECT count(*) FROM clearing_patches")).scalar()
        if have >= n:
            return
        ingest = c.execute(
            text("""
            INSERT INTO forest_alert_ingests (source, encoding, file_name, file_sha256, params_key, crs)
            VALUES ('gfw_integrated', 'gfw_integrated', 'bench', repeat('0', 64), md5(random()::text) || :n, 'EPSG:4326')
            RETURNING id"""),
            {"n": str(n)},
        ).scalar()
        c.execute(
            text("""
            WITH d AS (SELECT code, geom FROM admin_areas WHERE level = 'district' AND is_current),
            pts AS (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), :n, 11))).geom AS geom FROM d),
            sq AS (SELECT ST_Multi(ST_Transform(ST_Expand(ST_Transform(geom, 32647), 25 + random() * 125), 4326)) AS g,
                          date '2024-01-01' + (random() * 140)::int AS first FROM pts)
            INSERT INTO clearing_patches (sources, first_date, last_date, pixels, area_m2, confidence_max,
                                          province_code, district_code, first_ingest_id, last_ingest_id, geom)
            SELECT ARRAY['gfw_integrated'], first, first + (random() * 10)::int, 10, ST_Area(ST_Transform(g, 32647)),
                   2 + (random() * 2)::int, '54',
                   (SELECT code FROM d WHERE ST_Intersects(d.geom, ST_PointOnSurface(g)) LIMIT 1), :ing, :ing, g
            FROM sq"""),
            {"n": n - have, "ing": ingest},
        )
        c.execute(
            text("""
            INSERT INTO field_tasks (patch_id, created_by)
            SELECT p.id, 'bench' FROM clearing_patches p
            WHERE NOT EXISTS (SELECT 1 FROM field_tasks t WHERE t.patch_id = p.id)""")
        )
    with engine.connect() as c:  # as autovacuum would after a load: the planner sees the new rows
        c.execute(text("ANALYZE clearing_patches; ANALYZE field_tasks"))
        c.commit()


def positions(engine, k: int) -> list[tuple[float, float]]:
    """k random positions inside the province (fixed seed)."""
    with engine.connect() as c:
        rows = c.execute(
            text("""
            SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), :k, 3))).geom g
            FROM admin_areas WHERE level = 'district' AND is_current) q"""),
            {"k": k},
        ).all()
    return [(r[0], r[1]) for r in rows]


def naive_near(engine, lon: float, lat: float, radius_m: float) -> int:
    """Every open task's outline read into Python, distances by Shapely on a local equirectangular grid."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT t.id, ST_AsBinary(p.geom) FROM field_tasks t JOIN clearing_patches p ON p.id = t.patch_id "
                "WHERE t.status = 'open'"
            )
        ).all()
    geoms = shapely.from_wkb([r[1] for r in rows])
    k = 111_320 * math.cos(math.radians(lat))  # metres per degree of longitude here
    scaled = shapely.transform(geoms, lambda xy: (xy - [lon, lat]) * [k, 110_574])
    return int((shapely.distance(scaled, shapely.Point(0, 0)) <= radius_m).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20_000], help="patch counts (default 2000 20000)")
    ap.add_argument("--positions", type=int, default=20, help="officer positions for the near query (default 20)")
    args = ap.parse_args()
    random.seed(1)
    print(
        f"{'patches':>8} {'map s':>7} {'base s':>7} {'ratio':>6} {'page MB':>8} {'base MB':>8} "
        f"{'near ms':>8} {'naive ms':>9} {'speed-up':>8} {'found':>6} {'agree':>6}"
    )
    with database() as (_url, engine, _cluster):
        with Session(engine) as session:
            t0 = time.perf_counter()
            base_html = overview.render(overview.overview(session, SEASON, principal=None, cases=None, photo_base=None))
            base_s = time.perf_counter() - t0
        where = positions(engine, args.positions)
        for n in sorted(args.sizes):
            insert(engine, n)
            with Session(engine) as session:
                t0 = time.perf_counter()
                html = overview.render(overview.overview(session, SEASON, principal=None, cases=None, photo_base=None))
                map_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                found = [
                    len(tasks.open_tasks_near(session, lon, lat, 10_000, OFFICER, limit=200)) for lon, lat in where
                ]
                near_ms = (time.perf_counter() - t0) * 1000 / len(where)
            t0 = time.perf_counter()
            naive = [naive_near(engine, lon, lat, 10_000) for lon, lat in where[:5]]
            naive_ms = (time.perf_counter() - t0) * 1000 / 5
            # the same tasks found both ways (the service's list stops at 200; the naive grid is approximate)
            agree = all(abs(f - min(x, 200)) <= max(1, x // 100) for f, x in zip(found[:5], naive, strict=True))
            print(
                f"{n:>8,} {map_s:>7.2f} {base_s:>7.2f} {map_s / base_s:>6.1f} {len(html.encode()) / 1e6:>8.2f} "
                f"{len(base_html.encode()) / 1e6:>8.2f} {near_ms:>8.1f} {naive_ms:>9.1f} {naive_ms / near_ms:>8.1f} "
                f"{sum(found) / len(found):>6.0f} {agree!s:>6}",
                flush=True,
            )


if __name__ == "__main__":
    main()
