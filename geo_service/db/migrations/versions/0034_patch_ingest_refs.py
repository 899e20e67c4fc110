"""Clearing patches keep their ingest references without a per-row foreign-key check (issue 14's speed).

``clearing_patches.first_ingest_id`` and ``last_ingest_id`` name the ``forest_alert_ingests`` row that created and
last changed a patch. Their two foreign keys ran a referential-integrity trigger for every patch row written: 0.5 s
of the 1.45 s a 100,000-patch COPY took (bench/forest_loss_ingest.py), for a reference whose value is the same for
the whole batch. The guarantee is now kept where it is cheap, as ``hotspots.batch_id`` already is:

- the store checks the ingest once per batch and holds it (``SELECT ... FOR KEY SHARE``, what each foreign-key
  check did per row) before it writes a reference to it (``forest_loss.store``);
- an ingest row is the record of what was ingested: it is never deleted, and its id never changes (this trigger),
  so no reference can be left dangling.

Revision ID: 0034_patch_ingest_refs
Revises: 0032_rule_scope
Create Date: 2026-12-03
"""

from alembic import op

revision = "0034_patch_ingest_refs"
down_revision = "0032_rule_scope"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE clearing_patches
          DROP CONSTRAINT fk_clearing_patches_first_ingest_id_forest_alert_ingests,
          DROP CONSTRAINT fk_clearing_patches_last_ingest_id_forest_alert_ingests;
        CREATE FUNCTION forest_alert_ingest_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'forest_alert_ingests is the record of what was ingested: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
        END $$;
        CREATE TRIGGER forest_alert_ingest_kept BEFORE UPDATE OF id OR DELETE ON forest_alert_ingests
          FOR EACH ROW EXECUTE FUNCTION forest_alert_ingest_kept();
        CREATE TRIGGER forest_alert_ingest_kept_all BEFORE TRUNCATE ON forest_alert_ingests
          FOR EACH STATEMENT EXECUTE FUNCTION forest_alert_ingest_kept();
        COMMENT ON COLUMN clearing_patches.first_ingest_id IS
          'forest_alert_ingests.id that created the patch (kept by forest_loss.store; ingests are never deleted)';
        COMMENT ON COLUMN clearing_patches.last_ingest_id IS
          'forest_alert_ingests.id that last changed the patch (kept by forest_loss.store; ingests are never deleted)';
    """)


def downgrade() -> None:
    op.execute("""
        DROP TRIGGER forest_alert_ingest_kept_all ON forest_alert_ingests;
        DROP TRIGGER forest_alert_ingest_kept ON forest_alert_ingests;
        DROP FUNCTION forest_alert_ingest_kept();
        COMMENT ON COLUMN clearing_patches.first_ingest_id IS NULL;
        COMMENT ON COLUMN clearing_patches.last_ingest_id IS NULL;
        ALTER TABLE clearing_patches
          ADD CONSTRAINT fk_clearing_patches_first_ingest_id_forest_alert_ingests
            FOREIGN KEY (first_ingest_id) REFERENCES forest_alert_ingests (id),
          ADD CONSTRAINT fk_clearing_patches_last_ingest_id_forest_alert_ingests
            FOREIGN KEY (last_ingest_id) REFERENCES forest_alert_ingests (id);
    """)
