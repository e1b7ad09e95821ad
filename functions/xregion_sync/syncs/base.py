"""The step interface every sync type implements, and the logic they share.

A sync type is a module exposing NAME, SERVICE (for the region check), OPTIONS (its
config keys), retention(job) (previous copies to keep, None for all) and the six steps:
Steps take a JobSpec plus the plain dicts earlier steps returned and return a plain
JSON-able dict, so the same step runs in-process and as a Lambda in the state machine.

  resolve_source(job)                         -> source   {id, created, tags, ...}
  find_existing_copy(job, source)             -> existing {in_sync, copy, managed, ...}
  start_copy(job, source, existing, run_id)   -> copy     {id, state, tags, ...}
  copy_tags(job, source, copy)                -> copy     (tags the copy call could not apply)
  copy_status(job, copy)                      -> copy     (state refreshed)
  prune(job, doomed_ids, untracked_ids)       -> [ids deleted] (already gone counts)

A "managed" copy is one this job (under its name or a name in `renamed_from`) or the
original aws_xregion_sync provably created: its tracking tags name this job and source
region, and AWS's own record of where it was copied from agrees with them. It is
described as {id, state, source_id, source_created[, legacy]} (legacy: the original
tool's, without this tool's tracking tag, passed to prune as untracked_ids).
steps.check_sync_tag turns the managed list into the ids retention dooms
(select_for_pruning below); nothing else is ever deleted. Copies another job made of the
same source count as the source being in sync (a renamed job copies nothing again), but
only a job's own copies are ever pruned by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

# Normalised copy states, the same words for every sync type.
PENDING = "pending"
AVAILABLE = "available"
FAILED = "failed"
GONE = "gone"
TIMED_OUT = "timed_out"  # set by the drivers when a bounded wait ends
# A state AWS may add or that the tool does not know (EC2's transient, invalid,
# disabled): never pruned, never counted as a copy, waited on like pending.
UNKNOWN = "unknown"


def lineage(job) -> tuple[str, ...]:
    """The job names whose copies are this job's: its own and those it was renamed from."""
    return (job.name, *job.options.get("renamed_from", ()))


def managed_copy(copy_id: str, state: str, source_id: str | None, source_created: str | None,
                 legacy: bool = False) -> dict[str, Any]:
    entry = {"id": copy_id, "state": state, "source_id": source_id,
             "source_created": source_created}
    if legacy:
        entry["legacy"] = True
    return entry


def oldest_first(managed: Mapping[str, Any]) -> tuple[str, str]:
    """Sort key of managed copies: by their source's creation time, then id."""
    return (managed.get("source_created") or "", managed["id"])


def select_for_pruning(managed: Iterable[Mapping[str, Any]], retain: int | None,
                       keep_ids: Iterable[str], current_source_id: str | None = None
                       ) -> list[str]:
    """Ids of managed copies to delete so that `retain` previous available copies remain.

    `keep_ids` (the recovery point) are never deleted and not counted as previous copies,
    nor is any other copy of the current source: another job (two jobs on one source)
    may count it as its recovery point. Copies still being created, or in a state the
    tool does not know, are neither deleted nor counted. Failed copies are deleted
    whatever the retention: they are ours and useless. retain=None keeps all.
    """
    keep = set(keep_ids)
    previous = [m for m in managed if m["id"] not in keep and not (
        m["state"] != FAILED and current_source_id and m["source_id"] == current_source_id)]
    doomed = [m["id"] for m in previous if m["state"] == FAILED]
    if retain is None:
        return doomed
    available = [m for m in previous if m["state"] == AVAILABLE]
    available.sort(key=oldest_first)
    return doomed + [m["id"] for m in available[: max(0, len(available) - retain)]]


MAX_TAGS_PER_RESOURCE = 50  # EC2's and RDS's limit, tracking tags included


def missing_tags(wanted: Mapping[str, str], applied: Mapping[str, str]) -> dict[str, str]:
    """The wanted tags a copy does not carry yet, as many as still fit on it."""
    room = max(0, MAX_TAGS_PER_RESOURCE - len(applied))
    return dict([(k, v) for k, v in wanted.items() if k not in applied][:room])


def idempotency_token(*parts: str) -> str:
    """A stable token (64 hex chars, EC2's ClientToken limit) from the given parts."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:64]
