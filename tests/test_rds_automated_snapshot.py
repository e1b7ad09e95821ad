"""rds_automated_snapshot jobs on emulated AWS: newest backup copied once, old copies pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from conftest import DESTINATION, SOURCE
from faults import aws_faults, first_calls
from freezegun import freeze_time

from xregion_sync import load_config, run, steps, tag_rules
from xregion_sync.syncs.rds_automated_snapshot import copy_identifier
from xregion_sync.tags import (
    TAG_JOB,
    TAG_SOURCE_CREATED,
    TAG_SOURCE_ID,
    TAG_SOURCE_REGION,
    tag_dict,
)
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID
from xregion_sync_emulator.fidelity import EmulatedCopyTiming
from xregion_sync_emulator.moto_seam import rds_backends
from xregion_sync_emulator.seed import add_automated_snapshot, create_db_instance

JOB = "sync_db"
DB = "mydb"
FIRST_BACKUP = datetime(2014, 5, 1, 6, 10, tzinfo=UTC)
FIRST_SNAPSHOT = "rds:mydb-2014-05-01-06-10"


def rds_config(**options) -> dict:
    return {JOB: {"sync_type": "rds_automated_snapshot", "source_region": SOURCE,
                  "destination_region": DESTINATION, "db_instance": DB, **options}}


def sync(**options):
    (result,) = run(rds_config(**options))
    return result


def source_db(**kwargs) -> str:
    """The DB instance, whose first automated snapshot RDS takes at FIRST_BACKUP."""
    with freeze_time(FIRST_BACKUP):
        return create_db_instance(SOURCE, DB, **kwargs)


def backup(days: int, status: str = "available") -> str:
    """The automated snapshot RDS takes `days` after the first one."""
    return add_automated_snapshot(SOURCE, DB, FIRST_BACKUP + timedelta(days=days), status)


def snapshot(region: str, snapshot_id: str):
    """The emulator's snapshot object, to force a status."""
    return rds_backends[EMULATOR_ACCOUNT_ID][region].database_snapshots[snapshot_id.lower()]


def destination_snapshots() -> dict[str, dict[str, str]]:
    """Manual snapshots in the destination: id -> tags."""
    rds = boto3.client("rds", region_name=DESTINATION)
    found = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return {s["DBSnapshotIdentifier"]: tag_dict(s.get("TagList")) for s in found}


def source_arn(snapshot_id: str) -> str:
    return f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:snapshot:{snapshot_id}"


def copy_by_hand(snapshot_id: str, target: str, tags: dict[str, str] | None = None) -> str:
    """A copy someone else made in the destination (a user, or the original tool)."""
    boto3.client("rds", region_name=DESTINATION).copy_db_snapshot(
        SourceDBSnapshotIdentifier=source_arn(snapshot_id), TargetDBSnapshotIdentifier=target,
        SourceRegion=SOURCE, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    return target


def legacy_copy(days: int) -> str:
    """The original tool's copy of the backup taken `days` after the first, with its tag."""
    created = FIRST_BACKUP + timedelta(days=days)
    snapshot_id = f"rds:{DB}-{created:%Y-%m-%d-%H-%M}"
    return copy_by_hand(snapshot_id, snapshot_id.replace(":", "-"), {
        f"Sync-From-{SOURCE}": f"{created:%Y%m%d%H%M%S}+0000 / {snapshot_id}"})


# Old copies are pruned once the new copy is available: these runs wait for it (the
# emulator's copies are available at the first poll; the runner's sleep is skipped).
WAIT_FOR_COPY = {"wait_for_completion": True, "poll_interval_seconds": 1,
                 "max_wait_seconds": 600}


@pytest.fixture(autouse=True)
def no_sleep_between_polls(monkeypatch):
    # Only the runner's clock: patching time.sleep itself would make every waiting loop
    # of the emulator spin.
    monkeypatch.setattr("xregion_sync.runner.time", SimpleNamespace(sleep=lambda _seconds: None))


def sync_daily(days: int, **options) -> list:
    """The first backup synced, then a new backup and a run each day for `days` days."""
    results = [sync(**options)]
    for day in range(1, days + 1):
        backup(day)
        results.append(sync(**options))
    return results


@pytest.fixture
def copies_stay_pending(monkeypatch):
    """Emulated copies never finish, as a large snapshot's copy takes hours."""
    monkeypatch.setattr(EmulatedCopyTiming, "is_done", lambda self, resource_id: False)


# ---------------------------------------------------------------- the first copy


def test_copy_identifier_is_the_originals_rule():
    assert copy_identifier(FIRST_SNAPSHOT) == "rds-mydb-2014-05-01-06-10"
    assert copy_identifier(FIRST_SNAPSHOT, ["rds-mydb-2014-05-01-06-10"]) == (
        "rds-mydb-2014-05-01-06-10-2")


def test_first_sync_copies_the_newest_available_automated_snapshot(api_calls):
    # GIVEN backups of day 0 and 1, and day 2's still being taken
    source_db()
    newest_available = backup(1)
    backup(2, status="creating")

    result = sync()

    assert (result.name, result.sync_type, result.status) == (
        JOB, "rds_automated_snapshot", "copied")
    assert result.created_resource == newest_available.replace(":", "-")
    assert result.copy_state == "pending"
    assert list(destination_snapshots()) == [result.created_resource]
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeDBSnapshots", SOURCE), ("DescribeDBSnapshots", DESTINATION),
        ("CopyDBSnapshot", DESTINATION)]


def test_the_copy_request_carries_source_region_and_all_tags(api_calls):
    source_db(tags={"Team": "payments"})

    result = sync()

    (call,) = api_calls.named("CopyDBSnapshot")
    assert result.created_resource == "rds-mydb-2014-05-01-06-10"
    assert call.params["SourceDBSnapshotIdentifier"] == source_arn(FIRST_SNAPSHOT)
    assert call.params["TargetDBSnapshotIdentifier"] == "rds-mydb-2014-05-01-06-10"
    assert (call.params["SourceRegion"], call.params["CopyTags"]) == (SOURCE, True)
    # the source id is written as the source's ARN: RDS refuses tag values that begin
    # with 'rds:', as every automated snapshot id does
    expected = {"Team": "payments", TAG_JOB: JOB, TAG_SOURCE_ID: source_arn(FIRST_SNAPSHOT),
                TAG_SOURCE_REGION: SOURCE, TAG_SOURCE_CREATED: "2014-05-01T06:10:00Z"}
    assert tag_dict(call.params["Tags"]) == expected
    assert destination_snapshots()[result.created_resource] == expected
    assert [p for k, v in expected.items()
            if (p := tag_rules.key_problem("rds", k) or tag_rules.value_problem("rds", v))] == []
    assert "KmsKeyId" not in call.params and "OptionGroupName" not in call.params


def test_copy_tags_false_sends_only_the_tracking_tags(api_calls):
    source_db(tags={"Team": "payments"})

    sync(copy_tags=False)

    (call,) = api_calls.named("CopyDBSnapshot")
    assert call.params["CopyTags"] is False
    assert set(tag_dict(call.params["Tags"])) == {
        TAG_JOB, TAG_SOURCE_ID, TAG_SOURCE_REGION, TAG_SOURCE_CREATED}


def test_option_group_name_is_sent(api_calls):
    source_db()

    sync(option_group_name="dr-options")

    assert api_calls.named("CopyDBSnapshot")[0].params["OptionGroupName"] == "dr-options"


def test_second_run_is_in_sync_with_two_reads(api_calls):
    source_db()
    sync()
    api_calls.clear()

    again = sync()

    assert (again.status, again.created_resource, again.copy_state) == (
        "in_sync", None, "available")
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeDBSnapshots", SOURCE), ("DescribeDBSnapshots", DESTINATION)]


def test_a_newer_backup_is_copied_again(emulated):
    source_db()
    first = sync()
    newer = backup(1)

    second = sync()

    assert second.status == "copied"
    assert second.created_resource == newer.replace(":", "-") != first.created_resource
    assert set(destination_snapshots()) == {first.created_resource, second.created_resource}


# ---------------------------------------------------------------- retention


@pytest.mark.parametrize(("options", "days", "kept"), [
    ({}, 4, 3),                               # default 2: 3 in all with the new copy
    ({"max_snapshots_to_retain": 0}, 2, 1),   # only the new copy
    ({"max_snapshots_to_retain": 5}, 7, 6),
])
def test_retention_keeps_the_newest_copies(emulated, options, days, kept):
    source_db()

    results = sync_daily(days, **options, **WAIT_FOR_COPY)

    copies = [r.created_resource for r in results]
    assert all(r.status == "copied" for r in results)
    assert sorted(destination_snapshots()) == sorted(copies[-kept:])
    # each run pruned the one copy that fell out of the window, oldest first
    assert [r.pruned for r in results] == (
        [[]] * kept + [[copies[i]] for i in range(len(copies) - kept)])


def test_unmanaged_manual_snapshots_are_never_deleted(emulated):
    # GIVEN a user's copies of the same DB in the destination: untagged and tagged
    source_db()
    users = {copy_by_hand(FIRST_SNAPSHOT, "before-upgrade"),
             copy_by_hand(FIRST_SNAPSHOT, "audit-copy", {"Owner": "audit"}),
             copy_by_hand(FIRST_SNAPSHOT, "other-tool",
                          {TAG_SOURCE_ID: source_arn(FIRST_SNAPSHOT),
                           TAG_SOURCE_REGION: "eu-west-1"})}

    # WHEN the job copies two newer backups keeping no previous copy
    results = sync_daily(2, max_snapshots_to_retain=0, **WAIT_FOR_COPY)

    # THEN only the job's own older copies were deleted
    assert users <= set(destination_snapshots())
    assert set(destination_snapshots()) - users == {results[-1].created_resource}
    assert [p for r in results for p in r.pruned] == [
        r.created_resource for r in results[:-1]]


def test_a_copy_still_creating_is_never_pruned(emulated, copies_stay_pending):
    source_db()
    first = sync()
    backup(1)

    second = sync(max_snapshots_to_retain=0)

    assert (second.status, second.pruned) == ("copied", [])
    assert {first.created_resource, second.created_resource} == set(destination_snapshots())


# ---------------------------------------------------------------- the original tool's copies


def test_the_original_tools_copy_of_the_current_backup_is_in_sync(api_calls):
    source_db()
    legacy_copy(0)

    result = sync()

    assert (result.status, result.created_resource) == ("in_sync", None)
    assert api_calls.named("CopyDBSnapshot") == []
    assert list(destination_snapshots()) == ["rds-mydb-2014-05-01-06-10"]


def test_the_original_tools_copies_count_toward_retention_oldest_pruned_first(api_calls):
    # GIVEN four daily backups, the first three copied by the original tool
    source_db()
    for day in (1, 2, 3):
        backup(day)
    legacies = [legacy_copy(day) for day in (0, 1, 2)]

    # WHEN the job copies the newest keeping one previous copy
    result = sync(max_snapshots_to_retain=1, **WAIT_FOR_COPY)

    # THEN the two oldest of the original's copies go, oldest first
    assert result.created_resource == "rds-mydb-2014-05-04-06-10"
    assert result.pruned == legacies[:2]
    assert [c.params["DBSnapshotIdentifier"] for c in api_calls.named("DeleteDBSnapshot")] == (
        legacies[:2])
    assert set(destination_snapshots()) == {legacies[2], result.created_resource}


def test_original_tools_copies_the_iam_policy_may_not_delete_are_kept(api_calls):
    # GIVEN the deployed IAM policy, which denies deleting snapshots without xregion-sync:job
    source_db()
    backup(1)
    legacy = legacy_copy(0)
    with aws_faults(first_calls(1, "DeleteDBSnapshot", "AccessDenied")):
        # WHEN the job copies the newest backup keeping no previous copy
        result = sync(max_snapshots_to_retain=0, **WAIT_FOR_COPY)
    # THEN the copy succeeded, and the original tool's copy is kept, not reported pruned
    assert (result.status, result.pruned) == ("copied", [])
    assert legacy in destination_snapshots()


def test_access_denied_on_the_tools_own_copy_fails_the_job(api_calls):
    # GIVEN our own copy of yesterday, and a policy that wrongly denies deleting it
    source_db()
    first = sync()
    backup(1)
    with aws_faults(first_calls(1, "DeleteDBSnapshot", "AccessDenied")):
        result = sync(max_snapshots_to_retain=0, **WAIT_FOR_COPY)
    # THEN that is an error the user must see, and the copy is still there
    assert result.status == "failed"
    assert result.errors[0].type == "AccessDeniedError"
    assert result.created_resource == "rds-mydb-2014-05-02-06-10"  # the copy was made
    assert first.created_resource in destination_snapshots()


# ---------------------------------------------------------------- errors


def test_no_automated_snapshots_is_an_error_naming_the_db(api_calls):
    boto3.client("rds", region_name=SOURCE).delete_db_snapshot(
        DBSnapshotIdentifier=source_db())

    result = sync()

    (error,) = result.errors
    assert (result.status, error.type) == ("failed", "SourceNotFoundError")
    assert error.message.startswith(f"No automated snapshots for db '{DB}' ")
    assert f"'{JOB}'" in error.message
    assert api_calls.named("CopyDBSnapshot") == []


def test_a_missing_db_instance_is_a_clear_error(api_calls):
    result = sync()

    (error,) = result.errors
    assert (result.status, error.type) == ("failed", "SourceNotFoundError")
    assert f"'{DB}'" in error.message and f"'{JOB}'" in error.message
    assert "DB instance exists" in error.message
    assert api_calls.operations() == ["DescribeDBSnapshots"]


def test_an_encrypted_source_without_kms_key_id_is_a_config_error(api_calls):
    source_db(encrypted=True)

    result = sync()

    (error,) = result.errors
    assert (result.status, error.type) == ("failed", "ConfigError")
    assert error.message.startswith(f"job '{JOB}', field 'kms_key_id': ")
    assert DESTINATION in error.message
    assert api_calls.named("CopyDBSnapshot") == []


def test_an_encrypted_source_is_copied_with_the_kms_key_id(api_calls):
    source_db(encrypted=True)
    key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]

    result = sync(kms_key_id=key)

    assert result.status == "copied"
    assert api_calls.named("CopyDBSnapshot")[0].params["KmsKeyId"] == key


# ---------------------------------------------------------------- retries and failures


def test_a_retried_copy_call_adopts_the_copy_it_already_made(api_calls):
    # GIVEN the state Start Copy sees, as a retried Lambda would see it twice
    source_db(tags={"Team": "payments"})
    (spec,) = load_config(rds_config()).jobs
    state = steps.check_sync_tag(steps.resolve_source(steps.new_state(spec, "run-1")))

    # WHEN Start Copy runs twice with the same state
    first = steps.start_copy(state)["copy"]
    retried = steps.start_copy(state)["copy"]

    # THEN the second call hit DBSnapshotAlreadyExists and returned the same copy
    assert retried["id"] == first["id"] == "rds-mydb-2014-05-01-06-10"
    assert retried["tags"] == first["tags"]
    assert list(destination_snapshots()) == [first["id"]]
    assert api_calls.operations()[-2:] == ["CopyDBSnapshot", "DescribeDBSnapshots"]
    assert len(api_calls.named("CopyDBSnapshot")) == 2


def test_a_snapshot_named_like_the_copy_but_not_ours_is_left_alone(emulated):
    source_db()
    users = copy_by_hand(FIRST_SNAPSHOT, "rds-mydb-2014-05-01-06-10")

    result = sync(max_snapshots_to_retain=0)

    assert result.created_resource == f"{users}-2"
    assert set(destination_snapshots()) == {users, result.created_resource}


def test_a_failed_copy_is_replaced_under_a_suffixed_id(emulated):
    source_db()
    first = sync()
    snapshot(DESTINATION, first.created_resource).status = "failed"

    second = sync()

    assert second.status == "copied"
    assert second.created_resource == f"{first.created_resource}-2"
    assert second.pruned == [first.created_resource]
    assert list(destination_snapshots()) == [second.created_resource]


def test_a_job_never_prunes_another_jobs_copies_of_the_same_database(api_calls):
    # GIVEN two jobs copying the same DB to the same region, one keeping no previous copy
    create_db_instance("us-east-1", "shared-db")
    common = {"sync_type": "rds_automated_snapshot", "source_region": "us-east-1",
              "destination_region": "us-west-2", "db_instance": "shared-db"}
    keeper = {"sync_keeper": {**common, "max_snapshots_to_retain": 5}}
    pruner = {"sync_pruner": {**common, "max_snapshots_to_retain": 0}}
    run(keeper)  # the keeper copies today's snapshot
    # WHEN a newer source snapshot appears and the pruner copies it
    add_automated_snapshot("us-east-1", "shared-db", datetime.now(UTC) + timedelta(hours=1))
    (result,) = run(pruner)
    # THEN the pruner copied it and deleted nothing of the keeper's
    assert result.status == "copied"
    assert result.pruned == []
    assert api_calls.named("DeleteDBSnapshot") == []
    # AND the keeper makes its own copy of it: the pruner's copy is the pruner's recovery
    # point, which the pruner's retention may delete
    again = run(keeper)[0]
    assert again.status == "copied"
    assert again.created_resource != result.created_resource
