"""Fire events: a re-clustering writes and returns only the events whose stored row changes (created, grown,
summary changed by an SP replacement, merged), leaves the others untouched (same row version: xmin, no lock),
and names the events merged away apart."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.hotspots.events import update_events
from geo_service.hotspots.ingest import ingest_file
from geo_service.places import Gazetteer
from tests.samples import MODIS_HEADER, VIIRS_HEADER

# A at 100.30 E, B at 100.50 E: 21 km apart on the same days, two events.
A, B = (18.2000, 100.3000), (18.2000, 100.5000)


def _row(lat, lon, day, hhmm, sat="N", frp=5.0, version="2.0NRT"):
    return f"{lat},{lon},330,0.4,0.4,{day},{hhmm},{sat},VIIRS,n,{version},290,{frp},D\n"


def _load(sm, tmp_path, name, rows, header=VIIRS_HEADER):
    """Ingest a FIRMS file and re-cluster its period (as ``ingest_path``), in one transaction: the clustering's
    answer and what it wrote to ``fire_events`` in that transaction (pg_stat_xact_user_tables)."""
    f = tmp_path / name
    f.write_text(header + "".join(rows))
    with transaction(sm) as s:
        r = ingest_file(s, f, Gazetteer.load(s))
        before = _writes(s)
        ev = update_events(s, r.first_acq, r.last_acq)
        written = {k: v - before[k] for k, v in _writes(s).items()}
    return ev, written


def _writes(s) -> dict:
    row = s.execute(
        text(
            "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables WHERE relid = 'fire_events'::regclass"
        )
    ).one()
    return {"ins": row[0], "upd": row[1], "del": row[2]}


def _versions(sm) -> dict[int, tuple[str, str, str]]:
    """Each stored event's row version (xmin), lock mark (xmax: 0 unless written or locked) and ``updated_at``."""
    with sm() as s:
        rows = s.execute(text("SELECT id, xmin::text, xmax::text, updated_at::text FROM fire_events")).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _event_at(sm, lat, lon) -> int:
    with sm() as s:
        return s.execute(
            text(
                "SELECT DISTINCT he.event_id FROM hotspots h JOIN hotspot_events he ON he.hotspot_id = h.id "
                "WHERE lat_e4 = :a AND lon_e4 = :o"
            ),
            {"a": round(lat * 1e4), "o": round(lon * 1e4)},
        ).scalar_one()


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


@pytest.fixture
def two_events(sm, tmp_path):
    """A and B on 14 and 15 March 2024, two detections each (B's first with FRP 2.0, its largest 3.0)."""
    ev, written = _load(
        sm,
        tmp_path,
        "day1.csv",
        [
            _row(*A, "2024-03-14", "0612", frp=4.0),
            _row(A[0] + 0.003, A[1], "2024-03-15", "0612", frp=6.0),  # 330 m north of A's first, the next day
            _row(*B, "2024-03-14", "0612", frp=2.0),
            _row(B[0] + 0.003, B[1], "2024-03-15", "0612", frp=3.0),
        ],
    )
    a, b = _event_at(sm, *A), _event_at(sm, *B)
    assert a != b and ev["events"] == sorted([a, b]) and ev["created"] == 2 and ev["unchanged"] == 0
    assert written == {"ins": 2, "upd": 0, "del": 0}
    return a, b


def test_a_new_detection_returns_and_writes_only_the_event_it_extends(sm, tmp_path, two_events):
    a, b = two_events
    before = _versions(sm)
    ev, written = _load(sm, tmp_path, "day2.csv", [_row(A[0] + 0.006, A[1], "2024-03-16", "0630", frp=1.0)])
    # the period widened to whole events holds B too (same days): re-clustered, but not written nor returned
    assert ev["events"] == [a] and (ev["created"], ev["updated"], ev["unchanged"], ev["removed"]) == (0, 1, 1, 0)
    assert ev["detections"] == 5 and ev["removed_ids"] == []
    assert written == {"ins": 0, "upd": 1, "del": 0}
    after = _versions(sm)
    assert after[b] == before[b] and after[b][1] == "0"  # same row version, not even locked
    assert after[a][0] != before[a][0] and after[a][2] > before[a][2]
    with sm() as s:
        assert s.execute(text("SELECT detections FROM fire_events WHERE id = :a"), {"a": a}).scalar_one() == 3


def test_an_sp_replacement_that_changes_frp_returns_its_event(sm, tmp_path, two_events):
    """Standard processing replaces B's first NRT detection in place (same key, same event): its FRP 2.0 becomes
    7.5, so B's max FRP goes from 3.0 to 7.5 with the same membership: B is written and returned, A is not."""
    a, b = two_events
    before = _versions(sm)
    ev, written = _load(sm, tmp_path, "day1_sp.csv", [_row(*B, "2024-03-14", "0612", frp=7.5, version="2")])
    assert ev["events"] == [b] and ev["updated"] == 1 and ev["unchanged"] == 1 and written["upd"] == 1
    after = _versions(sm)
    assert after[a] == before[a] and after[b][0] != before[b][0]
    with sm() as s:
        assert s.execute(text("SELECT max_frp FROM fire_events WHERE id = :b"), {"b": b}).scalar_one() == 7.5
    # the SP version of A's first detection with the same figures: the detection row is updated, no event changes
    ev, written = _load(sm, tmp_path, "day1_sp_a.csv", [_row(*A, "2024-03-14", "0612", frp=4.0, version="2")])
    assert ev["events"] == [] and ev["unchanged"] == 2 and written == {"ins": 0, "upd": 0, "del": 0}
    assert _versions(sm) == after


def test_a_merge_returns_the_survivor_and_names_the_removed_event(sm, tmp_path):
    """Two events 1.55 km apart (the first with two detections) bridged by a detection between them: the larger
    keeps its id and is returned, the smaller is deleted and named in ``removed_ids``; a far event (C) is left."""
    _load(
        sm,
        tmp_path,
        "three.csv",
        [
            _row(18.2000, 100.3000, "2024-03-14", "0612"),
            _row(18.2020, 100.3000, "2024-03-14", "0613"),
            _row(18.2160, 100.3000, "2024-03-14", "0612"),  # 1.55 km north of the second: separate
            _row(*B, "2024-03-14", "0612"),  # C, far east
        ],
    )
    big, small, far = _event_at(sm, 18.2, 100.3), _event_at(sm, 18.216, 100.3), _event_at(sm, *B)
    before = _versions(sm)
    ev, written = _load(sm, tmp_path, "bridge.csv", [_row(18.2090, 100.3000, "2024-03-14", "1830")])
    assert ev["events"] == [big] and ev["removed_ids"] == [small] and ev["removed"] == 1
    assert (ev["created"], ev["updated"], ev["unchanged"]) == (0, 1, 1)
    assert written == {"ins": 0, "upd": 1, "del": 1}
    after = _versions(sm)
    assert sorted(after) == sorted([big, far]) and after[far] == before[far]


def test_a_rerun_with_nothing_new_writes_no_event(sm, tmp_path, two_events):
    """The whole period again (``hotspots events`` with no new detection), then MODIS data of another day far
    away: the first returns and writes nothing; the second only its new event."""
    a, b = two_events
    before = _versions(sm)
    with transaction(sm) as s:
        start = _writes(s)
        ev = update_events(s)
        assert _writes(s) == start
    assert ev["events"] == [] and ev["unchanged"] == 2 and ev["detections"] == 4
    assert _versions(sm) == before
    modis = "19.5000,99.5000,320,1.0,1.0,2024-03-20,0330,Terra,MODIS,70,6.1NRT,300,12.0,D\n"
    ev, written = _load(sm, tmp_path, "modis.csv", [modis], header=MODIS_HEADER)
    assert len(ev["events"]) == 1 and ev["created"] == 1 and ev["unchanged"] == 0
    assert written == {"ins": 1, "upd": 0, "del": 0} and {a, b} <= set(_versions(sm))
    assert {k: v for k, v in _versions(sm).items() if k in (a, b)} == before


def test_a_fire_contracts_flag_follows_a_merge_given_only_the_changed_events(db_session):
    """The red-flag listener gets the events created or changed, not the ids merged away: a firebreak contract's
    flag citing two events (big, small) cites the survivor alone after a bridging detection merges them, as a full
    run of the rule would leave it; an event far away, unchanged, is not passed on."""
    from geo_service.hotspots.service import recluster_events
    from tests.conftest import point_in_reserve
    from tests.test_red_flags import RESERVE, box_wkt, contract, detection, flags, run

    db = session = db_session
    lon, lat = point_in_reserve(session, RESERVE)
    area = (lon - 0.005, lat - 0.005, lon + 0.005, lat + 0.02)  # 1.1 km x 2.8 km, both events inside
    cid = store_contract(db, contract("FB-MERGE", box_wkt(area)))
    detection(db, lon, lat, "2024-03-01")
    detection(db, lon, lat + 0.002, "2024-03-01")
    detection(db, lon, lat + 0.016, "2024-03-01")  # 1.55 km north of the second: another event
    detection(db, lon + 0.2, lat, "2024-03-01")  # 21 km east: a third, outside the contract
    run(db, "fire_in_fire_contract")  # flagged by its detections (as ``hotspots ingest --no-events`` leaves it)
    first = recluster_events(db)
    big, small = _event_at_in(db, lat, lon), _event_at_in(db, lat + 0.016, lon)
    far = _event_at_in(db, lat, lon + 0.2)
    assert first["events"] == sorted([big, small, far])
    key = f"fire_in_fire_contract:contract:{cid}"
    cited = next(e for e in flags(db, "fire_in_fire_contract")[key]["evidence"] if e["type"] == "fire_event")
    assert cited["ids"] == sorted([big, small])

    detection(db, lon, lat + 0.009, "2024-03-01")  # 780 m from the second, 770 m from the third: bridges them
    merged = recluster_events(db)
    assert merged["events"] == [big] and merged["removed_ids"] == [small] and merged["unchanged"] == 1
    flag = flags(db, "fire_in_fire_contract")[key]
    cited = next(e for e in flag["evidence"] if e["type"] == "fire_event")
    assert cited["ids"] == [big] and flag["figures"]["fire_events"] == 1
    full = run(db, "fire_in_fire_contract")["fire_in_fire_contract"]
    assert (full.new, full.changed, full.gone) == (0, 0, 0)  # what the listener left is what a full run finds


def store_contract(db, row) -> int:
    from geo_service.redflags import store

    return store.upsert_contracts(db, [row], actor="t", layer="t", version="1")["ids"][0]


def _event_at_in(session, lat, lon) -> int:
    return session.execute(
        text(
            "SELECT DISTINCT he.event_id FROM hotspots h JOIN hotspot_events he ON he.hotspot_id = h.id "
            "WHERE lat_e4 = :a AND lon_e4 = :o"
        ),
        {"a": round(lat * 1e4), "o": round(lon * 1e4)},
    ).scalar_one()
