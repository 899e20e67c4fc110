"""The deployment's area of interest (AOI): the province(s) the office answers for, and how outputs name it.

The AOI is the loaded province(s) by default, or those of ``GEO_SERVICE_AOI_PROVINCES``, widened by
``GEO_SERVICE_AOI_BUFFER_M`` (fires that cross the line). One row of ``area_of_interest`` holds the
configuration and the geometry built by the SQL function ``refresh_area_of_interest()`` (migration 0008),
the one definition: ``in_area_of_interest(geom)`` tests against it in SQL, and the Gazetteer
(``places.Gazetteer.attribute(...).in_aoi``) tests against the same stored geometry in Python. It is rebuilt
when a province or district layer changes (``layers.store``) and when the configuration changes
(``configure``).

Every brief, map, summary and export names the area it covers with ``describe`` (scope ``aoi``: inside;
``outside``: detections beyond it, labelled as such; ``all``: both).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput

SCOPES = ("aoi", "outside", "all")


def check_scope(scope: str) -> str:
    """``scope`` when it is aoi, outside or all; InvalidInput otherwise."""
    if scope not in SCOPES:
        raise InvalidInput(
            "area must be aoi (the area of interest), outside (detections beyond it) or all.", code="invalid_area"
        )
    return scope


def scope_sql(scope: str, column: str = "h.in_aoi") -> str | None:
    """The condition for a scope on a stored flag (or ``in_area_of_interest(...)``), None for ``all``."""
    return {"aoi": column, "outside": f"NOT {column}", "all": None}[check_scope(scope)]


def _loaded_codes(session: Session) -> set[str]:
    return set(
        session.execute(
            text(
                "SELECT code FROM admin_areas WHERE is_current AND level = 'province' UNION "
                "SELECT parent_code FROM admin_areas WHERE is_current AND level = 'district' AND parent_code IS NOT NULL"
            )
        ).scalars()
    )


def normalise_codes(session: Session, codes: list[str] | None) -> list[str] | None:
    """Configured codes as the layers store them: an OCHA P-code ``TH54`` is ``54`` (``layers.reader`` drops
    the prefix) unless ``TH54`` itself is loaded; empty -> None (every loaded province)."""
    if not codes:
        return None
    loaded = _loaded_codes(session)
    out = []
    for c in codes:
        if c not in loaded and c.upper().startswith("TH") and c[2:] in loaded:
            c = c[2:]
        elif c not in loaded and f"TH{c}" in loaded:
            c = f"TH{c}"
        out.append(c)
    return sorted(set(out))


def loaded_province_codes(session: Session) -> set[str]:
    """The codes of every loaded province (its own polygon, or the parent of loaded districts)."""
    return _loaded_codes(session)


def aoi_province_codes(session: Session) -> list[str]:
    """The provinces the deployment's area of interest resolves to (empty before any boundary is loaded)."""
    if not session.execute(text("SELECT to_regclass('area_of_interest') IS NOT NULL")).scalar():
        return []
    codes = session.execute(text("SELECT resolved_codes FROM area_of_interest WHERE id = 1")).scalar()
    return sorted(codes or [])


def province_names(session: Session, codes: list[str] | None = None) -> dict[str, tuple[str | None, str | None]]:
    """Thai and English names of the current provinces (of ``codes``, or all), by code."""
    rows = session.execute(
        text(
            "SELECT code, name_th, name_en FROM admin_areas WHERE is_current AND level = 'province' "
            "AND (CAST(:codes AS text[]) IS NULL OR code = ANY(:codes)) ORDER BY code"
        ),
        {"codes": codes},
    )
    return {r.code: (r.name_th, r.name_en) for r in rows}


def check_province_codes(session: Session, codes: list[str]) -> list[str]:
    """These province codes as the layers store them (``TH54`` -> ``54``), sorted and distinct; InvalidInput
    naming those that are no loaded province."""
    loaded = _loaded_codes(session)
    out = normalise_codes(session, [c.strip() for c in codes if c and c.strip()]) or []
    unknown = [c for c in out if c not in loaded]
    if unknown:
        raise InvalidInput(
            "Unknown province code(s): "
            + ", ".join(unknown)
            + ". Loaded provinces: "
            + (", ".join(sorted(loaded)) or "none yet (load the province boundaries first)"),
            code="unknown_province",
        )
    return out


def province_code(session: Session, code: str | None) -> str | None:
    """A province code from a filter, read as ``normalise_codes`` reads the configuration."""
    codes = normalise_codes(session, [code]) if code else None
    return codes[0] if codes else None


def refresh(session: Session) -> bool:
    """Rebuild the AOI geometry from the current boundaries (in the caller's transaction); True if it changed."""
    if not session.execute(text("SELECT to_regclass('area_of_interest') IS NOT NULL")).scalar():
        return False
    return bool(session.execute(text("SELECT refresh_area_of_interest()")).scalar())


def configure(session: Session, provinces: list[str] | None, buffer_m: float = 0.0) -> bool:
    """Store the configured provinces (None or empty: every loaded province) and buffer, and rebuild the
    geometry. Returns True when the area changed (stored flags must then be recomputed)."""
    if buffer_m < 0:
        raise InvalidInput("The area of interest's buffer cannot be negative.", code="invalid_area")
    if not session.execute(text("SELECT to_regclass('area_of_interest') IS NOT NULL")).scalar():
        return False
    codes = normalise_codes(session, provinces)
    session.execute(
        text(
            "UPDATE area_of_interest SET province_codes = CAST(:codes AS text[]), buffer_m = :buffer "
            "WHERE id = 1 AND (province_codes, buffer_m) IS DISTINCT FROM (CAST(:codes AS text[]), CAST(:buffer AS float8))"
        ),
        {"codes": codes, "buffer": float(buffer_m)},
    )
    return refresh(session)


def describe(session: Session, scope: str = "aoi") -> dict:
    """What an output covers: the AOI provinces (codes and names), the buffer, and labels in Thai and English.

    ``scope``: ``aoi`` (inside the area), ``outside`` (detections beyond it, neighbouring provinces) or ``all``.
    """
    check_scope(scope)
    row = (
        session.execute(
            text(
                "SELECT province_codes, buffer_m, resolved_codes, geom IS NOT NULL AS defined, updated_at "
                "FROM area_of_interest WHERE id = 1"
            )
        )
        .mappings()
        .one()
    )
    names = {
        r.code: (r.name_th, r.name_en)
        for r in session.execute(
            text(
                "SELECT code, name_th, name_en FROM admin_areas WHERE is_current AND level = 'province' "
                "AND code = ANY(:codes)"
            ),
            {"codes": list(row["resolved_codes"])},
        )
    }
    provinces = [
        {"code": c, "name_th": names.get(c, (None, None))[0], "name_en": names.get(c, (None, None))[1]}
        for c in row["resolved_codes"]
    ]
    configured = list(row["province_codes"]) if row["province_codes"] is not None else None
    missing = sorted(set(configured or []) - set(row["resolved_codes"]))
    buffer_m = float(row["buffer_m"])
    en = ", ".join(f"{p['name_en'] or p['code']} ({p['code']})" for p in provinces) or "no province loaded"
    th = (
        ", ".join(f"จังหวัด{p['name_th']} ({p['code']})" if p["name_th"] else p["code"] for p in provinces)
        or "ยังไม่ได้โหลดขอบเขตจังหวัด"
    )
    if buffer_m:
        en += f" and {buffer_m:,.0f} m around"
        th += f" และแนวกันชน {buffer_m:,.0f} ม."
    label_en, label_th = {
        "aoi": (f"Area of interest: {en}", f"พื้นที่รับผิดชอบ: {th}"),
        "outside": (
            f"Outside the area of interest (neighbouring provinces), beyond {en}",
            f"นอกพื้นที่รับผิดชอบ (จังหวัดข้างเคียง) นอกเหนือจาก {th}",
        ),
        "all": (f"Inside and outside the area of interest ({en})", f"ทั้งในและนอกพื้นที่รับผิดชอบ ({th})"),
    }[scope]
    return {
        "scope": scope,
        "provinces": provinces,
        "buffer_m": buffer_m,
        "configured": configured if configured is not None else "every loaded province",
        "missing": missing,
        "defined": bool(row["defined"]),
        "label_en": label_en,
        "label_th": label_th,
    }


def changed_at(session: Session):
    """When the area of interest was last rebuilt or configured (None before migration 0008's row exists)."""
    return session.execute(text("SELECT updated_at FROM area_of_interest WHERE id = 1")).scalar()


def geometry_wkb(session: Session) -> bytes | None:
    """The stored area-of-interest geometry as WKB (EPSG:4326); None when no area is defined."""
    wkb = session.execute(text("SELECT ST_AsBinary(geom) FROM area_of_interest WHERE id = 1")).scalar()
    return bytes(wkb) if wkb is not None else None


# For exports.tiles: the area of interest's version (detections and events carry in_aoi, which a new area changes).
AOI_VERSION_SQL = "SELECT coalesce(max(updated_at)::text, '') FROM area_of_interest"
