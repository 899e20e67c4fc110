"""Incidents end to end on the real Phrae boundaries: attribution, coordinates, idempotency, locking, filters."""

from __future__ import annotations

import math
import uuid
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import pytest
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point
from sqlalchemy import text

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR

GEOD = Geod(ellps="WGS84")
DISTRICTS = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson").set_index("amp_code")
PROVINCE = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_province_hdx_codab_dissolved.geojson")
TAMBONS = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_tambon_hdx_codab.geojson").set_index("tam_code")


def body(lat, lon, **extra):
    return {"kind": "encroachment", "location": {"lat": lat, "lon": lon}, "description": "test", **extra}


def create(client, headers, payload, key=None, expect=201):
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = key
    r = client.post("/api/v1/incidents", json=payload, headers=h)
    assert r.status_code == expect, r.text
    return r.json()


@pytest.mark.slow
def test_attribution_inside_every_district_and_subdistrict(client, officer):
    for code, row in TAMBONS.iloc[::7].iterrows():
        p = row.geometry.representative_point()
        inc = create(client, officer, body(p.y, p.x))
        assert inc["place"]["subdistrict"]["code"] == code
        assert inc["place"]["district"]["code"] == row.amp_code
        assert inc["place"]["province_code"] == "54" and not inc["place"]["outside_province"]
    for code, row in DISTRICTS.iterrows():
        p = row.geometry.representative_point()
        inc = create(client, officer, body(p.y, p.x))
        assert inc["place"]["district"] == {"code": code, "name_th": row.ADM2_TH, "name_en": row.ADM2_EN}


@pytest.mark.parametrize("a, b", [("5401", "5404"), ("5405", "5403"), ("5406", "5402"), ("5408", "5401")])
@pytest.mark.slow
def test_both_sides_of_a_district_boundary(client, officer, a, b):
    pa, pb = DISTRICTS.geometry[a].representative_point(), DISTRICTS.geometry[b].representative_point()
    line = LineString([pa, pb])
    cross = line.intersection(DISTRICTS.geometry[a].boundary)
    cross = min(getattr(cross, "geoms", [cross]), key=lambda g: g.distance(pa))
    along = line.project(cross)
    # 30 m before and after the crossing along the line between the two districts' inner points.
    step = 30 / 111_000
    before, after = line.interpolate(along - step), line.interpolate(along + step)
    assert create(client, officer, body(before.y, before.x))["place"]["district"]["code"] == a
    assert create(client, officer, body(after.y, after.x))["place"]["district"]["code"] == b


def test_reserve_membership_and_distance(client, officer, sessionmaker_for, db_url):
    from sqlalchemy import text

    with sessionmaker_for(db_url)() as s:
        inside = s.execute(
            text(
                "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_PointOnSurface(geom) p FROM protected_areas "
                "WHERE code = 'NRF-PR-004') q"
            )
        ).one()
        hole = s.execute(
            text(
                "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_PointOnSurface(ST_MakePolygon("
                "ST_InteriorRingN(ST_GeometryN(geom, 1), 1))) p FROM protected_areas "
                "WHERE code = 'NRF-PR-001') q"
            )
        ).one()
    inc = create(client, officer, body(*inside))
    assert inc["place"]["in_reserve"] and inc["place"]["reserve_code"] == "NRF-PR-004"
    by_code = {p["code"]: p for p in inc["place"]["protected_areas"]}
    assert by_code["NRF-PR-004"]["kind"] == "national_reserved_forest" and by_code["NRF-PR-004"]["illustrative"]
    assert inc["place"]["reserve_distance_m"] > 100  # well inside
    enclave = create(client, officer, body(*hole))
    assert not enclave["place"]["in_reserve"] and "NRF-PR-001" not in [
        p["code"] for p in enclave["place"]["protected_areas"]
    ]
    assert 0 < enclave["place"]["reserve_distance_m"] < 2500  # the village enclave is ~1.6 km across


def test_formats_are_converted_and_the_text_is_kept(client, officer):
    dms = create(client, officer, {"kind": "burning", "location": {"text": "18°08'42.5\"N 100°08'30\"E"}})
    assert dms["location"]["format"] == "dms" and dms["location"]["text"] == "18°08'42.5\"N 100°08'30\"E"
    assert dms["location"]["lat"] == pytest.approx(18.145139, abs=1e-6)
    assert dms["location"]["lon"] == pytest.approx(100.141667, abs=1e-6)
    utm = create(client, officer, {"kind": "wildfire", "location": {"text": "47Q 620000 2005000"}})
    assert utm["location"]["format"] == "utm" and utm["location"]["datum"] == "WGS84"
    assert utm["place"]["district"] is not None
    indian = create(
        client, officer, {"kind": "wildfire", "location": {"text": "47Q 620000 2005000", "datum": "Indian1975"}}
    )
    shift = GEOD.inv(
        utm["location"]["lon"], utm["location"]["lat"], indian["location"]["lon"], indian["location"]["lat"]
    )[2]
    assert 200 < shift < 800  # Indian 1975 is a few hundred metres off WGS 84 here
    assert indian["location"]["datum"] == "INDIAN1975"


@pytest.mark.parametrize(
    "location, code, needle",
    [
        ({"lat": 100.14, "lon": 18.14}, "swapped_coordinates", "Did you mean latitude 18.14, longitude 100.14"),
        ({"text": "100.1417, 18.1452"}, "swapped_coordinates", "Did you mean"),
        ({"lat": 13.75, "lon": 100.5}, "outside_province", "outside Phrae"),  # Bangkok
        ({"lat": 21.03, "lon": 105.85}, "outside_thailand", "outside Thailand"),  # Hanoi
        ({"text": "48Q 620000 2005000"}, "wrong_utm_zone", "with zone 47"),  # zone 48 is outside Thailand
        ({"text": "48Q 540000 1960000"}, "wrong_utm_zone", "with zone 47"),  # zone 48 in Laos: the outline says so
        ({"text": "47Q 620000 200500"}, "utm_band_mismatch", "digit missing"),
        ({"text": "somewhere near the river"}, "unreadable_coordinates", "latitude then longitude"),
        ({"text": "18.1, 100.1", "datum": "Tokyo"}, "unknown_datum", "Indian1975"),
    ],
)
def test_position_mistakes_are_explained(client, officer, location, code, needle):
    r = client.post("/api/v1/incidents", json={"kind": "other", "location": location}, headers=officer)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == code and needle in err["message"], err
    assert client.get("/api/v1/incidents", headers=officer).json()["total"] == 0


def test_outside_the_province_only_when_confirmed(client, officer):
    inc = create(
        client, officer, {"kind": "other", "location": {"lat": 13.75, "lon": 100.5, "confirm_outside_province": True}}
    )
    assert inc["place"]["outside_province"] and inc["place"]["district"] is None


def test_locate_shows_where_a_point_falls_without_saving(client, officer):
    p = DISTRICTS.geometry["5405"].representative_point()
    r = client.post("/api/v1/incidents/locate", json={"text": f"{p.y:.6f}, {p.x:.6f}"}, headers=officer)
    assert r.status_code == 200
    assert r.json()["place"]["district"]["name_th"] == "เด่นชัย"
    assert client.get("/api/v1/incidents", headers=officer).json()["total"] == 0


def test_idempotent_creation_and_reused_key(client, officer):
    key = str(uuid.uuid4())
    payload = body(18.145, 100.14)
    first = client.post("/api/v1/incidents", json=payload, headers={**officer, "Idempotency-Key": key})
    again = client.post("/api/v1/incidents", json=payload, headers={**officer, "Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = client.post(
        "/api/v1/incidents", json={**payload, "description": "different"}, headers={**officer, "Idempotency-Key": key}
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    bad = client.post("/api/v1/incidents", json=payload, headers={**officer, "Idempotency-Key": "x"})
    assert bad.status_code == 400
    assert client.get("/api/v1/incidents", headers=officer).json()["total"] == 1


@pytest.mark.slow
def test_racing_retries_create_exactly_one(client, officer):
    key = str(uuid.uuid4())
    payload = body(18.2, 100.2)

    def post(_):
        return client.post("/api/v1/incidents", json=payload, headers={**officer, "Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, range(16)))
    assert sorted(r.status_code for r in results) == [200] * 15 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    assert client.get("/api/v1/incidents", headers=officer).json()["total"] == 1


def test_optimistic_locking(client, officer, investigator):
    inc = create(client, officer, body(18.145, 100.14))
    url = f"/api/v1/incidents/{inc['id']}"
    etag = client.get(url, headers=officer).headers["etag"]
    assert etag == 'W/"1"'
    assert client.patch(url, json={"description": "x"}, headers=officer).status_code == 428
    ok = client.patch(
        url, json={"description": "first edit", "tags": ["ไฟป่า", "check"]}, headers={**officer, "If-Match": etag}
    )
    assert ok.status_code == 200 and ok.json()["version"] == 2 and ok.headers["etag"] == 'W/"2"'
    stale = client.patch(url, json={"description": "stale edit"}, headers={**investigator, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["details"][0]["current"]["description"] == "first edit"
    # Two editors with the same version at once: exactly one wins.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda d: client.patch(url, json={"description": d}, headers={**investigator, "If-Match": 'W/"2"'}),
                ["a", "b"],
            )
        )
    assert sorted(r.status_code for r in results) == [200, 412]
    assert client.get(url, headers=officer).json()["version"] == 3


def test_moving_an_incident_reattributes_it(client, officer):
    inc = create(client, officer, body(*reversed(DISTRICTS.geometry["5401"].representative_point().coords[0])))
    p = DISTRICTS.geometry["5406"].representative_point()
    r = client.patch(
        f"/api/v1/incidents/{inc['id']}",
        json={"location": {"lat": p.y, "lon": p.x}},
        headers={**officer, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200 and r.json()["place"]["district"]["code"] == "5406"


def test_roles(client, officer, investigator, login):
    committee = login("committee1", "committee_member")
    inc = create(client, officer, body(18.145, 100.14))
    url = f"/api/v1/incidents/{inc['id']}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=committee).status_code == 200
    assert client.post("/api/v1/incidents", json=body(18.1, 100.1), headers=committee).status_code == 403
    assert client.patch(url, json={"status": "verified"}, headers={**officer, "If-Match": 'W/"1"'}).status_code == 403
    verified = client.patch(url, json={"status": "verified"}, headers={**investigator, "If-Match": 'W/"1"'})
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    # Once verified, the field officer can no longer change it.
    assert client.patch(url, json={"description": "x"}, headers={**officer, "If-Match": 'W/"2"'}).status_code == 403
    other_officer = login("officer2", "field_officer")
    second = create(client, officer, body(18.15, 100.15))
    assert (
        client.patch(
            f"/api/v1/incidents/{second['id']}",
            json={"description": "x"},
            headers={**other_officer, "If-Match": 'W/"1"'},
        ).status_code
        == 403
    )
    assert (
        client.patch(url, json={"status": "linked"}, headers={**investigator, "If-Match": 'W/"2"'}).status_code == 400
    )


def test_filters_pagination_and_geojson(client, officer):
    inside = create(
        client,
        officer,
        {
            **body(18.2, 100.3),
            "kind": "wildfire",
            "observed_at": "2024-03-15T14:00:00",
            "description": "ไฟไหม้ป่าใกล้หมู่บ้าน",
            "tags": ["haze"],
        },
    )
    create(client, officer, {**body(17.95, 100.05), "observed_at": "2023-11-02T09:00:00+07:00"})
    create(client, officer, {**body(18.4, 100.4), "kind": "illegal_logging", "observed_at": "2024-10-01T00:30:00"})

    def ids(**params):
        r = client.get("/api/v1/incidents", params=params, headers=officer)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert ids(kind="wildfire") == {inside["id"]}
    assert ids(q="หมู่บ้าน") == {inside["id"]} and ids(q="haze") == {inside["id"]}
    assert ids(q="100%") == set()  # wildcards are literal
    assert len(ids(**{"from": "2024-01-01", "to": "2024-09-30"})) == 1  # FY 2567 up to its last day
    assert len(ids(**{"from": "2024-10-01"})) == 1  # 00:30 Bangkok on 1 Oct is in FY 2568
    assert ids(district=inside["place"]["district"]["code"]) >= {inside["id"]}
    assert ids(bbox="100.25,18.15,100.35,18.25") == {inside["id"]}
    assert inside["fiscal_year_be"] == 2567 and inside["observed_at"].endswith("+07:00")
    page = client.get("/api/v1/incidents", params={"limit": 2}, headers=officer).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2
    fc = client.get("/api/v1/incidents.geojson", params={"kind": "wildfire"}, headers=officer)
    assert fc.headers["content-type"].startswith("application/geo+json")
    feat = fc.json()["features"][0]
    assert feat["geometry"] == {"type": "Point", "coordinates": [100.3, 18.2]}
    assert (
        client.get("/api/v1/incidents", params={"from": "2024-02-01", "to": "2024-01-01"}, headers=officer).status_code
        == 400
    )


def test_affected_area_in_rai_and_hectares(client, officer):
    # About 200 m x 200 m near Phrae town.
    area = {
        "type": "Polygon",
        "coordinates": [[[100.14, 18.14], [100.1419, 18.14], [100.1419, 18.1418], [100.14, 18.1418], [100.14, 18.14]]],
    }
    inc = create(client, officer, {**body(18.1409, 100.1409), "area": area})
    a = inc["area"]
    assert 35_000 < a["m2"] < 45_000
    assert a["rai"] == pytest.approx(a["m2"] / 1600, rel=1e-3) and a["ha"] == pytest.approx(a["m2"] / 1e4, rel=1e-3)
    rai, ngan, wa = a["rai_ngan_wa"]
    assert rai * 1600 + ngan * 400 + wa * 4 == pytest.approx(a["m2"], abs=1)
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[100.14, 18.14], [100.15, 18.15], [100.15, 18.14], [100.14, 18.15], [100.14, 18.14]]],
    }
    r = client.post("/api/v1/incidents", json={**body(18.14, 100.14), "area": bowtie}, headers=officer)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_area"


@pytest.mark.parametrize(
    "payload, status",
    [
        ({"location": {"lat": 18.1, "lon": 100.1}}, 422),  # no kind
        ({"kind": "volcano", "location": {"lat": 18.1, "lon": 100.1}}, 422),
        ({"kind": "other", "location": {"lat": 18.1}}, 422),  # half a position
        ({"kind": "other", "location": {"lat": "abc", "lon": 100.1}}, 422),
        ({"kind": "other", "location": {"lat": 18.1, "lon": 100.1}, "observed_at": "2099-01-01T00:00:00"}, 400),
        ({"kind": "other", "location": {"lat": 18.1, "lon": 100.1}, "observed_at": "1957-01-01T00:00:00"}, 400),
        ({"kind": "other", "location": {"lat": 18.1, "lon": 100.1}, "observed_at": "yesterday"}, 422),
        ({"kind": "other", "location": {"lat": 18.1, "lon": 100.1}, "description": "x" * 6000}, 422),
        ({"kind": "other", "location": {"lat": 18.1, "lon": 100.1}, "tags": [""]}, 422),
        ({"kind": "other", "location": {"lat": 18.1, "lon": 100.1}, "colour": "red"}, 422),
        ({"kind": "other", "location": {"lat": 18.1, "lon": 100.1}, "area": {"type": "Point"}}, 400),
    ],
)
def test_bad_fields_are_4xx_and_store_nothing(client, officer, payload, status):
    r = client.post("/api/v1/incidents", json=payload, headers=officer)
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    assert client.get("/api/v1/incidents", headers=officer).json()["total"] == 0


def test_nan_and_garbage_bodies_are_4xx(client, officer):
    r = client.post(
        "/api/v1/incidents",
        content=b'{"kind": "other", "location": {"lat": NaN, "lon": 100.1}}',
        headers={**officer, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    r = client.post(
        "/api/v1/incidents", content=b"\xff\xfe not json", headers={**officer, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["message"]


@pytest.mark.slow
def test_reloading_layers_reattributes_incidents(client, officer, admin_headers, tmp_path):
    p = DISTRICTS.geometry["5408"].representative_point()
    inc = create(client, officer, body(p.y, p.x))
    assert not inc["place"]["in_reserve"]
    reserve = gpd.GeoDataFrame(
        {"code": ["NRF-NEW"], "name_th": ["ป่าใหม่"], "kind": ["national_reserved_forest"], "valid_from": ["2000-01-01"]},
        geometry=[p.buffer(0.01)],
        crs=4326,
    )
    path = tmp_path / "new.geojson"
    reserve.to_file(path)
    with open(path, "rb") as f:
        r = client.post(
            "/api/v1/admin/layers",
            headers=admin_headers,
            files={"file": ("new.geojson", f)},
            data={
                "layer_type": "protected_area",
                "name": "new",
                "version": "1",
                "source": "s",
                "licence": "l",
                "attribution": "a",
            },
        )
    assert r.status_code == 201, r.text
    after = client.get(f"/api/v1/incidents/{inc['id']}", headers=officer).json()
    assert after["place"]["in_reserve"] and after["place"]["reserve_code"] == "NRF-NEW"
    assert after["place"]["reserve_distance_m"] == pytest.approx(1000, rel=0.2)


@pytest.mark.slow
def test_affected_area_has_a_vertex_limit(client, officer, db_url, sessionmaker_for):
    """A 1M-point outline once made every incident list 25 MB: at most 10,000 points are accepted."""

    def ring(n):
        pts = [
            [
                round(100.14 + 0.005 * math.cos(2 * math.pi * i / n), 7),
                round(18.14 + 0.005 * math.sin(2 * math.pi * i / n), 7),
            ]
            for i in range(n)
        ]
        return {"type": "Polygon", "coordinates": [pts + [pts[0]]]}

    r = client.post("/api/v1/incidents", json={**body(18.14, 100.14), "area": ring(20_000)}, headers=officer)
    assert r.status_code == 400 and r.json()["error"]["code"] == "area_too_complex"
    assert "20,001" in r.json()["error"]["message"] and "10,000" in r.json()["error"]["message"]
    with sessionmaker_for(db_url)() as s:
        assert s.execute(text("SELECT count(*) FROM incidents")).scalar() == 0
    inc = create(client, officer, {**body(18.14, 100.14), "area": ring(9_000)})
    assert inc["area"]["m2"] > 70_000
    r = client.patch(
        f"/api/v1/incidents/{inc['id']}",
        json={"area": ring(10_001)},
        headers={**officer, "If-Match": f'W/"{inc["version"]}"'},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "area_too_complex"


# --- positions: strict, or a clear error (issue 11, point 3) ----------------------------------------
@pytest.mark.parametrize(
    "text, part",
    [
        ("18.1452.5, 100.1417", "18.1452.5"),  # was read as 18.18667, 4.6 km away
        ("17.98666, 100.13609.1", "100.13609.1"),  # was read as 100.28767, 16 km away in another district
        ("1_8.1452, 100.1417", "1_8.1452"),  # was accepted
        ("18.1452,, 100.1417", ","),
    ],
)
def test_locate_refuses_malformed_numbers_naming_the_part(client, officer, text, part):
    r = client.post("/api/v1/incidents/locate", json={"text": text}, headers=officer)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "unreadable_coordinates" and f"'{part}'" in err["message"], err
    assert err["details"][0]["part"] == part
    r = client.post("/api/v1/incidents", json={"kind": "other", "location": {"text": text}}, headers=officer)
    assert r.status_code == 400 and client.get("/api/v1/incidents", headers=officer).json()["total"] == 0


@pytest.mark.parametrize(
    "text, notation",
    [
        ("18.1452, 100.1417", "decimal"),
        ("18°08'42.5\"N 100°08'30\"E", "dms"),
        ("18°08.708'N 100°08.5'E", "ddm"),
        ("47Q 620000 2005000", "utm"),
    ],
)
@pytest.mark.slow
def test_locate_reports_the_notation_read(client, officer, text, notation):
    r = client.post("/api/v1/incidents/locate", json={"text": text}, headers=officer)
    assert r.status_code == 200, r.text
    pos = r.json()["position"]
    assert pos["format"] == notation and pos["read_as"] and pos["format_name"]["en"] and pos["format_name"]["th"]
    assert r.json()["place"]["province_distance_m"] == 0 and r.json()["place"]["nearest_district"]["code"]


def _nearest_district_utm(lon, lat):
    """Independent: metres in UTM 47N (scale error < 0.1 % this close to 99° E) from each district."""
    x, y = Transformer.from_crs(4326, 32647, always_xy=True).transform(lon, lat)
    dist = DISTRICTS.to_crs(32647).distance(Point(x, y))
    return dist.idxmin(), dist.min(), PROVINCE.to_crs(32647).distance(Point(x, y)).min()


# Bangkok, Chiang Rai, Chiang Mai
@pytest.mark.parametrize("lat, lon", [(13.7563, 100.5018), (19.9105, 99.8406), (18.7883, 98.9853)])
def test_outside_province_gives_the_distance_and_the_nearest_district(client, officer, lat, lon):
    code, district_m, province_m = _nearest_district_utm(lon, lat)
    r = client.post("/api/v1/incidents/locate", json={"lat": lat, "lon": lon}, headers=officer)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "outside_province"
    d = err["details"][0]
    assert d["province_distance_m"] == pytest.approx(province_m, rel=2e-3)
    assert d["nearest_district"]["code"] == code
    assert d["nearest_district"]["distance_m"] == pytest.approx(district_m, rel=2e-3)
    assert d["nearest_district"]["name_th"] == DISTRICTS.ADM2_TH[code] and d["nearest_district"]["name_en"]
    assert f"{d['province_distance_m'] / 1000:,.1f} km" in err["message"] and DISTRICTS.ADM2_EN[code] in err["message"]
    ok = client.post(
        "/api/v1/incidents/locate", json={"lat": lat, "lon": lon, "confirm_outside_province": True}, headers=officer
    )
    place = ok.json()["place"]
    assert ok.status_code == 200 and place["outside_province"]
    assert (
        place["province_distance_m"] == d["province_distance_m"] and place["nearest_district"] == d["nearest_district"]
    )
