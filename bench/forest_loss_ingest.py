"""Forest-loss alert ingest (issue 14), two measures, each with its baseline in the same run:

1. decode + window + patch a 10 m GFW integrated alert GeoTIFF covering Phrae (default 8,100 x 8,000 = 64.8M
   pixels, UTM 47N, 2 % alerts in clearing fronts, simulated by forest_loss/simulate.py and written once as a tiled,
   deflated GeoTIFF), window by window as the ingest reads it, against the naive baseline: read the whole window,
   decode it and trace ``rasterio.features.shapes`` over it. Each run is a fresh subprocess, so its peak RSS
   (``ru_maxrss``) is its own.
2. attribution and statistics of N stored patches (default 100,000 squares of 3 x 3 pixels over Phrae): area in
   UTM zone by zone, shares in every province, district, subdistrict and protected area in force, largest-share
   codes, in_aoi (forest_loss/store.py ``measure_and_attribute``) and the "cleared by fire" query
   (hotspots/store.py ``fire_near_areas``), on a throwaway PostGIS with the bundled layers; compared with the rate
   the hotspots reach (README, *Satellite hotspots / Speed*: 1M points attributed in 0.32-0.35 s).

    .venv/bin/python bench/forest_loss_ingest.py                        # both, default sizes
    .venv/bin/python bench/forest_loss_ingest.py --pixels 2e7 --patches 20000
    .venv/bin/python bench/forest_loss_ingest.py --no-db                # the raster part only
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's geo_service, also in the measuring subprocesses
PHRAE_ORIGIN = (585_000.0, 2_092_000.0)  # UTM 47N: north-west of Phrae province


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_raster(path: Path, height: int, width: int, seed: int) -> float:
    """The simulated alert raster written as a tiled, deflated int32 GeoTIFF; returns seconds."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from geo_service.forest_loss.simulate import SimulatedGfwSource

    t = from_origin(*PHRAE_ORIGIN, 10.0, 10.0)
    src = SimulatedGfwSource(height=height, width=width, seed=seed, transform=t)
    started = time.perf_counter()
    profile = dict(
        driver="GTiff", height=height, width=width, count=1, dtype="int32", crs="EPSG:32647", transform=t,
        compress="deflate", tiled=True, blockxsize=512, blockysize=512,
    )  # fmt: skip
    step = 2048
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, height, step):
            for c in range(0, width, step):
                h, w = min(step, height - r), min(step, width - c)
                ds.write(src.read(r, c, h, w), 1, window=Window(c, r, w, h))
    return time.perf_counter() - started


def part_kernel(path: str, window: int, vectorise: bool) -> dict:
    """The ingest's path: windowed reads, decode, patches, exact merge (and polygons when ``vectorise``)."""
    from geo_service.forest_loss.windows import GeoTiffSource, run

    rss0 = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    result = run([GeoTiffSource.open(path)], window=window, window_days=30, vectorise=vectorise)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "patches": result.patches.n,
        "alert_pixels": int(result.patches.pixels.sum()),
        "pixels": result.pixels,
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss0,
    }


def part_baseline(path: str) -> dict:
    """Naive: the whole window read into memory, decoded, and traced by rasterio.features.shapes (8-connected shapes
    of equal values: no date window, no statistics)."""
    import numpy as np
    import rasterio
    from rasterio.features import shapes

    from geo_service.forest_loss.decode import decode_gfw_integrated

    rss0 = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    with rasterio.open(path) as ds:
        values = ds.read(1)
    alerts = decode_gfw_integrated(values)
    mask = alerts.mask
    n = sum(1 for _ in shapes(alerts.confidence.astype(np.uint8), mask=mask, connectivity=8))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "shapes": n,
        "alert_pixels": int(mask.sum()),
        "pixels": int(values.size),
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss0,
    }


def _subprocess(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_db(n: int, seed: int) -> dict:
    """Attribution and statistics of ``n`` patches on a throwaway PostGIS with the bundled layers."""
    import _harness  # type: ignore[import-not-found]
    import numpy as np
    import shapely
    from pyproj import Transformer

    from geo_service.db.engine import make_sessionmaker, transaction
    from geo_service.forest_loss import store
    from geo_service.forest_loss.ingest import mark_fire
    from geo_service.settings import ForestLossSettings

    rng = np.random.default_rng(seed)
    # squares of 3 x 3 pixels of 10 m over Phrae's bounding box (UTM 47N), on the 10 m grid
    x = PHRAE_ORIGIN[0] + rng.integers(0, 8_000, n) * 10.0
    y = PHRAE_ORIGIN[1] - rng.integers(0, 15_000, n) * 10.0
    boxes = shapely.box(x, y - 30, x + 30, y)
    to_wgs = Transformer.from_crs(32647, 4326, always_xy=True)
    wgs = shapely.transform(boxes, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))
    days = np.datetime64("2024-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")
    with _harness.database() as (url, engine, _cluster):
        sm = make_sessionmaker(engine)
        with transaction(sm) as session:
            ingest_id = store.create_ingest(
                session, source="gfw_integrated", encoding="gfw_integrated", file_name="bench", file_sha256="0" * 64,
                params_key="bench", params={}, crs="EPSG:32647", window=None, created_by="bench",
            )  # fmt: skip
            ids = store.new_patch_ids(session, n)
            rows = [
                {
                    "id": i,
                    "wkb": shapely.to_wkb(g),
                    "first_date": d.astype(object),
                    "last_date": d.astype(object),
                    "pixels": 9,
                    "pixels_low": 3,
                    "pixels_high": 3,
                    "pixels_highest": 3,
                    "confidence_max": 4,
                    "sources": ["gfw_integrated"],
                }
                for i, g, d in zip(ids, wgs, days, strict=True)
            ]
            t0 = time.perf_counter()
            store.insert_patches(session, rows, ingest_id)
            t_insert = time.perf_counter() - t0
        with transaction(sm) as session:
            t1 = time.perf_counter()
            store.measure_and_attribute(session, ids)
            t_attr = time.perf_counter() - t1
            t2 = time.perf_counter()
            mark_fire(session, ids, ForestLossSettings())
            t_fire = time.perf_counter() - t2
            zones = session.execute(_harness_count("clearing_patch_zones")).scalar()
            in_aoi = session.execute(_harness_count("clearing_patches WHERE in_aoi")).scalar()
        # the hotspots' attribution, same run: the Gazetteer on n points (the patches' centres)
        from geo_service.places import Gazetteer

        with transaction(sm) as session:
            gaz = Gazetteer.load(session)
        cx, cy = to_wgs.transform(x + 15, y - 15)
        t3 = time.perf_counter()
        gaz.attribute(np.asarray(cx), np.asarray(cy), days)
        t_gaz = time.perf_counter() - t3
    _ = url
    return {
        "patches": n,
        "insert_s": t_insert,
        "attribute_s": t_attr,
        "fire_s": t_fire,
        "zones": int(zones),
        "in_aoi": int(in_aoi),
        "gazetteer_points_s": t_gaz,
    }


def _harness_count(what: str):
    from sqlalchemy import text

    return text(f"SELECT count(*) FROM {what}")  # bench only: a fixed table name, no user input


def main() -> None:
    """Run the measures and print the figures with their baselines."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pixels", type=float, default=6.48e7, help="pixels of the alert raster (default 64.8M: Phrae)")
    ap.add_argument("--window", type=int, default=2048, help="window size of the ingest (pixels)")
    ap.add_argument("--patches", type=int, default=100_000, help="patches to attribute in the database part")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-db", action="store_true", help="skip the database part")
    ap.add_argument("--no-baseline", action="store_true", help="skip the rasterio.features.shapes baseline")
    ap.add_argument("--_part", choices=["kernel", "vector", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--_path", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._part:
        out = (
            part_baseline(a._path)
            if a._part == "baseline"
            else part_kernel(a._path, a.window, vectorise=a._part == "vector")
        )
        print(json.dumps(out))
        return
    side = math.sqrt(a.pixels)
    height = round(side * 1.0125)
    width = round(a.pixels / height)
    with tempfile.TemporaryDirectory(prefix="forest_loss_bench_") as tmp:
        path = Path(tmp) / "phrae_10m_gfw_integrated.tif"
        wrote = write_raster(path, height, width, a.seed)
        print(
            f"alert raster {height:,} x {width:,} = {height * width / 1e6:.1f}M px of 10 m ({height * width / 100:,.0f} "
            f"ha), GeoTIFF {path.stat().st_size / 1e6:.1f} MB, written in {wrote:.1f} s"
        )
        k = _subprocess(["--_part", "kernel", "--_path", str(path), "--window", str(a.window)])
        v = _subprocess(["--_part", "vector", "--_path", str(path), "--window", str(a.window)])
        print(
            f"ingest path, windows of {a.window}: decode + window + patch {k['seconds']:.2f} s (CPU {k['cpu_s']:.2f} s) "
            f"({k['pixels'] / k['seconds'] / 1e6:.1f} Mpx/s), {k['patches']:,} patches, {k['alert_pixels']:,} alert px,"
            f" peak RSS {k['peak_rss_mb']:.0f} MB ({k['rss_before_mb']:.0f} MB before)"
        )
        print(
            f"  ... with polygons (what the ingest stores): {v['seconds']:.2f} s (CPU {v['cpu_s']:.2f} s), peak RSS {v['peak_rss_mb']:.0f} MB"
        )
        if not a.no_baseline:
            b = _subprocess(["--_part", "baseline", "--_path", str(path)])
            print(
                f"baseline, whole window read + rasterio.features.shapes: {b['seconds']:.2f} s (CPU {b['cpu_s']:.2f} s), "
                f"{b['shapes']:,} shapes,"
                f" peak RSS {b['peak_rss_mb']:.0f} MB ({b['rss_before_mb']:.0f} MB before)"
            )
            print(
                f"  ratio: patches {b['seconds'] / k['seconds']:.1f}x faster, polygons "
                f"{b['seconds'] / v['seconds']:.1f}x; peak RSS {k['peak_rss_mb'] / b['peak_rss_mb']:.2f} of the baseline"
            )
    if not a.no_db:
        sys.path.insert(0, str(HERE))
        d = bench_db(a.patches, a.seed)
        n = d["patches"]
        print(
            f"attribution of {n:,} patches: area in UTM + zone shares + codes + in_aoi {d['attribute_s']:.1f} s "
            f"({n / d['attribute_s']:,.0f} patches/s; {d['zones']:,} zone rows, {d['in_aoi']:,} in the AOI); "
            f"cleared-by-fire query {d['fire_s']:.1f} s ({n / d['fire_s']:,.0f} patches/s); insert {d['insert_s']:.1f} s"
        )
        print(
            f"  hotspots' attribution (Gazetteer, points) of the {n:,} centres, same run: {d['gazetteer_points_s']:.2f} s "
            f"({n / d['gazetteer_points_s']:,.0f} points/s): patches with exact shares are "
            f"{d['attribute_s'] / d['gazetteer_points_s']:.0f}x slower per item"
        )


if __name__ == "__main__":
    main()
