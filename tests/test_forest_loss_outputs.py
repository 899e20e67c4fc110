"""Where forest-loss alerts show (issue 14 item 3): the patch routes, the summaries per district and reserve by month
and fiscal year, the exports and OGC collections (restricted like incidents, public only as aggregates when
configured), vector tiles, and the committee brief's forest-loss section.

The patches are the hand-built ones of tests/forest_patches.py (its table gives every figure): a patch across a
reserve boundary, an absorbed patch that is never counted, a patch in the neighbouring (synthetic) Nan outside the
area of interest, patches in two months and two fiscal years, and empty periods.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from tests.conftest import ADMIN_TOKEN, app_client
from tests.forest_patches import insert_patches
from tests.provinces import database_with_nan, sign_in

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def forest_url(pg_cluster, template_db):
    """A database with Phrae, synthetic Nan and the hand-built patches (read by every test of this module)."""
    with database_with_nan(pg_cluster, template_db) as (url, factory):
        insert_patches(factory)
        yield url


def _app_client(url, tmp_path, **extra) -> TestClient:
    # the area of interest is Phrae (the Nan patch lies outside it, as its stored in_aoi says)
    return app_client(url, tmp_path, aoi_provinces=["54"], **extra)


@pytest.fixture(scope="module")
def fl(forest_url, tmp_path_factory):
    """A client of that database and signed-in people of each province, a national viewer and partner keys."""
    with _app_client(forest_url, tmp_path_factory.mktemp("fl")) as client:

        def key(scopes: list[str]) -> dict:
            r = client.post("/api/v1/admin/api-keys", headers=ADMIN, json={"name": "RFD", "scopes": scopes})
            assert r.status_code == 201, r.text
            return {"X-API-Key": r.json()["key"]}

        people = {
            "admin": ADMIN,
            "phrae_inv": sign_in(client, "phrae_inv", "investigator", ["54"]),
            "phrae_officer": sign_in(client, "phrae_officer", "field_officer", ["54"]),
            "phrae_committee": sign_in(client, "phrae_committee", "committee_member", ["54"]),
            "nan_officer": sign_in(client, "nan_officer", "field_officer", ["55"]),
            "national": sign_in(client, "national", "national_viewer", None),
            "key_incidents": key(["incidents"]),
            "key_patches": key(["clearing_patches"]),
            "key_districts": key(["districts"]),
        }
        yield client, people


def _ids(fc: dict) -> list[int]:
    return sorted(f["id"] for f in fc["features"])


# --- the patch list and one patch -------------------------------------------------------------------------
def test_the_list_shows_current_patches_of_the_area_and_the_callers_province(fl):
    client, p = fl
    r = client.get("/api/v1/forest-loss/patches", headers=p["phrae_inv"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert _ids(fc) == [101, 102, 103, 104] and fc["numberMatched"] == 4  # 105 absorbed, 106 outside
    assert [f["id"] for f in fc["features"]] == [104, 103, 102, 101]  # newest first alert first
    f101 = next(f for f in fc["features"] if f["id"] == 101)
    props = f101["properties"]
    assert props["area_ha"] == 2.0 and props["area_rai"] == 12.5 and props["first_date_be"] == "10/2/2567"
    assert props["fiscal_year_be"] == 2567 and props["district_th"] == "ร้องกวาง" and props["cleared_by_fire"] is True
    assert f101["geometry"]["type"] == "MultiPolygon"
    # the whole deployment for a national caller: the neighbour's patch only when asked for
    everything = client.get("/api/v1/forest-loss/patches", headers=p["admin"], params={"area": "all"}).json()
    assert _ids(everything) == [101, 102, 103, 104, 106]
    outside = client.get("/api/v1/forest-loss/patches", headers=p["admin"], params={"area": "outside"}).json()
    assert _ids(outside) == [106]
    # Phrae's people never see Nan's patch, Nan's officer sees only it
    assert _ids(client.get("/api/v1/forest-loss/patches", headers=p["phrae_inv"], params={"area": "all"}).json()) == [
        101,
        102,
        103,
        104,
    ]
    assert _ids(client.get("/api/v1/forest-loss/patches", headers=p["nan_officer"], params={"area": "all"}).json()) == [
        106
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"district": "5402"}, [101, 102]),
        ({"reserve": "NRF-PR-001"}, [101, 102]),
        ({"reserve": "FP-PHAEMUEANGPHI"}, [103]),
        ({"source": "radd"}, [102]),
        ({"source": ["radd", "gfw_integrated"]}, [101, 102, 103, 104]),
        ({"min_confidence": 4}, [102]),
        ({"cleared_by_fire": "true"}, [101, 104]),
        ({"cleared_by_fire": "false"}, [102, 103]),
        ({"from": "2024-10-01"}, [104]),
        ({"from": "2024-02-26", "to": "2024-03-01"}, [102]),  # 102 alerts until 2 March; 101 ended 25 February
        ({"bbox": "100.29,18.41,100.32,18.44"}, [101, 102]),
        ({"from": "2022-10-01", "to": "2023-09-30"}, []),  # fiscal year 2566: nothing
        ({"district": "5402' OR '1'='1"}, []),  # a hostile string is a value, never SQL
        ({"reserve": "<script>alert(1)</script>"}, []),
    ],
)
def test_list_filters(fl, params, expected):
    client, p = fl
    r = client.get("/api/v1/forest-loss/patches", headers=p["phrae_inv"], params=params)
    assert r.status_code == 200, r.text
    assert _ids(r.json()) == expected


def test_list_paging_and_bad_input(fl):
    client, p = fl
    page = client.get("/api/v1/forest-loss/patches", headers=p["phrae_inv"], params={"limit": 3, "offset": 3}).json()
    assert [f["id"] for f in page["features"]] == [101] and page["numberMatched"] == 4 and page["numberReturned"] == 1
    for bad, code in (
        ({"source": "gfw-integrated"}, "invalid_source"),
        ({"min_confidence": 5}, "invalid_confidence"),
        ({"from": "2024-03-01", "to": "2024-02-01"}, "invalid_period"),
        ({"area": "everywhere"}, "invalid_area"),
        ({"bbox": "100,18"}, None),
    ):
        r = client.get("/api/v1/forest-loss/patches", headers=p["phrae_inv"], params=bad)
        assert 400 <= r.status_code < 500, (bad, r.text)
        if code:
            assert r.json()["error"]["code"] == code
        assert "Traceback" not in r.text


def test_one_patch_with_its_zones_and_shares(fl):
    client, p = fl
    r = client.get("/api/v1/forest-loss/patches/102", headers=p["phrae_officer"])
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    zones = {(z["zone_type"], z["zone_code"]): z for z in props["zones"]}
    reserve = zones[("protected_area", "NRF-PR-001")]
    assert reserve["share"] == 0.4 and reserve["area_ha"] == 1.12 and reserve["area_rai"] == 7.0
    assert zones[("district", "5402")]["name_en"] == "Rong Kwang" and zones[("district", "5402")]["share"] == 1.0
    assert props["sources"] == ["glad_s2", "radd"] and props["share_highest"] == 0.75 and props["share_high"] == 0.25
    # the absorbed patch is still readable by its number, and says where it went
    assert (
        client.get("/api/v1/forest-loss/patches/105", headers=p["phrae_inv"]).json()["properties"]["merged_into"] == 101
    )
    # another province's patch is absent (404, never 403), as is a number that does not exist
    assert client.get("/api/v1/forest-loss/patches/106", headers=p["phrae_inv"]).status_code == 404
    assert client.get("/api/v1/forest-loss/patches/106", headers=p["nan_officer"]).status_code == 200
    assert client.get("/api/v1/forest-loss/patches/101", headers=p["nan_officer"]).status_code == 404
    assert client.get("/api/v1/forest-loss/patches/999", headers=p["admin"]).status_code == 404
    assert client.get("/api/v1/forest-loss/patches/abc", headers=p["admin"]).status_code == 422


def test_who_may_read_the_routes(fl):
    client, p = fl
    for route in ("/api/v1/forest-loss/patches", "/api/v1/forest-loss/patches/101", "/api/v1/forest-loss/summary"):
        assert client.get(route).status_code == 401
        assert client.get(route, headers=p["national"]).status_code == 403  # counts only: the brief, not patches
        assert client.get(route, headers=p["key_districts"]).status_code == 403
        assert client.get(route, headers=p["key_incidents"]).status_code == 200, route
        assert client.get(route, headers=p["key_patches"]).status_code == 200, route
        assert client.get(route, headers=p["phrae_committee"]).status_code == 200, route


# --- summaries ---------------------------------------------------------------------------------------------
def _rows(summary: dict) -> dict:
    return {(r["period"], r["code"]): r for r in summary["rows"]}


def test_summary_by_district_and_month(fl):
    client, p = fl
    r = client.get("/api/v1/forest-loss/summary", headers=p["phrae_inv"], params={"by": "district"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["provinces"] == ["54"]
    rows = _rows(s)
    assert set(rows) == {("2024-02", "5402"), ("2024-03", "5401"), ("2024-10", "5406")}
    feb = rows[("2024-02", "5402")]  # 101 + 102; 105 absorbed is not counted, 106 is Nan's
    assert (feb["patches"], feb["area_ha"], feb["area_rai"]) == (2, 4.8, 30.0)
    assert (feb["cleared_by_fire"], feb["cleared_by_fire_area_ha"], feb["cleared_by_fire_share"]) == (1, 2.0, 0.4167)
    assert feb["period_th"] == "2/2567" and feb["period_en"] == "February 2567 BE" and feb["name_th"] == "ร้องกวาง"
    assert (rows[("2024-03", "5401")]["area_rai"], rows[("2024-10", "5406")]["area_rai"]) == (5.0, 10.0)
    assert s["total"]["patches"] == 4 and s["total"]["area_ha"] == 7.2 and s["total"]["area_rai"] == 45.0
    assert s["total"]["cleared_by_fire"] == 2 and s["total"]["cleared_by_fire_area_rai"] == 22.5


def test_summary_by_reserve_and_fiscal_year_counts_the_inside_share(fl):
    client, p = fl
    s = client.get(
        "/api/v1/forest-loss/summary", headers=p["phrae_inv"], params={"by": "reserve", "period": "fiscal_year"}
    ).json()
    rows = _rows(s)
    nrf = rows[("2567", "NRF-PR-001")]  # all of 101 (20,000 m2) and 40 % of 102 (11,200 m2)
    assert (nrf["patches"], nrf["area_ha"], nrf["area_rai"], nrf["cleared_by_fire"]) == (2, 3.12, 19.5, 1)
    assert nrf["period_th"] == "ปีงบประมาณ 2567" and nrf["period_en"] == "FY 2567 BE"
    outside = rows[("2567", None)]  # the other 60 % of 102
    assert (outside["patches"], outside["area_rai"], outside["name_en"]) == (
        1,
        10.5,
        "Outside every reserve and protected area",
    )
    assert rows[("2567", "FP-PHAEMUEANGPHI")]["area_rai"] == 5.0
    assert rows[("2568", "NP-MAEYOM")]["area_rai"] == 10.0
    periods = {t["period"]: t for t in s["periods"]}
    assert (periods["2567"]["patches"], periods["2567"]["area_rai"]) == (3, 35.0)  # each patch once
    assert (periods["2568"]["patches"], periods["2568"]["area_rai"]) == (1, 10.0)
    # the reserve rows of a period add up to its total
    assert sum(r["area_m2"] for r in s["rows"] if r["period"] == "2567") == pytest.approx(56_000.0)


def test_summary_scope_filters_and_empty_period(fl):
    client, p = fl
    # the national administrator: every province, still only the area of interest (Nan's patch is outside it)
    s = client.get("/api/v1/forest-loss/summary", headers=p["admin"]).json()
    assert s["provinces"] is None and s["total"]["patches"] == 4
    # Nan's officer: the neighbour's patch is outside the area of interest, so nothing to count
    s = client.get("/api/v1/forest-loss/summary", headers=p["nan_officer"]).json()
    assert s["provinces"] == ["55"] and s["total"]["patches"] == 0 and s["rows"] == []
    assert (
        client.get("/api/v1/forest-loss/summary", headers=p["nan_officer"], params={"province": "54"}).status_code
        == 403
    )
    s = client.get("/api/v1/forest-loss/summary", headers=p["admin"], params={"province": "TH54", "source": "radd"})
    assert s.status_code == 200 and s.json()["provinces"] == ["54"] and s.json()["total"]["area_rai"] == 17.5
    empty = client.get(
        "/api/v1/forest-loss/summary", headers=p["phrae_inv"], params={"from": "2022-10-01", "to": "2023-09-30"}
    ).json()
    assert empty["rows"] == [] and empty["periods"] == [] and empty["total"]["patches"] == 0
    assert empty["total"]["area_ha"] == 0 and empty["total"]["cleared_by_fire_share"] == 0
    for bad in ({"by": "subdistrict"}, {"period": "week"}, {"province": "99"}, {"min_confidence": 1}):
        r = client.get("/api/v1/forest-loss/summary", headers=p["admin"], params=bad)
        assert 400 <= r.status_code < 500, (bad, r.text)
    # an empty province is "not given" (the fuzzer's find: it was a 500); far-off dates are an empty answer
    for blank in ("", "  "):
        r = client.get("/api/v1/forest-loss/summary", headers=p["phrae_inv"], params={"province": blank})
        assert r.status_code == 200 and r.json()["provinces"] == ["54"], r.text
    far = {"from": "0285-05-16", "to": "5071-12-09", "source": "null"}
    r = client.get("/api/v1/forest-loss/summary", headers=p["admin"], params=far)
    assert r.status_code in (200, 400, 422), r.text


# --- exports, OGC API, tiles ---------------------------------------------------------------------------------
def test_clearing_patches_collection_is_restricted_like_incidents(fl):
    client, p = fl
    assert client.get("/api/v1/exports/clearing_patches").status_code == 401
    assert client.get("/ogc/collections/clearing_patches/items").status_code == 401
    assert client.get("/api/v1/exports/clearing_patches", headers=p["key_districts"]).status_code == 403
    listing = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert "clearing_patches" not in listing and "forest_loss_by_district" not in listing
    # staff of Phrae: their province's current patches, in the area of interest or not (in_aoi says)
    fc = client.get("/ogc/collections/clearing_patches/items", headers=p["phrae_inv"]).json()
    assert sorted(f["properties"]["patch_id"] for f in fc["features"]) == [101, 102, 103, 104]
    f = next(x for x in fc["features"] if x["properties"]["patch_id"] == 102)["properties"]
    assert f["area_ha"] == 2.8 and f["area_rai"] == 17.5 and f["first_date_be"] == "20/2/2567"
    assert f["reserve_en"].startswith("Mae Yom West Bank") and f["sources"] == ["glad_s2", "radd"]
    # a partner key allowed incidents reads them too, without the verifier's name
    fc = client.get("/ogc/collections/clearing_patches/items", headers=p["key_incidents"]).json()
    assert sorted(x["properties"]["patch_id"] for x in fc["features"]) == [101, 102, 103, 104, 106]
    assert "verified_by" not in fc["features"][0]["properties"]
    # filters and CQL2 on the new properties
    fc = client.get(
        "/ogc/collections/clearing_patches/items",
        headers=p["admin"],
        params={"filter": "cleared_by_fire = true AND in_aoi = true", "datetime": "2024-01-01/2024-09-30"},
    ).json()
    assert [x["properties"]["patch_id"] for x in fc["features"]] == [101]
    q = client.get("/ogc/collections/clearing_patches/queryables", headers=p["admin"]).json()
    assert q["properties"]["first_date"]["format"] == "date" and q["properties"]["sources"]["type"] == "array"


def test_downloads_of_clearing_patches(fl, tmp_path):
    client, p = fl
    r = client.get("/api/v1/exports/clearing_patches", headers=p["phrae_inv"], params={"f": "gpkg"})
    assert r.status_code == 200 and r.headers["x-feature-count"] == "4"
    path = tmp_path / "patches.gpkg"
    path.write_bytes(r.content)
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Feature Count: 4" in out.stdout and "Multi Polygon" in out.stdout and "area_rai" in out.stdout
    r = client.get("/api/v1/exports/clearing_patches", headers=p["admin"], params={"f": "ndjson"})
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[-1]["type"] == "ExportSummary" and lines[-1]["numberReturned"] == 5  # 105 absorbed is left out


@pytest.mark.slow
def test_gdal_reads_clearing_patches_with_a_partner_key(fl, forest_url, live_server):
    """GDAL's OGC API driver (QGIS reads the same way) with a key allowed incidents: the collection is listed, and
    a -where is sent to the server as a filter."""
    _, p = fl
    base = live_server(forest_url, aoi_provinces=["54"])
    key = p["key_incidents"]["X-API-Key"]

    def ogr(*args: str) -> str:
        cmd = ["ogrinfo", "-ro", "--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}", f"OAPIF:{base}/ogc", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "clearing_patches" in ogr("-so")
    out = ogr("clearing_patches", "-where", "district_code = '5402'")
    assert "Feature Count: 2" in out or out.count("OGRFeature(clearing_patches)") == 2, out[-2000:]
    assert "patch_id (Integer" in out or "patch_id (Integer64" in out
    assert "verified_by" not in out  # partners get no verifier names
    public = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{base}/ogc"], capture_output=True, text=True, timeout=120)
    assert "clearing_patches" not in public.stdout and "forest_loss_by_district" not in public.stdout


def test_aggregates_are_staff_only_unless_configured(fl, forest_url, tmp_path):
    client, p = fl
    assert client.get("/ogc/collections/forest_loss_by_district/items").status_code == 401
    fc = client.get("/ogc/collections/forest_loss_by_district/items", headers=p["admin"]).json()
    rows = {f["id"]: f["properties"] for f in fc["features"]}
    assert set(rows) == {"5402/2024-02", "5401/2024-03", "5406/2024-10"}  # Nan and the absorbed patch not counted
    feb = rows["5402/2024-02"]
    assert (feb["patches"], feb["area_ha"], feb["area_rai"], feb["cleared_by_fire_patches"]) == (2, 4.8, 30.0, 1)
    assert feb["month_be"] == "2/2567" and feb["fiscal_year_be"] == 2567 and feb["district_en"] == "Rong Kwang"
    with _app_client(forest_url, tmp_path, forest_loss_public_aggregates=True) as public:
        listing = [c["id"] for c in public.get("/ogc/collections").json()["collections"]]
        assert "forest_loss_by_district" in listing and "clearing_patches" not in listing
        fc = public.get("/ogc/collections/forest_loss_by_district/items", params={"datetime": "2024-10-01/.."}).json()
        assert [f["id"] for f in fc["features"]] == ["5406/2024-10"]
        assert fc["features"][0]["properties"]["area_rai"] == 10.0
        # the district's outline, never a patch's
        assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
        song = public.get("/ogc/collections/districts/items/5406").json()["geometry"]
        outline = shape(fc["features"][0]["geometry"])  # Song's outline, simplified (about 50 m)
        assert outline.hausdorff_distance(shape(song)) < 0.001 and abs(outline.area / shape(song).area - 1) < 0.01
        assert public.get("/api/v1/exports/forest_loss_by_district", params={"f": "csv"}).status_code == 200
        assert public.get("/api/v1/exports/clearing_patches").status_code == 401
        assert public.get("/api/v1/forest-loss/summary").status_code == 401


def test_clearing_patch_tiles_follow_the_scope(fl):
    client, p = fl
    # zoom 12 tile holding patches 101 and 102 (lon 100.30-100.31, lat 18.42-18.43)
    url = "/ogc/collections/clearing_patches/tiles/WebMercatorQuad/12/1834/3189"
    assert client.get(url).status_code == 401
    admin = client.get(url, headers=p["admin"])
    assert admin.status_code == 200 and len(admin.content) > 0
    nan = client.get(url, headers=p["nan_officer"])
    assert nan.status_code in (200, 204) and len(nan.content) < len(admin.content)


# --- the committee brief ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_brief_forest_loss_section(fl):
    client, p = fl
    r = client.post("/api/v1/briefs", headers=p["phrae_committee"], json={"fiscal_year_be": 2567})
    assert r.status_code == 201, r.text
    brief = r.json()
    fl_ = brief["figures"]["forest_loss"]
    assert (fl_["total"]["patches"], fl_["total"]["area_ha"], fl_["total"]["area_rai"]) == (3, 5.6, 35.0)
    assert fl_["total"]["cleared_by_fire"] == 1 and fl_["total"]["cleared_by_fire_share"] == 0.3571
    districts = {r["code"]: r for r in fl_["by_district"]}
    assert set(districts) == {"5401", "5402"} and districts["5402"]["area_rai"] == 30.0
    reserves = {r["code"]: r for r in fl_["by_reserve"]}
    assert reserves["NRF-PR-001"]["area_rai"] == 19.5 and reserves["FP-PHAEMUEANGPHI"]["area_rai"] == 5.0
    sources = {r["source"]: r for r in fl_["by_source"]}
    assert {k: v["area_rai"] for k, v in sources.items()} == {"gfw_integrated": 17.5, "glad_s2": 17.5, "radd": 17.5}
    html = client.get(f"/api/v1/briefs/{brief['id']}", headers=p["phrae_committee"]).text
    assert "การสูญเสียป่า / Forest loss" in html and "ร้องกวาง / Rong Kwang" in html and "30.0" in html
    fresh = brief["figures"]["freshness"]
    assert fresh["forest_alert_latest"] == "2024-10-20" and fresh["forest_alert_patches"] == 5  # 105 absorbed
    assert "latest alert 20/10/2567" in html
    pdf = client.get(f"/api/v1/briefs/{brief['id']}.pdf", headers=p["phrae_committee"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # an empty period (quarter 1: October-December 2023) and the next fiscal year
    q1 = client.post("/api/v1/briefs", headers=p["phrae_committee"], json={"fiscal_year_be": 2567, "quarter": 1})
    empty = q1.json()["figures"]["forest_loss"]
    assert empty["total"]["patches"] == 0 and empty["by_district"] == [] and empty["by_source"] == []
    assert (
        "ไม่มีในช่วงนี้ / None in this period." in client.get(f"/api/v1/briefs/{q1.json()['id']}", headers=p["admin"]).text
    )
    nxt = client.post("/api/v1/briefs", headers=p["admin"], json={"fiscal_year_be": 2568, "province": "54"})
    assert nxt.json()["figures"]["forest_loss"]["total"]["area_rai"] == 10.0


def test_brief_counts_only_its_province(fl):
    client, p = fl
    nan = client.post("/api/v1/briefs", headers=p["admin"], json={"fiscal_year_be": 2567, "province": "55"}).json()
    assert nan["figures"]["forest_loss"]["total"]["patches"] == 0  # Nan's patch: outside the area of interest
    national = client.post("/api/v1/briefs", headers=p["admin"], json={"fiscal_year_be": 2567}).json()
    total = national["figures"]["forest_loss"]["total"]
    assert (total["patches"], total["area_rai"]) == (3, 35.0)
