"""The Distributed Map as AWS runs it (the emulator's distributed_map.py), each behaviour pinned
to the AWS documentation and shown to bite, on a small state machine of its own: the plan read from
S3 by ItemReader, a Choice/Pass/Fail child per item, the results written by ResultWriter.
The product's state machine is not used here.
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from xregion_sync.result import SyncResult
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, AwsQuotas, emulated_aws
from xregion_sync_emulator.stepfunctions import REGION, LocalExecution

BUCKET = "xregion-sync-plans"
PLAN_KEY = "plans/run-1.json"
GOOD, BAD = {"n": 1}, {"n": "not a number"}  # a child fails on a non-numeric n


@pytest.fixture
def quotas(request):
    """Emulated AWS, with the quotas lowered by `@pytest.mark.quotas(...)`, and the bucket."""
    marker = request.node.get_closest_marker("quotas")
    with emulated_aws(quotas=AwsQuotas(**(marker.kwargs if marker else {}))):
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield


def distributed_map(*, execution_type: str = "STANDARD", wait_seconds: int = 0,
                    result_writer: dict | None = None, **map_fields) -> dict:
    """Map over the JSON array at s3://$.bucket/$.key; each child checks its item's n."""
    child = {"StartAt": "Pause" if wait_seconds else "Check", "States": {
        "Check": {"Type": "Choice", "Default": "Reject",
                  "Choices": [{"Variable": "$.item.n", "IsNumeric": True, "Next": "Accept"}]},
        "Accept": {"Type": "Pass", "Parameters": {"accepted.$": "$.index"}, "End": True},
        "Reject": {"Type": "Fail", "Error": "ItemRejected", "Cause": "n is not a number"}}}
    if wait_seconds:
        child["States"]["Pause"] = {"Type": "Wait", "Seconds": wait_seconds, "Next": "Check"}
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Parameters": {"Bucket": BUCKET, "Prefix": "results"}}
    state = {
        "Type": "Map", "ResultPath": "$.map", "End": True,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "JSON"},
                       "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"}},
        "ItemSelector": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                              "ExecutionType": execution_type}, **child},
        "ResultWriter": {**writer, **(result_writer or {})},
        **map_fields}
    return {"StartAt": "Each Job", "States": {"Each Job": state}}


def run(definition: dict, plan: list) -> LocalExecution:
    """Write the plan to S3, run one execution of `definition` to its end."""
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=PLAN_KEY,
                                                      Body=json.dumps(plan))
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name=f"dmap-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{EMULATOR_ACCOUNT_ID}:role/dmap-test")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex,
                                    input=json.dumps({"bucket": BUCKET, "key": PLAN_KEY})
                                    )["executionArn"]
    deadline = time.monotonic() + 60
    while (description := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not end"
        time.sleep(0.02)
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    output = json.loads(description["output"]) if description.get("output") else None
    return LocalExecution(arn=execution, status=description["status"], output=output,
                          history=history, error=description.get("error"),
                          cause=description.get("cause"))


def read_json(key: str):
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"]
    return json.loads(body.read())


def manifest_of(execution: LocalExecution) -> dict:
    return read_json(execution.output["map"]["ResultWriterDetails"]["Key"])


def written_manifest() -> dict:
    """The one manifest.json under results/ (for a Map that failed, so has no output)."""
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET,
                                                                     Prefix="results/")
    keys = [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith("manifest.json")]
    assert len(keys) == 1, keys
    return read_json(keys[0])


def records(manifest: dict, status: str) -> list:
    return [record for entry in manifest["ResultFiles"][status]
            for record in read_json(entry["Key"])]


# ---------------------------------------------------------------- ItemReader


@pytest.mark.statemachine
def test_item_reader_reads_a_json_array_from_s3_and_item_selector_sees_value_and_index(quotas):
    """Step Functions Developer Guide, "ItemReader (Map)": with `InputType: JSON` and
    `arn:aws:states:::s3:getObject`, the Distributed Map's dataset is the JSON array in the
    object named by Parameters (Bucket, Key; `.$` paths allowed in JSONPath); "ItemSelector
    (Map)": the context object's $$.Map.Item.Value and $$.Map.Item.Index are each item and
    its index, and the result is the child execution's input."""
    execution = run(distributed_map(ToleratedFailurePercentage=100), [GOOD, {"n": 2}])

    children = execution.child_executions()
    assert execution.status == "SUCCEEDED"
    assert [(c.index, c.input) for c in children] == [(0, {"item": GOOD, "index": 0}),
                                                       (1, {"item": {"n": 2}, "index": 1})]


@pytest.mark.statemachine
def test_an_empty_plan_is_a_map_run_of_no_children_that_succeeds(quotas):
    """"ItemReader (Map)": the dataset is the array; an empty array is a Map Run of zero items,
    and its ResultWriter manifest lists no result files."""
    execution = run(distributed_map(), [])

    assert execution.status == "SUCCEEDED"
    assert execution.child_executions() == []
    assert manifest_of(execution)["ResultFiles"] == {"FAILED": [], "PENDING": [], "SUCCEEDED": []}


# ---------------------------------------------------------------- ResultWriter


@pytest.mark.statemachine
def test_result_writer_writes_a_manifest_and_result_files_of_child_execution_records(quotas):
    """Step Functions Developer Guide, "ResultWriter (Map)": the Map's result is {MapRunArn,
    ResultWriterDetails {Bucket, Key: <Prefix>/<map run id>/manifest.json}}; Step Functions
    "consolidates all child workflow execution data, such as execution input and output, ARN,
    and execution status" and "exports executions with the same status to their respective
    files"; the manifest lists them under ResultFiles FAILED / PENDING / SUCCEEDED as {Key,
    Size}. Transformation NONE (the default when writing to S3) keeps the workflow metadata:
    Input and Output as JSON strings. (moto wrote an empty manifest and no files.)"""
    execution = run(distributed_map(ToleratedFailurePercentage=100), [GOOD, BAD])

    details = execution.output["map"]
    map_run_id = details["MapRunArn"].rsplit(":", 1)[-1]
    manifest = manifest_of(execution)
    succeeded, failed = records(manifest, "SUCCEEDED"), records(manifest, "FAILED")
    assert details["ResultWriterDetails"] == {"Bucket": BUCKET,
                                              "Key": f"results/{map_run_id}/manifest.json"}
    assert (manifest["DestinationBucket"], manifest["MapRunArn"]) == (BUCKET,
                                                                      details["MapRunArn"])
    assert [e["Key"] for e in manifest["ResultFiles"]["SUCCEEDED"]] == [
        f"results/{map_run_id}/SUCCEEDED_0.json"]
    assert [e["Key"] for e in manifest["ResultFiles"]["FAILED"]] == [
        f"results/{map_run_id}/FAILED_0.json"]
    assert all(e["Size"] > 0 for files in manifest["ResultFiles"].values() for e in files)
    assert set(succeeded[0]) == {"ExecutionArn", "Input", "InputDetails", "Name", "Output",
                                 "OutputDetails", "RedriveCount", "RedriveStatus", "StartDate",
                                 "StateMachineArn", "Status", "StopDate"}
    assert json.loads(succeeded[0]["Input"]) == {"item": GOOD, "index": 0}
    assert json.loads(succeeded[0]["Output"]) == {"accepted": 0}
    assert (succeeded[0]["Status"], succeeded[0]["InputDetails"]) == ("SUCCEEDED",
                                                                      {"Included": True})
    assert (failed[0]["Status"], failed[0]["Error"], failed[0]["Cause"]) == (
        "FAILED", "ItemRejected", "n is not a number")
    assert "Output" not in failed[0]


@pytest.mark.statemachine
@pytest.mark.quotas(result_file_bytes=900)
def test_result_files_are_split_by_size(quotas):
    """"ResultWriter (Map)": the files of one status are numbered (SUCCEEDED_0.json,
    SUCCEEDED_1.json, ...) as they are split by size; the split size is adjustable here."""
    execution = run(distributed_map(), [GOOD] * 4)

    files = manifest_of(execution)["ResultFiles"]["SUCCEEDED"]
    assert len(files) > 1
    assert [f["Key"].rsplit("/", 1)[-1] for f in files] == [
        f"SUCCEEDED_{n}.json" for n in range(len(files))]
    assert sum(len(read_json(f["Key"])) for f in files) == 4


@pytest.mark.statemachine
def test_writer_config_compact_writes_only_the_outputs_and_a_failure_whole(quotas):
    """"ResultWriter (Map)", WriterConfig Transformation: COMPACT "returns the output of the
    child workflow executions"; "If a child workflow execution fails, Step Functions returns
    its execution result unchanged" (as NONE). OutputType JSONL writes JSON Lines."""
    writer = {"WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"}}
    execution = run(distributed_map(result_writer=writer, ToleratedFailurePercentage=100),
                    [GOOD, BAD])

    manifest = manifest_of(execution)
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=BUCKET, Key=manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])["Body"].read()
    failed = boto3.client("s3", region_name=REGION).get_object(
        Bucket=BUCKET, Key=manifest["ResultFiles"]["FAILED"][0]["Key"])["Body"].read()
    assert [json.loads(line) for line in body.decode().splitlines()] == [{"accepted": 0}]
    assert json.loads(failed.decode().splitlines()[0])["Error"] == "ItemRejected"


# ---------------------------------------------------------------- tolerated failures


@pytest.mark.statemachine
def test_with_the_default_threshold_one_failed_child_fails_the_map(quotas):
    """Step Functions Developer Guide, "Tolerated failure threshold for Distributed Map state":
    "The default percentage value is zero, which means that the workflow fails if any one of
    its child workflow executions fails or times out"; "Step Functions returns a
    States.ExceedToleratedFailureThreshold error when the Map Run fails because the specified
    threshold is exceeded". (moto let the Map succeed.) The children's results are still
    written."""
    execution = run(distributed_map(), [GOOD, BAD])

    assert (execution.status, execution.error) == ("FAILED",
                                                   "States.ExceedToleratedFailureThreshold")
    assert "MapRunFailed" in [e["type"] for e in execution.history]
    assert [r["Status"] for r in records(written_manifest(), "FAILED")] == ["FAILED"]


@pytest.mark.statemachine
def test_with_one_hundred_percent_tolerated_no_failed_child_fails_the_map(quotas):
    """Same page: "If you specify the percentage as 100, the workflow won't fail even if all
    child workflow executions fail." The failures are in the FAILED result files."""
    execution = run(distributed_map(ToleratedFailurePercentage=100), [BAD, BAD])

    assert execution.status == "SUCCEEDED"
    assert len(records(manifest_of(execution), "FAILED")) == 2


@pytest.mark.statemachine
@pytest.mark.parametrize("threshold, plan, fails", [
    ({"ToleratedFailureCount": 1}, [GOOD, BAD], False),
    ({"ToleratedFailureCount": 1}, [BAD, BAD], True),
    ({"ToleratedFailurePercentage": 50}, [GOOD, BAD], False),    # 50 % is not over 50 %
    ({"ToleratedFailurePercentage": 49}, [GOOD, BAD], True),
    ({"ToleratedFailurePercentage": 100, "ToleratedFailureCount": 0}, [GOOD, BAD], True),
])
def test_the_map_fails_only_when_failures_exceed_a_declared_threshold(quotas, threshold, plan,
                                                                       fails):
    """Same page: the Map Run fails "if it exceeds the threshold"; the percentage is "the total
    number of failed or timed out items divided by the total number of items"; "If you
    specify both values, the workflow fails when it exceeds either value"."""
    execution = run(distributed_map(**threshold), plan)

    assert execution.status == ("FAILED" if fails else "SUCCEEDED")


# ---------------------------------------------------------------- child executions


@pytest.mark.statemachine
def test_each_child_execution_has_its_own_history(quotas):
    """Step Functions Developer Guide, "Using Map state in Distributed mode": "Each child
    workflow execution has its own, separate execution history from that of the parent
    workflow." The parent's history shows the Map Run, not the children's states."""
    execution = run(distributed_map(ToleratedFailurePercentage=100), [GOOD, BAD])

    children = execution.child_executions()
    assert execution.states_by_iteration() == {0: ["Check", "Accept"], 1: ["Check", "Reject"]}
    assert [c.history[0]["type"] for c in children] == ["ExecutionStarted"] * 2
    assert [c.history[-1]["type"] for c in children] == ["ExecutionSucceeded",
                                                         "ExecutionFailed"]
    assert "Check" not in execution.states_entered()


@pytest.mark.statemachine
@pytest.mark.quotas(express_execution_seconds=0.3)
def test_an_express_child_times_out_at_the_express_duration_a_standard_child_does_not(quotas):
    """Step Functions Developer Guide, "Choosing workflow type": an Express workflow runs at
    most five minutes (a Standard one up to a year); the Distributed Map's EXPRESS children
    are Express executions, ended TIMED_OUT with States.Timeout, which counts against the
    tolerated failure threshold ("failed or timed out items"). (moto refused EXPRESS.)"""
    express = run(distributed_map(execution_type="EXPRESS", wait_seconds=1,
                                  ToleratedFailurePercentage=100), [GOOD])
    standard = run(distributed_map(execution_type="STANDARD", wait_seconds=1), [GOOD])

    [timed_out] = express.child_executions()
    assert (timed_out.status, timed_out.error) == ("TIMED_OUT", "States.Timeout")
    assert records(manifest_of(express), "FAILED")[0]["Status"] == "TIMED_OUT"
    assert [c.status for c in standard.child_executions()] == ["SUCCEEDED"]


@pytest.mark.statemachine
def test_two_distributed_maps_in_a_parallel_each_write_their_own_map_run(quotas):
    """"ResultWriter (Map)": each Map Run exports its own children under its own map run id.
    (moto took the execution's last Map Run for every ResultWriter.)"""
    def branch(execution_type: str) -> dict:
        inner = distributed_map(execution_type=execution_type, ToleratedFailurePercentage=100)
        state = inner["States"]["Each Job"]
        state.pop("ResultPath")
        state["ResultSelector"] = {"manifest.$": "$.ResultWriterDetails.Key"}
        name = f"{execution_type.title()} Jobs"
        return {"StartAt": name, "States": {name: state}}

    definition = {"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "End": True,
        "Branches": [branch("EXPRESS"), branch("STANDARD")]}}}
    execution = run(definition, [GOOD, BAD])

    manifests = [read_json(b["manifest"]) for b in execution.output]
    assert execution.status == "SUCCEEDED"
    assert manifests[0]["MapRunArn"] != manifests[1]["MapRunArn"]
    assert [len(records(m, "SUCCEEDED")) for m in manifests] == [1, 1]
    assert {c.map_state for c in execution.child_executions()} == {"Express Jobs",
                                                                    "Standard Jobs"}
    assert execution.states_by_iteration("Express Jobs") == {0: ["Check", "Accept"],
                                                             1: ["Check", "Reject"]}
    with pytest.raises(ValueError, match="several Distributed Maps"):
        execution.states_by_iteration()


# ---------------------------------------------------------------- LocalExecution.results


def test_results_are_read_from_s3_when_the_output_names_them(quotas):
    """With the results in S3 the execution output stays small: `results_uri` names a JSON
    array object; `results()` reads it from emulated S3 (and inline `results` as before)."""
    result = {"name": "sync_web_app", "sync_type": "ec2_ami", "status": "copied",
              "created_resource": "ami-0abc", "copy_state": "pending", "pruned": [],
              "errors": []}
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="out/results.json",
                                                      Body=json.dumps([result]))
    in_s3 = LocalExecution(arn="a", status="SUCCEEDED", history=[], output={
        "summary": {"total": 1}, "results_uri": f"s3://{BUCKET}/out/results.json"})
    inline = LocalExecution(arn="b", status="SUCCEEDED", history=[],
                            output={"summary": {"total": 1}, "results": [result]})

    assert in_s3.results() == inline.results() == [SyncResult.from_dict(result)]
