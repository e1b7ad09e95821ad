"""A stand-in for the deployed stack on emulated AWS, for `xregion-sync start`,
`executions` and `smoke` (which find the state machine through the stack's outputs).

moto's CloudFormation cannot deploy template.yaml (the SAM transform), so the state
machine is deployed by stepfunctions.py, the resources `smoke` checks (the rules that start
the state machine, the failure topic, its KMS key and policy, the e-mail subscription, the
alarms) are created through the APIs from the transformed template, as deployed with the
emulator's deploy parameters, and a stack carrying the outputs template.yaml declares
points at them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import boto3

from .stepfunctions import REGION, _deployments, deploy
from .template import LOCAL_STACK_NAME, read_template


@contextmanager
def local_stack(name: str = LOCAL_STACK_NAME, *, outputs: dict[str, str] | None = None,
                tags: dict[str, str] | None = None) -> Iterator[str]:
    """Deploy the local state machine and create stack `name` whose outputs name it (or
    exactly `outputs`, to test a stack without them); returns the state machine ARN. Inside,
    the task functions' environment is set, as Lambda sets it, so executions started
    through the API (not execute_state_machine) run as deployed; `tags` are the stack's, as
    `sam deploy --tags` gives them. Use inside emulated_aws()."""
    from . import current_emulator_id

    arn = deploy()
    created = create_stack_resources(name)
    parameter = f"/xregion-sync/{name}/config"  # template.yaml's ConfigParameter Name
    if outputs is None:
        outputs = {"StateMachineArn": arn,
                   "RunBucketName": read_template().buckets()[0],
                   "ConfigParameterName": parameter, **created}
    create_stack(name, outputs, tags)
    # The one state machine serves a stack of any name: its tasks read that stack's config.
    environment = {**_deployments[current_emulator_id()].environment,
                   "CONFIG_PARAMETER_NAME": parameter}
    with mock.patch.dict(os.environ, environment):
        yield arn


def create_stack(name: str, outputs: dict[str, str], tags: dict[str, str] | None = None) -> None:
    """A CloudFormation stack `name` with `outputs` and the parameters `sam deploy` would
    have given it: template.yaml's defaults, overridden by the emulator's deploy parameters
    (the ones its IAM enforces)."""
    from .iam import current_enforcement

    template = read_template()
    enforcement = current_enforcement()
    parameters = {key: "" if value is None else str(value) for key, value in (
        (key, template.parameter_default(key)) for key in template.raw.get("Parameters", {}))}
    parameters.update(enforcement.parameters if enforcement else {})
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=name, TemplateBody=json.dumps({
            "Parameters": {key: {"Type": "String"} for key in parameters},
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()}}),
        Parameters=[{"ParameterKey": key, "ParameterValue": value}
                    for key, value in parameters.items()],
        Tags=[{"Key": key, "Value": value} for key, value in (tags or {}).items()])


# The resources `smoke` checks, in the order their references need.
STACK_RESOURCE_TYPES = ("AWS::Events::Rule", "AWS::KMS::Key", "AWS::SNS::Topic",
                        "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription",
                        "AWS::CloudWatch::Alarm")


def create_stack_resources(stack_name: str = LOCAL_STACK_NAME) -> dict[str, str]:
    """Create the stack's rules, failure topic (with its key, policy and subscription) and
    alarms as template.yaml deploys them with the emulator's deploy parameters; returns the
    outputs that name them (FailureTopicArn, StaleJobsAlarmName)."""
    from .deployed_policies import deployed_stack
    from .iam import current_enforcement

    enforcement = current_enforcement()
    stack = deployed_stack(enforcement.parameters if enforcement else {}, stack_name=stack_name)
    keys: dict[str, str] = {}  # logical id -> key ARN
    outputs: dict[str, str] = {}
    for kind in STACK_RESOURCE_TYPES:
        for logical_id, resource in stack.resources.items():
            if resource["Type"] == kind:
                properties = stack.resolve(resource.get("Properties", {}))
                _create(kind, logical_id, properties, keys, outputs)
    return outputs


def _create(kind: str, logical_id: str, properties: dict[str, Any], keys: dict[str, str],
            outputs: dict[str, str]) -> None:
    if kind == "AWS::Events::Rule":
        events = boto3.client("events", region_name=REGION)
        pattern = ({"EventPattern": json.dumps(properties["EventPattern"])}
                   if "EventPattern" in properties else
                   {"ScheduleExpression": properties["ScheduleExpression"]})
        events.put_rule(Name=logical_id, State=properties["State"], **pattern)
        events.put_targets(Rule=logical_id, Targets=[
            {"Id": target["Id"], "Arn": target["Arn"], "RoleArn": target["RoleArn"]}
            for target in properties["Targets"]])
    elif kind == "AWS::KMS::Key":
        keys[logical_id] = boto3.client("kms", region_name=REGION).create_key(
            Description=properties.get("Description", ""),
            Policy=json.dumps(properties["KeyPolicy"]))["KeyMetadata"]["Arn"]
    elif kind == "AWS::SNS::Topic":
        key = properties.get("KmsMasterKeyId")
        outputs["FailureTopicArn"] = boto3.client("sns", region_name=REGION).create_topic(
            Name=logical_id, Attributes={"KmsMasterKeyId": keys.get(key, key)} if key else {}
        )["TopicArn"]
    elif kind == "AWS::SNS::TopicPolicy":
        for topic in properties["Topics"]:
            boto3.client("sns", region_name=REGION).set_topic_attributes(
                TopicArn=topic, AttributeName="Policy",
                AttributeValue=json.dumps(properties["PolicyDocument"]))
    elif kind == "AWS::SNS::Subscription":
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=properties["TopicArn"], Protocol=properties["Protocol"],
            Endpoint=properties["Endpoint"])
    elif kind == "AWS::CloudWatch::Alarm":
        boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(**properties)
        if logical_id == "StaleJobsAlarm":
            outputs["StaleJobsAlarmName"] = properties["AlarmName"]
