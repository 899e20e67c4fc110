"""Simulated national data: nested boundaries over Thailand's outline and a FIRMS detection archive.

Boundaries: exact counts, code shapes, exact nesting, no overlaps or gaps, valid geometries, determinism, and a
load through the real layer loader. Detections: exact FIRMS columns, seasons by region, satellites by year,
clustering, determinism, GeoParquet partitions, and an ingest through the real FIRMS ingest with no refusal.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree
from sqlalchemy import text
from typer.testing import CliRunner

from geo_service.db.engine import transaction
from geo_service.hotspots.firms import read_firms_csv
from geo_service.hotspots.ingest import ingest_file
from geo_service.layers.manifest import bundled_layers, load_bundled
from geo_service.places import Gazetteer
from geo_service.settings import THAILAND_BBOX
from geo_service.simulation import detections as det
from geo_service.simulation.boundaries import (
    SMALL,
    sample_in_outline,
    simulate_boundaries,
    thailand_outline,
    write_boundaries,
)
from geo_service.simulation.cli import app as simulate_app

FIRMS_DATA = Path(__file__).parent / "data" / "firms"
AREA_TOL = 1e-9  # square degrees (about 0.01 m2)


@pytest.fixture(scope="module")
def small():
    return simulate_boundaries(7, **SMALL)


@pytest.fixture(scope="module")
def archive():
    return det.detections_frame(120_000, (2016, 2024), seed=11)


# --- boundaries --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_counts_and_code_shapes_are_exact(small):
    assert (len(small.provinces), len(small.districts), len(small.subdistricts)) == (5, 40, 300)
    for gdf, digits in ((small.provinces, 2), (small.districts, 4), (small.subdistricts, 6)):
        assert gdf["code"].is_unique
        assert all(re.fullmatch(rf"\d{{{digits}}}", c) for c in gdf["code"])
        assert (gdf["pcode"] == "TH" + gdf["code"]).all()
        assert gdf["name_th"].str.contains("จำลอง").all() and gdf["name_en"].str.startswith("Sim ").all()
    assert set(small.provinces["code"]) == {f"{i:02d}" for i in range(1, 6)}
    assert small.provinces["name_th"].iloc[0] == "จังหวัดจำลอง 01"
    assert (small.districts["parent_code"] == small.districts["code"].str[:2]).all()
    assert (small.subdistricts["parent_code"] == small.subdistricts["code"].str[:4]).all()
    assert set(small.subdistricts["parent_code"]) == set(small.districts["code"])  # no empty district
    assert set(small.districts["parent_code"]) == set(small.provinces["code"])  # no empty province


@pytest.mark.slow
def test_geometries_are_valid_and_tile_the_outline_without_overlap_or_gap(small):
    outline = thailand_outline()
    for gdf in (small.provinces, small.districts, small.subdistricts):
        geoms = gdf.geometry.values
        assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
        assert set(gdf.geom_type) == {"MultiPolygon"}
        union = shapely.union_all(geoms)
        # the areas add up to the union's (no overlap) and the union is the outline (no gap, nothing outside)
        assert abs(shapely.area(geoms).sum() - union.area) < 1e-6
        assert shapely.symmetric_difference(union, outline).area < 1e-6
    minx, miny, maxx, maxy = THAILAND_BBOX
    b = small.subdistricts.total_bounds
    assert minx <= b[0] and miny <= b[1] and b[2] <= maxx and b[3] <= maxy


@pytest.mark.slow
def test_nesting_is_exact(small):
    def check(children, parents):
        by_code = dict(zip(parents["code"], parents.geometry, strict=True))
        for code, group in children.groupby("parent_code"):
            parent = by_code[code]
            union = shapely.union_all(group.geometry.values)
            assert shapely.symmetric_difference(union, parent).area < AREA_TOL, code
            # every child lies in its parent, and in no other parent
            inside = shapely.area(shapely.intersection(group.geometry.values, parent))
            assert np.allclose(inside, shapely.area(group.geometry.values), atol=AREA_TOL)
        tree = shapely.STRtree(parents.geometry.values)
        child_idx, parent_idx = tree.query(children.geometry.values, predicate="intersects")
        shared = shapely.area(
            shapely.intersection(children.geometry.values[child_idx], parents.geometry.values[parent_idx])
        )
        owners = np.bincount(child_idx[shared > AREA_TOL], minlength=len(children))
        assert (owners == 1).all()

    check(small.subdistricts, small.districts)
    check(small.districts, small.provinces)


@pytest.mark.slow
def test_boundaries_are_deterministic_per_seed(small):
    again = simulate_boundaries(7, **SMALL)
    other = simulate_boundaries(8, **SMALL)
    for a, b in ((small.subdistricts, again.subdistricts), (small.provinces, again.provinces)):
        assert list(a["code"]) == list(b["code"])
        assert shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=0).all()
    assert shapely.equals_exact(small.protected_areas.geometry.values, again.protected_areas.geometry.values).all()
    assert not shapely.equals(small.provinces.geometry.values, other.provinces.geometry.values).all()


def test_bad_counts_are_refused_with_a_reason():
    with pytest.raises(ValueError, match=r"provinces must be 1\.\.99"):
        simulate_boundaries(0, provinces=120, districts=928, subdistricts=7400)
    with pytest.raises(ValueError, match="districts must be"):
        simulate_boundaries(0, provinces=5, districts=3, subdistricts=300)
    with pytest.raises(ValueError, match="subdistricts must be"):
        simulate_boundaries(0, provinces=5, districts=40, subdistricts=20)


@pytest.mark.slow
def test_protected_areas_cover_about_the_share_asked(small):
    pa = small.protected_areas
    share = pa.geometry.to_crs(32647).area.sum() / small.provinces.geometry.to_crs(32647).area.sum()
    assert 0.25 <= share <= 0.4
    assert shapely.is_valid(pa.geometry.values).all() and pa["code"].is_unique
    assert set(pa["kind"]) <= {"national_reserved_forest", "national_park", "wildlife_sanctuary"}
    assert pa["valid_from"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


@pytest.mark.slow
def test_generated_boundaries_load_through_the_real_layer_loader(small, tmp_path, db_url, sessionmaker_for):
    files = write_boundaries(small, tmp_path)
    assert {f.name for f in files} == {
        "provinces.gpkg",
        "districts.gpkg",
        "subdistricts.gpkg",
        "protected_areas.gpkg",
        "manifest.toml",
    }
    assert [x.type for x in bundled_layers(tmp_path)] == ["province", "district", "subdistrict", "protected_area"]
    sm = sessionmaker_for(db_url)
    with transaction(sm) as session:
        reports = load_bundled(session, tmp_path, loaded_by="test")
    assert [r.features for r in reports] == [5, 40, 300, len(small.protected_areas)]
    with sm() as s:
        rows = s.execute(
            text(
                "SELECT level::text AS level, count(*) AS n FROM admin_areas WHERE version = :v AND is_current "
                "GROUP BY level ORDER BY level"
            ),
            {"v": small.version},
        ).all()
    assert {r.level: r.n for r in rows} == {"province": 5, "district": 40, "subdistrict": 300}


@pytest.mark.slow
def test_geojson_output_reads_back_with_the_same_codes(small, tmp_path):
    import geopandas as gpd

    write_boundaries(small, tmp_path, fmt="geojson")
    back = gpd.read_file(tmp_path / "districts.geojson")
    assert list(back["code"]) == list(small.districts["code"])
    assert list(back["parent_code"]) == list(small.districts["parent_code"])


# --- detections --------------------------------------------------------------------------------------------------


def _header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_column_lists_are_the_firms_archive_headers():
    assert _header(FIRMS_DATA / "modis_sp.csv") == det.MODIS_COLUMNS
    assert _header(FIRMS_DATA / "viirs_snpp_sp.csv") == det.VIIRS_COLUMNS


@pytest.mark.slow
def test_rows_are_exact_and_split_into_firms_products():
    frame = det.detections_frame(5_003, (2023, 2024), seed=1)
    assert len(frame) == 5_003 and list(frame.columns) == [*det.FIRMS_COLUMNS, "acq_utc"]
    parts = det.firms_frames(frame)
    assert set(parts) == {"modis", "viirs-snpp", "viirs-jpss1", "viirs-jpss2"}
    assert sum(len(p) for p in parts.values()) == 5_003
    assert list(parts["modis"].columns) == det.MODIS_COLUMNS and list(parts["viirs-snpp"].columns) == det.VIIRS_COLUMNS
    assert sum(det.rows_per_year(20_000_000, (2012, 2026)).values()) == 20_000_000
    chunks = list(det.simulate_detections(10_000, (2020, 2020), chunk_rows=3_000))
    with pytest.raises(ValueError, match="starts in 2001"):
        det.rows_per_year(100, (2000, 2010))
    early = det.detections_frame(3_000, (2001, 2003), seed=2)  # MODIS only, Aqua from July 2002
    assert set(early["instrument"].astype(str)) == {"MODIS"}
    aqua = early.loc[early["satellite"] == "Aqua", "acq_utc"]
    assert aqua.min() >= pd.Timestamp("2002-07-03", tz="UTC")
    assert [len(f) for _, _, f in chunks] == [2_500] * 4


@pytest.mark.slow
def test_seasons_by_region(archive):
    month = archive["acq_utc"].dt.tz_convert("Asia/Bangkok").dt.month.to_numpy()
    lat = archive["latitude"].to_numpy()
    north = np.bincount(month[lat > 17.5], minlength=13)[1:]
    assert np.argmax(north) + 1 in (2, 3, 4)
    assert north[1:4].sum() > 0.7 * north.sum()  # February to April
    assert north[5:10].sum() < 0.05 * north.sum()  # the rainy season is quiet
    south = np.bincount(month[lat < 10.5], minlength=13)[1:]
    jan_mar, jul_sep = south[0:3].sum(), south[6:9].sum()
    apr_jun, oct_dec = south[3:6].sum(), south[9:12].sum()
    assert min(jan_mar, jul_sep) > 1.4 * max(apr_jun, oct_dec)  # two seasons in the south
    assert np.argmax(south) + 1 in (1, 2, 3, 7, 8, 9)


@pytest.mark.slow
def test_satellites_overpasses_and_instrument_values(archive):
    day = archive["acq_utc"].dt.tz_convert(None)
    local = (
        archive["acq_utc"].dt.tz_convert("Asia/Bangkok").dt.tz_localize(None)
    )  # a night pass is the day before in UTC
    sat = archive["satellite"].astype(str)
    assert (local[sat == "N20"] >= "2018-01-05").all() and (local[sat == "N21"] >= "2023-02-10").all()
    assert {"Terra", "Aqua", "N", "N20", "N21"} == set(sat)
    by_year = pd.crosstab(day.dt.year, archive["instrument"].astype(str))
    assert (by_year["VIIRS"] > 1.5 * by_year["MODIS"]).all()
    # local solar hour of the pass (UTC + longitude / 15): Terra about 10:30 by day, Aqua and VIIRS about 13:30
    solar = (day.dt.hour + day.dt.minute / 60 + archive["longitude"] / 15) % 24
    dn = archive["daynight"].astype(str)
    assert solar[(sat == "Terra") & (dn == "D")].between(9.5, 11.5).all()
    assert solar[(sat == "Aqua") & (dn == "D")].between(12.5, 14.5).all()
    assert solar[(sat == "N") & (dn == "N")].between(0.5, 2.5).all()
    assert 0.75 < (dn == "D").mean() < 0.95
    modis = archive["instrument"].astype(str) == "MODIS"
    m, v = archive[modis], archive[~modis]
    assert m["scan"].between(1.0, 4.8).all() and v["scan"].between(0.32, 0.8).all()
    assert v["bright_ti4"].max() <= 367 and m["brightness"].notna().all() and v["brightness"].isna().all()
    assert set(v["confidence"].astype(str)) == {"l", "n", "h"}
    assert m["confidence"].astype(str).astype(int).between(0, 100).all()
    assert v["frp"].median() < m["frp"].median()
    assert set(archive["type"]) == {0, 2}


@pytest.mark.slow
def test_detections_are_on_land_and_cluster_in_space_and_time(archive):
    outline = shapely.buffer(thailand_outline(), 0.02)
    assert shapely.contains_xy(outline, archive["longitude"], archive["latitude"]).all()
    fires = archive[archive["type"] == 0].iloc[:40_000]
    days = (fires["acq_utc"].astype("int64") // 86_400e9).to_numpy()
    xyz = np.column_stack(
        (fires["longitude"] * 108.0, fires["latitude"] * 111.0, days * 5.0)
    )  # km, with a day weighing 5 km
    d, _ = cKDTree(xyz).query(xyz, k=2)
    # the same number of points spread uniformly over the country and the days: neighbours 10x farther at least
    rng = np.random.default_rng(0)
    pts = sample_in_outline(rng, len(xyz), thailand_outline(), uniform_share=1.0)
    uniform = np.column_stack((pts[:, 0] * 108.0, pts[:, 1] * 111.0, rng.permutation(xyz[:, 2])))
    du, _ = cKDTree(uniform).query(uniform, k=2)
    assert np.median(du[:, 1]) > 10 * np.median(d[:, 1])
    # fronts last days: many detections have one within 3 km on another day, one to three days apart
    tree = cKDTree(xyz[:, :2])
    near = tree.query_ball_point(xyz[:5_000, :2], r=3.0)
    later = [
        np.any((np.abs(days[j] - days[i]) >= 1) & (np.abs(days[j] - days[i]) <= 3))
        for i, j in enumerate(map(np.array, near))
    ]
    assert np.mean(later) > 0.3


@pytest.mark.slow
def test_detections_are_deterministic_per_seed():
    a = det.detections_frame(20_000, (2019, 2021), seed=5)
    b = det.detections_frame(20_000, (2019, 2021), seed=5)
    c = det.detections_frame(20_000, (2019, 2021), seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a["latitude"].equals(c["latitude"])


@pytest.mark.slow
def test_parquet_partitions_by_month(tmp_path):
    import geopandas as gpd

    chunks = list(det.simulate_detections(30_000, (2020, 2021), seed=2, chunk_rows=10_000))
    files = det.write_parquet(chunks, tmp_path)
    assert all(
        re.fullmatch(r"year=\d{4}/month=\d{2}/part-\d{4}-\d{3}\.parquet", str(f.relative_to(tmp_path))) for f in files
    )
    total = 0
    for f in files:
        g = gpd.read_parquet(f)
        total += len(g)
        y, m = int(f.parent.parent.name[5:]), int(f.parent.name[6:])
        assert ((g["acq_utc"].dt.year == y) & (g["acq_utc"].dt.month == m)).all()
        assert g.crs.to_epsg() == 4326 and np.allclose(g.geometry.x, g["longitude"])
        assert list(g.columns) == [*det.FIRMS_COLUMNS, "acq_utc", "geometry"]
    assert total == 30_000
    import dask_geopandas  # the Dask batch work reads the folder as one dataset

    dataset = dask_geopandas.read_parquet(tmp_path)
    assert dataset.crs.to_epsg() == 4326 and len(dataset) == 30_000


@pytest.mark.slow
def test_generated_csv_ingests_through_the_real_firms_ingest(tmp_path, db_url, sessionmaker_for):
    files = det.write_csv(det.simulate_detections(6_000, (2024, 2024), seed=4), tmp_path)
    assert {f.name for f in files} == {
        "modis_2024_Thailand.csv",
        "viirs-snpp_2024_Thailand.csv",
        "viirs-jpss1_2024_Thailand.csv",
        "viirs-jpss2_2024_Thailand.csv",
    }
    for f in files:  # the exact FIRMS header, read by the ingest's own reader without a problem
        assert _header(f) == (det.MODIS_COLUMNS if f.name.startswith("modis") else det.VIIRS_COLUMNS)
        assert not any(c.problems for c in read_firms_csv(f))
    sm = sessionmaker_for(db_url)
    total = 0
    for f in files:
        with transaction(sm) as s:
            r = ingest_file(s, f, Gazetteer.load(s), country_bbox=THAILAND_BBOX)
        assert r.rows_refused == 0 and r.rows_outside == 0, r.as_dict()
        total += r.rows_total
    assert total == 6_000
    with sm() as s:
        stored, sp = s.execute(text("SELECT count(*), count(*) FILTER (WHERE processing = 'SP') FROM hotspots")).one()
    assert stored == sp and stored >= 0.99 * 6_000  # a pixel seen twice in one pass is one detection


# --- command line ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_writes_boundaries_and_detections(tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        simulate_app,
        ["boundaries", str(tmp_path / "b"), "--provinces", "3", "--districts", "12", "--subdistricts", "60"],
    )
    assert r.exit_code == 0, r.output
    assert "3 provinces, 12 districts, 60 subdistricts" in r.output
    assert (tmp_path / "b" / "manifest.toml").exists()
    r = runner.invoke(simulate_app, ["boundaries", str(tmp_path / "s"), "--scale", "small", "--format", "geojson"])
    assert r.exit_code == 0 and "5 provinces, 40 districts, 300 subdistricts" in r.output, r.output
    r = runner.invoke(
        simulate_app, ["detections", str(tmp_path / "d"), "--rows", "2000", "--years", "2020", "--format", "csv"]
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "d").iterdir())[0] == "modis_2020_Thailand.csv"


def test_cli_refuses_bad_arguments_with_a_message(tmp_path):
    runner = CliRunner()

    def said(r):
        return " ".join(r.output.replace("│", " ").split())

    r = runner.invoke(simulate_app, ["detections", str(tmp_path), "--years", "2026-2012"])
    assert r.exit_code != 0 and "first not after the last" in said(r)
    r = runner.invoke(simulate_app, ["detections", str(tmp_path), "--format", "xlsx"])
    assert r.exit_code != 0 and "parquet or csv" in said(r)
    r = runner.invoke(simulate_app, ["boundaries", str(tmp_path), "--provinces", "5", "--districts", "3"])
    assert r.exit_code == 1 and "districts must be" in said(r)


def test_nrt_files_carry_the_nrt_version(tmp_path):
    files = det.write_csv(det.simulate_detections(800, (2025, 2025), seed=3, processing="NRT"), tmp_path)
    frames = [c.frame for f in files for c in read_firms_csv(f)]
    assert sum(len(f) for f in frames) == 800
    assert all(set(f["processing"]) == {"NRT"} for f in frames)
    assert {v for f in frames for v in f["version"]} == {"6.1NRT", "2.0NRT"}
