"""Listeners use the Settings of the edge that started the work, not the environment (issue 15/16 hardening).

An application built with Settings in code (a red-flag threshold and an alert setting away from their defaults)
takes a FIRMS upload and a forest-loss upload through its routes: the red-flag rules and the alert matching that
run in those ingests' transactions honour the app's values. The same work through a session that carries no
Settings (the environment's defaults) gives the default answers, so the difference is the settings' doing.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy import text

from geo_service.alerts import service as alerts_service
from geo_service.db.engine import transaction
from geo_service.hotspots.service import ingest_path
from geo_service.redflags import store
from geo_service.settings import SESSION_KEY, Settings, settings_of
from tests import forest_alert_rasters as far
from tests.conftest import ADMIN_TOKEN, PASSWORD
from tests.samples import VIIRS_HEADER as HEADER
from tests.test_red_flags import box, box_wkt, contract
from tests.test_red_flags_rescope import TO_LL

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TEN_YEARS_H = 24 * 365 * 10
AREA = {"type": "Polygon", "coordinates": [[[99.9, 17.9], [100.5, 17.9], [100.5, 18.5], [99.9, 18.5], [99.9, 17.9]]]}


def _firms_line(lon: float, lat: float, day: str, hhmm: str) -> str:
    return f"{lat:.5f},{lon:.5f},340.0,0.39,0.36,{day},{hhmm},N,VIIRS,n,2.0NRT,295.0,3.5,D\n"


def _subscriber(client, kinds: list[str]) -> None:
    body = {"username": "som", "password": PASSWORD, "roles": ["investigator"], "display_name": "Som"}
    if client.post("/api/v1/admin/users", headers=ADMIN, json=body).status_code not in (201, 409):
        raise AssertionError("user not created")
    token = client.post("/api/v1/auth/token", data={"username": "som", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    r = client.post(
        "/api/v1/alerts/subscriptions",
        headers=headers,
        json={"subject_type": "polygon", "polygon": AREA, "kinds": kinds},
    )
    assert r.status_code == 201, r.text


def _outbox(sm, kind: str) -> list[dict]:
    with sm() as s:
        rows = s.execute(text("SELECT * FROM alert_outbox WHERE kind = :k ORDER BY id"), {"k": kind}).mappings()
        return [dict(r) for r in rows]


def _flags(sm, rule: str) -> dict[str, dict]:
    with sm() as s:
        rows = s.execute(text("SELECT * FROM red_flags WHERE rule = :r"), {"r": rule}).mappings()
        return {r["flag_key"]: dict(r) for r in rows}


def test_a_hotspot_upload_honours_the_apps_red_flag_threshold_and_alert_age(
    db_url, client_factory, sessionmaker_for, tmp_path
):
    client = client_factory(db_url, fire_min_detections=2, alerts_max_age_hours=TEN_YEARS_H)
    app_settings: Settings = client.app.state.settings
    assert app_settings.red_flags.fire_min_detections == 2 and app_settings.alerts.max_age_hours == TEN_YEARS_H
    sm = client.app.state.sessionmaker
    with transaction(sm) as s:
        assert settings_of(s) is app_settings  # the app's sessions carry the app's settings
        a, b = store.upsert_contracts(
            s,
            [contract("FB-APP", box_wkt(box(100.30, 18.20))), contract("FB-ENV", box_wkt(box(100.20, 18.30)))],
            actor="t",
            layer="t",
            version="1",
        )["ids"]
    _subscriber(client, ["hotspot"])

    # one detection in FB-APP (2024: older than the default 72 hours) through the app's upload route
    r = client.post(
        "/api/v1/admin/hotspots/firms",
        headers=ADMIN,
        files={"file": ("v.csv", (HEADER + _firms_line(100.30, 18.20, "2024-03-01", "0600")).encode())},
    )
    assert r.status_code == 201, r.text
    assert f"fire_in_fire_contract:contract:{a}" not in _flags(sm, "fire_in_fire_contract")  # 1 < 2 detections
    assert len(_outbox(sm, "hotspot")) == 1  # 2024 is within the app's ten years

    # a second detection: the app's threshold is met
    r = client.post(
        "/api/v1/admin/hotspots/firms",
        headers=ADMIN,
        files={"file": ("w.csv", (HEADER + _firms_line(100.301, 18.20, "2024-03-02", "0600")).encode())},
    )
    assert r.status_code == 201, r.text
    flag = _flags(sm, "fire_in_fire_contract")[f"fire_in_fire_contract:contract:{a}"]
    assert flag["figures"]["detections"] == 2
    assert len(_outbox(sm, "hotspot")) == 2

    # the same kind of ingest in a session without the app's settings: the environment's defaults answer
    plain = sessionmaker_for(db_url)
    path = tmp_path / "env.csv"
    path.write_text(HEADER + _firms_line(100.20, 18.30, "2024-03-03", "0600"))
    with transaction(plain) as s:
        assert SESSION_KEY not in s.info and settings_of(s).red_flags.fire_min_detections == 1
        ingest_path(s, path, loaded_by="test")
    assert _flags(sm, "fire_in_fire_contract")[f"fire_in_fire_contract:contract:{b}"]["figures"]["detections"] == 1
    assert len(_outbox(sm, "hotspot")) == 2  # older than 72 hours: nobody is told


def test_a_forest_loss_upload_honours_the_apps_watch_years_and_alert_age(
    db_url, client_factory, sessionmaker_for, tmp_path
):
    client = client_factory(db_url, reforestation_watch_years=10, alerts_max_age_hours=0)
    sm = client.app.state.sessionmaker
    west, south = TO_LL.transform(620_020.0, 2_009_960.0)  # inside the picture's alert block (UTM 47N, 10 m)
    east, north = TO_LL.transform(620_080.0, 2_009_990.0)
    with transaction(sm) as s:
        (cid,) = store.upsert_contracts(
            s,
            [
                contract(
                    "RF-2014",
                    box_wkt((west, south, east, north)),
                    work="reforestation",
                    start="2014-06-01",
                    end="2015-05-31",
                    fy=2557,
                )
            ],
            actor="t",
            layer="t",
            version="1",
        )["ids"]
    _subscriber(client, ["clearing_patch"])
    path = far.gfw_tile(tmp_path / "gfw.tif", [(np.s_[0:6, 0:12], date(2023, 3, 1), 3)])
    r = client.post(
        "/api/v1/forest-loss/ingests",
        headers=ADMIN,
        files=[("files", ("gfw.tif", path.read_bytes(), "image/tiff"))],
        data={"source": "gfw_integrated"},
    )
    assert r.status_code == 201, r.text
    patch_ids = r.json()["patch_ids"]
    assert patch_ids
    # 2023 is within 10 years after the 2015 end (the default 3 years would end in 2018)
    flag = _flags(sm, "reforestation_loss")[f"reforestation_loss:contract:{cid}"]
    assert flag["figures"]["clearing_patches"] == 1
    # alerts of patches changed in the last 0 hours: none; the environment's 72 hours would have told Som
    assert _outbox(sm, "clearing_patch") == []
    with transaction(sessionmaker_for(db_url)) as s:
        assert alerts_service.clearing_patches_found(s, patch_ids) > 0
    assert _outbox(sm, "clearing_patch")
