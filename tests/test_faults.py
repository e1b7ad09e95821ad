"""Fault injection: throttling, crashes, quota errors and failed copies, in both drivers.

After every fault: each job ends with the right result, no source is copied twice,
nothing the tool did not create (or cannot prove it created) is deleted, and every job
that reports success has its copy in the destination. Totals go to the suite's summary line."""

from __future__ import annotations

import pytest
from faults import (
    aws_faults,
    check_world,
    destination_copies,
    every_nth,
    first_calls,
    inventory,
    lambda_faults,
)

import xregion_sync
from xregion_sync.syncs import SYNC_TYPES
from xregion_sync_emulator import execute_state_machine
from xregion_sync_emulator.seed import (
    create_ami,
    create_db_cluster,
    create_db_instance,
    force_db_cluster_snapshot_status,
)

SOURCE, DESTINATION = "us-east-1", "us-west-2"
JOBS_PER_TYPE = 3


def seed_jobs(n: int = JOBS_PER_TYPE, **wait) -> dict:
    """n AMIs, n DB instances and n DB clusters in the source region, and a config with a
    job for each."""
    config = {}
    for i in range(n):
        create_ami(SOURCE, f"app-{i}", {"Sync-Identifier": f"app-{i}", "Team": "t"})
        create_db_instance(SOURCE, f"db-{i}")
        create_db_cluster(SOURCE, f"cluster-{i}")
        common = {"source_region": SOURCE, "destination_region": DESTINATION, **wait}
        config[f"sync_ami_{i}"] = {"sync_type": "ec2_ami", "sync_identifier": f"app-{i}",
                                   **common}
        config[f"sync_db_{i}"] = {"sync_type": "rds_automated_snapshot",
                                  "db_instance": f"db-{i}", **common}
        config[f"sync_cluster_{i}"] = {"sync_type": "rds_cluster_snapshot",
                                       "db_cluster": f"cluster-{i}", **common}
    return config


def run_in_process(config) -> list[dict]:
    return [r.to_dict() for r in xregion_sync.run(config)]


def run_state_machine(config) -> list[dict]:
    return [r.to_dict() for r in execute_state_machine({"config": config}).results()]


DRIVERS = {"inprocess": run_in_process, "stepfunctions": run_state_machine}


@pytest.fixture(params=list(DRIVERS))
def driver(request, emulated):
    return DRIVERS[request.param]


def test_throttled_calls_still_give_every_job_its_result(driver):
    # GIVEN every third EC2 and RDS call answered with a throttling error
    config = seed_jobs()
    before = inventory((SOURCE, DESTINATION))
    codes = {"DescribeImages": "RequestLimitExceeded", "CopyImage": "RequestLimitExceeded",
             "DescribeDBSnapshots": "Throttling", "CopyDBSnapshot": "Throttling",
             "DescribeDBClusterSnapshots": "Throttling", "CopyDBClusterSnapshot": "Throttling"}
    with aws_faults(every_nth(3, codes)) as injected:
        # WHEN the jobs run twice
        first = driver(config)
        second = driver(config)
    # THEN faults were really injected, and every job copied once, then was in sync
    assert sum(injected.values()) >= 4
    check_world(first, dict.fromkeys(config, "copied"), before, config)
    check_world(second, dict.fromkeys(config, "in_sync"), before, config)


@pytest.mark.statemachine
def test_lambda_throttling_is_retried_by_the_state_machine(emulated):
    # GIVEN the Lambda service throttling every other invoke of every task of every job
    # (an Express child retries a Lambda service error once)
    config = seed_jobs(2)
    before = inventory((SOURCE, DESTINATION))
    with lambda_faults(lambda _fn, n: "TooManyRequestsException" if n % 2 else None,
                       per_job=True) as injected:
        execution = execute_state_machine({"config": config})
    # THEN Retry on Lambda.TooManyRequestsException carried every job through
    assert sum(injected.values()) >= 8
    assert execution.status == "SUCCEEDED"
    results = [r.to_dict() for r in execution.results()]
    check_world(results, dict.fromkeys(config, "copied"), before, config)


@pytest.mark.statemachine
def test_lost_answer_after_the_copy_call_is_retried_without_a_second_copy(emulated):
    # GIVEN Start Copy does its work but the Lambda service then fails (the answer is
    # lost), the first time of every job, of every type
    config = seed_jobs(2)
    before = inventory((SOURCE, DESTINATION))
    lost = lambda fn, n: "ServiceException" if fn == "StartCopyFunction" and n == 1 else None  # noqa: E731
    with lambda_faults(lost, per_job=True) as injected:
        execution = execute_state_machine({"config": config})
    # THEN the state machine retried Start Copy; the retry found the first copy
    assert injected[("StartCopyFunction", "ServiceException")] == len(config)
    assert execution.status == "SUCCEEDED"
    check_world([r.to_dict() for r in execution.results()], dict.fromkeys(config, "copied"),
                before, config)
    assert all(len(ids) == 1 for ids in destination_copies(DESTINATION).values())


def test_crash_after_the_copy_call_then_rerun_finds_the_copy(driver, monkeypatch):
    # GIVEN a step that dies right after the copy call returned
    config = seed_jobs(1)
    before = inventory((SOURCE, DESTINATION))
    for sync in SYNC_TYPES.values():
        real_start_copy = sync.start_copy

        def crash_after(*args, _real=real_start_copy, **kwargs):
            _real(*args, **kwargs)
            raise RuntimeError("simulated crash after the copy call")

        monkeypatch.setattr(sync, "start_copy", crash_after)
    crashed = driver(config)
    assert {r["status"] for r in crashed} == {"failed"}
    assert all("simulated crash" in r["errors"][0]["message"] for r in crashed)
    # WHEN the job is run again without the fault
    monkeypatch.undo()
    rerun = driver(config)
    # THEN the copy made before the crash is found and reported; none is made again
    assert all(r["copy_state"] in ("pending", "available") for r in rerun)
    check_world(rerun, dict.fromkeys(config, "in_sync"), before, config)


@pytest.mark.parametrize("operation, code", [
    ("CopyDBSnapshot", "SnapshotQuotaExceeded"),
    ("CopyImage", "ResourceLimitExceeded"),
    ("CopyDBClusterSnapshot", "SnapshotQuotaExceeded"),
])
def test_copy_quota_fails_one_job_with_advice_and_the_next_run_copies(driver, operation, code):
    # GIVEN the first copy call of one type hits an AWS quota
    config = seed_jobs(2)
    before = inventory((SOURCE, DESTINATION))
    with aws_faults(first_calls(1, operation, code)):
        first = driver(config)
    # THEN exactly that job failed, saying it is a quota and what to do; the rest copied
    failed = [r for r in first if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["errors"][0]["type"] == "CopyQuotaExceededError"
    message = failed[0]["errors"][0]["message"]
    assert "quota" in message and "next run copies" in message
    assert sum(r["status"] == "copied" for r in first) == len(config) - 1
    # AND the next run copies the job that failed, and only that one
    second = driver(config)
    expected = {r["name"]: "copied" if r["status"] == "failed" else "in_sync" for r in first}
    check_world(second, expected, before, config)


def _fail_ami(copy_id: str) -> None:
    from xregion_sync_emulator import EMULATOR_ACCOUNT_ID
    from xregion_sync_emulator.moto_seam import ec2_backends

    image = ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].amis[copy_id]
    image.state = "failed"
    image.state_reason = {"Code": "Server.InternalError", "Message": "copy failed"}


def _fail_cluster_snapshot(copy_id: str) -> None:
    force_db_cluster_snapshot_status(DESTINATION, copy_id, "failed")


@pytest.mark.statemachine
@pytest.mark.parametrize("sync_type, fail", [("ec2_ami", _fail_ami),
                                             ("rds_cluster_snapshot", _fail_cluster_snapshot)],
                         ids=["ec2_ami", "rds_cluster_snapshot"])
def test_failed_copy_is_reported_then_replaced(emulated, monkeypatch, sync_type, fail):
    # GIVEN AWS fails the copy while the job waits for it
    config = seed_jobs(1, wait_for_completion=True, poll_interval_seconds=1,
                       max_wait_seconds=5)
    config = {k: v for k, v in config.items() if v["sync_type"] == sync_type}
    before = inventory((SOURCE, DESTINATION))
    sync = SYNC_TYPES[sync_type]
    real_start_copy = sync.start_copy

    def copy_that_fails(*args, **kwargs):
        copy = real_start_copy(*args, **kwargs)
        fail(copy["id"])
        return copy

    monkeypatch.setattr(sync, "start_copy", copy_that_fails)
    first = run_state_machine(config)
    # THEN the job reports the failed copy
    (result,) = first
    assert (result["status"], result["copy_state"]) == ("failed", "failed")
    assert "failed" in result["errors"][0]["message"]
    failed_copy = result["created_resource"]
    # WHEN the next run comes
    monkeypatch.undo()
    second = run_in_process(config)
    # THEN the failed copy is replaced (deleted) by a new one
    assert second[0]["created_resource"] not in (None, failed_copy)
    check_world(second, {result["name"]: "copied"}, before, config)
    assert failed_copy not in inventory((DESTINATION,))
