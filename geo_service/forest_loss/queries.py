"""Reads of clearing patches (issue 14): what the routes, maps, summaries, suggestions and case links ask."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def existing_patch_ids(session: Session, ids: list[str]) -> set[str]:
    """Which of these clearing-patch ids exist (ids as the case links hold them: text)."""
    wanted = [i for i in ids if i.isdigit()]
    if not wanted:
        return set()
    rows = session.execute(
        text("SELECT id::text FROM clearing_patches WHERE id = ANY(CAST(:ids AS bigint[]))"), {"ids": wanted}
    )
    return {r[0] for r in rows}
