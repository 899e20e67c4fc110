"""What an alert says: what, where (district, subdistrict, reserve, coordinates), when (Buddhist Era date, local
time), a link to the map, and a small static map PNG drawn offline from the stored boundaries (no tile server)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from geo_service.db.models import CASE_STAGE_LABELS, CaseStage
from geo_service.thai import BANGKOK, area_units, be_dmy

TITLES = {
    "hotspot": ("จุดความร้อนใหม่", "New hotspot"),
    "fire_event": ("ไฟป่าใหม่ (กลุ่มจุดความร้อน)", "New fire event"),
    "fire_event_growing": ("ไฟป่าขยายตัว", "Fire event growing"),
    "clearing_patch": ("พื้นที่ป่าถูกแผ้วถางใหม่", "New forest clearing patch"),
    "case_change": ("คดีมีความเคลื่อนไหว", "Case changed"),
    "red_flag": ("ธงแดงใหม่", "New red flag"),
}
SEVERITY = {"low": ("ต่ำ", "low"), "medium": ("ปานกลาง", "medium"), "high": ("สูง", "high")}
CHANGES = {
    "updated": ("แก้ไขข้อมูลคดี", "details edited"),
    "stage": ("เปลี่ยนขั้นตอน", "stage changed"),
    "assignment": ("เปลี่ยนผู้รับผิดชอบ", "investigators changed"),
    "party": ("ปรับปรุงผู้เกี่ยวข้อง", "people concerned changed"),
    "note": ("เพิ่มบันทึก", "note added"),
    "attachment": ("เพิ่มเอกสารแนบ", "file added"),
    "link": ("ปรับปรุงหลักฐาน", "evidence changed"),
}
CONFIDENCE = {1: ("ต่ำ", "low"), 2: ("ปานกลาง", "nominal"), 3: ("สูง", "high")}
LABELS = {
    "district": ("อ.", "District"),
    "subdistrict": ("ต.", "Subdistrict"),
    "reserve": ("", "Reserve"),
    "coords": ("พิกัด", "Position"),
    "when": ("เวลา", "When"),
    "alerted": ("แจ้งเตือน", "Alerts"),
    "map": ("แผนที่", "Map"),
    "unsubscribe": ("ยกเลิกการรับแจ้งเตือนนี้", "Unsubscribe from this alert"),
    "digest": ("สรุปการแจ้งเตือนประจำวัน", "Daily alert digest"),
    "more": ("และอีก {n} รายการ", "and {n} more"),
}


def _t(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "th" else pair[1]


@dataclass
class Described:
    """One alert in words."""

    title: str
    where: str
    when: str
    link: str
    lon: float | None
    lat: float | None

    def lines(self) -> list[str]:
        """The alert as lines of plain text."""
        return [self.title, self.where, self.when, self.link]


def local_when(value: str | None, lang: str) -> str:
    """A timestamp as Buddhist Era date and Asia/Bangkok time: ``3/12/2569 14:05 น.``."""
    if not value:
        return ""
    at = datetime.fromisoformat(str(value)).astimezone(BANGKOK)
    return f"{be_dmy(at.date())} {at:%H:%M}" + (" น." if lang == "th" else " (Asia/Bangkok)")


def describe(payload: dict, names: dict[str, dict], lang: str, public_url: str) -> Described:
    """Words of one alert from its outbox payload and the names of the areas it names."""
    what = payload.get("what", "")
    lon, lat = payload.get("lon"), payload.get("lat")
    if what == "case_change":
        stage = payload.get("stage", "")
        stage_label = _stage(stage, lang)
        change = _t(CHANGES.get(payload.get("change", ""), ("เปลี่ยนแปลง", "changed")), lang)
        title = f"{_t(TITLES['case_change'], lang)}: {payload.get('reference', '')} — {change} ({stage_label})"
        return Described(
            title=title,
            where="",
            when=local_when(payload.get("at"), lang),
            link=f"{public_url.rstrip('/')}/maps/cases/{int(payload.get('case_id', 0))}",
            lon=None,
            lat=None,
        )
    key = "fire_event_growing" if what == "fire_event" and payload.get("growing") else what
    title = _t(TITLES.get(key, ("การแจ้งเตือน", "Alert")), lang)
    if what == "hotspot":
        conf = _t(CONFIDENCE.get(int(payload.get("confidence") or 1), ("", "")), lang)
        sensor = f"{payload.get('instrument', '')} {payload.get('satellite', '')}".strip()
        title += f" ({sensor}, {'ความเชื่อมั่น' if lang == 'th' else 'confidence'} {conf})"
    elif what == "fire_event":
        n = payload.get("detections", 0)
        title += f" ({n} {'จุด' if lang == 'th' else 'detections'})"
    elif what == "clearing_patch":
        units = area_units(float(payload.get("area_m2") or 0))
        title += f" ({units['rai']:.1f} {'ไร่' if lang == 'th' else 'rai'}, {units['ha']:.2f} ha)"
    elif what == "red_flag":
        # rule, severity and the reason in the subscription's language; never a parcel, document number or owner
        severity = _t(SEVERITY.get(str(payload.get("severity")), ("", "")), lang)
        reason = payload.get("reason_th" if lang == "th" else "reason_en") or ""
        title += f" [{payload.get('rule', '')}, {'ระดับ' if lang == 'th' else 'severity'} {severity}]: {reason}"
    parts = []
    for column, label in (("district", "district"), ("subdistrict", "subdistrict"), ("reserve", "reserve")):
        code = payload.get(column)
        if code and code in names:
            name = names[code]["name_th" if lang == "th" else "name_en"]
            prefix = _t(LABELS[label], lang)
            parts.append(f"{prefix}{name}" if lang == "th" else f"{prefix} {name}")
    if lon is not None and lat is not None:
        parts.append(f"{_t(LABELS['coords'], lang)} {float(lat):.5f}, {float(lon):.5f}")
    # the overview map's from/to are Bangkok days: the detection's own day, not its UTC one
    day = datetime.fromisoformat(str(payload["at"])).astimezone(BANGKOK).date().isoformat() if payload.get("at") else ""
    link = f"{public_url.rstrip('/')}/maps/overview?from={day}&to={day}" if day else public_url
    when = local_when(payload.get("at"), lang)
    if what == "red_flag":
        link = f"{public_url.rstrip('/')}/api/v1/redflags/flags/{int(payload.get('flag_id', 0))}"
    elif what == "clearing_patch" and payload.get("first_date") and payload.get("last_date"):
        # alerts come days or weeks after the clearing: its alert dates, and the map of them (which draws the
        # patches alerting in its period), not the day the ingest stored it
        first, last = str(payload["first_date"])[:10], str(payload["last_date"])[:10]
        link = f"{public_url.rstrip('/')}/maps/overview?from={first}&to={last}"
        when = f"{_t(LABELS['alerted'], lang)} {be_dmy(first)} – {be_dmy(last)}"
    return Described(
        title=title,
        where=" · ".join(parts),
        when=when,
        link=link,
        lon=float(lon) if lon is not None else None,
        lat=float(lat) if lat is not None else None,
    )


def _stage(stage: str, lang: str) -> str:
    try:
        th, en = CASE_STAGE_LABELS[CaseStage(stage)]
    except (ValueError, KeyError):
        return stage
    return th if lang == "th" else en


def message_text(
    items: list[Described], lang: str, unsubscribe: str, digest: bool, limit: int | None = None
) -> tuple[str, str]:
    """Subject and plain-text body of a message holding one alert, or a digest of several (at most 50 listed).

    ``limit``: the characters the channel takes for subject, a blank line and body together (LINE: 5,000). A
    digest then lists as many whole alerts as fit and says how many more there are, and ends, as always, with the
    unsubscribe link (a cut at the limit fell inside an alert and dropped the link)."""
    shown = min(len(items), 50) if digest or len(items) > 1 else 1
    while True:
        subject, body = _message(items, lang, unsubscribe, digest, shown)
        if limit is None or shown <= 1 or len(subject) + 2 + len(body) <= limit:
            return subject, body
        shown -= 1


def _message(items: list[Described], lang: str, unsubscribe: str, digest: bool, shown: int) -> tuple[str, str]:
    if digest or len(items) > 1:
        subject = f"{_t(LABELS['digest'], lang)}: {len(items)}"
        body: list[str] = []
        for d in items[:shown]:
            body += [f"• {d.title}", f"  {d.where}", f"  {d.when}", f"  {d.link}", ""]
        if len(items) > shown:
            body.append(_t(LABELS["more"], lang).format(n=len(items) - shown))
    else:
        d = items[0]
        subject = d.title
        body = [d.title, d.where, d.when, f"{_t(LABELS['map'], lang)}: {d.link}", ""]
    body.append(f"{_t(LABELS['unsubscribe'], lang)}: {unsubscribe}")
    return subject, "\n".join(line for line in body if line is not None)


def map_png(shapes: list[dict], points: list[tuple[float, float]], size_px: int = 240) -> bytes:
    """A small PNG: area outlines (WKB) and the alert's points, drawn with Pillow (offline, a few milliseconds:
    one alert told to a thousand people must not wait for a plotting library). Equirectangular around the
    points, longitude scaled by cos(latitude) so shapes keep their proportions."""
    import math

    import shapely
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size_px, size_px), (244, 241, 234))
    draw = ImageDraw.Draw(image)
    if not points:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    half_y = max(0.06, max(max(xs) - min(xs), max(ys) - min(ys)) / 2 + 0.02)
    half_x = half_y / max(0.2, math.cos(math.radians(cy)))

    def to_px(coords):
        return [
            ((x - (cx - half_x)) / (2 * half_x) * size_px, ((cy + half_y) - y) / (2 * half_y) * size_px)
            for x, y in coords
        ]

    geoms = shapely.from_wkb([bytes(s["wkb"]) for s in shapes]) if shapes else []
    for kind in ("district", "subdistrict", "protected_area"):  # districts under, reserves on top
        for shape, geom in zip(shapes, geoms, strict=False):
            if shape["subject_type"] != kind:
                continue
            colour = (46, 125, 50) if kind == "protected_area" else (85, 85, 85)
            width = 1 if kind == "district" else 2
            for ring in shapely.get_rings(shapely.get_parts(geom)):
                draw.line(to_px(shapely.get_coordinates(ring).tolist()), fill=colour, width=width)
    for x, y in to_px(points):
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=(211, 47, 47), outline=(255, 255, 255), width=1)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
