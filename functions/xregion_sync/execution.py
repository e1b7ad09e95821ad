"""The state machine's bookends: load the config at the start of an execution, and
turn the per-job results into the execution's output at the end.

Load Config reads the config from the execution input ({"config": {...}}), from
{"config_uri": "ssm:<name>" | "s3://bucket/key"}, or, for an input without either (the
schedule), from the stack's own SSM parameter (which may itself name a config_uri, for
configs too large for SSM). Static access keys are refused: execution input, output and
history are readable in the console.

Beside the config, the input may narrow the run to some of its jobs:
{"jobs": ["sync_a", ...]} runs only those (a name the config lacks fails the execution
here, before any job runs), and {"event": {...}} (what the stack's EventBridge rules send
for a new automated DB or cluster snapshot or a new available AMI) runs only the jobs
whose source the event may be (each sync type's started_by_event): see select_for_event.
An event no job covers runs nothing and succeeds.

The plan (one item per job) goes to the stack's run bucket, not into the state: the
Distributed Maps read it with ItemReader, so an execution carries any number of jobs.
Jobs that wait for their copy run as Standard child executions (they may wait hours),
the others as Express ones (far cheaper; at most 5 minutes each). Summarize reads the
results the Maps' ResultWriter left in the bucket, in config order, and returns them in
the output, or in the bucket (results_uri) when they would not fit.

A stack whose config parameter still holds what template.yaml created (an empty mapping:
no config pushed yet) runs nothing and succeeds, its output saying so in `note`: the
schedule and the event rules start executions from the moment the stack exists, and a
fresh stack must not fail them (and fire the alarm) before its first push-config.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from . import aws
from .config import MAX_CONFIG_BYTES, JobEntry, load_config, parse_yaml
from .errors import CONFIG_LEVEL, ConfigError, deleted_before_failure
from .result import (
    COPIED,
    DEFERRED,
    FAILED,
    IN_SYNC,
    WOULD_COPY,
    JobError,
    SyncResult,
    capped_message,
    contract_view,
)
from .syncs import SYNC_TYPES, job_to_dict

CONFIG_PARAMETER_ENV = "CONFIG_PARAMETER_NAME"
RUN_BUCKET_ENV = "RUN_BUCKET_NAME"
MAX_CONCURRENCY_ENV = "MAP_MAX_CONCURRENCY"
DEFAULT_MAX_CONCURRENCY = 10
RUNS_PREFIX = "runs"
# Express children for jobs that do not wait for their copy, Standard for those that do.
PLAN_KINDS = ("express", "standard")
# The execution's output holds the results while they fit well inside Step Functions'
# 256 KiB (with the summary and a 32,768-character failure cause beside them).
MAX_INLINE_RESULTS_BYTES = 200 * 1024
INPUT_KEYS = ("config", "config_uri")
SELECTION_KEYS = ("jobs", "event")
# {"dry_run": true} beside any of those (or alone: the stack's config): every job is
# resolved and checked, nothing is copied, tagged or pruned (steps.planned_record).
DRY_RUN_KEY = "dry_run"
DRY_RUN_EXTRAS = ("source_id", "copy_id")  # a dry run's results name them too
MAX_FAIL_CAUSE_CHARS = 32_768  # AWS's cap on a Fail state's cause
FAILED_RESULTS_IN_CAUSE = 5
logger = logging.getLogger(__name__)
STATIC_KEYS_MESSAGE = (
    "static access keys are not accepted by the state machine, because execution input, "
    "output and history would show them: use 'role_arn' (a role the task Lambdas assume) "
    "or 'credentials_secret_arn' (a Secrets Manager secret the task Lambdas read)")


def state_machine_errors(entry: JobEntry) -> list[ConfigError]:
    """What the deployed state machine refuses in a job the config check accepts."""
    if entry.spec and entry.spec.client.has_static_keys:
        return [ConfigError(f"job '{entry.name}', field 'aws_client_config': "
                            f"{STATIC_KEYS_MESSAGE}", job=entry.name, field="aws_client_config")]
    return []


def plan(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Load Config state: {"input": the execution's input, "execution_name": ...}."""
    return plan_execution(event.get("input"), event["execution_name"])


def plan_execution(event: Mapping[str, Any] | None, execution_name: str) -> dict[str, Any]:
    """Execution input -> the plans in the run bucket, and what the Maps need to read them:
    {run_id, bucket, prefix, total, plans: {express|standard: {key, jobs, max_concurrency}}}.
    Only the jobs the input selects ("jobs" or "event") are planned; the others are not
    in the plans, the results or the summary."""
    event = event or {}
    if not isinstance(event, Mapping):
        raise ConfigError(f"execution input: expected a JSON object, got {event!r}"[:300],
                          job=CONFIG_LEVEL)
    selection = {key: event[key] for key in SELECTION_KEYS if key in event}
    dry_run = event.get(DRY_RUN_KEY, False)
    if not isinstance(dry_run, bool):
        raise ConfigError(f"execution input: '{DRY_RUN_KEY}' must be true (resolve every "
                          f"job, copy nothing) or false, got {json.dumps(dry_run)[:100]}",
                          job=CONFIG_LEVEL, field=DRY_RUN_KEY)
    source = {key: value for key, value in event.items()
              if key not in (*SELECTION_KEYS, DRY_RUN_KEY)}
    if len(selection) > 1:
        raise ConfigError("execution input: give 'jobs' or 'event', not both",
                          job=CONFIG_LEVEL)
    note = None
    configured: Sequence[JobEntry]
    try:
        configured = load_config(config_source(source, selected=bool(selection))).entries
    except StackNotConfigured as exc:
        configured, note = [], str(exc)
        logger.info("No config pushed yet: nothing to run", extra={"note": note})
    entries: list[tuple[int, JobEntry]]  # (config index, entry) of the jobs selected
    if "jobs" in selection:
        entries = select_jobs(configured, selection["jobs"])
    elif "event" in selection:
        entries = select_for_event(configured, selection["event"])
        logger.info("Jobs selected by an event", extra={
            "event": selection["event"], "jobs": [entry.name for _, entry in entries]})
    else:
        entries = list(enumerate(configured))
    plans: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PLAN_KINDS}
    for index, entry in entries:
        errors = [*entry.errors, *state_machine_errors(entry)]
        if errors or entry.spec is None:  # (a spec exactly when there are no errors)
            failed = SyncResult.failure(entry.name, entry.sync_type, errors).to_dict()
            plans["express"].append({"index": index, "job": None, "result": failed})
            continue
        waits = entry.spec.options.get("wait_for_completion")
        plans["standard" if waits else "express"].append(
            {"index": index, "job": job_to_dict(entry.spec), "result": None})
    limit = _max_concurrency()
    if limit == 1 and plans["standard"]:  # one job at a time: one Map, whose children may wait
        plans = {"express": [], "standard": sorted(
            plans["express"] + plans["standard"], key=lambda item: item["index"])}
    shares = split_concurrency(limit, {kind: len(items) for kind, items in plans.items()})
    bucket, prefix = _run_bucket(), f"{RUNS_PREFIX}/{execution_name}"
    for kind, items in plans.items():
        _put_json(bucket, f"{prefix}/plan-{kind}.json", items)
    return {"run_id": execution_name, "bucket": bucket, "prefix": prefix,
            "total": len(entries), "note": note, "dry_run": dry_run,
            "plans": {kind: {"key": f"{prefix}/plan-{kind}.json", "jobs": len(items),
                             "max_concurrency": shares[kind]}
                      for kind, items in plans.items()}}


def split_concurrency(limit: int, jobs: Mapping[str, int]) -> dict[str, int]:
    """Each Map's MaxConcurrency, so that MapMaxConcurrency bounds the jobs at once across
    both Maps (they run side by side in one Parallel). When both have jobs, each gets a
    share in proportion to its jobs, at least 1 (plan_execution never needs two shares of
    a limit of 1). 0 means no limit of ours, for both."""
    if limit == 0 or sum(1 for count in jobs.values() if count) < 2:
        return dict.fromkeys(jobs, limit)  # a Map without jobs never starts
    express = round(limit * jobs["express"] / sum(jobs.values()))
    express = max(1, min(limit - 1, express))
    return {"express": express, "standard": limit - express}


def select_jobs(entries: Sequence[JobEntry], names: Any) -> list[tuple[int, JobEntry]]:
    """(config index, entry) for each job `names` names, in config order. Any name the
    config lacks is an error naming it and the config's jobs: no job runs."""
    if (not isinstance(names, list) or not names
            or not all(isinstance(name, str) for name in names)):
        raise ConfigError("execution input: 'jobs' must be a non-empty list of job names "
                          f"(e.g. [\"sync_web_app\"]), got {json.dumps(names)[:200]}",
                          job=CONFIG_LEVEL, field="jobs")
    known = [entry.name for entry in entries]
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    if unknown:
        shown = ", ".join(known[:50]) + (f" and {len(known) - 50} more" if len(known) > 50
                                         else "")
        raise ConfigError(f"execution input: 'jobs' names {len(unknown)} job(s) the config "
                          f"does not define: {', '.join(unknown)}; its jobs are: {shown}",
                          job=CONFIG_LEVEL, field="jobs")
    wanted = set(names)
    return [(index, entry) for index, entry in enumerate(entries) if entry.name in wanted]


def select_for_event(entries: Sequence[JobEntry], event: Any) -> list[tuple[int, JobEntry]]:
    """(config index, entry) for each valid job in the event's region whose source the
    event may be: each sync type says which events concern its jobs (started_by_event;
    the EventBridge rules in template.yaml and forwarder/template.yaml deliver
    {"source", "region", "resource", ...}).

    Any other event, and jobs with config errors (the schedule reports those), select
    nothing: the execution runs no job and succeeds."""
    if not isinstance(event, Mapping):
        raise ConfigError("execution input: 'event' must be an object "
                          '{"source", "region", "resource", ...}', job=CONFIG_LEVEL,
                          field="event")
    return [(index, entry) for index, entry in enumerate(entries)
            if entry.spec and entry.spec.source_region == event.get("region")
            and SYNC_TYPES[entry.spec.sync_type].started_by_event(entry.spec, event)]


def caught(exc: BaseException) -> dict[str, Any]:
    """What a Catch with ResultPath $.error adds to the state for a task's exception:
    the Lambda runtime's error name and its JSON cause."""
    cause = {"errorType": type(exc).__name__, "errorMessage": str(exc) or type(exc).__name__}
    return {"error": {"Error": cause["errorType"], "Cause": json.dumps(cause)}}


def caught_error(error: Mapping[str, Any]) -> tuple[str, str]:
    """(error name, message) of what a Catch put in the state ({"Error", "Cause"}): the
    Lambda runtime's errorType and errorMessage when the cause is their JSON."""
    name, message = error.get("Error", "Error"), error.get("Cause") or ""
    try:
        cause = json.loads(message)
        if isinstance(cause, dict):
            name = cause.get("errorType") or name
            message = cause.get("errorMessage") or message
    except ValueError:
        pass  # a Step Functions error (States.Timeout, ...) with a plain-text cause
    return name, message


def record_failure(state: Mapping[str, Any]) -> dict[str, Any]:
    """A failed result from a step's caught error ({"Error", "Cause"} in state["error"])."""
    name, message = caught_error(state.get("error") or {})
    job: Any = state.get("job") or {}  # the job's JSON (JobSpec.to_dict), if it got that far
    if not message or name == "States.Timeout":
        message = f"job '{job.get('name')}': {name}: {message or 'the step failed'}"
    copy = state.get("copy") or {}  # a copy made before the failure is still reported
    # Every deletion the run made: failed copies Start Copy replaced, what an earlier step
    # pruned, and what the failing step deleted before it failed.
    pruned = [*copy.get("replaced", ()), *(state.get("pruned") or ())]
    pruned += [i for i in deleted_before_failure(message) if i not in pruned]
    if capped_message(message) != message:
        logger.warning("Job failed; its result carries a shortened message",
                       extra={"job": job.get("name"), "error": name, "reason": message})
    return SyncResult(job.get("name"), job.get("sync_type"), FAILED,
                      created_resource=copy.get("id"), copy_state=copy.get("state"),
                      pruned=pruned, errors=[JobError(name, message)]).to_dict()


def summarize(event: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's document from the Maps' result files: {summary, results} or
    {summary, results_uri}; with failed jobs also the Jobs Failed state's cause."""
    from . import metrics

    records = collect_results(event)
    results = [contract_view(record) for record in records]  # the output: the contract
    if event.get(DRY_RUN_KEY):  # and which source each job would copy, or the copy found
        results = [{**result, **{key: record[key] for key in DRY_RUN_EXTRAS if key in record}}
                   for result, record in zip(results, records, strict=True)]
    document = summarize_results(results)
    if event.get(DRY_RUN_KEY):
        # A plan, not a run: no metric, so the alarms and the dashboard see only runs.
        document[DRY_RUN_KEY] = True
        document["summary"]["would_copy"] = [r.get("status") for r in results].count(
            WOULD_COPY)
    else:
        metrics.emit_run(document["summary"], metrics.stale_jobs(records))
    size = len(json.dumps(results).encode())
    if size > MAX_INLINE_RESULTS_BYTES:
        key = f"{event['prefix']}/results.json"
        _put_json(event["bucket"], key, results)
        del document["results"]
        document["results_uri"] = f"s3://{event['bucket']}/{key}"
    if event.get("note"):
        document["note"] = event["note"]
    return document


def summarize_results(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """{results, summary[, failure_cause]} for results in config order."""
    statuses = [r.get("status") for r in results]
    document: dict[str, Any] = {
        "results": list(results),
        "summary": {"total": len(results), "copied": statuses.count(COPIED),
                    "in_sync": statuses.count(IN_SYNC), "deferred": statuses.count(DEFERRED),
                    "failed": statuses.count(FAILED)},
    }
    if document["summary"]["failed"]:
        document["failure_cause"] = failure_cause(results)
    return document


def collect_results(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every job's result in config order, from the ResultWriter files of the Map runs
    (each child execution's output, or its error when the child itself failed)."""
    bucket = event["bucket"]
    items = sorted((item for plan in event["plans"].values() for item in
                    _get_json(bucket, plan["key"])), key=lambda item: item["index"])
    by_name: dict[str, dict[str, Any]] = {}
    for map_run in event.get("map_runs") or ():
        if not map_run:
            continue  # a Map skipped: no job of that kind
        for record in _child_executions(map_run["ResultWriterDetails"]):
            result = _result_of(record)
            by_name[result["name"]] = result
    return [by_name.get(_item_name(item)) or _missing_result(item) for item in items]


def _child_executions(writer: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    manifest = _get_json(writer["Bucket"], writer["Key"])
    for files in manifest.get("ResultFiles", {}).values():
        for result_file in files:
            yield from _get_json(manifest.get("DestinationBucket") or writer["Bucket"],
                                 result_file["Key"])


def _result_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """A job's result from one child execution record of a ResultWriter file."""
    if record.get("Status") == "SUCCEEDED":
        result: dict[str, Any] = json.loads(record["Output"])
        return result
    item = json.loads(record.get("Input") or "{}")
    job: Any = item.get("job") or item.get("result") or {}
    error = JobError(record.get("Error") or "ChildExecutionFailed",
                     f"job '{job.get('name')}': its child execution ended {record.get('Status')}"
                     f": {record.get('Cause') or 'no cause given'}")
    return SyncResult(job.get("name"), job.get("sync_type"), FAILED, errors=[error]).to_dict()


def _item_name(item: Mapping[str, Any]) -> str:
    job: Any = item.get("job") or item.get("result") or {}
    name: str = job.get("name")
    return name


def _missing_result(item: Mapping[str, Any]) -> dict[str, Any]:
    job: Any = item.get("job") or item.get("result") or {}
    error = JobError("ResultMissing", f"job '{job.get('name')}': the Map reported no result "
                                      "for it; see the Map Run in the Step Functions console")
    return SyncResult(job.get("name"), job.get("sync_type"), FAILED, errors=[error]).to_dict()


def failure_cause(results: Sequence[Mapping[str, Any]]) -> str:
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


def config_source(event: Mapping[str, Any], selected: bool = False) -> Mapping[Any, Any] | str:
    """The config the input names; with no config in it, the stack's (the schedule's, or
    a selection of jobs from it)."""
    if _is_schedule(event) or (selected and not any(key in event for key in INPUT_KEYS)):
        config = _read_uri(f"ssm:{_stack_parameter()}")
        if not config:  # template.yaml's placeholder: no push-config yet
            raise StackNotConfigured(f"the stack has no config yet (ssm:{_stack_parameter()} "
                                     "is empty): nothing ran; store one with `xregion-sync "
                                     "push-config CONFIG --stack NAME`")
        # A config too large for SSM lives in S3; the parameter then only points to it.
        if set(config) == {"config_uri"} and str(config["config_uri"]).startswith("s3://"):
            return _read_uri(config["config_uri"])
        return config
    unknown = sorted(set(event) - set(INPUT_KEYS))
    if unknown or len([k for k in INPUT_KEYS if k in event]) > 1:
        raise ConfigError(
            f"execution input: expected {{}} or one of {INPUT_KEYS} (with 'jobs' or "
            f"'event' beside it, or alone), got keys {sorted(event)}",
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


class StackNotConfigured(Exception):  # noqa: N818 (a state, not a failure)
    """The stack's config parameter holds no config yet."""


def _is_schedule(event: Mapping[str, Any]) -> bool:
    """Empty input, or the event EventBridge sends when no Input is set."""
    return not event or event.get("source") == "aws.events" or "detail-type" in event


def _required_environment(variable: str, advice: str) -> str:
    """A setting template.yaml gives the task; missing, the task cannot go on."""
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"{variable} is not set: {advice}", job=CONFIG_LEVEL)
    return value


def _run_bucket() -> str:
    return _required_environment(RUN_BUCKET_ENV, "Load Config writes the job plan to the "
                                 "stack's run bucket (template.yaml sets it)")


def _put_json(bucket: str, key: str, value: Any) -> None:
    with aws.aws_errors(CONFIG_LEVEL, f"writing s3://{bucket}/{key}"):
        aws.tool_client("s3").put_object(Bucket=bucket, Key=key,
                                         Body=json.dumps(value).encode(),
                                         ContentType="application/json")


def _get_json(bucket: str, key: str) -> Any:
    with aws.aws_errors(CONFIG_LEVEL, f"reading s3://{bucket}/{key}"):
        body = aws.tool_client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        return json.loads(body.read())


def _stack_parameter() -> str:
    return _required_environment(CONFIG_PARAMETER_ENV, "no config given and no stack "
                                 "parameter to read: pass {'config': ...} or "
                                 "{'config_uri': ...}")


def _read_uri(uri: Any) -> Mapping[Any, Any]:
    if not isinstance(uri, str) or not uri.startswith(("ssm:", "s3://")):
        raise ConfigError(f"execution input: config_uri must be 'ssm:<parameter name>' or "
                          f"'s3://<bucket>/<key>', got {uri!r}", job=CONFIG_LEVEL,
                          field="config_uri")
    with aws.aws_errors(CONFIG_LEVEL, f"reading the config from {uri}"):
        try:
            text = _read_ssm(uri[4:]) if uri.startswith("ssm:") else _read_s3(uri)
        except ClientError as exc:
            if aws.error_code(exc) in ("ParameterNotFound", "NoSuchKey", "NoSuchBucket"):
                raise ConfigError(f"the config at {uri} does not exist ({aws.error_code(exc)})"
                                  "; store it with `xregion-sync push-config`",
                                  job=CONFIG_LEVEL, field="config_uri") from None
            raise
    return parse_yaml(text)


def _read_ssm(name: str) -> str:
    answer = aws.tool_client("ssm").get_parameter(Name=name, WithDecryption=True)
    value: str = answer["Parameter"]["Value"]
    return value


def _read_s3(uri: str) -> str:
    bucket, _, key = uri[len("s3://"):].partition("/")
    body = aws.tool_client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    data: bytes = body.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the config at {uri} is larger than {MAX_CONFIG_BYTES} bytes",
                          job=CONFIG_LEVEL, field="config_uri")
    return data.decode("utf-8", errors="replace")


def _max_concurrency() -> int:
    try:
        return max(0, int(os.environ.get(MAX_CONCURRENCY_ENV, DEFAULT_MAX_CONCURRENCY)))
    except ValueError:
        return DEFAULT_MAX_CONCURRENCY

