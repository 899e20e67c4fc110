"""A second province beside the bundled Phrae: a small SYNTHETIC "Nan" (code 55: one province, two districts,
two subdistricts; boxes east of Phrae, not Nan's real outline) in tests/data/nan, loaded like any layer file."""

from __future__ import annotations

import json
from pathlib import Path

from geo_service.db.engine import transaction
from geo_service.layers.load import load_file
from geo_service.layers.store import LayerMeta

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


def load_nan(factory) -> None:
    """Load the synthetic Nan layers into the database of ``factory`` (a sessionmaker), one transaction each."""
    for level, name in NAN_FILES:
        fields = FIELDS if level == "province" else {**FIELDS, "parent_code": "parent_code"}
        meta = LayerMeta(
            name=f"synthetic-nan-{level}",
            version="synthetic-1",
            source="geo_service tests (synthetic)",
            licence="test data",
            attribution="Synthetic test boundaries",
            illustrative=True,
        )
        with transaction(factory) as session:
            load_file(session, NAN_DIR / name, level, meta, fields=fields)


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
