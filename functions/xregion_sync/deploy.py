"""`xregion-sync push-config`: store a validated config where the deployed stack's
schedule reads it: the SSM parameter that template.yaml creates, or, for a config too
large for a parameter, the stack's run bucket (config/config.yaml, versioned), with the
parameter then naming it (`config_uri: s3://...`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from . import aws
from .config import Config, load_config, read_config_source
from .errors import SyncError
from .execution import state_machine_errors
from .spec import ClientConfig

MAX_PARAMETER_BYTES = 8192  # SSM's limit for advanced (Intelligent-Tiering) parameters
CONFIG_OBJECT_KEY = "config/config.yaml"
RUN_BUCKET_OUTPUT = "RunBucketName"


def config_parameter_name(stack: str) -> str:
    """The name template.yaml gives ConfigParameter: /xregion-sync/<stack name>/config."""
    return f"/xregion-sync/{stack}/config"


@dataclass
class Pushed:
    """What push-config did: where the config went (when stored), the problems that stopped
    it (then nothing was stored) and the warnings about the deployed stack."""

    where: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def push_config(path: str | os.PathLike[str], *, stack: str, region: str | None = None,
                profile: str | None = None, bucket: str | None = None) -> Pushed:
    """Validate the config at `path`, check it against the deployed stack and store it.
    Nothing is stored when there is any problem (a config error, a stack that does not
    exist, a role or secret the stack's parameters do not grant). `bucket` overrides the
    stack's run bucket (read from the stack's outputs) for a config too large for the
    parameter."""
    name = config_parameter_name(stack)
    config = load_config(path)
    problems = [str(error) for error in config.errors]
    problems += [str(e) for entry in config.entries for e in state_machine_errors(entry)]
    text = Path(path).read_text(encoding="utf-8")
    read_config_source(text)  # the stored text must parse on its own, as it will be read
    region = region or configured_region(profile)
    if not region:
        problems.append("no AWS region is configured: pass --region (the stack's region)")
    if problems or not region:  # (no region is one of the problems), and no AWS call
        return Pushed(name, problems)
    settings = ClientConfig(profile=profile)
    try:
        deployed = describe_stack(settings, region, stack)
    except SyncError as exc:
        return Pushed(name, [str(exc)])
    gaps = deployment_gaps(config, deployed.parameters)
    problems = [gap.message for gap in gaps if gap.severity == "error"]
    warnings = [gap.message for gap in gaps if gap.severity == "warning"]
    if problems:
        return Pushed(name, problems, warnings)
    try:
        where = name
        if len(text.encode("utf-8")) > MAX_PARAMETER_BYTES:
            bucket = bucket or deployed.output(RUN_BUCKET_OUTPUT)
            uri = f"s3://{bucket}/{CONFIG_OBJECT_KEY}"
            with aws.aws_errors("", f"storing the config in {uri}"):
                aws.client_for(settings, "s3", region).put_object(
                    Bucket=bucket, Key=CONFIG_OBJECT_KEY, Body=text.encode("utf-8"),
                    ContentType="application/yaml")
            text, where = f"config_uri: {uri}\n", f"{uri} (named by {name})"
        with aws.aws_errors("", f"storing the config in {name}"):
            aws.client_for(settings, "ssm", region).put_parameter(
                Name=name, Value=text, Type="String", Overwrite=True,
                Tier="Intelligent-Tiering")
    except SyncError as exc:
        return Pushed(name, [str(exc)], warnings)
    return Pushed(where, [], warnings)


# ---------------------------------------------------------------- the deployed stack


@dataclass(frozen=True)
class DeployedStack:
    name: str
    region: str
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]

    def output(self, key: str) -> str:
        if key not in self.outputs:
            raise SyncError(f"stack {self.name} has no output {key}: deploy the current "
                            "template.yaml (or pass --bucket)")
        return self.outputs[key]


def describe_stack(settings: ClientConfig, region: str, stack: str) -> DeployedStack:
    """The stack's outputs and parameters; a SyncError saying what to do when it is not
    there (CloudFormation answers ValidationError "Stack with id ... does not exist")."""
    cloudformation = aws.client_for(settings, "cloudformation", region)
    try:
        with aws.aws_errors("", f"reading stack {stack} in {region}"):
            stacks: list[dict[str, Any]] = cloudformation.describe_stacks(
                StackName=stack)["Stacks"]
    except SyncError as exc:
        if "does not exist" not in str(exc):
            raise
        stacks = []
    if not stacks or stacks[0].get("StackStatus") in GONE_STACK_STATUSES:
        raise SyncError(f"stack {stack} does not exist in {region}: deploy it first "
                        "(sam deploy), or check --stack and --region")
    found = stacks[0]
    return DeployedStack(
        stack, region,
        outputs={o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or ()},
        parameters={p["ParameterKey"]: p.get("ParameterValue", "")
                    for p in found.get("Parameters") or ()})


# A stack in these states has no resources left to run a config.
GONE_STACK_STATUSES = ("DELETE_COMPLETE", "ROLLBACK_COMPLETE")


@dataclass(frozen=True)
class Gap:
    """Something the config needs that the deployed stack does not give it."""

    job: str
    parameter: str
    severity: str  # "error": the job would fail with AccessDenied; "warning"
    message: str


# template.yaml's parameters that grant a config's settings: the config field -> the
# parameter whose list must cover it (ARNs, IAM wildcards allowed).
GRANTING_PARAMETERS = {"role_arn": "JobRoleArns", "source_role_arn": "JobRoleArns",
                       "credentials_secret_arn": "CredentialsSecretArns"}


def deployment_gaps(config: Config, parameters: Mapping[str, str]) -> list[Gap]:
    """What `config` needs from the stack's parameters and does not get: every role a job
    assumes must be in JobRoleArns and every credentials secret in CredentialsSecretArns
    (else its Lambdas are denied at run time), and alarms need a NotificationEmail."""
    gaps = []
    for entry in config.entries:
        if entry.spec is None:
            continue
        for field_name, value in _granted_settings(entry.spec.client.to_dict(),
                                                   entry.spec.options):
            parameter = GRANTING_PARAMETERS[field_name]
            if parameter not in parameters:
                continue  # a stack of another template version: nothing to compare
            granted = [arn.strip() for arn in parameters[parameter].split(",") if arn.strip()]
            if not any(fnmatchcase(value, pattern) for pattern in granted):
                gaps.append(Gap(entry.name, parameter, "error", (
                    f"job '{entry.name}', field '{field_name}': {value} is not in the "
                    f"stack's {parameter} parameter, so its Lambdas may not use it "
                    f"(AccessDenied at run time): redeploy with {parameter} listing it "
                    f"(sam deploy --parameter-overrides {parameter}=...)")))
    if parameters.get("NotificationEmail", None) == "":
        gaps.append(Gap("", "NotificationEmail", "warning", (
            "the stack's NotificationEmail parameter is empty: its alarms (failed "
            "executions, stale copies) notify nobody; redeploy with NotificationEmail set")))
    return gaps


def _granted_settings(client: Mapping[str, Any],
                      options: Mapping[str, Any]) -> list[tuple[str, str]]:
    settings = [(name, client[name]) for name in ("role_arn", "credentials_secret_arn")
                if client.get(name)]
    if options.get("source_role_arn"):
        settings.append(("source_role_arn", options["source_role_arn"]))
    return settings


def configured_region(profile: str | None) -> str | None:
    import boto3

    try:
        region: str | None = boto3.Session(profile_name=profile).region_name
        return region
    except Exception:  # an unknown profile: aws_errors reports it on the call
        return None


# ---------------------------------------------------------------- deleting the stack

RUN_BUCKET_RESOURCE = "RunBucket"  # template.yaml's logical id


@dataclass
class Deleted:
    """What delete_stack did: the run bucket's object versions removed, and whether the
    stack's deletion was started."""

    stack: str
    bucket: str | None
    versions_deleted: int = 0
    stack_deletion_started: bool = False


def delete_stack(stack: str, *, region: str | None = None,
                 profile: str | None = None) -> Deleted:
    """Empty the stack's run bucket (every object version and delete marker: it is
    versioned, and CloudFormation cannot delete a bucket that holds any) and delete the
    stack. Only the bucket that is the stack's own RunBucket resource is emptied; the DR
    copies (AMIs, snapshots) are never touched. Raises SyncError saying what to do."""
    region = region or configured_region(profile)
    if not region:
        raise SyncError("no AWS region is configured: pass --region (the stack's region)")
    settings = ClientConfig(profile=profile)
    describe_stack(settings, region, stack)  # exists, or says so
    cloudformation = aws.client_for(settings, "cloudformation", region)
    with aws.aws_errors("", f"listing the resources of stack {stack}"):
        resources = [resource for page in cloudformation.get_paginator(
            "list_stack_resources").paginate(StackName=stack)
            for resource in page["StackResourceSummaries"]]
    bucket = next((r.get("PhysicalResourceId") for r in resources
                   if r["LogicalResourceId"] == RUN_BUCKET_RESOURCE
                   and r["ResourceType"] == "AWS::S3::Bucket"
                   and r.get("ResourceStatus") != "DELETE_COMPLETE"), None)
    deleted = Deleted(stack, bucket)
    if bucket:
        deleted.versions_deleted = _empty_bucket(settings, region, bucket)
    with aws.aws_errors("", f"deleting stack {stack}"):
        cloudformation.delete_stack(StackName=stack)
    deleted.stack_deletion_started = True
    return deleted


def _empty_bucket(settings: ClientConfig, region: str, bucket: str) -> int:
    s3 = aws.client_for(settings, "s3", region)
    count = 0
    with aws.aws_errors("", f"emptying the run bucket {bucket}"):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            versions = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            if versions:  # a page holds at most 1,000: DeleteObjects' limit too
                answer = s3.delete_objects(Bucket=bucket,
                                           Delete={"Objects": versions, "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise SyncError(f"could not delete {first.get('Key')} from {bucket}: "
                                    f"{first.get('Code')} {first.get('Message')}")
                count += len(versions)
    return count
