"""Evidence suggestions for a case: hotspots and fire events near its incidents in space and time, or inside
its reserves during its period, ranked, so an investigator attaches evidence in one step."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.cases import access, service, store
from geo_service.hotspots import store as hotspots_store
from geo_service.incidents import store as incidents_store
from geo_service.redflags import store as redflags_store

FLAG_SCORE = {"high": 0.8, "medium": 0.5, "low": 0.3}  # flags rank with close matches, above reserve-only hits


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
    """Ranked suggestions (best first) with the reason for each.

    Near an incident: within ``distance_m`` and ``days`` of it. Score: 1 at the incident, falling with distance
    and time gap (each halves the score at the full radius / window); matches inside the case's reserves
    during its period score by confidence."""
    access.require_insider(session, principal, case_id)
    case = service.get_case(session, case_id, principal)
    out: list[dict] = []
    linked = store.linked_pairs(session, case_id)
    skip_hotspots = sorted(i for t, i in linked if t == "hotspot")
    skip_events = sorted(i for t, i in linked if t == "fire_event")
    incidents = incidents_store.search_points(session, sorted(i for t, i in linked if t == "incident"))
    near = hotspots_store.near_incidents(
        session, incidents, distance_m=distance_m, days=days, skip_hotspots=skip_hotspots, skip_events=skip_events
    )
    for r in near:
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
        for r in hotspots_store.in_protected_areas(session, codes, start, end, skip=skip_hotspots, limit=limit):
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
    for f in redflags_store.suggest_flags(
        session,
        reserve_codes=list(codes or []),
        district_codes=list(case.get("districts") or []),
        contract_ids=[int(i) for t, i in linked if t == "contract"],
        parcel_ids=[int(i) for t, i in linked if t == "parcel"],
        skip=[int(i) for t, i in linked if t == "red_flag"],
        limit=limit,
    ):
        out.append(
            {
                "target_type": "red_flag",
                "target_id": str(f["id"]),
                "seen": f["last_found_at"].isoformat(),
                "sensor": None,
                "confidence": None,
                "frp": None,
                "reserve_code": f["reserve_code"],
                "district_code": f["district_code"],
                "score": FLAG_SCORE.get(f["severity"], 0.3),
                "distance_m": 0,
                "days_apart": None,
                "incident_id": None,
                "reason": f"red flag #{f['id']} ({f['severity']}): {f['reason_en']}",
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
