"""The worker process (issue 16): scheduled pulls and upkeep (FIRMS NRT, forest-loss alerts, fire events,
partitions, interrupted batch jobs) run by APScheduler, recorded in ``worker_jobs``, ``worker_job_runs`` and
``worker_windows`` (migration 0026)."""
