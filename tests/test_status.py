"""`xregion_sync.status` and `xregion-sync status`: each job's newest available copy and
its age against max_copy_age_hours, read-only; and the EMF metrics of an execution."""

from __future__ import annotations

import json
import logging
from unittest import mock

import pytest
from conftest import DESTINATION, SOURCE, collected_logs
from freezegun import freeze_time

from xregion_sync import JobStatus, cli, run, status, tables
from xregion_sync_emulator import execute_state_machine
from xregion_sync_emulator.seed import create_ami, create_db_instance

READ_PREFIXES = ("Describe", "Get", "List")
SEEDED_AT = "2026-11-20T06:00:00Z"


def config(**options) -> dict:
    return {
        "sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                     "destination_region": DESTINATION, "sync_identifier": "web", **options},
        "sync_orders": {"sync_type": "rds_automated_snapshot", "source_region": SOURCE,
                        "destination_region": DESTINATION, "db_instance": "orders", **options},
    }


@pytest.fixture
def sources(emulated):
    with freeze_time(SEEDED_AT):
        return {"ami": create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"}),
                "snapshot": create_db_instance(SOURCE, "orders")}


def by_name(statuses: list[JobStatus]) -> dict[str, JobStatus]:
    return {s.name: s for s in statuses}


def test_jobs_in_sync_report_their_copy_and_its_age(sources):
    with freeze_time(SEEDED_AT):
        run(config())
    with freeze_time("2026-11-20T09:12:00Z"):
        web, orders = status(config())

    assert (web.name, web.sync_type, web.source_id) == ("sync_web", "ec2_ami", sources["ami"])
    for job in (web, orders):
        assert job.copy_id and job.copy_state == "available"
        assert job.source_created == job.copy_source_created
        assert job.copy_source_created.endswith("Z")
        assert job.copies == 1
        assert job.max_copy_age_hours == 48
        assert job.errors == []
        assert job.stale is False
    assert web.copy_age_seconds == 3 * 3600 + 12 * 60  # the AMI was made at SEEDED_AT
    assert json.loads(json.dumps([web.to_dict(), orders.to_dict()]))[0]["copy_id"] == web.copy_id


def test_a_job_never_copied_is_stale_with_no_age(sources):
    web, orders = status(config())

    for job in (web, orders):
        assert (job.copy_id, job.copy_age_seconds, job.copies) == (None, None, 0)
        assert job.stale is True
        assert job.errors == []
        assert job.source_id  # the source is found


def test_an_old_copy_is_stale_by_age_and_fresh_under_a_larger_limit(sources):
    with freeze_time(SEEDED_AT):
        run(config())

    with freeze_time("2026-11-23T06:00:00Z"):  # three days later, nothing new to copy
        old = by_name(status(config()))
        lenient = by_name(status({**config(max_copy_age_hours=100)}))

    assert old["sync_web"].copy_age_seconds == 72 * 3600
    assert old["sync_web"].stale and old["sync_orders"].stale
    assert not lenient["sync_web"].stale and lenient["sync_web"].max_copy_age_hours == 100


def test_a_top_level_max_copy_age_hours_is_every_jobs_default(sources):
    web, orders = status({**config(), "max_copy_age_hours": 5})
    assert (web.max_copy_age_hours, orders.max_copy_age_hours) == (5, 5)


def test_config_errors_and_missing_sources_are_reported_in_config_order(sources):
    jobs = {
        "sync_bad_limit": {**config()["sync_web"], "max_copy_age_hours": 0},
        "sync_web": config()["sync_web"],
        "sync_no_db": {**config()["sync_orders"], "db_instance": "no-such-db"},
    }
    with freeze_time(SEEDED_AT):
        run({"sync_web": jobs["sync_web"]})

    with freeze_time("2026-11-20T07:00:00Z"):
        bad, web, no_db = status(jobs)

    assert [s.name for s in (bad, web, no_db)] == list(jobs)
    assert bad.stale and bad.errors[0].type == "ConfigError"
    assert "job 'sync_bad_limit', field 'max_copy_age_hours'" in bad.errors[0].message
    assert no_db.stale and no_db.errors[0].type == "SourceNotFoundError"
    assert no_db.source_id is None and no_db.copies == 0
    assert web.errors == [] and web.copy_state == "available"


def test_status_only_reads(sources, api_calls):
    with freeze_time(SEEDED_AT):
        run(config())
    api_calls.clear()

    with freeze_time("2026-11-20T07:00:00Z"):
        status({**config(),
                "sync_missing": {**config()["sync_web"], "sync_identifier": "nope"}})

    assert api_calls.count() > 0
    assert all(op.startswith(READ_PREFIXES) for op in api_calls.operations()), \
        api_calls.operations()


# ---------------------------------------------------------------- the command


@pytest.fixture
def config_file(tmp_path):
    def write(data) -> str:
        path = tmp_path / "config.yaml"
        path.write_text(json.dumps(data))  # JSON is YAML
        return str(path)

    return write


def test_cli_status_exit_codes_table_and_json(sources, config_file, capsys):
    path = config_file(config())
    with freeze_time(SEEDED_AT):
        run(path)

    with freeze_time("2026-11-20T09:12:00Z"):
        assert cli.main(["status", path]) == 0
        table = capsys.readouterr().out
        assert cli.main(["status", path, "--json"]) == 0
        statuses = json.loads(capsys.readouterr().out)
    with freeze_time("2026-11-25T06:00:00Z"):
        assert cli.main(["status", path]) == 1
        stale_table = capsys.readouterr().out

    assert "3h 12m" in table and "48h" in table and "STALE" not in table
    assert "5d 0h" in stale_table and "STALE" in stale_table
    assert [s["name"] for s in statuses] == ["sync_web", "sync_orders"]
    assert statuses[0]["copy_age_seconds"] == 3 * 3600 + 12 * 60
    assert statuses[0]["stale"] is False


def test_cli_status_fails_for_a_job_that_failed_and_rejects_bad_input(sources, config_file,
                                                                       capsys, tmp_path):
    broken = config_file({**config(), "sync_no_db": {**config()["sync_orders"],
                                                     "db_instance": "no-such-db"}})
    assert cli.main(["status", broken, "--json"]) == 1
    out = capsys.readouterr().out
    assert json.loads(out)[2]["errors"][0]["type"] == "SourceNotFoundError"

    assert cli.main(["status", str(tmp_path / "missing.yaml")]) == 2
    assert cli.main(["status", config_file({"not_a_job": 1})]) == 2
    assert "error:" in capsys.readouterr().err


def test_human_age():
    assert [tables.human_age(s) for s in (None, 45, 300, 11520, 187200)] == [
        "-", "45s", "5m 0s", "3h 12m", "2d 4h"]


# ---------------------------------------------------------------- metrics


def emf_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            lines.append(document)
    return lines


def assert_valid_emf(document: dict) -> None:
    """The EMF specification's rules for one document."""
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int)
    for directive in meta["CloudWatchMetrics"]:
        assert directive["Namespace"] == "XregionSync"
        for dimension_set in directive["Dimensions"]:
            for dimension in dimension_set:
                assert isinstance(document[dimension], str)
        for metric in directive["Metrics"]:
            assert isinstance(document[metric["Name"]], int | float)
            assert metric["Unit"] in ("Seconds", "Count")


@pytest.mark.statemachine
def test_one_execution_writes_valid_emf_metrics(demo_world, capsys, info_logs):
    from xregion_sync.config import read_config_source
    from xregion_sync_emulator.demo import demo_config_text

    cfg = read_config_source(demo_config_text())
    execute_state_machine({"config": cfg})  # copies: no copy available yet
    capsys.readouterr()
    execute_state_machine({"config": cfg})  # in sync

    documents = emf_lines(capsys.readouterr().out)
    for document in documents:
        assert_valid_emf(document)
    ages = [d for d in documents if "CopyAgeSeconds" in d]
    runs = [d for d in documents if "StaleJobs" in d]
    assert sorted(d["job"] for d in ages) == ["sync_orders_cluster", "sync_orders_db",
                                              "sync_web_app"]
    for document in ages:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [["stack", "job"]]
        assert directive["Metrics"] == [{"Name": "CopyAgeSeconds", "Unit": "Seconds"}]
        assert document["stack"] == "xregion-sync-local" or document["stack"]
    (summary,) = runs
    (directive,) = summary["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["stack"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "JobsCopied": "Count", "JobsInSync": "Count", "JobsDeferred": "Count",
        "JobsFailed": "Count", "StaleJobs": "Count"}
    assert (summary["JobsCopied"], summary["JobsInSync"], summary["JobsFailed"]) == (0, 3, 0)


@pytest.mark.statemachine
def test_a_run_whose_copy_is_pending_counts_the_job_stale(demo_world, capsys, info_logs):
    from xregion_sync.config import read_config_source
    from xregion_sync_emulator.demo import demo_config_text

    execute_state_machine({"config": read_config_source(demo_config_text())})

    documents = emf_lines(capsys.readouterr().out)
    (summary,) = [d for d in documents if "StaleJobs" in d]
    assert (summary["JobsCopied"], summary["StaleJobs"]) == (3, 3)
    assert not [d for d in documents if "CopyAgeSeconds" in d]  # no copy available yet


def test_the_cli_keeps_metrics_out_of_its_json(demo_world, config_file, capsys):
    from xregion_sync_emulator.demo import demo_config_text

    path = config_file(dict(__import__("yaml").safe_load(demo_config_text())))
    cli.main(["run", path, "--json"])
    json.loads(capsys.readouterr().out)  # one JSON document, no EMF line


@pytest.fixture
def metric_records():
    """The metrics logger's records (the package's loggers do not propagate to caplog)."""
    with collected_logs("xregion_sync.metrics") as records:
        yield records


def test_in_process_metrics_are_debug_records_never_emf_on_stdout(emulated, capsys, info_logs,
                                                                  metric_records):
    # GIVEN the task Lambdas' log level (INFO) and a job with a copy in sync
    create_ami(SOURCE, "web", {"Sync-Identifier": "web"})
    config = {"sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                           "destination_region": DESTINATION, "sync_identifier": "web"}}
    run(config)
    capsys.readouterr()
    metric_records.clear()

    # WHEN a user's program runs it in-process, dry and then for real
    run(config, dry_run=True)
    dry = list(metric_records)
    run(config)

    # THEN nothing went to stdout: EMF belongs in a Lambda's log stream
    assert emf_lines(capsys.readouterr().out) == []
    # AND the real run's copy age is a debug record (a plan is not an observation)
    assert dry == []
    ages = [r.metrics for r in metric_records if "CopyAgeSeconds" in r.metrics]
    assert [(r.levelno, r.name) for r in metric_records] == [(logging.DEBUG,
                                                             "xregion_sync.metrics")]
    assert [document["job"] for document in ages] == ["sync_web"]
    assert_valid_emf(ages[0])


def test_a_time_based_copy_pending_past_its_deadline_is_reported_overdue():
    from xregion_sync_emulator import emulated_aws
    from xregion_sync_emulator.fidelity import EmulatedCopyTiming

    timed = {"copy_completion_minutes": 120}
    # Copies take hours of real time here: the 120-minute copy is still pending at the end.
    with emulated_aws(copy_seconds=10 * 3600):
        with freeze_time("2026-11-20T06:00:00Z"):
            create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"})
            create_db_instance(SOURCE, "orders")
        with freeze_time("2026-11-20T07:00:00Z"):
            (result, _) = run(config(**timed))

        with freeze_time("2026-11-20T08:59:00Z"):  # within its 120 minutes: just pending
            web = by_name(status(config(**timed)))["sync_web"]
        assert (web.copy_id, web.copy_state, web.errors) == (
            result.created_resource, "pending", [])

        # AWS misses its promise (the emulator keeps it: a time-based copy is done by
        # its deadline), so the copy is held back here.
        with freeze_time("2026-11-20T09:01:00Z"), mock.patch.object(
                EmulatedCopyTiming, "is_done", return_value=False):
            web = by_name(status(config(**timed)))["sync_web"]
        assert web.copy_state == "pending"
        assert [e.type for e in web.errors] == ["CopyOverdueError"]
        assert "due by 2026-11-20T09:00:00Z" in web.errors[0].message

        with freeze_time("2026-11-20T09:01:00Z"), mock.patch.object(
                EmulatedCopyTiming, "is_done", return_value=False):
            assert by_name(status(config()))["sync_web"].errors == []  # no deadline


# ---------------------------------------------------------------- the original's copy


def _in_sync_through_the_original_tools_copy(sources) -> dict:
    """sync_web's source was copied by the original tool (its Sync-<region> tag), not by
    this one; the config has only that job."""
    import boto3

    with freeze_time(SEEDED_AT):
        original_copy = create_ami(DESTINATION, "web-image")
    boto3.client("ec2", region_name=SOURCE).create_tags(Resources=[sources["ami"]], Tags=[
        {"Key": f"Sync-{DESTINATION}", "Value": f"20261120070000+0000 / {original_copy}"}])
    return {"sync_web": config()["sync_web"]}


def test_a_job_in_sync_through_the_original_tools_copy_is_not_stale(sources):
    # GIVEN a job whose source the original tool copied, made three hours ago
    web_only = _in_sync_through_the_original_tools_copy(sources)
    with freeze_time("2026-11-20T09:00:00Z"):
        # WHEN status and a run look at it
        (web,) = status(web_only)
        (result,) = run(web_only)
    # THEN the copy's age is the source AMI's, and the job is not stale
    assert (web.stale, web.copy_age_seconds, web.copy_source_created) == (
        False, 3 * 3600, SEEDED_AT)
    assert (result.status, result.copy_source_created) == ("in_sync", SEEDED_AT)
    # AND both name the copy relied on and whose it is
    assert (web.copy_job, result.copy_job) == ("(original tool)", "(original tool)")
    assert web.copy_id == result.copy_id


@pytest.mark.statemachine
def test_the_state_machine_counts_no_stale_job_for_the_original_tools_copy(sources, capsys,
                                                                           info_logs):
    web_only = _in_sync_through_the_original_tools_copy(sources)
    with freeze_time("2026-11-20T09:00:00Z", tick=True):
        execute_state_machine({"config": web_only})
    (summary,) = [d for d in emf_lines(capsys.readouterr().out) if "StaleJobs" in d]
    assert (summary["JobsInSync"], summary["StaleJobs"]) == (1, 0)
