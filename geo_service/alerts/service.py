"""Alerts to people: the listeners that match events in their transaction, and the subscriptions people manage.

Matching runs inside the transaction that found the event (``hotspots_ingested`` in the ingest's, ``case_changed``
in the case change's; wiring.py registers them), so an alert exists exactly when its event was committed. The
sender (``alerts.sender``) delivers the outbox later.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import shapely
from sqlalchemy.orm import Session

from geo_service import users
from geo_service.alerts import render, store
from geo_service.alerts.schemas import CONFIDENCE_LEVEL, CONFIDENCE_NAME, SubscriptionIn, SubscriptionSettings
from geo_service.auth import Principal, Role
from geo_service.cases import access
from geo_service.cases.service import CaseChange
from geo_service.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from geo_service.hotspots.ingest import IngestReport
from geo_service.redflags import store as redflags_store
from geo_service.redflags.service import FLAG_READERS  # who may read red flags: the red-flag routes' policy
from geo_service.settings import THAILAND_BBOX, settings_of

UNSUBSCRIBE_PURPOSE = "alert-unsubscribe"
MAX_POLYGON_KM2 = 50_000.0
AREA_KINDS = {"hotspot", "fire_event", "clearing_patch"}


# --- listeners (in the transaction that found the event) -----------------------------------------------------------
def hotspots_ingested(session: Session, report: IngestReport) -> None:
    """Write the outbox rows of one FIRMS ingest: its new detections, then its new or grown fire events (the
    age limit from the settings the ingest's edge was built with: ``settings_of``)."""
    settings = settings_of(session).alerts
    now = datetime.now(UTC)
    since = now - timedelta(hours=settings.max_age_hours)
    if report.batch_id is None or not report.first_acq or not report.last_acq:
        return
    store.match_hotspots(session, report.batch_id, report.first_acq, report.last_acq, since, now)
    store.match_fire_events(session, list(report.event_ids), since, now)


def clearing_patches_found(session: Session, patch_ids: list[int] | None = None, since: datetime | None = None) -> int:
    """Write the outbox rows of new clearing patches (these ids, or every patch changed in the last
    ``max_age_hours``); for the forest-loss ingest's transaction or a worker job. Returns rows written."""
    now = datetime.now(UTC)
    since = since or now - timedelta(hours=settings_of(session).alerts.max_age_hours)
    return store.match_clearing_patches(session, patch_ids, since, now)


def red_flags_raised(session: Session, flag_ids: list[int]) -> int:
    """Write the outbox rows of red flags a rule run raised (new, or found again after they were gone), in the
    run's transaction; only to investigators (within their provinces) and administrators. Returns rows written."""
    return store.match_red_flags(session, flag_ids, datetime.now(UTC))


def case_changed(session: Session, change: CaseChange) -> None:
    """Write the outbox rows of a case change for the case's subscribers, then withhold every row whose recipient
    may not see the case (cases.access, row-level security as that person). No party name, note or title."""
    now = datetime.now(UTC)
    payload = {
        "what": "case_change",
        "case_id": change.case_id,
        "reference": change.reference,
        "stage": change.stage,
        "change": change.change,
        "at": now.isoformat(),
    }
    identity = f"case:{change.case_id}:v{change.version}:{change.change}"
    rows = store.match_case_change(session, change.case_id, identity, payload, now)
    withhold_unseen(session, change.case_id, rows)


def withhold_unseen(session: Session, case_id: int, rows: list[dict]) -> list[int]:
    """Withhold the outbox rows (id, username) whose recipient may not see case ``case_id``; returns their ids."""
    names = sorted({r["username"] for r in rows})
    principals = users.principals_for(session, names)
    allowed = {n for n, p in principals.items() if access.can_see(session, p, case_id)}
    hidden = [int(r["id"]) for r in rows if r["username"] not in allowed]
    store.withhold(session, hidden, "recipient may not see this case")
    return hidden


# --- subscriptions ---------------------------------------------------------------------------------------------------
def _out(row: dict) -> dict:
    return {**row, "min_confidence": CONFIDENCE_NAME.get(int(row["min_confidence"]), "low")}


def _settings_values(body: SubscriptionSettings) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True, exclude_none=False)
    out: dict[str, Any] = {}
    for key in SubscriptionSettings.model_fields:
        if key not in values:
            continue
        v = values[key]
        if key == "min_confidence":
            out[key] = CONFIDENCE_LEVEL[v] if v is not None else 1
        elif key == "channels":
            out[key] = ["in_app", *sorted(set(v or []))]
        elif key in ("kinds", "sensors") and v is not None:
            out[key] = sorted(set(v))
        elif key in ("kinds", "delivery", "digest_time", "language", "active") and v is None:
            continue  # keep the stored value
        else:
            out[key] = v
    return out


def _check_settings(values: dict[str, Any], subject_type: str) -> None:
    kinds = set(values.get("kinds") or [])
    if subject_type == "case" and kinds - {"case_change"}:
        raise InvalidInput("A case subscription is for changes of the case (case_change).", code="invalid_kinds")
    if subject_type != "case" and "case_change" in kinds:
        raise InvalidInput("case_change needs a case as the subject.", code="invalid_kinds")
    if ("quiet_start" in values) != ("quiet_end" in values) or (
        (values.get("quiet_start") is None) != (values.get("quiet_end") is None)
    ):
        raise InvalidInput("Give both quiet_start and quiet_end, or neither.", code="invalid_quiet_hours")


def _check_flag_reader(session: Session, principal: Principal, recipient: str | None, role: Role | None) -> None:
    """Red flags and contract areas are confidential to investigators and administrators: refuse a subscription
    that would tell anyone else (the matcher checks the roles again when it writes each alert)."""
    if role is not None:
        allowed = role in FLAG_READERS
    else:
        who = (
            principal if recipient in (None, principal.name) else users.principals_for(session, [recipient])[recipient]
        )
        allowed = who.has(*FLAG_READERS)
    if not allowed:
        raise Forbidden("Red-flag alerts and contract areas are for investigators and administrators only.")


def _check_contract_area(session: Session, body: SubscriptionIn, principal: Principal, recipient: str | None) -> int:
    """The id of the contract a contract-area subscription names, after checking that the caller and every
    recipient may see it (redflags.store.visible: the red-flag routes' province rule). A contract outside the
    caller's provinces is answered exactly like an unknown one (its existence is not revealed)."""
    code = (body.subject_code or "").strip()
    if (
        not code.isdigit()
        or len(code) > 18
        or not redflags_store.visible(session, "contract", int(code), principal.provinces)
    ):
        raise InvalidInput(f"No contract area with number '{body.subject_code}'.", code="unknown_subject")
    contract_id = int(code)
    # only administrators (every province: they know it exists) get this far for other people or a group
    if body.recipient_role is not None:
        if users.is_national([body.recipient_role.value]):
            return contract_id
        scope = frozenset({body.recipient_province}) if body.recipient_province else None
        if scope is None or not redflags_store.visible(session, "contract", contract_id, scope):
            raise InvalidInput(
                f"Contract area {contract_id} lies outside the provinces of some {body.recipient_role.value}s: "
                "give recipient_province, the province the contract lies in.",
                code="recipient_out_of_scope",
            )
    elif recipient and recipient != principal.name:
        who = users.principals_for(session, [recipient])[recipient]
        if not redflags_store.visible(session, "contract", contract_id, who.provinces):
            raise InvalidInput(
                f"'{recipient}' may not see contract area {contract_id} (it lies outside their provinces).",
                code="recipient_out_of_scope",
            )
    return contract_id


def _polygon(geojson: dict | None) -> str | None:
    if geojson is None:
        return None
    try:
        geom = shapely.from_geojson(json.dumps(geojson))
    except Exception as exc:  # shapely raises GEOSException or ValueError for bad GeoJSON
        raise InvalidInput("The drawn area is not valid GeoJSON.", code="invalid_polygon") from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InvalidInput("Draw an area (a Polygon or MultiPolygon).", code="invalid_polygon")
    if not geom.is_valid:
        raise InvalidInput("The drawn area crosses itself; draw it again.", code="invalid_polygon")
    x0, y0, x1, y1 = geom.bounds
    bx0, by0, bx1, by1 = THAILAND_BBOX
    if x0 < bx0 or y0 < by0 or x1 > bx1 or y1 > by1:
        raise InvalidInput("The drawn area must lie in Thailand (longitude, latitude).", code="invalid_polygon")
    km2 = geom.area * 111.32 * 111.32  # degrees^2 at the equator: an upper bound, enough for a size cap
    if km2 > MAX_POLYGON_KM2 * 1.2:
        raise InvalidInput("The drawn area is too large (at most about 50,000 km²).", code="invalid_polygon")
    return shapely.to_geojson(geom)


def create_subscription(session: Session, body: SubscriptionIn, principal: Principal) -> dict:
    """Store a subscription after checking who it is for, its subject and its settings."""
    admin = principal.has(Role.administrator)
    others = (body.username and body.username != principal.name) or body.recipient_role or body.recipient_province
    if others and not admin:
        raise Forbidden("Only administrators subscribe other people or a group.")
    if body.recipient_province and not body.recipient_role:
        raise InvalidInput("recipient_province goes with recipient_role.", code="invalid_recipient")
    if body.username and body.recipient_role:
        raise InvalidInput("Subscribe one user or one role, not both.", code="invalid_recipient")
    values = _settings_values(body)
    values.setdefault("channels", ["in_app"])
    recipient = None if body.recipient_role else (body.username or principal.name).strip().lower()
    if recipient and recipient != principal.name and not users.principals_for(session, [recipient]):
        raise InvalidInput(f"No active account '{recipient}'.", code="unknown_user")
    values.update(
        username=recipient,
        recipient_role=body.recipient_role.value if body.recipient_role else None,
        recipient_province=body.recipient_province,
        subject_type=body.subject_type,
        subject_code=body.subject_code,
    )
    _check_settings(values, body.subject_type)
    polygon = None
    if body.subject_type == "contract_area" or "red_flag" in (values.get("kinds") or []):
        _check_flag_reader(session, principal, recipient, body.recipient_role)
    if body.subject_type == "polygon":
        if body.polygon is None:
            raise InvalidInput("Draw the area: send 'polygon' (GeoJSON).", code="invalid_polygon")
        polygon = _polygon(body.polygon)
        values["subject_code"] = None
    else:
        if body.polygon is not None:
            raise InvalidInput("'polygon' goes with subject_type 'polygon' only.", code="invalid_polygon")
        if not body.subject_code:
            raise InvalidInput("Name the subject: send 'subject_code'.", code="missing_subject")
    area_subject = body.subject_type in ("district", "subdistrict", "protected_area")
    if area_subject and store.subject_area(session, body.subject_type, body.subject_code or "") is None:
        raise InvalidInput(
            f"No {body.subject_type.replace('_', ' ')} with code '{body.subject_code}'.", code="unknown_subject"
        )
    if body.subject_type == "contract_area":
        values["subject_code"] = str(_check_contract_area(session, body, principal, recipient))
    if body.subject_type == "case":
        try:
            case_id = int(body.subject_code or "")
        except ValueError:
            raise InvalidInput("A case is named by its number.", code="unknown_subject") from None
        viewer = principal
        if recipient and recipient != principal.name:
            viewer = users.principals_for(session, [recipient])[recipient]
        if not principal.has(Role.administrator) and not access.can_see(session, viewer, case_id):
            raise NotFound("No case with this number, or you may not see it.")
        values["subject_code"] = str(case_id)
    sid = store.insert_subscription(session, principal.name, values, polygon)
    return _out(store.get_subscription(session, sid) or {})


def _owned(session: Session, sid: int, principal: Principal) -> dict:
    row = store.get_subscription(session, sid)
    if row is None:
        raise NotFound("No such subscription.")
    if principal.has(Role.administrator) or row["username"] == principal.name:
        return row
    raise NotFound("No such subscription.")  # another person's: the same answer as absent


def list_subscriptions(session: Session, principal: Principal) -> list[dict]:
    """Yours (own and the groups that reach you); administrators see every one."""
    rows = store.subscriptions_for(session, None if principal.has(Role.administrator) else principal.name)
    return [_out(r) for r in rows]


def get_subscription(session: Session, sid: int, principal: Principal) -> dict:
    """One of your subscriptions (administrators: any)."""
    return _out(_owned(session, sid, principal))


def update_subscription(session: Session, sid: int, body: SubscriptionSettings, principal: Principal) -> dict:
    """Change how and when a subscription tells (its subject and recipient stay)."""
    row = _owned(session, sid, principal)
    values = _settings_values(body)
    merged = {**row, **values}
    if "quiet_start" in values or "quiet_end" in values:
        _check_settings(
            {"kinds": merged["kinds"], "quiet_start": merged["quiet_start"], "quiet_end": merged["quiet_end"]},
            row["subject_type"],
        )
    else:
        _check_settings({"kinds": merged["kinds"]}, row["subject_type"])
    if "red_flag" in (values.get("kinds") or []) and "red_flag" not in row["kinds"]:
        role = Role(row["recipient_role"]) if row["recipient_role"] else None
        _check_flag_reader(session, principal, row["username"], role)
    store.update_subscription(session, sid, values)
    return _out(store.get_subscription(session, sid) or {})


def delete_subscription(session: Session, sid: int, principal: Principal) -> None:
    """Delete one of your subscriptions (administrators: any)."""
    _owned(session, sid, principal)
    store.delete_subscription(session, sid)


def contacts(session: Session, principal: Principal) -> dict:
    """Where you receive alerts."""
    return store.get_contacts(session, principal.name)


def set_contacts(
    session: Session, principal: Principal, email: str | None, line: str | None, webhook: str | None
) -> dict:
    """Store where you receive alerts."""
    store.set_contacts(session, principal.name, email, line, webhook)
    return store.get_contacts(session, principal.name)


def recent(session: Session, principal: Principal, public_url: str, limit: int = 50) -> list[dict]:
    """Your latest in-app alerts, in each subscription's language."""
    rows = store.recent(session, principal.name, limit)
    cases = {int(r["payload"]["case_id"]) for r in rows if r["kind"] == "case_change"}
    hidden = {c for c in cases if not access.can_see(session, principal, c)}  # access lost since: not listed
    rows = [r for r in rows if not (r["kind"] == "case_change" and int(r["payload"]["case_id"]) in hidden)]
    codes = sorted({r["payload"].get(k) for r in rows for k in ("district", "subdistrict", "reserve")} - {None})
    names = store.area_names(session, codes)
    out = []
    for r in rows:
        d = render.describe(r["payload"], names, r["payload"].get("language", "th"), public_url)
        out.append(
            {
                "id": r["id"],
                "subscription_id": r["subscription_id"],
                "kind": r["kind"],
                "title": d.title,
                "where": d.where,
                "when": d.when,
                "link": d.link,
                "lon": d.lon,
                "lat": d.lat,
                "created_at": r["created_at"],
            }
        )
    return out


# --- unsubscribe links -----------------------------------------------------------------------------------------------
def unsubscribe_token(subscription_id: int, username: str, secret: str) -> str:
    """A signed token that lets ``username`` leave one subscription without signing in (no expiry)."""
    return jwt.encode({"purpose": UNSUBSCRIBE_PURPOSE, "sid": subscription_id, "sub": username}, secret, "HS256")


def read_unsubscribe_token(token: str, secret: str) -> tuple[int, str]:
    """The subscription and user of an unsubscribe token; Unauthorized when it is not ours."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise Unauthorized("This unsubscribe link is not valid (it may have been cut when copied).") from None
    if claims.get("purpose") != UNSUBSCRIBE_PURPOSE or not isinstance(claims.get("sid"), int):
        raise Unauthorized("This unsubscribe link is not valid.")
    return int(claims["sid"]), str(claims.get("sub", ""))


def unsubscribe(session: Session, subscription_id: int, username: str) -> bool:
    """``username`` stops receiving one subscription: their own is switched off, a group one gets an opt-out.
    Idempotent; False when the subscription no longer exists."""
    row = store.get_subscription(session, subscription_id)
    if row is None:
        return False
    if row["username"] == username:
        store.update_subscription(session, subscription_id, {"active": False})
    else:
        store.opt_out(session, subscription_id, username)
    return True
