"""Exports that cannot lie: a stream cut short by a server failure ends as a failure for the client (no
terminating chunk), and every export carries its feature count and a SHA-256 a partner can check."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
import time
import urllib.parse

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _url_text
from tests.samples import insert_synthetic_incidents

N = 200_000


def _incidents(db_url, n=N):
    engine = create_engine(_url_text(db_url))
    with engine.begin() as c:
        insert_synthetic_incidents(c, n)
    return engine


def _kill_copy(engine, stop: threading.Event):
    """Terminate the backend that runs the export's COPY as soon as it shows up."""
    while not stop.is_set():
        with engine.begin() as c:
            n = c.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE 'COPY (SELECT%' AND pid <> pg_backend_pid()"
                )
            ).scalar()
        if n:
            return
        time.sleep(0.01)


@pytest.mark.parametrize("fmt", ["ndjson", "geojson"])
@pytest.mark.slow
def test_a_stream_cut_by_a_database_failure_is_an_error_for_the_client(db_url, live_server, admin_headers, fmt):
    engine = _incidents(db_url)
    base = urllib.parse.urlsplit(live_server(db_url))
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
    conn.request("GET", f"/api/v1/exports/incidents?f={fmt}", headers=admin_headers)
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("transfer-encoding") == "chunked"
    received = len(r.read1(1 << 16))
    stop = threading.Event()
    killer = threading.Thread(target=_kill_copy, args=(engine, stop))
    killer.start()
    try:
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):  # no terminating chunk
            while block := r.read1(1 << 20):
                received += len(block)
    finally:
        stop.set()
        killer.join()
        conn.close()
        engine.dispose()
    assert received < 40e6  # cut short (the whole export is about 50 MB), and the client knows it


def _summary_line(body: bytes) -> tuple[bytes, dict]:
    cut = body.rstrip(b"\n").rfind(b"\n") + 1
    return body[:cut], json.loads(body[cut:])


def test_every_export_carries_count_and_checksum(client, db_url, admin_headers):
    _incidents(db_url, 1234).dispose()
    r = client.get("/api/v1/exports/incidents", params={"f": "ndjson"}, headers=admin_headers)
    features, summary = _summary_line(r.content)
    assert r.headers["x-feature-count"] == "1234"
    assert summary == {"type": "ExportSummary", "numberReturned": 1234, "sha256": hashlib.sha256(features).hexdigest()}
    assert features.count(b"\n") == 1234

    r = client.get("/api/v1/exports/incidents", params={"f": "geojson"}, headers=admin_headers)
    doc = r.json()
    assert len(doc["features"]) == doc["numberReturned"] == 1234 and r.headers["x-feature-count"] == "1234"
    covered = r.content[: r.content.rindex(b',"numberReturned":')]
    assert doc["sha256"] == hashlib.sha256(covered).hexdigest()

    r = client.get("/api/v1/exports/incidents", params={"f": "gpkg"}, headers=admin_headers)
    assert r.headers["x-feature-count"] == "1234"
    digest = base64.b64encode(hashlib.sha256(r.content).digest()).decode()
    assert r.headers["repr-digest"] == f"sha-256=:{digest}:"
