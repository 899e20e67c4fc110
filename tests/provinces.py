"""A second province beside the bundled Phrae: a small SYNTHETIC "Nan" (code 55: one province, two districts,
two subdistricts; boxes east of Phrae, not Nan's real outline) in tests/data/nan, loaded like any layer file."""

from __future__ import annotations

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
