"""The Thai and English words of the red-flag codes, once: rules, contract work types, land-document types,
severities and statuses. The rules' reasons, the sheets, the staff maps, the case suggestions and a case's evidence
features (``store.flag_features`` and its siblings) all read them here."""

from __future__ import annotations

WORK_LABELS = {
    "firebreak": ("แนวกันไฟ", "firebreak"),
    "fire_control": ("ควบคุมไฟป่า", "fire-control"),
    "patrol": ("ลาดตระเวนป้องกันไฟป่า", "fire patrol"),
    "reforestation": ("ปลูกป่า", "reforestation"),
    "check_dam": ("ฝายชะลอน้ำ", "check dam"),
    "forest_road": ("ถนนในเขตป่า", "forest road"),
    "other": ("งานอื่น", "other work"),
}
RULE_LABELS = {
    "fire_in_fire_contract": ("ไฟไหม้ในพื้นที่สัญญาป้องกันไฟป่า", "Fire inside a fire-prevention contract area"),
    "reforestation_loss": ("ไฟไหม้หรือแผ้วถางในแปลงปลูกป่า", "Fire or clearing on a reforestation plot"),
    "outside_named_area": ("พื้นที่สัญญาอยู่นอกพื้นที่ที่ระบุในเอกสาร", "Contract area outside the area it names"),
    "double_payment": ("สัญญาซ้อนทับ งานเดียวกัน ปีเดียวกัน", "Overlapping paid contracts (double payment)"),
    "document_in_reserve": ("เอกสารสิทธิออกในเขตป่าหลังประกาศ", "Land document issued inside a reserve or park"),
    "cleared_before_issue": ("แปลงถูกเผา/แผ้วถางก่อนออกเอกสารสิทธิ", "Parcel burned or cleared before its document"),
    "recurrence": ("พื้นที่ป่าเดิมไหม้ซ้ำหลายฤดู", "Same reserve cell burning season after season"),
}
DOC_LABELS = {
    "chanote": ("โฉนด", "Chanote"),
    "nor_sor_3_gor": ("น.ส. 3 ก.", "Nor Sor 3 Gor"),
    "nor_sor_3": ("น.ส. 3", "Nor Sor 3"),
    "sor_kor_1": ("ส.ค. 1", "Sor Kor 1"),
    "sor_por_kor_4_01": ("ส.ป.ก. 4-01", "Sor Por Kor 4-01"),
    "other": ("อื่น ๆ", "other"),
}
SEVERITY_LABELS = {"high": ("สูง", "high"), "medium": ("ปานกลาง", "medium"), "low": ("ต่ำ", "low")}
STATUS_LABELS = {
    "open": ("เปิด", "open"),
    "linked": ("เชื่อมโยงคดีแล้ว", "linked to a case"),
    "dismissed": ("ยกเลิกแล้ว", "dismissed"),
}


def label(labels: dict[str, tuple[str, str]], code: str) -> tuple[str, str]:
    """(Thai, English) of ``code`` in ``labels``; the code itself in both when it has no words."""
    return labels.get(code, (code, code))
