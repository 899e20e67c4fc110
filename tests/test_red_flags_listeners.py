"""The rules re-run, in the same transaction, after every change that can alter their answer (issue 15: "run after
every ingest or layer change"), end to end through the listeners ``wiring.py`` registers: a forest-loss alert ingest
(clearing patches) and a protected-area layer load. The hotspot ingest and the contract / parcel loads and edits are
covered in tests/test_red_flags_api.py."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import box
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.forest_loss.ingest import ingest_files
from geo_service.redflags import store
from geo_service.settings import ForestLossSettings
from tests import forest_alert_rasters as far
from tests.samples import load_protected_areas, protected_area_file

TO_LL = Transformer.from_crs(32647, 4326, always_xy=True)


def _flags(factory, rule: str) -> list[dict]:
    with transaction(factory) as s:
        return [
            dict(r)
            for r in s.execute(
                text("SELECT * FROM red_flags WHERE rule = :r AND current ORDER BY id"), {"r": rule}
            ).mappings()
        ]


def _utm_box_wkt(x0, y0, x1, y1) -> str:
    pts = [TO_LL.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return "POLYGON((" + ",".join(f"{lon} {lat}" for lon, lat in pts) + "))"


@pytest.mark.slow
def test_a_forest_loss_ingest_re_runs_the_reforestation_rule(client, db_url, sessionmaker_for, tmp_path):
    """A reforestation plot over the 10 m alert grid near Phrae town; an alert ingest whose 3 x 3 block (900 m²) lies
    inside it, dated within the plot's watch window, raises the flag in the ingest's own transaction."""
    factory = sessionmaker_for(db_url)  # ``client``: the app is made, so wiring.py's listeners are registered
    plot = _utm_box_wkt(620_000, 2_009_900, 620_100, 2_010_000)  # the grid's first 10 x 10 pixels, 1 ha
    with transaction(factory) as s:
        store.upsert_contracts(
            s,
            [
                {
                    "contract_number": "RF-LISTEN",
                    "project_name": "ปลูกป่า",
                    "agency": "Royal Forest Department",
                    "contractor": "Green Co.",
                    "work_type": "reforestation",
                    "budget_thb": 1.0,
                    "paid_thb": 1.0,
                    "fiscal_year_be": 2565,
                    "start_date": "2022-06-01",
                    "end_date": "2022-09-30",
                    "delivery_date": None,
                    "quantities": {},
                    "named_district_code": None,
                    "named_reserve_code": None,
                    "width_m": None,
                    "wkt": plot,
                }
            ],
            actor="t",
            layer="t",
            version="1",
        )
    assert _flags(factory, "reforestation_loss") == []
    f = far.gfw_tile(tmp_path / "gfw.tif", [(np.s_[2:5, 2:5], date(2023, 3, 1), 3)])
    with transaction(factory) as s:
        report = ingest_files(s, [f], encoding="gfw_integrated", settings=ForestLossSettings())
    assert report.patches == 1
    (flag,) = _flags(factory, "reforestation_loss")
    fig = flag["figures"]
    assert fig["clearing_patches"] == 1 and fig["detections"] == 0
    assert fig["cleared_m2"] == pytest.approx(900, rel=0.01) and fig["cleared_share"] == pytest.approx(0.09, rel=0.02)
    assert fig["window"] == ["2022-06-01", "2025-09-30"]  # 3 watch years after the end


@pytest.mark.slow
def test_a_protected_area_load_re_runs_the_document_rule(client, db_url, sessionmaker_for, tmp_path):
    """A parcel issued in 2010 inside land that no reserve covers: no flag. A reserve loaded over it, in force since
    2000, raises the flag at its load; its revision of 2020 that cuts the parcel out keeps it (the boundary in force
    on the issue date decides); a reserve whose first version starts after the issue date never flags it."""
    factory = sessionmaker_for(db_url)
    lon, lat = 100.5, 17.55  # the south-east of Phrae: away from the illustrative reserves
    parcel = box(lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001)
    with transaction(factory) as s:
        store.upsert_parcels(
            s,
            [
                {
                    "doc_type": "chanote",
                    "doc_number": "L-1",
                    "issue_date": "2010-01-01",
                    "issuing_office": "Phrae",
                    "confidential": True,
                    "wkt": parcel.wkt,
                }
            ],
            actor="t",
            layer="t",
            version="1",
        )
    before = {f["reserve_code"] for f in _flags(factory, "document_in_reserve")}

    def load(code: str, version: str, valid_from: str, geom) -> None:
        path = protected_area_file(tmp_path / f"{code}_{version}.geojson", code, version, valid_from, geom)
        load_protected_areas(factory, path, f"pa-{code}", version)

    area = box(lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02)
    load("NRF-LISTEN", "1", "2000-01-01", area)
    after = {f["reserve_code"]: f for f in _flags(factory, "document_in_reserve")}
    assert set(after) - before == {"NRF-LISTEN"}
    fig = after["NRF-LISTEN"]["figures"]
    assert fig["valid_from"] == "2000-01-01" and fig["days_after_start"] == (date(2010, 1, 1) - date(2000, 1, 1)).days
    load("NRF-LISTEN", "2", "2020-06-01", area.difference(parcel.buffer(0.002)))  # revoked around the parcel
    assert "NRF-LISTEN" in {f["reserve_code"] for f in _flags(factory, "document_in_reserve")}
    load("NRF-LATE", "1", "2011-01-01", area)  # in force after the document was issued
    assert "NRF-LATE" not in {f["reserve_code"] for f in _flags(factory, "document_in_reserve")}
