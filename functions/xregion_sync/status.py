"""`xregion_sync.status(config)`: how fresh each job's DR copy is, read-only.

For each job it runs only the read steps (resolve the source, find the copies in the
destination): never a copy, a tag or a delete. A job is stale when its newest available
copy's source is older than `max_copy_age_hours`, or when it has no available copy.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import metrics
from .config import ConfigSource, JobEntry, load_config
from .errors import SyncError
from .result import JobError
from .spec import JobSpec
from .syncs import SYNC_TYPES
from .syncs.base import (
    AVAILABLE,
    PENDING,
    ExistingCopies,
    ManagedCopy,
    Source,
    copy_owner,
    oldest_first,
)
from .tags import parse_iso_utc

logger = logging.getLogger(__name__)
DEFAULT_MAX_WORKERS = 8
# A source that cannot be resolved still lets the copies be listed: no copy is of it.
_UNRESOLVED_SOURCE: Source = {"id": "(unresolved)", "arn": "(unresolved)",
                              "created": "9999-12-31T23:59:59Z", "tags": {},
                              "legacy_copy_id": None}


@dataclass(frozen=True)
class JobStatus:
    name: str
    sync_type: str | None
    source_id: str | None = None
    source_created: str | None = None
    copy_id: str | None = None
    copy_state: str | None = None
    copy_job: str | None = None  # whose the copy is (syncs.base.copy_owner)
    copy_source_created: str | None = None
    copy_age_seconds: float | None = None
    copies: int = 0
    max_copy_age_hours: int | None = None
    stale: bool = True
    errors: list[JobError] = field(default_factory=list)
    # The last restore drill recorded on the job's copies ({when, status, restore_seconds}),
    # None when there is none; drill_overdue: the job has restore_drill and its last drill
    # is older than every_days plus a day (or there is none).
    last_drill: dict[str, Any] | None = None
    drill_overdue: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def drill_failed(self) -> bool:
        return (self.last_drill or {}).get("status") == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sync_type": self.sync_type,
            "source_id": self.source_id,
            "source_created": self.source_created,
            "copy_id": self.copy_id,
            "copy_state": self.copy_state,
            "copy_job": self.copy_job,
            "copy_source_created": self.copy_source_created,
            "copy_age_seconds": self.copy_age_seconds,
            "copies": self.copies,
            "max_copy_age_hours": self.max_copy_age_hours,
            "stale": self.stale,
            "errors": [{"type": e.type, "message": e.message} for e in self.errors],
            "last_drill": self.last_drill,
            "drill_overdue": self.drill_overdue,
        }


def status(config: ConfigSource, *,
           max_workers: int = DEFAULT_MAX_WORKERS) -> list[JobStatus]:
    """One JobStatus per job of `config`, in config order, config-error jobs included.
    Raises ConfigError only when the config cannot be read at all."""
    entries = load_config(config).entries
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(entries)))) as pool:
        return list(pool.map(lambda entry: job_status(entry, now), entries))


def job_status(entry: JobEntry, now: datetime | None = None) -> JobStatus:
    now = now or datetime.now(UTC)
    if entry.errors or entry.spec is None:
        return JobStatus(entry.name, entry.sync_type,
                         errors=[JobError.from_exception(e) for e in entry.errors])
    job = entry.spec
    sync = SYNC_TYPES[job.sync_type]
    limit = job.options.get("max_copy_age_hours", metrics.DEFAULT_MAX_COPY_AGE_HOURS)
    errors: list[JobError] = []
    source: Source | None = None
    try:
        source = sync.resolve_source(job)
    except Exception as exc:  # one job's failure must not hide the others
        errors.append(_error(job.name, exc))
    existing: ExistingCopies
    try:
        existing = sync.find_existing_copy(job, source or _UNRESOLVED_SOURCE)
    except Exception as exc:
        errors.append(_error(job.name, exc))
        existing = {"in_sync": False, "copy": None, "replaces": [], "managed": []}
    in_sync: ManagedCopy | dict[str, Any] = (existing.get("copy") or {}) if source else {}
    managed = existing.get("managed") or []
    available = [m for m in managed if m["state"] == AVAILABLE and m.get("source_created")]
    newest = max(available, key=oldest_first) if available else None
    recovery = in_sync if in_sync.get("state") == AVAILABLE and in_sync.get(
        "source_created") else newest
    shown = in_sync or newest or {}
    overdue = _overdue(job.name, shown, now)
    if overdue:
        errors.append(overdue)
    created = (recovery or {}).get("source_created")
    age = metrics.age_seconds(created, now)
    if age is not None:
        age = int(age)
    last, drill_overdue = _last_drill(job, managed, now, errors)
    return JobStatus(
        name=job.name, sync_type=job.sync_type, last_drill=last, drill_overdue=drill_overdue,
        source_id=source["id"] if source else None,
        source_created=source["created"] if source else None,
        copy_id=shown.get("id"), copy_state=shown.get("state"), copy_job=copy_owner(shown),
        copy_source_created=created,
        copy_age_seconds=age, copies=len(managed), max_copy_age_hours=limit,
        # Without its source the job's copy cannot be called current.
        stale=source is None or metrics.is_stale(age, limit), errors=errors)


def _last_drill(job: JobSpec, managed: list[ManagedCopy], now: datetime,
                errors: list[JobError]) -> tuple[dict[str, Any] | None, bool]:
    """The last drill recorded on the job's copies, and whether the next one is overdue;
    (None, False) for a job without restore_drill (its copies are not read again)."""
    from .drills import last_drill

    settings = job.options.get("restore_drill")
    if not settings:
        return None, False
    try:
        last = last_drill(job, managed)
    except Exception as exc:
        errors.append(_error(job.name, exc))
        return None, False
    if last is not None:
        last = {key: last[key] for key in ("when", "status", "restore_seconds")}
    when = parse_iso_utc((last or {}).get("when") or "")
    due = timedelta(days=settings["every_days"] + 1)  # a day's slack for the schedule
    return last, when is None or now - when > due


def _overdue(job: str, copy: ManagedCopy | dict[str, Any], now: datetime
             ) -> JobError | None:
    """A time-based copy still pending after the time AWS promised it by."""
    due = parse_iso_utc(copy.get("due") or "")
    if copy.get("state") != PENDING or due is None or now <= due:
        return None
    return JobError("CopyOverdueError", f"job '{job}': copy {copy['id']} is a time-based copy "
                    f"due by {copy['due']} and is still pending; AWS may be holding it back "
                    "(the account's copy throughput): see the copy in the EC2 console")


def _error(job: str, exc: BaseException) -> JobError:
    if not isinstance(exc, SyncError):
        logger.exception("Unexpected error", extra={"job": job})
    return JobError.from_exception(exc)
