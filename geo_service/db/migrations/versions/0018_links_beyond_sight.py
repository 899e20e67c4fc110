"""Whether any case links an incident, whatever the caller may see.

Unlinking an incident from a case sends it back to 'verified' only when no other case links it. That question
was asked under row-level security, as the caller: an investigator who could not see another team's
confidential case did not see its link either, and sent an incident that case still relied on back to
'verified'. ``case_linked_targets`` answers it for every case (SECURITY DEFINER, owned by the schema's owner,
whom row-level security does not restrict) and lets only target ids out: no case, reference or party.

Revision ID: 0018_links_beyond_sight
Revises: 0017_shared_places
Create Date: 2026-12-02
"""

from alembic import op

APP_ROLE = "geo_service_app"  # as in 0004 (a migration keeps its own names)

revision = "0018_links_beyond_sight"
down_revision = "0017_shared_places"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"""
        CREATE FUNCTION case_linked_targets(t link_target, ids text[]) RETURNS SETOF text
          LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
          AS $$ SELECT DISTINCT target_id FROM case_links WHERE target_type = t AND target_id = ANY(ids) $$;
        COMMENT ON FUNCTION case_linked_targets(link_target, text[]) IS
          'Which of these targets any case links, whatever the caller may see (only the ids leave)';
        REVOKE ALL ON FUNCTION case_linked_targets(link_target, text[]) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION case_linked_targets(link_target, text[]) TO {APP_ROLE};
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION case_linked_targets(link_target, text[])")
