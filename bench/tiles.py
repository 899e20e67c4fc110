"""Vector tile latency at national density: p50/p95 of hotspot tiles at zooms 6-12 from the real server, against
the GeoJSON items route (OGC API - Features) for the same bounding boxes as the baseline in the same run.

Detections of the national simulation (``geo_service.simulation``, SIMULATED data; --rows, default 3,000,000;
seeded): fire events with regional seasons (the north peaking in March), MODIS + VIIRS, over the --years years
up to 2025, attributed with the simulated national boundaries (77 / 928 / 7,400) loaded as layers through the
real loader, normalised by the ingest's ``firms.normalise`` and COPYed in its binary format. The tiles
sampled are those under randomly chosen detections (what a map shows), the same addresses for every pass.
Two request kinds: the whole archive (a GIS client: no time filter) and one fire-season month (the committee
map: ``datetime=``). The spatial index (migration 0019) is measured by dropping it for a last, smaller pass.

Run: .venv/bin/python bench/tiles.py [--rows N] [--samples K] [--zooms 6-12]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import httpx2 as httpx
from _harness import database, server
from _simulated import columns, copy_detections, load_layers
from sqlalchemy import text

from geo_service.db.engine import make_sessionmaker
from geo_service.exports import tiles as T
from geo_service.places import Gazetteer
from geo_service.simulation.detections import simulate_detections


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def tile_bbox(z: int, row: int, col: int) -> tuple[float, float, float, float]:
    """The tile's bounds in WGS 84 (west, south, east, north)."""
    import math

    n = 2**z

    def lat(r: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * r / n))))

    return col / n * 360 - 180, lat(row + 1), (col + 1) / n * 360 - 180, lat(row)


def measure(http: httpx.Client, base: str, addresses: dict[int, list], datetime_: str | None, items: bool) -> dict:
    """Per zoom: tile latency, features and bytes; and the items route for the same boxes if ``items``."""
    out = {}
    extra = {"datetime": datetime_} if datetime_ else {}
    for z, tiles in addresses.items():
        tile_s, feats, sizes, cut, item_s, item_n = [], [], [], 0, [], []
        for row, col in tiles:
            t = time.perf_counter()
            r = http.get(f"{base}/ogc/collections/hotspots/tiles/WebMercatorQuad/{z}/{row}/{col}", params=extra)
            tile_s.append(time.perf_counter() - t)
            assert r.status_code in (200, 204), r.text[:300]
            feats.append(int(r.headers.get("x-tile-features", 0)))
            sizes.append(len(r.content))
            cut += "x-tile-truncated" in r.headers
            if items:
                w, s, e, n = tile_bbox(z, row, col)
                t = time.perf_counter()
                r = http.get(
                    f"{base}/ogc/collections/hotspots/items",
                    params={"bbox": f"{w:.6f},{s:.6f},{e:.6f},{n:.6f}", "limit": 10_000, **extra},
                )
                item_s.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:300]
                item_n.append(r.json()["numberReturned"])
        out[z] = {
            "p50": pct(tile_s, 50),
            "p95": pct(tile_s, 95),
            "features": statistics.mean(feats),
            "kb": statistics.mean(sizes) / 1024,
            "cut": cut,
            "n": len(tiles),
        }
        if items:
            out[z] |= {"items_p50": pct(item_s, 50), "items_p95": pct(item_s, 95), "items_n": statistics.mean(item_n)}
    return out


def report(title: str, rows: dict, items: bool) -> None:
    """Print one pass as a table."""
    print(f"\n{title}")
    head = f"{'z':>3} {'tiles':>5} {'p50 ms':>8} {'p95 ms':>8} {'feat/tile':>10} {'KB':>7} {'cut':>4}"
    if items:
        head += f" | {'items p50':>9} {'items p95':>9} {'feat':>7} {'p50 ratio':>9} {'p95 ratio':>9}"
    print(head)
    for z, m in rows.items():
        line = (
            f"{z:>3} {m['n']:>5} {m['p50'] * 1e3:>8.1f} {m['p95'] * 1e3:>8.1f} {m['features']:>10,.0f} "
            f"{m['kb']:>7.1f} {m['cut']:>4}"
        )
        if items:
            line += (
                f" | {m['items_p50'] * 1e3:>9.1f} {m['items_p95'] * 1e3:>9.1f} {m['items_n']:>7,.0f}"
                f" {m['items_p50'] / m['p50']:>8.1f}x {m['items_p95'] / m['p95']:>8.1f}x"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000, help="simulated detections (default 3,000,000)")
    parser.add_argument("--samples", type=int, default=30, help="tiles per zoom level (default 30)")
    parser.add_argument("--zooms", default="6-12", help="zoom levels, e.g. 6-12 (default)")
    parser.add_argument(
        "--years", type=int, default=12, help="years the detections spread over, up to 2025 (default 12)"
    )
    parser.add_argument("--seed", type=int, default=18, help="simulation seed (default 18)")
    parser.add_argument("--no-index-pass", action="store_true", help="skip the pass without the spatial index")
    args = parser.parse_args()
    lo_z, hi_z = (int(v) for v in args.zooms.split("-"))
    first_year = 2026 - args.years
    month = f"{first_year + args.years - 2}-03-01T00:00:00Z/{first_year + args.years - 2}-03-31T23:59:59Z"
    with database() as (url, engine, _cluster):
        t = time.perf_counter()
        with make_sessionmaker(engine)() as session:
            load_layers(session, args.seed)
            session.execute(text("INSERT INTO hotspot_batches (id, source) VALUES (1, 'bench')"))
            session.commit()
            gaz = Gazetteer.load(session)
            print(f"simulated boundaries loaded as layers in {time.perf_counter() - t:.0f} s", flush=True)
            t = time.perf_counter()
            session.execute(text("DROP INDEX idx_hotspots_geom"))  # built once after the load (faster)
            session.execute(text("CREATE UNLOGGED TABLE hotspot_gen (LIKE hotspots INCLUDING DEFAULTS)"))
            years = (first_year, first_year + args.years - 1)
            chunks = simulate_detections(args.rows, years, seed=args.seed, chunk_rows=500_000)
            copy_detections(session, "hotspot_gen", chunks, gaz, 1)
            cols = columns()
            session.execute(
                text(f"INSERT INTO hotspots ({cols}) SELECT {cols} FROM hotspot_gen ON CONFLICT DO NOTHING")
            )
            session.execute(text("DROP TABLE hotspot_gen"))
            session.commit()
        with engine.begin() as conn:
            conn.execute(text("CREATE INDEX idx_hotspots_geom ON hotspots USING gist (geom)"))
            conn.execute(text("ANALYZE hotspots"))
            count = conn.execute(text("SELECT count(*) FROM hotspots")).scalar_one()
            under = conn.execute(
                text("SELECT longitude, latitude FROM hotspots TABLESAMPLE SYSTEM (1) LIMIT :n"),
                {"n": args.samples * 4},
            ).all()
        print(f"simulated {count:,} detections over {args.years} years in {time.perf_counter() - t:.0f} s")
        rng = random.Random(args.seed)
        addresses: dict[int, list] = {}
        for z in range(lo_z, hi_z + 1):
            seen = {T.lonlat_to_tile(lon, lat, z)[:2] for lon, lat in rng.sample(under, len(under))}
            addresses[z] = sorted(seen)[: args.samples] if len(seen) > args.samples else sorted(seen)
        with server(url) as (base, _proc), httpx.Client(timeout=300) as http:
            http.get(f"{base}/ogc/collections/hotspots/tiles/WebMercatorQuad/0/0/0")  # warm up
            whole = measure(http, base, addresses, None, items=True)
            report(
                f"Whole archive ({count:,} detections, no time filter): tiles vs GeoJSON items (limit 10,000)",
                whole,
                True,
            )
            season = measure(http, base, addresses, month, items=True)
            report(f"One fire-season month (datetime={month}): tiles vs GeoJSON items", season, True)
            if not args.no_index_pass:
                with engine.begin() as conn:
                    conn.execute(text("DROP INDEX idx_hotspots_geom"))
                few = {z: a[: max(3, args.samples // 6)] for z, a in addresses.items()}
                bare = measure(http, base, few, None, items=False)
                report("Whole archive WITHOUT the spatial index (migration 0019 dropped), fewer tiles", bare, False)
                ratio = [bare[z]["p50"] / whole[z]["p50"] for z in bare]
                print(f"spatial index speed-up (p50): {min(ratio):.1f}x to {max(ratio):.1f}x")


if __name__ == "__main__":
    main()
