"""Load a layer file end to end: read and check it, then store it in the caller's transaction."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from geo_service.hashing import sha256_file
from geo_service.layers.reader import read_layer
from geo_service.layers.store import LayerMeta, LoadReport, store_layer


def load_file(
    session: Session,
    path: str | Path,
    layer_type: str,
    meta: LayerMeta,
    *,
    original_name: str | None = None,
    fields: dict[str, str] | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    default_kind: str | None = None,
    repair: bool = False,
    dry_run: bool = False,
) -> LoadReport:
    """Read, check and store a layer file in the caller's transaction.

    A refused file raises before anything is written. The caller commits, or rolls back (always with
    ``dry_run``, whose report then describes what would have changed): ``db.engine.transaction(factory,
    dry_run=...)`` does both.
    """
    data = read_layer(
        path,
        layer_type,
        original_name=original_name,
        fields=fields,
        layer=layer,
        encoding=encoding,
        default_kind=default_kind,
        repair=repair,
    )
    meta.file_sha256 = meta.file_sha256 or sha256_file(path)
    meta.file_name = meta.file_name or Path(original_name or path).name
    return store_layer(session, data, meta, dry_run=dry_run)
