"""The worker's pull of published forest-loss alert tiles (issue 16, item 1) from a folder.

Layout: ``<folder>/<encoding>/*.tif``, one sub-folder per encoding of ``forest_loss.sources.ENCODINGS``
(``gfw_integrated``, ``radd``, ...); a tile whose layers are several (DIST-ALERT, Hansen) is one multi-band file.
A tile belongs to the UTC day its file was last written (published, or synchronised from the publisher, e.g.
by ``rclone``/``gsutil rsync``): the worker's catch-up hands each range of days to :func:`pull_folder` once.
The ingest is idempotent (the file's hash and parameters), so a tile pulled twice changes nothing.

GLAD-L (UMD) files are per year (``confYY`` + ``alertDateYY``: a day of the year), so a tile needs its year, as
``forest-loss ingest --year`` gives it: a tile in a sub-folder named by the year (``glad_l_umd/2025/*.tif``) has
that year; one directly in ``glad_l_umd/`` has ``GEO_SERVICE_WORKER_FOREST_LOSS_GLAD_L_YEAR``. A GLAD-L tile with
neither is refused before any tile of the run is ingested.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput
from geo_service.forest_loss.ingest import ingest_files
from geo_service.forest_loss.sources import ENCODINGS
from geo_service.settings import ForestLossSettings

YEAR_ENCODING = "glad_l_umd"  # the encoding whose files are per year (its parameter ``year``)


def _year_folder(name: str) -> int | None:
    return int(name) if len(name) == 4 and name.isascii() and name.isdigit() else None


def tiles_published(folder: Path, first: date, last: date) -> list[tuple[str, Path]]:
    """(encoding, file) of the tiles in ``folder`` written on a UTC day from ``first`` to ``last``, oldest first
    (GLAD-L's also in its year sub-folders, ``glad_l_umd/2025/*.tif``)."""
    if not folder.is_dir():
        raise InvalidInput(
            f"The forest-loss alert folder {str(folder)[:200]!r} does not exist or is not a folder.",
            code="forest_loss_source_missing",
        )
    found = []
    for encoding in sorted(ENCODINGS):
        tifs = list((folder / encoding).glob("*.tif"))
        if encoding == YEAR_ENCODING:
            tifs += [t for t in (folder / encoding).glob("*/*.tif") if _year_folder(t.parent.name) is not None]
        for tif in tifs:
            mtime = tif.stat().st_mtime
            if first <= datetime.fromtimestamp(mtime, UTC).date() <= last:
                found.append((mtime, encoding, tif))
    return [(encoding, tif) for _mtime, encoding, tif in sorted(found)]


def tile_params(encoding: str, tif: Path, glad_l_year: int | None) -> dict[str, Any]:
    """The ingest parameters of a published tile: for GLAD-L its year (the year folder it is in, else
    ``glad_l_year``); InvalidInput naming both ways when it has none. Other encodings: their defaults."""
    if encoding != YEAR_ENCODING:
        return {}
    year = _year_folder(tif.parent.name) if tif.parent.name != YEAR_ENCODING else None
    year = year if year is not None else glad_l_year
    if year is None:
        raise InvalidInput(
            f"The GLAD-L tile {tif.name[:120]!r} needs the year its files cover (confYY, alertDateYY): put it in a "
            f"folder named by the year ({YEAR_ENCODING}/2025/) or set GEO_SERVICE_WORKER_FOREST_LOSS_GLAD_L_YEAR.",
            code="forest_loss_year_missing",
        )
    return {"year": year}


def pull_folder(
    session: Session,
    location: str,
    first: date,
    last: date,
    *,
    settings: ForestLossSettings,
    glad_l_year: int | None = None,
) -> int:
    """Ingest the tiles published from ``first`` to ``last`` (UTC days) in the folder ``location``; returns the
    patches created or extended (a tile already ingested counts 0). ``glad_l_year``: the year of GLAD-L tiles not
    in a year folder (``GEO_SERVICE_WORKER_FOREST_LOSS_GLAD_L_YEAR``); every tile's parameters are checked before
    the first is ingested."""
    tiles = [(encoding, tif, tile_params(encoding, tif, glad_l_year)) for encoding, tif in
             tiles_published(Path(location), first, last)]  # fmt: skip
    patches = 0
    for encoding, tif, params in tiles:
        report = ingest_files(
            session, [tif], encoding=encoding, settings=settings, params=params or None, created_by="worker"
        )
        if not report.replayed:
            patches += report.patches_new + report.patches_extended
    return patches
