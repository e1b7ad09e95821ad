"""rds_automated_snapshot: copy the newest automated snapshot of a DB instance.

Source: the newest `available` automated snapshot of `db_instance`.
Tracked copies: manual snapshots of the same DB instance in the destination that carry
this tool's tracking tags for the source region, or the original aws_xregion_sync's
Sync-From-<source-region> tag, and whose SourceRegion/SourceDBSnapshotIdentifier (AWS's
own record of what they were copied from) agree with those tags. Any tracked copy of the
source puts it in sync; only the job's own (and the original tool's) are managed, that
is counted and pruned by its retention. The steps are rds_common's, over DB snapshots.
Calls: in sync 2 reads (TagList comes with DescribeDBSnapshots); copy 3 calls;
+1 DeleteDBSnapshot per pruned copy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from botocore.exceptions import ClientError

from .. import aws
from ..errors import SourceNotFoundError
from ..spec import JobSpec, Option, boolean, non_negative_int, text
from ..tags import decode_source_id
from . import rds_common
from .base import Copy, CopyQuotas, ExistingCopies, Source

NAME = "rds_automated_snapshot"
SERVICE = "rds"
# RDS User Guide, "Copying a DB snapshot": "up to 20 snapshot copy requests in progress to
# a single destination Region per account"; "Quotas in Amazon RDS": 100 manual DB instance
# snapshots per Region, copies included.
COPY_QUOTAS = CopyQuotas(in_progress=20, in_progress_kind="RDS snapshot copies",
                         account_quota="ManualSnapshots",
                         service_quota_name="Manual DB instance snapshots",
                         counted="manual DB snapshots")
DOCTOR_CHECKS = ("option_group",)  # the source DB's option group in the destination
OPTIONS = {
    "db_instance": Option(text, required=True, doc="DB instance identifier in source_region"),
    "max_snapshots_to_retain": Option(non_negative_int, default=2,
                                      doc="previous copies kept besides the newest"),
    "kms_key_id": Option(text, doc="KMS key in the destination region; required when the "
                                   "source snapshot is encrypted"),
    "option_group_name": Option(text, doc="option group in the destination region"),
    "copy_tags": Option(boolean, default=True, doc="copy the source snapshot's tags"),
}


def _recorded_source(snapshot: rds_common.Snapshot) -> tuple[str | None, str | None]:
    """RDS API Reference, DBSnapshot: SourceRegion "The Amazon Web Services Region that the
    DB snapshot was created in or copied from"; SourceDBSnapshotIdentifier, the source's
    ARN, which RDS sets on a cross-Region copy."""
    return (snapshot.get("SourceRegion"),
            decode_source_id(snapshot.get("SourceDBSnapshotIdentifier")))


SNAPSHOTS = rds_common.SnapshotApi(
    noun="DB snapshot", describe="describe_db_snapshots", listed="DBSnapshots",
    identifier="DBSnapshotIdentifier", arn="DBSnapshotArn", copy="copy_db_snapshot",
    source_parameter="SourceDBSnapshotIdentifier",
    target_parameter="TargetDBSnapshotIdentifier", answer="DBSnapshot",
    delete="delete_db_snapshot", not_found="DBSnapshotNotFound",
    already_exists="DBSnapshotAlreadyExists", max_identifier_length=255,
    recorded_source=_recorded_source, legacy_tags=True)


def started_by_event(job: JobSpec, event: Mapping[str, Any]) -> bool:
    """RDS-EVENT-0091: an automated snapshot of the job's DB instance was created."""
    return rds_common.reports_automated_snapshot(event, "snapshot", job.options["db_instance"])


# No rules between options, nothing to say before the run (doctor checks on AWS).
check_options = rds_common.check_options
advice = rds_common.advice


def resolve_source(job: JobSpec) -> Source:
    db = job.options["db_instance"]
    rds = aws.client(job, SERVICE, job.source_region)
    with aws.aws_errors(job.name, f"looking for automated snapshots of {db} in "
                                  f"{job.source_region}"):
        try:
            snapshots = rds_common.paginate(rds, SNAPSHOTS, DBInstanceIdentifier=db,
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
    rds_common.refuse_encrypted_without_key(job, newest["DBSnapshotIdentifier"],
                                            bool(newest.get("Encrypted")))
    return rds_common.source_entry(newest, SNAPSHOTS)


def find_existing_copy(job: JobSpec, source: Source) -> ExistingCopies:
    rds = aws.client(job, SERVICE, job.destination_region)
    with aws.aws_errors(job.name, f"looking for copies in {job.destination_region}"):
        snapshots = rds_common.paginate(rds, SNAPSHOTS,
                                        DBInstanceIdentifier=job.options["db_instance"],
                                        SnapshotType="manual")
    return rds_common.existing_copies(job, source, snapshots, SNAPSHOTS)


def start_copy(job: JobSpec, source: Source, existing: ExistingCopies, run_id: str) -> Copy:
    del run_id  # the deterministic target id makes retries idempotent
    extra: dict[str, Any] = {}
    if job.options.get("kms_key_id"):
        extra["KmsKeyId"] = job.options["kms_key_id"]
    if job.options.get("option_group_name"):
        extra["OptionGroupName"] = job.options["option_group_name"]
    return rds_common.start_copy(job, source, existing, SNAPSHOTS, extra)


# The same for every RDS snapshot kind: tags go on the copy's ARN, the copy call does all,
# retention is an option.
copy_tags = rds_common.copy_tags
finish_copy = rds_common.finish_copy
retention = rds_common.retention


def copy_status(job: JobSpec, copy: Copy) -> Copy:
    return rds_common.copy_status(job, copy, SNAPSHOTS)


def prune(job: JobSpec, doomed: list[str], untracked: Collection[str] = ()) -> list[str]:
    """rds_common.prune: the original tool's copies (`untracked`) that IAM may not delete
    are kept with a warning."""
    return rds_common.prune(job, doomed, untracked, SNAPSHOTS)


def copy_identifier(source_id: str, unusable: list[str] | tuple[str, ...] = ()) -> str:
    return rds_common.copy_identifier(source_id, SNAPSHOTS.max_identifier_length, unusable)
