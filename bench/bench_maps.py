"""Size (and optionally browser load time) of the overview map for a season of synthetic incidents.

    .venv/bin/python bench/bench_maps.py                     # 1k, 10k, 100k incidents: page size, build time
    .venv/bin/python bench/bench_maps.py --sizes 100000 --browser   # + load in headless Chromium (file://)
    .venv/bin/python bench/bench_maps.py --hotspots --sizes 100000 --browser   # a season of hotspots instead

A throwaway PostGIS with the bundled layers; incidents are inserted with SQL at random points in the
province's districts over a fire season (1 Jan - 31 May 2024). The map is built by the same code as
GET /maps/overview (no cases) and written with its assets beside it, as the CLI does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench._harness import database
from geo_service.maps import assets, overview
from geo_service.maps.period import Period

SEASON = Period(date(2024, 1, 1), date(2024, 5, 31))


def insert(engine, n: int) -> None:
    """Top the incidents table up to n rows (random points inside the districts, random times)."""
    with engine.begin() as c:
        have = c.execute(text("SELECT count(*) FROM incidents")).scalar()
        if have >= n:
            return
        c.execute(
            text("""
            WITH d AS (SELECT code, geom FROM admin_areas WHERE level = 'district' AND is_current),
            pts AS (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), :n, 42))).geom AS geom FROM d)
            INSERT INTO incidents (kind, observed_at, description, reporter, geom, location_text, location_format,
                                   location_datum, district_code, created_by)
            SELECT (ARRAY['encroachment','land_clearing','illegal_logging','burning','wildfire','other'])[1 + (row_number() OVER () % 6)]::incident_kind,
                   timestamptz '2024-01-01 00:00+07' + random() * interval '151 days',
                   'synthetic', 'bench', p.geom, 'bench', 'decimal', 'WGS84',
                   (SELECT code FROM d WHERE ST_Intersects(d.geom, p.geom) LIMIT 1), 'bench'
            FROM pts p"""),
            {"n": n - have},
        )


def insert_hotspots(engine, n: int) -> None:
    """Top the hotspots table up to n detections over the season (random points in the districts)."""
    with engine.begin() as c:
        have = c.execute(text("SELECT count(*) FROM hotspots")).scalar()
        if have >= n:
            return
        batch = c.execute(
            text("INSERT INTO hotspot_batches (source, rows_total) VALUES ('bench', :n) RETURNING id"), {"n": n}
        ).scalar()
        c.execute(
            text("""
            WITH d AS (SELECT code, geom FROM admin_areas WHERE level = 'district' AND is_current),
            pts AS (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), :n, 7))).geom AS geom FROM d),
            t AS (SELECT geom, timestamptz '2024-01-01 00:00+07' + random() * interval '151 days' AS acq,
                         row_number() OVER () AS i FROM pts)
            INSERT INTO hotspots (satellite, instrument, processing, acq_utc, acq_date_local, lat_e4, lon_e4, latitude,
                                  longitude, frp, confidence, confidence_raw, district_code, batch_id, geom)
            SELECT 'N', 'VIIRS', 'NRT', acq, (acq AT TIME ZONE 'Asia/Bangkok')::date,
                   round(ST_Y(geom) * 1e4)::int, round(ST_X(geom) * 1e4)::int + i::int, ST_Y(geom), ST_X(geom),
                   random() * 60, 1 + (i % 3)::int, 'n',
                   (SELECT code FROM d WHERE ST_Intersects(d.geom, t.geom) LIMIT 1), :batch, geom
            FROM t"""),
            {"n": n - have, "batch": batch},
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    ap.add_argument("--hotspots", action="store_true", help="a season of hotspots instead of incidents")
    args = ap.parse_args()
    what = "hotspots" if args.hotspots else "incidents"
    print(f"{what:>10} {'build s':>8} {'page MB':>8} {'assets MB':>9} {'browser s':>9}")
    with database() as (_url, engine, _cluster), tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            (insert_hotspots if args.hotspots else insert)(engine, n)
            t0 = time.perf_counter()
            with Session(engine) as session:
                m = overview.overview(session, SEASON, principal=None, cases=None, photo_base=None)
                html = overview.render(m)
            build = time.perf_counter() - t0
            out = Path(tmp) / f"overview_{n}.html"
            folder = out.with_name(out.stem + "_files")
            out.write_text(assets.copy_assets(html, folder, folder.name), encoding="utf-8")
            asset_mb = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
            load = (
                browser_load(out, "canvas.leaflet-heatmap-layer" if args.hotspots else ".marker-cluster")
                if args.browser
                else float("nan")
            )
            print(f"{n:>10,} {build:>8.2f} {len(html.encode()) / 1e6:>8.2f} {asset_mb:>9.2f} {load:>9.2f}", flush=True)


def browser_load(path: Path, drawn: str = ".marker-cluster") -> float:
    """Seconds from navigation until ``drawn`` is on the page (headless Chromium, file://, no network)."""
    import playwright.sync_api as pw

    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load", timeout=120_000)
        page.locator(drawn).first.wait_for(state="attached", timeout=120_000)
        took = time.perf_counter() - t0
        b.close()
    if errors:
        print("  page errors:", errors[:3])
    return took


if __name__ == "__main__":
    main()
