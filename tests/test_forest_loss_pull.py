"""The worker's folder pull of GLAD-L (UMD) tiles: their files are per year (confYY + alertDateYY, a day of the
year), so each tile gets its year as ``forest-loss ingest --year`` gives it: from a sub-folder named by the year
(``glad_l_umd/2024/``), else from GEO_SERVICE_WORKER_FOREST_LOSS_GLAD_L_YEAR; a tile with neither is refused
before any tile of the run is ingested."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from geo_service.db.engine import make_sessionmaker, transaction
from geo_service.errors import InvalidInput
from geo_service.forest_loss import store
from geo_service.forest_loss.pull import pull_folder, tile_params, tiles_published
from geo_service.settings import ForestLossSettings, WorkerSettings
from geo_service.wiring import worker_registry
from geo_service.worker.runner import Runner
from tests import forest_alert_rasters as far
from tests.conftest import make_settings


def _glad_tile(path: Path, doy: int, rows: slice) -> Path:
    """A two-band GLAD-L tile (conf 3, ``doy`` as alertDateYY) with one 3 x 3 px alert block at ``rows``."""
    conf = np.zeros((20, 20), dtype=np.uint8)
    day = np.zeros((20, 20), dtype=np.uint16)
    conf[rows, 2:5], day[rows, 2:5] = 3, doy
    path.parent.mkdir(parents=True, exist_ok=True)
    return far.write(path, [conf, day], far.PHRAE_10M, far.UTM47)


def _first_dates(session) -> list[date]:
    ids = sorted(i for r in store.list_ingests(session) for i in store.ingest_patch_ids(session, r["id"]))
    return sorted(p["first_date"] for p in store.patches_of(session, ids))


def test_tile_year_from_its_folder_or_the_setting(tmp_path):
    """A year folder wins over the setting; a loose tile takes the setting; other encodings need no year; a
    sub-folder not named by a year is not pulled."""
    root = tmp_path / "published"
    first = datetime.now(UTC).date()  # the UTC day(s) the tiles are written on (a run across midnight has two)
    in_2023 = _glad_tile(root / "glad_l_umd" / "2023" / "a.tif", 60, slice(2, 5))
    loose = _glad_tile(root / "glad_l_umd" / "b.tif", 60, slice(12, 15))
    _glad_tile(root / "glad_l_umd" / "latest" / "c.tif", 60, slice(12, 15))  # not a year: not a tile of the pull
    (root / "gfw_integrated").mkdir()
    gfw = far.write(root / "gfw_integrated" / "g.tif", np.zeros((20, 20), dtype=np.int32), far.PHRAE_10M, far.UTM47)
    today = datetime.now(UTC).date()
    assert {p for _, p in tiles_published(root, first, today)} == {in_2023, loose, gfw}
    assert tile_params("glad_l_umd", in_2023, 2024) == {"year": 2023}
    assert tile_params("glad_l_umd", loose, 2024) == {"year": 2024}
    assert tile_params("gfw_integrated", gfw, None) == {}
    with pytest.raises(InvalidInput) as e:
        tile_params("glad_l_umd", loose, None)
    assert (
        e.value.code == "forest_loss_year_missing" and "GEO_SERVICE_WORKER_FOREST_LOSS_GLAD_L_YEAR" in e.value.message
    )
    with pytest.raises(ValueError):
        WorkerSettings(forest_loss_glad_l_year=14)  # typo for 2014 (and GLAD-L starts in 2015)


def test_pull_decodes_each_tile_with_its_year(db_url, sessionmaker_for, tmp_path):
    """Day of the year 60 is 1 March 2023 in the 2023 folder and 29 February 2024 (a leap year) for the loose tile
    with the setting 2024 (dates by hand); without the setting the run is refused and stores nothing, not even the
    tile that had its year."""
    sm = sessionmaker_for(db_url)
    root = tmp_path / "published"
    first = datetime.now(UTC).date()  # the UTC day(s) the tiles are written on (a run across midnight has two)
    _glad_tile(root / "glad_l_umd" / "2023" / "a.tif", 60, slice(2, 5))
    _glad_tile(root / "glad_l_umd" / "b.tif", 60, slice(12, 15))
    today = datetime.now(UTC).date()
    with pytest.raises(InvalidInput) as e, transaction(sm) as s:
        pull_folder(s, str(root), first, today, settings=ForestLossSettings())
    assert "b.tif" in e.value.message
    with sm() as s:
        assert store.list_ingests(s) == []
    with transaction(sm) as s:
        assert pull_folder(s, str(root), first, today, settings=ForestLossSettings(), glad_l_year=2024) == 2
    with sm() as s:
        assert _first_dates(s) == [date(2023, 3, 1), date(2024, 2, 29)]
        assert sorted(r["params"]["year"] for r in store.list_ingests(s)) == [2023, 2024]


@pytest.mark.slow
def test_the_worker_job_passes_the_configured_year(db_url, tmp_path):
    """``geo-service worker``'s job ``forest_loss`` (wiring.worker_registry) reads
    GEO_SERVICE_WORKER_FOREST_LOSS_GLAD_L_YEAR: the loose tile is ingested as 2024; without it the job's run is an
    error that names the setting, and nothing is stored."""
    root = tmp_path / "published"
    _glad_tile(root / "glad_l_umd" / "b.tif", 60, slice(12, 15))
    from geo_service.db.engine import make_engine

    engine = make_engine(db_url, pool_size=2)
    try:
        without = make_settings(db_url, tmp_path, forest_loss_source=str(root))
        runner = Runner(make_sessionmaker(engine, without), without, worker_registry(without), worker="test:glad")
        runner.declare()
        failed = runner.run("forest_loss")
        assert failed.status == "error" and "FOREST_LOSS_GLAD_L_YEAR" in (failed.error or "")
        with make_sessionmaker(engine, without)() as s:
            assert store.list_ingests(s) == []
        settings = make_settings(db_url, tmp_path, forest_loss_source=str(root), forest_loss_glad_l_year=2024)
        runner = Runner(make_sessionmaker(engine, settings), settings, worker_registry(settings), worker="test:glad")
        runner.declare()
        now = datetime.now(UTC) + timedelta(seconds=1)
        done = runner.run("forest_loss", now=now)
        assert (done.status, done.rows, done.error) == ("ok", 1, None)
        with make_sessionmaker(engine, settings)() as s:
            assert _first_dates(s) == [date(2024, 2, 29)]
    finally:
        engine.dispose()
