"""The copy quota scenario: N rds_automated_snapshot copy jobs into one destination region,
on emulated AWS whose copies stay pending for D seconds and hold one of the 20 copy slots
per destination region (emulated_aws(copy_seconds=D, quotas=...)).

  without waiting  runs until every job is copied: a copy refused for the quota makes its
                   job `deferred` (never `failed`); each next run starts once the previous
                   run's copies finished, and copies the deferred ones while slots last
  waiting          wait_for_completion (poll 1 s): each job waits for a slot, then for its
                   copy; one run copies every job, in about ceil(N / 20) x D
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any
from unittest import mock

from xregion_sync import execution
from xregion_sync_emulator.quotas import AwsQuotas

from .measure import STATE_MACHINE, run_jobs
from .world import emulated_world

COPY_SLOTS = 20  # AWS: RDS and EBS snapshot copies in progress per destination region
# Every RDS copy is a manual DB snapshot, of which AWS allows 100 per region by default
# (adjustable): more than 100 jobs fail past it (CopyQuotaExceededError) unless it is raised.
MANUAL_SNAPSHOTS = 10_000
QUOTAS = AwsQuotas(rds_copies_in_progress=COPY_SLOTS, ebs_copies_in_progress=COPY_SLOTS,
                   rds_manual_snapshots=MANUAL_SNAPSHOTS)
POLL_SECONDS = 1


def measure_quota(n: int, copy_seconds: float, max_concurrency: int, *, max_runs: int,
                  log=print) -> dict[str, Any]:
    emulator = {"copy_seconds": copy_seconds, "quotas": QUOTAS}
    record: dict[str, Any] = {"n": n, "copy_seconds": copy_seconds, "slots": COPY_SLOTS,
                              "manual_snapshots": MANUAL_SNAPSHOTS,
                              "max_concurrency": max_concurrency, "runs": [], "waiting": None}
    # MapMaxConcurrency is a deploy parameter; the local deployment takes the template's
    # default (10), so the bench sets what Load Config hands the Maps.
    with mock.patch.object(execution, "_max_concurrency", return_value=max_concurrency):
        with emulated_world(n, rds_only=True, **emulator) as world:
            for number in range(1, max_runs + 1):
                run = run_jobs(STATE_MACHINE, world.config())
                counts = Counter(r["status"] for r in run.results)
                record["runs"].append({"run": number, "seconds": run.seconds,
                                       "execution": run.execution.status, **counts})
                log(f"  quota N={n} run {number}: {dict(counts)} in {run.seconds:.1f} s")
                if not counts["deferred"]:
                    break
                time.sleep(copy_seconds + 0.5)  # the copies of this run finish
        with emulated_world(n, rds_only=True, **emulator) as world:
            config = world.config(wait_for_completion=True, poll_interval_seconds=POLL_SECONDS,
                                  max_wait_seconds=int(60 + 4 * copy_seconds * n / COPY_SLOTS))
            run = run_jobs(STATE_MACHINE, config)
            counts = Counter(r["status"] for r in run.results)
            states = Counter(state for child in run.execution.child_executions()
                             for state in child.states_entered())
            record["waiting"] = {
                "seconds": run.seconds, "execution": run.execution.status, **counts,
                "copy_states": dict(Counter(r.get("copy_state") for r in run.results)),
                "slot_waits": states["Wait For Copy Slot"], "polls": states["Poll Copy Status"],
                "child_types": dict(Counter(c.execution_type
                                            for c in run.execution.child_executions())),
                "floor_seconds": math.ceil(n / COPY_SLOTS) * copy_seconds}
            log(f"  quota N={n} waiting: {dict(counts)} in {run.seconds:.1f} s")
    return record
