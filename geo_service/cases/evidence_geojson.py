"""A case's linked evidence as one RFC 7946 FeatureCollection (for the investigators assigned and admins).

Each feature is the linked object's geometry with the link (type, id, why, who, when) and the object's
main attributes; PostGIS writes the geometry (exterior rings counter-clockwise, 7 decimals). Every kind of link has a
reader (``FEATURES``); an object without a shape (a red flag whose rule drew none) is a Feature with a null geometry,
as RFC 7946 (3.2) and OGC API - Features write an unlocated feature, so a GIS still lists it with its attributes.
Only the evidence within the reader's provinces is drawn (``cases.evidence_scope``, the rule run once, in the
readers' SQL); ``evidenceHidden`` counts the rest, and ``notice`` says so in Thai and English when there is any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.cases import access, evidence_scope, store
from geo_service.forest_loss import evidence as patches
from geo_service.hotspots import rasters
from geo_service.hotspots import store as hotspots_store
from geo_service.incidents import store as incidents_store
from geo_service.layers import queries as layers
from geo_service.redflags import store as redflags_store

# (session, ids as text, viewer) -> {id: (GeoJSON geometry text, attributes)} of those within the viewer's provinces
FeatureReader = Callable[[Session, list[str], Principal | None], dict[str, tuple[str | None, dict]]]

# Per kind of evidence, in the order the features come: the store of the evidence's domain answers with the
# geometry and the attributes partners of the case need to read it, for a list of ids and the reader. Every reader
# keeps to the reader's provinces by its domain's rule in its own SQL, the rule of ``evidence_scope.IN_SCOPE``
# (tests/test_case_evidence_scope.py checks they agree): the features path runs no other province filter.
FEATURES: dict[str, FeatureReader] = {
    "incident": incidents_store.evidence_features,
    "hotspot": hotspots_store.hotspot_features,
    "fire_event": hotspots_store.fire_event_features,
    # forest-clearing patches: outline, area (m2, ha, rai), alert dates, sources, confidence, fire evidence
    "clearing_patch": patches.patch_features,
    "protected_area": layers.protected_area_features,
    "district": layers.district_features,
    # zonal statistics of a raster: the part of their zone the raster covers
    "raster_stat": rasters.zone_stat_features,
    # red flags (their shape; null for a flag without one), contracts (their area), parcels (their polygon)
    "red_flag": evidence_scope.with_viewer(redflags_store.flag_features),
    "contract": evidence_scope.with_viewer(redflags_store.contract_features),
    "parcel": evidence_scope.with_viewer(redflags_store.parcel_features),
}


@dataclass(frozen=True)
class Evidence:
    """A case's evidence as one reader sees it: the features within its provinces, and how many linked items
    (of any kind, drawn or not) lie outside them."""

    features: list[dict]
    hidden: int


def evidence_features(session: Session, case_id: int, viewer: Principal) -> Evidence:
    """Every linked object within ``viewer``'s provinces, as GeoJSON Features (the caller has checked access), and
    the count of linked items outside them. The province rule runs once, in the readers' SQL
    (``evidence_scope.read_links``). An object without a shape is a Feature with a null geometry (RFC 7946 3.2);
    a link whose object exists nowhere any more has no Feature."""
    links = store.links_of(session, [case_id]).get(case_id, [])
    seen, found = evidence_scope.read_links(session, links, viewer, FEATURES)
    by_type: dict[str, list[dict]] = {}
    for link in sorted(seen.links, key=lambda lk: lk["id"]):
        by_type.setdefault(link["target_type"], []).append(link)
    features = []
    for target_type in FEATURES:
        of_type = found.get(target_type, {})
        for link in by_type.get(target_type, []):
            if link["target_id"] not in of_type:
                continue
            geometry, attributes = of_type[link["target_id"]]
            features.append(
                {
                    "type": "Feature",
                    "id": f"{target_type}:{link['target_id']}",
                    "geometry": None if geometry is None else orjson.loads(geometry),
                    "properties": {
                        "target_type": target_type,
                        "target_id": link["target_id"],
                        "reason": link["reason"],
                        "linked_by": link["created_by"],
                        "linked_at": link["created_at"].isoformat(),
                        **(attributes or {}),
                    },
                }
            )
    return Evidence(features, seen.hidden)


def features_bbox(features: list[dict]) -> list[float] | None:
    """[west, south, east, north] of the features' geometries, or None when none has one."""
    shapes = [f["geometry"] for f in features if f.get("geometry") is not None]
    if not shapes:
        return None
    import shapely

    bounds = shapely.bounds(shapely.union_all([shapely.geometry.shape(g) for g in shapes]))
    return [round(float(v), 7) for v in bounds]


def evidence_collection(session: Session, case_id: int, principal: Principal) -> bytes:
    """The case's linked evidence as one FeatureCollection (GeoJSON bytes), for the case's insiders."""
    access.require_insider(session, principal, case_id)
    reference = store.case_reference(session, case_id)
    evidence = evidence_features(session, case_id, principal)
    features = evidence.features
    collection: dict[str, Any] = {
        "type": "FeatureCollection",
        "case": reference,
        "numberReturned": len(features),
        "evidenceHidden": evidence.hidden,
    }
    if (note := evidence_scope.hidden_note(evidence.hidden)) is not None:
        collection["notice"] = note
    if (bbox := features_bbox(features)) is not None:
        collection["bbox"] = bbox
    return orjson.dumps({**collection, "features": features})


def export_evidence(session: Session, case_id: int, principal: Principal) -> bytes:
    """``evidence_collection``, and the export written to the audit trail."""
    body = evidence_collection(session, case_id, principal)
    audit.record(session, principal.name, "export", "case_evidence_geojson", case_id, after={"bytes": len(body)})
    return body
