"""Benchmark: zonal statistics of a large fire mask: the service's kernel vs exactextract vs rasterstats, same run.

    .venv/bin/python bench/raster_zonal.py                # 12,250 x 12,250 px = 150M, UTM 47N, 11.6 m
    .venv/bin/python bench/raster_zonal.py --side 4000    # smaller
    .venv/bin/python bench/raster_zonal.py --rounds 3     # 3 rounds, engines in alternating order, medians

The raster is generated (seeded) in windows into a temporary tiled GeoTIFF over Phrae: land class 5 with
clustered fire pixels of classes 7/8/9 and a nodata strip. Zones are the 78 subdistricts and 8 districts of
Phrae (bundled layer files, no database). Each engine runs in its own child process (its peak RSS is its own)
and computes, per zone, valid pixels, mean, min, max and the pixels of each class:

- kernel: ``geo_service.hotspots.zonal.zonal_stats`` (exact coverage, one pass for all zones);
- exactextract: ``exact_extract(..., ["count", "sum", "min", "max", "unique", "frac"])`` (exact coverage);
- rasterstats: ``zonal_stats(..., categorical=True, stats="count min max mean")`` (pixel-centre rule, not exact).

Prints seconds, raster pixels per second and peak RSS of each, the ratios, the largest relative difference of
the kernel's figures from exactextract's (exactextract stores coverage fractions as float32: about 1e-7) and how
far rasterstats's totals are from exact. Then the service's own ``rasters.zonal_stats`` over the districts and
the illustrative protected areas, and (unless --no-cog) the COG conversion.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENGINES = ("kernel", "exactextract", "rasterstats")


def make_raster(path: Path, side: int, res: float, seed: int = 7) -> None:
    """A seeded fire mask (uint8, nodata 255) of side x side pixels over Phrae in UTM 47N, written in windows."""
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
            block[:, side // 3 : side // 3 + max(1, side // 200)] = 255  # a nodata strip (a missing swath)
            dst.write(block, 1, window=Window(0, row, side, h))


def bench_zones():
    """The 8 districts and 78 subdistricts of Phrae (EPSG:4326) from the bundled layers."""
    import geopandas as gpd
    import pandas as pd

    from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

    districts = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson")
    tambons = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_tambon_hdx_codab.geojson")
    return pd.concat(
        [
            gpd.GeoDataFrame({"code": districts["amp_code"]}, geometry=districts.geometry),
            gpd.GeoDataFrame({"code": tambons["tam_code"]}, geometry=tambons.geometry),
        ],
        ignore_index=True,
    ).set_crs(4326, allow_override=True)


def peak_rss_mb() -> float:
    """This process's peak resident set (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(engine: str, tif: str, out) -> None:
    """In a child process: zones read and reprojected, then the engine timed; figures sent back on ``out``."""
    import rasterio

    zones = bench_zones()
    with rasterio.open(tif) as src:
        local = zones.to_crs(src.crs)
    fire = {7: "low", 8: "nominal", 9: "high"}
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    cpu = time.process_time()
    if engine == "kernel":
        from geo_service.hotspots.raster_products import flag_pixels
        from geo_service.hotspots.zonal import zonal_stats

        with rasterio.open(tif) as src:
            stats = zonal_stats(src, local.geometry.values, classify=lambda v: flag_pixels("fire_mask", None, v))
        rows = [(s.count, s.sum, s.min, s.max, {fire[c]: w for c, w in s.classes.items() if c}) for s in stats]
    elif engine == "exactextract":
        from exactextract import exact_extract

        with rasterio.open(tif) as src:
            df = exact_extract(src, local, ["count", "sum", "min", "max", "unique", "frac"], output="pandas")
        rows = []
        for r in df.to_dict("records"):
            by = {fire[int(v)]: f * r["count"] for v, f in zip(r["unique"], r["frac"]) if int(v) in fire}
            rows.append((r["count"], r["sum"], r["min"], r["max"], by))
    else:
        from rasterstats import zonal_stats as rs_zonal_stats

        res = rs_zonal_stats(local, tif, categorical=True, stats="count min max mean")
        rows = []
        for r in res:
            n = r["count"] or 0
            by = {fire[k]: float(v) for k, v in r.items() if isinstance(k, (int, np.integer)) and k in fire}
            rows.append((n, (r["mean"] or 0) * n, r["min"], r["max"], by))
    elapsed = time.perf_counter() - t
    out.send((elapsed, peak_rss_mb(), rss0, rows, time.process_time() - cpu))
    out.close()


def timed(engine: str, tif: Path):
    """Run one engine in a fresh process: (seconds, peak RSS MB, RSS before the call MB, figures per zone)."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=run_engine, args=(engine, str(tif), send))
    child.start()
    result = recv.recv()
    child.join()
    return result


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=12_250, help="width = height in pixels (12,250^2 = 150M)")
    ap.add_argument(
        "--rounds", type=int, default=1, help="runs per engine (the order alternates; medians and per-round ratios)"
    )
    ap.add_argument("--no-cog", action="store_true", help="skip the COG conversion timing")
    ap.add_argument("--no-service", action="store_true", help="skip the service's rasters.zonal_stats timing")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="raster_bench_"))
    try:
        res = 142_000 / args.side  # the raster covers the whole province
        tif = work / "mask.tif"
        t = time.perf_counter()
        make_raster(tif, args.side, res)
        pixels = args.side * args.side
        print(
            f"generated {args.side:,} x {args.side:,} = {pixels / 1e6:.0f}M pixels ({res:.1f} m) in "
            f"{time.perf_counter() - t:.1f} s; machine load average {os.getloadavg()[0]:.2f}"
        )
        runs: dict[str, list[tuple]] = {e: [] for e in ENGINES}
        for k in range(args.rounds):
            order = ENGINES if k % 2 == 0 else ENGINES[::-1]
            for engine in order:
                runs[engine].append(timed(engine, tif))
        print(
            f"zonal statistics, 8 districts + 78 subdistricts, {pixels / 1e6:.0f}M pixels, {args.rounds} round(s) "
            f"(engines in alternating order; medians; load average now {os.getloadavg()[0]:.2f}):"
        )
        print("| engine | seconds (each round) | CPU seconds (each round) | M px/s | peak RSS MB (before the call) |")
        print("|---|---|---|---|---|")
        med = {e: statistics.median(r[0] for r in runs[e]) for e in ENGINES}
        for engine in ENGINES:
            rounds = ", ".join(f"{r[0]:.2f}" for r in runs[engine])
            cpu = statistics.median(r[4] for r in runs[engine])
            cpus = ", ".join(f"{r[4]:.2f}" for r in runs[engine])
            rss = max(r[1] for r in runs[engine])
            rss0 = max(r[2] for r in runs[engine])
            print(
                f"| {engine} | {med[engine]:.2f} ({rounds}) | {cpu:.2f} ({cpus}) | {pixels / med[engine] / 1e6:.0f} "
                f"| {rss:.0f} ({rss0:.0f}) |"
            )

        def ratio(a: str, b: str, i: int) -> float:  # median of the rounds' own ratios: a round shares its load
            return statistics.median(x[i] / y[i] for x, y in zip(runs[a], runs[b]))

        for what, i in (("wall clock", 0), ("CPU time (less sensitive to other processes)", 4)):
            print(
                f"{what}: kernel vs rasterstats {ratio('rasterstats', 'kernel', i):.2f}x faster; kernel vs "
                f"exactextract {ratio('exactextract', 'kernel', i):.2f}x faster; rasterstats vs exactextract "
                f"{ratio('rasterstats', 'exactextract', i):.0%} of the time (medians of the rounds' ratios)"
            )
        k, e, r = (runs[x][0] for x in ENGINES)
        worst = 0.0
        for kz, ez in zip(k[3], e[3]):
            if ez[0] > 0:
                worst = max(worst, _rel(kz[0], ez[0]), _rel(kz[1], ez[1]))
                worst = max([worst] + [_rel(kz[4].get(c, 0.0), w) for c, w in ez[4].items() if w > 1])
                assert kz[2] == ez[2] and kz[3] == ez[3], (kz, ez)
        print(
            f"kernel vs exactextract: largest relative difference (count, sum, class pixels) {worst:.1e}; same min/max"
        )
        for name, i in (("valid pixels", 0), ("sum of values", 1)):
            ke = sum(z[i] for z in k[3][:8])
            rs = sum(z[i] for z in r[3][:8])
            print(f"8 districts' {name}: exact {ke:,.1f}, rasterstats {rs:,.0f} ({(rs - ke) / ke:+.4%})")
        ke = sum(sum(z[4].values()) for z in k[3][:8])
        rs = sum(sum(z[4].values()) for z in r[3][:8])
        print(f"8 districts' fire pixels: exact {ke:,.1f}, rasterstats {rs:,.0f} ({(rs - ke) / ke:+.4%})")

        if not args.no_service:
            import geopandas as gpd
            import pandas as pd

            from geo_service.hotspots.rasters import zonal_stats
            from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

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
                f"service rasters.zonal_stats over {len(zones)} zones (districts + protected areas; {len(stats)} "
                f"overlapping): {elapsed:.2f} s = {pixels / elapsed / 1e6:.1f}M px/s; fire pixels in districts "
                f"{fire:,.0f}"
            )
        if not args.no_cog:
            from geo_service.hotspots.rasters import _to_cog

            t = time.perf_counter()
            _to_cog(tif, work / "cog.tif")
            print(f"COG conversion: {time.perf_counter() - t:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
