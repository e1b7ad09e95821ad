"""Every file in events/ is valid JSON and runs: the per-Lambda events through their
handlers on the seeded demo world, the execution inputs through the state machine. The
EventBridge events (eventbridge-*) run through the stack's rules in test_event_starts.py."""

from __future__ import annotations

import json

import boto3
import pytest
from conftest import EVENTS_DIR, load_event, store_finished_map_run, summarize_results

from xregion_sync import handlers
from xregion_sync_emulator import execute_state_machine
from xregion_sync_emulator.demo import demo_config_text
from xregion_sync_emulator.template import read_template

EVENT_FILES = sorted(path.stem for path in EVENTS_DIR.glob("*.json"))
EXECUTION_INPUTS = [name for name in EVENT_FILES if name.startswith("execution-")]
EVENTBRIDGE_EVENTS = [name for name in EVENT_FILES if name.startswith("eventbridge-")]
LAMBDA_EVENTS = [name for name in EVENT_FILES
                 if name not in EXECUTION_INPUTS and name not in EVENTBRIDGE_EVENTS]
# Events whose handler needs the copy an earlier step made.
NEEDS_COPY = {"poll-copy-status"}
# The drill's steps, of the demo's orders-db job: they restore its DR copy (whose id, of
# today's date, the events name COPY_ID and COPY_ARN); some need the restore started.
DRILL_STEPS = {"start-restore", "poll-restore", "validate-restore", "clean-up-drill",
               "record-drill-result"}
NEEDS_RESTORE = {"poll-restore", "validate-restore", "clean-up-drill"}


def drill_event(name: str) -> dict:
    """events/<name>.json with the demo's orders-db copy in place of COPY_ID, COPY_ARN
    (copied here first)."""
    from xregion_sync import run

    event = load_event("plan-drills")["input"]["config"]
    (result,) = run(event)
    arn = boto3.client("rds", region_name="us-west-2").describe_db_snapshots(
        DBSnapshotIdentifier=result.created_resource)["DBSnapshots"][0]["DBSnapshotArn"]
    text = (EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text.replace("COPY_ARN", arn).replace("COPY_ID", result.created_resource))


def store_config(uri: str) -> None:
    """Put the demo config where an execution input's config_uri points."""
    if uri.startswith("ssm:"):
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name=uri[len("ssm:"):], Value=demo_config_text(), Type="String", Overwrite=True)
    else:
        bucket, _, key = uri[len("s3://"):].partition("/")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=demo_config_text().encode())


CONFIG_BUCKET = "xregion-sync-config-123456789012"


def stack_parameter_uri() -> str:
    return "ssm:" + read_template().resolve({"Ref": "ConfigParameter"})


def test_the_events_are_the_expected_set():
    assert set(EXECUTION_INPUTS) == {"execution-inline-config", "execution-config-uri-ssm",
                                     "execution-config-uri-s3", "execution-schedule",
                                     "execution-jobs"}
    assert set(EVENTBRIDGE_EVENTS) == {"eventbridge-rds-snapshot-created",
                                       "eventbridge-rds-cluster-snapshot-created",
                                       "eventbridge-ec2-ami-available"}
    assert {f"{name.replace('-', '_')}" for name in LAMBDA_EVENTS} == {
        function.handler.rpartition(".")[2] for function in read_template().functions.values()}


@pytest.mark.parametrize("name", EVENT_FILES)
def test_event_file_is_a_json_object(name):
    assert isinstance(json.loads((EVENTS_DIR / f"{name}.json").read_text()), dict)


@pytest.mark.parametrize("name", LAMBDA_EVENTS)
def test_lambda_event_runs_through_its_handler(demo_world, lambda_context, name):
    if name in NEEDS_COPY:
        handlers.start_copy(load_event("start-copy"), lambda_context)
    event = drill_event(name) if name in DRILL_STEPS else load_event(name)
    if name in NEEDS_RESTORE:
        handlers.start_restore({**event, "restore": {**event["restore"], "created": []}},
                               lambda_context)

    if name == "summarize":
        store_finished_map_run(load_event(name), summarize_results())
    output = getattr(handlers, name.replace("-", "_"))(event, lambda_context)

    assert isinstance(output, dict)
    assert json.loads(json.dumps(output)) == output


@pytest.mark.statemachine
@pytest.mark.deploy_parameters(ConfigBucketName=CONFIG_BUCKET)  # the s3 event's bucket
@pytest.mark.parametrize("name", EXECUTION_INPUTS)
def test_execution_input_runs_the_demo_on_the_state_machine(demo_world, name):
    execution_input = load_event(name)
    if "config" not in execution_input:
        store_config(execution_input.get("config_uri") or stack_parameter_uri())

    execution = execute_state_machine(execution_input)

    assert execution.status == "SUCCEEDED", execution.cause
    ran = execution_input.get("jobs") or ["sync_web_app", "sync_orders_db",
                                          "sync_orders_cluster"]
    assert [result.name for result in execution.results()] == ran
    assert execution.output["summary"] == {
        "total": len(ran), "copied": len(ran), "in_sync": 0, "deferred": 0, "failed": 0}
