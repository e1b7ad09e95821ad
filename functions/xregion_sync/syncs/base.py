"""The sync-type contract: what a module in syncs/ provides, the shapes its steps pass
on, and the logic all types share. Adding a type is one module satisfying `SyncType`
plus one line in syncs/__init__.py; steps, runner, handlers and the ASL stay as they are.

Steps take a JobSpec plus the plain dicts earlier steps returned and return a plain
JSON-able dict, so the same step runs in-process and as a Lambda in the state machine:

  resolve_source(job)                         -> Source
  find_existing_copy(job, source)             -> ExistingCopies
  start_copy(job, source, existing, run_id)   -> Copy
  copy_tags(job, source, copy)                -> Copy  (tags the copy call could not apply)
  copy_status(job, copy)                      -> Copy  (state refreshed)
  finish_copy(job, source, copy)              -> Copy  (once available, if marked finish_due)
  prune(job, doomed_ids, untracked_ids)       -> [ids deleted] (already gone counts)

Errors are the named exceptions in errors.py (their class names are the state machine's
error names): SourceNotFoundError, ConfigError, CopyQuotaExceededError (the copy is
deferred), ThrottlingError (retried), ... `aws.aws_errors` maps AWS's error codes.

A "managed" copy is one this job (under its name or a name in `renamed_from`) or the
original aws_xregion_sync provably created: its tracking tags name this job and source
region, and AWS's own record of where it was copied from agrees with them (ManagedCopy;
legacy: the original tool's, without this tool's tracking tag, passed to prune as
untracked_ids). steps.check_sync_tag turns the managed list into the ids retention
dooms (select_for_pruning below); nothing else is ever deleted. Another job's copy of the
same source is never counted, finished or pruned: it is that job's recovery point, kept by
that job's retention, so no job's retention can leave another without one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, Protocol, TypedDict

from ..spec import JobSpec, Option
from ..tags import LAST_DRILL_TAGS, TAG_LAST_DRILL_AT

# Normalised copy states, the same words for every sync type.
PENDING = "pending"
AVAILABLE = "available"
FAILED = "failed"
GONE = "gone"
TIMED_OUT = "timed_out"  # set by the drivers when a bounded wait ends
# A state AWS may add or that the tool does not know (EC2's transient, invalid,
# disabled): never pruned, never counted as a copy, waited on like pending.
UNKNOWN = "unknown"


class Source(TypedDict):
    """The one source a job copies now, from resolve_source."""

    id: str
    created: str  # ISO 8601 UTC (tags.iso_utc): copies of every type sort and compare alike
    tags: dict[str, str]  # the source's user tags (no aws: tags)
    # Type-specific, read back only by the type that set them:
    arn: NotRequired[str]  # RDS: the snapshot's ARN (copy calls and tracking tags name it)
    encrypted: NotRequired[bool]  # RDS cluster: the copy call takes kms_key_id only then
    name: NotRequired[str]  # EC2: the AMI's name and description, given to the copy
    description: NotRequired[str]
    legacy_copy_id: NotRequired[str | None]  # EC2: the copy the original tool recorded
    legacy_tagged: NotRequired[str | None]
    owner: NotRequired[str | None]  # EC2: the AMI's owning account


class ManagedCopy(TypedDict):
    """A copy in the destination that provably came from this job's source region."""

    id: str
    state: str  # one of the normalised states above
    source_id: str | None
    source_created: str | None  # ISO 8601 UTC, from the tracking tag
    legacy: NotRequired[bool]  # the original tool's copy, without the tracking tag
    # A time-based copy still pending: when AWS promised it complete (ISO 8601 UTC).
    due: NotRequired[str]
    owner: NotRequired[str | None]  # EC2: the copy's owning account
    finish_due: NotRequired[bool]  # finish_copy is still to be done once it is available
    # EC2, for finish_copy: the deprecation time still to set (a run failed setting it),
    # and whether the copy already has its launch permissions.
    deprecate_due: NotRequired[str]
    launch_permissions_done: NotRequired[bool]
    # The last restore drill recorded on it (its LAST_DRILL_TAGS), if any.
    last_drill: NotRequired[dict[str, str]]
    job: NotRequired[str | None]  # the job that made it (None: the original tool)


class ExistingCopies(TypedDict):
    """What find_existing_copy found in the destination."""

    in_sync: bool  # a pending or available copy of the current source exists
    copy: ManagedCopy | None  # that copy, the recovery point once available
    replaces: list[str]  # failed copies of this source, replaced by the next copy
    # Every copy this job may prune: find_existing_copy always sets it; check_sync_tag
    # takes it out (only the ids retention dooms travel on), so start_copy never sees it.
    managed: NotRequired[list[ManagedCopy]]
    taken_ids: NotRequired[list[str]]  # RDS: ids a new copy must avoid
    # Set by steps.check_sync_tag, for the steps after it:
    newest_available_created: NotRequired[str | None]
    prune_candidates: NotRequired[list[str]]
    last_drill: NotRequired[dict[str, str]]  # carried_drill_tags, for the new copy
    prune_meanwhile: NotRequired[list[str]]
    untracked_candidates: NotRequired[list[str]]


class Copy(TypedDict):
    """The copy start_copy started, as later steps refresh it."""

    id: str
    state: str
    tags: dict[str, str]  # the tags the copy carries (tracking tags included)
    arn: NotRequired[str | None]  # RDS: the copy's ARN (tagging calls name it)
    replaced: NotRequired[list[str]]  # EC2: failed copies deregistered to reuse the name
    reason: NotRequired[str]  # why AWS failed the copy, when it says
    deprecate_at: NotRequired[str]  # EC2: the deprecation time set (deprecate_after_days)
    deprecate_due: NotRequired[str]  # EC2: the deprecation time finish_copy is to set
    launch_permissions_done: NotRequired[bool]  # EC2: found with its launch permissions
    owner: NotRequired[str | None]  # EC2: the copy's owning account
    finish_due: NotRequired[bool]  # finish_copy is still to be done once it is available


@dataclass(frozen=True)
class CopyQuotas:
    """AWS's quotas a type's copies count against, as `doctor` checks them (the emulator
    enforces the same values: xregion_sync_emulator/quotas.py)."""

    in_progress: int  # copies in progress into one destination region per account
    in_progress_kind: str  # what those are, in messages: "RDS snapshot copies"
    # The count quota the copies use up (DescribeAccountAttributes' AccountQuotaName), its
    # name in Service Quotas, and what it counts, in messages; None: no such quota to read.
    account_quota: str | None = None
    service_quota_name: str = ""
    counted: str = ""


# How config reports a problem between options: problem(field, message).
ProblemReporter = Callable[[str, str], None]


class SyncType(Protocol):
    """What a sync type module provides. Module-level names; mypy checks every module in
    SYNC_TYPES against this."""

    @property
    def NAME(self) -> str:  # noqa: N802 - a module constant; the value of sync_type
        ...

    @property
    def SERVICE(self) -> str:  # noqa: N802 - "ec2" or "rds": region and tag-name rules
        ...

    @property
    def OPTIONS(self) -> Mapping[str, Option]:  # noqa: N802 - its config keys
        ...

    @property
    def COPY_QUOTAS(self) -> CopyQuotas:  # noqa: N802 - what doctor checks the jobs against
        ...

    @property
    def DOCTOR_CHECKS(self) -> tuple[str, ...]:  # noqa: N802 - its own checks (doctor.py)
        ...

    def started_by_event(self, job: JobSpec, event: Mapping[str, Any]) -> bool:
        """Whether an event may be about the job's source (an EventBridge event, as the
        stack's rules deliver it: {"source", "region", "resource", ...}; execution has
        checked the region): the event-started execution runs the job's steps, which
        tell for sure."""

    def check_options(self, options: dict[str, Any], problem: ProblemReporter) -> None:
        """Rules between options, after each is read (may fill in derived defaults)."""

    def advice(self, job: JobSpec) -> list[str]:
        """Notes `validate` prints about a valid job that may still find nothing."""

    def retention(self, job: JobSpec) -> int | None:
        """How many previous available copies to keep besides the newest; None: all."""

    def resolve_source(self, job: JobSpec) -> Source: ...

    def find_existing_copy(self, job: JobSpec, source: Source) -> ExistingCopies: ...

    def start_copy(self, job: JobSpec, source: Source, existing: ExistingCopies,
                   run_id: str) -> Copy: ...

    def copy_tags(self, job: JobSpec, source: Source, copy: Copy) -> Copy: ...

    def copy_status(self, job: JobSpec, copy: Copy) -> Copy: ...

    def finish_copy(self, job: JobSpec, source: Source, copy: Copy) -> Copy:
        """What is due once a copy is available that no earlier step could do (EC2's
        launch permissions). Called by steps.prune_old_copies only for a copy the type
        marked `finish_due` (in start_copy, or in find_existing_copy for a copy a run
        left unfinished); returns the copy with finish_due false."""

    def prune(self, job: JobSpec, doomed: list[str],
              untracked: Collection[str] = ()) -> list[str]: ...


ORIGINAL_TOOL = "(original tool)"  # whose a copy the original aws_xregion_sync made is


def copy_owner(copy: Mapping[str, Any]) -> str | None:
    """Whose a managed copy is: the job named in its tags, or ORIGINAL_TOOL."""
    return ORIGINAL_TOOL if copy.get("legacy") else copy.get("job")


def lineage(job: JobSpec) -> tuple[str, ...]:
    """The job names whose copies are this job's: its own and those it was renamed from."""
    return (job.name, *job.options.get("renamed_from", ()))


def managed_copy(copy_id: str, state: str, source_id: str | None, source_created: str | None,
                 legacy: bool = False) -> ManagedCopy:
    entry: ManagedCopy = {"id": copy_id, "state": state, "source_id": source_id,
             "source_created": source_created}
    if legacy:
        entry["legacy"] = True
    return entry


def with_last_drill(copy: ManagedCopy, tags: Mapping[str, str]) -> ManagedCopy:
    """The copy with the last drill its tags record (drills.py), if they record one."""
    if tags.get(TAG_LAST_DRILL_AT):
        copy["last_drill"] = {key: tags[key] for key in LAST_DRILL_TAGS if key in tags}
    return copy


def carried_drill_tags(existing: ExistingCopies) -> dict[str, str]:
    """The newest last-drill record of the job's copies, for the new copy's tags: the
    record stays visible when pruning deletes the copy that was drilled. (start_copy
    reads it from existing["last_drill"], where check_sync_tag puts it.)"""
    records = [m["last_drill"] for m in existing.get("managed") or () if m.get("last_drill")]
    return max(records, key=lambda r: r[TAG_LAST_DRILL_AT]) if records else {}


def oldest_first(managed: ManagedCopy) -> tuple[str, str]:
    """Sort key of managed copies: by their source's creation time, then id."""
    return (managed.get("source_created") or "", managed["id"])


def select_for_pruning(managed: Iterable[ManagedCopy], retain: int | None,
                       keep_ids: Iterable[str], current_source_id: str | None = None
                       ) -> list[str]:
    """Ids of managed copies to delete so that `retain` previous available copies remain.

    `keep_ids` (the recovery point) are never deleted and not counted as previous copies,
    nor is any other copy of the current source (a job it was renamed from made it).
    Copies still being created, or in a state the tool does not know, are neither
    deleted nor counted. Failed copies are deleted
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
