"""A clearing patch's ingest references (``first_ingest_id``, ``last_ingest_id``) are kept without a per-row
foreign key (migration 0034): the store checks and holds the ingest once per batch, and an ingest row is never
deleted nor renumbered, so no reference can dangle. These tests hold both halves of that guarantee."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from geo_service.db.engine import transaction
from geo_service.forest_loss import store

# three 30 m squares in Phrae (EPSG:4326), one alert day each
SQUARES = shapely.box(
    np.array([100.10, 100.11, 100.12]), np.full(3, 18.10), np.array([100.1003, 100.1103, 100.1203]), np.full(3, 18.1003)
)
DAYS = np.array(["2024-03-01", "2024-03-02", "2024-03-03"], dtype="datetime64[D]")


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _ingest(session, key: str) -> int:
    return store.create_ingest(
        session, source="gfw_integrated", encoding="gfw_integrated", file_name="t.tif", file_sha256="0" * 64,
        params_key=key, params={}, crs="EPSG:32647", window=None, created_by="test",
    )  # fmt: skip


def _batch(session) -> store.PatchBatch:
    ids = np.asarray(store.new_patch_ids(session, 3), dtype=np.int64)
    return store.PatchBatch(
        ids=ids, geoms=SQUARES, first=DAYS, last=DAYS, pixels=np.tile([9, 3, 3, 3], (3, 1)),
        confidence_max=np.full(3, 4), sources="gfw_integrated",
    )  # fmt: skip


def _patch_count(sm) -> int:
    with transaction(sm) as session:
        return session.execute(text("SELECT count(*) FROM clearing_patches")).scalar_one()


def test_patches_reference_their_ingest_and_the_ids_are_fresh_and_distinct(sm):
    with transaction(sm) as session:
        ingest = _ingest(session, "refs-1")
        batch = _batch(session)
        store.insert_patch_batch(session, batch, ingest)
    with transaction(sm) as session:
        rows = session.execute(
            text("SELECT id, first_ingest_id, last_ingest_id FROM clearing_patches ORDER BY id")
        ).all()
        again = store.new_patch_ids(session, 2)
    assert [r.id for r in rows] == sorted(batch.ids.tolist())
    assert len(set(batch.ids.tolist())) == 3
    assert all(r.first_ingest_id == ingest and r.last_ingest_id == ingest for r in rows)
    assert min(again) > max(batch.ids.tolist()) and again[1] == again[0] + 1


@pytest.mark.parametrize("write", ["insert", "update", "merge"])
def test_a_write_naming_an_unknown_ingest_is_refused_and_writes_nothing(sm, write):
    with transaction(sm) as session:
        ingest = _ingest(session, "refs-2")
        stored = _batch(session)
        store.insert_patch_batch(session, stored, ingest)
    before = _patch_count(sm)
    with pytest.raises(store.UnknownIngest, match="no forest-loss ingest 999999"), transaction(sm) as session:
        if write == "insert":
            store.insert_patch_batch(session, _batch(session), 999_999)
        elif write == "update":
            store.update_patch_batch(session, stored, 999_999)
        else:
            store.mark_merged(session, [int(stored.ids[1])], [int(stored.ids[0])], 999_999)
    assert _patch_count(sm) == before
    with transaction(sm) as session:
        refs = session.execute(text("SELECT DISTINCT last_ingest_id, merged_into FROM clearing_patches")).all()
    assert refs == [(ingest, None)]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM forest_alert_ingests",
        "DELETE FROM forest_alert_ingests WHERE id = :unused",
        "UPDATE forest_alert_ingests SET id = id + 1000 WHERE id = :used",
        "TRUNCATE forest_alert_ingests CASCADE",
    ],
)
def test_an_ingest_is_never_deleted_nor_renumbered(sm, statement):
    with transaction(sm) as session:
        used = _ingest(session, "refs-used")
        unused = _ingest(session, "refs-unused")  # no patch names it: kept all the same (the record of an ingest)
        store.insert_patch_batch(session, _batch(session), used)
    refused = pytest.raises(DBAPIError, match="forest_alert_ingests is the record of what was ingested")
    with refused, transaction(sm) as session:
        session.execute(text(statement), {"used": used, "unused": unused})
    with transaction(sm) as session:
        ids = session.execute(text("SELECT id FROM forest_alert_ingests ORDER BY id")).scalars().all()
        dangling = session.execute(
            text("""SELECT count(*) FROM clearing_patches p
                    WHERE NOT EXISTS (SELECT 1 FROM forest_alert_ingests i WHERE i.id = p.first_ingest_id)
                       OR NOT EXISTS (SELECT 1 FROM forest_alert_ingests i WHERE i.id = p.last_ingest_id)""")
        ).scalar_one()
    assert ids == sorted([used, unused]) and dangling == 0


def test_an_ingest_s_own_figures_still_change(sm):
    """The trigger refuses a new id only: the ingest's counts are written after its patches, as before."""
    with transaction(sm) as session:
        ingest = _ingest(session, "refs-figures")
        session.execute(text("UPDATE forest_alert_ingests SET patches_new = 3 WHERE id = :i"), {"i": ingest})
    with transaction(sm) as session:
        assert store.get_ingest(session, ingest)["patches_new"] == 3
