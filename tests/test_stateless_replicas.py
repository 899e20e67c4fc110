"""Several API processes on one database keep no state that must be shared: two real uvicorn processes (separate
OS processes, separate data folders, as two containers would be), and a real nginx in front of them.

Also checks the deployment files: docker-compose.yml (loaded as YAML) and deploy/nginx/nginx.conf (``nginx -t``).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import geopandas as gpd
import httpx2 as httpx
import psycopg
import pytest
import yaml
from samples import VIIRS_HEADER
from shapely.geometry import Point

from geo_service.db.local_pg import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy/nginx/nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ADMIN_TOKEN = "stateless-admin-token-" + "y" * 24
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JWT_SECRET = "a-secret-every-replica-shares-" + "z" * 32
PHRAE = Point(100.1417, 18.1452)  # Mueang Phrae


def _conninfo(url) -> dict:
    return dict(host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database)


def _start(url, data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GEO_SERVICE_DATABASE_URL": url.render_as_string(hide_password=False),
        "GEO_SERVICE_ENVIRONMENT": "test",
        "GEO_SERVICE_ADMIN_TOKEN": ADMIN_TOKEN,
        "GEO_SERVICE_JWT_SECRET": JWT_SECRET,
        "GEO_SERVICE_DATA_DIR": str(data_dir),
        "GEO_SERVICE_PASSWORD_HASH_MEMORY_KIB": "1024",
        "GEO_SERVICE_PASSWORD_HASH_TIME_COST": "1",
    }
    cmd = [sys.executable, "-m", "uvicorn", "geo_service.main:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(base: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the API process ended: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the API process did not answer: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def two_processes(pg_cluster, template_db, tmp_path_factory):
    """Processes A and B: two uvicorn processes on one fresh database; yields (url, A, B)."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name, template=template_db)
    url = pg_cluster.url(name)
    root = tmp_path_factory.mktemp("replicas")
    procs = []
    try:
        for label in ("a", "b"):
            log = root / f"{label}.log"
            proc, base = _start(url, root / label, log)
            procs.append((proc, base, log))
        for proc, base, log in procs:
            _wait_healthy(base, proc, log)
        yield url, procs[0][1], procs[1][1]
    finally:
        for proc, _, _ in procs:
            proc.terminate()
        for proc, _, _ in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        pg_cluster.drop_database(name)


def _firms(rows: int, acq_time: str, near: Point = PHRAE) -> bytes:
    body = "".join(
        f"{near.y + (i % 50) * 0.0007:.5f},{near.x + (i // 50) * 0.0007:.5f},340.1,0.39,0.36,2024-03-14,{acq_time},"
        "N,VIIRS,n,2.0NRT,295.3,4.1,D\n"
        for i in range(rows)
    )
    return (VIIRS_HEADER + body).encode()


def _ingest(base: str, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/admin/hotspots/firms", headers=ADMIN, files={"file": ("v.csv", data)}, timeout=120
    )


@pytest.mark.slow
def test_a_layer_loaded_through_one_process_is_used_at_once_by_the_others_attribution(two_processes, tmp_path):
    url, a, b = two_processes
    point = Point(100.05, 18.30)
    assert _ingest(b, _firms(1, "0601", point)).status_code == 201  # B's Gazetteer is loaded (and cached)
    reserve = gpd.GeoDataFrame(
        {
            "code": ["NRF-AB"],
            "name_th": ["ป่าทดสอบ"],
            "kind": ["national_reserved_forest"],
            "valid_from": ["2000-01-01"],
        },
        geometry=[point.buffer(0.01)],
        crs=4326,
    )
    path = tmp_path / "reserve.geojson"
    reserve.to_file(path)
    form = {"layer_type": "protected_area", "name": "ab", "version": "1", "source": "s", "licence": "l"}
    r = httpx.post(
        f"{a}/api/v1/admin/layers",
        headers=ADMIN,
        data={**form, "attribution": "a"},
        files={"file": ("reserve.geojson", path.read_bytes())},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    assert _ingest(b, _firms(1, "0602", point)).status_code == 201  # B attributes with the new layer
    with psycopg.connect(**_conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT to_char(acq_utc AT TIME ZONE 'UTC', 'HH24MI'), protected_area_codes FROM hotspots "
            "WHERE 'NRF-AB' = ANY(protected_area_codes) ORDER BY 1"
        ).fetchall()
    # the first detection was re-attributed by A's load, the second attributed by B after it
    assert [r[0] for r in rows] == ["0601", "0602"]


@pytest.mark.slow
def test_the_same_firms_file_sent_to_two_processes_at_once_is_stored_once(two_processes):
    url, a, b = two_processes
    data = _firms(3000, "0700")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda base: _ingest(base, data), (a, b)))
    assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
    reports = sorted((r.json()["rows_new"], r.json()["rows_unchanged"]) for r in answers)
    assert reports == [(0, 3000), (3000, 0)]  # the ingest lock is PostgreSQL's, not a process's
    with psycopg.connect(**_conninfo(url)) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM hotspots WHERE acq_utc = '2024-03-14 07:00+00'::timestamptz"
        ).fetchone()[0]
    assert stored == 3000


@pytest.mark.slow
def test_a_token_revoked_through_one_process_is_refused_by_the_other(two_processes):
    _, a, b = two_processes
    r = httpx.post(
        f"{a}/api/v1/admin/users",
        headers=ADMIN,
        json={"username": "roaming", "password": "correct horse battery staple", "roles": ["investigator"]},
    )
    assert r.status_code == 201, r.text
    r = httpx.post(f"{b}/api/v1/auth/token", data={"username": "roaming", "password": "correct horse battery staple"})
    token = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert httpx.get(f"{a}/api/v1/auth/me", headers=token).status_code == 200  # signed by B, accepted by A
    assert httpx.post(f"{a}/api/v1/auth/logout", headers=token).status_code == 303
    refused = httpx.get(f"{b}/api/v1/auth/me", headers=token)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"


@pytest.mark.slow
def test_processes_started_together_migrate_one_at_a_time(empty_db_url, tmp_path):
    """Compose starts every API replica at once on an empty database: each migrates first (``geo-service serve``
    and the other commands), under the start-up advisory lock, so none trips over another's half-made schema."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GEO_SERVICE_DATABASE_URL": empty_db_url.render_as_string(hide_password=False),
        "GEO_SERVICE_ENVIRONMENT": "test",
        "COLUMNS": "200",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "geo_service.cli", "db", "migrate"],
            env={**env, "GEO_SERVICE_DATA_DIR": str(tmp_path / str(i))},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(3)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    with psycopg.connect(**_conninfo(empty_db_url)) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert all(f"schema at revision {revision}" in out for out in outputs)


def test_the_compose_file_runs_a_proxy_in_front_of_several_api_replicas_and_a_read_replica():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "db-replica", "app", "proxy"} <= set(services)
    app = services["app"]
    assert app["deploy"]["replicas"] == "${GEO_SERVICE_APP_REPLICAS:-2}"
    assert "ports" not in app  # reached through the proxy only
    env = app["environment"]
    assert "@db-replica:5432/" in env["GEO_SERVICE_REPLICA_URL"] and "@db:5432/" in env["GEO_SERVICE_DATABASE_URL"]
    assert env["GEO_SERVICE_JWT_SECRET"].startswith("${")  # one signing key for every replica, from .env
    assert any(v.endswith(":" + env["GEO_SERVICE_RASTER_DIR"]) for v in app["volumes"])  # one raster store
    proxy = services["proxy"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in proxy["volumes"]}
    assert mounted["./deploy/nginx/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert proxy["ports"] == ["127.0.0.1:8000:8080"]
    for service in services.values():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (ROOT / volume.split(":")[0]).exists(), volume
    for script in (ROOT / "deploy/postgres").glob("*.sh"):  # the replica's and the primary's set-up scripts parse
        assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0, script
    replica = services["db-replica"]
    assert replica["entrypoint"] == ["/bin/sh", "/replica-entrypoint.sh"]
    assert "pg_basebackup" in (ROOT / "deploy/postgres/replica-entrypoint.sh").read_text()
    assert "server app:8000" in NGINX_CONF.read_text()
    assert "listen 8080;" in NGINX_CONF.read_text()


def _render_nginx(folder: Path, upstreams: list[str], port: int) -> Path:
    """The repository's nginx.conf with only what a test on this machine needs changed: the upstream servers
    (loopback ports instead of the compose service), the listening address, and files under ``folder``."""
    conf = NGINX_CONF.read_text()
    servers = "".join(f"server {u.removeprefix('http://')} max_fails=3 fail_timeout=10s;\n        " for u in upstreams)
    conf = re.sub(r"server app:8000 [^;]*;\n\s*", servers, conf)
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("error_log /dev/stderr warn;", f"error_log {folder}/error.log warn;\npid {folder}/nginx.pid;")
    conf = conf.replace("access_log /dev/stdout upstream;", f"access_log {folder}/access.log upstream;")
    temp = "".join(
        f"    {kind}_temp_path {folder}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("    server_tokens off;\n", "    server_tokens off;\n" + temp)
    path = folder / "nginx.conf"
    path.write_text(conf)
    return path


def _nginx(conf: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NGINX, "-c", str(conf), "-p", str(conf.parent), "-e", str(conf.parent / "error.log"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_nginx_configuration_is_valid(tmp_path):
    os.chmod(tmp_path, 0o777)
    conf = _render_nginx(tmp_path, ["http://127.0.0.1:8001", "http://127.0.0.1:8002"], free_port())
    check = _nginx(conf, "-t")
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr and "test is successful" in check.stderr


@pytest.mark.slow
def test_nginx_spreads_requests_over_both_processes(two_processes, tmp_path):
    _, a, b = two_processes
    os.chmod(tmp_path, 0o777)  # nginx's workers run as an unprivileged user when started as root
    port = free_port()
    conf = _render_nginx(tmp_path, [a, b], port)
    started = _nginx(conf)
    assert started.returncode == 0, started.stderr
    try:
        proxy = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=proxy, timeout=30) as client:
            for _ in range(20):
                assert client.get("/health").status_code == 200
            r = client.post(
                "/api/v1/auth/token", data={"username": "nobody-here", "password": "correct horse battery staple"}
            )
            assert r.status_code == 401  # a request through the proxy is answered by the API itself
            export = client.get("/api/v1/exports/districts", params={"f": "geojson"})
            assert export.status_code == 200 and export.json()["numberReturned"] == 8
        log = (tmp_path / "access.log").read_text().splitlines()
        served = {u: sum(f"upstream={u.removeprefix('http://')} " in line for line in log) for u in (a, b)}
        assert all(n >= 5 for n in served.values()), served  # round robin: both processes answered
        print(f"requests per API process through nginx: {served}")
    finally:
        _nginx(conf, "-s", "quit")
