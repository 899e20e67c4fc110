"""Load a layer file end to end: read and check it, then store it in one transaction."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from geo_service.hashing import sha256_file
from geo_service.layers.reader import read_layer
from geo_service.layers.store import LayerMeta, LoadReport, store_layer


def load_file(
    factory: sessionmaker[Session],
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
    """Read, check and store a layer file. Nothing is stored if anything is refused, or with ``dry_run``."""
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
    with factory() as session:
        tx = session.begin()
        try:
            report = store_layer(session, data, meta, dry_run=dry_run)
        except BaseException:
            tx.rollback()
            raise
        if dry_run:
            tx.rollback()
        else:
            tx.commit()
    return report
