"""Benchmark: incident creation with attribution against the real server on loopback.

    .venv/bin/python bench/bench_incidents.py                      # 1 and 2 workers, 1/10/50 clients
    .venv/bin/python bench/bench_incidents.py --workers 1 --seconds 5

It starts its own throwaway PostGIS (LocalPostgres, fsync off), migrates, loads the bundled layers,
serves the app with uvicorn in a subprocess on 127.0.0.1 (1 and 2 worker processes), creates a field
officer, and measures at 1, 10 and 50 concurrent clients (asyncio + httpx2, one connection per client):

* ``GET /``                  the framework alone (no database): a baseline for this machine
* ``GET /health``            one small database round trip
* ``POST /api/v1/incidents`` random points inside the province, a unique Idempotency-Key each:
                             parse, attribute, insert, distance to the nearest reserve, read back

Besides latency and throughput it reports the CPU time per request of the app's processes, of
PostgreSQL and of the client (from /proc): on 2 cores their sum bounds the throughput.

Each cell runs for ``--seconds`` or ``--requests``, whichever ends first, after a warm-up. The client
runs on the same machine (2 cores here): compare rows with the baseline rather than across machines.
It prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import numpy as np
import shapely
from _harness import database  # bench/_harness.py: run as a script, .venv/bin/python bench/bench_incidents.py
from shapely.geometry import shape

ADMIN_TOKEN = "bench-admin-token-" + "x" * 24
PASSWORD = "bench password 12345"
HERE = Path(__file__).resolve().parent


def make_app():
    """uvicorn --factory entry point for the worker processes (configured by the parent's environment)."""
    from geo_service.main import create_app
    from geo_service.settings import Settings

    extra = {"pool_size": int(os.environ["BENCH_POOL_SIZE"])} if os.environ.get("BENCH_POOL_SIZE") else {}
    return create_app(
        Settings(
            database_url=os.environ["BENCH_DATABASE_URL"],
            environment="test",
            admin_token=os.environ["BENCH_ADMIN_TOKEN"],
            data_dir=os.environ["BENCH_DATA_DIR"],
            **extra,
        )
    )


# --- set-up ----------------------------------------------------------------------------------------
def random_points(n: int, seed: int = 3) -> list[tuple[float, float]]:
    """Uniform random points inside the province (lat, lon)."""
    from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

    gj = json.loads(
        (DEFAULT_LAYERS_DIR / "phrae/phrae_province_hdx_codab_dissolved.geojson").read_text(encoding="utf-8")
    )
    geom = shape(gj["features"][0]["geometry"])
    shapely.prepare(geom)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geom.bounds
    out: list[tuple[float, float]] = []
    while len(out) < n:
        x = rng.uniform(minx, maxx, 4 * n)
        y = rng.uniform(miny, maxy, 4 * n)
        keep = shapely.contains_xy(geom, x, y)
        out.extend(zip(np.round(y[keep], 6).tolist(), np.round(x[keep], 6).tolist()))
    return out[:n]


class Server:
    def __init__(self, url: str, data_dir: Path, workers: int, pool_size: int | None = None):
        from geo_service.db.local_pg import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "BENCH_DATABASE_URL": url,
            "BENCH_ADMIN_TOKEN": ADMIN_TOKEN,
            "BENCH_DATA_DIR": str(data_dir),
            "BENCH_POOL_SIZE": str(pool_size or ""),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "bench_incidents:make_app",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def officer_token(base: str) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    name = f"bench{uuid.uuid4().hex[:8]}"
    r = httpx.post(
        base + "/api/v1/admin/users",
        headers=admin,
        json={"username": name, "password": PASSWORD, "roles": ["field_officer"]},
    )
    r.raise_for_status()
    r = httpx.post(base + "/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    r.raise_for_status()
    return r.json()["access_token"]


# --- CPU used by a process tree (Linux /proc), to show where a request's time goes -----------------------
def tree_cpu(root_pid: int) -> float:
    """CPU seconds of a process and all its descendants, reaped ones included; 0 where /proc is missing."""
    parent, cpu = {}, {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.name)] = int(fields[1])
        # utime + stime, and cutime + cstime: processes that exited (pool connections closed) still count.
        cpu[int(entry.name)] = sum(int(f) for f in fields[11:15]) / tick
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(p for p, pp in parent.items() if pp == pid)
    return total


def postmaster_pid(cluster) -> int:
    return int((cluster.data_dir / "postmaster.pid").read_text().split()[0])


# --- load ------------------------------------------------------------------------------------------
KINDS = ["encroachment", "land_clearing", "illegal_logging", "burning", "wildfire", "other"]


def request_factory(kind: str, token: str, points: list[tuple[float, float]]):
    counter = iter(range(10**9))

    def make() -> tuple[str, str, dict, dict | None]:
        if kind == "root":
            return "GET", "/", {}, None
        if kind == "health":
            return "GET", "/health", {}, None
        i = next(counter)
        lat, lon = points[i % len(points)]
        body = {
            "kind": KINDS[i % len(KINDS)],
            "location": {"lat": lat, "lon": lon, "accuracy_m": 8},
            "description": f"bench {i}",
            "severity": "medium",
        }
        return (
            "POST",
            "/api/v1/incidents",
            {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
            body,
        )

    return make


async def run_cell(
    base: str,
    clients: int,
    make,
    seconds: float,
    max_requests: int,
    pids: dict[str, int] | None = None,
    think_ms: float = 0,
) -> dict:
    """Closed loop: ``clients`` connections each sending the next request when the previous one is answered,
    after a think time drawn from an exponential distribution of mean ``think_ms`` (0: none, saturation).
    ``pids``: process trees whose CPU time per request is reported (name -> root pid)."""
    rng = random.Random(clients)
    pids = pids or {}
    latencies: list[float] = []
    answered_at: list[float] = []  # when each answer came, to count only those inside the measured window
    errors = 0
    issued = 0
    stop_at = time.perf_counter() + seconds

    async def client_loop():
        nonlocal errors, issued
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:
            while issued < max_requests and time.perf_counter() < stop_at:
                if think_ms:
                    await asyncio.sleep(rng.expovariate(1000 / think_ms))
                    if time.perf_counter() >= stop_at:  # the window closed while this client was thinking
                        break
                issued += 1
                method, path, headers, body = make()
                t0 = time.perf_counter()
                r = await c.request(method, path, headers=headers, json=body)
                answered_at.append(time.perf_counter())
                latencies.append(answered_at[-1] - t0)
                if r.status_code >= 300:
                    errors += 1
                    if errors <= 3:
                        print(f"  unexpected {r.status_code}: {r.text[:200]}", file=sys.stderr)

    cpu0 = {name: tree_cpu(pid) for name, pid in pids.items()}
    client0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    # The rate counts the answers inside the window: up to the deadline, or to the last answer when the request
    # cap ended the cell first. Requests still in flight at the deadline add their latency, not their count.
    window_end = min(stop_at, time.perf_counter())
    elapsed = window_end - t0
    in_window = sum(1 for t in answered_at if t <= window_end)
    ms = np.array(latencies) * 1000
    cpu = {f"{name}_cpu": 1000 * (tree_cpu(pid) - cpu0[name]) / max(1, len(ms)) for name, pid in pids.items()}
    cpu["client_cpu"] = 1000 * (time.process_time() - client0) / max(1, len(ms))
    return {
        **cpu,
        "n": len(ms),
        "errors": errors,
        "rps": in_window / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "mean": statistics.fmean(ms),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,2", help="uvicorn worker counts to measure (comma-separated)")
    ap.add_argument("--clients", default="1,10,50", help="concurrent client counts (comma-separated)")
    ap.add_argument("--seconds", type=float, default=10, help="longest duration of one cell")
    ap.add_argument("--requests", type=int, default=3000, help="most requests in one cell")
    ap.add_argument("--only", default="root,health,create", help="which requests: root, health, create")
    ap.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="database pool size per worker (default: the service's, GEO_SERVICE_POOL_SIZE or 20)",
    )
    ap.add_argument(
        "--think",
        type=float,
        default=0,
        help="mean think time per client between requests, ms (0: back-to-back, saturating the server; "
        "e.g. 500 for 50 officers each sending two incidents a second)",
    )
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    clients = [int(c) for c in args.clients.split(",")]
    kinds = args.only.split(",")

    root = Path(tempfile.mkdtemp(prefix="geo_bench_"))
    load_before = os.getloadavg()[0]
    print(f"Starting a throwaway PostGIS in {root} (load average {load_before:.1f}) ...", flush=True)
    stack = contextlib.ExitStack()  # the shared throwaway PostGIS of the benchmarks (bench/_harness.py)
    url_obj, _engine, cluster = stack.enter_context(database(root))
    url = url_obj.render_as_string(hide_password=False)
    points = random_points(20_000)
    rows = []
    try:
        for w in workers:
            server = Server(url, root / "app", w, args.pool_size)
            try:
                token = officer_token(server.base)
                labels = {"root": "GET / (no db)", "health": "GET /health", "create": "POST /incidents"}
                # Warm-up: every worker loads its Gazetteer and fills its connection pool.
                asyncio.run(run_cell(server.base, 10, request_factory("create", token, points), 3, 200))
                for kind in kinds:
                    for c in clients:
                        res = asyncio.run(
                            run_cell(
                                server.base,
                                c,
                                request_factory(kind, token, points),
                                args.seconds,
                                args.requests,
                                {"app": server.proc.pid, "db": postmaster_pid(cluster)},
                                args.think,
                            )
                        )
                        rows.append({"workers": w, "request": labels[kind], "clients": c, **res})
                        print(
                            f"  workers={w} {labels[kind]:<16} clients={c:<3} n={res['n']:<5} "
                            f"p50={res['p50']:.1f} p95={res['p95']:.1f} p99={res['p99']:.1f} ms "
                            f"{res['rps']:.0f} req/s errors={res['errors']} CPU ms/req app={res['app_cpu']:.2f} "
                            f"db={res['db_cpu']:.2f} client={res['client_cpu']:.2f}",
                            flush=True,
                        )
            finally:
                server.stop()
    finally:
        stack.close()

    print(
        f"\nMachine: {os.cpu_count()} cores, load average before the run {load_before:.1f} (other work on the "
        f"machine skews the figures), Python {sys.version.split()[0]}; client and server on 127.0.0.1; "
        f"think time {args.think:g} ms\n"
    )
    print("CPU ms/req: CPU time per request of the app (all workers), PostgreSQL and this client.\n")
    print(
        "| workers | request | clients | requests | p50 ms | p95 ms | p99 ms | req/s | errors "
        "| CPU ms/req app | db | client |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['request']} | {r['clients']} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} "
            f"| {r['p99']:.1f} | {r['rps']:.0f} | {r['errors']} | {r['app_cpu']:.2f} | {r['db_cpu']:.2f} "
            f"| {r['client_cpu']:.2f} |"
        )


if __name__ == "__main__":
    main()
