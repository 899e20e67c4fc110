"""What a red-flag run costs and keeps right beside its rules: the province of the flags it wrote (only theirs: a
scoped run after an ingest touches no other flag), the province of flags whose contract moved (dismissed ones too),
and the scoped lookups of a run sharing one read of the batch's detections (``rules.scopes_of``) with the same
flags as a full run.

Phrae (54, bundled) and the synthetic Nan (55, tests/provinces.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from geo_service.redflags import rules, store
from geo_service.settings import SESSION_KEY, RedFlagSettings
from tests.conftest import point_in_reserve
from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan
from tests.test_red_flags import box, box_wkt, contract, detection, parcel
from tests.test_red_flags_rescope import OFF, ON, cell_centre, firms, full_then_scoped, scoped_hotspots, snapshot

SETTINGS = RedFlagSettings()
PHRAE = (PHRAE_POINT["lon"], PHRAE_POINT["lat"])
NAN = (NAN_POINT["lon"], NAN_POINT["lat"])


@pytest.fixture
def db(db_url, sessionmaker_for, db_session):
    load_nan(sessionmaker_for(db_url))  # committed in the test's own database; the session reads it
    db_session.info[SESSION_KEY] = OFF
    return db_session


def _contracts(db, rows) -> dict[str, int]:
    ids = store.upsert_contracts(db, rows, actor="t", layer="t", version="1")["ids"]
    return dict(zip([r["contract_number"] for r in rows], ids, strict=True))


def _flag(db, rule: str, contract_id: int) -> dict:
    return dict(
        db.execute(
            text("""SELECT id, province_code, figures, status, xmin::text AS xmin FROM red_flags
                    WHERE rule = :r AND :c = ANY(contract_ids)"""),
            {"r": rule, "c": contract_id},
        )
        .mappings()
        .one()
    )


def _updated_flags(db) -> int:
    return db.execute(text("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'red_flags'")).scalar_one()


def _acq(db, ids: list[int]) -> tuple[str, str]:
    lo, hi = db.execute(
        text("SELECT min(acq_utc), max(acq_utc) FROM hotspots WHERE id = ANY(CAST(:ids AS bigint[]))"), {"ids": ids}
    ).one()
    return lo.isoformat(), hi.isoformat()


def test_a_scoped_run_writes_the_province_of_its_own_flags_only(db):
    c = _contracts(
        db,
        [
            contract("FB-PHRAE", box_wkt(box(*PHRAE))),
            contract("FB-NAN", box_wkt(box(*NAN))),
            contract("FB-NAN-2", box_wkt(box(NAN[0] + 0.02, NAN[1]))),
        ],
    )
    detection(db, *PHRAE, "2024-03-01", reserve=None)
    detection(db, *NAN, "2024-03-01", reserve=None)
    rules.run_rules(db, SETTINGS, rules=("fire_in_fire_contract",))
    phrae, nan = _flag(db, "fire_in_fire_contract", c["FB-PHRAE"]), _flag(db, "fire_in_fire_contract", c["FB-NAN"])
    assert (phrae["province_code"], nan["province_code"]) == ("54", "55")
    # Nan's flag given a wrong province behind the rules' back: a run that refreshed every flag would mend it
    db.execute(text("UPDATE red_flags SET province_code = '54' WHERE id = :id"), {"id": nan["id"]})
    untouched = _flag(db, "fire_in_fire_contract", c["FB-NAN"])

    # an ingest's batch: one more detection in FB-PHRAE (its flag changes), the first in FB-NAN-2 (a new flag)
    new = [
        detection(db, PHRAE[0] + 0.001, PHRAE[1], "2024-03-02", reserve=None),
        detection(db, NAN[0] + 0.02, NAN[1], "2024-03-02", reserve=None),
    ]
    first, last = _acq(db, new)
    before = _updated_flags(db)
    runs = rules.run_rules(db, SETTINGS, rules=rules.AFTER["hotspots"], scope=rules.Scope(0, first, last))
    fire = next(r for r in runs if r.rule == "fire_in_fire_contract")
    assert (fire.subjects, fire.new, fire.changed) == (2, 1, 1)

    changed = _flag(db, "fire_in_fire_contract", c["FB-PHRAE"])
    assert changed["figures"]["detections"] == 2 and changed["province_code"] == "54"
    assert _flag(db, "fire_in_fire_contract", c["FB-NAN-2"])["province_code"] == "55"  # a new flag: its province
    assert _flag(db, "fire_in_fire_contract", c["FB-NAN"]) == untouched  # not written (same xmin), not read over
    # rows of red_flags the run updated: FB-PHRAE's flag (its figures), the new flag's province; nothing else
    assert _updated_flags(db) - before == 2


def test_flags_follow_their_contract_into_another_province_dismissed_ones_too(db):
    """Contracts naming a district that does not exist are flagged wherever they lie (``outside_named_area``); moved
    from Phrae into Nan, the open flag (rewritten: its shape changed) and the dismissed one (not rewritten) both
    take Nan's province; a contract that stays keeps its flag's province, and the row is not written again."""
    rows = [
        contract("ON-OPEN", box_wkt(box(*PHRAE)), named_district_code="9999"),
        contract("ON-DISMISSED", box_wkt(box(PHRAE[0] + 0.02, PHRAE[1])), named_district_code="9999"),
        contract("ON-STAYS", box_wkt(box(PHRAE[0] - 0.02, PHRAE[1])), named_district_code="9999"),
    ]
    c = _contracts(db, rows)
    rules.run_rules(db, SETTINGS, rules=rules.AFTER["contracts"])
    flags = {n: _flag(db, "outside_named_area", i) for n, i in c.items()}
    assert {f["province_code"] for f in flags.values()} == {"54"}
    assert store.dismiss_flag(db, flags["ON-DISMISSED"]["id"], "Checked: a typo in the documents", "inv", None)
    stays = _flag(db, "outside_named_area", c["ON-STAYS"])

    moved = [
        contract("ON-OPEN", box_wkt(box(*NAN)), named_district_code="9999"),
        contract("ON-DISMISSED", box_wkt(box(NAN[0] + 0.02, NAN[1])), named_district_code="9999"),
    ]
    store.upsert_contracts(db, moved, actor="t", layer="t", version="2")  # what a contracts load does, then rules
    rules.run_rules(db, SETTINGS, rules=rules.AFTER["contracts"])
    after = {n: _flag(db, "outside_named_area", i) for n, i in c.items()}
    assert after["ON-OPEN"]["province_code"] == "55"
    assert (after["ON-DISMISSED"]["province_code"], after["ON-DISMISSED"]["status"]) == ("55", "dismissed")
    assert after["ON-STAYS"] == stays


def test_the_scoped_lookups_share_one_read_and_raise_what_a_full_run_raises(db, tmp_path):
    """One FIRMS batch that reaches a subject of each rule that reads detections: the lookup of all four in one
    statement finds what each rule's own lookup finds, and the scoped run leaves the flags (and their history) a full
    run leaves, a new flag of each rule among them."""
    lon, lat = point_in_reserve(db, "NRF-PR-004")
    c = _contracts(
        db,
        [
            contract("FB-1", box_wkt(box(lon, lat))),
            contract("RF-1", box_wkt(box(lon + 0.06, lat)), work="reforestation", start="2020-06-01", end="2021-05-31"),
        ],
    )
    (pid,) = store.upsert_parcels(
        db, [parcel("P-1", box_wkt(box(lon - 0.03, lat, 0.002)), "2024-03-20")], actor="t", layer="t", version="1"
    )["ids"]
    cell = cell_centre(lon + 0.01, lat - 0.02)
    firms(db, tmp_path, [(cell[0], cell[1], "2021-03-01"), (cell[0], cell[1], "2022-03-01")])  # two seasons
    rules.run_rules(db, ON.red_flags)
    existing = set(snapshot(db)[0])
    batch = [(lon, lat, "2024-03-10"), (lon + 0.06, lat, "2024-03-10"), (lon - 0.03, lat, "2024-03-10")]
    batch += [(cell[0], cell[1], "2024-03-10"), (lon + 0.5, lat + 0.5, "2024-03-10")]  # the last: reaches nothing
    report = firms(db, tmp_path, batch)
    scope = rules.Scope(report.batch_id, report.first_acq, report.last_acq, tuple(report.event_ids))

    shared = rules.scopes_of(db, rules.AFTER["hotspots"], ON.red_flags, scope)
    assert shared == {r: rules.scope_subjects(db, r, ON.red_flags, scope) for r in rules.AFTER["hotspots"]}
    assert shared["fire_in_fire_contract"] == [str(c["FB-1"])] and shared["cleared_before_issue"] == [str(pid)]
    assert shared["reforestation_loss"] == [str(c["RF-1"])] and len(shared["recurrence"]) >= 1

    full, scoped = full_then_scoped(db, "hotspots", lambda: scoped_hotspots(db, report))
    assert [r.subjects for r in scoped] == [len(shared[r.rule]) for r in scoped]
    new = set(snapshot(db)[0]) - existing
    assert {k.split(":", 1)[0] for k in new} == set(rules.AFTER["hotspots"])  # each rule raised a flag
    assert sorted(r.new for r in scoped) == sorted(r.new for r in full) == [1, 1, 1, 1]


def test_a_province_boundary_change_re_derives_every_records_and_flags_province(db):
    """After a province or district layer changes (``service.after_layers_changed``), every contract's and parcel's
    province is derived again from its shape and every flag follows: planted wrong provinces are mended, the
    others keep theirs."""
    from geo_service.redflags import service

    rows = [
        contract("BC-NAN", box_wkt(box(*NAN)), named_district_code="9999"),
        contract("BC-PHRAE", box_wkt(box(*PHRAE)), named_district_code="9999"),
    ]
    c = _contracts(db, rows)
    p = store.upsert_parcels(
        db, [parcel("BC-PARCEL", box_wkt(box(*NAN)), "2010-01-01")], actor="t", layer="t", version="1"
    )["ids"]
    rules.run_rules(db, SETTINGS, rules=rules.AFTER["contracts"])
    nan_flag = _flag(db, "outside_named_area", c["BC-NAN"])
    assert nan_flag["province_code"] == "55"
    # provinces planted wrong, as a boundary that moved would leave them
    db.execute(text("UPDATE redflag_contracts SET province_code = '54' WHERE id = :i"), {"i": c["BC-NAN"]})
    db.execute(text("UPDATE redflag_parcels SET province_code = NULL WHERE id = ANY(:i)"), {"i": p})
    db.execute(text("UPDATE red_flags SET province_code = '54' WHERE id = :i"), {"i": nan_flag["id"]})
    service.after_layers_changed(db, "province")
    provinces = dict(db.execute(text("SELECT contract_number, province_code FROM redflag_contracts")).all())
    assert provinces == {"BC-NAN": "55", "BC-PHRAE": "54"}
    assert db.execute(
        text("SELECT province_code FROM redflag_parcels WHERE id = ANY(:i)"), {"i": p}
    ).scalars().all() == ["55"]
    assert _flag(db, "outside_named_area", c["BC-NAN"])["province_code"] == "55"
    assert _flag(db, "outside_named_area", c["BC-PHRAE"])["province_code"] == "54"
