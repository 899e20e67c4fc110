"""The map of one case's evidence (assigned investigators and administrators): its linked incidents,
protected areas and districts, with the same building blocks as the overview."""

from __future__ import annotations

from datetime import datetime

import folium
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.cases import service as cases
from geo_service.maps import escaping as esc
from geo_service.maps import layers as L
from geo_service.maps.overview import INCIDENT_CREDIT, _sources_html, base_map
from geo_service.thai import BANGKOK


def case_map(session: Session, case_id: int, principal: Principal, *, tile_url: str | None = None,
             tile_attribution: str | None = None, photo_base: str | None = "") -> folium.Map:
    """Runs in the caller's transaction after access.act_as (row-level security applies)."""
    cases._require_insider(session, principal, case_id)  # the same rule as the evidence pack
    case = cases.get_case(session, case_id, principal)
    links = case.get("links", [])
    ids = [int(x["target_id"]) for x in links if x["target_type"] == "incident" and x["target_id"].isdigit()]
    pa_codes = sorted({x["target_id"] for x in links if x["target_type"] == "protected_area"})
    district_codes = sorted(set(case.get("districts", [])) | {x["target_id"] for x in links
                                                              if x["target_type"] == "district"})
    all_districts = L.districts(session)
    m = base_map(all_districts, tile_url, tile_attribution)
    linked = [d for d in all_districts if d["code"] in district_codes]
    if linked:
        counts = {c.key: {} for c in L.DISTRICT_COUNTS}
        layer, _ = L.district_layer(linked, counts, None)
        layer.add_to(m)
    if pa_codes:
        L.protected_layer(L.protected_areas(session, datetime.now(BANGKOK).date(), pa_codes)).add_to(m)
    rows = L.incidents(session, None, ids=ids or [-1])
    for layer in L.incident_layers(rows, photo_base):
        layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if rows:
        m.fit_bounds([[min(r["lat"] for r in rows) - 0.02, min(r["lon"] for r in rows) - 0.02],
                      [max(r["lat"] for r in rows) + 0.02, max(r["lon"] for r in rows) + 0.02]])
    other = sorted({x["target_type"] for x in links} - {"incident", "protected_area", "district"})
    body = [f"<h4>{esc.text(case['reference'])}</h4>", f"<div>{esc.text(case.get('title') or '')}</div>",
            f"<div>{esc.text(case['stage_th'])} / {esc.text(case['stage_en'])}</div>",
            "<div>" + esc.text(f"หลักฐาน / evidence: {len(rows)} incidents, {len(pa_codes)} protected areas, "
                               f"{len(district_codes)} districts") + "</div>"]
    if other:
        body.append(f"<div>{esc.text('Not drawn yet: ' + ', '.join(other))}</div>")
    body.append(_sources_html(session, [INCIDENT_CREDIT], tile_attribution if tile_url else None))
    L.Legend("".join(body)).add_to(m)
    return m
