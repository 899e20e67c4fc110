"""The field form's words in Thai and English: one table, rendered in Thai by the server and sent to the
page (as JSON) for the language toggle."""

from __future__ import annotations

from geo_service.db.models import INCIDENT_KIND_LABELS, Severity

LANGUAGES = ("th", "en")

SEVERITY_LABELS: dict[Severity, tuple[str, str]] = {
    Severity.low: ("ต่ำ", "Low"),
    Severity.medium: ("ปานกลาง", "Medium"),
    Severity.high: ("สูง", "High"),
    Severity.critical: ("วิกฤต", "Critical"),
}

TEXT: dict[str, tuple[str, str]] = {
    "title": ("แจ้งเหตุในพื้นที่ป่า", "Report a forest incident"),
    "lang_toggle": ("English", "ภาษาไทย"),
    "signin_title": ("เข้าสู่ระบบ", "Sign in"),
    "signin_note": ("ร่างที่กรอกไว้จะไม่หาย", "Your draft is kept"),
    "username": ("ชื่อผู้ใช้", "Username"),
    "password": ("รหัสผ่าน", "Password"),
    "signin": ("เข้าสู่ระบบ", "Sign in"),
    "signout": ("ออกจากระบบ", "Sign out"),
    "signed_in_as": ("ผู้ใช้:", "Signed in as"),
    "signin_failed": ("เข้าสู่ระบบไม่สำเร็จ", "Sign-in failed"),
    "session_expired": ("หมดเวลาการเข้าสู่ระบบ กรุณาเข้าสู่ระบบอีกครั้ง", "Your session has ended: sign in again"),
    "kind": ("ประเภทเหตุ", "Kind of incident"),
    "severity": ("ความรุนแรง", "Severity"),
    "description": ("รายละเอียด", "Description"),
    "observed_at": ("เวลาที่พบ (เวลาประเทศไทย)", "Observed at (Thailand time)"),
    "position": ("พิกัด", "Position"),
    "position_help": (
        "ทศนิยม, องศา-ลิปดา-ฟิลิปดา หรือ UTM เช่น 47Q 537172 1958350",
        "Decimal, degrees-minutes-seconds or UTM, e.g. 47Q 537172 1958350",
    ),
    "datum": ("พื้นหลักฐาน (Datum)", "Datum"),
    "datum_wgs84": ("WGS 84 (GPS, โทรศัพท์)", "WGS 84 (GPS, phones)"),
    "datum_indian1975": ("Indian 1975 (แผนที่ 1:50,000 เดิม)", "Indian 1975 (old 1:50,000 maps)"),
    "use_location": ("ใช้ตำแหน่งของฉัน", "Use my location"),
    "locating": ("กำลังหาตำแหน่ง…", "Finding your position…"),
    "accuracy": ("ความแม่นยำ ± {m} เมตร", "Accuracy ± {m} m"),
    "geo_failed": ("หาตำแหน่งไม่ได้", "Could not get your position"),
    "geo_unavailable": ("อุปกรณ์นี้ไม่รองรับการหาตำแหน่ง", "This device cannot give a position"),
    "check_position": ("ตรวจสอบตำแหน่ง", "Check the position"),
    "checking": ("กำลังตรวจสอบ…", "Checking…"),
    "place_title": ("ตำแหน่งนี้อยู่ใน", "This position is in"),
    "place_checking": ("กำลังตรวจสอบว่าตำแหน่งนี้อยู่ที่ไหน…", "Checking where this position falls…"),
    "district": ("อำเภอ", "District"),
    "subdistrict": ("ตำบล", "Subdistrict"),
    "protected_areas": ("พื้นที่คุ้มครอง", "Protected areas"),
    "none": ("ไม่มี", "none"),
    "in_reserve": ("อยู่ในเขตป่าสงวนแห่งชาติ", "Inside a National Reserved Forest"),
    "not_in_reserve": ("อยู่นอกเขตป่าสงวนแห่งชาติ", "Outside any National Reserved Forest"),
    "reserve_distance": ("ห่างจากแนวเขตป่าสงวน {m} เมตร", "{m} m from the reserve boundary"),
    "illustrative": ("(ขอบเขตตัวอย่าง ไม่ใช่ขอบเขตทางการ)", "(illustrative boundary, not official)"),
    "outside_province_place": ("นอกเขตจังหวัด", "Outside the province"),
    "outside_province_near": (
        "นอกเขตจังหวัด ห่าง {km} กม. อำเภอที่ใกล้ที่สุด {district} ({dkm} กม.)",
        "Outside the province, {km} km away; nearest district {district} ({dkm} km)",
    ),
    "read_as": ("อ่านได้เป็น {text} ({name})", "Read as {text} ({name})"),
    "did_you_mean": ("หมายถึง ละติจูด {lat} ลองจิจูด {lon} ใช่ไหม", "Did you mean latitude {lat}, longitude {lon}?"),
    "apply_suggestion": ("ใช้ค่านี้", "Use this"),
    "confirm_outside": ("ยืนยัน: ตำแหน่งถูกต้อง อยู่นอกจังหวัด", "Confirm: the position is right, outside the province"),
    "photos": ("รูปถ่าย", "Photos"),
    "photos_selected": ("เลือกแล้ว {n} รูป", "{n} photo(s) selected"),
    "submit": ("บันทึกและส่ง", "Save and send"),
    "new_report": ("เริ่มรายงานใหม่", "Start a new report"),
    "draft_saved": ("บันทึกร่างในเครื่องแล้ว", "Draft saved on this phone"),
    "need_position": ("กรุณาใส่พิกัด", "Enter a position"),
    "outbox": ("รายการที่ส่ง", "Sending"),
    "online": ("ออนไลน์", "Online"),
    "offline": ("ไม่มีสัญญาณ: จะส่งให้อัตโนมัติเมื่อกลับมาออนไลน์", "Offline: reports are sent when the network is back"),
    "state_waiting": ("รอสัญญาณ", "Waiting for network"),
    "state_signin": ("รอเข้าสู่ระบบ", "Waiting for sign-in"),
    "state_sending": ("กำลังส่ง…", "Sending…"),
    "state_photos": ("กำลังส่งรูป…", "Sending photos…"),
    "state_sent": ("ส่งแล้ว", "Sent"),
    "state_refused": ("ถูกปฏิเสธ", "Refused"),
    "photos_failed": ("ส่งรูปไม่สำเร็จ", "Photos not sent"),
    # field tasks: clearing patches seen from space, sent to the field to verify (issue 14)
    "tasks_title": ("งานตรวจสอบการแผ้วถางใกล้ฉัน", "Clearing checks near me"),
    "tasks_help": (
        "แปลงที่ดาวเทียมพบการสูญเสียป่า ซึ่งพนักงานไต่สวนส่งมาให้ตรวจในพื้นที่",
        "Forest loss seen by satellite that an investigator sent to the field",
    ),
    "tasks_radius": ("ระยะค้นหา", "Search radius"),
    "tasks_find": ("ค้นหางานใกล้ตำแหน่งฉัน", "Find tasks near my position"),
    "tasks_found": ("พบ {n} งาน ในระยะ {km} กม.", "{n} tasks within {km} km"),
    "tasks_need_position": (
        "ต้องมีตำแหน่ง: กด “ใช้ตำแหน่งปัจจุบัน” หรือพิมพ์พิกัด",
        "A position is needed: use your location or type one",
    ),
    "tasks_cached": ("แสดงรายการล่าสุดที่บันทึกไว้", "showing the last list kept on this phone"),
    "task_figures": ("{rai} ไร่ ({ha} เฮกตาร์) · ห่าง {m} ม.", "{rai} rai ({ha} ha) · {m} m away"),
    "task_sources": ("ระบบแจ้งเตือน", "Alert systems"),
    "task_fire": ("มีไฟร่วมด้วย", "burned too"),
    "task_note": ("หมายเหตุ", "Note"),
    "task_log": ("บันทึกเหตุสำหรับงานนี้", "Log the incident for this task"),
    "task_false_alarm": ("ไม่พบการแผ้วถาง", "False alarm"),
    "task_already_known": ("ทราบอยู่แล้ว", "Already known"),
    "task_for": ("เหตุนี้เป็นผลตรวจแปลง #{id} (ยืนยันการแผ้วถาง)", "This incident verifies clearing patch #{id}"),
    "task_cancel": ("ไม่ผูกกับงาน", "Not for a task"),
    "task_failed": ("บันทึกผลงานตรวจไม่สำเร็จ", "Task outcome not recorded"),
    "state_task": ("กำลังส่งผลตรวจ…", "Sending the task outcome…"),
    "edit_again": ("แก้ไขแล้วส่งใหม่", "Edit and send again"),
    "attempt": ("ครั้งที่ {n}", "attempt {n}"),
    "error": ("ผิดพลาด", "Error"),
    "network_error": ("ติดต่อเซิร์ฟเวอร์ไม่ได้", "Cannot reach the server"),
    # Headings for the server's error codes (its message follows in English).
    "err_swapped_coordinates": ("ละติจูดและลองจิจูดอาจสลับกัน", "Latitude and longitude look swapped"),
    "err_wrong_sign": ("เครื่องหมายลบหรือตัวอักษรซีกโลกอาจผิด", "A minus sign or hemisphere letter looks wrong"),
    "err_wrong_utm_zone": ("โซน UTM อาจผิด", "The UTM zone looks wrong"),
    "err_outside_province": ("ตำแหน่งอยู่นอกจังหวัด", "The position is outside the province"),
    "err_outside_thailand": ("ตำแหน่งอยู่นอกประเทศไทย", "The position is outside Thailand"),
    "err_invalid_coordinates": ("อ่านพิกัดไม่ได้", "The position cannot be read"),
    "err_unreadable_coordinates": ("อ่านพิกัดไม่ได้", "The position cannot be read"),
    "err_missing_coordinates": ("ไม่มีพิกัด", "The position is empty"),
    "err_future_time": ("เวลาที่พบอยู่ในอนาคต", "The observed time is in the future"),
    "err_validation_error": ("ข้อมูลบางช่องไม่ถูกต้อง", "Some fields are not valid"),
    "err_unauthorized": ("ต้องเข้าสู่ระบบ", "You need to sign in"),
    "err_forbidden": ("บัญชีนี้ไม่มีสิทธิ์", "This account may not do this"),
    "err_default": ("ข้อมูลไม่ถูกต้อง", "The server refused the request"),
}


def page_text() -> dict[str, dict[str, str]]:
    """Every string of the page by key and language, kind and severity labels included."""
    out = {key: dict(zip(LANGUAGES, pair)) for key, pair in TEXT.items()}
    # Kinds carry both languages: officers and partners use both names.
    out.update(
        {
            f"kind_{k.value}": {"th": f"{th} · {en}", "en": f"{en} · {th}"}
            for k, (th, en) in INCIDENT_KIND_LABELS.items()
        }
    )
    out.update({f"severity_{s.value}": dict(zip(LANGUAGES, pair)) for s, pair in SEVERITY_LABELS.items()})
    return out
