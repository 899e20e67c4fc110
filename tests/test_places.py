"""Attributing points to the real Phrae districts, subdistricts and the protected areas in force."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy.orm import Session

from geo_service.layers.manifest import DEFAULT_LAYERS_DIR
from geo_service.places import Gazetteer, gazetteer


@pytest.fixture(scope="module")
def gaz(ref_url):
    from sqlalchemy import create_engine

    engine = create_engine(ref_url)
    with Session(engine) as s:
        g = Gazetteer.load(s)
    engine.dispose()
    return g


@pytest.fixture(scope="module")
def tambons():
    return gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_tambon_hdx_codab.geojson")


def test_a_point_inside_every_subdistrict(gaz, tambons):
    pts = tambons.geometry.representative_point()
    a = gaz.attribute(pts.x.values, pts.y.values)
    assert list(a.subdistrict) == list(tambons.tam_code)
    assert list(a.district) == list(tambons.amp_code)
    assert set(a.province) == {"54"}


def test_boundary_points_are_counted_once_in_the_lower_code(gaz):
    districts = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson").set_index("amp_code")
    shared = districts.geometry["5401"].boundary.intersection(districts.geometry["5404"].boundary)
    xy = shapely.get_coordinates(shared)[::7]  # vertices both polygons share
    assert len(xy) > 10
    assert shapely.intersects_xy(districts.geometry["5404"], xy[:, 0], xy[:, 1]).all()
    a = gaz.attribute(xy[:, 0], xy[:, 1])
    assert set(a.district) == {"5401"}


@pytest.mark.slow
def test_random_points_match_a_geopandas_join(gaz):
    rng = np.random.default_rng(7)
    x = rng.uniform(99.3, 100.6, 20_000)
    y = rng.uniform(17.6, 18.9, 20_000)
    a = gaz.attribute(x, y)
    districts = gpd.read_file(DEFAULT_LAYERS_DIR / "phrae/phrae_amphoe_hdx_codab.geojson")
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=4326)
    joined = gpd.sjoin(pts, districts[["amp_code", "geometry"]], predicate="intersects").groupby(level=0).amp_code.min()
    expected = np.full(len(x), None, dtype=object)
    expected[joined.index.values] = joined.values
    assert (a.district == expected).all()
    assert (a.district != None).sum() > 5000  # noqa: E711 - a good share falls inside Phrae


def test_outside_the_province_is_none(gaz):
    a = gaz.attribute([100.5, 98.98], [13.75, 18.79])  # Bangkok, Chiang Mai
    assert list(a.district) == [None, None] and list(a.province) == [None, None]
    assert a.protected_area_lists() == [[], []] and not a.in_reserve.any()


def test_protected_areas_by_date(gaz, ref_url):
    from sqlalchemy import create_engine, text

    engine = create_engine(ref_url)
    with engine.connect() as c:
        revoked = c.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM protected_areas "
                "WHERE code = 'ALRO-PR-003R') s"
            )
        ).one()
        enclave = c.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_MakePolygon(ST_InteriorRingN("
                "ST_GeometryN(geom, 1), 1))) p FROM protected_areas WHERE code = 'NRF-PR-001') s"
            )
        ).one()
    engine.dispose()
    x, y = revoked
    before = gaz.attribute([x], [y], np.datetime64("2010-01-01"))
    after = gaz.attribute([x], [y], np.datetime64("2020-01-01"))
    assert before.protected_areas(0) == ["NRF-PR-003"] and before.reserve[0] == "NRF-PR-003"
    assert after.protected_areas(0) == ["ALRO-PR-003R"] and not after.in_reserve[0]
    # The village enclave (a hole) is not in the reserve.
    assert "NRF-PR-001" not in gaz.attribute([enclave[0]], [enclave[1]]).protected_areas(0)
    # Per-point dates.
    both = gaz.attribute([x, x], [y, y], np.array([date(2010, 1, 1), date(2020, 1, 1)], dtype="datetime64[D]"))
    assert list(both.in_reserve) == [True, False]


def test_cached_gazetteer_follows_layer_changes(db_url):
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with Session(engine) as s:
        g1 = gazetteer(s)
        assert gazetteer(s) is g1
        s.execute(text("UPDATE protected_areas SET updated_at = now() + interval '1 second' WHERE code = 'NP-MAEYOM'"))
        s.commit()
        assert gazetteer(s) is not g1
    engine.dispose()
