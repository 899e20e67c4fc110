"""The worker's job registry: a job is a name, a function of a ``JobContext`` returning the rows it handled
(or None), and an interval. The jobs are declared in one place (``worker.catalogue``); nothing is imported by
name from a string.

A job function is a service: it never opens or commits a transaction itself. It gets the runner's unit of
work (``ctx.unit_of_work()``: one transaction, committed when the block ends without an error) and opens as
many as it needs (one per ingested file, one per batch part), so what it finished stays done when a later
step fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput
from geo_service.settings import Settings

UnitOfWork = Callable[[], AbstractContextManager[Session]]


@dataclass
class JobContext:
    """What a job run gets: its name, the settings, the runner's unit of work, the time of the run (UTC) and a
    ``detail`` dict the job may fill (stored with the run: windows pulled, files, ...)."""

    name: str
    settings: Settings
    unit_of_work: UnitOfWork
    now: datetime
    run_id: int
    detail: dict = field(default_factory=dict)


JobFunc = Callable[[JobContext], "int | None"]


@dataclass(frozen=True)
class JobSpec:
    """A registered job: its function, interval (seconds), description and whether it runs."""

    name: str
    func: JobFunc
    interval_s: float
    description: str = ""
    enabled: bool = True


class Registry:
    """The jobs a worker runs, in the order they were registered."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobSpec] = {}

    def register_job(
        self,
        name: str,
        func: JobFunc,
        default_interval: float | timedelta,
        *,
        description: str = "",
        enabled: bool = True,
    ) -> JobSpec:
        """Register ``func`` (``func(ctx) -> rows | None``) to run every ``default_interval`` (seconds or a
        timedelta). A name is registered once (a second registration is refused)."""
        if name in self._jobs:
            raise InvalidInput(f"A worker job called {name!r} is already registered.", code="worker_job_exists")
        interval = default_interval.total_seconds() if isinstance(default_interval, timedelta) else default_interval
        if not interval > 0:
            raise InvalidInput(f"The interval of {name!r} must be positive.", code="invalid_interval")
        spec = JobSpec(name, func, float(interval), description or (func.__doc__ or "").strip().split("\n")[0], enabled)
        self._jobs[name] = spec
        return spec

    def get(self, name: str) -> JobSpec:
        """The job called ``name`` (InvalidInput naming the known jobs otherwise)."""
        try:
            return self._jobs[name]
        except KeyError:
            raise InvalidInput(
                f"No worker job is called {name!r}; the jobs are {', '.join(self._jobs) or 'none'}.",
                code="unknown_worker_job",
            ) from None

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)

    def names(self) -> list[str]:
        """The registered jobs' names, in registration order."""
        return list(self._jobs)
