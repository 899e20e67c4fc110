"""A case's linked evidence as one RFC 7946 FeatureCollection (for the investigators assigned and admins).

Each feature is the linked object's geometry with the link (type, id, why, who, when) and the object's
main attributes; PostGIS writes the geometry (exterior rings counter-clockwise, 7 decimals).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.cases import access, store
from geo_service.forest_loss import evidence as patches
from geo_service.hotspots import rasters
from geo_service.hotspots import store as hotspots_store
from geo_service.incidents import store as incidents_store
from geo_service.layers import queries as layers

# Per kind of evidence, in the order the features come: the store of the evidence's domain answers with the
# geometry and the attributes partners of the case need to read it, for a list of ids.
_FEATURES = {
    "incident": incidents_store.evidence_features,
    "hotspot": hotspots_store.hotspot_features,
    "fire_event": hotspots_store.fire_event_features,
    # forest-clearing patches: outline, area (m2, ha, rai), alert dates, sources, confidence, fire evidence; only
    # those within the reader's provinces (evidence_features asks with the reader)
    "clearing_patch": patches.patch_features,
    "protected_area": layers.protected_area_features,
    "district": layers.district_features,
    # zonal statistics of a raster: the part of their zone the raster covers
    "raster_stat": rasters.zone_stat_features,
}


def evidence_features(session: Session, case_id: int, viewer: Principal) -> list[dict]:
    """Every linked object with a geometry, as GeoJSON Features (the caller has checked access); a linked clearing
    patch outside ``viewer``'s provinces is left out (``forest_loss.queries.PATCH_SCOPE``)."""
    links = store.links_of(session, [case_id]).get(case_id, [])
    by_type: dict[str, list[dict]] = {}
    for link in sorted(links, key=lambda lk: lk["id"]):
        by_type.setdefault(link["target_type"], []).append(link)
    features = []
    for target_type, answer in _FEATURES.items():
        of_type = by_type.get(target_type, [])
        if not of_type:
            continue
        ids = sorted({lk["target_id"] for lk in of_type})
        found = (
            patches.patch_features(session, ids, viewer=viewer)
            if target_type == "clearing_patch"
            else answer(session, ids)
        )
        for link in of_type:
            geometry, attributes = found.get(link["target_id"], (None, None))
            if geometry is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "id": f"{target_type}:{link['target_id']}",
                    "geometry": orjson.loads(geometry),
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
    return features


def features_bbox(features: list[dict]) -> list[float] | None:
    """[west, south, east, north] of the features, or None when there are none."""
    if not features:
        return None
    import shapely

    bounds = shapely.bounds(shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in features]))
    return [round(float(v), 7) for v in bounds]


def evidence_collection(session: Session, case_id: int, principal: Principal) -> bytes:
    """The case's linked evidence as one FeatureCollection (GeoJSON bytes), for the case's insiders."""
    access.require_insider(session, principal, case_id)
    reference = store.case_reference(session, case_id)
    features = evidence_features(session, case_id, principal)
    collection: dict[str, Any] = {"type": "FeatureCollection", "case": reference, "numberReturned": len(features)}
    if features:
        collection["bbox"] = features_bbox(features)
    return orjson.dumps({**collection, "features": features})


def export_evidence(session: Session, case_id: int, principal: Principal) -> bytes:
    """``evidence_collection``, and the export written to the audit trail."""
    body = evidence_collection(session, case_id, principal)
    audit.record(session, principal.name, "export", "case_evidence_geojson", case_id, after={"bytes": len(body)})
    return body
