"""API keys for partner systems: shown once, stored as SHA-256, scoped to collections, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection, Mapping

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal, Role
from geo_service.errors import InvalidInput, NotFound, Unauthorized

# What a key may be scoped to: the collections partners may pull.
SCOPES = (
    "districts",
    "subdistricts",
    "protected_areas",
    "incidents",
    "hotspots",
    "fire_events",
    "rasters",
    "clearing_patches",
    "forest_loss_by_district",
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scope(scope: str) -> tuple[str, frozenset[str] | None]:
    """'incidents' (every property the partner role may see) or 'incidents:kind,observed_at' (only those).

    'incidents:' (a colon and no field) lists no field: the key reads geometry and id only, never everything.
    """
    name, colon, fields = scope.partition(":")
    return name.strip(), frozenset(f.strip() for f in fields.split(",") if f.strip()) if colon else None


def create_key(
    session: Session,
    name: str,
    scopes: list[str],
    principal: Principal,
    properties: Mapping[str, Collection[str]] | None = None,
) -> dict:
    """A new key for a partner (returned once, with its id, prefix and scopes; only its hash is kept), audited.

    ``properties``: collection -> the properties it publishes (the exports' catalogue), to refuse a scope that
    names a field the collection does not have; a collection missing from it is not checked.
    """
    properties = properties or {}
    problems = []
    for scope in scopes:
        collection, fields = parse_scope(scope)
        if collection not in SCOPES:
            problems.append(f"unknown collection '{collection}'")
        elif fields is not None and not fields:
            problems.append(f"'{scope}' names no field: give the fields after the colon, or no colon for all")
        elif fields is not None and collection in properties:
            unknown_fields = sorted(fields - set(properties[collection]))
            if unknown_fields:
                problems.append(f"{collection} has no field(s) {', '.join(unknown_fields)}")
    if problems or not scopes:
        raise InvalidInput(
            "Scopes are collections (" + ", ".join(SCOPES) + "), optionally with the only fields "
            "the key may read, e.g. incidents:kind,observed_at,district_code. " + "; ".join(problems),
            code="unknown_scope",
        )
    prefix = secrets.token_hex(6)
    key = f"gsk_{prefix}_{secrets.token_urlsafe(32)}"
    key_id = session.execute(
        text(
            "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_by) VALUES (:n, :p, :h, :s, :by) RETURNING id"
        ),
        {"n": name, "p": prefix, "h": _hash(key), "s": sorted(set(scopes)), "by": principal.name},
    ).scalar_one()
    audit.record(
        session,
        principal.name,
        "create",
        "api_key",
        key_id,
        after={"name": name, "prefix": prefix, "scopes": sorted(set(scopes))},
    )
    return {"id": key_id, "name": name, "prefix": prefix, "scopes": sorted(set(scopes)), "key": key}


def list_keys(session: Session) -> list[dict]:
    """Every key (revoked ones too), without the key itself."""
    rows = (
        session.execute(
            text(
                "SELECT id, name, prefix, scopes, created_by, created_at, revoked_at, last_used_at "
                "FROM api_keys ORDER BY id"
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def revoke_key(session: Session, key_id: int, principal: Principal) -> None:
    """Revoke an active key (NotFound if there is none with this id), audited."""
    done = session.execute(
        text("UPDATE api_keys SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL RETURNING name"),
        {"id": key_id},
    ).scalar()
    if done is None:
        raise NotFound("No active API key with this number.")
    audit.record(session, principal.name, "revoke", "api_key", key_id, after={"name": done})


def principal_for_key(session: Session, key: str) -> Principal:
    """The partner principal of a valid, unrevoked key (Unauthorized otherwise); records when it was last used,
    in the caller's transaction."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "gsk":
        raise Unauthorized("The API key is not valid.")
    row = session.execute(
        text("SELECT id, name, key_hash, scopes, revoked_at FROM api_keys WHERE prefix = :p"), {"p": parts[1]}
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)) or row.revoked_at is not None:
        raise Unauthorized("The API key is not valid or was revoked.")
    # "last used" to the minute: a partner paging through a collection does not write a row per request
    session.execute(
        text(
            "UPDATE api_keys SET last_used_at = now() WHERE id = :id "
            "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"
        ),
        {"id": row.id},
    )
    parsed = [parse_scope(s) for s in row.scopes]
    return Principal(
        f"apikey:{row.name}",
        frozenset({Role.partner}),
        display_name=row.name,
        scopes=frozenset(c for c, _ in parsed),
        fields=tuple((c, f) for c, f in parsed if f is not None),
    )
