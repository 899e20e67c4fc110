"""What must never appear in any public output (issue 17): the one list every domain extends.

``FORBIDDEN_KEYS``: property names that carry confidential case data, parcel owners, informants or the people
behind a record; no public JSON, GeoJSON or CSV header may hold one at any depth. ``forbidden_values``: the
planted strings of a hostile data set (tests/test_open_data.py builds one); none may appear in any public
response. A domain that stores something confidential adds its keys here (the citizen reports' contact fields
join at merge) and plants its values in ``test_open_data.hostile_data``.
"""

from __future__ import annotations

FORBIDDEN_KEYS: list[str] = [
    # incidents (redaction.py: names and staff-only text)
    "reporter",
    "created_by",
    "updated_by",
    "tags",
    # cases: everything but counts
    "summary",
    "confidentiality",
    "parties",
    "party_role",
    "notes",
    "assigned",
    "attachments",
    "target_type",  # a case link
    # briefs and layers: the staff behind them (user names)
    "published_by",
    "loaded_by",
    "made_by",
    "triaged_by",
    "assigned_to",
    # informants and contacts
    "contact",
    "informant",
    "phone",
    "email",
    # reports from the public (citizen/): sealed contacts, receipts, who opened what
    "sealed_contact",
    "line_id",
    "has_contact",
    "receipt",
    "receipt_hash",
    "opened_by",
]

# The hostile strings of the data set: each carries an ASCII token so that a copy is found whatever the encoding.
XSS = "<script>window.__pwned=1</script>"
PARTY_NAME = "นายสมศักดิ์ ลับเฉพาะ PARTY-NAME-4417"
PARCEL_OWNER = "ผู้ถือครองโฉนด 12345 นางมาลี PARCEL-OWNER-8820"
CASE_TITLE = "เรื่องลับ รับสินบน SECRET-CASE-7731"
CASE_SUMMARY = "สรุปเรื่องลับ CONFIDENTIAL-SUMMARY-5521"
CASE_NOTE = "พบผู้แจ้งที่วัด CASE-NOTE-3306"
INCIDENT_NOTE = "พบนายบุญมี ตัดไม้ INCIDENT-NOTE-9912"
INFORMANT = "ผู้แจ้ง นางคำ 081-999-1234 kham.informant@example.com"
INFORMANT_DEVICE = "SecretPhoneModel INFORMANT-DEVICE-2290"  # a citizen photo's EXIF
CASE_INTERNAL_TITLE = "เรื่องภายใน INTERNAL-TITLE-6650"  # not confidential, still never public

FORBIDDEN_VALUES: list[str] = [
    PARTY_NAME,
    "PARTY-NAME-4417",
    PARCEL_OWNER,
    "PARCEL-OWNER-8820",
    CASE_TITLE,
    "SECRET-CASE-7731",
    CASE_SUMMARY,
    "CONFIDENTIAL-SUMMARY-5521",
    CASE_NOTE,
    "CASE-NOTE-3306",
    INCIDENT_NOTE,
    "INCIDENT-NOTE-9912",
    INFORMANT,
    "081-999-1234",
    "kham.informant@example.com",
    CASE_INTERNAL_TITLE,
    "INTERNAL-TITLE-6650",
    INFORMANT_DEVICE,
    "INFORMANT-DEVICE-2290",
]
