"""Each AWS behaviour that the emulator's fidelity.py teaches moto, pinned to the AWS documentation.

These tests call the emulated APIs directly (not through the tool), so they say what the
emulator does, which the sync tests then rely on.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import DESTINATION, SOURCE

from xregion_sync.tags import tag_dict
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, emulated_aws, pass_time
from xregion_sync_emulator.moto_seam import ec2_backends
from xregion_sync_emulator.seed import (
    account_session,
    create_ami,
    create_db_cluster,
    create_db_instance,
    create_shared_ami,
    force_db_cluster_snapshot_status,
    force_db_snapshot_status,
    force_image_state,
)

COPY_SECONDS = 600.0  # emulated time (pass_time): a loaded machine still sees "pending" first


def ec2() -> object:
    return boto3.client("ec2", region_name=DESTINATION)


def rds() -> object:
    return boto3.client("rds", region_name=DESTINATION)


_copy_names = itertools.count(1)


def copy_image(source: str, **params) -> str:
    """CopyImage; each call names its copy anew (AMI names are unique per region) unless
    a retry, which repeats the Name of the call it retries."""
    params.setdefault("Name", f"web-app-{next(_copy_names)}")
    return ec2().copy_image(SourceRegion=SOURCE, SourceImageId=source, **params)["ImageId"]


def image(image_id: str) -> dict:
    return ec2().describe_images(ImageIds=[image_id])["Images"][0]


def snapshot_tags(image_id: str) -> dict[str, str]:
    (mapping,) = image(image_id)["BlockDeviceMappings"]
    snapshot_id = mapping["Ebs"]["SnapshotId"]
    return tag_dict(ec2().describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["Tags"])


def copy_db_snapshot(snapshot_id: str, target: str, **params) -> dict:
    arn = f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:snapshot:{snapshot_id}"
    return rds().copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier=target,
                                  SourceRegion=SOURCE, **params)["DBSnapshot"]


def db_snapshot_status(snapshot_id: str) -> str:
    return db_snapshot(snapshot_id)["Status"]


def db_snapshot(snapshot_id: str, region: str = DESTINATION, **params) -> dict:
    return boto3.client("rds", region_name=region).describe_db_snapshots(
        DBSnapshotIdentifier=snapshot_id, **params)["DBSnapshots"][0]


def tags(mapping: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in mapping.items()]


def error_code(refused: pytest.ExceptionInfo) -> str:
    return refused.value.response["Error"]["Code"]


@pytest.fixture
def slow_copies():
    """Emulated AWS whose copies take COPY_SECONDS, as real copies take minutes to hours."""
    with emulated_aws(copy_seconds=COPY_SECONDS):
        yield


# ---------------------------------------------------------------- EC2 CopyImage


def test_copy_image_client_token_makes_the_call_idempotent(emulated):
    """EC2 API Reference, CopyImage, ClientToken: "Unique, case-sensitive identifier you
    provide to ensure idempotency of the request" (EC2 "Ensuring idempotency": a retry
    with the same token returns the result of the first call and creates nothing)."""
    source = create_ami(SOURCE, "web-app")

    first = copy_image(source, ClientToken="token-1", Name="web-app-copy")
    retried = copy_image(source, ClientToken="token-1", Name="web-app-copy")
    other = copy_image(source, ClientToken="token-2")
    untokened = [copy_image(source), copy_image(source)]

    assert retried == first
    assert len({first, other, *untokened}) == 4
    assert len(ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].amis) == 4


def test_copy_image_client_token_with_other_parameters_is_a_mismatch(emulated):
    """EC2 "Ensuring idempotency in Amazon EC2 API requests": a repeated client token with
    the same parameters returns the first call's result, even when the resource has since
    been deleted; with different parameters the call fails IdempotentParameterMismatch."""
    source = create_ami(SOURCE, "web-app")
    first = copy_image(source, ClientToken="token-1", Name="web-app-copy")

    with pytest.raises(ClientError) as refused:
        copy_image(source, ClientToken="token-1", Name="web-app-copy",
                   Description="another description")
    boto3.client("ec2", region_name=DESTINATION).deregister_image(ImageId=first)
    again = copy_image(source, ClientToken="token-1", Name="web-app-copy")

    assert error_code(refused) == "IdempotentParameterMismatch"
    assert again == first
    assert first not in ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].amis


def test_copy_image_refuses_a_name_in_use_in_the_region(emulated):
    """EC2 API Reference, error codes: InvalidAMIName.Duplicate, "The specified AMI name is
    already in use by another AMI" (AMI names are unique per account and region)."""
    source = create_ami(SOURCE, "web-app")
    copy_image(source, Name="web-app")

    with pytest.raises(ClientError) as refused:
        copy_image(source, Name="web-app")

    assert refused.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"


def test_copy_image_tag_specifications_tag_the_ami_and_its_snapshots(emulated):
    """EC2 API Reference, CopyImage, TagSpecifications: "The tags to apply to the new AMI
    and new snapshots. You can tag the AMI, the snapshots, or both. To tag the new AMI,
    the value for ResourceType must be image. To tag the new snapshots, the value for
    ResourceType must be snapshot." """
    source = create_ami(SOURCE, "web-app")

    copy = copy_image(source, TagSpecifications=[
        {"ResourceType": "image", "Tags": [{"Key": "on", "Value": "image"}]},
        {"ResourceType": "snapshot", "Tags": [{"Key": "on", "Value": "snapshot"}]},
    ])

    assert tag_dict(image(copy)["Tags"]) == {"on": "image"}
    assert snapshot_tags(copy) == {"on": "snapshot"}


def test_copy_image_encrypted_encrypts_the_copys_snapshots_with_the_key(emulated):
    """EC2 API Reference, CopyImage: Encrypted "Specifies whether the destination snapshots
    of the copied image should be encrypted", with KmsKeyId's key (moto ignores both)."""
    key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]
    source = create_ami(SOURCE, "web-app")

    copy = copy_image(source, Encrypted=True, KmsKeyId=key)

    (mapping,) = [m for m in image(copy)["BlockDeviceMappings"] if "Ebs" in m]
    snapshot_id = mapping["Ebs"]["SnapshotId"]
    (snapshot,) = boto3.client("ec2", region_name=DESTINATION).describe_snapshots(
        SnapshotIds=[snapshot_id])["Snapshots"]
    assert mapping["Ebs"]["Encrypted"] is True
    assert (snapshot["Encrypted"], snapshot["KmsKeyId"]) == (True, key)


def test_copy_image_tags_copies_user_tags_but_not_aws_tags(emulated):
    """EC2 API Reference, CopyImage, CopyImageTags: "Indicates whether to include your
    user-defined AMI tags when copying the AMI. The following tags will not be copied:
    System tags (prefixed with aws:)"."""
    source = create_ami(SOURCE, "web-app", {"Team": "platform"})
    ec2_backends[EMULATOR_ACCOUNT_ID][SOURCE].create_tags([source], {"aws:owner": "x"})

    with_tags = copy_image(source, CopyImageTags=True)
    without = copy_image(source)

    assert tag_dict(image(with_tags).get("Tags")) == {"Team": "platform"}
    assert tag_dict(image(without).get("Tags")) == {}


def test_a_copied_ami_is_pending_then_available(slow_copies):
    """EC2 User Guide, "Copy an Amazon EC2 AMI": the new AMI's state is pending while the
    copy runs, and becomes available when it completes (CopyImage does not wait)."""
    source = create_ami(SOURCE, "web-app")

    copy = copy_image(source)
    state_at_once = image(copy)["State"]
    pass_time(COPY_SECONDS)

    assert (state_at_once, image(copy)["State"]) == ("pending", "available")


def test_a_copied_ami_names_its_source_ami_and_region(emulated):
    """EC2 API Reference, Image: SourceImageId "The ID of the source AMI from which the AMI
    was created", SourceImageRegion "The Region of the source AMI"; both "only appear if
    the AMI was created using CreateImage, CopyImage, or CreateRestoreImageTask" -- so a
    copy within one region names it too, and a registered AMI has neither."""
    source = create_ami(SOURCE, "web-app")
    across = copy_image(source)
    local_source = create_ami(DESTINATION, "local-app")
    within = ec2().copy_image(SourceRegion=DESTINATION, SourceImageId=local_source,
                              Name="local-app-copy")["ImageId"]

    def provenance(image_id: str) -> tuple:
        described = image(image_id)
        return described.get("SourceImageId"), described.get("SourceImageRegion")

    assert provenance(across) == (source, SOURCE)
    assert provenance(within) == (local_source, DESTINATION)
    assert provenance(local_source) == (None, None)


def test_an_ami_made_by_create_image_names_the_instance_ami(emulated):
    """The same Image fields for CreateImage: the AMI the instance was launched from."""
    launched_from = create_ami(DESTINATION, "base-image")
    (instance,) = ec2().run_instances(ImageId=launched_from, MinCount=1,
                                      MaxCount=1)["Instances"]

    made = ec2().create_image(InstanceId=instance["InstanceId"], Name="from-instance")

    described = image(made["ImageId"])
    assert (described["SourceImageId"], described["SourceImageRegion"]) == (
        launched_from, DESTINATION)


def test_a_forced_image_state_outlasts_the_copy_time(slow_copies):
    """EC2 API Reference, Image: State can be transient, failed, error, invalid, ... with a
    StateReason -- states no API call asks for, which seed.force_image_state sets. The
    emulated copy moves on from `pending` only, so a copy that failed stays failed."""
    copy = copy_image(create_ami(SOURCE, "web-app"))

    force_image_state(DESTINATION, copy, "failed", reason="snapshot copy failed")
    pass_time(COPY_SECONDS)

    described = image(copy)
    assert (described["State"], described["StateReason"]["Message"]) == (
        "failed", "snapshot copy failed")


# ---------------------------------------------------------------- EC2 tags


def test_ec2_refuses_tag_keys_beginning_with_aws(emulated):
    """EC2 API Reference, Tag: the key "May not begin with aws:". EC2 answers
    InvalidParameterValue, "... Tag keys starting with 'aws:' are reserved for internal
    use", to CreateTags and to TagSpecifications alike."""
    image_id = create_ami(DESTINATION, "web-app")
    source = create_ami(SOURCE, "golden")

    with pytest.raises(ClientError) as by_create_tags:
        ec2().create_tags(Resources=[image_id], Tags=tags({"aws:team": "platform"}))
    with pytest.raises(ClientError) as by_copy_image:
        copy_image(source, TagSpecifications=[
            {"ResourceType": "image", "Tags": tags({"AWS:Team": "platform"})}])

    for refused in (by_create_tags, by_copy_image):
        assert error_code(refused) == "InvalidParameterValue"
        assert "reserved for internal use" in refused.value.response["Error"]["Message"]
    assert len(ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].amis) == 1  # nothing copied


def test_ec2_refuses_tags_too_long_but_allows_any_character(emulated):
    """EC2 User Guide, Tag restrictions: key at most 128 and value at most 256 characters;
    "Amazon EC2 allows for any character in its tags" (unlike RDS), and aws: is reserved
    for keys only."""
    image_id = create_ami(DESTINATION, "web-app")

    with pytest.raises(ClientError) as long_key:
        ec2().create_tags(Resources=[image_id], Tags=tags({"k" * 129: "v"}))
    with pytest.raises(ClientError) as long_value:
        ec2().create_tags(Resources=[image_id], Tags=tags({"k": "v" * 257}))
    fine = {"k" * 128: "v" * 256, "Schedule": "off(M-F,18); rds:x, aws:y", "Empty": ""}
    ec2().create_tags(Resources=[image_id], Tags=tags(fine))

    assert (error_code(long_key), error_code(long_value)) == ("InvalidParameterValue",) * 2
    assert tag_dict(image(image_id)["Tags"]) == fine


def test_ec2_refuses_an_empty_tag_specification(emulated):
    """EC2 answers a TagSpecification without tags with InvalidTagKey.Malformed, "Tag
    specification must have at least one tag" (observed; the API Reference has no
    message for it)."""
    with pytest.raises(ClientError) as refused:
        copy_image(create_ami(SOURCE, "web-app"),
                   TagSpecifications=[{"ResourceType": "image", "Tags": []}])

    assert error_code(refused) == "InvalidTagKey.Malformed"


def test_ec2_allows_50_user_tags_per_resource_not_counting_aws_tags(emulated):
    """Tag restrictions: at most 50 user tags per resource (TagLimitExceeded); tags with
    the aws: prefix "do not count against your tags per resource limit" (moto counted
    them)."""
    image_id = create_ami(DESTINATION, "web-app")
    ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].create_tags(
        [image_id], {"aws:cloudformation:stack-name": "images"})  # as AWS tags it
    fifty = {f"key-{n}": "v" for n in range(50)}

    ec2().create_tags(Resources=[image_id], Tags=tags(fifty))
    with pytest.raises(ClientError) as one_more:
        ec2().create_tags(Resources=[image_id], Tags=tags({"key-50": "v"}))
    ec2().create_tags(Resources=[image_id], Tags=tags({"key-0": "changed"}))  # not a new key
    with pytest.raises(ClientError) as by_copy_image:
        copy_image(create_ami(SOURCE, "web-app"), TagSpecifications=[
            {"ResourceType": "image", "Tags": tags({f"k{n}": "v" for n in range(51)})}])

    assert (error_code(one_more), error_code(by_copy_image)) == ("TagLimitExceeded",) * 2
    assert len(image(image_id)["Tags"]) == 51


@pytest.mark.parametrize("name", ["tag-value", "tag-key"])
def test_describe_images_tag_value_and_tag_key_or_their_values(emulated, name):
    """EC2 API Reference, DescribeImages, Filter: "tag-key - The key of a tag assigned to
    the resource", "tag-value - The value of a tag assigned to the resource"; and "If you
    specify multiple values for a filter, the values are joined with an OR, and the
    request returns all results that match any of the specified values". moto demands the
    AMI's tags be a subset or superset of the values instead."""
    web = create_ami(DESTINATION, "web-app", {"Team": "web", "Tier": "front"})
    db = create_ami(DESTINATION, "db-app", {"Owner": "db"})
    create_ami(DESTINATION, "other-app", {"Stage": "test"})
    values = ["web", "db"] if name == "tag-value" else ["Team", "Owner"]

    found = ec2().describe_images(Owners=["self"], Filters=[{"Name": name, "Values": values}])

    assert sorted(i["ImageId"] for i in found["Images"]) == sorted([web, db])


# ---------------------------------------------------------------- RDS CopyDBSnapshot


def test_an_encrypted_snapshot_crosses_regions_only_with_a_kms_key(emulated):
    """RDS API Reference, CopyDBSnapshot, KmsKeyId: "If you copy an encrypted DB snapshot
    to a different Amazon Web Services Region, then you must specify an Amazon Web
    Services KMS key identifier for the destination Amazon Web Services Region." """
    encrypted = create_db_instance(SOURCE, "secure-db", encrypted=True)
    key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]

    with pytest.raises(ClientError) as refused:
        copy_db_snapshot(encrypted, "no-key-copy")
    copied = copy_db_snapshot(encrypted, "keyed-copy", KmsKeyId=key)

    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "KMS key" in refused.value.response["Error"]["Message"]
    assert copied["DBSnapshotIdentifier"] == "keyed-copy"


def test_an_unencrypted_snapshot_crosses_regions_without_a_key(emulated):
    """The KmsKeyId rule above is for encrypted snapshots only."""
    plain = create_db_instance(SOURCE, "plain-db")

    assert copy_db_snapshot(plain, "plain-copy")["DBSnapshotIdentifier"] == "plain-copy"


def test_a_copied_db_snapshot_is_creating_then_available(slow_copies):
    """RDS User Guide, "Copying a DB snapshot": the copy's status is creating while the
    copy runs and available when it completes (CopyDBSnapshot does not wait)."""
    source = create_db_instance(SOURCE, "orders-db")

    answer = copy_db_snapshot(source, "orders-copy")
    status_at_once = db_snapshot_status("orders-copy")
    pass_time(COPY_SECONDS)

    assert (answer["Status"], status_at_once) == ("creating", "creating")
    assert db_snapshot_status("orders-copy") == "available"


def test_a_cross_region_db_snapshot_copy_names_its_source(emulated):
    """RDS API Reference, DBSnapshot: SourceRegion "The Amazon Web Services Region that the
    DB snapshot was created in or copied from"; SourceDBSnapshotIdentifier "The DB snapshot
    ARN that the DB snapshot was copied from. It only has a value in the case of a
    cross-account or cross-Region copy." """
    source = create_db_instance(SOURCE, "orders-db")
    source_arn = f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:snapshot:{source}"

    answer = copy_db_snapshot(source, "orders-copy")
    described = db_snapshot("orders-copy")

    for copy in (answer, described):
        assert (copy["SourceRegion"], copy["SourceDBSnapshotIdentifier"]) == (
            SOURCE, source_arn)


def test_a_db_snapshot_created_or_copied_in_its_region_names_only_that_region(emulated):
    """DBSnapshot.SourceRegion is the region a snapshot "was created in or copied from":
    for an automated or manual snapshot and for a copy within one region, its own region;
    SourceDBSnapshotIdentifier is left out (cross-account or cross-Region copies only)."""
    automated = create_db_instance(DESTINATION, "orders-db")
    destination_rds = rds()
    destination_rds.create_db_snapshot(DBInstanceIdentifier="orders-db",
                                       DBSnapshotIdentifier="orders-manual")
    destination_rds.copy_db_snapshot(SourceDBSnapshotIdentifier="orders-manual",
                                     TargetDBSnapshotIdentifier="orders-local-copy")

    for described in (db_snapshot(automated, SnapshotType="automated"),
                      db_snapshot("orders-manual"), db_snapshot("orders-local-copy")):
        assert described["SourceRegion"] == DESTINATION
        assert "SourceDBSnapshotIdentifier" not in described


def test_a_forced_db_snapshot_status_outlasts_the_copy_time(slow_copies):
    """A DB snapshot can end in a status no API call asks for (e.g. failed), which
    seed.force_db_snapshot_status sets; the emulated copy moves on from `creating` only."""
    copy_db_snapshot(create_db_instance(SOURCE, "orders-db"), "orders-copy")

    force_db_snapshot_status(DESTINATION, "orders-copy", "failed")
    pass_time(COPY_SECONDS)

    assert db_snapshot_status("orders-copy") == "failed"


# ---------------------------------------------------------------- RDS CopyDBClusterSnapshot


def copy_db_cluster_snapshot(snapshot_id: str, target: str, **params) -> dict:
    arn = f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:cluster-snapshot:{snapshot_id}"
    return rds().copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=arn, TargetDBClusterSnapshotIdentifier=target,
        SourceRegion=SOURCE, **params)["DBClusterSnapshot"]


def db_cluster_snapshot(snapshot_id: str, region: str = DESTINATION) -> dict:
    return boto3.client("rds", region_name=region).describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=snapshot_id)["DBClusterSnapshots"][0]


def test_an_encrypted_cluster_snapshot_crosses_regions_only_with_a_kms_key(emulated):
    """RDS API Reference, CopyDBClusterSnapshot, KmsKeyId: "To copy an encrypted DB cluster
    snapshot to another Amazon Web Services Region, you must set KmsKeyId to the Amazon Web
    Services KMS key identifier you want to use to encrypt the copy ... in the destination
    Amazon Web Services Region." AWS answers KMSKeyNotAccessibleFault (observed)."""
    encrypted = create_db_cluster(SOURCE, "secure-cluster", encrypted=True)
    key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]

    with pytest.raises(ClientError) as refused:
        copy_db_cluster_snapshot(encrypted, "no-key-copy")
    copied = copy_db_cluster_snapshot(encrypted, "keyed-copy", KmsKeyId=key)

    assert error_code(refused) == "KMSKeyNotAccessibleFault"
    assert (copied["DBClusterSnapshotIdentifier"], copied["KmsKeyId"]) == ("keyed-copy", key)
    with pytest.raises(ClientError):
        db_cluster_snapshot("no-key-copy")


def test_an_unencrypted_cluster_snapshot_crosses_regions_only_without_a_key(emulated):
    """Same parameter: "If you copy an unencrypted DB cluster snapshot and specify a value
    for the KmsKeyId parameter, an error is returned." """
    plain = create_db_cluster(SOURCE, "plain-cluster")
    key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]

    with pytest.raises(ClientError) as refused:
        copy_db_cluster_snapshot(plain, "keyed-copy", KmsKeyId=key)
    copied = copy_db_cluster_snapshot(plain, "plain-copy")

    assert error_code(refused) == "InvalidParameterCombination"
    assert (copied["DBClusterSnapshotIdentifier"], copied["StorageEncrypted"]) == (
        "plain-copy", False)


def test_a_copied_cluster_snapshot_is_copying_then_available(slow_copies):
    """DBClusterSnapshot Status: available, copying or creating; CopyDBClusterSnapshot: a
    copy in progress is "in "copying" status" (the call does not wait)."""
    source = create_db_cluster(SOURCE, "orders")

    answer = copy_db_cluster_snapshot(source, "orders-copy")
    status_at_once = db_cluster_snapshot("orders-copy")["Status"]
    pass_time(COPY_SECONDS)

    assert (answer["Status"], status_at_once) == ("copying", "copying")
    assert db_cluster_snapshot("orders-copy")["Status"] == "available"


def test_a_copied_cluster_snapshot_names_its_source_and_keeps_its_cluster(emulated):
    """DBClusterSnapshot: SourceDBClusterSnapshotArn "If the DB cluster snapshot was copied
    from a source DB cluster snapshot, the ARN for the source DB cluster snapshot,
    otherwise, a null value"; DBClusterIdentifier, the cluster "this DB cluster snapshot
    was created from"."""
    source = create_db_cluster(SOURCE, "orders")
    source_arn = f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:cluster-snapshot:{source}"

    answer = copy_db_cluster_snapshot(source, "orders-copy")
    described = db_cluster_snapshot("orders-copy")

    for copy in (answer, described):
        assert (copy["SourceDBClusterSnapshotArn"], copy["DBClusterIdentifier"],
                copy["SnapshotType"]) == (source_arn, "orders", "manual")
    assert "SourceDBClusterSnapshotArn" not in db_cluster_snapshot(source, SOURCE)


def test_an_automated_cluster_snapshot_cannot_be_deleted(emulated):
    """RDS API Reference, DeleteDBClusterSnapshot: only a snapshot "in the available state"
    of one's own; AWS answers an automated one "InvalidDBClusterSnapshotStateFault: Only
    manual snapshots may be deleted." (observed). A manual one is deleted."""
    automated = create_db_cluster(DESTINATION, "local")
    destination_rds = rds()
    destination_rds.create_db_cluster_snapshot(DBClusterIdentifier="local",
                                               DBClusterSnapshotIdentifier="local-manual")

    with pytest.raises(ClientError) as refused:
        destination_rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=automated)
    destination_rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="local-manual")

    assert error_code(refused) == "InvalidDBClusterSnapshotStateFault"
    assert db_cluster_snapshot(automated)["SnapshotType"] == "automated"
    with pytest.raises(ClientError):
        db_cluster_snapshot("local-manual")


def test_register_image_tags_the_new_ami_with_its_tag_specifications(emulated):
    """EC2 API Reference, RegisterImage: TagSpecifications are "the tags to apply to the AMI"
    (ResourceType image), applied as it is registered. moto ignored them."""
    image_id = boto3.client("ec2", region_name=SOURCE).register_image(
        Name="tagged-at-birth", RootDeviceName="/dev/xvda", TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "Team", "Value": "web"}]}])["ImageId"]

    assert tag_dict(boto3.client("ec2", region_name=SOURCE).describe_images(
        ImageIds=[image_id])["Images"][0].get("Tags")) == {"Team": "web"}


def test_deleting_a_cluster_deletes_its_automated_snapshots_not_its_manual_ones(emulated):
    """RDS API Reference, DeleteDBCluster: "The default is to remove automated backups
    immediately after the DB cluster is deleted" (DeleteAutomatedBackups); "Manual DB cluster
    snapshots of the specified DB cluster are not deleted". moto kept the automated ones."""
    automated = create_db_cluster(DESTINATION, "gone")
    create_db_cluster(DESTINATION, "kept-backups")
    destination_rds = rds()
    destination_rds.create_db_cluster_snapshot(DBClusterIdentifier="gone",
                                               DBClusterSnapshotIdentifier="gone-manual")

    destination_rds.delete_db_cluster(DBClusterIdentifier="gone", SkipFinalSnapshot=True)
    destination_rds.delete_db_cluster(DBClusterIdentifier="kept-backups",
                                      SkipFinalSnapshot=True, DeleteAutomatedBackups=False)

    left = {s["DBClusterSnapshotIdentifier"] for s in
            destination_rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]}
    assert automated not in left
    assert "gone-manual" in left
    assert any(s.startswith("rds:kept-backups-") for s in left)


def test_a_forced_cluster_snapshot_status_outlasts_the_copy_time(slow_copies):
    """seed.force_db_cluster_snapshot_status sets a status no API call asks for; the
    emulated copy moves on from `copying` only."""
    copy_db_cluster_snapshot(create_db_cluster(SOURCE, "orders"), "orders-copy")

    force_db_cluster_snapshot_status(DESTINATION, "orders-copy", "failed")
    pass_time(COPY_SECONDS)

    assert db_cluster_snapshot("orders-copy")["Status"] == "failed"


def test_rds_refuses_cluster_snapshot_tags_that_break_its_rules(emulated):
    """The RDS tag rules below hold for cluster snapshots and clusters too."""
    source = create_db_cluster(SOURCE, "orders")
    refused_tags = tags(RDS_REFUSED_TAGS["value beginning rds:"])
    create_db_cluster(DESTINATION, "local")
    calls = {
        "CopyDBClusterSnapshot": lambda: copy_db_cluster_snapshot(source, "refused-copy",
                                                                  Tags=refused_tags),
        "CreateDBClusterSnapshot": lambda: rds().create_db_cluster_snapshot(
            DBClusterIdentifier="local", DBClusterSnapshotIdentifier="refused-manual",
            Tags=refused_tags),
        "CreateDBCluster": lambda: create_db_cluster(
            DESTINATION, "refused-cluster", tags=RDS_REFUSED_TAGS["key beginning aws:"]),
    }

    for operation, call in calls.items():
        with pytest.raises(ClientError) as refused:
            call()
        assert error_code(refused) == "InvalidParameterValue", operation

    snapshots = rds().describe_db_cluster_snapshots()["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotIdentifier"] for s in snapshots
            if s["DBClusterSnapshotIdentifier"].startswith("refused")] == []


# ---------------------------------------------------------------- RDS tags


RDS_REFUSED_TAGS = {
    "value beginning rds:": {"xregion-sync:source-id": "rds:orders-db-2026-11-25-03-10"},
    "value beginning aws:": {"owner": "aws:team"},
    "key beginning aws:": {"aws:owner": "team"},
    "key beginning rds:": {"RDS:owner": "team"},
    "character outside the set": {"Schedule": "off(M-F,18)"},
    "key too long": {"k" * 129: "v"},
    "value too long": {"k": "v" * 257},
}


@pytest.mark.parametrize("refused_tags", RDS_REFUSED_TAGS.values(), ids=RDS_REFUSED_TAGS)
def test_rds_refuses_tags_that_break_its_rules(emulated, refused_tags):
    """RDS API Reference, Tag: key 1-128 and value up to 256 Unicode characters, neither
    "can be prefixed with aws: or rds:", only Unicode letters, digits, white space and
    _ . : / = + - @. RDS answers InvalidParameterValue -- on CopyDBSnapshot,
    CreateDBSnapshot, AddTagsToResource and CreateDBInstance alike."""
    source = create_db_instance(SOURCE, "orders-db")
    create_db_instance(DESTINATION, "local-db")
    destination_rds = rds()
    arn = db_snapshot(create_db_instance(DESTINATION, "tagged-db"),
                      SnapshotType="automated")["DBSnapshotArn"]
    calls = {
        "CopyDBSnapshot": lambda: copy_db_snapshot(source, "refused-copy",
                                                   Tags=tags(refused_tags)),
        "CreateDBSnapshot": lambda: destination_rds.create_db_snapshot(
            DBInstanceIdentifier="local-db", DBSnapshotIdentifier="refused-manual",
            Tags=tags(refused_tags)),
        "AddTagsToResource": lambda: destination_rds.add_tags_to_resource(
            ResourceName=arn, Tags=tags(refused_tags)),
        "CreateDBInstance": lambda: create_db_instance(DESTINATION, "refused-db",
                                                       tags=refused_tags),
    }

    for operation, call in calls.items():
        with pytest.raises(ClientError) as refused:
            call()
        assert error_code(refused) == "InvalidParameterValue", operation

    snapshots = destination_rds.describe_db_snapshots()["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snapshots
            if s["DBSnapshotIdentifier"].startswith("refused")] == []


def test_rds_accepts_tags_within_its_rules(emulated):
    """The same rules let a key or value hold a colon after its first characters, the
    allowed punctuation, spaces, any script, and an empty value."""
    allowed = {"xregion-sync:source-id": "orders-db 2026-11-25 03:10",
               "Path": "a/b=c+d-e@f_g.h", "Équipe": "paiements", "Empty": ""}

    copied = copy_db_snapshot(create_db_instance(SOURCE, "orders-db"), "orders-copy",
                              Tags=tags(allowed))

    listed = rds().list_tags_for_resource(ResourceName=copied["DBSnapshotArn"])["TagList"]
    assert tag_dict(listed) == allowed


# moto warns that RDS's service model has no such error shape: true, see the docstring.
@pytest.mark.filterwarnings("ignore:Exception.RDSClientError. with code TagQuotaPerResource")
def test_rds_allows_at_most_50_tags_per_resource(emulated):
    """RDS User Guide, Tagging Amazon RDS resources: at most 50 tags per resource. (The
    RDS API Reference names no error; the emulator answers TagQuotaPerResourceExceeded.)"""
    arn = copy_db_snapshot(create_db_instance(SOURCE, "orders-db"), "orders-copy",
                           Tags=tags({f"key-{n}": "v" for n in range(50)}))["DBSnapshotArn"]

    rds().add_tags_to_resource(ResourceName=arn, Tags=tags({"key-0": "changed"}))
    with pytest.raises(ClientError) as one_more:
        rds().add_tags_to_resource(ResourceName=arn, Tags=tags({"key-50": "v"}))
    with pytest.raises(ClientError) as in_one_copy:
        copy_db_snapshot(create_db_instance(SOURCE, "other-db"), "other-copy",
                         Tags=tags({f"key-{n}": "v" for n in range(51)}))

    assert error_code(one_more) == error_code(in_one_copy) == "TagQuotaPerResourceExceeded"
    assert len(rds().list_tags_for_resource(ResourceName=arn)["TagList"]) == 50


@pytest.mark.parametrize("minutes", [0, 20, 2895])
def test_copy_image_refuses_a_completion_duration_aws_refuses(emulated, minutes):
    """CopyImage, SnapshotCopyCompletionDurationMinutes: 15 to 2880 minutes, in 15-minute
    increments ("Time-based copies")."""
    source = create_ami(SOURCE, "web-app")

    with pytest.raises(ClientError) as caught:
        copy_image(source, SnapshotCopyCompletionDurationMinutes=minutes)

    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_enable_image_deprecation_rounds_to_the_minute_and_shows_in_describe_images(emulated):
    """EnableImageDeprecation, DeprecateAt: "If you specify a value for seconds, Amazon EC2
    rounds the seconds to the nearest minute"; DescribeImages returns DeprecationTime."""
    copy = copy_image(create_ami(SOURCE, "web-app"))
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(second=40, microsecond=0)

    ec2.enable_image_deprecation(ImageId=copy, DeprecateAt=at)

    (image,) = ec2.describe_images(ImageIds=[copy])["Images"]
    expected = (at + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:00.000Z")
    assert image["DeprecationTime"] == expected


@pytest.mark.parametrize("offset", [timedelta(days=-1), timedelta(days=3700)])
def test_enable_image_deprecation_refuses_the_past_and_beyond_ten_years(emulated, offset):
    copy = copy_image(create_ami(SOURCE, "web-app"))
    ec2 = boto3.client("ec2", region_name=DESTINATION)

    with pytest.raises(ClientError) as caught:
        ec2.enable_image_deprecation(ImageId=copy, DeprecateAt=datetime.now(UTC) + offset)

    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


# ---------------------------------------------------------------- EC2 launch permissions

AMI_OWNER = "111111111111"
GRANTEE = {"UserId": "444455556666"}


def test_an_amis_launch_permissions_are_shown_only_to_its_owner(emulated):
    """DescribeImageAttribute of an AMI another account owns, though shared with the caller:
    AuthFailure "Not authorized for image:<id>" (moto raised a Python KeyError)."""
    shared = create_shared_ami(SOURCE, "golden-image", owner=AMI_OWNER,
                               shared_with=EMULATOR_ACCOUNT_ID)
    ec2 = boto3.client("ec2", region_name=SOURCE)

    with pytest.raises(ClientError) as refused:
        ec2.describe_image_attribute(ImageId=shared, Attribute="launchPermission")
    owners_view = account_session(AMI_OWNER, SOURCE).client("ec2").describe_image_attribute(
        ImageId=shared, Attribute="launchPermission")

    assert error_code(refused) == "AuthFailure"
    assert refused.value.response["Error"]["Message"] == f"Not authorized for image:{shared}"
    assert owners_view["LaunchPermissions"] == [{"UserId": EMULATOR_ACCOUNT_ID}]


def test_a_deprecated_ami_is_hidden_from_its_users_but_not_its_owner(emulated):
    """EC2 User Guide, "Deprecate an Amazon EC2 AMI": for AMI users a deprecated AMI is
    not in DescribeImages unless they name its id or set IncludeDeprecated; owners still
    see it (moto showed it to everyone)."""
    shared = create_shared_ami(SOURCE, "golden-image", owner=AMI_OWNER,
                               shared_with=EMULATOR_ACCOUNT_ID)
    ec2_backends[AMI_OWNER][SOURCE].amis[shared].deprecation_time = "2026-01-01T00:00:00.000Z"
    users_ec2 = boto3.client("ec2", region_name=SOURCE)

    def ids(client, **params) -> list[str]:
        return [image["ImageId"] for image in client.describe_images(**params)["Images"]]

    assert ids(users_ec2, Owners=[AMI_OWNER]) == []
    assert ids(users_ec2, Owners=[AMI_OWNER], IncludeDeprecated=True) == [shared]
    assert ids(users_ec2, ImageIds=[shared]) == [shared]
    owners_ec2 = account_session(AMI_OWNER, SOURCE).client("ec2")
    assert ids(owners_ec2, Owners=["self"]) == [shared]


def test_launch_permissions_of_an_unknown_ami_are_not_found(emulated):
    with pytest.raises(ClientError) as refused:
        ec2().describe_image_attribute(ImageId="ami-0123456789abcdef0",
                                       Attribute="launchPermission")

    assert error_code(refused) == "InvalidAMIID.NotFound"


def test_only_the_owner_may_change_an_amis_launch_permissions(emulated):
    """"To share an AMI, your AWS account must own the AMI" (moto let the account it was
    shared with add to its owner's permissions)."""
    shared = create_shared_ami(SOURCE, "golden-image", owner=AMI_OWNER,
                               shared_with=EMULATOR_ACCOUNT_ID)

    with pytest.raises(ClientError) as refused:
        boto3.client("ec2", region_name=SOURCE).modify_image_attribute(
            ImageId=shared, LaunchPermission={"Add": [GRANTEE]})

    assert error_code(refused) == "AuthFailure"
    owner = ec2_backends[AMI_OWNER][SOURCE].amis[shared]
    assert owner.launch_permissions == [{"UserId": EMULATOR_ACCOUNT_ID}]


def test_a_pending_ami_gets_no_launch_permissions_until_it_is_available(emulated):
    """ModifyImageAttribute on an AMI being made: InvalidAMIID.Unavailable "The AMI ID
    '<id>' is currently pending and may not be used for this operation" (moto changed it)."""
    image_id = create_ami(DESTINATION, "web-app-copy")
    force_image_state(DESTINATION, image_id, "pending")

    with pytest.raises(ClientError) as refused:
        ec2().modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [GRANTEE]})
    force_image_state(DESTINATION, image_id, "available")
    ec2().modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [GRANTEE]})

    assert error_code(refused) == "InvalidAMIID.Unavailable"
    assert "is currently pending" in refused.value.response["Error"]["Message"]
    assert ec2().describe_image_attribute(ImageId=image_id, Attribute="launchPermission")[
        "LaunchPermissions"] == [GRANTEE]


def test_a_copy_is_shared_only_once_the_copy_has_finished():
    """A copy is pending until EC2 finishes it: launch permissions wait for that."""
    with emulated_aws(copy_seconds=COPY_SECONDS):
        copy = copy_image(create_ami(SOURCE, "web-app"))
        with pytest.raises(ClientError) as refused:
            ec2().modify_image_attribute(ImageId=copy, LaunchPermission={"Add": [GRANTEE]})

        assert error_code(refused) == "InvalidAMIID.Unavailable"


# ---------------------------------------------------------------- CloudFormation


def test_a_stack_whose_bucket_holds_a_version_is_not_deleted(emulated):
    """CloudFormation User Guide, "Delete a stack" / AWS::S3::Bucket: a bucket that is not
    empty (a noncurrent version or a delete marker counts) cannot be deleted, and the
    stack's deletion fails (DELETE_FAILED), keeping the stack and the bucket."""
    cloudformation = boto3.client("cloudformation", region_name=SOURCE)
    cloudformation.create_stack(StackName="owner", TemplateBody=json.dumps({"Resources": {
        "RunBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "runs-x"}}}}))
    s3 = boto3.client("s3", region_name=SOURCE)
    s3.put_bucket_versioning(Bucket="runs-x", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="runs-x", Key="plan.json", Body=b"{}")
    s3.delete_object(Bucket="runs-x", Key="plan.json")  # only a delete marker is current

    cloudformation.delete_stack(StackName="owner")

    assert cloudformation.describe_stacks(StackName="owner")["Stacks"][0]["StackStatus"] \
        == "DELETE_FAILED"
    assert "runs-x" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_a_stack_whose_bucket_is_empty_is_deleted_with_it(emulated):
    cloudformation = boto3.client("cloudformation", region_name=SOURCE)
    cloudformation.create_stack(StackName="owner", TemplateBody=json.dumps({"Resources": {
        "RunBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "runs-y"}}}}))

    cloudformation.delete_stack(StackName="owner")

    assert "runs-y" not in [bucket["Name"] for bucket in
                            boto3.client("s3", region_name=SOURCE).list_buckets()["Buckets"]]


# ---------------------------------------------------------------- the seam to moto

def test_the_seam_refuses_a_moto_whose_internals_moved(monkeypatch):
    """GIVEN moto changed the parameters of an internal the emulator calls (as 5.2.6 did to
    determine_request_protocol) WHEN the seam checks moto THEN it refuses to start, naming
    the internal and the moto release it was written for, before any request runs."""
    from xregion_sync_emulator import moto_seam

    path = next(key for key in moto_seam.EXPECTED if key.endswith(":determine_request_protocol"))
    monkeypatch.setitem(moto_seam.EXPECTED, path, ("service_model", "content_type"))
    with pytest.raises(moto_seam.MotoSeamError) as refused:
        moto_seam.check_moto()
    message = str(refused.value)
    assert f"written for moto {moto_seam.WRITTEN_FOR_MOTO}" in message
    assert f"{path} takes (service_model, request), written for (service_model, content_type)" \
        in message


def test_the_seam_refuses_a_moto_without_an_internal_it_replaces(monkeypatch):
    from xregion_sync_emulator import moto_seam

    describe = next(key for key in moto_seam.EXPECTED if key.endswith("AmiBackend.describe_images"))
    monkeypatch.setitem(moto_seam.EXPECTED, describe.replace("describe_images", "gone_method"),
                        ("self",))
    with pytest.raises(moto_seam.MotoSeamError, match="AmiBackend.gone_method is gone"):
        moto_seam.check_moto()


def test_the_installed_moto_passes_the_seam_check():
    from xregion_sync_emulator import moto_seam

    moto_seam.check_moto()  # raises on a mismatch


def test_only_a_listed_moto_internal_can_be_replaced():
    from contextlib import ExitStack

    from xregion_sync_emulator.moto_seam import AmiBackend, MotoSeamError, replace

    with ExitStack() as stack, pytest.raises(MotoSeamError, match="not listed"):
        replace(stack, AmiBackend, "register_image", lambda *args: None)
