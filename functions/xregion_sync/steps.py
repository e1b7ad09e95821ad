"""The sync steps over plain dicts: one job's state in, the same state grown out.

Both drivers call exactly these functions in the same order: the in-process runner
(runner.py) and the state machine, whose task Lambdas (handlers.py) are one line
over each. The state of a job is:

  {"job": <JobSpec dict>, "run_id": str,
   "source": {...}, "existing": {...}, "copy": {...}, "pruned": [...]}

and the last step turns it into the result dict (SyncResult.to_dict()).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

from . import metrics
from .errors import ConfigError, CopySlotsFullError, DryRunError
from .result import COPIED, DEFERRED, FAILED, IN_SYNC, WOULD_COPY, JobError, SyncResult
from .spec import JobSpec, polls_needed
from .syncs import SYNC_TYPES, job_from_dict, job_to_dict
from .syncs.base import (
    AVAILABLE,
    GONE,
    PENDING,
    TIMED_OUT,
    UNKNOWN,
    Copy,
    ManagedCopy,
    SyncType,
    carried_drill_tags,
    copy_owner,
    oldest_first,
    select_for_pruning,
)
from .syncs.base import FAILED as COPY_FAILED

State = dict[str, Any]


def new_state(job: JobSpec, run_id: str) -> State:
    return {"job": job_to_dict(job), "run_id": run_id}


def _job_and_type(state: State) -> tuple[JobSpec, SyncType]:
    job = job_from_dict(state["job"])
    sync = SYNC_TYPES.get(job.sync_type)
    if sync is None:
        raise ConfigError(f"job '{job.name}', field 'sync_type': unknown type "
                          f"{job.sync_type!r}", job=job.name, field="sync_type")
    return job, sync


def resolve_source(state: State) -> State:
    job, sync = _job_and_type(state)
    return {**state, "source": sync.resolve_source(job)}


def check_sync_tag(state: State) -> State:
    """Find the managed copies in the destination and decide whether a copy is needed.

    Retention is planned here, from what exists before this run's copy, and only the ids
    it dooms travel on (the state stays small however many copies are kept), in two
    plans: `prune_candidates` once this run's copy (or the copy in sync) is available,
    and `prune_meanwhile` while it is not, which keeps the newest available copy as the
    recovery point. A copy still pending may yet fail: it never counts as one."""
    job, sync = _job_and_type(state)
    existing = sync.find_existing_copy(job, state["source"]).copy()
    in_sync_copy: ManagedCopy | dict[str, Any] = existing.get("copy") or {}
    carried = carried_drill_tags(existing)
    if carried:  # for start_copy: the new copy carries the job's last drill forward
        existing["last_drill"] = carried
    managed = existing.pop("managed")
    retain = sync.retention(job)
    available = [m for m in managed if m["state"] == AVAILABLE and m["id"] != in_sync_copy.get(
        "id")]
    newest_available = max(available, key=oldest_first) if available else None
    if newest_available and newest_available.get("source_created"):
        # The recovery point while this run's copy (or the one in sync) is not available:
        # Record Result reports its age (CopyAgeSeconds, staleness).
        existing["newest_available_created"] = newest_available["source_created"]
    newest_available_id = newest_available["id"] if newest_available else None
    source_id = state["source"]["id"]
    existing["prune_candidates"] = select_for_pruning(
        managed, retain, [in_sync_copy["id"]] if in_sync_copy else [], source_id)
    existing["prune_meanwhile"] = select_for_pruning(
        managed, retain, [i for i in (in_sync_copy.get("id"), newest_available_id) if i],
        source_id)
    legacy = {m["id"] for m in managed if m.get("legacy")}
    existing["untracked_candidates"] = [i for i in existing["prune_candidates"] if i in legacy]
    state = {**state, "existing": existing, "in_sync": existing["in_sync"]}
    # The in-sync path goes through Prune Old Copies only when there is something to do:
    # a lowered retention, or last run's copy now available (to prune for, or to finish).
    return {**state, "prune_due": existing["in_sync"] and bool(plan_pruning(state)),
            "finish_due": existing["in_sync"] and _finish_due(in_sync_copy)}


def _never_in_a_dry_run(state: State, step: str) -> None:
    """A dry run only reads: the state machine routes it from Check Sync Tag to Record
    Result, and a step that changes AWS refuses it should it ever arrive."""
    if state.get("dry_run"):
        raise DryRunError(f"job '{state['job']['name']}': {step} was reached in a dry run, "
                          "which copies, tags and prunes nothing: nothing was changed",
                          job=state["job"]["name"])


def start_copy(state: State) -> State:
    """Start the copy. When the destination's copies in progress are at AWS's quota the
    copy is deferred: `retry_copy` says whether the job may wait for a slot (its wait
    budget, shared with the polls, is not spent) and try again, else the job settles for
    `deferred` and the next run copies."""
    _never_in_a_dry_run(state, "Start Copy")
    job, sync = _job_and_type(state)
    wait = state.get("wait") or wait_plan(job)  # a retry after waiting keeps its budget
    try:
        copy = sync.start_copy(job, state["source"], state["existing"], state["run_id"])
    except CopySlotsFullError as exc:
        if wait["enabled"]:
            wait = {**wait, "polls": wait["polls"] + 1}
        retry = wait["enabled"] and wait["polls"] <= wait["max_polls"]
        # A failed copy deregistered before the refusal is gone: the result says so.
        pruned = list(dict.fromkeys([*(state.get("pruned") or ()), *exc.deleted]))
        return {**state, "copy": None, "wait": wait, "copy_deferred": True,
                "retry_copy": retry, "deferred_reason": exc.message, "pruned": pruned}
    return {**state, "copy": copy, "wait": wait, "copy_deferred": False, "retry_copy": False}


def wait_plan(job: JobSpec) -> dict[str, Any]:
    """Whether and how to wait for the copy: a bounded number of polls, no clock needed."""
    if not job.options.get("wait_for_completion"):
        return {"enabled": False}
    interval = job.options["poll_interval_seconds"]
    return {"enabled": True, "interval_seconds": interval, "polls": 0,
            "max_polls": polls_needed(job.options["max_wait_seconds"], interval)}


def copy_tags(state: State) -> State:
    _never_in_a_dry_run(state, "Copy Tags")
    job, sync = _job_and_type(state)
    return {**state, "copy": sync.copy_tags(job, state["source"], state["copy"])}


def poll_copy_status(state: State) -> State:
    """Refresh the copy's state after a wait; `timed_out` once the last poll is spent. A
    state the tool does not know is waited on like pending: it may yet settle."""
    job, sync = _job_and_type(state)
    copy = sync.copy_status(job, state["copy"])
    if copy["state"] == UNKNOWN:
        copy = {**copy, "state": PENDING}
    wait = {**state["wait"], "polls": state["wait"]["polls"] + 1}
    if copy["state"] == PENDING and wait["polls"] >= wait["max_polls"]:
        copy = {**copy, "state": TIMED_OUT}
    return {**state, "copy": copy, "wait": wait}


def recovery_point(state: State) -> dict[str, Any]:
    """The copy this run counts on: the one it made, else the one found in sync."""
    return state.get("copy") or (state.get("existing") or {}).get("copy") or {}


def plan_pruning(state: State) -> list[str]:
    """Managed copies to delete now: the plan for an available recovery point, or the one
    that keeps the newest available older copy while it is not; less the copies Start
    Copy already removed (a failed copy it replaced)."""
    existing = state["existing"]
    copy = recovery_point(state)
    ready = copy.get("state") == AVAILABLE
    plan = existing["prune_candidates"] if ready else existing.get("prune_meanwhile", [])
    gone = {copy.get("id"), *copy.get("replaced", ())}
    return [i for i in plan if i not in gone]


def _finish_due(copy: Mapping[str, Any]) -> bool:
    """Whether the sync type has work left on a copy that it can do only once the copy is
    available (it marks such a copy `finish_due`; ec2_ami: copy_launch_permissions)."""
    return bool(copy.get("finish_due")) and copy.get("state") == AVAILABLE


def _finish_recovery_point(state: State, job: JobSpec, sync: SyncType) -> State:
    """The sync type's finish_copy(job, source, copy) on the recovery point once it is
    available: this run's copy (after the wait), or the copy in sync (made by an earlier
    run that ended while it was pending). Only copies the type marked `finish_due` are
    finished (see SyncType.finish_copy)."""
    copy = recovery_point(state)
    if not _finish_due(copy):
        return state
    # The state is JSON: the recovery point is this run's Copy or the copy in sync, both
    # with the id, state, owner and finish_due a type's finish_copy reads.
    finished = sync.finish_copy(job, state["source"], cast(Copy, copy))
    if state.get("copy"):
        return {**state, "copy": finished}
    return {**state, "existing": {**state["existing"], "copy": finished}, "finish_due": False}


def prune_old_copies(state: State) -> State:
    """Finish the recovery point if that is due (_finish_recovery_point), then apply
    retention (see check_sync_tag): old copies go only once the new one has what is due
    to it, e.g. the launch permissions the copies it replaces had. The original tool's
    copies are passed as untracked, since the deployed IAM policy may refuse to delete
    them. Never after this run's copy failed or vanished: the job fails, and the old
    copies stay as they are."""
    _never_in_a_dry_run(state, "Prune Old Copies")
    if recovery_point(state).get("state") in (COPY_FAILED, GONE):
        return {**state, "pruned": []}
    job, sync = _job_and_type(state)
    state = _finish_recovery_point(state, job, sync)
    untracked = state["existing"].get("untracked_candidates") or ()
    return {**state, "pruned": sync.prune(job, plan_pruning(state), untracked)}


def recovery_source_created(state: State) -> str | None:
    """When the source of the job's newest available copy was created: this run's copy
    or the one in sync if available, else the newest available older managed copy."""
    copy = state.get("copy") or {}
    existing = state.get("existing") or {}
    if copy.get("state") == AVAILABLE:
        return (state.get("source") or {}).get("created")
    in_sync_copy = existing.get("copy") or {}
    if not copy and in_sync_copy.get("state") == AVAILABLE:
        return in_sync_copy.get("source_created")
    return existing.get("newest_available_created")


def record_result(state: State) -> dict[str, Any]:
    """The job's result record (result_record), and the job's CopyAgeSeconds metric; in a
    dry run what a real run would do (planned_record), without a metric."""
    if state.get("dry_run"):
        return planned_record(state)
    record = result_record(state)
    metrics.emit_copy_age(record["name"], metrics.age_seconds(record.get("copy_source_created")))
    return record


def planned_record(state: State) -> dict[str, Any]:
    """What a real run would do, after Check Sync Tag: read-only, nothing copied or
    deleted. `pruned` lists the copies the real run deletes: in sync, what Prune Old Copies
    would; with a copy to make, what it would once the copy is available (a job that waits)
    or while it is still pending (a job that does not wait keeps the newest available older
    copy)."""
    record = result_record(state)  # a plan: no metric
    if state["in_sync"]:
        return {**record, "pruned": plan_pruning(state)}
    copy_state = AVAILABLE if wait_plan(job_from_dict(state["job"]))["enabled"] else PENDING
    would_copy = {**state, "copy": {"id": "(new copy)", "state": copy_state}}
    return SyncResult(record["name"], record["sync_type"], WOULD_COPY,
                      pruned=plan_pruning(would_copy),
                      source_id=record.get("source_id")).to_record()


def result_record(state: State) -> dict[str, Any]:
    """The job's result with the extras Summarize needs (SyncResult.to_record). Failed
    copies Start Copy replaced are reported with the pruned ones: they were deleted too."""
    result = _result(state)
    created = recovery_source_created(state)
    job = job_from_dict(state["job"])
    in_sync_copy = (state.get("existing") or {}).get("copy") or {}
    in_sync = result.status == IN_SYNC
    result = dataclasses.replace(
        result, copy_source_created=created, source_id=(state.get("source") or {}).get("id"),
        copy_id=in_sync_copy.get("id") if in_sync else None,
        copy_job=copy_owner(in_sync_copy) if in_sync else
        job.name if result.created_resource else None)
    document = result.to_record()
    limit = job.options.get("max_copy_age_hours", metrics.DEFAULT_MAX_COPY_AGE_HOURS)
    if limit != metrics.DEFAULT_MAX_COPY_AGE_HOURS:
        document["max_copy_age_hours"] = limit  # Summarize counts stale jobs with it
    return document


def _result(state: State) -> SyncResult:
    job = state["job"]
    copy = state.get("copy")
    pruned = list(dict.fromkeys([*(copy or {}).get("replaced", ()),
                                 *(state.get("pruned") or ())]))
    if state.get("copy_deferred"):
        error = JobError("CopySlotsFullError", state["deferred_reason"])
        result = SyncResult(job["name"], job["sync_type"], DEFERRED, pruned=pruned,
                            errors=[error])
    elif copy and copy.get("state") == COPY_FAILED:
        reason = copy.get("reason") or "AWS reported the copy as failed"
        error = JobError("CopyFailedError", f"job '{job['name']}': copy {copy['id']} failed: "
                         f"{reason}; the next run replaces it")
        result = SyncResult(job["name"], job["sync_type"], FAILED, created_resource=copy["id"],
                            copy_state=COPY_FAILED, pruned=pruned, errors=[error])
    elif copy and copy.get("state") == GONE:
        # Reporting `copied` here would claim a DR copy the destination does not have.
        error = JobError("CopyGoneError", f"job '{job['name']}': copy {copy['id']} is no "
                         f"longer in {job['destination_region']}: it was deregistered, "
                         "deleted or cancelled before it became available; no old copy "
                         "was pruned, and the next run copies again")
        result = SyncResult(job["name"], job["sync_type"], FAILED, created_resource=copy["id"],
                            copy_state=GONE, pruned=pruned, errors=[error])
    elif copy:
        result = SyncResult(job["name"], job["sync_type"], COPIED, created_resource=copy["id"],
                            copy_state=copy.get("state"), pruned=pruned)
    else:
        in_sync_copy = (state.get("existing") or {}).get("copy") or {}
        result = SyncResult(job["name"], job["sync_type"], IN_SYNC,
                            copy_state=in_sync_copy.get("state"), pruned=pruned)
    return result
