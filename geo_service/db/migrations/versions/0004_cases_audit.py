"""Anti-corruption cases (workflow, parties, notes, attachments, evidence links), partner API keys, and a
hash-chained, append-only audit log. Row-level security on case data for the role the service switches to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "geo_service_app"
CATEGORY = sa.Enum(
    "encroachment_permitted",
    "land_documents_in_reserve",
    "budget_misuse",
    "illegal_logging",
    "procurement",
    "other",
    name="case_category",
)
STAGE = sa.Enum("received", "preliminary_review", "fact_finding", "decision", "referred", "closed", name="case_stage")
CONFIDENTIALITY = sa.Enum("internal", "confidential", name="case_confidentiality")
PARTY_ROLE = sa.Enum(
    "official_concerned", "suspect", "agency", "complainant", "informant", "witness", name="party_role"
)
LINK_TARGET = sa.Enum(
    "incident", "hotspot", "fire_event", "protected_area", "district", "raster_stat", name="link_target"
)
CASE_TABLES = (
    "cases",
    "case_assignments",
    "case_parties",
    "case_transitions",
    "case_notes",
    "case_attachments",
    "case_links",
)


def _meta():
    return (
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def upgrade() -> None:
    op.create_table(
        "case_counters",
        sa.Column("fiscal_year_be", sa.Integer, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(60), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("category", CATEGORY, nullable=False),
        sa.Column("stage", STAGE, nullable=False, server_default="received"),
        sa.Column("confidentiality", CONFIDENTIALITY, nullable=False, server_default="internal"),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("fiscal_year_be", sa.Integer, nullable=False),
        sa.Column("period_from", sa.Date),
        sa.Column("period_to", sa.Date),
        sa.Column("closed_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        *_meta(),
        sa.Column("updated_by", sa.String(120)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("reference", name="uq_cases_reference"),
    )
    op.create_table(
        "case_assignments",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("username", sa.String(80), primary_key=True),
        *_meta(),
    )
    op.create_table(
        "case_parties",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("position", sa.Text),
        sa.Column("agency", sa.Text),
        sa.Column("party_role", PARTY_ROLE, nullable=False),
        sa.Column("note", sa.Text),
        *_meta(),
    )
    op.create_index("ix_case_parties_case_id", "case_parties", ["case_id"])
    op.create_table(
        "case_transitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_stage", sa.Text),
        sa.Column("to_stage", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        *_meta(),
    )
    op.create_index("ix_case_transitions_case_id", "case_transitions", ["case_id"])
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("confidential", sa.Boolean, nullable=False, server_default=sa.text("true")),
        *_meta(),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])
    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("data", sa.LargeBinary, nullable=False),
        *_meta(),
        sa.UniqueConstraint("case_id", "sha256", name="uq_case_attachments_case_id"),
    )
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target_type", LINK_TARGET, nullable=False),
        sa.Column("target_id", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        *_meta(),
        sa.UniqueConstraint("case_id", "target_type", "target_id", name="uq_case_links_case_id"),
    )
    op.create_index("ix_case_links_target", "case_links", ["target_type", "target_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        *_meta(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )

    # --- the audit log: append-only, each entry chained to the previous one by SHA-256 ---------------
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),  # set by the chain trigger
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()")),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity_type", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(80)),
        sa.Column("before", pg.JSONB),
        sa.Column("after", pg.JSONB),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_type", "entity_id"])
    op.execute("""
        CREATE SEQUENCE audit_log_seq;
        CREATE FUNCTION audit_payload(a audit_log) RETURNS text LANGUAGE sql STABLE AS $$
          SELECT jsonb_build_object(
            'id', a.id, 'at', to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'actor', a.actor, 'action', a.action, 'entity_type', a.entity_type, 'entity_id', a.entity_id,
            'before', a.before, 'after', a.after)::text
        $$;
        CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- One writer at a time extends the chain (held to the end of the transaction).
          PERFORM pg_advisory_xact_lock(hashtext('geo_service.audit_log'));
          NEW.id := nextval('audit_log_seq');
          NEW.at := clock_timestamp();
          NEW.prev_hash := coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), repeat('0', 64));
          NEW.hash := encode(sha256(convert_to(NEW.prev_hash || '|' || audit_payload(NEW), 'UTF8')), 'hex');
          RETURN NEW;
        END $$;
        CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_chain();
        CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_refuse();
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
    """)

    # --- the role the service switches to (SET LOCAL ROLE) so that row-level security applies ----------
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN;
          END IF;
        END $$;
        GRANT {APP_ROLE} TO CURRENT_USER;
        GRANT USAGE ON SCHEMA public TO {APP_ROLE};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE};
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {APP_ROLE};

        -- Who is asking, set per transaction by the service (geo_service.user, geo_service.roles).
        CREATE FUNCTION geo_user() RETURNS text LANGUAGE sql STABLE AS
          $$ SELECT coalesce(current_setting('geo_service.user', true), '') $$;
        CREATE FUNCTION geo_has_role(r text) RETURNS boolean LANGUAGE sql STABLE AS
          $$ SELECT r = ANY(string_to_array(coalesce(current_setting('geo_service.roles', true), ''), ',')) $$;
        CREATE FUNCTION geo_assigned(c integer) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
          SET search_path = public, pg_temp AS
          $$ SELECT EXISTS (SELECT 1 FROM case_assignments WHERE case_id = c AND username = geo_user()) $$;
        -- A case is visible to administrators; to investigators when internal or assigned to them;
        -- to committee members when internal (the service shows them no parties or notes).
        CREATE FUNCTION geo_case_visible(c integer, conf case_confidentiality) RETURNS boolean LANGUAGE sql STABLE AS $$
          SELECT geo_has_role('administrator')
              OR (geo_has_role('investigator') AND (conf = 'internal' OR geo_assigned(c)))
              OR (geo_has_role('committee_member') AND conf = 'internal')
        $$;
        -- Parties, notes and attachments: administrators and the investigators assigned to the case.
        CREATE FUNCTION geo_case_insider(c integer) RETURNS boolean LANGUAGE sql STABLE AS $$
          SELECT geo_has_role('administrator') OR (geo_has_role('investigator') AND geo_assigned(c))
        $$;
        CREATE FUNCTION geo_case_visible_id(c integer) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
          SET search_path = public, pg_temp AS
          $$ SELECT geo_case_visible(id, confidentiality) FROM cases WHERE id = c $$;
    """)
    op.execute("""
        ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
        CREATE POLICY cases_visible ON cases USING (geo_case_visible(id, confidentiality))
          WITH CHECK (geo_has_role('administrator') OR geo_has_role('investigator'));
        ALTER TABLE case_parties ENABLE ROW LEVEL SECURITY;
        CREATE POLICY parties_insiders ON case_parties USING (geo_case_insider(case_id));
        ALTER TABLE case_attachments ENABLE ROW LEVEL SECURITY;
        CREATE POLICY attachments_insiders ON case_attachments USING (geo_case_insider(case_id));
        ALTER TABLE case_notes ENABLE ROW LEVEL SECURITY;
        CREATE POLICY notes_visible ON case_notes USING (geo_case_insider(case_id)
          OR (NOT confidential AND geo_has_role('investigator') AND geo_case_visible_id(case_id)));
        ALTER TABLE case_links ENABLE ROW LEVEL SECURITY;
        CREATE POLICY links_visible ON case_links USING (geo_case_visible_id(case_id));
        ALTER TABLE case_transitions ENABLE ROW LEVEL SECURITY;
        CREATE POLICY transitions_visible ON case_transitions USING (geo_case_visible_id(case_id));
        ALTER TABLE case_assignments ENABLE ROW LEVEL SECURITY;
        CREATE POLICY assignments_visible ON case_assignments FOR SELECT USING (geo_case_visible_id(case_id));
        -- A new case has no visible row yet: its creator's assignment is what makes it visible.
        CREATE POLICY assignments_add ON case_assignments FOR INSERT
          WITH CHECK (geo_has_role('administrator') OR geo_has_role('investigator'));
        CREATE POLICY assignments_remove ON case_assignments FOR DELETE USING (geo_case_insider(case_id));
    """)


def downgrade() -> None:
    op.execute("""
        DROP TABLE IF EXISTS case_links, case_attachments, case_notes, case_transitions, case_parties,
                             case_assignments, cases, case_counters, api_keys CASCADE;
        DROP TABLE IF EXISTS audit_log CASCADE;
        DROP SEQUENCE IF EXISTS audit_log_seq;
        DROP FUNCTION IF EXISTS audit_chain(), audit_refuse(), audit_payload(audit_log);
        DROP FUNCTION IF EXISTS geo_case_visible_id(integer), geo_case_insider(integer),
                                geo_case_visible(integer, case_confidentiality), geo_assigned(integer),
                                geo_has_role(text), geo_user();
    """)
    op.execute(f"""
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE};
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
        REVOKE USAGE ON SCHEMA public FROM {APP_ROLE};
    """)
    for enum in (LINK_TARGET, PARTY_ROLE, CONFIDENTIALITY, STAGE, CATEGORY):
        enum.drop(op.get_bind(), checkfirst=True)
    # The role itself is cluster-wide and may serve other databases of the cluster: it is left in place.
