"""Cases: create, read (redacted by role), update (optimistic locking), stages, people, notes, files, links.

Every function runs in the caller's transaction after ``access.act_as`` switched it to the restricted
database role, so the row-level policies decide which cases and which confidential rows exist for the
caller; this module decides which fields of a visible case a role sees, and who may change what. Every
change is written to the audit trail in the same transaction.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal, Role
from geo_service.cases import access, workflow
from geo_service.cases.schemas import CaseCreate, CaseUpdate, LinkIn, NoteIn, PartyIn, Transition
from geo_service.db.models import CASE_CATEGORY_LABELS, CASE_STAGE_LABELS, CaseCategory, CaseStage, LinkTarget
from geo_service.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed, PreconditionRequired
from geo_service.thai import BANGKOK, fiscal_year_be

REFERENCE_FORMAT = "NACC-PR-{fy}-{seq:04d}"
MAX_ATTACHMENT = 50 << 20


# --- helpers --------------------------------------------------------------------------------------
def _case_row(session: Session, case_id: int):
    row = session.execute(text("SELECT * FROM cases WHERE id = :id"), {"id": case_id}).mappings().first()
    if row is None:  # absent, or invisible to this caller: the same answer
        raise NotFound("No case with this number, or you may not see it.")
    return row


def _bump(session: Session, case_id: int, principal: Principal) -> None:
    session.execute(
        text("UPDATE cases SET version = version + 1, updated_by = :by, updated_at = now() WHERE id = :id"),
        {"by": principal.name, "id": case_id},
    )


def _next_reference(session: Session, received_on: date) -> tuple[str, int]:
    fy = fiscal_year_be(received_on)
    seq = session.execute(
        text(
            "INSERT INTO case_counters (fiscal_year_be, last) VALUES (:fy, 1) "
            "ON CONFLICT (fiscal_year_be) DO UPDATE SET last = case_counters.last + 1 RETURNING last"
        ),
        {"fy": fy},
    ).scalar()
    return REFERENCE_FORMAT.format(fy=fy, seq=seq), fy


def _check_investigators(session: Session, usernames: list[str]) -> list[str]:
    names = sorted({u.strip().lower() for u in usernames if u.strip()})
    if not names:
        return []
    found = set(
        session.execute(
            text(
                "SELECT username FROM users WHERE username = ANY(:n) AND is_active "
                "AND roles && ARRAY['investigator', 'administrator']"
            ),
            {"n": names},
        ).scalars()
    )
    missing = [n for n in names if n not in found]
    if missing:
        raise InvalidInput("These people are not active investigators: " + ", ".join(missing), code="unknown_assignee")
    return names


# --- create / read --------------------------------------------------------------------------------
def create_case(session: Session, body: CaseCreate, principal: Principal) -> dict:
    if not principal.has(Role.administrator, Role.investigator):
        raise Forbidden("Only investigators and administrators open cases.")
    received = body.received_on or datetime.now(BANGKOK).date()
    reference, fy = _next_reference(session, received)
    # The id is drawn first and the row inserted without RETURNING: a confidential case is not visible
    # (row-level security) to its creator until the assignment below exists.
    case_id = session.execute(text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")).scalar_one()
    session.execute(
        text("""
        INSERT INTO cases (id, reference, title, summary, category, confidentiality, received_on, fiscal_year_be,
                           period_from, period_to, created_by, updated_by)
        VALUES (:id, :reference, :title, :summary, CAST(:category AS case_category),
                CAST(:confidentiality AS case_confidentiality), :received, :fy, :pf, :pt, :by, :by)
    """),
        {
            "id": case_id,
            "reference": reference,
            "title": body.title,
            "summary": body.summary,
            "category": body.category.value,
            "confidentiality": body.confidentiality.value,
            "received": received,
            "fy": fy,
            "pf": body.period_from,
            "pt": body.period_to,
            "by": principal.name,
        },
    )
    people = set(_check_investigators(session, body.assigned))
    if principal.has(Role.investigator):
        people.add(principal.name)
    for username in sorted(people):
        session.execute(
            text("INSERT INTO case_assignments (case_id, username, created_by) VALUES (:c, :u, :by)"),
            {"c": case_id, "u": username, "by": principal.name},
        )
    session.execute(
        text(
            "INSERT INTO case_transitions (case_id, from_stage, to_stage, reason, created_by) "
            "VALUES (:c, NULL, 'received', 'case opened', :by)"
        ),
        {"c": case_id, "by": principal.name},
    )
    case = get_case(session, case_id, principal)
    audit.record(session, principal.name, "create", "case", case_id, after=case)
    return case


def _labels(category: str, stage: str) -> dict:
    cat_th, cat_en = CASE_CATEGORY_LABELS[CaseCategory(category)]
    st_th, st_en = CASE_STAGE_LABELS[CaseStage(stage)]
    return {"category_th": cat_th, "category_en": cat_en, "stage_th": st_th, "stage_en": st_en}


def _links(session: Session, case_id: int) -> list[dict]:
    rows = (
        session.execute(
            text(
                "SELECT id, target_type::text AS target_type, target_id, reason, created_by, created_at FROM case_links "
                "WHERE case_id = :id ORDER BY created_at, id"
            ),
            {"id": case_id},
        )
        .mappings()
        .all()
    )
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


def _places(session: Session, case_id: int) -> dict:
    """Districts and protected areas the case's evidence lies in (not confidential)."""
    row = session.execute(
        text("""
        WITH l AS (SELECT target_type::text AS t, target_id FROM case_links WHERE case_id = :id)
        SELECT
          (SELECT coalesce(array_agg(DISTINCT d), '{}') FROM (
             SELECT target_id AS d FROM l WHERE t = 'district'
             UNION SELECT i.district_code FROM l JOIN incidents i ON l.t = 'incident' AND i.id::text = l.target_id
             WHERE i.district_code IS NOT NULL) s) AS districts,
          (SELECT coalesce(array_agg(DISTINCT p), '{}') FROM (
             SELECT target_id AS p FROM l WHERE t = 'protected_area'
             UNION SELECT unnest(i.protected_area_codes) FROM l JOIN incidents i
                   ON l.t = 'incident' AND i.id::text = l.target_id) s) AS protected_areas
    """),
        {"id": case_id},
    ).one()
    return {"districts": sorted(row.districts), "protected_areas": sorted(row.protected_areas)}


def get_case(session: Session, case_id: int, principal: Principal) -> dict:
    """The case as this principal may see it."""
    row = _case_row(session, case_id)
    links = _links(session, case_id)
    out: dict[str, Any] = {
        "id": row["id"],
        "reference": row["reference"],
        "category": row["category"],
        "stage": row["stage"],
        **_labels(row["category"], row["stage"]),
        "confidentiality": row["confidentiality"],
        "received_on": row["received_on"].isoformat(),
        "fiscal_year_be": row["fiscal_year_be"],
        "period_from": row["period_from"] and row["period_from"].isoformat(),
        "period_to": row["period_to"] and row["period_to"].isoformat(),
        "closed_on": row["closed_on"] and row["closed_on"].isoformat(),
        "version": row["version"],
        "evidence_counts": {t.value: sum(link["target_type"] == t.value for link in links) for t in LinkTarget},
        **_places(session, case_id),
    }
    if principal.has(Role.committee_member) and not principal.has(Role.administrator, Role.investigator):
        return out  # the committee sees where and at which stage, not what is alleged or by whom
    assigned = access.assigned_investigators(session, case_id)
    out.update(
        {
            "title": row["title"],
            "summary": row["summary"],
            "assigned": assigned,
            "links": links,
            "created_by": row["created_by"],
            "created_at": row["created_at"].isoformat(),
            "updated_by": row["updated_by"],
            "updated_at": row["updated_at"].isoformat(),
            "transitions": [
                dict(r, created_at=r["created_at"].isoformat())
                for r in session.execute(
                    text(
                        "SELECT from_stage, to_stage, reason, created_by, created_at FROM case_transitions WHERE case_id = :id "
                        "ORDER BY id"
                    ),
                    {"id": case_id},
                ).mappings()
            ],
            # Row-level security returns only the notes this caller may read.
            "notes": [
                dict(r, created_at=r["created_at"].isoformat())
                for r in session.execute(
                    text(
                        "SELECT id, body, confidential, created_by, created_at FROM case_notes WHERE case_id = :id ORDER BY id"
                    ),
                    {"id": case_id},
                ).mappings()
            ],
        }
    )
    if access.is_insider(session, principal, case_id, assigned):
        out["parties"] = [
            dict(r)
            for r in session.execute(
                text(
                    "SELECT id, name, position, agency, party_role::text AS party_role, note FROM case_parties "
                    "WHERE case_id = :id ORDER BY id"
                ),
                {"id": case_id},
            ).mappings()
        ]
        out["attachments"] = [
            dict(r, created_at=r["created_at"].isoformat(), url=f"/api/v1/cases/{case_id}/attachments/{r['id']}")
            for r in session.execute(
                text(
                    "SELECT id, filename, content_type, size_bytes, sha256, description, created_by, created_at "
                    "FROM case_attachments WHERE case_id = :id ORDER BY id"
                ),
                {"id": case_id},
            ).mappings()
        ]
    return out


def list_cases(
    session: Session,
    principal: Principal,
    *,
    stage: str | None = None,
    category: str | None = None,
    fiscal_year_be: int | None = None,
    received: tuple[date, date] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    """Cases this caller may see, newest first; ``received``: first and last day the case was received."""
    where, params = ["TRUE"], {"limit": limit, "offset": offset}
    if received:
        where.append("received_on BETWEEN :received_from AND :received_to")
        params.update(received_from=received[0], received_to=received[1])
    if stage:
        where.append("stage::text = :stage")
        params["stage"] = stage
    if category:
        where.append("category::text = :category")
        params["category"] = category
    if fiscal_year_be:
        where.append("fiscal_year_be = :fy")
        params["fy"] = fiscal_year_be
    clause = " AND ".join(where)
    total = session.execute(text(f"SELECT count(*) FROM cases WHERE {clause}"), params).scalar()
    ids = (
        session.execute(
            text(f"SELECT id FROM cases WHERE {clause} ORDER BY received_on DESC, id DESC LIMIT :limit OFFSET :offset"),
            params,
        )
        .scalars()
        .all()
    )
    return {"items": [get_case(session, i, principal) for i in ids], "total": total, "limit": limit, "offset": offset}


# --- update / stages ------------------------------------------------------------------------------
def update_case(
    session: Session, case_id: int, body: CaseUpdate, expected_version: int | None, principal: Principal
) -> dict:
    access.require_insider(session, principal, case_id)
    if expected_version is None:
        raise PreconditionRequired("Send the version you are editing in an If-Match header.")
    before = get_case(session, case_id, principal)
    changes = body.model_dump(exclude_unset=True)
    for k in ("category", "confidentiality"):
        if changes.get(k) is not None:
            changes[k] = changes[k].value
    changes = {k: v for k, v in changes.items() if v is not None or k in ("period_from", "period_to")}
    if not changes:
        return before
    casts = {
        "category": "CAST(:category AS case_category)",
        "confidentiality": "CAST(:confidentiality AS case_confidentiality)",
    }
    sets = ", ".join(f"{k} = {casts.get(k, ':' + k)}" for k in changes)
    done = session.execute(
        text(
            f"UPDATE cases SET {sets}, version = version + 1, updated_by = :_by, updated_at = now() "
            "WHERE id = :_id AND version = :_v RETURNING id"
        ),
        {**changes, "_by": principal.name, "_id": case_id, "_v": expected_version},
    ).scalar()
    if done is None:
        raise PreconditionFailed(
            "Someone else changed this case since you loaded it; reload, check, and save again.",
            details=[{"current": before}],
        )
    after = get_case(session, case_id, principal)
    if after["period_from"] and after["period_to"] and after["period_to"] < after["period_from"]:
        raise InvalidInput("period_to is before period_from.", code="invalid_period")
    audit.record(session, principal.name, "update", "case", case_id, before=before, after=after)
    return after


def transition(
    session: Session, case_id: int, body: Transition, expected_version: int | None, principal: Principal
) -> dict:
    """Move a case to another stage: the same optimistic locking as an edit (If-Match required).

    The UPDATE itself checks the version and the stage it read, so of two simultaneous transitions from
    the same version one waits for the other's row lock, then finds the version moved and changes nothing.
    """
    access.require_insider(session, principal, case_id)
    if expected_version is None:
        raise PreconditionRequired("Send the version you are moving in an If-Match header.")
    row = _case_row(session, case_id)
    if expected_version != row["version"]:
        raise PreconditionFailed(details=[{"current": get_case(session, case_id, principal)}])
    current = CaseStage(row["stage"])
    if not workflow.allowed(current, body.to_stage):
        allowed = ", ".join(s.value for s in workflow.ALLOWED[current])
        raise Conflict(f"A case at stage '{current.value}' can move only to: {allowed}.", code="stage_not_allowed")
    done = session.execute(
        text(
            "UPDATE cases SET stage = CAST(:to AS case_stage), closed_on = CASE WHEN :to = 'closed' THEN :today ELSE NULL END, "
            "version = version + 1, updated_by = :by, updated_at = now() "
            "WHERE id = :id AND version = :v AND stage = CAST(:from AS case_stage) RETURNING id"
        ),
        {
            "to": body.to_stage.value,
            "today": datetime.now(BANGKOK).date(),
            "by": principal.name,
            "id": case_id,
            "v": expected_version,
            "from": current.value,
        },
    ).scalar()
    if done is None:
        raise PreconditionFailed(
            "Someone else changed this case since you loaded it; reload, check, and try again.",
            details=[{"current": get_case(session, case_id, principal)}],
        )
    session.execute(
        text(
            "INSERT INTO case_transitions (case_id, from_stage, to_stage, reason, created_by) "
            "VALUES (:c, :f, :t, :r, :by)"
        ),
        {"c": case_id, "f": current.value, "t": body.to_stage.value, "r": body.reason, "by": principal.name},
    )
    audit.record(
        session,
        principal.name,
        "transition",
        "case",
        case_id,
        before={"stage": current.value},
        after={"stage": body.to_stage.value, "reason": body.reason},
    )
    return get_case(session, case_id, principal)


def delete_case(session: Session, case_id: int, principal: Principal) -> None:
    if not principal.has(Role.administrator):
        raise Forbidden("Only administrators delete cases.")
    before = get_case(session, case_id, principal)
    session.execute(
        text(
            "UPDATE incidents SET status = 'verified', version = version + 1 WHERE status = 'linked' "
            "AND id::text IN (SELECT target_id FROM case_links WHERE case_id = :id "
            "AND target_type = 'incident')"
        ),
        {"id": case_id},
    )
    session.execute(text("DELETE FROM cases WHERE id = :id"), {"id": case_id})
    audit.record(session, principal.name, "delete", "case", case_id, before=before)


# --- people, notes, files -------------------------------------------------------------------------
def assign(session: Session, case_id: int, username: str, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    name = _check_investigators(session, [username])[0]
    session.execute(
        text(
            "INSERT INTO case_assignments (case_id, username, created_by) VALUES (:c, :u, :by) ON CONFLICT DO NOTHING"
        ),
        {"c": case_id, "u": name, "by": principal.name},
    )
    _bump(session, case_id, principal)
    audit.record(session, principal.name, "assign", "case", case_id, after={"assigned": name})
    return get_case(session, case_id, principal)


def unassign(session: Session, case_id: int, username: str, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    session.execute(
        text("DELETE FROM case_assignments WHERE case_id = :c AND username = :u"), {"c": case_id, "u": username}
    )
    _bump(session, case_id, principal)
    audit.record(session, principal.name, "unassign", "case", case_id, before={"assigned": username})
    return get_case(session, case_id, principal)


def add_party(session: Session, case_id: int, body: PartyIn, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    party_id = session.execute(
        text(
            "INSERT INTO case_parties (case_id, name, position, agency, party_role, note, created_by) "
            "VALUES (:c, :name, :position, :agency, CAST(:role AS party_role), :note, :by) RETURNING id"
        ),
        {"c": case_id, **body.model_dump(exclude={"party_role"}), "role": body.party_role.value, "by": principal.name},
    ).scalar_one()
    _bump(session, case_id, principal)
    audit.record(
        session,
        principal.name,
        "create",
        "case_party",
        party_id,
        after={"case_id": case_id, **body.model_dump(mode="json")},
    )
    return get_case(session, case_id, principal)


def remove_party(session: Session, case_id: int, party_id: int, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    row = (
        session.execute(
            text(
                "DELETE FROM case_parties WHERE id = :p AND case_id = :c "
                "RETURNING name, position, agency, party_role::text AS party_role, note"
            ),
            {"p": party_id, "c": case_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("No such party on this case.")
    _bump(session, case_id, principal)
    audit.record(session, principal.name, "delete", "case_party", party_id, before={"case_id": case_id, **row})
    return get_case(session, case_id, principal)


def add_note(session: Session, case_id: int, body: NoteIn, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    note_id = session.execute(
        text(
            "INSERT INTO case_notes (case_id, body, confidential, created_by) VALUES (:c, :b, :conf, :by) RETURNING id"
        ),
        {"c": case_id, "b": body.body, "conf": body.confidential, "by": principal.name},
    ).scalar_one()
    _bump(session, case_id, principal)
    audit.record(
        session,
        principal.name,
        "create",
        "case_note",
        note_id,
        after={"case_id": case_id, "confidential": body.confidential, "body": body.body},
    )
    return get_case(session, case_id, principal)


def add_attachment(
    session: Session,
    case_id: int,
    data: bytes,
    filename: str,
    content_type: str | None,
    description: str | None,
    principal: Principal,
) -> dict:
    access.require_insider(session, principal, case_id)
    if not data:
        raise InvalidInput("The file is empty.", code="empty_file")
    if len(data) > MAX_ATTACHMENT:
        raise InvalidInput("An attachment may be at most 50 MB.", code="too_large")
    digest = hashlib.sha256(data).hexdigest()
    name = filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or "file"
    att_id = session.execute(
        text(
            "INSERT INTO case_attachments (case_id, filename, content_type, size_bytes, sha256, description, data, created_by) "
            "VALUES (:c, :f, :ct, :n, :h, :d, :data, :by) ON CONFLICT (case_id, sha256) DO NOTHING RETURNING id"
        ),
        {
            "c": case_id,
            "f": name,
            "ct": (content_type or "application/octet-stream")[:100],
            "n": len(data),
            "h": digest,
            "d": description,
            "data": data,
            "by": principal.name,
        },
    ).scalar()
    if att_id is not None:
        _bump(session, case_id, principal)
        audit.record(
            session,
            principal.name,
            "create",
            "case_attachment",
            att_id,
            after={"case_id": case_id, "filename": name, "sha256": digest, "size_bytes": len(data)},
        )
    return get_case(session, case_id, principal)


def attachment(session: Session, case_id: int, attachment_id: int, principal: Principal) -> tuple[bytes, str, str, str]:
    access.require_insider(session, principal, case_id)
    row = session.execute(
        text("SELECT data, content_type, filename, sha256 FROM case_attachments WHERE id = :a AND case_id = :c"),
        {"a": attachment_id, "c": case_id},
    ).first()
    if row is None:
        raise NotFound("No such attachment on this case.")
    return row.data, row.content_type, row.filename, row.sha256


# --- evidence links -------------------------------------------------------------------------------
_TARGETS = {  # table, and the condition that finds the target
    LinkTarget.incident: ("incidents", "id::text = :id"),
    LinkTarget.protected_area: ("protected_areas", "code = :id"),
    LinkTarget.district: ("admin_areas", "level = 'district' AND is_current AND code = :id"),
    LinkTarget.hotspot: ("hotspots", "id::text = :id"),
    LinkTarget.fire_event: ("fire_events", "id::text = :id"),
    LinkTarget.raster_stat: ("raster_zone_stats", "id::text = :id"),
}


def _target_exists(session: Session, target: LinkTarget, target_id: str) -> bool:
    table, condition = _TARGETS[target]
    return session.execute(text(f"SELECT 1 FROM {table} WHERE {condition}"), {"id": target_id}).first() is not None


def add_link(session: Session, case_id: int, body: LinkIn, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    if not _target_exists(session, body.target_type, body.target_id):
        raise NotFound(f"No {body.target_type.value.replace('_', ' ')} '{body.target_id}' to link.")
    link_id = session.execute(
        text(
            "INSERT INTO case_links (case_id, target_type, target_id, reason, created_by) "
            "VALUES (:c, CAST(:t AS link_target), :i, :r, :by) ON CONFLICT DO NOTHING RETURNING id"
        ),
        {"c": case_id, "t": body.target_type.value, "i": body.target_id, "r": body.reason, "by": principal.name},
    ).scalar()
    if link_id is None:
        raise Conflict("This evidence is already linked to the case.", code="already_linked")
    if body.target_type == LinkTarget.incident:
        _set_incident_linked(session, body.target_id, principal)
    _bump(session, case_id, principal)
    audit.record(
        session,
        principal.name,
        "create",
        "case_link",
        link_id,
        after={"case_id": case_id, **body.model_dump(mode="json")},
    )
    return get_case(session, case_id, principal)


def remove_link(session: Session, case_id: int, link_id: int, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    row = (
        session.execute(
            text(
                "DELETE FROM case_links WHERE id = :l AND case_id = :c "
                "RETURNING target_type::text AS target_type, target_id, reason"
            ),
            {"l": link_id, "c": case_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("No such link on this case.")
    if row["target_type"] == "incident":
        still = session.execute(
            text("SELECT 1 FROM case_links WHERE target_type = 'incident' AND target_id = :i"), {"i": row["target_id"]}
        ).first()
        if not still:
            _set_incident_status(session, row["target_id"], "linked", "verified", principal)
    _bump(session, case_id, principal)
    audit.record(session, principal.name, "delete", "case_link", link_id, before={"case_id": case_id, **row})
    return get_case(session, case_id, principal)


def _set_incident_linked(session: Session, incident_id: str, principal: Principal) -> None:
    _set_incident_status(session, incident_id, None, "linked", principal)


def _set_incident_status(
    session: Session, incident_id: str, from_status: str | None, to_status: str, principal: Principal
) -> None:
    row = session.execute(
        text(
            "UPDATE incidents SET status = CAST(:to AS incident_status), version = version + 1, updated_by = :by, "
            "updated_at = now() WHERE id::text = :id AND status::text <> :to "
            "AND (CAST(:from AS text) IS NULL OR status::text = :from) RETURNING id"
        ),
        {"to": to_status, "from": from_status, "by": principal.name, "id": incident_id},
    ).scalar()
    if row is not None:
        audit.record(session, principal.name, "update", "incident", row, after={"status": to_status})


def stage_counts(session: Session, start: date, end: date, audience: Principal) -> dict:
    """Cases active during ``start``-``end`` (received by its last day, not closed before its first) that
    ``audience`` may see, by their stage now; and how many of them were received in the period.
    Counts only. Read through row-level security as ``audience`` (access.seen_by)."""
    with access.seen_by(session, audience):
        rows = session.execute(
            text("""
            SELECT stage::text AS stage, count(*) AS active,
                   count(*) FILTER (WHERE received_on >= :s) AS received
            FROM cases WHERE received_on <= :e AND (closed_on IS NULL OR closed_on >= :s)
            GROUP BY 1"""),
            {"s": start, "e": end},
        ).all()
    by_stage = {s.value: 0 for s in CaseStage}
    by_stage.update({r.stage: r.active for r in rows})
    return {"by_stage": by_stage, "received": sum(r.received for r in rows)}
