"""Every kind of case evidence follows the province rule (``cases.evidence_scope``): a Phrae case holding evidence
of Phrae (linked by the Phrae investigator) and of synthetic Nan (linked by the national administrator), one of
each link type. The Phrae investigator sees Phrae's items only, and every output says how many are hidden; the
administrator sees everything and no such line. A Nan id asked directly answers exactly like an unknown one.

| kind           | Phrae (54)                                   | Nan (55, tests/provinces.py: east of lon 100.6)      |
|----------------|----------------------------------------------|------------------------------------------------------|
| incident       | at PHRAE_POINT, by the Phrae investigator    | at NAN_POINT, by the administrator                   |
| hotspot        | 100.30 E 18.20 N, province_code 54           | 100.75 E 18.60 N, province_code 55                   |
| fire_event     | footprint in Phrae, district 5401            | footprint in Nan, district 5501                      |
| raster_stat    | one raster's statistics over district 5401   | the same raster's over district 5501                 |
| protected_area | NRF-PR-004 (bundled)                         | NRF-NAN-TEST (synthetic box 100.75-100.85 E)         |
| district       | 5401 Mueang Phrae                            | 5501 synthetic Mueang Nan                            |
| clearing_patch | 453, Phrae only                              | 452, Nan only                                        |
| red_flag, contract, parcel | around PHRAE_POINT (tests/provinces.py) | around NAN_POINT                               |

Every link's reason carries a token (PHRAE-EV-<kind>, NAN-EV-<kind>-7781): a Nan token anywhere in what the
Phrae investigator reads, or any token in a public output, is a leak.
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import text

from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from geo_service.exports.collections import COLLECTIONS
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.forest_patches import insert_zoned_patches
from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan, load_red_flag_records, sign_in
from tests.samples import load_protected_areas, protected_area_file
from tests.test_open_data import OPEN_TABLES
from tests.test_role_matrix import POLICY, PUBLIC

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NAN_RESERVE = "NRF-NAN-TEST"
KINDS = (
    "incident",
    "hotspot",
    "fire_event",
    "raster_stat",
    "protected_area",
    "district",
    "clearing_patch",
    "red_flag",
    "contract",
    "parcel",
)
HIDDEN_EN = "10 items of evidence outside your province are not shown"
HIDDEN_TH = "หลักฐาน 10 รายการอยู่นอกจังหวัดที่ท่านรับผิดชอบ จึงไม่แสดง"


def phrae_reason(kind: str) -> str:
    return f"PHRAE-EV-{kind}"


def nan_reason(kind: str) -> str:
    return f"NAN-EV-{kind}-7781"


def _hotspot(s, lon: float, lat: float, province: str, district: str) -> int:
    return s.execute(
        text("""
        INSERT INTO hotspots (satellite, instrument, processing, acq_utc, acq_date_local, lat_e4, lon_e4, latitude,
          longitude, confidence, confidence_raw, frp, province_code, district_code, batch_id, in_aoi, geom)
        VALUES ('N', 'VIIRS', 'NRT', '2024-03-04T06:30:00Z', '2024-03-04', :late4, :lone4, :lat, :lon, 2, 'n', 5.5,
          :prov, :dist, 0, true, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
        RETURNING id"""),
        {"late4": round(lat * 1e4), "lone4": round(lon * 1e4), "lat": lat, "lon": lon, "prov": province,
         "dist": district},
    ).scalar_one()  # fmt: skip


def _fire_event(s, lon: float, lat: float, district: str) -> int:
    return s.execute(
        text("""
        INSERT INTO fire_events (first_seen, last_seen, detections, max_frp, sensors, district_code, footprint)
        VALUES ('2024-03-04T06:30:00Z', '2024-03-04T18:30:00Z', 2, 5.5, ARRAY['VIIRS'], :dist,
          ST_Buffer(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 0.003))
        RETURNING id"""),
        {"lon": lon, "lat": lat, "dist": district},
    ).scalar_one()


def _raster_stats(s) -> tuple[int, int]:
    raster = s.execute(
        text("""
        INSERT INTO hotspot_rasters (product, acq_date, name, file_path, file_sha256, crs, width, height, dtype,
          transform, res_x, res_y, footprint)
        VALUES ('generic', '2024-03-04', 'scope-test.tif', '/nonexistent/scope-test.tif', repeat('e', 64), 'EPSG:4326',
          1, 1, 'float32', '{100,0,0,0,-100,0}', 100, 100,
          ST_GeomFromText('POLYGON((100.0 18.0, 100.95 18.0, 100.95 18.95, 100.0 18.95, 100.0 18.0))', 4326))
        RETURNING id""")
    ).scalar_one()
    ids = [
        s.execute(
            text("""INSERT INTO raster_zone_stats (raster_id, zone_type, zone_code, pixels, mean, max)
                    VALUES (:r, 'district', :code, 900, 0.25, 0.9) RETURNING id"""),
            {"r": raster, "code": code},
        ).scalar_one()
        for code in ("5401", "5501")
    ]
    return ids[0], ids[1]


@pytest.fixture(scope="module")
def world(pg_cluster, template_db, tmp_path_factory):
    """The database above, a client (area of interest: Phrae and Nan), the people and the case with its links."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name, template=template_db)
    url = pg_cluster.url(name)
    engine = make_engine(url, pool_size=2)
    factory = make_sessionmaker(engine)
    folder = tmp_path_factory.mktemp("evscope")
    load_nan(factory)
    load_protected_areas(
        factory,
        protected_area_file(folder / "nan_reserve.geojson", NAN_RESERVE, "1", "2000-01-01",
                            box(100.75, 18.6, 100.85, 18.7)),
        "synthetic-nan-reserve",
        "1",
    )  # fmt: skip
    insert_zoned_patches(
        factory,
        {
            452: ((100.70, 18.50, 100.701, 18.501), "2024-02-21", "2024-02-22", 2_000.0, ["gfw_integrated"], 3,
                  "55", None, [("province", "55", 2_000.0)]),
            453: ((100.24, 18.17, 100.241, 18.171), "2024-02-10", "2024-02-12", 3_200.0, ["gfw_integrated"], 3,
                  "54", None, [("province", "54", 3_200.0)]),
        },
        params_key="5" * 64,
    )  # fmt: skip
    with transaction(factory) as s:
        hotspots = (_hotspot(s, 100.30, 18.20, "54", "5401"), _hotspot(s, 100.75, 18.60, "55", "5501"))
        # not linked, about 150 m from each province's incident: what the suggestions may offer
        unlinked = {"54": _hotspot(s, 100.301, 18.201, "54", "5401"), "55": _hotspot(s, 100.751, 18.601, "55", "5501")}
        events = (_fire_event(s, 100.30, 18.21, "5401"), _fire_event(s, 100.75, 18.61, "5501"))
        stats = _raster_stats(s)
    from geo_service.main import create_app

    settings = make_settings(url, folder, aoi_provinces=["54", "55"])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        phrae = sign_in(client, "ev_phrae_inv", "investigator", ["54"])
        committee = sign_in(client, "ev_phrae_committee", "committee_member", ["54"])
        records = {
            "54": load_red_flag_records(client, ADMIN, PHRAE_POINT, "EVPR"),
            "55": load_red_flag_records(client, ADMIN, NAN_POINT, "EVNAN"),
        }
        incidents = {}
        for prov, headers, point in (("54", phrae, PHRAE_POINT), ("55", ADMIN, NAN_POINT)):
            r = client.post(
                "/api/v1/incidents",
                headers=headers,
                json={"kind": "land_clearing", "location": point, "observed_at": "2024-03-05T10:00:00+07:00"},
            )
            assert r.status_code == 201, r.text
            assert r.json()["place"]["province_code"] == prov
            incidents[prov] = str(r.json()["id"])
        targets = {
            prov: {
                "incident": incidents[prov],
                "hotspot": str(hotspots[i]),
                "fire_event": str(events[i]),
                "raster_stat": str(stats[i]),
                "protected_area": ("NRF-PR-004", NAN_RESERVE)[i],
                "district": ("5401", "5501")[i],
                "clearing_patch": ("453", "452")[i],
                "red_flag": str(records[prov]["flag_id"]),
                "contract": str(records[prov]["contract_id"]),
                "parcel": str(records[prov]["parcel_id"]),
            }
            for i, prov in enumerate(("54", "55"))
        }
        r = client.post(
            "/api/v1/cases",
            headers=phrae,
            json={"title": "Evidence on both sides", "category": "other", "received_on": "2024-03-10"},
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        mine = [{"target_type": k, "target_id": targets["54"][k], "reason": phrae_reason(k)} for k in KINDS]
        r = client.post(f"/api/v1/cases/{cid}/links/batch", headers=phrae, json=mine)
        assert r.status_code == 201, r.text
        theirs = [{"target_type": k, "target_id": targets["55"][k], "reason": nan_reason(k)} for k in KINDS]
        r = client.post(f"/api/v1/cases/{cid}/links/batch", headers=ADMIN, json=theirs)
        assert r.status_code == 201, r.text
        # an edit by the administrator writes the whole case (its links too) into the case's audit trail
        r = client.patch(
            f"/api/v1/cases/{cid}", headers={**ADMIN, "If-Match": r.headers["ETag"]}, json={"summary": "both sides"}
        )
        assert r.status_code == 200, r.text
        targets["unlinked_hotspot"] = {prov: str(i) for prov, i in unlinked.items()}
        yield client, {"phrae": phrae, "admin": ADMIN, "committee": committee}, cid, targets
    engine.dispose()
    pg_cluster.drop_database(name)


def _nan_tokens_in(body: str) -> list[str]:
    return [k for k in KINDS if nan_reason(k) in body]


def test_the_case_json_lists_only_the_readers_evidence_and_counts_the_rest(world):
    client, people, cid, targets = world
    mine = client.get(f"/api/v1/cases/{cid}", headers=people["phrae"])
    assert mine.status_code == 200, mine.text
    case = mine.json()
    assert sorted((lk["target_type"], lk["target_id"]) for lk in case["links"]) == sorted(
        (k, targets["54"][k]) for k in KINDS
    )
    assert case["evidence_counts"] == {k: 1 for k in KINDS}
    assert case["evidence_hidden"] == 10
    assert case["evidence_hidden_note"] == {"en": HIDDEN_EN, "th": HIDDEN_TH}
    assert "5501" not in case["districts"] and NAN_RESERVE not in case["protected_areas"]
    assert _nan_tokens_in(mine.text) == []
    everything = client.get(f"/api/v1/cases/{cid}", headers=people["admin"]).json()
    assert sorted((lk["target_type"], lk["target_id"]) for lk in everything["links"]) == sorted(
        (k, targets[p][k]) for k in KINDS for p in ("54", "55")
    )
    assert everything["evidence_counts"] == {k: 2 for k in KINDS}
    assert everything["evidence_hidden"] == 0 and "evidence_hidden_note" not in everything
    # the committee of Phrae sees counts only: Phrae's, and how many are hidden
    seen = client.get(f"/api/v1/cases/{cid}", headers=people["committee"]).json()
    assert "links" not in seen and seen["evidence_counts"] == {k: 1 for k in KINDS} and seen["evidence_hidden"] == 10
    assert "5501" not in seen["districts"] and NAN_RESERVE not in seen["protected_areas"]
    # the case list shows the same
    listed = client.get("/api/v1/cases", headers=people["phrae"]).json()["items"]
    assert [c["evidence_hidden"] for c in listed if c["id"] == cid] == [10]
    assert _nan_tokens_in(str(listed)) == []


@pytest.mark.slow
def test_evidence_geojson_draws_only_the_readers_evidence_and_counts_the_rest(world):
    client, people, cid, targets = world

    def features(headers) -> tuple[dict, list[tuple[str, str]]]:
        r = client.get(f"/api/v1/cases/{cid}/evidence.geojson", headers=headers)
        assert r.status_code == 200, r.text
        fc = r.json()
        assert fc["numberReturned"] == len(fc["features"])
        return fc, sorted((f["properties"]["target_type"], f["properties"]["target_id"]) for f in fc["features"])

    fc, mine = features(people["phrae"])
    assert mine == sorted((k, targets["54"][k]) for k in KINDS)
    assert fc["evidenceHidden"] == 10 and fc["notice"] == {"en": HIDDEN_EN, "th": HIDDEN_TH}
    assert _nan_tokens_in(str(fc)) == []
    fc, everything = features(people["admin"])
    assert everything == sorted((k, targets[p][k]) for k in KINDS for p in ("54", "55"))
    assert fc["evidenceHidden"] == 0 and "notice" not in fc


@pytest.mark.slow
def test_the_evidence_pack_shows_only_the_readers_evidence_and_says_how_much_is_hidden(world):
    client, people, cid, targets = world
    r = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=people["phrae"])
    assert r.status_code == 200, r.text
    page = r.text
    assert HIDDEN_EN in page and HIDDEN_TH in page
    assert _nan_tokens_in(page) == []
    nan = targets["55"]
    for kind in KINDS:
        assert f"Evidence linked: {kind} {nan[kind]}<" not in page, kind  # the timeline
        assert f"Evidence linked: {kind} {targets['54'][kind]}<" in page, kind
    assert f"INC-{int(nan['incident']):06d}" not in page
    assert f"#{nan['clearing_patch']}" not in page and NAN_RESERVE not in page
    national = client.get(f"/api/v1/cases/{cid}/evidence-pack", headers=people["admin"]).text
    assert "outside your province" not in national and "นอกจังหวัดที่ท่านรับผิดชอบ" not in national
    for kind in KINDS:
        assert f"Evidence linked: {kind} {nan[kind]}<" in national, kind
    assert f"INC-{int(nan['incident']):06d}" in national and NAN_RESERVE in national


@pytest.mark.slow
def test_the_pdf_pack_is_the_readers_page(world, monkeypatch):
    """The PDF is WeasyPrint's print of the page above (no text extractor here): the page it is given is the
    reader's, with the line saying how much is hidden."""
    from geo_service.cases import evidence

    printed: list[str] = []
    real = evidence.render_pdf
    monkeypatch.setattr(evidence, "render_pdf", lambda html: printed.append(html) or real(html))
    client, people, cid, _ = world
    r = client.get(f"/api/v1/cases/{cid}/evidence-pack.pdf", headers=people["phrae"])
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert len(printed) == 1 and HIDDEN_EN in printed[0] and HIDDEN_TH in printed[0]
    assert _nan_tokens_in(printed[0]) == []


@pytest.mark.slow
def test_the_case_map_draws_only_the_readers_evidence_and_says_how_much_is_hidden(world):
    client, people, cid, targets = world

    def page(headers) -> str:
        r = client.get(f"/maps/cases/{cid}", headers=headers)
        assert r.status_code == 200, r.text
        return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), r.text)

    mine, national = page(people["phrae"]), page(people["admin"])
    assert HIDDEN_EN in mine and HIDDEN_TH in mine
    assert _nan_tokens_in(mine) == []
    assert f"hotspot #{targets['55']['hotspot']}" not in mine and f"hotspot #{targets['54']['hotspot']}" in mine
    assert f"fire event #{targets['55']['fire_event']}" not in mine
    assert f"clearing patch #{targets['55']['clearing_patch']}" not in mine
    assert "outside your province" not in national
    assert f"hotspot #{targets['55']['hotspot']}" in national
    assert f"fire event #{targets['55']['fire_event']}" in national
    assert {"hotspot", "fire_event", "raster_stat"} <= set(_nan_tokens_in(national))


def test_every_feature_reader_keeps_to_the_readers_provinces_by_the_rule_of_in_scope(world):
    """The features path runs the rule once, in the readers (``evidence_scope.read_links``): so each reader, given
    another province's id, returns nothing for it, and what it returns is exactly ``IN_SCOPE``'s answer."""
    from geo_service.auth import Principal, Role
    from geo_service.cases.evidence_geojson import FEATURES as READERS
    from geo_service.cases.evidence_scope import in_scope

    client, _, _, targets = world
    phrae = Principal("ev_phrae_inv", frozenset({Role.investigator}), provinces=frozenset({"54"}))
    assert set(READERS) == set(KINDS)
    with client.app.state.sessionmaker() as s:
        for kind in KINDS:
            asked = [targets["54"][kind], targets["55"][kind], "987654321"]
            for viewer, expected in ((phrae, {targets["54"][kind]}), (None, set(asked[:2]))):
                read = READERS[kind](s, asked, viewer)
                assert set(read) == expected == in_scope(s, kind, asked, viewer), (kind, viewer)
            assert READERS[kind](s, [targets["55"][kind]], phrae) == {}, kind


def _error(response, asked: str) -> dict:
    body = {k: v for k, v in response.json()["error"].items() if k != "request_id"}
    return {k: v.replace(f"'{asked}'", "'<id>'") if isinstance(v, str) else v for k, v in body.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_another_provinces_evidence_asked_directly_answers_like_an_unknown_id(world, kind):
    client, people, _, targets = world
    r = client.post(
        "/api/v1/cases",
        headers=people["phrae"],
        json={"title": f"Direct {kind}", "category": "other", "received_on": "2024-03-10"},
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    unknown_id = "NRF-NOPE-0" if kind in ("protected_area",) else "9999" if kind == "district" else "987654321"

    def link(target_id: str):
        return client.post(
            f"/api/v1/cases/{cid}/links",
            headers=people["phrae"],
            json={"target_type": kind, "target_id": target_id, "reason": "asked directly"},
        )

    nan, unknown = link(targets["55"][kind]), link(unknown_id)
    assert nan.status_code == unknown.status_code == 404, (nan.text, unknown.text)
    assert _error(nan, targets["55"][kind]) == _error(unknown, unknown_id)
    assert link(targets["54"][kind]).status_code == 201  # Phrae's own is linked
    # the national administrator links Nan's to the same case
    r = client.post(
        f"/api/v1/cases/{cid}/links",
        headers=people["admin"],
        json={"target_type": kind, "target_id": targets["55"][kind], "reason": nan_reason(kind)},
    )
    assert r.status_code == 201, r.text
    link_id = next(lk["id"] for lk in r.json()["links"] if lk["target_id"] == targets["55"][kind])
    # unlinking the hidden link: the same 404 as a link the case does not have, and nothing changes
    hidden, absent = (
        client.delete(f"/api/v1/cases/{cid}/links/{i}", headers=people["phrae"]) for i in (link_id, 99_999_999)
    )
    assert hidden.status_code == absent.status_code == 404
    assert _error(hidden, "") == _error(absent, "")
    after = client.get(f"/api/v1/cases/{cid}", headers=people["admin"]).json()
    assert link_id in [lk["id"] for lk in after["links"]]


def test_the_audit_trail_does_not_show_the_hidden_evidence(world):
    client, people, cid, targets = world
    mine = client.get(f"/api/v1/cases/{cid}/audit", headers=people["phrae"])
    assert mine.status_code == 200, mine.text
    assert any(e["action"] == "update" for e in mine.json())
    assert _nan_tokens_in(mine.text) == []
    entry = next(e for e in mine.json() if e["action"] == "update")
    assert sorted(lk["target_id"] for lk in entry["after"]["links"]) == sorted(targets["54"][k] for k in KINDS)
    assert entry["after"]["evidence_hidden"] == 10
    national = client.get(f"/api/v1/cases/{cid}/audit", headers=people["admin"])
    assert _nan_tokens_in(national.text) == list(KINDS)


@pytest.mark.slow
def test_no_public_output_carries_case_evidence(world):
    client = world[0]
    paths = sorted(p for (m, p), policy in POLICY.items() if policy == PUBLIC and m == "GET" and "{" not in p)
    urls = paths + [f"/open/data/{name}.csv" for name in OPEN_TABLES]
    urls += [f"/ogc/collections/{name}/items?f=json&limit=1000" for name, c in COLLECTIONS.items() if c.public]
    assert "/open" in urls and "/catalog.json" in urls
    reached = 0
    for url in urls:
        r = client.get(url)  # anonymous
        assert r.status_code < 500, url
        reached += r.status_code == 200
        body = r.content.decode("utf-8", errors="ignore")
        assert [k for k in KINDS if nan_reason(k) in body or phrae_reason(k) in body] == [], url
        assert '"target_type"' not in body and "Evidence on both sides" not in body, url
    assert reached >= 10


def test_suggestions_start_from_and_offer_only_the_readers_evidence(world):
    client, people, cid, targets = world

    def suggested(headers) -> tuple[str, set[str]]:
        r = client.get(f"/api/v1/cases/{cid}/suggestions", headers=headers)
        assert r.status_code == 200, r.text
        return r.text, {s["target_id"] for s in r.json()["suggestions"] if s["target_type"] == "hotspot"}

    nan_incident = f"INC-{int(targets['55']['incident']):06d}"
    body, mine = suggested(people["phrae"])
    assert mine == {targets["unlinked_hotspot"]["54"]}  # near Phrae's incident; nothing near the hidden Nan one
    assert nan_incident not in body
    body, everything = suggested(people["admin"])
    assert everything == set(targets["unlinked_hotspot"].values()) and nan_incident in body


@pytest.mark.parametrize("kind", ["incident", "hotspot", "fire_event", "raster_stat", "clearing_patch", "red_flag"])
def test_an_id_that_is_not_a_number_is_an_unknown_id(world, kind):
    client, people, cid, _ = world
    for odd in ("١٢", "²", "9" * 25, "-1", "1 OR 1=1"):  # Arabic-Indic digits, a superscript, past bigint
        r = client.post(
            f"/api/v1/cases/{cid}/links",
            headers=people["phrae"],
            json={"target_type": kind, "target_id": odd, "reason": "typo"},
        )
        assert r.status_code == 404, (odd, r.text)


def test_a_protected_area_lies_where_its_interior_meets_a_province_touching_is_not(pg_cluster, template_db, tmp_path):
    """The protected areas' rule (``layers.queries``: interiors meet) with its shortcut (one interior point of the
    reserve inside the province decides at once; otherwise the full outline test), against synthetic Nan
    (100.6-101.2 E, 18.3-18.9 N): a reserve inside Nan, one across its western edge whose interior point lies west of
    it (only the full test can find its part in Nan), and one that only touches that edge."""
    from geo_service.auth import Principal, Role
    from geo_service.layers import queries
    from tests.provinces import database_with_nan

    reserves = {
        "NRF-IN-NAN": box(100.8, 18.5, 100.9, 18.6),
        "NRF-ACROSS": box(100.3, 18.5, 100.62, 18.6),  # interior point at 100.46 E; 0.02 deg of it in Nan
        "NRF-TOUCH": box(100.5, 18.5, 100.6, 18.6),  # its east edge is Nan's west edge
    }
    nan = Principal("nan_inv", frozenset({Role.investigator}), provinces=frozenset({"55"}))
    with database_with_nan(pg_cluster, template_db) as (_, factory):
        for code, outline in reserves.items():
            load_protected_areas(
                factory, protected_area_file(tmp_path / f"{code}.geojson", code, "1", "2000-01-01", outline), code, "1"
            )
        with factory() as s:
            codes = sorted(reserves)
            assert queries.existing_protected_area_codes(s, codes, nan) == {"NRF-IN-NAN", "NRF-ACROSS"}
            assert set(queries.protected_area_features(s, codes, nan)) == {"NRF-IN-NAN", "NRF-ACROSS"}
            assert queries.existing_protected_area_codes(s, codes, None) == set(codes)
