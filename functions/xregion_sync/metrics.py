"""CloudWatch metrics in Embedded Metric Format (EMF): one JSON line per metric set,
printed to a task Lambda's stdout (in-process: a debug record, see emit). CloudWatch Logs
turns such a line into metrics by itself: no PutMetricData call, no permission.

  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Per job (Record Result):  CopyAgeSeconds (Seconds; dimensions stack, job)
Per run (Summarize):      JobsCopied, JobsInSync, JobsDeferred, JobsFailed, StaleJobs
                          (Count; dimension stack)
Per drill (Record Drill Result):  RestoreSeconds (Seconds; dimensions stack, job)
Per drill run (Summarize Drills): DrillsFailed, DrillsOverdue (Count; dimension stack)
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from . import logs
from .spec import STATUS_OPTIONS
from .tags import parse_iso_utc

NAMESPACE = "XregionSync"
STACK_ENV = "STACK_NAME"  # template.yaml's Globals set it to the stack's name
LOCAL_STACK = "local"
SECONDS, COUNT = "Seconds", "Count"
# The option's default, read from its one definition (jobs at the default do not carry it:
# JobSpec.to_dict leaves defaults out).
DEFAULT_MAX_COPY_AGE_HOURS: int = STATUS_OPTIONS["max_copy_age_hours"].default

logger = logging.getLogger(__name__)


def stack_name() -> str:
    return os.environ.get(STACK_ENV) or LOCAL_STACK


def emf_record(metrics: Mapping[str, tuple[float, str]], dimensions: Mapping[str, str],
               *, timestamp_ms: int | None = None) -> dict[str, Any]:
    """One EMF document: metrics {name: (value, unit)} with one dimension set."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [list(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
            }],
        },
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }


def emit(metrics: Mapping[str, tuple[float, str]], dimensions: Mapping[str, str]) -> None:
    """In a task Lambda, print one EMF line where the task logs go (stdout: the runtime
    sends it to the log stream), at INFO (the deployed level; the CLI, which runs the
    handlers locally at WARNING, keeps its stdout for its own output). In-process
    (xregion_sync.run), the same document is a DEBUG record of this module's logger, with
    the document as its `metrics` attribute: a user's program prints nothing it did not
    ask for."""
    record = emf_record(metrics, dimensions)
    if not logs.in_lambda():
        logger.debug("Metrics", extra={"metrics": record})
    elif logger.isEnabledFor(logging.INFO):
        print(json.dumps(record, separators=(",", ":")), file=logs.log_stream(), flush=True)


def age_seconds(source_created: str | None, now: datetime | None = None) -> float | None:
    """Seconds since `source_created` (ISO 8601 UTC), or None when unknown."""
    created = parse_iso_utc(source_created) if source_created else None
    if created is None:
        return None
    return ((now or datetime.now(UTC)) - created).total_seconds()


def is_stale(age: float | None, max_copy_age_hours: int) -> bool:
    """No available copy, or one whose source is older than the limit."""
    return age is None or age > max_copy_age_hours * 3600


def emit_copy_age(job: str, age: float | None) -> None:
    """CopyAgeSeconds of one job; nothing when the job has no available copy (the stale
    count and its alarm cover that)."""
    if age is not None:
        emit({"CopyAgeSeconds": (age, SECONDS)}, {"stack": stack_name(), "job": job})


def stale_jobs(results: Iterable[Mapping[str, Any]]) -> int:
    """Jobs that did not fail whose newest available copy is missing or older than their
    max_copy_age_hours (failed jobs count in JobsFailed)."""
    return sum(1 for r in results if r.get("status") != "failed" and is_stale(
        age_seconds(r.get("copy_source_created")),
        r.get("max_copy_age_hours") or DEFAULT_MAX_COPY_AGE_HOURS))


def emit_run(summary: Mapping[str, int], stale: int) -> None:
    """The run's outcome counts (Summarize)."""
    emit({"JobsCopied": (summary.get("copied", 0), COUNT),
          "JobsInSync": (summary.get("in_sync", 0), COUNT),
          "JobsDeferred": (summary.get("deferred", 0), COUNT),
          "JobsFailed": (summary.get("failed", 0), COUNT),
          "StaleJobs": (stale, COUNT)}, {"stack": stack_name()})


def emit_restore_seconds(job: str, seconds: float) -> None:
    """RestoreSeconds of one drill: from the restore call to usable."""
    emit({"RestoreSeconds": (seconds, SECONDS)}, {"stack": stack_name(), "job": job})


def emit_drills(failed: int, overdue: int) -> None:
    """A drill run's failed drills and the jobs whose drill is overdue (not drilled within
    every_days: no copy to drill, no quota headroom, or no drill yet)."""
    emit({"DrillsFailed": (failed, COUNT), "DrillsOverdue": (overdue, COUNT)},
         {"stack": stack_name()})
