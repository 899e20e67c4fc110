"""Stream GeoJSON out of PostGIS with constant memory: COPY (SELECT feature::text ...) TO STDOUT.

PostgreSQL serialises each feature; this module only frames them: a FeatureCollection (features joined
by commas) or newline-delimited features. COPY's text format doubles backslashes, which is undone on
whole rows (a row never splits an escape pair).
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from sqlalchemy import Engine, literal, select

from geo_service.exports.query import compile_for_psycopg

FLUSH = 1 << 20  # bytes per chunk sent to the client


def _rows(engine: Engine, stmt) -> Iterator[bytes]:
    """Blocks of whole rows, each row ending in a newline, COPY escapes undone."""
    sql, params = compile_for_psycopg(stmt)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
            carry = b""
            pending: list[bytes] = []
            size = 0
            for block in copy:
                data = carry + bytes(block)
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                if cut:
                    whole = data[:cut]
                    if b"\\" in whole:
                        whole = whole.replace(b"\\\\", b"\\")
                    pending.append(whole)
                    size += len(whole)
                    if size >= FLUSH:
                        yield b"".join(pending)
                        pending, size = [], 0
            if pending:
                yield b"".join(pending)
        conn.rollback()


def feature_collection(engine: Engine, stmt, header: dict) -> Iterator[bytes]:
    """``{...header, "features": [ ... ]}`` streamed.

    PostgreSQL writes each feature with a leading comma (",{...}\n"); only the very first comma is
    dropped here, so the blocks pass through untouched (the newlines are JSON whitespace).
    """
    head = orjson.dumps({"type": "FeatureCollection", **header})
    yield head[:-1] + b',"features":['
    sub = stmt.subquery("features")
    first = True
    for block in _rows(engine, select(literal(",") + sub.c.feature)):
        yield block[1:] if first else block
        first = False
    yield b"]}"


def feature_lines(engine: Engine, stmt) -> Iterator[bytes]:
    """One GeoJSON Feature per line (newline-delimited GeoJSON)."""
    yield from _rows(engine, stmt)
