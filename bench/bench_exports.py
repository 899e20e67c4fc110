"""Export throughput and memory: 1M incidents streamed as GeoJSON and GeoJSON lines by the real server.

Baseline in the same run: PostGIS alone serialising the same features (COPY ... TO STDOUT into Python,
discarded), i.e. what the database costs before any HTTP framing.
Run: .venv/bin/python bench/bench_exports.py [N]
"""

from __future__ import annotations

import argparse
import time

import httpx2 as httpx
from _harness import ADMIN_TOKEN, database, rss_mb, server
from sqlalchemy import text

from geo_service.exports.collections import COLLECTIONS
from geo_service.exports.query import ItemQuery, build_select, compile_for_psycopg


def main(n: int = 1_000_000) -> None:
    with database() as (url, engine, _cluster):
        t = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                text("""
                INSERT INTO incidents (kind, observed_at, geom, location_text, location_format, location_datum,
                                       description, district_code, protected_area_codes)
                SELECT (ARRAY['wildfire','burning','encroachment'])[1 + g % 3]::incident_kind,
                       now() - (g || ' seconds')::interval,
                       ST_SetSRID(ST_MakePoint(99.4 + random(), 17.7 + random()), 4326), 'synthetic', 'decimal',
                       'WGS84', 'synthetic row ' || g, '540' || (1 + g % 8), ARRAY['NRF-PR-00' || (1 + g % 4)]
                FROM generate_series(1, :n) g
            """),
                {"n": n},
            )
            conn.execute(text("ANALYZE incidents"))
        print(f"generated {n:,} incidents in {time.perf_counter() - t:.1f} s")

        # Baseline: the database's own serialisation of the same features, read by psycopg and discarded.
        built = build_select(COLLECTIONS["incidents"], None, ItemQuery())
        sql, params = compile_for_psycopg(built.features)
        t = time.perf_counter()
        size = 0
        with (
            engine.connect() as conn,
            conn.connection.driver_connection.cursor() as cur,
            cur.copy(f"COPY ({sql}) TO STDOUT", params) as cp,
        ):
            for block in cp:
                size += len(block)
        base_s = time.perf_counter() - t
        print(f"baseline PostGIS COPY: {size / 1e6:,.0f} MB in {base_s:.2f} s = {size / 1e6 / base_s:,.0f} MB/s")

        with server(url) as (base, proc):
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            idle = rss_mb(proc.pid)
            rows = []
            for fmt in ("geojson", "ndjson"):
                t = time.perf_counter()
                size = 0
                peak = idle
                with httpx.stream(
                    "GET", f"{base}/api/v1/exports/incidents", params={"f": fmt}, headers=headers, timeout=600
                ) as r:
                    r.raise_for_status()
                    for i, chunk in enumerate(r.iter_raw(1 << 20)):
                        size += len(chunk)
                        if i % 16 == 0:
                            peak = max(peak, rss_mb(proc.pid))
                secs = time.perf_counter() - t
                rows.append((fmt, size / 1e6, secs, size / 1e6 / secs, peak, peak - idle))
            print(f"\nserver idle RSS {idle:.0f} MB; {n:,} features")
            print(
                f"{'format':8} {'MB':>8} {'s':>7} {'MB/s':>7} {'peak RSS MB':>12} {'growth MB':>10} {'vs baseline':>12}"
            )
            for fmt, mb, secs, rate, peak, growth in rows:
                print(f"{fmt:8} {mb:8,.0f} {secs:7.2f} {rate:7,.0f} {peak:12.0f} {growth:10.0f} {base_s / secs:11.2f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "incidents",
        type=int,
        nargs="?",
        default=1_000_000,
        help="incidents generated, then exported (default %(default)s)",
    )
    main(ap.parse_args().incidents)
