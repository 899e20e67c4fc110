"""Cases: create, read (redacted by role), update (optimistic locking), stages, people, notes, files, links.

Every function runs in the caller's transaction after ``access.act_as`` switched it to the restricted
database role, so the row-level policies decide which cases and which confidential rows exist for the
caller; this module decides which fields of a visible case a role sees, and who may change what. Every
change is written to the audit trail in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from geo_service import audit, users
from geo_service.auth import Principal, Role
from geo_service.cases import access, evidence_scope, store, workflow
from geo_service.cases.schemas import CaseCreate, CaseUpdate, LinkIn, NoteIn, PartyIn, Transition
from geo_service.db.models import CASE_CATEGORY_LABELS, CASE_STAGE_LABELS, CaseCategory, CaseStage, LinkTarget
from geo_service.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed, PreconditionRequired
from geo_service.incidents import service as incidents
from geo_service.incidents import store as incidents_store
from geo_service.layers import aoi
from geo_service.thai import BANGKOK, fiscal_year_be

REFERENCE_FORMAT = "NACC-PR-{fy}-{seq:04d}"
MAX_ATTACHMENT = 50 << 20


# --- who listens to a case's changes (alerts; registered by wiring.py) -------------------------------------------
@dataclass(frozen=True)
class CaseChange:
    """What changed on a case, as a listener is told: no party name, note text or title (listeners may tell
    people who see less than the actor)."""

    case_id: int
    reference: str
    stage: str
    province_code: str | None
    version: int
    change: str  # updated, stage, assignment, party, note, attachment, link
    actor: str


CaseListener = Callable[[Session, CaseChange], None]
_CASE_LISTENERS: list[CaseListener] = []


def on_case_changed(listener: CaseListener) -> CaseListener:
    """Register a listener called in the change's transaction after each change of a case (idempotent)."""
    if listener not in _CASE_LISTENERS:
        _CASE_LISTENERS.append(listener)
    return listener


def _changed(session: Session, case_id: int, change: str, principal: Principal) -> None:
    if not _CASE_LISTENERS:
        return
    row = store.case_row(session, case_id)
    if row is None:
        return
    event = CaseChange(
        case_id=case_id,
        reference=row["reference"],
        stage=str(row["stage"].value if hasattr(row["stage"], "value") else row["stage"]),
        province_code=row["province_code"],
        version=int(row["version"]),
        change=change,
        actor=principal.name,
    )
    for listener in _CASE_LISTENERS:
        listener(session, event)


# --- helpers --------------------------------------------------------------------------------------
def _check_investigators(session: Session, usernames: list[str], province: str | None) -> list[str]:
    names = sorted({u.strip().lower() for u in usernames if u.strip()})
    if not names:
        return []
    found = users.active_with_roles(
        session, names, [Role.investigator.value, Role.administrator.value], province=province
    )
    missing = [n for n in names if n not in found]
    if missing:
        raise InvalidInput(
            "These people are not active investigators of the case's province: " + ", ".join(missing),
            code="unknown_assignee",
        )
    return names


def case_province(session: Session, requested: str | None, principal: Principal) -> str:
    """The province a new case belongs to: the one asked for (a loaded province within the creator's scope),
    else the creator's only province, else (a national creator) the deployment's only area-of-interest
    province; InvalidInput when none of these says."""
    if requested is not None:
        code = aoi.check_province_codes(session, [requested])[0]
        if not principal.sees_province(code):
            raise Forbidden(
                f"You may open cases only in your province(s): {', '.join(sorted(principal.provinces or []))}."
            )
        return code
    if principal.provinces is not None and len(principal.provinces) == 1:
        return next(iter(principal.provinces))
    deployment = aoi.aoi_province_codes(session)
    if principal.provinces is None and len(deployment) == 1:
        return deployment[0]  # a national caller in a single-office deployment: that office
    raise InvalidInput(
        "Say which province the case belongs to ('province_code', e.g. \"54\"): "
        + ("you work in several provinces." if principal.provinces else "you are not limited to one province."),
        code="province_required",
    )


def _labels(category: str, stage: str) -> dict:
    cat_th, cat_en = CASE_CATEGORY_LABELS[CaseCategory(category)]
    st_th, st_en = CASE_STAGE_LABELS[CaseStage(stage)]
    return {"category_th": cat_th, "category_en": cat_en, "stage_th": st_th, "stage_en": st_en}


def _iso(row: dict, **extra: Any) -> dict:
    return {**row, "created_at": row["created_at"].isoformat(), **extra}


def _places(links: list[dict], incident_places: dict[str, tuple[str | None, list[str]]]) -> dict:
    """Districts and protected areas the case's evidence lies in (not confidential): the linked ones, and
    those of the linked incidents."""
    districts = {link["target_id"] for link in links if link["target_type"] == "district"}
    protected = {link["target_id"] for link in links if link["target_type"] == "protected_area"}
    for link in links:
        if link["target_type"] == "incident" and link["target_id"] in incident_places:
            district, codes = incident_places[link["target_id"]]
            if district is not None:
                districts.add(district)
            protected.update(codes)
    return {"districts": sorted(districts), "protected_areas": sorted(protected)}


def _committee_only(principal: Principal) -> bool:
    return principal.has(Role.committee_member) and not principal.has(Role.administrator, Role.investigator)


def case_pages(session: Session, case_ids: list[int], principal: Principal) -> list[dict]:
    """These cases as this principal may see them, in the order given (cases it may not see are left out).

    A fixed number of statements whatever the number of cases, links, notes or parties: each part of the
    page is read for all the cases at once."""
    rows = store.case_rows(session, case_ids)
    ids = [i for i in case_ids if i in rows]
    if not ids:
        return []
    # the one province rule of evidence: links to another province's evidence are hidden, and counted
    all_links = store.links_of(session, ids)
    scoped = evidence_scope.scope_links(session, {i: all_links.get(i, []) for i in ids}, principal)
    links = {i: scoped[i].links for i in ids}
    incident_ids = sorted({lk["target_id"] for i in ids for lk in links[i] if lk["target_type"] == "incident"})
    incident_places = incidents_store.places_of(session, incident_ids)
    outsider = _committee_only(principal)
    insiders = (
        [] if outsider else [i for i in ids if access.is_insider(session, principal, i, list(rows[i]["assigned"]))]
    )
    transitions = {} if outsider else store.transitions_of(session, ids)
    notes = {} if outsider else store.notes_of(session, ids)
    parties = store.parties_of(session, insiders) if insiders else {}
    attachments = store.attachments_of(session, insiders) if insiders else {}
    pages = []
    for case_id in ids:
        row = rows[case_id]
        case_links = [_iso(lk) for lk in links.get(case_id, [])]
        out: dict[str, Any] = {
            "id": row["id"],
            "reference": row["reference"],
            "category": row["category"],
            "stage": row["stage"],
            **_labels(row["category"], row["stage"]),
            "confidentiality": row["confidentiality"],
            "received_on": row["received_on"].isoformat(),
            "fiscal_year_be": row["fiscal_year_be"],
            "province_code": row["province_code"],
            "period_from": row["period_from"] and row["period_from"].isoformat(),
            "period_to": row["period_to"] and row["period_to"].isoformat(),
            "closed_on": row["closed_on"] and row["closed_on"].isoformat(),
            "version": row["version"],
            "evidence_counts": {t.value: sum(lk["target_type"] == t.value for lk in case_links) for t in LinkTarget},
            **_places(case_links, incident_places),
            "evidence_hidden": scoped[case_id].hidden,
        }
        if scoped[case_id].note is not None:
            out["evidence_hidden_note"] = scoped[case_id].note
        if outsider:
            pages.append(out)  # the committee sees where and at which stage, not what is alleged or by whom
            continue
        out.update(
            {
                "title": row["title"],
                "summary": row["summary"],
                "assigned": list(row["assigned"]),
                "links": case_links,
                "created_by": row["created_by"],
                "created_at": row["created_at"].isoformat(),
                "updated_by": row["updated_by"],
                "updated_at": row["updated_at"].isoformat(),
                "transitions": [_iso(t) for t in transitions.get(case_id, [])],
                # Row-level security returns only the notes this caller may read.
                "notes": [_iso(n) for n in notes.get(case_id, [])],
            }
        )
        if case_id in insiders:
            out["parties"] = parties.get(case_id, [])
            out["attachments"] = [
                _iso(a, url=f"/api/v1/cases/{case_id}/attachments/{a['id']}") for a in attachments.get(case_id, [])
            ]
        pages.append(out)
    return pages


def get_case(session: Session, case_id: int, principal: Principal) -> dict:
    """The case as this principal may see it."""
    pages = case_pages(session, [case_id], principal)
    if not pages:  # absent, or invisible to this caller: the same answer
        raise NotFound("No case with this number, or you may not see it.")
    return pages[0]


# --- create / read --------------------------------------------------------------------------------
def create_case(session: Session, body: CaseCreate, principal: Principal) -> dict:
    """Open a case: its reference is the next number of its fiscal year; the creator (an investigator) and
    the people named are assigned."""
    if not principal.has(Role.administrator, Role.investigator):
        raise Forbidden("Only investigators and administrators open cases.")
    province = case_province(session, body.province_code, principal)
    received = body.received_on or datetime.now(BANGKOK).date()
    fy = fiscal_year_be(received)
    reference = REFERENCE_FORMAT.format(fy=fy, seq=store.next_sequence(session, fy))
    # The id is drawn first and the row inserted without RETURNING: a confidential case is not visible
    # (row-level security) to its creator until the assignment below exists.
    case_id = store.new_case_id(session)
    store.insert_case(
        session,
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
            "province": province,
            "by": principal.name,
        },
    )
    people = set(_check_investigators(session, body.assigned, province))
    if principal.has(Role.investigator):
        people.add(principal.name)
    store.add_assignments(session, case_id, sorted(people), principal.name)
    store.add_transition(session, case_id, None, CaseStage.received.value, "case opened", principal.name)
    case = get_case(session, case_id, principal)
    audit.record(session, principal.name, "create", "case", case_id, after=case)
    return case


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
    total, ids = store.find_cases(
        session,
        stage=stage,
        category=category,
        fiscal_year_be=fiscal_year_be,
        received=received,
        limit=limit,
        offset=offset,
    )
    return {"items": case_pages(session, ids, principal), "total": total, "limit": limit, "offset": offset}


# --- update / stages ------------------------------------------------------------------------------
def update_case(
    session: Session, case_id: int, body: CaseUpdate, expected_version: int | None, principal: Principal
) -> dict:
    """Edit the case's fields, if nobody changed it since ``expected_version`` (optimistic locking)."""
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
    if not store.update_fields(session, case_id, changes, expected_version, principal.name):
        raise PreconditionFailed(
            "Someone else changed this case since you loaded it; reload, check, and save again.",
            details=[{"current": before}],
        )
    after = get_case(session, case_id, principal)
    if after["period_from"] and after["period_to"] and after["period_to"] < after["period_from"]:
        raise InvalidInput("period_to is before period_from.", code="invalid_period")
    audit.record(session, principal.name, "update", "case", case_id, before=before, after=after)
    _changed(session, case_id, "updated", principal)
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
    row = store.case_row(session, case_id)
    if row is None:  # absent, or invisible to this caller: the same answer
        raise NotFound("No case with this number, or you may not see it.")
    if expected_version != row["version"]:
        raise PreconditionFailed(details=[{"current": get_case(session, case_id, principal)}])
    current = CaseStage(row["stage"])
    if not workflow.allowed(current, body.to_stage):
        allowed = ", ".join(s.value for s in workflow.ALLOWED[current])
        raise Conflict(f"A case at stage '{current.value}' can move only to: {allowed}.", code="stage_not_allowed")
    moved = store.move_stage(
        session,
        case_id,
        from_stage=current.value,
        to_stage=body.to_stage.value,
        expected_version=expected_version,
        closed_on=datetime.now(BANGKOK).date(),
        by=principal.name,
    )
    if not moved:
        raise PreconditionFailed(
            "Someone else changed this case since you loaded it; reload, check, and try again.",
            details=[{"current": get_case(session, case_id, principal)}],
        )
    store.add_transition(session, case_id, current.value, body.to_stage.value, body.reason, principal.name)
    audit.record(
        session,
        principal.name,
        "transition",
        "case",
        case_id,
        before={"stage": current.value},
        after={"stage": body.to_stage.value, "reason": body.reason},
    )
    _changed(session, case_id, "stage", principal)
    return get_case(session, case_id, principal)


def delete_case(session: Session, case_id: int, principal: Principal) -> None:
    """Delete a case (administrators). Its incidents go back to 'verified' unless another case still links
    them."""
    if not principal.has(Role.administrator):
        raise Forbidden("Only administrators delete cases.")
    before = get_case(session, case_id, principal)
    linked = store.linked_targets(session, case_id, LinkTarget.incident.value)
    store.delete_case(session, case_id)
    still = store.still_linked(session, LinkTarget.incident.value, linked)
    incidents.mark_unlinked(session, [i for i in linked if i not in still], principal)
    audit.record(session, principal.name, "delete", "case", case_id, before=before)


# --- people, notes, files -------------------------------------------------------------------------
def assign(session: Session, case_id: int, username: str, principal: Principal) -> dict:
    """Assign an investigator to the case."""
    access.require_insider(session, principal, case_id)
    row = store.case_row(session, case_id)
    name = _check_investigators(session, [username], row["province_code"] if row else None)[0]
    store.add_assignments(session, case_id, [name], principal.name)
    store.bump(session, case_id, principal.name)
    audit.record(session, principal.name, "assign", "case", case_id, after={"assigned": name})
    _changed(session, case_id, "assignment", principal)
    return get_case(session, case_id, principal)


def unassign(session: Session, case_id: int, username: str, principal: Principal) -> dict:
    """Take an investigator off the case."""
    access.require_insider(session, principal, case_id)
    store.remove_assignment(session, case_id, username)
    store.bump(session, case_id, principal.name)
    audit.record(session, principal.name, "unassign", "case", case_id, before={"assigned": username})
    _changed(session, case_id, "assignment", principal)
    return get_case(session, case_id, principal)


def add_party(session: Session, case_id: int, body: PartyIn, principal: Principal) -> dict:
    """Add an agency or official concerned (confidential to the case's insiders)."""
    access.require_insider(session, principal, case_id)
    party_id = store.insert_party(
        session, case_id, {**body.model_dump(exclude={"party_role"}), "role": body.party_role.value}, principal.name
    )
    store.bump(session, case_id, principal.name)
    audit.record(
        session,
        principal.name,
        "create",
        "case_party",
        party_id,
        after={"case_id": case_id, **body.model_dump(mode="json")},
    )
    _changed(session, case_id, "party", principal)
    return get_case(session, case_id, principal)


def remove_party(session: Session, case_id: int, party_id: int, principal: Principal) -> dict:
    """Remove a party from the case."""
    access.require_insider(session, principal, case_id)
    row = store.delete_party(session, case_id, party_id)
    if row is None:
        raise NotFound("No such party on this case.")
    store.bump(session, case_id, principal.name)
    audit.record(session, principal.name, "delete", "case_party", party_id, before={"case_id": case_id, **row})
    _changed(session, case_id, "party", principal)
    return get_case(session, case_id, principal)


def add_note(session: Session, case_id: int, body: NoteIn, principal: Principal) -> dict:
    """Add a note to the case (confidential unless said otherwise)."""
    access.require_insider(session, principal, case_id)
    note_id = store.insert_note(session, case_id, body.body, body.confidential, principal.name)
    store.bump(session, case_id, principal.name)
    audit.record(
        session,
        principal.name,
        "create",
        "case_note",
        note_id,
        after={"case_id": case_id, "confidential": body.confidential, "body": body.body},
    )
    _changed(session, case_id, "note", principal)
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
    """Keep a file with the case, with its SHA-256 (the same file twice is kept once)."""
    access.require_insider(session, principal, case_id)
    if not data:
        raise InvalidInput("The file is empty.", code="empty_file")
    if len(data) > MAX_ATTACHMENT:
        raise InvalidInput("An attachment may be at most 50 MB.", code="too_large")
    digest = hashlib.sha256(data).hexdigest()
    name = filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or "file"
    att_id = store.insert_attachment(
        session,
        case_id,
        {
            "f": name,
            "ct": (content_type or "application/octet-stream")[:100],
            "n": len(data),
            "h": digest,
            "d": description,
            "data": data,
        },
        principal.name,
    )
    if att_id is not None:
        store.bump(session, case_id, principal.name)
        audit.record(
            session,
            principal.name,
            "create",
            "case_attachment",
            att_id,
            after={"case_id": case_id, "filename": name, "sha256": digest, "size_bytes": len(data)},
        )
        _changed(session, case_id, "attachment", principal)
    return get_case(session, case_id, principal)


def attachment(session: Session, case_id: int, attachment_id: int, principal: Principal) -> tuple[bytes, str, str, str]:
    """A file of the case: (data, content type, file name, SHA-256)."""
    access.require_insider(session, principal, case_id)
    row = store.attachment(session, case_id, attachment_id)
    if row is None:
        raise NotFound("No such attachment on this case.")
    return row.data, row.content_type, row.filename, row.sha256


def download_attachment(
    session: Session, case_id: int, attachment_id: int, principal: Principal
) -> tuple[bytes, str, str, str]:
    """``attachment``, and the download written to the audit trail."""
    data, content_type, filename, sha = attachment(session, case_id, attachment_id, principal)
    audit.record(
        session, principal.name, "download", "case_attachment", attachment_id, after={"case_id": case_id, "sha256": sha}
    )
    return data, content_type, filename, sha


def case_audit(session: Session, case_id: int, principal: Principal) -> list[dict]:
    """The case's audit trail (its insiders only). The case pages it keeps (an edit's before and after, written as
    their actor saw the case) are shown as this reader may see them (``evidence_scope.scope_snapshots``: evidence
    outside its provinces left out and counted)."""
    access.require_insider(session, principal, case_id)
    entries = audit.entries_for(session, "case", case_id)
    scoped = evidence_scope.scope_snapshots(
        session, [e["before"] for e in entries] + [e["after"] for e in entries], principal
    )
    n = len(entries)
    return [{**e, "before": scoped[i], "after": scoped[n + i]} for i, e in enumerate(entries)]


# --- evidence links -------------------------------------------------------------------------------
# Which of a list of ids exist, per kind of evidence, is answered by the store of the evidence's domain within the
# caller's provinces (``evidence_scope.IN_SCOPE``: the one province rule of evidence): another province's item is
# absent, the same 404 as an unknown id; national callers (provinces None) link any.


def add_link(session: Session, case_id: int, body: LinkIn, principal: Principal) -> dict:
    """Link one piece of evidence to the case."""
    return add_links(session, case_id, [body], principal)


def add_links(session: Session, case_id: int, bodies: list[LinkIn], principal: Principal) -> dict:
    """Link several pieces of evidence at once, all or nothing: the first one (in the order given) that does
    not exist, or that the case links already (or that comes twice), fails the lot. Linked incidents become
    'linked'; every link is audited."""
    access.require_insider(session, principal, case_id)
    wanted: dict[LinkTarget, list[str]] = {}
    for body in bodies:
        wanted.setdefault(body.target_type, []).append(body.target_id)
    found = {t: evidence_scope.in_scope(session, t, ids, principal) for t, ids in wanted.items()}
    have = store.linked_pairs(session, case_id)
    for body in bodies:
        if body.target_id not in found[body.target_type]:
            raise NotFound(f"No {body.target_type.value.replace('_', ' ')} '{body.target_id}' to link.")
        key = (body.target_type.value, body.target_id)
        if key in have:
            raise Conflict("This evidence is already linked to the case.", code="already_linked")
        have.add(key)
    link_ids = store.insert_links(
        session, case_id, [(b.target_type.value, b.target_id, b.reason) for b in bodies], principal.name
    )
    if len(link_ids) != len(bodies):  # linked meanwhile by a concurrent request
        raise Conflict("This evidence is already linked to the case.", code="already_linked")
    incidents.mark_linked(session, wanted.get(LinkTarget.incident, []), principal)
    store.bump(session, case_id, principal.name, steps=len(bodies))
    for link_id, body in zip(link_ids, bodies, strict=True):
        audit.record(
            session,
            principal.name,
            "create",
            "case_link",
            link_id,
            after={"case_id": case_id, **body.model_dump(mode="json")},
        )
    _changed(session, case_id, "link", principal)
    return get_case(session, case_id, principal)


def remove_link(session: Session, case_id: int, link_id: int, principal: Principal) -> dict:
    """Unlink evidence; an incident no other case links goes back to 'verified'."""
    access.require_insider(session, principal, case_id)
    link = [lk for lk in store.links_of(session, [case_id]).get(case_id, []) if lk["id"] == link_id]
    # a link to evidence outside the caller's provinces answers as a link the case does not have
    if not evidence_scope.case_links(session, link, principal).links:
        raise NotFound("No such link on this case.")
    row = store.delete_link(session, case_id, link_id)
    if row is None:
        raise NotFound("No such link on this case.")
    incident = row["target_type"] == LinkTarget.incident.value
    if incident and not store.still_linked(session, LinkTarget.incident.value, [row["target_id"]]):
        incidents.mark_unlinked(session, [row["target_id"]], principal)
    store.bump(session, case_id, principal.name)
    audit.record(session, principal.name, "delete", "case_link", link_id, before={"case_id": case_id, **row})
    _changed(session, case_id, "link", principal)
    return get_case(session, case_id, principal)


def stage_counts(session: Session, start: date, end: date, audience: Principal) -> dict:
    """Cases active during ``start``-``end`` (received by its last day, not closed before its first) that
    ``audience`` may see, by their stage now; and how many of them were received in the period.
    Counts only. Read through row-level security as ``audience`` (access.seen_by)."""
    with access.seen_by(session, audience):
        rows = store.stage_counts(session, start, end)
    by_stage = {s.value: 0 for s in CaseStage}
    by_stage.update({r["stage"]: r["active"] for r in rows})
    return {"by_stage": by_stage, "received": sum(r["received"] for r in rows)}


def province_stage_counts(session: Session, start: date, end: date, audience: Principal) -> dict[str | None, dict]:
    """``stage_counts`` per province code (None: cases without a province), for the national brief. Counts
    only, read through row-level security as ``audience``."""
    with access.seen_by(session, audience):
        rows = store.province_stage_counts(session, start, end)
    out: dict[str | None, dict] = {}
    for r in rows:
        entry = out.setdefault(r["province_code"], {"by_stage": {s.value: 0 for s in CaseStage}, "received": 0})
        entry["by_stage"][r["stage"]] = r["active"]
        entry["received"] += r["received"]
    return out


def public_stage_counts(session: Session, audience: Principal) -> dict:
    """Cases that ``audience`` may see (row-level security, as ``stage_counts``) by fiscal year (BE) and current
    stage, counts only: ``{"rows": [{"fiscal_year_be", "stage", "n"}], "last_update": datetime | None}``. For the
    transparency page, read as a committee member of the area's provinces (no confidential case is counted)."""
    with access.seen_by(session, audience):
        rows = store.fiscal_year_stage_counts(session)
    return {
        "rows": [{"fiscal_year_be": r["fiscal_year_be"], "stage": r["stage"], "n": r["n"]} for r in rows],
        "last_update": rows[0]["last_update"] if rows else None,
    }
