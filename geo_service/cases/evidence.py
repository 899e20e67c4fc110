"""The evidence pack of a case: a printable page (HTML, and PDF through WeasyPrint) with the summary, a
map of the linked evidence, a timeline, figures with their sources, and the SHA-256 of every attachment.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.cases import access, service
from geo_service.thai import BANGKOK, area_units, be_dmy, to_be

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _incidents(session: Session, ids: list[str]) -> list[dict]:
    from geo_service.incidents.service import get_incident

    return [get_incident(session, int(i)) for i in ids if i.isdigit()]


def _protected(session: Session, codes: list[str]) -> list[dict]:
    rows = (
        session.execute(
            text("""
        SELECT DISTINCT ON (p.code) p.code, p.name_th, p.name_en, p.kind::text AS kind, p.area_m2, p.illustrative,
               s.attribution
        FROM protected_areas p JOIN layer_sources s ON s.id = p.source_id
        WHERE p.code = ANY(:codes) ORDER BY p.code, p.valid_from DESC NULLS LAST
    """),
            {"codes": codes},
        )
        .mappings()
        .all()
    )
    return [dict(r, area=area_units(r["area_m2"])) for r in rows]


def _map_png(session: Session, incidents: list[dict], protected_codes: list[str], district_codes: list[str]) -> bytes:
    """A static map of the evidence on the district boundaries (no basemap: prints anywhere, no internet)."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Thai glyphs come from the TLWG fonts (Debian fonts-thai-tlwg); Latin falls back to DejaVu Sans.
    plt.rcParams["font.family"] = ["Loma", "Garuda", "DejaVu Sans"]
    from shapely import from_wkb
    from shapely.geometry import Point

    def frame(sql: str, params: dict) -> gpd.GeoDataFrame:
        rows = session.execute(text(sql), params).all()
        return gpd.GeoDataFrame({"code": [r.code for r in rows]}, geometry=[from_wkb(r.wkb) for r in rows], crs=4326)

    districts = frame(
        "SELECT code, ST_AsBinary(ST_SimplifyPreserveTopology(geom, 0.001)) AS wkb FROM admin_areas "
        "WHERE level = 'district' AND is_current",
        {},
    )
    areas = frame(
        "SELECT DISTINCT ON (code) code, ST_AsBinary(geom) AS wkb FROM protected_areas WHERE code = ANY(:c) "
        "ORDER BY code, valid_from DESC NULLS LAST",
        {"c": protected_codes},
    )
    points = gpd.GeoDataFrame(geometry=[Point(i["location"]["lon"], i["location"]["lat"]) for i in incidents], crs=4326)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    districts.boundary.plot(ax=ax, color="#888888", linewidth=0.6)
    focus = districts[districts.code.isin(district_codes)]
    if len(focus):
        focus.plot(ax=ax, color="#f2f2f2", edgecolor="#555555", linewidth=0.8)
    if len(areas):
        areas.plot(ax=ax, color="#4c9a2a", alpha=0.35, edgecolor="#2d5e18", linewidth=1)
    if len(points):
        points.plot(ax=ax, color="#d62728", markersize=30, marker="^", zorder=5)
        for inc in incidents:
            ax.annotate(
                inc["reference"],
                (inc["location"]["lon"], inc["location"]["lat"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    extent = gpd.GeoSeries(list(areas.geometry) + list(points.geometry) + list(focus.geometry), crs=4326)
    if len(extent):
        minx, miny, maxx, maxy = extent.total_bounds
        pad = max(maxx - minx, maxy - miny, 0.05) * 0.15
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect(1 / 0.95)  # about 1/cos(18 deg): degrees look square at Phrae's latitude
    ax.tick_params(labelsize=7)
    ax.set_title("Evidence / หลักฐาน  (▲ incidents, green: protected areas)", fontsize=9)
    fig.text(
        0.01,
        0.01,
        "Boundaries: Royal Thai Survey Department / OCHA COD-AB (CC BY-IGO). "
        "Protected areas shipped with the service are ILLUSTRATIVE.",
        fontsize=6,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def build_pack(session: Session, case_id: int, principal: Principal) -> dict:
    access.require_insider(session, principal, case_id)
    case = service.get_case(session, case_id, principal)
    by_type: dict[str, list[str]] = {}
    for link in case["links"]:
        by_type.setdefault(link["target_type"], []).append(link["target_id"])
    incidents = _incidents(session, by_type.get("incident", []))
    protected_codes = sorted(
        set(by_type.get("protected_area", [])) | {p["code"] for i in incidents for p in i["place"]["protected_areas"]}
    )
    timeline = [{"when": case["received_on"], "what": "Case received / รับเรื่อง"}]
    timeline += [
        {"when": t["created_at"][:10], "what": f"Stage: {t['to_stage']} — {t['reason']}"}
        for t in case["transitions"][1:]
    ]
    timeline += [
        {"when": i["observed_at"][:10], "what": f"{i['reference']} observed: {i['kind_en']} / {i['kind_th']}"}
        for i in incidents
    ]
    timeline += [
        {"when": link["created_at"][:10], "what": f"Evidence linked: {link['target_type']} {link['target_id']}"}
        for link in case["links"]
    ]
    timeline.sort(key=lambda e: e["when"])
    for e in timeline:
        e["when_be"] = be_dmy(e["when"])
    head = audit.verify(session)  # the pack states whether the whole trail verifies, not only its head
    protected = _protected(session, protected_codes)
    return {
        "case": case,
        "incidents": incidents,
        "protected": protected,
        "timeline": timeline,
        "audit_head": head.head,
        "audit_entries": head.entries,
        "audit_ok": head.ok,
        "map_png": base64.b64encode(_map_png(session, incidents, protected_codes, case["districts"])).decode(),
        "generated": datetime.now(BANGKOK),
        "generated_by": principal.display_name or principal.name,
        "sources": sorted(
            {p["attribution"] for p in protected}
            | {"Administrative boundaries: Royal Thai Survey Department / OCHA COD-AB (CC BY-IGO)"}
        ),
    }


def render_html(pack: dict) -> str:
    return _env.get_template("evidence_pack.html").render(**pack, to_be=to_be, be=be_dmy)


def render_pdf(html: str) -> bytes:
    from geo_service.reports.pdf import html_to_pdf

    return html_to_pdf(html)
