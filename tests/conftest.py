"""Test harness: a real, throwaway PostgreSQL + PostGIS cluster started by the project's own runner.

One cluster per test session (fsync off), one template database migrated and loaded with the bundled
layers, and cheap clones of it (CREATE DATABASE ... TEMPLATE) for tests that write.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo_service.db import migrate
from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from geo_service.db.local_pg import LocalPostgres, free_port
from geo_service.layers.manifest import load_bundled
from geo_service.settings import Settings
from geo_service.wiring import wire

ADMIN_TOKEN = "test-admin-token-" + "x" * 24
TEMPLATE = "geo_template"

# The domains are connected as the application connects them (main.create_app, the CLI): tests that load a
# layer without the app still see incidents and hotspots re-attributed.
wire()


@pytest.fixture(scope="session")
def pg_cluster():
    root = Path(tempfile.mkdtemp(prefix="geo_service_test_pg_"))
    os.chmod(root, 0o755)  # the server's own user must reach its data folder
    cluster = LocalPostgres(root, port=free_port(), durable=False)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


def _url_text(url) -> str:
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_db(pg_cluster):
    pg_cluster.ensure_database(TEMPLATE)
    url = pg_cluster.url(TEMPLATE)
    migrate.upgrade(url)
    engine = make_engine(url, pool_size=2)
    with transaction(make_sessionmaker(engine)) as session:
        load_bundled(session)
    engine.dispose()
    return TEMPLATE


def _clone(pg_cluster, template: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name, template=template)
    return name


@pytest.fixture(scope="session")
def ref_url(pg_cluster, template_db):
    """A database with the bundled layers that tests only read."""
    return pg_cluster.url(_clone(pg_cluster, template_db))


@pytest.fixture
def db_url(pg_cluster, template_db):
    """A fresh database with the bundled layers, for a test that writes."""
    name = _clone(pg_cluster, template_db)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


@pytest.fixture
def empty_db_url(pg_cluster):
    """A database with only the PostGIS extension (no schema)."""
    name = f"e_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


# Sign-ins hash with argon2id at a test cost (1 MiB, 1 pass: about 1 ms instead of 0.1-0.3 s); the same code
# path. tests/test_auth.py checks that a deployment's settings refuse such a cost and hash at 64 MiB, 3 passes.
TEST_HASH_COST = {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1}


def make_settings(url, tmp_path: Path, **extra) -> Settings:
    return Settings(
        database_url=_url_text(url),
        environment="test",
        admin_token=ADMIN_TOKEN,
        data_dir=tmp_path,
        **{**TEST_HASH_COST, **extra},
    )


def cli_env(url, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``geo-service`` CLI process of a test: this process's, with the database ``url``, the
    data folder, the test environment and a 200-column terminal; ``extra`` variables added or replacing these."""
    return {
        **os.environ,
        "COLUMNS": "200",
        "GEO_SERVICE_DATABASE_URL": _url_text(url),
        "GEO_SERVICE_DATA_DIR": str(data_dir),
        "GEO_SERVICE_ENVIRONMENT": "test",
        **extra,
    }


def run_cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``geo-service ARGS`` in a process of its own with the environment ``env`` (see ``cli_env``), as a person
    types it; its output captured as text, its exit code not checked."""
    return subprocess.run(
        [sys.executable, "-m", "geo_service.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def engine_for():
    engines = []

    def make(url):
        engine = make_engine(url, pool_size=2)
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.dispose()


@pytest.fixture
def sessionmaker_for(engine_for):
    return lambda url: make_sessionmaker(engine_for(url))


@pytest.fixture
def db_session(sessionmaker_for, db_url):
    """A session on a fresh database in one open transaction, rolled back at the end (nothing committed)."""
    s = sessionmaker_for(db_url)()
    s.begin()
    yield s
    s.rollback()
    s.close()


def point_in_reserve(session, code: str) -> tuple[float, float]:
    """A point surely inside a stored protected area (PostGIS's point on surface), lon/lat rounded to 4 decimals,
    read in ``session`` (its transaction)."""
    from sqlalchemy import text

    lon, lat = session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM protected_areas WHERE code = :c) q"),
        {"c": code},
    ).one()
    return round(lon, 4), round(lat, 4)


def reserve_point(sessionmaker, code: str) -> tuple[float, float]:
    """``point_in_reserve`` in a session of its own."""
    with sessionmaker() as s:
        return point_in_reserve(s, code)


def app_client(url, tmp_path, **extra) -> TestClient:
    """An API client of the app on ``url`` (test settings, data in ``tmp_path``, ``extra`` settings); enter it
    (``with``) to run the app's start-up."""
    from geo_service.main import create_app

    app = create_app(make_settings(url, tmp_path, **extra))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="session")
def ref_client(ref_url, tmp_path_factory):
    """An API client on the read-only reference database."""
    with app_client(ref_url, tmp_path_factory.mktemp("app")) as client:
        yield client


@pytest.fixture
def client(db_url, tmp_path):
    """An API client on a fresh database of its own."""
    with app_client(db_url, tmp_path) as c:
        yield c


@pytest.fixture
def client_factory(tmp_path):
    clients = []

    def make(url, **extra):
        c = app_client(url, tmp_path, **extra)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def admin_headers():
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


PASSWORD = "correct horse battery staple"


@pytest.fixture
def login(client, admin_headers):
    """Create a user with roles on the client's database and return bearer headers for it."""

    def make(username: str, *roles: str) -> dict:
        r = client.post(
            "/api/v1/admin/users",
            headers=admin_headers,
            json={"username": username, "password": PASSWORD, "roles": list(roles), "display_name": username.title()},
        )
        assert r.status_code == 201, r.text
        r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return make


@pytest.fixture
def officer(login):
    return login("officer1", "field_officer")


@pytest.fixture
def investigator(login):
    return login("investigator1", "investigator")


@pytest.fixture
def live_server(tmp_path):
    """Run the app with uvicorn on a free loopback port (for real HTTP clients: GDAL, browsers)."""
    import threading
    import time

    import uvicorn

    from geo_service.main import create_app

    servers = []

    def start(url, **extra):
        port = free_port()
        app = create_app(make_settings(url, tmp_path, **extra))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        servers.append((server, thread))
        assert server.started, "the live server did not start in 30 s"  # not a confusing connection error later
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def pytest_collection_modifyitems(config, items):
    """The browser, fault and fuzz tests are slow too, so the fast lane is just ``-m "not slow"``."""
    for item in items:
        if any(item.get_closest_marker(m) for m in ("browser", "faults", "fuzz")):
            item.add_marker(pytest.mark.slow)
