"""ORM models (SQLAlchemy 2 + GeoAlchemy2). The schema itself is created by the Alembic migrations."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of the ORM classes (constraint names by convention)."""

    metadata = MetaData(naming_convention=NAMING)


class AdminLevel(str, enum.Enum):
    """Level of an administrative area."""

    province = "province"
    district = "district"
    subdistrict = "subdistrict"


class ProtectedKind(str, enum.Enum):
    """Kind of a protected area."""

    national_reserved_forest = "national_reserved_forest"
    national_park = "national_park"
    wildlife_sanctuary = "wildlife_sanctuary"
    forest_park = "forest_park"
    community_forest = "community_forest"
    other = "other"


PROTECTED_KIND_LABELS: dict[ProtectedKind, tuple[str, str]] = {
    ProtectedKind.national_reserved_forest: ("ป่าสงวนแห่งชาติ", "National Reserved Forest"),
    ProtectedKind.national_park: ("อุทยานแห่งชาติ", "National Park"),
    ProtectedKind.wildlife_sanctuary: ("เขตรักษาพันธุ์สัตว์ป่า", "Wildlife Sanctuary"),
    ProtectedKind.forest_park: ("วนอุทยาน", "Forest Park"),
    ProtectedKind.community_forest: ("ป่าชุมชน", "Community Forest"),
    ProtectedKind.other: ("พื้นที่อื่น", "Other protected or state land"),
}

ADMIN_LEVEL_LABELS: dict[AdminLevel, tuple[str, str]] = {
    AdminLevel.province: ("จังหวัด", "Province"),
    AdminLevel.district: ("อำเภอ", "District"),
    AdminLevel.subdistrict: ("ตำบล", "Subdistrict"),
}


class LayerSource(Base):
    """One loaded version of a layer file: where it came from, under which licence, when it was loaded."""

    __tablename__ = "layer_sources"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_layer_sources_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(60))
    layer_type: Mapped[str] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    licence: Mapped[str] = mapped_column(Text)
    attribution: Mapped[str] = mapped_column(Text)
    illustrative: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    file_name: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    feature_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    loaded_by: Mapped[str | None] = mapped_column(String(120))


class AdminArea(Base):
    """Province, district (amphoe) or subdistrict (tambon), by its official (DOPA) code."""

    __tablename__ = "admin_areas"
    __table_args__ = (
        UniqueConstraint("level", "code", "version", name="uq_admin_areas_level_code_version"),
        Index("uq_admin_areas_current", "level", "code", unique=True, postgresql_where=text("is_current")),
        Index("ix_admin_areas_parent", "parent_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[AdminLevel] = mapped_column(Enum(AdminLevel, name="admin_level"))
    code: Mapped[str] = mapped_column(String(20))
    version: Mapped[str] = mapped_column(String(60))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    area_m2: Mapped[float] = mapped_column(Float)
    is_current: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    source_id: Mapped[int] = mapped_column(ForeignKey("layer_sources.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)

    source: Mapped[LayerSource] = relationship()


class ProtectedArea(Base):
    """A National Reserved Forest, park, sanctuary or other protected land, one row per boundary version.

    A revised or partly revoked boundary is a new version of the same code with its own validity period;
    the area "in force" on a date is the version whose [valid_from, valid_to) covers it.
    """

    __tablename__ = "protected_areas"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_protected_areas_code_version"),
        Index("ix_protected_areas_kind", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(60))
    kind: Mapped[ProtectedKind] = mapped_column(Enum(ProtectedKind, name="protected_kind"))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    legal_reference: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    illustrative: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    area_m2: Mapped[float] = mapped_column(Float)
    source_id: Mapped[int] = mapped_column(ForeignKey("layer_sources.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)

    source: Mapped[LayerSource] = relationship()


class IncidentKind(str, enum.Enum):
    """Kind of a field incident."""

    encroachment = "encroachment"
    land_clearing = "land_clearing"
    illegal_logging = "illegal_logging"
    burning = "burning"
    wildfire = "wildfire"
    other = "other"


class IncidentStatus(str, enum.Enum):
    """Where an incident stands."""

    reported = "reported"
    verified = "verified"
    rejected = "rejected"
    linked = "linked"


class Severity(str, enum.Enum):
    """How serious an incident is."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


INCIDENT_KIND_LABELS: dict[IncidentKind, tuple[str, str]] = {
    IncidentKind.encroachment: ("บุกรุกพื้นที่ป่า", "Encroachment"),
    IncidentKind.land_clearing: ("แผ้วถางป่า", "Land clearing"),
    IncidentKind.illegal_logging: ("ลักลอบตัดไม้", "Illegal logging"),
    IncidentKind.burning: ("การเผา", "Burning"),
    IncidentKind.wildfire: ("ไฟป่า", "Wildfire"),
    IncidentKind.other: ("อื่น ๆ", "Other"),
}


class User(Base):
    """A user account (the users table)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("username", name="uq_users_username"),
        CheckConstraint(
            "roles <@ ARRAY['administrator','investigator','field_officer','committee_member','partner',"
            "'national_viewer','network_member']::text[]",
            name="known_roles",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    display_name: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # in every token; +1 on sign-out, deactivation and role changes revokes the tokens issued before (0015)
    token_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # the province codes the account works in (0019); empty for national roles (administrator, national viewer)
    provinces: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))


class Incident(Base):
    """A field observation: what, when, where (as entered and in WGS 84), and where that falls."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_incidents_idempotency_key"),
        CheckConstraint("area_geom IS NULL OR ST_IsValid(area_geom)", name="area_valid"),
        Index("ix_incidents_district_code", "district_code"),
        Index("ix_incidents_observed_at", "observed_at"),
        Index("ix_incidents_protected_area_codes", "protected_area_codes", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[IncidentKind] = mapped_column(Enum(IncidentKind, name="incident_kind"))
    status: Mapped[IncidentStatus] = mapped_column(
        Enum(IncidentStatus, name="incident_status"), server_default="reported"
    )
    severity: Mapped[Severity] = mapped_column(Enum(Severity, name="incident_severity"), server_default="medium")
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    description: Mapped[str] = mapped_column(Text, server_default="")
    reporter: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    location_text: Mapped[str] = mapped_column(Text)
    location_format: Mapped[str] = mapped_column(String(10))
    location_datum: Mapped[str] = mapped_column(String(12))
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    area_geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)
    area_m2: Mapped[float | None] = mapped_column(Float)
    province_code: Mapped[str | None] = mapped_column(String(20))
    district_code: Mapped[str | None] = mapped_column(String(20))
    subdistrict_code: Mapped[str | None] = mapped_column(String(20))
    protected_area_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    reserve_code: Mapped[str | None] = mapped_column(String(40))
    in_reserve: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reserve_distance_m: Mapped[float | None] = mapped_column(Float)
    outside_province: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_by: Mapped[str | None] = mapped_column(String(120))
    updated_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IncidentPhoto(Base):
    """A photo of an incident (the incident_photos table)."""

    __tablename__ = "incident_photos"
    __table_args__ = (UniqueConstraint("incident_id", "sha256", name="uq_incident_photos_incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    original: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    exif_lon: Mapped[float | None] = mapped_column(Float)
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    distance_m: Mapped[float | None] = mapped_column(Float)
    time_offset_s: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    uploaded_by: Mapped[str | None] = mapped_column(String(120))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- cases, partner keys, audit (migration 0004) --------------------------------------------------
class CaseCategory(str, enum.Enum):
    """Category of a case."""

    encroachment_permitted = "encroachment_permitted"
    land_documents_in_reserve = "land_documents_in_reserve"
    budget_misuse = "budget_misuse"
    illegal_logging = "illegal_logging"
    procurement = "procurement"
    other = "other"


class CaseStage(str, enum.Enum):
    """Stage of a case in its workflow."""

    received = "received"
    preliminary_review = "preliminary_review"
    fact_finding = "fact_finding"
    decision = "decision"
    referred = "referred"
    closed = "closed"


class Confidentiality(str, enum.Enum):
    """How confidential a case is."""

    internal = "internal"
    confidential = "confidential"


class PartyRole(str, enum.Enum):
    """A party's role in a case."""

    official_concerned = "official_concerned"
    suspect = "suspect"
    agency = "agency"
    complainant = "complainant"
    informant = "informant"
    witness = "witness"


class LinkTarget(str, enum.Enum):
    """What a case link points at."""

    incident = "incident"
    hotspot = "hotspot"
    fire_event = "fire_event"
    protected_area = "protected_area"
    district = "district"
    raster_stat = "raster_stat"
    clearing_patch = "clearing_patch"
    red_flag = "red_flag"
    contract = "contract"
    parcel = "parcel"


CASE_CATEGORY_LABELS: dict[CaseCategory, tuple[str, str]] = {
    CaseCategory.encroachment_permitted: ("ปล่อยปละหรืออนุญาตให้บุกรุก", "Encroachment permitted or ignored"),
    CaseCategory.land_documents_in_reserve: ("ออกเอกสารสิทธิในเขตป่า", "Land documents inside a reserve"),
    CaseCategory.budget_misuse: ("ทุจริตงบป้องกันไฟป่า/ปลูกป่า", "Fire-control or reforestation budget misuse"),
    CaseCategory.illegal_logging: ("ลักลอบตัดไม้", "Illegal logging"),
    CaseCategory.procurement: ("จัดซื้อจัดจ้าง", "Procurement"),
    CaseCategory.other: ("อื่น ๆ", "Other"),
}
CASE_STAGE_LABELS: dict[CaseStage, tuple[str, str]] = {
    CaseStage.received: ("รับเรื่องร้องเรียน", "Complaint received"),
    CaseStage.preliminary_review: ("ตรวจสอบเบื้องต้น", "Preliminary review"),
    CaseStage.fact_finding: ("แสวงหาข้อเท็จจริง", "Fact-finding inquiry"),
    CaseStage.decision: ("พิจารณาวินิจฉัย", "Decision"),
    CaseStage.referred: ("ส่งต่อหน่วยงาน", "Referred"),
    CaseStage.closed: ("ยุติเรื่อง", "Closed"),
}


class CaseCounter(Base):
    """The last case number of a fiscal year (the case_counters table)."""

    __tablename__ = "case_counters"
    fiscal_year_be: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """A case (the cases table)."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("reference", name="uq_cases_reference"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, server_default="")
    category: Mapped[CaseCategory] = mapped_column(Enum(CaseCategory, name="case_category"))
    stage: Mapped[CaseStage] = mapped_column(Enum(CaseStage, name="case_stage"), server_default="received")
    confidentiality: Mapped[Confidentiality] = mapped_column(
        Enum(Confidentiality, name="case_confidentiality"), server_default="internal"
    )
    received_on: Mapped[date] = mapped_column(Date)
    fiscal_year_be: Mapped[int] = mapped_column(Integer)
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    province_code: Mapped[str | None] = mapped_column(String(20), index=True)  # the office's province (0019)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseAssignment(Base):
    """An investigator assigned to a case (the case_assignments table)."""

    __tablename__ = "case_assignments"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseParty(Base):
    """A party of a case (the case_parties table)."""

    __tablename__ = "case_parties"
    __table_args__ = (Index("ix_case_parties_case_id", "case_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    position: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(Text)
    party_role: Mapped[PartyRole] = mapped_column(Enum(PartyRole, name="party_role"))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseTransition(Base):
    """A move of a case from one stage to another (the case_transitions table)."""

    __tablename__ = "case_transitions"
    __table_args__ = (Index("ix_case_transitions_case_id", "case_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(Text)
    to_stage: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseNote(Base):
    """A note on a case (the case_notes table)."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case_id", "case_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    confidential: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseAttachment(Base):
    """A file attached to a case (the case_attachments table)."""

    __tablename__ = "case_attachments"
    __table_args__ = (UniqueConstraint("case_id", "sha256", name="uq_case_attachments_case_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseLink(Base):
    """Evidence linked to a case (the case_links table)."""

    __tablename__ = "case_links"
    __table_args__ = (
        UniqueConstraint("case_id", "target_type", "target_id", name="uq_case_links_case_id"),
        Index("ix_case_links_target", "target_type", "target_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    target_type: Mapped[LinkTarget] = mapped_column(Enum(LinkTarget, name="link_target"))
    target_id: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    """A partner API key, stored as its hash (the api_keys table)."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("prefix", name="uq_api_keys_prefix"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Append-only; id, time and the hash chain are set by the database trigger."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("clock_timestamp()"))
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(80))
    before = mapped_column(JSONB, nullable=True)
    after = mapped_column(JSONB, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCounter(Base):
    """The last audit entry id (one row); moved by the chain trigger in the inserting transaction (0013)."""

    __tablename__ = "audit_counter"
    __table_args__ = (CheckConstraint("one", name="ck_audit_counter_one_row"),)
    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=text("true"))
    last_id: Mapped[int] = mapped_column(BigInteger)
    gapless_from: Mapped[int] = mapped_column(BigInteger)


# --- satellite hotspots (issue 4) -------------------------------------------------------------------
class HotspotBatch(Base):
    """One ingest of FIRMS detections: where from, the file's SHA-256, what it changed, how long it took."""

    __tablename__ = "hotspot_batches"
    __table_args__ = (Index("ix_hotspot_batches_file_sha256", "file_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    rows_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_new: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_updated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_unchanged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_refused: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_outside: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    first_acq: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_acq: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float] = mapped_column(Float, server_default=text("0"))
    report = mapped_column(JSONB)
    loaded_by: Mapped[str | None] = mapped_column(String(120))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FireEvent(Base):
    """Hotspots of all sensors clustered in space and time; the id survives extension and NRT->SP replacement."""

    __tablename__ = "fire_events"
    __table_args__ = (Index("ix_fire_events_first_seen", "first_seen"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detections: Mapped[int] = mapped_column(Integer)
    max_frp: Mapped[float | None] = mapped_column(Float)
    sensors = mapped_column(ARRAY(Text), nullable=False)
    district_code: Mapped[str | None] = mapped_column(String(20))
    reserve_code: Mapped[str | None] = mapped_column(String(40))
    area_m2: Mapped[float] = mapped_column(Float, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    footprint = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=True), nullable=False)


class Hotspot(Base):
    """One FIRMS detection, attributed to province, district, subdistrict and protected areas when stored.

    The detection key (satellite, acquisition time, position to 1e-4 degree) makes a re-ingest, or the
    standard-processing version of a near-real-time detection, an update of the same row.

    Range-partitioned by ``acq_utc``, one partition per Asia/Bangkok year and a DEFAULT one (migration 0021,
    ``hotspots.partitions``): the primary key holds the partition key, (id, acq_utc); ``id`` alone stays unique
    (one sequence).
    """

    __tablename__ = "hotspots"
    __table_args__ = (
        # time first: a new ingest appends at the right edge; satellite last, compared as bytes (migration 0006)
        UniqueConstraint("acq_utc", "lat_e4", "lon_e4", "satellite", name="uq_hotspots_detection"),
        CheckConstraint("confidence BETWEEN 1 AND 3", name="confidence_scale"),
        CheckConstraint("processing IN ('NRT', 'SP')", name="processing_kind"),
        Index("ix_hotspots_acq_date_local", "acq_date_local", postgresql_using="brin"),
        Index("idx_hotspots_geom", "geom", postgresql_using="gist"),  # vector tiles, bbox (migration 0019)
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    satellite: Mapped[str] = mapped_column(String(12, collation="C"))
    instrument: Mapped[str] = mapped_column(String(8))
    processing: Mapped[str] = mapped_column(String(3))
    version: Mapped[str | None] = mapped_column(String(16))
    acq_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)  # the partition key
    acq_date_local: Mapped[date] = mapped_column(Date)
    lat_e4: Mapped[int] = mapped_column(Integer)
    lon_e4: Mapped[int] = mapped_column(Integer)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    brightness: Mapped[float | None] = mapped_column(Float)
    bright_2: Mapped[float | None] = mapped_column(Float)
    scan: Mapped[float | None] = mapped_column(Float)
    track: Mapped[float | None] = mapped_column(Float)
    frp: Mapped[float | None] = mapped_column(Float)
    daynight: Mapped[str | None] = mapped_column(String(1))
    confidence: Mapped[int] = mapped_column(SmallInteger)
    confidence_raw: Mapped[str] = mapped_column(String(8))
    fire_type: Mapped[int | None] = mapped_column(SmallInteger)
    province_code: Mapped[str | None] = mapped_column(String(20))
    district_code: Mapped[str | None] = mapped_column(String(20))
    subdistrict_code: Mapped[str | None] = mapped_column(String(20))
    reserve_code: Mapped[str | None] = mapped_column(String(40))
    protected_area_codes = mapped_column(ARRAY(Text))
    # inside the deployment's area of interest (AreaOfInterest), stored at ingest and re-attribution
    in_aoi: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # batch_id is a reference kept by the service (no FK: an RI trigger per row halves ingest speed); the
    # fire event of a detection is in HotspotEvent
    batch_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)


class AreaOfInterest(Base):
    """The deployment's area of interest (one row): configured provinces (None: every loaded one), buffer, and
    the geometry ``refresh_area_of_interest()`` made from the current boundaries (migration 0008)."""

    __tablename__ = "area_of_interest"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("buffer_m >= 0", name="buffer_not_negative"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    province_codes = mapped_column(ARRAY(Text))
    buffer_m: Mapped[float] = mapped_column(Float, server_default=text("0"))
    resolved_codes = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False))


class HotspotEvent(Base):
    """The fire event a hotspot belongs to (migration 0007: a narrow table, rewritten cheaply by each clustering).

    References kept by the service (``events.update_events``), without foreign keys.
    """

    __tablename__ = "hotspot_events"
    __table_args__ = (Index("ix_hotspot_events_event_id", "event_id"),)

    hotspot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(BigInteger)


class HotspotRaster(Base):
    """A registered hotspot raster (stored as a cloud-optimised GeoTIFF): product, date, grid and nodata."""

    __tablename__ = "hotspot_rasters"
    __table_args__ = (
        UniqueConstraint("file_sha256", "product", name="uq_hotspot_rasters_file_sha256_product"),
        CheckConstraint("product IN ('fire_mask', 'burned_doy', 'frp', 'dnbr', 'generic')", name="product_kind"),
        CheckConstraint(
            "(threshold IS NULL AND threshold_op IS NULL AND threshold_label IS NULL) OR "
            "(threshold IS NOT NULL AND threshold_op IN ('>', '>=', '<', '<=') AND threshold_label IS NOT NULL)",
            name="threshold_complete",
        ),
        CheckConstraint(
            "NOT burned_area OR product IN ('fire_mask', 'burned_doy', 'dnbr')", name="burned_area_products"
        ),
        # one current version per series (name, product, date); older versions stay for the links made on them
        Index(
            "ix_hotspot_rasters_current_series",
            "name",
            "product",
            "acq_date",
            unique=True,
            postgresql_where=text("superseded_by IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(20))
    acq_date: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(Text)
    file_path: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    crs: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    nodata: Mapped[float | None] = mapped_column(Float)
    transform = mapped_column(ARRAY(Float), nullable=False)
    res_x: Mapped[float] = mapped_column(Float)
    res_y: Mapped[float] = mapped_column(Float)
    uploaded_by: Mapped[str | None] = mapped_column(String(120))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    footprint = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=True), nullable=False)
    burned_area: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    threshold: Mapped[float | None] = mapped_column(Float)
    threshold_op: Mapped[str | None] = mapped_column(String(2))
    threshold_label: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    superseded_by: Mapped[int | None] = mapped_column(
        ForeignKey("hotspot_rasters.id", ondelete="SET NULL", deferrable=True, initially="DEFERRED")
    )


class RasterZoneStat(Base):
    """Zonal statistics of one raster over one district or protected area (coverage-weighted, as exactextract)."""

    __tablename__ = "raster_zone_stats"
    __table_args__ = (UniqueConstraint("raster_id", "zone_type", "zone_code", name="uq_raster_zone_stats_raster_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raster_id: Mapped[int] = mapped_column(ForeignKey("hotspot_rasters.id", ondelete="CASCADE"))
    zone_type: Mapped[str] = mapped_column(String(30))
    zone_code: Mapped[str] = mapped_column(String(64))
    pixels: Mapped[float] = mapped_column(Float)
    flagged_pixels: Mapped[float | None] = mapped_column(Float)  # meeting the product's classes or threshold
    flagged_by_class = mapped_column(JSONB)
    flagged_m2: Mapped[float | None] = mapped_column(Float)
    burned_m2: Mapped[float | None] = mapped_column(Float)  # NULL unless the product encodes burned area
    mean: Mapped[float | None] = mapped_column(Float)
    min: Mapped[float | None] = mapped_column(Float)
    max: Mapped[float | None] = mapped_column(Float)
    percentiles = mapped_column(JSONB)  # p10, p25, p50, p75, p90


# --- committee briefs (migration 0005) ------------------------------------------------------------
class Brief(Base):
    """The figures of a committee brief, frozen with the data version they were computed from."""

    __tablename__ = "briefs"
    __table_args__ = (CheckConstraint("quarter IS NULL OR quarter BETWEEN 1 AND 4", name="quarter_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    fiscal_year_be: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int | None] = mapped_column(SmallInteger)
    data_version: Mapped[str] = mapped_column(String(64))
    province_code: Mapped[str | None] = mapped_column(String(20))  # None: the national brief (0019)
    figures = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # marked public by an administrator: listed on /open with its PDF (migration 0029)
    public: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(String(120))


# --- batch jobs on Dask (migration 0022, issue 18) -------------------------------------------------
class BatchJob(Base):
    """One batch job (a command over one input with its parameters); ``job_key`` finds it again to resume."""

    __tablename__ = "batch_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done')", name="status"),
        UniqueConstraint("job_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    job_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    params = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'running'"))
    parts_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchJobPart(Base):
    """One part of a batch job (a GeoParquet file, a space-time block) and when it was done."""

    __tablename__ = "batch_job_parts"

    job_id: Mapped[int] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(Text, primary_key=True)
    rows: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    rows_refused: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchSummary(Base):
    """Detections and FRP of one part by area codes x in the area of interest x local day (summed over parts,
    months and fiscal years: the job's figures). No primary key in the table (a part is written once,
    ``batch.store.claim_part``); the mapping names one."""

    __tablename__ = "batch_summaries"
    __table_args__ = (Index("ix_batch_summaries_job_id", "job_id"),)
    __mapper_args__ = {  # noqa: RUF012
        "primary_key": ("job_id", "part", "province_code", "district_code", "subdistrict_code", "in_aoi", "day")
    }

    job_id: Mapped[int] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"))
    part: Mapped[str] = mapped_column(Text)
    province_code: Mapped[str] = mapped_column(Text)
    district_code: Mapped[str] = mapped_column(Text)
    subdistrict_code: Mapped[str] = mapped_column(Text)
    in_aoi: Mapped[bool] = mapped_column(Boolean)
    day: Mapped[date] = mapped_column(Date)
    detections: Mapped[int] = mapped_column(BigInteger)
    frp_sum_mw_e3: Mapped[int] = mapped_column(BigInteger)
    frp_max_mw: Mapped[float | None] = mapped_column(Float)


class BatchEventLink(Base):
    """Within one space-time block, a detection and the block component it belongs to."""

    __tablename__ = "batch_event_links"

    job_id: Mapped[int] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(Text, primary_key=True)
    detection: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    component: Mapped[int] = mapped_column(BigInteger)


class BatchEventMember(Base):
    """The fire event (a number within the job) each detection of a batch clustering belongs to."""

    __tablename__ = "batch_event_members"

    job_id: Mapped[int] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"), primary_key=True)
    detection: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event: Mapped[int] = mapped_column(BigInteger)


class ForestAlertIngest(Base):
    """One forest-loss alert raster ingested: source, encoding, file hash, the window read and the parameters;
    ``params_key`` makes a re-ingest of the same file with the same parameters a no-op."""

    __tablename__ = "forest_alert_ingests"
    __table_args__ = (UniqueConstraint("params_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    params_key: Mapped[str] = mapped_column(String(64))
    params = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    crs: Mapped[str] = mapped_column(Text)
    window = mapped_column(JSONB)
    alert_pixels: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    patches_new: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    patches_extended: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    alert_from: Mapped[date | None] = mapped_column(Date)
    alert_to: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ClearingPatch(Base):
    """Connected forest-loss alert pixels within a date window, vectorised; the id survives extension."""

    __tablename__ = "clearing_patches"
    __table_args__ = (
        Index("ix_clearing_patches_last_date", "last_date"),
        Index("ix_clearing_patches_district_code", "district_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sources = mapped_column(ARRAY(Text), nullable=False)
    first_date: Mapped[date] = mapped_column(Date)
    last_date: Mapped[date] = mapped_column(Date)
    pixels: Mapped[int] = mapped_column(Integer)
    area_m2: Mapped[float] = mapped_column(Float)
    confidence_max: Mapped[int] = mapped_column(SmallInteger)
    pixels_low: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    pixels_high: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    pixels_highest: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    province_code: Mapped[str | None] = mapped_column(String(20))
    district_code: Mapped[str | None] = mapped_column(String(20))
    subdistrict_code: Mapped[str | None] = mapped_column(String(20))
    reserve_code: Mapped[str | None] = mapped_column(String(40))
    protected_area_codes = mapped_column(ARRAY(Text))
    in_aoi: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    cleared_by_fire: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    fire_evidence = mapped_column(JSONB)
    verification: Mapped[str] = mapped_column(Text, server_default=text("'unverified'"))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str | None] = mapped_column(String(120))
    merged_into: Mapped[int | None] = mapped_column(BigInteger)
    # forest_alert_ingests.id: references kept by forest_loss.store (checked once per batch, FOR KEY SHARE) with
    # ingests never deleted (migration 0034's trigger); no FK: its check per row cost a third of a bulk COPY
    first_ingest_id: Mapped[int] = mapped_column(
        Integer,
        comment="forest_alert_ingests.id that created the patch (kept by forest_loss.store; ingests are never deleted)",
    )
    last_ingest_id: Mapped[int] = mapped_column(
        Integer,
        comment="forest_alert_ingests.id that last changed the patch (kept by forest_loss.store; ingests are never "
        "deleted)",
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)


class ClearingPatchZone(Base):
    """The share of a clearing patch inside one province, district, subdistrict or protected area."""

    __tablename__ = "clearing_patch_zones"
    __table_args__ = (Index("ix_clearing_patch_zones_zone", "zone_type", "zone_code"),)

    patch_id: Mapped[int] = mapped_column(
        ForeignKey("clearing_patches.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    zone_type: Mapped[str] = mapped_column(Text, primary_key=True)
    zone_code: Mapped[str] = mapped_column(Text, primary_key=True)
    area_m2: Mapped[float] = mapped_column(Float)
    share: Mapped[float] = mapped_column(Float)


class FieldTask(Base):
    """A clearing patch sent to the field to verify, its outcome and the incident the visit produced."""

    __tablename__ = "field_tasks"
    __table_args__ = (
        Index("ix_field_tasks_patch_id", "patch_id"),
        Index("ix_field_tasks_open", "status", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patch_id: Mapped[int] = mapped_column(ForeignKey("clearing_patches.id"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'"))
    outcome: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    assigned_to: Mapped[str | None] = mapped_column(String(120))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[str | None] = mapped_column(String(120))
    incident_id: Mapped[int | None] = mapped_column(BigInteger)


# --- the worker's scheduled jobs (migration 0026, issue 16) ----------------------------------------
class WorkerJob(Base):
    """A job the worker schedules: its interval, whether it is enabled, and the next run planned."""

    __tablename__ = "worker_jobs"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    interval_s: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WorkerJobRun(Base):
    """One run of a worker job: which worker, when, its status, rows and error."""

    __tablename__ = "worker_job_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'ok', 'error', 'skipped')", name="status"),
        Index("ix_worker_job_runs_job_name", "job_name", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_name: Mapped[str] = mapped_column(ForeignKey("worker_jobs.name", ondelete="CASCADE"))
    worker: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default=text("'running'"))
    rows: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    detail = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))


class WorkerWindow(Base):
    """A UTC day a pulling job has pulled: ``open`` (pulled again each run) or ``done`` (pulled after it closed)."""

    __tablename__ = "worker_windows"
    __table_args__ = (CheckConstraint("status IN ('open', 'done')", name="status"),)

    job_name: Mapped[str] = mapped_column(ForeignKey("worker_jobs.name", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(Text)
    pulls: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    batch_id: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    first_pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CitizenReport(Base):
    """A report from the public or a network member (migration 0028): no address or device data; the contact
    details sealed to the investigators' public key; the receipt code kept only as its SHA-256."""

    __tablename__ = "citizen_reports"
    __table_args__ = (
        CheckConstraint("source IN ('public', 'member')", name="source"),
        CheckConstraint("kind IN ('encroachment', 'logging', 'burning', 'project_misuse')", name="kind"),
        CheckConstraint("status IN ('received', 'accepted', 'merged', 'rejected')", name="status"),
        UniqueConstraint("receipt_hash", name="uq_citizen_reports_receipt_hash"),
        UniqueConstraint("idempotency_hash", name="uq_citizen_reports_idempotency_hash"),
        Index("ix_citizen_reports_status", "status"),
        Index("ix_citizen_reports_district_code", "district_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    receipt_hash: Mapped[str] = mapped_column(String(64))
    idempotency_hash: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, server_default=text("'public'"))
    kind: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    observed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    location_text: Mapped[str | None] = mapped_column(Text)
    location_format: Mapped[str | None] = mapped_column(Text)
    location_datum: Mapped[str | None] = mapped_column(Text)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    province_code: Mapped[str | None] = mapped_column(String(20))
    district_code: Mapped[str | None] = mapped_column(String(20))
    subdistrict_code: Mapped[str | None] = mapped_column(String(20))
    reserve_code: Mapped[str | None] = mapped_column(String(40))
    protected_area_codes = mapped_column(ARRAY(Text))
    sealed_contact: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(Text, server_default=text("'received'"))
    reason: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("citizen_reports.id"))
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("citizen_reports.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    assigned_to: Mapped[str | None] = mapped_column(String(120))
    triaged_by: Mapped[str | None] = mapped_column(String(120))
    triaged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)


class CitizenReportAddition(Base):
    """What a reporter added later with the receipt code."""

    __tablename__ = "citizen_report_additions"
    __table_args__ = (Index("ix_citizen_report_additions_report_id", "report_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("citizen_reports.id"))
    text: Mapped[str] = mapped_column(Text, server_default=text("''"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CitizenReportPhoto(Base):
    """A photo of a citizen report: as received (with its SHA-256) and the stripped copy shown to people."""

    __tablename__ = "citizen_report_photos"
    __table_args__ = (
        UniqueConstraint("report_id", "sha256", name="uq_citizen_report_photos_report_id"),
        Index("ix_citizen_report_photos_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("citizen_reports.id"))
    addition_id: Mapped[int | None] = mapped_column(ForeignKey("citizen_report_additions.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    original: Mapped[bytes] = mapped_column(LargeBinary)
    stripped: Mapped[bytes] = mapped_column(LargeBinary)
    stripped_type: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CitizenRateHit(Base):
    """A fixed-window counter of an abuse limit (a keyed hash of an address or a receipt, never the value)."""

    __tablename__ = "citizen_rate_hits"

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class NetworkMember(Base):
    """A volunteer network member's district (the account is a users row with the network_member role)."""

    __tablename__ = "network_members"
    __table_args__ = (UniqueConstraint("username", name="uq_network_members_username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    district_code: Mapped[str] = mapped_column(String(20))
    province_code: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(120))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- alerts to people (migration 0027_alert_subscriptions): store alerts.store ---------------------------------
ALERT_SUBJECTS = ("district", "subdistrict", "protected_area", "contract_area", "case", "polygon")
ALERT_KINDS = ("hotspot", "fire_event", "clearing_patch", "red_flag", "case_change")
ALERT_CHANNELS = ("in_app", "email", "line", "webhook")
ALERT_STATUSES = ("pending", "sending", "sent", "failed", "withheld")


class AlertSubscription(Base):
    """Who is told about what, where, how and when: one user's (``username``) or a group's (every active account
    holding ``recipient_role``, optionally in ``recipient_province``), made by ``created_by``."""

    __tablename__ = "alert_subscriptions"
    __table_args__ = (
        Index("ix_alert_subscriptions_subject", "subject_type", "subject_code"),
        Index("ix_alert_subscriptions_username", "username"),
        Index("ix_alert_subscriptions_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(80))
    username: Mapped[str | None] = mapped_column(String(80))
    recipient_role: Mapped[str | None] = mapped_column(Text)
    recipient_province: Mapped[str | None] = mapped_column(String(20))
    subject_type: Mapped[str] = mapped_column(Text)
    subject_code: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)
    kinds = mapped_column(ARRAY(Text), nullable=False)
    min_confidence: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    sensors = mapped_column(ARRAY(Text))
    daynight: Mapped[str | None] = mapped_column(String(1))
    delivery: Mapped[str] = mapped_column(Text, server_default=text("'immediate'"))
    digest_time: Mapped[time] = mapped_column(Time, server_default=text("'07:00'"))
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    language: Mapped[str] = mapped_column(String(2), server_default=text("'th'"))
    channels = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{in_app}'"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AlertOptOut(Base):
    """A member of a group subscription who unsubscribed from it."""

    __tablename__ = "alert_opt_outs"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("alert_subscriptions.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AlertContact(Base):
    """Where a user receives alerts: an e-mail address, a LINE user id, a webhook URL."""

    __tablename__ = "alert_contacts"

    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    email: Mapped[str | None] = mapped_column(Text)
    line_user_id: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AlertOutbox(Base):
    """One alert for one recipient on one channel, written in the transaction that found it (the ingest's, the
    case change's); ``idempotency_key`` (subscription, recipient, channel, detection identity) is unique, so a
    re-ingest or the standard-processing version of a detection writes nothing new."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_alert_outbox_idempotency_key"),
        Index(
            "ix_alert_outbox_due",
            "due_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_alert_outbox_recipient", "username", "created_at"),
        Index("ix_alert_outbox_message_key", "message_key"),
        Index("ix_alert_outbox_subscription", "subscription_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("alert_subscriptions.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    subject_ref: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    payload = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    message_key: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- red flags on public money and public land (migration 0025) ------------------------------------
class RedFlagContract(Base):
    """A public-works contract on forest land: who was paid, how much, for what work, over which area or line."""

    __tablename__ = "redflag_contracts"
    __table_args__ = (
        UniqueConstraint("contract_number"),
        Index("ix_redflag_contracts_contractor", "contractor"),
        Index("ix_redflag_contracts_province_code", "province_code"),
        CheckConstraint(
            "work_type IN ('firebreak', 'fire_control', 'patrol', 'reforestation', 'check_dam', 'forest_road', "
            "'other')",
            name="work_type",
        ),
        CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="period"),
        CheckConstraint("width_m IS NULL OR width_m > 0", name="width"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract_number: Mapped[str] = mapped_column(Text)
    project_name: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(Text)
    contractor: Mapped[str | None] = mapped_column(Text)
    work_type: Mapped[str] = mapped_column(Text)
    budget_thb = mapped_column(Numeric(16, 2))
    paid_thb = mapped_column(Numeric(16, 2))
    fiscal_year_be: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    delivery_date: Mapped[date | None] = mapped_column(Date)
    quantities = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    named_district_code: Mapped[str | None] = mapped_column(String(20))
    named_reserve_code: Mapped[str | None] = mapped_column(String(40))
    width_m: Mapped[float | None] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    source_layer: Mapped[str | None] = mapped_column(Text)
    source_version: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False)
    area_geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    province_code: Mapped[str | None] = mapped_column(String(10))  # from the area (migration 0030)


class RedFlagContractHistory(Base):
    """One version of a contract as it was (loads and edits), with who changed it and when."""

    __tablename__ = "redflag_contract_history"
    __table_args__ = (Index("ix_redflag_contract_history_record_id", "record_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("redflag_contracts.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(Text)
    data = mapped_column(JSONB, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RedFlagParcel(Base):
    """A land document's parcel: type, number, issue date and office, polygon; confidential by default."""

    __tablename__ = "redflag_parcels"
    __table_args__ = (
        UniqueConstraint("doc_type", "doc_number"),
        Index("ix_redflag_parcels_province_code", "province_code"),
        CheckConstraint(
            "doc_type IN ('chanote', 'nor_sor_3_gor', 'nor_sor_3', 'sor_kor_1', 'sor_por_kor_4_01', 'other')",
            name="doc_type",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    doc_type: Mapped[str] = mapped_column(Text)
    doc_number: Mapped[str] = mapped_column(Text)
    issue_date: Mapped[date | None] = mapped_column(Date)
    issuing_office: Mapped[str | None] = mapped_column(Text)
    confidential: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    area_m2: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    source_layer: Mapped[str | None] = mapped_column(Text)
    source_version: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    province_code: Mapped[str | None] = mapped_column(String(10))  # from the polygon (migration 0030)


class RedFlagParcelHistory(Base):
    """One version of a parcel as it was (loads and edits), with who changed it and when."""

    __tablename__ = "redflag_parcel_history"
    __table_args__ = (Index("ix_redflag_parcel_history_record_id", "record_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("redflag_parcels.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(Text)
    data = mapped_column(JSONB, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RedFlag(Base):
    """What a red-flag rule found about a contract, a parcel or a reserve cell; ``flag_key`` keeps it stable."""

    __tablename__ = "red_flags"
    __table_args__ = (
        UniqueConstraint("flag_key"),
        Index("ix_red_flags_rule", "rule"),
        Index("ix_red_flags_contract_ids", "contract_ids", postgresql_using="gin"),
        Index("ix_red_flags_parcel_ids", "parcel_ids", postgresql_using="gin"),
        Index("ix_red_flags_province_code", "province_code"),
        CheckConstraint("severity IN ('low', 'medium', 'high')", name="severity"),
        CheckConstraint("status IN ('open', 'dismissed', 'linked')", name="status"),
        CheckConstraint("subject_type IN ('contract', 'parcel', 'reserve_cell')", name="subject_type"),
        CheckConstraint("status <> 'dismissed' OR dismissed_reason IS NOT NULL", name="dismissed_reason"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    flag_key: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    contract_ids = mapped_column(ARRAY(BigInteger), nullable=False, server_default=text("'{}'"))
    parcel_ids = mapped_column(ARRAY(BigInteger), nullable=False, server_default=text("'{}'"))
    reason_th: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    figures = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    evidence = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    district_code: Mapped[str | None] = mapped_column(String(20))
    reserve_code: Mapped[str | None] = mapped_column(String(40))
    agency: Mapped[str | None] = mapped_column(Text)
    contractor: Mapped[str | None] = mapped_column(Text)
    fiscal_year_be: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'"))
    current: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    dismissed_reason: Mapped[str | None] = mapped_column(Text)
    dismissed_by: Mapped[str | None] = mapped_column(String(120))
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    case_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    first_found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False))
    province_code: Mapped[str | None] = mapped_column(String(10))  # of its contract, parcel or cell (0030)


class RedFlagVegetation(Base):
    """The latest mean index change (NDVI / NBR, before -> after) inside a reforestation plot (migration 0030)."""

    __tablename__ = "redflag_vegetation"
    __table_args__ = (
        CheckConstraint("index_name IN ('ndvi', 'nbr')", name="index_name"),
        CheckConstraint("pixels > 0", name="pixels"),
    )

    contract_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("redflag_contracts.id", ondelete="CASCADE"), primary_key=True
    )
    index_name: Mapped[str] = mapped_column(Text)
    before_mean: Mapped[float] = mapped_column(Float)
    after_mean: Mapped[float] = mapped_column(Float)
    change: Mapped[float] = mapped_column(Float)
    pixels: Mapped[int] = mapped_column(Integer)
    before_date: Mapped[date | None] = mapped_column(Date)
    after_date: Mapped[date | None] = mapped_column(Date)
    source = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    measured_by: Mapped[str] = mapped_column(String(120))
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RedFlagHistory(Base):
    """One change of a red flag: found, changed, gone, dismissed, linked or a case opened from it."""

    __tablename__ = "red_flag_history"
    __table_args__ = (Index("ix_red_flag_history_flag_id", "flag_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("red_flags.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    detail = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
