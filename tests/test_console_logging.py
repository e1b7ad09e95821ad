"""Every job's path is viewable in the Step Functions console. Step Functions
keeps no history of an Express execution; the console shows an Express child's states,
inputs and outputs only from the state machine's CloudWatch Logs at level ALL with
execution data, and a Distributed Map's children log with their state machine's logging
configuration. Level ERROR left a succeeding Express child without a trace
(docs/day-one.md; the cost: `python -m bench.logs`)."""

from __future__ import annotations

import json

import pytest
from conftest import DESTINATION, SOURCE

from xregion_sync_emulator import emulated_aws, execute_state_machine
from xregion_sync_emulator.seed import create_ami
from xregion_sync_emulator.template import read_template

TEMPLATE = read_template()
STATE_MACHINE = TEMPLATE.raw["Resources"]["SyncStateMachine"]["Properties"]
ERROR_EVENT_SUFFIXES = ("Failed", "TimedOut", "Aborted")  # all that Level ERROR logs


def distributed_maps(states: dict) -> list[dict]:
    maps = []
    for state in states.values():
        processor = state.get("ItemProcessor", {})
        if processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
            maps.append(processor)
        for branch in state.get("Branches", []):
            maps += distributed_maps(branch["States"])
    return maps


def test_the_state_machine_logs_every_event_with_its_data_to_its_log_group():
    logging = STATE_MACHINE["Logging"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    (destination,) = logging["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]}


def test_express_children_exist_so_only_logs_can_show_their_jobs():
    # If no Map ran Express children, Standard histories would show every job and Level
    # ALL would cost for nothing: this pins why the level is what it is.
    definition = json.loads(TEMPLATE.definition_path.read_text(encoding="utf-8"))
    types = {p["ProcessorConfig"].get("ExecutionType") for p in distributed_maps(
        definition["States"])}
    assert types == {"EXPRESS", "STANDARD"}


@pytest.mark.statemachine
def test_a_succeeding_express_child_has_no_event_level_error_would_log():
    # GIVEN a job that does not wait (an Express child) and is in sync on the second run
    with emulated_aws():
        create_ami(SOURCE, "web-app", {"Sync-Identifier": "web-app"})
        config = {"sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                               "destination_region": DESTINATION, "sync_identifier": "web-app"}}
        execute_state_machine({"config": config})
        execution = execute_state_machine({"config": config})
        (child,) = execution.child_executions()
    # THEN its history (what Level ALL logs) shows each state with its input and output,
    # and none of it is an event Level ERROR logs: at ERROR the job would leave no trace
    assert child.execution_type == "EXPRESS" and child.status == "SUCCEEDED"
    assert "Check Sync Tag" in child.states_entered()
    exited = [e for e in child.history if "stateExitedEventDetails" in e]
    assert exited and all("output" in e["stateExitedEventDetails"] for e in exited)
    assert [e["type"] for e in child.history if e["type"].endswith(ERROR_EVENT_SUFFIXES)] == []
