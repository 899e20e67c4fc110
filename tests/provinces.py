"""A second province beside the bundled Phrae: a small SYNTHETIC "Nan" (code 55: one province, two districts,
two subdistricts; boxes east of Phrae, not Nan's real outline) in tests/data/nan, loaded like any layer file.

Also what the tests of several provinces share: a database with Nan loaded, other synthetic provinces, signed-in
people of given provinces, and records (red-flag contracts and parcels) on either side of the border."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo_service.db.engine import make_engine, make_sessionmaker, transaction
from geo_service.layers.load import load_file
from geo_service.layers.store import LayerMeta
from tests.conftest import ADMIN_TOKEN, PASSWORD

NAN_DIR = Path(__file__).resolve().parent / "data" / "nan"
NAN_FILES = (
    ("province", "nan_province.geojson"),
    ("district", "nan_districts.geojson"),
    ("subdistrict", "nan_subdistricts.geojson"),
)
FIELDS = {"code": "code", "name_th": "name_th", "name_en": "name_en"}

# Places: inside Phrae's Mueang district, inside synthetic Nan's district 5501.
PHRAE_POINT = {"lat": 18.2, "lon": 100.3}
NAN_POINT = {"lat": 18.6, "lon": 100.75}


def synthetic_meta(name: str) -> LayerMeta:
    """The metadata of a synthetic (illustrative) boundary layer of the tests, named ``name``."""
    return LayerMeta(
        name=name,
        version="synthetic-1",
        source="geo_service tests (synthetic)",
        licence="test data",
        attribution="Synthetic test boundaries",
        illustrative=True,
    )


def load_nan(factory) -> None:
    """Load the synthetic Nan layers into the database of ``factory`` (a sessionmaker), one transaction each."""
    for level, name in NAN_FILES:
        fields = FIELDS if level == "province" else {**FIELDS, "parent_code": "parent_code"}
        with transaction(factory) as session:
            load_file(session, NAN_DIR / name, level, synthetic_meta(f"synthetic-nan-{level}"), fields=fields)


def load_synthetic_province(
    factory, folder: Path, code: str, name_th: str, name_en: str, bounds: tuple[float, float, float, float]
) -> None:
    """A synthetic province ``code`` (no districts): the lon/lat box ``bounds`` (west, south, east, north), written
    as GeoJSON in ``folder`` and loaded like any province layer (one transaction)."""
    x0, y0, x1, y1 = bounds
    feature = {
        "type": "Feature",
        "properties": {"code": code, "name_th": name_th, "name_en": name_en},
        "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
    }
    path = folder / f"p{code}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with transaction(factory) as session:
        load_file(session, path, "province", synthetic_meta(f"synthetic-{code}-province"), fields=FIELDS)


@contextmanager
def database_with_nan(pg_cluster, template_db) -> Iterator[tuple]:
    """A clone of the template database (Phrae's bundled layers) with synthetic Nan loaded, for a module's tests:
    ``(url, sessionmaker)``; its engine is disposed and the database dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_cluster.ensure_database(name, template=template_db)
    url = pg_cluster.url(name)
    engine = make_engine(url, pool_size=2)
    try:
        factory = make_sessionmaker(engine)
        load_nan(factory)
        yield url, factory
    finally:
        engine.dispose()
        pg_cluster.drop_database(name)


def sign_in(client, username: str, roles: str | list[str], provinces: list[str] | None = None) -> dict:
    """Through the admin API: a user ``username`` with ``roles`` (one or several) and ``provinces`` (None: none
    given, as a national account); the bearer headers of its sign-in."""
    body = {"username": username, "password": PASSWORD, "roles": [roles] if isinstance(roles, str) else roles}
    if provinces is not None:
        body["provinces"] = provinces
    r = client.post("/api/v1/admin/users", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json=body)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def load_red_flag_records(client, admin_headers, point: dict, tag: str) -> dict[str, int]:
    """Through the admin API: one firebreak contract around ``point`` whose documents name a district that does
    not exist (so the rule ``outside_named_area`` flags it at once) and one land-document parcel there.
    Returns the ids of the contract, the parcel and the flag (as the administrator sees them)."""
    lon, lat, d = point["lon"], point["lat"], 0.002
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]

    def collection(props: dict) -> bytes:
        feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": props}
        return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()

    contract = {
        "contract_number": f"FB-{tag}",
        "project_name": f"Firebreak {tag}",
        "agency": "Royal Forest Department",
        "contractor": "Contractor Ltd",
        "work_type": "firebreak",
        "fiscal_year_be": 2567,
        "named_district_code": "9999",
    }
    r = client.post(
        "/api/v1/admin/redflags/contracts",
        headers=admin_headers,
        files={"file": (f"contracts-{tag}.geojson", collection(contract), "application/geo+json")},
    )
    assert r.status_code == 201, r.text
    parcel = {"doc_type": "chanote", "doc_number": f"P-{tag}", "issue_date": "2020-01-01"}
    r = client.post(
        "/api/v1/admin/redflags/parcels",
        headers=admin_headers,
        files={"file": (f"parcels-{tag}.geojson", collection(parcel), "application/geo+json")},
    )
    assert r.status_code == 201, r.text
    contracts = client.get("/api/v1/redflags/contracts", headers=admin_headers, params={"limit": 500}).json()
    contract_id = next(c["id"] for c in contracts["items"] if c["contract_number"] == f"FB-{tag}")
    parcels = client.get("/api/v1/redflags/parcels", headers=admin_headers, params={"limit": 500}).json()
    parcel_id = next(p["id"] for p in parcels["items"] if p["doc_number"] == f"P-{tag}")
    flags = client.get(
        "/api/v1/redflags/flags", headers=admin_headers, params={"rule": "outside_named_area", "limit": 500}
    ).json()
    flag_id = next(f["id"] for f in flags["items"] if f["contract_ids"] == [contract_id])
    return {"contract_id": contract_id, "parcel_id": parcel_id, "flag_id": flag_id}


def post_border_contracts(client, admin_headers, b_x0: float = 100.51) -> None:
    """Two paid firebreak contracts of FY 2567 overlapping across the Phrae / Nan line (the double payment of
    tests/test_red_flags_scope.py): X-A (100.47-100.53 E) lies in Phrae, X-B (``b_x0`` to ``b_x0`` + 0.20 E)
    mostly in synthetic Nan (east of 100.6); their overlap, the flag's shape, lies in Phrae."""

    def square(x0, x1):
        return {"type": "Polygon", "coordinates": [[[x0, 18.39], [x1, 18.39], [x1, 18.41], [x0, 18.41], [x0, 18.39]]]}

    base = {"agency": "RFD", "contractor": "Border Co.", "work_type": "firebreak", "fiscal_year_be": 2567,
            "paid_thb": 10}  # fmt: skip
    b_x1 = round(b_x0 + 0.20, 6)  # 100.71, not 100.71000000000001
    features = [
        {"type": "Feature", "geometry": square(100.47, 100.53), "properties": {**base, "contract_number": "X-A",
                                                                               "project_name": "A"}},
        {"type": "Feature", "geometry": square(b_x0, b_x1), "properties": {**base, "contract_number": "X-B",
                                                                           "project_name": "B"}},
    ]  # fmt: skip
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    r = client.post("/api/v1/admin/redflags/contracts", headers=admin_headers, files={"file": ("x.geojson", body)})
    assert r.status_code == 201, r.text
