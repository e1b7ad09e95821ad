"""`xregion-sync smoke --stack NAME` against a stack deployed on emulated AWS (the local
state machine, and the rules, failure topic, key, subscription and alarms template.yaml
creates): each check passing, and each failing with what to do. The alarm check proves
delivery through the alarm history: with the key policy
the stack had before (conditions CloudWatch's KMS requests do not carry), the publish fails
with a KMS denial that only the history shows."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml
from conftest import DESTINATION, SOURCE

from xregion_sync import cli
from xregion_sync import smoke as smoke_module
from xregion_sync.smoke import FAILED_EXECUTIONS_ALARM, REQUIRED_OUTPUTS, Timing, smoke
from xregion_sync_emulator import emulated_aws
from xregion_sync_emulator.alarms import confirm_email_subscriptions
from xregion_sync_emulator.seed import create_ami
from xregion_sync_emulator.stack import local_stack
from xregion_sync_emulator.template import LOCAL_STACK_NAME, read_template

STACK = LOCAL_STACK_NAME
PARAMETER = f"/xregion-sync/{STACK}/config"
EMAIL = {"NotificationEmail": "ops@example.com"}
ALARM = f"{STACK}-failed-executions"
FAST = Timing(poll_seconds=0.1, execution_seconds=120, alarm_seconds=5)


def web_job(identifier: str = "web-app") -> dict:
    return {"sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                         "destination_region": DESTINATION, "sync_identifier": identifier}}


def push(config: dict | str) -> None:
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    boto3.client("ssm", region_name=SOURCE).put_parameter(
        Name=PARAMETER, Value=text, Type="String", Overwrite=True)


def topic_arn() -> str:
    return f"arn:aws:sns:{SOURCE}:123456789012:FailureTopic"  # template.yaml's, as deployed


def checks(**kwargs) -> dict:
    return {check.name: check for check in smoke(STACK, region=SOURCE, timing=FAST, **kwargs)}


@pytest.fixture
def deployed(request):
    """A deployed stack with a NotificationEmail (confirmed), a config of one job whose
    source exists; `@pytest.mark.deploy_parameters(...)` overrides the parameters."""
    marker = request.node.get_closest_marker("deploy_parameters")
    with emulated_aws(deploy_parameters={**EMAIL, **(marker.kwargs if marker else {})}):
        create_ami(SOURCE, "web-app", {"Sync-Identifier": "web-app"})
        with local_stack():
            push(web_job())
            if "NotificationEmail" not in (marker.kwargs if marker else {}):
                confirm_email_subscriptions(topic_arn())
            yield


# ---------------------------------------------------------------- what smoke reads


def test_smoke_reads_what_template_yaml_deploys():
    template = read_template().raw
    assert set(REQUIRED_OUTPUTS) <= set(template["Outputs"])
    alarm = template["Resources"]["FailedExecutionsAlarm"]["Properties"]["AlarmName"]
    assert alarm == {"Fn::Sub": FAILED_EXECUTIONS_ALARM.format(stack="${AWS::StackName}")}
    assert template["Resources"]["FailedExecutionsAlarm"]["Properties"]["AlarmActions"] == [
        {"Ref": "FailureTopic"}]


# ---------------------------------------------------------------- all passing


@pytest.mark.statemachine
def test_a_healthy_stack_passes_every_check_and_exits_0(deployed, capsys):
    code = cli.main(["smoke", "--stack", STACK, "--region", SOURCE, "--json"])
    found = {c["check"]: c for c in json.loads(capsys.readouterr().out)}
    assert code == 0, found
    assert list(found) == ["outputs", "config", "rules", "dry_run", "subscription", "alarm"]
    assert all(c["passed"] for c in found.values())
    # each job's dry-run result is shown, and the dry run copied nothing
    assert found["dry_run"]["details"][0].startswith("sync_web: would copy ami-")
    assert boto3.client("ec2", region_name=DESTINATION).describe_images(
        Owners=["self"])["Images"] == []
    assert "published to" in found["alarm"]["message"]


# ---------------------------------------------------------------- each failing


@pytest.mark.statemachine
def test_missing_outputs_fail_and_the_other_checks_say_why_they_did_not_run(emulated):
    with local_stack(outputs={"StateMachineArn": "arn:aws:states:us-east-1:123456789012:"
                                                 "stateMachine:xregion-sync-local"}):
        found = checks()
    assert not found["outputs"].passed
    assert "ConfigParameterName, RunBucketName, FailureTopicArn" in found["outputs"].message
    assert all(not c.passed and "not checked" in c.message
               for name, c in found.items() if name != "outputs")


@pytest.mark.statemachine
@pytest.mark.parametrize(("config", "says"), [
    ("# nothing\n{}\n", "holds no config yet"),
    ("sync_web: [unclosed\n", "YAML"),
    ({"sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                   "destination_region": DESTINATION, "sync_identifer": "web-app"}},
     "has 1 error(s)"),
])
def test_a_config_that_does_not_load_or_validate_fails(deployed, config, says):
    push(config)
    found = checks()
    assert not found["config"].passed
    assert says in found["config"].message


@pytest.mark.statemachine
def test_a_config_too_large_for_the_parameter_is_read_from_its_uri(deployed):
    s3 = boto3.client("s3", region_name=SOURCE)
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket=bucket, Key="config/config.yaml", Body=yaml.safe_dump(web_job()))
    push({"config_uri": f"s3://{bucket}/config/config.yaml"})
    found = checks()
    assert found["config"].passed
    assert f"s3://{bucket}/config/config.yaml" in found["config"].message


@pytest.mark.statemachine
@pytest.mark.deploy_parameters(ScheduleState="DISABLED", NotificationEmail="ops@example.com")
def test_a_disabled_schedule_fails_naming_the_parameter(deployed):
    confirm_email_subscriptions(topic_arn())
    found = checks()
    assert not found["rules"].passed
    assert "redeploy with ScheduleState=ENABLED" in found["rules"].message


@pytest.mark.statemachine
def test_a_failing_dry_run_shows_each_jobs_result(deployed):
    push({**web_job(), "sync_gone": {**web_job("no-such-app")["sync_web"]}})
    found = checks()
    assert not found["dry_run"].passed
    assert "ended FAILED: 1 job(s) failed" in found["dry_run"].message
    details = dict(line.split(": ", 1) for line in found["dry_run"].details)
    assert details["sync_web"].startswith("would copy ami-")
    assert details["sync_gone"].startswith("failed: No EC2 Images were found")


@pytest.mark.statemachine
@pytest.mark.deploy_parameters(NotificationEmail="ops@example.com")
def test_an_unconfirmed_subscription_fails(deployed):  # not confirmed by the fixture
    found = checks()
    assert not found["subscription"].passed
    assert "email ops@example.com: PendingConfirmation" in found["subscription"].details
    assert "confirm it" in found["subscription"].message


@pytest.mark.statemachine
@pytest.mark.deploy_parameters(NotificationEmail="")
def test_no_subscription_fails_naming_the_parameter(deployed):
    found = checks()
    assert not found["subscription"].passed
    assert "redeploy with NotificationEmail set" in found["subscription"].message


# The key policy statement the stack had before, demanding what the KMS
# requests of an alarm's publish do not carry.
CONDITIONED = {"StringEquals": {"aws:SourceAccount": "123456789012"},
               "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{SOURCE}:123456789012:alarm:*"}}


@pytest.mark.statemachine
def test_a_topic_key_policy_with_source_conditions_makes_the_alarm_fail_to_deliver(deployed):
    kms = boto3.client("kms", region_name=SOURCE)
    key = boto3.client("sns", region_name=SOURCE).get_topic_attributes(
        TopicArn=topic_arn())["Attributes"]["KmsMasterKeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    for statement in policy["Statement"]:
        if statement.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}:
            statement["Condition"] = CONDITIONED
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    found = checks()
    assert not found["alarm"].passed
    assert "could not publish" in found["alarm"].message
    assert "KMS.AccessDeniedException" in found["alarm"].message


@pytest.mark.statemachine
def test_a_topic_policy_that_does_not_name_the_alarm_fails_with_the_sns_error(deployed):
    sns = boto3.client("sns", region_name=SOURCE)
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic_arn())["Attributes"]["Policy"])
    policy["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] = ["arn:aws:cloudwatch:"
                                                                        "us-east-1:1:alarm:x"]
    sns.set_topic_attributes(TopicArn=topic_arn(), AttributeName="Policy",
                             AttributeValue=json.dumps(policy))
    found = checks()
    assert not found["alarm"].passed
    assert "SNS.AuthorizationError" in found["alarm"].message


def test_a_failed_action_records_error_is_read_from_awss_summary_wording():
    """AWS writes the error into the summary (AWS re:Post: "Failed to execute action
    arn:aws:sns:...:TOPIC_NAME. Received error: "... is not authorized to perform:
    SNS:Publish ...""), with no error in HistoryData."""
    record = {"HistoryItemType": "Action", "HistoryData": "{}",
              "HistorySummary": 'Failed to execute action arn:aws:sns:us-east-1:1:t. Received '
                                'error: "Resource: arn:aws:cloudwatch:us-east-1:1:alarm:a is '
                                'not authorized to perform: SNS:Publish on resource: '
                                'arn:aws:sns:us-east-1:1:t"'}
    assert smoke_module._action_error(record) == (
        "Resource: arn:aws:cloudwatch:us-east-1:1:alarm:a is not authorized to perform: "
        "SNS:Publish on resource: arn:aws:sns:us-east-1:1:t")


@pytest.mark.statemachine
def test_an_alarm_already_in_alarm_is_still_proven(deployed):
    boto3.client("cloudwatch", region_name=SOURCE).set_alarm_state(
        AlarmName=ALARM, StateValue="ALARM", StateReason="a real failure")
    assert checks()["alarm"].passed


def test_a_stack_that_does_not_exist_exits_1_naming_it(emulated, capsys):
    code = cli.main(["smoke", "--stack", "typo", "--region", SOURCE])
    assert code == 1
    assert "stack typo not found in us-east-1" in capsys.readouterr().err


# ---------------------------------------------------------------- the emulator's alarms


def alarm_history(kind: str) -> list[dict]:
    return boto3.client("cloudwatch", region_name=SOURCE).describe_alarm_history(
        AlarmName=ALARM, HistoryItemType=kind)["AlarmHistoryItems"]


@pytest.mark.statemachine
def test_set_alarm_state_runs_the_alarms_action_once_per_change(deployed):
    cloudwatch = boto3.client("cloudwatch", region_name=SOURCE)
    for state in ("ALARM", "ALARM", "OK"):
        cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue=state, StateReason="test")
    (action,) = alarm_history("Action")  # ALARM again is no change; OK has no action
    assert action["HistorySummary"] == f"Successfully executed action {topic_arn()}"
    assert len(alarm_history("StateUpdate")) == 2
