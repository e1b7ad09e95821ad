"""`python -m bench.logs [--jobs N]`: what the state machine's CloudWatch Logs cost per job.

Step Functions keeps no history of an Express execution: the console shows an Express
child's states, inputs and outputs only from the state machine's log group, at level ALL
with execution data (Step Functions Developer Guide, "Logging in CloudWatch Logs";
"Viewing Express workflow executions"). A Distributed Map's children log with their state
machine's logging configuration, so Level applies to the parent, the Standard children and
the Express children alike.

This runs N jobs (a third each type) on emulated AWS three times (a copy run and an in-sync
run of jobs that do not wait, then a newer source copied by jobs that wait, one more job
failing), and turns every history event of the parent and of each child into the log record Step
Functions writes for it (id, type, details with input and output, previous_event_id,
event_timestamp, execution_arn, redrive_count), at level ALL with execution data and at
level ERROR (only the *Failed, *TimedOut and *Aborted events). It prints, per job path and
child type, the records and bytes per job-run (the parent's share spread over its N jobs)
and the cost per 1,000 job-runs, next to what a Standard child's own state transitions
would cost instead (the alternative: every child Standard, history kept by Step Functions).

Prices (us-east-1, https://aws.amazon.com/cloudwatch/pricing/, free tier ignored): Logs
ingestion $0.50 per GB; storage $0.03 per GB-month, counted here on the uncompressed bytes
for one month (LogRetentionInDays 30), an upper bound (CloudWatch bills storage compressed).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .costs import STATE_TRANSITION_USD
from .history import path_of
from .measure import STATE_MACHINE, quiet_logs, run_jobs
from .world import emulated_world

INGESTION_USD_PER_GB = 0.50
STORAGE_USD_PER_GB_MONTH = 0.03
GB = 1024**3
ERROR_EVENT_SUFFIXES = ("Failed", "TimedOut", "Aborted")  # what Level ERROR logs
DEFAULT_JOBS = 9


@dataclass(frozen=True)
class LogVolume:
    """Log records and bytes one history writes at a level."""

    records: int
    bytes: int

    def __add__(self, other: LogVolume) -> LogVolume:
        return LogVolume(self.records + other.records, self.bytes + other.bytes)


def log_records(history: list[dict[str, Any]], execution_arn: str, *, level: str
                ) -> list[str]:
    """The CloudWatch Logs messages Step Functions writes for `history` at `level` (ALL or
    ERROR), with execution data."""
    records = []
    for event in history:
        if level == "ERROR" and not event["type"].endswith(ERROR_EVENT_SUFFIXES):
            continue
        details = next((value for key, value in event.items() if key.endswith("EventDetails")),
                       {})
        records.append(json.dumps({
            "id": str(event["id"]), "type": event["type"], "details": details,
            "previous_event_id": str(event.get("previousEventId", 0)),
            "event_timestamp": _epoch_millis(event["timestamp"]),
            "execution_arn": execution_arn, "redrive_count": "0"}, default=str))
    return records


def _epoch_millis(timestamp: Any) -> str:
    """A history event's time (a datetime, or ISO 8601 text in a child's) as the record's."""
    if isinstance(timestamp, str):
        timestamp = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return str(int(timestamp.timestamp() * 1000))


def volume(history: list[dict[str, Any]], execution_arn: str, *, level: str) -> LogVolume:
    records = log_records(history, execution_arn, level=level)
    # CloudWatch Logs counts 26 bytes per event besides its message (PutLogEvents' size).
    return LogVolume(len(records), sum(len(r.encode("utf-8")) + 26 for r in records))


def usd_per_thousand(volume_per_job: float) -> float:
    return 1000 * volume_per_job / GB * (INGESTION_USD_PER_GB + STORAGE_USD_PER_GB_MONTH)


# A job whose source is missing: the failed path (Record Failure).
MISSING_SOURCE_JOB = {"sync_missing_app": {"sync_type": "ec2_ami", "source_region": "us-east-1",
                                           "destination_region": "us-west-2",
                                           "sync_identifier": "no-such-app"}}
WAITING = {"wait_for_completion": True, "poll_interval_seconds": 1}


def measure(jobs: int) -> list[dict[str, Any]]:
    """One row per (run, path, child type): per job-run averages. Runs: the first copy and
    then in sync (jobs that do not wait: Express children); a newer source copied by jobs
    that wait (Standard children), with one job failing."""
    rows = []
    with quiet_logs(), emulated_world(jobs) as world:
        for run_name in ("copy", "in sync", "copy, waiting"):
            if run_name == "copy, waiting":
                world.advance()
                config = {**world.config(**WAITING), **MISSING_SOURCE_JOB}
            else:
                config = world.config()
            execution = run_jobs(STATE_MACHINE, config).execution
            assert execution is not None
            rows += _rows(run_name, execution)
    return rows


def _rows(run_name: str, execution: Any) -> list[dict[str, Any]]:
    children = execution.child_executions()
    parent = {level: volume(execution.history, execution.arn, level=level)
              for level in ("ALL", "ERROR")}
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for child in children:
        groups[(path_of(child.states_entered()), child.execution_type)].append(child)
    rows = []
    for (path, child_type), group in sorted(groups.items()):
        row: dict[str, Any] = {"run": run_name, "path": path, "child_type": child_type,
                               "jobs": len(group)}
        for level in ("ALL", "ERROR"):
            total = LogVolume(0, 0)
            for child in group:
                total += volume(child.history, child.arn, level=level)
            size = total.bytes / len(group) + parent[level].bytes / len(children)
            row[level] = {"records": total.records / len(group)
                          + parent[level].records / len(children),
                          "bytes": size, "usd_per_1000": usd_per_thousand(size)}
        transitions = sum(len(c.states_entered()) for c in group) / len(group)
        row["standard_child_transitions"] = transitions
        row["standard_child_usd_per_1000"] = 1000 * transitions * STATE_TRANSITION_USD
        rows.append(row)
    return rows


def print_rows(rows: list[dict[str, Any]], jobs: int) -> None:
    print(f"State machine logs per job-run ({jobs} jobs per execution; the parent's records "
          "spread over its children)")
    print("| run | path | child | ALL records | ALL bytes | ALL $/1,000 job-runs | "
          "ERROR records | ERROR bytes | Standard child instead: transitions | $/1,000 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['path']} | {row['child_type']} | "
              f"{row['ALL']['records']:.1f} | {row['ALL']['bytes']:,.0f} | "
              f"{row['ALL']['usd_per_1000']:.4f} | {row['ERROR']['records']:.1f} | "
              f"{row['ERROR']['bytes']:,.0f} | {row['standard_child_transitions']:.0f} | "
              f"{row['standard_child_usd_per_1000']:.4f} |")
    print(f"Prices: Logs ingestion ${INGESTION_USD_PER_GB}/GB + storage "
          f"${STORAGE_USD_PER_GB_MONTH}/GB-month (one month, uncompressed: an upper bound); "
          f"Standard ${STATE_TRANSITION_USD * 1000:.3f} per 1,000 state transitions.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                        help=f"jobs per execution (default {DEFAULT_JOBS})")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # the failing job's Fail state
    rows = measure(args.jobs)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_rows(rows, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
