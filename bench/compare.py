"""Side by side: the headline figures of this checkout against another commit, measured in the same run.

Each commit's own benchmark scripts run in turn (A B A B ...), each in its own throwaway PostGIS, so a
refactor is judged against its base on the same machine under the same load. The figures:

- ingest rows/s: ``bench/firms_ingest.py`` (generated FIRMS season, one transaction, no events);
- export MB/s: ``bench/bench_exports.py`` (incidents streamed as GeoJSON by the real server);
- incident p50 ms: ``bench/bench_incidents.py`` (incident creation, 1 worker, 10 clients).

Run: .venv/bin/python bench/compare.py --base f73437b [--rounds 2] [--rows 300000] [--incidents 200000]
Nothing is asserted; it prints a table with the median of each side and the ratio head/base.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, unit, better, command-line builder, pattern that finds the figure in the script's output)
FIGURES = [
    (
        "ingest",
        "rows/s",
        "higher",
        lambda a: ["bench/firms_ingest.py", "--rows", str(a.rows), "--no-sjoin", "--no-events"],
        re.compile(r"^ingest: .* = ([\d,]+) rows/s", re.M),
    ),
    (
        "export GeoJSON",
        "MB/s",
        "higher",
        lambda a: ["bench/bench_exports.py", str(a.incidents)],
        re.compile(r"^geojson\s+[\d,.]+\s+[\d.]+\s+([\d,]+)", re.M),
    ),
    (
        "incident create p50",
        "ms",
        "lower",
        lambda a: [
            "bench/bench_incidents.py",
            "--workers",
            "1",
            "--clients",
            "10",
            "--only",
            "create",
            "--seconds",
            "8",
            "--requests",
            "1500",
        ],
        re.compile(r"^\| 1 \| POST /incidents \| 10 \| \d+ \| ([\d.]+) \|", re.M),
    ),
]


def checkout(rev: str) -> Path:
    """A detached worktree of ``rev`` in a temporary folder (removed at the end)."""
    where = Path(tempfile.mkdtemp(prefix="geo_service_base_")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True)
    vendor = ROOT / "geo_service/web/vendor/node_modules"
    if vendor.exists():
        (where / "geo_service/web/vendor/node_modules").symlink_to(vendor)
    return where


def run(tree: Path, argv: list[str]) -> str:
    """One benchmark script of ``tree``, importing that tree's geo_service; its output."""
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'bench'}"}
    probe = subprocess.run(
        [sys.executable, "-c", "import geo_service; print(geo_service.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not probe.startswith(str(tree)):
        raise SystemExit(f"{tree} imports geo_service from {probe}, not from its own tree")
    out = subprocess.run([sys.executable, *argv], cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"{argv[0]} failed in {tree}:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the commit to compare against (e.g. the previous main)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each side, alternated")
    ap.add_argument("--rows", type=int, default=300_000, help="FIRMS rows ingested")
    ap.add_argument("--incidents", type=int, default=200_000, help="incidents exported")
    ap.add_argument("--only", default=None, help="comma-separated figure names to run (default: all)")
    args = ap.parse_args()
    base = checkout(args.base)
    head_rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout
    figures = [f for f in FIGURES if not args.only or f[0] in args.only.split(",")]
    results: dict[str, dict[str, list[float]]] = {f[0]: {"base": [], "head": []} for f in figures}
    try:
        for r in range(args.rounds):
            for name, unit, _better, argv, pattern in figures:
                for side, tree in (("base", base), ("head", ROOT)) if r % 2 == 0 else (("head", ROOT), ("base", base)):
                    found = pattern.search(run(tree, argv(args)))
                    if not found:
                        raise SystemExit(f"no {name} figure in the output of {side}")
                    value = float(found.group(1).replace(",", ""))
                    results[name][side].append(value)
                    print(f"round {r + 1}: {name} {side} {value:,.1f} {unit}", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    print(
        f"\nbase {args.base} vs head {head_rev}{' (with uncommitted changes)' if dirty else ''}; "
        f"{args.rounds} rounds alternated; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| figure | unit | base (median) | head (median) | head/base | better |")
    print("|---|---|---:|---:|---:|---|")
    for name, unit, better, _argv, _pattern in figures:
        b = statistics.median(results[name]["base"])
        h = statistics.median(results[name]["head"])
        print(f"| {name} | {unit} | {b:,.1f} | {h:,.1f} | {h / b:.2f} | {better} |")


if __name__ == "__main__":
    main()
