"""The FIRMS area API client and `hotspots fetch`, against a fake FIRMS server on loopback started here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import text

from geo_service.hotspots.fetch import (
    FirmsClient,
    FirmsRefused,
    FirmsUnavailable,
    day_windows,
    fetch_area,
)
from tests.samples import VIIRS_HEADER

KEY = "0123456789abcdef0123456789abcdef"


class FakeFirms:
    """Serves the two FIRMS routes the client uses; fails on purpose where a test asks it to."""

    def __init__(self):
        self.requests: list[str] = []
        self.transactions = 0
        self.limit = 5000
        self.fail_next: list[tuple[int, dict]] = []  # (status, headers) answered before the real answer
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body: bytes, ctype="text/plain", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                fake.requests.append(self.path)
                url = urlparse(self.path)
                if url.path.startswith("/mapserver/mapkey_status/"):
                    if parse_qs(url.query).get("MAP_KEY") != [KEY]:
                        return self._send(200, b'{"message": "Invalid MAP_KEY."}', "application/json")
                    return self._send(
                        200,
                        json.dumps(
                            {
                                "transaction_limit": fake.limit,
                                "current_transactions": fake.transactions,
                                "transaction_interval": "10 minutes",
                            }
                        ).encode(),
                        "application/json",
                    )
                parts = url.path.strip("/").split("/")
                if parts[:3] != ["api", "area", "csv"] or len(parts) != 8:
                    return self._send(404, b"Not found")
                _, _, _, key, _source, area, days, start = parts
                if key != KEY:
                    return self._send(200, b"Invalid MAP_KEY.")
                if fake.fail_next:
                    status, headers = fake.fail_next.pop(0)
                    return self._send(status, b"busy", headers=headers)
                fake.transactions += 1
                west, south, east, north = (float(v) for v in area.split(","))
                lines = []
                d0 = date.fromisoformat(start)
                for k in range(int(days)):
                    day = d0 + timedelta(days=k)
                    # two detections a day inside the box: a day pass and a night pass (leading-zero time)
                    lat, lon = (south + north) / 2, (west + east) / 2 + k * 0.001
                    lines.append(f"{lat:.5f},{lon:.5f},330.1,0.4,0.4,{day},0612,N,VIIRS,n,2.0NRT,290.2,3.1,D")
                    lines.append(f"{lat:.5f},{lon:.5f},310.5,0.4,0.4,{day},1836,N,VIIRS,l,2.0NRT,288.0,1.2,N")
                return self._send(200, (VIIRS_HEADER + "\n".join(lines) + "\n").encode(), "text/csv")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def firms():
    with FakeFirms() as fake:
        yield fake


def _client(firms, **kw):
    waits = []
    c = FirmsClient(KEY, base_url=firms.url, backoff_s=1.0, timeout_s=10, sleep=waits.append, **kw)
    return c, waits


BBOX = (99.9, 18.0, 100.3, 18.3)


def test_day_windows_split_into_ten_day_requests():
    assert day_windows(date(2024, 3, 1), date(2024, 3, 12)) == [(date(2024, 3, 1), 10), (date(2024, 3, 11), 2)]
    assert day_windows(date(2024, 3, 1), date(2024, 3, 1)) == [(date(2024, 3, 1), 1)]


def test_fetch_retries_with_back_off_and_honours_retry_after(firms, tmp_path):
    firms.fail_next = [(503, {}), (429, {"Retry-After": "7"})]
    client, waits = _client(firms)
    files = fetch_area(client, "VIIRS_SNPP_NRT", BBOX, date(2024, 3, 1), date(2024, 3, 12), tmp_path)
    assert [f.name for f in files] == ["VIIRS_SNPP_NRT_2024-03-01_10d.csv", "VIIRS_SNPP_NRT_2024-03-11_2d.csv"]
    assert waits == [1.0, 7.0]  # exponential back-off (1 s, then 2 s) but at least Retry-After
    assert sum(1 for line in files[0].read_text().splitlines()[1:]) == 20
    area_requests = [r for r in firms.requests if r.startswith("/api/area/csv/")]
    assert area_requests[-1].endswith("/VIIRS_SNPP_NRT/99.9,18,100.3,18.3/2/2024-03-11")
    assert len(area_requests) == 4  # 2 failures + 2 answers


def test_quota_invalid_key_and_persistent_failure(firms, tmp_path):
    firms.transactions = 4996
    client, _ = _client(firms)
    with pytest.raises(FirmsRefused) as err:
        fetch_area(client, "VIIRS_SNPP_NRT", BBOX, date(2024, 3, 1), date(2024, 3, 1), tmp_path)
    assert err.value.code == "firms_quota"
    assert not [r for r in firms.requests if r.startswith("/api/area/")]  # nothing spent

    bad = FirmsClient("wrong-key", base_url=firms.url, sleep=lambda s: None)
    with pytest.raises(FirmsRefused):
        bad.area_csv("VIIRS_SNPP_NRT", BBOX, 1, date(2024, 3, 1))

    firms.transactions = 0
    firms.fail_next = [(500, {})] * 10
    client, waits = _client(firms, max_attempts=3)
    with pytest.raises(FirmsUnavailable):
        client.area_csv("MODIS_NRT", BBOX, 1, date(2024, 3, 1))
    assert waits == [1.0, 2.0]


@pytest.mark.slow
def test_cli_fetch_ingests_through_the_same_path(firms, db_url, tmp_path):
    url = db_url if isinstance(db_url, str) else db_url.render_as_string(hide_password=False)
    env = {
        **os.environ,
        "COLUMNS": "200",
        "GEO_SERVICE_DATABASE_URL": url,
        "GEO_SERVICE_DATA_DIR": str(tmp_path),
        "GEO_SERVICE_FIRMS_URL": firms.url,
        "GEO_SERVICE_FIRMS_MAP_KEY": KEY,
        "GEO_SERVICE_FIRMS_BACKOFF_S": "0",
    }
    firms.fail_next = [(502, {})]
    cli = [sys.executable, "-m", "geo_service.cli", "hotspots"]
    proc = subprocess.run(
        [
            *cli,
            "fetch",
            "--source",
            "VIIRS_SNPP_NRT",
            "--bbox",
            "100.0,18.0,100.2,18.3",
            "--start",
            "2024-03-01",
            "--end",
            "2024-03-03",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 file(s) from FIRMS (3 requests)" in proc.stderr  # quota check, one 502, the answer
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*), count(DISTINCT district_code) FROM hotspots")).one() == (6, 1)
        assert c.execute(text("SELECT source FROM hotspot_batches")).scalar() == "firms-api:VIIRS_SNPP_NRT"
        assert c.execute(text("SELECT count(*) FROM fire_events")).scalar() >= 1
    engine.dispose()
    # a bad file: exit 1 with line, column and reason; the summary command reads what is stored
    bad = tmp_path / "bad.csv"
    bad.write_text(VIIRS_HEADER + "18.1,100.1,330,0.4,0.4,2024-03-01,9999,N,VIIRS,n,2.0NRT,290,2.0,D\n")
    proc = subprocess.run([*cli, "ingest", str(bad)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "line: 2" in proc.stderr and "acq_time" in proc.stderr
    proc = subprocess.run([*cli, "summary", "--period", "day"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "2024-03-01" in proc.stdout
    proc = subprocess.run(
        [*cli, "summary", "--period", "fire_season", "--previous-year"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "previous_year_detections" in proc.stdout and "BE 2567" in proc.stdout
