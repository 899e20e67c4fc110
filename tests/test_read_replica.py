"""Read routing against a real streaming replica: a second local cluster made with ``pg_basebackup -R``.

The primary and its standby are started only by the tests of this module that need them (a session fixture:
the rest of the suite never pays for them). The proof that a read was served by the replica: replay is paused
on the standby (``pg_wal_replay_pause()``), a write lands on the primary, and a reader who did not write does
not see it while the writer does.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from samples import VIIRS_HEADER
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from geo_service.db import migrate
from geo_service.db.engine import make_engine, make_read_router, make_sessionmaker, transaction
from geo_service.db.local_pg import LocalPostgres, free_port
from geo_service.db.read_routing import REPLICA, format_lsn, parse_lsn
from geo_service.layers.manifest import load_bundled
from geo_service.settings import Settings

DB = "geo_replicated"


def _url_text(url) -> str:
    return url.render_as_string(hide_password=False)


def _sql(cluster: LocalPostgres, query: str):
    with psycopg.connect(
        host=cluster.host, port=cluster.port, user="postgres", password=cluster.password(), dbname=DB, autocommit=True
    ) as conn:
        return conn.execute(query).fetchone()


def _wait_caught_up(primary: LocalPostgres, standby: LocalPostgres, timeout: float = 30) -> None:
    target = parse_lsn(_sql(primary, "SELECT pg_current_wal_insert_lsn()::text")[0]) or 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replayed = parse_lsn(_sql(standby, "SELECT pg_last_wal_replay_lsn()::text")[0]) or 0
        if replayed >= target:
            return
        time.sleep(0.05)
    raise AssertionError("the standby did not catch up")


@pytest.fixture(scope="session")
def replicated():
    """A primary (migrated, bundled layers loaded) and its streaming standby, both running."""
    root = Path(tempfile.mkdtemp(prefix="geo_service_test_replica_"))
    os.chmod(root, 0o755)
    primary = LocalPostgres(root / "primary", port=free_port(), durable=False, replication=True)
    primary.start()
    standby = None
    try:
        primary.ensure_database(DB)
        url = primary.url(DB)
        migrate.upgrade(url)
        engine = make_engine(url, pool_size=2)
        with transaction(make_sessionmaker(engine)) as session:
            load_bundled(session)
        engine.dispose()
        standby = primary.make_standby(root / "standby", free_port())
        standby.start()
        _wait_caught_up(primary, standby)
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def replica_app(replicated, client_factory):
    """``make(**settings)``: an API client on the primary with the standby as its read replica."""
    primary, standby = replicated
    _sql(standby, "SELECT pg_wal_replay_resume()")
    _wait_caught_up(primary, standby)

    def make(caught_up: bool = True, **extra):
        settings = {"replica_url": _url_text(standby.url(DB)), "replica_check_s": 0, "replica_retry_s": 0, **extra}
        client = client_factory(primary.url(DB), **settings)
        # the app's start-up writes on the primary (area of interest, partitions ahead): until the standby has
        # replayed that, its lag is unknown and reads rightly go to the primary (a test that paused the replay
        # says caught_up=False)
        if caught_up:
            _wait_caught_up(primary, standby)
        return client

    yield make
    if standby.running():
        _sql(standby, "SELECT pg_wal_replay_resume()")
    else:
        standby.start()
    _wait_caught_up(primary, standby)


ADMIN = {"Authorization": "Bearer test-admin-token-" + "x" * 24}


def _post_fires(client, acq_time: str, n: int = 3) -> str:
    """Ingest ``n`` VIIRS detections in Phrae at ``acq_time`` on 2024-03-14; returns the write's WAL position."""
    rows = "".join(
        f"18.{2000 + 7 * i},100.{3000 + 7 * i},340.1,0.39,0.36,2024-03-14,{acq_time},N,VIIRS,n,2.0NRT,295.3,4.1,D\n"
        for i in range(n)
    )
    r = client.post(
        "/api/v1/admin/hotspots/firms", headers=ADMIN, files={"file": ("v.csv", (VIIRS_HEADER + rows).encode())}
    )
    assert r.status_code == 201, r.text
    assert parse_lsn(r.headers["X-Write-LSN"]) is not None
    assert r.cookies.get("geo_write_lsn") == r.headers["X-Write-LSN"]
    return r.headers["X-Write-LSN"]


def _matched(response) -> int:
    assert response.status_code == 200, response.text
    return response.json()["numberMatched"]


def test_lsn_text_round_trips():
    assert parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/0") == 0
    for bad in (None, "", "16", "x/y", "1/2/3", "123456789/0"):
        assert parse_lsn(bad) is None


def test_without_a_replica_every_read_is_on_the_primary_as_before(ref_client):
    r = ref_client.get("/api/v1/hotspots", params={"limit": 1})
    assert r.status_code == 200
    assert "X-Read-From" not in r.headers
    reads = ref_client.get("/health").json()["reads"]
    assert reads == {
        "reads_from": "primary",
        "reason": "no replica configured",
        "replica_configured": False,
        "replica_reachable": None,
        "replica_lag_s": None,
        "replica_replay_lsn": None,
        "max_lag_s": None,
    }


def test_a_reading_route_cannot_write_even_on_the_primary(ref_url):
    """The read sessions are READ ONLY on either database: a route declared as a reader that writes fails in every
    deployment, not only in one with a replica."""
    engine = make_engine(ref_url, pool_size=1)
    router = make_read_router(Settings(database_url=_url_text(ref_url), environment="test"), engine)
    try:
        with router.choose().sessionmaker() as session, pytest.raises(DBAPIError, match="read-only transaction"):
            session.execute(text("CREATE TEMP TABLE t (i int)"))
        with make_sessionmaker(engine)() as session:  # the pool's connection is read-write again
            assert session.execute(text("SELECT current_setting('transaction_read_only')")).scalar() == "off"
    finally:
        engine.dispose()


@pytest.mark.slow
def test_reads_go_to_the_replica_and_a_writer_reads_its_own_write(replicated, replica_app):
    primary, standby = replicated
    client = replica_app(replica_max_lag_s=3600)
    before = _matched(client.get("/api/v1/hotspots", params={"limit": 1}))
    # a read with no recent write of the caller's own is served by the replica
    served = [client.get("/api/v1/hotspots", params={"limit": 1}).headers["X-Read-From"] for _ in range(20)]
    assert served == [REPLICA] * 20

    _sql(standby, "SELECT pg_wal_replay_pause()")
    client.cookies.clear()
    lsn = _post_fires(client, "0301")
    # the writer, with the position in its cookie (a browser) or header (an API client), reads the primary ...
    r = client.get("/api/v1/hotspots", params={"limit": 1})
    assert r.headers["X-Read-From"] == "primary"
    assert _matched(r) == before + 3
    client.cookies.clear()
    r = client.get("/api/v1/hotspots", params={"limit": 1}, headers={"X-Write-LSN": lsn})
    assert (r.headers["X-Read-From"], _matched(r)) == ("primary", before + 3)
    # ... while anyone else is served by the paused replica, which has not seen the write: proof of where it read
    for route in ("/api/v1/hotspots", "/ogc/collections/hotspots/items"):
        r = client.get(route, params={"limit": 1})
        assert (r.headers["X-Read-From"], _matched(r)) == ("replica", before), route
    export = client.get("/api/v1/exports/hotspots", params={"f": "ndjson"})
    assert export.headers["X-Read-From"] == "replica"
    assert export.headers["X-Feature-Count"] == str(before)
    # a position that is not one is read on the primary (never a 4xx, never a stale answer)
    r = client.get("/api/v1/hotspots", params={"limit": 1}, headers={"X-Write-LSN": "not-a-position"})
    assert (r.headers["X-Read-From"], _matched(r)) == ("primary", before + 3)

    # once the replica has replayed the write, the writer reads there too
    _sql(standby, "SELECT pg_wal_replay_resume()")
    _wait_caught_up(primary, standby)
    r = client.get("/api/v1/hotspots", params={"limit": 1}, headers={"X-Write-LSN": lsn})
    assert (r.headers["X-Read-From"], _matched(r)) == ("replica", before + 3)


@pytest.mark.slow
def test_the_audit_record_of_a_replica_read_is_written_on_the_primary(replicated, replica_app):
    primary, _ = replicated
    client = replica_app(replica_max_lag_s=3600)
    count = "SELECT count(*) FROM audit_log WHERE action = 'export'"
    before = _sql(primary, count)[0]
    r = client.get("/ogc/collections/hotspots/items", params={"limit": 1})
    assert r.headers["X-Read-From"] == "replica"
    export = client.get("/api/v1/exports/hotspots", params={"f": "csv"})
    assert export.status_code == 200 and export.headers["X-Read-From"] == "replica"
    assert _sql(primary, count)[0] == before + 2


@pytest.mark.slow
def test_a_replica_further_behind_than_the_limit_is_not_read(replicated, replica_app):
    _, standby = replicated
    strict = replica_app(replica_max_lag_s=0.5)
    assert strict.get("/api/v1/hotspots", params={"limit": 1}).headers["X-Read-From"] == "replica"
    assert strict.get("/health").json()["reads"]["replica_lag_s"] == 0  # caught up: no lag, however idle

    _sql(standby, "SELECT pg_wal_replay_pause()")
    _post_fires(strict, "0302")
    strict.cookies.clear()
    time.sleep(0.6)  # the replica's newest replayed transaction is now older than the limit
    r = strict.get("/api/v1/hotspots", params={"limit": 1})
    assert r.headers["X-Read-From"] == "primary"
    reads = strict.get("/health").json()["reads"]
    assert reads["reads_from"] == "primary" and reads["replica_lag_s"] > 0.5
    assert "over 0.5 s" in reads["reason"]
    # a patient deployment still reads the (paused) replica
    patient = replica_app(caught_up=False, replica_max_lag_s=3600)
    assert patient.get("/api/v1/hotspots", params={"limit": 1}).headers["X-Read-From"] == "replica"


@pytest.mark.slow
def test_reads_still_work_when_the_replica_is_down(replicated, replica_app, caplog):
    primary, standby = replicated
    # a look at the replica's position is kept a minute: the stop is found by the connection checked out before
    # each replica read, not by a new look
    client = replica_app(replica_max_lag_s=3600, replica_check_s=60, replica_retry_s=60)
    count = _matched(client.get("/api/v1/hotspots", params={"limit": 1}))
    assert client.get("/api/v1/hotspots", params={"limit": 1}).headers["X-Read-From"] == "replica"
    standby.stop()
    with caplog.at_level(logging.WARNING, logger="geo_service"):
        started = time.perf_counter()
        r = client.get("/api/v1/hotspots", params={"limit": 1})
        fallback_ms = (time.perf_counter() - started) * 1000
    assert (r.headers["X-Read-From"], _matched(r)) == ("primary", count)
    assert any("read replica: replica not reachable" in m for m in caplog.messages)
    for route in ("/ogc/collections/hotspots/items", "/api/v1/hotspots/summary"):
        r = client.get(route, params={"limit": 1} if "items" in route else {})
        assert (r.status_code, r.headers["X-Read-From"]) == (200, "primary"), route
    health = client.get("/health").json()["reads"]
    assert health["replica_reachable"] is False and health["reads_from"] == "primary"
    print(f"first read after the replica stopped: {fallback_ms:.0f} ms")
    standby.start()
    _wait_caught_up(primary, standby)
    assert client.get("/api/v1/hotspots", params={"limit": 1}).headers["X-Read-From"] == "primary"  # retry wait
    assert client.get("/health").json()["reads"]["reads_from"] == "replica"  # the health check looks again
    assert client.get("/api/v1/hotspots", params={"limit": 1}).headers["X-Read-From"] == "replica"
