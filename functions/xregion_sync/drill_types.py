"""What a restore drill does for each sync type: restore a copy into throwaway resources,
tell when they are usable, and delete them. drills.py drives these steps.

Each step takes and returns a plain JSON-able Restore dict, so the same steps can run
in-process and, later, as the drill state machine's Lambdas. A resource goes into
`created` only once the call that made it succeeded: clean-up deletes those and nothing
else, so a name that was already taken is never deleted by a drill.

  rds_automated_snapshot  RestoreDBInstanceFromDBSnapshot -> available -> DeleteDBInstance
  rds_cluster_snapshot    RestoreDBClusterFromSnapshot -> available -> CreateDBInstance in it
                          -> available -> DeleteDBInstance, DeleteDBCluster
  ec2_ami                 RunInstances -> status checks ok -> TerminateInstances, and no
                          volume of the drill left
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from botocore.exceptions import ClientError

from . import aws
from .errors import SyncError
from .spec import JobSpec
from .tags import parse_iso_utc, tag_dict, tag_list

TAG_DRILL = "xregion-sync:drill"  # the job: IAM allows creating and deleting only with it
TAG_DRILL_ID = "xregion-sync:drill-id"  # the drill's name (xrs-drill-...)
TAG_DRILL_COPY = "xregion-sync:drill-copy"  # the copy restored
TAG_DRILL_EXPIRES = "xregion-sync:drill-expires"  # ISO 8601 UTC: a janitor may delete after
DRILL_PREFIX = "xrs-drill-"

# The instance type for an AMI's architecture (the smallest burstable of a current family).
DEFAULT_INSTANCE_TYPES = {"arm64": "t4g.micro", "x86_64": "t3.micro", "i386": "t3.micro"}
DEFAULT_DB_INSTANCE_CLASS = "db.t4g.micro"
DEFAULT_CLUSTER_INSTANCE_CLASS = "db.t4g.medium"
# EngineLifecycleSupport "applies only to RDS for MySQL and RDS for PostgreSQL"; for them
# the default enrols a restore past end of standard support in paid Extended Support.
EXTENDED_SUPPORT_ENGINES = ("mysql", "postgres", "aurora-mysql", "aurora-postgresql")
NO_EXTENDED_SUPPORT = "open-source-rds-extended-support-disabled"


class DrillFailedError(SyncError):
    """The restore did not become usable, the validation failed, or time ran out."""


class DrillQuotaError(SyncError):
    """The region lacks the headroom a real recovery would need: the drill is skipped."""


class Restore(TypedDict):
    """A drill's restore as the steps pass it on."""

    name: str  # xrs-drill-...: the id of what the drill restores
    copy_id: str
    created: list[list[str]]  # [kind, id] of every resource the drill made, in order
    endpoint: NotRequired[dict[str, Any] | None]
    expires: NotRequired[str]  # the janitor's: the expiry tag of a drill it found
    architecture: NotRequired[str]  # EC2
    engine: NotRequired[str]  # RDS cluster: the cluster's engine, for its instance


@dataclass(frozen=True)
class DrillType:
    """One sync type's drill steps."""

    # Describe the copy: (its tags, its ARN or id for tagging, facts the restore needs)
    describe_copy: Callable[[JobSpec, str], dict[str, Any]]
    tag_copy: Callable[[JobSpec, dict[str, Any], dict[str, str]], None]
    # Quotas the restore needs: [(DescribeAccountAttributes name, how many)]; EC2: none
    needs: tuple[tuple[str, int], ...]
    start: Callable[[JobSpec, dict[str, Any], Restore, dict[str, Any], dict[str, str]], Restore]
    # (usable?, the restore refreshed): may create (a cluster's instance) as it goes
    poll: Callable[[JobSpec, Restore, dict[str, Any], dict[str, str]], tuple[bool, Restore]]
    # Deletes what is left of `created`; returns what still exists (deleting or left)
    clean_up: Callable[[JobSpec, Restore], list[list[str]]]
    # The job's drills whose expiry tag is before `now` (the janitor deletes them)
    expired: Callable[[JobSpec, datetime], list[Restore]]


def _error(job: JobSpec, doing: str) -> Any:
    return aws.aws_errors(job.name, doing)


def _failed(job: JobSpec, what: str) -> DrillFailedError:
    return DrillFailedError(f"job '{job.name}': {what}", job=job.name)


# ---------------------------------------------------------------- RDS

def _rds(job: JobSpec) -> Any:
    return aws.client(job, "rds", job.destination_region)


def _describe_rds_copy(kind: str) -> Callable[[JobSpec, str], dict[str, Any]]:
    method, listed, arn = {
        "snapshot": ("describe_db_snapshots", "DBSnapshots", "DBSnapshotArn"),
        "cluster": ("describe_db_cluster_snapshots", "DBClusterSnapshots",
                    "DBClusterSnapshotArn"),
    }[kind]
    parameter = "DBSnapshotIdentifier" if kind == "snapshot" else "DBClusterSnapshotIdentifier"

    def describe(job: JobSpec, copy_id: str) -> dict[str, Any]:
        with _error(job, f"reading copy {copy_id}"):
            (snapshot,) = getattr(_rds(job), method)(**{parameter: copy_id})[listed]
        return {"id": copy_id, "arn": snapshot[arn], "tags": tag_dict(snapshot.get("TagList")),
                "engine": snapshot.get("Engine") or ""}

    return describe


def _tag_rds_copy(job: JobSpec, copy: dict[str, Any], tags: dict[str, str]) -> None:
    with _error(job, f"recording the drill on copy {copy['id']}"):
        _rds(job).add_tags_to_resource(ResourceName=copy["arn"], Tags=tag_list(tags))


def _lifecycle(engine: str) -> dict[str, str]:
    return {"EngineLifecycleSupport": NO_EXTENDED_SUPPORT} if engine in EXTENDED_SUPPORT_ENGINES \
        else {}


def _network(settings: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if settings.get("db_subnet_group_name"):
        params["DBSubnetGroupName"] = settings["db_subnet_group_name"]
    if settings.get("vpc_security_group_ids"):
        params["VpcSecurityGroupIds"] = settings["vpc_security_group_ids"]
    return params


def _start_db_instance(job: JobSpec, copy: dict[str, Any], restore: Restore,
                       settings: dict[str, Any], tags: dict[str, str]) -> Restore:
    # Single-AZ, private, unprotected, no backups, no extra monitoring: cheap and deletable.
    with _error(job, f"restoring copy {copy['id']} into {restore['name']}"):
        _rds(job).restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=restore["name"], DBSnapshotIdentifier=copy["id"],
            DBInstanceClass=settings.get("db_instance_class") or DEFAULT_DB_INSTANCE_CLASS,
            PubliclyAccessible=False, MultiAZ=False, DeletionProtection=False,
            BackupRetentionPeriod=0, AutoMinorVersionUpgrade=False, CopyTagsToSnapshot=False,
            Tags=tag_list(tags), **_lifecycle(copy["engine"]), **_network(settings))
    return {**restore, "created": [*restore["created"], ["db", restore["name"]]]}


def _db_instance(job: JobSpec, name: str) -> dict[str, Any] | None:
    found: list[dict[str, Any]] = aws.unless_not_found(
        lambda: _rds(job).describe_db_instances(DBInstanceIdentifier=name)["DBInstances"],
        "DBInstanceNotFound", [])
    return found[0] if found else None


def _db_cluster(job: JobSpec, name: str) -> dict[str, Any] | None:
    found: list[dict[str, Any]] = aws.unless_not_found(
        lambda: _rds(job).describe_db_clusters(DBClusterIdentifier=name)["DBClusters"],
        "DBClusterNotFoundFault", [])
    return found[0] if found else None


# DB instance and cluster statuses a restore never comes back from.
_RDS_DEAD_ENDS = ("failed", "incompatible-restore", "incompatible-parameters",
                  "incompatible-network", "inaccessible-encryption-credentials",
                  "storage-full", "restore-error")


def _usable_db_instance(job: JobSpec, name: str) -> tuple[bool, dict[str, Any] | None]:
    with _error(job, f"reading the state of {name}"):
        instance = _db_instance(job, name)
    status = (instance or {}).get("DBInstanceStatus")
    if instance is None or status in _RDS_DEAD_ENDS:
        raise _failed(job, f"the restored DB instance {name} is {status or 'gone'}")
    return status == "available", instance.get("Endpoint")


def _poll_db_instance(job: JobSpec, restore: Restore, settings: dict[str, Any],
                      tags: dict[str, str]) -> tuple[bool, Restore]:
    usable, endpoint = _usable_db_instance(job, restore["name"])
    return usable, {**restore, "endpoint": endpoint}


def _start_db_cluster(job: JobSpec, copy: dict[str, Any], restore: Restore,
                      settings: dict[str, Any], tags: dict[str, str]) -> Restore:
    with _error(job, f"restoring copy {copy['id']} into cluster {restore['name']}"):
        _rds(job).restore_db_cluster_from_snapshot(
            DBClusterIdentifier=restore["name"], SnapshotIdentifier=copy["id"],
            Engine=copy["engine"], DeletionProtection=False, CopyTagsToSnapshot=False,
            Tags=tag_list(tags), **_lifecycle(copy["engine"]), **_network(settings))
    return {**restore, "engine": copy["engine"],
            "created": [*restore["created"], ["cluster", restore["name"]]]}


def cluster_instance_name(name: str) -> str:
    return f"{name}-1"


def _poll_db_cluster(job: JobSpec, restore: Restore, settings: dict[str, Any],
                     tags: dict[str, str]) -> tuple[bool, Restore]:
    """A cluster without an instance cannot be connected to: once the cluster is available
    (AWS creates instances only then), one instance in it; usable when that one is."""
    name = restore["name"]
    instance = cluster_instance_name(name)
    if ["db", instance] in restore["created"]:
        usable, endpoint = _usable_db_instance(job, instance)
        return usable, {**restore, "endpoint": endpoint}
    with _error(job, f"reading the state of cluster {name}"):
        cluster = _db_cluster(job, name)
    status = (cluster or {}).get("Status")
    if cluster is None or status in _RDS_DEAD_ENDS:
        raise _failed(job, f"the restored DB cluster {name} is {status or 'gone'}")
    if status != "available":
        return False, restore
    with _error(job, f"creating DB instance {instance} in cluster {name}"):
        _rds(job).create_db_instance(
            DBInstanceIdentifier=instance, DBClusterIdentifier=name, Engine=restore["engine"],
            DBInstanceClass=settings.get("db_instance_class") or DEFAULT_CLUSTER_INSTANCE_CLASS,
            PubliclyAccessible=False, Tags=tag_list(tags), **_rds_monitoring_off())
    return False, {**restore, "created": [*restore["created"], ["db", instance]]}


def _rds_monitoring_off() -> dict[str, Any]:
    return {"MonitoringInterval": 0, "EnablePerformanceInsights": False}


def _clean_up_rds(job: JobSpec, restore: Restore) -> list[list[str]]:
    """Delete the drill's DB instances, then its cluster once it has no member: no final
    snapshot, no retained automated backups. Returns what still exists."""
    rds = _rds(job)
    left: list[list[str]] = []
    for name in created(restore, "db"):
        with _error(job, f"deleting drill DB instance {name}"):
            instance = _db_instance(job, name)
            if instance is None:
                continue
            if instance.get("DBInstanceStatus") != "deleting":
                rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True,
                                       DeleteAutomatedBackups=True)
                if _db_instance(job, name) is None:
                    continue
            left.append(["db", name])
    for name in created(restore, "cluster"):
        with _error(job, f"deleting drill DB cluster {name}"):
            cluster = _db_cluster(job, name)
            if cluster is None:
                continue
            if not left and cluster.get("Status") != "deleting" and not cluster.get(
                    "DBClusterMembers"):
                rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
                if _db_cluster(job, name) is None:
                    continue
            left.append(["cluster", name])
    return left


# ---------------------------------------------------------------- EC2

def _ec2(job: JobSpec) -> Any:
    return aws.client(job, "ec2", job.destination_region)


def _describe_image(job: JobSpec, copy_id: str) -> dict[str, Any]:
    with _error(job, f"reading copy {copy_id}"):
        (image,) = _ec2(job).describe_images(ImageIds=[copy_id])["Images"]
    return {"id": copy_id, "arn": copy_id, "tags": tag_dict(image.get("Tags")),
            "architecture": image.get("Architecture") or "x86_64",
            # The AMI's EBS mappings, repeated with DeleteOnTermination (their snapshot
            # named, as the AMI has it: the mapping overrides only that flag).
            "devices": [{"DeviceName": m["DeviceName"], "Ebs": {
                **{k: m["Ebs"][k] for k in ("SnapshotId",) if m["Ebs"].get(k)},
                "DeleteOnTermination": True}}
                for m in image.get("BlockDeviceMappings") or () if "Ebs" in m]}


def _tag_image(job: JobSpec, copy: dict[str, Any], tags: dict[str, str]) -> None:
    with _error(job, f"recording the drill on copy {copy['id']}"):
        _ec2(job).create_tags(Resources=[copy["id"]], Tags=tag_list(tags))


def _start_instance(job: JobSpec, copy: dict[str, Any], restore: Restore,
                    settings: dict[str, Any], tags: dict[str, str]) -> Restore:
    """No key pair, no instance profile, no public IP, IMDSv2 only, shutdown terminates,
    every EBS volume deleted on termination; the ClientToken makes a retry idempotent."""
    instance_type = settings.get("instance_type") or DEFAULT_INSTANCE_TYPES.get(
        copy["architecture"], "t3.micro")
    interface: dict[str, Any] = {"DeviceIndex": 0, "AssociatePublicIpAddress": False,
                                 "DeleteOnTermination": True}
    if settings.get("subnet_id"):
        interface["SubnetId"] = settings["subnet_id"]
    if settings.get("security_group_ids"):
        interface["Groups"] = settings["security_group_ids"]
    tagged = {**tags, "Name": restore["name"]}
    with _error(job, f"launching an instance of copy {copy['id']}"):
        answer = _ec2(job).run_instances(
            ImageId=copy["id"], InstanceType=instance_type, MinCount=1, MaxCount=1,
            ClientToken=restore["name"], NetworkInterfaces=[interface],
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            InstanceInitiatedShutdownBehavior="terminate",
            BlockDeviceMappings=copy["devices"],
            TagSpecifications=[{"ResourceType": kind, "Tags": tag_list(tagged)}
                               for kind in ("instance", "volume", "network-interface")])
    instance_id = answer["Instances"][0]["InstanceId"]
    return {**restore, "architecture": copy["architecture"],
            "created": [*restore["created"], ["instance", instance_id]]}


def created(restore: Restore, kind: str) -> list[str]:
    """The ids of what the drill created of one kind ("db", "cluster", "instance")."""
    return [resource_id for made, resource_id in restore["created"] if made == kind]


def _poll_instance(job: JobSpec, restore: Restore, settings: dict[str, Any],
                   tags: dict[str, str]) -> tuple[bool, Restore]:
    (instance_id,) = created(restore, "instance")
    with _error(job, f"reading the status checks of {instance_id}"):
        statuses = _ec2(job).describe_instance_status(
            InstanceIds=[instance_id], IncludeAllInstances=True)["InstanceStatuses"]
    status = statuses[0] if statuses else {}
    state = (status.get("InstanceState") or {}).get("Name")
    if state in ("shutting-down", "terminated", "stopping", "stopped"):
        raise _failed(job, f"the drill instance {instance_id} is {state}")
    checks = [(status.get(key) or {}).get("Status") for key in ("InstanceStatus",
                                                                "SystemStatus")]
    if "impaired" in checks:
        raise _failed(job, f"the drill instance {instance_id} failed its status checks")
    return state == "running" and checks == ["ok", "ok"], {
        **restore, "endpoint": {"InstanceId": instance_id}}


def _clean_up_instance(job: JobSpec, restore: Restore) -> list[list[str]]:
    """Terminate the drill's instance; once it is terminated, delete any volume of the
    drill that termination left (and report it as left until it is gone)."""
    ec2 = _ec2(job)
    left: list[list[str]] = []
    for instance_id in created(restore, "instance"):
        with _error(job, f"terminating drill instance {instance_id}"):
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
            state = reservations[0]["Instances"][0]["State"]["Name"] if reservations else None
            if state not in (None, "terminated"):
                ec2.terminate_instances(InstanceIds=[instance_id])
                state = ec2.describe_instances(InstanceIds=[instance_id])[
                    "Reservations"][0]["Instances"][0]["State"]["Name"]
            if state not in (None, "terminated"):
                left.append(["instance", instance_id])
    if left:
        return left
    with _error(job, f"looking for volumes of drill {restore['name']}"):
        volumes = ec2.describe_volumes(Filters=[
            {"Name": f"tag:{TAG_DRILL_ID}", "Values": [restore["name"]]}])["Volumes"]
        for volume in volumes:
            try:
                ec2.delete_volume(VolumeId=volume["VolumeId"])
            except ClientError as exc:
                if aws.error_code(exc) != "InvalidVolume.NotFound":
                    raise
            left.append(["volume", volume["VolumeId"]])
    return left


def _expired_drill(job: JobSpec, resource_id: str, tags: Mapping[str, str],
                   now: datetime) -> bool:
    """A drill resource of this job (by name and tag) whose expiry has passed."""
    expires = parse_iso_utc(tags.get(TAG_DRILL_EXPIRES) or "")
    return (tags.get(TAG_DRILL) == job.name and expires is not None and expires < now
            and (tags.get(TAG_DRILL_ID) or resource_id).startswith(DRILL_PREFIX))


def _restores(found: Iterable[tuple[str, str, Mapping[str, str]]]) -> list[Restore]:
    """One Restore per drill (by its drill-id tag) from (kind, id, tags) of its resources."""
    drills: dict[str, Restore] = {}
    for kind, resource_id, tags in found:
        name = tags.get(TAG_DRILL_ID) or resource_id
        restore = drills.setdefault(name, {"name": name, "copy_id": tags.get(TAG_DRILL_COPY,
                                                                              ""),
                                           "created": [], "expires": tags[TAG_DRILL_EXPIRES]})
        restore["created"].append([kind, resource_id])
    return list(drills.values())


def _expired_rds(job: JobSpec, now: datetime) -> list[Restore]:
    """RDS: only xrs-drill-* DB instances and clusters (the name is the id)."""
    rds = _rds(job)
    found = [("cluster", c["DBClusterIdentifier"], tag_dict(c.get("TagList")))
             for page in rds.get_paginator("describe_db_clusters").paginate()
             for c in page["DBClusters"] if c["DBClusterIdentifier"].startswith(DRILL_PREFIX)]
    found += [("db", d["DBInstanceIdentifier"], tag_dict(d.get("TagList")))
              for page in rds.get_paginator("describe_db_instances").paginate()
              for d in page["DBInstances"] if d["DBInstanceIdentifier"].startswith(DRILL_PREFIX)]
    # Instances first: a cluster is deleted once it has none.
    found.sort(key=lambda item: item[0] != "db")
    return _restores((kind, i, tags) for kind, i, tags in found
                     if _expired_drill(job, i, tags, now))


def _expired_instances(job: JobSpec, now: datetime) -> list[Restore]:
    ec2 = _ec2(job)
    found = [("instance", i["InstanceId"], tag_dict(i.get("Tags")))
             for page in ec2.get_paginator("describe_instances").paginate(Filters=[
                 {"Name": f"tag:{TAG_DRILL}", "Values": [job.name]},
                 {"Name": "instance-state-name",
                  "Values": ["pending", "running", "stopping", "stopped"]}])
             for r in page["Reservations"] for i in r["Instances"]]
    return _restores((kind, i, tags) for kind, i, tags in found
                     if _expired_drill(job, i, tags, now))


DRILL_TYPES: dict[str, DrillType] = {
    "rds_automated_snapshot": DrillType(
        _describe_rds_copy("snapshot"), _tag_rds_copy, (("DBInstances", 1),),
        _start_db_instance, _poll_db_instance, _clean_up_rds, _expired_rds),
    "rds_cluster_snapshot": DrillType(
        _describe_rds_copy("cluster"), _tag_rds_copy, (("DBClusters", 1), ("DBInstances", 1)),
        _start_db_cluster, _poll_db_cluster, _clean_up_rds, _expired_rds),
    "ec2_ami": DrillType(_describe_image, _tag_image, (), _start_instance, _poll_instance,
                         _clean_up_instance, _expired_instances),
}
