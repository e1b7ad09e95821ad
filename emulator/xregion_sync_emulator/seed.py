"""Sample resources in emulated AWS, for the demo and the tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3

DEMO_SOURCE_REGION = "us-east-1"
DEMO_DESTINATION_REGION = "us-west-2"


def create_ami(region: str, name: str, tags: dict[str, str] | None = None) -> str:
    """Register an AMI (in emulated AWS) with tags; returns its id."""
    ec2 = boto3.client("ec2", region_name=region)
    image_id: str = ec2.register_image(Name=name, Description=f"{name} image",
                                  RootDeviceName="/dev/xvda")["ImageId"]
    if tags:
        ec2.create_tags(Resources=[image_id],
                        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return image_id


def record_copy_source(region: str, image_id: str, source_id: str, source_region: str) -> None:
    """What AWS records on an AMI that CopyImage made (SourceImageId, SourceImageRegion):
    seeds a copy an earlier run made without running CopyImage."""
    from . import EMULATOR_ACCOUNT_ID
    from .moto_seam import ec2_backends

    image = ec2_backends[EMULATOR_ACCOUNT_ID][region].amis[image_id]
    # moto's Ami declares neither; its serializer returns them when set (fidelity.py).
    image.source_image_id, image.source_image_region = (  # type: ignore[attr-defined]
        source_id, source_region)


def account_session(account_id: str, region: str) -> boto3.Session:
    """A session whose resources land in `account_id`'s emulated backend (moto puts what
    assumed-role credentials create in the role's account)."""
    role = f"arn:aws:iam::{account_id}:role/xregion-sync-seed"
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role, RoleSessionName="seed")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=region)


def create_shared_ami(region: str, name: str, *, owner: str, shared_with: str | None,
                      tags: dict[str, str] | None = None, kms_key_arn: str | None = None) -> str:
    """An AMI of account `owner` with a launch permission for account `shared_with` (None:
    public), as another team's account shares a golden image; returns its id.
    `kms_key_arn`: a key of `owner` that encrypts the AMI's snapshots."""
    from .moto_seam import ec2_backends

    ec2 = account_session(owner, region).client("ec2")
    image_id: str = ec2.register_image(Name=name, Description=f"{name} image",
                                  RootDeviceName="/dev/xvda")["ImageId"]
    if kms_key_arn:  # RegisterImage cannot ask for it: as an image of encrypted volumes
        snapshot = ec2_backends[owner][region].amis[image_id].ebs_snapshot
        snapshot.encrypted, snapshot.kms_key_id = True, kms_key_arn
    if tags:
        ec2.create_tags(Resources=[image_id],
                        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    grantee = {"Group": "all"} if shared_with is None else {"UserId": shared_with}
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [grantee]})
    return image_id


def create_owner_key(region: str, *, owner: str, usable_by: str | None) -> str:
    """A KMS key of account `owner` whose policy lets account `usable_by` use it for EBS
    copies (None: only the owner); returns its ARN. The key policy is the one
    docs/day-one.md gives owners."""
    statements: list[dict[str, object]] = [{
        "Sid": "OwnerAdministersTheKey", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{owner}:root"}, "Action": "kms:*", "Resource": "*"}]
    if usable_by:
        statements.append(shared_key_statement(usable_by))
    kms = account_session(owner, region).client("kms")
    arn: str = kms.create_key(Policy=json.dumps({"Version": "2012-10-17",
                                                  "Statement": statements}))["KeyMetadata"]["Arn"]
    return arn


def shared_key_statement(account: str) -> dict[str, object]:
    """The key policy statement an AMI's owner adds so that `account` may copy the AMI's
    encrypted snapshots (EBS User Guide, "Share the KMS key used to encrypt a shared Amazon
    EBS snapshot"; docs/day-one.md)."""
    return {"Sid": "AccountCopiesSharedAmis", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncrypt*"],
            "Resource": "*"}


def create_db_instance(region: str, db: str, *, encrypted: bool = False,
                       tags: dict[str, str] | None = None) -> str:
    """A DB instance; moto gives it one automated snapshot. Returns that snapshot's id."""
    rds = boto3.client("rds", region_name=region)
    params = {}
    if encrypted:
        key = boto3.client("kms", region_name=region).create_key()["KeyMetadata"]["KeyId"]
        params = {"StorageEncrypted": True, "KmsKeyId": key}
    rds.create_db_instance(
        DBInstanceIdentifier=db, Engine="postgres", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="demo", MasterUserPassword="not-a-secret-1",
        CopyTagsToSnapshot=True, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        **params)
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=db,
                                          SnapshotType="automated")["DBSnapshots"]
    snapshot_id: str = snapshots[0]["DBSnapshotIdentifier"]
    return snapshot_id


def add_automated_snapshot(region: str, db: str, created: datetime,
                           status: str = "available") -> str:
    """Another automated snapshot of `db`, as RDS takes one a day; returns its id."""
    from . import EMULATOR_ACCOUNT_ID
    from .moto_seam import rds_backends

    snapshot_id = f"rds:{db}-{created:%Y-%m-%d-%H-%M}"
    backend = rds_backends[EMULATOR_ACCOUNT_ID][region]
    snapshot = backend.create_auto_snapshot(db, snapshot_id)
    snapshot.created = created
    snapshot.original_snapshot_create_time = created
    snapshot.status = status
    return snapshot_id


def create_db_cluster(region: str, cluster: str, *, engine: str = "aurora-postgresql",
                      encrypted: bool = False, tags: dict[str, str] | None = None) -> str:
    """An Aurora DB cluster; moto gives it one automated cluster snapshot, as RDS takes
    one of every cluster. Returns that snapshot's id."""
    rds = boto3.client("rds", region_name=region)
    params = {}
    if encrypted:
        key = boto3.client("kms", region_name=region).create_key()["KeyMetadata"]["KeyId"]
        params = {"StorageEncrypted": True, "KmsKeyId": key}
    rds.create_db_cluster(
        DBClusterIdentifier=cluster, Engine=engine, MasterUsername="demo",
        MasterUserPassword="not-a-secret-1", CopyTagsToSnapshot=True,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()], **params)
    snapshots = rds.describe_db_cluster_snapshots(
        DBClusterIdentifier=cluster, SnapshotType="automated")["DBClusterSnapshots"]
    snapshot_id: str = snapshots[0]["DBClusterSnapshotIdentifier"]
    return snapshot_id


def add_automated_cluster_snapshot(region: str, cluster: str, created: datetime,
                                   status: str = "available") -> str:
    """Another automated snapshot of `cluster`, as RDS takes one a day; returns its id."""
    from . import EMULATOR_ACCOUNT_ID
    from .moto_seam import rds_backends

    snapshot_id = f"rds:{cluster}-{created:%Y-%m-%d-%H-%M}"
    backend = rds_backends[EMULATOR_ACCOUNT_ID][region]
    snapshot = backend.create_auto_cluster_snapshot(cluster, snapshot_id)
    snapshot.created = created  # moto's SnapshotCreateTime
    snapshot.status = status
    return snapshot_id


def seed_demo() -> dict[str, str]:
    """The demo's world: a tagged web-app AMI, a database and an Aurora cluster with a week
    of backups each."""
    image_id = create_ami(DEMO_SOURCE_REGION, "web-app-2026-11-25",
                          {"Sync-Identifier": "web-app", "Environment": "Production",
                           "Team": "platform"})
    # RDS made today's automated snapshots with the instance and the cluster; add the six
    # days before.
    newest = create_db_instance(DEMO_SOURCE_REGION, "orders-db", tags={"Team": "payments"})
    newest_cluster = create_db_cluster(DEMO_SOURCE_REGION, "orders-cluster",
                                       engine="aurora-mysql", tags={"Team": "payments"})
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for days_ago in range(6, 0, -1):
        add_automated_snapshot(DEMO_SOURCE_REGION, "orders-db", now - timedelta(days=days_ago))
        add_automated_cluster_snapshot(DEMO_SOURCE_REGION, "orders-cluster",
                                       now - timedelta(days=days_ago))
    return {"image_id": image_id, "newest_snapshot": newest,
            "newest_cluster_snapshot": newest_cluster}


def force_image_state(region: str, image_id: str, state: str,
                      reason: str | None = None) -> None:
    """Put an AMI in a state AWS can give it but no API call can ask for: 'transient',
    'failed', 'error', 'invalid', 'deregistered', ... (EC2 API Reference, Image: State),
    with `reason` as its StateReason message. Emulated copies only ever move on from
    'pending' (fidelity.py), so a forced state stays."""
    from . import EMULATOR_ACCOUNT_ID
    from .moto_seam import ec2_backends

    image = ec2_backends[EMULATOR_ACCOUNT_ID][region].amis[image_id]
    image.state = state
    # Image.StateReason is {Code, Message}; no code is documented for AMIs, so only the
    # message is set.
    image.state_reason = (  # type: ignore[attr-defined]  # moto's Ami declares none
        {"Message": reason} if reason is not None else None)


def force_db_snapshot_status(region: str, snapshot_id: str, status: str) -> None:
    """Put a DB snapshot in a status AWS can give it but no API call can ask for (e.g.
    'failed', 'incompatible-restore'). Emulated copies only move on from 'creating'."""
    from . import EMULATOR_ACCOUNT_ID
    from .moto_seam import rds_backends

    rds_backends[EMULATOR_ACCOUNT_ID][region].database_snapshots[snapshot_id].status = status


def force_db_cluster_snapshot_status(region: str, snapshot_id: str, status: str) -> None:
    """Put a DB cluster snapshot in a status no API call asks for (e.g. 'failed'). Emulated
    copies only move on from 'copying'."""
    from . import EMULATOR_ACCOUNT_ID
    from .moto_seam import rds_backends

    rds_backends[EMULATOR_ACCOUNT_ID][region].cluster_snapshots[snapshot_id].status = status
