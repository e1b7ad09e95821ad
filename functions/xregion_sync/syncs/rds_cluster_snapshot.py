"""rds_cluster_snapshot: copy the newest automated snapshot of a DB cluster.

For Aurora (MySQL and PostgreSQL) and any DB cluster whose automated snapshots
CopyDBClusterSnapshot copies; the options mean what they mean for rds_automated_snapshot.
Source: the newest `available` automated cluster snapshot of `db_cluster`.
Tracked copies: manual cluster snapshots of the same DB cluster in the destination that
carry this tool's tracking tags for the source region, and whose SourceDBClusterSnapshotArn
(AWS's own record of what they were copied from) is the source the tags name. The original
aws_xregion_sync had no cluster type, so no copy of its is recognised. Any tracked copy of
the source puts it in sync; only the job's own are managed, that is counted and pruned by
its retention.
Calls: in sync 2 reads (TagList comes with DescribeDBClusterSnapshots); copy 3 calls;
+1 DeleteDBClusterSnapshot per pruned copy. (A source that cannot be found costs one
DescribeDBClusters more, to tell a missing cluster from one without a snapshot yet.)
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

NAME = "rds_cluster_snapshot"
SERVICE = "rds"
# Aurora User Guide, "DB cluster snapshot copying": "up to five snapshot copy requests in
# progress to a single destination Region per account"; "Quotas in Amazon Aurora": 100
# manual DB cluster snapshots per Region, copies included.
COPY_QUOTAS = CopyQuotas(in_progress=5, in_progress_kind="RDS cluster snapshot copies",
                         account_quota="ManualClusterSnapshots",
                         service_quota_name="Manual DB cluster snapshots",
                         counted="manual DB cluster snapshots")
DOCTOR_CHECKS: tuple[str, ...] = ()  # a cluster snapshot copy takes no option group
OPTIONS = {
    "db_cluster": Option(text, required=True, doc="DB cluster identifier in source_region"),
    "max_snapshots_to_retain": Option(non_negative_int, default=2,
                                      doc="previous copies kept besides the newest"),
    "kms_key_id": Option(text, doc="KMS key in the destination region; required when the "
                                   "source snapshot is encrypted (AWS copies an unencrypted "
                                   "cluster snapshot unencrypted)"),
    "copy_tags": Option(boolean, default=True, doc="copy the source snapshot's tags"),
}
CLUSTER_NOT_FOUND = "DBClusterNotFoundFault"


def _recorded_source(snapshot: rds_common.Snapshot) -> tuple[str | None, str | None]:
    """RDS API Reference, DBClusterSnapshot: SourceDBClusterSnapshotArn "If the DB cluster
    snapshot was copied from a source DB cluster snapshot, the ARN for the source DB
    cluster snapshot, otherwise, a null value." Its region is the ARN's."""
    arn = snapshot.get("SourceDBClusterSnapshotArn")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None, None
    return arn.split(":")[3], decode_source_id(arn)


SNAPSHOTS = rds_common.SnapshotApi(
    noun="DB cluster snapshot", describe="describe_db_cluster_snapshots",
    listed="DBClusterSnapshots", identifier="DBClusterSnapshotIdentifier",
    arn="DBClusterSnapshotArn", copy="copy_db_cluster_snapshot",
    source_parameter="SourceDBClusterSnapshotIdentifier",
    target_parameter="TargetDBClusterSnapshotIdentifier", answer="DBClusterSnapshot",
    delete="delete_db_cluster_snapshot", not_found="DBClusterSnapshotNotFoundFault",
    already_exists="DBClusterSnapshotAlreadyExistsFault",
    # CopyDBClusterSnapshot, TargetDBClusterSnapshotIdentifier: "from 1 to 63 letters,
    # numbers, or hyphens"
    max_identifier_length=63, recorded_source=_recorded_source)


def started_by_event(job: JobSpec, event: Mapping[str, Any]) -> bool:
    """RDS-EVENT-0169: an automated snapshot of the job's DB cluster was created."""
    return rds_common.reports_automated_snapshot(event, "cluster-snapshot",
                                                 job.options["db_cluster"])


# No rules between options, nothing to say before the run (doctor checks on AWS).
check_options = rds_common.check_options
advice = rds_common.advice


def resolve_source(job: JobSpec) -> Source:
    cluster = job.options["db_cluster"]
    rds = aws.client(job, SERVICE, job.source_region)
    with aws.aws_errors(job.name, f"looking for automated snapshots of DB cluster {cluster} "
                                  f"in {job.source_region}"):
        try:
            snapshots = rds_common.paginate(rds, SNAPSHOTS, DBClusterIdentifier=cluster,
                                            SnapshotType="automated")
        except ClientError as exc:
            if aws.error_code(exc) != CLUSTER_NOT_FOUND:
                raise
            raise _cluster_not_found(job) from None
        available = [s for s in snapshots if s.get("Status") == "available"]
        if not available:
            # DescribeDBClusterSnapshots may answer an unknown cluster with an empty list:
            # whether the cluster exists tells the user which thing to fix.
            if not aws.unless_not_found(lambda: rds.describe_db_clusters(
                    DBClusterIdentifier=cluster)["DBClusters"], CLUSTER_NOT_FOUND, []):
                raise _cluster_not_found(job)
            raise SourceNotFoundError(
                f"No automated snapshots for DB cluster '{cluster}' are available in "
                f"{job.source_region} (job '{job.name}'): RDS takes one in each daily backup "
                "window; the next run copies it once it is available", job=job.name)
    newest = max(available, key=lambda s: s["SnapshotCreateTime"])
    encrypted = bool(newest.get("StorageEncrypted"))
    rds_common.refuse_encrypted_without_key(job, newest["DBClusterSnapshotIdentifier"],
                                            encrypted)
    return {**rds_common.source_entry(newest, SNAPSHOTS), "encrypted": encrypted}


def find_existing_copy(job: JobSpec, source: Source) -> ExistingCopies:
    rds = aws.client(job, SERVICE, job.destination_region)
    with aws.aws_errors(job.name, f"looking for copies in {job.destination_region}"):
        # All manual cluster snapshots of the region (100 by default: one page), then the
        # cluster's: DescribeDBClusterSnapshots' DBClusterIdentifier "must match the
        # identifier of an existing DBCluster", and the cluster is not in the destination.
        snapshots = rds_common.paginate(rds, SNAPSHOTS, SnapshotType="manual")
    cluster = job.options["db_cluster"].lower()  # RDS stores identifiers in lower case
    of_cluster = [s for s in snapshots if (s.get("DBClusterIdentifier") or "").lower() == cluster]
    return rds_common.existing_copies(job, source, of_cluster, SNAPSHOTS)


def start_copy(job: JobSpec, source: Source, existing: ExistingCopies, run_id: str) -> Copy:
    del run_id  # the deterministic target id makes retries idempotent
    # CopyDBClusterSnapshot, KmsKeyId: "If you copy an unencrypted DB cluster snapshot and
    # specify a value for the KmsKeyId parameter, an error is returned."
    extra = {"KmsKeyId": job.options["kms_key_id"]} if source.get("encrypted") else {}
    return rds_common.start_copy(job, source, existing, SNAPSHOTS, extra)


# The same for every RDS snapshot kind: tags go on the copy's ARN, the copy call does all,
# retention is an option.
copy_tags = rds_common.copy_tags
finish_copy = rds_common.finish_copy
retention = rds_common.retention


def copy_status(job: JobSpec, copy: Copy) -> Copy:
    return rds_common.copy_status(job, copy, SNAPSHOTS)


def prune(job: JobSpec, doomed: list[str], untracked: Collection[str] = ()) -> list[str]:
    return rds_common.prune(job, doomed, untracked, SNAPSHOTS)


def copy_identifier(source_id: str, unusable: list[str] | tuple[str, ...] = ()) -> str:
    return rds_common.copy_identifier(source_id, SNAPSHOTS.max_identifier_length, unusable)


def _cluster_not_found(job: JobSpec) -> SourceNotFoundError:
    return SourceNotFoundError(
        f"job '{job.name}': DB cluster '{job.options['db_cluster']}' was not found in "
        f"{job.source_region}: check db_cluster (for a DB instance, use the "
        "rds_automated_snapshot type)", job=job.name)
