"""The `xregion-sync` command: exit codes, output, and no tracebacks for expected errors."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from conftest import ONE_BAD_JOB, SOURCE, VALID

from xregion_sync import cli
from xregion_sync.deploy import config_parameter_name
from xregion_sync_emulator import emulated_aws, execute_state_machine
from xregion_sync_emulator.seed import add_automated_snapshot, seed_demo
from xregion_sync_emulator.stack import local_stack
from xregion_sync_emulator.stepfunctions import deploy
from xregion_sync_emulator.template import read_template


@pytest.fixture
def config_file(tmp_path):
    def write(text: str, name: str = "config.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_validate_accepts_a_valid_config(capsys, config_file):
    code, out, _ = run_cli(capsys, "validate", config_file(VALID))
    assert code == 0
    assert "2 of 2 jobs valid" in out


def test_validate_lists_every_error_with_job_and_field(capsys, config_file):
    code, out, _ = run_cli(capsys, "validate", config_file(ONE_BAD_JOB))
    assert code == 1
    assert "job 'sync_broken', field 'destination_region'" in out
    assert "job 'sync_broken', field 'db_instance': is required" in out
    assert "did you mean 'us-east-2'" in out
    assert "2 of 3 jobs valid" in out


@pytest.mark.parametrize("text, expected", [
    ("", "the config is empty"),
    ("- a\n- b\n", "must be a mapping of jobs"),
    ("sync_a: [unclosed\n", "not valid YAML"),
    ("aws_client_config: {}\n", "defines no jobs"),
])
def test_unreadable_configs_are_one_clear_error(capsys, config_file, text, expected):
    code, _, err = run_cli(capsys, "validate", config_file(text))
    assert code == 1
    assert expected in err


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert "cannot read config file" in err


def test_run_prints_a_table_and_fails_when_a_job_fails(capsys, config_file, emulated):
    # GIVEN the demo world, and a config with a broken job beside two good ones
    seed_demo()
    # WHEN it runs
    code, out, _ = run_cli(capsys, "run", config_file(ONE_BAD_JOB))
    # THEN the table has a row per job and the exit code reports the failure
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["JOB", "TYPE", "STATUS", "RESOURCE", "MESSAGE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert " copied " in rows["sync_web_app"] and " copied " in rows["sync_orders_db"]
    assert " failed " in rows["sync_broken"] and "us-easst-2" in rows["sync_broken"]


def test_run_json_is_the_result_contract(capsys, config_file, emulated):
    seed_demo()
    code, out, _ = run_cli(capsys, "run", config_file(VALID), "--json")
    assert code == 0
    # the shape of a state machine execution's output
    document = json.loads(out)
    assert set(document) == {"results", "summary"}
    assert document["summary"] == {"total": 2, "copied": 2, "in_sync": 0, "deferred": 0,
                                   "failed": 0}
    results = document["results"]
    assert [r["name"] for r in results] == ["sync_web_app", "sync_orders_db"]
    assert all(set(r) == {"name", "sync_type", "status", "created_resource", "copy_state",
                          "pruned", "errors"} for r in results)
    assert {r["status"] for r in results} == {"copied"}


def test_dry_run_only_reads(capsys, config_file, api_calls):
    seed_demo()
    code, out, _ = run_cli(capsys, "run", config_file(VALID), "--json", "--dry-run")
    assert code == 0
    assert {r["status"] for r in json.loads(out)["results"]} == {"would_copy"}
    assert api_calls.count() > 0
    assert all(op.startswith("Describe") for op in api_calls.operations())


@pytest.mark.statemachine
def test_run_on_the_local_state_machine_matches_in_process(capsys, config_file):
    code, out, _ = run_cli(capsys, "run", config_file(VALID), "--json",
                           "--engine", "stepfunctions-local")
    assert code == 0
    results = json.loads(out)["results"]
    assert [(r["name"], r["status"]) for r in results] == [
        ("sync_web_app", "copied"), ("sync_orders_db", "copied")]


@pytest.mark.parametrize("engine", ["inprocess", "stepfunctions-local"])  # the 2nd: marked
def test_run_with_job_runs_only_the_jobs_named(capsys, config_file, engine):
    # The local engine makes its own emulated AWS; the in-process one runs on this one.
    with emulated_aws() if engine == "inprocess" else contextlib.nullcontext():
        if engine == "inprocess":
            seed_demo()
        code, out, _ = run_cli(capsys, "run", config_file(VALID), "--json", "--engine",
                               engine, "--job", "sync_orders_db")
    assert code == 0
    assert [r["name"] for r in json.loads(out)["results"]] == ["sync_orders_db"]


def test_run_with_an_unknown_job_runs_nothing_and_names_it(capsys, config_file, emulated):
    code, _, err = run_cli(capsys, "run", config_file(VALID), "--job", "sync_typo")
    assert code == 1
    assert "sync_typo" in err and "sync_web_app" in err


@pytest.mark.statemachine
def test_demo_runs_the_state_machine_twice(capsys):
    code, out, _ = run_cli(capsys, "demo", "--json")
    assert code == 0
    first, second, drills = json.loads(out)
    assert first["status"] == second["status"] == drills["status"] == "SUCCEEDED"
    assert first["output"]["summary"] == {
        "total": 3, "copied": 3, "in_sync": 0, "deferred": 0, "failed": 0}
    assert second["output"]["summary"] == {
        "total": 3, "copied": 0, "in_sync": 3, "deferred": 0, "failed": 0}
    assert [r["sync_type"] for r in first["output"]["results"]] == [
        "ec2_ami", "rds_automated_snapshot", "rds_cluster_snapshot"]
    # and it ends with a restore drill of each job, on the drill state machine
    assert [(r["name"], r["status"], r["cleaned_up"]) for r in drills["output"]["results"]] == [
        ("sync_web_app", "passed", True), ("sync_orders_db", "passed", True),
        ("sync_orders_cluster", "passed", True)]
    assert all(r["restore_seconds"] >= 600 for r in drills["output"]["results"])


@pytest.mark.statemachine
def test_demo_table_shows_the_states_each_job_passed(capsys):
    code, out, _ = run_cli(capsys, "demo")
    assert code == 0
    assert ("sync_web_app: Config Valid? -> Resolve Source -> Check Sync Tag -> "
            "Already In Sync? -> Start Copy") in out
    assert "sync_orders_db: Config Valid? -> Resolve Source -> Check Sync Tag -> " \
           "Already In Sync? -> Record Result" in out
    assert "sync_orders_cluster: Config Valid? -> Resolve Source -> Check Sync Tag -> " \
           "Already In Sync? -> Start Copy" in out


@pytest.mark.statemachine
def test_push_config_stores_what_the_schedule_runs(capsys, config_file, emulated):
    # GIVEN a valid config pushed to the local stack's parameter
    seed_demo()
    with local_stack():
        code, out, _ = run_cli(capsys, "push-config", config_file(VALID), "--stack",
                               "xregion-sync-local", "--region", "us-east-1")
    assert code == 0
    stored = boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name=config_parameter_name("xregion-sync-local"))["Parameter"]["Value"]
    assert stored == VALID
    # WHEN the schedule starts the state machine with empty input
    execution = execute_state_machine({})
    # THEN it ran the pushed config
    assert execution.status == "SUCCEEDED"
    assert [r.name for r in execution.results()] == ["sync_web_app", "sync_orders_db"]


@pytest.mark.statemachine
def test_push_config_puts_a_config_too_large_for_ssm_in_the_run_bucket(capsys, config_file,
                                                                      emulated):
    # GIVEN a deployed stack (its run bucket in its outputs) and a config over 8 KB
    seed_demo()
    deploy()
    bucket = read_template().buckets()[0]
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="xregion-sync-local", TemplateBody=json.dumps({
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"RunBucketName": {"Value": bucket}}}))
    padding = "".join(f"# {'padding ' * 10}{n}\n" for n in range(120))
    code, out, _ = run_cli(capsys, "push-config", config_file(VALID + padding), "--stack",
                           "xregion-sync-local", "--region", "us-east-1")
    # THEN the config is in the bucket and the parameter names it
    assert code == 0, out
    assert f"s3://{bucket}/config/config.yaml" in out
    stored = boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name=config_parameter_name("xregion-sync-local"))["Parameter"]["Value"]
    assert stored == f"config_uri: s3://{bucket}/config/config.yaml\n"
    # AND the schedule (empty input) runs it
    execution = execute_state_machine({})
    assert execution.status == "SUCCEEDED"
    assert [r.name for r in execution.results()] == ["sync_web_app", "sync_orders_db"]


def _stored_parameters() -> list:
    return boto3.client("ssm", region_name="us-east-1").describe_parameters()["Parameters"]


def test_push_config_to_a_stack_that_does_not_exist_stores_nothing(capsys, config_file,
                                                                    emulated):
    # GIVEN no stack named "typo" in the region  WHEN a config is pushed to it
    code, _, err = run_cli(capsys, "push-config", config_file(VALID), "--stack", "typo",
                           "--region", "us-east-1")
    # THEN it is refused, naming the stack and what to do, and nothing is stored
    assert code == 1
    assert "stack typo does not exist in us-east-1: deploy it first" in err
    assert "nothing was stored" in err
    assert _stored_parameters() == []


ROLE = "arn:aws:iam::111111111111:role/xregion-sync-dr"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:xrs/keys-AbCdEf"
WITH_ROLE_AND_SECRET = VALID + f"""
sync_partner_db:
  sync_type: rds_automated_snapshot
  source_region: us-east-1
  destination_region: us-west-2
  db_instance: partner-db
  aws_client_config: {{role_arn: "{ROLE}"}}
sync_keyed_db:
  sync_type: rds_automated_snapshot
  source_region: us-east-1
  destination_region: us-west-2
  db_instance: keyed-db
  aws_client_config: {{credentials_secret_arn: "{SECRET}"}}
"""


@pytest.mark.deploy_parameters(NotificationEmail="ops@example.com")
def test_push_config_refuses_roles_and_secrets_the_stack_does_not_grant(capsys, config_file,
                                                                         emulated):
    # GIVEN a stack deployed without JobRoleArns or CredentialsSecretArns
    with local_stack():
        # WHEN a config whose jobs assume a role and read a secret is pushed
        code, _, err = run_cli(capsys, "push-config", config_file(WITH_ROLE_AND_SECRET),
                               "--stack", "xregion-sync-local", "--region", "us-east-1")
    # THEN it is refused, naming each job, field and the parameter to set; nothing stored
    assert code == 1
    assert f"job 'sync_partner_db', field 'role_arn': {ROLE} is not in the stack's " \
           "JobRoleArns parameter" in err
    assert f"job 'sync_keyed_db', field 'credentials_secret_arn': {SECRET} is not in the " \
           "stack's CredentialsSecretArns parameter" in err
    assert "nothing was stored" in err and "NotificationEmail" not in err
    assert _stored_parameters() == []


@pytest.mark.deploy_parameters(JobRoleArns="arn:aws:iam::111111111111:role/xregion-sync-*",
                               CredentialsSecretArns=SECRET.replace("AbCdEf", "*"))
def test_push_config_accepts_what_the_stack_grants_and_warns_of_no_alarm_email(
        capsys, config_file, emulated):
    # GIVEN a stack granting the role and the secret (IAM wildcards), without an e-mail
    with local_stack():
        code, out, err = run_cli(capsys, "push-config", config_file(WITH_ROLE_AND_SECRET),
                                 "--stack", "xregion-sync-local", "--region", "us-east-1")
    # THEN the config is stored, with a warning that the alarms notify nobody
    assert code == 0, err
    assert "stored in /xregion-sync/xregion-sync-local/config" in out
    assert "warning: the stack's NotificationEmail parameter is empty" in err
    assert [p["Name"] for p in _stored_parameters()] == [
        config_parameter_name("xregion-sync-local")]


def stack_with_a_versioned_run_bucket(name: str) -> str:
    """A stack owning its RunBucket (versioned, holding plans, results and two versions of
    a config), as sam deploy makes it; returns the bucket's name."""
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({
        "Resources": {"RunBucket": {"Type": "AWS::S3::Bucket",
                                    "Properties": {"BucketName": f"{name}-runbucket"}}},
        "Outputs": {"RunBucketName": {"Value": {"Ref": "RunBucket"}}}}))
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"{name}-runbucket"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for key in ("runs/x/plan-express.json", "config/config.yaml", "config/config.yaml"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    s3.delete_object(Bucket=bucket, Key="runs/x/plan-express.json")  # a delete marker
    return bucket


def test_delete_stack_empties_its_versioned_run_bucket_and_keeps_the_dr_copies(
        capsys, emulated):
    # GIVEN a deployed stack whose versioned run bucket holds objects, another bucket, and
    # a DR copy in the destination region
    bucket = stack_with_a_versioned_run_bucket("xrs-doomed")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="users-own-bucket")
    s3.put_object(Bucket="users-own-bucket", Key="keep.txt", Body=b"mine")
    copy = boto3.client("ec2", region_name="us-west-2").register_image(Name="dr-copy")
    # WHEN it is deleted (after a first call without --yes, which changes nothing)
    assert run_cli(capsys, "delete-stack", "--stack", "xrs-doomed", "--region",
                   "us-east-1")[0] == 2
    assert s3.list_object_versions(Bucket=bucket).get("Versions")
    code, out, _ = run_cli(capsys, "delete-stack", "--stack", "xrs-doomed", "--region",
                           "us-east-1", "--yes")
    # THEN every version and delete marker went, so the stack and its bucket are deleted
    # (emulated CloudFormation keeps a stack whose bucket is not empty, as AWS does), and
    # nothing else was touched
    assert code == 0
    assert f"run bucket {bucket} emptied (4 object versions)" in out
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_object(Bucket="users-own-bucket", Key="keep.txt")["Body"].read() == b"mine"
    assert boto3.client("ec2", region_name="us-west-2").describe_images(
        ImageIds=[copy["ImageId"]])["Images"]
    stacks = boto3.client("cloudformation", region_name="us-east-1").list_stacks()
    assert {s["StackName"]: s["StackStatus"] for s in stacks["StackSummaries"]}[
        "xrs-doomed"] == "DELETE_COMPLETE"


def test_delete_stack_of_a_stack_that_does_not_exist_deletes_nothing(capsys, emulated):
    code, _, err = run_cli(capsys, "delete-stack", "--stack", "typo", "--region",
                           "us-east-1", "--yes")
    assert code == 1
    assert "stack typo does not exist in us-east-1" in err


@pytest.mark.parametrize("extra, expected", [
    ("aws_client_config: {aws_access_key: AKIAFAKE, aws_secret_key: fake}\n", "role_arn"),
    ("sync_x: {sync_type: ec2_amy}\n", "ec2_ami"),
])
def test_push_config_refuses_bad_configs_and_stores_nothing(capsys, config_file, emulated,
                                                            extra, expected):
    code, _, err = run_cli(capsys, "push-config", config_file(VALID + extra), "--stack", "s",
                           "--region", "us-east-1")
    assert code == 1
    assert expected in err and "nothing was stored" in err
    ssm = boto3.client("ssm", region_name="us-east-1")
    assert ssm.describe_parameters()["Parameters"] == []




def test_dry_run_is_refused_on_the_state_machine_engine(capsys, config_file):
    code, _, err = run_cli(capsys, "run", config_file(VALID), "--dry-run",
                           "--engine", "stepfunctions-local")
    assert code == 1
    assert "--dry-run needs the in-process engine" in err


@pytest.mark.statemachine
def test_task_logs_go_to_stderr_so_json_on_stdout_stays_valid(capsys, config_file,
                                                              monkeypatch):
    # GIVEN the task logs switched on (INFO), and the state machine engine (it seeds its own
    # emulated world), whose task Lambdas log JSON lines
    monkeypatch.setenv("XREGION_SYNC_LOG_LEVEL", "INFO")

    # WHEN the results are asked for as JSON
    code, out, err = run_cli(capsys, "run", config_file(VALID), "--json",
                             "--engine", "stepfunctions-local")

    # THEN stdout is exactly the JSON results; the log lines went to stderr
    assert code == 0
    assert [r["name"] for r in json.loads(out)["results"]] == ["sync_web_app",
                                                                "sync_orders_db"]
    assert '"level": "INFO"' in err


def test_a_missing_profile_is_a_config_error_naming_the_job_and_field(capsys, config_file,
                                                                      emulated):
    # GIVEN a job whose aws_client_config names a profile this machine does not have
    text = VALID.replace("  sync_identifier: web-app\n",
                         "  sync_identifier: web-app\n  aws_client_config: {profile: nope}\n")

    # WHEN it runs
    code, out, err = run_cli(capsys, "run", config_file(text))

    # THEN that job fails with what to fix (run_cli checks there is no traceback)
    assert code == 1
    assert ("job 'sync_web_app', field 'aws_client_config.profile': there is no profile "
            "'nope'") in out


def test_validate_for_stepfunctions_refuses_what_the_state_machine_refuses(capsys,
                                                                          config_file):
    # GIVEN a job with static access keys: fine in-process, refused by the state machine
    text = VALID.replace("  sync_identifier: web-app\n", "  sync_identifier: web-app\n"
                         "  aws_client_config: {aws_access_key_id: AKIAEXAMPLE, "
                         "aws_secret_access_key: secret}\n")
    path = config_file(text)

    # WHEN it is validated for each engine
    in_process, out_in_process, _ = run_cli(capsys, "validate", path)
    for_state_machine, out, _ = run_cli(capsys, "validate", path, "--for", "stepfunctions")

    # THEN only the state machine check fails, naming the job, the field and what to use
    assert (in_process, for_state_machine) == (0, 1)
    assert "2 of 2 jobs valid" in out_in_process
    assert ("error: job 'sync_web_app', field 'aws_client_config': static access keys are "
            "not accepted by the state machine") in out
    assert "1 of 2 jobs valid" in out


def test_a_config_argument_is_a_path_even_without_a_yaml_suffix(capsys, tmp_path,
                                                                monkeypatch):
    # GIVEN a path that does not exist, with no .yaml suffix (it used to be parsed as YAML
    # text: "the top level of the config must be a mapping of jobs, not a string")
    monkeypatch.chdir(tmp_path)

    # WHEN it is validated
    code, _, err = run_cli(capsys, "validate", "my-config")

    # THEN the error says the file cannot be read
    assert code == 1
    assert "cannot read config file my-config" in err


def test_in_sync_rows_name_the_copy_and_dry_runs_the_source_while_json_keeps_the_contract(
        capsys, config_file, emulated):
    # GIVEN the demo world copied once
    seed_demo()
    path = config_file(VALID)
    run_cli(capsys, "run", path)

    # WHEN it runs again (in sync), as a table and as JSON, and dry after a new backup
    _, table, _ = run_cli(capsys, "run", path)
    _, as_json, _ = run_cli(capsys, "run", path, "--json")
    add_automated_snapshot(SOURCE, "orders-db", datetime.now(UTC) + timedelta(hours=1))
    _, dry, _ = run_cli(capsys, "run", path, "--dry-run")

    # THEN in-sync rows name the copy found; the dry run names the source it would copy
    rows = {line.split()[0]: line for line in table.splitlines() if line.startswith("sync_")}
    assert re.search(r" in_sync +ami-[0-9a-f]+ \(available\)", rows["sync_web_app"])
    assert re.search(r" in_sync +rds-orders-db-\S+ \(available\)", rows["sync_orders_db"])
    dry_rows = {line.split()[0]: line for line in dry.splitlines() if line.startswith("sync_")}
    assert re.search(r"would copy rds:orders-db-\S+", dry_rows["sync_orders_db"])
    # AND the JSON results are exactly the result contract's keys
    assert all(list(r) == ["name", "sync_type", "status", "created_resource", "copy_state",
                           "pruned", "errors"] for r in json.loads(as_json)["results"])


def test_demo_without_a_checkout_says_what_it_needs(capsys, monkeypatch, tmp_path):
    # GIVEN an installed command: no template.yaml beside the emulator
    from xregion_sync_emulator import template

    monkeypatch.setattr(template, "TEMPLATE_PATH", tmp_path / "template.yaml")
    for argv in (["demo"], ["run", "config.yaml", "--engine", "stepfunctions-local"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2
        assert "need a checkout of xregion-sync" in err and "make demo" in err
