"""The state machine's bookends: load the config at the start of an execution, and
turn the per-job results into the execution's output at the end.

Load Config reads the config from the execution input ({"config": {...}}), from
{"config_uri": "ssm:<name>" | "s3://bucket/key"}, or, for an empty input (the
schedule), from the stack's own SSM parameter. Static access keys are refused:
execution input, output and history are readable in the console.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from . import aws
from .config import CONFIG_LEVEL, load_config, parse_yaml
from .errors import ConfigError
from .result import COPIED, DEFERRED, FAILED, IN_SYNC, JobError, SyncResult, capped_message

CONFIG_PARAMETER_ENV = "CONFIG_PARAMETER_NAME"
MAX_CONCURRENCY_ENV = "MAP_MAX_CONCURRENCY"
DEFAULT_MAX_CONCURRENCY = 10
MAX_CONFIG_OBJECT_BYTES = 1024 * 1024
# Step Functions passes at most 256 KiB between states; Load Config's plan (every job's
# spec) must fit with room to spare.
MAX_PLAN_BYTES = 240 * 1024
INPUT_KEYS = ("config", "config_uri")
MAX_FAIL_CAUSE_CHARS = 32_768  # AWS's cap on a Fail state's cause
FAILED_RESULTS_IN_CAUSE = 5
logger = logging.getLogger(__name__)
STATIC_KEYS_MESSAGE = (
    "static access keys are not accepted by the state machine, because execution input, "
    "output and history would show them: use 'role_arn' (a role the task Lambdas assume) "
    "or 'credentials_secret_arn' (a Secrets Manager secret the task Lambdas read)")


def plan_execution(event: Mapping[str, Any] | None, execution_name: str) -> dict[str, Any]:
    """Execution input -> {run_id, max_concurrency, jobs: [Map items]}."""
    entries = load_config(_config_source(event or {})).entries
    items = []
    for entry in entries:
        errors = list(entry.errors)
        if entry.spec and entry.spec.client.has_static_keys:
            errors.append(ConfigError(f"job '{entry.name}', field 'aws_client_config': "
                                      f"{STATIC_KEYS_MESSAGE}", job=entry.name))
        if errors:
            failed = SyncResult.failure(entry.name, entry.sync_type, errors).to_dict()
            items.append({"job": None, "result": failed})
        else:
            items.append({"job": entry.spec.to_dict(), "result": None})
    plan = {"run_id": execution_name, "max_concurrency": _max_concurrency(), "jobs": items}
    size = len(json.dumps(plan).encode())  # as the Lambda runtime serializes it
    if size > MAX_PLAN_BYTES:
        raise ConfigError(
            f"the config's {len(items)} jobs make a plan of {size} bytes, and Step Functions "
            f"passes at most 256 KiB between states: split the jobs over several configs and "
            "start one execution for each ({\"config_uri\": ...})", job=CONFIG_LEVEL)
    return plan


def caught(exc: BaseException) -> dict[str, Any]:
    """What a Catch with ResultPath $.error adds to the state for a task's exception:
    the Lambda runtime's error name and its JSON cause."""
    cause = {"errorType": type(exc).__name__, "errorMessage": str(exc) or type(exc).__name__}
    return {"error": {"Error": cause["errorType"], "Cause": json.dumps(cause)}}


def record_failure(state: Mapping[str, Any]) -> dict[str, Any]:
    """A failed result from a step's caught error ({"Error", "Cause"} in state["error"])."""
    error = state.get("error") or {}
    name, message = error.get("Error", "Error"), error.get("Cause") or ""
    try:
        cause = json.loads(message)
        if isinstance(cause, dict):
            name = cause.get("errorType") or name
            message = cause.get("errorMessage") or message
    except ValueError:
        pass  # a Step Functions error (States.Timeout, ...) with a plain-text cause
    job = state.get("job") or {}
    if not message or name == "States.Timeout":
        message = f"job '{job.get('name')}': {name}: {message or 'the step failed'}"
    copy = state.get("copy") or {}  # a copy made before the failure is still reported
    if capped_message(message) != message:
        logger.warning("Job failed; its result carries a shortened message",
                       extra={"job": job.get("name"), "error": name, "reason": message})
    return SyncResult(job.get("name"), job.get("sync_type"), FAILED,
                      created_resource=copy.get("id"), copy_state=copy.get("state"),
                      pruned=list(state.get("pruned") or ()),
                      errors=[JobError(name, message)]).to_dict()


def summarize(results: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The execution's document; with failed jobs also the Jobs Failed state's cause."""
    statuses = [r.get("status") for r in results]
    document = {
        "results": list(results),
        "summary": {"total": len(results), "copied": statuses.count(COPIED),
                    "in_sync": statuses.count(IN_SYNC), "deferred": statuses.count(DEFERRED),
                    "failed": statuses.count(FAILED)},
    }
    if document["summary"]["failed"]:
        document["failure_cause"] = failure_cause(results)
    return document


def failure_cause(results: list[Mapping[str, Any]]) -> str:
    """The Fail state's cause: the count and the first few failed results, within AWS's
    32,768-character cap on a cause (the ASL only points at it: no filter expressions)."""
    failed = [r for r in results if r.get("status") == FAILED]
    shown = failed[:FAILED_RESULTS_IN_CAUSE]
    while True:
        cause = (f"{len(failed)} of {len(results)} jobs failed. The first of them (every "
                 f"result is in the input of this state): {json.dumps(shown)}")
        if len(cause) <= MAX_FAIL_CAUSE_CHARS or not shown:
            return cause[:MAX_FAIL_CAUSE_CHARS]
        shown = shown[:-1]


# ---------------------------------------------------------------- config sources


def _config_source(event: Mapping[str, Any]) -> Mapping | str:
    if _is_schedule(event):
        return _read_uri(f"ssm:{_stack_parameter()}")
    unknown = sorted(set(event) - set(INPUT_KEYS))
    if unknown or len([k for k in INPUT_KEYS if k in event]) > 1:
        raise ConfigError(
            f"execution input: expected {{}} or one of {INPUT_KEYS}, got keys {sorted(event)}",
            job=CONFIG_LEVEL)
    if "config" in event:
        config = event["config"]
        if isinstance(config, str):
            return parse_yaml(config)
        if not isinstance(config, Mapping):
            raise ConfigError("execution input: 'config' must be a mapping of jobs",
                              job=CONFIG_LEVEL, field="config")
        return config
    return _read_uri(event["config_uri"])


def _is_schedule(event: Mapping[str, Any]) -> bool:
    """Empty input, or the event EventBridge sends when no Input is set."""
    return not event or event.get("source") == "aws.events" or "detail-type" in event


def _stack_parameter() -> str:
    name = os.environ.get(CONFIG_PARAMETER_ENV)
    if not name:
        raise ConfigError(f"no config given and {CONFIG_PARAMETER_ENV} is not set: pass "
                          "{'config': ...} or {'config_uri': ...}", job=CONFIG_LEVEL)
    return name


def _read_uri(uri: Any) -> Mapping:
    if not isinstance(uri, str) or not uri.startswith(("ssm:", "s3://")):
        raise ConfigError(f"execution input: config_uri must be 'ssm:<parameter name>' or "
                          f"'s3://<bucket>/<key>', got {uri!r}", job=CONFIG_LEVEL,
                          field="config_uri")
    with aws.aws_errors(CONFIG_LEVEL, f"reading the config from {uri}"):
        try:
            text = _read_ssm(uri[4:]) if uri.startswith("ssm:") else _read_s3(uri)
        except aws.ClientError as exc:
            if aws.error_code(exc) in ("ParameterNotFound", "NoSuchKey", "NoSuchBucket"):
                raise ConfigError(f"the config at {uri} does not exist ({aws.error_code(exc)})"
                                  "; store it with `xregion-sync push-config`",
                                  job=CONFIG_LEVEL, field="config_uri") from None
            raise
    return parse_yaml(text)


def _read_ssm(name: str) -> str:
    answer = aws.tool_client("ssm").get_parameter(Name=name, WithDecryption=True)
    return answer["Parameter"]["Value"]


def _read_s3(uri: str) -> str:
    bucket, _, key = uri[len("s3://"):].partition("/")
    body = aws.tool_client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    data = body.read(MAX_CONFIG_OBJECT_BYTES + 1)
    if len(data) > MAX_CONFIG_OBJECT_BYTES:
        raise ConfigError(f"the config at {uri} is larger than {MAX_CONFIG_OBJECT_BYTES} bytes",
                          job=CONFIG_LEVEL, field="config_uri")
    return data.decode("utf-8", errors="replace")


def _max_concurrency() -> int:
    try:
        return max(0, int(os.environ.get(MAX_CONCURRENCY_ENV, DEFAULT_MAX_CONCURRENCY)))
    except ValueError:
        return DEFAULT_MAX_CONCURRENCY

