"""`xregion-sync push-config`: store a validated config where the deployed stack's
schedule reads it: the SSM parameter that template.yaml creates, or, for a config too
large for a parameter, the stack's run bucket (config/config.yaml, versioned), with the
parameter then naming it (`config_uri: s3://...`)."""

from __future__ import annotations

import os
from pathlib import Path

from . import aws
from .config import load_config, read_config_source
from .errors import SyncError
from .execution import state_machine_errors
from .spec import ClientConfig

MAX_PARAMETER_BYTES = 8192  # SSM's limit for advanced (Intelligent-Tiering) parameters
CONFIG_OBJECT_KEY = "config/config.yaml"
RUN_BUCKET_OUTPUT = "RunBucketName"


def config_parameter_name(stack: str) -> str:
    """The name template.yaml gives ConfigParameter: /xregion-sync/<stack name>/config."""
    return f"/xregion-sync/{stack}/config"


def push_config(path: str | os.PathLike[str], *, stack: str, region: str | None = None,
                profile: str | None = None, bucket: str | None = None) -> tuple[str, list[str]]:
    """Validate the config at `path` and store it; returns (where it went, problems).
    Nothing is stored when there is any problem. `bucket` overrides the stack's run
    bucket (read from the stack's outputs) for a config too large for the parameter."""
    name = config_parameter_name(stack)
    config = load_config(path)
    problems = [str(error) for error in config.errors]
    problems += [str(e) for entry in config.entries for e in state_machine_errors(entry)]
    text = Path(path).read_text(encoding="utf-8")
    read_config_source(text)  # the stored text must parse on its own, as it will be read
    region = region or _configured_region(profile)
    if not region:
        problems.append("no AWS region is configured: pass --region (the stack's region)")
    if problems or not region:  # (no region is one of the problems)
        return name, problems
    settings = ClientConfig(profile=profile)
    try:
        where = name
        if len(text.encode("utf-8")) > MAX_PARAMETER_BYTES:
            bucket = bucket or _stack_output(settings, region, stack, RUN_BUCKET_OUTPUT)
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
        return name, [str(exc)]
    return where, []


def _stack_output(settings: ClientConfig, region: str, stack: str, key: str) -> str:
    with aws.aws_errors("", f"reading the outputs of stack {stack}"):
        stacks = aws.client_for(settings, "cloudformation", region).describe_stacks(
            StackName=stack)["Stacks"]
    outputs: dict[str, str] = {o["OutputKey"]: o["OutputValue"]
                               for o in stacks[0].get("Outputs") or ()}
    if key not in outputs:
        raise SyncError(f"stack {stack} has no output {key}: deploy the current template.yaml "
                        "(or pass --bucket)")
    return outputs[key]


def _configured_region(profile: str | None) -> str | None:
    import boto3

    try:
        region: str | None = boto3.Session(profile_name=profile).region_name
        return region
    except Exception:  # an unknown profile: aws_errors reports it on the call
        return None
