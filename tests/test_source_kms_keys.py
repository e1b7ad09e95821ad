"""An AMI shared by another account whose snapshots that account's KMS key
encrypts. Start Copy needs an IAM allow on the key (the stack's SourceKmsKeyArns) and the
owner's key policy must allow this account (EBS User Guide, "Share the KMS key used to
encrypt a shared Amazon EBS snapshot"). The emulator refuses such a CopyImage unless both
allow it; `doctor` names the key and says whether it is usable; the copy's error names the
key and the parameter to set.
"""

from __future__ import annotations

import boto3
import pytest
from conftest import DESTINATION, SOURCE

import xregion_sync
from xregion_sync.doctor import ERROR, OK, WARNING
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, emulated_aws, execute_state_machine
from xregion_sync_emulator.deployed_policies import function_policies
from xregion_sync_emulator.seed import create_ami, create_owner_key, create_shared_ami
from xregion_sync_emulator.stack import local_stack

OWNER = "111111111111"
OWNER_ROLE = f"arn:aws:iam::{OWNER}:role/xregion-sync-reader"
JOB = "sync_golden"


def job(**options) -> dict:
    return {JOB: {"sync_type": "ec2_ami", "source_region": SOURCE,
                  "destination_region": DESTINATION, "ami_owner": OWNER,
                  "filters": ["name=golden"], **options}}


def shared_encrypted_ami(*, key_shared: bool = True) -> tuple[str, str]:
    """(the AMI id, the owner's key ARN): an AMI of OWNER shared with this account, its
    snapshot encrypted with a key of OWNER whose policy allows this account or not."""
    key = create_owner_key(SOURCE, owner=OWNER,
                           usable_by=EMULATOR_ACCOUNT_ID if key_shared else None)
    image = create_shared_ami(SOURCE, "golden", owner=OWNER, shared_with=EMULATOR_ACCOUNT_ID,
                              kms_key_arn=key)
    return image, key


def start_copy_kms_statements(parameters: dict[str, str]) -> list[dict]:
    policies = function_policies(parameters)["StartCopyFunction"]
    return [statement for policy in policies for statement in policy.document["Statement"]
            if any(str(a).startswith("kms:") for a in statement["Action"])]


# ---------------------------------------------------------------- the template


def test_source_kms_key_arns_grants_start_copy_the_keys_through_ec2_only():
    key = f"arn:aws:kms:{SOURCE}:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    without = start_copy_kms_statements({})
    with_keys = start_copy_kms_statements({"SourceKmsKeyArns": key})
    (added,) = [s for s in with_keys if s not in without]
    assert added["Resource"] in (key, [key])
    assert set(added["Action"]) == {"kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt",
                                    "kms:ReEncrypt*"}
    assert added["Condition"] == {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
    assert all(OWNER not in str(s["Resource"]) for s in without)


# ---------------------------------------------------------------- the emulator's rules


def test_describe_images_says_which_snapshots_are_encrypted(emulated):
    image, _ = shared_encrypted_ami()
    plain = create_ami(SOURCE, "plain-app")
    ec2 = boto3.client("ec2", region_name=SOURCE)
    images = {i["ImageId"]: i for i in ec2.describe_images(ImageIds=[image, plain])["Images"]}
    assert images[image]["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert images[plain]["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is False


@pytest.mark.parametrize(("key_shared", "allowed"), [(True, True), (False, False)])
def test_describe_key_of_another_account_answers_as_its_key_policy_says(emulated, key_shared,
                                                                       allowed):
    _, key = shared_encrypted_ami(key_shared=key_shared)
    kms = boto3.client("kms", region_name=SOURCE)
    if allowed:
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
    else:
        with pytest.raises(kms.exceptions.ClientError, match="AccessDeniedException"):
            kms.describe_key(KeyId=key)


# ---------------------------------------------------------------- copying, IAM enforced


@pytest.mark.statemachine
@pytest.mark.parametrize(("key_shared", "granted", "copied"), [
    (True, True, True),     # the owner shares the key and the stack lists it
    (True, False, False),   # the stack does not list it: no IAM allow
    (False, True, False),   # the owner's key policy does not allow this account
])
def test_a_shared_encrypted_ami_is_copied_only_when_iam_and_the_key_policy_allow_it(
        key_shared, granted, copied):
    with emulated_aws(deploy_parameters={"SourceKmsKeyArns": "*"} if granted else None):
        _, key = shared_encrypted_ami(key_shared=key_shared)
        (result,) = execute_state_machine({"config": job()}).results()
    if copied:
        assert result.status == "copied", result.errors
        return
    assert result.status == "failed"
    message = result.errors[0].message
    assert result.errors[0].type == "AccessDeniedError"
    assert f"refused for KMS key {key}" in message
    assert "SourceKmsKeyArns" in message and f"have account {OWNER} allow" in message


@pytest.mark.statemachine
def test_a_kms_key_id_naming_a_missing_key_does_not_break_the_iam_model():
    # (it raised "'NoneType' object has no attribute 'startswith'" inside the emulator)
    with emulated_aws():
        create_ami(SOURCE, "web-app", {"Sync-Identifier": "web-app"})
        config = {"sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                               "destination_region": DESTINATION, "sync_identifier": "web-app",
                               "kms_key_id": "alias/missing"}}
        (result,) = execute_state_machine({"config": config}).results()
    assert [e.type for e in result.errors] != ["AttributeError"]


# ---------------------------------------------------------------- doctor


def source_key_findings(config: dict, **kwargs) -> list:
    return [f for f in xregion_sync.doctor(config, **kwargs) if f.check == "source_key"]


def test_doctor_names_a_usable_key_of_the_owner(emulated):
    _, key = shared_encrypted_ami()
    (finding,) = source_key_findings(job(source_role_arn=OWNER_ROLE))
    assert finding.severity == OK
    assert f"KMS key {key} of account {OWNER}" in finding.message and "usable" in finding.message


def test_doctor_says_a_key_the_owner_does_not_share_is_not_usable(emulated):
    _, key = shared_encrypted_ami(key_shared=False)
    (finding,) = source_key_findings(job(source_role_arn=OWNER_ROLE))
    assert finding.severity == ERROR
    assert f"KMS key {key} of account {OWNER}" in finding.message
    assert "is not usable" in finding.message and "SourceKmsKeyArns" in finding.message


def test_doctor_warns_when_the_snapshots_key_cannot_be_read(emulated):
    image, _ = shared_encrypted_ami()
    (finding,) = source_key_findings(job())  # no owner's role: the snapshot is not visible
    assert finding.severity == WARNING
    assert f"source AMI {image} of account {OWNER} has encrypted snapshots" in finding.message
    assert "source_role_arn" in finding.message


@pytest.mark.parametrize(("granted", "severity"), [("", ERROR), ("*", OK)])
def test_doctor_with_a_stack_says_whether_its_parameter_lists_the_key(granted, severity):
    with emulated_aws(deploy_parameters={"SourceKmsKeyArns": granted}):
        _, key = shared_encrypted_ami()
        with local_stack() as _:
            stack = xregion_sync.deploy.describe_stack(
                xregion_sync.spec.ClientConfig(), SOURCE, "xregion-sync-local")
            (finding,) = source_key_findings(job(source_role_arn=OWNER_ROLE), stack=stack)
    assert finding.severity == severity
    if severity == ERROR:
        assert "is not in stack xregion-sync-local's SourceKmsKeyArns parameter" in \
               finding.message
    else:
        assert "listed in stack xregion-sync-local's SourceKmsKeyArns" in finding.message


def test_doctor_says_nothing_of_an_unencrypted_source(emulated):
    create_shared_ami(SOURCE, "golden", owner=OWNER, shared_with=EMULATOR_ACCOUNT_ID)
    assert source_key_findings(job(source_role_arn=OWNER_ROLE)) == []
