"""Reports from the public: submit (sealed contact, stripped photos, receipt code, duplicates), follow up with
the receipt, triage (assign, accept into an incident, merge, reject), the audited opening of contact details,
abuse limits, and the volunteer network's members and counts by district."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from nacl.public import PublicKey
from sqlalchemy.orm import Session

from geo_service import audit, users
from geo_service.auth import Principal, Role
from geo_service.citizen import sealing, store
from geo_service.citizen.photos import STRIPPED_TYPE, ReceivedPhoto, receive
from geo_service.citizen.schemas import ContactIn, MemberIn, ReportIn
from geo_service.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized
from geo_service.incidents import photos as incident_photos
from geo_service.incidents import service as incidents
from geo_service.incidents.schemas import IncidentCreate, LocationIn
from geo_service.layers import aoi
from geo_service.settings import CitizenSettings
from geo_service.thai import BANGKOK, fiscal_year_bounds

# What a citizen saw -> the incident kind it becomes when accepted.
INCIDENT_KIND = {
    "encroachment": "encroachment",
    "logging": "illegal_logging",
    "burning": "burning",
    "project_misuse": "other",
}
STATUS_LABELS = {
    "received": ("ได้รับแล้ว รอตรวจสอบ", "Received, waiting to be checked"),
    "accepted": ("รับเรื่องแล้ว ส่งให้เจ้าหน้าที่ดำเนินการ", "Accepted: passed to the officers"),
    "merged": ("รวมกับเรื่องที่มีผู้แจ้งไว้แล้ว", "Joined with a report someone made already"),
    "rejected": ("ไม่รับเรื่อง", "Not taken up"),
}
# Roles that work the triage queue.
TRIAGE_ROLES = (Role.administrator, Role.investigator)


@dataclass(frozen=True)
class Keys:
    """What a submission needs besides the request: the sealing public key and the service's secret (receipts and
    the rate limits' keyed hashes)."""

    public_key: PublicKey
    secret: str


def keys_for(settings: CitizenSettings, data_dir: Path, secret: str, production: bool) -> Keys:
    """The sealing public key (configured, or the key file's; a missing key file is made outside production)."""
    return Keys(sealing.public_key(settings.public_key, settings.key_file(data_dir), not production), secret)


def reference(report_id: int) -> str:
    """How staff name a report: CR-<id>."""
    return f"CR-{report_id}"


# --- abuse limits ------------------------------------------------------------------------------------------
def check_rate(session: Session, secret: str, purpose: str, value: str, limit: int) -> None:
    """Count this request against ``limit`` an hour for ``value`` (an address or a receipt, kept only as a keyed
    hash); TooManyRequests (429 with Retry-After) beyond it. The counters are rows, so every API process shares
    them."""
    hits, left = store.hit(session, f"{purpose}:{sealing.keyed_hash(secret, purpose, value)}")
    if hits > limit:
        raise TooManyRequests(
            f"Too many requests ({limit} an hour allowed); try again in {max(1, left // 60)} minutes.",
            retry_after=left,
        )


# --- submit ------------------------------------------------------------------------------------------------
def _request_hash(body: ReportIn, photos: list[ReceivedPhoto]) -> str:
    canonical = json.dumps(
        {"body": body.model_dump(mode="json", exclude_unset=True), "photos": [p.sha256 for p in photos]},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sealed(keys: Keys, contact: ContactIn | None, member: Principal | None) -> bytes | None:
    payload: dict[str, Any] = {}
    if contact is not None and contact.given():
        payload["contact"] = contact.model_dump()
    if member is not None:
        payload["member"] = member.name
    return sealing.seal(keys.public_key, payload) if payload else None


def _locate(session: Session, loc: LocationIn) -> incidents.Located:
    # the public are not refused outside the province: the report is kept and routed to national staff
    return incidents.locate(session, loc.model_copy(update={"confirm_outside_province": True}))


def submit(
    session: Session,
    body: ReportIn,
    photo_files: list[bytes],
    keys: Keys,
    settings: CitizenSettings,
    idempotency_key: str | None = None,
    member: Principal | None = None,
) -> tuple[dict, bool]:
    """Store a report in the caller's transaction; returns (receipt answer, created). A retry with the same
    Idempotency-Key and body gets the same receipt (created False); the same key with another body is a 409.
    A filled honeypot gets an answer that looks the same and stores nothing."""
    if len(photo_files) > settings.max_photos:
        raise InvalidInput(f"Send at most {settings.max_photos} photos with a report.", code="too_many_files")
    key = idempotency_key or secrets.token_urlsafe(24)
    receipt = sealing.receipt_for(keys.secret, key)
    if body.website.strip():  # only software fills a field people cannot see
        return {"receipt": receipt, "status": "received", "submitted_at": datetime.now(UTC), "photos": 0}, True
    observed = incidents.observed_time(body.observed_at) if body.observed_at is not None else None
    located = _locate(session, body.location)
    photos = [receive(data, settings.photo_max_mb_public << 20) for data in photo_files]
    digest = _request_hash(body, photos)
    idem = hashlib.sha256(key.encode()).hexdigest()
    place = located.place
    new_id = store.insert_report(
        session,
        {
            "receipt_hash": sealing.receipt_hash(receipt),
            "idempotency_hash": idem,
            "request_hash": digest,
            "source": "member" if member is not None else "public",
            "kind": body.kind,
            "description": body.description,
            "observed_at": observed,
            "location_text": located.point.text,
            "location_format": located.point.format,
            "location_datum": located.point.datum,
            "accuracy_m": body.location.accuracy_m,
            "province_code": place["province_code"],
            "district_code": place["district_code"],
            "subdistrict_code": place["subdistrict_code"],
            "reserve_code": place["reserve_code"],
            "protected_area_codes": list(place["protected_area_codes"] or []),
            "sealed_contact": _sealed(keys, body.contact, member),
            "lon": located.point.lon,
            "lat": located.point.lat,
        },
    )
    if new_id is None:
        existing = store.by_idempotency(session, idem)
        if existing is None or existing.request_hash != digest:
            raise Conflict(
                "This Idempotency-Key was already used for a different report; use a new key for a new report.",
                code="idempotency_key_reused",
            )
        row = store.get_report(session, existing.id)
        assert row is not None
        return {"receipt": receipt, "status": row.status, "submitted_at": row.submitted_at, "photos": row.photos}, False
    _store_photos(session, new_id, None, photos)
    duplicate = store.find_duplicate(
        session,
        new_id,
        body.kind,
        observed or datetime.now(UTC),
        settings.duplicate_hours,
        settings.duplicate_distance_m,
        [p.sha256 for p in photos],
    )
    if duplicate is not None:
        store.set_fields(session, new_id, {"duplicate_of": duplicate})
    row = store.get_report(session, new_id)
    assert row is not None
    # the audit trail names neither the reporter nor a member: "public" or "network member" only
    audit.record(
        session,
        "network member" if member is not None else "public",
        "submit",
        "citizen_report",
        new_id,
        after={
            "kind": body.kind,
            "district_code": place["district_code"],
            "photos": row.photos,
            "duplicate_of": duplicate,
        },
    )
    return {"receipt": receipt, "status": row.status, "submitted_at": row.submitted_at, "photos": row.photos}, True


def _store_photos(session: Session, report_id: int, addition_id: int | None, photos: list[ReceivedPhoto]) -> int:
    return store.insert_photos(
        session,
        [
            {
                "report_id": report_id,
                "addition_id": addition_id,
                "sha256": p.sha256,
                "content_type": p.content_type,
                "size_bytes": p.size_bytes,
                "width": p.width,
                "height": p.height,
                "original": p.original,
                "stripped": p.stripped,
                "stripped_type": STRIPPED_TYPE,
            }
            for p in photos
        ],
    )


def locate_public(session: Session, loc: LocationIn) -> dict:
    """Where a typed or tapped position falls (the public form's check before sending); never refused for being
    outside the province (the answer says so)."""
    return incidents.where_is(session, loc.model_copy(update={"confirm_outside_province": True}))


# --- follow-up with the receipt ----------------------------------------------------------------------------
def _by_receipt(session: Session, receipt: str, lock: bool = False) -> int:
    report_id = store.id_by_receipt(session, sealing.receipt_hash(sealing.normalise_receipt(receipt)), lock)
    if report_id is None:
        raise NotFound("No report has this receipt code; check it letter by letter.", code="unknown_receipt")
    return report_id


def follow_up(session: Session, receipt: str) -> dict:
    """A report's state for the holder of its receipt."""
    row = store.get_report(session, _by_receipt(session, receipt))
    assert row is not None
    th, en = STATUS_LABELS[row.status]
    return {
        "status": row.status,
        "status_th": th,
        "status_en": en,
        "reason": row.reason if row.status in ("rejected", "merged") else None,
        "submitted_at": row.submitted_at,
        "updated_at": row.updated_at,
        "photos": row.photos,
        "additions": row.additions,
    }


def add_information(
    session: Session, receipt: str, note: str, photo_files: list[bytes], settings: CitizenSettings
) -> dict:
    """Add text and photos to the report of this receipt; the new state."""
    if len(note) > 5000:
        raise InvalidInput("Write at most 5,000 characters.", code="text_too_long")
    if len(photo_files) > settings.max_photos:
        raise InvalidInput(f"Send at most {settings.max_photos} photos at a time.", code="too_many_files")
    if not note.strip() and not photo_files:
        raise InvalidInput("Write something or add a photo.", code="empty_addition")
    report_id = _by_receipt(session, receipt, lock=True)
    photos = [receive(data, settings.photo_max_mb_public << 20) for data in photo_files]
    addition = store.insert_addition(session, report_id, note.strip())
    _store_photos(session, report_id, addition, photos)
    store.touch(session, report_id)
    audit.record(session, "public", "add_information", "citizen_report", report_id, after={"photos": len(photos)})
    return follow_up(session, receipt)


# --- triage ------------------------------------------------------------------------------------------------
def _public(row) -> dict:
    out = {k: getattr(row, k) for k in row._fields}
    out.pop("location_format", None)
    out.pop("location_datum", None)
    out.pop("accuracy_m", None)
    out["reference"] = reference(row.id)
    out["protected_area_codes"] = list(row.protected_area_codes or [])
    return out


def _visible(session: Session, report_id: int, principal: Principal, lock: bool = False):
    row = store.get_report(session, report_id, lock)
    if row is None or (row.province_code is None and not principal.national):
        raise NotFound(f"No report {reference(report_id)}.")
    if row.province_code is not None and not principal.sees_province(row.province_code):
        raise NotFound(f"No report {reference(report_id)}.")  # another province's: as if absent
    return row


def queue(session: Session, principal: Principal, statuses: list[str], limit: int, offset: int) -> dict:
    """The triage queue: reports in these statuses within the caller's provinces, newest first."""
    provinces = None if principal.national else sorted(principal.provinces or [])
    rows, total = store.queue(session, statuses, provinces, limit, offset)
    return {"total": total, "items": [_public(r) for r in rows]}


def get_report(session: Session, report_id: int, principal: Principal) -> dict:
    """One report with its photos (links to the stripped copies) and additions."""
    out = _public(_visible(session, report_id, principal))
    out["photo_list"] = [
        {
            "id": p.id,
            "sha256": p.sha256,
            "content_type": p.content_type,
            "size_bytes": p.size_bytes,
            "width": p.width,
            "height": p.height,
            "from_addition": p.addition_id is not None,
            "added_at": p.added_at,
            "url": f"/api/v1/citizen/reports/{report_id}/photos/{p.id}",
        }
        for p in store.photos_of(session, report_id)
    ]
    out["addition_list"] = [
        {"id": a.id, "text": a.text, "added_at": a.added_at} for a in store.additions_of(session, report_id)
    ]
    return out


def photo(session: Session, report_id: int, photo_id: int, principal: Principal) -> tuple[bytes, str, str]:
    """The stripped copy of a report's photo (no EXIF/GPS): bytes, media type, SHA-256 of the original."""
    _visible(session, report_id, principal)
    row = store.photo_bytes(session, report_id, photo_id, original=False)
    if row is None:
        raise NotFound("No such photo of this report.")
    return bytes(row[0]), row[1], row.sha256


def original_photo(session: Session, report_id: int, photo_id: int, principal: Principal) -> tuple[bytes, str, str]:
    """A photo as received (EXIF and position included), for the assigned investigator only; audited."""
    row = _visible(session, report_id, principal)
    _check_assigned(row, principal)
    content = store.photo_bytes(session, report_id, photo_id, original=True)
    if content is None:
        raise NotFound("No such photo of this report.")
    audit.record(
        session, principal.name, "open_original_photo", "citizen_report", report_id, after={"photo_id": photo_id}
    )
    return bytes(content[0]), content[1], content.sha256


def _check_open(row) -> None:
    if row.status != "received":
        raise Conflict(f"{reference(row.id)} was triaged already ({row.status}).", code="already_triaged")


def assign(session: Session, report_id: int, investigator: str, principal: Principal) -> dict:
    """Name the investigator who may open the contact details (an active investigator of the report's province)."""
    row = _visible(session, report_id, principal, lock=True)
    name = investigator.strip().lower()
    if not users.active_with_roles(session, [name], [Role.investigator.value], row.province_code):
        raise InvalidInput(
            f"'{investigator}' is not an active investigator of this report's province.", code="not_an_investigator"
        )
    store.set_fields(session, report_id, {"assigned_to": name})
    audit.record(
        session,
        principal.name,
        "assign",
        "citizen_report",
        report_id,
        before={"assigned_to": row.assigned_to},
        after={"assigned_to": name},
    )
    return get_report(session, report_id, principal)


def accept(session: Session, report_id: int, principal: Principal, photo_settings: Any) -> dict:
    """Accept a report: it becomes an incident (through the incidents service, idempotent per report) and keeps the
    link; the photos' stripped copies (never the originals) become the incident's photos. The incident names the
    report, never the reporter. ``photo_settings``: the incident photos' limits (``ServiceSettings``)."""
    row = _visible(session, report_id, principal, lock=True)
    _check_open(row)
    body = IncidentCreate(
        kind=INCIDENT_KIND[row.kind],
        location=LocationIn(lat=row.lat, lon=row.lon, confirm_outside_province=True),
        observed_at=row.observed_at or row.submitted_at,
        description=row.description,
        reporter=f"{reference(report_id)} ({'network member' if row.source == 'member' else 'public'})",
        tags=["citizen_report"],
    )
    incident, _ = incidents.create_incident(session, body, principal, idempotency_key=f"citizen-report-{report_id}")
    copies = [
        (bytes(p.stripped), f"{reference(report_id)}-{p.id}.jpg") for p in store.stripped_photos(session, report_id)
    ]
    if copies:
        incident_photos.add_photos(session, int(incident["id"]), copies, principal, photo_settings)
    store.set_fields(
        session, report_id, {"status": "accepted", "incident_id": int(incident["id"]), "triaged_by": principal.name}
    )
    audit.record(session, principal.name, "accept", "citizen_report", report_id, after={"incident_id": incident["id"]})
    return get_report(session, report_id, principal)


def merge(session: Session, report_id: int, into: int, reason: str, principal: Principal) -> dict:
    """Join a report to one it repeats (which stays the one worked on)."""
    if into == report_id:
        raise InvalidInput("A report cannot be merged into itself.", code="merge_into_itself")
    row = _visible(session, report_id, principal, lock=True)
    _check_open(row)
    target = _visible(session, into, principal)
    if target.status in ("merged", "rejected"):
        raise Conflict(f"{reference(into)} is {target.status}; merge into the report it was merged into, or another.")
    store.set_fields(
        session,
        report_id,
        {"status": "merged", "merged_into": into, "reason": reason.strip() or None, "triaged_by": principal.name},
    )
    audit.record(session, principal.name, "merge", "citizen_report", report_id, after={"merged_into": into})
    return get_report(session, report_id, principal)


def reject(session: Session, report_id: int, reason: str, principal: Principal) -> dict:
    """Refuse a report with a reason the reporter reads with the receipt."""
    row = _visible(session, report_id, principal, lock=True)
    _check_open(row)
    store.set_fields(session, report_id, {"status": "rejected", "reason": reason.strip(), "triaged_by": principal.name})
    audit.record(session, principal.name, "reject", "citizen_report", report_id, after={"reason": reason.strip()})
    return get_report(session, report_id, principal)


def _check_assigned(row, principal: Principal) -> None:
    if not principal.has(Role.investigator) or row.assigned_to != principal.name:
        raise Forbidden(
            "Only the investigator assigned to this report may see who sent it.", code="not_assigned_investigator"
        )


def open_contact(session: Session, report_id: int, purpose: str, principal: Principal, key_file: Path) -> dict:
    """Open the sealed contact details for the assigned investigator; every opening is in the audit trail (who,
    when, why; never the details themselves)."""
    row = _visible(session, report_id, principal)
    _check_assigned(row, principal)
    sealed = store.sealed_contact(session, report_id)
    payload = sealing.unseal(sealing.load_private_key(key_file), bytes(sealed)) if sealed else {}
    audit.record(
        session, principal.name, "open_contact", "citizen_report", report_id, after={"purpose": purpose.strip()}
    )
    return {
        "report_id": report_id,
        "contact": payload.get("contact"),
        "member": payload.get("member"),
        "opened_by": principal.name,
    }


# --- the volunteer network ---------------------------------------------------------------------------------
MEMBER_SIGNIN_REFUSED = "Wrong user name or password (this sign-in is for members of the volunteer network)."


def member_sign_in(session: Session, username: str, password: str, secret: str, minutes: int) -> dict:
    """A network member's sign-in from the report page: a token as ``/api/v1/auth/token`` issues, for an active
    account with the network_member role only. Every refusal (unknown name, wrong password, inactive, or a staff
    account even with its right password) is the same 401, so this path tells nothing about staff passwords."""
    try:
        user = users.verify_password(session, username, password)
    except Unauthorized:
        raise Unauthorized(MEMBER_SIGNIN_REFUSED) from None
    if Role.network_member.value not in user.roles:
        raise Unauthorized(MEMBER_SIGNIN_REFUSED)
    access, seconds = users.issue_token(user, secret, minutes)
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": seconds,
        "username": user.username,
        "roles": list(user.roles),
    }


def member_sign_out(session: Session, principal: Principal) -> None:
    """End the member's sign-ins (every device), as ``/api/v1/auth/logout`` does."""
    users.revoke_tokens(session, principal.name, principal.name)


def add_member(session: Session, body: MemberIn, principal: Principal) -> dict:
    """Create a network member's account (role network_member, the district's province) and record its district."""
    district = store.district_of(session, body.district_code.strip())
    if district is None:
        raise InvalidInput(f"No current district with code '{body.district_code}'.", code="unknown_district")
    user = users.create_user(
        session,
        body.username,
        body.password,
        [Role.network_member.value],
        display_name=body.display_name,
        actor=principal.name,
        provinces=[district.province_code],
    )
    row = store.insert_member(session, user.username, district.code, district.province_code, principal.name)
    audit.record(
        session, principal.name, "create", "network_member", user.username, after={"district_code": district.code}
    )
    return {**row._asdict(), "active": True}


def list_members(session: Session, principal: Principal) -> list[dict]:
    """The network's members in the caller's provinces, with whether each account is active."""
    rows = store.members(session, None if principal.national else sorted(principal.provinces or []))
    active = users.active_with_roles(session, [r.username for r in rows], [Role.network_member.value])
    return [{**r._asdict(), "active": r.username in active} for r in rows]


def district_counts(session: Session, principal: Principal, fiscal_year_be: int | None) -> dict:
    """Active members and reports per district of the caller's provinces (national callers: the deployment's),
    reports of one Thai fiscal year (Oct-Sep, Asia/Bangkok) or of all time."""
    provinces = aoi.aoi_province_codes(session) if principal.national else sorted(principal.provinces or [])
    members = store.members(session, provinces)
    active = users.active_with_roles(session, [m.username for m in members], [Role.network_member.value])
    since = until = None
    if fiscal_year_be is not None:
        first, last = fiscal_year_bounds(fiscal_year_be)
        since = datetime.combine(first, time(0), BANGKOK)
        until = datetime.combine(last + timedelta(days=1), time(0), BANGKOK)
    rows = store.district_counts(session, sorted(active), provinces, since, until)
    districts = [
        {
            "district_code": r.code,
            "province_code": r.province_code,
            "name_th": r.name_th,
            "name_en": r.name_en,
            "active_members": r.active_members,
            "members": r.members,
            "public_reports": r.public_reports,
            "member_reports": r.member_reports,
            "accepted_reports": r.accepted_reports,
        }
        for r in rows
    ]
    return {
        "fiscal_year_be": fiscal_year_be,
        "districts": districts,
        "total_active_members": sum(d["active_members"] for d in districts),
        "total_reports": sum(d["public_reports"] + d["member_reports"] for d in districts),
    }
