"""Operating a deployed stack from the command line: `xregion-sync start` and
`xregion-sync executions`.

The stack's outputs (CloudFormation DescribeStacks) name the state machine; an execution
is started with the input Load Config reads (`{}`: the deployed config; `jobs`: only those
jobs; `config_uri`: another config), followed with DescribeExecution, the parent's history
(which states ran, which Map Runs started) and DescribeMapRun (children done per Map Run),
and its results read from the output: `results` inline, or `results_uri` in the run bucket.
A failed execution carries the same document in the input of its Fail state.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from .result import SyncResult

STATE_MACHINE_OUTPUT = "StateMachineArn"
RUN_BUCKET_OUTPUT = "RunBucketName"
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
CHILD_FAILED_COUNTS = ("failed", "timedOut", "aborted")


class OperateError(Exception):
    """Bad input from the user (unknown stack, missing output, no region, no credentials):
    the message says what to fix."""


class AwsCallError(Exception):
    """An AWS call failed after the execution was found or started."""


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    name: str
    region: str
    outputs: dict[str, str]
    session: Any = field(repr=False, default=None)

    @property
    def state_machine_arn(self) -> str:
        arn = self.outputs.get(STATE_MACHINE_OUTPUT)
        if not arn:
            raise OperateError(
                f"stack {self.name} in {self.region} has no output {STATE_MACHINE_OUTPUT}: is "
                "it an xregion-sync stack? Deploy the current template.yaml (sam deploy)")
        return arn

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region)


def find_stack(name: str, *, region: str | None = None, profile: str | None = None) -> Stack:
    """The deployed stack `name` and its outputs; OperateError names what to fix."""
    import boto3

    try:
        session = boto3.Session(profile_name=profile)
    except ProfileNotFound:
        raise OperateError(f"AWS profile {profile!r} is not configured: check --profile "
                           "(aws configure list-profiles)") from None
    region = region or session.region_name
    if not region:
        raise OperateError("no AWS region is configured: pass --region (the stack's region)")
    try:
        stacks = session.client("cloudformation", region_name=region).describe_stacks(
            StackName=name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            raise OperateError(f"stack {name} not found in {region}: check --stack and "
                               "--region (the stack `sam deploy` created)") from None
        raise OperateError(f"cannot read stack {name} in {region}: {_said(exc)}") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise OperateError("no usable AWS credentials: configure the standard AWS credential "
                           "chain or pass --profile") from None
    except (NoRegionError, BotoCoreError) as exc:
        raise OperateError(f"cannot reach CloudFormation in {region}: {exc}") from None
    if not stacks:
        raise OperateError(f"stack {name} not found in {region}: check --stack and --region")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs") or ()}
    return Stack(name=name, region=region, outputs=outputs, session=session)


# ---------------------------------------------------------------- starting


def execution_input(jobs: Iterable[str] | None = None, config_uri: str | None = None,
                    *, dry_run: bool = False) -> dict[str, Any]:
    """The input Load Config reads: {} runs the deployed config; `jobs` only those jobs;
    `config_uri` ("ssm:<name>" or "s3://bucket/key") another config; `dry_run`: resolve
    every job and say what a real run would do, changing nothing."""
    document: dict[str, Any] = {"dry_run": True} if dry_run else {}
    jobs = list(jobs or ())
    if jobs:
        document["jobs"] = jobs
    if config_uri:
        if not (config_uri.startswith("ssm:") or config_uri.startswith("s3://")):
            raise OperateError(f"--config-uri must be 'ssm:<parameter name>' or "
                               f"'s3://bucket/key', got {config_uri!r}")
        document["config_uri"] = config_uri
    return document


def start_execution(stack: Stack, document: Mapping[str, Any], *,
                    name: str | None = None) -> str:
    """Start the stack's state machine with `document`; returns the execution ARN."""
    name = name or f"cli-{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    with _calling(f"starting {stack.state_machine_arn}"):
        execution_arn: str = stack.client("stepfunctions").start_execution(
            stateMachineArn=stack.state_machine_arn, name=name,
            input=json.dumps(document))["executionArn"]
        return execution_arn


def console_url(region: str, execution_arn: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{execution_arn}")


# ---------------------------------------------------------------- following


@dataclass(frozen=True)
class Progress:
    """Where a running execution is: its status, the state it entered last, and the
    Distributed Map children (one per job) by status over all its Map Runs."""

    status: str
    state: str | None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    def line(self, elapsed: float) -> str:
        text = f"[{_duration(elapsed):>6}] {self.status:<9}"
        if self.state:
            text += f" {self.state}"
        if self.total:
            text += (f": jobs {self.done}/{self.total} done"
                     f" ({self.running} running, {self.pending} pending"
                     + (f", {self.failed} child executions failed" if self.failed else "")
                     + ")")
        return text


def progress(sfn: Any, execution_arn: str) -> tuple[dict[str, Any], Progress]:
    """(DescribeExecution, Progress) now."""
    with _calling(f"reading execution {execution_arn}"):
        description = sfn.describe_execution(executionArn=execution_arn)
        events = history(sfn, execution_arn)
        state = next((e["stateEnteredEventDetails"]["name"] for e in reversed(events)
                      if "stateEnteredEventDetails" in e), None)
        counts = {"total": 0, "succeeded": 0, "failed": 0, "running": 0, "pending": 0}
        for map_run in [e["mapRunStartedEventDetails"]["mapRunArn"] for e in events
                        if e["type"] == "MapRunStarted"]:
            items = sfn.describe_map_run(mapRunArn=map_run)["itemCounts"]
            counts["total"] += items.get("total", 0)
            counts["succeeded"] += items.get("succeeded", 0)
            counts["failed"] += sum(items.get(key, 0) for key in CHILD_FAILED_COUNTS)
            counts["running"] += items.get("running", 0)
            counts["pending"] += items.get("pending", 0)
    return description, Progress(status=description["status"], state=state, **counts)


def follow(sfn: Any, execution_arn: str, *, poll_seconds: float = 5.0,
           on_progress: Callable[[Progress, float], None] = lambda progress, elapsed: None,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic,
           max_seconds: float | None = None) -> dict[str, Any]:
    """Poll the execution until it ends, calling on_progress(progress, seconds since the
    start) whenever the progress changes; returns the final DescribeExecution. With
    `max_seconds`, stop following after that long (OperateError; the execution goes on)."""
    started = clock()
    last = None
    while True:
        description, now = progress(sfn, execution_arn)
        if now != last:
            on_progress(now, clock() - started)
            last = now
        if description["status"] in TERMINAL_STATUSES:
            return description
        if max_seconds is not None and clock() - started >= max_seconds:
            raise OperateError(f"{execution_arn} is still {description['status']} after "
                               f"{max_seconds:.0f} s; it goes on (stop it in the console "
                               f"or with StopExecution)")
        sleep(poll_seconds)


# ---------------------------------------------------------------- results


def history(sfn: Any, execution_arn: str, *,
            newest_first: bool = False) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn, reverseOrder=newest_first):
        events += page["events"]
    return events


def fail_state_document(events: Iterable[Mapping[str, Any]]) -> Any:
    """The {results, summary} document the state before a Fail state passed on (a failed
    execution has no output: its results are the input of `Jobs Failed`)."""
    for event in sorted(events, key=lambda e: e["id"], reverse=True):
        details = event.get("stateEnteredEventDetails") or {}
        if event["type"] == "FailStateEntered" and details.get("input"):
            return json.loads(details["input"])
    return None


def execution_document(sfn: Any, description: Mapping[str, Any]) -> dict[str, Any]:
    """{summary, results | results_uri} of an ended execution, or {} when it ended before
    Summarize (e.g. the config could not be loaded)."""
    if description.get("output"):
        document = json.loads(description["output"])
    elif description["status"] == "FAILED":
        with _calling(f"reading the history of {description['executionArn']}"):
            document = fail_state_document(
                history(sfn, description["executionArn"], newest_first=True))
    else:
        document = None
    return document if isinstance(document, dict) else {}


def read_results(document: Mapping[str, Any], s3: Any) -> list[SyncResult]:
    """The per-job results of an execution document: inline (`results`: [...]) or, when they
    outgrew the output, a JSON array in S3 (`results_uri`: "s3://bucket/key")."""
    if "results_uri" in document:
        bucket, _, key = str(document["results_uri"]).removeprefix("s3://").partition("/")
        with _calling(f"reading {document['results_uri']}"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return [SyncResult.from_dict(r) for r in json.loads(body)]
    return [SyncResult.from_dict(r) for r in document.get("results") or ()]


# ---------------------------------------------------------------- listing


def recent_executions(stack: Stack, *, max_results: int = 10) -> list[dict[str, Any]]:
    """The newest executions of the stack's state machine, newest first, each
    {name, arn, status, start, stop, summary, error, cause} (summary None when the
    execution has none yet or ended before Summarize)."""
    sfn = stack.client("stepfunctions")
    found: list[dict[str, Any]] = []
    with _calling(f"listing the executions of {stack.state_machine_arn}"):
        for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=stack.state_machine_arn):
            found += page["executions"]
            if len(found) >= max_results:
                break
    found.sort(key=lambda e: e["startDate"], reverse=True)
    rows = []
    for listed in found[:max_results]:
        description = listed
        document: dict[str, Any] = {}
        if listed["status"] != "RUNNING":
            with _calling(f"reading execution {listed['executionArn']}"):
                description = sfn.describe_execution(executionArn=listed["executionArn"])
            document = execution_document(sfn, description)
        rows.append({
            "name": listed["name"],
            "arn": listed["executionArn"],
            "status": listed["status"],
            "start": _iso(listed.get("startDate")),
            "stop": _iso(listed.get("stopDate")),
            "summary": document.get("summary"),
            "error": description.get("error"),
            "cause": description.get("cause"),
        })
    return rows


def format_executions(rows: Sequence[Mapping[str, Any]]) -> str:
    table = [("NAME", "STATUS", "STARTED", "STOPPED", "SUMMARY")]
    for row in rows:
        table.append((row["name"], row["status"], _short_time(row["start"]),
                      _short_time(row["stop"]), summary_text(row)))
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths,
                                                                         strict=True))
                     + "  " + line[4] for line in table)


def summary_text(row: Mapping[str, Any]) -> str:
    summary = row.get("summary")
    if summary:
        return (f"{summary.get('total', 0)} jobs: {summary.get('copied', 0)} copied, "
                f"{summary.get('in_sync', 0)} in sync, {summary.get('deferred', 0)} deferred, "
                f"{summary.get('failed', 0)} failed")
    if row.get("error"):
        cause = cause_text(row.get("cause"))[:200]
        return f"{row['error']}" + (f": {cause}" if cause else "")
    return ""


def cause_text(cause: str | None) -> str:
    """An execution's cause for a person: a Lambda error's errorMessage (not its JSON and
    stack trace), on one line."""
    cause = cause or ""
    try:
        decoded = json.loads(cause)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and decoded.get("errorMessage"):
        cause = str(decoded["errorMessage"])
    return " ".join(cause.split())


# ---------------------------------------------------------------- helpers


class _calling:
    """AWS errors during an operation -> AwsCallError with the operation and AWS's words."""

    def __init__(self, doing: str):
        self.doing = doing

    def __enter__(self) -> _calling:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]:
        if isinstance(exc, ClientError):
            raise AwsCallError(f"{self.doing}: {_said(exc)}") from None
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            raise OperateError("no usable AWS credentials: configure the standard AWS "
                               "credential chain or pass --profile") from None
        if isinstance(exc, BotoCoreError):
            raise AwsCallError(f"{self.doing}: {exc}") from None
        return False


def _said(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return (f"{getattr(exc, 'operation_name', '')} {error.get('Code', '')}: "
            f"{error.get('Message', '')}").strip()


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else moment


def _short_time(text: str | None) -> str:
    if not text:
        return "-"
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
