"""The task Lambdas as Lambda runs them: an event and a context in, a JSON-able dict
out, each handler's output the next one's event (the files in events/), JSON logs
naming the execution and the job, and named errors for the ASL's Retry and Catch."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from conftest import load_event, store_finished_map_run, summarize_results

from xregion_sync import handlers, logs
from xregion_sync.errors import SourceNotFoundError
from xregion_sync.result import contract_view

# The per-job chain of one copy (sync_orders_db), in the order the ASL runs it.
CHAIN = ["resolve-source", "check-sync-tag", "start-copy", "copy-tags", "prune-old-copies",
         "record-result"]


def handler_for(event_name: str):
    return getattr(handlers, event_name.replace("-", "_"))


def map_item(plan: dict, index: int) -> dict:
    """What a Map's ItemSelector makes of one item of the plan Load Config stored."""
    import boto3

    stored = boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=plan["bucket"], Key=plan["plans"]["express"]["key"])["Body"].read()
    item = json.loads(stored)[index]
    return {"job": item["job"], "result": item["result"], "run_id": plan["run_id"]}


class CurrentStdout:
    """sys.stdout as it is when written to: the log handler was made at import time,
    with the stdout of then, and capsys swaps sys.stdout only while a test runs."""

    def write(self, text: str) -> None:
        sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def task_logs(capsys):
    """The JSON lines the task Lambdas print to stdout, at INFO (the CLI may have set
    WARNING on the package logger)."""
    logger = logging.getLogger("xregion_sync")
    (json_handler,) = [h for h in logger.handlers if isinstance(h.formatter, logs.JsonFormatter)]
    level, stream = logger.level, json_handler.setStream(CurrentStdout())
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logger.setLevel(level)
    json_handler.setStream(stream)


def test_load_config_plans_one_map_item_per_job(demo_world, lambda_context):
    plan = handlers.load_config(load_event("load-config"), lambda_context)

    assert plan["run_id"] == "nightly-2026-11-26"
    assert plan["plans"]["express"]["jobs"] == 2
    assert plan["plans"]["express"]["max_concurrency"] == 10
    assert map_item(plan, 1) == load_event("resolve-source")


def map_concurrency(plan: dict) -> dict[str, int]:
    """Each Distributed Map's MaxConcurrency, read from Load Config's output as the ASL
    reads it (MaxConcurrencyPath), for the Maps that have jobs to run."""
    from test_asl_and_template import distributed_maps

    def read(path: str):
        node = plan
        for key in path.removeprefix("$.").split("."):
            node = node[key]
        return node

    return {name: read(m["MaxConcurrencyPath"]) for name, m in distributed_maps().items()
            if read(m["ItemReader"]["Parameters"]["Key.$"].replace(".key", ".jobs"))}


@pytest.mark.parametrize(("limit", "waiting", "not_waiting"),
                         [(10, 3, 7), (10, 9, 1), (2, 5, 5), (1, 2, 3), (10, 4, 0), (10, 0, 4)])
def test_map_max_concurrency_bounds_the_jobs_at_once_across_both_maps(
        run_bucket, lambda_context, monkeypatch, limit, waiting, not_waiting):
    # GIVEN MapMaxConcurrency and jobs for both Maps, which run side by side (a Parallel)
    monkeypatch.setenv("MAP_MAX_CONCURRENCY", str(limit))
    job = {"sync_type": "rds_automated_snapshot", "source_region": "us-east-1",
           "destination_region": "us-west-2"}
    config = {f"sync_wait_{n}": {**job, "db_instance": f"w{n}", "wait_for_completion": True}
              for n in range(waiting)}
    config |= {f"sync_go_{n}": {**job, "db_instance": f"g{n}"} for n in range(not_waiting)}

    plan = handlers.load_config({"input": {"config": config}, "execution_name": "run"},
                                lambda_context)

    # THEN at most MapMaxConcurrency jobs run at once, every Map with jobs runs some
    # (0 would mean unlimited), and every job is planned
    concurrency = map_concurrency(plan)
    assert sum(concurrency.values()) <= limit
    assert all(share >= 1 for share in concurrency.values())
    assert sum(p["jobs"] for p in plan["plans"].values()) == waiting + not_waiting


def test_map_max_concurrency_0_leaves_both_maps_unlimited(run_bucket, lambda_context,
                                                          monkeypatch):
    monkeypatch.setenv("MAP_MAX_CONCURRENCY", "0")
    job = {"sync_type": "rds_automated_snapshot", "source_region": "us-east-1",
           "destination_region": "us-west-2", "db_instance": "db"}
    config = {"sync_wait": {**job, "wait_for_completion": True}, "sync_go": job}

    plan = handlers.load_config({"input": {"config": config}, "execution_name": "run"},
                                lambda_context)

    assert map_concurrency(plan) == {"Sync Jobs Without Waiting": 0, "Sync Jobs That Wait": 0}


@pytest.mark.parametrize(("event", "next_event"), list(zip(CHAIN, CHAIN[1:], strict=False)))
def test_each_handlers_output_is_the_next_handlers_event(demo_world, lambda_context, event,
                                                         next_event):
    # GIVEN the demo world in the state the earlier steps left it
    for earlier in CHAIN[:CHAIN.index(event)]:
        handler_for(earlier)(load_event(earlier), lambda_context)

    output = handler_for(event)(load_event(event), lambda_context)

    assert output == load_event(next_event)
    json.dumps(output)  # what Lambda returns must be JSON


@pytest.mark.parametrize(("event", "index"), [("record-failure", 0), ("record-result", 1)])
def test_the_recorded_results_are_what_summarize_receives(lambda_context, event, index):
    output = handler_for(event)(load_event(event), lambda_context)

    assert output == summarize_results()[index]


def test_summarize_reads_the_map_runs_results_in_config_order(run_bucket, lambda_context):
    event = load_event("summarize")
    store_finished_map_run(event, summarize_results())

    summary = handlers.summarize(event, lambda_context)

    # the output holds each result as the contract: the records' extras stay inside
    assert summary["results"] == [contract_view(r) for r in summarize_results()]
    assert "source_id" in summarize_results()[1]
    assert summary["summary"] == {"total": 2, "copied": 1, "in_sync": 0, "deferred": 0, "failed": 1}
    # the Jobs Failed state's cause: the count, then the failed results
    assert summary["failure_cause"].startswith("1 of 2 jobs failed.")
    assert "sync_web_app" in summary["failure_cause"]


def test_poll_copy_status_refreshes_the_copy_and_counts_the_poll(demo_world, lambda_context):
    handlers.start_copy(load_event("start-copy"), lambda_context)
    event = load_event("poll-copy-status")

    output = handlers.poll_copy_status(event, lambda_context)

    assert output["copy"] == {**event["copy"], "state": "available"}
    assert output["wait"] == {**event["wait"], "polls": 1}


def test_every_log_line_of_a_job_step_names_execution_and_job(demo_world, lambda_context,
                                                              task_logs):
    handlers.resolve_source(load_event("resolve-source"), lambda_context)

    lines = task_logs()
    assert [line["message"] for line in lines] == ["Step started", "Step finished"]
    for line in lines:
        assert (line["execution"], line["job"], line["step"], line["request_id"]) == (
            "nightly-2026-11-26", "sync_orders_db", "resolve_source",
            lambda_context.aws_request_id)


def test_a_named_error_propagates_with_its_class_name(emulated, lambda_context, task_logs):
    # GIVEN no orders-db in the emulated account
    with pytest.raises(SourceNotFoundError, match="orders-db"):
        handlers.resolve_source(load_event("resolve-source"), lambda_context)

    failed = task_logs()[-1]
    assert (failed["message"], failed["error"], failed["job"]) == (
        "Step failed", "SourceNotFoundError", "sync_orders_db")
    assert failed["execution"] == "nightly-2026-11-26"


def test_record_failure_reads_the_lambda_error_in_the_cause(lambda_context):
    event = load_event("record-failure")
    cause = json.loads(event["error"]["Cause"])

    result = handlers.record_failure(event, lambda_context)

    assert result == {"name": "sync_web_app", "sync_type": "ec2_ami", "status": "failed",
                      "created_resource": None, "copy_state": None, "pruned": [],
                      "errors": [{"type": "AmbiguousSourceError",
                                  "message": cause["errorMessage"]}]}


def test_record_failure_explains_a_plain_text_timeout(lambda_context):
    event = {**load_event("record-failure"),
             "error": {"Error": "States.Timeout", "Cause": "Task timed out after 120 seconds"}}

    result = handlers.record_failure(event, lambda_context)

    assert result["status"] == "failed"
    assert result["errors"] == [{"type": "States.Timeout", "message": (
        "job 'sync_web_app': States.Timeout: Task timed out after 120 seconds")}]


def test_record_failure_keeps_the_copy_a_failed_later_step_made(lambda_context):
    # GIVEN Prune Old Copies failed after the copy was started
    event = {**load_event("prune-old-copies"),
             "error": {"Error": "AccessDeniedError", "Cause": json.dumps(
                 {"errorType": "AccessDeniedError", "errorMessage": "denied"})}}

    result = handlers.record_failure(event, lambda_context)

    assert (result["created_resource"], result["copy_state"]) == (
        "rds-orders-db-2026-11-25-06-10", "pending")
    assert result["errors"] == [{"type": "AccessDeniedError", "message": "denied"}]


# ---------------------------------------------------------------- what a cold start imports

# Run in a fresh interpreter: import the handlers, invoke one with its sample event (every AWS
# call refused, so the step stops at its first call), print the modules then imported.
COLD_START = """
import json, sys
import botocore.client
import xregion_sync.handlers as handlers

def refuse(client, operation, params):
    raise RuntimeError("offline: " + operation)

botocore.client.BaseClient._make_api_call = refuse
event = json.loads(sys.argv[1])
try:
    getattr(handlers, sys.argv[2])(event, None)
except Exception:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("xregion_sync", "yaml")))))
"""
NOT_IN_A_TASK = {"yaml", "xregion_sync.config", "xregion_sync.yaml_loader", "xregion_sync.doctor",
                 "xregion_sync.runner", "xregion_sync.status", "xregion_sync.cli",
                 "xregion_sync.execution", "xregion_sync.schema", "xregion_sync.tables"}
SYNC_MODULES = {f"xregion_sync.syncs.{name}" for name in
                ("ec2_ami", "rds_automated_snapshot", "rds_cluster_snapshot")}


def cold_start_modules(handler: str, event: dict) -> set[str]:
    done = subprocess.run([sys.executable, "-c", COLD_START, json.dumps(event), handler],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("handler", ["resolve_source", "check_sync_tag", "start_copy",
                                     "copy_tags", "poll_copy_status", "prune_old_copies",
                                     "record_result"])
@pytest.mark.parametrize("sync_type", ["ec2_ami", "rds_cluster_snapshot"])
def test_a_job_steps_lambda_imports_its_step_and_the_jobs_sync_type_only(handler, sync_type):
    # GIVEN a job step's sample event, for a job of `sync_type`
    event = load_event(handler.replace("_", "-"))
    event["job"]["sync_type"] = sync_type

    # WHEN a fresh Lambda runtime imports the handlers and invokes this one
    modules = cold_start_modules(handler, event)

    # THEN it imported the steps, no other sync type, and no config, PyYAML, doctor ...
    assert "xregion_sync.steps" in modules
    assert modules & SYNC_MODULES <= {f"xregion_sync.syncs.{sync_type}"}
    assert modules & NOT_IN_A_TASK == set()


@pytest.mark.parametrize("handler", ["record_failure", "summarize"])
def test_the_executions_own_lambdas_import_no_yaml_and_no_sync_type(handler):
    modules = cold_start_modules(handler, load_event(handler.replace("_", "-")))

    assert "xregion_sync.execution" in modules
    assert modules & ({"yaml", "xregion_sync.yaml_loader", "xregion_sync.doctor"}
                      | SYNC_MODULES) == set()
