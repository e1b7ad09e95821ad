"""Each task Lambda's IAM policies as `sam deploy` makes them from template.yaml.

The template goes through the SAM translator (its public transform, offline: the managed
policy map is the two AWS managed policies SAM attaches), then CloudFormation's intrinsic
functions are resolved with the deploy parameters (template defaults unless overridden)
in a fixed account and region. A function's policies are its role's inline policies,
its AWS managed policies (their documents below) and every AWS::IAM::ManagedPolicy of the
template attached to its role, whether listed in the role's ManagedPolicyArns or naming
the role in its own Roles.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from unittest import mock

from .template import LOCAL_STACK_NAME, local_bucket_name, local_machine_name, read_template

PARTITION = "aws"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# What `sam package` leaves in the template in place of local paths.
PACKAGED_CODE_URI = "s3://xregion-sync-packaged/functions.zip"
PACKAGED_DEFINITION_URI = "s3://xregion-sync-packaged/xregion_sync.asl.json"

# The AWS managed policies SAM attaches to every function role here (logs, and X-Ray for
# Tracing: Active), as AWS publishes them. They serve the Lambda runtime, not the handlers.
AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "AWSLambdaBasicExecutionRole": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                      "logs:PutLogEvents"], "Resource": "*"}]},
    "AWSXrayWriteOnlyAccess": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                      "xray:GetSamplingRules", "xray:GetSamplingTargets",
                                      "xray:GetSamplingStatisticSummaries"],
        "Resource": "*"}]},
}
AWS_MANAGED_POLICY_ARNS = {
    "AWSLambdaBasicExecutionRole":
        f"arn:{PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": f"arn:{PARTITION}:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
_NO_VALUE = object()


@dataclass(frozen=True)
class NamedPolicy:
    name: str
    document: dict[str, Any]
    aws_managed: bool = False  # for the runtime; the handlers' calls never need it


class _ManagedPolicyMap:
    """samtranslator's managed policy loader, without calling IAM."""

    @staticmethod
    def load() -> dict[str, str]:
        return dict(AWS_MANAGED_POLICY_ARNS)


def function_policies(parameters: Mapping[str, str] | None = None
                      ) -> dict[str, list[NamedPolicy]]:
    """Function logical id -> the policies of its role, resolved."""
    return dict(_function_policies(tuple(sorted((parameters or {}).items()))))


def role_policies(parameters: Mapping[str, str] | None = None) -> dict[str, list[NamedPolicy]]:
    """Every role of the stack (functions, state machine, schedule) -> its policies."""
    return dict(_role_policies(tuple(sorted((parameters or {}).items()))))


def deployed_stack(parameters: Mapping[str, str] | None = None, *,
                   stack_name: str = LOCAL_STACK_NAME) -> _DeployedStack:
    """The transformed template as deployed with `parameters` as stack `stack_name`:
    .resources (those its conditions keep) and .resolve(node) for their properties."""
    return _DeployedStack(dict(parameters or {}), stack_name)


def resource_policy(logical_id: str, document_property: str) -> dict[str, Any]:
    """A resource's own policy (a KMS key's KeyPolicy, a topic policy's PolicyDocument) as
    deployed, its intrinsic functions resolved."""
    stack = _DeployedStack({})
    document: dict[str, Any] = stack.resolve(
        stack.resources[logical_id]["Properties"][document_property])
    return document


@cache
def _function_policies(parameters: tuple[tuple[str, str], ...]) -> dict[str, list[NamedPolicy]]:
    stack = _DeployedStack(dict(parameters))
    roles = _role_policies(parameters)
    return {logical_id: roles[stack.role_of(resource)]
            for logical_id, resource in stack.resources.items()
            if resource["Type"] == "AWS::Lambda::Function"}


@cache
def _role_policies(parameters: tuple[tuple[str, str], ...]) -> dict[str, list[NamedPolicy]]:
    stack = _DeployedStack(dict(parameters))
    return {logical_id: stack.policies_of_role(logical_id)
            for logical_id, resource in stack.resources.items()
            if resource["Type"] == "AWS::IAM::Role"}


def transformed_template() -> dict[str, Any]:
    """template.yaml as the SAM translator hands it to CloudFormation."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(read_template().raw)
    template["Globals"]["Function"]["CodeUri"] = PACKAGED_CODE_URI
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            resource["Properties"]["DefinitionUri"] = PACKAGED_DEFINITION_URI
    # The translator reads the region from the environment (for ARNs it generates).
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}):
        transformed: dict[str, Any] = transform(template, {}, _ManagedPolicyMap())
        return transformed


class _DeployedStack:
    """The transformed template with CloudFormation's intrinsic functions resolved."""

    def __init__(self, overrides: dict[str, str], stack_name: str = LOCAL_STACK_NAME):
        self.template = _transformed()
        self.stack_name = stack_name
        declared = self.template.get("Parameters", {})
        unknown = set(overrides) - set(declared)
        if unknown:
            raise ValueError(f"template.yaml has no parameters {sorted(unknown)}")
        self.parameters = {
            name: self._parameter_value(spec, overrides.get(name, spec.get("Default", "")))
            for name, spec in declared.items()}
        self._conditions = self.template.get("Conditions", {})
        self.resources = {logical_id: resource
                          for logical_id, resource in self.template["Resources"].items()
                          if self.condition(resource.get("Condition"))}

    @staticmethod
    def _parameter_value(spec: dict[str, Any], value: Any) -> Any:
        if spec.get("Type") == "CommaDelimitedList":
            return [part.strip() for part in str(value).split(",")]
        return str(value)

    def condition(self, name: str | None) -> bool:
        return True if name is None else bool(self.resolve(self._conditions[name]))

    def role_of(self, function: dict[str, Any]) -> str:
        role_id: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
        return role_id

    def policies_of_role(self, role_id: str) -> list[NamedPolicy]:
        properties = self.resources[role_id]["Properties"]
        policies = [NamedPolicy(p["PolicyName"], self.resolve(p["PolicyDocument"]))
                    for p in properties.get("Policies", [])]
        for arn in self.resolve(properties.get("ManagedPolicyArns", [])):
            policies.append(self._managed_policy(arn))
        for logical_id, resource in self.resources.items():
            attached = resource["Type"] == "AWS::IAM::ManagedPolicy" and role_id in [
                r.get("Ref") for r in resource["Properties"].get("Roles", [])]
            if attached:
                policies.append(NamedPolicy(
                    logical_id, self.resolve(resource["Properties"]["PolicyDocument"])))
        return policies

    def _managed_policy(self, arn: str) -> NamedPolicy:
        for name, known in AWS_MANAGED_POLICY_ARNS.items():
            if arn == known:
                return NamedPolicy(name, AWS_MANAGED_POLICIES[name], aws_managed=True)
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::IAM::ManagedPolicy" and arn == self._ref(logical_id):
                return NamedPolicy(logical_id,
                                   self.resolve(resource["Properties"]["PolicyDocument"]))
        raise ValueError(f"managed policy {arn} has no known document: add it to "
                         "AWS_MANAGED_POLICIES in deployed_policies.py")

    # ------------------------------------------------------------ intrinsic functions

    def resolve(self, node: Any) -> Any:
        value = self._resolve(node)
        return None if value is _NO_VALUE else value

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self._resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, argument), = node.items()
            function = self._FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument)
        resolved = {key: self._resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def _fn_ref(self, name: str) -> Any:
        pseudo = {"AWS::Partition": PARTITION, "AWS::AccountId": ACCOUNT_ID,
                  "AWS::Region": REGION, "AWS::StackName": self.stack_name,
                  "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": _NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._ref(name)

    def _ref(self, logical_id: str) -> str:
        """What Ref returns for a resource (the local deployment's names)."""
        kind = self.template["Resources"][logical_id]["Type"]
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy/{logical_id}"
        if kind == "AWS::SSM::Parameter":
            name: str = self.resolve(self.template["Resources"][logical_id]["Properties"]["Name"])
            return name
        if kind == "AWS::StepFunctions::StateMachine":
            return (f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:"
                    f"{local_machine_name(logical_id)}")
        if kind == "AWS::SNS::Topic":
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT_ID}:{logical_id}"
        if kind == "AWS::S3::Bucket":
            return local_bucket_name(logical_id)
        return logical_id

    def _fn_get_att(self, argument: list[str]) -> str:
        logical_id, attribute = argument
        kind = self.template["Resources"][logical_id]["Type"]
        arns = {
            "AWS::Lambda::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:"
                                     f"{logical_id}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{logical_id}",
            "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT_ID}:log-group:"
                                   f"{logical_id}:*",
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{local_bucket_name(logical_id)}",
        }
        if attribute != "Arn" or kind not in arns:
            raise ValueError(f"Fn::GetAtt {logical_id}.{attribute} is not modelled")
        return arns[kind]

    def _fn_sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {name: self._resolve(value) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self._fn_get_att(name.split(".", 1))
            return str(self._fn_ref(name))

        return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)

    def _fn_if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(name) else when_false)

    def _fn_join(self, argument: list[Any]) -> str:
        separator: str
        separator, items = argument
        return separator.join(str(item) for item in self._resolve(items))

    _FUNCTIONS: dict[str, Callable[[_DeployedStack, Any], Any]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::If": _fn_if,
        "Fn::Join": _fn_join,
        "Fn::Equals": lambda self, a: self._resolve(a[0]) == self._resolve(a[1]),
        "Fn::Not": lambda self, a: not self._resolve(a[0]),
        "Fn::Or": lambda self, a: any(self._resolve(item) for item in a),
        "Fn::And": lambda self, a: all(self._resolve(item) for item in a),
        "Condition": lambda self, name: self.condition(name),
        "Fn::Condition": lambda self, name: self.condition(name),
    }


@cache
def _transformed() -> dict[str, Any]:
    return transformed_template()
