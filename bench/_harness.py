"""Shared by the benchmarks: a throwaway PostGIS with the bundled layers, and the real server in a subprocess.

Benchmarks run as scripts (``.venv/bin/python bench/NAME.py``) and import this module as ``_harness``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

from geo_service.db import migrate
from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from geo_service.db.local_pg import LocalPostgres, free_port
from geo_service.layers.manifest import load_bundled
from geo_service.wiring import wire

ADMIN_TOKEN = "bench-admin-token-" + "x" * 24
wire()  # as the application does: a layer load re-attributes incidents and hotspots


@contextmanager
def database(root: Path | None = None, durable: bool = False):
    """A migrated database with the bundled layers in a throwaway cluster: (url, engine, cluster).

    fsync is off unless ``durable`` (then the cluster runs with the settings of the service's own database).
    """
    root = root or Path(tempfile.mkdtemp(prefix="geo_service_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # the server's own OS user must reach its data folder
    cluster = LocalPostgres(root / "pg", port=free_port(), durable=durable)
    cluster.start()
    try:
        cluster.ensure_database("bench")
        url = cluster.url("bench")
        migrate.upgrade(url)
        engine = make_engine(url, pool_size=2)
        with transaction(make_sessionmaker(engine)) as session:
            load_bundled(session)
        yield url, engine, cluster
        engine.dispose()
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server(url, workers: int = 1):
    port = free_port()
    env = {
        **os.environ,
        "GEO_SERVICE_DATABASE_URL": url.render_as_string(hide_password=False),
        "GEO_SERVICE_ENVIRONMENT": "test",
        "GEO_SERVICE_ADMIN_TOKEN": ADMIN_TOKEN,
        "GEO_SERVICE_JWT_SECRET": "bench-jwt-secret-" + "y" * 32,
        "GEO_SERVICE_DATA_DIR": tempfile.mkdtemp(),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "geo_service.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    try:
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")
