"""The worker (issue 16, item 1): each job once, catch-up after a gap, the lock between two real worker
processes, a failing job recorded and retried, the status API and CLI, the role policy. FIRMS is a fake server
on loopback started here (never the internet)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import create_engine, text

from geo_service.batch import store as batch_store
from geo_service.batch.jobs import run_attribution
from geo_service.db.engine import transaction
from geo_service.hotspots.fetch import day_windows
from geo_service.worker.catalogue import build_registry, firms_bbox
from geo_service.worker.registry import Registry
from geo_service.worker.runner import Runner
from geo_service.worker.windows import days_to_pull, is_closed, runs_of_days
from tests.conftest import _url_text, cli_env, make_settings
from tests.samples import VIIRS_HEADER
from tests.test_batch import firms_rows, write_archive

KEY = "0123456789abcdef0123456789abcdef"
BOX = "100.0,18.0,100.2,18.3"
JOB = "firms_viirs_snpp_nrt"


class FakeFirms:
    """The FIRMS quota and area routes: two detections a day at the box's centre (a day and a night pass).
    Records each area request as (source, first day, days); ``gate`` holds area answers until set;
    ``fail_next`` answers with an error status first."""

    def __init__(self):
        self.area: list[tuple[str, date, int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next: list[int] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body: bytes, ctype="text/plain"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                if url.path.startswith("/mapserver/mapkey_status/"):
                    ok = parse_qs(url.query).get("MAP_KEY") == [KEY]
                    doc = {"transaction_limit": 5000, "current_transactions": 0} if ok else {"message": "Invalid"}
                    return self._send(200, json.dumps(doc).encode(), "application/json")
                parts = url.path.strip("/").split("/")
                _, _, _, key, source, area, days, start = parts
                if key != KEY:
                    return self._send(200, b"Invalid MAP_KEY.")
                if fake.fail_next:
                    return self._send(fake.fail_next.pop(0), b"busy")
                fake.area.append((source, date.fromisoformat(start), int(days)))
                fake.gate.wait(120)
                west, south, east, north = (float(v) for v in area.split(","))
                lat, lon = (south + north) / 2, (west + east) / 2
                lines = []
                for k in range(int(days)):
                    day = date.fromisoformat(start) + timedelta(days=k)
                    x = lon + (day.toordinal() % 50) * 0.001  # one place a day
                    lines.append(f"{lat:.5f},{x:.5f},330.1,0.4,0.4,{day},0612,N,VIIRS,n,2.0NRT,290.2,3.1,D")
                    lines.append(f"{lat:.5f},{x:.5f},310.5,0.4,0.4,{day},1836,N,VIIRS,l,2.0NRT,288.0,1.2,N")
                return self._send(200, (VIIRS_HEADER + "\n".join(lines) + "\n").encode(), "text/csv")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def days_requested(self) -> list[date]:
        """Every day covered by an area request, once per request that covered it."""
        return [first + timedelta(days=k) for _, first, n in self.area for k in range(n)]


@pytest.fixture
def firms():
    fake = FakeFirms()
    fake.thread.start()
    yield fake
    fake.gate.set()
    fake.server.shutdown()
    fake.server.server_close()


def _settings(db_url, tmp_path, firms, **extra):
    base = {
        "firms_map_key": KEY,
        "firms_url": firms.url,
        "firms_backoff_s": 0,
        "firms_sources": "VIIRS_SNPP_NRT",
        "firms_bbox": BOX,
    }
    return make_settings(db_url, tmp_path, **{**base, **extra})


def _runner(sessionmaker_for, db_url, settings, registry: Registry | None = None) -> Runner:
    r = Runner(sessionmaker_for(db_url), settings, registry or build_registry(settings), worker="test:1")
    r.declare()
    return r


def _windows(sm, job=JOB) -> dict[date, tuple[str, int]]:
    with sm() as s:
        rows = s.execute(text("SELECT window_start, status, pulls FROM worker_windows WHERE job_name = :j"), {"j": job})
        return {r.window_start: (r.status, r.pulls) for r in rows}


def _at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def test_catch_up_rule_by_hand():
    settle = timedelta(hours=6)
    assert not is_closed(date(2024, 3, 4), _at("2024-03-05", "05:59"), settle)
    assert is_closed(date(2024, 3, 4), _at("2024-03-05", "06:00"), settle)
    now = _at("2024-03-09", "09:00")
    # the first run: the initial days ending today
    assert days_to_pull(now, {}, None, initial_days=2, max_days=14) == [date(2024, 3, 8), date(2024, 3, 9)]
    # after 4 days offline: the open day again and every missed day, not the done ones
    recorded = {date(2024, 3, 4): "done", date(2024, 3, 5): "open"}
    assert days_to_pull(now, recorded, date(2024, 3, 4), initial_days=2, max_days=14) == [
        date(2024, 3, 5) + timedelta(days=k) for k in range(5)
    ]
    # never before the first pull, never more than max_days back
    assert days_to_pull(now, {}, date(2024, 3, 8), initial_days=2, max_days=14) == [date(2024, 3, 8), date(2024, 3, 9)]
    assert days_to_pull(now, {}, date(2024, 1, 1), initial_days=2, max_days=3)[0] == date(2024, 3, 7)
    assert runs_of_days([date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 5)]) == [
        (date(2024, 3, 1), date(2024, 3, 2)),
        (date(2024, 3, 5), date(2024, 3, 5)),
    ]


def test_each_job_once_and_the_status_api(
    db_url, tmp_path, firms, sessionmaker_for, client, admin_headers, investigator
):
    calls = []

    def forest_loss_stand_in(session, location, first, last):
        calls.append((location, first, last))
        return session.execute(text("SELECT :n"), {"n": 10 * ((last - first).days + 1)}).scalar()

    tiles = tmp_path / "tiles"
    tiles.mkdir()
    # no fixed box: the area of interest's (Phrae's) bounding box, widened outward to 0.01 degree
    settings = _settings(db_url, tmp_path, firms, firms_bbox=None, forest_loss_source=str(tiles))
    runner = _runner(
        sessionmaker_for, db_url, settings, build_registry(settings, forest_loss_pull=forest_loss_stand_in)
    )
    assert runner.registry.names() == [JOB, "fire_events", "partitions", "batch_resume", "forest_loss"]
    now = _at("2024-03-05", "10:00")
    results = {r.name: r for r in runner.run_all(now=now)}
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(runner.registry.names(), "ok")

    # FIRMS: one request for 2024-03-04 (closed at 06:00 today: done) and 2024-03-05 (open), the same ingest
    sm = runner.sessions
    with sm() as s:
        box = firms_bbox(s, settings)
        batches = s.execute(text("SELECT source, rows_total, rows_new FROM hotspot_batches")).all()
        n_hotspots = s.execute(text("SELECT count(*) FROM hotspots")).scalar()
        events = s.execute(text("SELECT count(*) FROM fire_events")).scalar()
    assert firms.area == [("VIIRS_SNPP_NRT", date(2024, 3, 4), 2)]
    assert box[0] < 100.2 and box[2] > 100.2 and all(abs(v * 100 - round(v * 100)) < 1e-9 for v in box)
    assert batches == [("firms-api:VIIRS_SNPP_NRT", 4, 4)] and n_hotspots == 4 and results[JOB].rows == 4
    assert _windows(sm) == {date(2024, 3, 4): ("done", 1), date(2024, 3, 5): ("open", 1)}
    # events reclustered over the last 3 days: the FIRMS job's ingest made them, so none changes (rows: the events
    # written); partitions: 2024 and 2025 exist; no interrupted batch job
    with sm() as s:
        detail = s.execute(
            text("SELECT detail FROM worker_job_runs WHERE job_name = 'fire_events' ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert events >= 1 and results["fire_events"].rows == 0
    assert detail["unchanged"] == events and detail["created"] == detail["updated"] == 0 and detail["detections"] == 4
    assert results["partitions"].rows == 0 and results["batch_resume"].rows == 0
    # forest loss: the stand-in got the configured folder and the days of the catch-up rule, in one transaction
    assert calls == [(str(tiles), date(2024, 3, 4), date(2024, 3, 5))] and results["forest_loss"].rows == 20
    assert _windows(sm, "forest_loss") == {date(2024, 3, 4): ("done", 1), date(2024, 3, 5): ("open", 1)}
    # partitions ahead: a worker in 2031 (Bangkok) creates 2031 and 2032
    r = runner.run("partitions", now=_at("2031-06-01", "00:00"))
    assert (r.status, r.rows) == ("ok", 2)

    # status API: administrators only
    assert client.get("/api/v1/worker/jobs").status_code == 401
    assert client.get("/api/v1/worker/jobs", headers=investigator).status_code == 403
    resp = client.get("/api/v1/worker/jobs", headers=admin_headers)
    assert resp.status_code == 200, resp.text
    jobs = {j["name"]: j for j in resp.json()}
    assert set(jobs) == {JOB, "fire_events", "partitions", "batch_resume", "forest_loss"}
    firms_job = jobs[JOB]
    assert (firms_job["last_status"], firms_job["last_rows"], firms_job["errors_since_ok"]) == ("ok", 4, 0)
    assert (firms_job["windows_done"], firms_job["windows_open"], firms_job["last_window"]) == (1, 1, "2024-03-05")
    assert firms_job["last_worker"] == "test:1" and firms_job["interval_s"] == 900 and firms_job["enabled"]
    assert jobs["partitions"]["last_rows"] == 2


def test_catch_up_after_a_gap_pulls_each_missed_day_once(db_url, tmp_path, firms, sessionmaker_for):
    settings = _settings(db_url, tmp_path, firms, catchup_max_days=5)
    runner = _runner(sessionmaker_for, db_url, settings)
    sm = runner.sessions
    for now in ("2024-03-05 10:00", "2024-03-05 10:15", "2024-03-09 09:00", "2024-03-09 09:15"):
        assert runner.run(JOB, now=_at(*now.split())).status == "ok"
    # the open day again at each run; after four days offline, 2024-03-05 (now closed) to today in one request
    assert [(d, n) for _, d, n in firms.area] == [
        (date(2024, 3, 4), 2),
        (date(2024, 3, 5), 1),
        (date(2024, 3, 5), 5),
        (date(2024, 3, 9), 1),
    ]
    win = _windows(sm)
    assert win == {
        date(2024, 3, 4): ("done", 1),
        date(2024, 3, 5): ("done", 3),
        date(2024, 3, 6): ("done", 1),
        date(2024, 3, 7): ("done", 1),
        date(2024, 3, 8): ("done", 1),
        date(2024, 3, 9): ("open", 2),
    }
    closed = [d for d in firms.days_requested() if d <= date(2024, 3, 8) and d != date(2024, 3, 5)]
    assert sorted(closed) == sorted(set(closed))  # each missed (closed) day pulled exactly once
    with sm() as s:
        assert s.execute(text("SELECT count(*) FROM hotspots")).scalar() == 12  # 6 days x 2, nothing twice
        assert s.execute(text("SELECT sum(rows_new), sum(rows_unchanged) FROM hotspot_batches")).one() == (12, 6)
    # longer offline than catchup_max_days (5): the 5 days ending today, the older gap is left (and shows)
    firms.area.clear()
    assert runner.run(JOB, now=_at("2024-03-20", "12:00")).rows == 10
    assert [(d, n) for _, d, n in firms.area] == [(date(2024, 3, 16), 5)]
    win = _windows(sm)
    assert date(2024, 3, 12) not in win and win[date(2024, 3, 9)] == ("open", 2)  # left behind, shown as open


def test_a_failing_job_is_recorded_with_its_error_and_retried_next_run(db_url, tmp_path, firms, sessionmaker_for):
    def broken(session, location, first, last):
        raise RuntimeError("tile index unreadable <script>")

    settings = _settings(db_url, tmp_path, firms, firms_max_attempts=1, forest_loss_source=str(tmp_path))
    runner = _runner(sessionmaker_for, db_url, settings, build_registry(settings, forest_loss_pull=broken))
    firms.fail_next = [503]
    now = _at("2024-03-05", "10:00")
    results = {r.name: r for r in runner.run_all(now=now)}
    assert results[JOB].status == "error" and "FIRMS did not answer after 1 attempts" in results[JOB].error
    assert results["forest_loss"].status == "error"
    assert results["forest_loss"].error == "RuntimeError: tile index unreadable <script>"
    assert results["fire_events"].status == "ok"  # one job's failure stops no other
    sm = runner.sessions
    assert _windows(sm) == {} and _windows(sm, "forest_loss") == {}  # nothing recorded as pulled
    with sm() as s:
        assert s.execute(text("SELECT count(*) FROM hotspots")).scalar() == 0
        row = s.execute(text("SELECT status, error, rows FROM worker_job_runs WHERE job_name = :j"), {"j": JOB}).one()
    assert row.status == "error" and "HTTP 503" in row.error and row.rows is None
    # the next run pulls the same days
    r = runner.run(JOB, now=now + timedelta(minutes=15))
    assert (r.status, r.rows) == ("ok", 4)
    assert [(d, n) for _, d, n in firms.area] == [(date(2024, 3, 4), 2)]
    with transaction(sm) as s:
        from geo_service.worker.status import job_status

        st = {j["name"]: j for j in job_status(s, settings)}
    assert (st[JOB]["last_status"], st[JOB]["errors_since_ok"], st[JOB]["last_error"]) == ("ok", 0, None)
    assert st["forest_loss"]["errors_since_ok"] == 1 and "unreadable" in st["forest_loss"]["last_error"]
    # a second failure counts on
    runner.run("forest_loss", now=now)
    with transaction(sm) as s:
        assert {j["name"]: j for j in job_status(s, settings)}["forest_loss"]["errors_since_ok"] == 2


def test_an_interrupted_batch_job_is_resumed(db_url, tmp_path, firms, sessionmaker_for):
    settings = _settings(db_url, tmp_path, firms, batch_resume_idle_s=0)
    runner = _runner(sessionmaker_for, db_url, settings)
    sm = runner.sessions
    folder = write_archive(firms_rows(900, (100.0, 17.9, 100.4, 18.4), seed=3), tmp_path / "archive", 3)

    class Killed(Exception):
        pass

    def die_after_one(name, rows):
        raise Killed

    with pytest.raises(Killed):
        run_attribution(partial(transaction, sm), folder, progress=die_after_one)
    with sm() as s:
        [job] = batch_store.list_jobs(s)
        first_done = {p["part"]: p["done_at"] for p in batch_store.job_parts(s, job["id"]) if p["done_at"]}
    assert (job["status"], job["parts_done"], job["parts_total"]) == ("running", 1, 3)
    r = runner.run("batch_resume")
    assert r.status == "ok", r.error
    with sm() as s:
        [after] = batch_store.list_jobs(s)
        parts = batch_store.job_parts(s, job["id"])
        detail = s.execute(text("SELECT detail FROM worker_job_runs WHERE id = :i"), {"i": r.run_id}).scalar()
    assert (after["status"], after["parts_done"], after["rows"]) == ("done", 3, 900)
    assert r.rows == 900 - job["rows"] and detail["resumed"] == [job["id"]]
    assert {p["part"]: p["done_at"] for p in parts if p["part"] in first_done} == first_done  # not rewritten
    assert runner.run("batch_resume").rows == 0  # nothing left to resume


def _env(db_url, tmp_path, firms, **extra) -> dict:
    return {
        **os.environ,
        "COLUMNS": "200",
        "GEO_SERVICE_DATABASE_URL": _url_text(db_url),
        "GEO_SERVICE_DATA_DIR": str(tmp_path / "var"),
        "GEO_SERVICE_FIRMS_URL": firms.url,
        "GEO_SERVICE_FIRMS_MAP_KEY": KEY,
        "GEO_SERVICE_FIRMS_BACKOFF_S": "0",
        "GEO_SERVICE_WORKER_FIRMS_SOURCES": "VIIRS_SNPP_NRT",
        "GEO_SERVICE_WORKER_FIRMS_BBOX": BOX,
        **extra,
    }


CLI = [sys.executable, "-m", "geo_service.cli", "worker"]
WORKTREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `tests` imports from


@pytest.mark.slow
def test_two_worker_processes_never_pull_the_same_window_and_the_status_cli(db_url, tmp_path, firms):
    env = _env(db_url, tmp_path, firms)
    once = [*CLI, "run", "--once", "--job", JOB]
    firms.gate.clear()  # FIRMS holds its answer: the first worker is mid-pull, holding the job's lock
    started_on = datetime.now(UTC).date()  # the UTC day(s) of the first run (two if it spans midnight)
    a = subprocess.Popen(once, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not firms.area and time.monotonic() < deadline and a.poll() is None:
            time.sleep(0.1)
        assert firms.area, a.stderr.read() if a.poll() is not None else "no request from the first worker"
        b = subprocess.run(once, env=env, capture_output=True, text=True, timeout=120)
        assert b.returncode == 0, b.stderr
        assert f"{JOB}: skipped, another worker holds the job's lock" in b.stderr
        firms.gate.set()
        _, a_err = a.communicate(timeout=120)
        assert a.returncode == 0, a_err
        assert f"{JOB}: ok, 4 rows" in a_err
    finally:
        firms.gate.set()
        if a.poll() is None:
            a.kill()
    days = {started_on, datetime.now(UTC).date()}
    assert [(d + timedelta(days=1), n) for _, d, n in firms.area] in [[(day, 2)] for day in days]  # yesterday, today
    # a second worker after the first: only what is still open (today; yesterday if it has not settled)
    before_second = datetime.now(UTC).date()
    b = subprocess.run(once, env=env, capture_output=True, text=True, timeout=120)
    assert b.returncode == 0, b.stderr
    second = firms.area[1:]
    assert len(second) == 1 and second[0][1] + timedelta(days=second[0][2] - 1) in {
        before_second,
        datetime.now(UTC).date(),
    }
    engine = create_engine(_url_text(db_url))
    with engine.connect() as c:
        runs = c.execute(text("SELECT status, worker FROM worker_job_runs WHERE job_name = :j ORDER BY id"), {"j": JOB})
        statuses = [r.status for r in runs]
        assert c.execute(text("SELECT count(*) FROM hotspots")).scalar() == 4  # nothing stored twice
    engine.dispose()
    assert statuses == ["ok", "skipped", "ok"] or statuses == ["skipped", "ok", "ok"]
    st = subprocess.run([*CLI, "status"], env=env, capture_output=True, text=True, timeout=120)
    assert st.returncode == 0, st.stderr
    line = next(row for row in st.stdout.splitlines() if JOB in row)
    assert "ok" in line and "yes" in line and "900 s" in line
    assert "fire_events" in st.stdout and "forest_loss" in st.stdout
    runs_out = subprocess.run([*CLI, "runs", JOB], env=env, capture_output=True, text=True, timeout=120)
    assert runs_out.returncode == 0 and "skipped" in runs_out.stdout
    bad = subprocess.run([*CLI, "runs", "firms_typo"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "No worker job is called 'firms_typo'" in bad.stderr
    bad = subprocess.run([*CLI, "run", "--once", "--job", "nope"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "the jobs are" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_the_worker_process_schedules_its_jobs_and_stops_on_sigterm(db_url, tmp_path, firms):
    """The scheduler runs fire_events every second, and SIGTERM stops it while the four FIRMS runs are mid-pull (FIRMS
    holds its answers): the runs in progress finish and are recorded, nothing new begins, the process exits 0 and no
    job keeps a next run. (Under load a SIGTERM landing during a run used to hang the worker: APScheduler's
    shutdown(wait=True) held the lock the finishing run needed for its next time.)"""
    env = _env(
        db_url,
        tmp_path,
        firms,
        GEO_SERVICE_WORKER_FIRMS_SOURCES="VIIRS_SNPP_NRT,VIIRS_NOAA20_NRT,VIIRS_NOAA21_NRT,MODIS_NRT",
        GEO_SERVICE_WORKER_FIRMS_INTERVAL_S="3600",
        GEO_SERVICE_WORKER_FOREST_LOSS_ENABLED="false",
        GEO_SERVICE_WORKER_EVENTS_INTERVAL_S="1",
        GEO_SERVICE_WORKER_BATCH_RESUME_ENABLED="false",
    )
    firms.gate.clear()  # the FIRMS runs stay in progress until the stop has begun
    log_path = tmp_path / "worker.log"  # a file, not a pipe: a pipe nobody reads fills up and blocks the worker
    log_file = log_path.open("w")
    proc = subprocess.Popen(CLI, env=env, stdout=subprocess.DEVNULL, stderr=log_file, text=True)
    engine = create_engine(_url_text(db_url))

    def log() -> str:
        return log_path.read_text()

    try:
        deadline, runs = time.monotonic() + 120, 0
        while (runs < 3 or len(firms.area) < 4) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            with engine.connect() as c:
                try:
                    runs = c.execute(
                        text("SELECT count(*) FROM worker_job_runs WHERE job_name = 'fire_events'")
                    ).scalar()
                except Exception:  # the worker has not migrated yet
                    runs = 0
        assert runs >= 3 and len(firms.area) == 4, log()
        with engine.connect() as c:  # one statement: one snapshot
            planned, before_last, last = c.execute(
                text("""SELECT j.next_run_at, r.finished_at[2], r.finished_at[1]
                        FROM worker_jobs j, (SELECT array_agg(finished_at ORDER BY finished_at DESC) AS finished_at
                                             FROM worker_job_runs WHERE job_name = 'fire_events'
                                             AND finished_at IS NOT NULL) r
                        WHERE j.name = 'fire_events'""")
            ).one()
        # the scheduler's next time (every second), recorded by each run as it ends: after the run before it had
        # ended (the next run is submitted only then), at most one interval after this one ended
        assert planned is not None and before_last is not None, log()
        assert before_last < planned <= last + timedelta(seconds=3), (before_last, planned, last)
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while "run(s) in progress" not in log() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        waiting = re.search(r"waiting for (\d+) run\(s\) in progress", log())
        assert waiting and int(waiting[1]) >= 4, log()  # the four pulls at least (a fire_events run perhaps)
        firms.gate.set()  # the four pulls answer now, after the stop began
        assert proc.wait(timeout=60) == 0, log()
    finally:
        firms.gate.set()
        if proc.poll() is None:
            proc.kill()
        log_file.close()
    with engine.connect() as c:
        jobs = {r.name: r for r in c.execute(text("SELECT name, enabled, next_run_at FROM worker_jobs"))}
        ok = c.execute(text("SELECT count(*) FROM worker_job_runs WHERE job_name = 'fire_events' AND status = 'ok'"))
        assert ok.scalar() >= 3
        ok_firms = c.execute(
            text("SELECT job_name, status FROM worker_job_runs WHERE job_name LIKE 'firms%' ORDER BY job_name")
        ).all()
        unfinished = c.execute(text("SELECT count(*) FROM worker_job_runs WHERE finished_at IS NULL")).scalar()
    engine.dispose()
    assert unfinished == 0  # every run in progress at the stop finished and was recorded
    assert {name: r.next_run_at for name, r in jobs.items() if r.next_run_at is not None} == {}
    assert jobs["fire_events"].enabled and jobs["fire_events"].next_run_at is None  # stopped: no next run
    assert not jobs["forest_loss"].enabled and jobs["forest_loss"].next_run_at is None  # disabled: never scheduled
    assert jobs["partitions"].enabled
    # the four FIRMS jobs started together with the others, each pulled once (its own source), none waited out
    assert sorted(ok_firms) == [
        ("firms_modis_nrt", "ok"),
        ("firms_viirs_noaa20_nrt", "ok"),
        ("firms_viirs_noaa21_nrt", "ok"),
        (JOB, "ok"),
    ]
    assert sorted({s for s, _, _ in firms.area}) == [
        "MODIS_NRT",
        "VIIRS_NOAA20_NRT",
        "VIIRS_NOAA21_NRT",
        "VIIRS_SNPP_NRT",
    ]
    assert len(firms.area) == 4


def test_a_source_that_is_not_firms_is_refused_with_the_known_ones(db_url, tmp_path, firms):
    from geo_service.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        build_registry(_settings(db_url, tmp_path, firms, firms_sources="VIIRS_SNPP_NRT, viirs_snpp_nrtt"))
    assert "'VIIRS_SNPP_NRTT' is not a FIRMS source" in str(err.value) and "MODIS_NRT" in str(err.value)
    reg = build_registry(_settings(db_url, tmp_path, firms, firms_map_key=None))
    assert not reg.get(JOB).enabled and not reg.get("forest_loss").enabled and reg.get("fire_events").enabled
    with pytest.raises(InvalidInput, match="the jobs are"):
        reg.get("firms_typo")


def test_day_windows_match_the_files_the_pull_records():
    # the FIRMS job records a file's days from day_windows, the same split fetch_area makes
    assert day_windows(date(2024, 3, 5), date(2024, 3, 16)) == [(date(2024, 3, 5), 10), (date(2024, 3, 15), 2)]


def test_the_compose_file_runs_a_worker_on_the_apps_image_and_database():
    import yaml

    from tests.test_stateless_replicas import ROOT

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    worker, app = services["worker"], services["app"]
    assert worker["command"] == ["geo-service", "worker"] and worker["image"] == app["image"]
    env = worker["environment"]
    assert env["GEO_SERVICE_DATABASE_URL"] == app["environment"]["GEO_SERVICE_DATABASE_URL"]
    assert env["GEO_SERVICE_FIRMS_MAP_KEY"].startswith("${")  # from .env, never in the file
    assert "stop_grace_period" in worker and "ports" not in worker


def _probe(db_url, tmp_path, mode: str, timeout: float = 60) -> tuple[int, str, str]:
    """``tests.worker_stop_probe MODE`` (see there) in a process of its own: exit code, stdout, stderr. A worker
    still running after ``timeout`` seconds fails the test (a second SIGTERM first: is it honoured?), never hangs."""
    env = cli_env(db_url, tmp_path / "var")
    probe = [sys.executable, "-m", "tests.worker_stop_probe", mode]
    proc = subprocess.Popen(probe, env=env, cwd=WORKTREE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
            again = "a second SIGTERM stopped it"
        except subprocess.TimeoutExpired:
            again = "a second SIGTERM did not stop it either"
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the worker did not stop within {timeout} s of its SIGTERM ({again})\n{out}\n{err}")
    return proc.returncode, out, err


def _probe_records(db_url) -> tuple[dict, list]:
    engine = create_engine(_url_text(db_url))
    with engine.connect() as c:
        jobs = {r.name: r.next_run_at for r in c.execute(text("SELECT name, next_run_at FROM worker_jobs"))}
        runs = c.execute(text("SELECT job_name, status, rows, finished_at FROM worker_job_runs ORDER BY id")).all()
    engine.dispose()
    return jobs, runs


@pytest.mark.slow
def test_a_sigterm_while_the_scheduler_is_starting_stops_the_worker(db_url, tmp_path):
    """SIGTERM inside APScheduler's start(), before it is running (the stop's shutdown then finds it not running):
    the worker still stops at once, exit 0, no run begins and no job keeps a next run. (It used to run on until
    SIGKILL, and ignore every later SIGTERM: a restart right at start-up hung.)"""
    code, out, err = _probe(db_url, tmp_path, "start")
    assert "PROBE starting, 2 jobs planned" in out, out + err  # the seam was reached, after the jobs were planned
    assert "PROBE stop taken before the scheduler runs" in out, out + err
    assert code == 0 and "PROBE served" in out, out + err
    assert "Traceback" not in err and "Error notifying listener" not in err, err
    jobs, runs = _probe_records(db_url)
    assert {name: at for name, at in jobs.items() if name.startswith("probe")} == {"probe_a": None, "probe_b": None}
    assert runs == []  # stopped before any run began


@pytest.mark.slow
def test_a_second_sigterm_during_a_run_changes_nothing(db_url, tmp_path):
    """Two SIGTERMs while a run is in progress (sent by the run itself, each after the worker took the one before):
    the second asks for the stop again, and the run still finishes and is recorded, exit 0, no next run."""
    code, out, err = _probe(db_url, tmp_path, "run")
    assert "PROBE stop 1 taken during the run" in out and "PROBE stop 2 taken during the run" in out, out + err
    assert code == 0 and "PROBE served" in out, out + err
    assert "Traceback" not in err and "Error notifying listener" not in err, err
    jobs, runs = _probe_records(db_url)
    assert {name: at for name, at in jobs.items() if name.startswith("probe")} == {"probe_a": None, "probe_b": None}
    by_job = {r.job_name: r for r in runs}
    assert len(runs) <= 2 and (by_job["probe_a"].status, by_job["probe_a"].rows) == ("ok", 7)
    assert all(r.finished_at is not None for r in runs)  # every run in progress at the stop finished, recorded
