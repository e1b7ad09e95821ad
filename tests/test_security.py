"""Security checks: no credential ever shows in an execution's input, output, history or
logs; the template grants `Resource: "*"` only for actions that support nothing narrower."""

from __future__ import annotations

import json

import boto3
import pytest
from conftest import actions, collected_logs, deployed_statements

import xregion_sync
from xregion_sync.logs import JsonFormatter
from xregion_sync_emulator import emulated_aws, execute_state_machine
from xregion_sync_emulator.seed import create_ami, create_db_instance

# Recognisable fake credentials: none of these strings may leak anywhere.
ACCESS_KEY = "AKIAXREGIONFAKE00042"
SECRET_KEY = "xregion/fake+secret/key/0042+DO+NOT+LEAK"
SESSION_TOKEN = "FwoGZXIvYXdzFAKEXREGIONSESSIONTOKEN0042"
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
SOURCE, DESTINATION = "us-east-1", "us-west-2"

# Actions whose APIs support no resource-level permissions (IAM Service Authorization
# Reference), or whose calls here name no resource (rds_cluster_snapshot lists the
# destination's manual cluster snapshots, which IAM evaluates on "*"): only these may be
# granted on "*".
RESOURCE_STAR_ALLOWED = {
    "ec2:DescribeImages", "rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots",
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # the drills: RDS headroom (DescribeAccountAttributes has no resource), and the state of
    # drill resources; the janitor lists every DB instance, cluster and instance of a region
    "rds:DescribeAccountAttributes", "rds:DescribeDBInstances", "rds:DescribeDBClusters",
    "ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeVolumes",
}


@pytest.fixture
def captured_logs():
    """Every log record of the package at DEBUG, formatted as the Lambdas write them."""
    with collected_logs("xregion_sync", JsonFormatter()) as records:
        yield records


def seed_and_config(client_config: dict) -> dict:
    create_ami(SOURCE, "web", {"Sync-Identifier": "web"})
    create_db_instance(SOURCE, "orders-db")
    common = {"source_region": SOURCE, "destination_region": DESTINATION,
              "aws_client_config": client_config}
    return {
        "sync_web": {"sync_type": "ec2_ami", "sync_identifier": "web", **common},
        "sync_db": {"sync_type": "rds_automated_snapshot", "db_instance": "orders-db",
                    **common},
        "sync_missing": {"sync_type": "ec2_ami", "sync_identifier": "nothing", **common},
    }


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture
def emulated_with_job_secret():
    """Emulated AWS deployed with CredentialsSecretArns naming the test's secret."""
    secret = f"arn:aws:secretsmanager:{SOURCE}:123456789012:secret:xregion-sync/keys-??????"
    with emulated_aws(deploy_parameters={"CredentialsSecretArns": secret}):
        yield


@pytest.mark.statemachine
def test_credentials_secret_never_appears_in_the_execution_or_logs(emulated_with_job_secret,
                                                                    captured_logs):
    # GIVEN jobs whose credentials live in a Secrets Manager secret
    secret_arn = boto3.client("secretsmanager", region_name=SOURCE).create_secret(
        Name="xregion-sync/keys", SecretString=json.dumps({
            "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
            "aws_session_token": SESSION_TOKEN}))["ARN"]
    config = seed_and_config({"credentials_secret_arn": secret_arn})
    # WHEN the state machine runs them twice (copy, then in sync; one job fails)
    executions = [execute_state_machine({"config": config}) for _ in range(2)]
    # THEN they really ran with those credentials...
    assert [r.status for r in executions[0].results()] == ["copied", "copied", "failed"]
    assert [r.status for r in executions[1].results()] == ["in_sync", "in_sync", "failed"]
    # ...and no key appears in any input, output, history event or log line
    for execution in executions:
        assert leaks(json.dumps(execution.input)) == []
        assert leaks(json.dumps(execution.output)) == []
        assert leaks(execution.cause or "") == []
        for event in execution.history:
            assert leaks(json.dumps(event, default=str)) == [], event["type"]
    assert captured_logs, "the handlers logged nothing: the check would prove nothing"
    assert leaks("\n".join(captured_logs)) == []


def test_static_keys_in_process_never_reach_results_or_logs(emulated, captured_logs):
    # GIVEN static keys in the config, as the original tool's configs have them
    config = seed_and_config({"aws_access_key": ACCESS_KEY, "aws_secret_key": SECRET_KEY,
                              "aws_session_token": SESSION_TOKEN})
    # WHEN it runs in-process, with one job failing
    results = xregion_sync.run(config)
    # THEN the results and logs carry no key; the job specs do not show them either
    assert [r.status for r in results] == ["copied", "copied", "failed"]
    assert leaks(json.dumps([r.to_dict() for r in results])) == []
    assert leaks(repr(results)) == []
    assert leaks(repr(xregion_sync.load_config(config).jobs)) == []
    assert leaks("\n".join(captured_logs)) == []


@pytest.mark.statemachine
def test_the_state_machine_refuses_static_keys_and_passes_them_on_nowhere(emulated,
                                                                         captured_logs):
    config = seed_and_config({"aws_access_key_id": ACCESS_KEY,
                              "aws_secret_access_key": SECRET_KEY})
    execution = execute_state_machine({"config": config})
    assert {r.status for r in execution.results()} == {"failed"}
    assert all("role_arn" in r.errors[0].message for r in execution.results())
    # The execution input holds what the caller sent, and Load Config is handed it (AWS
    # shows both in the history: nothing can unsee them). Nothing after may repeat them.
    load_config_started = next(e["id"] for e in execution.history
                               if e["type"] == "LambdaFunctionStarted")
    for event in execution.history:
        if event["id"] > load_config_started:
            assert leaks(json.dumps(event, default=str)) == [], event["type"]
    assert leaks(execution.cause or "") == []
    assert leaks("\n".join(captured_logs)) == []


def test_resource_star_only_for_actions_without_resource_level_permissions():
    granted_on_star = {
        (role, action)
        for role, statement in deployed_statements()
        if "*" in ([statement["Resource"]] if isinstance(statement["Resource"], str)
                   else statement["Resource"])
        for action in actions(statement)
    }
    assert granted_on_star, "no statement on '*' found: the check would prove nothing"
    assert {(f, a) for f, a in granted_on_star if a not in RESOURCE_STAR_ALLOWED} == set()
