"""Stream GeoJSON out of PostGIS with constant memory: COPY (SELECT feature::text ...) TO STDOUT.

PostgreSQL serialises each feature; this module only frames them: a FeatureCollection (features joined
by commas) or newline-delimited features. COPY's text format doubles backslashes, which is undone on
whole rows (a row never splits an escape pair).

A stream cannot lie about being complete. It ends with what was actually sent: the number of features and
the SHA-256 of the bytes before it (a FeatureCollection's last members ``numberReturned`` and ``sha256``,
covering the document up to and including the ``]`` that closes ``features``; newline-delimited GeoJSON's
last line ``{"type": "ExportSummary", "numberReturned": n, "sha256": ...}``, covering every line before
it). Those are written only after the last row; a failure half-way (the database gone) raises out of the
generator, and the server then closes the connection without the chunked body's terminating chunk, so the
client sees an incomplete read, never a short 200.
"""

from __future__ import annotations

import hashlib
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
        assert raw is not None  # a pooled psycopg connection
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
    """``{...header, "features": [ ... ], "numberReturned": n, "sha256": "..."}`` streamed.

    PostgreSQL writes each feature with a leading comma (",{...}\n"); only the very first comma is
    dropped here, so the blocks pass through untouched (the newlines are JSON whitespace).
    """
    digest = hashlib.sha256()
    head = orjson.dumps({"type": "FeatureCollection", **header})
    head = head[:-1] + b',"features":['
    digest.update(head)
    yield head
    sub = stmt.subquery("features")
    first = True
    count = 0
    for block in _rows(engine, select(literal(",") + sub.c.feature)):
        block = block[1:] if first else block
        first = False
        count += block.count(b"\n")
        digest.update(block)
        yield block
    digest.update(b"]")
    yield b"]" + orjson.dumps({"numberReturned": count, "sha256": digest.hexdigest()}).replace(b"{", b",", 1)


def feature_lines(engine: Engine, stmt) -> Iterator[bytes]:
    """One GeoJSON Feature per line (newline-delimited GeoJSON), then the ExportSummary line."""
    digest = hashlib.sha256()
    count = 0
    for block in _rows(engine, stmt):
        count += block.count(b"\n")
        digest.update(block)
        yield block
    yield orjson.dumps({"type": "ExportSummary", "numberReturned": count, "sha256": digest.hexdigest()}) + b"\n"
