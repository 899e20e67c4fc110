"""Alerts to people (issue 16): subscriptions, contacts, opt-outs and the outbox, plus the views the matcher reads.

- ``alert_subscriptions``: one user's (``username``) or a group's (``recipient_role`` [+ ``recipient_province``])
  subscription to a subject (district, subdistrict, protected area, contract area, case, drawn polygon) for kinds of
  event (new hotspots with filters, new or growing fire events, new clearing patches, red flags, case changes),
  delivered immediately or as a daily digest at a local time, with quiet hours, in Thai or English, on channels.
- ``alert_contacts``: where each account receives them (e-mail, LINE user id, webhook URL).
- ``alert_opt_outs``: members of a group subscription who unsubscribed.
- ``alert_outbox``: one row per alert, recipient and channel, written in the transaction that found the event;
  ``idempotency_key`` is unique (subscription, recipient, channel, detection identity).
- Views, the matcher's only window on other domains' tables (read-only): ``alert_hotspots`` (with the detection's
  identity: satellite, acquisition time, position to 1e-4 degree, the same for NRT and its SP replacement),
  ``alert_fire_events``, ``alert_clearing_patches`` (forest loss, migration 0024), ``alert_subject_areas`` (the
  geometry and names of districts, subdistricts and protected areas), ``alert_recipients`` (the active accounts each
  subscription reaches, minus opt-outs).
- ``alert_due_at(delivery, digest_time, quiet_start, quiet_end, at)``: when an alert found at ``at`` is due
  (Asia/Bangkok local time: the next digest time, or the end of the quiet hours it falls in).

Revision ID: 0027_alert_subscriptions
Revises: 0026_worker_jobs
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

revision = "0027_alert_subscriptions"
down_revision = "0026_worker_jobs"
branch_labels = None
depends_on = None

SUBJECTS = ("district", "subdistrict", "protected_area", "contract_area", "case", "polygon")
KINDS = ("hotspot", "fire_event", "clearing_patch", "red_flag", "case_change")
CHANNELS = ("in_app", "email", "line", "webhook")
STATUSES = ("pending", "sending", "sent", "failed", "withheld")
ROLES = ("administrator", "investigator", "field_officer", "committee_member", "partner", "national_viewer")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(repr(v) for v in values) + "]::text[]"


def upgrade() -> None:
    op.create_table(
        "alert_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("username", sa.String(80)),
        sa.Column("recipient_role", sa.Text),
        sa.Column("recipient_province", sa.String(20)),
        sa.Column("subject_type", sa.Text, nullable=False),
        sa.Column("subject_code", sa.Text),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
        sa.Column("kinds", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("min_confidence", sa.SmallInteger, nullable=False, server_default=sa.text("1")),
        sa.Column("sensors", postgresql.ARRAY(sa.Text)),
        sa.Column("daynight", sa.String(1)),
        sa.Column("delivery", sa.Text, nullable=False, server_default=sa.text("'immediate'")),
        sa.Column("digest_time", sa.Time, nullable=False, server_default=sa.text("'07:00'")),
        sa.Column("quiet_start", sa.Time),
        sa.Column("quiet_end", sa.Time),
        sa.Column("language", sa.String(2), nullable=False, server_default=sa.text("'th'")),
        sa.Column("channels", postgresql.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{in_app}'")),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("(username IS NULL) <> (recipient_role IS NULL)", name="one_recipient"),
        sa.CheckConstraint(f"recipient_role IS NULL OR {_in('recipient_role', ROLES)}", name="known_role"),
        sa.CheckConstraint(_in("subject_type", SUBJECTS), name="subject"),
        sa.CheckConstraint("(subject_type = 'polygon') = (geom IS NOT NULL)", name="polygon_has_geom"),
        sa.CheckConstraint("subject_type = 'polygon' OR subject_code IS NOT NULL", name="subject_named"),
        sa.CheckConstraint(f"kinds <@ {_array(KINDS)} AND cardinality(kinds) > 0", name="kinds"),
        sa.CheckConstraint("min_confidence BETWEEN 1 AND 3", name="confidence_scale"),
        sa.CheckConstraint("daynight IS NULL OR daynight IN ('D', 'N')", name="daynight"),
        sa.CheckConstraint("delivery IN ('immediate', 'digest')", name="delivery"),
        sa.CheckConstraint("language IN ('th', 'en')", name="language"),
        sa.CheckConstraint(f"channels <@ {_array(CHANNELS)}", name="channels"),
        sa.CheckConstraint("(quiet_start IS NULL) = (quiet_end IS NULL)", name="quiet_hours"),
    )
    op.create_index("ix_alert_subscriptions_subject", "alert_subscriptions", ["subject_type", "subject_code"])
    op.create_index("ix_alert_subscriptions_username", "alert_subscriptions", ["username"])
    op.create_index("ix_alert_subscriptions_geom", "alert_subscriptions", ["geom"], postgresql_using="gist")
    op.create_table(
        "alert_opt_outs",
        sa.Column(
            "subscription_id",
            sa.Integer,
            sa.ForeignKey("alert_subscriptions.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("username", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "alert_contacts",
        sa.Column("username", sa.String(80), primary_key=True),
        sa.Column("email", sa.Text),
        sa.Column("line_user_id", sa.Text),
        sa.Column("webhook_url", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "subscription_id",
            sa.Integer,
            sa.ForeignKey("alert_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject_ref", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("message_key", sa.String(64)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("idempotency_key", name="uq_alert_outbox_idempotency_key"),
        sa.CheckConstraint(_in("channel", CHANNELS), name="channel"),
        sa.CheckConstraint(_in("status", STATUSES), name="status"),
    )
    op.create_index(
        "ix_alert_outbox_due", "alert_outbox", ["due_at"], postgresql_where=sa.text("status IN ('pending', 'sending')")
    )
    op.create_index("ix_alert_outbox_recipient", "alert_outbox", ["username", "created_at"])
    op.create_index("ix_alert_outbox_message_key", "alert_outbox", ["message_key"])
    op.create_index("ix_alert_outbox_subscription", "alert_outbox", ["subscription_id"])
    op.execute("""
        CREATE VIEW alert_hotspots AS
          SELECT h.id, h.batch_id, h.acq_utc, h.satellite, h.instrument, h.processing, h.latitude, h.longitude,
                 h.confidence, h.daynight, h.frp, h.province_code, h.district_code, h.subdistrict_code,
                 h.reserve_code, h.protected_area_codes, h.geom,
                 'hotspot:' || h.satellite || ':' || to_char(h.acq_utc AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MI')
                   || ':' || h.lat_e4 || ':' || h.lon_e4 AS identity
          FROM hotspots h;
        COMMENT ON VIEW alert_hotspots IS
          'Detections as the alert matcher reads them; identity is the same for NRT and its SP replacement';

        CREATE VIEW alert_fire_events AS
          SELECT e.id, e.first_seen, e.last_seen, e.detections, e.max_frp, e.sensors, e.district_code,
                 e.reserve_code, e.area_m2, e.footprint AS geom,
                 ST_Y(ST_PointOnSurface(e.footprint)) AS latitude, ST_X(ST_PointOnSurface(e.footprint)) AS longitude
          FROM fire_events e;

        CREATE VIEW alert_clearing_patches AS
          SELECT p.id, p.sources, p.first_date, p.last_date, p.area_m2, p.confidence_max, p.province_code,
                 p.district_code, p.subdistrict_code, p.reserve_code, p.protected_area_codes, p.created_at,
                 p.updated_at, p.geom,
                 ST_Y(ST_PointOnSurface(p.geom)) AS latitude, ST_X(ST_PointOnSurface(p.geom)) AS longitude
          FROM clearing_patches p WHERE p.merged_into IS NULL;

        CREATE VIEW alert_subject_areas AS
          SELECT a.level::text AS subject_type, a.code, a.name_th, a.name_en, a.geom
          FROM current_admin_areas a WHERE a.level::text IN ('district', 'subdistrict', 'province')
          UNION ALL
          SELECT 'protected_area', p.code, p.name_th, p.name_en, p.geom FROM latest_protected_areas p;

        CREATE VIEW alert_recipients AS
          SELECT s.id AS subscription_id, u.username, u.roles, u.provinces
          FROM alert_subscriptions s JOIN users u ON u.username = s.username
          WHERE s.active AND u.is_active
          UNION ALL
          SELECT s.id, u.username, u.roles, u.provinces
          FROM alert_subscriptions s
          JOIN users u ON s.recipient_role = ANY(u.roles)
            AND (s.recipient_province IS NULL OR s.recipient_province = ANY(u.provinces)
                 OR u.roles && ARRAY['administrator', 'national_viewer']::text[])
          WHERE s.active AND u.is_active
            AND NOT EXISTS (SELECT 1 FROM alert_opt_outs o WHERE o.subscription_id = s.id AND o.username = u.username);
        COMMENT ON VIEW alert_recipients IS
          'The active accounts each active subscription reaches: its user, or the holders of its role (minus opt-outs)';

        CREATE FUNCTION alert_due_at(delivery text, digest_time time, quiet_start time, quiet_end time,
                                     at timestamptz) RETURNS timestamptz
          LANGUAGE plpgsql STABLE AS $$
          DECLARE
            local timestamp := at AT TIME ZONE 'Asia/Bangkok';
            t time := local::time;
            due timestamp;
          BEGIN
            IF delivery = 'digest' THEN
              due := local::date + digest_time;
              IF due <= local THEN due := due + interval '1 day'; END IF;
              RETURN due AT TIME ZONE 'Asia/Bangkok';
            END IF;
            IF quiet_start IS NULL OR quiet_start = quiet_end THEN RETURN at; END IF;
            IF (quiet_start < quiet_end AND t >= quiet_start AND t < quiet_end)
               OR (quiet_start > quiet_end AND (t >= quiet_start OR t < quiet_end)) THEN
              due := local::date + quiet_end;
              IF due <= local THEN due := due + interval '1 day'; END IF;
              RETURN due AT TIME ZONE 'Asia/Bangkok';
            END IF;
            RETURN at;
          END $$;
        COMMENT ON FUNCTION alert_due_at(text, time, time, time, timestamptz) IS
          'When an alert found at "at" is due: the next digest time, or the end of the quiet hours (Asia/Bangkok)';
    """)


def downgrade() -> None:
    op.execute("""
        DROP FUNCTION alert_due_at(text, time, time, time, timestamptz);
        DROP VIEW alert_recipients;
        DROP VIEW alert_subject_areas;
        DROP VIEW alert_clearing_patches;
        DROP VIEW alert_fire_events;
        DROP VIEW alert_hotspots;
    """)
    op.drop_table("alert_outbox")
    op.drop_table("alert_contacts")
    op.drop_table("alert_opt_outs")
    op.drop_table("alert_subscriptions")
