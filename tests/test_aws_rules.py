"""What AWS's documented rules demand of the product, each failing on the code before
the fix: retries that resume, snapshots of deregistered copies deleted or named, error
text within the state machine's payload quota, and another account's AMI found through
its owner's role.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from conftest import DESTINATION, SOURCE
from faults import aws_faults, first_calls

from xregion_sync import load_config, run, steps
from xregion_sync.cli import main as cli_main
from xregion_sync.result import MAX_ERROR_MESSAGE_CHARS, JobError
from xregion_sync.tags import tracking_tags
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, fidelity
from xregion_sync_emulator.moto_seam import ec2_backends
from xregion_sync_emulator.seed import (
    create_ami,
    create_db_instance,
    create_shared_ami,
    record_copy_source,
)

JOB = "sync_web_app"
OTHER_ACCOUNT = "111111111111"
READER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/xregion-sync-reader"
SOURCE_CREATED = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
WAIT_FOR_COPY = {"wait_for_completion": True, "poll_interval_seconds": 1,
                 "max_wait_seconds": 600}


@pytest.fixture(autouse=True)
def no_sleep_between_polls(monkeypatch):
    # Only the runner's clock: patching time.sleep itself would make every waiting loop
    # of the emulator spin.
    monkeypatch.setattr("xregion_sync.runner.time", SimpleNamespace(sleep=lambda _seconds: None))


def ami_config(**options) -> dict:
    return {JOB: {"sync_type": "ec2_ami", "source_region": SOURCE,
                  "destination_region": DESTINATION, "sync_identifier": "web-app", **options}}


def amis(region: str, account: str = EMULATOR_ACCOUNT_ID) -> dict:
    return ec2_backends[account][region].amis


def snapshot_ids(region: str) -> set[str]:
    return set(ec2_backends[EMULATOR_ACCOUNT_ID][region].snapshots)


def image_snapshot(region: str, image_id: str) -> str:
    return amis(region)[image_id].ebs_snapshot.id


def previous_copy(days_ago: int) -> str:
    created = SOURCE_CREATED - timedelta(days=days_ago)
    old_source = f"ami-old{days_ago:012d}"
    image_id = create_ami(DESTINATION, f"web-app-{days_ago}",
                          tracking_tags(JOB, old_source, SOURCE, created))
    record_copy_source(DESTINATION, image_id, old_source, SOURCE)
    return image_id


def source_ami() -> str:
    return create_ami(SOURCE, "web-app", {"Sync-Identifier": "web-app"})


def job_state(run_id: str = "run-1", **options) -> steps.State:
    (spec,) = load_config(ami_config(**options)).jobs
    return steps.check_sync_tag(steps.resolve_source(steps.new_state(spec, run_id)))


# ---------------------------------------------------------------- snapshots of copies


def test_pruning_a_copy_deletes_its_snapshots(emulated):
    old = previous_copy(days_ago=1)
    old_snapshot = image_snapshot(DESTINATION, old)
    source_ami()

    (result,) = run(ami_config(max_images_to_retain=0, **WAIT_FOR_COPY))

    assert result.pruned == [old]
    assert old_snapshot not in snapshot_ids(DESTINATION)


def test_a_snapshot_deregistration_left_behind_is_deleted_directly(api_calls, monkeypatch):
    # GIVEN DeregisterImage reports that it could not delete the copy's snapshot
    old = previous_copy(days_ago=1)
    old_snapshot = image_snapshot(DESTINATION, old)
    source_ami()
    monkeypatch.setattr(fidelity, "delete_associated_snapshot", lambda *_: "internal-error")

    # WHEN the old copy is pruned
    (result,) = run(ami_config(max_images_to_retain=0, **WAIT_FOR_COPY))

    # THEN the tool deletes that snapshot itself, and the job succeeds
    assert (result.status, result.pruned) == ("copied", [old])
    assert [c.params["SnapshotId"] for c in api_calls.named("DeleteSnapshot")] == [old_snapshot]
    assert old_snapshot not in snapshot_ids(DESTINATION)


def test_a_snapshot_that_cannot_be_deleted_fails_the_job_naming_it(api_calls, monkeypatch):
    # GIVEN a policy that lets the tool deregister but not delete the snapshot
    old = previous_copy(days_ago=1)
    old_snapshot = image_snapshot(DESTINATION, old)
    source_ami()
    monkeypatch.setattr(fidelity, "delete_associated_snapshot",
                        lambda *_: "missing-permissions")

    with aws_faults(first_calls(1, "DeleteSnapshot", "UnauthorizedOperation")):
        (result,) = run(ami_config(max_images_to_retain=0, **WAIT_FOR_COPY))

    # THEN the job fails and says which snapshot is left, billed, and what to do
    assert result.status == "failed"
    (error,) = result.errors
    assert error.type == "OrphanedSnapshotsError"
    assert old_snapshot in error.message
    assert "ec2:DeleteSnapshot" in error.message
    assert old not in amis(DESTINATION)


def test_a_snapshot_another_ami_uses_is_kept(emulated):
    # GIVEN an old copy whose snapshot also backs an AMI the user registered from it
    old = previous_copy(days_ago=1)
    users_ami = create_ami(DESTINATION, "users-own-build")
    amis(DESTINATION)[users_ami].ebs_snapshot = amis(DESTINATION)[old].ebs_snapshot
    source_ami()

    (result,) = run(ami_config(max_images_to_retain=0, **WAIT_FOR_COPY))

    # THEN the copy goes, the shared snapshot and the user's AMI stay; the job succeeds
    assert (result.status, result.pruned) == ("copied", [old])
    assert image_snapshot(DESTINATION, users_ami) in snapshot_ids(DESTINATION)


# ---------------------------------------------------------------- retries resume


def test_a_retried_prune_counts_what_the_first_attempt_deleted_as_done(emulated):
    old = previous_copy(days_ago=1)
    source_ami()
    state = job_state(max_images_to_retain=0)
    state = steps.poll_copy_status(steps.start_copy(state) | {"wait": {"polls": 0,
                                                                       "max_polls": 1}})

    first = steps.prune_old_copies(state)
    retried = steps.prune_old_copies(state)  # the Lambda's answer was lost; Retry

    assert first["pruned"] == retried["pruned"] == [old]


def test_a_retried_start_copy_after_the_failed_copy_was_deregistered_resumes(emulated):
    # GIVEN a failed copy that Start Copy replaces
    source_ami()
    (first,) = run(ami_config())
    amis(DESTINATION)[first.created_resource].state = "failed"
    state = job_state(run_id="run-2")
    assert state["existing"]["replaces"] == [first.created_resource]

    # WHEN Start Copy runs twice (the first answer lost after it deregistered and copied)
    copy = steps.start_copy(state)["copy"]
    retried = steps.start_copy(state)["copy"]

    # THEN the retry neither fails on the deregistered copy nor makes a second copy
    assert retried["id"] == copy["id"]
    assert list(amis(DESTINATION)) == [copy["id"]]


def test_a_retried_rds_prune_counts_what_the_first_attempt_deleted_as_done(emulated):
    from xregion_sync.syncs import rds_automated_snapshot

    create_db_instance(SOURCE, "orders")
    (result,) = run({"sync_orders": {"sync_type": "rds_automated_snapshot",
                                     "source_region": SOURCE, "destination_region": DESTINATION,
                                     "db_instance": "orders"}})
    (spec,) = load_config({"sync_orders": {
        "sync_type": "rds_automated_snapshot", "source_region": SOURCE,
        "destination_region": DESTINATION, "db_instance": "orders"}}).jobs
    doomed = [result.created_resource]

    assert rds_automated_snapshot.prune(spec, doomed) == doomed
    assert rds_automated_snapshot.prune(spec, doomed) == doomed


# ---------------------------------------------------------------- error text in results


def test_a_long_error_message_is_cut_in_the_result():
    error = JobError("AwsApiError", "x" * 5000)

    assert len(error.message) < MAX_ERROR_MESSAGE_CHARS + 60
    assert error.message.endswith("(4000 more characters in the task log)")


def test_ec2s_encoded_authorization_message_is_left_to_the_log():
    blob = "AbC-_" * 400  # EC2 appends ~2 KB of this to UnauthorizedOperation
    error = JobError("AccessDeniedError", f"You are not authorized to perform this operation. "
                                          f"Encoded authorization failure message: {blob}")

    assert blob[:40] not in error.message
    assert "aws sts decode-authorization-message" in error.message


@pytest.mark.statemachine
def test_many_access_denied_failures_fit_in_the_execution_state(emulated, monkeypatch):
    # GIVEN 150 jobs that each fail with EC2's ~2 KB authorization message (with the full
    # text, ~127 of them filled the Map's 256 KiB output and the execution died)
    from xregion_sync_emulator import execute_state_machine

    message = ("You are not authorized to perform this operation. Encoded authorization "
               "failure message: " + "Zm9v" * 500)
    config = {f"sync_{n:03d}": ami_config()[JOB] for n in range(150)}
    with aws_faults(lambda _service, operation: "UnauthorizedOperation"
                    if operation == "DescribeImages" else None, message=message):
        execution = execute_state_machine({"config": config})

    assert execution.error == "JobsFailed"
    assert len(execution.results()) == 150


# ---------------------------------------------------------------- another account's AMI


def test_another_accounts_ami_is_not_found_by_tag_and_the_error_says_what_to_do(emulated):
    create_shared_ami(SOURCE, "web-app", owner=OTHER_ACCOUNT, shared_with=EMULATOR_ACCOUNT_ID,
                      tags={"Sync-Identifier": "web-app"})

    (result,) = run(ami_config(ami_owner=OTHER_ACCOUNT))

    assert result.status == "failed"
    assert "set source_role_arn to a role in 111111111111" in result.errors[0].message


def test_another_accounts_ami_is_found_through_its_owners_role_and_copied(emulated):
    shared = create_shared_ami(SOURCE, "web-app", owner=OTHER_ACCOUNT,
                               shared_with=EMULATOR_ACCOUNT_ID,
                               tags={"Sync-Identifier": "web-app", "Team": "platform"})

    (result,) = run(ami_config(ami_owner=OTHER_ACCOUNT, source_role_arn=READER_ROLE))

    # THEN the copy is made in this account, of the owner's AMI, with the owner's tags
    assert result.status == "copied"
    copy = boto3.client("ec2", region_name=DESTINATION).describe_images(
        ImageIds=[result.created_resource])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in copy["Tags"]}
    assert (copy["OwnerId"], tags["xregion-sync:source-id"]) == (EMULATOR_ACCOUNT_ID, shared)
    assert tags["Team"] == "platform"


def test_a_source_role_outside_the_ami_owners_account_is_a_config_error():
    config = load_config(ami_config(ami_owner=OTHER_ACCOUNT,
                                    source_role_arn="arn:aws:iam::222222222222:role/reader"))

    (error,) = config.errors
    assert error.field == "source_role_arn"
    assert "AMI owner's account 111111111111" in error.message


def test_validate_notes_that_another_accounts_tags_are_invisible(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(f"{JOB}:\n  sync_type: ec2_ami\n  source_region: {SOURCE}\n"
                    f"  destination_region: {DESTINATION}\n  ami_owner: '{OTHER_ACCOUNT}'\n"
                    "  sync_identifier: web-app\n")

    assert cli_main(["validate", str(path)]) == 0

    out = capsys.readouterr().out
    assert "note: job 'sync_web_app', field 'source_role_arn'" in out
    assert "1 of 1 jobs valid" in out


def test_the_source_role_must_look_like_a_role_arn():
    (error,) = load_config(ami_config(source_role_arn="reader")).errors

    assert error.field == "source_role_arn"
    assert "IAM role ARN" in error.message


def test_boto3_floor_has_every_parameter_the_tool_sends():
    import tomllib
    from pathlib import Path

    import botocore.session

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    floors = {dep.split(">=")[0]: dep.split(">=")[1].split(",")[0]
              for dep in project["project"]["dependencies"] if dep.startswith(("boto", "bot"))}
    assert floors == {"boto3": "1.38.25", "botocore": "1.38.25"}
    model = botocore.session.get_session().get_service_model("ec2")
    assert "DeleteAssociatedSnapshots" in model.operation_model(
        "DeregisterImage").input_shape.members
