"""The in-process driver: the original tool's one-shot `run`, jobs on a thread pool.

It calls the same steps, in the same order, as the state machine does.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from . import execution, steps
from .config import ConfigSource, JobEntry, load_config
from .errors import SyncError
from .result import SyncResult
from .syncs.base import PENDING

DEFAULT_MAX_WORKERS = 8

logger = logging.getLogger(__name__)


def run(config: ConfigSource, *, dry_run: bool = False,
        max_workers: int = DEFAULT_MAX_WORKERS, run_id: str | None = None,
        jobs: Sequence[str] | None = None) -> list[SyncResult]:
    """Run every job of `config` (a path, YAML text or a mapping), or only those named in
    `jobs`; one result per job run.

    Results come in config order, config-error jobs included. A job's failure is
    recorded in its result and never raised. Raises ConfigError only when the config
    cannot be read at all (not YAML, not a mapping, no jobs), or when `jobs` is empty or
    names a job the config lacks (then no job runs).
    """
    loaded = load_config(config)
    for note in loaded.notes:  # a typo'd job key would otherwise never run, silently
        logger.warning(note)
    entries: Sequence[JobEntry] = loaded.entries
    if jobs is not None:
        entries = [entry for _, entry in execution.select_jobs(entries, list(jobs))]
    run_id = run_id or uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(entries)))) as pool:
        futures = [pool.submit(run_job, entry, run_id, dry_run) for entry in entries]
        return [future.result() for future in futures]


def run_job(entry: JobEntry, run_id: str, dry_run: bool = False) -> SyncResult:
    if entry.errors or entry.spec is None:  # a spec exactly when there are no errors
        return SyncResult.failure(entry.name, entry.sync_type, list(entry.errors))
    state = steps.new_state(entry.spec, run_id)
    try:
        state = steps.check_sync_tag(steps.resolve_source(state))
        if dry_run:
            return SyncResult.from_dict(steps.planned_record(state))
        if not state["in_sync"]:
            state = steps.start_copy(state)
            while state["retry_copy"]:  # the destination's copy slots are full: wait
                time.sleep(state["wait"]["interval_seconds"])
                state = steps.start_copy(state)
            if state["copy_deferred"]:
                return SyncResult.from_dict(steps.record_result(state))
            state = steps.copy_tags(state)
            while state["wait"]["enabled"] and state["copy"]["state"] == PENDING:
                time.sleep(state["wait"]["interval_seconds"])
                state = steps.poll_copy_status(state)
        if not state["in_sync"] or state["prune_due"] or state["finish_due"]:
            state = steps.prune_old_copies(state)
        return SyncResult.from_dict(steps.record_result(state))
    except Exception as exc:  # one job's failure, even a bug, must not hide the others
        if not isinstance(exc, SyncError):
            logger.exception("Unexpected error", extra={"job": entry.name})
        # The same failure result the state machine's Catch -> Record Failure makes.
        return SyncResult.from_dict(execution.record_failure({**state, **execution.caught(exc)}))


