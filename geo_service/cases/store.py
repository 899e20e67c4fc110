"""The cases store: the only module (with ``cases.access`` for the access rule) that names the case tables in SQL.

Functions run in the caller's transaction and never commit (README, Layout). Reads that feed a case page take
a list of case ids and answer for all of them at once, so a page or a list costs the same few statements
whatever the number of cases, links, notes or parties. Row-level security (``access.act_as``) decides which
rows exist for the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

Row = RowMapping


# --- the case row -------------------------------------------------------------------------------------------
def case_row(session: Session, case_id: int) -> Row | None:
    """The case's row, or None when it is absent or invisible to the caller."""
    return session.execute(text("SELECT * FROM cases WHERE id = :id"), {"id": case_id}).mappings().first()


def case_rows(session: Session, case_ids: Sequence[int]) -> dict[int, Row]:
    """The rows of these cases (those visible to the caller), each with ``assigned``: its investigators, sorted."""
    if not case_ids:
        return {}
    rows = session.execute(
        text(
            "SELECT c.*, ARRAY(SELECT a.username FROM case_assignments a WHERE a.case_id = c.id "
            "ORDER BY a.username) AS assigned FROM cases c WHERE c.id = ANY(:ids)"
        ),
        {"ids": list(case_ids)},
    ).mappings()
    return {r["id"]: r for r in rows}


def case_reference(session: Session, case_id: int) -> str | None:
    """The case's reference (NACC-PR-...), or None when it is absent or invisible."""
    return session.execute(text("SELECT reference FROM cases WHERE id = :id"), {"id": case_id}).scalar()


def find_cases(
    session: Session,
    *,
    stage: str | None = None,
    category: str | None = None,
    fiscal_year_be: int | None = None,
    received: tuple[date, date] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[int]]:
    """How many visible cases match, and the ids of one page of them, newest first."""
    where: list[str] = ["TRUE"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
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
    total = session.execute(text(f"SELECT count(*) FROM cases WHERE {clause}"), params).scalar_one()
    ids = session.execute(
        text(f"SELECT id FROM cases WHERE {clause} ORDER BY received_on DESC, id DESC LIMIT :limit OFFSET :offset"),
        params,
    ).scalars()
    return total, list(ids)


def next_sequence(session: Session, fiscal_year_be: int) -> int:
    """The next number of the fiscal year's case counter (one counter row per year, created on first use)."""
    return session.execute(
        text(
            "INSERT INTO case_counters (fiscal_year_be, last) VALUES (:fy, 1) "
            "ON CONFLICT (fiscal_year_be) DO UPDATE SET last = case_counters.last + 1 RETURNING last"
        ),
        {"fy": fiscal_year_be},
    ).scalar_one()


def new_case_id(session: Session) -> int:
    """Draw the id of a case about to be inserted."""
    return session.execute(text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")).scalar_one()


def insert_case(session: Session, values: dict[str, Any]) -> None:
    """Insert a case row (``values``: id, reference, title, summary, category, confidentiality, received,
    fy, pf, pt, province, by). No RETURNING: a confidential case is invisible to its creator until assigned."""
    session.execute(
        text("""
        INSERT INTO cases (id, reference, title, summary, category, confidentiality, received_on, fiscal_year_be,
                           period_from, period_to, province_code, created_by, updated_by)
        VALUES (:id, :reference, :title, :summary, CAST(:category AS case_category),
                CAST(:confidentiality AS case_confidentiality), :received, :fy, :pf, :pt, :province, :by, :by)
    """),
        values,
    )


def bump(session: Session, case_id: int, by: str, steps: int = 1) -> None:
    """Raise the case's version by ``steps`` and record who changed it and when."""
    session.execute(
        text("UPDATE cases SET version = version + :n, updated_by = :by, updated_at = now() WHERE id = :id"),
        {"by": by, "id": case_id, "n": steps},
    )


_CASTS = {
    "category": "CAST(:category AS case_category)",
    "confidentiality": "CAST(:confidentiality AS case_confidentiality)",
}
EDITABLE = ("title", "summary", "category", "confidentiality", "period_from", "period_to")


def update_fields(session: Session, case_id: int, changes: dict[str, Any], expected_version: int, by: str) -> bool:
    """Write the changed fields if the case is still at ``expected_version``; False when it moved on."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    sets = ", ".join(f"{k} = {_CASTS.get(k, ':' + k)}" for k in changes)
    done = session.execute(
        text(
            f"UPDATE cases SET {sets}, version = version + 1, updated_by = :_by, updated_at = now() "
            "WHERE id = :_id AND version = :_v RETURNING id"
        ),
        {**changes, "_by": by, "_id": case_id, "_v": expected_version},
    ).scalar()
    return done is not None


def move_stage(
    session: Session,
    case_id: int,
    *,
    from_stage: str,
    to_stage: str,
    expected_version: int,
    closed_on: date,
    by: str,
) -> bool:
    """Move the case from ``from_stage`` to ``to_stage`` if still at that stage and version; False otherwise.
    ``closed_on`` is kept only when the case is closed."""
    done = session.execute(
        text(
            "UPDATE cases SET stage = CAST(:to AS case_stage), "
            "closed_on = CASE WHEN :to = 'closed' THEN :today ELSE NULL END, "
            "version = version + 1, updated_by = :by, updated_at = now() "
            "WHERE id = :id AND version = :v AND stage = CAST(:from AS case_stage) RETURNING id"
        ),
        {"to": to_stage, "today": closed_on, "by": by, "id": case_id, "v": expected_version, "from": from_stage},
    ).scalar()
    return done is not None


def add_transition(session: Session, case_id: int, from_stage: str | None, to_stage: str, reason: str, by: str) -> None:
    """Record a step of the case's stage history."""
    session.execute(
        text(
            "INSERT INTO case_transitions (case_id, from_stage, to_stage, reason, created_by) "
            "VALUES (:c, CAST(:f AS case_stage), CAST(:t AS case_stage), :r, :by)"
        ),
        {"c": case_id, "f": from_stage, "t": to_stage, "r": reason, "by": by},
    )


def delete_case(session: Session, case_id: int) -> None:
    """Delete the case (its people, notes, files and links go with it)."""
    session.execute(text("DELETE FROM cases WHERE id = :id"), {"id": case_id})


def stage_counts(session: Session, start: date, end: date) -> list[Row]:
    """Visible cases active during ``start``-``end``, by stage: ``active`` and ``received`` in the period."""
    return list(
        session.execute(
            text("""
            SELECT stage::text AS stage, count(*) AS active,
                   count(*) FILTER (WHERE received_on >= :s) AS received
            FROM cases WHERE received_on <= :e AND (closed_on IS NULL OR closed_on >= :s)
            GROUP BY 1"""),
            {"s": start, "e": end},
        ).mappings()
    )


def province_stage_counts(session: Session, start: date, end: date) -> list[Row]:
    """Visible cases active during ``start``-``end`` by province and stage: ``active`` and ``received``."""
    return list(
        session.execute(
            text("""
            SELECT province_code, stage::text AS stage, count(*) AS active,
                   count(*) FILTER (WHERE received_on >= :s) AS received
            FROM cases WHERE received_on <= :e AND (closed_on IS NULL OR closed_on >= :s)
            GROUP BY 1, 2"""),
            {"s": start, "e": end},
        ).mappings()
    )


# --- the parts of a case page, for many cases at once --------------------------------------------------------
def _by_case(session: Session, sql: str, case_ids: Sequence[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    if case_ids:
        for r in session.execute(text(sql), {"ids": list(case_ids)}).mappings():
            row = dict(r)
            out[row.pop("case_id")].append(row)
    return out


def links_of(session: Session, case_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Each case's evidence links, oldest first."""
    return _by_case(
        session,
        "SELECT case_id, id, target_type::text AS target_type, target_id, reason, created_by, created_at "
        "FROM case_links WHERE case_id = ANY(:ids) ORDER BY case_id, created_at, id",
        case_ids,
    )


def transitions_of(session: Session, case_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Each case's stage history, in order."""
    return _by_case(
        session,
        "SELECT case_id, from_stage, to_stage, reason, created_by, created_at FROM case_transitions "
        "WHERE case_id = ANY(:ids) ORDER BY case_id, id",
        case_ids,
    )


def notes_of(session: Session, case_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Each case's notes that the caller may read (row-level security), in order."""
    return _by_case(
        session,
        "SELECT case_id, id, body, confidential, created_by, created_at FROM case_notes "
        "WHERE case_id = ANY(:ids) ORDER BY case_id, id",
        case_ids,
    )


def parties_of(session: Session, case_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Each case's agencies and officials concerned, in order."""
    return _by_case(
        session,
        "SELECT case_id, id, name, position, agency, party_role::text AS party_role, note FROM case_parties "
        "WHERE case_id = ANY(:ids) ORDER BY case_id, id",
        case_ids,
    )


def attachments_of(session: Session, case_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Each case's files (without their content), in order."""
    return _by_case(
        session,
        "SELECT case_id, id, filename, content_type, size_bytes, sha256, description, created_by, created_at "
        "FROM case_attachments WHERE case_id = ANY(:ids) ORDER BY case_id, id",
        case_ids,
    )


# --- people, notes, files ------------------------------------------------------------------------------------
def add_assignments(session: Session, case_id: int, usernames: Sequence[str], by: str) -> None:
    """Assign these investigators to the case (those already assigned stay as they are)."""
    if usernames:
        session.execute(
            text(
                "INSERT INTO case_assignments (case_id, username, created_by) "
                "SELECT :c, u, :by FROM unnest(CAST(:u AS text[])) WITH ORDINALITY AS x(u, n) ORDER BY n "
                "ON CONFLICT DO NOTHING"
            ),
            {"c": case_id, "u": list(usernames), "by": by},
        )


def remove_assignment(session: Session, case_id: int, username: str) -> None:
    """Take an investigator off the case."""
    session.execute(
        text("DELETE FROM case_assignments WHERE case_id = :c AND username = :u"), {"c": case_id, "u": username}
    )


def insert_party(session: Session, case_id: int, values: dict[str, Any], by: str) -> int:
    """Add a party (``values``: name, position, agency, role, note); returns its id."""
    return session.execute(
        text(
            "INSERT INTO case_parties (case_id, name, position, agency, party_role, note, created_by) "
            "VALUES (:c, :name, :position, :agency, CAST(:role AS party_role), :note, :by) RETURNING id"
        ),
        {"c": case_id, **values, "by": by},
    ).scalar_one()


def delete_party(session: Session, case_id: int, party_id: int) -> Row | None:
    """Remove a party of the case; returns what it was, or None when there is no such party."""
    return (
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


def insert_note(session: Session, case_id: int, body: str, confidential: bool, by: str) -> int:
    """Add a note; returns its id."""
    return session.execute(
        text(
            "INSERT INTO case_notes (case_id, body, confidential, created_by) VALUES (:c, :b, :conf, :by) RETURNING id"
        ),
        {"c": case_id, "b": body, "conf": confidential, "by": by},
    ).scalar_one()


def insert_attachment(session: Session, case_id: int, values: dict[str, Any], by: str) -> int | None:
    """Keep a file (``values``: f, ct, n, h, d, data); returns its id, or None when the case already has a
    file with this SHA-256."""
    return session.execute(
        text(
            "INSERT INTO case_attachments "
            "(case_id, filename, content_type, size_bytes, sha256, description, data, created_by) "
            "VALUES (:c, :f, :ct, :n, :h, :d, :data, :by) ON CONFLICT (case_id, sha256) DO NOTHING RETURNING id"
        ),
        {"c": case_id, **values, "by": by},
    ).scalar()


def attachment(session: Session, case_id: int, attachment_id: int) -> Any:
    """The file (data, content_type, filename, sha256), or None."""
    return session.execute(
        text("SELECT data, content_type, filename, sha256 FROM case_attachments WHERE id = :a AND case_id = :c"),
        {"a": attachment_id, "c": case_id},
    ).first()


# --- evidence links ------------------------------------------------------------------------------------------
def linked_targets(session: Session, case_id: int, target_type: str | None = None) -> list[str]:
    """The ids of what the case links (of one type when given), in the order they were linked."""
    return list(
        session.execute(
            text(
                "SELECT target_id FROM case_links WHERE case_id = :c "
                "AND (CAST(:t AS text) IS NULL OR target_type::text = :t) ORDER BY id"
            ),
            {"c": case_id, "t": target_type},
        ).scalars()
    )


def linked_pairs(session: Session, case_id: int) -> set[tuple[str, str]]:
    """(target_type, target_id) of everything the case links."""
    rows = session.execute(
        text("SELECT target_type::text, target_id FROM case_links WHERE case_id = :c"), {"c": case_id}
    ).all()
    return {(r[0], r[1]) for r in rows}


def insert_links(session: Session, case_id: int, links: Sequence[tuple[str, str, str]], by: str) -> list[int]:
    """Link (target_type, target_id, reason) triples in their order; returns the new link ids in that order.
    Links the case has already are skipped (fewer ids than triples)."""
    if not links:
        return []
    types, ids, reasons = (list(col) for col in zip(*links, strict=True))
    rows = session.execute(
        text(
            "INSERT INTO case_links (case_id, target_type, target_id, reason, created_by) "
            "SELECT :c, CAST(t AS link_target), i, r, :by "
            "FROM unnest(CAST(:t AS text[]), CAST(:i AS text[]), CAST(:r AS text[])) WITH ORDINALITY AS x(t, i, r, n) "
            "ORDER BY n ON CONFLICT DO NOTHING RETURNING id"
        ),
        {"c": case_id, "t": types, "i": ids, "r": reasons, "by": by},
    ).scalars()
    return sorted(rows)


def delete_link(session: Session, case_id: int, link_id: int) -> Row | None:
    """Remove a link of the case; returns what it linked, or None when there is no such link."""
    return (
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


def still_linked(session: Session, target_type: str, target_ids: Sequence[str]) -> set[str]:
    """Which of these targets any case still links, including cases the caller may not see (migration 0018's
    ``case_linked_targets``: only the ids come back)."""
    if not target_ids:
        return set()
    return set(
        session.execute(
            text("SELECT case_linked_targets(CAST(:t AS link_target), CAST(:i AS text[]))"),
            {"t": target_type, "i": list(target_ids)},
        ).scalars()
    )


def linked_ids(session: Session, target_type: str) -> set[str]:
    """Every target id of this kind that any case links, including cases the caller may not see (migration
    0020's ``case_linked_ids``: only the ids come back)."""
    return set(
        session.execute(
            text("SELECT case_linked_ids(CAST(:t AS link_target))"),
            {"t": target_type},
        ).scalars()
    )


# --- for opendata (the transparency page): counts only ---
def fiscal_year_stage_counts(session: Session) -> list[Row]:
    """Visible cases by fiscal year (BE, of their receipt) and current stage: ``n``; and the latest change of
    any of them (``last_update``, the same on every row). Counts only: no other column leaves."""
    return list(
        session.execute(
            text("""
            SELECT fiscal_year_be, stage::text AS stage, count(*) AS n,
                   max(max(updated_at)) OVER () AS last_update
            FROM cases GROUP BY 1, 2 ORDER BY 1, 2""")
        ).mappings()
    )
