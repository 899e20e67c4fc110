"""Bulk path of large FIRMS files into an empty year (``partitions.BulkYear``): the same rows,
attribution, batch rows and fire events as the row path, idempotent re-ingest, a file over an existing and a new
year, the row path when the year holds detections or the attach cannot get its locks, nothing left by a refused
file, the partition commands on a bulk-loaded year, and a bulk ingest killed with its load table committed."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.hotspots import partitions
from geo_service.hotspots.events import update_events
from geo_service.hotspots.ingest import FileRejected, ingest_file
from geo_service.places import Gazetteer
from tests.samples import VIIRS_HEADER

pytestmark = pytest.mark.slow
THAILAND = (97.3, 5.5, 105.7, 20.6)
# every column but the id (ids come from the sequence: two databases give the same rows other ids)
COLUMNS = (
    "satellite, instrument, processing, version, acq_utc, acq_date_local, lat_e4, lon_e4, latitude, longitude, "
    "brightness, bright_2, scan, track, frp, daynight, confidence, confidence_raw, fire_type, province_code, "
    "district_code, subdistrict_code, reserve_code, protected_area_codes, in_aoi, ST_AsEWKT(geom) AS geom"
)


def _rows_csv(n: int, year: int, seed: int, day0: int = 40) -> list[str]:
    """``n`` VIIRS detections over Phrae and its neighbours in ``year``, in date order, with a repeated key
    (NRT then SP of one pass: the SP row must win), a point in Nan and hostile-looking but valid fields."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.integers(day0, day0 + 60, n))
    out = []
    for i, d in enumerate(days):
        date = np.datetime64(f"{year}-01-01") + int(d)
        lat, lon = rng.normal(18.15, 0.35), rng.normal(100.15, 0.35)
        out.append(
            f"{lat:.5f},{lon:.5f},{rng.normal(335, 10):.2f},0.4,0.4,{date},{600 + i % 50:04d},N,VIIRS,"
            f"{'lnh'[i % 3]},2.0NRT,290.0,{rng.gamma(1.5, 6):.2f},D\n"
        )
    out.append(out[-1].replace("2.0NRT", "2.0SP").replace(",D\n", ",D\n"))  # same key, SP processing
    return out


def _csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(VIIRS_HEADER + "".join(rows))
    return path


def _ingest(sm, path, bulk: bool, events: bool = True, **kw):
    with transaction(sm) as s:
        report = ingest_file(
            s, path, Gazetteer.load(s), country_bbox=THAILAND, block_size=16384,
            bulk_min_bytes=0 if bulk else 1 << 62, **kw,
        )  # fmt: skip
        if events and report.first_acq:
            update_events(s, report.first_acq, report.last_acq)
        return report


def _state(sm):
    """Every stored detection (no id), the batches' counts and the fire events (by their detections' keys)."""
    with sm() as s:
        rows = s.execute(text(f"SELECT {COLUMNS} FROM hotspots ORDER BY acq_utc, lat_e4, lon_e4, satellite")).all()
        batches = s.execute(
            text(
                "SELECT file_name, rows_total, rows_new, rows_updated, rows_unchanged, rows_refused, rows_outside, "
                "first_acq, last_acq FROM hotspot_batches ORDER BY id"
            )
        ).all()
        events = s.execute(
            text("""
            SELECT e.first_seen, e.last_seen, e.detections, e.district_code, e.reserve_code,
                   array_agg(h.acq_utc::text || h.lat_e4 || ':' || h.lon_e4 ORDER BY h.acq_utc, h.lat_e4, h.lon_e4)
            FROM fire_events e JOIN hotspot_events he ON he.event_id = e.id JOIN hotspots h ON h.id = he.hotspot_id
            GROUP BY e.id ORDER BY 1, 6""")
        ).all()
    return rows, batches, events


def _parts(sm):
    with sm() as s:
        return {p.name: p.rows for p in partitions.list_partitions(s)}


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


@pytest.fixture
def sm2(pg_cluster, template_db, sessionmaker_for):
    """A second, separate database with the bundled layers (the row path's twin)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name, template=template_db)
    yield sessionmaker_for(pg_cluster.url(name))
    pg_cluster.drop_database(name)


def _tables(sm, like):
    with sm() as s:
        return (
            s.execute(text("SELECT relname FROM pg_class WHERE relname LIKE :l ORDER BY 1"), {"l": like})
            .scalars()
            .all()
        )


def test_bulk_equals_row_path_and_reingest_changes_nothing(sm, sm2, tmp_path):
    # 2009: no partition at all (older than the migration's); 2025: an empty partition made ahead
    for year in (2009, 2025):
        f = _csv(tmp_path, f"season{year}.csv", _rows_csv(3000, year, seed=year))
        bulk = _ingest(sm, f, bulk=True)
        row = _ingest(sm2, f, bulk=False)
        assert "attach" in bulk.timings and "attach" not in row.timings  # the bulk path was taken, once
        assert (bulk.rows_new, bulk.rows_updated, bulk.rows_unchanged) == (row.rows_new, row.rows_updated, 0)
        assert bulk.rows_new == 3000 - bulk.rows_outside and bulk.rows_updated == 1  # SP replaced the NRT row
        assert _state(sm) == _state(sm2)
        assert _parts(sm)[f"hotspots_y{year}"] == bulk.rows_new
        assert _tables(sm, "%\\_load%") == []
        again = _ingest(sm, f, bulk=True)  # the year holds rows now: the row path, every row unchanged
        assert "attach" not in again.timings
        assert (again.rows_new, again.rows_updated) == (0, 0)
        _ingest(sm2, f, bulk=False)
        assert _state(sm) == _state(sm2)
    with sm() as s:  # the SP row won, the NRT row of the same key is gone
        assert s.execute(text("SELECT count(*) FROM hotspots WHERE processing = 'SP'")).scalar() == 2
        # indexes of the bulk-loaded partition are attached to the parent's (none built twice)
        n_parent = s.execute(text("SELECT count(*) FROM pg_index WHERE indrelid = 'hotspots'::regclass")).scalar()
        n_part = s.execute(
            text(
                "SELECT count(*) FROM pg_index x JOIN pg_inherits i ON i.inhrelid = x.indexrelid "
                "WHERE x.indrelid = 'hotspots_y2009'::regclass"
            )
        ).scalar()
        assert n_part == n_parent == 4


def test_file_over_an_existing_and_a_new_year(sm, sm2, tmp_path):
    existing = _csv(tmp_path, "y2013.csv", _rows_csv(200, 2013, seed=1))
    for db in (sm, sm2):
        _ingest(db, existing, bulk=False)
    # most rows in 2010 (no partition; first chunk decides), a tail in 2013 partly already stored
    mixed = _rows_csv(2500, 2010, seed=2) + _rows_csv(300, 2013, seed=3) + _rows_csv(200, 2013, seed=1)[:100]
    f = _csv(tmp_path, "mixed.csv", mixed)
    bulk = _ingest(sm, f, bulk=True)
    row = _ingest(sm2, f, bulk=False)
    assert "attach" in bulk.timings and "other_years" in bulk.timings
    assert (bulk.rows_new, bulk.rows_updated, bulk.rows_unchanged) == (
        row.rows_new,
        row.rows_updated,
        row.rows_unchanged,
    )
    assert bulk.rows_unchanged == 100
    assert _state(sm) == _state(sm2)
    assert _parts(sm)["hotspots_y2010"] == _parts(sm2)["hotspots_y2010"] > 2000
    assert _parts(sm)["hotspots_default"] == 0


def test_a_year_with_detections_takes_the_row_path(sm, tmp_path):
    _ingest(sm, _csv(tmp_path, "one.csv", _rows_csv(5, 2024, seed=4)), bulk=False)
    report = _ingest(sm, _csv(tmp_path, "more.csv", _rows_csv(2000, 2024, seed=5)), bulk=True)
    assert "attach" not in report.timings and report.rows_new > 1900
    assert _tables(sm, "%\\_load%") == []


def test_lock_timeout_falls_back_to_the_row_path(sm, tmp_path):
    f = _csv(tmp_path, "y2025.csv", _rows_csv(1500, 2025, seed=6))
    reader = sm()
    reader.execute(text("SELECT count(*) FROM hotspots_y2025"))  # an open reader of the empty 2025 partition
    try:
        report = _ingest(sm, f, bulk=True, events=False, bulk_lock_timeout_s=0.2)
    finally:
        reader.rollback()
        reader.close()
    assert "attach" not in report.timings  # the detach of the empty partition waited for the reader: rows
    assert report.rows_new == 1500 - report.rows_outside
    assert _parts(sm)["hotspots_y2025"] == report.rows_new
    assert _tables(sm, "%\\_load%") == []


def test_a_refused_file_leaves_no_table_and_no_partition(sm, tmp_path):
    rows = _rows_csv(3000, 2008, seed=7)
    rows[2500] = rows[2500].replace(",N,VIIRS,", ",X9,VIIRS,")  # a bad satellite in a late block
    with transaction(sm) as s:
        with pytest.raises(FileRejected) as err:
            ingest_file(s, _csv(tmp_path, "bad.csv", rows), Gazetteer.load(s), block_size=16384, bulk_min_bytes=0)
        s.execute(text("SELECT 1"))  # the caller commits anyway
    assert err.value.details[0]["column"] == "satellite"
    assert "hotspots_y2008" not in _parts(sm)
    assert _tables(sm, "hotspots\\_y2008%") == []
    with sm() as s:
        assert (
            s.execute(text("SELECT (SELECT count(*) FROM hotspots) + (SELECT count(*) FROM hotspot_batches)")).scalar()
            == 0
        )


def test_partition_commands_on_a_bulk_loaded_year(sm, tmp_path):
    report = _ingest(sm, _csv(tmp_path, "y2011.csv", _rows_csv(2000, 2011, seed=8)), bulk=True, events=False)
    assert "attach" in report.timings
    assert _parts(sm)["hotspots_y2011"] == report.rows_new
    with transaction(sm) as s:
        partitions.detach(s, 2011, drop=False)
    assert "hotspots_y2011" not in _parts(sm)
    with sm() as s:  # kept as a plain table with every row
        assert s.execute(text("SELECT count(*) FROM hotspots_y2011")).scalar() == report.rows_new
        assert s.execute(text("SELECT count(*) FROM hotspots WHERE acq_date_local < '2012-01-01'")).scalar() == 0
    with transaction(sm) as s:
        lo, hi = partitions.year_bounds(2011)
        s.execute(
            text(
                f"ALTER TABLE hotspots ATTACH PARTITION hotspots_y2011 "
                f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
            )
        )
    assert _parts(sm)["hotspots_y2011"] == report.rows_new


_KILLED_INGEST = """
import sys
from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from geo_service.hotspots.ingest import ingest_file
from geo_service.places import Gazetteer

sm = make_sessionmaker(make_engine(sys.argv[1], pool_size=4))
with transaction(sm) as s:
    ingest_file(s, sys.argv[2], Gazetteer.load(s), country_bbox=(97.3, 5.5, 105.7, 20.6), block_size=16384,
                bulk_min_bytes=0, bulk_lock_timeout_s=120)
"""


def test_a_killed_bulk_ingest_leaves_nothing_visible_and_the_next_one_cleans_up(sm, db_url, tmp_path):
    """kill -9 of a bulk ingest once its load table is filled, committed and indexed (it waits for the attach):
    no detection, batch or partition is stored; the next bulk ingest drops the leftover table (and one of another
    year) and stores the file complete."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    rows = _rows_csv(4000, 2019, seed=9)
    f = _csv(tmp_path, "y2019.csv", rows)
    holder = sm()  # the attach (SHARE UPDATE EXCLUSIVE on hotspots) waits behind this lock
    holder.execute(text("LOCK TABLE hotspots IN SHARE UPDATE EXCLUSIVE MODE"))
    url = db_url if isinstance(db_url, str) else db_url.render_as_string(hide_password=False)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_INGEST, url, str(f)], cwd=root)
    try:
        deadline = time.monotonic() + 90
        with sm() as probe:
            while True:  # the ingest waits for its lock on hotspots (DETACH of an empty partition or ATTACH)
                waiting = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE hotspots %'"
                    )
                ).scalar()
                probe.rollback()
                if waiting or proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert waiting, "the ingest never reached its attach"
            # from the catalogue only (the ingest holds the load table's lock): its 4000 rows (a repeated key goes
            # to the merge) committed, the four keys and indexes built (an index build records the rows)
            reltuples, n_idx = probe.execute(
                text(
                    "SELECT reltuples, (SELECT count(*) FROM pg_index WHERE indrelid = c.oid) FROM pg_class c "
                    "WHERE oid = to_regclass('hotspots_y2019_load')"
                )
            ).one()
            assert (reltuples, n_idx) == (4000, 4)
        # meanwhile no detection is visible (the holder may read: its own lock)
        assert holder.execute(text("SELECT count(*) FROM hotspots")).scalar() == 0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        holder.rollback()
        holder.close()
    with sm() as s:
        for _ in range(200):  # the dead client's backend ends once its lock is granted and it reads EOF
            sql = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'ALTER TABLE%'"
            )
            if not s.execute(text(sql)).scalar():
                break
            s.rollback()
            time.sleep(0.05)
        assert s.execute(text("SELECT count(*) FROM hotspots")).scalar() == 0
        assert s.execute(text("SELECT count(*) FROM hotspot_batches")).scalar() == 0
    with transaction(sm) as s:  # and a leftover of another year, from an older killed run
        s.execute(text("CREATE TABLE hotspots_y2003_load (LIKE hotspots)"))
    assert _parts(sm).get("hotspots_y2019", 0) == 0  # (the empty partition made ahead by the migration)
    assert _tables(sm, "%\\_load") == ["hotspots_y2003_load", "hotspots_y2019_load"]  # left by the kills
    report = _ingest(sm, f, bulk=True, events=False)
    assert "attach" in report.timings
    assert report.rows_new == 4000 - report.rows_outside and report.rows_updated == 1
    assert _parts(sm)["hotspots_y2019"] == report.rows_new
    assert _tables(sm, "%\\_load") == []
    with sm() as s:
        assert s.execute(text("SELECT count(*) FROM hotspot_batches")).scalar() == 1
