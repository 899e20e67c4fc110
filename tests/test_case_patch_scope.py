"""Clearing patches in cases follow the province rule of every other patch read (``forest_loss.queries.PATCH_SCOPE``:
a patch with a part in one of the caller's provinces; a patch across a border is in both; national callers see all):
links, suggestions, evidence.geojson, the evidence pack and the case map.

Phrae (54) and synthetic Nan (55, tests/provinces.py: the box east of lon 100.6); area of interest: both. Patches
(zones written by hand, as the ingest's attribution would; NRF-PR-004 is a bundled Phrae reserve):

| id  | where                                                     | zones                                         |
|-----|-----------------------------------------------------------|-----------------------------------------------|
| 401 | across the Phrae / Nan line, largest share in Nan         | province 55 (60 %), province 54 (40 %)        |
| 402 | Nan only, about 6.5 km east of the Phrae incident         | province 55; 30 % in NRF-PR-004 (by hand)     |
| 403 | Phrae only                                                | province 54; 50 % in NRF-PR-004               |

(402's reserve share is written by hand so that the reserve path of the suggestions would offer it to a Phrae case
if the rule were missing: the national administrator is offered it on the same case.)
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from geo_service.db.engine import make_engine, make_sessionmaker
from tests.conftest import ADMIN_TOKEN, PASSWORD, make_settings
from tests.forest_patches import insert_zoned_patches
from tests.provinces import load_nan

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PHRAE_ON_STRIP = {"lon": 100.54, "lat": 18.45}  # in Phrae, on the border patch 401
NAN_ON_STRIP = {"lon": 100.605, "lat": 18.45}  # in Nan, on the border patch 401
RESERVE = "NRF-PR-004"

# id: (envelope, first, last, area_m2, province (largest share), zones (type, code, m2))
PATCHES = {
    401: ((100.535, 18.449, 100.61, 18.451), "2024-02-20", "2024-03-01", 10_000.0, "55",
          [("province", "55", 6_000.0), ("province", "54", 4_000.0)]),
    402: ((100.603, 18.46, 100.604, 18.461), "2024-02-21", "2024-02-22", 2_000.0, "55",
          [("province", "55", 2_000.0), ("protected_area", RESERVE, 600.0)]),
    403: ((100.24, 18.17, 100.241, 18.171), "2024-02-10", "2024-02-12", 3_200.0, "54",
          [("province", "54", 3_200.0), ("protected_area", RESERVE, 1_600.0)]),
}  # fmt: skip


def _insert(factory) -> None:
    """The patches above as the ingest would store them (gfw_integrated, high confidence, in the area of interest)."""
    insert_zoned_patches(
        factory,
        {
            pid: (envelope, first, last, m2, ["gfw_integrated"], 3, prov, None, zones)
            for pid, (envelope, first, last, m2, prov, zones) in PATCHES.items()
        },
        params_key="4" * 64,
    )


@pytest.fixture(scope="module")
def world(pg_cluster, template_db, tmp_path_factory):
    """The database above, a client (area of interest: Phrae and Nan) and signed-in investigators of each province
    (the administrator is national)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name, template=template_db)
    url = pg_cluster.url(name)
    engine = make_engine(url, pool_size=2)
    factory = make_sessionmaker(engine)
    load_nan(factory)  # boundaries first: a layer load re-measures the live patches
    _insert(factory)
    from geo_service.main import create_app

    settings = make_settings(url, tmp_path_factory.mktemp("casescope"), aoi_provinces=["54", "55"])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:

        def login(username: str, role: str, provinces: list[str]) -> dict:
            body = {"username": username, "password": PASSWORD, "roles": [role], "provinces": provinces}
            r = client.post("/api/v1/admin/users", headers=ADMIN, json=body)
            assert r.status_code == 201, r.text
            r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        people = {
            "admin": ADMIN,
            "phrae_inv": login("phrae_inv", "investigator", ["54"]),
            "nan_inv": login("nan_inv", "investigator", ["55"]),
        }
        yield client, people
    engine.dispose()
    pg_cluster.drop_database(name)


def _case(client, headers, point: dict, *, reserve: bool = False) -> int:
    """A case of the caller's province with an incident at ``point`` linked (and the reserve, if asked)."""
    inc = client.post(
        "/api/v1/incidents",
        headers=headers,
        json={"kind": "land_clearing", "location": point, "observed_at": "2024-03-05T10:00:00+07:00"},
    )
    assert inc.status_code == 201, inc.text
    case = client.post(
        "/api/v1/cases",
        headers=headers,
        json={"title": "Clearing near the border", "category": "other", "received_on": "2024-03-10"},
    )
    assert case.status_code == 201, case.text
    cid = case.json()["id"]
    links = [{"target_type": "incident", "target_id": str(inc.json()["id"]), "reason": "field report"}]
    if reserve:
        links.append({"target_type": "protected_area", "target_id": RESERVE, "reason": "the reserve"})
    r = client.post(f"/api/v1/cases/{cid}/links/batch", headers=headers, json=links)
    assert r.status_code == 201, r.text
    return cid


def _link(client, headers, cid: int, patch_id: str):
    return client.post(
        f"/api/v1/cases/{cid}/links",
        headers=headers,
        json={"target_type": "clearing_patch", "target_id": patch_id, "reason": "seen from space"},
    )


def _patch_links(client, headers, cid: int) -> list[str]:
    r = client.get(f"/api/v1/cases/{cid}", headers=headers)
    assert r.status_code == 200, r.text
    return sorted(lk["target_id"] for lk in r.json()["links"] if lk["target_type"] == "clearing_patch")


def _error(response, patch_id: str) -> dict:
    """The error body without its request id, the asked id written as <id>."""
    body = {k: v for k, v in response.json()["error"].items() if k != "request_id"}
    return {k: v.replace(f"'{patch_id}'", "'<id>'") if isinstance(v, str) else v for k, v in body.items()}


def test_another_provinces_patch_is_linked_like_an_unknown_one(world):
    client, p = world
    phrae = p["phrae_inv"]
    cid = _case(client, phrae, PHRAE_ON_STRIP)
    version = client.get(f"/api/v1/cases/{cid}", headers=phrae).json()["version"]
    unknown = _link(client, phrae, cid, "999999")
    nan = _link(client, phrae, cid, "402")
    assert unknown.status_code == nan.status_code == 404
    assert _error(nan, "402") == _error(unknown, "999999")
    assert nan.json()["error"]["message"] == "No clearing patch '402' to link."
    # all or nothing: a batch with the Phrae patch and the Nan one links neither
    batch = client.post(
        f"/api/v1/cases/{cid}/links/batch",
        headers=phrae,
        json=[
            {"target_type": "clearing_patch", "target_id": "403", "reason": "seen from space"},
            {"target_type": "clearing_patch", "target_id": "402", "reason": "seen from space"},
        ],
    )
    assert batch.status_code == 404 and "'402'" in batch.json()["error"]["message"]
    assert _patch_links(client, phrae, cid) == []
    assert client.get(f"/api/v1/cases/{cid}", headers=phrae).json()["version"] == version
    # the border patch (largest share in Nan, 40 % in Phrae) and Phrae's own patch are linked
    assert _link(client, phrae, cid, "401").status_code == 201
    assert _link(client, phrae, cid, "403").status_code == 201
    assert _patch_links(client, phrae, cid) == ["401", "403"]
    # the other way round: Nan's investigator links the border patch, never Phrae's own
    nan_case = _case(client, p["nan_inv"], NAN_ON_STRIP)
    assert _link(client, p["nan_inv"], nan_case, "401").status_code == 201
    phrae_only = _link(client, p["nan_inv"], nan_case, "403")
    assert phrae_only.status_code == 404 and _error(phrae_only, "403") == _error(unknown, "999999")
    # the national administrator links any patch, Nan's to a Phrae case too
    assert _link(client, p["admin"], cid, "402").status_code == 201
    assert _patch_links(client, p["admin"], cid) == ["401", "402", "403"]


def test_suggestions_leave_out_another_provinces_patch(world):
    client, p = world
    cid = _case(client, p["phrae_inv"], PHRAE_ON_STRIP, reserve=True)

    def suggested(headers) -> list[str]:
        r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=headers, params={"distance_m": 10_000})
        assert r.status_code == 200, r.text
        return sorted(s["target_id"] for s in r.json()["suggestions"] if s["target_type"] == "clearing_patch")

    # 401 near the incident (on it), 403 in the case's reserve; 402 is 6.5 km away and 30 % in the reserve, but Nan's
    assert suggested(p["phrae_inv"]) == ["401", "403"]
    assert suggested(p["admin"]) == ["401", "402", "403"]  # national: every patch


def test_evidence_geojson_pack_and_map_show_the_reader_its_provinces_patches(world):
    client, p = world
    phrae, admin = p["phrae_inv"], p["admin"]
    cid = _case(client, phrae, PHRAE_ON_STRIP)
    assert _link(client, phrae, cid, "401").status_code == 201
    assert _link(client, admin, cid, "402").status_code == 201  # a national colleague links Nan's patch

    def geojson_patches(headers) -> list[str]:
        r = client.get(f"/api/v1/cases/{cid}/evidence.geojson", headers=headers)
        assert r.status_code == 200, r.text
        fc = r.json()
        assert fc["numberReturned"] == len(fc["features"])
        return sorted(f["properties"]["target_id"] for f in fc["features"] if f["id"].startswith("clearing_patch:"))

    assert geojson_patches(phrae) == ["401"]
    assert geojson_patches(admin) == ["401", "402"]

    def pack(headers) -> str:
        r = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=headers)
        assert r.status_code == 200, r.text
        return r.text

    mine, national = pack(phrae), pack(admin)
    assert "<td>#401" in mine and "<td>#402" not in mine
    assert "Clearing patch #402" not in mine  # nor its first alert in the timeline
    assert re.search(r"แปลงแผ้วถางป่าจากดาวเทียม \(1\)", mine)
    assert "1 item of evidence outside your province is not shown" in mine
    assert "หลักฐาน 1 รายการอยู่นอกจังหวัดที่ท่านรับผิดชอบ จึงไม่แสดง" in mine
    assert "<td>#401" in national and "<td>#402" in national and "evidence-hidden" not in national
    assert re.search(r"แปลงแผ้วถางป่าจากดาวเทียม \(2\)", national)

    def mapped(headers) -> set[int]:
        page = client.get(f"/maps/cases/{cid}", headers=headers)
        assert page.status_code == 200, page.text
        body = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page.text)
        return {int(i) for i in re.findall(r"clearing patch #(\d+)", body)}

    assert mapped(phrae) == {401}
    assert mapped(admin) == {401, 402}
