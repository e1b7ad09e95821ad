"""Copy quotas defer a job, they do not fail it: a destination whose copies in progress
are at AWS's quota (20 RDS snapshot copies; 20 EBS snapshot copies, an AMI copy holding
one per snapshot) refuses further copies, and the jobs refused are `deferred`, waiting
for a slot when they wait for their copy. Both drivers, on the emulator's real quotas
(lowered here so a few jobs reach them)."""

from __future__ import annotations

import pytest
from conftest import DESTINATION, SOURCE
from faults import aws_faults, first_calls
from freezegun import freeze_time

import xregion_sync
from xregion_sync_emulator import emulated_aws, execute_state_machine
from xregion_sync_emulator.quotas import AwsQuotas
from xregion_sync_emulator.seed import create_ami, create_db_cluster, create_db_instance

SLOTS = 2
QUOTAS = AwsQuotas(rds_copies_in_progress=SLOTS, ebs_copies_in_progress=SLOTS)
WAIT = {"wait_for_completion": True, "poll_interval_seconds": 1, "max_wait_seconds": 20}


def db_jobs(n: int, **options) -> dict:
    config = {}
    for i in range(n):
        create_db_instance(SOURCE, f"db-{i}")
        config[f"sync_db_{i}"] = {"sync_type": "rds_automated_snapshot", "db_instance": f"db-{i}",
                                  "source_region": SOURCE, "destination_region": DESTINATION,
                                  **options}
    return config


def ami_jobs(n: int, **options) -> dict:
    config = {}
    for i in range(n):
        create_ami(SOURCE, f"app-{i}", {"Sync-Identifier": f"app-{i}"})
        config[f"sync_ami_{i}"] = {"sync_type": "ec2_ami", "sync_identifier": f"app-{i}",
                                   "source_region": SOURCE, "destination_region": DESTINATION,
                                   **options}
    return config


def in_process(config: dict) -> tuple[list[dict], str]:
    return [r.to_dict() for r in xregion_sync.run(config, max_workers=1)], "SUCCEEDED"


def on_state_machine(config: dict) -> tuple[list[dict], str]:
    execution = execute_state_machine({"config": config})
    return [r.to_dict() for r in execution.results()], execution.status


DRIVERS = {"runner": in_process, "state_machine": on_state_machine}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("jobs", [db_jobs, ami_jobs], ids=["rds", "ec2"])
def test_jobs_beyond_the_destinations_copy_slots_are_deferred_not_failed(driver, jobs):
    with emulated_aws(copy_seconds=600, quotas=QUOTAS):
        # GIVEN more copy jobs into one region than it has copy slots, copies taking long
        config = jobs(SLOTS + 2)
        # WHEN they run without waiting for their copies
        results, status = DRIVERS[driver](config)
        # THEN as many as there are slots copied, the others deferred with the reason;
        # nothing failed, so the execution succeeds (no alarm)
        statuses = sorted(r["status"] for r in results)
        assert statuses == ["copied"] * SLOTS + ["deferred"] * 2
        deferred = [r for r in results if r["status"] == "deferred"]
        assert all(r["errors"][0]["type"] == "CopySlotsFullError" for r in deferred)
        assert all("the next run copies" in r["errors"][0]["message"] for r in deferred)
        assert status == "SUCCEEDED"


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_deferred_job_is_copied_by_the_next_run(driver):
    # Emulated time, not the machine's: the copies take 10 minutes, and the next run is
    # 11 minutes later, however slow the machine.
    with emulated_aws(copy_seconds=600, quotas=QUOTAS):
        config = db_jobs(SLOTS + 1)
        with freeze_time("2026-11-28T06:00:00Z"):
            first, _ = DRIVERS[driver](config)
        deferred = {r["name"] for r in first if r["status"] == "deferred"}
        assert len(deferred) == 1

        with freeze_time("2026-11-28T06:11:00Z"):  # the first copies have freed their slots
            second, _ = DRIVERS[driver](config)

        assert {r["name"]: r["status"] for r in second} == {
            name: "copied" if name in deferred else "in_sync" for name in config}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_job_that_waits_for_its_copy_waits_for_a_slot_too(driver):
    with emulated_aws(copy_seconds=1.5, quotas=QUOTAS):
        # GIVEN more jobs than slots, each waiting for its copy
        config = db_jobs(SLOTS + 1, **WAIT)
        # WHEN they run
        results, status = DRIVERS[driver](config)
        # THEN every job copied: the refused one waited for a slot and tried again
        assert [r["status"] for r in results] == ["copied"] * (SLOTS + 1)
        assert all(r["copy_state"] == "available" for r in results)
        assert status == "SUCCEEDED"


@pytest.mark.statemachine
def test_the_summary_counts_deferred_jobs(emulated):
    config = db_jobs(SLOTS + 1)
    with aws_faults(first_calls(1, "CopyDBSnapshot", "SnapshotQuotaExceeded"),
                    message="Cannot copy more than 20 snapshots across regions"):
        execution = execute_state_machine({"config": config})

    assert execution.status == "SUCCEEDED"
    assert execution.output["summary"]["deferred"] == 1
    assert execution.output["summary"]["failed"] == 0


def test_the_manual_snapshot_quota_is_a_failure_with_advice(emulated):
    config = db_jobs(1)
    with aws_faults(first_calls(1, "CopyDBSnapshot", "SnapshotQuotaExceeded"),
                    message="Cannot create more than 100 manual snapshots"):
        (result,) = xregion_sync.run(config)

    assert result.status == "failed"
    assert result.errors[0].type == "CopyQuotaExceededError"
    assert "Manual DB instance snapshots" in result.errors[0].message


def test_the_manual_cluster_snapshot_quota_is_a_failure_with_its_own_advice():
    # GIVEN a destination with room for one more manual cluster snapshot, two cluster jobs
    with emulated_aws(quotas=AwsQuotas(rds_manual_cluster_snapshots=1)):
        config = {}
        for i in range(2):
            create_db_cluster(SOURCE, f"cluster-{i}")
            config[f"sync_cluster_{i}"] = {
                "sync_type": "rds_cluster_snapshot", "db_cluster": f"cluster-{i}",
                "source_region": SOURCE, "destination_region": DESTINATION}
        # WHEN they run
        results = xregion_sync.run(config, max_workers=1)
    # THEN the second fails (a count quota does not free itself) and says which quota
    assert [r.status for r in results] == ["copied", "failed"]
    error = results[1].errors[0]
    assert error.type == "CopyQuotaExceededError"
    assert "Cannot create more than 1 manual snapshots" in error.message
    assert "raise 'Manual DB cluster snapshots' in Service Quotas" in error.message
