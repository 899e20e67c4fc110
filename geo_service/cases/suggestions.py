"""Evidence suggestions for a case: hotspots and fire events near its incidents in space and time, or inside
its reserves during its period, ranked, so an investigator attaches evidence in one step."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.cases import access, service

# Near an incident: within `distance_m` and `days` of it. Score: 1 at the incident, falling with distance
# and time gap (each halves the score at the full radius / window), + confidence and FRP for reserve matches.
_NEAR = """
WITH inc AS (
  SELECT i.id, i.geom, i.observed_at FROM case_links l JOIN incidents i ON i.id::text = l.target_id
  WHERE l.case_id = :case_id AND l.target_type = 'incident'
), linked AS (
  SELECT target_type::text AS t, target_id FROM case_links WHERE case_id = :case_id
)
SELECT 'hotspot' AS target_type, h.id::text AS target_id, min(d.m) AS distance_m,
       min(abs(extract(epoch FROM h.acq_utc - inc.observed_at)) / 86400) AS days_apart,
       (array_agg(inc.id ORDER BY d.m))[1] AS incident_id, h.acq_utc AS seen, h.satellite, h.confidence, h.frp,
       h.reserve_code, h.district_code
FROM inc
JOIN hotspots h ON h.acq_utc BETWEEN inc.observed_at - make_interval(days => :days)
                                  AND inc.observed_at + make_interval(days => :days)
CROSS JOIN LATERAL (SELECT ST_Distance(h.geom::geography, inc.geom::geography) AS m) d
WHERE d.m <= :distance_m AND NOT EXISTS (SELECT 1 FROM linked WHERE t = 'hotspot' AND target_id = h.id::text)
GROUP BY h.id
UNION ALL
SELECT 'fire_event', e.id::text, min(d.m), min(CASE WHEN inc.observed_at BETWEEN e.first_seen AND e.last_seen THEN 0
       ELSE least(abs(extract(epoch FROM e.first_seen - inc.observed_at)),
                  abs(extract(epoch FROM e.last_seen - inc.observed_at))) / 86400 END),
       (array_agg(inc.id ORDER BY d.m))[1], e.first_seen, array_to_string(e.sensors, ','), NULL, e.max_frp,
       e.reserve_code, e.district_code
FROM inc
JOIN fire_events e ON e.first_seen <= inc.observed_at + make_interval(days => :days)
                  AND e.last_seen >= inc.observed_at - make_interval(days => :days)
CROSS JOIN LATERAL (SELECT ST_Distance(e.footprint::geography, inc.geom::geography) AS m) d
WHERE d.m <= :distance_m AND NOT EXISTS (SELECT 1 FROM linked WHERE t = 'fire_event' AND target_id = e.id::text)
GROUP BY e.id
"""
_IN_RESERVES = """
WITH linked AS (SELECT target_type::text AS t, target_id FROM case_links WHERE case_id = :case_id)
SELECT 'hotspot' AS target_type, h.id::text AS target_id, h.acq_utc AS seen, h.satellite, h.confidence, h.frp,
       h.reserve_code, h.district_code, h.protected_area_codes
FROM hotspots h
WHERE h.acq_date_local BETWEEN :start AND :end AND h.protected_area_codes && CAST(:codes AS text[])
  AND NOT EXISTS (SELECT 1 FROM linked WHERE t = 'hotspot' AND target_id = h.id::text)
ORDER BY h.confidence DESC, h.frp DESC NULLS LAST, h.acq_utc
LIMIT :limit
"""


def suggest(
    session: Session,
    case_id: int,
    principal: Principal,
    *,
    distance_m: float = 1000,
    days: int = 3,
    start: date | None = None,
    end: date | None = None,
    limit: int = 50,
) -> dict:
    """Ranked suggestions (best first) with the reason for each."""
    access.require_insider(session, principal, case_id)
    case = service.get_case(session, case_id, principal)
    out: list[dict] = []
    for r in session.execute(text(_NEAR), {"case_id": case_id, "distance_m": distance_m, "days": days}).mappings():
        score = 1 / (1 + r["distance_m"] / distance_m) / (1 + float(r["days_apart"]) / days)
        what = "hotspot" if r["target_type"] == "hotspot" else "fire event"
        out.append(
            {
                **_common(r),
                "score": round(score, 4),
                "distance_m": round(r["distance_m"], 1),
                "days_apart": round(float(r["days_apart"]), 2),
                "incident_id": r["incident_id"],
                "reason": f"{what} {r['distance_m']:.0f} m from INC-{r['incident_id']:06d}, "
                f"{float(r['days_apart']):.1f} days apart",
            }
        )
    codes = case["protected_areas"]
    if codes:
        start = start or (
            date.fromisoformat(case["period_from"])
            if case["period_from"]
            else date.fromisoformat(case["received_on"]) - timedelta(days=365)
        )
        end = end or (
            date.fromisoformat(case["period_to"]) if case["period_to"] else date.fromisoformat(case["received_on"])
        )
        seen = {(s["target_type"], s["target_id"]) for s in out}
        for r in session.execute(
            text(_IN_RESERVES), {"case_id": case_id, "start": start, "end": end, "codes": codes, "limit": limit}
        ).mappings():
            if ("hotspot", r["target_id"]) in seen:
                continue
            inside = sorted(set(r["protected_area_codes"] or []) & set(codes))
            score = 0.25 * (r["confidence"] or 1) / 3
            out.append(
                {
                    **_common(r),
                    "score": round(score, 4),
                    "distance_m": 0,
                    "days_apart": None,
                    "incident_id": None,
                    "reason": f"hotspot inside {', '.join(inside)} on {r['seen'].date()}",
                }
            )
    out.sort(key=lambda s: (-s["score"], s["target_type"], s["target_id"]))
    return {"case_id": case_id, "distance_m": distance_m, "days": days, "suggestions": out[:limit]}


def _common(r) -> dict:
    return {
        "target_type": r["target_type"],
        "target_id": r["target_id"],
        "seen": r["seen"].isoformat(),
        "sensor": r["satellite"],
        "confidence": r["confidence"],
        "frp": r["frp"],
        "reserve_code": r["reserve_code"],
        "district_code": r["district_code"],
    }
