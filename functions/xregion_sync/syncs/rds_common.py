"""What the RDS sync types share: one set of steps over DB snapshots and DB cluster snapshots.

RDS answers both kinds with the same shapes under other names (DescribeDBSnapshots /
DescribeDBClusterSnapshots, DBSnapshotIdentifier / DBClusterSnapshotIdentifier, ...); a
sync type names its kind's in a SnapshotApi and calls the functions below with it. What
differs beyond the names stays in the type: how the source is found, which destination
snapshots are the source's (by DB instance, by DB cluster), the copy call's own parameters,
and where AWS records the source of a copy (SnapshotApi.recorded_source).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .. import aws
from ..errors import ConfigError, DestinationConflictError, reporting_deletions
from ..spec import JobSpec
from ..tags import (
    TAG_JOB,
    TAG_SOURCE_CREATED,
    TAG_SOURCE_ID,
    TAG_SOURCE_REGION,
    decode_source_id,
    encode_source_id,
    iso_utc,
    legacy_copy_tag_key,
    parse_legacy_value,
    tag_dict,
    tag_list,
    tracking_tags,
    user_tags,
)
from .base import (
    AVAILABLE,
    FAILED,
    GONE,
    PENDING,
    UNKNOWN,
    Copy,
    ExistingCopies,
    ManagedCopy,
    ProblemReporter,
    Source,
    lineage,
    managed_copy,
    missing_tags,
    with_last_drill,
)

# What RDS answers for one snapshot (DBSnapshot, DBClusterSnapshot): field name -> value.
Snapshot = Mapping[str, Any]

# Target ids tried when the deterministic one is taken by a snapshot that is not this
# job's copy of this source (another job's, another source region's, a user's).
MAX_TARGET_ATTEMPTS = 5
# Room kept at the end of a target id for the '-N' of the next free id.
SUFFIX_ROOM = 4

logger = logging.getLogger(__name__)

# Any other status (one RDS adds later, or not documented for copies) is UNKNOWN: kept,
# never pruned, never counted as a copy. Only an explicit 'failed' is failed.
_STATES = {"available": AVAILABLE, "creating": PENDING, "copying": PENDING,
           "pending": PENDING, "deleting": GONE, "failed": FAILED}


@dataclass(frozen=True)
class SnapshotApi:
    """One kind of RDS snapshot: the names its API calls and answers use."""

    noun: str  # in messages: "DB snapshot", "DB cluster snapshot"
    describe: str  # the boto3 method (and paginator) listing them
    listed: str  # the list in its answer
    identifier: str  # a snapshot's id field (and the describe/delete parameter)
    arn: str  # a snapshot's ARN field
    copy: str  # the boto3 copy method
    source_parameter: str
    target_parameter: str
    answer: str  # the snapshot in the copy call's answer
    delete: str  # the boto3 delete method
    not_found: str  # the error code of an id that does not exist
    already_exists: str  # the error code of a copy whose target id is taken
    max_identifier_length: int
    # (source region, source snapshot id) that AWS records on a copy, None where it has none
    recorded_source: Callable[[Snapshot], tuple[str | None, str | None]]
    # Whether the original aws_xregion_sync's Sync-From-<region> tag can mark a copy
    legacy_tags: bool = False


# An automated DB (cluster) snapshot's id: rds:<DB instance or cluster id>-<YYYY-MM-DD-HH-MM>
# (the prefix is optional here, see reports_automated_snapshot).
AUTOMATED_SNAPSHOT_ID = re.compile(r"(?:rds:)*(?P<db>[^:]+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}")
# The resource part of a snapshot's ARN: arn:<partition>:rds:<region>:<account>:<type>:<id>
ARN_FIELDS = 6


def reports_automated_snapshot(event: Mapping[str, Any], resource_type: str, db: str) -> bool:
    """Whether an RDS event (RDS-EVENT-0091 for a DB snapshot, RDS-EVENT-0169 for a DB
    cluster snapshot) reports a new automated snapshot of `db`: the snapshot's ARN (the
    event's `resource`) is of `resource_type` ("snapshot", "cluster-snapshot"; no ARN
    counts as a DB snapshot's) and its id names that DB. The id comes from the ARN, the
    snapshot's identity; the event's SourceIdentifier (read only without an ARN) shows up
    with the `rds:` prefix and without, so any number of prefixes is stripped (the rules
    match only automated-snapshot events). RDS stores DB ids in lower case."""
    if event.get("source") != "aws.rds":
        return False
    arn = str(event.get("resource") or "").split(":", ARN_FIELDS)
    if len(arn) > ARN_FIELDS and arn[0] == "arn":
        kind, snapshot_id = arn[5], arn[6]
    else:
        kind, snapshot_id = "snapshot", str(event.get("snapshot_id") or "")
    match = AUTOMATED_SNAPSHOT_ID.fullmatch(snapshot_id)
    return match is not None and kind == resource_type and match["db"].lower() == db.lower()


def check_options(options: dict[str, Any], problem: ProblemReporter) -> None:
    """No rules between an RDS type's options."""


def advice(job: JobSpec) -> list[str]:
    """Nothing to say before the run: doctor checks the DB, the snapshot and the key."""
    return []


def state(status: str | None) -> str:
    return _STATES.get(status or "", UNKNOWN)


def paginate(rds: Any, api: SnapshotApi, **params: Any) -> list[dict[str, Any]]:
    snapshots: list[dict[str, Any]] = []
    for page in rds.get_paginator(api.describe).paginate(**params):
        snapshots += page.get(api.listed, [])
    return snapshots


def describe(rds: Any, api: SnapshotApi, snapshot_id: str) -> dict[str, Any] | None:
    found: list[dict[str, Any]] = aws.unless_not_found(lambda: getattr(rds, api.describe)(
        **{api.identifier: snapshot_id})[api.listed], api.not_found, [])
    return found[0] if found else None


def refuse_encrypted_without_key(job: JobSpec, snapshot_id: str, encrypted: bool) -> None:
    """A config error, before any copy call, when AWS would refuse the copy for want of
    kms_key_id: an encrypted snapshot crosses regions only with a key of the destination."""
    if encrypted and not job.options.get("kms_key_id"):
        raise ConfigError(
            f"job '{job.name}', field 'kms_key_id': source snapshot {snapshot_id} is "
            f"encrypted, and AWS copies an encrypted snapshot across regions only with a KMS "
            f"key of the destination region: set kms_key_id to a key id, ARN or alias in "
            f"{job.destination_region}", job=job.name, field="kms_key_id")


def source_entry(snapshot: Snapshot, api: SnapshotApi) -> Source:
    return {
        "id": snapshot[api.identifier],
        "arn": snapshot[api.arn],
        "created": iso_utc(snapshot["SnapshotCreateTime"]),
        "tags": user_tags(tag_dict(snapshot.get("TagList"))),
    }


def existing_copies(job: JobSpec, source: Source, snapshots: list[dict[str, Any]],
                    api: SnapshotApi) -> ExistingCopies:
    """find_existing_copy over the destination's snapshots of the source's DB."""
    tracked = [t for t in (_tracked(job, s, api) for s in snapshots) if t]
    # A job's copies are its own (and those of the jobs it was renamed from) and the
    # original tool's: only those prove its source copied, and only those it prunes.
    # Another job's copy is that job's recovery point, kept by that job's retention: never
    # counted, changed or deleted here.
    managed = [copy for copy, _ in tracked if copy["job"] is None or copy["job"] in
               lineage(job)]
    # Tags hold whole seconds; a copy counts when it is of this source's second or later.
    live = [copy for copy in managed if copy["state"] in (PENDING, AVAILABLE)
            and (copy["source_created"] or "") >= source["created"]]
    base_id = copy_identifier(source["id"], api.max_identifier_length)
    return {
        "in_sync": bool(live),
        # The newest copy is the recovery point once available; until then nothing is pruned.
        "copy": max(live, key=lambda m: m["source_created"] or "") if live else None,
        "replaces": [m["id"] for m in managed
                     if m["state"] == FAILED and m["source_id"] == source["id"]],
        "managed": managed,
        # Ids in the destination that a new copy of this source must avoid.
        "taken_ids": [s[api.identifier] for s in snapshots
                      if s[api.identifier].startswith(base_id)],
    }


def start_copy(job: JobSpec, source: Source, existing: ExistingCopies, api: SnapshotApi,
               extra: Mapping[str, Any]) -> Copy:
    """The copy call, tags and all, under the deterministic target id or the next free one;
    `extra`: the kind's own parameters (KmsKeyId, OptionGroupName)."""
    tracking = {**tracking_tags(job.name, encode_source_id(source["id"], source["arn"]),
                                job.source_region, source["created"]),
                **(existing.get("last_drill") or {})}
    copy_source_tags = job.options.get("copy_tags", True)
    # AWS applies an explicit Tags list instead of (not besides) the CopyTags ones, so
    # the source's tags travel in Tags too: the copy gets the same tags either way.
    inherited = missing_tags(source["tags"] if copy_source_tags else {}, tracking)
    tags = {**inherited, **tracking}
    params = {
        api.source_parameter: source["arn"],
        "SourceRegion": job.source_region,  # boto3 signs the PreSignedUrl from this
        "CopyTags": copy_source_tags,
        "Tags": tag_list(tags),  # in the copy call: no copy ever exists untracked
        **extra,
    }
    rds = aws.client(job, "rds", job.destination_region)
    taken = list(existing.get("taken_ids") or ())
    for _ in range(MAX_TARGET_ATTEMPTS):
        target = copy_identifier(source["id"], api.max_identifier_length, taken)
        with aws.aws_errors(job.name, f"copying {source['id']} to {job.destination_region}"):
            try:
                answer = getattr(rds, api.copy)(**params, **{api.target_parameter: target})
            except ClientError as exc:
                if aws.error_code(exc) != api.already_exists:
                    raise
                retried = _own_copy(job, rds, target, source, api)
                if retried:
                    return retried
                taken.append(target)  # someone else's snapshot: take the next id
                continue
        snapshot = answer[api.answer]
        return {"id": target, "arn": snapshot.get(api.arn),
                "state": state(snapshot.get("Status")), "tags": tags}
    raise DestinationConflictError(
        f"job '{job.name}': {api.noun}s named {', '.join(taken[-MAX_TARGET_ATTEMPTS:])} "
        f"already exist in {job.destination_region} and none is this job's copy of "
        f"{source['id']}; rename or delete some of them, then run again", job=job.name)


def copy_tags(job: JobSpec, source: Source, copy: Copy) -> Copy:
    """Tag what the copy call did not: nothing after a fresh copy (its Tags carry all),
    the missing ones when a retried call found the copy already made."""
    if not job.options.get("copy_tags", True):
        return copy
    applied = copy.get("tags") or {}
    missing = missing_tags(source["tags"], applied)
    if missing:
        rds = aws.client(job, "rds", job.destination_region)
        with aws.aws_errors(job.name, f"tagging copy {copy['id']}"):
            rds.add_tags_to_resource(ResourceName=copy["arn"], Tags=tag_list(missing))
        copy = {**copy, "tags": {**applied, **missing}}
    return copy


def finish_copy(job: JobSpec, source: Source, copy: Copy) -> Copy:
    """Nothing: the copy call does all (no RDS copy is ever marked finish_due)."""
    return copy


def retention(job: JobSpec) -> int | None:
    """max_snapshots_to_retain: previous copies kept besides the newest."""
    return job.options.get("max_snapshots_to_retain")


def copy_status(job: JobSpec, copy: Copy, api: SnapshotApi) -> Copy:
    rds = aws.client(job, "rds", job.destination_region)
    with aws.aws_errors(job.name, f"reading the state of copy {copy['id']}"):
        snapshot = describe(rds, api, copy["id"])
    if snapshot is None:
        return {**copy, "state": GONE}
    return {**copy, "state": state(snapshot.get("Status"))}


def prune(job: JobSpec, doomed: list[str], untracked: Collection[str],
          api: SnapshotApi) -> list[str]:
    """Delete managed copies; ids come from select_for_pruning over managed copies only.

    `untracked` are the original tool's copies: they lack the tracking tag the deployed
    IAM policy requires for a delete, so an AccessDenied on one of them keeps it (with a
    warning) instead of failing the job; on any other copy it is an error. A copy a
    first attempt already deleted counts as deleted: RDS answers its not-found code, or,
    under the deployed policy, AccessDenied (a snapshot that is gone has no tag for the
    policy's condition to match), which a look-up tells apart."""
    rds = aws.client(job, "rds", job.destination_region)
    deleted: list[str] = []
    for snapshot_id in doomed:
        with reporting_deletions(deleted), aws.aws_errors(
                job.name, f"deleting old copy {snapshot_id}"):
            try:
                getattr(rds, api.delete)(**{api.identifier: snapshot_id})
            except ClientError as exc:
                code = aws.error_code(exc)
                if code in aws.ACCESS_DENIED_CODES and describe(rds, api, snapshot_id) is None:
                    deleted.append(snapshot_id)
                    continue
                if code in aws.ACCESS_DENIED_CODES and snapshot_id in untracked:
                    logger.warning("Kept a copy of the original aws_xregion_sync: IAM lets "
                                   "the tool delete only snapshots with its tracking tag",
                                   extra={"job": job.name, "snapshot": snapshot_id})
                    continue
                if code != api.not_found:
                    raise
        deleted.append(snapshot_id)
    return deleted


def copy_identifier(source_id: str, max_length: int,
                    unusable: list[str] | tuple[str, ...] = ()) -> str:
    """The copy's snapshot id: the original tool's rule (':' -> '-'), made a valid RDS id.

    Deterministic, so a retried copy hits the already-exists error instead of making a
    second copy. When the id is taken (a failed copy keeps its id until it is deleted,
    or a user's own snapshot has it), the copy takes the next free '-N' suffix. An id too
    long for the kind (a DB cluster snapshot's is at most 63 characters) keeps its start
    and ends in a hash of the whole source id, so two sources never share one."""
    base = re.sub(r"[^A-Za-z0-9-]", "-", source_id)
    base = re.sub(r"-{2,}", "-", base).strip("-")
    if not base or not base[0].isalpha():
        base = f"copy-{base}"
    budget = max_length - SUFFIX_ROOM
    if len(base) > budget:
        digest = hashlib.sha256(source_id.encode()).hexdigest()[:8]
        base = f"{base[:budget - len(digest) - 1].rstrip('-')}-{digest}"
    candidate, n = base, 2
    while candidate in unusable:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


# ---------------------------------------------------------------- provenance


def _tracked(job: JobSpec, snapshot: Snapshot, api: SnapshotApi
             ) -> tuple[ManagedCopy, dict[str, str]] | None:
    """(managed-copy entry, naming the job that made it (None: the original tool), its
    tags) when the snapshot is provably a copy from the job's source region, else None."""
    tags = tag_dict(snapshot.get("TagList"))
    copy_state = state(snapshot.get("Status"))
    snapshot_id = snapshot[api.identifier]
    if tags.get(TAG_SOURCE_REGION) == job.source_region and TAG_SOURCE_ID in tags:
        source_id = decode_source_id(tags[TAG_SOURCE_ID])
        if _copied_from(job, snapshot, source_id, api):
            copy = with_last_drill(managed_copy(snapshot_id, copy_state, source_id,
                                                tags.get(TAG_SOURCE_CREATED)), tags)
            copy["job"] = tags.get(TAG_JOB, "")
            return copy, tags
        return None
    if not api.legacy_tags:
        return None  # never ours: likely a user's own manual copy, never touched
    legacy = parse_legacy_value(tags.get(legacy_copy_tag_key(job.source_region)))
    if legacy and _copied_from(job, snapshot, decode_source_id(legacy[1]), api):
        copy = managed_copy(snapshot_id, copy_state, decode_source_id(legacy[1]),
                            iso_utc(legacy[0]), legacy=True)
        copy["job"] = None
        return copy, tags
    return None


def _copied_from(job: JobSpec, snapshot: Snapshot, source_id: str | None,
                 api: SnapshotApi) -> bool:
    """Whether AWS records the snapshot as copied from `source_id` in the job's source
    region. A snapshot someone copied from a DR copy inside the destination, tags and
    all, records the DR copy (or nothing): it is not ours, and is left alone."""
    recorded = api.recorded_source(snapshot)
    if recorded == (job.source_region, source_id):
        return True
    logger.warning(f"Left alone a {api.noun} with this tool's tags that AWS does not record "
                   "as a copy of the source they name (a copy made from a DR copy?)", extra={
                       "job": job.name, "snapshot": snapshot[api.identifier],
                       "source_region": recorded[0], "source_snapshot": recorded[1]})
    return False


def _own_copy(job: JobSpec, rds: Any, target: str, source: Source,
              api: SnapshotApi) -> Copy | None:
    """The snapshot holding the target id, when it is this job's copy of this source
    (a retried call made it); None when it is anything else: another job's copy of the
    same snapshot, a copy from another source region with the same id, a user's."""
    snapshot = describe(rds, api, target)
    tracked = _tracked(job, snapshot, api) if snapshot else None
    if not snapshot or not tracked or tracked[0].get("job") != job.name or \
            tracked[0]["source_id"] != source["id"]:
        return None
    return {"id": target, "arn": snapshot.get(api.arn), "state": state(snapshot.get("Status")),
            "tags": tag_dict(snapshot.get("TagList"))}
