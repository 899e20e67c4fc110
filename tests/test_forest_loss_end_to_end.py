"""Forest-loss alerts end to end (issue 14): one generated GFW integrated raster, ingested through the real CLI, and
every place the patches show must tell the same story with the same hand-computed numbers.

The raster is in UTM 47N with 30 m pixels, so a k x k block of alert pixels is exactly k * k * 900 m2
(1 ha = 10,000 m2, 1 rai = 1,600 m2):

| patch | where                                            | first alert | FY (BE) | pixels  | m2     | ha   | rai   |
|-------|--------------------------------------------------|-------------|---------|---------|--------|------|-------|
| A     | 5402 Rong Kwang, across NRF-PR-001's boundary     | 2024-02-10  | 2567    | 10 x 10 | 90,000 | 9.0  | 56.25 |
| B     | 5401 Mueang Phrae, outside every protected area   | 2024-02-20  | 2567    | 6 x 6   | 32,400 | 3.24 | 20.25 |
| C     | 5401 Mueang Phrae, outside every protected area   | 2024-10-15  | 2568    | 4 x 4   | 14,400 | 1.44 | 9.0   |
| N     | 5501 (synthetic Nan, the neighbouring province)   | 2024-02-15  | 2567    | 8 x 8   | 57,600 | 5.76 | 36.0  |

A's share inside NRF-PR-001 is computed independently with Shapely in UTM from the reserve's stored outline. The
ingest reads the bounding box holding all four; the area of interest is Phrae, so N is stored (in_aoi false) and
must be counted nowhere in Phrae's figures.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import date

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR
from tests import forest_alert_rasters as far
from tests.conftest import ADMIN_TOKEN, app_client, cli_env, run_cli
from tests.provinces import database_with_nan, sign_in

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PX = 30.0
TO_UTM = Transformer.from_crs(4326, 32647, always_xy=True)
TO_LL = Transformer.from_crs(32647, 4326, always_xy=True)
BBOX = "100.0,17.9,100.95,18.75"

# name: (first alert, confidence class, block size in pixels, district)
PLAN = {
    "A": (date(2024, 2, 10), 3, 10, "5402"),
    "B": (date(2024, 2, 20), 4, 6, "5401"),
    "C": (date(2024, 10, 15), 3, 4, "5401"),
    "N": (date(2024, 2, 15), 4, 8, "5501"),
}


def _m2(name: str) -> float:
    return PLAN[name][2] ** 2 * PX * PX


def _ha(m2: float) -> float:
    return round(m2 / 10_000, 2)


def _rai(m2: float) -> float:
    return round(m2 / 1_600, 2)


def _utm(g):
    return shapely.ops.transform(TO_UTM.transform, g)


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """``geo-service forest-loss ARGS`` in its own process, as an officer types it."""
    return run_cli(env, "forest-loss", *args)


def _layout(factory) -> dict:
    """Where each patch goes (its UTM box) and the hand facts of each: district, reserve shares."""
    import geopandas as gpd

    districts = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson").set_index("amp_code")
    with factory() as s:
        rows = s.execute(
            text("SELECT code, ST_AsBinary(geom) FROM protected_areas_on(DATE '2024-02-10') ORDER BY code")
        ).all()
    reserves = {code: _utm(shapely.from_wkb(bytes(wkb))) for code, wkb in rows}
    every_reserve = shapely.union_all(list(reserves.values()))
    phrae = {c: _utm(g) for c, g in districts.geometry.items()}
    nan = _utm(shapely.box(100.6, 18.3, 100.9, 18.9))

    def snap(v: float) -> float:
        return round(v / PX) * PX

    def box(x: float, y: float, k: int):
        return shapely.box(snap(x), snap(y) - k * PX, snap(x) + k * PX, snap(y))

    def well_inside(b, district) -> bool:
        return district.buffer(-500).contains(b)

    out: dict = {}
    # A: a vertex of NRF-PR-001's outline inside Rong Kwang, where no other protected area comes near
    nrf = reserves["NRF-PR-001"]
    others = shapely.union_all([g for c, g in reserves.items() if c != "NRF-PR-001"])
    for x, y in shapely.get_coordinates(nrf.boundary):
        b = box(x - 5 * PX, y + 5 * PX, 10)
        share = b.intersection(nrf).area / b.area
        if 0.2 < share < 0.8 and well_inside(b, phrae["5402"]) and b.buffer(200).disjoint(others):
            out["A"] = (b, {"NRF-PR-001": share})
            break
    # B and C: points of Mueang Phrae at least 1 km from every protected area, 3 km apart
    picked = []
    minx, miny, maxx, maxy = phrae["5401"].bounds
    for y in np.arange(maxy - 2000, miny, -1500.0):
        for x in np.arange(minx + 2000, maxx, 1500.0):
            b = box(x, y, 6)
            inside = well_inside(b, phrae["5401"]) and b.buffer(1000).disjoint(every_reserve)
            if inside and all(shapely.distance(b, p) > 3000 for p in picked):
                picked.append(b)
        if len(picked) >= 2:
            break
    out["B"] = (picked[0], {})
    c = picked[1].bounds
    out["C"] = (box(c[0], c[3], 4), {})
    cx, cy = TO_UTM.transform(100.75, 18.6)
    out["N"] = (box(cx, cy, 8), {})
    assert set(out) == set(PLAN), "the layout found no place for a patch"
    assert nan.contains(out["N"][0])
    return out


def _raster(tmp_path, layout: dict):
    """One GFW integrated GeoTIFF (UTM 47N, 30 m) covering every patch of the layout."""
    boxes = [b for b, _ in layout.values()]
    x0 = min(b.bounds[0] for b in boxes) - 100 * PX
    y0 = max(b.bounds[3] for b in boxes) + 100 * PX
    x1 = max(b.bounds[2] for b in boxes) + 100 * PX
    y1 = min(b.bounds[1] for b in boxes) - 100 * PX
    w, h = round((x1 - x0) / PX), round((y0 - y1) / PX)
    days = np.zeros((h, w), dtype=np.int32)
    conf = np.zeros((h, w), dtype=np.uint8)
    for name, (b, _) in layout.items():
        first, klass, k, _ = PLAN[name]
        col, row = round((b.bounds[0] - x0) / PX), round((y0 - b.bounds[3]) / PX)
        days[row : row + k, col : col + k] = far.gfw_day(first)
        conf[row : row + k, col : col + k] = klass
    return far.write(
        tmp_path / "10N_100E_phrae_nan.tif",
        far.gfw_integrated(days, conf),
        far.from_origin(x0, y0, PX, PX),
        far.UTM47,
        tiled=True,
    )


@pytest.fixture(scope="module")
def e2e(pg_cluster, template_db, tmp_path_factory):
    """The database after a CLI ingest of the raster; a client (area of interest Phrae) and its people."""
    tmp = tmp_path_factory.mktemp("e2e")
    with database_with_nan(pg_cluster, template_db) as (url, factory):
        layout = _layout(factory)
        tif = _raster(tmp, layout)
        env = cli_env(url, tmp / "var", GEO_SERVICE_AOI_PROVINCES="54")
        r = cli(env, "ingest", str(tif), "--source", "gfw_integrated", "--bbox", BBOX)
        assert r.returncode == 0, r.stderr + r.stdout
        with factory() as s:
            rows = s.execute(text("SELECT id, first_date, pixels, area_m2, in_aoi FROM clearing_patches")).all()
        ids = {}
        for name_, (first, _, k, _) in PLAN.items():
            (row,) = [x for x in rows if x.first_date == first]
            assert row.pixels == k * k and row.area_m2 == pytest.approx(_m2(name_), rel=1e-6)
            ids[name_] = row.id
        assert len(rows) == 4
        with app_client(url, tmp, aoi_provinces=["54"]) as client:
            people = {
                "admin": ADMIN,
                "lead": sign_in(client, "lead", "investigator", ["54"]),
                "officer": sign_in(client, "officer", "field_officer", ["54"]),
                "committee": sign_in(client, "committee", "committee_member", ["54"]),
                "nan_lead": sign_in(client, "nan_lead", "investigator", ["55"]),
            }
            yield {
                "client": client,
                "people": people,
                "ids": ids,
                "layout": layout,
                "env": env,
                "factory": factory,
                "ingest_out": r.stdout,
            }


def _a_share(e2e) -> float:
    return e2e["layout"]["A"][1]["NRF-PR-001"]


def test_the_cli_ingest_reports_the_hand_counted_totals(e2e):
    out = e2e["ingest_out"]
    assert sum(_m2(n) for n in PLAN) == 194_400  # = 19.44 ha = 121.5 rai
    assert "19.44" in out and "121.50" in out, out
    assert "2024-02-10 .. 2024-10-15" in out


def test_the_api_list_and_one_patch(e2e):
    client, p, ids = e2e["client"], e2e["people"], e2e["ids"]
    fc = client.get("/api/v1/forest-loss/patches", headers=p["lead"], params={"area": "all"}).json()
    got = {f["id"]: f["properties"] for f in fc["features"]}
    assert set(got) == {ids["A"], ids["B"], ids["C"]}  # never Nan's
    for n in ("A", "B", "C"):
        props = got[ids[n]]
        assert (props["area_ha"], props["area_rai"]) == (_ha(_m2(n)), _rai(_m2(n))), n
        assert props["district_code"] == PLAN[n][3] and props["first_date"] == PLAN[n][0].isoformat()
    assert got[ids["A"]]["fiscal_year_be"] == 2567 and got[ids["C"]]["fiscal_year_be"] == 2568
    assert got[ids["A"]]["reserve_code"] == "NRF-PR-001" and got[ids["B"]]["reserve_code"] is None
    detail = client.get(f"/api/v1/forest-loss/patches/{ids['A']}", headers=p["lead"]).json()["properties"]
    zones = {(z["zone_type"], z["zone_code"]): z for z in detail["zones"]}
    assert zones[("protected_area", "NRF-PR-001")]["share"] == pytest.approx(_a_share(e2e), abs=2e-3)
    assert zones[("district", "5402")]["share"] == 1.0
    assert client.get(f"/api/v1/forest-loss/patches/{ids['N']}", headers=p["lead"]).status_code == 404
    admin = client.get("/api/v1/forest-loss/patches", headers=p["admin"], params={"area": "outside"}).json()
    assert [f["id"] for f in admin["features"]] == [ids["N"]]


def test_summary_by_district_and_month(e2e):
    client, p = e2e["client"], e2e["people"]
    s = client.get("/api/v1/forest-loss/summary", headers=p["lead"], params={"by": "district"}).json()
    rows = {(r["period"], r["code"]): r for r in s["rows"]}
    assert set(rows) == {("2024-02", "5402"), ("2024-02", "5401"), ("2024-10", "5401")}
    for key, n in ((("2024-02", "5402"), "A"), (("2024-02", "5401"), "B"), (("2024-10", "5401"), "C")):
        assert (rows[key]["patches"], rows[key]["area_ha"], rows[key]["area_rai"]) == (
            1,
            _ha(_m2(n)),
            _rai(_m2(n)),
        ), key
    total = sum(_m2(n) for n in "ABC")  # 136,800 m2 = 13.68 ha = 85.5 rai: N not in it
    assert (s["total"]["patches"], s["total"]["area_ha"], s["total"]["area_rai"]) == (3, 13.68, 85.5)
    assert total == 136_800
    # the administrator's national view: still only the area of interest
    assert client.get("/api/v1/forest-loss/summary", headers=p["admin"]).json()["total"]["area_rai"] == 85.5


def test_summary_by_reserve_and_fiscal_year(e2e):
    client, p = e2e["client"], e2e["people"]
    s = client.get(
        "/api/v1/forest-loss/summary", headers=p["lead"], params={"by": "reserve", "period": "fiscal_year"}
    ).json()
    rows = {(r["period"], r["code"]): r for r in s["rows"]}
    assert set(rows) == {("2567", "NRF-PR-001"), ("2567", None), ("2568", None)}
    share = _a_share(e2e)
    inside = _m2("A") * share
    assert rows[("2567", "NRF-PR-001")]["area_ha"] == pytest.approx(inside / 10_000, abs=0.02)
    assert rows[("2567", "NRF-PR-001")]["area_rai"] == pytest.approx(inside / 1_600, abs=0.12)
    outside = _m2("A") * (1 - share) + _m2("B")
    assert rows[("2567", None)]["area_rai"] == pytest.approx(outside / 1_600, abs=0.12)
    assert rows[("2567", None)]["patches"] == 2 and rows[("2567", "NRF-PR-001")]["patches"] == 1
    assert (rows[("2568", None)]["area_ha"], rows[("2568", None)]["area_rai"]) == (1.44, 9.0)
    periods = {t["period"]: t for t in s["periods"]}
    assert (periods["2567"]["patches"], periods["2567"]["area_ha"], periods["2567"]["area_rai"]) == (2, 12.24, 76.5)
    assert (periods["2568"]["patches"], periods["2568"]["area_rai"]) == (1, 9.0)
    assert rows[("2567", "NRF-PR-001")]["area_m2"] + rows[("2567", None)]["area_m2"] == pytest.approx(122_400)


def test_the_committee_brief_section(e2e):
    client, p = e2e["client"], e2e["people"]
    r = client.post("/api/v1/briefs", headers=p["committee"], json={"fiscal_year_be": 2567})
    assert r.status_code == 201, r.text
    section = r.json()["figures"]["forest_loss"]
    total = section["total"]
    assert (total["patches"], total["area_ha"], total["area_rai"]) == (2, 12.24, 76.5)
    districts = {d["code"]: d for d in section["by_district"]}
    assert set(districts) == {"5401", "5402"}
    assert (districts["5402"]["area_ha"], districts["5402"]["area_rai"]) == (9.0, 56.25)
    assert (districts["5401"]["area_ha"], districts["5401"]["area_rai"]) == (3.24, 20.25)
    reserves = {d["code"]: d for d in section["by_reserve"]}
    assert reserves["NRF-PR-001"]["area_rai"] == pytest.approx(_m2("A") * _a_share(e2e) / 1_600, abs=0.12)
    assert {s["source"]: s["area_rai"] for s in section["by_source"]} == {"gfw_integrated": 76.5}
    html = client.get(f"/api/v1/briefs/{r.json()['id']}", headers=p["committee"]).text
    assert "ร้องกวาง / Rong Kwang" in html and "56.25" in html and "76.5" in html
    # the brief says what "cleared by fire" measures: a pixel, positions up to the distance + half a pixel away
    assert "pixel comes within 500 m of the patch" in section["fire_rule_en"] and "MODIS" in section["fire_rule_en"]
    assert 'id="forest-loss-fire-rule"' in html and "ภายใน 500 ม. จากแปลง" in html and "up to 1,000 m" in html
    nxt = client.post("/api/v1/briefs", headers=p["admin"], json={"fiscal_year_be": 2568, "province": "54"}).json()
    assert nxt["figures"]["forest_loss"]["total"]["area_rai"] == 9.0
    nan = client.post("/api/v1/briefs", headers=p["admin"], json={"fiscal_year_be": 2567, "province": "55"}).json()
    assert nan["figures"]["forest_loss"]["total"]["patches"] == 0


def test_open_data_counts(e2e):
    client = e2e["client"]
    r = client.get("/open/data/clearing_by_district_month.csv")
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    got = {(x["district_code"], x["month"]): (x["patches"], float(x["area_ha"]), float(x["area_rai"])) for x in rows}
    assert got[("5402", "2024-02")] == ("1", 9.0, 56.25)
    assert got[("5401", "2024-02")] == ("1", 3.24, 20.25)
    assert got[("5401", "2024-10")] == ("1", 1.44, 9.0)
    assert not any(code.startswith("55") for code, _ in got)  # the neighbour's district is not Phrae's
    assert sum(int(v[0]) for v in got.values()) == 3
    assert sum(v[2] for v in got.values()) == pytest.approx(85.5)


def test_the_ogc_collection(e2e):
    client, p, ids = e2e["client"], e2e["people"], e2e["ids"]
    fc = client.get("/ogc/collections/clearing_patches/items", headers=p["lead"]).json()
    got = {f["properties"]["patch_id"]: f["properties"] for f in fc["features"]}
    assert set(got) == {ids["A"], ids["B"], ids["C"]}
    for n in ("A", "B", "C"):
        assert (got[ids[n]]["area_ha"], got[ids[n]]["area_rai"]) == (_ha(_m2(n)), _rai(_m2(n)))
        assert got[ids[n]]["district_code"] == PLAN[n][3]
    by_district = client.get("/ogc/collections/forest_loss_by_district/items", headers=p["admin"]).json()
    agg = {f["id"]: f["properties"] for f in by_district["features"]}
    assert set(agg) == {"5402/2024-02", "5401/2024-02", "5401/2024-10"}
    assert (agg["5402/2024-02"]["area_ha"], agg["5402/2024-02"]["area_rai"]) == (9.0, 56.25)


def test_the_overview_map(e2e):
    client, p, ids = e2e["client"], e2e["people"], e2e["ids"]
    page = client.get("/maps/overview", headers=p["committee"], params={"from": "2024-01-01", "to": "2024-12-31"})
    assert page.status_code == 200, page.text
    body = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page.text)
    for n in ("A", "B", "C"):
        assert f"clearing patch #{ids[n]}" in body, n
    assert f"clearing patch #{ids['N']}" not in body
    assert "56.25" in body and "20.25" in body  # the popups' rai, as the list gives them


def _incident_east_of(e2e, name: str, metres: float, observed_at: str) -> dict:
    b, _ = e2e["layout"][name]
    _, miny, maxx, maxy = b.bounds
    lon, lat = TO_LL.transform(maxx + metres, (miny + maxy) / 2)
    r = e2e["client"].post(
        "/api/v1/incidents",
        headers=e2e["people"]["officer"],
        json={"kind": "land_clearing", "location": {"lat": lat, "lon": lon}, "observed_at": observed_at},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_case_suggestions_field_task_outcome_and_shares(e2e):
    client, p, ids = e2e["client"], e2e["people"], e2e["ids"]
    # an incident 200 m east of B, two days after its alert; a case that links it
    inc = _incident_east_of(e2e, "B", 200, "2024-02-22T10:00:00+07:00")
    case = client.post(
        "/api/v1/cases",
        headers=p["lead"],
        json={
            "title": "Clearing near Mueang Phrae",
            "category": "encroachment_permitted",
            "received_on": "2024-03-01",
            "period_from": "2024-01-01",
            "period_to": "2024-03-31",
        },
    ).json()
    link = {"target_type": "incident", "target_id": str(inc["id"]), "reason": "evidence"}
    assert client.post(f"/api/v1/cases/{case['id']}/links", headers=p["lead"], json=link).status_code == 201
    r = client.get(f"/api/v1/cases/{case['id']}/suggestions", headers=p["lead"])
    assert r.status_code == 200, r.text
    sugg = {s["target_id"]: s for s in r.json()["suggestions"] if s["target_type"] == "clearing_patch"}
    assert set(sugg) == {str(ids["B"])}  # A is 20+ km away, C is months later, N is Nan's
    b = sugg[str(ids["B"])]
    assert b["distance_m"] == pytest.approx(200, abs=2) and b["days_apart"] == 2
    assert (b["area_ha"], b["area_rai"]) == (3.24, 20.25) and b["incident_id"] == inc["id"]
    assert "200 m" in b["reason"] and "20.25" in b["reason"] + b["reason_th"]

    # B sent to the field; the officer standing at the incident finds it; verified with the incident
    t = client.post(f"/api/v1/forest-loss/patches/{ids['B']}/tasks", headers=p["lead"], json={})
    assert t.status_code == 201, t.text
    assert client.post(f"/api/v1/forest-loss/patches/{ids['N']}/tasks", headers=p["lead"], json={}).status_code == 404
    near = client.get(
        "/api/v1/forest-loss/tasks",
        headers=p["officer"],
        params={"near": f"{inc['location']['lon']},{inc['location']['lat']}", "radius_m": 1000},
    )
    assert near.status_code == 200, near.text
    (found,) = near.json()["tasks"]
    assert found["patch_id"] == ids["B"] and found["distance_m"] == pytest.approx(200, abs=2)
    done = client.post(
        f"/api/v1/forest-loss/tasks/{found['id']}/outcome",
        headers=p["officer"],
        json={"outcome": "verified", "incident_id": inc["id"]},
    )
    assert done.status_code == 200, done.text
    # C sent and found a false alarm
    tc = client.post(f"/api/v1/forest-loss/patches/{ids['C']}/tasks", headers=p["lead"], json={}).json()
    r = client.post(f"/api/v1/forest-loss/tasks/{tc['id']}/outcome", headers=p["lead"], json={"outcome": "false_alarm"})
    assert r.status_code == 200, r.text
    shares = {
        s["source"]: s for s in client.get("/api/v1/forest-loss/verification", headers=p["lead"]).json()["sources"]
    }
    g = shares["gfw_integrated"]
    # Phrae: A, B, C (never N); checked B and C; verified 1 of 2, false alarm 1 of 2
    assert (g["patches"], g["checked"], g["verified"], g["false_alarm"]) == (3, 2, 1, 1)
    assert (g["verified_share"], g["false_alarm_share"]) == (0.5, 0.5)
    nan = {
        s["source"]: s for s in client.get("/api/v1/forest-loss/verification", headers=p["nan_lead"]).json()["sources"]
    }
    assert (nan["gfw_integrated"]["patches"], nan["gfw_integrated"]["checked"]) == (1, 0)

    # --- the same loop from the command line (item 5): the same service functions, the same figures ---------
    env = e2e["env"]
    r = cli(env, "verification")
    assert r.returncode == 0, r.stderr + r.stdout
    # national: A, B, C and Nan's N; checked B (verified) and C (false alarm): 50.0 % each
    assert re.search(r"gfw_integrated\s*│\s*4\s*│\s*2\s*│\s*1\s*│\s*1\s*│\s*0\s*│\s*50\.0\s*│\s*50\.0", r.stdout), (
        r.stdout
    )
    r = cli(env, "send-task", str(ids["A"]), "--note", "check the reserve edge")
    assert r.returncode == 0, r.stderr + r.stdout
    task_id = int(re.search(r"task (\d+) \(open", r.stdout).group(1))
    assert "อ.ร้องกวาง" in r.stdout and "Rong Kwang" in r.stdout
    again = cli(env, "send-task", str(ids["A"]))
    assert again.returncode == 1 and f"task {task_id}" in again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    lon, lat = TO_LL.transform(*e2e["layout"]["A"][0].centroid.coords[0])
    r = cli(env, "tasks", "--near", f"{lon},{lat}", "--radius-m", "1000")
    assert r.returncode == 0 and re.search(rf"│\s*{task_id}\s*│\s*{ids['A']}\s*│\s*0\s*│", r.stdout), r.stdout
    bad = cli(env, "tasks", "--near", "abc")
    assert bad.returncode == 1 and "longitude,latitude" in bad.stdout + bad.stderr and "Traceback" not in bad.stderr
    r = cli(env, "outcome", str(task_id), "maybe")
    assert r.returncode == 1 and "verified, false_alarm, already_known" in r.stdout + r.stderr
    r = cli(env, "outcome", str(task_id), "already_known")
    assert r.returncode == 0 and "already_known" in r.stdout, r.stderr + r.stdout
    g = {s["source"]: s for s in client.get("/api/v1/forest-loss/verification", headers=p["lead"]).json()["sources"]}
    assert (g["gfw_integrated"]["checked"], g["gfw_integrated"]["already_known_share"]) == (3, 0.3333)


def test_cli_patches_and_summaries_match_the_api(e2e):
    env, ids = e2e["env"], e2e["ids"]
    r = cli(env, "patches", "--from", "2024-01-01", "--to", "2024-12-31")
    assert r.returncode == 0, r.stderr + r.stdout
    for n in ("A", "B", "C"):
        assert re.search(rf"^│\s*{ids[n]}\s*│.*│\s*{_ha(_m2(n)):,.2f}\s*│\s*{_rai(_m2(n)):,.2f}\s*│", r.stdout, re.M), n
    assert not re.search(rf"^│\s*{ids['N']}\s*│", r.stdout, re.M)  # outside the area of interest
    r = cli(env, "patches", "--area", "outside")
    assert re.search(rf"^│\s*{ids['N']}\s*│.*│\s*5\.76\s*│\s*36\.00\s*│", r.stdout, re.M), r.stdout
    r = cli(env, "patches", "--district", "5401", "--from", "2024-10-01")
    assert re.search(rf"^│\s*{ids['C']}\s*│", r.stdout, re.M) and not re.search(rf"^│\s*{ids['B']}\s*│", r.stdout, re.M)
    r = cli(env, "summary", "--by", "district", "--period", "month", "--province", "54")
    assert r.returncode == 0, r.stderr + r.stdout
    assert re.search(r"February 2567 BE.*Rong Kwang\s*│\s*1\s*│\s*9\.00\s*│\s*56\.25", r.stdout, re.M), r.stdout
    # C (October, 1.44 ha) was found a false alarm in the field by the test above: no forest loss any more
    assert "October 2567 BE" not in r.stdout, r.stdout
    assert re.search(r"รวม / total.*│\s*2\s*│\s*12\.24\s*│\s*76\.50", r.stdout, re.M), r.stdout
    r = cli(env, "summary", "--by", "reserve", "--period", "fiscal-year")
    assert "ปีงบประมาณ 2567" in r.stdout and "FY 2568" not in r.stdout, r.stdout
    for bad, words in ((("--period", "week"), "month or fiscal_year"), (("--province", "99"), "99")):
        r = cli(env, "summary", *bad)
        assert r.returncode == 1 and words in r.stdout + r.stderr and "Traceback" not in r.stderr, r.stderr
    r = cli(env, "patches", "--source", "gfw-integrated")
    assert r.returncode == 1 and "Unknown alert source" in r.stdout + r.stderr
