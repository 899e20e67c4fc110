"""The worker's pull of published forest-loss alert tiles (issue 16, item 1) from a folder.

Layout: ``<folder>/<encoding>/*.tif``, one sub-folder per encoding of ``forest_loss.sources.ENCODINGS``
(``gfw_integrated``, ``radd``, ...); a tile whose layers are several (DIST-ALERT, Hansen) is one multi-band file.
A tile belongs to the UTC day its file was last written (published, or synchronised from the publisher, e.g.
by ``rclone``/``gsutil rsync``): the worker's catch-up hands each range of days to :func:`pull_folder` once.
The ingest is idempotent (the file's hash and parameters), so a tile pulled twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput
from geo_service.forest_loss.ingest import ingest_files
from geo_service.forest_loss.sources import ENCODINGS
from geo_service.settings import ForestLossSettings


def tiles_published(folder: Path, first: date, last: date) -> list[tuple[str, Path]]:
    """(encoding, file) of the tiles in ``folder`` written on a UTC day from ``first`` to ``last``, oldest first."""
    if not folder.is_dir():
        raise InvalidInput(
            f"The forest-loss alert folder {str(folder)[:200]!r} does not exist or is not a folder.",
            code="forest_loss_source_missing",
        )
    found = []
    for encoding in sorted(ENCODINGS):
        for tif in (folder / encoding).glob("*.tif"):
            mtime = tif.stat().st_mtime
            if first <= datetime.fromtimestamp(mtime, UTC).date() <= last:
                found.append((mtime, encoding, tif))
    return [(encoding, tif) for _mtime, encoding, tif in sorted(found)]


def pull_folder(session: Session, location: str, first: date, last: date, *, settings: ForestLossSettings) -> int:
    """Ingest the tiles published from ``first`` to ``last`` (UTC days) in the folder ``location``; returns the
    patches created or extended (a tile already ingested counts 0)."""
    patches = 0
    for encoding, tif in tiles_published(Path(location), first, last):
        report = ingest_files(session, [tif], encoding=encoding, settings=settings, created_by="worker")
        if not report.replayed:
            patches += report.patches_new + report.patches_extended
    return patches
