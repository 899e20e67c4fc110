"""The red-flag layer of the staff maps (issue 15, "flags ... map layer"): on the overview and on a case's map, drawn
from each flag's subject shape, styled by severity, with escaped Thai and English popups; the flags list's roles
(never on a committee member's map: no parcel shape, no document number) and province scope (Phrae vs Nan);
dismissed flags hidden by default; the flags list's filters as ``flags_*`` query parameters.

The layer's GeoJSON is read back out of the page (folium writes it as the argument of ``<layer>_add(...)``)."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from geo_service.maps import escaping as esc
from geo_service.maps import flag_layers as RF
from geo_service.redflags.rules import RULE_LABELS
from tests.conftest import PASSWORD, reserve_point
from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan, load_red_flag_records
from tests.samples import post_viirs

RESERVE = "NRF-PR-004"
HOSTILE_PROJECT = "<script>window.__pwned=1</script> แนวกันไฟ `${x}` {{7*7}}"
HOSTILE_CONTRACTOR = '"onmouseover=window.__pwned=1 x=" หจก. ไฟป่า'
HOSTILE_AGENCY = "กรมป่าไม้ <img src=x onerror=alert(1)>"
DOC_NUMBER = "DOC-SECRET-7731"
PARCEL_DX = 0.02137  # the parcel's distinctive corner offset (its coordinates are looked for in the pages)


def parcel_corner(centre) -> re.Pattern:
    """The parcel's south-west corner, lon then lat, as GeoJSON writers print it (4 and 3 decimals at least)."""
    lon, lat = centre
    return re.compile(re.escape(f"{lon + PARCEL_DX:.5f}"[:-1]) + r"\d*,\s?" + re.escape(f"{lat:.4f}"[:-1]) + r"\d*")


def feature_collections(html: str) -> list[dict]:
    """Every GeoJSON FeatureCollection folium embedded in the page (``geo_json_..._add({...})``)."""
    out = []
    decoder = json.JSONDecoder()
    for m in re.finditer(r"geo_json_[0-9a-f]+_add\(", html):
        try:
            value, _ = decoder.raw_decode(html, m.end())
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("type") == "FeatureCollection":
            out.append(value)
    return out


def flag_features(html: str) -> list[dict]:
    """The red-flag layer's features (their properties carry a severity and a status)."""
    return [
        f
        for fc in feature_collections(html)
        for f in fc["features"]
        if {"severity", "status", "label"} <= set(f["properties"])
    ]


def flag_count_lines(html: str) -> tuple[str, str]:
    """The red-flag legend's count line, Thai and English, as the browser shows them (text between the heading and
    the first severity swatch)."""
    m = re.search(r"สัญญาณเตือน / red flags</b>(.*?)<span class='sw'", unescape(html), re.S)
    assert m, "no red-flag legend"
    parts = [unescape(re.sub(r"<[^>]+>", " ", x)).strip() for x in m.group(1).split("<br>")]
    parts = [" ".join(x.split()) for x in parts if x.strip(" ()")]
    assert len(parts) == 2, parts
    return parts[0], parts[1]


def flag_ids(html: str) -> set[int]:
    return {int(re.search(r"red flag #(\d+)", f["properties"]["label"]).group(1)) for f in flag_features(html)}


@pytest.fixture
def centre(sessionmaker_for, db_url):
    return reserve_point(sessionmaker_for(db_url), RESERVE)


def geojson_file(features: list[tuple[dict, dict]]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
        }
    ).encode()


def ring(lon, lat, d):
    return [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]


def seed_flags(client, admin_headers, centre) -> dict:
    """A firebreak polygon (hostile project, contractor and agency) and a 20 m firebreak line, both burned in
    March 2024 (FY 2567); a parcel issued inside the reserve in 2005 (FY 2548)."""
    lon, lat = centre
    poly = {"type": "Polygon", "coordinates": [ring(lon, lat, 0.004)]}
    line = {"type": "LineString", "coordinates": [[lon - 0.01, lat + 0.01], [lon + 0.01, lat + 0.01]]}
    base = {"work_type": "firebreak", "fiscal_year_be": 2567, "start_date": "2023-10-01", "end_date": "2024-05-31"}
    contracts = [
        (
            poly,
            {
                **base,
                "contract_number": "FB-MAP-1",
                "project_name": HOSTILE_PROJECT,
                "agency": HOSTILE_AGENCY,
                "contractor": HOSTILE_CONTRACTOR,
                "paid_thb": 100000,
            },
        ),
        (
            line,
            {
                **base,
                "contract_number": "FB-MAP-LINE",
                "project_name": "แนวกันไฟเส้น",
                "agency": "Royal Forest Department",
                "contractor": "Line Co.",
                "width_m": 20,
                "paid_thb": 50000,
            },
        ),
    ]
    r = client.post(
        "/api/v1/admin/redflags/contracts",
        headers=admin_headers,
        files={"file": ("c.geojson", geojson_file(contracts), "application/geo+json")},
    )
    assert r.status_code == 201, r.text
    p = [
        [
            [lon + PARCEL_DX, lat],
            [lon + PARCEL_DX + 0.002, lat],
            [lon + PARCEL_DX + 0.002, lat + 0.002],
            [lon + PARCEL_DX, lat + 0.002],
            [lon + PARCEL_DX, lat],
        ]
    ]
    parcel = (
        {"type": "Polygon", "coordinates": p},
        {"doc_type": "chanote", "doc_number": DOC_NUMBER, "issue_date": "2005-06-15"},
    )
    r = client.post(
        "/api/v1/admin/redflags/parcels",
        headers=admin_headers,
        files={"file": ("p.geojson", geojson_file([parcel]), "application/geo+json")},
    )
    assert r.status_code == 201, r.text
    dlat = 1 / 110_700
    post_viirs(
        client,
        admin_headers,
        [
            f"{lat},{lon},330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,n,2.0NRT,290.0,5.0,D\n",
            f"{lat + 0.01 + 5 * dlat:.6f},{lon},330.0,0.4,0.4,2024-03-15,0630,N,VIIRS,n,2.0NRT,290.0,5.0,D\n",
        ],
    )
    flags = client.get("/api/v1/redflags/flags", headers=admin_headers, params={"limit": 500}).json()["items"]
    contracts_out = client.get("/api/v1/redflags/contracts", headers=admin_headers).json()["items"]
    ids = {c["contract_number"]: c["id"] for c in contracts_out}
    by = {}
    for f in flags:
        if f["rule"] == "fire_in_fire_contract":
            by["fire_poly" if f["contract_ids"] == [ids["FB-MAP-1"]] else "fire_line"] = f
        elif f["rule"] == "document_in_reserve" and f["reserve_code"] == RESERVE:
            by["document"] = f
    assert {"fire_poly", "fire_line", "document"} <= set(by), [(f["rule"], f["contract_ids"]) for f in flags]
    return {"flags": by, "contracts": ids, "all": flags}


def overview(client, headers, **params):
    r = client.get("/maps/overview", headers=headers, params={"fiscal_year_be": 2567, **params})
    assert r.status_code == 200, r.text[:500]
    return r.text


@pytest.mark.slow
def test_overview_draws_flags_by_severity_with_escaped_popups(client, admin_headers, login, centre, monkeypatch):
    seeded = seed_flags(client, admin_headers, centre)
    fire, line, doc = (seeded["flags"][k] for k in ("fire_poly", "fire_line", "document"))
    inv = login("inv_map", "investigator")
    html = overview(client, inv)
    assert "Red flags (contracts, land documents)" in html and RF.CREDIT in html
    features = {int(re.search(r"red flag #(\d+)", f["properties"]["label"]).group(1)): f for f in flag_features(html)}
    assert {fire["id"], line["id"], doc["id"]} <= set(features)
    # shapes: the contract's polygon, the line as its 20 m strip (a polygon), the parcel
    assert features[fire["id"]]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    strip = features[line["id"]]["geometry"]
    assert strip["type"] in ("Polygon", "MultiPolygon")
    lats = [
        pt[1]
        for poly in ([strip["coordinates"]] if strip["type"] == "Polygon" else strip["coordinates"])
        for pt in poly[0]
    ]
    assert (max(lats) - min(lats)) * 110_700 == pytest.approx(20, abs=1.5)  # 20 m wide, north to south
    assert features[doc["id"]]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # severity drives the style (the style function reads these properties)
    assert features[fire["id"]]["properties"]["severity"] == fire["severity"]
    assert features[doc["id"]]["properties"]["status"] == "open"
    # the popup: every user string escaped once, as text; the figures say over which area and period
    label = features[fire["id"]]["properties"]["label"]
    for hostile in (HOSTILE_PROJECT, HOSTILE_CONTRACTOR, HOSTILE_AGENCY):
        assert hostile not in html
        assert esc.text(hostile) in label, hostile
    assert "<script>" not in label and '"onmouseover' not in label and "<img" not in label
    plain = unescape(label)  # what the browser shows
    assert "FB-MAP-1" in plain and "fiscal year 2567 (พ.ศ. / BE)" in plain and "status: เปิด / open" in plain
    assert f"severity: {RF.SEVERITY[fire['severity']][0]} / {fire['severity']}" in plain
    assert "ไฟไหม้ในพื้นที่สัญญาป้องกันไฟป่า / Fire inside a fire-prevention contract area" in plain
    assert "Counted inside the contract area" in plain and "over the contract period 1/10/2566 – 31/5/2567" in plain
    assert "within 1,000 m outside it" in plain
    assert "detections: 1" in plain and "paid_thb: 100,000" in plain
    assert f"href='/api/v1/redflags/contracts/{seeded['contracts']['FB-MAP-1']}/sheet'" in plain
    # the hover line names the rule and severity in Thai first, then English (it was English only)
    rule_th, rule_en = RULE_LABELS["fire_in_fire_contract"]
    sev_th = RF.SEVERITY[fire["severity"]][0]
    tip = unescape(features[fire["id"]]["properties"]["tip"])
    assert tip == f"#{fire['id']} {rule_th} ({sev_th}) / {rule_en} ({fire['severity']})", tip
    doc_plain = unescape(features[doc["id"]]["properties"]["label"])
    assert DOC_NUMBER in doc_plain and "href='/api/v1/redflags/parcels/" in doc_plain
    assert "in force on the issue date 15/6/2548" in doc_plain
    # the legend says what is counted: the provinces and the fiscal years
    assert "contracts of fiscal year 2567 BE" in html and "dismissed flags left out" in html
    # every flag drawn: the count line says so in Thai and English, and names nothing left out
    n = len(features)
    th, en = flag_count_lines(html)
    assert th == f"แสดงทั้งหมด {n} รายการ" and en == f"all {n} shown", (th, en)
    # above MAP_FLAGS the highest severities are drawn and the legend says, in both languages, how many were shown,
    # of how many, and how many were left out (Thai officials read the Thai line first)
    monkeypatch.setattr(RF, "MAP_FLAGS", 1)
    capped = overview(client, inv)
    shown = flag_features(capped)
    assert len(shown) == 1 and shown[0]["properties"]["severity"] == "high"
    th, en = flag_count_lines(capped)
    assert th == f"แสดง 1 จาก {n} รายการ (ระดับสูงสุดก่อน); ไม่แสดง {n - 1} รายการ", th
    assert en == f"1 shown of {n} (the 1 of highest severity); {n - 1} left out", en


@pytest.mark.slow
def test_committee_and_field_officer_maps_never_carry_flags_or_parcels(client, admin_headers, login, centre):
    seed_flags(client, admin_headers, centre)
    corner = parcel_corner(centre)
    inv = overview(client, login("inv_c", "investigator"))
    assert DOC_NUMBER in inv and corner.search(inv)  # the checks below can see a parcel when it is there
    committee = login("com_c", "committee_member")
    for params in ({}, {"flags_dismissed": True}, {"flags_rule": "document_in_reserve"}):
        html = overview(client, committee, **params)
        assert flag_features(html) == [] and "Red flags (contracts" not in html and RF.CREDIT not in html
        assert DOC_NUMBER not in html and not corner.search(html)
        assert "FB-MAP-1" not in html and esc.text(HOSTILE_CONTRACTOR) not in html
    assert client.get("/maps/overview", headers=login("fo_c", "field_officer")).status_code == 403
    assert client.get("/maps/overview").status_code == 401


@pytest.mark.slow
def test_filters_dismissed_flags_and_the_period(client, admin_headers, login, centre):
    seeded = seed_flags(client, admin_headers, centre)
    fire, line, doc = (seeded["flags"][k] for k in ("fire_poly", "fire_line", "document"))
    inv = login("inv_f", "investigator")
    every = flag_ids(overview(client, inv))
    cases = [
        ({"flags_agency": HOSTILE_AGENCY}, {fire["id"]}),
        ({"flags_agency": "Royal Forest Department"}, {line["id"]}),
        ({"flags_contractor": "Line Co."}, {line["id"]}),
        ({"flags_contractor": "Nobody"}, set()),
        ({"flags_reserve": RESERVE, "flags_rule": "document_in_reserve"}, {doc["id"]}),
        ({"flags_fiscal_year_be": 2548}, {f["id"] for f in seeded["all"] if f["fiscal_year_be"] == 2548}),
        ({"flags_fiscal_year_be": 2566}, set()),
        (
            {"flags_district": fire["district_code"] or "x"},
            {f["id"] for f in seeded["all"] if f["district_code"] == fire["district_code"]},
        ),
    ]
    for params, expected in cases:
        page = overview(client, inv, **params)
        assert flag_ids(page) == expected, (params, flag_ids(page), expected)
        assert HOSTILE_AGENCY not in page  # the filter is named in the legend, escaped
    assert "filters agency = " + HOSTILE_AGENCY in unescape(overview(client, inv, flags_agency=HOSTILE_AGENCY))
    # the period: another fiscal year shows no contract flag, but the standing land-document flags
    other_year = flag_ids(overview(client, inv, fiscal_year_be=2566))
    assert fire["id"] not in other_year and line["id"] not in other_year and doc["id"] in other_year
    # a dismissed flag leaves the map, and comes back (dashed, with who and why) when asked for
    r = client.post(
        f"/api/v1/redflags/flags/{fire['id']}/dismiss", headers=inv, json={"reason": "Prescribed <b>burn</b>"}
    )
    assert r.status_code == 200, r.text
    assert fire["id"] not in flag_ids(overview(client, inv)) and every - {fire["id"]} == flag_ids(overview(client, inv))
    html = overview(client, inv, flags_dismissed=True)
    shown = {
        f["properties"]["status"]: f
        for f in flag_features(html)
        if "#" + str(fire["id"]) + ":" in f["properties"]["label"]
    }
    assert (
        "dismissed" in shown and "Prescribed &lt;b&gt;burn&lt;&#47;b&gt;" in shown["dismissed"]["properties"]["label"]
    )
    assert "ยกเลิกแล้ว / dismissed" in unescape(html)  # its legend line
    # a bad filter is a 422 with a message, not a map
    assert client.get("/maps/overview", headers=inv, params={"flags_fiscal_year_be": 99}).status_code == 422


@pytest.fixture
def two_provinces(db_url, sessionmaker_for, client_factory, admin_headers):
    load_nan(sessionmaker_for(db_url))
    client = client_factory(db_url)
    ids = {
        "54": load_red_flag_records(client, admin_headers, PHRAE_POINT, "phrae"),
        "55": load_red_flag_records(client, admin_headers, NAN_POINT, "nan"),
    }

    def login(username: str, roles: list[str], provinces: list[str] | None) -> dict:
        body = {"username": username, "password": PASSWORD, "roles": roles}
        if provinces is not None:
            body["provinces"] = provinces
        assert client.post("/api/v1/admin/users", headers=admin_headers, json=body).status_code == 201
        r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return client, ids, login


@pytest.mark.slow
def test_flags_keep_to_the_callers_provinces(two_provinces, admin_headers):
    client, ids, login = two_provinces
    phrae = login("phrae_map", ["investigator"], ["54"])
    nan = login("nan_map", ["investigator"], ["55"])
    for headers, mine, theirs in ((phrae, "54", "55"), (nan, "55", "54")):
        html = overview(client, headers, flags_rule="outside_named_area")
        assert flag_ids(html) == {ids[mine]["flag_id"]}, html[-2000:]
        assert f"FB-{'phrae' if theirs == '54' else 'nan'}" not in html
        assert "Counted: province " in html and f" ({mine}); contracts of fiscal year 2567" in html
    national = overview(client, admin_headers, flags_rule="outside_named_area")
    assert flag_ids(national) == {ids["54"]["flag_id"], ids["55"]["flag_id"]} and "Counted: every province" in national
    # a committee member of Phrae: no flags at all
    committee = overview(client, login("phrae_com", ["committee_member"], ["54"]))
    assert flag_features(committee) == [] and "P-phrae" not in committee and "P-nan" not in committee


@pytest.mark.slow
def test_case_map_shows_its_flags_and_the_open_flags_in_its_reserves(client, admin_headers, login, centre):
    seeded = seed_flags(client, admin_headers, centre)
    fire, line, doc = (seeded["flags"][k] for k in ("fire_poly", "fire_line", "document"))
    inv = login("inv_case", "investigator")
    case = client.post(f"/api/v1/redflags/flags/{fire['id']}/case", headers=inv, json={})
    assert case.status_code == 201, case.text
    case = case.json()
    html = client.get(f"/maps/cases/{case['id']}", headers=inv)
    assert html.status_code == 200, html.text[:500]
    shown = flag_ids(html.text)
    # the flag that opened the case, plus the open flags inside its reserve (the case links the flag's reserve)
    assert fire["id"] in shown
    linked_reserves = {x["target_id"] for x in case["links"] if x["target_type"] == "protected_area"}
    assert linked_reserves == {RESERVE}
    assert {doc["id"], line["id"]} <= shown  # open, still found, in NRF-PR-004
    page = unescape(html.text)
    # the parcel's flag about the park overlapping the reserve is drawn too: its shape lies in NRF-PR-004
    parcel_flags = {f["id"] for f in seeded["all"] if f["rule"] == "document_in_reserve"}
    assert shown == {fire["id"], line["id"]} | parcel_flags
    assert f"Red flags of this case ({len(shown)})" in page and f"{len(shown)} red flags" in page
    label = next(f for f in flag_features(html.text) if f"#{fire['id']}:" in f["properties"]["label"])
    assert esc.text(HOSTILE_PROJECT) in label["properties"]["label"]
    assert HOSTILE_PROJECT not in html.text and HOSTILE_CONTRACTOR not in html.text
    # a dismissed flag inside the reserve is not offered; the linked one stays whatever its status
    client.post(f"/api/v1/redflags/flags/{doc['id']}/dismiss", headers=inv, json={"reason": "survey error"})
    after = flag_ids(client.get(f"/maps/cases/{case['id']}", headers=inv).text)
    assert doc["id"] not in after and fire["id"] in after


@pytest.mark.slow
def test_sheet_and_brief_say_over_which_area_and_period_they_count(client, admin_headers, login, centre):
    """Every figure a person reads names its area and period: the sheet prints, for each flag, where and over which
    days its figures count (the contract area and period, the parcel against the boundary in force on its issue day);
    the brief names the fiscal years of the contract flags and the province it counts."""
    seeded = seed_flags(client, admin_headers, centre)
    inv = login("inv_sheet", "investigator")
    sheet = unescape(
        client.get(f"/api/v1/redflags/contracts/{seeded['contracts']['FB-MAP-1']}/sheet", headers=inv).text
    )
    assert "Counted inside the contract area" in sheet and "over the contract period 1/10/2566 – 31/5/2567" in sheet
    assert "protected side: within 1,000 m outside it" in sheet and "นับในพื้นที่สัญญา" in sheet
    assert "period: 1/10/2566, 31/5/2567" in sheet and "first_day: 14/3/2567" in sheet  # figures' days in BE
    assert "2024-03-14" not in sheet.split("Timeline")[0]
    line = client.get(f"/api/v1/redflags/contracts/{seeded['contracts']['FB-MAP-LINE']}/sheet", headers=inv).text
    assert "Counted inside the contract area (" in unescape(line)
    doc = seeded["flags"]["document"]
    parcel_sheet = unescape(client.get(f"/api/v1/redflags/parcels/{doc['parcel_ids'][0]}/sheet", headers=inv).text)
    assert f"against the boundary of {RESERVE} in force on the issue date 15/6/2548" in parcel_sheet
    committee = login("com_brief", "committee_member")
    made = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567, "province": "54"})
    assert made.status_code == 201, made.text
    assert made.json()["figures"]["red_flags"]["fiscal_years_be"] == [2567]
    page = unescape(client.get(f"/api/v1/briefs/{made.json()['id']}", headers=committee).text)
    assert "contracts of this period's fiscal years (2567 BE)" in page and "Flags of Phrae province (54)" in page
    assert "red-flags-scope" in page and "ของสัญญาปีงบประมาณ 2567" in page


def test_counted_over_says_the_area_in_rai_as_a_figure_and_a_missing_one_as_unknown():
    """The sheet's and popup's "counted over" line: the contract or plot area with thousands separators (not a raw
    float), days in BE, and "?" (never "None") for a figure an older run did not record."""
    from geo_service.redflags.rules import counted_over

    fire = {
        "rule": "fire_in_fire_contract",
        "figures": {"contract_area_rai": 1234.5, "period": ["2024-01-01", "2024-05-31"]},
    }
    th, en = counted_over(fire)
    assert "(1,234.5 ไร่)" in th and "(1,234.5 rai) over the contract period 1/1/2567 – 31/5/2567" in en
    th, en = counted_over({"rule": "reforestation_loss", "figures": {"window": ["2020-06-01", None]}})
    assert "(? rai) from the contract start 1/6/2563 to ?" in en and "(? ไร่)" in th and "None" not in th + en
