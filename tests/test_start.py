"""`xregion-sync start` and `executions` against the deployed stack, here the local state
machine on emulated AWS behind a stack that carries template.yaml's outputs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest
from conftest import ONE_BAD_JOB, VALID

from xregion_sync import cli, operate
from xregion_sync.deploy import config_parameter_name
from xregion_sync_emulator.seed import seed_demo
from xregion_sync_emulator.stack import local_stack

STACK = "xregion-sync-local"
REGION = "us-east-1"
FAST = ("--poll-seconds", "0.05")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def push(text: str) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=config_parameter_name(STACK), Value=text, Type="String", Overwrite=True)


@pytest.fixture
def stack(emulated, monkeypatch):
    """The demo world, a deployed stack whose scheduled config is VALID. The task Lambdas
    run in this process: their logs (CloudWatch's on AWS) are kept off the terminal."""
    monkeypatch.setenv("XREGION_SYNC_LOG_LEVEL", "CRITICAL")
    seed_demo()
    with local_stack(STACK) as arn:
        push(VALID)
        yield arn


def started_arn(out: str) -> str:
    return next(line.split()[1] for line in out.splitlines() if line.startswith("started "))


def finished(execution_arn: str) -> dict:
    """Wait for an execution started without --follow (its tasks need the stack's
    environment, set only inside the fixture)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return operate.follow(sfn, execution_arn, poll_seconds=0.05)


def sent_input(execution_arn: str) -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])


# ---------------------------------------------------------------- start


@pytest.mark.statemachine
def test_start_without_flags_sends_empty_input_and_prints_arn_and_console_url(capsys, stack):
    code, out, _ = run_cli(capsys, "start", "--stack", STACK)
    assert code == 0
    arn = started_arn(out)
    assert arn.startswith(stack.replace(":stateMachine:", ":execution:") + ":")
    assert (f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
            f"#/v2/executions/details/{arn}") in out
    assert sent_input(arn) == {}
    assert finished(arn)["status"] == "SUCCEEDED"


@pytest.mark.statemachine
def test_start_with_jobs_sends_their_names(capsys, stack):
    code, out, _ = run_cli(capsys, "start", "--stack", STACK, "--job", "sync_web_app",
                           "--job", "sync_orders_db")
    assert code == 0
    arn = started_arn(out)
    assert sent_input(arn) == {"jobs": ["sync_web_app", "sync_orders_db"]}
    finished(arn)


@pytest.mark.statemachine
def test_start_with_config_uri_sends_it(capsys, stack):
    code, out, _ = run_cli(capsys, "start", "--stack", STACK, "--config-uri",
                           "s3://xregion-sync-local-runbucket/config/other.yaml",
                           "--job", "sync_web_app")
    assert code == 0
    arn = started_arn(out)
    assert sent_input(arn) == {"jobs": ["sync_web_app"],
                               "config_uri": "s3://xregion-sync-local-runbucket/config/other.yaml"}
    finished(arn)


def test_start_on_an_unknown_stack_is_bad_input(capsys, stack):
    code, out, err = run_cli(capsys, "start", "--stack", "no-such-stack", "--region", REGION)
    assert code == 2
    assert "stack no-such-stack not found in us-east-1" in err
    assert "--stack" in err and "nothing was started" in err
    assert "started" not in out


def test_start_on_a_stack_without_the_output_is_bad_input(capsys, emulated):
    with local_stack("other-stack", outputs={"RunBucketName": "b"}):
        code, _, err = run_cli(capsys, "start", "--stack", "other-stack")
    assert code == 2
    assert "stack other-stack in us-east-1 has no output StateMachineArn" in err
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_start_refuses_a_config_uri_load_config_cannot_read(capsys, stack):
    code, _, err = run_cli(capsys, "start", "--stack", STACK, "--config-uri", "config.yaml")
    assert code == 2
    assert "--config-uri must be 'ssm:<parameter name>' or 's3://bucket/key'" in err


def test_bad_flags_exit_2_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["start"])
    assert exit_.value.code == 2
    assert "--stack" in capsys.readouterr().err


# ---------------------------------------------------------------- start --follow


@pytest.mark.statemachine
def test_follow_shows_progress_then_the_table_and_exits_0(capsys, stack):
    code, out, _ = run_cli(capsys, "start", "--stack", STACK, "--follow", *FAST)
    assert code == 0
    lines = out.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    assert any("RUNNING" in line for line in progress)
    assert "SUCCEEDED" in progress[-1] and "jobs 2/2 done" in progress[-1]
    header = lines.index(next(line for line in lines if line.startswith("JOB ")))
    assert lines[header].split() == ["JOB", "TYPE", "STATUS", "RESOURCE", "MESSAGE"]
    rows = {line.split()[0]: line for line in lines[header + 1:header + 3]}
    assert " copied " in rows["sync_web_app"] and " copied " in rows["sync_orders_db"]
    assert "2 jobs: 2 copied, 0 in sync, 0 deferred, 0 failed" in out
    assert lines[-1] == "execution SUCCEEDED"


@pytest.mark.statemachine
def test_follow_exits_1_when_a_job_failed(capsys, stack):
    push(ONE_BAD_JOB)
    code, out, _ = run_cli(capsys, "start", "--stack", STACK, "--follow", *FAST)
    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("sync_")}
    assert " failed " in rows["sync_broken"] and "us-easst-2" in rows["sync_broken"]
    assert " copied " in rows["sync_web_app"]
    assert "3 jobs: 2 copied, 0 in sync, 0 deferred, 1 failed" in out
    assert "execution FAILED" in out


@pytest.mark.statemachine
def test_follow_exits_1_with_the_reason_when_load_config_fails(capsys, stack):
    code, out, err = run_cli(capsys, "start", "--stack", STACK, "--follow", *FAST,
                             "--config-uri", "ssm:/not/a/parameter")
    assert code == 1
    assert "execution FAILED" in out and "JOB " not in out
    assert "ssm:/not/a/parameter" in err and "stackTrace" not in err


@pytest.mark.statemachine
def test_follow_polls_until_the_end_and_reads_results_from_the_run_bucket(stack):
    # GIVEN an execution that has just started
    arn = operate.start_execution(operate.find_stack(STACK), {})
    sfn = boto3.client("stepfunctions", region_name=REGION)
    seen = []
    # WHEN followed
    description = operate.follow(sfn, arn, poll_seconds=0.01,
                                 on_progress=lambda now, elapsed: seen.append(now))
    # THEN it saw it running and ended with it
    assert seen[0].status == "RUNNING" and seen[-1].status == "SUCCEEDED"
    assert seen[-1].total == seen[-1].done == 2
    # AND results named by results_uri are read from S3
    document = operate.execution_document(sfn, description)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket="xregion-sync-local-runbucket", Key="r.json",
                  Body=json.dumps(document["results"]))
    moved = {"summary": document["summary"],
             "results_uri": "s3://xregion-sync-local-runbucket/r.json"}
    assert [r.to_dict() for r in operate.read_results(moved, s3)] == document["results"]


# ---------------------------------------------------------------- executions


@pytest.mark.statemachine
def test_executions_lists_the_newest_first_with_summaries(capsys, stack):
    assert run_cli(capsys, "start", "--stack", STACK, "--follow", *FAST)[0] == 0
    push(ONE_BAD_JOB)
    assert run_cli(capsys, "start", "--stack", STACK, "--follow", *FAST)[0] == 1
    code, out, _ = run_cli(capsys, "executions", "--stack", STACK)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "STARTED", "STOPPED", "SUMMARY"]
    assert " FAILED " in lines[1]
    assert "3 jobs: 0 copied, 2 in sync, 0 deferred, 1 failed" in lines[1]
    assert " SUCCEEDED " in lines[2]
    assert "2 jobs: 2 copied, 0 in sync, 0 deferred, 0 failed" in lines[2]
    assert len(lines) == 3


@pytest.mark.statemachine
def test_executions_json_shape_and_max(capsys, stack):
    assert run_cli(capsys, "start", "--stack", STACK, "--follow", *FAST)[0] == 0
    assert run_cli(capsys, "start", "--stack", STACK, "--follow", *FAST,
                   "--config-uri", "ssm:/not/a/parameter")[0] == 1
    code, out, _ = run_cli(capsys, "executions", "--stack", STACK, "--json")
    assert code == 0
    rows = json.loads(out)
    assert [row["status"] for row in rows] == ["FAILED", "SUCCEEDED"]
    assert all(set(row) == {"name", "arn", "status", "start", "stop", "summary", "error",
                            "cause"} for row in rows)
    assert rows[1]["summary"] == {"total": 2, "copied": 2, "in_sync": 0, "deferred": 0,
                                  "failed": 0}
    assert rows[0]["summary"] is None and rows[0]["error"]
    assert rows[0]["start"] <= rows[0]["stop"]
    code, out, _ = run_cli(capsys, "executions", "--stack", STACK, "--json", "--max", "1")
    assert [row["status"] for row in json.loads(out)] == ["FAILED"]


def test_executions_on_an_unknown_stack_is_bad_input(capsys, emulated):
    code, _, err = run_cli(capsys, "executions", "--stack", "no-such-stack")
    assert code == 2
    assert "stack no-such-stack not found in us-east-1" in err


# ---------------------------------------------------------------- run on the local engine


@pytest.mark.statemachine
def test_run_on_the_local_state_machine_fails_when_load_config_fails(capsys, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("XREGION_SYNC_LOG_LEVEL", "CRITICAL")
    path = tmp_path / "keys.yaml"
    path.write_text("aws_client_config: {region: us-east-1}\n")  # Load Config: no jobs
    code, out, err = run_cli(capsys, "run", str(path), "--engine", "stepfunctions-local")
    assert code == 1
    assert "the execution ended FAILED: ConfigError: the config defines no jobs" in err
    assert "stackTrace" not in err


# ---------------------------------------------------------------- start --dry-run


@pytest.mark.statemachine
def test_a_dry_run_shows_what_a_real_run_would_copy_and_changes_nothing(capsys, stack):
    ec2 = boto3.client("ec2", region_name="us-west-2")
    rds = boto3.client("rds", region_name="us-west-2")
    before = (ec2.describe_images(Owners=["self"])["Images"],
              rds.describe_db_snapshots()["DBSnapshots"])

    code, out, _ = run_cli(capsys, "start", "--stack", STACK, "--dry-run", "--follow", *FAST)

    assert code == 0
    assert sent_input(started_arn(out)) == {"dry_run": True}
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("sync_")}
    assert set(rows) == {"sync_web_app", "sync_orders_db"}
    assert all(" would_copy " in row for row in rows.values()), rows
    assert (ec2.describe_images(Owners=["self"])["Images"],
            rds.describe_db_snapshots()["DBSnapshots"]) == before


def test_follow_stops_following_after_max_seconds_naming_the_execution():
    class Running:  # Step Functions, for an execution that never ends
        def describe_execution(self, executionArn):
            return {"executionArn": executionArn, "status": "RUNNING"}

        def get_paginator(self, operation):
            return SimpleNamespace(paginate=lambda **kwargs: [{"events": []}])

    ticks = iter(range(0, 1000, 30))  # each look at the clock: 30 s later
    with pytest.raises(operate.OperateError, match=r"still RUNNING after 60 s; it goes on"):
        operate.follow(Running(), "arn:aws:states:us-east-1:123456789012:execution:m:e",
                       sleep=lambda seconds: None, clock=lambda: next(ticks), max_seconds=60)
