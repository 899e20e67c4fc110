"""Evidence suggestions for a case: hotspots, fire events and forest-clearing patches near its incidents in space
and time, or inside its reserves during its period, ranked, so an investigator attaches evidence in one step."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from geo_service.auth import Principal
from geo_service.cases import access, service, store
from geo_service.forest_loss import evidence as patches
from geo_service.forest_loss.fire_words import fire_summary
from geo_service.hotspots import store as hotspots_store
from geo_service.incidents import store as incidents_store
from geo_service.redflags import store as redflags_store
from geo_service.redflags.labels import SEVERITY_LABELS
from geo_service.thai import BANGKOK, M2_PER_HECTARE, M2_PER_RAI, be_dmy

PATCH_DAYS = 60  # alert systems date a clearing days to weeks after it happened: a wider window than hotspots
FIRE_BONUS = 1.25  # a patch that also burned ("cleared by fire", the encroachment pattern) ranks higher
SOURCE_NAMES = {
    "gfw_integrated": "GFW integrated",
    "glad_l": "GLAD-L",
    "glad_s2": "GLAD-S2",
    "radd": "RADD",
    "dist_alert": "DIST-ALERT",
    "hansen_lossyear": "Hansen lossyear",
    "change_pair": "change pair",
}

FLAG_SCORE = {"high": 0.8, "medium": 0.5, "low": 0.3}  # flags rank with close matches, above reserve-only hits
SEVERITY_TH = {k: th for k, (th, _en) in SEVERITY_LABELS.items()}


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
    patch_days: int = PATCH_DAYS,
) -> dict:
    """Ranked suggestions (best first) with the reason for each.

    Near an incident: within ``distance_m`` and ``days`` of it. Score: 1 at the incident, falling with distance
    and time gap (each halves the score at the full radius / window); matches inside the case's reserves
    during its period score by confidence.

    Clearing patches (never merged ones; within the caller's provinces, ``forest_loss.queries.PATCH_SCOPE``): near an
    incident, within ``distance_m`` of its outline and
    ``patch_days`` of its alert span, score ``1 / (1 + d / distance_m) / (1 + gap / patch_days)``; inside the
    case's reserves during its period, ``0.25 * share inside * confidence / 4``; both times ``FIRE_BONUS`` when
    the patch was cleared by fire. Reasons in English (``reason``) and Thai (``reason_th``)."""
    access.require_insider(session, principal, case_id)
    case = service.get_case(session, case_id, principal)
    out: list[dict] = []
    linked = store.linked_pairs(session, case_id)
    # what the suggestions start from: the evidence the caller sees (case["links"], cases.evidence_scope); what they
    # skip: everything linked
    mine = {(lk["target_type"], lk["target_id"]) for lk in case["links"]}
    skip_hotspots = sorted(i for t, i in linked if t == "hotspot")
    skip_events = sorted(i for t, i in linked if t == "fire_event")
    incidents = incidents_store.search_points(session, sorted(i for t, i in mine if t == "incident"))
    # detections and fire events within the caller's provinces only (hotspots.store: the province rule of evidence)
    near = hotspots_store.near_incidents(
        session,
        incidents,
        distance_m=distance_m,
        days=days,
        skip_hotspots=skip_hotspots,
        skip_events=skip_events,
        viewer=principal,
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
                "reason_th": f"{'จุดความร้อน' if r['target_type'] == 'hotspot' else 'เหตุไฟ'} ห่าง "
                f"INC-{r['incident_id']:06d} {r['distance_m']:.0f} ม. ห่างกัน {float(r['days_apart']):.1f} วัน",
            }
        )
    skip_patches = sorted(i for t, i in linked if t == "clearing_patch")
    # clearing patches within the caller's provinces only (a patch across a border is in both; national: all)
    for pr in patches.near_incidents(
        session, incidents, distance_m=distance_m, days=patch_days, skip=skip_patches, viewer=principal
    ):
        gap = int(pr["days_apart"])
        score = 1 / (1 + pr["distance_m"] / distance_m) / (1 + gap / max(patch_days, 1))
        en, th = _patch_words(pr)
        ref = f"INC-{pr['incident_id']:06d}"
        out.append(
            {
                **_patch_common(pr),
                "score": round(score * (FIRE_BONUS if pr["cleared_by_fire"] else 1), 4),
                "distance_m": round(pr["distance_m"], 1),
                "days_apart": float(gap),
                "incident_id": pr["incident_id"],
                "reason": f"{en} {pr['distance_m']:.0f} m from {ref}, {gap} days from its alert dates{_fire_en(pr)}",
                "reason_th": f"{th} ห่าง {ref} {pr['distance_m']:.0f} ม. ห่างจากวันแจ้งเตือน {gap} วัน{_fire_th(pr)}",
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
        # the caller's provinces filter before the limit: a reserve across a border whose strongest detections lie in
        # the other province still offers this province's
        for r in hotspots_store.in_protected_areas(
            session, codes, start, end, skip=skip_hotspots, limit=limit, viewer=principal
        ):
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
                    "reason": f"hotspot inside {', '.join(inside)} on {_bangkok_day(r['seen'])}",
                    "reason_th": f"จุดความร้อนอยู่ใน {', '.join(inside)} วันที่ {be_dmy(_bangkok_day(r['seen']))}",
                }
            )
        for pr in patches.in_protected_areas(
            session, codes, start, end, skip=skip_patches, limit=limit, viewer=principal
        ):
            if ("clearing_patch", str(pr["id"])) in seen:
                continue
            share = float(pr["share_inside"])
            score = 0.25 * share * pr["confidence_max"] / 4 * (FIRE_BONUS if pr["cleared_by_fire"] else 1)
            en, th = _patch_words(pr)
            where = ", ".join(pr["inside"])
            out.append(
                {
                    **_patch_common(pr),
                    "score": round(score, 4),
                    "distance_m": 0,
                    "days_apart": None,
                    "incident_id": None,
                    "reason": f"{en}, {share:.0%} inside {where}{_fire_en(pr)}",
                    "reason_th": f"{th} อยู่ใน {where} {share:.0%} ของแปลง{_fire_th(pr)}",
                }
            )
    for f in redflags_store.suggest_flags(
        session,
        reserve_codes=list(codes or []),
        district_codes=list(case.get("districts") or []),
        contract_ids=sorted(int(i) for t, i in mine if t == "contract"),
        parcel_ids=sorted(int(i) for t, i in mine if t == "parcel"),
        skip=[int(i) for t, i in linked if t == "red_flag"],
        provinces=principal.provinces,
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
                "reason_th": f"สัญญาณเตือน #{f['id']} ({SEVERITY_TH.get(f['severity'], f['severity'])}): {f['reason_th']}",
            }
        )
    # only evidence the caller may link: every kind above was asked within the caller's provinces (the province rule
    # of evidence, applied in each store's SQL before its limit)
    out.sort(key=lambda s: (-s["score"], s["target_type"], s["target_id"]))
    return {
        "case_id": case_id,
        "distance_m": distance_m,
        "days": days,
        "patch_days": patch_days,
        "suggestions": out[:limit],
    }


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


def _patch_common(r: dict) -> dict:
    return {
        "target_type": "clearing_patch",
        "target_id": str(r["id"]),
        "seen": f"{r['last_date'].isoformat()}T00:00:00+07:00",
        "sensor": ",".join(r["sources"] or []),
        "confidence": r["confidence_max"],
        "frp": None,
        "reserve_code": r["reserve_code"],
        "district_code": r["district_code"],
        "area_ha": round(r["area_m2"] / M2_PER_HECTARE, 2),
        "area_rai": round(r["area_m2"] / M2_PER_RAI, 2),
        "first_date": r["first_date"].isoformat(),
        "last_date": r["last_date"].isoformat(),
        "sources": list(r["sources"] or []),
        "cleared_by_fire": bool(r["cleared_by_fire"]),
    }


def _bangkok_day(seen: datetime) -> date:
    """The day of a detection in Asia/Bangkok (a naive time is taken as UTC, as the store keeps it)."""
    return (seen if seen.tzinfo else seen.replace(tzinfo=UTC)).astimezone(BANGKOK).date()


def _patch_words(r: dict) -> tuple[str, str]:
    """'clearing patch #7, 1.00 ha, alerts 2024-03-01 to 2024-03-10 (GFW integrated + GLAD-S2)' and its Thai."""
    ha, rai = r["area_m2"] / M2_PER_HECTARE, r["area_m2"] / M2_PER_RAI
    sources = " + ".join(SOURCE_NAMES.get(s, s) for s in r["sources"] or [])
    en = (
        f"clearing patch #{r['id']}, {ha:,.2f} ha ({rai:,.2f} rai), alerts {r['first_date'].isoformat()} to "
        f"{r['last_date'].isoformat()} ({sources})"
    )
    th = (
        f"แปลงแผ้วถาง #{r['id']} {rai:,.2f} ไร่ ({ha:,.2f} เฮกตาร์) แจ้งเตือน {be_dmy(r['first_date'])}–"
        f"{be_dmy(r['last_date'])} ({sources})"
    )
    return en, th


def _fire_en(r: dict) -> str:
    """What burned near the patch (``fire_words.fire_summary``), after the reason; nothing when no fire was found."""
    return "; " + fire_summary(True, r["fire_evidence"], r["first_date"])[1] if r["cleared_by_fire"] else ""


def _fire_th(r: dict) -> str:
    """The Thai of :func:`_fire_en`."""
    return "; " + fire_summary(True, r["fire_evidence"], r["first_date"])[0] if r["cleared_by_fire"] else ""
