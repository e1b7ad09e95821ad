"""The real state machine (statemachine/ + template.yaml) on emulated AWS.

moto's Step Functions interpreter executes the ASL; its Lambda invokes are
dispatched in-process to the real handlers (moto.md: the LambdaSimpleBackend.invoke
seam). Only timings differ from a deployment: Retry intervals are shortened so a
local run never sleeps long.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import time
import traceback
import uuid
import zipfile
from collections.abc import Hashable, Iterator, MutableMapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3

from xregion_sync import aws
from xregion_sync.result import SyncResult

from .distributed_map import ChildExecution, child_executions
from .iam import acting_as, running_function
from .moto_seam import replace
from .quotas import AwsQuotas
from .stepfunctions_quotas import lambda_payload_error
from .template import (
    SYNC_MACHINE,
    MachineSpec,
    StackTemplate,
    local_machine_name,
    read_template,
)

if TYPE_CHECKING:
    from xregion_sync.config import ConfigSource

    from .moto_seam import LambdaSimpleBackend

REGION = "us-east-1"
ROLE_NAME = "xregion-sync-local-tasks"
EXECUTION_DEADLINE_SECONDS = 900
LOCAL_RETRY_TIMING = {"IntervalSeconds": 1, "BackoffRate": 1.0, "MaxDelaySeconds": 1}


@dataclass
class LocalExecution:
    """The outcome of one execution on the local state machine."""

    arn: str
    status: str
    output: Any
    history: list[dict[str, Any]]
    error: str | None = None
    cause: str | None = None
    input: Any = None

    def results(self) -> list[SyncResult]:
        """The per-job results, from the output or (failed execution) the Fail state's input:
        inline (`results`: [...]) or, when they outgrow an execution's payload, a JSON array in
        emulated S3 (`results_uri`: "s3://bucket/key")."""
        from xregion_sync.operate import read_results

        document = (self.output if self.output is not None else self.final_document()) or {}
        return read_results(document, boto3.client("s3", region_name=REGION))

    def final_document(self) -> Any:
        """The {results, summary} document the state before the Fail state passed on."""
        from xregion_sync.operate import fail_state_document

        return fail_state_document(self.history)

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history
                if "stateEnteredEventDetails" in e]

    def states_by_iteration(self, map_state: str | None = None) -> dict[int, list[str]]:
        """The states each Map iteration (each job, by item index) passed through: an inline
        Map's iterations from this history, else each Distributed Map child execution's own
        (of `map_state`, needed when several Distributed Maps ran)."""
        inline = self.events_by_iteration()
        if inline:
            return {index: [e["stateEnteredEventDetails"]["name"] for e in events
                            if "stateEnteredEventDetails" in e]
                    for index, events in inline.items()}
        children = self.child_executions(map_state)
        map_states = {child.map_state for child in children}
        if len(map_states) > 1:
            raise ValueError(f"several Distributed Maps ran ({', '.join(sorted(map_states))}): "
                             "name one as map_state")
        return {child.index: child.states_entered() for child in children}

    def states_by_job(self) -> dict[str, list[str]]:
        """The states each job passed through in its own child execution, by job name."""
        found = {}
        for child in self.child_executions():
            item = child.input if isinstance(child.input, dict) else json.loads(child.input)
            job: Any = item.get("job") or item.get("result") or {}
            found[job.get("name")] = child.states_entered()
        return found

    def child_executions(self, map_state: str | None = None) -> list[ChildExecution]:
        """The Distributed Map child executions this execution started (of `map_state`, or all),
        by Map Run, then item index: each with its input, output or error, status and its own
        history (`.history`, `.states_entered()`)."""
        return [child for child in child_executions(self.arn)
                if map_state is None or child.map_state == map_state]

    def events_by_iteration(self) -> dict[int, list[dict[str, Any]]]:
        """The history events of each Map iteration (each job, in config order), found by
        following every event's previousEventId back to its iteration. An inline Map's
        iterations are events of this one execution's history (and its 25,000-event quota)."""
        by_id = {e["id"]: e for e in self.history}
        iteration_of: dict[int, int | None] = {}

        def iteration(event_id: int) -> int | None:
            chain = []
            while event_id in by_id and event_id not in iteration_of:
                event = by_id[event_id]
                if event["type"] == "MapIterationStarted":
                    iteration_of[event_id] = event["mapIterationStartedEventDetails"]["index"]
                    break
                if event["type"].startswith("MapState"):  # after the Map: no iteration
                    iteration_of[event_id] = None
                    break
                chain.append(event_id)
                event_id = event.get("previousEventId", 0)
            found = iteration_of.get(event_id)
            for link in chain:
                iteration_of[link] = found
            return found

        events: dict[int, list[dict[str, Any]]] = {}
        for event in self.history:
            index = iteration(event["id"])
            if index is not None:
                events.setdefault(index, []).append(event)
        return events


@dataclass
class _Deployment:
    state_machine_arn: str  # the sync state machine's
    environment: dict[str, str] = field(default_factory=dict)
    machine_arns: dict[str, str] = field(default_factory=dict)  # every machine's, by logical id


_deployments: dict[int, _Deployment] = {}


def install_lambda_dispatch(stack: ExitStack, quotas: AwsQuotas) -> None:
    """Route moto's Lambda invokes to the handlers named in the functions' Handler, within
    Lambda's synchronous payload quota."""
    from .moto_seam import LambdaClientError, LambdaSimpleBackend

    def invoke(self: LambdaSimpleBackend, function_name: str, qualifier: str | None,
               body: bytes | None, headers: Any, response_headers: dict[str, str]) -> bytes:
        too_large = lambda_payload_error(body or b"", quotas, response=False)
        if too_large:  # refused by the Invoke API itself (HTTP 413), before any handler runs
            raise LambdaClientError(too_large["errorType"], too_large["errorMessage"])
        answer = _run_handler(self, function_name, qualifier, body, response_headers)
        too_large = lambda_payload_error(answer, quotas, response=True)
        if too_large:  # the function ran, but Lambda cannot return its answer
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(too_large).encode()
        return answer

    replace(stack, LambdaSimpleBackend, "invoke", invoke)
    # On AWS each function runs in its own execution environments: a session (an assumed
    # role, keys read from a secret) built by one function is never reused by another.
    stack.enter_context(mock.patch.object(aws, "_sessions", _PerFunction()))
    stack.enter_context(mock.patch.object(aws, "_clients", _PerFunction()))


class _PerFunction(MutableMapping[Hashable, Any]):
    """aws.py's per-process cache, one per running Lambda function (and one for the rest)."""

    def __init__(self) -> None:
        self._stores: dict[str | None, dict[Hashable, Any]] = {}

    def _store(self) -> dict[Hashable, Any]:
        return self._stores.setdefault(running_function(), {})

    def __getitem__(self, key: Hashable) -> Any:
        return self._store()[key]

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self._store()[key] = value

    def __delitem__(self, key: Hashable) -> None:
        del self._store()[key]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._store())

    def __len__(self) -> int:
        return len(self._store())

    def clear(self) -> None:
        self._stores.clear()


def _run_handler(backend: LambdaSimpleBackend, function_name: str, qualifier: str | None,
                 body: bytes | None, response_headers: dict[str, str]) -> bytes:
    function = backend.get_function(function_name, qualifier)
    # moto types Handler optional; every function deploy() creates has one.
    module_name, _, attribute = function.handler.rpartition(".")  # type: ignore[union-attr]
    handler = getattr(importlib.import_module(module_name), attribute)
    context = _LambdaContext(function.function_name)
    try:
        with acting_as(function.function_name):  # its requests meet its IAM policies
            result = handler(json.loads(body or "{}"), context)
    except Exception as exc:  # the Python runtime's answer for an unhandled error
        response_headers["x-amz-function-error"] = "Unhandled"
        result = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                  "stackTrace": traceback.format_tb(exc.__traceback__)}
    return json.dumps(result).encode()


def deploy() -> str:
    """Create the functions and the state machine in emulated AWS (once per emulator)."""
    from . import current_emulator_id

    key = current_emulator_id()
    if key in _deployments:
        return _deployments[key].state_machine_arn
    template = read_template()
    role_arn = boto3.client("iam", region_name=REGION).create_role(
        RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
                                                                 "Statement": []})
    )["Role"]["Arn"]
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in template.buckets():
        s3.create_bucket(Bucket=bucket)
    lambda_client = boto3.client("lambda", region_name=REGION)
    arns, environment = {}, {}
    for function in template.functions.values():
        variables = {k: str(template.resolve(v)) for k, v in function.environment.items()}
        environment.update(variables)
        arns[function.logical_id] = lambda_client.create_function(
            FunctionName=function.logical_id, Runtime="python3.13", Role=role_arn,
            Handler=function.handler, Code={"ZipFile": _placeholder_zip()},
            Environment={"Variables": variables}, Timeout=60,
        )["FunctionArn"]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine_arns: dict[str, str] = {logical_id: sfn.create_state_machine(
        name=local_machine_name(logical_id), roleArn=role_arn,
        definition=json.dumps(_local_definition(machine, template, arns)))["stateMachineArn"]
        for logical_id, machine in template.machines.items()}
    _deployments[key] = _Deployment(machine_arns[SYNC_MACHINE], environment, machine_arns)
    return machine_arns[SYNC_MACHINE]


def forget_deployments(emulator_id: int) -> None:
    _deployments.pop(emulator_id, None)


def execute_state_machine(execution_input: Any = None, *, name: str | None = None,
                          deadline_seconds: float = EXECUTION_DEADLINE_SECONDS,
                          machine: str = SYNC_MACHINE) -> LocalExecution:
    """Start one execution with `execution_input` and wait for its end. Use inside
    emulated_aws(); the state machines are deployed on first use. `machine`: the logical
    id of the state machine (template.yaml), the sync one by default."""
    from . import current_emulator_id

    deploy()
    arn = _deployments[current_emulator_id()].machine_arns[machine]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    environment = _deployments[current_emulator_id()].environment
    with mock.patch.dict(os.environ, environment):
        execution_arn = sfn.start_execution(
            stateMachineArn=arn, name=name or f"local-{uuid.uuid4().hex[:12]}",
            input=json.dumps(execution_input if execution_input is not None else {}),
        )["executionArn"]
        description = _wait_for_end(sfn, execution_arn, deadline_seconds)
    history = _history(sfn, execution_arn)
    return LocalExecution(
        arn=execution_arn,
        status=description["status"],
        output=json.loads(description["output"]) if description.get("output") else None,
        history=history,
        error=description.get("error"),
        cause=description.get("cause"),
        input=execution_input,
    )


def run_on_local_state_machine(config: ConfigSource,
                               jobs: list[str] | None = None) -> list[SyncResult]:
    """`xregion-sync run --engine stepfunctions-local [--job NAME ...]`: the config (or only
    the `jobs` named) through the real ASL, on emulated AWS seeded with the demo's
    resources."""
    from xregion_sync.config import read_config_source
    from xregion_sync.errors import ConfigError
    from xregion_sync.operate import cause_text

    from . import emulated_aws
    from .seed import seed_demo

    config_mapping = read_config_source(config)
    with emulated_aws():
        seed_demo()
        execution = execute_state_machine({"config": config_mapping,
                                           **({"jobs": jobs} if jobs else {})})
        results = execution.results()
    if execution.status != "SUCCEEDED" and not any(r.failed for r in results):
        # Ended before any job's result (e.g. in Load Config): nothing to tabulate.
        raise ConfigError(f"the execution ended {execution.status}: {execution.error}: "
                          f"{cause_text(execution.cause)}")
    return results


# ---------------------------------------------------------------- helpers


def _local_definition(machine: MachineSpec, template: StackTemplate,
                      function_arns: dict[str, str]) -> dict[str, Any]:
    text = machine.definition_path.read_text(encoding="utf-8")
    for placeholder, expression in machine.substitutions.items():
        if isinstance(expression, dict) and "Fn::GetAtt" in expression:
            value = function_arns[expression["Fn::GetAtt"][0]]
        else:
            value = template.resolve(expression)
        text = text.replace(f"${{{placeholder}}}", str(value))
    definition: dict[str, Any] = json.loads(text)
    _shorten_retries(definition)
    return definition


def _shorten_retries(node: Any) -> None:
    if isinstance(node, dict):
        for retrier in node.get("Retry", []):
            retrier.update(LOCAL_RETRY_TIMING)
        for value in node.values():
            _shorten_retries(value)
    elif isinstance(node, list):
        for value in node:
            _shorten_retries(value)


def _wait_for_end(sfn: Any, execution_arn: str, deadline_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_seconds
    pause = 0.02
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still RUNNING after "
                               f"{deadline_seconds} s")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events


def _placeholder_zip() -> bytes:
    """Lambda needs a code package to create a function; the handlers run in-process."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "handlers run in-process (xregion_sync_emulator)")
    return buffer.getvalue()


class _LambdaContext:
    """The attributes of the Lambda context object the handlers read."""

    def __init__(self, function_name: str):
        self.function_name = function_name
        self.aws_request_id = uuid.uuid4().hex
        self.memory_limit_in_mb = 256

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000
