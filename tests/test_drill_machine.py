"""The drill state machine (statemachine/drills.asl.json): its shape checked offline, and
its executions on emulated AWS with IAM enforced, whose restores take RESTORE_SECONDS and
whose Wait states pass emulated time at once (emulated_aws(waits_pass_time=True))."""

from __future__ import annotations

import json

import pytest
from conftest import DESTINATION, SOURCE
from test_asl_and_template import (
    FUNCTIONS,
    LAMBDA_SERVICE_ERRORS,
    STATELINT_OUTDATED,
    TEMPLATE,
    cfn_lint_definition,
    run_tool,
)
from test_drills import (
    RESTORE_SECONDS,
    config,
    copy_tags,
    dead_drill_tags,
    drill_resources,
    validation_function,
)

from xregion_sync import run
from xregion_sync.drills import DRILL_RESULT_KEYS, TAG_LAST_DRILL_STATUS
from xregion_sync_emulator import emulated_aws, execute_state_machine
from xregion_sync_emulator.seed import create_ami, create_db_cluster, create_db_instance

MACHINE = TEMPLATE.machines["DrillStateMachine"]
ASL_TEXT = MACHINE.definition_path.read_text(encoding="utf-8")
ASL = json.loads(ASL_TEXT)
JOB_STATES = ASL["States"]["Drill Jobs"]["ItemProcessor"]["States"]
PLACEHOLDERS = sorted({p for p in MACHINE.substitutions if f"${{{p}}}" in ASL_TEXT})
DRILL = "DrillStateMachine"
VALIDATOR = f"arn:aws:lambda:{DESTINATION}:123456789012:function:"


# ---------------------------------------------------------------- shape, offline


def test_statelint_accepts_the_drill_asl():
    linted = run_tool("statelint", "--ignore=URI", MACHINE.definition_path)

    findings = [line for line in (linted.stdout + linted.stderr).splitlines()
                if line.strip() and not line.strip().endswith(("error:", "errors:"))]
    assert [f for f in findings if not STATELINT_OUTDATED.search(f.strip())] == []


def test_cfn_lint_accepts_the_drill_asl(tmp_path):
    linted = cfn_lint_definition(ASL, tmp_path, PLACEHOLDERS)

    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_every_drill_placeholder_is_the_arn_of_the_function_it_names():
    assert PLACEHOLDERS == sorted(MACHINE.substitutions)
    for key, value in MACHINE.substitutions.items():
        assert value == {"Fn::GetAtt": [key.removesuffix("Arn"), "Arn"]}
        assert key.removesuffix("Arn") in FUNCTIONS


def tasks() -> dict[str, dict]:
    states = {**ASL["States"], **JOB_STATES}
    return {name: state for name, state in states.items() if state["Type"] == "Task"}


@pytest.mark.parametrize("name", sorted(tasks()))
def test_every_drill_task_has_a_timeout_retries_and_a_catch_to_clean_up(name):
    task = tasks()[name]
    retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
    function = task["Resource"].strip("${}").removesuffix("Arn")
    timeout = FUNCTIONS[function]["Properties"].get(
        "Timeout", TEMPLATE.raw["Globals"]["Function"]["Timeout"])
    catches = {(tuple(c["ErrorEquals"]), c["Next"]) for c in task.get("Catch", [])}

    assert timeout == task["TimeoutSeconds"] - 5
    assert LAMBDA_SERVICE_ERRORS <= retried and not retried & {"States.ALL", "States.TaskFailed"}
    expected = {"Clean Up Expired Drills": "Drills Not Planned",
                "Plan Drills": "Drills Not Planned",
                "Clean Up Drill": "Record Drill Result",
                "Record Drill Result": "Drill Not Recorded"}
    if name == "Summarize Drills":
        assert not catches  # nothing left to clean up or record
    else:
        assert catches == {(("States.ALL",), expected.get(name, "Clean Up Drill"))}


def test_the_janitor_runs_first_and_a_failed_drill_fails_the_execution():
    states = ASL["States"]
    assert ASL["StartAt"] == "Clean Up Expired Drills"
    assert states["Clean Up Expired Drills"]["Next"] == "Plan Drills"
    assert states["Any Drill Failed?"]["Choices"] == [
        {"Variable": "$.summary.failed", "NumericGreaterThan": 0, "Next": "Drills Failed"}]
    assert states["Drills Failed"]["Type"] == "Fail"


def test_the_drill_machine_is_standard_on_its_own_weekly_schedule_one_drill_at_a_time():
    machine = TEMPLATE.raw["Resources"][DRILL]["Properties"]
    schedule = machine["Events"]["Schedule"]["Properties"]
    parameters = TEMPLATE.raw["Parameters"]

    assert "Type" not in machine  # STANDARD: a restore takes 10 to 40 minutes
    assert schedule["Schedule"] == {"Ref": "DrillSchedule"}
    assert parameters["DrillSchedule"]["Default"] == "rate(7 days)"
    assert schedule["State"] == {"Ref": "DrillScheduleState"}
    assert parameters["DrillScheduleState"]["AllowedValues"] == ["ENABLED", "DISABLED"]
    assert parameters["DrillMaxConcurrency"]["Default"] == 1
    plan = FUNCTIONS["PlanDrillsFunction"]["Properties"]["Environment"]["Variables"]
    assert plan["DRILL_MAX_CONCURRENCY"] == {"Ref": "DrillMaxConcurrency"}
    assert ASL["States"]["Drill Jobs"]["MaxConcurrencyPath"] == "$.plan.max_concurrency"


# ---------------------------------------------------------------- executions


@pytest.fixture
def world():
    """Emulated AWS with a DR copy of each job's source, restores that take
    RESTORE_SECONDS, and validation functions the drills may invoke."""
    validators = ",".join(f"{VALIDATOR}{name}" for name in (
        "passing_validation", "failing_validation"))
    with emulated_aws(restore_seconds=RESTORE_SECONDS, waits_pass_time=True,
                      deploy_parameters={"DrillValidationFunctionArns": validators}):
        create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"})
        create_db_instance(SOURCE, "orders")
        create_db_cluster(SOURCE, "ledger")
        assert not [r for r in run(config()) if r.failed]
        yield


def drill_on_the_machine(cfg: dict, **execution_input):
    execution = execute_state_machine({"config": cfg, **execution_input}, machine=DRILL)
    document = execution.output or execution.final_document() or {}
    return execution, {r["name"]: r for r in document.get("results", ())}


def final_input(execution) -> dict:
    """The input of the last state entered (the Fail state's: the summary)."""
    entered = [e for e in execution.history if "stateEnteredEventDetails" in e]
    return json.loads(entered[-1]["stateEnteredEventDetails"]["input"])


@pytest.mark.statemachine
def test_the_machine_drills_each_type_measures_and_leaves_nothing_behind(world):
    execution, results = drill_on_the_machine(config())

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert list(results) == ["sync_web", "sync_orders", "sync_ledger"]
    for name, result in results.items():
        assert set(result) == set(DRILL_RESULT_KEYS)
        assert result["status"] == "passed", result["errors"]
        assert result["cleaned_up"] is True
        assert result["restore_seconds"] >= RESTORE_SECONDS
        assert copy_tags(name, result["copy_id"])[TAG_LAST_DRILL_STATUS] == "passed"
    # the cluster and then its instance, each RESTORE_SECONDS
    assert results["sync_ledger"]["restore_seconds"] >= 2 * RESTORE_SECONDS
    assert drill_resources() == []
    assert execution.output["summary"] == {"total": 3, "passed": 3, "failed": 0,
                                           "skipped": 0, "overdue": 0}
    states = execution.states_entered()
    assert states[:3] == ["Clean Up Expired Drills", "Plan Drills", "Drill Jobs"]
    assert states.count("Clean Up Drill") >= 3 and "Wait For Restore" in states


@pytest.mark.statemachine
def test_a_drill_not_due_is_skipped_and_force_drills_it(world):
    drill_on_the_machine(config(), jobs=["sync_orders"])

    again, skipped = drill_on_the_machine(config(), jobs=["sync_orders"])
    forced, drilled = drill_on_the_machine(config(), jobs=["sync_orders"], force=True)

    assert again.status == "SUCCEEDED" and skipped["sync_orders"]["status"] == "skipped"
    assert skipped["sync_orders"]["errors"][0]["type"] == "DrillNotDue"
    assert "Start Restore" not in again.states_entered()
    assert drilled["sync_orders"]["status"] == "passed"


@pytest.mark.statemachine
@pytest.mark.parametrize(("settings", "job", "reason"), [
    ({"db_subnet_group_name": "missing"}, "sync_orders", "DBSubnetGroupNotFoundFault"),
    ({"max_minutes": 10}, "sync_ledger", "max_minutes"),  # a cluster and its instance: 20
    ({"validation_function_arn": f"{VALIDATOR}failing_validation"}, "sync_orders",
     "table orders is empty"),
])
def test_a_failed_drill_fails_the_execution_names_the_reason_and_leaves_nothing(
        world, settings, job, reason):
    if "validation_function_arn" in settings:
        validation_function("failing_validation")

    execution, results = drill_on_the_machine(config(settings), jobs=[job])

    assert execution.status == "FAILED" and execution.error == "DrillsFailed"
    assert reason in execution.cause
    result = results[job]
    assert result["status"] == "failed" and reason in result["errors"][0]["message"]
    assert result["cleaned_up"] is True
    assert copy_tags(job, result["copy_id"])[TAG_LAST_DRILL_STATUS] == "failed"
    assert drill_resources() == []
    assert "Clean Up Drill" in execution.states_entered()


@pytest.mark.statemachine
def test_a_clean_up_that_fails_after_a_failed_restore_keeps_both_errors(world, monkeypatch):
    import dataclasses

    from xregion_sync import drill_types

    # GIVEN a restore that fails (no such subnet group) and a clean-up that then breaks
    def broken_clean_up(job, restore):
        raise RuntimeError("clean-up broke")

    kinds = dict(drill_types.DRILL_TYPES)
    kinds["rds_automated_snapshot"] = dataclasses.replace(
        kinds["rds_automated_snapshot"], clean_up=broken_clean_up)
    monkeypatch.setattr(drill_types, "DRILL_TYPES", kinds)
    monkeypatch.setattr("xregion_sync.drills.DRILL_TYPES", kinds)

    execution, results = drill_on_the_machine(config({"db_subnet_group_name": "missing"}),
                                              jobs=["sync_orders"])

    # THEN the drill's first failure (the real reason) is recorded, then the clean-up's
    assert execution.status == "FAILED" and execution.error == "DrillsFailed"
    errors = results["sync_orders"]["errors"]
    assert [e["type"] for e in errors] == ["AwsApiError", "RuntimeError"]
    assert "DBSubnetGroupNotFoundFault" in errors[0]["message"]
    assert "clean-up broke" in errors[1]["message"]
    assert results["sync_orders"]["cleaned_up"] is False
    assert "DBSubnetGroupNotFoundFault" in execution.cause
    assert "clean-up broke" in execution.cause


@pytest.mark.statemachine
def test_an_instance_class_that_does_not_exist_fails_the_drill_before_any_call(world):
    execution, results = drill_on_the_machine(config({"db_instance_class": "db.q9.micro"}),
                                              jobs=["sync_orders"])

    assert execution.status == "FAILED" and execution.error == "DrillsFailed"
    (error,) = results["sync_orders"]["errors"]
    assert "restore_drill.db_instance_class" in error["message"]
    assert "no family 'q9'" in error["message"]
    assert "Start Restore" not in execution.states_entered() and drill_resources() == []


@pytest.mark.statemachine
def test_a_passing_validation_function_is_invoked_under_the_stacks_iam(world):
    arn = validation_function("passing_validation")

    execution, results = drill_on_the_machine(config({"validation_function_arn": arn}),
                                              jobs=["sync_orders"])

    assert execution.status == "SUCCEEDED", execution.cause
    assert results["sync_orders"]["status"] == "passed"
    assert "Validate Restore" in execution.states_entered()


@pytest.mark.statemachine
def test_without_restore_drill_the_machine_does_nothing_and_succeeds(world):
    execution, results = drill_on_the_machine(config(drill_settings=False))

    assert execution.status == "SUCCEEDED"
    assert results == {} and execution.output["summary"]["total"] == 0
    assert "Start Restore" not in execution.states_entered()


@pytest.mark.statemachine
def test_the_janitor_state_deletes_expired_drill_resources_and_reports_them(world):
    import boto3

    rds = boto3.client("rds", region_name=DESTINATION)
    rds.create_db_instance(DBInstanceIdentifier="xrs-drill-orders-1",
                           DBInstanceClass="db.t4g.micro", Engine="postgres",
                           MasterUsername="x", MasterUserPassword="not-a-secret-1",
                           Tags=dead_drill_tags("sync_orders", "xrs-drill-orders-1",
                                                "2020-01-01T00:00:00Z"))

    execution, _ = drill_on_the_machine(config(drill_settings=False) | {
        "sync_orders": {**config()["sync_orders"], "restore_drill": {}}}, jobs=["sync_orders"])

    assert execution.status == "SUCCEEDED", execution.cause
    assert [(e["job"], e["id"]) for e in execution.output["expired"]] == [
        ("sync_orders", "xrs-drill-orders-1")]
    assert drill_resources() == []


# ---------------------------------------------------------------- metrics and the alarm


@pytest.mark.statemachine
@pytest.mark.usefixtures("info_logs")
def test_a_drill_run_writes_restore_seconds_per_job_and_failed_and_overdue_drills(
        world, capsys):
    from test_status import assert_valid_emf, emf_lines

    # GIVEN a job whose drill fails (past max_minutes) and one with no copy to drill
    cfg = config({"max_minutes": 10}, sync_web={"sync_identifier": "nothing-copied"})

    drill_on_the_machine(cfg)

    documents = emf_lines(capsys.readouterr().out)
    for document in documents:
        assert_valid_emf(document)
    restores = [d for d in documents if "RestoreSeconds" in d]
    (runs,) = [d for d in documents if "DrillsFailed" in d]
    # THEN RestoreSeconds for the drill that measured one, by stack and job
    assert [(d["job"], d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]) for d in restores] == [
        ("sync_orders", [["stack", "job"]])]
    assert restores[0]["RestoreSeconds"] >= RESTORE_SECONDS
    # AND the run's failed drills (the cluster's) and overdue ones (no copy), by stack
    (directive,) = runs["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["stack"]]
    assert (runs["DrillsFailed"], runs["DrillsOverdue"]) == (1, 1)


def test_the_drills_alarm_watches_failed_and_overdue_drills_and_may_notify():
    resources = TEMPLATE.raw["Resources"]
    alarm = resources["DrillsAlarm"]["Properties"]
    watched = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)

    assert {m["MetricName"] for m in watched.values()} == {"DrillsFailed", "DrillsOverdue"}
    assert all(m["Namespace"] == "XregionSync" for m in watched.values())
    assert set(expression.replace("+", " ").split()) == set(watched)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "FailureTopic"}]
    topic_policy = json.dumps(resources["FailureTopicPolicy"])
    assert "${AWS::StackName}-drills" in topic_policy
    assert alarm["AlarmName"] == {"Fn::Sub": "${AWS::StackName}-drills"}
    failed = resources["FailedExecutionsAlarm"]["Properties"]["Metrics"]
    assert {"Ref": DRILL} in [d["Value"] for m in failed if "MetricStat" in m
                              for d in m["MetricStat"]["Metric"]["Dimensions"]]


def test_the_dashboard_shows_restore_time_per_job():
    body = TEMPLATE.raw["Resources"]["CopyFreshnessDashboard"]["Properties"]["DashboardBody"]
    widgets = json.loads(body["Fn::Sub"].replace("${AWS::Region}", "r")
                         .replace("${AWS::StackName}", "s"))["widgets"]

    (restore,) = [w for w in widgets if "RestoreSeconds" in json.dumps(w)]
    assert "{XregionSync,stack,job}" in json.dumps(restore)
