"""The worker's scheduled jobs (issue 16): the jobs, each run, and the pulled windows.

- ``worker_jobs``: one row per registered job (its name, what it does, interval, whether it is enabled) with
  the next run the scheduler has planned, written by the worker process.
- ``worker_job_runs``: one row per run (which worker, start, end, status ``running`` / ``ok`` / ``error`` /
  ``skipped`` when another worker held the job's lock, rows, the error).
- ``worker_windows``: the time windows (UTC days) a pulling job has pulled: ``open`` while the day can still
  receive data (it is pulled again at each run), ``done`` once pulled after it closed (never pulled again).
  A worker that was offline pulls the days missing here once (catch-up). ``batch_id`` and ``rows`` are those
  of the file (ingest batch) that last pulled the day: one FIRMS file covers up to 10 days.

Revision ID: 0026_worker_jobs
Revises: 0025_red_flags
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0026_worker_jobs"
down_revision = "0025_red_flags"
branch_labels = None
depends_on = None


def _job_fk() -> sa.ForeignKey:
    return sa.ForeignKey("worker_jobs.name", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "worker_jobs",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("next_run_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "worker_job_runs",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("job_name", sa.Text, _job_fk(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'running'")),
        sa.Column("rows", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.CheckConstraint("status IN ('running', 'ok', 'error', 'skipped')", name="status"),
    )
    op.create_index("ix_worker_job_runs_job_name", "worker_job_runs", ["job_name", "id"])
    op.create_table(
        "worker_windows",
        sa.Column("job_name", sa.Text, _job_fk(), primary_key=True),
        sa.Column("window_start", sa.Date, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("pulls", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("batch_id", sa.Integer),
        sa.Column("rows", sa.BigInteger),
        sa.Column("first_pulled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_pulled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('open', 'done')", name="status"),
    )


def downgrade() -> None:
    op.drop_table("worker_windows")
    op.drop_index("ix_worker_job_runs_job_name", table_name="worker_job_runs")
    op.drop_table("worker_job_runs")
    op.drop_table("worker_jobs")
