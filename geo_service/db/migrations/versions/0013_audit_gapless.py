"""Gapless audit numbering: the next entry id comes from a one-row counter updated in the inserting
transaction instead of a sequence, so an entry rolled back with its change (a refused photo, a failed
request, a killed import) takes its number with it, and a gap in the chain can only mean a deletion.

Revision ID: 0013_audit_gapless
Revises: 0009_raster_products
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_audit_gapless"
down_revision = "0009_raster_products"
branch_labels = None
depends_on = None

APP_ROLE = "geo_service_app"


def upgrade() -> None:
    op.create_table(
        "audit_counter",
        sa.Column("one", sa.Boolean, primary_key=True, server_default=sa.text("true")),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        # entries numbered by the counter start here (before: a sequence, whose rolled-back numbers left holes)
        sa.Column("gapless_from", sa.BigInteger, nullable=False),
        sa.CheckConstraint("one", name="ck_audit_counter_one_row"),
    )
    op.execute(f"""
        INSERT INTO audit_counter (one, last_id, gapless_from)
          SELECT true, coalesce(max(id), 0), coalesce(max(id), 0) + 1 FROM audit_log;
        -- The chain trigger runs as the owner: the service role reads the counter (the verifier) but may not
        -- move it itself.
        REVOKE ALL ON audit_counter FROM {APP_ROLE};
        GRANT SELECT ON audit_counter TO {APP_ROLE};
        CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql
          SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          -- One writer at a time extends the chain (held to the end of the transaction).
          PERFORM pg_advisory_xact_lock(hashtext('geo_service.audit_log'));
          -- Gapless: the counter moves in this transaction and rolls back with it.
          UPDATE audit_counter SET last_id = last_id + 1 WHERE one RETURNING last_id INTO NEW.id;
          NEW.at := clock_timestamp();
          NEW.prev_hash := coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), repeat('0', 64));
          NEW.hash := encode(sha256(convert_to(NEW.prev_hash || '|' || audit_payload(NEW), 'UTF8')), 'hex');
          RETURN NEW;
        END $$;
        DROP SEQUENCE audit_log_seq;
    """)


def downgrade() -> None:
    op.execute("""
        CREATE SEQUENCE audit_log_seq;
        SELECT setval('audit_log_seq', greatest(last_id, 1), last_id > 0) FROM audit_counter;
        CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock(hashtext('geo_service.audit_log'));
          NEW.id := nextval('audit_log_seq');
          NEW.at := clock_timestamp();
          NEW.prev_hash := coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), repeat('0', 64));
          NEW.hash := encode(sha256(convert_to(NEW.prev_hash || '|' || audit_payload(NEW), 'UTF8')), 'hex');
          RETURN NEW;
        END $$;
    """)
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE audit_log_seq TO {APP_ROLE}")
    op.drop_table("audit_counter")
