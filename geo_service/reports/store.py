"""The briefs store: the only module that names the ``briefs`` table in SQL.

Functions run in the caller's transaction and never commit (README, Layout).
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session


def insert_brief(
    session: Session,
    *,
    period_from: date,
    period_to: date,
    fiscal_year_be: int,
    quarter: int | None,
    data_version: str,
    figures: dict,
    created_by: str,
    province_code: str | None = None,
) -> int:
    """Store a brief's figures with the data version they came from (and its province; None: national);
    returns the new brief's id."""
    return session.execute(
        text("""
        INSERT INTO briefs (period_from, period_to, fiscal_year_be, quarter, data_version, province_code, figures,
                            created_by)
        VALUES (:s, :e, :fy, :q, :v, :p, CAST(:f AS jsonb), :by) RETURNING id"""),
        {
            "s": period_from,
            "e": period_to,
            "fy": fiscal_year_be,
            "q": quarter,
            "v": data_version,
            "f": json.dumps(figures, ensure_ascii=False),
            "by": created_by,
            "p": province_code,
        },
    ).scalar_one()


def brief_row(session: Session, brief_id: int) -> dict | None:
    """One stored brief (id, data_version, figures, created_by, created_at), or None."""
    row = (
        session.execute(
            text("SELECT id, data_version, province_code, figures, created_by, created_at FROM briefs WHERE id = :id"),
            {"id": brief_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def list_briefs(session: Session) -> list[dict]:
    """Every stored brief without its figures, newest first."""
    rows = (
        session.execute(
            text(
                "SELECT id, period_from, period_to, fiscal_year_be, quarter, province_code, data_version, "
                "created_by, created_at FROM briefs ORDER BY id DESC"
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


# --- public briefs (migration 0029, the transparency page) ---
def set_public(session: Session, brief_id: int, public: bool, by: str) -> dict | None:
    """Mark a brief public (or withdraw it), recording who and when; its id, public, published_at and
    published_by, or None when there is no such brief."""
    row = (
        session.execute(
            text("""
            UPDATE briefs SET public = :pub,
                   published_at = CASE WHEN :pub THEN now() END, published_by = CASE WHEN :pub THEN :by END
            WHERE id = :id RETURNING id, public, published_at, published_by"""),
            {"id": brief_id, "pub": public, "by": by},
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def public_briefs(session: Session) -> list[dict]:
    """The briefs marked public, newest period first: period, fiscal year, quarter, province and when they were
    made and published (no figures, no author)."""
    rows = session.execute(
        text(
            "SELECT id, period_from, period_to, fiscal_year_be, quarter, province_code, created_at, published_at "
            "FROM briefs WHERE public ORDER BY period_from DESC, id DESC"
        )
    ).mappings()
    return [dict(r) for r in rows]


def public_brief(session: Session, brief_id: int) -> dict | None:
    """A brief marked public: its id, data version and publication time; None when absent or not public."""
    row = (
        session.execute(
            text("SELECT id, data_version, published_at FROM briefs WHERE id = :id AND public"), {"id": brief_id}
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None
