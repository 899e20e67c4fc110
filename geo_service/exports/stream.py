"""Stream GeoJSON out of PostGIS with constant memory: COPY (SELECT feature::text ...) TO STDOUT.

PostgreSQL serialises each feature; this module only frames them: a FeatureCollection (features joined
by commas) or newline-delimited features. COPY's text format doubles backslashes, which is undone on
whole rows (a row never splits an escape pair).
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from sqlalchemy import Engine

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
                    whole = data[:cut].replace(b"\\\\", b"\\")
                    pending.append(whole)
                    size += len(whole)
                    if size >= FLUSH:
                        yield b"".join(pending)
                        pending, size = [], 0
            if pending:
                yield b"".join(pending)
        conn.rollback()


def feature_collection(engine: Engine, stmt, header: dict) -> Iterator[bytes]:
    """``{...header, "features": [ ... ]}`` streamed."""
    head = orjson.dumps({"type": "FeatureCollection", **header})
    yield head[:-1] + b',"features":['
    first = True
    for block in _rows(engine, stmt):
        body = block[:-1].replace(b"\n", b",")  # rows -> comma-separated features
        yield body if first else b"," + body
        first = False
    yield b"]}"


def feature_lines(engine: Engine, stmt) -> Iterator[bytes]:
    """One GeoJSON Feature per line (newline-delimited GeoJSON)."""
    yield from _rows(engine, stmt)
