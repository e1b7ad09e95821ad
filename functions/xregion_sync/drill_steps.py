"""The drill state machine's steps (statemachine/drills.asl.json): each task Lambda
(handlers.py) is one of these, and each is one call into drills.py, whose in-process
driver runs the same steps in the same order.

  Clean Up Expired Drills  the janitor: deletes what a drill that died half-way left
  Plan Drills              the jobs whose drill is due (the others: skipped results)
  per due job (a Map):     Start Restore -> [Wait -> Poll Restore]* -> Validate Restore
                           -> Clean Up Drill [-> Wait -> Clean Up Drill]* -> Record Drill
                           Result; a Catch on every state routes to Clean Up Drill (from
                           Clean Up Drill itself: to Record Drill Result)
  Summarize Drills         the results in config order, the metrics; failed drills make
                           the execution fail (the failed-executions alarm)

The execution input is the sync machine's ({} for the stack's config, or {"config": ...}
or {"config_uri": ...}), with optionally "jobs": [names], "force": true (drill even when
not due) and "wait_seconds" (between polls; default 60).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from . import drills, metrics
from .config import JobEntry, load_config
from .errors import CONFIG_LEVEL, ConfigError
from .execution import (
    MAX_FAIL_CAUSE_CHARS,
    StackNotConfigured,
    caught_error,
    config_source,
    state_machine_errors,
)
from .result import JobError

# The clock of the drill Lambdas: wall time, as the states of one drill run in different
# Lambda invocations (the emulator replaces it with its own).
CLOCK = drills.Clock(now=time.time, sleep=time.sleep)
DEFAULT_WAIT_SECONDS = 60
MAX_CONCURRENCY_ENV = "DRILL_MAX_CONCURRENCY"
DEFAULT_MAX_CONCURRENCY = 1
DRILL_INPUT_KEYS = ("jobs", "force", "wait_seconds")
# Where the Catches of statemachine/drills.asl.json put an error: a step's in $.error, Clean
# Up Drill's own in $.clean_up_error, so that it does not overwrite the drill's first failure.
CAUGHT_ERROR_KEYS = ("error", "clean_up_error")
Drill = drills.Drill


def clean_up_expired_drills(event: Mapping[str, Any]) -> dict[str, Any]:
    """The janitor ({"input": the execution's input}): {"expired": [{job, kind, id,
    expired}]}, each deleted or being deleted."""
    entries, _ = _drill_entries(event.get("input"))
    expired = drills.janitor_entries(entries)
    for left in expired:
        drills.logger.warning("Janitor: deleted an expired drill resource", extra=left)
    return {"expired": expired}


def plan_drills(event: Mapping[str, Any]) -> dict[str, Any]:
    """{"input": the execution's input}: the drills that are due, each a Drill state
    with its config index and the wait between polls, and the results of the jobs not
    drilled (skipped, or failed: a config error)."""
    execution_input = event.get("input") or {}
    entries, note = _drill_entries(execution_input)
    force = execution_input.get("force") is True
    wait = execution_input.get("wait_seconds", DEFAULT_WAIT_SECONDS)
    if not isinstance(wait, int) or isinstance(wait, bool) or wait < 1:
        raise ConfigError(f"execution input: 'wait_seconds' must be a whole number of "
                          f"seconds >= 1, got {wait!r}", job=CONFIG_LEVEL, field="wait_seconds")
    due: list[Drill] = []
    results: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        refused = state_machine_errors(entry)
        prepared = (drills.DrillResult(entry.name, entry.sync_type, drills.FAILED,
                                       errors=[JobError.from_exception(e) for e in refused])
                    if refused else drills.prepare_entry(entry, force))
        if isinstance(prepared, drills.DrillResult):
            results.append({**prepared.to_dict(), "index": index})
        else:
            due.append({**prepared, "index": index, "wait_seconds": wait})
    return {"drills": due, "results": results, "note": note,
            "max_concurrency": _max_concurrency()}


def start_restore(state: Drill) -> Drill:
    return drills.start_restore(state, CLOCK.now())


def poll_restore(state: Drill) -> Drill:
    return drills.poll_restore(state, CLOCK.now())


def validate_restore(state: Drill) -> Drill:
    return drills.validate_restore(state, CLOCK)


def clean_up_drill(state: Drill) -> Drill:
    """After a step's Catch ($.error) the error joins the drill's errors first."""
    return drills.clean_up_drill(_with_caught_error(state), CLOCK.now())


def record_drill_result(state: Drill) -> dict[str, Any]:
    result = drills.record_drill(_with_caught_error(state))
    return {**result.to_dict(), "index": state["index"]}


def summarize_drills(event: Mapping[str, Any]) -> dict[str, Any]:
    """{"plan": Plan Drills' output, "drilled": the Map's results, "expired": the
    janitor's}: {results (config order), summary, expired[, note]}; emits DrillsFailed and
    DrillsOverdue (the jobs due whose drill did not run: no copy, no quota headroom)."""
    plan = event.get("plan") or {}
    records = sorted([*plan.get("results", ()), *(event.get("drilled") or ())],
                     key=lambda r: r["index"])
    results = [{**{key: record.get(key) for key in drills.DRILL_RESULT_KEYS},
                "errors": [_error_entry(e) for e in record.get("errors") or ()]}
               for record in records]
    statuses = [r["status"] for r in results]
    overdue = sum(1 for r in results if r["status"] == drills.SKIPPED and r["errors"]
                  and r["errors"][0]["type"] not in ("DrillNotDue", "NoRestoreDrill"))
    summary = {"total": len(results), "passed": statuses.count(drills.PASSED),
               "failed": statuses.count(drills.FAILED),
               "skipped": statuses.count(drills.SKIPPED), "overdue": overdue}
    metrics.emit_drills(summary["failed"], overdue)
    document: dict[str, Any] = {"results": results, "summary": summary,
                                "expired": event.get("expired") or []}
    if plan.get("note"):
        document["note"] = plan["note"]
    if summary["failed"]:
        failed = [r for r in results if r["status"] == drills.FAILED]
        document["failure_cause"] = (f"{len(failed)} of {len(results)} drills failed: "
                                     f"{json.dumps(failed)}")[:MAX_FAIL_CAUSE_CHARS]
    return document


def _error_entry(error: Mapping[str, Any]) -> dict[str, str]:
    """{type, message}; from a Catch's {Error, Cause} too (Drill Not Recorded)."""
    if "Error" in error:
        name, message = caught_error(error)
        return {"type": name, "message": message}
    return {"type": error["type"], "message": error["message"]}


def _max_concurrency() -> int:
    """The Map's MaxConcurrency: DrillMaxConcurrency (template.yaml), 1 by default: one
    drill at a time leaves the most quota headroom for a real recovery."""
    try:
        return max(0, int(os.environ.get(MAX_CONCURRENCY_ENV, DEFAULT_MAX_CONCURRENCY)))
    except ValueError:
        return DEFAULT_MAX_CONCURRENCY


def _drill_entries(execution_input: Any) -> tuple[list[JobEntry], str | None]:
    """The config's jobs with restore_drill (or with errors in it, or named in "jobs"),
    and a note when the stack has no config yet (nothing to drill: not a failure)."""
    if execution_input is None:
        execution_input = {}
    if not isinstance(execution_input, Mapping):
        raise ConfigError(f"execution input: expected a JSON object, got {execution_input!r}"
                          [:300], job=CONFIG_LEVEL)
    source = {k: v for k, v in execution_input.items() if k not in DRILL_INPUT_KEYS}
    try:
        entries = load_config(config_source(source)).entries
    except StackNotConfigured as exc:
        return [], str(exc)
    return drills.select_drill_entries(entries, execution_input.get("jobs")), None


def _with_caught_error(state: Drill) -> Drill:
    """The state with what the Catches put in it ({"Error", "Cause"}) moved into its
    errors, in the order they happened: a step's error, then Clean Up Drill's own."""
    for key in CAUGHT_ERROR_KEYS:
        if key in state:
            name, message = caught_error(state[key])
            rest = {k: value for k, value in state.items() if k != key}
            state = drills.failed_step(rest, JobError(name, message))
    return state
