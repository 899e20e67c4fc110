"""The red-flag sheet of one contract or parcel: a printable page (HTML, PDF through the evidence pack's WeasyPrint
path) with a map, the subject's figures, every flag with its reasons, figures and evidence, a timeline, the
sources, and SHA-256 hashes of the subject and each flag as printed, plus the audit trail's head."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from geo_service import audit
from geo_service.auth import Principal
from geo_service.errors import NotFound
from geo_service.redflags import rules, store
from geo_service.redflags.service import flag_out
from geo_service.reports.pdf import html_to_pdf
from geo_service.thai import BANGKOK, area_units, be_dmy, to_be

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def sha256_of(value: Any) -> str:
    """SHA-256 of a value's canonical JSON (sorted keys, no spaces): what the sheet prints next to it."""
    return hashlib.sha256(_canonical(value).encode()).hexdigest()


def _map_png(session: Session, kind: str, record_id: int, points: list[dict]) -> str:
    """The subject's area and the detections behind its flags (matplotlib, no basemap: prints offline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from shapely import from_wkb

    plt.rcParams["font.family"] = ["Loma", "Garuda", "DejaVu Sans"]
    wkb = store.subject_wkb(session, kind, record_id)
    fig, ax = plt.subplots(figsize=(6.5, 5), dpi=100)
    if wkb:
        geom = from_wkb(wkb)
        for poly in getattr(geom, "geoms", [geom]):
            x, y = poly.exterior.xy
            ax.fill(x, y, color="#4c9a2a" if kind == "contract" else "#c77d00", alpha=0.35, edgecolor="#333")
    if points:
        ax.scatter([p["lon"] for p in points], [p["lat"] for p in points], s=14, c="#d62728", label="hotspots")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.set_title(f"{kind} {record_id}", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def build(session: Session, kind: str, record_id: int, provinces: frozenset[str] | None = None) -> dict:
    """Everything the sheet prints (kind: contract or parcel), for a reader of ``provinces`` (None: every one).

    Another province's contract or parcel is absent (404); only the flags of the reader's provinces are printed."""
    if not store.visible(session, kind, record_id, provinces):
        raise NotFound(f"No {kind} with this id.")
    subject = store.contract(session, record_id) if kind == "contract" else store.parcel(session, record_id)
    if subject is None:
        raise NotFound(f"No {kind} with this id.")
    subject_ids = {"contract_id": record_id} if kind == "contract" else {"parcel_id": record_id}
    rows = store.flags_of(session, **subject_ids, provinces=provinces)
    history = store.flag_history(session, [r["id"] for r in rows])
    flags = []
    for r in rows:
        f = flag_out(r, [h for h in history if h["flag_id"] == r["id"]])
        f["sha256"] = sha256_of({k: v for k, v in f.items() if k != "history"})
        f["counted_over_th"], f["counted_over_en"] = rules.counted_over(f)  # printed, not hashed: derived text
        f["figure_lines"] = rules.figure_lines(f["figures"], provenance=True)
        flags.append(f)
    hotspot_ids = sorted(
        {i for f in flags for e in f["evidence"] if e.get("type") == "hotspot" for i in e.get("ids", [])}
    )
    points = store.detection_points(session, hotspot_ids)
    versions = store.history(session, kind, record_id)
    timeline: list[dict] = []
    if kind == "contract":
        for label, key in (
            ("contract starts", "start_date"),
            ("contract ends", "end_date"),
            ("delivery", "delivery_date"),
        ):
            if subject.get(key):
                timeline.append({"when": str(subject[key]), "what": label})
    elif subject.get("issue_date"):
        timeline.append({"when": str(subject["issue_date"]), "what": "document issued"})
    for v in versions:
        timeline.append(
            {
                "when": _local_day(v["changed_at"]),
                "what": f"version {v['version']} ({v['action']}) by {v['changed_by']}",
            }
        )
    for h in history:
        timeline.append({"when": _local_day(h["at"]), "what": f"flag #{h['flag_id']} {h['action']} by {h['actor']}"})
    for p in points:
        timeline.append({"when": str(p["day"]), "what": f"hotspot {p['id']}"})
    timeline.sort(key=lambda t: t["when"])
    plain = {k: v for k, v in subject.items() if k not in ("geometry", "area_geometry")}
    head = audit.head(session)
    return {
        "kind": kind,
        "subject": plain,
        "subject_sha256": sha256_of(subject),
        "area": area_units(float(subject["area"]["m2"])),
        "flags": flags,
        "rule_labels": rules.RULE_LABELS,
        "timeline": timeline,
        "map_png": _map_png(session, kind, record_id, points),
        "sources": sorted(
            {
                f"{v['data'].get('source_layer') or 'API edit'} (version {v['data'].get('source_version') or '-'})"
                for v in versions
            }
        )
        + [
            "FIRMS VIIRS/MODIS active fire (NASA LANCE)",
            "Protected areas and districts as loaded (see /api/v1/layers)",
        ],
        "audit_head": head,
        "generated": datetime.now(BANGKOK),
    }


def _local_day(value: Any) -> str:
    """The ISO day of a recorded instant in Asia/Bangkok (the sessions run in UTC: its first ten characters were the
    UTC day, 30 September for 00:30 on 1 October); text is taken as written."""
    if isinstance(value, datetime):
        return (value.astimezone(BANGKOK) if value.tzinfo else value).date().isoformat()
    return str(value)[:10]


def _be(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return be_dmy(value)
    return be_dmy(str(value)[:10]) if value else ""


def render_html(sheet: dict) -> str:
    """The sheet as a printable HTML page (autoescaped: every string from a file or a user is escaped)."""
    return _env.get_template("red_flag_sheet.html").render(**sheet, be=_be, to_be=to_be)


def export(session: Session, kind: str, record_id: int, principal: Principal, fmt: str = "html") -> bytes:
    """The sheet as HTML or PDF bytes; the export is written to the audit trail."""
    html = render_html(build(session, kind, record_id, principal.provinces))
    audit.record(session, principal.name, "export", f"redflag_{kind}_sheet", record_id, after={"format": fmt})
    return html_to_pdf(html) if fmt == "pdf" else html.encode()
