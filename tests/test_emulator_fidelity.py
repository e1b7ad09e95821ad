"""Each AWS behaviour that local/fidelity.py teaches moto, pinned to the AWS documentation.

These tests call the emulated APIs directly (not through the tool), so they say what the
emulator does, which the sync tests then rely on.
"""

from __future__ import annotations

import itertools
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import DESTINATION, SOURCE
from moto.ec2.models import ec2_backends

from xregion_sync.local import EMULATOR_ACCOUNT_ID, emulated_aws
from xregion_sync.local.seed import create_ami, create_db_instance
from xregion_sync.tags import tag_dict

COPY_SECONDS = 2.0  # long enough that a loaded machine still sees "pending" first


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
    return rds().describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0][
        "Status"]


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
    time.sleep(COPY_SECONDS)

    assert (state_at_once, image(copy)["State"]) == ("pending", "available")


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
    time.sleep(COPY_SECONDS)

    assert (answer["Status"], status_at_once) == ("creating", "creating")
    assert db_snapshot_status("orders-copy") == "available"
