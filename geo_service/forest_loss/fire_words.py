"""The "cleared by fire" mark said to a person, in Thai and English: the rule (what is measured) and one patch's
evidence (what was found), for the committee brief and the case evidence pack.

What is measured (forest_loss/fire.py, hotspots/near.py): a detection counts when its **pixel** (a disc of half
the sensor's pixel around the published position) comes within the distance of the patch, so its published
position may lie up to the distance + half a pixel away; ``nearest_m`` in the evidence is measured to the published
position, which is why a counted detection may be reported farther than the distance. A fire event counts when its
footprint comes within the distance. Detections count wherever they lie, in a neighbouring province too.
"""

from __future__ import annotations

from typing import Any

from geo_service.thai import be_dmy

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


def evidence_words(cleared: bool, evidence: dict[str, Any] | None) -> tuple[str, str]:
    """(Thai, English) of one patch's mark and evidence: detections (count, days, the nearest published position),
    fire events (count, the nearest footprint), and the rule it was measured by. Older evidence without the
    separate distances or the rule is said as it was recorded."""
    if not cleared:
        return "ไม่พบไฟ", "no fire found"
    ev = evidence or {}
    th, en = ["ถูกเผา"], ["cleared by fire"]
    n = int(ev.get("hotspots") or 0)
    if n:
        days = ev.get("hotspot_days")
        en.append(f"{n} detection{'s' if n != 1 else ''}" + (f" {days[0]} to {days[1]}" if days else ""))
        th.append(f"จุดความร้อน {n} จุด" + (f" {be_dmy(days[0])}–{be_dmy(days[1])}" if days else ""))
        if ev.get("hotspot_nearest_m") is not None:
            en.append(f"the nearest published position {_m(ev['hotspot_nearest_m'])} m from the patch")
            th.append(f"ตำแหน่งที่เผยแพร่ใกล้สุดห่างแปลง {_m(ev['hotspot_nearest_m'])} ม.")
    events = ev.get("events") or []
    if events:
        en.append(f"{len(events)} fire event{'s' if len(events) != 1 else ''}")
        th.append(f"เหตุไฟ {len(events)} เหตุ")
        if ev.get("event_nearest_m") is not None:
            en.append(f"the nearest event footprint {_m(ev['event_nearest_m'])} m from the patch")
            th.append(f"ขอบเขตเหตุไฟใกล้สุดห่างแปลง {_m(ev['event_nearest_m'])} ม.")
    if "hotspot_nearest_m" not in ev and ev.get("nearest_m") is not None:  # evidence recorded before the split
        en.append(f"nearest {_m(ev['nearest_m'])} m")
        th.append(f"ใกล้สุด {_m(ev['nearest_m'])} ม.")
    if isinstance(ev.get("rule"), dict) and "distance_m" in ev["rule"]:
        r_th, r_en = rule_words(ev["rule"])
        en.append(f"({r_en.removeprefix('cleared by fire: ')})")
        th.append(f"({r_th.removeprefix('ถูกเผาร่วมด้วย: ')})")
    return ", ".join(th[:1]) + (": " + ", ".join(th[1:]) if len(th) > 1 else ""), (
        en[0] + (": " + ", ".join(en[1:]) if len(en) > 1 else "")
    )
