"""Batch work on Dask (issue 18): the same answers as the single-process paths on the same data, and a job
killed mid-way (SIGKILL) finishes when run again, with the same results and no part written twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from sqlalchemy import text

from geo_service.batch import store
from geo_service.batch.events import Blocking, block_key, detections, merge_links
from geo_service.batch.jobs import run_attribution, run_events
from geo_service.batch.partitions import list_parts, write_part
from geo_service.db.engine import transaction
from geo_service.hotspots.events import EventParams, cluster
from geo_service.hotspots.ingest import ingest_file
from geo_service.hotspots.summaries import SummaryQuery, summarise
from geo_service.places import Gazetteer
from tests.conftest import _url_text

SATELLITES = [("N", "VIIRS"), ("1", "VIIRS"), ("2", "VIIRS"), ("Terra", "MODIS"), ("Aqua", "MODIS")]


def firms_rows(n: int, box: tuple[float, float, float, float], seed: int = 7) -> pd.DataFrame:
    """Raw FIRMS rows (text columns as in a CSV) scattered over ``box`` and 15 months across a fiscal-year
    edge (Sep/Oct 2023), FRP with two decimals."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = box
    t = np.datetime64("2023-06-01T00:00") + rng.integers(0, 450 * 1440, n).astype("timedelta64[m]")
    sat = rng.integers(0, len(SATELLITES), n)
    return pd.DataFrame(
        {
            "latitude": np.round(rng.uniform(miny - 0.05, maxy + 0.05, n), 5),
            "longitude": np.round(rng.uniform(minx - 0.05, maxx + 0.05, n), 5),
            "bright_ti4": np.round(rng.uniform(300, 360, n), 2),
            "scan": 0.4,
            "track": 0.4,
            "acq_date": t.astype("datetime64[D]").astype(str),
            "acq_time": [f"{m // 60:02d}{m % 60:02d}" for m in (t - t.astype("datetime64[D]")).astype(int)],
            "satellite": [SATELLITES[s][0] for s in sat],
            "instrument": [SATELLITES[s][1] for s in sat],
            "confidence": rng.choice(["l", "n", "h"], n),
            "version": "2.0NRT",
            "bright_ti5": 290.0,
            "frp": np.round(rng.uniform(0.5, 80, n), 2),
            "daynight": rng.choice(["D", "N"], n),
        }
    )


def write_archive(raw: pd.DataFrame, folder: Path, parts: int) -> Path:
    """Split rows into ``parts`` GeoParquet files (by row order, as an archive in arbitrary chunks)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(raw)), parts)):
        write_part(raw.iloc[chunk], folder / f"part-{i:03d}.parquet")
    return folder


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


@pytest.fixture
def phrae_box(sm):
    with sm() as s:
        b = Gazetteer.load(s).districts.bounds
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


@pytest.fixture(scope="module")
def dask():
    """Two small workers in threads of the test process (fast to start; the code path is the same)."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as lc,
        Client(lc) as client,
    ):
        yield client


def _all_summaries(sm, job_id: int) -> dict:
    with sm() as s:
        return {
            (level, kind, area): store.job_summaries(s, job_id, level, kind, area)
            for level in ("province", "district", "subdistrict")
            for kind in ("day", "month", "fiscal_year")
            for area in ("aoi", "all")
        }


@pytest.mark.slow
def test_dask_attribution_and_summaries_equal_single_process_and_the_service(sm, phrae_box, dask, tmp_path):
    raw = firms_rows(3000, phrae_box)
    a = write_archive(raw, tmp_path / "a", 5)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    unit = partial(transaction, sm)
    single = run_attribution(unit, a)  # the single-process path
    on_dask = run_attribution(unit, b, client=dask)
    assert single.id != on_dask.id and single.status == on_dask.status == "done"
    assert single.done == set(single.parts) and len(single.parts) == 5
    expected, got = _all_summaries(sm, single.id), _all_summaries(sm, on_dask.id)
    assert got == expected
    assert sum(r["detections"] for r in got[("district", "month", "all")]) == 3000
    assert got[("district", "day", "all")] and got[("subdistrict", "fiscal_year", "all")]

    # the service's own path on the same detections: ingest them, then its summaries
    csv = tmp_path / "all.csv"
    raw.to_csv(csv, index=False)
    with transaction(sm) as s:
        report = ingest_file(s, csv, Gazetteer.load(s))
    assert report.rows_new == 3000
    with sm() as s:
        for kind in ("day", "month", "fiscal_year"):
            for area in ("aoi", "all"):
                service = summarise(s, SummaryQuery(group_by=["district"], period=kind, area=area))["rows"]
                want = sorted(
                    (r["district"] or "", r["period"], r["detections"], r["frp_sum_mw"], r["frp_max_mw"])
                    + (r["first_date"], r["last_date"])
                    for r in service
                )
                have = sorted(
                    (r["code"], r["period"], r["detections"], r["frp_sum_mw"], r["frp_max_mw"])
                    + (r["first_date"], r["last_date"])
                    for r in got[("district", kind, area)]
                )
                assert have == want, (kind, area)
        # subdistricts are not a grouping of the service's summaries: the same figure straight from the table
        sql = (
            "SELECT coalesce(subdistrict_code, ''), to_char(acq_date_local, 'YYYY-MM'), count(*), "
            "round(sum(frp)::numeric, 2)::float8 FROM hotspots GROUP BY 1, 2"
        )
        want_sub = sorted(tuple(r) for r in s.execute(text(sql)))
    have_sub = sorted(
        (r["code"], r["period"], r["detections"], r["frp_sum_mw"]) for r in got[("subdistrict", "month", "all")]
    )
    assert have_sub == want_sub
    assert len({r[0] for r in have_sub if r[0]}) > 20  # many subdistricts, not one big group


def _chain(start_lon: float, lat: float, steps: int) -> pd.DataFrame:
    """One fire creeping east then back west across a block edge several times, a detection every 600 m
    and 20 hours: a single event only if every link across every block edge is found."""
    lon = start_lon + np.cumsum(np.where((np.arange(steps) // 8) % 2 == 0, 1, -1)) * 0.0056
    t = np.datetime64("2024-02-20T06:00") + (np.arange(steps) * 20 * 60).astype("timedelta64[m]")
    return pd.DataFrame(
        {
            "latitude": lat,
            "longitude": np.round(lon, 5),
            "bright_ti4": 330.0,
            "scan": 0.4,
            "track": 0.4,
            "acq_date": t.astype("datetime64[D]").astype(str),
            "acq_time": [f"{m // 60:02d}{m % 60:02d}" for m in (t - t.astype("datetime64[D]")).astype(int)],
            "satellite": "N",
            "instrument": "VIIRS",
            "confidence": "n",
            "version": "2.0NRT",
            "bright_ti5": 290.0,
            "frp": 5.0,
            "daynight": "D",
        }
    )


@pytest.mark.slow
def test_dask_events_in_blocks_with_halos_equal_the_single_process_clustering(sm, dask, tmp_path):
    box = (100.0, 18.0, 100.3, 18.3)
    rng = np.random.default_rng(3)
    raw = firms_rows(4000, box, seed=11)
    # dense enough to chain: squeeze the times of half of them into one fire-season month
    dense = raw.index[: len(raw) // 2]
    days = np.datetime64("2024-03-01") + rng.integers(0, 30, len(dense)).astype("timedelta64[D]")
    raw.loc[dense, "acq_date"] = days.astype(str)
    chain = _chain(100.096, 18.15, 40)  # crosses lon 100.1 (a 0.1-degree block edge) again and again
    raw = pd.concat([raw, chain], ignore_index=True)
    folder = write_archive(raw, tmp_path / "ev", 4)
    blocking = Blocking(block_deg=0.1, block_days=3.0)
    params = EventParams()
    job = run_events(partial(transaction, sm), folder, params=params, blocking=blocking, client=dask)
    assert job.status == "done" and job.done == set(job.parts) and len(job.parts) > 30

    # the single-process clustering over everything
    frame = pd.concat([detections(p.path, i) for i, p in enumerate(list_parts(folder))], ignore_index=True)
    labels = cluster(
        frame["lon"].to_numpy(),
        frame["lat"].to_numpy(),
        frame["epoch"].to_numpy() / 86400.0,
        params,
        params.link_m(frame["instrument"].to_numpy(dtype=object)),
    )
    expected = {frozenset(g) for g in frame.groupby(labels)["id"].apply(lambda s: frozenset(s.tolist()))}
    with sm() as s:
        members = store.event_members(s, job.id)
    got = {frozenset(g) for g in members.groupby("event")["detection"].apply(lambda s: frozenset(s.tolist()))}
    assert len(members) == len(frame) and got == expected
    assert max(len(e) for e in expected) > 40  # events that join many detections (and many blocks)

    # the chain is one event and spans many blocks: its links cross block edges in space and time
    chain_ids = set(frame["id"].to_numpy()[-len(chain) :].tolist())
    event_of = dict(zip(members["detection"].tolist(), members["event"].tolist()))
    assert len({event_of[i] for i in chain_ids}) == 1
    tail = frame.iloc[-len(chain) :]
    blocks = {
        block_key(int(np.floor(x / 0.1)), int(np.floor(y / 0.1)), int(np.floor(t / (3 * 86400))))
        for x, y, t in zip(tail["lon"], tail["lat"], tail["epoch"])
    }
    x_cells = {int(np.floor(x / 0.1)) for x in tail["lon"]}
    assert len(blocks) >= 6 and len(x_cells) == 2


def test_merge_links_joins_components_that_share_a_detection():
    # block 1: {1, 2}, {3}; block 2 (halo overlaps): {2, 3}, {4}; so 1-2-3 is one event, 4 another
    dets, events = merge_links(np.array([1, 2, 3, 2, 3, 4]), np.array([10, 10, 11, 20, 20, 21]))
    assert dict(zip(dets.tolist(), events.tolist())) == {1: 1, 2: 1, 3: 1, 4: 4}


def _done_parts(sm, job_id=None) -> int:
    with sm() as s:
        q = "SELECT count(*) FROM batch_job_parts WHERE done_at IS NOT NULL"
        return int(s.execute(text(q + (" AND job_id = :j" if job_id else "")), {"j": job_id}).scalar())


@pytest.mark.slow
def test_a_job_killed_mid_way_resumes_where_it_stopped_without_writing_a_part_twice(sm, db_url, phrae_box, tmp_path):
    raw = firms_rows(2400, phrae_box, seed=5)
    folder = write_archive(raw, tmp_path / "kill", 8)
    env = {
        **os.environ,
        "COLUMNS": "200",
        "GEO_SERVICE_DATABASE_URL": _url_text(db_url),
        "GEO_SERVICE_DATA_DIR": str(tmp_path / "var"),
        "GEO_SERVICE_DASK_PROCESSES": "false",  # the workers are threads: SIGKILL ends everything at once
        "GEO_SERVICE_DASK_WORKERS": "1",
    }
    cli = [sys.executable, "-m", "geo_service.cli", "batch", "attribute", str(folder)]
    proc = subprocess.Popen(
        cli, env={**env, "GEO_SERVICE_BATCH_PART_DELAY_S": "1.5"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while _done_parts(sm) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = _done_parts(sm)
    assert 3 <= killed_at < 8, proc.stderr.read().decode() if proc.stderr else ""
    with sm() as s:
        (job,) = store.list_jobs(s)
        assert job["status"] == "running"
        done_before = {p["part"]: p["done_at"] for p in store.job_parts(s, job["id"]) if p["done_at"]}

    again = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"Resuming job {job['id']}: {killed_at} of 8 parts done" in again.stderr
    with sm() as s:
        (after,) = store.list_jobs(s)
        parts = {p["part"]: p["done_at"] for p in store.job_parts(s, job["id"])}
        per_part = s.execute(
            text("SELECT part, sum(detections) FROM batch_summaries WHERE job_id = :j GROUP BY part"),
            {"j": job["id"]},
        ).all()
    assert after["id"] == job["id"] and after["status"] == "done" and after["parts_done"] == 8
    assert all(parts[p] == t for p, t in done_before.items())  # the parts done before the kill were not redone
    assert sorted(n for _, n in per_part) == sorted([300] * 8)  # every part once: no duplicates, none missing
    assert after["rows"] == 2400

    # the same figures as an uninterrupted single-process job on the same files
    other = tmp_path / "copy"
    shutil.copytree(folder, other)
    reference = run_attribution(partial(transaction, sm), other)
    assert _all_summaries(sm, job["id"]) == _all_summaries(sm, reference.id)


@pytest.mark.slow
def test_batch_commands_refuse_bad_input_and_report_status(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geo_service.cli import app
    from geo_service.settings import get_settings

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", _url_text(db_url))
    monkeypatch.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "empty").mkdir()
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        empty = runner.invoke(app, ["batch", "attribute", str(tmp_path / "empty"), "--threads", "--workers", "1"])
        missing = runner.invoke(app, ["batch", "status", "999"])
        bad = runner.invoke(app, ["batch", "summary", "1", "--level", "village"])
        listing = runner.invoke(app, ["batch", "status"])
    finally:
        get_settings.cache_clear()
    for result, words in ((empty, "holds no .parquet files"), (missing, "No batch job"), (bad, "level takes")):
        assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output, result.output
    assert listing.exit_code == 0 and "Batch jobs" in listing.output
