"""The evidence pack of a case: a printable page (HTML, and PDF through WeasyPrint) with the summary, a
map of the linked evidence, a timeline, figures with their sources, and the SHA-256 of every attachment.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.cases import access, evidence_scope, service
from geo_service.forest_loss import evidence as patches
from geo_service.forest_loss import tasks as field_tasks
from geo_service.forest_loss.fire_words import evidence_words
from geo_service.incidents.service import get_incident
from geo_service.layers import queries as layers
from geo_service.reports.pdf import html_to_pdf
from geo_service.thai import BANGKOK, area_units, bangkok_day, be_dmy, to_be

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _incidents(session: Session, ids: list[str]) -> list[dict]:
    return [get_incident(session, int(i)) for i in ids if i.isdigit()]


CONFIDENCE_LABELS = {2: "low / ต่ำ", 3: "high / สูง", 4: "highest / สูงสุด (several systems agree)"}


def _patches(session: Session, ids: list[str], viewer: Principal) -> list[dict]:
    """The linked patches within the reader's provinces (a border patch is in both; national readers: all; the
    ids given are already the reader's, ``cases.evidence_scope``)."""
    return [
        dict(
            r,
            area=area_units(r["area_m2"]),
            confidence_label=CONFIDENCE_LABELS.get(r["confidence_max"], str(r["confidence_max"])),
        )
        for r in patches.patch_cards(session, ids, viewer=viewer)
    ]


def _protected(session: Session, codes: list[str]) -> list[dict]:
    return [dict(r, area=area_units(r["area_m2"])) for r in layers.protected_area_cards(session, codes)]


def _map_png(
    session: Session,
    incidents: list[dict],
    protected_codes: list[str],
    district_codes: list[str],
    patch_ids: list[str] | None = None,
    viewer: Principal | None = None,
) -> bytes:
    """A static map of the evidence on the district boundaries (no basemap: prints anywhere, no internet)."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Thai glyphs come from the TLWG fonts (Debian fonts-thai-tlwg); Latin falls back to DejaVu Sans.
    plt.rcParams["font.family"] = ["Loma", "Garuda", "DejaVu Sans"]
    from shapely import from_wkb
    from shapely.geometry import Point

    def frame(rows: list[tuple[str, bytes]]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"code": [r[0] for r in rows]}, geometry=[from_wkb(r[1]) for r in rows], crs=4326)

    districts = frame(layers.district_outlines_wkb(session, 0.001))
    areas = frame(layers.protected_area_outlines_wkb(session, protected_codes))
    clearings = frame(patches.outlines_wkb(session, patch_ids or [], viewer=viewer))
    points = gpd.GeoDataFrame(geometry=[Point(i["location"]["lon"], i["location"]["lat"]) for i in incidents], crs=4326)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    districts.boundary.plot(ax=ax, color="#888888", linewidth=0.6)
    focus = districts[districts.code.isin(district_codes)]
    if len(focus):
        focus.plot(ax=ax, color="#f2f2f2", edgecolor="#555555", linewidth=0.8)
    if len(areas):
        areas.plot(ax=ax, color="#4c9a2a", alpha=0.35, edgecolor="#2d5e18", linewidth=1)
    if len(clearings):
        clearings.plot(ax=ax, color="#d9822b", alpha=0.7, edgecolor="#8a4b08", linewidth=1, zorder=4)
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
    extent = gpd.GeoSeries(
        list(areas.geometry) + list(clearings.geometry) + list(points.geometry) + list(focus.geometry), crs=4326
    )
    if len(extent):
        minx, miny, maxx, maxy = extent.total_bounds
        pad = max(maxx - minx, maxy - miny, 0.05) * 0.15
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect(1 / 0.95)  # about 1/cos(18 deg): degrees look square at Phrae's latitude
    ax.tick_params(labelsize=7)
    ax.set_title("Evidence / หลักฐาน  (▲ incidents, green: protected areas, orange: clearing patches)", fontsize=9)
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
    """Everything the evidence pack shows (for the case's insiders): the evidence within the reader's provinces,
    and how many linked items are not shown (``cases.evidence_scope``)."""
    access.require_insider(session, principal, case_id)
    case = service.get_case(session, case_id, principal)
    by_type: dict[str, list[str]] = {}
    for link in case["links"]:
        by_type.setdefault(link["target_type"], []).append(link["target_id"])
    incidents = _incidents(session, by_type.get("incident", []))
    from_patches = field_tasks.tasks_of_incidents(session, [i["id"] for i in incidents])
    for i in incidents:
        i["from_patches"] = from_patches.get(i["id"], [])
    linked_patches = by_type.get("clearing_patch", [])
    patch_rows = _patches(session, linked_patches, principal)
    protected_codes = sorted(
        set(by_type.get("protected_area", [])) | {p["code"] for i in incidents for p in i["place"]["protected_areas"]}
    )
    timeline = [{"when": case["received_on"], "what": "Case received / รับเรื่อง"}]
    timeline += [
        {"when": bangkok_day(t["created_at"]).isoformat(), "what": f"Stage: {t['to_stage']} — {t['reason']}"}
        for t in case["transitions"][1:]
    ]
    timeline += [
        {"when": i["observed_at"][:10], "what": f"{i['reference']} observed: {i['kind_en']} / {i['kind_th']}"}
        for i in incidents
    ]
    timeline += [
        {
            "when": bangkok_day(link["created_at"]).isoformat(),
            "what": f"Evidence linked: {link['target_type']} {link['target_id']}",
        }
        for link in case["links"]
    ]
    timeline += [
        {
            "when": p["first_date"].isoformat(),
            "what": f"Clearing patch #{p['id']}: first forest-loss alert / แจ้งเตือนการแผ้วถางครั้งแรก",
        }
        for p in patch_rows
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
        "patches": patch_rows,
        # linked evidence outside the reader's provinces (linked by a national colleague): counted, never shown
        # (case["links"] holds only the reader's: cases.evidence_scope, the one rule)
        "evidence_hidden": case["evidence_hidden"],
        "hidden_note": evidence_scope.hidden_note(case["evidence_hidden"]),
        "timeline": timeline,
        "audit_head": head.head,
        "audit_entries": head.entries,
        "audit_ok": head.ok,
        "map_png": base64.b64encode(
            _map_png(
                session,
                incidents,
                protected_codes,
                case["districts"],
                [str(p["id"]) for p in patch_rows],
                viewer=principal,
            )
        ).decode(),
        "generated": datetime.now(BANGKOK),
        "generated_by": principal.display_name or principal.name,
        "sources": sorted(
            {p["attribution"] for p in protected}
            | {"Administrative boundaries: Royal Thai Survey Department / OCHA COD-AB (CC BY-IGO)"}
            | (
                {"Forest-loss alerts: " + ", ".join(sorted({s for p in patch_rows for s in p["sources"]}))}
                if patch_rows
                else set()
            )
        ),
    }


def render_html(pack: dict) -> str:
    """The pack as a printable HTML page."""
    return _env.get_template("evidence_pack.html").render(**pack, to_be=to_be, be=be_dmy, fire_words=evidence_words)


def render_pdf(html: str) -> bytes:
    """The printable page as PDF (WeasyPrint)."""
    return html_to_pdf(html)


def export_html(session: Session, case_id: int, principal: Principal) -> str:
    """The evidence pack as HTML, the export written to the audit trail."""
    html = render_html(build_pack(session, case_id, principal))
    audit.record(session, principal.name, "export", "case_evidence_pack", case_id, after={"format": "html"})
    return html


def export_pdf(session: Session, case_id: int, principal: Principal) -> tuple[str, bytes]:
    """The evidence pack as PDF (with the case's reference, for the file name); the export is audited."""
    pack = build_pack(session, case_id, principal)
    pdf = render_pdf(render_html(pack))
    audit.record(session, principal.name, "export", "case_evidence_pack", case_id, after={"format": "pdf"})
    return pack["case"]["reference"], pdf
