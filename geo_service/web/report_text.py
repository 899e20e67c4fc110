"""The public report page's words in Thai and English (rendered in Thai by the server, both sent for the toggle)."""

from __future__ import annotations

from geo_service.web.field_text import TEXT as FIELD_TEXT

LANGUAGES = ("th", "en")
KINDS: dict[str, tuple[str, str]] = {
    "encroachment": ("บุกรุกพื้นที่ป่า/ที่ดินรัฐ", "Encroachment on forest or state land"),
    "logging": ("ตัดไม้", "Logging"),
    "burning": ("เผาป่า/เผาในที่โล่ง", "Burning"),
    "project_misuse": ("โครงการสาธารณะไม่โปร่งใส/ใช้ผิดวัตถุประสงค์", "Misuse of a public project"),
}
# Reused from the field form: position, map words and error headings.
SHARED = (
    "lang_toggle", "position_help", "datum", "datum_wgs84", "datum_indian1975", "use_location", "locating",
    "accuracy", "geo_failed", "geo_unavailable", "check_position", "checking", "place_title", "district",
    "subdistrict", "protected_areas", "none", "in_reserve", "not_in_reserve", "reserve_distance", "illustrative",
    "outside_province_place", "outside_province_near", "read_as", "online", "offline", "network_error",
    "err_swapped_coordinates", "err_wrong_sign", "err_wrong_utm_zone", "err_outside_thailand",
    "err_invalid_coordinates", "err_unreadable_coordinates", "err_future_time", "err_validation_error", "err_default",
)  # fmt: skip
TEXT: dict[str, tuple[str, str]] = {
    "title": ("แจ้งเบาะแส ป่าไม้และทรัพย์สินสาธารณะ", "Report what you saw: forests and public property"),
    "safety": (
        "ไม่ต้องสมัครสมาชิก ไม่เก็บที่อยู่ IP หรือข้อมูลเครื่อง ข้อมูลติดต่อ (ถ้าให้) ถูกเข้ารหัส "
        "เปิดอ่านได้เฉพาะพนักงานไต่สวนผู้รับผิดชอบ และทุกครั้งที่เปิดจะถูกบันทึกไว้ "
        "ตำแหน่ง GPS ในรูปถ่ายจะถูกลบออกก่อนแสดงให้ผู้อื่นดู",
        "No account. No IP address or device data is kept. Contact details (if you give them) are encrypted: only "
        "the investigator assigned to your report can open them, and every opening is recorded. The GPS position "
        "in your photos is removed from every copy shown to anyone.",
    ),
    "what": ("สิ่งที่พบ", "What you saw"),
    "position": ("ที่ไหน", "Where"),
    "map_help": ("แตะบนแผนที่ ใช้ GPS หรือพิมพ์พิกัด", "Tap the map, use GPS, or type a position"),
    "map_picked": ("เลือกจากแผนที่: {lat}, {lon}", "Picked on the map: {lat}, {lon}"),
    "map_unavailable": ("แผนที่ยังไม่พร้อม (ต้องออนไลน์ครั้งแรก)", "The map needs the network the first time"),
    "observed_at": ("เมื่อไร (เวลาประเทศไทย)", "When (Thailand time)"),
    "description": ("รายละเอียด", "What happened"),
    "photos": ("รูปถ่าย (ไม่เกิน 5 รูป)", "Photos (up to 5)"),
    "photos_selected": ("เลือกแล้ว {n} รูป", "{n} photo(s) selected"),
    "contact": ("ช่องทางติดต่อกลับ (ไม่บังคับ, เข้ารหัส)", "How to reach you (optional, encrypted)"),
    "contact_name": ("ชื่อ", "Name"),
    "contact_phone": ("โทรศัพท์", "Phone"),
    "contact_email": ("อีเมล", "Email"),
    "contact_line": ("LINE ID", "LINE ID"),
    "contact_note": ("ติดต่อได้เวลาใด/อย่างไรจึงปลอดภัย", "When and how it is safe to reach you"),
    "website": ("เว็บไซต์ (เว้นว่างไว้)", "Website (leave empty)"),
    "submit": ("ส่งเรื่อง", "Send the report"),
    "need_position": ("กรุณาเลือกหรือใส่ตำแหน่ง", "Pick or type a position"),
    "draft_saved": ("บันทึกร่างในเครื่องแล้ว", "Draft saved on this phone"),
    "outbox": ("เรื่องที่แจ้งจากเครื่องนี้", "Reports from this phone"),
    "state_waiting": ("รอสัญญาณ จะส่งอัตโนมัติ", "Waiting for the network; it will be sent"),
    "state_sending": ("กำลังส่ง…", "Sending…"),
    "state_sent": ("ส่งแล้ว", "Sent"),
    "state_refused": ("ส่งไม่สำเร็จ", "Not accepted"),
    "receipt": ("รหัสติดตามเรื่อง", "Receipt code"),
    "receipt_keep": (
        "จดรหัสนี้ไว้ ใช้ติดตามสถานะและเพิ่มข้อมูลได้ ไม่มีทางอื่นที่จะเชื่อมเรื่องนี้กับคุณ",
        "Write this code down: it is the only way to follow the report and add to it; nothing else links it to you.",
    ),
    "forget": ("ลบออกจากเครื่องนี้", "Remove from this phone"),
    "follow": ("ติดตามเรื่อง", "Follow a report"),
    "follow_check": ("ดูสถานะ", "See the status"),
    "status": ("สถานะ", "Status"),
    "reason": ("เหตุผล", "Reason"),
    "add_info": ("เพิ่มข้อมูล", "Add information"),
    "add_send": ("ส่งข้อมูลเพิ่ม", "Send the addition"),
    "added": ("ส่งข้อมูลเพิ่มแล้ว", "Addition sent"),
    "member": ("สมาชิกเครือข่ายภาคประชาชน: เข้าสู่ระบบ (ไม่บังคับ)", "Network members: sign in (optional)"),
    "member_note": (
        "รายงานในนามสมาชิก ชื่อของคุณถูกเข้ารหัสเช่นเดียวกับข้อมูลติดต่อ",
        "Reports are sent as a member; your name is sealed like contact details",
    ),
    "username": ("ชื่อผู้ใช้", "Username"),
    "password": ("รหัสผ่าน", "Password"),
    "signin": ("เข้าสู่ระบบ", "Sign in"),
    "signout": ("ออกจากระบบ", "Sign out"),
    "member_as": ("ส่งในนามสมาชิกเครือข่าย:", "Sending as network member:"),
    "state_signin": ("รอสมาชิกเข้าสู่ระบบอีกครั้ง", "Waiting for the member to sign in again"),
    "err_unauthorized": ("ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง", "Wrong username or password"),
    "err_too_many_requests": ("ส่งบ่อยเกินไป กรุณารอสักครู่", "Too many requests; please wait a while"),
    "err_unknown_receipt": ("ไม่พบรหัสนี้", "No report has this code"),
    "err_invalid_receipt": ("รหัสไม่ถูกต้อง", "This is not a receipt code"),
    "err_unsupported_photo": ("ไฟล์รูปใช้ไม่ได้", "A photo cannot be read"),
    "err_payload_too_large": ("ไฟล์ใหญ่เกินไป", "A file is too large"),
}


def page_text() -> dict[str, dict[str, str]]:
    """Every string of the page by key and language, the kinds included."""
    out = {key: dict(zip(LANGUAGES, FIELD_TEXT[key])) for key in SHARED}
    out.update({key: dict(zip(LANGUAGES, pair)) for key, pair in TEXT.items()})
    out.update({f"kind_{k}": dict(zip(LANGUAGES, pair)) for k, pair in KINDS.items()})
    return out
