"""The emulator's restore rules (restores.py), each pinned to what AWS documents: without
them moto restores and launches instantly and lets anything through."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import DESTINATION

from xregion_sync_emulator import AwsQuotas, emulated_aws, pass_time
from xregion_sync_emulator.seed import create_ami, create_db_cluster, create_db_instance

REGION = DESTINATION


@pytest.fixture
def slow_restores():
    with emulated_aws(restore_seconds=300):
        yield


def test_a_restored_db_instance_is_creating_until_the_restore_time_passed(slow_restores):
    create_db_instance(REGION, "orders")
    rds = boto3.client("rds", region_name=REGION)
    snapshot = rds.create_db_snapshot(DBInstanceIdentifier="orders",
                                      DBSnapshotIdentifier="orders-manual")["DBSnapshot"]

    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="restored",
                                             DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])

    def status() -> str:
        return rds.describe_db_instances(DBInstanceIdentifier="restored")[
            "DBInstances"][0]["DBInstanceStatus"]

    assert status() == "creating"
    pass_time(299)
    assert status() == "creating"
    pass_time(1)
    assert status() == "available"


def test_a_restored_cluster_has_no_instance_and_takes_one_only_once_available(slow_restores):
    snapshot_id = create_db_cluster(REGION, "ledger")
    rds = boto3.client("rds", region_name=REGION)
    rds.restore_db_cluster_from_snapshot(DBClusterIdentifier="restored",
                                         SnapshotIdentifier=snapshot_id,
                                         Engine="aurora-postgresql")

    def cluster() -> dict:
        return rds.describe_db_clusters(DBClusterIdentifier="restored")["DBClusters"][0]

    def add_instance():
        return rds.create_db_instance(DBInstanceIdentifier="restored-1",
                                      DBClusterIdentifier="restored",
                                      Engine="aurora-postgresql",
                                      DBInstanceClass="db.t4g.medium")

    assert cluster()["Status"] == "creating"
    assert cluster()["DBClusterMembers"] == []
    with pytest.raises(ClientError, match="InvalidDBClusterStateFault"):
        add_instance()
    pass_time(300)
    assert cluster()["Status"] == "available"
    assert add_instance()["DBInstance"]["DBInstanceStatus"] == "creating"
    pass_time(300)
    assert rds.describe_db_instances(DBInstanceIdentifier="restored-1")[
        "DBInstances"][0]["DBInstanceStatus"] == "available"


def test_db_instances_beyond_the_quota_are_refused_and_reported():
    with emulated_aws(quotas=AwsQuotas(rds_db_instances=2)):
        create_db_instance(REGION, "one")
        create_db_instance(REGION, "two")
        rds = boto3.client("rds", region_name=REGION)
        quotas = {q["AccountQuotaName"]: q for q in
                  rds.describe_account_attributes()["AccountQuotas"]}

        with pytest.raises(ClientError, match="InstanceQuotaExceeded"):
            create_db_instance(REGION, "three")
        with pytest.raises(ClientError, match="InstanceQuotaExceeded"):
            rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier="restored",
                DBSnapshotIdentifier=rds.describe_db_snapshots()["DBSnapshots"][0][
                    "DBSnapshotIdentifier"])

    assert (quotas["DBInstances"]["Used"], quotas["DBInstances"]["Max"]) == (2, 2)
    assert quotas["DBClusters"]["Max"] == 40


def register_ami(ec2, architecture: str) -> str:
    """An AMI of `architecture` (moto's RegisterImage ignores Architecture)."""
    from xregion_sync_emulator import EMULATOR_ACCOUNT_ID
    from xregion_sync_emulator.moto_seam import ec2_backends

    image_id: str = ec2.register_image(Name=f"image-{architecture}",
                                       RootDeviceName="/dev/xvda")["ImageId"]
    ec2_backends[EMULATOR_ACCOUNT_ID][REGION].amis[image_id].architecture = architecture
    return image_id


def test_an_instance_type_that_cannot_run_the_amis_architecture_is_refused(slow_restores):
    ec2 = boto3.client("ec2", region_name=REGION)
    arm = register_ami(ec2, "arm64")

    with pytest.raises(ClientError, match="does not match the architecture 'arm64'"):
        ec2.run_instances(ImageId=arm, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    launched = ec2.run_instances(ImageId=arm, InstanceType="t4g.micro", MinCount=1, MaxCount=1)

    assert launched["Instances"][0]["InstanceType"] == "t4g.micro"


def test_status_checks_are_initializing_until_the_restore_time_passed(slow_restores):
    ec2 = boto3.client("ec2", region_name=REGION)
    image = create_ami(REGION, "web")
    instance = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1,
                                 MaxCount=1)["Instances"][0]["InstanceId"]

    def checks() -> tuple[str, str]:
        (status,) = ec2.describe_instance_status(InstanceIds=[instance],
                                                 IncludeAllInstances=True)["InstanceStatuses"]
        return status["InstanceStatus"]["Status"], status["SystemStatus"]["Status"]

    assert checks() == ("initializing", "initializing")
    pass_time(300)
    assert checks() == ("ok", "ok")


@pytest.mark.parametrize(("delete_on_termination", "volumes_left"), [(True, 0), (False, 1)])
def test_terminate_honours_delete_on_termination(slow_restores, delete_on_termination,
                                                 volumes_left):
    ec2 = boto3.client("ec2", region_name=REGION)
    volume = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a")
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    ec2.delete_volume(VolumeId=volume["VolumeId"])
    image = ec2.register_image(Name="web", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {
            "SnapshotId": snapshot, "DeleteOnTermination": delete_on_termination}}],
    )["Instances"][0]["InstanceId"]

    ec2.terminate_instances(InstanceIds=[instance])

    assert len(ec2.describe_volumes()["Volumes"]) == volumes_left
