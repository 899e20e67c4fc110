"""Batch jobs on Dask (issue 18): a job record listing its parts and which are done, and the parts' results.

A job (``batch_jobs``) is one run of a batch command over one input (a folder of GeoParquet partitions) with
its parameters; ``job_key`` (a hash of the command, the input and the parameters) lets the same command find
its unfinished job again and resume it. ``batch_job_parts`` lists the parts (one GeoParquet file, one
space-time block) and when each was done. Each part's results are written in the same transaction as its
done mark, so a killed job restarts where it stopped and never writes a part twice.

Results: ``batch_summaries`` (detections and FRP by subdistrict, district, province x in the area of interest x
local day, per part: summed over the parts and periods they are the job's figures), ``batch_event_links`` (per space-time block, which detections one block component joins)
and ``batch_event_members`` (the job's final fire events, written once all blocks are done).

Revision ID: 0022_batch_jobs
Revises: 0021_partitioned_hotspots
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0022_batch_jobs"
down_revision = "0021_partitioned_hotspots"
branch_labels = None
depends_on = None


def _job_fk() -> sa.ForeignKey:
    return sa.ForeignKey("batch_jobs.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("job_key", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'running'")),
        sa.Column("parts_total", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("created_by", sa.String(120)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('running', 'done')", name="status"),
        sa.UniqueConstraint("job_key", name="uq_batch_jobs_job_key"),
    )
    op.create_table(
        "batch_job_parts",
        sa.Column("job_id", sa.Integer, _job_fk(), primary_key=True),
        sa.Column("part", sa.Text, primary_key=True),
        sa.Column("rows", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("rows_refused", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("seconds", sa.Float),  # wall-clock seconds of the part's task
        sa.Column("cpu_seconds", sa.Float),  # CPU seconds of the task's thread (what a busy machine does not inflate)
        sa.Column("done_at", sa.DateTime(timezone=True)),
    )
    # The finest grain only (area codes x in AOI x local day); months, fiscal years and coarser levels are
    # sums of these rows. No primary key: a part's rows are written once (``claim_part``), and a wide text
    # key cost more to maintain than computing the rows.
    op.create_table(
        "batch_summaries",
        sa.Column("job_id", sa.Integer, _job_fk(), nullable=False),
        sa.Column("part", sa.Text, nullable=False),
        sa.Column("province_code", sa.Text, nullable=False),  # '' = in no area of the level
        sa.Column("district_code", sa.Text, nullable=False),
        sa.Column("subdistrict_code", sa.Text, nullable=False),
        sa.Column("in_aoi", sa.Boolean, nullable=False),
        sa.Column("day", sa.Date, nullable=False),  # local date (Asia/Bangkok)
        sa.Column("detections", sa.BigInteger, nullable=False),
        sa.Column("frp_sum_mw_e3", sa.BigInteger, nullable=False),  # exact sum in thousandths of MW
        sa.Column("frp_max_mw", sa.Float),
    )
    op.create_index("ix_batch_summaries_job_id", "batch_summaries", ["job_id"])
    op.create_table(
        "batch_event_links",
        sa.Column("job_id", sa.Integer, _job_fk(), primary_key=True),
        sa.Column("part", sa.Text, primary_key=True),
        sa.Column("detection", sa.BigInteger, primary_key=True),
        sa.Column("component", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "batch_event_members",
        sa.Column("job_id", sa.Integer, _job_fk(), primary_key=True),
        sa.Column("detection", sa.BigInteger, primary_key=True),
        sa.Column("event", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("batch_event_members", "batch_event_links", "batch_summaries", "batch_job_parts", "batch_jobs"):
        op.drop_table(table)
