"""A stand-in for the deployed stack on emulated AWS, for `xregion-sync start` and
`executions` (which find the state machine through the stack's outputs).

moto's CloudFormation cannot deploy template.yaml (the SAM transform), so the state
machine is deployed by stepfunctions.py and a stack carrying only the outputs
template.yaml declares points at it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
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
    parameter = f"/xregion-sync/{name}/config"  # template.yaml's ConfigParameter Name
    if outputs is None:
        outputs = {"StateMachineArn": arn,
                   "RunBucketName": read_template().buckets()[0],
                   "ConfigParameterName": parameter}
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
