"""Benchmark: generation rates of the national simulation (geo_service/simulation/).

    .venv/bin/python bench/simulate.py                          # 20M detections 2012-2026, boundaries 77/928/7,400
    .venv/bin/python bench/simulate.py --rows 2000000 --formats parquet
    .venv/bin/python bench/simulate.py --rows 20000000 --out /data/sim --keep   # keep the files for other benchmarks

Phases, each in a fresh child process (so its peak memory is its own):

* ``boundaries``: national boundaries (77 provinces / 928 districts / 7,400 subdistricts and protected areas),
  generated then written as GeoPackage with a manifest.toml (time, file sizes);
* ``generate``: the detection archive generated chunk by chunk and dropped (the baseline: numpy only);
* ``parquet``: generated and written as GeoParquet partitions by month (rate, ratio to ``generate``, size);
* ``csv``: generated and written as FIRMS country-year CSV files (rate, ratio to ``generate``, size).

Peak memory is each child's maximum resident set. Nothing is started besides the children; no database.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _phase(name: str, args: dict, out: Path, queue) -> None:
    """One phase in a child process: put (seconds, rows or features, bytes written, peak RSS MB) on the queue."""
    from geo_service.simulation import boundaries as b
    from geo_service.simulation import detections as d

    d.land_mask()  # built once per process (about 0.2 s); not part of the rates
    t0 = time.perf_counter()
    count = 0
    if name == "boundaries":
        result = b.simulate_boundaries(args["seed"])
        t_gen = time.perf_counter() - t0
        b.write_boundaries(result, out)
        count = len(result.subdistricts)
        extra = {"generate_s": t_gen, "protected": len(result.protected_areas)}
    else:
        chunks = d.simulate_detections(args["rows"], args["years"], seed=args["seed"], chunk_rows=args["chunk_rows"])
        if name == "generate":
            for _, _, frame in chunks:
                count += len(frame)
        elif name == "parquet":
            d.write_parquet(chunks, out)
            count = args["rows"]
        else:
            d.write_csv(chunks, out)
            count = args["rows"]
        extra = {}
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    files = sum(1 for f in out.rglob("*") if f.is_file()) if out.exists() else 0
    queue.put(
        {"seconds": dt, "count": count, "bytes": _size(out) if out.exists() else 0, "files": files, "rss_mb": rss_mb}
        | extra
    )


def run(name: str, args: dict, out: Path) -> dict:
    """Run one phase in a fresh (spawned) process and return its figures."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_phase, args=(name, args, out, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run the phases and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for phases.")
    p.add_argument("--rows", type=int, default=20_000_000, help="detections in the archive (default 20,000,000)")
    p.add_argument("--years", default="2012-2026", help="year range, e.g. 2012-2026")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--chunk-rows", type=int, default=1_000_000, help="rows generated at a time (default 1,000,000)")
    p.add_argument(
        "--formats",
        default="parquet,csv",
        help="comma-separated writers to time after the generate-only baseline: parquet, csv (default both)",
    )
    p.add_argument("--no-boundaries", action="store_true", help="skip the national boundaries")
    p.add_argument("--out", type=Path, default=None, help="folder for the files (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the files written (default: removed at the end)")
    a = p.parse_args(argv)
    first, _, last = a.years.partition("-")
    args = {
        "rows": a.rows,
        "years": (int(first), int(last or first)),
        "seed": a.seed,
        "chunk_rows": a.chunk_rows,
    }
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    bad = set(formats) - {"parquet", "csv"}
    if bad:
        p.error(f"unknown formats: {', '.join(sorted(bad))}")
    base = a.out or Path(tempfile.mkdtemp(prefix="geo_service_sim_"))
    base.mkdir(parents=True, exist_ok=True)
    print(
        f"# simulate: {a.rows:,} detections {a.years}, seed {a.seed}, chunks of {a.chunk_rows:,} rows; files in {base}"
    )
    try:
        if not a.no_boundaries:
            r = run("boundaries", args, base / "boundaries")
            print(
                f"boundaries 77/928/7,400 + {r['protected']} protected areas: generated in {r['generate_s']:.1f} s, "
                f"written (GeoPackage) in "
                f"{r['seconds'] - r['generate_s']:.1f} s; {r['bytes'] / 1e6:.1f} MB; peak RSS {r['rss_mb']:.0f} MB"
            )
        g = run("generate", args, base / "none")
        g_rate = g["count"] / g["seconds"]
        print(
            f"{'generate (baseline)':<22} {g['seconds']:8.1f} s  {g_rate:>12,.0f} rows/s  ratio 1.00  "
            f"peak RSS {g['rss_mb']:.0f} MB"
        )
        for fmt in formats:
            r = run(fmt, args, base / fmt)
            rate = r["count"] / r["seconds"]
            print(
                f"{'generate + ' + fmt:<22} {r['seconds']:8.1f} s  {rate:>12,.0f} rows/s  ratio {rate / g_rate:.2f}  "
                f"peak RSS {r['rss_mb']:.0f} MB  {r['files']} files, {r['bytes'] / 1e6:,.0f} MB "
                f"({r['bytes'] / max(a.rows, 1):.1f} B/row)"
            )
    finally:
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
