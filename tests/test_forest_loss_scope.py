"""Who sees a clearing patch across a provincial border (issue 14/18 consistency): the one rule
``forest_loss.queries.PATCH_SCOPE``: a patch is within a caller's provinces when its largest-share province
(``province_code``) or any province it has a part in (a province zone row, share > 0) is among them. So the lists,
the detail route, the exports, OGC items and tiles, the overview map, the field tasks and the case suggestions show
a border patch to both provinces, as the figures count its part in each.

Phrae (54), synthetic Nan (55) and a synthetic third province (57, far north, loaded here); area of interest:
Phrae and Nan. Patches (zones written by hand, as the ingest's attribution would; 1 rai = 1,600 m2):

| id  | where                                                       | area m2                              |
|-----|-------------------------------------------------------------|--------------------------------------|
| 301 | across the Phrae / Nan line, largest share in Nan (5501)    | 10,000 = 4,000 in 54 (5402) + 6,000 in 55 |
| 302 | Nan only (5501)                                             | 2,000                                |
| 303 | Phrae only (5401)                                           | 3,200                                |

Phrae's figure is therefore 4,000 + 3,200 = 7,200 m2 in 2 patches; Nan's 6,000 + 2,000 = 8,000 m2 in 2 patches.
"""

from __future__ import annotations

import json
import math
import re

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from tests.conftest import ADMIN_TOKEN, app_client
from tests.forest_patches import insert_zoned_patches
from tests.provinces import database_with_nan, load_synthetic_province, sign_in

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# The border patch: a strip from inside Phrae (its east edge is near lon 100.55 at lat 18.45) into synthetic Nan
# (from lon 100.6); the incidents of each province's case lie on it.
STRIP = (100.535, 18.449, 100.61, 18.451)
PHRAE_ON_STRIP = {"lon": 100.54, "lat": 18.45}
NAN_ON_STRIP = {"lon": 100.605, "lat": 18.45}

# id: (envelope, first, last, area_m2, province (largest share), district (largest share), zones)
PATCHES = {
    301: (STRIP, "2024-02-20", "2024-03-01", 10_000.0, "55", "5501",
          [("province", "55", 6_000.0), ("province", "54", 4_000.0), ("district", "5501", 6_000.0),
           ("district", "5402", 4_000.0)]),
    302: ((100.70, 18.60, 100.701, 18.601), "2024-02-21", "2024-02-22", 2_000.0, "55", "5501",
          [("province", "55", 2_000.0), ("district", "5501", 2_000.0)]),
    303: ((100.24, 18.17, 100.241, 18.171), "2024-02-10", "2024-02-12", 3_200.0, "54", "5401",
          [("province", "54", 3_200.0), ("district", "5401", 3_200.0)]),
}  # fmt: skip


def _insert(factory) -> None:
    """The patches above, all seen by the integrated alerts alone, at confidence 3."""
    insert_zoned_patches(
        factory,
        {
            pid: (envelope, first, last, m2, ["gfw_integrated"], 3, prov, dist, zones)
            for pid, (envelope, first, last, m2, prov, dist, zones) in PATCHES.items()
        },
        params_key="3" * 64,
    )


@pytest.fixture(scope="module")
def border(pg_cluster, template_db, tmp_path_factory):
    """The database above, a client (area of interest: Phrae and Nan) and signed-in people of each province."""
    tmp = tmp_path_factory.mktemp("border")
    with database_with_nan(pg_cluster, template_db) as (url, factory):
        # a synthetic third province (57), far from the patches, so that an account can be made for it; boundaries
        # first: a layer load re-measures the live patches
        load_synthetic_province(factory, tmp, "57", "จังหวัดทดสอบ", "Test province (synthetic)", (99.0, 19.9, 99.5, 20.3))
        _insert(factory)
        with app_client(url, tmp, aoi_provinces=["54", "55"]) as client:
            people = {
                "admin": ADMIN,
                "phrae_inv": sign_in(client, "phrae_inv", "investigator", ["54"]),
                "nan_inv": sign_in(client, "nan_inv", "investigator", ["55"]),
                "third_inv": sign_in(client, "third_inv", "investigator", ["57"]),
                "phrae_officer": sign_in(client, "phrae_officer", "field_officer", ["54"]),
                "nan_officer": sign_in(client, "nan_officer", "field_officer", ["55"]),
                "phrae_committee": sign_in(client, "phrae_committee", "committee_member", ["54"]),
                "third_committee": sign_in(client, "third_committee", "committee_member", ["57"]),
            }
            yield client, people, factory


def _list_ids(client, headers) -> list[int]:
    r = client.get("/api/v1/forest-loss/patches", headers=headers, params={"area": "all"})
    assert r.status_code == 200, r.text
    return sorted(f["id"] for f in r.json()["features"])


def _items_ids(client, headers) -> list[int]:
    r = client.get("/ogc/collections/clearing_patches/items", headers=headers)
    assert r.status_code == 200, r.text
    return sorted(f["properties"]["patch_id"] for f in r.json()["features"])


def test_the_border_patch_is_listed_and_opened_in_both_provinces(border):
    client, p, _ = border
    assert _list_ids(client, p["phrae_inv"]) == [301, 303]  # 301: largest share in Nan, 40 % in Phrae
    assert _list_ids(client, p["nan_inv"]) == [301, 302]
    assert _list_ids(client, p["phrae_committee"]) == [301, 303]
    assert _list_ids(client, p["third_inv"]) == []
    assert _list_ids(client, p["admin"]) == [301, 302, 303]
    for who in ("phrae_inv", "nan_inv", "phrae_committee", "admin"):
        r = client.get("/api/v1/forest-loss/patches/301", headers=p[who])
        assert r.status_code == 200, (who, r.text)
        assert r.json()["properties"]["province_code"] == "55"  # still attributed to its largest share
    # the third province's people: exactly what an absent patch gets
    absent = client.get("/api/v1/forest-loss/patches/999", headers=p["third_inv"])
    third = client.get("/api/v1/forest-loss/patches/301", headers=p["third_inv"])
    assert third.status_code == absent.status_code == 404
    assert {k: v for k, v in third.json()["error"].items() if k != "request_id"} == {
        k: v for k, v in absent.json()["error"].items() if k != "request_id"
    }
    # a patch wholly in the neighbour stays the neighbour's
    assert client.get("/api/v1/forest-loss/patches/302", headers=p["phrae_inv"]).status_code == 404
    assert client.get("/api/v1/forest-loss/patches/303", headers=p["nan_inv"]).status_code == 404


def test_exports_ogc_items_and_tiles_follow_the_same_rule(border):
    client, p, _ = border
    assert _items_ids(client, p["phrae_inv"]) == [301, 303]
    assert _items_ids(client, p["nan_inv"]) == [301, 302]
    assert _items_ids(client, p["phrae_committee"]) == [301, 303]
    assert _items_ids(client, p["third_inv"]) == []
    assert _items_ids(client, p["admin"]) == [301, 302, 303]
    one = client.get("/ogc/collections/clearing_patches/items/301", headers=p["phrae_inv"])
    assert one.status_code == 200 and one.json()["properties"]["patch_id"] == 301
    assert client.get("/ogc/collections/clearing_patches/items/301", headers=p["third_inv"]).status_code == 404
    r = client.get("/api/v1/exports/clearing_patches", headers=p["phrae_inv"], params={"f": "ndjson"})
    assert r.status_code == 200, r.text
    rows = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    assert rows[-1]["type"] == "ExportSummary" and rows[-1]["numberReturned"] == 2
    assert sorted(x["properties"]["patch_id"] for x in rows[:-1]) == [301, 303]
    r = client.get("/api/v1/exports/clearing_patches", headers=p["third_inv"], params={"f": "ndjson"})
    rows = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    assert r.status_code == 200 and [x["type"] for x in rows] == ["ExportSummary"]
    assert rows[-1]["numberReturned"] == 0
    # the zoom-14 tile holding the strip's Phrae end
    z, lon, lat = 14, 100.54, 18.45
    col = int((lon + 180) / 360 * 2**z)
    row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    url = f"/ogc/collections/clearing_patches/tiles/WebMercatorQuad/{z}/{row}/{col}"

    def tile_ids(headers) -> list[int]:
        r = client.get(url, headers=headers)
        assert r.status_code in (200, 204), r.text
        if r.status_code == 204 or not r.content:
            return []
        layer = mapbox_vector_tile.decode(r.content).get("clearing_patches", {"features": []})
        return sorted(f["properties"]["patch_id"] for f in layer["features"])

    assert tile_ids(p["phrae_inv"]) == tile_ids(p["nan_inv"]) == tile_ids(p["phrae_committee"]) == [301]
    assert tile_ids(p["third_inv"]) == []


def test_the_overview_map_shows_it_to_both_provinces(border):
    client, p, _ = border
    period = {"from": "2024-01-01", "to": "2024-03-31"}

    def shown(headers) -> set[int]:
        page = client.get("/maps/overview", headers=headers, params=period)
        assert page.status_code == 200, page.text
        body = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page.text)
        return {int(i) for i in re.findall(r"clearing patch #(\d+)", body)}

    assert shown(p["phrae_committee"]) == {301, 303}
    assert shown(p["phrae_inv"]) == {301, 303}
    assert shown(p["nan_inv"]) == {301, 302}
    assert shown(p["third_committee"]) == set()


def test_field_task_and_case_suggestions_and_links_in_both_provinces(border):
    client, p, factory = border
    # a Phrae investigator may send the border patch to the field; officers of both provinces find the task near
    # them; the third province may neither send it nor see it
    r = client.post("/api/v1/forest-loss/patches/301/tasks", headers=p["third_inv"], json={"note": "x"})
    assert r.status_code == 404
    r = client.post("/api/v1/forest-loss/patches/301/tasks", headers=p["phrae_inv"], json={"note": "check"})
    assert r.status_code == 201, r.text
    task = r.json()["id"]

    def near(headers) -> list[int]:
        r = client.get("/api/v1/forest-loss/tasks", headers=headers, params={"near": "100.57,18.45"})
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["tasks"]]

    assert near(p["phrae_officer"]) == near(p["nan_officer"]) == [task]
    assert near(p["third_inv"]) == []
    for who, point in (("phrae_inv", PHRAE_ON_STRIP), ("nan_inv", NAN_ON_STRIP)):
        headers = p[who]
        inc = client.post(
            "/api/v1/incidents",
            headers=headers,
            json={"kind": "land_clearing", "location": point, "observed_at": "2024-03-05T10:00:00+07:00"},
        )
        assert inc.status_code == 201, inc.text
        case = client.post(
            "/api/v1/cases",
            headers=headers,
            json={"title": "Clearing at the border", "category": "other", "received_on": "2024-03-10"},
        )
        assert case.status_code == 201, case.text
        cid = case.json()["id"]
        r = client.post(
            f"/api/v1/cases/{cid}/links",
            headers=headers,
            json={"target_type": "incident", "target_id": str(inc.json()["id"]), "reason": "field report"},
        )
        assert r.status_code == 201, r.text
        r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=headers)
        assert r.status_code == 200, r.text
        patches = [s["target_id"] for s in r.json()["suggestions"] if s["target_type"] == "clearing_patch"]
        assert patches == ["301"], (who, patches)
        r = client.post(
            f"/api/v1/cases/{cid}/links",
            headers=headers,
            json={"target_type": "clearing_patch", "target_id": "301", "reason": "suggested"},
        )
        assert r.status_code == 201, (who, r.text)
    with factory() as session:  # leave the module's data as it was
        session.execute(text("DELETE FROM field_tasks WHERE id = :id"), {"id": task})
        session.commit()


def test_the_figures_still_count_each_provinces_part_only(border):
    client, p, _ = border

    def total(headers, **params) -> dict:
        r = client.get("/api/v1/forest-loss/summary", headers=headers, params={"by": "district", **params})
        assert r.status_code == 200, r.text
        return r.json()["total"]

    phrae = total(p["phrae_inv"])
    assert (phrae["patches"], phrae["area_m2"], phrae["area_rai"]) == (2, 7_200.0, 4.5)  # 4,000 of 301 + 303
    nan = total(p["nan_inv"])
    assert (nan["patches"], nan["area_m2"]) == (2, 8_000.0)  # 6,000 of 301 + 302
    assert total(p["admin"], province="54")["area_m2"] == 7_200.0
    assert (
        client.get("/api/v1/forest-loss/summary", headers=p["third_inv"], params={"province": "54"}).status_code == 403
    )


def test_the_rule_takes_column_names_only():
    from geo_service.forest_loss.queries import PATCH_SCOPE, patch_scope_sql

    assert "clearing_patch_zones" in PATCH_SCOPE and ":scope_provinces" in PATCH_SCOPE
    assert "r.provinces" in patch_scope_sql("r.provinces", "cp")
    for bad in (("x); DROP TABLE t; --", "p", "id"), ("r.provinces", "p p", "id"), ("r.provinces", "p", "id--")):
        with pytest.raises(ValueError):
            patch_scope_sql(*bad)
