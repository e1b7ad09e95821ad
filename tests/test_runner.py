"""The in-process runner: one result per job, in config order, whatever happens in a job."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from conftest import DESTINATION, SOURCE

from xregion_sync import SyncResult, run, steps
from xregion_sync.tags import TAG_SOURCE_ID, tracking_tags
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID
from xregion_sync_emulator.moto_seam import ec2_backends
from xregion_sync_emulator.seed import create_ami, create_db_instance, record_copy_source

READ_OPERATIONS = {"DescribeImages", "DescribeDBSnapshots"}


def ami_job(identifier: str, **options) -> dict:
    return {"sync_type": "ec2_ami", "source_region": SOURCE, "destination_region": DESTINATION,
            "sync_identifier": identifier, **options}


def rds_job(db: str, **options) -> dict:
    return {"sync_type": "rds_automated_snapshot", "source_region": SOURCE,
            "destination_region": DESTINATION, "db_instance": db, **options}


def source_ami(identifier: str) -> str:
    return create_ami(SOURCE, f"{identifier}-image", {"Sync-Identifier": identifier})


def destination_amis() -> dict:
    return ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].amis


def by_name(results: list[SyncResult]) -> dict[str, SyncResult]:
    return {result.name: result for result in results}


def test_one_result_per_job_in_config_order_config_errors_included(emulated):
    source_ami("web")

    results = run({
        "sync_web": ami_job("web"),
        "sync_broken": ami_job("web", max_images_to_retain="all"),
        "sync_missing_db": rds_job("no-such-db"),
    })

    assert [(r.name, r.status) for r in results] == [
        ("sync_web", "copied"), ("sync_broken", "failed"), ("sync_missing_db", "failed")]
    assert [r.failed for r in results] == [False, True, True]
    assert [r.sync_type for r in results] == ["ec2_ami", "ec2_ami", "rds_automated_snapshot"]


def test_a_result_has_the_originals_fields_and_a_plain_dict_form(emulated):
    source_ami("web")

    copied, failed = run({"sync_web": ami_job("web"), "sync_none": ami_job("nothing")})

    assert copied.created_resource in destination_amis()
    assert copied.to_dict() == {
        "name": "sync_web", "sync_type": "ec2_ami", "status": "copied",
        "created_resource": copied.created_resource, "copy_state": "pending", "pruned": [],
        "errors": [],
    }
    assert failed.errors[0].message == str(failed.errors[0])
    assert failed.to_dict() == {
        "name": "sync_none", "sync_type": "ec2_ami", "status": "failed",
        "created_resource": None, "copy_state": None, "pruned": [],
        "errors": [{"type": "SourceNotFoundError", "message": failed.errors[0].message}],
    }
    assert SyncResult.from_dict(failed.to_dict()) == failed


def test_an_unexpected_exception_fails_only_its_job(emulated, monkeypatch):
    # GIVEN a bug that strikes when one job starts its copy
    source_ami("web")
    source_ami("api")
    real_start_copy = steps.start_copy

    def start_copy(state):
        if state["job"]["name"] == "sync_api":
            raise RuntimeError("boom")
        return real_start_copy(state)

    monkeypatch.setattr(steps, "start_copy", start_copy)

    # WHEN both jobs run
    results = by_name(run({"sync_api": ami_job("api"), "sync_web": ami_job("web")}))

    # THEN that job failed with the exception, the other one copied
    assert results["sync_api"].failed
    assert [(e.type, e.message) for e in results["sync_api"].errors] == [("RuntimeError", "boom")]
    assert results["sync_web"].status == "copied"


def test_a_dry_run_only_reads_and_reports_what_it_would_do(api_calls):
    # GIVEN an RDS job already in sync, and an AMI job with two old copies to prune
    create_db_instance(SOURCE, "orders")
    run({"sync_orders": rds_job("orders")})
    old_copies = [create_ami(DESTINATION, f"web-{day}", tracking_tags(
        "sync_web", f"ami-old{day}", SOURCE, datetime(2024, 1, day, tzinfo=UTC)))
        for day in (1, 2)]
    for day, copy in zip((1, 2), old_copies, strict=True):
        record_copy_source(DESTINATION, copy, f"ami-old{day}", SOURCE)
    source_ami("web")
    api_calls.clear()

    # WHEN both run dry
    web, orders = run({"sync_web": ami_job("web", max_images_to_retain=0),
                       "sync_orders": rds_job("orders")}, dry_run=True)

    # THEN only reads were made (AMI: source, the job's copies;
    # RDS: source, copies), nothing changed, and the plan is reported
    assert api_calls.count() == 4
    assert set(api_calls.operations()) <= READ_OPERATIONS
    assert (web.status, web.created_resource, web.failed) == ("would_copy", None, False)
    # (the real run does not wait: it keeps the newest old copy while its copy is pending)
    assert web.pruned == old_copies[:1]
    assert (orders.status, orders.pruned) == ("in_sync", [])
    assert sorted(destination_amis()) == sorted(old_copies)


def test_results_do_not_depend_on_which_job_finishes_first(emulated, monkeypatch):
    # GIVEN jobs where the first listed is the slowest to find its source
    identifiers = ["a", "b", "c", "d"]
    sources = {f"sync_{i}": source_ami(i) for i in identifiers}
    real_resolve = steps.resolve_source

    def slow_resolve(state):
        time.sleep(0.05 * (len(identifiers) - identifiers.index(state["job"]["name"][5:])))
        return real_resolve(state)

    monkeypatch.setattr(steps, "resolve_source", slow_resolve)

    # WHEN they run concurrently
    results = run({name: ami_job(name[5:]) for name in sources}, max_workers=4)

    # THEN results are in config order and each copied its own source
    assert [r.name for r in results] == list(sources)
    for result in results:
        copy = destination_amis()[result.created_resource]
        tags = {tag["key"]: tag["value"] for tag in copy.get_tags()}
        assert tags[TAG_SOURCE_ID] == sources[result.name]


@pytest.mark.parametrize("side", ["source_region", "destination_region"])
def test_an_invalid_region_fails_the_job_naming_region_and_job(api_calls, side):
    (result,) = run({"sync_web": ami_job("web", **{side: "us-nowhere-1"})})

    assert result.failed
    (error,) = result.errors
    assert "us-nowhere-1" in error.message and "sync_web" in error.message
    assert error.type == "ConfigError"
    assert api_calls.count() == 0
