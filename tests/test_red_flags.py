"""Red-flag rules on hand-built contracts, parcels, detections and clearing patches with known answers.

The reserve is the illustrative NRF-PR-004 (in force since 1977-11-10); everything is placed around a point inside
it. Boxes are lon/lat envelopes, so a detection whose longitude equals the box's edge lies exactly on the boundary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pyproj import Geod, Transformer
from sqlalchemy import text

from geo_service.redflags import rules, store
from geo_service.settings import RedFlagSettings
from tests.conftest import point_in_reserve

GEOD = Geod(ellps="WGS84")
TO_UTM = Transformer.from_crs(4326, 32647, always_xy=True)
TO_LL = Transformer.from_crs(32647, 4326, always_xy=True)
RESERVE = "NRF-PR-004"


def box(lon, lat, half=0.005):
    return (lon - half, lat - half, lon + half, lat + half)


def box_wkt(b):
    x0, y0, x1, y1 = b
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def geod_area(b):
    x0, y0, x1, y1 = b
    return abs(GEOD.polygon_area_perimeter([x0, x1, x1, x0], [y0, y0, y1, y1])[0])


def contract(number, wkt, *, work="firebreak", fy=2567, start="2023-10-01", end="2024-05-31", paid=100000.0, **kw):
    row = {
        "contract_number": number,
        "project_name": f"Project {number}",
        "agency": kw.pop("agency", "Royal Forest Department"),
        "contractor": kw.pop("contractor", "Acme Co."),
        "work_type": work,
        "budget_thb": 120000.0,
        "paid_thb": paid,
        "fiscal_year_be": fy,
        "start_date": start,
        "end_date": end,
        "delivery_date": None,
        "quantities": {},
        "named_district_code": None,
        "named_reserve_code": None,
        "width_m": None,
        "wkt": wkt,
    }
    row.update(kw)
    return row


def parcel(number, wkt, issue, doc="chanote"):
    return {
        "doc_type": doc,
        "doc_number": number,
        "issue_date": issue,
        "issuing_office": "Phrae Land Office",
        "confidential": True,
        "wkt": wkt,
    }


_seq = iter(range(1, 10**6))


def detection(s, lon, lat, day, *, reserve=RESERVE):
    """A VIIRS detection stored directly (attribution given), at 13:30 local time on ``day``."""
    d = date.fromisoformat(day)
    acq = datetime(d.year, d.month, d.day, 6, 30, tzinfo=UTC) + timedelta(seconds=next(_seq))
    return s.execute(
        text("""
        INSERT INTO hotspots (satellite, instrument, processing, acq_utc, acq_date_local, lat_e4, lon_e4, latitude,
          longitude, confidence, confidence_raw, reserve_code, protected_area_codes, district_code, batch_id, geom)
        VALUES ('N', 'VIIRS', 'NRT', :acq, :day, :late4, :lone4, :lat, :lon, 2, 'n', CAST(:res AS text),
          CASE WHEN CAST(:res AS text) IS NULL THEN NULL ELSE ARRAY[CAST(:res AS text)] END, NULL, 0,
          ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
        RETURNING id"""),
        {
            "acq": acq,
            "day": d,
            "late4": round(lat * 1e4),
            "lone4": round(lon * 1e4),
            "lat": lat,
            "lon": lon,
            "res": reserve,
        },
    ).scalar_one()


def patch(s, wkt, first, last):
    ingest = s.execute(
        text("""INSERT INTO forest_alert_ingests (source, encoding, file_name, file_sha256, params_key, crs)
                VALUES ('glad_l', 'x', 'a.tif', repeat('a', 64), md5(random()::text), 'EPSG:4326') RETURNING id""")
    ).scalar_one()
    return s.execute(
        text("""INSERT INTO clearing_patches (sources, first_date, last_date, pixels, area_m2, confidence_max,
                  first_ingest_id, last_ingest_id, geom)
                VALUES (ARRAY['glad_l'], :f, :l, 10, 1, 3, :i, :i, ST_Multi(ST_GeomFromText(:w, 4326))) RETURNING id"""),
        {"f": first, "l": last, "i": ingest, "w": wkt},
    ).scalar_one()


@pytest.fixture
def db(db_session):
    return db_session


@pytest.fixture
def centre(db):
    return point_in_reserve(db, RESERVE)


def flags(db, rule):
    return {
        r["flag_key"]: r
        for r in db.execute(text("SELECT * FROM red_flags WHERE rule = :r"), {"r": rule}).mappings().all()
    }


def run(db, *names, **overrides):
    return {r.rule: r for r in rules.run_rules(db, RedFlagSettings(**overrides), rules=names or None)}


def test_fire_inside_a_firebreak_area_counts_the_boundary_and_the_protected_side(db, centre):
    lon, lat = centre
    b = box(lon, lat)
    ids = store.upsert_contracts(db, [contract("FB-1", box_wkt(b))], actor="t", layer="t", version="1")["ids"]
    inside = detection(db, lon, lat, "2024-03-01")
    on_edge = detection(db, b[2], lat, "2024-03-02")  # longitude = the box's east edge: on the boundary
    detection(db, lon, lat, "2023-09-30")  # inside, the day before the contract period
    east_m = TO_LL.transform(*(a + b_ for a, b_ in zip(TO_UTM.transform(b[2], lat), (300, 0), strict=True)))
    detection(db, east_m[0], east_m[1], "2024-03-03")  # 300 m outside, in the reserve: the protected side
    detection(db, lon + 0.05, lat, "2024-03-03", reserve=None)  # 5 km away: nothing
    out = run(db, "fire_in_fire_contract")["fire_in_fire_contract"]
    assert (out.found, out.new) == (1, 1)
    f = flags(db, "fire_in_fire_contract")[f"fire_in_fire_contract:contract:{ids[0]}"]
    fig = f["figures"]
    assert fig["detections"] == 2
    assert fig["reached_protected_side"] is True and fig["protected_side_detections"] == 1
    # one full 375 m pixel and half of the one on the edge (the edge is a meridian: nearly a UTM grid line)
    assert fig["burned_m2"] == pytest.approx(375 * 375 * 1.5, rel=0.02)
    assert fig["burned_share"] == pytest.approx(375 * 375 * 1.5 / geod_area(b), rel=0.02)
    assert f["severity"] == "high"  # the fire reached the protected side
    assert {e["type"] for e in f["evidence"]} == {"contract", "hotspot", "fire_event"}
    hot = next(e for e in f["evidence"] if e["type"] == "hotspot")
    assert sorted(hot["ids"]) == sorted([inside, on_edge])
    assert "ไร่" in f["reason_th"] and "rai burned" in f["reason_en"] and "protected side" in f["reason_en"]


def test_a_line_contract_is_its_stated_width(db, centre):
    lon, lat = centre
    line = f"LINESTRING({lon - 0.01} {lat}, {lon + 0.01} {lat})"
    row = contract("FB-LINE", line, width_m=20.0)
    cid = store.upsert_contracts(db, [row], actor="t", layer="t", version="1")["ids"][0]
    length = GEOD.line_length([lon - 0.01, lon + 0.01], [lat, lat])
    area = db.execute(text("SELECT area_m2 FROM redflag_contracts WHERE id = :i"), {"i": cid}).scalar_one()
    assert area == pytest.approx(length * 20, rel=0.01)
    dlat = 1 / 110_700  # about a metre of latitude here
    detection(db, lon, lat + 5 * dlat, "2024-02-01")  # 5 m north of the line: inside the 20 m strip
    detection(db, lon + 0.002, lat + 15 * dlat, "2024-02-01")  # 15 m north: outside, on the protected side
    run(db, "fire_in_fire_contract")
    fig = flags(db, "fire_in_fire_contract")[f"fire_in_fire_contract:contract:{cid}"]["figures"]
    assert fig["detections"] == 1 and fig["protected_side_detections"] == 1
    assert fig["contract_area_rai"] == pytest.approx(length * 20 / 1600, rel=0.01)


def test_reforestation_plot_burned_and_cleared_after_its_contract(db, centre):
    lon, lat = centre
    b = box(lon, lat)
    row = contract("RF-1", box_wkt(b), work="reforestation", start="2020-06-01", end="2021-05-31", fy=2563)
    cid = store.upsert_contracts(db, [row], actor="t", layer="t", version="1")["ids"][0]
    detection(db, lon, lat, "2023-03-10")  # within 3 years after the end
    detection(db, lon, lat, "2025-03-10")  # after the watch window: not counted
    quarter = (b[0], b[1], lon, lat)  # the south-west quarter of the plot
    pid = patch(db, box_wkt(quarter), "2022-01-05", "2022-02-01")
    patch(db, box_wkt(box(lon + 0.1, lat)), "2022-01-05", "2022-02-01")  # elsewhere
    run(db, "reforestation_loss")
    f = flags(db, "reforestation_loss")[f"reforestation_loss:contract:{cid}"]
    fig = f["figures"]
    assert fig["detections"] == 1 and fig["during_contract"] == 0 and fig["after_contract"] == 1
    assert fig["clearing_patches"] == 1 and fig["cleared_share"] == pytest.approx(0.25, rel=0.01)
    assert f["severity"] == "high"  # 25 % cleared >= 10 %
    assert next(e for e in f["evidence"] if e["type"] == "clearing_patch")["ids"] == [pid]
    # a watch window of 1 year: the 2023 fire falls outside, the 2022 clearing stays
    run(db, "reforestation_loss", reforestation_watch_years=1)
    assert flags(db, "reforestation_loss")[f"reforestation_loss:contract:{cid}"]["figures"]["detections"] == 0


def test_contract_outside_the_reserve_and_district_it_names(db, centre):
    lon, lat = centre
    district = db.execute(
        text("""SELECT code FROM current_admin_areas WHERE level = 'district'
                AND ST_Contains(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"""),
        {"x": lon, "y": lat},
    ).scalar_one()
    other = db.execute(
        text("SELECT min(code) FROM current_admin_areas WHERE level = 'district' AND code <> :c"), {"c": district}
    ).scalar_one()
    good = contract("OK-1", box_wkt(box(lon, lat, 0.001)), named_reserve_code=RESERVE, named_district_code=district)
    wrong_district = contract("BAD-D", box_wkt(box(lon, lat, 0.001)), named_district_code=other)
    missing = contract("BAD-R", box_wkt(box(lon, lat, 0.001)), named_reserve_code="NRF-NOPE")
    ids = store.upsert_contracts(db, [good, wrong_district, missing], actor="t", layer="t", version="1")["ids"]
    run(db, "outside_named_area")
    found = flags(db, "outside_named_area")
    assert set(found) == {
        f"outside_named_area:contract:{ids[1]}:district",
        f"outside_named_area:contract:{ids[2]}:reserve",
    }
    d = found[f"outside_named_area:contract:{ids[1]}:district"]["figures"]
    assert d["outside_share"] == pytest.approx(1.0) and d["lies_in"] == [district]
    r = found[f"outside_named_area:contract:{ids[2]}:reserve"]["figures"]
    assert r["named_found"] is False


def test_double_payment_same_work_same_year_overlapping(db, centre):
    lon, lat = centre
    a = box(lon, lat)
    half = (lon - 0.001, a[1], a[2] + 0.004, a[3])  # as wide as a, 0.004 degree east: 60 % of each overlaps
    rows = [
        contract("DP-A", box_wkt(a)),
        contract("DP-B", box_wkt(half), contractor="Other Co."),
        contract("DP-C", box_wkt(a), fy=2566),  # another year
        contract("DP-D", box_wkt(a), paid=0),  # not paid
        contract("DP-E", box_wkt(a), work="patrol"),  # other work
    ]
    ids = store.upsert_contracts(db, rows, actor="t", layer="t", version="1")["ids"]
    run(db, "double_payment")
    found = flags(db, "double_payment")
    assert list(found) == [f"double_payment:contract:{ids[0]}:{ids[1]}"]
    f = found[f"double_payment:contract:{ids[0]}:{ids[1]}"]
    assert f["figures"]["overlap_share"] == pytest.approx(0.6, rel=0.01)
    assert f["figures"]["overlap_rai"] == pytest.approx(geod_area(a) * 0.6 / 1600, rel=0.01)
    assert f["severity"] == "high"
    assert list(f["contract_ids"]) == [ids[0], ids[1]]
    assert f["figures"]["contractors"] == ["Acme Co.", "Other Co."]


def test_document_issued_inside_a_reserve_on_or_after_its_start(db, centre):
    lon, lat = centre
    start = db.execute(text("SELECT valid_from FROM protected_areas WHERE code = :c"), {"c": RESERVE}).scalar_one()
    w = box_wkt(box(lon, lat, 0.001))
    rows = [
        parcel("on-the-day", w, start.isoformat()),
        parcel("day-before", w, (start - timedelta(days=1)).isoformat()),
        parcel("later", w, "2005-06-01", doc="nor_sor_3_gor"),
        parcel("no-date", w, None),
    ]
    ids = store.upsert_parcels(db, rows, actor="t", layer="t", version="1")["ids"]
    run(db, "document_in_reserve")
    found = flags(db, "document_in_reserve")
    keys = {f"document_in_reserve:parcel:{ids[0]}:{RESERVE}", f"document_in_reserve:parcel:{ids[2]}:{RESERVE}"}
    assert keys <= set(found)
    assert not any(f":{ids[1]}:" in k or f":{ids[3]}:" in k for k in found)
    f = found[f"document_in_reserve:parcel:{ids[0]}:{RESERVE}"]
    assert f["figures"]["days_after_start"] == 0 and f["figures"]["overlap_share"] == pytest.approx(1.0, abs=1e-3)
    assert f["severity"] == "high" and list(f["parcel_ids"]) == [ids[0]] and f["agency"] is None


def test_parcel_burned_shortly_before_its_document(db, centre):
    lon, lat = centre
    w = box_wkt(box(lon, lat, 0.001))
    ids = store.upsert_parcels(
        db,
        [parcel("P-1", w, "2024-06-01"), parcel("P-2", box_wkt(box(lon + 0.05, lat, 0.001)), "2024-06-01")],
        actor="t",
        layer="t",
        version="1",
    )["ids"]
    detection(db, lon, lat, "2024-02-22")  # 100 days before
    detection(db, lon + 0.05, lat, "2024-06-02", reserve=None)  # the day after P-2's issue: not before
    run(db, "cleared_before_issue")
    found = flags(db, "cleared_before_issue")
    assert list(found) == [f"cleared_before_issue:parcel:{ids[0]}"]
    assert found[f"cleared_before_issue:parcel:{ids[0]}"]["figures"]["days_before_issue"] == 100


def test_recurrence_three_seasons_in_one_cell(db, centre):
    lon, lat = centre
    x, y = TO_UTM.transform(lon, lat)
    cx, cy = (x // 500) * 500 + 250, (y // 500) * 500 + 250  # the centre of the 500 m cell
    p = TO_LL.transform(cx, cy)
    q = TO_LL.transform(cx + 2000, cy)  # another cell
    for day in ("2021-03-01", "2022-03-05", "2023-04-20", "2023-12-15"):  # December is out of season
        detection(db, p[0], p[1], day)
    for day in ("2021-03-01", "2022-03-05", "2023-12-15"):
        detection(db, q[0], q[1], day)
    run(db, "recurrence")
    found = flags(db, "recurrence")
    key = f"recurrence:reserve_cell:{RESERVE}:{int(cx // 500)}:{int(cy // 500)}"
    assert list(found) == [key]
    assert found[key]["figures"]["years"] == [2021, 2022, 2023]
    assert found[key]["figures"]["years_be"] == [2564, 2565, 2566]
    # a season from November to April: December 2023 belongs to the 2024 season, so q burned in 3 seasons too
    run(db, "recurrence", season_first_month=11, season_last_month=4)
    assert len(flags(db, "recurrence")) == 2


def test_re_runs_are_idempotent_and_a_dismissed_flag_is_never_recreated(db, centre):
    lon, lat = centre
    cid = store.upsert_contracts(db, [contract("FB-R", box_wkt(box(lon, lat)))], actor="t", layer="t", version="1")[
        "ids"
    ][0]
    first = detection(db, lon, lat, "2024-03-01")
    run(db)
    before = flags(db, "fire_in_fire_contract")
    again = run(db)
    assert all((r.new, r.changed, r.gone) == (0, 0, 0) for r in again.values())
    assert flags(db, "fire_in_fire_contract") == before
    key = f"fire_in_fire_contract:contract:{cid}"
    flag_id = before[key]["id"]
    # the fire goes (a re-processed detection removed): the flag is kept, marked gone, and comes back with its id
    db.execute(text("DELETE FROM hotspots WHERE id = :i"), {"i": first})
    assert run(db, "fire_in_fire_contract")["fire_in_fire_contract"].gone == 1
    assert flags(db, "fire_in_fire_contract")[key]["current"] is False
    detection(db, lon, lat, "2024-03-02")
    run(db, "fire_in_fire_contract")
    back = flags(db, "fire_in_fire_contract")[key]
    assert back["id"] == flag_id and back["current"] is True
    assert store.dismiss_flag(db, flag_id, "Burn was a planned, permitted prescribed fire", "inv", None)
    detection(db, lon + 0.001, lat, "2024-03-03")  # more fire: the answer changes, the dismissal stands
    run(db)
    after = flags(db, "fire_in_fire_contract")[key]
    assert after["status"] == "dismissed" and after["figures"]["detections"] == 1
    assert len(flags(db, "fire_in_fire_contract")) == 1
    actions = [h["action"] for h in store.flag_history(db, [flag_id])]
    assert actions == ["found", "gone", "changed", "dismissed"]


def test_each_rule_can_be_switched_off(db, centre):
    lon, lat = centre
    store.upsert_contracts(db, [contract("FB-S", box_wkt(box(lon, lat)))], actor="t", layer="t", version="1")
    detection(db, lon, lat, "2024-03-01")
    out = rules.run_rules(db, RedFlagSettings(rule_fire_in_fire_contract=False))
    assert "fire_in_fire_contract" not in {r.rule for r in out} and not flags(db, "fire_in_fire_contract")


def test_parcel_cleared_before_its_document_and_on_its_issue_day(db, centre):
    """Clearing counts like fire: a patch whose last alert is 30 days before the issue date flags the parcel (high
    with the fire as well); a patch first seen on the issue day itself is not "before"; the window is in settings."""
    lon, lat = centre
    w = box_wkt(box(lon, lat, 0.001))
    pid = store.upsert_parcels(db, [parcel("P-C", w, "2024-06-01")], actor="t", layer="t", version="1")["ids"][0]
    cleared = patch(db, w, "2024-04-20", "2024-05-02")  # last alert 30 days before the issue date
    patch(db, w, "2024-06-01", "2024-06-10")  # first seen on the issue day: not before it
    run(db, "cleared_before_issue")
    f = flags(db, "cleared_before_issue")[f"cleared_before_issue:parcel:{pid}"]
    assert f["figures"]["clearing_patches"] == 1 and f["figures"]["detections"] == 0
    assert f["figures"]["days_before_issue"] == 30 and f["severity"] == "medium"
    assert next(e for e in f["evidence"] if e["type"] == "clearing_patch")["ids"] == [cleared]
    detection(db, lon, lat, "2024-03-01")  # fire too: high
    run(db, "cleared_before_issue")
    assert flags(db, "cleared_before_issue")[f"cleared_before_issue:parcel:{pid}"]["severity"] == "high"
    # a 20-day window: the clearing 30 days before is outside it, the fire too; the flag is gone, its id kept
    run(db, "cleared_before_issue", cleared_before_days=20)
    gone = flags(db, "cleared_before_issue")[f"cleared_before_issue:parcel:{pid}"]
    assert gone["current"] is False and gone["id"] == f["id"]


def test_a_recluster_outside_an_ingest_updates_a_fire_contracts_events(db, centre):
    """Detections stored without events (as ``hotspots ingest --no-events``), flagged inside a firebreak contract;
    a later re-clustering outside an ingest (``hotspots events``, the worker's job) re-runs the rule over the
    contracts its events reach (listener ``redflags.service.after_events_reclustered``): the flag names the new
    event."""
    from geo_service.hotspots.service import recluster_events

    lon, lat = centre
    cid = store.upsert_contracts(db, [contract("FB-EV", box_wkt(box(lon, lat)))], actor="t", layer="t", version="1")
    detection(db, lon, lat, "2024-03-01")
    run(db, "fire_in_fire_contract")
    key = f"fire_in_fire_contract:contract:{cid['ids'][0]}"
    before = flags(db, "fire_in_fire_contract")[key]
    assert not next(e for e in before["evidence"] if e["type"] == "fire_event")["ids"]  # no event yet
    assert before["figures"]["fire_events"] == 0
    result = recluster_events(db)
    assert len(result["events"]) == 1
    after = flags(db, "fire_in_fire_contract")[key]
    events = next(e for e in after["evidence"] if e["type"] == "fire_event")
    assert events["ids"] == result["events"] and after["figures"]["fire_events"] == 1
