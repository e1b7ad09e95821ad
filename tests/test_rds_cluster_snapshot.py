"""rds_cluster_snapshot jobs on emulated AWS: the newest automated cluster snapshot copied
once, old copies pruned. The steps it shares with rds_automated_snapshot (syncs/rds_common.py)
are tested there too; these tests pin what is the cluster type's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from conftest import DESTINATION, SOURCE
from freezegun import freeze_time

from xregion_sync import load_config, run, steps
from xregion_sync.syncs.rds_cluster_snapshot import copy_identifier
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
from xregion_sync_emulator.seed import add_automated_cluster_snapshot, create_db_cluster

JOB = "sync_cluster"
CLUSTER = "orders"
FIRST_BACKUP = datetime(2026, 11, 19, 6, 10, tzinfo=UTC)
FIRST_SNAPSHOT = "rds:orders-2026-11-19-06-10"
FIRST_COPY = "rds-orders-2026-11-19-06-10"
WAIT_FOR_COPY = {"wait_for_completion": True, "poll_interval_seconds": 1,
                 "max_wait_seconds": 600}


def cluster_config(**options) -> dict:
    return {JOB: {"sync_type": "rds_cluster_snapshot", "source_region": SOURCE,
                  "destination_region": DESTINATION, "db_cluster": CLUSTER, **options}}


def sync(**options):
    (result,) = run(cluster_config(**options))
    return result


def source_cluster(**kwargs) -> str:
    """The Aurora cluster, whose first automated snapshot RDS takes at FIRST_BACKUP."""
    with freeze_time(FIRST_BACKUP):
        return create_db_cluster(SOURCE, CLUSTER, **kwargs)


def backup(days: int, status: str = "available") -> str:
    return add_automated_cluster_snapshot(SOURCE, CLUSTER, FIRST_BACKUP + timedelta(days=days),
                                          status)


def source_arn(snapshot_id: str) -> str:
    return f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:cluster-snapshot:{snapshot_id}"


def destination_snapshots() -> dict[str, dict[str, str]]:
    """Manual cluster snapshots in the destination: id -> tags."""
    rds = boto3.client("rds", region_name=DESTINATION)
    found = rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    return {s["DBClusterSnapshotIdentifier"]: tag_dict(s.get("TagList")) for s in found}


def copy_by_hand(snapshot_id: str, target: str, tags: dict[str, str] | None = None) -> str:
    """A copy someone else made in the destination."""
    boto3.client("rds", region_name=DESTINATION).copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=source_arn(snapshot_id),
        TargetDBClusterSnapshotIdentifier=target, SourceRegion=SOURCE,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    return target


def cluster_snapshot(region: str, snapshot_id: str):
    return rds_backends[EMULATOR_ACCOUNT_ID][region].cluster_snapshots[snapshot_id]


@pytest.fixture(autouse=True)
def no_sleep_between_polls(monkeypatch):
    monkeypatch.setattr("xregion_sync.runner.time", SimpleNamespace(sleep=lambda _seconds: None))


# ---------------------------------------------------------------- the target id


def test_copy_identifier_is_the_rds_rule_within_63_characters():
    assert copy_identifier(FIRST_SNAPSHOT) == FIRST_COPY
    assert copy_identifier(FIRST_SNAPSHOT, [FIRST_COPY]) == f"{FIRST_COPY}-2"
    # CopyDBClusterSnapshot: "from 1 to 63 letters, numbers, or hyphens". A long cluster
    # name keeps each day's copy apart (a cut id would give every day the same one).
    long_cluster = "c" * 60
    day_1, day_2 = (copy_identifier(f"rds:{long_cluster}-2026-11-{d}-06-10") for d in (19, 20))
    assert day_1 != day_2
    assert all(len(i) <= 63 - 4 and i[0].isalpha() and "--" not in i for i in (day_1, day_2))
    assert len(copy_identifier(f"rds:{long_cluster}-2026-11-19-06-10", [day_1])) <= 63


# ---------------------------------------------------------------- copies


def test_first_sync_copies_the_newest_available_automated_cluster_snapshot(api_calls):
    # GIVEN backups of day 0 and 1, and day 2's still being taken
    source_cluster(tags={"Team": "payments"})
    newest_available = backup(1)
    backup(2, status="creating")

    result = sync()

    assert (result.sync_type, result.status, result.copy_state) == (
        "rds_cluster_snapshot", "copied", "pending")
    assert result.created_resource == newest_available.replace(":", "-")
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeDBClusterSnapshots", SOURCE), ("DescribeDBClusterSnapshots", DESTINATION),
        ("CopyDBClusterSnapshot", DESTINATION)]
    (call,) = api_calls.named("CopyDBClusterSnapshot")
    assert call.params["SourceDBClusterSnapshotIdentifier"] == source_arn(newest_available)
    assert (call.params["SourceRegion"], call.params["CopyTags"]) == (SOURCE, True)
    expected = {"Team": "payments", TAG_JOB: JOB, TAG_SOURCE_ID: source_arn(newest_available),
                TAG_SOURCE_REGION: SOURCE, TAG_SOURCE_CREATED: "2026-11-20T06:10:00Z"}
    assert tag_dict(call.params["Tags"]) == expected
    assert destination_snapshots() == {result.created_resource: expected}
    assert "KmsKeyId" not in call.params


def test_second_run_is_in_sync_with_two_reads(api_calls):
    source_cluster()
    sync()
    api_calls.clear()

    again = sync()

    assert (again.status, again.created_resource, again.copy_state) == (
        "in_sync", None, "available")
    assert api_calls.operations() == ["DescribeDBClusterSnapshots"] * 2


@pytest.mark.parametrize(("options", "days", "kept"), [
    ({}, 4, 3),                               # default 2: 3 in all with the new copy
    ({"max_snapshots_to_retain": 0}, 2, 1),   # only the new copy
])
def test_retention_keeps_the_newest_copies(emulated, options, days, kept):
    source_cluster()
    results = [sync(**options, **WAIT_FOR_COPY)]
    for day in range(1, days + 1):
        backup(day)
        results.append(sync(**options, **WAIT_FOR_COPY))

    copies = [r.created_resource for r in results]
    assert sorted(destination_snapshots()) == sorted(copies[-kept:])
    assert [r.pruned for r in results] == (
        [[]] * kept + [[copies[i]] for i in range(len(copies) - kept)])


def test_a_copy_still_copying_is_never_pruned(emulated, monkeypatch):
    monkeypatch.setattr(EmulatedCopyTiming, "is_done", lambda self, resource_id: False)
    source_cluster()
    first = sync()
    backup(1)

    second = sync(max_snapshots_to_retain=0)

    assert (second.status, second.pruned) == ("copied", [])
    assert set(destination_snapshots()) == {first.created_resource, second.created_resource}


def test_another_clusters_copies_in_the_destination_are_not_this_jobs(emulated):
    # GIVEN a copy of another cluster's snapshot, made by a job of the same name elsewhere
    other = create_db_cluster(SOURCE, "inventory")
    copy_by_hand(other, "rds-inventory-copy", {
        TAG_JOB: JOB, TAG_SOURCE_ID: source_arn(other), TAG_SOURCE_REGION: SOURCE,
        TAG_SOURCE_CREATED: "2099-01-01T00:00:00Z"})
    source_cluster()

    # WHEN the job copies its own cluster keeping no previous copy, twice
    first = sync(max_snapshots_to_retain=0, **WAIT_FOR_COPY)
    backup(1)
    second = sync(max_snapshots_to_retain=0, **WAIT_FOR_COPY)

    # THEN the other cluster's copy neither put it in sync nor was pruned
    assert (first.status, second.pruned) == ("copied", [first.created_resource])
    assert set(destination_snapshots()) == {"rds-inventory-copy", second.created_resource}


def test_a_copy_tagged_like_the_original_tools_is_not_managed(emulated):
    # The original tool had no cluster type: a Sync-From tag proves nothing here.
    source_cluster()
    backup(1)
    lookalike = copy_by_hand(FIRST_SNAPSHOT, "legacy-looking", {
        f"Sync-From-{SOURCE}": f"{FIRST_BACKUP:%Y%m%d%H%M%S}+0000 / {FIRST_SNAPSHOT}"})

    result = sync(max_snapshots_to_retain=0, **WAIT_FOR_COPY)

    assert (result.status, result.pruned) == ("copied", [])
    assert lookalike in destination_snapshots()


# ---------------------------------------------------------------- errors


def test_a_cluster_without_an_available_automated_snapshot_is_an_error_naming_it(api_calls):
    cluster_snapshot(SOURCE, source_cluster()).status = "creating"

    result = sync()

    (error,) = result.errors
    assert (result.status, error.type) == ("failed", "SourceNotFoundError")
    assert error.message.startswith(f"No automated snapshots for DB cluster '{CLUSTER}' ")
    assert f"'{JOB}'" in error.message
    assert api_calls.operations() == ["DescribeDBClusterSnapshots", "DescribeDBClusters"]


def test_a_missing_cluster_is_a_clear_error(api_calls):
    result = sync()

    (error,) = result.errors
    assert (result.status, error.type) == ("failed", "SourceNotFoundError")
    assert error.message == (f"job '{JOB}': DB cluster '{CLUSTER}' was not found in {SOURCE}: "
                             "check db_cluster (for a DB instance, use the "
                             "rds_automated_snapshot type)")


def test_an_encrypted_source_without_kms_key_id_is_a_config_error(api_calls):
    source_cluster(encrypted=True)

    result = sync()

    (error,) = result.errors
    assert (result.status, error.type) == ("failed", "ConfigError")
    assert error.message.startswith(f"job '{JOB}', field 'kms_key_id': source snapshot "
                                    f"{FIRST_SNAPSHOT} is encrypted")
    assert api_calls.named("CopyDBClusterSnapshot") == []


def test_the_kms_key_goes_only_with_an_encrypted_source(api_calls):
    """CopyDBClusterSnapshot refuses a KmsKeyId for an unencrypted snapshot, so one job
    setting kms_key_id copies either kind of cluster."""
    key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]
    source_cluster(encrypted=True)
    create_db_cluster(SOURCE, "plain")
    plain = {"sync_plain": {**cluster_config()[JOB], "db_cluster": "plain", "kms_key_id": key}}

    results = [sync(kms_key_id=key), *run(plain)]

    assert [r.status for r in results] == ["copied", "copied"]
    calls = api_calls.named("CopyDBClusterSnapshot")
    assert [c.params.get("KmsKeyId") for c in calls] == [key, None]


# ---------------------------------------------------------------- retries and name clashes


def test_a_retried_copy_call_adopts_the_copy_it_already_made(api_calls):
    source_cluster(tags={"Team": "payments"})
    (spec,) = load_config(cluster_config()).jobs
    state = steps.check_sync_tag(steps.resolve_source(steps.new_state(spec, "run-1")))

    first = steps.start_copy(state)["copy"]
    retried = steps.start_copy(state)["copy"]

    assert retried["id"] == first["id"] == FIRST_COPY
    assert retried["tags"] == first["tags"]
    assert list(destination_snapshots()) == [FIRST_COPY]
    assert api_calls.operations()[-2:] == ["CopyDBClusterSnapshot",
                                          "DescribeDBClusterSnapshots"]


def test_a_snapshot_named_like_the_copy_but_not_ours_is_left_alone(emulated):
    source_cluster()
    users = copy_by_hand(FIRST_SNAPSHOT, FIRST_COPY)

    result = sync(max_snapshots_to_retain=0)

    assert result.created_resource == f"{FIRST_COPY}-2"
    assert set(destination_snapshots()) == {users, result.created_resource}


def test_a_failed_copy_is_replaced_under_a_suffixed_id(emulated):
    source_cluster()
    first = sync()
    cluster_snapshot(DESTINATION, first.created_resource).status = "failed"

    second = sync()

    assert (second.status, second.created_resource) == ("copied", f"{FIRST_COPY}-2")
    assert second.pruned == [first.created_resource]
    assert list(destination_snapshots()) == [second.created_resource]


def test_a_job_without_db_cluster_is_a_config_error_and_no_aws_call(api_calls):
    config = cluster_config()
    del config[JOB]["db_cluster"]
    config[JOB]["db_instance"] = CLUSTER  # the rds_automated_snapshot option, by mistake

    (result,) = run(config)

    assert result.status == "failed"
    assert [(e.type, e.message) for e in result.errors] == [
        ("ConfigError", f"job '{JOB}', field 'db_instance': is not an option of "
                        "rds_cluster_snapshot jobs"),
        ("ConfigError", f"job '{JOB}', field 'db_cluster': is required (DB cluster "
                        "identifier in source_region)")]
    assert api_calls.count() == 0
