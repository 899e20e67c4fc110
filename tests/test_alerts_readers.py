"""Who an alert reaches, per subject type: each subject type may have its own reader (``alerts.store.
register_subject_reader``), a condition on the subscription and the recipient that the shared outbox tail applies to
that subject type's subscriptions only; the contract-area reader is one of them. The roles that may read red flags
come from the one policy (``redflags.service.FLAG_READERS``), bound as a parameter, never spelled in the SQL: the
test's reader for cases admits the flag readers by that parameter (the investigator, not the field officer)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from geo_service import users
from geo_service.alerts import store
from tests.conftest import PASSWORD
from tests.forest_patches import insert_ingest

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def db(db_session):
    return db_session


@pytest.fixture
def case_reader():
    """A reader registered for the 'case' subject type for the test (flag readers only), removed afterwards."""
    before = store.register_subject_reader("case", "r.roles && CAST(:flag_readers AS text[])")
    yield
    store.register_subject_reader("case", before)


def _people_and_subscriptions(db) -> str:
    """Ivan (investigator, Phrae) and Fay (field officer, Phrae), each subscribed in-app to case 7's changes and to
    the clearing patches of a Phrae district; returns the district's code."""
    district = db.execute(
        text("SELECT code FROM current_admin_areas WHERE level = 'district' AND parent_code = '54' ORDER BY code")
    ).scalar()
    for name, role in (("ivan", "investigator"), ("fay", "field_officer")):
        users.create_user(db, name, PASSWORD, [role], provinces=["54"])
        db.flush()
        for values in (
            {"subject_type": "case", "subject_code": "7", "kinds": ["case_change"]},
            {"subject_type": "district", "subject_code": district, "kinds": ["clearing_patch"]},
        ):
            store.insert_subscription(db, name, {"username": name, "channels": ["in_app"], **values}, None)
    return district


def _case_change(db, identity: str) -> list[str]:
    rows = store.match_case_change(db, 7, identity, {"what": "case_change", "case_id": 7}, NOW)
    return sorted(r["username"] for r in rows)


def _clearing_patch(db, district: str) -> int:
    ingest = insert_ingest(
        db, source="glad_l", encoding="gfw", file_name="a.tif", file_sha256="a" * 64, params_key="b" * 64
    )
    return db.execute(
        text("""INSERT INTO clearing_patches (sources, first_date, last_date, pixels, area_m2, confidence_max,
                district_code, first_ingest_id, last_ingest_id, geom)
                VALUES ('{glad_l}', DATE '2026-03-01', DATE '2026-03-01', 12, 10800, 3, :d, :i, :i,
                        ST_Multi(ST_Buffer(ST_SetSRID(ST_Point(100.2, 18.2), 4326), 0.0005))) RETURNING id"""),
        {"d": district, "i": ingest},
    ).scalar_one()


def test_a_subject_types_reader_gates_that_subject_type_only(db, case_reader):
    district = _people_and_subscriptions(db)
    # with the test's reader on 'case': only the flag reader hears of the case's change
    assert _case_change(db, "case:7/v2") == ["ivan"]
    # a district subscription (no reader of its own) reaches both, in the same tail
    patch = _clearing_patch(db, district)
    assert store.match_clearing_patches(db, [patch], datetime(2020, 1, 1, tzinfo=UTC), NOW) == 2
    # without it, the case's next change reaches both again
    assert store.register_subject_reader("case", None) == "r.roles && CAST(:flag_readers AS text[])"
    assert _case_change(db, "case:7/v3") == ["fay", "ivan"]


def test_the_shared_tail_names_no_subject_type_and_no_role():
    """The tail's conditions come from the readers; the roles that may read red flags are bound (FLAG_READERS)."""
    readers = store.subject_readers()
    assert "contract_area" in readers and ":flag_readers" in readers["contract_area"]
    tail = store.outbox_tail()
    for word in ("administrator", "investigator", "national_viewer"):
        assert word not in tail and all(word not in cond for cond in readers.values())
    before = store.register_subject_reader("contract_area", None)
    try:
        bare = store.outbox_tail()
        assert "contract_area" not in bare and "CASE s.subject_type" not in bare  # no reader, no condition
    finally:
        store.register_subject_reader("contract_area", before)
    with pytest.raises(ValueError):
        store.register_subject_reader("case'; DROP TABLE x; --", "TRUE")
