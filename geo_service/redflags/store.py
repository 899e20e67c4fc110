"""SQL on the red-flag tables: contracts, parcels (land documents), their history, the flags and theirs.

Contracts and parcels are upserted set-based (one statement per load: the rows travel as one JSON array), each
new or changed row bumps ``version`` and writes its history row in the same statement. A contract's area is its
polygon, or its line buffered by half its stated width on each side (flat ends) in the line's UTM zone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.redflags.labels import DOC_LABELS, RULE_LABELS, SEVERITY_LABELS, STATUS_LABELS, WORK_LABELS, label
from geo_service.thai import M2_PER_HECTARE, M2_PER_RAI, fiscal_year_be

CONTRACT_FIELDS = (
    "contract_number",
    "project_name",
    "agency",
    "contractor",
    "work_type",
    "budget_thb",
    "paid_thb",
    "fiscal_year_be",
    "start_date",
    "end_date",
    "delivery_date",
    "quantities",
    "named_district_code",
    "named_reserve_code",
    "width_m",
)
PARCEL_FIELDS = ("doc_type", "doc_number", "issue_date", "issuing_office", "confidential")
_CONTRACT_TYPES = {
    "budget_thb": "numeric",
    "paid_thb": "numeric",
    "fiscal_year_be": "int",
    "start_date": "date",
    "end_date": "date",
    "delivery_date": "date",
    "quantities": "jsonb",
    "width_m": "float8",
}
_PARCEL_TYPES = {"issue_date": "date", "confidential": "boolean"}


def area_sql(geom: str, width: str) -> str:
    """SQL for a contract's area: a polygon as it is, a line buffered by half its width each side (flat ends)."""
    return (
        f"ST_Multi(ST_CollectionExtract(CASE WHEN GeometryType({geom}) IN ('LINESTRING', 'MULTILINESTRING') "
        f"THEN ST_Transform(ST_Buffer(ST_Transform({geom}, utm_srid({geom})), {width} / 2.0, "
        f"'endcap=flat join=round'), 4326) ELSE {geom} END, 3))"
    )


def _record(fields: tuple[str, ...], types: dict[str, str]) -> str:
    return ", ".join(f"{f} {types.get(f, 'text')}" for f in fields) + ", wkt text"


def _json_default(o: Any) -> Any:
    if isinstance(o, date):
        return o.isoformat()
    return str(o)


# --- province scope --------------------------------------------------------------------------------
# A flag is within a caller's provinces when its own province is, or when one of its contracts lies in them: a double
# payment across a provincial border (its province is its first contract's) is seen by both provinces' people.
# The one definition: the flag lists, map, sheets and brief use FLAG_SCOPE (the caller's provinces as a parameter);
# the alert matcher uses ``flag_in_scope_sql`` (each recipient's provinces as a column), so who is alerted of a flag
# is who may read it. A contract is within them when its own province is (``contract_scope_sql``: the contract lists
# and ``visible``; the alert matcher's ``contract_in_scope_sql`` for contract-area subscriptions).
_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def contract_scope_sql(provinces: str, contract: str = "c") -> str:
    """The condition keeping the contract ``contract`` (an alias of ``redflag_contracts``) within the provinces of
    the SQL ``text[]`` expression ``provinces``: its own province (from its area) is among them. A contract outside
    every loaded province (no province code) is in no provincial scope."""
    return f"{contract}.province_code = ANY({provinces})"


def flag_scope_sql(provinces: str, flag: str = "f") -> str:
    """The condition keeping the red flag ``flag`` (an alias of ``red_flags``) within the provinces of the SQL
    ``text[]`` expression ``provinces``: its own province is among them, or one of its contracts lies in them."""
    return f"""({flag}.province_code = ANY({provinces})
    OR EXISTS (SELECT 1 FROM redflag_contracts sc WHERE sc.id = ANY({flag}.contract_ids)
               AND {contract_scope_sql(provinces, "sc")}))"""


FLAG_SCOPE = flag_scope_sql("CAST(:scope_provinces AS text[])")


def flag_in_scope_sql(flag_id: str, provinces: str) -> str:
    """For another domain's statement (the alert matcher): an SQL condition true when the red flag whose id is the
    column ``flag_id`` lies within the provinces of the ``text[]`` column ``provinces`` (FLAG_SCOPE's rule).

    Both are column names (``alias.column``) interpolated into the SQL, so only such names are accepted."""
    if not (_SQL_NAME.fullmatch(flag_id) and _SQL_NAME.fullmatch(provinces)):
        raise ValueError("flag_in_scope_sql takes column names only")
    return f"EXISTS (SELECT 1 FROM red_flags rf WHERE rf.id = {flag_id} AND {flag_scope_sql(provinces, 'rf')})"


def contract_in_scope_sql(contract_id: str, provinces: str) -> str:
    """For another domain's statement (the alert matcher): an SQL condition true when the contract whose id is the
    column ``contract_id`` (bigint) exists and lies within the provinces of the ``text[]`` column ``provinces``
    (the rule of ``scope_sql("c", ...)`` and ``visible("contract", ...)``).

    Both are column names (``alias.column``) interpolated into the SQL, so only such names are accepted."""
    if not (_SQL_NAME.fullmatch(contract_id) and _SQL_NAME.fullmatch(provinces)):
        raise ValueError("contract_in_scope_sql takes column names only")
    return (
        f"EXISTS (SELECT 1 FROM redflag_contracts rc WHERE rc.id = {contract_id} "
        f"AND {contract_scope_sql(provinces, 'rc')})"
    )


def scope_sql(alias: str, provinces: frozenset[str] | None) -> tuple[str, dict[str, Any]]:
    """The condition keeping a contract (``c``), parcel (``p``) or flag (``f``: FLAG_SCOPE) query within
    ``provinces`` (None: every one).

    A record outside every loaded province (no province code) is seen by national callers only."""
    if provinces is None:
        return "TRUE", {}
    if alias not in ("c", "p", "f"):  # interpolated into the SQL: only these names
        raise ValueError("unknown alias")
    if alias == "f":
        return FLAG_SCOPE, {"scope_provinces": sorted(provinces)}
    if alias == "c":
        return contract_scope_sql("CAST(:scope_provinces AS text[])"), {"scope_provinces": sorted(provinces)}
    return f"{alias}.province_code = ANY(CAST(:scope_provinces AS text[]))", {"scope_provinces": sorted(provinces)}


def visible(session: Session, kind: str, record_id: int, provinces: frozenset[str] | None) -> bool:
    """Whether the contract, parcel or flag (``kind``) exists and lies within ``provinces`` (None: every one)."""
    table, alias = {
        "contract": ("redflag_contracts", "c"),
        "parcel": ("redflag_parcels", "p"),
        "flag": ("red_flags", "f"),
    }[kind]
    cond, params = scope_sql(alias, provinces)
    return (
        session.execute(
            text(f"SELECT 1 FROM {table} {alias} WHERE {alias}.id = :id AND {cond}"), {"id": record_id, **params}
        ).first()
        is not None
    )


# the records whose province is derived from their shape: (table, geometry column)
_PROVINCE_OF = {"contract": ("redflag_contracts", "area_geom"), "parcel": ("redflag_parcels", "geom")}


def _move_provinces(session: Session, kind: str, ids: list[int] | None) -> list[int]:
    """Store the province of these contracts or parcels (``ids`` None: every one) from their shape; the ids whose
    province changed. Table and column come from ``_PROVINCE_OF`` (constants), the ids are bound."""
    table, geom = _PROVINCE_OF[kind]
    only = "id = ANY(CAST(:ids AS bigint[])) AND" if ids is not None else ""
    return list(
        session.scalars(
            text(f"""UPDATE {table} SET province_code = redflag_province_of({geom})
                     WHERE {only} province_code IS DISTINCT FROM redflag_province_of({geom}) RETURNING id"""),
            {"ids": ids} if ids is not None else {},
        )
    )


def refresh_provinces(
    session: Session, *, contract_ids: list[int] | None = None, parcel_ids: list[int] | None = None
) -> None:
    """Store the province of these contracts and parcels (from their area through the districts), set-based; the
    flags naming one whose province changed (dismissed ones too) follow it."""
    moved_contracts = _move_provinces(session, "contract", contract_ids) if contract_ids else []
    moved_parcels = _move_provinces(session, "parcel", parcel_ids) if parcel_ids else []
    if moved_contracts or moved_parcels:
        _refresh_flag_provinces(
            session,
            "f2.contract_ids && CAST(:cids AS bigint[]) OR f2.parcel_ids && CAST(:pids AS bigint[])",
            {"cids": moved_contracts, "pids": moved_parcels},
        )


def refresh_all_provinces(session: Session) -> None:
    """Re-derive every contract's and parcel's province (after a boundary layer changed), then every flag's."""
    _move_provinces(session, "contract", None)
    _move_provinces(session, "parcel", None)
    refresh_flag_provinces(session)


def refresh_flag_provinces(session: Session, *, flag_ids: list[int] | None = None) -> None:
    """Give each flag among ``flag_ids`` (None: every flag, after a boundary change) the province of its (first)
    contract or parcel, else of its reserve cell's shape; only the rows whose province differs are written."""
    if flag_ids is None:
        _refresh_flag_provinces(session, "TRUE", {})
    elif flag_ids:
        _refresh_flag_provinces(session, "f2.id = ANY(CAST(:ids AS bigint[]))", {"ids": flag_ids})


def _refresh_flag_provinces(session: Session, where: str, values: dict[str, Any]) -> None:
    # ``where``: a fixed condition on the flags ``f2`` of this module (never user text), its values bound
    session.execute(
        text(f"""
        UPDATE red_flags f SET province_code = n.code
        FROM (SELECT f2.id, coalesce(
                (SELECT c.province_code FROM redflag_contracts c WHERE c.id = f2.contract_ids[1]),
                (SELECT p.province_code FROM redflag_parcels p WHERE p.id = f2.parcel_ids[1]),
                CASE WHEN f2.geom IS NOT NULL AND cardinality(f2.contract_ids) = 0 AND cardinality(f2.parcel_ids) = 0
                     THEN redflag_province_of(f2.geom) END) AS code
              FROM red_flags f2 WHERE {where}) n
        WHERE n.id = f.id AND f.province_code IS DISTINCT FROM n.code"""),
        values,
    )


def upsert_contracts(session: Session, rows: list[dict], *, actor: str, layer: str | None, version: str | None) -> dict:
    """Insert new contracts and update changed ones (by contract number); unchanged rows stay as they are.

    Each row holds CONTRACT_FIELDS and ``wkt`` (EPSG:4326). Returns counts and the ids touched."""
    cols = ", ".join(CONTRACT_FIELDS)
    changed = " OR ".join(f"c.{f} IS DISTINCT FROM EXCLUDED.{f}" for f in CONTRACT_FIELDS if f != "contract_number")
    sets = ", ".join(f"{f} = EXCLUDED.{f}" for f in CONTRACT_FIELDS if f != "contract_number")
    result = session.execute(
        text(f"""
        WITH src AS (
          SELECT r.*, ST_SetSRID(ST_GeomFromText(r.wkt), 4326) AS g
          FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_record(CONTRACT_FIELDS, _CONTRACT_TYPES)})
        ), shaped AS (SELECT src.*, {area_sql("g", "width_m")} AS a FROM src),
        up AS (
          INSERT INTO redflag_contracts AS c ({cols}, geom, area_geom, area_m2, source_layer, source_version,
                                              created_by, updated_by)
          SELECT {cols}, g, a, ST_Area(a::geography), :layer, :version, :actor, :actor FROM shaped
          ON CONFLICT (contract_number) DO UPDATE SET {sets}, geom = EXCLUDED.geom,
            area_geom = EXCLUDED.area_geom, area_m2 = EXCLUDED.area_m2, source_layer = EXCLUDED.source_layer,
            source_version = EXCLUDED.source_version, updated_by = EXCLUDED.updated_by, updated_at = now(),
            version = c.version + 1
          WHERE {changed} OR NOT ST_Equals(c.geom, EXCLUDED.geom)
          RETURNING c.*, (c.xmax = 0) AS inserted
        ), hist AS (
          INSERT INTO redflag_contract_history (record_id, version, action, data, changed_by)
          SELECT id, version, CASE WHEN inserted THEN 'create' ELSE 'update' END,
                 to_jsonb(up) - 'geom' - 'area_geom' - 'inserted' || jsonb_build_object('wkt', ST_AsText(geom)),
                 :actor
          FROM up RETURNING record_id, action
        )
        SELECT record_id, action FROM hist ORDER BY record_id"""),
        {"rows": json.dumps(rows, default=_json_default), "actor": actor, "layer": layer, "version": version},
    ).all()
    refresh_provinces(session, contract_ids=[r[0] for r in result])
    inserted = [r[0] for r in result if r[1] == "create"]
    updated = [r[0] for r in result if r[1] == "update"]
    return {
        "inserted": len(inserted),
        "updated": len(updated),
        "unchanged": len(rows) - len(result),
        "ids": [r[0] for r in result],
    }


def upsert_parcels(session: Session, rows: list[dict], *, actor: str, layer: str | None, version: str | None) -> dict:
    """Insert new parcels and update changed ones (by document type and number). Rows hold PARCEL_FIELDS + wkt."""
    fields = PARCEL_FIELDS
    cols = ", ".join(fields)
    changed = " OR ".join(f"p.{f} IS DISTINCT FROM EXCLUDED.{f}" for f in fields[2:])
    sets = ", ".join(f"{f} = EXCLUDED.{f}" for f in fields[2:])
    result = session.execute(
        text(f"""
        WITH src AS (
          SELECT r.*, ST_Multi(ST_SetSRID(ST_GeomFromText(r.wkt), 4326)) AS g
          FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_record(fields, _PARCEL_TYPES)})
        ), up AS (
          INSERT INTO redflag_parcels AS p ({cols}, geom, area_m2, source_layer, source_version, created_by,
                                            updated_by)
          SELECT {", ".join(f if f != "confidential" else "coalesce(confidential, true)" for f in fields)},
                 g, ST_Area(g::geography), :layer, :version, :actor, :actor FROM src
          ON CONFLICT (doc_type, doc_number) DO UPDATE SET {sets}, geom = EXCLUDED.geom, area_m2 = EXCLUDED.area_m2,
            source_layer = EXCLUDED.source_layer, source_version = EXCLUDED.source_version,
            updated_by = EXCLUDED.updated_by, updated_at = now(), version = p.version + 1
          WHERE {changed} OR NOT ST_Equals(p.geom, EXCLUDED.geom)
          RETURNING p.*, (p.xmax = 0) AS inserted
        ), hist AS (
          INSERT INTO redflag_parcel_history (record_id, version, action, data, changed_by)
          SELECT id, version, CASE WHEN inserted THEN 'create' ELSE 'update' END,
                 to_jsonb(up) - 'geom' - 'inserted' || jsonb_build_object('wkt', ST_AsText(geom)), :actor
          FROM up RETURNING record_id, action
        )
        SELECT record_id, action FROM hist ORDER BY record_id"""),
        {"rows": json.dumps(rows, default=_json_default), "actor": actor, "layer": layer, "version": version},
    ).all()
    refresh_provinces(session, parcel_ids=[r[0] for r in result])
    return {
        "inserted": sum(1 for r in result if r[1] == "create"),
        "updated": sum(1 for r in result if r[1] == "update"),
        "unchanged": len(rows) - len(result),
        "ids": [r[0] for r in result],
    }


_AREA = f"""'area', json_build_object('m2', round(CAST({{a}} AS numeric), 1),
              'rai', round(CAST({{a}} / {M2_PER_RAI} AS numeric), 2),
              'ha', round(CAST({{a}} / {M2_PER_HECTARE} AS numeric), 4))"""


def _contract_json(alias: str = "c") -> str:
    return f"""json_build_object('id', {alias}.id, 'contract_number', {alias}.contract_number,
        'project_name', {alias}.project_name, 'agency', {alias}.agency, 'contractor', {alias}.contractor,
        'work_type', {alias}.work_type, 'budget_thb', {alias}.budget_thb, 'paid_thb', {alias}.paid_thb,
        'fiscal_year_be', {alias}.fiscal_year_be, 'start_date', {alias}.start_date, 'end_date', {alias}.end_date,
        'delivery_date', {alias}.delivery_date, 'quantities', {alias}.quantities,
        'named_district_code', {alias}.named_district_code, 'named_reserve_code', {alias}.named_reserve_code,
        'width_m', {alias}.width_m, 'province_code', {alias}.province_code, {_AREA.format(a=alias + ".area_m2")}, 'version', {alias}.version,
        'source_layer', {alias}.source_layer, 'source_version', {alias}.source_version,
        'updated_by', {alias}.updated_by, 'updated_at', {alias}.updated_at,
        'geometry', ST_AsGeoJSON({alias}.geom, 7)::json, 'area_geometry', ST_AsGeoJSON({alias}.area_geom, 7)::json)"""


def _parcel_json(alias: str = "p") -> str:
    return f"""json_build_object('id', {alias}.id, 'doc_type', {alias}.doc_type, 'doc_number', {alias}.doc_number,
        'issue_date', {alias}.issue_date, 'issuing_office', {alias}.issuing_office,
        'confidential', {alias}.confidential, 'province_code', {alias}.province_code, {_AREA.format(a=alias + ".area_m2")}, 'version', {alias}.version,
        'source_layer', {alias}.source_layer, 'source_version', {alias}.source_version,
        'updated_by', {alias}.updated_by, 'updated_at', {alias}.updated_at,
        'geometry', ST_AsGeoJSON({alias}.geom, 7)::json)"""


def contract(session: Session, contract_id: int) -> dict | None:
    """One contract as JSON (geometry and area geometry as GeoJSON), or None."""
    return session.execute(
        text(f"SELECT {_contract_json()} FROM redflag_contracts c WHERE c.id = :id"), {"id": contract_id}
    ).scalar()


def list_contracts(
    session: Session,
    *,
    contractor: str | None = None,
    agency: str | None = None,
    fiscal_year_be: int | None = None,
    provinces: frozenset[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict:
    """Contracts filtered by contractor, agency and fiscal year (exact match), within ``provinces`` (None: all)."""
    cond, scope = scope_sql("c", provinces)
    where = f"""(CAST(:contractor AS text) IS NULL OR c.contractor = :contractor)
        AND (CAST(:agency AS text) IS NULL OR c.agency = :agency)
        AND (CAST(:fy AS int) IS NULL OR c.fiscal_year_be = :fy) AND {cond}"""
    params = {"contractor": contractor, "agency": agency, "fy": fiscal_year_be, **scope}
    total = session.execute(text(f"SELECT count(*) FROM redflag_contracts c WHERE {where}"), params).scalar_one()
    items = (
        session.execute(
            text(f"SELECT {_contract_json()} FROM redflag_contracts c WHERE {where} ORDER BY c.id LIMIT :l OFFSET :o"),
            {**params, "l": limit, "o": offset},
        )
        .scalars()
        .all()
    )
    return {"total": total, "items": list(items)}


def contract_shape(session: Session, contract_id: int) -> tuple[str, float | None, int] | None:
    """(geometry type, stated width, version) of a contract, or None."""
    row = session.execute(
        text("SELECT GeometryType(geom), width_m, version FROM redflag_contracts WHERE id = :id"), {"id": contract_id}
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


def update_contract(
    session: Session, contract_id: int, changes: dict, wkt: str | None, expected_version: int, actor: str
) -> bool:
    """Change the given fields (and geometry) if the contract is still at ``expected_version``; history kept.

    False when the version moved (or the contract is gone)."""
    sets = [f"{f} = CAST(:{f} AS {_CONTRACT_TYPES.get(f, 'text')})" for f in changes if f in CONTRACT_FIELDS]
    if wkt is not None:
        sets.append("geom = ST_SetSRID(ST_GeomFromText(:wkt), 4326)")
    params: dict[str, Any] = {
        **{f: (json.dumps(v) if f == "quantities" else v) for f, v in changes.items()},
        "wkt": wkt,
        "id": contract_id,
        "v": expected_version,
        "actor": actor,
    }
    row = session.execute(
        text(f"""
        UPDATE redflag_contracts SET {", ".join(sets + ["updated_by = :actor"])}, updated_at = now(),
          version = version + 1
        WHERE id = :id AND version = :v RETURNING id"""),
        params,
    ).one_or_none()
    if row is None:
        return False
    session.execute(
        text(f"""UPDATE redflag_contracts SET area_geom = {area_sql("geom", "width_m")} WHERE id = :id"""),
        {"id": contract_id},
    )
    session.execute(
        text("UPDATE redflag_contracts SET area_m2 = ST_Area(area_geom::geography) WHERE id = :id"), {"id": contract_id}
    )
    refresh_provinces(session, contract_ids=[contract_id])
    session.execute(
        text("""
        INSERT INTO redflag_contract_history (record_id, version, action, data, changed_by)
        SELECT id, version, 'update', to_jsonb(c) - 'geom' - 'area_geom' || jsonb_build_object('wkt', ST_AsText(geom)),
               :actor FROM redflag_contracts c WHERE id = :id"""),
        {"id": contract_id, "actor": actor},
    )
    return True


def update_parcel(
    session: Session, parcel_id: int, changes: dict, wkt: str | None, expected_version: int, actor: str
) -> bool:
    """Change the given fields (and polygon) if the parcel is still at ``expected_version``; history kept."""
    sets = [f"{f} = CAST(:{f} AS {_PARCEL_TYPES.get(f, 'text')})" for f in changes if f in PARCEL_FIELDS]
    if wkt is not None:
        sets.append("geom = ST_Multi(ST_SetSRID(ST_GeomFromText(:wkt), 4326))")
    row = session.execute(
        text(f"""
        UPDATE redflag_parcels SET {", ".join(sets + ["updated_by = :actor"])}, updated_at = now(),
          version = version + 1
        WHERE id = :id AND version = :v RETURNING id"""),
        {**changes, "wkt": wkt, "id": parcel_id, "v": expected_version, "actor": actor},
    ).one_or_none()
    if row is None:
        return False
    session.execute(
        text("UPDATE redflag_parcels SET area_m2 = ST_Area(geom::geography) WHERE id = :id"), {"id": parcel_id}
    )
    refresh_provinces(session, parcel_ids=[parcel_id])
    session.execute(
        text("""
        INSERT INTO redflag_parcel_history (record_id, version, action, data, changed_by)
        SELECT id, version, 'update', to_jsonb(p) - 'geom' || jsonb_build_object('wkt', ST_AsText(geom)), :actor
        FROM redflag_parcels p WHERE id = :id"""),
        {"id": parcel_id, "actor": actor},
    )
    return True


def history(session: Session, kind: str, record_id: int) -> list[dict]:
    """Every stored version of a contract or parcel (``kind``), oldest first."""
    table = {"contract": "redflag_contract_history", "parcel": "redflag_parcel_history"}[kind]
    rows = session.execute(
        text(f"""SELECT version, action, changed_by, changed_at, data FROM {table}
                 WHERE record_id = :id ORDER BY version, id"""),
        {"id": record_id},
    ).mappings()
    return [dict(r) for r in rows]


def parcel(session: Session, parcel_id: int) -> dict | None:
    """One parcel as JSON (polygon as GeoJSON), or None."""
    return session.execute(
        text(f"SELECT {_parcel_json()} FROM redflag_parcels p WHERE p.id = :id"), {"id": parcel_id}
    ).scalar()


def list_parcels(
    session: Session,
    *,
    doc_type: str | None = None,
    provinces: frozenset[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict:
    """Parcels (land documents), optionally of one document type, within ``provinces`` (None: all), by page."""
    cond, scope = scope_sql("p", provinces)
    where = f"(CAST(:t AS text) IS NULL OR p.doc_type = :t) AND {cond}"
    params = {"t": doc_type, **scope}
    total = session.execute(text(f"SELECT count(*) FROM redflag_parcels p WHERE {where}"), params).scalar_one()
    items = (
        session.execute(
            text(f"SELECT {_parcel_json()} FROM redflag_parcels p WHERE {where} ORDER BY p.id LIMIT :l OFFSET :o"),
            {**params, "l": limit, "o": offset},
        )
        .scalars()
        .all()
    )
    return {"total": total, "items": list(items)}


def _bigint_ids(ids: list[str]) -> list[str]:
    """The ids (text, as case links hold them) that can be ids of these tables (ASCII digits within bigint)."""
    return [i for i in ids if i.isascii() and i.isdigit() and len(i) < 19]


def _existing(session: Session, table: str, ids: list[str], provinces: frozenset[str] | None) -> set[str]:
    wanted = _bigint_ids(ids)
    if not wanted:
        return set()
    alias = {"red_flags": "f", "redflag_contracts": "c", "redflag_parcels": "p"}[table]
    cond, scope = scope_sql(alias, provinces)
    rows = session.execute(
        text(f"SELECT {alias}.id::text FROM {table} {alias} WHERE {alias}.id = ANY(CAST(:ids AS bigint[])) AND {cond}"),
        {"ids": wanted, **scope},
    )
    return {r[0] for r in rows}


def existing_flag_ids(session: Session, ids: list[str], provinces: frozenset[str] | None = None) -> set[str]:
    """Which of these red-flag ids exist within ``provinces`` (None: every one; as text, as case links hold them)."""
    return _existing(session, "red_flags", ids, provinces)


def existing_contract_ids(session: Session, ids: list[str], provinces: frozenset[str] | None = None) -> set[str]:
    """Which of these contract ids exist within ``provinces`` (None: every one)."""
    return _existing(session, "redflag_contracts", ids, provinces)


def existing_parcel_ids(session: Session, ids: list[str], provinces: frozenset[str] | None = None) -> set[str]:
    """Which of these parcel ids exist within ``provinces`` (None: every one)."""
    return _existing(session, "redflag_parcels", ids, provinces)


# --- a case's linked flags, contracts and parcels as GeoJSON features (cases.evidence_geojson) -----------------
# What a GIS user of the case's evidence reads (flat properties, dates ISO 8601, areas in m2, ha and rai, the codes
# with their Thai and English words). Left out, as the other kinds' readers leave out what is not the object's own
# public shape: who dismissed a flag and why, the case a flag opened or is linked to (another case, perhaps
# confidential), its figures and evidence lists, the parcels' and contracts' load history and who edited them; a
# flag's contracts and parcels are listed by id only where they lie within the reader's provinces.
def _features(rows: Sequence[Sequence[Any]], words: Callable[[dict], dict]) -> dict[str, tuple[str | None, dict]]:
    """(id, GeoJSON text, attributes) rows as a feature reader's answer, each with the words of its codes."""
    return {r[0]: (r[1], {**r[2], **words(r[2])}) for r in rows}


def _area_props(a: str) -> str:
    return (
        f"'area_m2', round(CAST({a} AS numeric), 1), 'area_ha', round(CAST({a} / {M2_PER_HECTARE} AS numeric), 2), "
        f"'area_rai', round(CAST({a} / {M2_PER_RAI} AS numeric), 2)"
    )


def flag_features(
    session: Session, ids: list[str], provinces: frozenset[str] | None = None
) -> dict[str, tuple[str | None, dict]]:
    """These red flags within ``provinces`` (FLAG_SCOPE; None: every one) as GeoJSON geometry (text, 7 decimals,
    exterior rings counter-clockwise; None for a flag without a shape) and attributes, by id (as text): rule,
    severity and status with their Thai and English words, whether the last run still found it, both reasons, its
    subject, place codes, agency, contractor, fiscal year (BE), when it was first and last found, and the ids of its
    contracts and parcels within ``provinces``."""
    wanted = _bigint_ids(ids)
    if not wanted:
        return {}
    cond, scope = scope_sql("f", provinces)
    ccond, _ = scope_sql("c", provinces)
    pcond, _ = scope_sql("p", provinces)
    rows = session.execute(
        text(f"""
        SELECT f.id::text, ST_AsGeoJSON(ST_ForcePolygonCCW(f.geom), 7), json_build_object(
          'rule', f.rule, 'severity', f.severity, 'status', f.status, 'current', f.current,
          'reason_th', f.reason_th, 'reason_en', f.reason_en, 'subject_type', f.subject_type,
          'subject_id', f.subject_id, 'province_code', f.province_code, 'district_code', f.district_code,
          'reserve_code', f.reserve_code, 'agency', f.agency, 'contractor', f.contractor,
          'fiscal_year_be', f.fiscal_year_be, 'first_found_at', f.first_found_at, 'last_found_at', f.last_found_at,
          'contract_ids', ARRAY(SELECT c.id FROM redflag_contracts c WHERE c.id = ANY(f.contract_ids) AND {ccond}
                                ORDER BY array_position(f.contract_ids, c.id)),
          'parcel_ids', ARRAY(SELECT p.id FROM redflag_parcels p WHERE p.id = ANY(f.parcel_ids) AND {pcond}
                              ORDER BY p.id))
        FROM red_flags f WHERE f.id = ANY(CAST(:ids AS bigint[])) AND {cond}"""),
        {"ids": wanted, **scope},
    ).all()

    def words(a: dict) -> dict:
        (rule_th, rule_en), (sev_th, sev_en) = label(RULE_LABELS, a["rule"]), label(SEVERITY_LABELS, a["severity"])
        status_th, status_en = label(STATUS_LABELS, a["status"])
        return {"rule_th": rule_th, "rule_en": rule_en, "severity_th": sev_th, "severity_en": sev_en,
                "status_th": status_th, "status_en": status_en}  # fmt: skip

    return _features(rows, words)


def contract_features(
    session: Session, ids: list[str], provinces: frozenset[str] | None = None
) -> dict[str, tuple[str | None, dict]]:
    """These contracts within ``provinces`` (None: every one) as GeoJSON geometry (text, 7 decimals, exterior rings
    counter-clockwise) and attributes, by id (as text). The geometry is the contract's area as the rules use it (a
    polygon as loaded, a line buffered by its stated width), as in the ``redflag_contracts`` export; attributes:
    number, project, agency, contractor, work type (code, Thai, English), budget and paid (THB), fiscal year (BE),
    start, end and delivery dates, stated width, area, the district and reserve its documents name, its province."""
    wanted = _bigint_ids(ids)
    if not wanted:
        return {}
    cond, scope = scope_sql("c", provinces)
    rows = session.execute(
        text(f"""
        SELECT c.id::text, ST_AsGeoJSON(ST_ForcePolygonCCW(c.area_geom), 7), json_build_object(
          'contract_number', c.contract_number, 'project_name', c.project_name, 'agency', c.agency,
          'contractor', c.contractor, 'work_type', c.work_type, 'budget_thb', c.budget_thb, 'paid_thb', c.paid_thb,
          'fiscal_year_be', c.fiscal_year_be, 'start_date', c.start_date, 'end_date', c.end_date,
          'delivery_date', c.delivery_date, 'width_m', c.width_m, {_area_props("c.area_m2")},
          'named_district_code', c.named_district_code, 'named_reserve_code', c.named_reserve_code,
          'province_code', c.province_code)
        FROM redflag_contracts c WHERE c.id = ANY(CAST(:ids AS bigint[])) AND {cond}"""),
        {"ids": wanted, **scope},
    ).all()

    def words(a: dict) -> dict:
        th, en = label(WORK_LABELS, a["work_type"])
        return {"work_type_th": th, "work_type_en": en}

    return _features(rows, words)


def parcel_features(
    session: Session, ids: list[str], provinces: frozenset[str] | None = None
) -> dict[str, tuple[str | None, dict]]:
    """These land-document parcels within ``provinces`` (None: every one) as GeoJSON geometry (text, 7 decimals,
    exterior rings counter-clockwise) and attributes, by id (as text): document type (code, Thai, English), number,
    issue date, issuing office, whether it is marked confidential, area, province. Parcels are confidential to
    investigators and administrators: only a case's insiders read these (``cases.evidence_geojson``)."""
    wanted = _bigint_ids(ids)
    if not wanted:
        return {}
    cond, scope = scope_sql("p", provinces)
    rows = session.execute(
        text(f"""
        SELECT p.id::text, ST_AsGeoJSON(ST_ForcePolygonCCW(p.geom), 7), json_build_object(
          'doc_type', p.doc_type, 'doc_number', p.doc_number, 'issue_date', p.issue_date,
          'issuing_office', p.issuing_office, 'confidential', p.confidential, {_area_props("p.area_m2")},
          'province_code', p.province_code)
        FROM redflag_parcels p WHERE p.id = ANY(CAST(:ids AS bigint[])) AND {cond}"""),
        {"ids": wanted, **scope},
    ).all()

    def words(a: dict) -> dict:
        th, en = label(DOC_LABELS, a["doc_type"])
        return {"doc_type_th": th, "doc_type_en": en}

    return _features(rows, words)


# --- flags ----------------------------------------------------------------------------------------
FLAG_COLUMNS = """f.id, f.flag_key, f.rule, f.severity, f.subject_type, f.subject_id, f.contract_ids, f.parcel_ids,
    f.reason_th, f.reason_en, f.figures, f.evidence, f.district_code, f.province_code, f.reserve_code, f.agency,
    f.contractor,
    f.fiscal_year_be, f.status, f.current, f.dismissed_reason, f.dismissed_by, f.dismissed_at, f.case_id, f.version,
    f.first_found_at, f.last_found_at, f.updated_at"""

FLAG_FILTER = (
    """(CAST(:district AS text) IS NULL OR f.district_code = :district)
    AND (CAST(:reserve AS text) IS NULL OR f.reserve_code = :reserve)
    AND (CAST(:agency AS text) IS NULL OR f.agency = :agency)
    AND (CAST(:contractor AS text) IS NULL OR f.contractor = :contractor
         OR EXISTS (SELECT 1 FROM redflag_contracts c WHERE c.id = ANY(f.contract_ids) AND c.contractor = :contractor))
    AND (CAST(:fy AS int) IS NULL OR f.fiscal_year_be = :fy)
    AND (CAST(:rule AS text) IS NULL OR f.rule = :rule)
    AND (CAST(:status AS text) IS NULL OR f.status = :status)
    AND (CAST(:subject AS text) IS NULL OR f.subject_type = :subject)
    AND (:all OR f.current OR f.status <> 'open')
    AND (:national OR """
    + FLAG_SCOPE
    + ")"
)


def flag_params(
    *,
    district: str | None = None,
    reserve: str | None = None,
    agency: str | None = None,
    contractor: str | None = None,
    fiscal_year_be: int | None = None,
    rule: str | None = None,
    status: str | None = None,
    subject_type: str | None = None,
    include_gone: bool = False,
    provinces: frozenset[str] | None = None,
) -> dict:
    """The bound parameters of FLAG_FILTER; ``provinces``: the caller's scope (None: every province)."""
    return {
        "district": district,
        "reserve": reserve,
        "agency": agency,
        "contractor": contractor,
        "fy": fiscal_year_be,
        "rule": rule,
        "status": status,
        "subject": subject_type,
        "all": include_gone,
        "national": provinces is None,
        "scope_provinces": sorted(provinces or ()),
    }


def list_flags(session: Session, filters: dict, *, limit: int = 100, offset: int = 0) -> dict:
    """Flags matching ``filters`` (flag_params), severity first, newest first."""
    total = session.execute(text(f"SELECT count(*) FROM red_flags f WHERE {FLAG_FILTER}"), filters).scalar_one()
    rows = session.execute(
        text(f"""SELECT {FLAG_COLUMNS} FROM red_flags f WHERE {FLAG_FILTER}
                 ORDER BY array_position(ARRAY['high', 'medium', 'low'], f.severity), f.id DESC
                 LIMIT :l OFFSET :o"""),
        {**filters, "l": limit, "o": offset},
    ).mappings()
    return {"total": total, "items": [dict(r) for r in rows]}


def flags_geojson(session: Session, filters: dict, *, limit: int = 5000) -> dict:
    """Flags matching ``filters`` as a GeoJSON FeatureCollection (the subject's area or cell)."""
    return session.execute(
        text(f"""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
          'type', 'Feature', 'id', f.id, 'geometry', ST_AsGeoJSON(f.geom, 7)::json,
          'properties', json_build_object('rule', f.rule, 'severity', f.severity, 'subject_type', f.subject_type,
            'subject_id', f.subject_id, 'reason_th', f.reason_th, 'reason_en', f.reason_en, 'status', f.status,
            'district_code', f.district_code, 'province_code', f.province_code, 'reserve_code', f.reserve_code,
            'agency', f.agency,
            'contractor', f.contractor, 'fiscal_year_be', f.fiscal_year_be)) ORDER BY f.id), '[]'::json))
        FROM (SELECT * FROM red_flags f WHERE {FLAG_FILTER} AND f.geom IS NOT NULL ORDER BY f.id LIMIT :l) f"""),
        {**filters, "l": limit},
    ).scalar_one()


# --- the flags on the staff maps (maps/flag_layers.py) -----------------------------------------------
_MAP_COLUMNS = """f.id, f.rule, f.severity, f.subject_type, f.subject_id, f.status, f.current, f.case_id, f.reason_th,
    f.reason_en, f.figures, f.agency, f.contractor, f.fiscal_year_be, f.district_code, f.reserve_code,
    f.province_code, f.dismissed_reason, f.dismissed_by,
    coalesce((SELECT json_agg(json_build_object('id', c.id, 'contract_number', c.contract_number,
                'project_name', c.project_name, 'contractor', c.contractor, 'agency', c.agency,
                'fiscal_year_be', c.fiscal_year_be) ORDER BY array_position(f.contract_ids, c.id))
              FROM redflag_contracts c WHERE c.id = ANY(f.contract_ids)
                AND (:national OR c.province_code = ANY(CAST(:scope_provinces AS text[])))), '[]') AS contracts,
    coalesce((SELECT json_agg(json_build_object('id', p.id, 'doc_type', p.doc_type, 'doc_number', p.doc_number)
                ORDER BY p.id)
              FROM redflag_parcels p WHERE p.id = ANY(f.parcel_ids)
                AND (:national OR p.province_code = ANY(CAST(:scope_provinces AS text[])))), '[]') AS parcels,
    ST_AsGeoJSON(f.geom, 5) AS geometry, count(*) OVER () AS matched"""
_MAP_ORDER = "ORDER BY array_position(ARRAY['high', 'medium', 'low'], f.severity), f.id DESC LIMIT :l"


def map_flags(
    session: Session,
    filters: dict,
    *,
    years: tuple[int, int] | None,
    include_dismissed: bool = False,
    limit: int = 5000,
) -> list[dict]:
    """The flags a staff map draws: ``filters`` (flag_params, the caller's provinces included), dismissed ones only
    with ``include_dismissed``; without a fiscal-year filter, flags about contracts of the fiscal years ``years``
    (first, last; None: every year) and every standing flag on parcels and reserve cells, as the brief counts
    them. Severity first, at most ``limit``; each row holds ``matched`` (how many matched in all), its contracts and
    parcels within the caller's provinces, and its shape as GeoJSON text."""
    lo, hi = years if years else (None, None)
    rows = session.execute(
        text(f"""SELECT {_MAP_COLUMNS} FROM red_flags f
                 WHERE {FLAG_FILTER} AND f.geom IS NOT NULL AND (:dismissed OR f.status <> 'dismissed')
                   AND (CAST(:fy AS int) IS NOT NULL OR CAST(:fy_lo AS int) IS NULL OR f.subject_type <> 'contract'
                        OR f.fiscal_year_be BETWEEN :fy_lo AND :fy_hi)
                 {_MAP_ORDER}"""),
        {**filters, "dismissed": include_dismissed, "fy_lo": lo, "fy_hi": hi, "l": limit},
    ).mappings()
    return [dict(r) for r in rows]


def case_map_flags(
    session: Session,
    *,
    flag_ids: list[int],
    reserve_codes: list[str],
    provinces: frozenset[str] | None,
    limit: int = 5000,
) -> list[dict]:
    """The flags a case's map draws: those linked to it (``flag_ids``, any status) and the open flags still found
    inside its reserves (the flag's reserve, or its shape meeting the reserve's boundary in force today), within
    ``provinces`` (None: every one). Rows as map_flags."""
    params = flag_params(provinces=provinces)
    rows = session.execute(
        text(f"""SELECT {_MAP_COLUMNS} FROM red_flags f
                 WHERE f.geom IS NOT NULL AND (:national OR {FLAG_SCOPE})
                   AND (f.id = ANY(CAST(:ids AS bigint[]))
                        OR (f.status = 'open' AND f.current
                            AND (f.reserve_code = ANY(CAST(:reserves AS text[]))
                                 OR EXISTS (SELECT 1 FROM protected_area_versions_v pa
                                            WHERE pa.code = ANY(CAST(:reserves AS text[]))
                                              AND in_force(pa.valid_from, pa.valid_to, CURRENT_DATE)
                                              AND ST_Intersects(pa.geom, f.geom)))))
                 {_MAP_ORDER}"""),
        {**params, "ids": flag_ids, "reserves": reserve_codes, "l": limit},
    ).mappings()
    return [dict(r) for r in rows]


def flag(session: Session, flag_id: int) -> dict | None:
    """One flag, or None."""
    row = (
        session.execute(text(f"SELECT {FLAG_COLUMNS} FROM red_flags f WHERE f.id = :id"), {"id": flag_id})
        .mappings()
        .one_or_none()
    )
    return dict(row) if row else None


def flag_geometry(session: Session, flag_id: int) -> dict | None:
    """A flag's geometry as GeoJSON, or None."""
    return session.execute(
        text("SELECT ST_AsGeoJSON(geom, 7)::json FROM red_flags WHERE id = :id"), {"id": flag_id}
    ).scalar()


def flag_history(session: Session, flag_ids: list[int]) -> list[dict]:
    """The history of these flags, oldest first."""
    rows = session.execute(
        text("""SELECT flag_id, action, actor, at, detail FROM red_flag_history
                WHERE flag_id = ANY(CAST(:ids AS bigint[])) ORDER BY at, id"""),
        {"ids": flag_ids},
    ).mappings()
    return [dict(r) for r in rows]


def dismiss_flag(session: Session, flag_id: int, reason: str, actor: str, expected_version: int | None) -> bool:
    """Dismiss an open or linked flag with a reason (kept in its history); False if absent, dismissed or moved."""
    row = session.execute(
        text("""
        WITH d AS (
          UPDATE red_flags SET status = 'dismissed', dismissed_reason = :reason, dismissed_by = :actor,
            dismissed_at = now(), version = version + 1, updated_at = now()
          WHERE id = :id AND status <> 'dismissed' AND (CAST(:v AS int) IS NULL OR version = :v) RETURNING id
        )
        INSERT INTO red_flag_history (flag_id, action, actor, detail)
        SELECT id, 'dismissed', :actor, jsonb_build_object('reason', CAST(:reason AS text)) FROM d RETURNING flag_id"""),
        {"id": flag_id, "reason": reason, "actor": actor, "v": expected_version},
    ).one_or_none()
    return row is not None


def set_flag_case(session: Session, flag_id: int, case_id: int, actor: str, action: str) -> None:
    """Record that the flag opened (``case_opened``) or was linked to (``linked``) a case; it becomes 'linked'."""
    session.execute(
        text("""
        WITH u AS (
          UPDATE red_flags SET status = 'linked', case_id = :case, version = version + 1, updated_at = now()
          WHERE id = :id RETURNING id
        )
        INSERT INTO red_flag_history (flag_id, action, actor, detail)
        SELECT id, :action, :actor, jsonb_build_object('case_id', CAST(:case AS int)) FROM u"""),
        {"id": flag_id, "case": case_id, "actor": actor, "action": action},
    )


def flags_of(
    session: Session,
    *,
    contract_id: int | None = None,
    parcel_id: int | None = None,
    provinces: frozenset[str] | None = None,
) -> list[dict]:
    """Every flag (dismissed and gone ones too) naming this contract or parcel, within ``provinces`` (None: all)."""
    cond, scope = scope_sql("f", provinces)
    rows = session.execute(
        text(f"""SELECT {FLAG_COLUMNS} FROM red_flags f
                 WHERE ((CAST(:c AS bigint) IS NOT NULL AND CAST(:c AS bigint) = ANY(f.contract_ids))
                    OR (CAST(:p AS bigint) IS NOT NULL AND CAST(:p AS bigint) = ANY(f.parcel_ids))) AND {cond}
                 ORDER BY f.id"""),
        {"c": contract_id, "p": parcel_id, **scope},
    ).mappings()
    return [dict(r) for r in rows]


def contractor_summary(session: Session, contractor: str, provinces: frozenset[str] | None = None) -> dict:
    """A contractor's contracts within ``provinces`` (None: all; count, budget, paid) and the flags across them."""
    cond, scope = scope_sql("c", provinces)
    fcond, _ = scope_sql("f", provinces)
    head = (
        session.execute(
            text(f"""SELECT count(*) AS contracts, coalesce(sum(budget_thb), 0) AS budget_thb,
                       coalesce(sum(paid_thb), 0) AS paid_thb, array_agg(id ORDER BY id) AS contract_ids
                FROM redflag_contracts c WHERE c.contractor = :name AND {cond}"""),
            {"name": contractor, **scope},
        )
        .mappings()
        .one()
    )
    ids = list(head["contract_ids"] or [])
    rows = session.execute(
        text(f"""SELECT {FLAG_COLUMNS} FROM red_flags f WHERE f.contract_ids && CAST(:ids AS bigint[]) AND {fcond}
                 ORDER BY f.id"""),
        {"ids": ids, **scope},
    ).mappings()
    return {
        "contractor": contractor,
        "contracts": head["contracts"],
        "budget_thb": float(head["budget_thb"]),
        "paid_thb": float(head["paid_thb"]),
        "contract_ids": ids,
        "flags": [dict(r) for r in rows],
    }


def brief_counts(session: Session, start: date, end: date, province: str | None = None) -> dict:
    """Open and linked flags still found: about contracts of the fiscal years the period touches, and every
    standing flag about parcels and reserve cells (a document issued long ago is found when it is found):
    counts by rule and severity, and by agency (contract flags); ``province``: flags of that province only (a flag
    about contracts in two provinces, a double payment across the border, counts in both; nationally once).
    No parcel, document number or owner ever leaves this function: counts only."""
    params = {"start": start, "end": end, "prov": province}
    where = f"""f.status <> 'dismissed' AND f.current
        AND (CAST(:prov AS text) IS NULL OR {flag_scope_sql("ARRAY[CAST(:prov AS text)]")})
        AND (f.subject_type <> 'contract'
             OR f.fiscal_year_be BETWEEN fiscal_year_be(CAST(:start AS date)) AND fiscal_year_be(CAST(:end AS date)))"""
    by_rule = session.execute(
        text(f"""SELECT f.rule, f.severity, count(*) AS n FROM red_flags f WHERE {where}
                 GROUP BY 1, 2 ORDER BY 1, 2"""),
        params,
    ).all()
    by_agency = session.execute(
        text(f"""SELECT f.agency, count(*) AS n, count(*) FILTER (WHERE f.severity = 'high') AS high
                 FROM red_flags f WHERE {where} AND f.subject_type = 'contract'
                 GROUP BY 1 ORDER BY 2 DESC, 1"""),
        params,
    ).all()
    return {
        "by_rule": [{"rule": r[0], "severity": r[1], "flags": r[2]} for r in by_rule],
        "by_agency": [{"agency": r[0], "flags": r[1], "high": r[2]} for r in by_agency],
        "total": sum(r[2] for r in by_rule),
        "fiscal_years_be": list(range(fiscal_year_be(start), fiscal_year_be(end) + 1)),
    }


def suggest_flags(
    session: Session,
    *,
    reserve_codes: list[str],
    district_codes: list[str],
    contract_ids: list[int],
    parcel_ids: list[int],
    skip: list[int],
    provinces: frozenset[str] | None = None,
    limit: int = 50,
) -> list[dict]:
    """Open flags about the case's reserves, districts, contracts or parcels, not yet linked to it, within the
    caller's ``provinces`` (None: every one)."""
    cond, scope = scope_sql("f", provinces)
    rows = session.execute(
        text(f"""SELECT {FLAG_COLUMNS} FROM red_flags f
                 WHERE f.status = 'open' AND f.current AND NOT (f.id = ANY(CAST(:skip AS bigint[])))
                   AND (f.reserve_code = ANY(CAST(:reserves AS text[])) OR f.district_code = ANY(CAST(:districts AS text[]))
                        OR f.contract_ids && CAST(:contracts AS bigint[]) OR f.parcel_ids && CAST(:parcels AS bigint[]))
                   AND {cond}
                 ORDER BY array_position(ARRAY['high', 'medium', 'low'], f.severity), f.id LIMIT :l"""),
        {
            "skip": skip,
            "reserves": reserve_codes,
            "districts": district_codes,
            "contracts": contract_ids,
            "parcels": parcel_ids,
            "l": limit,
            **scope,
        },
    ).mappings()
    return [dict(r) for r in rows]


def detection_points(session: Session, ids: list[int]) -> list[dict]:
    """Where and when these detections were seen (for maps of the evidence)."""
    rows = session.execute(
        text("""SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, acq_date_local AS day FROM fire_detections_v
                WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"""),
        {"ids": ids},
    ).mappings()
    return [dict(r) for r in rows]


def subject_wkb(session: Session, kind: str, record_id: int) -> bytes | None:
    """The area of a contract (as the rules use it) or a parcel's polygon, as WKB."""
    sql = {
        "contract": "SELECT ST_AsBinary(area_geom) FROM redflag_contracts WHERE id = :id",
        "parcel": "SELECT ST_AsBinary(geom) FROM redflag_parcels WHERE id = :id",
    }[kind]
    value = session.execute(text(sql), {"id": record_id}).scalar()
    return bytes(value) if value is not None else None


# --- exports and the OGC API (administrators only: exports/collections.py) -------------------------
EXPORT_FLAGS_SQL = """
SELECT f.id::text AS id, ST_Multi(ST_CollectionExtract(f.geom, 3)) AS geom, f.id AS flag_id, f.rule, f.severity,
       f.subject_type AS subj_type, f.subject_id AS subj_id, f.status, f.reason_th, f.reason_en, f.district_code,
       f.reserve_code, f.agency, f.contractor, f.fiscal_year_be AS fy_be, f.first_found_at AS found_at, f.case_id,
       f.province_code, CAST(NULL AS text) AS created_by
FROM red_flags f WHERE f.geom IS NOT NULL AND (f.current OR f.status <> 'open')"""
EXPORT_CONTRACTS_SQL = f"""
SELECT c.id::text AS id, c.area_geom AS geom, c.id AS contract_id, c.contract_number AS contract_no,
       c.project_name AS project, c.agency, c.contractor, c.work_type, CAST(c.budget_thb AS float8) AS budget_thb,
       CAST(c.paid_thb AS float8) AS paid_thb, c.fiscal_year_be AS fy_be, c.start_date, c.end_date, c.width_m,
       round(CAST(c.area_m2 / {M2_PER_RAI} AS numeric), 2)::float AS area_rai,
       round(CAST(c.area_m2 / {M2_PER_HECTARE} AS numeric), 4)::float AS area_ha,
       c.named_district_code AS named_dist, c.named_reserve_code AS named_res, c.province_code,
       CAST(NULL AS text) AS created_by
FROM redflag_contracts c"""
FLAGS_VERSION_SQL = "SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM red_flags"
CONTRACTS_VERSION_SQL = "SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM redflag_contracts"


# --- vegetation gain of reforestation plots ----------------------------------------------------------
def reforestation_plots(session: Session) -> list[tuple[int, bytes]]:
    """(id, area as WKB in EPSG:4326) of every reforestation contract, by id."""
    rows = session.execute(
        text("SELECT id, ST_AsBinary(area_geom) FROM redflag_contracts WHERE work_type = 'reforestation' ORDER BY id")
    ).all()
    return [(int(r[0]), bytes(r[1])) for r in rows]


def save_vegetation(session: Session, rows: list[dict], *, actor: str) -> None:
    """Store each plot's latest measurement (replacing the previous one): rows of contract_id, index_name,
    before_mean, after_mean, change, pixels, before_date, after_date, source."""
    if not rows:
        return
    session.execute(
        text("""
        INSERT INTO redflag_vegetation AS g (contract_id, index_name, before_mean, after_mean, change, pixels,
                                             before_date, after_date, source, measured_by)
        SELECT r.contract_id, r.index_name, r.before_mean, r.after_mean, r.change, r.pixels, r.before_date,
               r.after_date, r.source, :actor
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(contract_id bigint, index_name text, before_mean float8,
             after_mean float8, change float8, pixels int, before_date date, after_date date, source jsonb)
        ON CONFLICT (contract_id) DO UPDATE SET index_name = EXCLUDED.index_name,
          before_mean = EXCLUDED.before_mean, after_mean = EXCLUDED.after_mean, change = EXCLUDED.change,
          pixels = EXCLUDED.pixels, before_date = EXCLUDED.before_date, after_date = EXCLUDED.after_date,
          source = EXCLUDED.source, measured_by = EXCLUDED.measured_by, measured_at = now()"""),
        {"rows": json.dumps(rows, default=_json_default), "actor": actor},
    )
