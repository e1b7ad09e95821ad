"""The state machine as Step Functions runs it (the real ASL on emulated AWS): its
output document, failing executions, config inputs, secrets kept out of the history,
transitions per job, Retry and Catch, and payload sizes at 500 jobs."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
import yaml
from conftest import wrapped_lambda_dispatch
from scenarios import (
    AMI_JOB,
    DB_JOB,
    SOURCE,
    WAIT,
    ami_job,
    db_job,
    destination_image_ids,
    destination_snapshot_ids,
    source_ami,
    source_db,
    start_copy_throttled_once,
)

from xregion_sync.execution import plan_execution
from xregion_sync.syncs import ec2_ami, rds_automated_snapshot
from xregion_sync_emulator import AwsQuotas, emulated_aws, execute_state_machine
from xregion_sync_emulator.stepfunctions_quotas import history_limit_cause

DEMO = {**ami_job(), **db_job()}
RESULT_KEYS = {"name", "sync_type", "status", "created_resource", "copy_state", "pruned",
               "errors"}
STACK_CONFIG_PARAMETER = "/xregion-sync/xregion-sync-local/config"
MAX_STATE_PAYLOAD_BYTES = 262_144  # Step Functions' limit for a state's input or output
ACCESS_KEY_ID = "AKIAXREGIONTESTKEY42"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYxregionSECRET"


@pytest.fixture
def world(emulated):
    source_ami()
    source_db()


def run(execution_input):
    return execute_state_machine(execution_input)


def payloads(event: dict) -> list[str]:
    """The state/Lambda inputs and outputs an event records."""
    return [value for details in event.values() if isinstance(details, dict)
            for key, value in details.items() if key in ("input", "output")]


# ---------------------------------------------------------------- the output document


@pytest.mark.statemachine
def test_output_is_the_results_and_the_summary(world):
    execution = run({"config": DEMO})

    assert execution.status == "SUCCEEDED"
    assert set(execution.output) == {"results", "summary"}
    assert execution.output["summary"] == {
        "total": 2, "copied": 2, "in_sync": 0, "deferred": 0, "failed": 0}
    assert [set(r) for r in execution.output["results"]] == [RESULT_KEYS, RESULT_KEYS]
    assert [r["name"] for r in execution.output["results"]] == [AMI_JOB, DB_JOB]


@pytest.mark.statemachine
def test_a_failed_job_fails_the_execution_and_names_the_job(world):
    config = {**DEMO, "sync_api": ami_job(sync_identifier="api")[AMI_JOB]}

    execution = run({"config": config})

    assert (execution.status, execution.error) == ("FAILED", "JobsFailed")
    prefix = ("1 of 3 jobs failed. The first of them "
              "(every result is in the input of this state): ")
    assert execution.cause.startswith(prefix)
    (failed,) = json.loads(execution.cause.removeprefix(prefix))
    assert failed["name"] == "sync_api"
    assert "No EC2 Images were found" in failed["errors"][0]["message"]
    document = execution.final_document()
    assert set(document) == {"results", "summary", "failure_cause"}
    assert document["summary"] == {
        "total": 3, "copied": 2, "in_sync": 0, "deferred": 0, "failed": 1}
    assert [r["status"] for r in document["results"]] == ["copied", "copied", "failed"]
    assert document["results"][2] == failed


# ---------------------------------------------------------------- where the config comes from


@pytest.mark.statemachine
def test_an_empty_input_runs_the_stacks_config_parameter(world):
    boto3.client("ssm", region_name=SOURCE).put_parameter(
        Name=STACK_CONFIG_PARAMETER, Value=yaml.safe_dump(DEMO), Type="String")

    execution = run({})

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["summary"]["copied"] == 2


@pytest.mark.statemachine
@pytest.mark.parametrize(("execution_input", "says"), [
    ({"config": DEMO, "dryrun": True}, "got keys ['config', 'dryrun']"),
    ({"config": DEMO, "config_uri": "ssm:/x"}, "got keys ['config', 'config_uri']"),
    ({"config_uri": "https://example.com/config.yaml"},
     "config_uri must be 'ssm:<parameter name>' or 's3://<bucket>/<key>', got "
     "'https://example.com/config.yaml'"),
    ({"config_uri": "ssm:/xregion-sync/nowhere/config"},
     "the config at ssm:/xregion-sync/nowhere/config does not exist (ParameterNotFound)"),
    ({"config_uri": "s3://no-such-bucket/config.yaml"}, "does not exist (NoSuchBucket)"),
    ({}, f"the config at ssm:{STACK_CONFIG_PARAMETER} does not exist"),
    ({"config": "sync_web: [unclosed"}, "the config is not valid YAML"),
    ({"config": {"jobs": {"web": {}}}}, "the config defines no jobs"),
], ids=["unknown-key", "two-sources", "uri-scheme", "missing-parameter", "missing-bucket",
        "no-stack-config", "bad-yaml", "no-jobs"])
@pytest.mark.deploy_parameters(ConfigBucketName="no-such-bucket")  # granted, and missing
def test_a_config_that_cannot_be_loaded_fails_at_config_not_loaded(emulated, execution_input,
                                                                    says):
    execution = run(execution_input)

    assert (execution.status, execution.error) == ("FAILED", "ConfigError")
    assert execution.states_entered()[-1] == "Config Not Loaded"
    cause = json.loads(execution.cause)
    assert cause["errorType"] == "ConfigError"
    assert says in cause["errorMessage"]


def push_the_templates_initial_config() -> None:
    """The stack's config parameter as `sam deploy` creates it, before any push-config."""
    from xregion_sync_emulator.template import read_template

    value = read_template().raw["Resources"]["ConfigParameter"]["Properties"]["Value"]
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=STACK_CONFIG_PARAMETER, Value=value, Type="String")


@pytest.mark.statemachine
@pytest.mark.parametrize("execution_input", [
    {},  # the schedule
    {"source": "aws.events", "detail-type": "Scheduled Event"},
    {"event": {"source": "aws.rds", "detail-type": "RDS DB Snapshot Event",
               "resources": ["arn:aws:rds:us-east-1:123456789012:snapshot:rds:db-1"],
               "detail": {"EventID": "RDS-EVENT-0091", "SourceType": "SNAPSHOT",
                          "SourceIdentifier": "rds:db-1"}}},
], ids=["schedule", "eventbridge-schedule", "event-start"])
def test_a_fresh_stack_without_a_config_runs_nothing_and_succeeds(emulated, execution_input):
    # GIVEN a stack just deployed: its config parameter holds the template's placeholder
    push_the_templates_initial_config()
    # WHEN the schedule or an event starts an execution
    execution = run(execution_input)
    # THEN nothing runs, nothing fails (no alarm), and the output says why
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["summary"]["total"] == 0
    assert "the stack has no config yet" in execution.output["note"]
    assert "push-config" in execution.output["note"]


@pytest.mark.statemachine
def test_jobs_named_on_a_stack_without_a_config_fail_naming_them(emulated):
    push_the_templates_initial_config()
    execution = run({"jobs": ["sync_web_app"]})
    assert (execution.status, execution.error) == ("FAILED", "ConfigError")
    assert "sync_web_app" in json.loads(execution.cause)["errorMessage"]


# ---------------------------------------------------------------- no secrets in the history


def with_static_keys(config: dict, job: str) -> dict:
    keys = {"aws_access_key": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}
    return {**config, job: {**config[job], "aws_client_config": keys}}


def events_showing_secrets(execution) -> list[tuple[str, str | None]]:
    shown = []
    for event in execution.history:
        text = json.dumps(event, default=str)
        if ACCESS_KEY_ID in text or SECRET_ACCESS_KEY in text:
            entered = (event.get("stateEnteredEventDetails") or {}).get("name")
            shown.append((event["type"], entered))
    return shown


# The execution input is, unavoidably, the first state's input and what its Lambda is
# invoked with; past Load Config no event may carry a key.
INPUT_EVENTS = [("ExecutionStarted", None), ("TaskStateEntered", "Load Config"),
                ("LambdaFunctionScheduled", None)]


@pytest.mark.statemachine
def test_static_keys_fail_their_job_and_stay_out_of_the_history(world, capsys):
    execution = run({"config": with_static_keys(DEMO, DB_JOB)})

    results = {r.name: r for r in execution.results()}
    assert results[AMI_JOB].status == "copied"
    (error,) = results[DB_JOB].errors
    assert error.type == "ConfigError"
    assert "role_arn" in error.message and "credentials_secret_arn" in error.message
    assert destination_snapshot_ids() == []
    assert events_showing_secrets(execution) == INPUT_EVENTS
    assert ACCESS_KEY_ID not in capsys.readouterr().out


@pytest.mark.statemachine
def test_static_keys_in_a_config_that_cannot_load_stay_out_of_the_fail_state(emulated):
    config = with_static_keys({"aws_client_config": {"region": SOURCE},
                               "jobs": {"sync_orders_db": {}}}, "aws_client_config")

    execution = run({"config": config})

    assert execution.states_entered()[-1] == "Config Not Loaded"
    assert events_showing_secrets(execution) == INPUT_EVENTS


# ---------------------------------------------------------------- transitions per job


@pytest.mark.statemachine
def test_state_transitions_per_job(world):
    copying = run({"config": DEMO}).states_by_job()
    in_sync = run({"config": DEMO}).states_by_job()

    print("\ntransitions per job: copy path", {i: len(s) for i, s in copying.items()},
          "no-op path", {i: len(s) for i, s in in_sync.items()})
    assert all(states[-1] == "Record Result" for states in [*copying.values(),
                                                            *in_sync.values()])
    assert all("Start Copy" in states and len(states) <= 10 for states in copying.values())
    assert all("Start Copy" not in states and len(states) <= 6 for states in in_sync.values())


# ---------------------------------------------------------------- history events per job


# Measured: each job runs as its own child execution, with its own history and its own
# 25,000-event quota; the parent's history holds the execution's own events only,
# whatever the number of jobs.
COPY_EVENTS_PER_CHILD = 40
IN_SYNC_EVENTS_PER_CHILD = 21
PARENT_EVENTS = 32


@pytest.mark.statemachine
def test_each_jobs_history_is_its_own_child_executions(world):
    copying = run({"config": DEMO})
    in_sync = run({"config": DEMO})

    copy_children = [len(c.history) for c in copying.child_executions()]
    in_sync_children = [len(c.history) for c in in_sync.child_executions()]
    print(f"\nhistory events: copying child {copy_children}, in-sync child "
          f"{in_sync_children}, parent {len(copying.history)} / {len(in_sync.history)}")
    assert copy_children == [COPY_EVENTS_PER_CHILD] * 2
    assert in_sync_children == [IN_SYNC_EVENTS_PER_CHILD] * 2
    assert len(copying.history) == len(in_sync.history) == PARENT_EVENTS


@pytest.mark.statemachine
def test_the_parents_history_does_not_grow_with_the_jobs(emulated):
    # GIVEN 30 jobs (failing fast: no source) against a history quota far below 30 jobs'
    # worth of events in one history
    config = {f"sync_image_{n:03d}": ami_job(sync_identifier=f"image-{n:03d}")[AMI_JOB]
              for n in range(30)}
    small = run({"config": dict(list(config.items())[:1])})

    execution = run({"config": config})

    # THEN the parent's history is the same size as with one job
    assert len(execution.results()) == 30
    assert len(execution.history) == len(small.history)


@pytest.mark.statemachine
def test_a_job_whose_child_overflows_its_history_fails_alone():
    # GIVEN a history quota that holds the parent's events but not a copying job's
    quota = COPY_EVENTS_PER_CHILD - 5
    assert quota > PARENT_EVENTS
    with emulated_aws(quotas=AwsQuotas(history_events=quota)):
        source_ami()
        source_db()
        # WHEN two copying jobs run
        execution = run({"config": DEMO})

        # THEN each child fails as AWS fails it (States.Runtime at the quota), the Map
        # tolerates it, and the execution reports each job failed with the reason
        children = execution.child_executions()
        assert [(c.status, c.error) for c in children] == [("FAILED", "States.Runtime")] * 2
        assert all(len(c.history) == quota for c in children)
        assert (execution.status, execution.error) == ("FAILED", "JobsFailed")
        results = execution.results()
    assert [r.status for r in results] == ["failed", "failed"]
    assert all(history_limit_cause(quota) in r.errors[0].message for r in results)


# ---------------------------------------------------------------- Retry and Catch


def lambda_attempts(execution, state: str) -> int:
    """How many times the Lambda of `state` was invoked (Retry re-invokes), in the
    execution and its jobs' child executions."""
    count, current = 0, None
    histories = [execution.history, *(c.history for c in execution.child_executions())]
    for event in (event for history in histories for event in history):
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
        if event["type"] == "LambdaFunctionScheduled" and current == state:
            count += 1
    return count


@pytest.mark.statemachine
def test_a_lambda_service_error_is_retried(world):
    answered: Counter = Counter()

    def too_many_requests_once(dispatch, function_name, body, response_headers):
        answered[function_name] += 1
        if function_name == "StartCopyFunction" and answered[function_name] == 1:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "Lambda.TooManyRequestsException",
                               "errorMessage": "Rate exceeded"}).encode()
        return dispatch()

    with wrapped_lambda_dispatch(too_many_requests_once):
        execution = run({"config": ami_job()})

    assert execution.status == "SUCCEEDED", execution.cause
    assert answered["StartCopyFunction"] == 2
    assert destination_image_ids() == [execution.output["results"][0]["created_resource"]]


@pytest.mark.statemachine
@pytest.mark.parametrize(("sync", "config", "copies"), [
    # Jobs that wait: Standard children retry throttling (Express ones have no time for it)
    (ec2_ami, ami_job(**WAIT), destination_image_ids),
    (rds_automated_snapshot, db_job(**WAIT), destination_snapshot_ids),
], ids=["ec2_ami", "rds_automated_snapshot"])
def test_a_start_copy_retried_after_the_copy_was_made_makes_no_second_copy(
        world, sync, config, copies):
    with start_copy_throttled_once(sync) as attempts:
        execution = run({"config": config})

    assert execution.status == "SUCCEEDED", execution.cause
    assert lambda_attempts(execution, "Start Copy") == 2
    (result,) = execution.output["results"]
    assert attempts == [result["created_resource"]] * 2
    assert copies() == [result["created_resource"]]


@pytest.mark.statemachine
def test_a_domain_error_is_caught_not_retried(emulated, monkeypatch):
    source_ami("web-app-a")
    source_ami("web-app-b")
    original, calls = ec2_ami.resolve_source, []
    monkeypatch.setattr(ec2_ami, "resolve_source",
                        lambda job: calls.append(job.name) or original(job))

    execution = run({"config": ami_job()})

    assert calls == [AMI_JOB]
    assert lambda_attempts(execution, "Resolve Source") == 1
    assert execution.states_by_job()[AMI_JOB][-2:] == ["Resolve Source", "Record Failure"]
    (result,) = execution.results()
    assert [e.type for e in result.errors] == ["AmbiguousSourceError"]


# ---------------------------------------------------------------- payload sizes


MAX_CAUSE_CHARACTERS = 32_768


@pytest.mark.statemachine
def test_state_payloads_stay_under_the_limit_at_500_jobs(emulated):
    # Jobs whose sources do not exist: each fails fast, with a full error message.
    config = {**{f"sync_image_{n:03d}": ami_job(sync_identifier=f"image-{n:03d}")[AMI_JOB]
                 for n in range(250)},
              **{f"sync_database_{n:03d}": db_job(db_instance=f"database-{n:03d}")[DB_JOB]
                 for n in range(250)}}

    execution = run({"config": config})

    sizes = [len(payload.encode()) for event in execution.history for payload in
             payloads(event)]
    children = execution.child_executions()
    print(f"\n500 jobs: largest state payload {max(sizes)} bytes, "
          f"cause {len(execution.cause)} characters, history {len(execution.history)} events "
          f"(children: {max(len(c.history) for c in children)} each at most)")
    assert len(execution.results()) == 500
    assert len(children) == 500
    assert len(execution.history) <= PARENT_EVENTS  # the same as for one job
    assert max(sizes) < MAX_STATE_PAYLOAD_BYTES
    # AWS caps a Fail state's cause at 32,768 characters: it lists the first few failures.
    assert execution.cause.startswith("500 of 500 jobs failed.")
    assert len(execution.cause) <= MAX_CAUSE_CHARACTERS
    assert len(json.loads(execution.cause.split(": ", 1)[1])) == 5


def test_the_plan_goes_to_the_run_bucket_and_the_state_stays_small(emulated, monkeypatch):
    # GIVEN 2,000 jobs (over 256 KiB of plan: one execution's state could not carry it)
    config = {f"sync_database_{n:05d}": db_job(db_instance=f"database-{n:05d}")[DB_JOB]
              for n in range(2000)}
    boto3.client("s3", region_name=SOURCE).create_bucket(Bucket="run-bucket")
    monkeypatch.setenv("RUN_BUCKET_NAME", "run-bucket")
    # WHEN Load Config plans the execution
    plan = plan_execution({"config": config}, "big")
    # THEN the plan is in the bucket and what travels in the state is a few hundred bytes
    assert len(json.dumps(plan)) < 1000
    assert plan["plans"]["express"] == {"key": "runs/big/plan-express.json", "jobs": 2000,
                                       "max_concurrency": 10}
    stored = boto3.client("s3", region_name=SOURCE).get_object(
        Bucket="run-bucket", Key="runs/big/plan-express.json")["Body"].read()
    assert len(stored) > 256 * 1024
    assert [item["index"] for item in json.loads(stored)] == list(range(2000))


