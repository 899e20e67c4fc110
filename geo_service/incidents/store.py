"""The incidents store: the only module that names the ``incidents`` and ``incident_photos`` tables in SQL.

Every read and write of incidents and their photos goes through these functions, whichever domain needs them
(cases, exports, maps, briefs). They run in the caller's transaction and never commit (README, Layout).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


def set_status(
    session: Session, incident_ids: Sequence[str], to_status: str, *, from_status: str | None, by: str
) -> list[int]:
    """Move these incidents to ``to_status`` (only those in ``from_status`` when given, and not already there),
    bumping their version; returns the ids that changed."""
    if not incident_ids:
        return []
    rows = session.execute(
        text(
            "UPDATE incidents SET status = CAST(:to AS incident_status), version = version + 1, updated_by = :by, "
            "updated_at = now() WHERE id::text = ANY(:ids) AND status::text <> :to "
            "AND (CAST(:from AS text) IS NULL OR status::text = :from) RETURNING id"
        ),
        {"to": to_status, "from": from_status, "by": by, "ids": list(incident_ids)},
    ).scalars()
    return sorted(rows)


# --- for cases.service, cases.suggestions, cases.evidence_geojson ---
def existing_ids(session: Session, incident_ids: Sequence[str]) -> set[str]:
    """Which of these ids (as text) are incidents."""
    if not incident_ids:
        return set()
    return set(
        session.execute(
            text("SELECT id::text FROM incidents WHERE id::text = ANY(:ids)"), {"ids": list(incident_ids)}
        ).scalars()
    )


def places_of(session: Session, incident_ids: Sequence[str]) -> dict[str, tuple[str | None, list[str]]]:
    """Each incident's district code and protected-area codes, by id (as text)."""
    if not incident_ids:
        return {}
    rows = session.execute(
        text("SELECT id::text, district_code, protected_area_codes FROM incidents WHERE id::text = ANY(:ids)"),
        {"ids": list(incident_ids)},
    ).all()
    return {r[0]: (r[1], list(r[2] or [])) for r in rows}


def positions(session: Session, incident_ids: Sequence[str]) -> list[tuple[int, bytes, datetime]]:
    """(id, point as EWKB, observed_at) of these incidents: where and when, for searches near them."""
    if not incident_ids:
        return []
    rows = session.execute(
        text("SELECT id, ST_AsEWKB(geom), observed_at FROM incidents WHERE id::text = ANY(:ids) ORDER BY id"),
        {"ids": list(incident_ids)},
    ).all()
    return [(r[0], bytes(r[1]), r[2]) for r in rows]


def evidence_features(session: Session, incident_ids: Sequence[str]) -> dict[str, tuple[str | None, dict]]:
    """GeoJSON geometry (text, 7 decimals) and main attributes of these incidents, by id (as text)."""
    if not incident_ids:
        return {}
    rows = session.execute(
        text(
            "SELECT id::text, ST_AsGeoJSON(geom, 7), json_build_object('kind', kind, 'observed_at', observed_at, "
            "'district_code', district_code, 'reserve_code', reserve_code, 'status', status) "
            "FROM incidents WHERE id::text = ANY(:ids)"
        ),
        {"ids": list(incident_ids)},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}
