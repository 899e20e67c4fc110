"""Faults (issue 12, "make it stay fixed"): kill -9 of a real uvicorn server during a FIRMS ingest, a bulk
incident import and a raster registration (during the COG conversion, and during the zonal statistics),
and a real PostgreSQL stop in the middle of an export stream and of an ingest's COPY.

After each fault: every table holds exactly the rows it held before (no half-stored ingest, no batch row of
a killed ingest), the audit chain verifies, and once the server is started again no temporary or partial
file is left in the data folder; the interrupted request, sent again, gives the complete result, and a
third time the same (idempotent). README, Tests / Faults.

Each kill is timed on what the server is doing (the ingest's COPY seen in ``pg_stat_progress_copy``, the
import's INSERTs and the raster's zonal statistics in ``pg_stat_activity``, the COG conversion's first
file), never on a sleep.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from geo_service import audit
from geo_service.db import migrate
from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from geo_service.db.local_pg import free_port
from geo_service.layers.manifest import load_bundled
from tests.conftest import ADMIN_TOKEN, _url_text

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FIRMS_ROWS = 200_000
IMPORT_ROWS = 200


class Server:
    """The app under uvicorn in a process of its own (this checkout's code), to be killed with SIGKILL."""

    def __init__(self, url, data_dir: Path):
        self.url, self.data_dir = _url_text(url), data_dir
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.log = None

    def start(self) -> Server:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_SERVICE_")}
        env.update(
            GEO_SERVICE_DATABASE_URL=self.url,
            GEO_SERVICE_DATA_DIR=str(self.data_dir),
            GEO_SERVICE_ADMIN_TOKEN=ADMIN_TOKEN,
            GEO_SERVICE_ENVIRONMENT="test",
            PYTHONPATH=str(ROOT),
        )
        self.log = open(self.data_dir / f"server-{port}.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
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
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data_dir / f"server-{port}.log").read_text()[-3000:]
            try:
                if httpx.get(self.base + "/", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(self.base + path, headers=AUTH, timeout=300, **kw)


@pytest.fixture
def servers():
    started: list[Server] = []

    def make(url, data_dir: Path) -> Server:
        data_dir.mkdir(parents=True, exist_ok=True)
        s = Server(url, data_dir)
        started.append(s)  # stopped at the end even if it never answers
        return s.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def firms_csv(tmp_path_factory) -> Path:
    """A season of FIRMS detections over northern Thailand (bench/firms_ingest.py's seeded generator)."""
    from bench.firms_ingest import generate

    path = tmp_path_factory.mktemp("firms") / "firms_viirs_season.csv"
    generate(path, FIRMS_ROWS)
    return path


@pytest.fixture
def probe(db_url):
    """A connection-per-use engine, so that the only other sessions on the database are the server's."""
    engine = create_engine(_url_text(db_url), poolclass=NullPool)
    yield engine
    engine.dispose()


# --- what must hold after a fault ------------------------------------------------------------------
def table_counts(engine) -> dict[str, int]:
    with engine.connect() as c:
        tables = (
            c.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'spatial_ref_sys' ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        counts = {t: c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
        counts["audit_counter.last_id"] = c.execute(text("SELECT last_id FROM audit_counter")).scalar_one()
    return counts


def copy_progress(engine, table: str = "hotspots"):
    """A poll of how many rows the server's COPY into ``table`` has sent (on one open connection, autocommit:
    a transaction would see the same snapshot of the other sessions' activity each time)."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def poll() -> int:
        return conn.execute(
            text(
                "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy "
                "WHERE datname = current_database() AND relid = CAST(:t AS regclass)"
            ),
            {"t": table},
        ).scalar_one()

    poll.close = conn.close
    return poll


def wait_until(predicate, what: str, timeout: float = 60, every: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def sessions_gone(engine) -> None:
    """Wait until the killed server's database sessions have ended (their transactions rolled back)."""

    def gone():
        with engine.connect() as c:
            return c.execute(
                text(
                    "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            ).scalar_one()

    wait_until(gone, "the killed server's sessions to end", every=0.05)


def audit_verifies(engine) -> int:
    with Session(engine) as session:
        v = audit.verify(session)
    assert v.ok, v.problems
    return v.entries


def nothing_left_behind(server: Server, engine) -> None:
    """After a start-up: the scratch area holds only the running server's own (empty) folder, and the raster
    store only complete COGs that a registered raster points to."""
    tmp = server.data_dir / "tmp"
    folders = sorted(p.name for p in tmp.iterdir())
    assert len(folders) == 1 and folders[0].startswith(f"{server.proc.pid}-"), folders
    assert sorted(p.name for p in (tmp / folders[0]).iterdir()) == [".lock"]
    store = server.data_dir / "rasters"
    with engine.connect() as c:
        registered = set(c.execute(text("SELECT file_sha256 || '.tif' FROM hotspot_rasters")).scalars())
    stored = {p.name for p in store.iterdir()} if store.exists() else set()
    assert stored == registered, stored - registered


def after_the_fault(server: Server, engine, before: dict, servers) -> Server:
    """The checks every fault ends with; returns the restarted server."""
    sessions_gone(engine)
    assert table_counts(engine) == before
    assert audit_verifies(engine) == before["audit_log"]
    restarted = servers(server.url, server.data_dir)
    nothing_left_behind(restarted, engine)
    return restarted


def in_background(fn, *args, **kw) -> threading.Thread:
    """Run the request that will be cut; its outcome (a reset connection) is not what is checked."""

    def run():
        try:
            fn(*args, **kw)
        except httpx.TransportError:
            pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# --- (a) kill -9 during a FIRMS ingest -------------------------------------------------------------
def test_kill_during_a_firms_ingest_leaves_nothing_and_the_rerun_is_complete(
    db_url, probe, servers, tmp_path, firms_csv
):
    csv_path = firms_csv
    server = servers(db_url, tmp_path / "data")
    before = table_counts(probe)

    def upload():
        with open(csv_path, "rb") as f:
            return server.post("/api/v1/admin/hotspots/firms", files={"file": (csv_path.name, f, "text/csv")})

    request = in_background(upload)

    copying = copy_progress(probe)  # the ingest's COPY into hotspots has sent rows
    streamed = wait_until(copying, "the ingest's COPY", every=0.002)
    server.kill()
    copying.close()
    request.join(30)
    assert 0 < streamed < FIRMS_ROWS
    server = after_the_fault(server, probe, before, servers)
    first = server.post("/api/v1/admin/hotspots/firms", files={"file": (csv_path.name, csv_path.read_bytes())})
    assert first.status_code == 201, first.text
    report = first.json()
    assert report["rows_total"] == FIRMS_ROWS and report["rows_refused"] == 0
    with probe.connect() as c:
        stored = c.execute(text("SELECT count(*) FROM hotspots")).scalar_one()
        batches = c.execute(text("SELECT count(*) FROM hotspot_batches WHERE rows_total IS NOT NULL")).scalar()
    assert stored == report["rows_new"] == FIRMS_ROWS - report["rows_outside"] - report["rows_unchanged"]
    assert batches == before["hotspot_batches"] + 1
    again = server.post("/api/v1/admin/hotspots/firms", files={"file": (csv_path.name, csv_path.read_bytes())})
    assert again.status_code == 201, again.text
    assert (again.json()["rows_new"], again.json()["rows_updated"]) == (0, 0)
    assert table_counts(probe)["hotspots"] == stored
    audit_verifies(probe)


# --- (b) kill -9 during a bulk incident import -----------------------------------------------------
def _incident_csv(n: int) -> bytes:
    rng = np.random.default_rng(12)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["kind", "observed_at", "lat", "lon", "description"])
    for i in range(n):
        w.writerow(
            [
                "burning",
                f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+07:00",
                f"{18.05 + rng.random() * 0.4:.6f}",
                f"{100.05 + rng.random() * 0.25:.6f}",
                f"ไฟไหม้ป่า แปลงที่ {i}",
            ]
        )
    return out.getvalue().encode()


def test_kill_during_a_bulk_import_leaves_nothing_and_the_rerun_is_complete(db_url, probe, servers, tmp_path):
    data = _incident_csv(IMPORT_ROWS)
    form = {"dry_run": "false", "confirm_outside_province": "true"}
    server = servers(db_url, tmp_path / "data")
    before = table_counts(probe)
    request = in_background(
        server.post, "/api/v1/incidents/import", data=form, files={"file": ("field_reports.csv", data, "text/csv")}
    )

    with probe.connect().execution_options(isolation_level="AUTOCOMMIT") as c:  # the import has stored incidents
        wait_until(
            lambda: c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_xid IS NOT NULL AND query LIKE 'INSERT INTO incidents%'"
                )
            ).scalar(),
            "the import's INSERTs",
            timeout=120,
        )
        server.kill()
    request.join(30)
    server = after_the_fault(server, probe, before, servers)
    first = server.post("/api/v1/incidents/import", data=form, files={"file": ("field_reports.csv", data)})
    assert first.status_code == 201, first.text
    assert first.json()["counts"] == {"ok": IMPORT_ROWS, "refused": 0, "duplicate": 0}
    counts = table_counts(probe)
    assert counts["incidents"] == before["incidents"] + IMPORT_ROWS
    again = server.post("/api/v1/incidents/import", data=form, files={"file": ("field_reports.csv", data)})
    assert again.json()["counts"] == {"ok": 0, "refused": 0, "duplicate": IMPORT_ROWS}
    assert table_counts(probe)["incidents"] == counts["incidents"]
    audit_verifies(probe)


# --- (c) kill -9 during a raster registration ------------------------------------------------------
def _fire_mask(path: Path, side: int) -> Path:
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    x, y = Transformer.from_crs(4326, 32647, always_xy=True).transform(100.2157, 18.4695)  # inside Song
    rng = np.random.default_rng(7)
    a = np.where(rng.random((side, side)) < 0.02, np.uint8(9), np.uint8(5))
    res = 20
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=side,
        height=side,
        count=1,
        dtype="uint8",
        crs="EPSG:32647",
        transform=from_origin(x - res * side / 2, y + res * side / 2, res, res),
        nodata=255,
    ) as dst:
        dst.write(a, 1)
    return path


@pytest.mark.parametrize("moment", ["converting", "zonal_statistics"])
def test_kill_during_a_raster_registration_leaves_no_row_and_no_file(db_url, probe, servers, tmp_path, moment):
    tif = _fire_mask(tmp_path / "phrae_fire_mask.tif", 4000)
    sha = hashlib.sha256(tif.read_bytes()).hexdigest()
    form = {"product": "fire_mask", "acq_date": "2026-03-15"}
    server = servers(db_url, tmp_path / "data")
    before = table_counts(probe)

    def upload():
        with open(tif, "rb") as f:
            return server.post("/api/v1/admin/rasters", data=form, files={"file": (tif.name, f, "image/tiff")})

    request = in_background(upload)

    def converting():  # the COG conversion has written its first file (anywhere in the data folder)
        try:
            return [p for p in server.data_dir.rglob("*.tif") if p.name != tif.name]
        except FileNotFoundError:  # a folder went away while it was listed
            return []

    if moment == "converting":
        wait_until(converting, "the COG conversion")
    else:  # the COG is complete in the store, the row inserted, the zones read: the statistics are computed
        with probe.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            wait_until(
                lambda: c.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND backend_xid IS NOT NULL AND query LIKE '%district_protected_area%'"
                    )
                ).scalar(),
                "the zonal statistics",
                timeout=120,
            )
        assert (server.data_dir / "rasters" / f"{sha}.tif").exists()
    server.kill()
    request.join(30)
    server = after_the_fault(server, probe, before, servers)
    first = server.post("/api/v1/admin/rasters", data=form, files={"file": (tif.name, tif.read_bytes())})
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "registered" and first.json()["file_sha256"] == sha
    again = server.post("/api/v1/admin/rasters", data=form, files={"file": (tif.name, tif.read_bytes())})
    assert again.status_code == 200 and again.json()["status"] == "already_registered"
    assert sorted(p.name for p in (server.data_dir / "rasters").iterdir()) == [f"{sha}.tif"]
    counts = table_counts(probe)
    assert counts["hotspot_rasters"] == before["hotspot_rasters"] + 1
    audit_verifies(probe)


def test_start_up_sweep_keeps_a_cog_whose_registration_is_under_way(db_url, sessionmaker_for, tmp_path):
    """The sweep that removes a killed registration's complete COG leaves alone one that a running process has
    just renamed into the store and not yet committed (it holds the file's advisory lock)."""
    from geo_service.hotspots.rasters import _file_key, remove_unregistered

    factory = sessionmaker_for(db_url)
    busy, orphan = "a" * 64, "b" * 64
    for sha in (busy, orphan):
        (tmp_path / f"{sha}.tif").write_bytes(b"a complete COG")
    (tmp_path / "notes.tif").write_bytes(b"not one of ours")
    with factory() as registering, registering.begin():
        registering.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": _file_key(busy)})
        with factory() as session, session.begin():
            assert remove_unregistered(session, tmp_path) == [tmp_path / f"{orphan}.tif"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{busy}.tif", "notes.tif"])
    with factory() as session, session.begin():
        assert remove_unregistered(session, tmp_path) == [tmp_path / f"{busy}.tif"]


# --- (d) the database stops in the middle of an export stream and of an ingest ---------------------
# tests/test_export_integrity.py cuts one session with pg_terminate_backend; here the whole PostgreSQL
# server of a cluster of this test's own stops (immediate mode: the way a crash ends it) and starts again.
EXPORT_ROWS = 50_000


@pytest.fixture
def own_cluster():
    """A cluster of this test's own, migrated and loaded with the bundled layers like the template database."""
    from geo_service.db.local_pg import LocalPostgres

    root = Path(tempfile.mkdtemp(prefix="geo_service_fault_pg_"))
    os.chmod(root, 0o755)  # the server's own user must reach its data folder
    # durable: a crash test on a cluster with synchronous_commit off would lose acknowledged commits (the
    # export's audit entry) to the stop itself, which is the test cluster's shortcut, not the service's fault
    cluster = LocalPostgres(root, port=free_port(), durable=True)
    try:
        cluster.start()
        cluster.ensure_database("geo")
        url = cluster.url("geo")
        migrate.upgrade(url)
        engine = make_engine(url, pool_size=1)
        with transaction(make_sessionmaker(engine)) as session:
            load_bundled(session)
        engine.dispose()
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def _crash(cluster) -> None:
    """Stop PostgreSQL the hard way (immediate: no checkpoint, sessions cut, crash recovery at the next start)."""
    cluster._run(["pg_ctl", "-D", str(cluster.data_dir), "-m", "immediate", "-w", "stop"])


def _outage_answer(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"


def test_a_database_stop_mid_export_and_mid_ingest_is_a_clean_failure_and_recovers(
    own_cluster, servers, tmp_path, firms_csv
):
    import http.client

    url = own_cluster.url("geo")
    probe = create_engine(_url_text(url), poolclass=NullPool)
    with probe.begin() as c:
        c.execute(
            text("""
            INSERT INTO incidents (kind, observed_at, geom, location_text, location_format, location_datum,
                                   description, district_code)
            SELECT 'wildfire', now() - (g || ' minutes')::interval,
                   ST_SetSRID(ST_MakePoint(99.9 + random() * 0.4, 17.9 + random() * 0.5), 4326), 'synthetic',
                   'decimal', 'WGS84', 'synthetic row ' || g, '5401'
            FROM generate_series(1, :n) g"""),
            {"n": EXPORT_ROWS},
        )
    csv_path = firms_csv
    server = servers(url, tmp_path / "data")
    before = table_counts(probe)

    # 1. the export stream: the client sees a broken stream, never a complete-looking 200
    base = urllib.parse.urlsplit(server.base)
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
    conn.request("GET", "/api/v1/exports/incidents?f=ndjson", headers=AUTH)
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("transfer-encoding") == "chunked"
    received = len(r.read1(1 << 16))
    _crash(own_cluster)
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):  # no terminating chunk
        while block := r.read1(1 << 20):
            received += len(block)
    conn.close()

    # 2. while the database is down: a clean 503, and the upload's scratch files are gone
    _outage_answer(
        server.post("/api/v1/admin/hotspots/firms", files={"file": ("small.csv", csv_path.read_bytes()[: 1 << 20])})
    )
    _outage_answer(httpx.get(server.base + "/api/v1/incidents", headers=AUTH, timeout=60))
    own_cluster.start()

    # 3. an ingest whose COPY is under way when the database stops
    def upload():
        with open(csv_path, "rb") as f:
            return server.post("/api/v1/admin/hotspots/firms", files={"file": (csv_path.name, f)})

    outcome: dict = {}
    request = threading.Thread(target=lambda: outcome.update(r=upload()), daemon=True)
    request.start()

    copying = copy_progress(probe)
    wait_until(copying, "the ingest's COPY", every=0.002)
    _crash(own_cluster)
    copying.close()
    request.join(120)
    _outage_answer(outcome["r"])
    own_cluster.start()

    # 4. the service recovers without a restart; nothing of either cut request is stored, only the audit entry
    #    the export wrote before it streamed (who took which collection is recorded, even when cut short)
    one_more = before["audit_log"] + 1
    assert table_counts(probe) == {**before, "audit_log": one_more, "audit_counter.last_id": one_more}
    with probe.connect() as c:
        assert c.execute(text("SELECT action, entity_id FROM audit_log ORDER BY id DESC LIMIT 1")).one() == (
            "export",
            "incidents",
        )
    assert audit_verifies(probe) == one_more
    nothing_left_behind(server, probe)
    r = httpx.get(server.base + "/api/v1/exports/incidents", params={"f": "ndjson"}, headers=AUTH, timeout=120)
    assert r.status_code == 200 and r.headers["x-feature-count"] == str(EXPORT_ROWS)
    body = r.content.rstrip(b"\n")
    features, summary = body[: body.rfind(b"\n") + 1], json.loads(body[body.rfind(b"\n") + 1 :])
    assert summary["numberReturned"] == EXPORT_ROWS == features.count(b"\n")
    assert summary["sha256"] == hashlib.sha256(features).hexdigest()
    assert received < len(r.content)
    again = upload()
    assert again.status_code == 201, again.text
    assert table_counts(probe)["hotspots"] == again.json()["rows_new"] > 0
    audit_verifies(probe)
    probe.dispose()
