"""rds_automated_snapshot: copy the newest automated snapshot of a DB instance.

Source: the newest `available` automated snapshot of `db_instance`.
Tracked copies: manual snapshots of the same DB instance in the destination that carry
this tool's tracking tags for the source region, or the original aws_xregion_sync's
Sync-From-<source-region> tag, and whose SourceRegion/SourceDBSnapshotIdentifier (AWS's
own record of what they were copied from) agree with those tags. Any tracked copy of the
source puts it in sync; only the job's own (and the original tool's) are managed, that
is counted and pruned by its retention.
Calls: in sync 2 reads (TagList comes with DescribeDBSnapshots); copy 3 calls;
+1 DeleteDBSnapshot per pruned copy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Any

from botocore.exceptions import ClientError

from .. import aws
from ..errors import ConfigError, DestinationConflictError, SourceNotFoundError
from ..spec import JobSpec, Option, boolean, non_negative_int, text
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
)

NAME = "rds_automated_snapshot"
SERVICE = "rds"
OPTIONS = {
    "db_instance": Option(text, required=True, doc="DB instance identifier in source_region"),
    "max_snapshots_to_retain": Option(non_negative_int, default=2,
                                      doc="previous copies kept besides the newest"),
    "kms_key_id": Option(text, doc="KMS key in the destination region; required when the "
                                   "source snapshot is encrypted"),
    "option_group_name": Option(text, doc="option group in the destination region"),
    "copy_tags": Option(boolean, default=True, doc="copy the source snapshot's tags"),
}
MAX_IDENTIFIER_LENGTH = 255
# Target ids tried when the deterministic one is taken by a snapshot that is not this
# job's copy of this source (another job's, another source region's, a user's).
MAX_TARGET_ATTEMPTS = 5

logger = logging.getLogger(__name__)

# Any other status (one RDS adds later, or not documented for copies) is UNKNOWN: kept,
# never pruned, never counted as a copy. Only an explicit 'failed' is failed.
_STATES = {"available": AVAILABLE, "creating": PENDING, "copying": PENDING,
           "pending": PENDING, "deleting": GONE, "failed": FAILED}


def check_options(options: dict[str, Any], problem: ProblemReporter) -> None:
    """No rules between this type's options."""


def advice(job: JobSpec) -> list[str]:
    """Nothing to say before the run: doctor checks the DB instance and the key on AWS."""
    return []


def resolve_source(job: JobSpec) -> Source:
    db = job.options["db_instance"]
    rds = aws.client(job, SERVICE, job.source_region)
    with aws.aws_errors(job.name, f"looking for automated snapshots of {db} in "
                                  f"{job.source_region}"):
        try:
            snapshots = _paginate_snapshots(rds, DBInstanceIdentifier=db,
                                            SnapshotType="automated")
        except ClientError as exc:
            if aws.error_code(exc) != "DBInstanceNotFound":
                raise
            raise SourceNotFoundError(
                f"job '{job.name}': DB instance '{db}' was not found in {job.source_region}",
                job=job.name) from None
    available = [s for s in snapshots if s.get("Status") == "available"]
    if not available:
        raise SourceNotFoundError(
            f"No automated snapshots for db '{db}' are available in {job.source_region} "
            f"(job '{job.name}'): check that the DB instance exists and has automated "
            "backups turned on", job=job.name)
    newest = max(available, key=lambda s: s["SnapshotCreateTime"])
    if newest.get("Encrypted") and not job.options.get("kms_key_id"):
        raise ConfigError(
            f"job '{job.name}', field 'kms_key_id': source snapshot "
            f"{newest['DBSnapshotIdentifier']} is encrypted, and AWS copies an encrypted "
            f"snapshot across regions only with a KMS key of the destination region: set "
            f"kms_key_id to a key id, ARN or alias in {job.destination_region}",
            job=job.name, field="kms_key_id")
    return {
        "id": newest["DBSnapshotIdentifier"],
        "arn": newest["DBSnapshotArn"],
        "created": iso_utc(newest["SnapshotCreateTime"]),
        "tags": user_tags(tag_dict(newest.get("TagList"))),
    }


def find_existing_copy(job: JobSpec, source: Source) -> ExistingCopies:
    rds = aws.client(job, SERVICE, job.destination_region)
    with aws.aws_errors(job.name, f"looking for copies in {job.destination_region}"):
        snapshots = _paginate_snapshots(rds, DBInstanceIdentifier=job.options["db_instance"],
                                        SnapshotType="manual")
    tracked = [t for t in (_tracked(job, s) for s in snapshots) if t]
    # Any tracked copy of this source proves it is copied, whichever job made it; but a
    # job prunes only its own copies (and the original tool's), never another job's.
    managed = [copy for copy, owner in tracked if owner is None or owner in lineage(job)]
    # Tags hold whole seconds; a copy counts when it is of this source's second or later.
    live = [copy for copy, _ in tracked if copy["state"] in (PENDING, AVAILABLE)
            and (copy["source_created"] or "") >= source["created"]]
    return {
        "in_sync": bool(live),
        # The newest copy is the recovery point once available; until then nothing is pruned.
        "copy": max(live, key=lambda m: m["source_created"] or "") if live else None,
        "replaces": [m["id"] for m in managed
                     if m["state"] == FAILED and m["source_id"] == source["id"]],
        "managed": managed,
        # Ids in the destination that a new copy of this source must avoid.
        "taken_ids": [s["DBSnapshotIdentifier"] for s in snapshots
                      if s["DBSnapshotIdentifier"].startswith(copy_identifier(source["id"]))],
    }


def start_copy(job: JobSpec, source: Source, existing: ExistingCopies,
               run_id: str) -> Copy:
    del run_id  # the deterministic target id makes retries idempotent
    tracking = tracking_tags(job.name, encode_source_id(source["id"], source["arn"]),
                             job.source_region, source["created"])
    copy_source_tags = job.options.get("copy_tags", True)
    # AWS applies an explicit Tags list instead of (not besides) the CopyTags ones, so
    # the source's tags travel in Tags too: the copy gets the same tags either way.
    inherited = missing_tags(source["tags"] if copy_source_tags else {}, tracking)
    tags = {**inherited, **tracking}
    params = {
        "SourceDBSnapshotIdentifier": source["arn"],
        "SourceRegion": job.source_region,  # boto3 signs the PreSignedUrl from this
        "CopyTags": copy_source_tags,
        "Tags": tag_list(tags),  # in the copy call: no copy ever exists untracked
    }
    if job.options.get("kms_key_id"):
        params["KmsKeyId"] = job.options["kms_key_id"]
    if job.options.get("option_group_name"):
        params["OptionGroupName"] = job.options["option_group_name"]
    rds = aws.client(job, SERVICE, job.destination_region)
    taken = list(existing.get("taken_ids") or ())
    for _ in range(MAX_TARGET_ATTEMPTS):
        target = copy_identifier(source["id"], taken)
        with aws.aws_errors(job.name, f"copying {source['id']} to {job.destination_region}"):
            try:
                snapshot = rds.copy_db_snapshot(**params, TargetDBSnapshotIdentifier=target)
            except ClientError as exc:
                if aws.error_code(exc) != "DBSnapshotAlreadyExists":
                    raise
                retried = _own_copy(job, rds, target, source)
                if retried:
                    return retried
                taken.append(target)  # someone else's snapshot: take the next id
                continue
        snapshot = snapshot["DBSnapshot"]
        return {"id": target, "arn": snapshot.get("DBSnapshotArn"),
                "state": _state(snapshot.get("Status")), "tags": tags}
    raise DestinationConflictError(
        f"job '{job.name}': DB snapshots named {', '.join(taken[-MAX_TARGET_ATTEMPTS:])} "
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
        rds = aws.client(job, SERVICE, job.destination_region)
        with aws.aws_errors(job.name, f"tagging copy {copy['id']}"):
            rds.add_tags_to_resource(ResourceName=copy["arn"], Tags=tag_list(missing))
        copy = {**copy, "tags": {**applied, **missing}}
    return copy


def copy_status(job: JobSpec, copy: Copy) -> Copy:
    rds = aws.client(job, SERVICE, job.destination_region)
    with aws.aws_errors(job.name, f"reading the state of copy {copy['id']}"):
        snapshot = _describe_snapshot(rds, copy["id"])
    if snapshot is None:
        return {**copy, "state": GONE}
    return {**copy, "state": _state(snapshot.get("Status"))}


def prune(job: JobSpec, doomed: list[str], untracked: Collection[str] = ()) -> list[str]:
    """Delete managed copies; ids come from select_for_pruning over managed copies only.

    `untracked` are the original tool's copies: they lack the tracking tag the deployed
    IAM policy requires for a delete, so an AccessDenied on one of them keeps it (with a
    warning) instead of failing the job; on any other copy it is an error. A copy a
    first attempt already deleted counts as deleted: RDS answers DBSnapshotNotFound, or,
    under the deployed policy, AccessDenied (a snapshot that is gone has no tag for the
    policy's condition to match), which a DescribeDBSnapshots tells apart."""
    rds = aws.client(job, SERVICE, job.destination_region)
    deleted = []
    for snapshot_id in doomed:
        with aws.aws_errors(job.name, f"deleting old copy {snapshot_id}"):
            try:
                rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot_id)
            except ClientError as exc:
                code = aws.error_code(exc)
                if code in aws.ACCESS_DENIED_CODES and _describe_snapshot(
                        rds, snapshot_id) is None:
                    deleted.append(snapshot_id)
                    continue
                if code in aws.ACCESS_DENIED_CODES and snapshot_id in untracked:
                    logger.warning("Kept a copy of the original aws_xregion_sync: IAM lets "
                                   "the tool delete only snapshots with its tracking tag",
                                   extra={"job": job.name, "snapshot": snapshot_id})
                    continue
                if code != "DBSnapshotNotFound":
                    raise
        deleted.append(snapshot_id)
    return deleted


def retention(job: JobSpec) -> int | None:
    return job.options.get("max_snapshots_to_retain")


def copy_identifier(source_id: str, unusable: list[str] | tuple[str, ...] = ()) -> str:
    """The copy's DB snapshot id: the original's rule (':' -> '-'), made a valid RDS id.

    Deterministic, so a retried copy hits DBSnapshotAlreadyExists instead of making a
    second copy. When the id is taken (a failed copy keeps its id until it is deleted,
    or a user's own snapshot has it), the copy takes the next free '-N' suffix.
    """
    base = re.sub(r"[^A-Za-z0-9-]", "-", source_id)
    base = re.sub(r"-{2,}", "-", base).strip("-")
    if not base or not base[0].isalpha():
        base = f"copy-{base}"
    base = base[:MAX_IDENTIFIER_LENGTH - 4].rstrip("-")
    candidate, n = base, 2
    while candidate in unusable:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


# ---------------------------------------------------------------- helpers


def _paginate_snapshots(rds: Any, **params: Any) -> list[dict[str, Any]]:
    snapshots: list[dict[str, Any]] = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(**params):
        snapshots += page.get("DBSnapshots", [])
    return snapshots


def _describe_snapshot(rds: Any, snapshot_id: str) -> dict[str, Any] | None:
    found: list[dict[str, Any]] = aws.unless_not_found(lambda: rds.describe_db_snapshots(
        DBSnapshotIdentifier=snapshot_id)["DBSnapshots"], "DBSnapshotNotFound", [])
    return found[0] if found else None


def _tracked(job: JobSpec, snapshot: dict[str, Any]) -> tuple[ManagedCopy, str | None] | None:
    """(managed-copy entry, the job that made it; None for the original tool) when the
    snapshot is provably a copy from the job's source region, else None."""
    tags = tag_dict(snapshot.get("TagList"))
    state = _state(snapshot.get("Status"))
    snapshot_id = snapshot["DBSnapshotIdentifier"]
    if tags.get(TAG_SOURCE_REGION) == job.source_region and TAG_SOURCE_ID in tags:
        source_id = decode_source_id(tags[TAG_SOURCE_ID])
        if _copied_from(job, snapshot, source_id):
            return (managed_copy(snapshot_id, state, source_id, tags.get(TAG_SOURCE_CREATED)),
                    tags.get(TAG_JOB, ""))
        return None
    legacy = parse_legacy_value(tags.get(legacy_copy_tag_key(job.source_region)))
    if legacy and _copied_from(job, snapshot, decode_source_id(legacy[1])):
        return (managed_copy(snapshot_id, state, decode_source_id(legacy[1]),
                             iso_utc(legacy[0]), legacy=True), None)
    return None  # never ours: likely a user's own manual copy, never touched


def _copied_from(job: JobSpec, snapshot: dict[str, Any], source_id: str | None) -> bool:
    """Whether AWS records the snapshot as copied from `source_id` in the job's source
    region (SourceRegion and SourceDBSnapshotIdentifier, the source's ARN, which RDS sets
    on a cross-Region copy). A snapshot someone copied from a DR copy inside the
    destination, tags and all, has neither: it is not ours, and is left alone."""
    recorded = (snapshot.get("SourceRegion"),
                decode_source_id(snapshot.get("SourceDBSnapshotIdentifier")))
    if recorded == (job.source_region, source_id):
        return True
    logger.warning("Left alone a DB snapshot with this tool's tags that AWS does not record "
                   "as a copy of the source they name (a copy made from a DR copy?)", extra={
                       "job": job.name, "snapshot": snapshot["DBSnapshotIdentifier"],
                       "source_region": recorded[0], "source_snapshot": recorded[1]})
    return False


def _own_copy(job: JobSpec, rds: Any, target: str, source: Source) -> Copy | None:
    """The snapshot holding the target id, when it is this job's copy of this source
    (a retried call made it); None when it is anything else: another job's copy of the
    same snapshot, a copy from another source region with the same id, a user's."""
    snapshot = _describe_snapshot(rds, target)
    tracked = _tracked(job, snapshot) if snapshot else None
    if (not snapshot or not tracked or tracked[1] != job.name
            or tracked[0]["source_id"] != source["id"]):
        return None
    return {"id": target, "arn": snapshot.get("DBSnapshotArn"),
            "state": _state(snapshot.get("Status")),
            "tags": tag_dict(snapshot.get("TagList"))}


def _state(status: str | None) -> str:
    return _STATES.get(status or "", UNKNOWN)
