"""`xregion_sync.drill(config)`: restore drills, in-process.

For each job with `restore_drill`: take the job's newest available copy that is provably
its own (the managed copies find_existing_copy lists, as pruning and status use them; the
original tool's copies are not drilled), restore it into throwaway `xrs-drill-` resources
tagged `xregion-sync:drill` (job, copy, expiry), wait until usable, optionally run the
validation Lambda, measure, delete everything the drill made whatever happened, and record
the result on the copy's tags. Nothing else is ever modified: not the copy's data, not the
source, not a resource the drill did not create (a name in use stops the drill).

The source region is not needed: a drill is what you run when you doubt it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import aws, metrics
from .config import ConfigSource, JobEntry, load_config
from .drill_types import (
    DRILL_PREFIX,
    DRILL_TYPES,
    TAG_DRILL,
    TAG_DRILL_COPY,
    TAG_DRILL_EXPIRES,
    TAG_DRILL_ID,
    DrillFailedError,
    DrillQuotaError,
    Restore,
)
from .errors import CONFIG_LEVEL, ConfigError, SyncError
from .result import JobError
from .spec import JobSpec
from .syncs import SYNC_TYPES, job_from_dict, job_to_dict
from .syncs.base import AVAILABLE, ManagedCopy, Source, oldest_first
from .tags import (
    TAG_LAST_DRILL_AT,
    TAG_LAST_DRILL_SECONDS,
    TAG_LAST_DRILL_STATUS,
    iso_utc,
    parse_iso_utc,
)

logger = logging.getLogger(__name__)

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
POLL_SECONDS = 30.0
# Clean-up waits this long for deletions to finish before it reports what is left.
CLEAN_UP_SECONDS = 30 * 60
# A drill's resources expire (the janitor may delete them) this long after max_minutes.
EXPIRY_MARGIN = timedelta(minutes=30)
DRILL_RESULT_KEYS = ("name", "sync_type", "copy_id", "status", "restored_id",
                     "restore_seconds", "cleaned_up", "errors")
_NO_SOURCE: Source = {"id": "(not needed)", "arn": "(not needed)",
                      "created": "9999-12-31T23:59:59Z", "tags": {}, "legacy_copy_id": None}


@dataclass(frozen=True)
class Clock:
    """Where a drill reads the time and waits: real by default; the emulator's in tests."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class DrillResult:
    name: str
    sync_type: str | None
    status: str
    copy_id: str | None = None
    restored_id: str | None = None
    restore_seconds: float | None = None
    cleaned_up: bool = True
    errors: list[JobError] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrillResult:
        """The inverse of to_dict (the drill state machine's results)."""
        return cls(data["name"], data.get("sync_type"), data["status"],
                   copy_id=data.get("copy_id"), restored_id=data.get("restored_id"),
                   restore_seconds=data.get("restore_seconds"),
                   cleaned_up=bool(data.get("cleaned_up")),
                   errors=[JobError(e["type"], e["message"]) for e in data.get("errors") or ()])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sync_type": self.sync_type, "copy_id": self.copy_id,
                "status": self.status, "restored_id": self.restored_id,
                "restore_seconds": self.restore_seconds, "cleaned_up": self.cleaned_up,
                "errors": [{"type": e.type, "message": e.message} for e in self.errors]}


def drill(config: ConfigSource, jobs: Iterable[str] | None = None, force: bool = False, *,
          clock: Clock | None = None) -> list[DrillResult]:
    """One DrillResult per job with restore_drill (or named in `jobs`), in config order,
    one drill at a time. Raises ConfigError when the config cannot be read or `jobs` names
    a job it does not have."""
    entries = load_config(config).entries
    chosen = select_drill_entries(entries, jobs)
    clock = clock or Clock()
    for left in janitor_entries(chosen):  # what a drill that died half-way left behind
        logger.warning("Janitor: deleted an expired drill resource", extra=left)
    return [drill_job(entry, force, clock) for entry in chosen]


def janitor(config: ConfigSource, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Delete the drill resources of the config's jobs whose expiry tag has passed (a drill
    that died half-way); one {job, kind, id, expired} per resource, deleted or being
    deleted. Only resources named xrs-drill-*, tagged xregion-sync:drill with the job's
    name, are ever touched."""
    return janitor_entries(load_config(config).entries, now=now)


def janitor_entries(entries: Iterable[JobEntry], *, now: datetime | None = None
                    ) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    found: list[dict[str, Any]] = []
    for entry in entries:
        job = entry.spec
        if job is None or not job.options.get("restore_drill"):
            continue
        try:
            with aws.aws_errors(job.name, f"looking for expired drills in "
                                          f"{job.destination_region}"):
                expired = DRILL_TYPES[job.sync_type].expired(job, now)
                for restore in expired:
                    DRILL_TYPES[job.sync_type].clean_up(job, restore)
        except SyncError as exc:
            logger.warning("Janitor: %s", exc, extra={"job": job.name})
            continue
        found += [{"job": job.name, "kind": kind, "id": resource_id,
                   "expired": restore["expires"]}
                  for restore in expired for kind, resource_id in restore["created"]]
    return found


def select_drill_entries(entries: Sequence[JobEntry], jobs: Iterable[str] | None) -> list[JobEntry]:
    """The entries to drill: those with restore_drill (or an error in it), or those named
    in `jobs` (ConfigError for a name the config lacks)."""
    if jobs is not None:
        names = list(jobs)
        unknown = [n for n in names if n not in {e.name for e in entries}]
        if unknown:
            raise ConfigError(f"the config has no job named {', '.join(map(repr, unknown))} "
                              f"(its jobs: {', '.join(e.name for e in entries)})",
                              job=CONFIG_LEVEL, field="--job")
        entries = tuple(e for e in entries if e.name in names)
    # A job whose restore_drill setting is wrong is reported (failed), not left out; a job
    # named in `jobs` is always reported (skipped when it has no restore_drill).
    return [e for e in entries if (e.spec and e.spec.options.get("restore_drill"))
            or any((err.field or "").startswith("restore_drill") for err in e.errors)
            or jobs is not None]


def drill_settings(job: JobSpec) -> dict[str, Any]:
    settings: dict[str, Any] = job.options.get("restore_drill") or {}
    return settings


def drill_name(job: JobSpec, started: datetime) -> str:
    """xrs-drill-<job>-<UTC second>: a valid DB instance, DB cluster and EC2 Name (at most
    63 letters, digits and hyphens, starting with a letter, no double or trailing hyphen);
    the cluster's instance adds '-1'."""
    slug = re.sub(r"[^a-z0-9]+", "-", job.name.lower().removeprefix("sync_")).strip("-")
    return f"{DRILL_PREFIX}{slug[:30].rstrip('-') or 'job'}-{started:%Y%m%d%H%M%S}"


def drill_job(entry: JobEntry, force: bool, clock: Clock) -> DrillResult:
    state = prepare_entry(entry, force)
    if isinstance(state, DrillResult):
        return state
    try:
        return _drill(state, clock)
    except Exception as exc:  # one job's bug must not stop the other drills
        return _failed(entry, exc)


def prepare_entry(entry: JobEntry, force: bool) -> Drill | DrillResult:
    """prepare() for a config entry: a job with config errors fails, one without
    restore_drill is skipped, and an error while preparing fails only that job."""
    if entry.spec is None:
        return DrillResult(entry.name, entry.sync_type, FAILED,
                           errors=[JobError.from_exception(e) for e in entry.errors])
    job = entry.spec
    if not job.options.get("restore_drill"):
        return _skipped(job, None, "NoRestoreDrill", f"job '{job.name}' has no restore_drill: "
                        "add one (a mapping, {} for the defaults) to drill it")
    try:
        return prepare(job, force)
    except Exception as exc:
        return _failed(entry, exc)


def _failed(entry: JobEntry, exc: Exception) -> DrillResult:
    if not isinstance(exc, SyncError):
        logger.exception("Unexpected error", extra={"job": entry.name})
    return DrillResult(entry.name, entry.sync_type, FAILED,
                       errors=[JobError.from_exception(exc)])


def newest_copy(job: JobSpec) -> tuple[ManagedCopy | None, list[ManagedCopy]]:
    """The job's newest available copy that is provably its own, and all its copies."""
    existing = SYNC_TYPES[job.sync_type].find_existing_copy(job, _NO_SOURCE)
    managed = [m for m in existing.get("managed") or () if not m.get("legacy")]
    available = [m for m in managed if m["state"] == AVAILABLE and m.get("source_created")]
    return (max(available, key=oldest_first) if available else None), managed


def last_drill(job: JobSpec, managed: list[ManagedCopy]) -> dict[str, Any] | None:
    """The newest drill recorded on any of the job's copies: {when, status,
    restore_seconds}, or None."""
    kind = DRILL_TYPES[job.sync_type]
    records = []
    for copy in managed:
        if copy["state"] != AVAILABLE:
            continue
        tags = kind.describe_copy(job, copy["id"])["tags"]
        if TAG_LAST_DRILL_AT in tags:
            seconds = tags.get(TAG_LAST_DRILL_SECONDS)
            records.append({"when": tags[TAG_LAST_DRILL_AT],
                            "status": tags.get(TAG_LAST_DRILL_STATUS),
                            "restore_seconds": float(seconds) if seconds else None,
                            "copy_id": copy["id"]})
    return max(records, key=lambda r: r["when"]) if records else None


# ---------------------------------------------------------------- the steps of one drill
# Both drivers run these over one JSON-able Drill state, in this order: the in-process one
# below (_drill) and the drill state machine (statemachine/drills.asl.json), whose task
# Lambdas (handlers.py, drill_steps.py) are one line over each. Each step returns the state
# grown; a step that raises leaves the state it was given, whose restore["created"] names
# everything made so far (a step makes at most one resource, as its last call), so clean-up
# always knows what to delete. Times are `now` readings of one clock, in seconds.
#
#   {"job": <JobSpec dict>, "copy": {id, arn, tags, ...}, "when": ISO start, "tags": {...},
#    "restore": Restore, "started": s, "usable": bool, "restore_seconds": s,
#    "phases": {restore, validation, clean_up}, "errors": [{type, message}],
#    "clean_up": {"started": s, "left": [[kind, id]], "done": bool}}
Drill = dict[str, Any]


def prepare(job: JobSpec, force: bool) -> Drill | DrillResult:
    """The drill of `job` ready to start, or the result of a drill that will not run
    (skipped: no copy, not due, no quota headroom)."""
    settings = drill_settings(job)
    with aws.aws_errors(job.name, f"looking for copies in {job.destination_region}"):
        copy, managed = newest_copy(job)
    if copy is None:
        return _skipped(job, None, "NoCopyToDrill", f"job '{job.name}': no available copy in "
                        f"{job.destination_region} to restore; nothing was created")
    now = datetime.now(UTC)
    if not force:
        last = last_drill(job, managed) or {}
        when = parse_iso_utc(last.get("when") or "")
        if when and now - when < timedelta(days=settings["every_days"]):
            return _skipped(job, copy["id"], "DrillNotDue", f"job '{job.name}': the last "
                            f"drill ({last['status']}, {last['when']}) is younger than "
                            f"every_days ({settings['every_days']}); --force drills anyway")
    kind = DRILL_TYPES[job.sync_type]
    try:
        _check_headroom(job, kind.needs)
    except DrillQuotaError as exc:
        logger.warning(str(exc), extra={"job": job.name})
        return _skipped(job, copy["id"], type(exc).__name__, str(exc))
    details = kind.describe_copy(job, copy["id"])
    name = drill_name(job, now)
    expires = now + timedelta(minutes=settings["max_minutes"]) + EXPIRY_MARGIN
    return {"job": job_to_dict(job), "copy": details, "when": iso_utc(now),
            "tags": {TAG_DRILL: job.name, TAG_DRILL_ID: name, TAG_DRILL_COPY: copy["id"],
                     TAG_DRILL_EXPIRES: iso_utc(expires)},
            "restore": {"name": name, "copy_id": copy["id"], "created": []},
            "usable": False, "given_up": False, "phases": {}, "errors": []}


def start_restore(state: Drill, now: float) -> Drill:
    """The restore call (RestoreDBInstanceFromDBSnapshot, RestoreDBClusterFromSnapshot or
    RunInstances); the restore's clock starts here."""
    job = job_from_dict(state["job"])
    restore = DRILL_TYPES[job.sync_type].start(job, state["copy"], state["restore"],
                                               drill_settings(job), state["tags"])
    return {**state, "restore": restore, "started": now}


def poll_restore(state: Drill, now: float) -> Drill:
    """Whether the restore is usable yet (a cluster's instance is created here once the
    cluster is available). Usable: the restore time. Not usable after max_minutes: a
    DrillFailedError in `errors` and `given_up` (clean-up next; not raised, so the state
    names the instance this very poll may have created)."""
    job = job_from_dict(state["job"])
    settings = drill_settings(job)
    usable, restore = DRILL_TYPES[job.sync_type].poll(job, state["restore"], settings,
                                                      state["tags"])
    state = {**state, "restore": restore, "usable": usable}
    seconds = round(now - state["started"], 1)
    if not usable:
        if seconds < settings["max_minutes"] * 60:
            return state
        return {**failed_step(state, JobError(DrillFailedError.__name__, (
            f"job '{job.name}': {restore['name']} was not usable after max_minutes "
            f"({settings['max_minutes']})"))), "given_up": True}
    if seconds <= 0:
        raise DrillFailedError(f"job '{job.name}': the restore time measured {seconds} s: "
                               "a clock that does not move measures nothing", job=job.name)
    return {**state, "restore_seconds": seconds,
            "phases": {**state["phases"], "restore": seconds}}


def validate_restore(state: Drill, clock: Clock) -> Drill:
    """The user's validation Lambda, when the job names one."""
    job = job_from_dict(state["job"])
    function_arn = drill_settings(job).get("validation_function_arn")
    if not function_arn:
        return state
    started = clock.now()
    _validate(job, state["restore"], function_arn)
    return {**state, "phases": {**state["phases"],
                                "validation": round(clock.now() - started, 3)}}


def failed_step(state: Drill, error: JobError) -> Drill:
    """The state after a step failed with `error`: clean-up comes next."""
    return {**state, "errors": [*state.get("errors", ()), _error_dict(error)]}


def clean_up_drill(state: Drill, now: float) -> Drill:
    """Delete what the drill made (once; call again while `clean_up.done` is false, after a
    wait): done once nothing is left, or with an error once CLEAN_UP_SECONDS have passed
    or a deletion failed."""
    job = job_from_dict(state["job"])
    progress = state.get("clean_up") or {"started": now}
    errors = list(state.get("errors", ()))
    try:
        left = DRILL_TYPES[job.sync_type].clean_up(job, state["restore"])
    except SyncError as exc:
        left = None
        errors.append(_error_dict(JobError.from_exception(exc)))
    timed_out = bool(left) and now - progress["started"] >= CLEAN_UP_SECONDS
    if timed_out:
        errors.append(_error_dict(JobError(
            "DrillCleanUpError", f"job '{job.name}': still left after "
            f"{CLEAN_UP_SECONDS // 60} minutes: "
            f"{', '.join(f'{k} {i}' for k, i in left or ())}")))
    done = left is None or not left or timed_out
    return {**state, "errors": errors,
            "clean_up": {"started": progress["started"], "left": left, "done": done},
            "phases": {**state["phases"], "clean_up": round(now - progress["started"], 3)}}


def record_drill(state: Drill) -> DrillResult:
    """The drill's result, recorded on the copy's tags (a failure to record is one more
    error) and as the RestoreSeconds metric."""
    job = job_from_dict(state["job"])
    errors = [JobError(e["type"], e["message"]) for e in state.get("errors", ())]
    status = PASSED if not errors else FAILED
    seconds = state.get("restore_seconds")
    tags = {TAG_LAST_DRILL_AT: state["when"], TAG_LAST_DRILL_STATUS: status,
            TAG_LAST_DRILL_SECONDS: f"{seconds:.1f}" if seconds else ""}
    try:
        DRILL_TYPES[job.sync_type].tag_copy(job, state["copy"], tags)
    except SyncError as exc:
        errors.append(JobError.from_exception(exc))
        status = FAILED
    restore = state["restore"]
    logger.info("Drill %s", status, extra={"job": job.name, "copy": restore["copy_id"],
                                             "restored": restore["name"],
                                             "phases_seconds": state["phases"]})
    if seconds:
        metrics.emit_restore_seconds(job.name, seconds)
    cleaned_up = (state.get("clean_up") or {}).get("left") == []
    return DrillResult(job.name, job.sync_type, status, copy_id=restore["copy_id"],
                       restored_id=restore["name"] if restore["created"] else None,
                       restore_seconds=seconds, cleaned_up=cleaned_up, errors=errors)


def _drill(state: Drill, clock: Clock) -> DrillResult:
    """The in-process driver of the steps after prepare(): waits with `clock`."""
    try:
        state = start_restore(state, clock.now())
        state = poll_restore(state, clock.now())
        while not state["usable"] and not state["given_up"]:
            clock.sleep(POLL_SECONDS)
            state = poll_restore(state, clock.now())
        if state["usable"]:
            state = validate_restore(state, clock)
    except SyncError as exc:
        state = failed_step(state, JobError.from_exception(exc))
    except Exception as exc:
        logger.exception("Unexpected error", extra={"job": state["job"]["name"]})
        state = failed_step(state, JobError.from_exception(exc))
    state = clean_up_drill(state, clock.now())
    while not state["clean_up"]["done"]:
        clock.sleep(POLL_SECONDS)
        state = clean_up_drill(state, clock.now())
    return record_drill(state)


def _error_dict(error: JobError) -> dict[str, str]:
    return {"type": error.type, "message": error.message}


def _skipped(job: JobSpec, copy_id: str | None, why: str, message: str) -> DrillResult:
    return DrillResult(job.name, job.sync_type, SKIPPED, copy_id=copy_id,
                       errors=[JobError(why, message)])

def _validate(job: JobSpec, restore: Restore, function_arn: str) -> None:
    """Invoke the user's validation Lambda with the restored resource; an answer
    {"passed": false, "message": ...} or a function error fails the drill."""
    event = {"job": job.name, "sync_type": job.sync_type, "copy_id": restore["copy_id"],
             "restored_id": restore["name"], "created": restore["created"],
             "endpoint": restore.get("endpoint")}
    region = function_arn.split(":")[3]
    with aws.aws_errors(job.name, f"invoking the validation function {function_arn}"):
        answer = aws.client(job, "lambda", region).invoke(
            FunctionName=function_arn, Payload=json.dumps(event, default=str).encode())
    body = answer["Payload"].read()
    try:
        verdict = json.loads(body or b"null")
    except ValueError:
        verdict = None
    if answer.get("FunctionError") or not isinstance(verdict, dict) or verdict.get(
            "passed") is not True:
        said = verdict.get("message") if isinstance(verdict, dict) else None
        raise DrillFailedError(
            f"job '{job.name}': the validation function {function_arn} failed the drill"
            + (f": {said or verdict.get('errorMessage')}" if isinstance(verdict, dict) else
               f" (it answered {body[:200]!r}; expected {{\"passed\": true}})"), job=job.name)


def _check_headroom(job: JobSpec, needs: tuple[tuple[str, int], ...]) -> None:
    """Skip rather than take capacity a real recovery would need: the drill's resources
    and one per RDS job restoring into the region must fit under the account's quotas."""
    if not needs:
        return
    rds = aws.client(job, "rds", job.destination_region)
    with aws.aws_errors(job.name, f"reading the RDS quotas of {job.destination_region}"):
        quotas = {q["AccountQuotaName"]: q for q in
                  rds.describe_account_attributes()["AccountQuotas"]}
    for name, count in needs:
        quota = quotas.get(name)
        if quota is None:
            continue
        reserve = 1  # room for this job's real recovery
        if quota["Used"] + count + reserve > quota["Max"]:
            raise DrillQuotaError(
                f"job '{job.name}': skipped: {quota['Used']} of {quota['Max']} {name} are in "
                f"use in {job.destination_region}; a drill needs {count} more and leaves room "
                f"for a real recovery ({reserve}); raise the quota (Service Quotas) to drill",
                job=job.name)
