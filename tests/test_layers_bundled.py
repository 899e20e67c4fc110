"""The bundled layers: the real 8 districts and 78 subdistricts of Phrae, and the illustrative reserves."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR, bundled_layers

# From ../shared/data/phrae/README.md: code, English, Thai, area km2 (UTM 47N), tambon count.
DISTRICTS = [
    ("5401", "Mueang Phrae", "เมืองแพร่", 794.3, 20),
    ("5402", "Rong Kwang", "ร้องกวาง", 865.0, 11),
    ("5403", "Long", "ลอง", 1273.1, 9),
    ("5404", "Sung Men", "สูงเม่น", 371.6, 12),
    ("5405", "Den Chai", "เด่นชัย", 542.4, 5),
    ("5406", "Song", "สอง", 1513.2, 8),
    ("5407", "Wang Chin", "วังชิ้น", 989.7, 7),
    ("5408", "Nong Muang Khai", "หนองม่วงไข่", 135.6, 6),
]
PROVINCE_KM2 = 6485.0


@pytest.fixture(scope="module")
def conn(ref_url):
    engine = create_engine(ref_url)
    with engine.connect() as c:
        yield c
    engine.dispose()


def test_eight_districts_with_codes_names_and_areas(conn):
    rows = conn.execute(
        text("""
        SELECT a.code, a.name_en, a.name_th, a.area_m2 / 1e6 AS km2, a.parent_code,
               (SELECT count(*) FROM admin_areas t WHERE t.level = 'subdistrict' AND t.is_current
                AND t.parent_code = a.code) AS tambons
        FROM admin_areas a WHERE a.level = 'district' AND a.is_current ORDER BY a.code
    """)
    ).all()
    assert [(r.code, r.name_en, r.name_th, r.tambons) for r in rows] == [
        (c, en, th, n) for c, en, th, _, n in DISTRICTS
    ]
    for row, (_, _, _, km2, _) in zip(rows, DISTRICTS):
        assert row.km2 == pytest.approx(km2, rel=0.005), row.code
        assert row.parent_code == "54"


def test_78_subdistricts_match_the_official_code_list(conn):
    with open(DEFAULT_LAYERS_DIR / "phrae/phrae_tambon_names_zip_kongvut.csv", encoding="utf-8") as f:
        names = {r["tam_code"]: r for r in csv.DictReader(f)}
    rows = conn.execute(
        text("""
        SELECT code, name_th, name_en, parent_code, area_m2 FROM admin_areas
        WHERE level = 'subdistrict' AND is_current ORDER BY code
    """)
    ).all()
    assert len(rows) == 78
    assert {r.code for r in rows} == set(names)
    for r in rows:
        assert r.name_th == names[r.code]["name_th"]
        assert r.parent_code == names[r.code]["amp_code"] == r.code[:4]
        assert r.name_en and r.area_m2 > 0


def test_subdistricts_tile_their_district_and_the_province(conn):
    row = conn.execute(
        text("""
        SELECT (SELECT area_m2 FROM admin_areas WHERE level = 'province' AND code = '54') / 1e6 AS province,
               (SELECT sum(area_m2) FROM admin_areas WHERE level = 'district' AND is_current) / 1e6 AS districts,
               (SELECT sum(area_m2) FROM admin_areas WHERE level = 'subdistrict' AND is_current) / 1e6 AS tambons
    """)
    ).one()
    assert row.province == pytest.approx(PROVINCE_KM2, rel=0.005)
    assert row.districts == pytest.approx(row.province, rel=0.001)
    assert row.tambons == pytest.approx(row.province, rel=0.001)


def test_every_bundled_layer_has_source_and_licence(conn):
    layers = {layer.name: layer for layer in bundled_layers()}
    rows = conn.execute(
        text("SELECT name, licence, attribution, illustrative, file_sha256, feature_count FROM layer_sources")
    ).all()
    assert {r.name for r in rows} == set(layers)
    for r in rows:
        assert r.licence and r.attribution and len(r.file_sha256) == 64 and r.feature_count > 0
        if "codab" in str(layers[r.name].file):
            assert "CC BY-IGO" in r.attribution and not r.illustrative
        else:
            assert r.illustrative and "ILLUSTRATIVE" in r.attribution


def test_illustrative_protected_areas_are_realistic(conn):
    """Reserves crossing district lines, multipolygons, holes, a revoked part, a park over a reserve."""
    rows = conn.execute(
        text("""
        SELECT p.code, p.version, p.illustrative, p.name_en,
               ST_NumGeometries(p.geom) AS parts,
               (SELECT sum(ST_NumInteriorRings(d.geom)) FROM ST_Dump(p.geom) d) AS holes,
               (SELECT count(*) FROM admin_areas a WHERE a.level = 'district' AND a.is_current
                  AND ST_Area(ST_Intersection(a.geom, p.geom)::geography) > 1e6) AS districts
        FROM protected_areas p
    """)
    ).all()
    by = {(r.code, r.version): r for r in rows}
    assert all(r.illustrative and "(illustrative)" in r.name_en for r in rows)
    assert by[("NRF-PR-001", "1")].districts >= 2 and by[("NRF-PR-001", "1")].holes >= 1
    assert by[("NRF-PR-002", "1")].parts == 2
    assert ("NRF-PR-003", "1") in by and ("NRF-PR-003", "2") in by and ("ALRO-PR-003R", "1") in by
    overlap = conn.execute(
        text("""
        SELECT ST_Area(ST_Intersection(a.geom, b.geom)::geography) / 1e6
        FROM protected_areas a, protected_areas b WHERE a.code = 'NP-MAEYOM' AND b.code = 'NRF-PR-001'
    """)
    ).scalar()
    assert overlap > 5  # km2 of park over reserve
    # The revoked part lies in the old boundary and outside the revised one.
    rel = conn.execute(
        text("""
        SELECT ST_Area(ST_Intersection(r.geom, v1.geom)::geography) / ST_Area(r.geom::geography),
               ST_Area(ST_Intersection(r.geom, v2.geom)::geography) / ST_Area(r.geom::geography),
               v1.valid_to, v2.valid_from
        FROM protected_areas r, protected_areas v1, protected_areas v2
        WHERE r.code = 'ALRO-PR-003R' AND v1.code = 'NRF-PR-003' AND v1.version = '1'
          AND v2.code = 'NRF-PR-003' AND v2.version = '2'
    """)
    ).one()
    assert rel[0] > 0.99 and rel[1] < 0.01 and rel[2] == rel[3]


def test_generator_reproduces_the_shipped_file(tmp_path, monkeypatch):
    """layers/illustrative/phrae_protected_areas_illustrative.geojson is exactly what its script draws."""
    import importlib.util
    import shutil

    src = DEFAULT_LAYERS_DIR / "illustrative"
    work = tmp_path / "layers"
    shutil.copytree(DEFAULT_LAYERS_DIR / "phrae", work / "phrae")
    (work / "illustrative").mkdir()
    shutil.copy(src / "make_protected_areas.py", work / "illustrative")
    spec = importlib.util.spec_from_file_location("mk", work / "illustrative/make_protected_areas.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main()
    produced = (work / "illustrative/phrae_protected_areas_illustrative.geojson").read_bytes()
    assert produced == (src / "phrae_protected_areas_illustrative.geojson").read_bytes()


def test_shipped_files_exist():
    for layer in bundled_layers():
        assert Path(layer.file).exists(), layer.file
