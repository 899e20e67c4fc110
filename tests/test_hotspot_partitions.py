"""Detections partitioned by local year (migration 0020): ingest idempotency across partition edges, a file older
than every partition, partitions created ahead, detach for archive (GeoParquet) and attach back, case evidence
protected, pruning by local dates, and the migration up and down with rows."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import geopandas as gpd
import pytest
from sqlalchemy import create_engine, text

from geo_service.db import migrate
from geo_service.db.engine import transaction
from geo_service.hotspots import partitions
from geo_service.hotspots.ingest import ingest_file
from geo_service.hotspots.partition_archive import attach_from_archive, detach_before, read_meta
from geo_service.hotspots.partitions import PartitionError
from geo_service.hotspots.summaries import SummaryQuery, date_range, summarise
from geo_service.places import Gazetteer
from tests.samples import VIIRS_HEADER, post_viirs

THAILAND = (97.3, 5.5, 105.7, 20.6)

# Around the new year: 16:30 UTC on 31 December is 23:30 in Bangkok (still that year); 17:30 UTC is 00:30 on
# 1 January in Bangkok: the UTC year and the local year differ, the partition follows the local year.
EDGE_ROWS = [
    "18.4695,100.2157,330.0,0.4,0.4,2023-12-31,1630,N,VIIRS,n,2.0NRT,290.0,10.0,N\n",
    "18.4700,100.2160,331.0,0.4,0.4,2023-12-31,1730,N,VIIRS,n,2.0NRT,290.0,11.0,N\n",
    "18.4710,100.2170,332.0,0.4,0.4,2024-01-01,0630,N,VIIRS,h,2.0NRT,290.0,12.0,D\n",
]
OLD_ROWS = [  # 2009: older than every partition the migration made (2012 on)
    "18.1000,100.1000,320.0,0.4,0.4,2009-03-10,0630,N,VIIRS,n,2.0NRT,290.0,5.0,D\n",
    "18.1010,100.1010,321.0,0.4,0.4,2009-03-11,0630,N,VIIRS,n,2.0NRT,290.0,6.0,D\n",
]
YEAR_2013 = [
    "18.2000,100.2000,320.0,0.4,0.4,2013-03-10,0630,N,VIIRS,n,2.0NRT,290.0,7.0,D\n",
    "18.2010,100.2010,321.0,0.4,0.4,2013-03-10,0631,N,VIIRS,n,2.0NRT,290.0,8.0,D\n",
]
YEAR_2024 = ["18.4695,100.2157,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,42.5,D\n"]


def _csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(VIIRS_HEADER + "".join(rows))
    return path


def _ingest(sm, path, **kw):
    with transaction(sm) as s:
        return ingest_file(s, path, Gazetteer.load(s), country_bbox=THAILAND, **kw)


def _placed(sm):
    """(partition, id, UTC time) of every detection, by time."""
    with sm() as s:
        return s.execute(
            text(
                "SELECT tableoid::regclass::text AS part, id, "
                "to_char(acq_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS utc, acq_date_local, processing "
                "FROM hotspots ORDER BY acq_utc"
            )
        ).all()


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def test_ingest_across_the_local_new_year_is_idempotent(sm, tmp_path):
    first = _ingest(sm, _csv(tmp_path, "edge.csv", EDGE_ROWS))
    assert (first.rows_new, first.rows_updated) == (3, 0)
    rows = _placed(sm)
    assert [(r.part, r.utc, str(r.acq_date_local)) for r in rows] == [
        ("hotspots_y2023", "2023-12-31 16:30", "2023-12-31"),
        ("hotspots_y2024", "2023-12-31 17:30", "2024-01-01"),  # UTC 2023, Bangkok 2024
        ("hotspots_y2024", "2024-01-01 06:30", "2024-01-01"),
    ]
    again = _ingest(sm, _csv(tmp_path, "edge.csv", EDGE_ROWS))
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 3)
    assert _placed(sm) == rows  # same ids, same partitions, no duplicates
    # the standard-processing version replaces the NRT rows on both sides of the edge, ids kept
    sp = _ingest(sm, _csv(tmp_path, "edge_sp.csv", [r.replace("2.0NRT", "2") for r in EDGE_ROWS]), processing="SP")
    assert (sp.rows_new, sp.rows_updated) == (0, 3)
    after = _placed(sm)
    assert [(r.part, r.id) for r in after] == [(r.part, r.id) for r in rows]
    assert {r.processing for r in after} == {"SP"}
    # a direct re-ingest in one transaction (the merge path) meets the same rows
    with transaction(sm) as s:
        gaz = Gazetteer.load(s)
        a = ingest_file(s, _csv(tmp_path, "edge.csv", EDGE_ROWS), gaz, country_bbox=THAILAND)
        b = ingest_file(s, _csv(tmp_path, "edge.csv", EDGE_ROWS), gaz, country_bbox=THAILAND)
    assert a.rows_new == b.rows_new == 0
    assert len(_placed(sm)) == 3


def test_a_file_older_than_every_partition_gets_partitions_of_its_own(sm, tmp_path):
    with sm() as s:
        assert 2009 not in partitions.attached_years(s)
    report = _ingest(sm, _csv(tmp_path, "old.csv", OLD_ROWS + YEAR_2024))
    assert report.rows_new == 3 and "partitions" in report.timings
    rows = _placed(sm)
    assert [r.part for r in rows] == ["hotspots_y2009", "hotspots_y2009", "hotspots_y2024"]
    with sm() as s:
        assert s.execute(text("SELECT count(*) FROM hotspots_default")).scalar() == 0  # moved before commit
        listed = {p.name: p for p in partitions.list_partitions(s)}
    assert listed["hotspots_y2009"].rows == 2 and listed["hotspots_default"].is_default
    assert listed["hotspots_y2009"].lower.isoformat() == "2009-01-01T00:00:00+07:00"
    again = _ingest(sm, _csv(tmp_path, "old.csv", OLD_ROWS + YEAR_2024))
    assert (again.rows_new, again.rows_unchanged) == (0, 3) and "partitions" not in again.timings
    assert _placed(sm) == rows


def test_ensure_ahead_creates_the_missing_years_once(sm):
    with transaction(sm) as s:
        created = partitions.ensure_ahead(s, 2, today=date(2031, 6, 1))
    assert created == ["hotspots_y2031", "hotspots_y2032", "hotspots_y2033"]
    with transaction(sm) as s:
        assert partitions.ensure_ahead(s, 2, today=date(2031, 6, 1)) == []
        bounds = {p.name: (p.lower, p.upper) for p in partitions.list_partitions(s)}
        with pytest.raises(PartitionError):
            partitions.ensure_ahead(s, -1)
    lo, hi = bounds["hotspots_y2032"]
    assert (lo.isoformat(), hi.isoformat()) == ("2032-01-01T00:00:00+07:00", "2033-01-01T00:00:00+07:00")


def test_local_dates_prune_partitions(sm, tmp_path):
    _ingest(sm, _csv(tmp_path, "y.csv", YEAR_2013 + YEAR_2024))
    params: dict = {}
    where = date_range("h.acq_date_local", date(2024, 3, 1), date(2024, 3, 31), params, utc_column="h.acq_utc")
    with sm() as s:
        plan = "\n".join(
            s.execute(text("EXPLAIN SELECT count(*) FROM hotspots h WHERE " + " AND ".join(where)), params).scalars()
        )
        n = s.execute(text("SELECT count(*) FROM hotspots h WHERE " + " AND ".join(where)), params).scalar()
    assert n == 1
    assert "hotspots_y2024" in plan and "hotspots_y2013" not in plan and "hotspots_default" not in plan
    # the summaries take the same route and count the same rows
    with sm() as s:
        rows = summarise(
            s, SummaryQuery(date_from=date(2024, 3, 1), date_to=date(2024, 3, 31), group_by=[], area="all")
        )["rows"]
    assert sum(r["detections"] for r in rows) == 1


@pytest.mark.slow
def test_detach_for_archive_then_attach_back(sm, tmp_path):
    _ingest(sm, _csv(tmp_path, "y.csv", YEAR_2013 + YEAR_2024))
    before = _placed(sm)
    archive = tmp_path / "archive" / "y2013.parquet"
    with transaction(sm) as s:
        dry = detach_before(s, date(2014, 1, 1), actor="test", archive=archive, dry_run=True)
        # 2012 (empty, made by the migration) and 2013 end before 2014
        assert [(d.name, d.rows) for d in dry] == [("hotspots_y2012", 0), ("hotspots_y2013", 2)]
        assert not archive.parent.exists()
    with transaction(sm) as s:
        done = detach_before(s, date(2014, 1, 1), actor="test", archive=archive)
    assert [(d.name, d.rows, d.dropped) for d in done] == [("hotspots_y2012", 0, True), ("hotspots_y2013", 2, True)]
    archive = archive.with_name("y2013_y2013.parquet")  # several years: one file each, the year in the name
    assert done[1].archive == str(archive)
    # gone from the queries and from the database, kept in the archive
    assert [r.part for r in _placed(sm)] == ["hotspots_y2024"]
    with sm() as s:
        assert s.execute(text("SELECT to_regclass('hotspots_y2013')")).scalar() is None
        rows = summarise(s, SummaryQuery(date_from=date(2013, 1, 1), date_to=date(2013, 12, 31), area="all"))["rows"]
        entry = s.execute(
            text("SELECT actor, after FROM audit_log WHERE action = 'hotspot_partition.detach' ORDER BY id DESC")
        ).first()
    assert rows == []
    assert entry.actor == "test" and entry.after["archive_sha256"] == done[1].archive_sha256
    frame = gpd.read_parquet(archive)
    assert sorted(frame["id"]) == sorted(r.id for r in before if r.part == "hotspots_y2013")
    assert frame.crs.to_epsg() == 4326 and frame.geometry.x.round(4).tolist() == [100.2, 100.201]
    assert read_meta(archive)["year"] == 2013
    # the 2024 partition is not before the date: a second detach finds nothing
    with transaction(sm) as s:
        assert detach_before(s, date(2014, 1, 1), actor="test") == []
    with transaction(sm) as s:
        back = attach_from_archive(s, archive, actor="test")
    assert back.rows == 2
    assert _placed(sm) == before  # same ids, same partitions
    with transaction(sm) as s, pytest.raises(PartitionError, match="holds 2"):
        attach_from_archive(s, archive, actor="test")  # the year is there again


@pytest.mark.slow
def test_detach_without_archive_keeps_the_table(sm, tmp_path):
    _ingest(sm, _csv(tmp_path, "y.csv", YEAR_2013))
    with transaction(sm) as s:
        done = detach_before(s, date(2012, 12, 31), actor="test")
    assert done == []  # 2012 ends at midnight after 31 December 2012: not before that day
    with transaction(sm) as s:
        done = detach_before(s, date(2014, 1, 1), actor="test")
    assert [(d.name, d.dropped, d.archive) for d in done] == [
        ("hotspots_y2012", False, None),
        ("hotspots_y2013", False, None),
    ]
    with sm() as s:
        assert s.execute(text("SELECT count(*) FROM hotspots")).scalar() == 0
        assert s.execute(text("SELECT count(*) FROM hotspots_y2013")).scalar() == 2  # kept, detached
    # new detections of that year cannot be stored until the kept table is attached or dropped: said clearly
    with pytest.raises(PartitionError, match="attach it back"):
        _ingest(sm, _csv(tmp_path, "again.csv", YEAR_2013))


@pytest.mark.slow
def test_years_with_case_evidence_are_protected(client, admin_headers, login, tmp_path):
    post_viirs(client, admin_headers, YEAR_2013 + YEAR_2024)
    lead = login("lead_arch", "investigator")
    with client.app.state.engine.begin() as c:
        hotspot = c.execute(text("SELECT min(id) FROM hotspots WHERE acq_utc < '2014-01-01'")).scalar()
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={"title": "Old fires", "category": "budget_misuse", "received_on": "2013-03-20"},
    ).json()
    r = client.post(
        f"/api/v1/cases/{case['id']}/links",
        headers=lead,
        json={"target_type": "hotspot", "target_id": str(hotspot), "reason": "seen by the villagers"},
    )
    assert r.status_code == 201, r.text
    sm = client.app.state.sessionmaker
    with transaction(sm) as s, pytest.raises(PartitionError, match="linked to a case"):
        detach_before(s, date(2014, 1, 1), actor="test", archive=tmp_path / "a.parquet")
    assert not (tmp_path / "a.parquet").exists()
    # the admin route lists the partitions (bounds, rows) for administrators only
    listed = client.get("/api/v1/admin/hotspots/partitions", headers=admin_headers)
    assert listed.status_code == 200
    by_name = {p["name"]: p for p in listed.json()}
    assert by_name["hotspots_y2013"]["rows"] == 2 and by_name["hotspots_default"]["is_default"]
    assert client.get("/api/v1/admin/hotspots/partitions", headers=lead).status_code == 403
    with transaction(sm) as s:
        done = detach_before(s, date(2014, 1, 1), actor="test", archive=tmp_path / "a.parquet", force=True)
    assert done[1].name == "hotspots_y2013" and done[1].forced and done[1].linked["hotspots"] == 1


@pytest.mark.slow
def test_cli_ensure_list_and_detach(db_url, tmp_path):
    env = {
        **os.environ,
        "COLUMNS": "200",
        "GEO_SERVICE_DATABASE_URL": db_url.render_as_string(hide_password=False)
        if hasattr(db_url, "render_as_string")
        else str(db_url),
        "GEO_SERVICE_DATA_DIR": str(tmp_path / "var"),
    }
    cli = [sys.executable, "-m", "geo_service.cli", "hotspots", "partitions"]

    def run(*args):
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=300)

    ensure = run("ensure", "--ahead", "3")
    assert ensure.returncode == 0, ensure.stderr
    listing = run("list")
    assert listing.returncode == 0 and "hotspots_y2012" in listing.stdout and "DEFAULT" in listing.stdout
    bad = run("detach", "--before", "2014-13-01")
    assert bad.returncode != 0 and "is not a date" in bad.stderr
    dry = run("detach", "--before", "2014-01-01", "--dry-run")
    assert dry.returncode == 0 and "hotspots_y2013: 0 rows would detach" in dry.stdout, dry.stdout


@pytest.mark.slow
def test_migration_up_and_down_with_rows(empty_db_url):
    migrate.upgrade(empty_db_url, "0018_links_beyond_sight")
    engine = create_engine(empty_db_url)
    insert = text("""
        INSERT INTO hotspots (satellite, instrument, processing, acq_utc, acq_date_local, lat_e4, lon_e4, latitude,
          longitude, confidence, confidence_raw, batch_id, geom)
        VALUES ('N20', 'VIIRS', 'NRT', :t, CAST(:t AS timestamptz) AT TIME ZONE 'Asia/Bangkok', 184695, 1002157,
                18.4695, 100.2157, 2, 'n', 1, ST_SetSRID(ST_MakePoint(100.2157, 18.4695), 4326))""")
    times = ["2009-05-01T06:00Z", "2015-12-31T17:30Z", "2024-03-14T06:30Z"]
    try:
        with engine.begin() as c:
            for t in times:
                c.execute(insert, {"t": t})
            ids = c.execute(text("SELECT id FROM hotspots ORDER BY acq_utc")).scalars().all()
        migrate.upgrade(empty_db_url)
        with engine.begin() as c:
            rows = c.execute(text("SELECT tableoid::regclass::text, id FROM hotspots ORDER BY acq_utc")).all()
            assert rows == [("hotspots_y2009", ids[0]), ("hotspots_y2016", ids[1]), ("hotspots_y2024", ids[2])]
            kind = c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'hotspots'")).scalar()
            assert kind == "p"
            # the sequence goes on where it was: a new row gets the next id
            c.execute(insert, {"t": "2024-03-15T06:30Z"})
            assert c.execute(text("SELECT max(id) FROM hotspots")).scalar() == ids[2] + 1
        migrate.downgrade(empty_db_url, "0018_links_beyond_sight")
        with engine.begin() as c:
            kind = c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'hotspots'")).scalar()
            assert kind == "r"
            assert c.execute(text("SELECT id FROM hotspots ORDER BY acq_utc")).scalars().all() == [*ids, ids[2] + 1]
            assert c.execute(text("SELECT to_regclass('hotspots_y2024')")).scalar() is None
        migrate.upgrade(empty_db_url)
        assert migrate.current(empty_db_url) is not None
    finally:
        engine.dispose()
