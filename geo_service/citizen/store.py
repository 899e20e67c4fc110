"""SQL of the citizen reports domain: ``citizen_reports``, ``citizen_report_photos``, ``citizen_report_additions``,
``citizen_rate_hits`` and ``network_members`` are named here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, text
from sqlalchemy.orm import Session

REPORT_COLUMNS = """
    r.id, r.source, r.kind, r.description, r.observed_at, r.location_text, r.location_format, r.location_datum,
    r.accuracy_m, r.province_code, r.district_code, r.subdistrict_code, r.reserve_code, r.protected_area_codes,
    r.status, r.reason, r.duplicate_of, r.merged_into, r.incident_id, r.assigned_to, r.triaged_by, r.triaged_at,
    r.submitted_at, r.updated_at, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat, r.sealed_contact IS NOT NULL AS has_contact,
    (SELECT count(*) FROM citizen_report_photos p WHERE p.report_id = r.id) AS photos,
    (SELECT count(*) FROM citizen_report_additions a WHERE a.report_id = r.id) AS additions
"""


def insert_report(session: Session, values: dict[str, Any]) -> int | None:
    """Insert a report; None when its Idempotency-Key was used already (a retry, or a race with one)."""
    return session.execute(
        text("""
            INSERT INTO citizen_reports (receipt_hash, idempotency_hash, request_hash, source, kind, description,
                observed_at, location_text, location_format, location_datum, accuracy_m, province_code,
                district_code, subdistrict_code, reserve_code, protected_area_codes, sealed_contact, geom)
            VALUES (:receipt_hash, :idempotency_hash, :request_hash, :source, :kind, :description, :observed_at,
                :location_text, :location_format, :location_datum, :accuracy_m, :province_code, :district_code,
                :subdistrict_code, :reserve_code, CAST(:protected_area_codes AS text[]), :sealed_contact,
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
            ON CONFLICT (idempotency_hash) DO NOTHING
            RETURNING id
        """),
        values,
    ).scalar()


def by_idempotency(session: Session, idempotency_hash: str) -> Row | None:
    """The report made with this key: id and request hash."""
    return session.execute(
        text("SELECT id, request_hash, receipt_hash FROM citizen_reports WHERE idempotency_hash = :h"),
        {"h": idempotency_hash},
    ).first()


def id_by_receipt(session: Session, receipt_hash: str, lock: bool = False) -> int | None:
    """The report with this receipt (its SHA-256); with ``lock``, the row locked for an addition."""
    sql = "SELECT id FROM citizen_reports WHERE receipt_hash = :h" + (" FOR UPDATE" if lock else "")
    return session.execute(text(sql), {"h": receipt_hash}).scalar()


def insert_photos(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Store photos (the same file twice in one report once); the number stored."""
    if not rows:
        return 0
    result = cast(
        CursorResult[Any],
        session.execute(
            text("""
            INSERT INTO citizen_report_photos (report_id, addition_id, sha256, content_type, size_bytes, width, height,
                                               original, stripped, stripped_type)
            VALUES (:report_id, :addition_id, :sha256, :content_type, :size_bytes, :width, :height, :original,
                    :stripped, :stripped_type)
            ON CONFLICT (report_id, sha256) DO NOTHING
        """),
            list(rows),
        ),
    )
    return result.rowcount or 0


def find_duplicate(
    session: Session,
    report_id: int,
    kind: str,
    observed_at: datetime,
    hours: float,
    distance_m: float,
    sha256s: list[str],
) -> int | None:
    """The oldest earlier report (not rejected) that shares a photo with this one, or saw the same kind at the
    same place (within ``distance_m``, geodesic) and time (observed, or sent, within ``hours``)."""
    return session.execute(
        text("""
            SELECT o.id FROM citizen_reports o, citizen_reports n
            WHERE n.id = :id AND o.id < n.id AND o.status <> 'rejected'
              AND (
                EXISTS (SELECT 1 FROM citizen_report_photos p WHERE p.report_id = o.id AND p.sha256 = ANY(:sha))
                OR (o.kind = :kind
                    AND ST_DWithin(o.geom::geography, n.geom::geography, :dist)
                    AND abs(extract(epoch FROM coalesce(o.observed_at, o.submitted_at) - :when)) <= :hours * 3600)
              )
            ORDER BY o.id LIMIT 1
        """),
        {"id": report_id, "sha": sha256s, "kind": kind, "dist": distance_m, "when": observed_at, "hours": hours},
    ).scalar()


def set_fields(session: Session, report_id: int, values: dict[str, Any]) -> None:
    """Change columns of a report (names from the service, never from a request) and its update time."""
    allowed = {"duplicate_of", "status", "reason", "merged_into", "incident_id", "assigned_to", "triaged_by"}
    assert set(values) <= allowed
    sets = ", ".join(f"{k} = :{k}" for k in values)
    triaged = ", triaged_at = now()" if "status" in values else ""
    session.execute(
        text(f"UPDATE citizen_reports SET {sets}{triaged}, updated_at = now() WHERE id = :id"),
        {**values, "id": report_id},
    )


def get_report(session: Session, report_id: int, lock: bool = False) -> Row | None:
    """One report's columns (no sealed bytes: only whether there are any)."""
    sql = f"SELECT {REPORT_COLUMNS} FROM citizen_reports r WHERE r.id = :id" + (" FOR UPDATE OF r" if lock else "")
    return session.execute(text(sql), {"id": report_id}).first()


def queue(
    session: Session, statuses: list[str], provinces: list[str] | None, limit: int, offset: int
) -> tuple[list[Row], int]:
    """Reports in these statuses, newest first; ``provinces`` None: every report (national callers), else only
    those attributed to one of them."""
    where = "r.status = ANY(:statuses) AND (CAST(:all AS boolean) OR r.province_code = ANY(:provinces))"
    params = {"statuses": statuses, "all": provinces is None, "provinces": provinces or [], "limit": limit}
    total = session.execute(text(f"SELECT count(*) FROM citizen_reports r WHERE {where}"), params).scalar_one()
    rows = session.execute(
        text(
            f"SELECT {REPORT_COLUMNS} FROM citizen_reports r WHERE {where} "
            "ORDER BY r.submitted_at DESC, r.id DESC LIMIT :limit OFFSET :offset"
        ),
        {**params, "offset": offset},
    ).all()
    return list(rows), int(total)


def photos_of(session: Session, report_id: int) -> list[Row]:
    """A report's photos without their bytes."""
    return list(
        session.execute(
            text("""
                SELECT id, addition_id, sha256, content_type, size_bytes, width, height, added_at
                FROM citizen_report_photos WHERE report_id = :id ORDER BY id
            """),
            {"id": report_id},
        ).all()
    )


def photo_sha256s(session: Session, report_id: int) -> list[str]:
    """The SHA-256 of every photo of a report."""
    return list(
        session.scalars(text("SELECT sha256 FROM citizen_report_photos WHERE report_id = :id"), {"id": report_id})
    )


def photo_bytes(session: Session, report_id: int, photo_id: int, original: bool) -> Row | None:
    """A photo's stripped copy (or, with ``original``, its bytes as received) with type and SHA-256."""
    column = "original, content_type" if original else "stripped, stripped_type"
    return session.execute(
        text(f"SELECT {column}, sha256 FROM citizen_report_photos WHERE report_id = :r AND id = :p"),
        {"r": report_id, "p": photo_id},
    ).first()


def stripped_photos(session: Session, report_id: int) -> list[Row]:
    """Every stripped copy of a report's photos (id, bytes), oldest first."""
    return list(
        session.execute(
            text("SELECT id, stripped FROM citizen_report_photos WHERE report_id = :id ORDER BY id"), {"id": report_id}
        ).all()
    )


def additions_of(session: Session, report_id: int) -> list[Row]:
    """What the reporter added later, oldest first."""
    return list(
        session.execute(
            text("SELECT id, text, added_at FROM citizen_report_additions WHERE report_id = :id ORDER BY id"),
            {"id": report_id},
        ).all()
    )


def insert_addition(session: Session, report_id: int, note: str) -> int:
    """Add the reporter's later information; its id."""
    return session.execute(
        text("INSERT INTO citizen_report_additions (report_id, text) VALUES (:r, :t) RETURNING id"),
        {"r": report_id, "t": note},
    ).scalar_one()


def touch(session: Session, report_id: int) -> None:
    """Mark a report as changed now (an addition)."""
    session.execute(text("UPDATE citizen_reports SET updated_at = now() WHERE id = :id"), {"id": report_id})


def sealed_contact(session: Session, report_id: int) -> bytes | None:
    """The sealed box of a report's contact details (opened only by citizen.service with the private key)."""
    return session.execute(
        text("SELECT sealed_contact FROM citizen_reports WHERE id = :id"), {"id": report_id}
    ).scalar()


# --- abuse limits ----------------------------------------------------------------------------------------
def hit(session: Session, bucket: str) -> tuple[int, int]:
    """Count one request in ``bucket``'s current hour (atomic across processes: one upsert); returns the hits so
    far in this hour and the seconds until it ends. Windows older than a day are deleted on the way."""
    session.execute(text("DELETE FROM citizen_rate_hits WHERE window_start < now() - interval '1 day'"))
    row = session.execute(
        text("""
            INSERT INTO citizen_rate_hits AS h (bucket, window_start, hits)
            VALUES (:bucket, date_trunc('hour', now()), 1)
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = h.hits + 1
            RETURNING hits, ceil(extract(epoch FROM h.window_start + interval '1 hour' - now()))::int AS left_s
        """),
        {"bucket": bucket},
    ).one()
    return int(row.hits), max(1, int(row.left_s))


# --- network members -------------------------------------------------------------------------------------
def district_of(session: Session, district_code: str) -> Row | None:
    """A current district's code, province and names (the shared view ``current_admin_areas``)."""
    return session.execute(
        text("""
            SELECT code, parent_code AS province_code, name_th, name_en FROM current_admin_areas
            WHERE level = 'district' AND code = :code
        """),
        {"code": district_code},
    ).first()


def insert_member(session: Session, username: str, district_code: str, province_code: str, actor: str) -> Row:
    """Record a network member's district."""
    return session.execute(
        text("""
            INSERT INTO network_members (username, district_code, province_code, created_by)
            VALUES (:u, :d, :p, :a) RETURNING username, district_code, province_code, joined_at
        """),
        {"u": username, "d": district_code, "p": province_code, "a": actor},
    ).one()


def members(session: Session, provinces: list[str] | None) -> list[Row]:
    """Network members (username, district, province, joined), of these provinces (None: all)."""
    return list(
        session.execute(
            text("""
                SELECT username, district_code, province_code, joined_at FROM network_members
                WHERE CAST(:all AS boolean) OR province_code = ANY(:p) ORDER BY district_code, username
            """),
            {"all": provinces is None, "p": provinces or []},
        ).all()
    )


def district_counts(
    session: Session, active: list[str], provinces: list[str], since: datetime | None, until: datetime | None
) -> list[Row]:
    """Per current district of ``provinces``: active members (``active`` usernames), members in all, and reports
    (from the public / from members; accepted) sent in [since, until)."""
    return list(
        session.execute(
            text("""
                WITH d AS (
                  SELECT code, parent_code, name_th, name_en FROM current_admin_areas
                  WHERE level = 'district' AND parent_code = ANY(:provinces)
                ), m AS (
                  SELECT district_code, count(*) AS members, count(*) FILTER (WHERE username = ANY(:active)) AS active
                  FROM network_members GROUP BY district_code
                ), r AS (
                  SELECT district_code,
                         count(*) FILTER (WHERE source = 'public') AS public_reports,
                         count(*) FILTER (WHERE source = 'member') AS member_reports,
                         count(*) FILTER (WHERE status = 'accepted') AS accepted
                  FROM citizen_reports
                  WHERE (CAST(:since AS timestamptz) IS NULL OR submitted_at >= :since)
                    AND (CAST(:until AS timestamptz) IS NULL OR submitted_at < :until)
                  GROUP BY district_code
                )
                SELECT d.code, d.parent_code AS province_code, d.name_th, d.name_en,
                       coalesce(m.active, 0) AS active_members, coalesce(m.members, 0) AS members,
                       coalesce(r.public_reports, 0) AS public_reports, coalesce(r.member_reports, 0) AS member_reports,
                       coalesce(r.accepted, 0) AS accepted_reports
                FROM d LEFT JOIN m ON m.district_code = d.code LEFT JOIN r ON r.district_code = d.code
                ORDER BY d.code
            """),
            {"provinces": provinces, "active": active, "since": since, "until": until},
        ).all()
    )
