"""Store a checked layer in PostGIS: one transaction, upsert by (code, version), history kept.

Administrative areas: the loaded version becomes the current one for its codes. Protected areas: each
row is a boundary version with a validity period; an open-ended older version of the same code is closed
on the day the new one takes effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.layers import aoi
from geo_service.layers.reader import LayerData

LayerListener = Callable[[Session, str], object]  # what it returns is not used

# Called in the same transaction after a boundary layer changed, with (session, layer_type): each capability
# that stores an attribution recomputes it there. The application registers them at start-up (geo_service.wiring);
# this module does not know its dependents.
ON_LAYERS_CHANGED: list[LayerListener] = []


def on_layers_changed(listener: LayerListener) -> LayerListener:
    """Register ``listener`` to run after a boundary layer changed (once: registering it again changes nothing)."""
    if listener not in ON_LAYERS_CHANGED:
        ON_LAYERS_CHANGED.append(listener)
    return listener


@dataclass
class LayerMeta:
    """Where a layer comes from and under which terms: stored with each load."""

    name: str
    version: str
    source: str
    licence: str
    attribution: str
    title: str | None = None
    illustrative: bool = False
    file_name: str | None = None
    file_sha256: str | None = None
    loaded_by: str | None = None


@dataclass
class LoadReport:
    """What a load stored (or would store): counts, CRS, bounds and warnings."""

    layer: str
    version: str
    layer_type: str
    source_id: int | None
    features: int
    inserted: int
    updated: int
    unchanged: int
    source_crs: str
    bounds: tuple[float, float, float, float]
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The report as a plain dict (JSON, the audit entry)."""
        return asdict(self)


_UPSERT_SOURCE = text("""
INSERT INTO layer_sources (name, version, layer_type, title, source, licence, attribution, illustrative,
                           file_name, file_sha256, feature_count, loaded_by)
VALUES (:name, :version, :layer_type, :title, :source, :licence, :attribution, :illustrative,
        :file_name, :file_sha256, :feature_count, :loaded_by)
ON CONFLICT (name, version) DO UPDATE SET
  layer_type = EXCLUDED.layer_type, title = EXCLUDED.title, source = EXCLUDED.source,
  licence = EXCLUDED.licence, attribution = EXCLUDED.attribution, illustrative = EXCLUDED.illustrative,
  file_name = EXCLUDED.file_name, file_sha256 = EXCLUDED.file_sha256,
  feature_count = EXCLUDED.feature_count, loaded_by = EXCLUDED.loaded_by, loaded_at = now()
RETURNING id
""")

# Areas are measured in the UTM zone of each feature (utm_srid, defined by migration 0001). A changed row's
# updated_at is the statement's clock, not the transaction's start: places.layers_version then tells apart two
# layers changed one after the other in one transaction (the bundled layers, loaded together).
_UPSERT_ADMIN = text("""
INSERT INTO admin_areas AS a (level, code, version, parent_code, name_th, name_en, area_m2, is_current, source_id, geom,
                              updated_at)
SELECT CAST(:level AS admin_level), :code, :version, :parent_code, :name_th, :name_en,
       ST_Area(ST_Transform(g, utm_srid(g))), false, :source_id, g, clock_timestamp()
FROM (SELECT ST_Multi(ST_GeomFromWKB(:wkb, 4326)) AS g) s
ON CONFLICT (level, code, version) DO UPDATE SET
  parent_code = EXCLUDED.parent_code, name_th = EXCLUDED.name_th, name_en = EXCLUDED.name_en,
  area_m2 = EXCLUDED.area_m2, source_id = EXCLUDED.source_id, geom = EXCLUDED.geom, updated_at = clock_timestamp()
WHERE (a.parent_code, a.name_th, a.name_en, a.source_id, ST_AsEWKB(a.geom))
      IS DISTINCT FROM (EXCLUDED.parent_code, EXCLUDED.name_th, EXCLUDED.name_en, EXCLUDED.source_id,
                        ST_AsEWKB(EXCLUDED.geom))
RETURNING (xmax = 0) AS inserted
""")

_UPSERT_PROTECTED = text("""
INSERT INTO protected_areas AS p (code, version, kind, name_th, name_en, legal_reference, agency, valid_from,
                                  valid_to, note, illustrative, area_m2, source_id, geom, updated_at)
SELECT :code, :version, CAST(:kind AS protected_kind), :name_th, :name_en, :legal_reference, :agency,
       :valid_from, :valid_to, :note, :illustrative, ST_Area(ST_Transform(g, utm_srid(g))), :source_id, g,
       clock_timestamp()
FROM (SELECT ST_Multi(ST_GeomFromWKB(:wkb, 4326)) AS g) s
ON CONFLICT (code, version) DO UPDATE SET
  kind = EXCLUDED.kind, name_th = EXCLUDED.name_th, name_en = EXCLUDED.name_en,
  legal_reference = EXCLUDED.legal_reference, agency = EXCLUDED.agency, valid_from = EXCLUDED.valid_from,
  valid_to = EXCLUDED.valid_to, note = EXCLUDED.note, illustrative = EXCLUDED.illustrative,
  area_m2 = EXCLUDED.area_m2, source_id = EXCLUDED.source_id, geom = EXCLUDED.geom, updated_at = clock_timestamp()
WHERE (p.kind, p.name_th, p.name_en, p.legal_reference, p.agency, p.valid_from, p.valid_to, p.note,
       p.illustrative, p.source_id, ST_AsEWKB(p.geom))
      IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.name_th, EXCLUDED.name_en, EXCLUDED.legal_reference,
                        EXCLUDED.agency, EXCLUDED.valid_from, EXCLUDED.valid_to, EXCLUDED.note,
                        EXCLUDED.illustrative, EXCLUDED.source_id, ST_AsEWKB(EXCLUDED.geom))
RETURNING (xmax = 0) AS inserted
""")


def store_layer(session: Session, data: LayerData, meta: LayerMeta, *, dry_run: bool = False) -> LoadReport:
    """Write ``data`` in the caller's transaction (the caller commits; with dry_run everything is rolled back)."""
    source_id = session.execute(
        _UPSERT_SOURCE, {**asdict(meta), "layer_type": data.layer_type, "feature_count": len(data.features)}
    ).scalar_one()
    inserted = updated = 0
    if data.layer_type == "protected_area":
        for f in data.features:
            row = session.execute(
                _UPSERT_PROTECTED,
                {
                    "code": f.code,
                    "version": f.version or meta.version,
                    "kind": f.kind.value if f.kind is not None else None,  # the reader refuses a missing kind
                    "name_th": f.name_th,
                    "name_en": f.name_en,
                    "legal_reference": f.legal_reference,
                    "agency": f.agency,
                    "valid_from": f.valid_from,
                    "valid_to": f.valid_to,
                    "note": f.note,
                    "illustrative": meta.illustrative,
                    "source_id": source_id,
                    "wkb": f.geom.wkb,
                },
            ).first()
            if row is not None:
                inserted += row.inserted
                updated += not row.inserted
        _close_superseded(session, source_id)
    else:
        for f in data.features:
            row = session.execute(
                _UPSERT_ADMIN,
                {
                    "level": data.layer_type,
                    "code": f.code,
                    "version": meta.version,
                    "parent_code": f.parent_code,
                    "name_th": f.name_th,
                    "name_en": f.name_en,
                    "source_id": source_id,
                    "wkb": f.geom.wkb,
                },
            ).first()
            if row is not None:
                inserted += row.inserted
                updated += not row.inserted
        _make_current(session, data.layer_type, meta, [f.code for f in data.features])
    if inserted or updated:
        if data.layer_type in ("province", "district"):
            aoi.refresh(session)  # before the listeners: re-attribution marks each detection in or out of it
        for listener in list(ON_LAYERS_CHANGED):
            listener(session, data.layer_type)
    report = LoadReport(
        layer=meta.name,
        version=meta.version,
        layer_type=data.layer_type,
        source_id=None if dry_run else source_id,
        features=len(data.features),
        inserted=inserted,
        updated=updated,
        unchanged=len(data.features) - inserted - updated,
        source_crs=data.source_crs,
        bounds=data.bounds,
        dry_run=dry_run,
        warnings=data.warnings,
    )
    if not dry_run:
        audit.record(
            session,
            meta.loaded_by or "system",
            "ingest",
            "layer",
            f"{meta.name}@{meta.version}",
            after={**report.as_dict(), "file_sha256": meta.file_sha256, "source": meta.source},
        )
    return report


def _make_current(session: Session, level: str, meta: LayerMeta, codes: list[str]) -> None:
    """The loaded version becomes current for its codes; older versions of the same layer stop being current."""
    session.execute(
        text("""
        UPDATE admin_areas SET is_current = false
        WHERE level = CAST(:level AS admin_level) AND is_current AND version <> :version
          AND (code = ANY(:codes) OR source_id IN (SELECT id FROM layer_sources WHERE name = :name))
    """),
        {"level": level, "version": meta.version, "codes": codes, "name": meta.name},
    )
    session.execute(
        text("""
        UPDATE admin_areas SET is_current = true
        WHERE level = CAST(:level AS admin_level) AND version = :version AND code = ANY(:codes) AND NOT is_current
    """),
        {"level": level, "version": meta.version, "codes": codes},
    )


def _close_superseded(session: Session, source_id: int) -> None:
    """An open-ended older version ends the day a newer version of the same code takes effect."""
    session.execute(
        text("""
        UPDATE protected_areas old SET valid_to = nxt.valid_from, updated_at = clock_timestamp()
        FROM (
          SELECT o.id, min(n.valid_from) AS valid_from
          FROM protected_areas o
          JOIN protected_areas n ON n.code = o.code AND n.id <> o.id AND n.valid_from IS NOT NULL
                                AND (o.valid_from IS NULL OR n.valid_from > o.valid_from)
          WHERE o.valid_to IS NULL AND o.code IN (SELECT code FROM protected_areas WHERE source_id = :source_id)
          GROUP BY o.id
        ) nxt
        WHERE old.id = nxt.id
    """),
        {"source_id": source_id},
    )
