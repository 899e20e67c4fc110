"""Raster products mean what they say: an index raster (NDMI-like) is never burned area; map, brief and
summary read one definition; a threshold is recorded with its meaning; re-registering keeps the identifier
and versions keep the case links made on them (issue 11, point 2)."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

SONG = (100.2157, 18.4695)  # interior of Song (5406), far from district and protected-area edges


def _tif(path, array, res=100, nodata=None):
    """A raster in UTM 47N centred on SONG, ``res`` m pixels."""
    x, y = Transformer.from_crs(4326, 32647, always_xy=True).transform(*SONG)
    h, w = array.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=1,
        dtype=array.dtype,
        crs="EPSG:32647",
        transform=from_origin(x - res * w / 2, y + res * h / 2, res, res),
        nodata=nodata,
    ) as dst:
        dst.write(array, 1)
    return path


def _fire_mask(path, fire_pixels):
    a = np.full((20, 20), 5, dtype=np.uint8)
    a.flat[:fire_pixels] = 9  # fire_pixels high-confidence fire pixels of 1 ha
    return _tif(path, a, nodata=255)


def _ndmi(path):
    """Moisture index -0.2 .. 0.6 (mostly > 0, like a real January NDMI scene), 30 x 30 pixels of 1 ha."""
    a = np.linspace(-0.2, 0.6, 900, dtype=np.float32).reshape(30, 30)
    return _tif(path, a, nodata=-9999.0), a


def upload(client, headers, path, product, day="2024-03-14", name=None, **extra):
    with open(path, "rb") as f:
        return client.post(
            "/api/v1/admin/rasters",
            headers=headers,
            data={"product": product, "acq_date": day, **extra},
            files={"file": (name or path.name, f, "image/tiff")},
        )


def _song(stats):
    return next(s for s in stats if s["zone_type"] == "district" and s["zone_code"] == "5406")


def _three_readings(client, committee):
    """Burned ha in Song, FY 2567, as the summary, the brief and the raster maps say."""
    s = client.get("/api/v1/hotspots/summary", params={"group_by": "district", "period": "fiscal_year"}).json()
    summary = next((r["burned_area_ha"] for r in s["rows"] if r["district"] == "5406"), None)
    made = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567}).json()
    f = made["figures"]
    brief = next((r["ha"] for r in f["burned_ha_by_district"] if r["code"] == "5406"), None)
    return summary, brief, made


def _map_burned(client, committee, raster_id):
    """The burned-area lines of a raster map's legend (None when it lists no burned area)."""
    html = client.get(f"/maps/rasters/{raster_id}", headers=committee).text
    if "burned area (ha, rai)" not in html:
        return None
    return re.findall(r"([\d,.]+) ha / [\d,]+ rai", html)


@pytest.mark.slow
def test_ndmi_raster_is_not_burned_area_and_map_brief_summary_agree(client, admin_headers, login, tmp_path):
    committee = login("committee", "committee_member")
    mask = upload(client, admin_headers, _fire_mask(tmp_path / "mod14a1.tif", 4), "fire_mask")
    ndmi_path, values = _ndmi(tmp_path / "ndmi_s2.tif")
    ndmi = upload(client, admin_headers, ndmi_path, "generic", day="2024-01-20")
    assert mask.status_code == 201 and ndmi.status_code == 201, ndmi.text
    mask_id, ndmi_id = mask.json()["raster_id"], ndmi.json()["raster_id"]

    # one definition: the fire mask's 4 ha, read by the summary, the brief and the map alike (the NDMI scene,
    # > 0 on 75 % of its pixels, used to add 675 "burned" ha to the brief and the map, not to the summary)
    summary, brief, figures = _three_readings(client, committee)
    assert summary == brief == 4.0
    assert _map_burned(client, committee, mask_id) == ["4.0"]
    assert _map_burned(client, committee, ndmi_id) is None

    # the index raster: statistics, no burned area, nothing flagged, no features
    detail = client.get(f"/api/v1/rasters/{ndmi_id}").json()
    assert detail["meaning"]["burned_area"] is False and detail["meaning"]["threshold"] is None
    st = _song(detail["stats"])
    assert st["pixels"] == pytest.approx(900)
    assert st["burned_m2"] is None and st["burned_ha"] is None and st["flagged_pixels"] is None
    assert st["mean"] == pytest.approx(float(values.mean()), abs=1e-6)
    assert (st["min"], st["max"]) == (pytest.approx(-0.2), pytest.approx(0.6))
    assert st["percentiles"] == {
        f"p{q}": pytest.approx(float(np.percentile(values, q)), abs=1e-6) for q in (10, 25, 50, 75, 90)
    }
    assert client.get(f"/api/v1/rasters/{ndmi_id}/fire-features").json()["numberReturned"] == 0
    assert "statistics (mean; min – max)" in client.get(f"/maps/rasters/{ndmi_id}", headers=committee).text
    assert figures["figures"]["burned_area_rasters"] == [mask_id]  # the NDMI scene is no source of burned area
    page = client.get(f"/api/v1/briefs/{figures['id']}", headers=committee).text
    assert f"raster {mask_id}." in page and "Index rasters (e.g. NDMI) are not burned area" in page


@pytest.mark.slow
def test_threshold_only_when_given_and_recorded_with_its_meaning(client, admin_headers, tmp_path):
    path, values = _ndmi(tmp_path / "ndmi.tif")
    for bad, why in (
        ({"threshold": "0.1", "threshold_op": "<"}, "meaning"),  # no label
        ({"threshold": "0.1", "threshold_op": "=>", "threshold_label": "dry"}, "threshold_op"),
        ({"threshold": "nan", "threshold_op": "<", "threshold_label": "dry"}, "finite"),
    ):
        r = upload(client, admin_headers, path, "generic", **bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_threshold", (bad, r.text)
        assert why in r.json()["error"]["message"]
    r = upload(
        client, admin_headers, _fire_mask(tmp_path / "m.tif", 2), "fire_mask", threshold="8", threshold_label="x"
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_threshold"

    r = upload(
        client,
        admin_headers,
        path,
        "generic",
        threshold="0.0",
        threshold_op="<",
        threshold_label="dry vegetation (NDMI < 0)",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["meaning"]["threshold"] == {"value": 0.0, "op": "<", "label": "dry vegetation (NDMI < 0)"}
    assert body["burned_ha"] is None
    st = _song(client.get(f"/api/v1/rasters/{body['raster_id']}").json()["stats"])
    dry = int((values < 0).sum())
    assert st["flagged_pixels"] == pytest.approx(dry) and st["flagged_ha"] == pytest.approx(dry)
    assert st["flagged_by_class"] == {"dry vegetation (NDMI < 0)": pytest.approx(dry)}
    assert st["burned_m2"] is None
    feats = client.get(f"/api/v1/rasters/{body['raster_id']}/fire-features").json()
    assert {f["properties"]["class"] for f in feats["features"]} == {"dry vegetation (NDMI < 0)"}
    assert all(f["properties"]["burned_area"] is False for f in feats["features"])
    # still no burned area anywhere
    s = client.get("/api/v1/hotspots/summary", params={"group_by": "district", "period": "fiscal_year"}).json()
    assert all(r["burned_area_ha"] is None for r in s["rows"])

    # dNBR: the documented default threshold is recorded; another one may be given
    dnbr = np.full((10, 10), 0.05, dtype=np.float32)
    dnbr[:3, :] = 0.2  # 30 pixels >= 0.1
    dnbr[:1, :] = 0.5  # 10 of them >= 0.27 (USGS moderate-low severity)
    d = upload(client, admin_headers, _tif(tmp_path / "dnbr.tif", dnbr, res=10, nodata=-9999.0), "dnbr").json()
    assert d["meaning"]["threshold"] == {"value": 0.1, "op": ">=", "label": "burned"}
    assert _song(d["stats"])["burned_m2"] == pytest.approx(30 * 100)
    same_file = upload(client, admin_headers, tmp_path / "dnbr.tif", "dnbr", threshold="0.27")
    assert same_file.status_code == 409  # one file, one meaning: its figures stay as registered
    dnbr[9, 9] = 0.06  # another scene
    d2 = upload(
        client,
        admin_headers,
        _tif(tmp_path / "dnbr2.tif", dnbr, res=10, nodata=-9999.0),
        "dnbr",
        threshold="0.27",
        threshold_label="moderate-low severity and above",
    ).json()
    assert d2["meaning"]["threshold"]["value"] == 0.27
    assert _song(d2["stats"])["burned_m2"] == pytest.approx(10 * 100)


def _song_stat_id(db_url, sessionmaker_for, raster_id):
    from sqlalchemy import text

    with sessionmaker_for(db_url)() as s:
        return s.execute(
            text(
                "SELECT id FROM raster_zone_stats WHERE raster_id = :r AND zone_type = 'district' "
                "AND zone_code = '5406'"
            ),
            {"r": raster_id},
        ).scalar_one()


def _case_with_raster_link(client, lead, stat_id):
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={"title": "Firebreak paid, area burned", "category": "budget_misuse", "received_on": "2024-04-01"},
    ).json()
    r = client.post(
        f"/api/v1/cases/{case['id']}/links",
        headers=lead,
        json={"target_type": "raster_stat", "target_id": str(stat_id), "reason": "burned in Song"},
    )
    assert r.status_code == 201, r.text
    return case["id"]


def _link_targets(client, lead, case_id):
    return [link["target_id"] for link in client.get(f"/api/v1/cases/{case_id}", headers=lead).json()["links"]]


@pytest.mark.slow
def test_registering_the_same_file_again_keeps_its_identifier_and_links(
    client, admin_headers, login, tmp_path, db_url, sessionmaker_for
):
    lead = login("lead", "investigator")
    path = _fire_mask(tmp_path / "mod14a1.tif", 4)
    first = upload(client, admin_headers, path, "fire_mask")
    assert first.status_code == 201
    rid = first.json()["raster_id"]
    stat_id = _song_stat_id(db_url, sessionmaker_for, rid)
    case_id = _case_with_raster_link(client, lead, stat_id)

    again = upload(client, admin_headers, path, "fire_mask")
    assert again.json()["raster_id"] == rid  # was a new id: the old URLs answered 404
    assert client.get(f"/api/v1/rasters/{rid}").status_code == 200
    assert _song_stat_id(db_url, sessionmaker_for, rid) == stat_id  # the linked figures are the same row
    assert again.status_code == 200, again.text
    assert (first.json()["status"], again.json()["status"], again.json()["version"]) == (
        "registered",
        "already_registered",
        1,
    )
    assert _song(client.get(f"/api/v1/rasters/{rid}").json()["stats"])["id"] == stat_id
    assert _link_targets(client, lead, case_id) == [str(stat_id)]
    assert [r["id"] for r in client.get("/api/v1/rasters").json()] == [rid]

    # the same file said to describe another day is refused, naming the raster it already is
    other_day = upload(client, admin_headers, path, "fire_mask", day="2024-03-15")
    assert other_day.status_code == 409 and f"raster {rid}" in other_day.json()["error"]["message"]
    assert [r["id"] for r in client.get("/api/v1/rasters").json()] == [rid]


@pytest.mark.slow
def test_a_changed_file_of_the_same_name_is_a_new_version(
    client, admin_headers, login, tmp_path, db_url, sessionmaker_for
):
    lead, committee = login("lead", "investigator"), login("committee", "committee_member")
    v1 = upload(client, admin_headers, _fire_mask(tmp_path / "a.tif", 4), "fire_mask", name="mod14a1_phrae.tif")
    v1_id = v1.json()["raster_id"]
    v1_stat = {"id": _song_stat_id(db_url, sessionmaker_for, v1_id)}
    case_id = _case_with_raster_link(client, lead, v1_stat["id"])

    v2 = upload(client, admin_headers, _fire_mask(tmp_path / "b.tif", 9), "fire_mask", name="mod14a1_phrae.tif")
    assert v2.status_code == 201, v2.text
    body = v2.json()
    # totals count the current version only (9 ha, not 4 + 9)
    summary, brief, _ = _three_readings(client, committee)
    assert summary == brief == 9.0
    assert (body["status"], body["version"], body["supersedes"]) == ("new_version", 2, v1_id)
    assert body["raster_id"] != v1_id

    # the old version keeps its address, its figures and the link made on it
    old = client.get(f"/api/v1/rasters/{v1_id}").json()
    assert old["superseded_by"] == body["raster_id"] and old["version"] == 1
    assert _song(old["stats"])["burned_ha"] == 4.0 and _song(old["stats"])["id"] == v1_stat["id"]
    assert [v["version"] for v in old["versions"]] == [1, 2]
    assert _link_targets(client, lead, case_id) == [str(v1_stat["id"])]
    assert "superseded" in client.get(f"/maps/rasters/{v1_id}", headers=committee).text
    assert _map_burned(client, committee, body["raster_id"]) == ["9.0"]


@pytest.mark.slow
def test_migration_clears_the_burned_area_of_index_rasters_and_numbers_versions(empty_db_url):
    """Rows registered before 0009: a generic raster's value > 0 "burned area" goes, dnbr records its 0.1,
    two registrations of one name, product and date become versions 1 and 2 (the first superseded)."""
    from sqlalchemy import create_engine, text

    from geo_service.db import migrate

    migrate.upgrade(empty_db_url, "0007")
    engine = create_engine(empty_db_url)
    insert = text("""INSERT INTO hotspot_rasters (product, acq_date, name, file_path, file_sha256, crs, width, height,
                     dtype, transform, res_x, res_y, footprint)
                     VALUES (:p, '2024-01-20', :n, '/x.tif', :sha, 'EPSG:32647', 1, 1, 'float32',
                     '{100,0,0,0,-100,0}', 100, 100, ST_GeomFromText('POLYGON((100 18,100.1 18,100.1 18.1,100 18))', 4326))
                     RETURNING id""")
    stat = text("""INSERT INTO raster_zone_stats (raster_id, zone_type, zone_code, pixels, fire_pixels, burned_m2)
                   VALUES (:r, 'district', '5406', 900, 675, 6750000)""")
    try:
        with engine.begin() as c:
            ids = {}
            for key, product, name, sha in (
                ("ndmi", "generic", "ndmi.tif", "a"),
                ("dnbr1", "dnbr", "dnbr.tif", "b"),
                ("dnbr2", "dnbr", "dnbr.tif", "c"),
            ):
                ids[key] = c.execute(insert, {"p": product, "n": name, "sha": sha * 64}).scalar_one()
                c.execute(stat, {"r": ids[key]})
        migrate.upgrade(empty_db_url)
        with engine.connect() as c:
            rows = {
                r.id: r
                for r in c.execute(
                    text(
                        "SELECT r.id, r.version, r.superseded_by, r.burned_area, r.threshold, z.burned_m2, z.flagged_pixels "
                        "FROM hotspot_rasters r JOIN raster_zone_stats z ON z.raster_id = r.id"
                    )
                )
            }
            counted = c.execute(text("SELECT raster_id, burned_m2 FROM raster_burned_area")).all()
    finally:
        engine.dispose()
    ndmi, d1, d2 = rows[ids["ndmi"]], rows[ids["dnbr1"]], rows[ids["dnbr2"]]
    assert (ndmi.burned_area, ndmi.burned_m2, ndmi.flagged_pixels, ndmi.threshold) == (False, None, None, None)
    assert (d1.version, d1.superseded_by, d2.version, d2.superseded_by) == (1, ids["dnbr2"], 2, None)
    assert d2.threshold == 0.1
    assert counted == [(ids["dnbr2"], 6750000.0)]  # only the current dNBR counts as burned area


def test_two_registrations_of_one_file_at_once_make_one_raster(db_url, sessionmaker_for, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from geo_service.db.engine import transaction
    from geo_service.hotspots.service import register_raster_file

    path = _fire_mask(tmp_path / "mod14a1.tif", 4)
    factory = sessionmaker_for(db_url)

    def register(_):
        with transaction(factory) as session:
            return register_raster_file(session, path, "fire_mask", date(2024, 3, 14), data_dir=tmp_path)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(register, range(2)))
    assert len({r.raster_id for r in reports}) == 1
    assert sorted(r.status for r in reports) == ["already_registered", "registered"]


@pytest.mark.slow
def test_cli_register_reports_meaning_and_keeps_the_id(db_url, tmp_path):
    """`rasters register` on a database URL: an index raster with its threshold, the same file again (same id),
    and a threshold without its meaning refused with a message, no traceback."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "COLUMNS": "250",
        "GEO_SERVICE_DATABASE_URL": db_url if isinstance(db_url, str) else db_url.render_as_string(hide_password=False),
        "GEO_SERVICE_DATA_DIR": str(tmp_path / "var"),
    }
    path, _ = _ndmi(tmp_path / "ndmi.tif")

    def run(*args):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "geo_service.cli",
                "rasters",
                "register",
                str(path),
                "--product",
                "generic",
                "--date",
                "2024-01-20",
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    bad = run("--threshold", "0", "--threshold-op", "<")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr + bad.stdout
    assert "Say what the threshold means" in bad.stderr
    first = run("--threshold", "0", "--threshold-op", "<", "--threshold-label", "dry vegetation")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "(registered)" in first.stdout and "value < 0 = dry vegetation" in first.stdout
    again = run("--threshold", "0", "--threshold-op", "<", "--threshold-label", "dry vegetation")
    assert again.returncode == 0 and "(already_registered)" in again.stdout
    raster_id = lambda out: re.search(r"Raster (\d+) v1", out).group(1)  # noqa: E731
    assert raster_id(first.stdout) == raster_id(again.stdout)
