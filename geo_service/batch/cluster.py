"""The Dask cluster a batch command runs on: a scheduler's address, or a LocalCluster sized for this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster

from geo_service.settings import BatchSettings

# glibc malloc in the workers. distributed's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536, and
# setting the trim threshold also pins glibc's mmap threshold at its 128 KiB default: every array above it
# (the Gazetteer makes one per district and part) is then mmapped, zero-filled and unmapped again. The tasks
# took 2-3.7x the CPU time of the same task in the command's own process (bench/batch_national.py); with a
# 32 MiB mmap threshold (and memory still trimmed past 64 MiB free) they take the same. docker-compose sets
# the same variables for its workers.
WORKER_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": 64 << 20, "MALLOC_MMAP_THRESHOLD_": 32 << 20}


def local_workers(settings: BatchSettings, workers: int | None = None) -> int:
    """Workers of a local cluster: as asked, or configured, or one per CPU core."""
    return workers or settings.dask_workers or os.cpu_count() or 1


@contextmanager
def dask_client(
    settings: BatchSettings,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | None = None,
) -> Iterator[Client]:
    """A Dask client for the length of a command.

    Parameters
    ----------
    settings : BatchSettings
        ``GEO_SERVICE_DASK_SCHEDULER`` (a running scheduler, e.g. the docker-compose one) or the local sizing.
    scheduler : str, optional
        A scheduler address that overrides the settings.
    workers : int, optional
        Workers of the local cluster (ignored with a scheduler: its workers are its own).
    processes : bool, optional
        Local workers in processes (the default: no GIL between them) or in threads of this process.
    threads_per_worker : int, optional
        Threads of each local worker (default: the settings').
    memory_limit : str, optional
        Memory limit of each local worker (e.g. ``"1.5GB"``; default: Dask's share of the machine).
    """
    address = scheduler or settings.dask_scheduler
    if address:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    n = local_workers(settings, workers)
    in_processes = settings.dask_processes if processes is None else processes
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENVIRON.items()}
    with (
        dask.config.set(environ),
        LocalCluster(
            n_workers=n,
            threads_per_worker=threads_per_worker or settings.dask_threads_per_worker,
            processes=in_processes,
            memory_limit=memory_limit or "auto",
            dashboard_address=None,
            silence_logs=40,  # errors only: the command prints its own progress
        ) as local,
        Client(local) as client,
    ):
        yield client
