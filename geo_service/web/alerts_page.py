"""The alerts page (GET /alerts, Thai first: subscriptions, contacts, the in-app list; its script talks to
/api/v1/alerts) and the unsubscribe link of every message (GET shows a confirmation, POST unsubscribes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from geo_service.alerts import service
from geo_service.api.deps import SessionDep
from geo_service.errors import Unauthorized
from geo_service.web.field import CSP, HERE

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

TEXT = {
    "title": ("การแจ้งเตือน", "Alerts"),
    "lang_toggle": ("English", "ไทย"),
    "signin_title": ("เข้าสู่ระบบ", "Sign in"),
    "username": ("ชื่อผู้ใช้", "Username"),
    "password": ("รหัสผ่าน", "Password"),
    "signin": ("เข้าสู่ระบบ", "Sign in"),
    "signout": ("ออกจากระบบ", "Sign out"),
    "contacts": ("ช่องทางรับแจ้งเตือน", "Where you receive alerts"),
    "email": ("อีเมล", "E-mail"),
    "line_user_id": ("LINE user ID", "LINE user ID"),
    "webhook_url": ("Webhook URL", "Webhook URL"),
    "save": ("บันทึก", "Save"),
    "new": ("สมัครรับแจ้งเตือนใหม่", "New subscription"),
    "subject_type": ("พื้นที่หรือเรื่อง", "Subject"),
    "district": ("อำเภอ", "District"),
    "subdistrict": ("ตำบล", "Subdistrict"),
    "protected_area": ("พื้นที่คุ้มครอง/ป่าสงวน", "Protected area"),
    "contract_area": ("พื้นที่สัญญา (เลขที่ในระบบ; ผู้สืบสวน)", "Contract area (its id; investigators)"),
    "case": ("คดี", "Case"),
    "polygon": ("รูปหลายเหลี่ยมที่วาด (GeoJSON)", "Drawn polygon (GeoJSON)"),
    "subject_code": ("รหัส / เลขคดี", "Code / case number"),
    "kinds": ("แจ้งเมื่อ", "Tell me about"),
    "hotspot": ("จุดความร้อนใหม่", "New hotspots"),
    "fire_event": ("ไฟป่าใหม่หรือขยายตัว", "New or growing fire events"),
    "clearing_patch": ("การแผ้วถางป่าใหม่", "New clearing patches"),
    "red_flag": ("ธงแดงใหม่ (ผู้สืบสวน)", "New red flags (investigators)"),
    "case_change": ("ความเคลื่อนไหวของคดี", "Case changes"),
    "min_confidence": ("ความเชื่อมั่นขั้นต่ำ", "Minimum confidence"),
    "delivery": ("การส่ง", "Delivery"),
    "immediate": ("ทันที", "Immediately"),
    "digest": ("สรุปรายวัน", "Daily digest"),
    "digest_time": ("เวลาสรุปรายวัน", "Digest time"),
    "quiet": ("ช่วงงดแจ้งเตือน", "Quiet hours"),
    "language": ("ภาษา", "Language"),
    "channels": ("ช่องทาง", "Channels"),
    "subscribe": ("สมัคร", "Subscribe"),
    "mine": ("การสมัครของฉัน", "My subscriptions"),
    "delete": ("ลบ", "Delete"),
    "recent": ("การแจ้งเตือนล่าสุด", "Recent alerts"),
    "none": ("ยังไม่มี", "None yet"),
    "unsubscribe_title": ("ยกเลิกการรับแจ้งเตือน", "Unsubscribe"),
    "unsubscribe_confirm": ("ยืนยันการยกเลิกการรับแจ้งเตือนนี้", "Stop receiving this alert"),
    "unsubscribe_button": ("ยกเลิกการรับแจ้งเตือน", "Unsubscribe"),
    "unsubscribed": ("ยกเลิกการรับแจ้งเตือนแล้ว", "You are unsubscribed"),
    "gone": ("ไม่พบการสมัครนี้ (อาจถูกลบไปแล้ว)", "This subscription no longer exists"),
    "invalid_link": ("ลิงก์ไม่ถูกต้อง", "This link is not valid"),
}


def _render(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
    text = {k: {"th": th, "en": en} for k, (th, en) in TEXT.items()}
    response = templates.TemplateResponse(
        request, name, {"t": {k: v["th"] for k, v in text.items()}, "text": text, **context}, status_code=status_code
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> HTMLResponse:
    """Manage your subscriptions and read your latest alerts (signs in with the API, like the field form)."""
    return _render(request, "alerts.html", {})


@router.get("/alerts/unsubscribe", response_class=HTMLResponse)
def unsubscribe_confirm(
    request: Request, session: SessionDep, token: Annotated[str, Query(max_length=2000)] = ""
) -> HTMLResponse:
    """The confirmation page of an unsubscribe link (a GET changes nothing: mail scanners open links)."""
    try:
        sid, username = service.read_unsubscribe_token(token, request.app.state.jwt_secret)
    except Unauthorized:
        return _render(request, "alerts_unsubscribe.html", {"state": "invalid"}, status_code=400)
    return _render(
        request, "alerts_unsubscribe.html", {"state": "confirm", "token": token, "sid": sid, "username": username}
    )


@router.post("/alerts/unsubscribe", response_class=HTMLResponse)
def unsubscribe_post(
    request: Request, session: SessionDep, token: Annotated[str, Form(max_length=2000)] = ""
) -> HTMLResponse:
    """Unsubscribe the link's person from the link's subscription (idempotent)."""
    try:
        sid, username = service.read_unsubscribe_token(token, request.app.state.jwt_secret)
    except Unauthorized:
        return _render(request, "alerts_unsubscribe.html", {"state": "invalid"}, status_code=400)
    with session.begin():
        done = service.unsubscribe(session, sid, username)
    return _render(
        request,
        "alerts_unsubscribe.html",
        {"state": "done" if done else "gone", "sid": sid, "username": username},
        status_code=200 if done else 404,
    )
