"""A dry-run execution (`{"dry_run": true}` in the execution input): every job is resolved
and checked, its result says what a real run would do, and nothing is copied, tagged or
pruned; no metric is written (the alarms and the dashboard see only runs). What
`xregion-sync smoke` starts after a deploy."""

from __future__ import annotations

import pytest
from scenarios import DESTINATION, SOURCE, ami_job, db_job

from xregion_sync import steps
from xregion_sync.errors import DryRunError
from xregion_sync.execution import plan_execution
from xregion_sync_emulator import execute_state_machine
from xregion_sync_emulator.seed import create_ami, create_db_instance

CONFIG = {**ami_job(), **db_job()}
CHANGING = ("CopyImage", "CopyDBSnapshot", "CreateTags", "AddTagsToResource",
            "DeregisterImage", "DeleteSnapshot", "DeleteDBSnapshot", "ModifyImageAttribute")


@pytest.fixture
def sources(emulated):
    create_ami(SOURCE, "web-app", {"Sync-Identifier": "web-app"})
    create_db_instance(SOURCE, "orders-db")


@pytest.mark.statemachine
def test_a_dry_run_execution_resolves_every_job_and_changes_nothing(sources, api_calls, capsys):
    # WHEN the state machine runs the config as a dry run
    execution = execute_state_machine({"config": CONFIG, "dry_run": True})
    # THEN it succeeds, each job says it would copy its source, and no call changed AWS
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["dry_run"] is True
    assert execution.output["summary"]["would_copy"] == 2
    assert [r.status for r in execution.results()] == ["would_copy", "would_copy"]
    assert not set(api_calls.operations()) & set(CHANGING)
    assert '"JobsCopied"' not in capsys.readouterr().out  # no EMF metric line

    # and a real run afterwards copies, then a dry run finds both in sync
    assert execute_state_machine({"config": CONFIG}).status == "SUCCEEDED"
    again = execute_state_machine({"config": CONFIG, "dry_run": True})
    assert [r.status for r in again.results()] == ["in_sync", "in_sync"]


def test_dry_run_must_be_a_boolean(emulated):
    with pytest.raises(Exception, match="'dry_run' must be true"):
        plan_execution({"config": CONFIG, "dry_run": "yes"}, "run-1")


@pytest.mark.parametrize("step", [steps.start_copy, steps.copy_tags, steps.prune_old_copies])
def test_the_steps_that_change_aws_refuse_a_dry_run_state(step):
    state = {"job": {"name": "sync_web", "sync_type": "ec2_ami", "source_region": SOURCE,
                     "destination_region": DESTINATION, "options": {}}, "dry_run": True}
    with pytest.raises(DryRunError, match="nothing was changed"):
        step(state)
