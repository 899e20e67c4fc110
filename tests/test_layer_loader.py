"""Loading boundary files: every supported format and CRS, field mapping, every refusal, idempotency, history."""

from __future__ import annotations

import json
import zipfile
from datetime import date

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box
from sqlalchemy import text

from geo_service.db.engine import transaction
from geo_service.errors import LayerRejected
from geo_service.layers import store
from geo_service.layers.load import load_file
from geo_service.layers.manifest import DEFAULT_LAYERS_DIR
from geo_service.layers.store import LayerMeta
from tests.samples import protected_area_file

DISTRICTS = DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson"
FIELDS = {"code": "amp_code", "name_th": "ADM2_TH", "name_en": "ADM2_EN", "parent_code": "ADM1_PCODE"}


def load_layer(factory, *args, dry_run=False, **kw):
    """Load a file in a transaction of its own, as the edges do (committed; rolled back with dry_run)."""
    with transaction(factory, dry_run=dry_run) as session:
        return load_file(session, *args, dry_run=dry_run, **kw)


def meta(version="t1", name="test-districts") -> LayerMeta:
    return LayerMeta(name=name, version=version, source="test", licence="CC BY-IGO", attribution="test")


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return gpd.read_file(DISTRICTS)[["amp_code", "ADM2_TH", "ADM2_EN", "ADM1_PCODE", "geometry"]]


def counts(factory) -> tuple[int, int, int]:
    with factory() as s:
        return s.execute(
            text(
                "SELECT (SELECT count(*) FROM layer_sources), (SELECT count(*) FROM admin_areas), "
                "(SELECT count(*) FROM protected_areas)"
            )
        ).one()


def stored_districts(factory, version="t1"):
    with factory() as s:
        return {
            r.code: r
            for r in s.execute(
                text(
                    "SELECT code, name_th, name_en, area_m2, is_current FROM admin_areas "
                    "WHERE level = 'district' AND version = :v"
                ),
                {"v": version},
            )
        }


def write_zipped_shapefile(gdf: gpd.GeoDataFrame, folder, name="districts", prj=True, encoding="utf-8"):
    shp_dir = folder / f"{name}_shp"
    shp_dir.mkdir()
    gdf.to_file(shp_dir / f"{name}.shp", encoding=encoding)
    if not prj:
        (shp_dir / f"{name}.prj").unlink()
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    return path


# --- formats and coordinate systems ---------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt, crs",
    [
        ("geojson", "EPSG:32647"),  # UTM 47N
        ("gpkg", "EPSG:32647"),
        ("zip", "EPSG:24047"),  # Indian 1975 / UTM 47N (old RTSD maps)
        ("kml", "EPSG:4326"),
        ("geojson", "EPSG:4326"),
    ],
)
@pytest.mark.slow
def test_each_format_and_crs_loads_with_the_right_geometry(fmt, crs, districts, tmp_path, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    gdf = districts.to_crs(crs)
    if fmt == "zip":
        path = write_zipped_shapefile(gdf, tmp_path)
    elif fmt == "kml":
        path = tmp_path / "districts.kml"
        gdf.rename(columns={"ADM2_TH": "Name"}).to_file(path, driver="KML")
    else:
        path = tmp_path / f"districts.{fmt}"
        gdf.to_file(path)
    fields = {**FIELDS, "name_th": "Name"} if fmt == "kml" else FIELDS
    report = load_layer(factory, path, "district", meta(), fields=fields)
    assert (report.features, report.inserted, report.updated) == (8, 8, 0)
    assert crs.split(":")[1] in report.source_crs or fmt == "kml"
    rows = stored_districts(factory)
    assert set(rows) == {f"540{i}" for i in range(1, 9)}
    expected = districts.set_index("amp_code").to_crs("EPSG:32647").area
    for code, row in rows.items():
        # Reprojection through any of these CRSs keeps each area within 0.1 %.
        assert row.area_m2 == pytest.approx(expected[code], rel=0.001)
        assert row.name_th == districts.set_index("amp_code").loc[code, "ADM2_TH"]  # Thai text intact
        assert row.is_current


@pytest.mark.slow
def test_loaded_version_becomes_current_and_reload_is_idempotent(districts, tmp_path, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    path = tmp_path / "d.geojson"
    districts.to_file(path)
    first = load_layer(factory, path, "district", meta("t1"), fields=FIELDS)
    before = counts(factory)
    again = load_layer(factory, path, "district", meta("t1"), fields=FIELDS)
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (8, 0, 0, 8)
    assert counts(factory) == before
    # A changed name is an update of that one feature.
    changed = districts.copy()
    changed.loc[changed.amp_code == "5405", "ADM2_EN"] = "Den Chai (renamed)"
    changed.to_file(path)
    third = load_layer(factory, path, "district", meta("t1"), fields=FIELDS)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 7)
    with factory() as s:
        current = dict(
            s.execute(text("SELECT code, version FROM admin_areas WHERE level = 'district' AND is_current")).all()
        )
        cod_ab = s.execute(
            text(
                "SELECT count(*) FROM admin_areas WHERE level = 'district' "
                "AND version = 'cod-ab-2022-01-21' AND NOT is_current"
            )
        ).scalar()
    assert set(current.values()) == {"t1"} and len(current) == 8
    assert cod_ab == 8  # history kept, no longer current


def test_change_hooks_run_in_the_load_transaction(districts, tmp_path, db_url, sessionmaker_for, monkeypatch):
    factory = sessionmaker_for(db_url)
    seen = []

    def hook(session, layer_type):
        seen.append((layer_type, session.execute(text("SELECT count(*) FROM admin_areas WHERE version='t1'")).scalar()))

    monkeypatch.setattr(store, "ON_LAYERS_CHANGED", [hook])
    path = tmp_path / "d.geojson"
    districts.to_file(path)
    load_layer(factory, path, "district", meta(), fields=FIELDS)
    load_layer(factory, path, "district", meta(), fields=FIELDS)  # unchanged: no hook
    assert seen == [("district", 8)]


def test_protected_area_revision_closes_the_previous_version(tmp_path, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    shape = box(100.0, 18.0, 100.05, 18.05)

    def write(version, valid_from, geom):
        return protected_area_file(tmp_path / f"pa_{version}.geojson", "NRF-T", version, valid_from, geom)

    load_layer(factory, write("1", "2000-01-01", shape), "protected_area", meta("a", "pa-test"))
    load_layer(
        factory,
        write("2", "01/06/2563", shape.difference(box(100.0, 18.0, 100.01, 18.01))),  # BE date
        "protected_area",
        meta("b", "pa-test"),
    )
    with factory() as s:
        rows = s.execute(
            text(
                "SELECT version, kind, valid_from, valid_to FROM protected_areas WHERE code = 'NRF-T' ORDER BY version"
            )
        ).all()
    assert [(r.version, r.kind, r.valid_from, r.valid_to) for r in rows] == [
        ("1", "national_reserved_forest", date(2000, 1, 1), date(2020, 6, 1)),
        ("2", "national_reserved_forest", date(2020, 6, 1), None),
    ]


def test_repair_fixes_invalid_geometry_when_asked(districts, tmp_path, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    gdf = districts.copy()
    bowtie = Polygon([(100.0, 18.0), (100.1, 18.1), (100.1, 18.0), (100.0, 18.1), (100.0, 18.0)])
    gdf.loc[gdf.amp_code == "5408", "geometry"] = bowtie
    path = tmp_path / "d.geojson"
    gdf.to_file(path)
    report = load_layer(factory, path, "district", meta(), fields=FIELDS, repair=True)
    assert report.inserted == 8
    assert any("5408" in w and "repaired" in w for w in report.warnings)
    with factory() as s:
        assert s.execute(
            text(
                "SELECT ST_IsValid(geom) AND ST_NumGeometries(geom) = 2 FROM admin_areas "
                "WHERE code = '5408' AND version = 't1'"
            )
        ).scalar()


# --- refusals: a clear reason, and nothing stored ----------------------------------------------
def _bowtie(gdf):
    gdf = gdf.copy()
    gdf.loc[gdf.amp_code == "5403", "geometry"] = Polygon(
        [(100.0, 18.0), (100.1, 18.1), (100.1, 18.0), (100.0, 18.1), (100.0, 18.0)]
    )
    return gdf


def _outside(gdf):
    gdf = gdf.copy()
    gdf.loc[gdf.amp_code == "5402", "geometry"] = Point(105.85, 21.03).buffer(0.05)  # Hanoi
    return gdf


def _wrong_crs(gdf):
    return gdf.set_crs("EPSG:32647", allow_override=True)  # degrees declared as metres


def _duplicate(gdf):
    gdf = gdf.copy()
    gdf.loc[gdf.amp_code == "5402", "amp_code"] = "5401"
    return gdf


def _points(gdf):
    gdf = gdf.copy()
    gdf.loc[gdf.amp_code == "5406", "geometry"] = Point(100.3, 18.5)
    return gdf


def _empty_name(gdf):
    gdf = gdf.copy()
    gdf.loc[gdf.amp_code == "5407", "ADM2_TH"] = ""
    return gdf


@pytest.mark.parametrize(
    "case, change, match, feature",
    [
        ("invalid geometry", _bowtie, "Self-intersection", 2),
        ("outside Thailand", _outside, "outside Thailand", 1),
        ("wrong CRS", _wrong_crs, "coordinate system", 0),
        ("duplicate code", _duplicate, "appears twice", 1),
        ("not a polygon", _points, "Point, not a polygon", 5),
        ("empty Thai name", _empty_name, "Thai name", 6),
    ],
)
def test_bad_features_are_refused_with_feature_and_reason(
    case, change, match, feature, districts, tmp_path, db_url, sessionmaker_for
):
    factory = sessionmaker_for(db_url)
    path = tmp_path / "bad.gpkg"
    change(districts).to_file(path)
    before = counts(factory)
    with pytest.raises(LayerRejected) as err:
        load_layer(factory, path, "district", meta(), fields=FIELDS)
    assert "Nothing was stored" in err.value.message
    assert any(match in d["reason"] and d.get("feature") == feature for d in err.value.details), err.value.details
    assert counts(factory) == before


@pytest.mark.slow
def test_refusals_of_whole_files(districts, tmp_path, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    before = counts(factory)

    def refused(path, match, **kw):
        with pytest.raises(LayerRejected) as err:
            load_layer(factory, path, kw.pop("layer_type", "district"), meta(), fields=kw.pop("fields", FIELDS), **kw)
        text_ = err.value.message + " " + json.dumps(err.value.details, ensure_ascii=False)
        assert match in text_, text_

    refused(write_zipped_shapefile(districts, tmp_path, "noprj", prj=False), "no coordinate reference system")
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    refused(garbage, "damaged")
    csv_file = tmp_path / "table.csv"
    csv_file.write_text("a,b\n1,2\n")
    refused(csv_file, "not a supported layer file")
    bad_json = tmp_path / "broken.geojson"
    bad_json.write_text('{"type": "FeatureCollection", "features": [ {')
    refused(bad_json, "could not be read")
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    refused(empty, "no features")
    good = tmp_path / "good.geojson"
    districts.to_file(good)
    refused(good, "Required fields are missing: code (column 'nope')", fields={**FIELDS, "code": "nope"})
    refused(good, "Unknown target fields: colour", fields={**FIELDS, "colour": "x"})
    refused(
        good,
        "unknown kind",
        layer_type="protected_area",
        fields={"code": "amp_code", "name_th": "ADM2_TH", "kind": "ADM2_EN"},
    )
    two = tmp_path / "two.gpkg"
    districts.to_file(two, layer="a")
    districts.to_file(two, layer="b")
    refused(two, "several layers")
    refused(two, "no layer named 'c'", layer="c")
    disguised = tmp_path / "disguised.geojson"
    districts.to_file(disguised, driver="GPKG")
    refused(disguised, "does not match its name")
    swapped = tmp_path / "dates.geojson"
    gpd.GeoDataFrame(
        {
            "code": ["X"],
            "name_th": ["ก"],
            "kind": ["national_park"],
            "valid_from": ["2020-01-01"],
            "valid_to": ["2019-01-01"],
        },
        geometry=[box(100, 18, 100.1, 18.1)],
        crs=4326,
    ).to_file(swapped)
    refused(swapped, "valid_to is not after valid_from", layer_type="protected_area", fields={})
    assert counts(factory) == before


def test_zip_with_several_shapefiles_is_refused(districts, tmp_path, db_url, sessionmaker_for):
    a = write_zipped_shapefile(districts, tmp_path, "a")
    b = write_zipped_shapefile(districts, tmp_path, "b")
    both = tmp_path / "both.zip"
    with zipfile.ZipFile(both, "w") as out:
        for src in (a, b):
            with zipfile.ZipFile(src) as zf:
                for n in zf.namelist():
                    out.writestr(n, zf.read(n))
    with pytest.raises(LayerRejected, match="several Shapefiles"):
        load_layer(sessionmaker_for(db_url), both, "district", meta(), fields=FIELDS)


def test_many_problems_are_listed_with_a_count(tmp_path, db_url, sessionmaker_for):
    polys = [
        Polygon([(100 + i * 0.01, 18.0), (100.1 + i * 0.01, 18.1), (100.1 + i * 0.01, 18.0), (100 + i * 0.01, 18.1)])
        for i in range(30)
    ]
    gdf = gpd.GeoDataFrame({"code": [str(i) for i in range(30)], "name_th": ["ก"] * 30}, geometry=polys, crs=4326)
    path = tmp_path / "many.geojson"
    gdf.to_file(path)
    with pytest.raises(LayerRejected) as err:
        load_layer(sessionmaker_for(db_url), path, "subdistrict", meta())
    assert len(err.value.details) == 21 and "10 more" in err.value.details[-1]["reason"]
    assert shapely.is_valid_reason(polys[0]).startswith("Self-intersection")


# --- Shapefiles without .cpg (issue 12, point 8) ---------------------------------------------------
def _zip_without_cpg(gdf, folder, encoding, name="thai"):
    path = write_zipped_shapefile(gdf.iloc[:2], folder, name=name, encoding=encoding)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if not n.endswith(".cpg")}
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return path


@pytest.mark.slow
def test_thai_windows_shapefile_without_cpg_is_read_as_cp874_never_mojibake(
    districts, tmp_path, db_url, sessionmaker_for
):
    factory = sessionmaker_for(db_url)
    path = _zip_without_cpg(districts, tmp_path, "cp874")
    report = load_layer(factory, path, "district", meta(), fields=FIELDS)
    stored = stored_districts(factory)
    assert {r.name_th for r in stored.values()} == set(districts.iloc[:2]["ADM2_TH"])  # e.g. เมืองแพร่
    assert any("cp874" in w for w in report.warnings)
    # UTF-8 without .cpg is read as UTF-8 (GDAL alone would read it as ISO-8859-1)
    (tmp_path / "u").mkdir()
    path = _zip_without_cpg(districts, tmp_path / "u", "utf-8")
    load_layer(factory, path, "district", meta(version="t2"), fields=FIELDS)
    assert {r.name_th for r in stored_districts(factory, "t2").values()} == set(districts.iloc[:2]["ADM2_TH"])


def test_shapefile_of_unknown_encoding_is_refused_with_a_hint(districts, tmp_path, db_url, sessionmaker_for):
    factory = sessionmaker_for(db_url)
    gdf = districts.iloc[:2].copy()
    gdf["ADM2_TH"] = ["Müller Straße", "Größe"]  # Latin-1 bytes that are no Thai (0xFC is undefined in cp874)
    path = _zip_without_cpg(gdf, tmp_path, "ISO-8859-1")
    with pytest.raises(LayerRejected) as e:
        load_layer(factory, path, "district", meta(), fields=FIELDS)
    assert e.value.code == "unknown_encoding" and ".cpg" in e.value.message and "cp874" in e.value.message
    assert stored_districts(factory) == {}
    # naming the encoding loads it
    load_layer(factory, path, "district", meta(), fields=FIELDS, encoding="ISO-8859-1")
    assert "Größe" in {r.name_th for r in stored_districts(factory).values()}


def test_listeners_are_registered_once_and_wired_by_the_app(monkeypatch, tmp_path):
    """on_layers_changed and wiring.wire are idempotent; the app factory wires incidents, hotspots, clearing
    patches, red flags."""
    from geo_service import wiring
    from geo_service.forest_loss.ingest import reattribute_patches
    from geo_service.hotspots.attribution import reattribute_hotspots
    from geo_service.incidents.service import reattribute_incidents
    from geo_service.main import create_app
    from geo_service.redflags.service import after_layers_changed
    from tests.conftest import make_settings

    monkeypatch.setattr(store, "ON_LAYERS_CHANGED", [])

    def listener(session, layer_type):
        return None

    assert store.on_layers_changed(listener) is listener
    store.on_layers_changed(listener)
    assert [listener] == store.ON_LAYERS_CHANGED
    store.ON_LAYERS_CHANGED.clear()
    create_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:9/none", tmp_path))  # built, not started
    wiring.wire()
    assert [
        reattribute_incidents,
        reattribute_hotspots,
        reattribute_patches,
        after_layers_changed,
    ] == store.ON_LAYERS_CHANGED
