"""Forest-loss alert ingest (issue 14 items 1, 2, 5): every encoding in its published form, patches with hand-checked
counts, areas and dates, attribution, windows, idempotence, ids kept on extension, refusals."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss import store
from geo_service.forest_loss.ingest import ingest_files
from geo_service.settings import ForestLossSettings
from tests import forest_alert_rasters as far

D1 = date(2023, 3, 1)


@pytest.fixture
def sm(db_url, sessionmaker_for):
    return sessionmaker_for(db_url)


def _ingest(sm, paths, encoding, **kw):
    settings = kw.pop("settings", ForestLossSettings())
    with transaction(sm) as session:
        return ingest_files(session, paths, encoding=encoding, settings=settings, **kw)


def _patches(sm, ids):
    with transaction(sm) as session:
        return [dict(r) for r in store.patches_of(session, ids)]


def _count(sm, sql):
    with transaction(sm) as session:
        return session.execute(text(sql)).scalar()


def picture():
    """20 x 20 px, 10 m: A = 3x3 block high on D1; B = 2x2 block low 10 days later; C = one highest pixel touching
    B at a corner 50 days after D1 (40 days after B: beyond the 30-day window, so its own patch)."""
    days = np.zeros((20, 20), dtype=np.int32)
    conf = np.zeros((20, 20), dtype=np.uint8)
    days[2:5, 2:5], conf[2:5, 2:5] = far.gfw_day(D1), 3
    days[10:12, 10:12], conf[10:12, 10:12] = far.gfw_day(D1) + 10, 2
    days[12, 12], conf[12, 12] = far.gfw_day(D1) + 50, 4
    return days, conf


def test_gfw_integrated_utm47_hand_checked(sm, tmp_path):
    days, conf = picture()
    f = far.write(tmp_path / "gfw.tif", far.gfw_integrated(days, conf), far.PHRAE_10M, far.UTM47)
    r = _ingest(sm, [f], "gfw_integrated")
    assert (r.patches, r.patches_new, r.alert_pixels) == (3, 3, 14)
    rows = _patches(sm, r.patch_ids)
    got = sorted((p["pixels"], round(p["area_m2"], 3), p["first_date"], p["last_date"], p["confidence_max"]) for p in rows)
    assert got == [
        (1, 100.0, date(2023, 4, 20), date(2023, 4, 20), 4),
        (4, 400.0, date(2023, 3, 11), date(2023, 3, 11), 2),
        (9, 900.0, D1, D1, 3),
    ]
    assert {p["province_code"] for p in rows} != {None}
    assert all(p["in_aoi"] for p in rows)
