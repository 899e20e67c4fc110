"""Red flags through the API: loads (CSV with WKT in UTM and cp874, GeoJSON), the listener on a hotspot ingest,
filters, edits with If-Match, dismissal, a case opened from a flag, suggestions, the sheet, and who may see what."""

from __future__ import annotations

import json

import pytest
from pyproj import Transformer

from tests.conftest import reserve_point
from tests.samples import post_viirs

TO_UTM = Transformer.from_crs(4326, 32647, always_xy=True)
RESERVE = "NRF-PR-004"
HOSTILE = '<script>alert("x")</script> `${x}`'


@pytest.fixture
def centre(sessionmaker_for, db_url):
    return reserve_point(sessionmaker_for(db_url), RESERVE)


def utm_box(lon, lat, half_m=500):
    x, y = TO_UTM.transform(lon, lat)
    return (
        f"POLYGON(({x - half_m} {y - half_m},{x + half_m} {y - half_m},{x + half_m} {y + half_m},"
        f"{x - half_m} {y + half_m},{x - half_m} {y - half_m}))"
    )


def contracts_csv(lon, lat) -> bytes:
    x, y = TO_UTM.transform(lon, lat)
    rows = [
        "egp_no,name,agency,contractor,work,budget,paid,fy,start,end,wkt,width",
        f'FB-2567-001,{HOSTILE.replace(",", " ")},กรมป่าไม้,หจก. ไฟป่า,แนวกันไฟ,"120,000",100000,2567,01/10/2566,31/05/2567,'
        f'"{utm_box(lon, lat)}",',
        f"FB-2567-002,แนวกันไฟเส้น,กรมป่าไม้,หจก. ไฟป่า,firebreak,50000,50000,2567,2023-10-01,2024-05-31,"
        f'"LINESTRING({x - 1000} {y + 2000},{x + 1000} {y + 2000})",20',
    ]
    return ("\n".join(rows) + "\n").encode("cp874")


FIELDS = json.dumps(
    {
        "contract_number": "egp_no",
        "project_name": "name",
        "work_type": "work",
        "budget_thb": "budget",
        "paid_thb": "paid",
        "fiscal_year_be": "fy",
        "start_date": "start",
        "end_date": "end",
        "width_m": "width",
    }
)


def load_contracts(client, headers, lon, lat):
    return client.post(
        "/api/v1/admin/redflags/contracts",
        headers=headers,
        files={"file": ("contracts.csv", contracts_csv(lon, lat), "text/csv")},
        data={"fields": FIELDS, "encoding": "cp874", "crs": "EPSG:32647", "version": "2567-1"},
    )


def parcels_geojson(lon, lat, issued: str) -> bytes:
    d = 0.001
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {"doc_type": "น.ส. 3 ก.", "doc_number": "1234", "issue_date": issued},
                }
            ],
        }
    ).encode()


def viirs_row(lat, lon, day):
    return f"{lat},{lon},330.0,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290.0,5.0,D\n"


def test_load_ingest_flag_edit_dismiss_and_open_a_case(client, admin_headers, login, centre):
    lon, lat = centre
    r = load_contracts(client, admin_headers, lon, lat)
    assert r.status_code == 201, r.text
    assert (r.json()["inserted"], r.json()["source_crs"]) == (2, "EPSG:32647")
    again = load_contracts(client, admin_headers, lon, lat).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)
    inv = login("inv", "investigator")
    contracts = client.get("/api/v1/redflags/contracts", headers=inv, params={"contractor": "หจก. ไฟป่า"}).json()
    assert contracts["total"] == 2
    first = next(c for c in contracts["items"] if c["contract_number"] == "FB-2567-001")
    line = next(c for c in contracts["items"] if c["contract_number"] == "FB-2567-002")
    assert first["agency"] == "กรมป่าไม้" and float(first["budget_thb"]) == 120000
    assert first["area"]["rai"] == pytest.approx(1_000_000 / 1600, rel=0.01)  # 1 km x 1 km in UTM
    assert line["area"]["m2"] == pytest.approx(2000 * 20, rel=0.01)
    # a hotspot ingest runs the rules in its transaction (wiring: hotspots -> red flags)
    post_viirs(client, admin_headers, [viirs_row(lat, lon, "2024-03-14")])
    flags = client.get("/api/v1/redflags/flags", headers=inv, params={"rule": "fire_in_fire_contract"}).json()
    assert flags["total"] == 1
    flag = flags["items"][0]
    assert flag["contract_ids"] == [first["id"]] and flag["figures"]["detections"] == 1
    assert flag["rule_th"] and flag["reason_en"].startswith("1 fire detections")
    for params, n in (
        ({"agency": "กรมป่าไม้"}, 1),
        ({"agency": "Other"}, 0),
        ({"contractor": "หจก. ไฟป่า"}, 1),
        ({"fiscal_year_be": 2567}, 1),
        ({"fiscal_year_be": 2566}, 0),
    ):
        assert client.get("/api/v1/redflags/flags", headers=inv, params=params).json()["total"] == n, params
    layer = client.get("/api/v1/redflags/flags.geojson", headers=inv)
    assert layer.headers["content-type"].startswith("application/geo+json")
    assert [f["id"] for f in layer.json()["features"]] == [flag["id"]]
    view = client.get("/api/v1/redflags/contractors/หจก. ไฟป่า", headers=inv).json()
    assert view["contracts"] == 2 and view["by_rule"] == {"fire_in_fire_contract": 1} and view["paid_thb"] == 150000

    # edits: If-Match required, a stale version refused, a good one applied, audited and the rules re-run
    url = f"/api/v1/redflags/contracts/{first['id']}"
    assert client.patch(url, headers=admin_headers, json={"paid_thb": 1}).status_code == 428
    assert client.patch(url, headers={**admin_headers, "If-Match": 'W/"7"'}, json={"paid_thb": 1}).status_code == 412
    ok = client.patch(url, headers={**admin_headers, "If-Match": 'W/"1"'}, json={"end_date": "2024-03-01"})
    assert ok.status_code == 200, ok.text
    assert ok.headers["ETag"] == 'W/"2"' and ok.json()["end_date"] == "2024-03-01"
    gone = client.get(f"/api/v1/redflags/flags/{flag['id']}", headers=inv).json()
    assert gone["current"] is False  # the fire of 14 March is now after the contract's end
    bad = client.patch(
        f"/api/v1/redflags/contracts/{line['id']}",
        headers={**admin_headers, "If-Match": 'W/"1"'},
        json={"geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.01, lat]]}, "width_m": None},
    )
    assert bad.status_code == 400 and "width" in bad.json()["error"]["message"]
    ok = client.patch(url, headers={**admin_headers, "If-Match": 'W/"2"'}, json={"end_date": "2024-05-31"})
    assert client.get(f"/api/v1/redflags/flags/{flag['id']}", headers=inv).json()["current"] is True

    # dismissal: a reason, audited, never recreated by a re-run
    d = client.post(
        f"/api/v1/redflags/flags/{flag['id']}/dismiss", headers=inv, json={"reason": "Prescribed burn, permit 12/2567"}
    )
    assert d.status_code == 200 and d.json()["status"] == "dismissed"
    assert (
        client.post(f"/api/v1/redflags/flags/{flag['id']}/dismiss", headers=inv, json={"reason": "again!"}).status_code
        == 409
    )
    run = client.post("/api/v1/admin/redflags/run", headers=admin_headers, json={}).json()
    assert {r["rule"] for r in run["rules"]} >= {"fire_in_fire_contract", "recurrence"}
    after = client.get(f"/api/v1/redflags/flags/{flag['id']}", headers=inv).json()
    assert after["status"] == "dismissed" and [h["action"] for h in after["history"]][-1] == "dismissed"
    assert client.post(f"/api/v1/redflags/flags/{flag['id']}/case", headers=inv, json={}).status_code == 409

    # a parcel issued inside the reserve: a case opened from its flag links the flag, the parcel and the reserve
    p = client.post(
        "/api/v1/admin/redflags/parcels",
        headers=admin_headers,
        files={"file": ("parcels.geojson", parcels_geojson(lon + 0.02, lat, "15/06/2548"))},
    )
    assert p.status_code == 201, p.text
    pflag = client.get("/api/v1/redflags/flags", headers=inv, params={"rule": "document_in_reserve"}).json()["items"][0]
    # a case on the reserve is offered the open flags about it, not the dismissed one
    other = client.post(
        "/api/v1/cases", headers=inv, json={"title": "Reserve watch", "category": "other", "received_on": "2024-06-01"}
    ).json()
    linked_reserve = client.post(
        f"/api/v1/cases/{other['id']}/links",
        headers=inv,
        json={"target_type": "protected_area", "target_id": pflag["reserve_code"], "reason": "the reserve"},
    )
    assert linked_reserve.status_code in (200, 201), linked_reserve.text
    sug = client.get(f"/api/v1/cases/{other['id']}/suggestions", headers=inv).json()["suggestions"]
    offered = {s["target_id"] for s in sug if s["target_type"] == "red_flag"}
    assert str(pflag["id"]) in offered and str(flag["id"]) not in offered
    case = client.post(f"/api/v1/redflags/flags/{pflag['id']}/case", headers=inv, json={})
    assert case.status_code == 201, case.text
    counts = case.json()["evidence_counts"]
    assert (counts["red_flag"], counts["parcel"], counts["protected_area"]) == (1, 1, 1)
    assert case.json()["category"] == "land_documents_in_reserve"
    linked = client.get(f"/api/v1/redflags/flags/{pflag['id']}", headers=inv).json()
    assert linked["status"] == "linked" and linked["case_id"] == case.json()["id"]
    pack = client.get(f"/api/v1/cases/{case.json()['id']}/evidence-pack", headers=inv)
    assert pack.status_code == 200 and f"red_flag {pflag['id']}" in pack.text
    # linking it to the other case too; a second time is refused
    lk = client.post(f"/api/v1/redflags/flags/{pflag['id']}/link", headers=inv, json={"case_id": other["id"]})
    assert lk.status_code == 200, lk.text
    again = client.post(f"/api/v1/redflags/flags/{pflag['id']}/link", headers=inv, json={"case_id": other["id"]})
    assert again.status_code == 409


def test_parcels_and_flags_only_for_investigators_and_administrators(client, admin_headers, login, centre):
    lon, lat = centre
    p = client.post(
        "/api/v1/admin/redflags/parcels",
        headers=admin_headers,
        files={"file": ("parcels.geojson", parcels_geojson(lon, lat, "2000-01-01"))},
    )
    assert p.status_code == 201, p.text
    pid = client.get("/api/v1/redflags/parcels", headers=admin_headers).json()["items"][0]["id"]
    flag_id = client.get("/api/v1/redflags/flags", headers=admin_headers).json()["items"][0]["id"]
    urls = [
        "/api/v1/redflags/parcels",
        f"/api/v1/redflags/parcels/{pid}",
        f"/api/v1/redflags/parcels/{pid}/sheet",
        "/api/v1/redflags/flags",
        "/api/v1/redflags/flags.geojson",
        f"/api/v1/redflags/flags/{flag_id}",
    ]
    for role in ("committee_member", "partner", "field_officer", "national_viewer"):
        headers = login(f"u_{role}", role)
        for url in urls:
            assert client.get(url, headers=headers).status_code == 403, (role, url)
    for url in urls:
        assert client.get(url).status_code == 401
    inv = login("inv2", "investigator")
    for url in urls:
        assert client.get(url, headers=inv).status_code == 200, url
    sheet = client.get(f"/api/v1/redflags/parcels/{pid}/sheet", headers=inv).text
    assert "CONFIDENTIAL" in sheet and "1234" in sheet and "SHA-256" in sheet


def test_sheet_escapes_what_files_bring_and_prints_hashes(client, admin_headers, login, centre):
    lon, lat = centre
    assert load_contracts(client, admin_headers, lon, lat).status_code == 201
    cid = client.get("/api/v1/redflags/contracts", headers=admin_headers).json()["items"][0]["id"]
    html = client.get(f"/api/v1/redflags/contracts/{cid}/sheet", headers=admin_headers)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in html.text and "&lt;script&gt;" in html.text
    assert "ไร่" in html.text and "Audit trail head" in html.text and "data:image/png;base64," in html.text


@pytest.mark.slow
def test_sheet_as_pdf(client, admin_headers, centre):
    lon, lat = centre
    assert load_contracts(client, admin_headers, lon, lat).status_code == 201
    cid = client.get("/api/v1/redflags/contracts", headers=admin_headers).json()["items"][0]["id"]
    pdf = client.get(f"/api/v1/redflags/contracts/{cid}/sheet.pdf", headers=admin_headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_refused_files_store_nothing(client, admin_headers, centre):
    lon, lat = centre
    x, y = TO_UTM.transform(lon, lat)
    bad_rows = [
        (
            "c.csv",
            f'contract_number,project_name,agency,work_type,wkt\nA-1,p,a,firebreak,"LINESTRING({lon} {lat},{lon + 0.01} {lat})"\n',
            "width",
        ),
        ("c.csv", "contract_number,project_name,agency,work_type,wkt\nA-1,p,a,firebreak,NOT WKT\n", "not WKT"),
        (
            "c.csv",
            f'contract_number,project_name,agency,work_type,wkt\nA-1,p,a,digging,"POINT({lon} {lat})"\n',
            "work type",
        ),
        (
            "c.csv",
            f'contract_number,project_name,agency,work_type,wkt\nA-1,p,a,firebreak,"POINT({x} {y})"\n',
            "outside Thailand",
        ),
        ("c.csv", "contract_number,project_name\nA-1,p\n", "geometry column"),
    ]
    for name, body, words in bad_rows:
        r = client.post(
            "/api/v1/admin/redflags/contracts", headers=admin_headers, files={"file": (name, body.encode())}
        )
        assert 400 <= r.status_code < 500, (words, r.text)
        assert words in json.dumps(r.json(), ensure_ascii=False), (words, r.text)
    assert client.get("/api/v1/redflags/contracts", headers=admin_headers).json()["total"] == 0
    # WKT with heights is stored flat
    z = f'contract_number,project_name,agency,work_type,wkt\nZ-1,p,a,firebreak,"POLYGON Z(({lon} {lat} 5,{lon + 0.01} {lat} 5,{lon} {lat + 0.01} 5,{lon} {lat} 5))"\n'
    r = client.post("/api/v1/admin/redflags/contracts", headers=admin_headers, files={"file": ("z.csv", z.encode())})
    assert r.status_code == 201, r.text


def test_committee_brief_counts_flags_by_rule_and_agency_never_parcels(client, admin_headers, login, centre):
    lon, lat = centre
    assert load_contracts(client, admin_headers, lon, lat).status_code == 201
    post_viirs(client, admin_headers, [viirs_row(lat, lon, "2024-03-14")])
    p = client.post(
        "/api/v1/admin/redflags/parcels",
        headers=admin_headers,
        files={"file": ("parcels.geojson", parcels_geojson(lon + 0.02, lat, "15/06/2548"))},
    )
    assert p.status_code == 201
    committee = login("c1", "committee_member")
    made = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567})
    assert made.status_code == 201, made.text
    rf = made.json()["figures"]["red_flags"]
    by_rule = {r["rule"]: r for r in rf["by_rule"]}
    assert by_rule["fire_in_fire_contract"]["medium"] + by_rule["fire_in_fire_contract"]["high"] == 1
    docs = client.get("/api/v1/redflags/flags", headers=admin_headers, params={"rule": "document_in_reserve"}).json()
    assert docs["total"] >= 1  # one per reserve or park the parcel lies in
    # a standing flag on a document issued in 2005 counts in the brief of 2567
    assert sum(by_rule["document_in_reserve"][k] for k in ("high", "medium", "low")) == docs["total"]
    assert rf["by_agency"] == [{"agency": "กรมป่าไม้", "flags": 1, "high": by_rule["fire_in_fire_contract"]["high"]}]
    page = client.get(f"/api/v1/briefs/{made.json()['id']}", headers=committee).text
    assert "red-flags-by-rule" in page and "กรมป่าไม้" in page
    assert "1234" not in json.dumps(made.json()) and "1234" not in page  # the document number never appears
    assert "nor_sor_3_gor" not in page and "น.ส. 3 ก." not in page


@pytest.mark.slow
def test_command_line_loads_contracts_and_runs_the_rules(db_url, tmp_path, centre):
    import os
    import subprocess
    import sys

    lon, lat = centre
    path = tmp_path / "contracts.csv"
    path.write_bytes(contracts_csv(lon, lat))
    env = {**os.environ, "GEO_SERVICE_DATABASE_URL": db_url.render_as_string(hide_password=False), "COLUMNS": "200"}
    cli = [sys.executable, "-m", "geo_service.cli", "redflags"]
    fields = [f"--field={k}={v}" for k, v in json.loads(FIELDS).items()]
    load = subprocess.run(
        [*cli, "load-contracts", str(path), *fields, "--encoding", "cp874", "--crs", "EPSG:32647"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert load.returncode == 0, load.stderr
    assert "2 contracts: 2 new" in load.stderr + load.stdout
    run = subprocess.run(
        [*cli, "run", "--rule", "double_payment"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "double_payment" in run.stderr + run.stdout
    bad = subprocess.run([*cli, "run", "--rule", "nope"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Unknown rules: nope" in bad.stderr + bad.stdout
