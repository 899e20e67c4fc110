"""Benchmark: exactextract zonal statistics (fire pixels by class, burned area) on a 150M-pixel fire mask.

    .venv/bin/python bench/raster_zonal.py                # 12,250 x 12,250 px = 150M, UTM 47N, 30 m
    .venv/bin/python bench/raster_zonal.py --side 4000    # smaller

The raster is generated (seeded) in windows into a temporary tiled GeoTIFF over Phrae: land class 5 with
clustered fire pixels of classes 7/8/9. Zones are the 8 real districts of Phrae and the illustrative
protected areas, read from the bundled layer files (no database needed). Prints pixels per second of
``geo_service.hotspots.rasters.zonal_stats`` (the function the service runs), plus the COG conversion.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_raster(path: Path, side: int, res: float, seed: int = 7) -> None:
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    # Phrae spans about 99.9-100.6 E, 17.7-18.9 N: UTM 47N x 580-680 km, y 1955-2095 km
    transform = from_origin(560_000, 2_097_000, res, res)
    profile = {
        "driver": "GTiff",
        "width": side,
        "height": side,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:32647",
        "transform": transform,
        "nodata": 255,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.open(path, "w", **profile) as dst:
        step = 2048
        for row in range(0, side, step):
            h = min(step, side - row)
            block = np.full((h, side), 5, dtype=np.uint8)
            n = int(h * side * 0.002)  # 0.2 % fire pixels, in small clumps
            r = rng.integers(0, h, n)
            c = rng.integers(0, side, n)
            cls = rng.choice(np.array([7, 8, 9], dtype=np.uint8), n)
            for dr in (0, 1):
                for dc in (0, 1):
                    block[np.minimum(r + dr, h - 1), np.minimum(c + dc, side - 1)] = cls
            dst.write(block, 1, window=Window(0, row, side, h))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=12_250, help="width = height in pixels (12,250^2 = 150M)")
    ap.add_argument("--no-cog", action="store_true", help="skip the COG conversion timing")
    args = ap.parse_args()

    import geopandas as gpd
    import pandas as pd

    from geo_service.hotspots.rasters import _to_cog, zonal_stats
    from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

    work = Path(tempfile.mkdtemp(prefix="raster_bench_"))
    try:
        res = 142_000 / args.side  # the raster covers the whole province
        tif = work / "mask.tif"
        t = time.perf_counter()
        make_raster(tif, args.side, res)
        pixels = args.side * args.side
        print(
            f"generated {args.side:,} x {args.side:,} = {pixels / 1e6:.0f}M pixels ({res:.1f} m) in "
            f"{time.perf_counter() - t:.1f} s"
        )
        districts = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson")
        pas = gpd.read_file(DEFAULT_LAYERS_DIR / "illustrative/phrae_protected_areas_illustrative.geojson")
        zones = pd.concat(
            [
                gpd.GeoDataFrame(
                    {"zone_type": "district", "zone_code": districts["amp_code"]}, geometry=districts.geometry
                ),
                gpd.GeoDataFrame({"zone_type": "protected_area", "zone_code": pas["code"]}, geometry=pas.geometry),
            ],
            ignore_index=True,
        ).set_crs(4326, allow_override=True)
        t = time.perf_counter()
        stats = zonal_stats(tif, "fire_mask", zones)
        elapsed = time.perf_counter() - t
        fire = sum(s["flagged_pixels"] for s in stats if s["zone_type"] == "district")
        print(
            f"zonal stats over {len(zones)} zones ({len(stats)} overlapping): {elapsed:.2f} s = "
            f"{pixels / elapsed / 1e6:.1f}M px/s (raster pixels per second); fire pixels in districts {fire:,.0f}"
        )
        if not args.no_cog:
            t = time.perf_counter()
            _to_cog(tif, work / "cog.tif")
            print(f"COG conversion: {time.perf_counter() - t:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
