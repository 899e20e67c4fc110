"""The field verification loop of clearing patches (issue 14): a patch sent to the field as a task ("verify
clearing at ..."), the open tasks near a field officer, the outcome of a visit (verified, false alarm, already
known, with the incident it produced), and how often each alert system was right here.

The store of ``field_tasks``, and the only writer of a patch's verification fields (``verification``,
``verified_at``, ``verified_by``). One open task per patch: sending it again while one is open is a conflict.
Every task created and every outcome recorded is written to the audit trail.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.errors import Conflict, InvalidInput, NotFound
from geo_service.forest_loss import evidence, queries
from geo_service.forest_loss.fire_words import fire_summary
from geo_service.incidents import store as incidents_store
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI, be_dmy

OUTCOMES = ("verified", "false_alarm", "already_known")
OUTCOME_LABELS = {
    "verified": ("ยืนยันว่ามีการแผ้วถาง", "Verified: clearing found"),
    "false_alarm": ("ไม่พบการแผ้วถาง (แจ้งเตือนผิด)", "False alarm: no clearing"),
    "already_known": ("ทราบอยู่แล้ว (มีเหตุ/คดีเดิม)", "Already known"),
}
MAX_NEAR_RADIUS_M = 50_000


def _visible_patch(session: Session, patch_id: int, principal: Principal) -> dict:
    cards = evidence.patch_cards(session, [str(patch_id)])
    if not cards or not queries.patch_visible(session, patch_id, principal):
        raise NotFound("No clearing patch with this number.")
    return cards[0]


def where(card: dict) -> tuple[str, str]:
    """Where a patch lies, in Thai and English: subdistrict, district, reserve (names of current boundaries)."""
    th = [f"ต.{card['subdistrict_th']}" if card.get("subdistrict_th") else None]
    th.append(f"อ.{card['district_th']}" if card.get("district_th") else None)
    th.append(card.get("reserve_th") or card.get("reserve_code"))
    en = [card.get("subdistrict_en"), card.get("district_en") and f"{card['district_en']} district"]
    en.append(card.get("reserve_en") or card.get("reserve_code"))
    pos = f"{card['lat']:.5f}, {card['lon']:.5f}"
    return " ".join(x for x in th if x) or pos, ", ".join(x for x in en if x) or pos


def title(card: dict) -> tuple[str, str]:
    """The task's title in Thai and English ("verify clearing at ...") with area and alert dates."""
    th_place, en_place = where(card)
    rai, ha = card["area_m2"] / M2_PER_RAI, card["area_m2"] / M2_PER_HECTARE
    th = (
        f"ตรวจสอบการแผ้วถางป่าที่ {th_place} (แปลง #{card['id']}, {rai:,.2f} ไร่, "
        f"แจ้งเตือน {be_dmy(card['first_date'])}–{be_dmy(card['last_date'])})"
    )
    en = (
        f"Verify clearing at {en_place} (patch #{card['id']}, {ha:,.2f} ha, "
        f"alerts {card['first_date'].isoformat()} to {card['last_date'].isoformat()})"
    )
    return th, en


def create_task(
    session: Session, patch_id: int, principal: Principal, *, assigned_to: str | None = None, note: str | None = None
) -> dict:
    """Send a patch to the field: one open task per patch (Conflict if one is open); a merged patch is refused
    (its task belongs to the patch that absorbed it). Audited."""
    card = _visible_patch(session, patch_id, principal)
    if card["merged_into"] is not None:
        raise InvalidInput(
            f"Patch {patch_id} was merged into patch {card['merged_into']}: send patch {card['merged_into']} instead."
        )
    session.execute(text("SELECT id FROM clearing_patches WHERE id = :id FOR UPDATE"), {"id": patch_id})
    open_id = session.execute(
        text("SELECT id FROM field_tasks WHERE patch_id = :p AND status = 'open'"), {"p": patch_id}
    ).scalar()
    if open_id is not None:
        raise Conflict(f"Patch {patch_id} already has an open field task (task {open_id}).")
    task_id = session.execute(
        text(
            "INSERT INTO field_tasks (patch_id, assigned_to, created_by, note) VALUES (:p, :a, :by, :note) RETURNING id"
        ),
        {"p": patch_id, "a": assigned_to, "by": principal.name, "note": note},
    ).scalar_one()
    th, en = title(card)
    audit.record(
        session,
        principal.name,
        "create",
        "field_task",
        task_id,
        after={"patch_id": patch_id, "assigned_to": assigned_to},
    )
    return get_task(session, task_id, principal) | {"title_th": th, "title_en": en}


_TASK = """
SELECT t.id, t.patch_id, t.status, t.outcome, t.note, t.assigned_to, t.created_by, t.created_at, t.done_at,
       t.done_by, t.incident_id
FROM field_tasks t
"""


def _task_out(row: Any, card: dict, geometry: str | None = None, distance_m: float | None = None) -> dict:
    th, en = title(card)
    fire_th, fire_en = (
        fire_summary(True, card["fire_evidence"], card["first_date"]) if card["cleared_by_fire"] else (None, None)
    )
    out = {
        "id": row["id"],
        "patch_id": row["patch_id"],
        "status": row["status"],
        "outcome": row["outcome"],
        "note": row["note"],
        "assigned_to": row["assigned_to"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
        "done_at": row["done_at"].isoformat() if row["done_at"] else None,
        "done_by": row["done_by"],
        "incident_id": row["incident_id"],
        "title_th": th,
        "title_en": en,
        "where_th": where(card)[0],
        "where_en": where(card)[1],
        "fire_th": fire_th,  # what burned near the patch (fire_words.fire_summary); None: no fire found near it
        "fire_en": fire_en,
        "lat": round(card["lat"], 6),
        "lon": round(card["lon"], 6),
        "patch": evidence.feature_properties(card),
    }
    if distance_m is not None:
        out["distance_m"] = round(distance_m, 1)
    if geometry is not None:
        out["outline"] = orjson.loads(geometry)
    return out


def get_task(session: Session, task_id: int, principal: Principal) -> dict:
    """One task with its patch (NotFound if none, or if its patch is outside the principal's provinces)."""
    row = session.execute(text(_TASK + "WHERE t.id = :id"), {"id": task_id}).mappings().first()
    if row is None:
        raise NotFound("No field task with this number.")
    card = _visible_patch(session, row["patch_id"], principal)
    return _task_out(row, card)


def parse_near(value: str) -> tuple[float, float]:
    """``lon,lat`` (WGS 84 degrees) as two floats; InvalidInput in words a field officer understands."""
    try:
        lon, lat = (float(v) for v in value.split(","))
    except ValueError:
        raise InvalidInput("near must be longitude,latitude in degrees, e.g. near=100.15,18.15.") from None
    if lon != lon or lat != lat:  # NaN
        raise InvalidInput("near must be longitude,latitude in degrees, e.g. near=100.15,18.15.")
    return lon, lat


def open_tasks_near(
    session: Session, lon: float, lat: float, radius_m: float, principal: Principal, *, limit: int = 50
) -> list[dict]:
    """Open tasks whose patch lies within ``radius_m`` of (lon, lat), nearest first, within the principal's
    provinces, each with the patch's outline (GeoJSON) and the distance to it (0 inside). Distances on the sphere
    (within 0.5 % of the ellipsoid's, half the time: what "near me" needs); the index serves a bounding box first."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("near must be longitude,latitude in degrees, e.g. near=100.15,18.15.")
    if not 0 < radius_m <= MAX_NEAR_RADIUS_M:
        raise InvalidInput(f"radius_m must be between 1 and {MAX_NEAR_RADIUS_M} metres.")
    scope, params = evidence.scope_sql(principal)
    found = session.execute(
        text(f"""
        SELECT t.id, t.patch_id, t.status, t.outcome, t.note, t.assigned_to, t.created_by, t.created_at,
               t.done_at, t.done_by, t.incident_id,
               ST_Distance(p.geom::geography, me.g, false) AS distance_m, ST_AsGeoJSON(p.geom, 6) AS outline
        FROM field_tasks t JOIN clearing_patches p ON p.id = t.patch_id
        CROSS JOIN (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g) me
        WHERE t.status = 'open' AND p.geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :deg)
          AND ST_DWithin(p.geom::geography, me.g, :radius, false) AND {scope}
        ORDER BY distance_m, t.id
        LIMIT :limit"""),
        {
            "lon": lon,
            "lat": lat,
            "radius": radius_m,
            "deg": evidence.degrees_for(radius_m, lat),
            "limit": limit,
            **params,
        },
    ).mappings()
    rows = list(found)
    cards = {c["id"]: c for c in evidence.patch_cards(session, [str(r["patch_id"]) for r in rows])}
    return [_task_out(r, cards[r["patch_id"]], r["outline"], r["distance_m"]) for r in rows]


def record_outcome(
    session: Session,
    task_id: int,
    principal: Principal,
    *,
    outcome: str,
    note: str | None = None,
    incident_id: int | None = None,
) -> dict:
    """Close an open task with its outcome: the patch's verification is set (who, when), the incident the
    visit produced (if any, within the officer's provinces) is recorded on the task, and both are audited."""
    if outcome not in OUTCOMES:
        raise InvalidInput("outcome must be one of: verified, false_alarm, already_known.")
    row = session.execute(text(_TASK + "WHERE t.id = :id FOR UPDATE"), {"id": task_id}).mappings().first()
    if row is None:
        raise NotFound("No field task with this number.")
    card = _visible_patch(session, row["patch_id"], principal)
    if row["status"] != "open":
        raise Conflict(f"Task {task_id} is already {row['status']} ({row['outcome'] or '-'}).")
    if incident_id is not None and not incidents_store.existing_ids(session, [str(incident_id)], principal):
        raise InvalidInput(f"No incident {incident_id} that you can see: log the incident first, then its number.")
    session.execute(
        text("""
        UPDATE field_tasks SET status = 'done', outcome = :o, note = coalesce(:note, note), done_at = now(),
               done_by = :by, incident_id = :inc
        WHERE id = :id"""),
        {"o": outcome, "note": note, "by": principal.name, "inc": incident_id, "id": task_id},
    )
    session.execute(
        text(
            "UPDATE clearing_patches SET verification = :o, verified_at = now(), verified_by = :by, "
            "updated_at = now() WHERE id = :p"
        ),
        {"o": outcome, "by": principal.name, "p": row["patch_id"]},
    )
    audit.record(
        session,
        principal.name,
        "verify",
        "clearing_patch",
        row["patch_id"],
        before={"verification": card["verification"]},
        after={"verification": outcome, "task_id": task_id, "incident_id": incident_id, "note": note},
    )
    return get_task(session, task_id, principal)


def tasks_of_incidents(session: Session, incident_ids: list[int]) -> dict[int, list[int]]:
    """The patches whose field task produced each of these incidents: the incident's link back to its patch."""
    if not incident_ids:
        return {}
    rows = session.execute(
        text(
            "SELECT incident_id, array_agg(patch_id ORDER BY patch_id) FROM field_tasks "
            "WHERE incident_id = ANY(CAST(:ids AS bigint[])) GROUP BY incident_id"
        ),
        {"ids": incident_ids},
    ).all()
    return {int(r[0]): list(r[1]) for r in rows}


def verification_shares(session: Session, principal: Principal) -> dict:
    """Per alert source: current patches (not merged) and how many field checks found them verified, false
    alarms or already known, and how many current patches are not checked yet; ``verified_share`` = verified /
    checked, ``false_alarm_share`` = false alarms / checked, ``already_known_share`` = already known / checked
    (None with nothing checked). A check counts for the sources of the patch it checked, **even when that patch was
    later absorbed by an older one** (a merge must not erase a field visit from the statistics; the survivor keeps
    its own check, if any). A patch seen by several systems counts for each of them. Within the principal's
    provinces."""
    scope, params = evidence.scope_sql(principal)
    rows = session.execute(
        text(f"""
        SELECT s.source,
               count(*) FILTER (WHERE p.merged_into IS NULL) AS patches,
               count(*) FILTER (WHERE p.verification = 'verified') AS verified,
               count(*) FILTER (WHERE p.verification = 'false_alarm') AS false_alarm,
               count(*) FILTER (WHERE p.verification = 'already_known') AS already_known,
               count(*) FILTER (WHERE p.verification = 'unverified' AND p.merged_into IS NULL) AS unverified
        FROM clearing_patches p CROSS JOIN LATERAL unnest(p.sources) AS s(source)
        WHERE (p.merged_into IS NULL OR p.verification <> 'unverified') AND {scope}
        GROUP BY s.source ORDER BY s.source"""),
        params,
    ).mappings()
    out = []
    for r in rows:
        checked = r["verified"] + r["false_alarm"] + r["already_known"]

        def share(n: int, checked: int = checked) -> float | None:
            return round(n / checked, 4) if checked else None

        out.append(
            {
                **dict(r),
                "checked": checked,
                "verified_share": share(r["verified"]),
                "false_alarm_share": share(r["false_alarm"]),
                "already_known_share": share(r["already_known"]),
            }
        )
    return {
        "definition": "share = patches with this outcome / patches of the source checked in the field "
        "(verified + false alarm + already known); a patch seen by several sources counts for each; a check "
        "still counts after its patch was absorbed by another",
        "sources": out,
    }
