"""SQL of the alerts domain: subscriptions, contacts, opt-outs, the outbox, and the matchers.

Each matcher is ONE set-based statement per kind of event: it joins the new detections (through the read-only views
of migrations 0027 and 0030: ``alert_hotspots``, ``alert_fire_events``, ``alert_clearing_patches``,
``alert_red_flags``, ``alert_contract_areas``) with the active
subscriptions, their recipients (``alert_recipients``) and channels, and writes the outbox rows in the caller's
transaction (the ingest's). ``ON CONFLICT (idempotency_key) DO NOTHING`` makes a re-ingest, or the
standard-processing version of a near-real-time detection (same identity), write nothing new.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.auth import NATIONAL_ROLES
from geo_service.redflags.service import FLAG_READERS
from geo_service.redflags.store import contract_in_scope_sql, flag_in_scope_sql

# --- the common tail of every matcher: recipients x channels -> outbox rows --------------------------------------
# ``m`` has: sid (subscription), kind, subject_ref (the thing: hotspot/fire event/patch/case), identity (what makes
# this alert this alert: the detection's key, the event's size step, the case change), payload (jsonb).
# ``reader``: a further condition on the recipient ``r`` (roles, provinces) for the thing ``m`` (red flags); and each
# subject type's own reader (``register_subject_reader``) on the subscription ``s`` and the recipient ``r``.
_OUTBOX_TAIL_HEAD = """
INSERT INTO alert_outbox (subscription_id, username, channel, address, kind, subject_ref, idempotency_key, payload,
                          due_at, status, sent_at)
SELECT m.sid, r.username, ch.channel,
       CASE ch.channel WHEN 'email' THEN c.email WHEN 'line' THEN c.line_user_id WHEN 'webhook' THEN c.webhook_url END,
       m.kind, m.subject_ref,
       encode(sha256(convert_to(m.sid || '|' || r.username || '|' || ch.channel || '|' || m.identity, 'UTF8')), 'hex'),
       m.payload || jsonb_build_object('language', s.language, 'subject_type', s.subject_type,
                                       'subject_code', s.subject_code, 'delivery', s.delivery),
       CASE WHEN ch.channel = 'in_app' THEN CAST(:now AS timestamptz)
            ELSE alert_due_at(s.delivery, s.digest_time, s.quiet_start, s.quiet_end, CAST(:now AS timestamptz)) END,
       CASE WHEN ch.channel = 'in_app' THEN 'sent' ELSE 'pending' END,
       CASE WHEN ch.channel = 'in_app' THEN CAST(:now AS timestamptz) END
FROM m
JOIN alert_subscriptions s ON s.id = m.sid
JOIN alert_recipients r ON r.subscription_id = m.sid
CROSS JOIN LATERAL unnest(s.channels) AS ch(channel)
LEFT JOIN alert_contacts c ON c.username = r.username
WHERE (ch.channel = 'in_app'
   OR CASE ch.channel WHEN 'email' THEN c.email WHEN 'line' THEN c.line_user_id
                      WHEN 'webhook' THEN c.webhook_url END IS NOT NULL)
"""
_OUTBOX_TAIL_END = "\nON CONFLICT (idempotency_key) DO NOTHING\n"

# Who may read red flags (and so contract areas, and alerts about either): the red-flag routes' one policy, bound
# as a parameter of every matcher (``:flag_readers``), as the national roles are (``:national_roles``).
_ROLE_PARAMS = {
    "national_roles": sorted(r.value for r in NATIONAL_ROLES),
    "flag_readers": sorted(r.value for r in FLAG_READERS),
}
_SUBJECT_TYPE = re.compile(r"^[a-z_]{1,40}$")
_SUBJECT_READERS: dict[str, str] = {}


def register_subject_reader(subject_type: str, condition: str | None) -> str | None:
    """Let alerts of subscriptions to ``subject_type`` reach only the recipients for which ``condition`` holds: SQL
    on the subscription ``s`` and the recipient ``r`` (``r.roles``, ``r.provinces``), with the bound parameters
    ``:flag_readers`` and ``:national_roles`` only; code of the application, never user text. Other subject types
    are not affected; registering a subject type again replaces its reader, ``None`` removes it. Returns the reader
    it replaced (None: it had none)."""
    if not _SUBJECT_TYPE.fullmatch(subject_type):
        raise ValueError("a subject type is a lower-case name")
    before = _SUBJECT_READERS.pop(subject_type, None)
    if condition is not None:
        _SUBJECT_READERS[subject_type] = condition
    return before


def subject_readers() -> dict[str, str]:
    """The registered reader (SQL condition) of each subject type that has one."""
    return dict(_SUBJECT_READERS)


def outbox_tail(reader: str = "TRUE") -> str:
    """The common tail of every matcher: ``m``'s rows to each recipient's channels, as outbox rows, for the recipients
    for whom ``reader`` (the kind's reader) and the subscription's subject type's reader hold."""
    arms = " ".join(f"WHEN '{t}' THEN ({cond})" for t, cond in sorted(_SUBJECT_READERS.items()))
    subject = f"CASE s.subject_type {arms} ELSE TRUE END" if arms else "TRUE"
    return _OUTBOX_TAIL_HEAD + f"  AND ({subject})\n  AND ({reader})" + _OUTBOX_TAIL_END


# A contract-area subscription reaches a recipient who may read red flags and may see the contract: a national role,
# else a contract within the recipient's provinces now (redflags.store's rule, ``contract_in_scope_sql``), so a
# subscription made before its recipient moved to another province stops matching. A code that is not a number
# reaches nobody (the cast is guarded by CASE).
register_subject_reader(
    "contract_area",
    "r.roles && CAST(:flag_readers AS text[]) AND (r.roles && CAST(:national_roles AS text[]) OR EXISTS ("
    "SELECT 1 FROM (SELECT CASE WHEN s.subject_code ~ '^[0-9]{1,18}$' THEN CAST(s.subject_code AS bigint) END"
    f" AS contract_id) sc WHERE {contract_in_scope_sql('sc.contract_id', 'r.provinces')}))",
)
# A red flag reaches a recipient who may read red flags: a national role (administrator, national viewer: every
# province), else a flag within the recipient's provinces by the red-flag store's own rule (FLAG_SCOPE: the flag's
# province or one of its contracts' provinces, so a double payment across a provincial border reaches both
# provinces' people).
_FLAG_READER = (
    "r.roles && CAST(:flag_readers AS text[]) AND (r.roles && CAST(:national_roles AS text[]) OR "
    f"{flag_in_scope_sql('m.flag_id', 'r.provinces')})"
)

# Hotspots: equality joins on the attribution stored with each detection (district, subdistrict, protected areas)
# and an intersection for drawn polygons, as a UNION ALL so each arm is a hash join / index probe (an OR-join
# would be a nested loop of subscriptions x detections).
HOTSPOT_CANDIDATES = """
WITH det AS MATERIALIZED (
  SELECT * FROM alert_hotspots h
  WHERE h.batch_id = :batch_id
    AND h.acq_utc BETWEEN CAST(:first AS timestamptz) AND CAST(:last AS timestamptz)
    AND h.acq_utc >= CAST(:since AS timestamptz)
), hit AS (
  SELECT s.id AS sid, d.* FROM alert_subscriptions s JOIN det d ON d.district_code = s.subject_code
  WHERE s.subject_type = 'district' AND s.active AND 'hotspot' = ANY(s.kinds)
  UNION ALL
  SELECT s.id, d.* FROM alert_subscriptions s JOIN det d ON d.subdistrict_code = s.subject_code
  WHERE s.subject_type = 'subdistrict' AND s.active AND 'hotspot' = ANY(s.kinds)
  UNION ALL
  SELECT s.id, d.* FROM det d CROSS JOIN LATERAL unnest(d.protected_area_codes) AS pa(code)
    JOIN alert_subscriptions s ON s.subject_code = pa.code
  WHERE s.subject_type = 'protected_area' AND s.active AND 'hotspot' = ANY(s.kinds)
  UNION ALL
  -- the GiST index of alert_subscriptions.geom, probed once per detection
  SELECT s.id, d.* FROM det d JOIN alert_subscriptions s ON ST_Intersects(s.geom, d.geom)
  WHERE s.subject_type = 'polygon' AND s.active AND 'hotspot' = ANY(s.kinds)
  UNION ALL
  -- contract areas: few subscriptions, each area's GiST-indexed detections
  SELECT s.id, d.* FROM alert_subscriptions s
    JOIN alert_contract_areas ca ON s.subject_type = 'contract_area' AND CAST(ca.id AS text) = s.subject_code
    JOIN det d ON ST_Intersects(ca.geom, d.geom)
  WHERE s.subject_type = 'contract_area' AND s.active AND 'hotspot' = ANY(s.kinds)
), m AS (
  SELECT h.sid, 'hotspot' AS kind, 'hotspot:' || h.id AS subject_ref, h.identity,
         jsonb_build_object('what', 'hotspot', 'lon', h.longitude, 'lat', h.latitude, 'at', h.acq_utc,
                            'satellite', h.satellite, 'instrument', h.instrument, 'processing', h.processing,
                            'confidence', h.confidence, 'daynight', h.daynight, 'frp', h.frp,
                            'district', h.district_code, 'subdistrict', h.subdistrict_code,
                            'reserve', h.reserve_code) AS payload
  FROM hit h JOIN alert_subscriptions s ON s.id = h.sid
  WHERE h.confidence >= s.min_confidence
    AND (s.sensors IS NULL OR h.instrument = ANY(s.sensors))
    AND (s.daynight IS NULL OR h.daynight = s.daynight)
)
"""

# Fire events: few per ingest, so every subject is matched through its geometry (a footprint may cross a line).
# An event alerts when it is new and again each time its detections double (identity: the size step).
FIRE_EVENT_CANDIDATES = """
WITH ev AS (SELECT * FROM alert_fire_events WHERE id = ANY(:ids)),
subs AS (
  SELECT s.id, s.subject_type, coalesce(s.geom, a.geom, ca.geom) AS geom
  FROM alert_subscriptions s
  LEFT JOIN alert_subject_areas a ON a.subject_type = s.subject_type AND a.code = s.subject_code
  LEFT JOIN alert_contract_areas ca ON s.subject_type = 'contract_area' AND CAST(ca.id AS text) = s.subject_code
  WHERE s.active AND 'fire_event' = ANY(s.kinds) AND s.subject_type IN ('district', 'subdistrict',
                                                                         'protected_area', 'polygon', 'contract_area')
), m AS (
  SELECT s.id AS sid, 'fire_event' AS kind, 'fire_event:' || e.id AS subject_ref,
         'fire_event:' || e.id || ':' || floor(log(2, greatest(e.detections, 1)))::int AS identity,
         jsonb_build_object('what', 'fire_event', 'event_id', e.id, 'lon', e.longitude, 'lat', e.latitude,
                            'at', e.last_seen, 'first_seen', e.first_seen, 'detections', e.detections,
                            'area_m2', e.area_m2, 'district', e.district_code, 'reserve', e.reserve_code,
                            'growing', EXISTS (SELECT 1 FROM alert_outbox o WHERE o.subscription_id = s.id
                                               AND o.subject_ref = 'fire_event:' || e.id)) AS payload
  FROM subs s JOIN ev e ON ST_Intersects(s.geom, e.geom)
  WHERE e.last_seen >= CAST(:since AS timestamptz)
)
"""

# Clearing patches (forest loss, migration 0024): once per patch.
CLEARING_CANDIDATES = """
WITH p AS (
  SELECT * FROM alert_clearing_patches
  WHERE (CAST(:ids AS bigint[]) IS NULL OR id = ANY(CAST(:ids AS bigint[])))
    AND updated_at >= CAST(:since AS timestamptz)
), subs AS (SELECT * FROM alert_subscriptions WHERE active AND 'clearing_patch' = ANY(kinds)),
hit AS (
  SELECT s.id AS sid, p.* FROM subs s JOIN p ON s.subject_type = 'district' AND p.district_code = s.subject_code
  UNION ALL
  SELECT s.id, p.* FROM subs s JOIN p ON s.subject_type = 'subdistrict' AND p.subdistrict_code = s.subject_code
  UNION ALL
  SELECT s.id, p.* FROM subs s JOIN p ON s.subject_type = 'protected_area' AND s.subject_code = ANY(p.protected_area_codes)
  UNION ALL
  SELECT s.id, p.* FROM subs s JOIN p ON s.subject_type = 'polygon' AND ST_Intersects(s.geom, p.geom)
  UNION ALL
  SELECT s.id, p.* FROM subs s
    JOIN alert_contract_areas ca ON s.subject_type = 'contract_area' AND CAST(ca.id AS text) = s.subject_code
    JOIN p ON ST_Intersects(ca.geom, p.geom)
), m AS (
  SELECT sid, 'clearing_patch' AS kind, 'clearing_patch:' || id AS subject_ref, 'clearing_patch:' || id AS identity,
         jsonb_build_object('what', 'clearing_patch', 'patch_id', id, 'lon', longitude, 'lat', latitude,
                            'at', updated_at, 'first_date', first_date, 'last_date', last_date, 'area_m2', area_m2,
                            'sources', sources, 'district', district_code, 'subdistrict', subdistrict_code,
                            'reserve', reserve_code) AS payload
  FROM hit
)
"""

# Red flags (view of migration 0030): a new flag, or one found again after it was gone (the rule run passes only
# those; a dismissed one never). Few per run, so every subject is matched through its geometry or the areas of the
# contracts it names (a double payment across a border: its overlap lies in one province, its second contract in
# the other), plus the contracts a flag names for a contract-area subject. Identity: the flag and its version when
# raised (raised again: alerts again; a re-run that changes nothing raises nothing). The payload has no parcel,
# document number or owner. Who is told: ``_FLAG_READER``.
RED_FLAG_CANDIDATES = """
WITH f AS (
  SELECT * FROM alert_red_flags
  WHERE id = ANY(CAST(:ids AS bigint[])) AND status <> 'dismissed' AND current
), subs AS (
  SELECT s.id, s.subject_type, s.subject_code, coalesce(s.geom, a.geom, ca.geom) AS geom
  FROM alert_subscriptions s
  LEFT JOIN alert_subject_areas a ON a.subject_type = s.subject_type AND a.code = s.subject_code
  LEFT JOIN alert_contract_areas ca ON s.subject_type = 'contract_area' AND CAST(ca.id AS text) = s.subject_code
  WHERE s.active AND 'red_flag' = ANY(s.kinds)
), m AS (
  SELECT DISTINCT ON (s.id, f.id) s.id AS sid, f.id AS flag_id, 'red_flag' AS kind, 'red_flag:' || f.id AS subject_ref,
         'red_flag:' || f.id || '/v' || f.version AS identity,
         jsonb_build_object('what', 'red_flag', 'flag_id', f.id, 'rule', f.rule, 'severity', f.severity,
                            'reason_th', f.reason_th, 'reason_en', f.reason_en, 'lon', f.longitude,
                            'lat', f.latitude, 'at', f.last_found_at, 'district', f.district_code,
                            'reserve', f.reserve_code, 'province', f.province_code) AS payload
  FROM subs s JOIN f ON ST_Intersects(s.geom, f.geom)
    OR (s.subject_type = 'district' AND s.subject_code = f.district_code)
    OR (s.subject_type = 'protected_area' AND s.subject_code = f.reserve_code)
    OR (s.subject_type = 'contract_area' AND s.subject_code = ANY(CAST(f.contract_ids AS text[])))
    OR (s.subject_type <> 'contract_area' AND EXISTS (
          SELECT 1 FROM alert_contract_areas fc WHERE fc.id = ANY(f.contract_ids) AND ST_Intersects(s.geom, fc.geom)))
  ORDER BY s.id, f.id
)
"""

# Case changes: the subscribers of the case; who may see it is checked afterwards (cases.access), row by row.
CASE_CANDIDATES = """
WITH m AS (
  SELECT s.id AS sid, 'case_change' AS kind, 'case:' || CAST(:case_id AS text) AS subject_ref,
         CAST(:identity AS text) AS identity, CAST(:payload AS jsonb) AS payload
  FROM alert_subscriptions s
  WHERE s.active AND 'case_change' = ANY(s.kinds) AND s.subject_type = 'case'
    AND s.subject_code = CAST(:case_id AS text)
)
"""


def match_hotspots(session: Session, batch_id: int, first: str, last: str, since: datetime, now: datetime) -> int:
    """Outbox rows for the detections of one ingest batch (acquired since ``since``); returns rows written."""
    result = session.execute(
        text(HOTSPOT_CANDIDATES + outbox_tail()),
        {"batch_id": batch_id, "first": first, "last": last, "since": since, "now": now, **_ROLE_PARAMS},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_hotspot_matches(session: Session, batch_id: int, first: str, last: str, since: datetime) -> int:
    """How many (subscription, detection) pairs one batch matches, before recipients and channels (benchmarks)."""
    sql = HOTSPOT_CANDIDATES + "SELECT count(*) FROM m"
    params = {"batch_id": batch_id, "first": first, "last": last, "since": since}
    return int(session.execute(text(sql), params).scalar_one())


def match_fire_events(session: Session, event_ids: list[int], since: datetime, now: datetime) -> int:
    """Outbox rows for new or grown fire events (last seen since ``since``); returns rows written."""
    if not event_ids:
        return 0
    params = {"ids": list(event_ids), "since": since, "now": now, **_ROLE_PARAMS}
    result = session.execute(text(FIRE_EVENT_CANDIDATES + outbox_tail()), params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def match_clearing_patches(session: Session, patch_ids: list[int] | None, since: datetime, now: datetime) -> int:
    """Outbox rows for clearing patches (these ids, or every patch changed since ``since``); returns rows written."""
    params = {"ids": patch_ids, "since": since, "now": now, **_ROLE_PARAMS}
    result = session.execute(text(CLEARING_CANDIDATES + outbox_tail()), params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def match_red_flags(session: Session, flag_ids: list[int], now: datetime) -> int:
    """Outbox rows for red flags just raised (new, or found again after they were gone); returns rows written."""
    if not flag_ids:
        return 0
    params = {"ids": list(flag_ids), "now": now, **_ROLE_PARAMS}
    result = session.execute(text(RED_FLAG_CANDIDATES + outbox_tail(_FLAG_READER)), params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def match_case_change(session: Session, case_id: int, identity: str, payload: dict, now: datetime) -> list[dict]:
    """Outbox rows for a change of a case; returns the rows written (id, username) for the access check."""
    rows = session.execute(
        text(CASE_CANDIDATES + outbox_tail() + " RETURNING id, username"),
        {
            "case_id": case_id,
            "identity": identity,
            "payload": json.dumps(payload),
            "now": now,
            **_ROLE_PARAMS,
        },
    ).mappings()
    return [dict(r) for r in rows]


def withhold(session: Session, ids: list[int], reason: str) -> None:
    """Mark outbox rows as withheld (their recipient may not see the case): never sent, never listed."""
    if ids:
        session.execute(
            text("UPDATE alert_outbox SET status = 'withheld', last_error = :reason WHERE id = ANY(:ids)"),
            {"ids": ids, "reason": reason},
        )


# --- subscriptions -------------------------------------------------------------------------------------------------
SUBSCRIPTION_COLUMNS = """
  s.id, s.created_by, s.username, s.recipient_role, s.recipient_province, s.subject_type, s.subject_code,
  CASE WHEN s.geom IS NULL THEN NULL ELSE ST_AsGeoJSON(s.geom)::jsonb END AS polygon, s.kinds, s.min_confidence,
  s.sensors, s.daynight, s.delivery, s.digest_time, s.quiet_start, s.quiet_end, s.language, s.channels, s.active,
  s.created_at, s.updated_at
"""
_WRITABLE = (
    "username",
    "recipient_role",
    "recipient_province",
    "subject_type",
    "subject_code",
    "kinds",
    "min_confidence",
    "sensors",
    "daynight",
    "delivery",
    "digest_time",
    "quiet_start",
    "quiet_end",
    "language",
    "channels",
    "active",
)


def insert_subscription(session: Session, created_by: str, values: dict, polygon: str | None) -> int:
    """Store a subscription (``polygon``: GeoJSON of a drawn area, made a MultiPolygon); returns its id."""
    cols = [c for c in _WRITABLE if c in values]
    sql = (
        f"INSERT INTO alert_subscriptions (created_by, geom, {', '.join(cols)}) VALUES (:created_by, "
        "CASE WHEN CAST(:polygon AS text) IS NULL THEN NULL "
        "ELSE ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(CAST(:polygon AS text)), 4326)) END, "
        + ", ".join(f":{c}" for c in cols)
        + ") RETURNING id"
    )
    return int(session.execute(text(sql), {"created_by": created_by, "polygon": polygon, **values}).scalar_one())


def update_subscription(session: Session, sid: int, values: dict) -> None:
    """Change a subscription's settings (only the columns given)."""
    cols = [c for c in _WRITABLE if c in values]
    if not cols:
        return
    sets = ", ".join(f"{c} = :{c}" for c in cols)
    session.execute(
        text(f"UPDATE alert_subscriptions SET {sets}, updated_at = now() WHERE id = :sid"), {"sid": sid, **values}
    )


def delete_subscription(session: Session, sid: int) -> None:
    """Delete a subscription (its outbox rows go with it)."""
    session.execute(text("DELETE FROM alert_subscriptions WHERE id = :sid"), {"sid": sid})


def get_subscription(session: Session, sid: int) -> dict | None:
    """One subscription, or None."""
    row = (
        session.execute(
            text(f"SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions s WHERE s.id = :sid"), {"sid": sid}
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def subscriptions_for(session: Session, username: str | None) -> list[dict]:
    """The subscriptions that reach ``username`` (own and group), or every one (None), newest first."""
    if username is None:
        sql = f"SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions s ORDER BY s.id DESC"
        return [dict(r) for r in session.execute(text(sql)).mappings()]
    sql = f"""
        SELECT {SUBSCRIPTION_COLUMNS} FROM alert_subscriptions s
        WHERE s.username = :u OR s.created_by = :u
           OR s.id IN (SELECT subscription_id FROM alert_recipients WHERE username = :u)
        ORDER BY s.id DESC"""
    return [dict(r) for r in session.execute(text(sql), {"u": username}).mappings()]


def opt_out(session: Session, sid: int, username: str) -> None:
    """``username`` leaves a group subscription (idempotent)."""
    session.execute(
        text("INSERT INTO alert_opt_outs (subscription_id, username) VALUES (:sid, :u) ON CONFLICT DO NOTHING"),
        {"sid": sid, "u": username},
    )


def reaches(session: Session, sid: int, username: str) -> bool:
    """Whether the subscription currently reaches ``username``."""
    sql = "SELECT 1 FROM alert_recipients WHERE subscription_id = :sid AND username = :u"
    return session.execute(text(sql), {"sid": sid, "u": username}).first() is not None


def subject_area(session: Session, subject_type: str, code: str) -> dict | None:
    """A district, subdistrict or protected area by code (names), or None."""
    row = (
        session.execute(
            text(
                "SELECT subject_type, code, name_th, name_en FROM alert_subject_areas WHERE subject_type = :t AND code = :c"
            ),
            {"t": subject_type, "c": code},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


# --- contacts ------------------------------------------------------------------------------------------------------
def get_contacts(session: Session, username: str) -> dict:
    """Where ``username`` receives alerts (empty values when none is set)."""
    row = (
        session.execute(
            text("SELECT email, line_user_id, webhook_url FROM alert_contacts WHERE username = :u"), {"u": username}
        )
        .mappings()
        .first()
    )
    return dict(row) if row else {"email": None, "line_user_id": None, "webhook_url": None}


def set_contacts(
    session: Session, username: str, email: str | None, line_user_id: str | None, webhook_url: str | None
) -> None:
    """Store where ``username`` receives alerts."""
    session.execute(
        text("""
        INSERT INTO alert_contacts (username, email, line_user_id, webhook_url) VALUES (:u, :e, :l, :w)
        ON CONFLICT (username) DO UPDATE SET email = :e, line_user_id = :l, webhook_url = :w, updated_at = now()"""),
        {"u": username, "e": email, "l": line_user_id, "w": webhook_url},
    )


# --- the outbox: in-app list, claim, mark ---------------------------------------------------------------------------
def recent(session: Session, username: str, limit: int) -> list[dict]:
    """The latest in-app alerts of ``username`` (withheld ones never)."""
    sql = """
        SELECT id, subscription_id, kind, subject_ref, payload, created_at
        FROM alert_outbox WHERE username = :u AND channel = 'in_app' AND status = 'sent'
        ORDER BY created_at DESC, id DESC LIMIT :n"""
    return [dict(r) for r in session.execute(text(sql), {"u": username, "n": limit}).mappings()]


_CLAIMABLE = """
        SELECT o.id, o.subscription_id, o.username, o.channel, o.address, o.kind, o.subject_ref, o.payload,
               o.due_at, o.status, o.message_key, o.attempts, o.idempotency_key, s.delivery, s.language
        FROM alert_outbox o JOIN alert_subscriptions s ON s.id = o.subscription_id
        WHERE o.channel <> 'in_app'
          AND ((o.status = 'pending' AND o.due_at <= :now AND coalesce(o.next_attempt_at, o.due_at) <= :now)
            OR (o.status = 'sending' AND o.claimed_at <= CAST(:now AS timestamptz) - make_interval(secs => :lease)))
          AND {more}
        ORDER BY o.id
        {limit}
        FOR UPDATE OF o SKIP LOCKED"""

# the rest of the digests a batch has begun: the digest's group (subscription, recipient, channel, address, due
# time) given as parallel arrays
_REST_OF_DIGESTS = """s.delivery = 'digest' AND o.id <> ALL(CAST(:ids AS bigint[]))
          AND EXISTS (
              SELECT 1 FROM unnest(CAST(:subs AS bigint[]), CAST(:users AS text[]), CAST(:channels AS text[]),
                                   CAST(:addresses AS text[]), CAST(:dues AS timestamptz[])) AS g(sub, usr, chan, addr, due)
              WHERE o.subscription_id = g.sub AND o.username = g.usr AND o.channel = g.chan
                AND o.address IS NOT DISTINCT FROM g.addr AND o.due_at = g.due)"""


def claimable(session: Session, now: datetime, lease_s: float, limit: int) -> list[dict]:
    """Due outbox rows (pending and due, or claimed by a sender that died more than ``lease_s`` ago), locked for
    this transaction (SKIP LOCKED: two senders never take the same row), oldest first: at most ``limit`` rows,
    plus the due rest of every digest those rows begin (a digest is never split between two rounds, so a day's
    digest stays one message however many alerts it holds)."""
    params = {"now": now, "lease": lease_s}
    sql = _CLAIMABLE.format(more="true", limit="LIMIT :limit")
    rows = [dict(r) for r in session.execute(text(sql), {**params, "limit": limit}).mappings()]
    groups = list(
        {
            (r["subscription_id"], r["username"], r["channel"], r["address"], r["due_at"])
            for r in rows
            if r["delivery"] == "digest"
        }
    )
    if groups:
        subs, users, channels, addresses, dues = (list(x) for x in zip(*groups, strict=True))
        more = session.execute(
            text(_CLAIMABLE.format(more=_REST_OF_DIGESTS, limit="")),
            {**params, "ids": [r["id"] for r in rows], "subs": subs, "users": users, "channels": channels,
             "addresses": addresses, "dues": dues},
        ).mappings()  # fmt: skip
        rows.extend(dict(r) for r in more)
    return rows


def claim(session: Session, keys: dict[int, str], now: datetime) -> None:
    """Mark rows as being sent under their message key (kept across retries: the channel sees the same key)."""
    if keys:
        session.execute(
            text("""
            UPDATE alert_outbox o SET status = 'sending', claimed_at = :now, message_key = k.key
            FROM unnest(CAST(:ids AS bigint[]), CAST(:keys AS text[])) AS k(id, key) WHERE o.id = k.id"""),
            {"ids": list(keys), "keys": list(keys.values()), "now": now},
        )


def mark_sent(session: Session, message_key: str, now: datetime) -> int:
    """The channel accepted the message: its rows are sent."""
    result = session.execute(
        text("""UPDATE alert_outbox SET status = 'sent', sent_at = :now, last_error = NULL
                WHERE message_key = :k AND status = 'sending'"""),
        {"k": message_key, "now": now},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_failed(session: Session, message_key: str, error: str, now: datetime, max_attempts: int, base_s: float) -> str:
    """A send failed: back to pending with an exponential wait, or ``failed`` after ``max_attempts``; returns the
    new status."""
    row = session.execute(
        text("""
        UPDATE alert_outbox SET attempts = attempts + 1, last_error = left(:error, 500),
               status = CASE WHEN attempts + 1 >= :max THEN 'failed' ELSE 'pending' END,
               next_attempt_at = CAST(:now AS timestamptz) + make_interval(secs => :base * power(2, attempts))
        WHERE message_key = :k AND status = 'sending' RETURNING status"""),
        {"k": message_key, "error": error, "now": now, "max": max_attempts, "base": base_s},
    ).first()
    return row[0] if row else "unknown"


def failures(session: Session, limit: int = 100) -> list[dict]:
    """The alerts reported failed (given up after every retry), newest first."""
    sql = """SELECT id, username, channel, address, kind, subject_ref, attempts, last_error, created_at
             FROM alert_outbox WHERE status = 'failed' ORDER BY id DESC LIMIT :n"""
    return [dict(r) for r in session.execute(text(sql), {"n": limit}).mappings()]


def status_counts(session: Session) -> dict[str, int]:
    """Outbox rows per status (the CLI's summary)."""
    rows = session.execute(text("SELECT status, count(*) FROM alert_outbox GROUP BY status"))
    return {r[0]: int(r[1]) for r in rows}


def area_names(session: Session, codes: list[str]) -> dict[str, dict]:
    """Names of districts, subdistricts and protected areas by code (for messages)."""
    if not codes:
        return {}
    rows = session.execute(
        text("SELECT code, subject_type, name_th, name_en FROM alert_subject_areas WHERE code = ANY(:c)"),
        {"c": list(codes)},
    ).mappings()
    return {r["code"]: dict(r) for r in rows}


def map_shapes(session: Session, codes: list[str], lon: float, lat: float, radius_deg: float) -> list[dict]:
    """Outlines near a point for the static map: the named areas and the districts around (WKB, simplified)."""
    rows = session.execute(
        text("""
        SELECT subject_type, code, ST_AsBinary(ST_SimplifyPreserveTopology(geom, 0.0005)) AS wkb
        FROM alert_subject_areas
        WHERE (code = ANY(:c) OR subject_type = 'district')
          AND geom && ST_MakeEnvelope(:lon - :r, :lat - :r, :lon + :r, :lat + :r, 4326)"""),
        {"c": list(codes), "lon": lon, "lat": lat, "r": radius_deg},
    ).mappings()
    return [dict(r) for r in rows]
