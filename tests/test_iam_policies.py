"""Least privilege, measured: the AWS calls each task Lambda makes across the scenario
suite on the local state machine, against the actions template.yaml grants it.

Nothing may be missing; nothing may be granted that no call needs, except the few
permissions AWS checks behind a call (IMPLIED, each with its reason).
"""

from __future__ import annotations

import threading
from collections import defaultdict

import boto3
import pytest
import yaml
from conftest import actions, policy_statements, wrapped_lambda_dispatch
from scenarios import (
    SCENARIOS,
    SOURCE,
    ami_job,
    db_job,
    run_on_state_machine,
    source_ami,
    source_db,
    start_copy_throttled_once,
)

from xregion_sync import aws
from xregion_sync.local import emulated_aws, execute_state_machine
from xregion_sync.local.template import read_template
from xregion_sync.syncs import ec2_ami, rds_automated_snapshot

RESOURCES = read_template().raw["Resources"]
FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")
JOB_FUNCTIONS = ["ResolveSourceFunction", "CheckSyncTagFunction", "StartCopyFunction",
                 "CopyTagsFunction", "PollCopyStatusFunction", "PruneOldCopiesFunction"]
KMS_VIA_EC2_AND_RDS = "encrypted copies: EC2 and RDS use the key on the caller's behalf"
ROLE = "role_arn: the job's session assumes the role (credentials built outside the clients)"
SECRET = "credentials_secret_arn: the job's session reads its keys from Secrets Manager"
IMPLIED: dict[str, dict[str, str]] = {
    **{function: {"sts:AssumeRole": ROLE, "secretsmanager:GetSecretValue": SECRET}
       for function in JOB_FUNCTIONS},
}
IMPLIED["StartCopyFunction"].update({
    "ec2:CreateTags": "CopyImage with TagSpecifications",
    "ec2:DeleteSnapshot": "DeregisterImage with DeleteAssociatedSnapshots (a failed copy)",
    "rds:AddTagsToResource": "CopyDBSnapshot with Tags",
    **dict.fromkeys(("kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncrypt*",
                     "kms:GenerateDataKey*"), KMS_VIA_EC2_AND_RDS),
})
IMPLIED["PruneOldCopiesFunction"].update({
    "ec2:DeleteSnapshot": "DeregisterImage with DeleteAssociatedSnapshots",
})
IMPLIED["CopyTagsFunction"].update({
    # Copy Tags only tags what the copy call could not; on the emulator every copy
    # call carries all tags, so these are never exercised here.
    "ec2:CreateTags": "tags a copy that lacks some of the source's tags",
    "rds:AddTagsToResource": "tags an adopted (retried) copy that lacks the source's tags",
})
CONDITIONED = {"sts:AssumeRole": "HasJobRoles", "secretsmanager:GetSecretValue":
               "HasCredentialsSecrets", "s3:GetObject": "HasConfigBucket"}
CONFIG_OBJECT = ("xregion-sync-config", "config.yaml")


def granted(function: str) -> dict[str, str | None]:
    """Action -> the template Condition it is granted under (None: always)."""
    return {action: condition for statement, condition in policy_statements(RESOURCES[function])
            for action in actions(statement)}


def iam_action(call: aws.ApiCall) -> str:
    return f"{call.service}:{call.operation}"


def extra_executions() -> None:
    """What only the state machine does: Lambda retries, and the other config sources."""
    source_ami()
    source_db()
    for sync, config in ((ec2_ami, ami_job()), (rds_automated_snapshot, db_job())):
        with start_copy_throttled_once(sync):
            execute_state_machine({"config": config})
    text = yaml.safe_dump({**ami_job(), **db_job()})
    boto3.client("ssm", region_name=SOURCE).put_parameter(
        Name="/xregion-sync/xregion-sync-local/config", Value=text, Type="String")
    s3 = boto3.client("s3", region_name=SOURCE)
    s3.create_bucket(Bucket=CONFIG_OBJECT[0])
    s3.put_object(Bucket=CONFIG_OBJECT[0], Key=CONFIG_OBJECT[1], Body=text.encode())
    for execution_input in ({}, {"config_uri": "s3://{}/{}".format(*CONFIG_OBJECT)}):
        assert execute_state_machine(execution_input).status == "SUCCEEDED"


@pytest.fixture(scope="module")
def exercised() -> dict[str, set[str]]:
    """IAM action -> called by which function, over the whole suite."""
    current = threading.local()
    by_function: dict[str, set[str]] = defaultdict(set)

    def attribute(dispatch, function_name, body, response_headers):
        current.function = function_name
        try:
            return dispatch()
        finally:
            current.function = None

    def record(call: aws.ApiCall) -> None:
        by_function[getattr(current, "function", None) or "(no Lambda)"].add(iam_action(call))

    for scenario in [*SCENARIOS, None]:
        with emulated_aws(copy_seconds=scenario.copy_seconds if scenario else 0), \
                wrapped_lambda_dispatch(attribute), aws.observe_calls(record):
            if scenario:
                scenario.run(run_on_state_machine)
            else:
                extra_executions()
    return dict(by_function)


def test_every_call_is_made_by_a_task_lambda(exercised):
    assert set(exercised) <= set(FUNCTIONS)
    assert {"ResolveSourceFunction", "StartCopyFunction", "PruneOldCopiesFunction",
            "PollCopyStatusFunction", "LoadConfigFunction"} <= set(exercised)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_permission_is_missing(exercised, function):
    assert exercised.get(function, set()) - set(granted(function)) == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_permission_is_granted_that_nothing_needs(exercised, function):
    unexplained = set(granted(function)) - exercised.get(function, set()) - set(
        IMPLIED.get(function, {}))

    assert unexplained == set()


@pytest.mark.parametrize("function", sorted(IMPLIED))
def test_implied_permissions_are_granted_and_not_also_called(exercised, function):
    grants = granted(function)

    assert set(IMPLIED[function]) <= set(grants)
    assert set(IMPLIED[function]) & exercised.get(function, set()) == set()


@pytest.mark.parametrize(("function", "action"), [
    *[(function, action) for function in JOB_FUNCTIONS
      for action in ("sts:AssumeRole", "secretsmanager:GetSecretValue")],
    ("LoadConfigFunction", "s3:GetObject")])
def test_optional_permissions_are_granted_only_under_their_condition(function, action):
    assert granted(function)[action] == CONDITIONED[action]


def test_the_suite_copies_and_deletes_in_both_services(exercised):
    assert {"ec2:CopyImage", "rds:CopyDBSnapshot", "ec2:DeregisterImage"} <= exercised[
        "StartCopyFunction"]
    assert {"ec2:DeregisterImage", "rds:DeleteDBSnapshot"} <= exercised["PruneOldCopiesFunction"]
    assert exercised["LoadConfigFunction"] == {"ssm:GetParameter", "s3:GetObject"}
