"""A hotspot or forest-loss ingest re-runs the red-flag rules over what it can change only (``rules.Scope``), and
leaves exactly the flags table (and history) a full re-run would leave.

Real FIRMS files go through the real ingest (detections attributed by the bundled layers, fire events clustered);
for each ingest the full re-run is done in a savepoint, its flags and history kept, rolled back (the id sequences
set back), then the listener's scoped re-run is done and compared column by column (timestamps aside).
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import text

from geo_service.forest_loss.ingest import ingest_files
from geo_service.hotspots.service import ingest_path
from geo_service.redflags import rules, store
from geo_service.redflags import service as rf_service
from geo_service.settings import SESSION_KEY, ForestLossSettings, Settings
from tests import forest_alert_rasters as far
from tests.conftest import point_in_reserve
from tests.samples import VIIRS_HEADER
from tests.test_red_flags import RESERVE, box, box_wkt, contract, parcel

TO_UTM = Transformer.from_crs(4326, 32647, always_xy=True)
TO_LL = Transformer.from_crs(32647, 4326, always_xy=True)
TIMESTAMPS = {"first_found_at", "last_found_at", "updated_at", "dismissed_at"}
OFF = Settings(run_after_ingest=False)  # ingests store detections only; the test runs the rules itself
ON = Settings()


@pytest.fixture
def db(db_session):
    db_session.info[SESSION_KEY] = OFF
    return db_session


@pytest.fixture
def centre(db):
    return point_in_reserve(db, RESERVE)


_file_no = iter(range(10**6))


def firms(db, tmp_path: Path, points, version="2.0NRT"):
    """Ingest (lon, lat, 'YYYY-MM-DD'[, hhmm]) detections as one FIRMS file (acquired 06:00 UTC = 13:00 local)."""
    lines = []
    for k, p in enumerate(points):
        lon, lat, day = p[:3]
        hhmm = p[3] if len(p) > 3 else f"06{k % 60:02d}"
        lines.append(f"{lat:.6f},{lon:.6f},340.0,0.39,0.36,{day},{hhmm},N,VIIRS,n,{version},295.0,3.5,D\n")
    path = tmp_path / f"f{next(_file_no)}.csv"
    path.write_text(VIIRS_HEADER + "".join(lines))
    return ingest_path(db, path, loaded_by="test")


def snapshot(db) -> tuple[dict, list]:
    """Every flag (all columns but timestamps; the shape as EWKT) by key, and every history row (its flag by key,
    action, actor, detail; not its id or time)."""
    rows = db.execute(text("SELECT *, ST_AsEWKT(geom) AS geom FROM red_flags")).mappings().all()
    flags = {r["flag_key"]: {k: v for k, v in r.items() if k not in TIMESTAMPS} for r in rows}
    history = sorted(
        (r.flag_key, r.action, r.actor, str(r.detail))
        for r in db.execute(
            text("""SELECT f.flag_key, h.action, h.actor, h.detail FROM red_flag_history h
                    JOIN red_flags f ON f.id = h.flag_id""")
        )
    )
    return flags, history


def _without_new_ids(flags: dict, existing: set[str]) -> dict:
    # A new flag's id comes from a sequence that INSERT ... ON CONFLICT advances for every row it is offered, so the
    # full run (offered every flag again) numbers a new flag higher than the scoped run does; a flag that existed
    # keeps its id in both, and that is compared.
    return {k: v if k in existing else {c: x for c, x in v.items() if c != "id"} for k, v in flags.items()}


def _sequences(db) -> dict[str, tuple[int, bool]]:
    out = {}
    for table in ("red_flags", "red_flag_history", "alert_outbox"):
        seq = db.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
        out[seq] = tuple(db.execute(text(f"SELECT last_value, is_called FROM {seq}")).one())
    return out


def full_then_scoped(db, rule_kind: str, run_scoped, on: Settings = ON) -> tuple[list, list]:
    """Full re-run of the ``rule_kind`` rules in a savepoint (kept, rolled back), then ``run_scoped()`` with the
    session carrying ``on``: both snapshots must be equal. Returns the full run's and the scoped run's RuleRuns."""
    seqs = _sequences(db)
    existing = set(snapshot(db)[0])
    sp = db.begin_nested()
    full = rules.run_rules(db, on.red_flags, rules=rules.AFTER[rule_kind])
    expected = snapshot(db)
    sp.rollback()
    for seq, (value, called) in seqs.items():
        db.execute(text("SELECT setval(:s, :v, :c)"), {"s": seq, "v": value, "c": called})
    db.info[SESSION_KEY] = on
    try:
        scoped = run_scoped()
    finally:
        db.info[SESSION_KEY] = OFF
    got = snapshot(db)
    got_flags, expected_flags = _without_new_ids(got[0], existing), _without_new_ids(expected[0], existing)
    assert got_flags == expected_flags, _diff(got_flags, expected_flags)
    assert got[1] == expected[1]
    return full, scoped


def _diff(got: dict, want: dict) -> str:
    lines = [f"only scoped: {k}" for k in set(got) - set(want)] + [f"only full: {k}" for k in set(want) - set(got)]
    for k in set(got) & set(want):
        lines += [f"{k}.{c}: {got[k][c]!r} != {want[k][c]!r}" for c in got[k] if got[k][c] != want[k][c]]
    return "\n".join(lines[:20])


def scoped_hotspots(db, report):
    """What the listener does (``redflags.service.after_ingest``), with the rule runs it made."""
    runs: list = []
    original = rules.run_rules

    def spy(*a, **kw):
        runs.extend(original(*a, **kw))
        return runs

    rules.run_rules = spy
    try:
        rf_service.after_ingest(db, report)
    finally:
        rules.run_rules = original
    return runs


def cell_centre(lon, lat, dx=0.0, dy=0.0):
    x, y = TO_UTM.transform(lon, lat)
    return TO_LL.transform((x // 500) * 500 + 250 + dx, (y // 500) * 500 + 250 + dy)


@pytest.mark.slow
def test_scoped_re_runs_after_hotspot_ingests_equal_a_full_re_run(db, centre, tmp_path):
    lon, lat = centre
    # an edge on a longitude whose 1e-4 rounding leaves a detection just inside or just outside the same key
    edge = round(lon + 0.02, 4) + 0.00004
    inside, outside = edge - 0.000003, edge + 0.000003
    rows = [
        contract("FB-1", box_wkt(box(lon, lat))),
        contract("FB-EDGE", box_wkt((edge - 0.004, lat - 0.002, edge, lat + 0.002)), work="fire_control"),
        contract("RF-1", box_wkt(box(lon + 0.06, lat)), work="reforestation", start="2020-06-01", end="2021-05-31"),
        contract("FB-FAR", box_wkt(box(lon - 0.08, lat + 0.05)), start="2024-06-01", end="2025-05-31"),
    ]
    cids = dict(zip(("FB-1", "FB-EDGE", "RF-1", "FB-FAR"), store.upsert_contracts(db, rows, actor="t", layer="t",
                                                                                    version="1")["ids"], strict=True))  # fmt: skip
    pids = store.upsert_parcels(
        db,
        [
            parcel("P-1", box_wkt(box(lon - 0.03, lat, 0.002)), "2024-06-15"),
            parcel("P-2", box_wkt(box(lon - 0.04, lat, 0.002)), "2024-01-10"),
        ],
        actor="t",
        layer="t",
        version="1",
    )["ids"]
    c2 = cell_centre(lon + 0.01, lat - 0.02)  # burned in 2 seasons: one more makes a recurrence flag
    c3 = cell_centre(lon - 0.01, lat - 0.02)  # burned in 3 seasons: flagged; more fire changes its figures
    rng = random.Random(15)
    history = [(c2[0], c2[1], f"{y}-03-0{y - 2018}") for y in (2021, 2022)]
    history += [(c3[0], c3[1], f"{y}-02-1{y - 2018}") for y in (2021, 2022, 2023)]
    history += [(inside, lat, "2024-02-01", "0600"), (lon, lat, "2024-02-02")]
    history += [
        (lon + rng.uniform(-0.1, 0.1), lat + rng.uniform(-0.06, 0.06), f"{2021 + k % 3}-0{1 + k % 5}-{10 + k % 18}")
        for k in range(150)
    ]
    firms(db, tmp_path, history)
    rules.run_rules(db, ON.red_flags)  # the starting point: a full run over everything
    before, _ = snapshot(db)
    assert f"fire_in_fire_contract:contract:{cids['FB-EDGE']}" in before
    assert sum(k.startswith("recurrence:") for k in before) >= 1

    # 1. an ingest that touches nothing: far away and outside every reserve, out of the season
    far_away = [(lon + 0.5, lat + 0.5, "2024-08-10"), (lon + 0.51, lat + 0.5, "2024-08-10")]
    report = firms(db, tmp_path, far_away)
    _, scoped = full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report))
    assert sum(r.subjects or 0 for r in scoped) == 0 and snapshot(db)[0] == before

    # 2. across a season's (and FB-1's period's) last day: 31 May counts, 1 June does not
    boundary = [(lon + 0.001, lat, "2024-05-31"), (lon + 0.002, lat, "2024-06-01"), (c2[0], c2[1], "2024-05-31")]
    boundary += [(c2[0] + 0.0005, c2[1], "2024-06-01"), (lon - 0.03, lat, "2024-06-01")]
    report = firms(db, tmp_path, boundary)
    _, scoped = full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report))
    after = snapshot(db)[0]
    assert after[f"fire_in_fire_contract:contract:{cids['FB-1']}"]["figures"]["last_day"] == "2024-05-31"
    assert any(k.startswith("recurrence:") and k not in before for k in after)  # c2: a third season
    assert after[f"cleared_before_issue:parcel:{pids[0]}"]["current"]  # 14 days before P-1's issue

    # 3. figures change (more fire in FB-1, RF-1's watch years and c3), and a dismissed flag stays dismissed
    rf_key = f"reforestation_loss:contract:{cids['RF-1']}"
    fb_key = f"fire_in_fire_contract:contract:{cids['FB-1']}"
    assert store.dismiss_flag(db, after[fb_key]["id"], "Planned prescribed burn, permit 12/2567", "inv", None)
    more = [(lon + 0.06, lat, "2024-03-10"), (lon + 0.061, lat, "2024-03-10"), (c3[0], c3[1], "2024-03-11")]
    more += [(lon - 0.001, lat + 0.001, "2024-03-12")]
    report = firms(db, tmp_path, more)
    _, scoped = full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report))
    now = snapshot(db)[0]
    assert (
        now[rf_key]["figures"]["detections"]
        > after.get(rf_key, {"figures": {"detections": 0}})["figures"]["detections"]
    )
    assert now[fb_key]["status"] == "dismissed" and now[fb_key]["figures"] == after[fb_key]["figures"]

    # 4. a detection sent again, moved across FB-EDGE's edge within its key: the contract's flag goes
    report = firms(db, tmp_path, [(outside, lat, "2024-02-01", "0600")], version="2.0SP")
    assert report.rows_updated == 1
    _, scoped = full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report))
    gone = snapshot(db)[0][f"fire_in_fire_contract:contract:{cids['FB-EDGE']}"]
    assert gone["current"] is False

    # 5. a busier day: random detections over the whole area, linking fire events
    busy = [(lon + rng.uniform(-0.1, 0.1), lat + rng.uniform(-0.06, 0.06), "2024-03-20") for _ in range(120)]
    report = firms(db, tmp_path, busy)
    full, scoped = full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report))
    assert all(r.subjects is not None for r in scoped)  # every hotspot rule ran scoped
    # the scoped run saw fewer subjects than the full run found flags for (it did not re-run everything)
    assert sum(r.subjects or 0 for r in scoped) < sum(r.found for r in full) + len(busy)


def test_fire_events_alone_change_a_flag_and_the_scoped_re_run_sees_it(db, centre, tmp_path):
    """With a 50 m protected side, detections 100 m outside a firebreak reach it only through their fire event's
    footprint (discs of half a pixel, 187.5 m): a new event that now reaches the area, then two events merged into
    one (the cited one that is gone), change the flag's list of events; the scoped re-run follows both."""
    lon, lat = centre
    narrow = Settings(protected_side_m=50.0)
    b = box(lon, lat)
    (cid,) = store.upsert_contracts(db, [contract("FB-EV", box_wkt(b))], actor="t", layer="t", version="1")["ids"]
    east = TO_LL.transform(*(a + d for a, d in zip(TO_UTM.transform(b[2], lat), (100, 0), strict=True)))
    north_east = TO_LL.transform(*(a + d for a, d in zip(TO_UTM.transform(b[2], b[3]), (70, 70), strict=True)))
    firms(db, tmp_path, [(lon, lat, "2024-03-01")])
    rules.run_rules(db, narrow.red_flags)
    key = f"fire_in_fire_contract:contract:{cid}"

    def events() -> list[int]:
        flag = snapshot(db)[0][key]
        return next(e["ids"] for e in flag["evidence"] if e["type"] == "fire_event")

    assert len(events()) == 1
    # a new event 4 days later, 100 m east of the area: beyond the protected side, its footprint reaches the area
    report = firms(db, tmp_path, [(east[0], east[1], "2024-03-05")])
    full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report), narrow)
    assert len(events()) == 2 and snapshot(db)[0][key]["figures"]["detections"] == 1
    # a detection in between in time (and within 1 km of both): the two events become one, the younger id goes
    report = firms(db, tmp_path, [(north_east[0], north_east[1], "2024-03-03")])
    full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report), narrow)
    assert len(events()) == 1


@pytest.mark.slow
def test_scoped_re_run_after_a_forest_loss_ingest_equals_a_full_re_run(db, tmp_path):
    # the alert picture's top-left corner is (620,000, 2,010,000) in UTM 47N, 10 m pixels (rows go south)
    west, south = TO_LL.transform(620_020.0, 2_009_960.0)
    east, north = TO_LL.transform(620_080.0, 2_009_990.0)
    plot = (west, south, east, north)  # inside the 6 x 12 pixel block of the first alert
    rows = [
        contract("RF-A", box_wkt(plot), work="reforestation", start="2021-06-01", end="2022-05-31"),
        contract("RF-OLD", box_wkt(plot), work="reforestation", start="2010-06-01", end="2011-05-31", fy=2553),
    ]
    cids = store.upsert_contracts(db, rows, actor="t", layer="t", version="1")["ids"]
    pids = store.upsert_parcels(db, [parcel("P-A", box_wkt(plot), "2023-09-01")], actor="t", layer="t", version="1")[
        "ids"
    ]
    rules.run_rules(db, ON.red_flags)
    blocks = [
        (np.s_[0:6, 0:12], date(2023, 3, 1), 3),
        (np.s_[15:18, 15:18], date(2023, 3, 1), 3),  # touches no contract or parcel
    ]
    path = far.gfw_tile(tmp_path / "gfw.tif", blocks)
    report = ingest_files(db, [path], encoding="gfw_integrated", settings=ForestLossSettings())
    assert report.patch_ids
    full_then_scoped(db, "clearing", lambda: rf_service.after_patches_found(db, report.patch_ids))
    flags = snapshot(db)[0]
    assert f"reforestation_loss:contract:{cids[0]}" in flags  # within 3 years of the end
    assert f"reforestation_loss:contract:{cids[1]}" not in flags  # long over
    assert f"cleared_before_issue:parcel:{pids[0]}" in flags
    # a second alert a month later extends the patches: scoped again equals full again
    path = far.gfw_tile(tmp_path / "gfw2.tif", [*blocks, (np.s_[0:8, 0:12], date(2023, 4, 1), 3)])
    report = ingest_files(db, [path], encoding="gfw_integrated", settings=ForestLossSettings())
    full_then_scoped(db, "clearing", lambda: rf_service.after_patches_found(db, report.patch_ids))


def test_scope_of_an_ingest_that_wrote_nothing_reaches_no_subject(db):
    """A Scope naming no batch, event or patch reaches no subject of any scopable rule (nothing is re-run)."""
    for rule in rules.SCOPE_SQL:
        assert rules.scope_subjects(db, rule, ON.red_flags, rules.Scope()) == []
    out = rules.run_rules(db, ON.red_flags, rules=rules.AFTER["hotspots"], scope=rules.Scope())
    assert [(r.found, r.new, r.changed, r.gone, r.subjects) for r in out] == [(0, 0, 0, 0, 0)] * len(out)
