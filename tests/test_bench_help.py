"""Benchmarks are instruments: every script in bench/ says how to run it (``--help``) without starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def test_the_bench_folder_has_scripts():
    assert {"compare.py", "firms_ingest.py", "bench_exports.py", "bench_incidents.py"} <= set(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_answers_help(script):
    r = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=120, cwd=BENCH
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("usage:") and len(r.stdout.splitlines()) > 3, r.stdout
