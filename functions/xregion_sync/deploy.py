"""`xregion-sync push-config`: store a validated config where the deployed stack's
schedule reads it (the SSM parameter that template.yaml creates)."""

from __future__ import annotations

import os
from pathlib import Path

from . import aws
from .config import ClientConfig, load_config, read_config_source
from .errors import SyncError
from .execution import STATIC_KEYS_MESSAGE

MAX_PARAMETER_BYTES = 8192  # SSM's limit for advanced (Intelligent-Tiering) parameters


def config_parameter_name(stack: str) -> str:
    """The name template.yaml gives ConfigParameter: /xregion-sync/<stack name>/config."""
    return f"/xregion-sync/{stack}/config"


def push_config(path: str | os.PathLike, *, stack: str, region: str | None = None,
                profile: str | None = None) -> tuple[str, list[str]]:
    """Validate the config at `path` and store it; returns (parameter name, problems).
    Nothing is stored when there is any problem."""
    name = config_parameter_name(stack)
    config = load_config(path)
    problems = [str(error) for error in config.errors]
    problems += [f"job '{job.name}', field 'aws_client_config': {STATIC_KEYS_MESSAGE}"
                 for job in config.jobs if job.client.has_static_keys]
    text = Path(path).read_text(encoding="utf-8")
    read_config_source(text)  # the stored text must parse on its own, as it will be read
    if len(text.encode("utf-8")) > MAX_PARAMETER_BYTES:
        problems.append(
            f"the config is {len(text.encode('utf-8'))} bytes; an SSM parameter holds at most "
            f"{MAX_PARAMETER_BYTES}: upload it to S3 and start executions with "
            '{"config_uri": "s3://bucket/key"} (deploy with ConfigBucketName set)')
    region = region or _configured_region(profile)
    if not region:
        problems.append("no AWS region is configured: pass --region (the stack's region)")
    if problems:
        return name, problems
    ssm = aws.client_for(ClientConfig(profile=profile), "ssm", region)
    try:
        with aws.aws_errors("push-config", f"storing the config in {name}"):
            ssm.put_parameter(Name=name, Value=text, Type="String", Overwrite=True,
                              Tier="Intelligent-Tiering")
    except SyncError as exc:
        return name, [str(exc)]
    return name, []


def _configured_region(profile: str | None) -> str | None:
    import boto3

    try:
        return boto3.Session(profile_name=profile).region_name
    except Exception:  # an unknown profile: aws_errors reports it on the call
        return None
