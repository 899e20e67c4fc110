"""The "cleared by fire" mark said to a person, in Thai and English: the rule (what is measured) and one patch's
evidence (what was found): :func:`fire_summary` is the one wording of a mark that every place showing it uses
(map popups, field tasks, case suggestions; :func:`evidence_words` adds the rule for the evidence pack).

What is measured (forest_loss/fire.py, hotspots/near.py): a detection counts when its **pixel** (a disc of half
the sensor's pixel around the published position) comes within the distance of the patch, so its published
position may lie up to the distance + half a pixel away; ``nearest_m`` in the evidence is measured to the published
position, which is why a counted detection may be reported farther than the distance. A fire event counts when its
footprint comes within the distance. Detections count wherever they lie, in a neighbouring province too.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from geo_service.thai import be_date_en, be_date_th

_SENSORS = (("VIIRS", "375 m"), ("MODIS", "1 km"))


def _m(x: float) -> str:
    return f"{x:,.1f}".removesuffix(".0")


def rule_words(rule: dict[str, Any]) -> tuple[str, str]:
    """(Thai, English) sentence of the rule as recorded in evidence (``distance_m``, ``days_before``,
    ``days_after``, ``half_pixel_m``)."""
    d = float(rule["distance_m"])
    half = {k: float(v) for k, v in (rule.get("half_pixel_m") or {}).items()}
    reach_en = ", ".join(f"{s} (pixel {px}) up to {_m(d + half[s])} m" for s, px in _SENSORS if s in half)
    reach_th = ", ".join(f"{s} (พิกเซล {px}) ไม่เกิน {_m(d + half[s])} ม." for s, px in _SENSORS if s in half)
    en = (
        f"cleared by fire: a fire detection whose pixel comes within {_m(d)} m of the patch (its published position "
        f"{reach_en}), or a fire event whose footprint comes within {_m(d)} m, from {rule['days_before']} days before "
        f"the first alert to {rule['days_after']} days after the last; detections in a neighbouring province count "
        "too; distances are to the published position"
    )
    th = (
        f"ถูกเผาร่วมด้วย: มีจุดความร้อนที่พิกเซลอยู่ภายใน {_m(d)} ม. จากแปลง (ตำแหน่งที่เผยแพร่ {reach_th}) "
        f"หรือมีเหตุไฟที่ขอบเขตอยู่ภายใน {_m(d)} ม. ตั้งแต่ {rule['days_before']} วันก่อนการแจ้งเตือนแรกถึง "
        f"{rule['days_after']} วันหลังการแจ้งเตือนล่าสุด นับจุดความร้อนในจังหวัดข้างเคียงด้วย "
        "ระยะวัดถึงตำแหน่งที่เผยแพร่"
    )
    return th, en


def _number(value: Any) -> float | None:
    """A recorded distance as a finite, non-negative number; None for anything else (an older mark's missing or
    malformed field is left unsaid, never printed as "None")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) and x >= 0 else None


def _day(value: Any) -> date | None:
    """A recorded day (ISO text or a date); None when missing or unreadable."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _metres(x: float) -> str:
    return f"{x:,.0f}"


def _sensors(value: Any) -> tuple[str, str]:
    """("VIIRS ", "VIIRS ") or ("MODIS และ VIIRS ", "MODIS and VIIRS ") of the recorded instruments; blank when none
    was recorded (marks made before the instruments were kept)."""
    names = [s for s, _ in _SENSORS if isinstance(value, list) and s in value]
    names.sort()
    return (" และ ".join(names) + " " if names else ""), (" and ".join(names) + " " if names else "")


def _when(fire_day: date, first_alert: date | None) -> tuple[str, str]:
    """The fire's day (BE) and where it lies from the patch's first alert, in Thai and English."""
    th, en = f"วันที่ {be_date_th(fire_day)}", f"on {be_date_en(fire_day)}"
    if first_alert is None:
        return th, en
    k = (fire_day - first_alert).days
    if k < 0:
        return th + f" ({-k:,} วันก่อนการแจ้งเตือนแรก)", en + f", {-k:,} day{'s' if k != -1 else ''} before the first alert"
    if k == 0:
        return th + " (วันเดียวกับการแจ้งเตือนแรก)", en + ", the day of the first alert"
    return th + f" ({k:,} วันหลังการแจ้งเตือนแรก)", en + f", {k:,} day{'s' if k != 1 else ''} after the first alert"


def fire_summary(
    cleared: bool, evidence: dict[str, Any] | None, first_alert: date | str | None = None
) -> tuple[str, str]:
    """(Thai, English) of a patch's "cleared by fire" mark as a person reads it on a map popup, a field task or a
    case suggestion: what burned near the patch, how far (whole metres) and when (BE day, and days from the
    patch's first alert ``first_alert``), e.g. "cleared by fire: 1 VIIRS fire detection 120 m from the patch, on
    2 Mar 2569 BE, 3 days before the first alert; 1 fire event, its footprint over the patch". A field missing
    from an older mark is left out, never said as "None"; a mark with no evidence at all says so. Plain text:
    escape it where it reaches HTML."""
    if not cleared:
        return "ไม่พบไฟใกล้แปลง", "no fire found near the patch"
    ev = evidence if isinstance(evidence, dict) else {}
    first = _day(first_alert)
    th: list[str] = []
    en: list[str] = []
    n = ev.get("hotspots")
    n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0
    if n:
        s_th, s_en = _sensors(ev.get("hotspot_sensors"))
        one = n == 1
        part_th = f"จุดความร้อน {s_th}{n:,} จุด"
        part_en = f"{n:,} {s_en}fire detection{'' if one else 's'}"
        near = _number(ev.get("hotspot_nearest_m"))
        if near is not None:
            where_th = "อยู่ในแปลง" if near == 0 else f"ห่างแปลง {_metres(near)} ม."
            where_en = "inside the patch" if near == 0 else f"{_metres(near)} m from the patch"
            part_th += f" {'' if one else 'ใกล้สุด'}{where_th}"
            part_en += f"{' ' if one else ', the nearest '}{where_en}"
        days = ev.get("hotspot_days")
        days = days if isinstance(days, list) and days else [None]
        fire_day = _day(days[0])
        if fire_day is not None:
            w_th, w_en = _when(fire_day, first)
            part_th += f" {'' if one else 'จุดแรก'}{w_th}"
            part_en += f"{', ' if one else ', the first '}{w_en}"
            last_day = _day(days[-1])
            if not one and last_day is not None and last_day != fire_day:
                part_th += f" จุดสุดท้ายวันที่ {be_date_th(last_day)}"
                part_en += f", the last on {be_date_en(last_day)}"
        th.append(part_th)
        en.append(part_en)
    events = ev.get("events")
    k = len(events) if isinstance(events, list) else 0
    if k:
        part_th, part_en = f"เหตุไฟ {k:,} เหตุ", f"{k:,} fire event{'s' if k != 1 else ''}"
        near = _number(ev.get("event_nearest_m"))
        if near is not None:
            part_th += (
                " ขอบเขต" + ("" if k == 1 else "ใกล้สุด") + ("ทับแปลง" if near == 0 else f"ห่างแปลง {_metres(near)} ม.")
            )
            part_en += (", its footprint " if k == 1 else ", the nearest footprint ") + (
                "over the patch" if near == 0 else f"{_metres(near)} m from the patch"
            )
        th.append(part_th)
        en.append(part_en)
    near = _number(ev.get("nearest_m"))
    if "hotspot_nearest_m" not in ev and "event_nearest_m" not in ev and near is not None:  # marks before the split
        th.append(f"ไฟใกล้สุดห่างแปลง {_metres(near)} ม.")
        en.append(f"the nearest fire {_metres(near)} m from the patch")
    if not en:
        return "ถูกเผา (ไม่มีรายละเอียดบันทึกไว้)", "cleared by fire (no details recorded with this mark)"
    return "ถูกเผา: " + "; ".join(th), "cleared by fire: " + "; ".join(en)


def evidence_words(
    cleared: bool, evidence: dict[str, Any] | None, first_alert: date | str | None = None
) -> tuple[str, str]:
    """(Thai, English) of one patch's mark for the case evidence pack: :func:`fire_summary` and, when the mark
    recorded it, the rule it was measured by (:func:`rule_words`)."""
    th, en = fire_summary(cleared, evidence, first_alert)
    rule = (evidence or {}).get("rule") if isinstance(evidence, dict) else None
    if cleared and isinstance(rule, dict) and _number(rule.get("distance_m")) is not None:
        try:
            r_th, r_en = rule_words(rule)
        except (KeyError, TypeError, ValueError):  # a rule recorded without some of its figures: left unsaid
            return th, en
        en += f" (the rule: {r_en.removeprefix('cleared by fire: ')})"
        th += f" (เกณฑ์: {r_th.removeprefix('ถูกเผาร่วมด้วย: ')})"
    return th, en
