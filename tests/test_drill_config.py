"""restore_drill in the config: per job and as a top-level default, each mistake a
clear error naming the job and the field, never an AWS call."""

from __future__ import annotations

import pytest
from conftest import DESTINATION, SOURCE

from xregion_sync import load_config


def jobs(drill=None, top=None, **extra) -> dict:
    config: dict = {
        "sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                     "destination_region": DESTINATION, "sync_identifier": "web"},
        "sync_orders": {"sync_type": "rds_automated_snapshot", "source_region": SOURCE,
                        "destination_region": DESTINATION, "db_instance": "orders"},
    }
    if drill is not None:
        for job in config.values():
            job["restore_drill"] = drill
    if top is not None:
        config["restore_drill"] = top
    for name, options in extra.items():
        config[name] = {**config[name], **options}
    return config


def test_a_drill_mapping_gets_its_defaults():
    web, orders = load_config(jobs(drill={})).jobs

    assert web.options["restore_drill"] == {"every_days": 7, "max_minutes": 90}
    assert orders.options["restore_drill"]["every_days"] == 7


def test_jobs_without_restore_drill_have_none():
    web, orders = load_config(jobs()).jobs

    assert "restore_drill" not in web.options
    assert "restore_drill" not in orders.options


def test_a_top_level_default_holds_for_every_job_and_a_job_may_turn_it_off():
    config = jobs(top={"every_days": 3, "instance_type": "t4g.small",
                       "db_instance_class": "db.t4g.small"},
                  sync_orders={"restore_drill": False})
    loaded = load_config(config)

    assert loaded.errors == []
    web, orders = loaded.jobs
    assert web.options["restore_drill"]["every_days"] == 3
    assert web.options["restore_drill"]["instance_type"] == "t4g.small"
    assert orders.options["restore_drill"] is False


@pytest.mark.parametrize(("drill", "field", "words"), [
    ({"every_dayz": 3}, "restore_drill.every_dayz", "did you mean 'every_days'"),
    ({"every_days": "7"}, "restore_drill.every_days", "remove the quotes"),
    ({"every_days": 0}, "restore_drill.every_days", "from 1 to 365"),
    ({"max_minutes": 5}, "restore_drill.max_minutes", "from 10 to 1440"),
    ({"validation_function_arn": "my-fn"}, "restore_drill.validation_function_arn",
     "arn:aws:lambda"),
    ("yes", "restore_drill", "mapping"),
])
def test_a_wrong_drill_setting_names_the_job_and_the_field(drill, field, words):
    config = jobs(sync_web={"restore_drill": drill})

    (error,) = load_config(config).errors

    assert (error.job, error.field) == ("sync_web", field)
    assert words in str(error)
    assert "sync_web" in str(error)


@pytest.mark.parametrize(("job", "drill", "field"), [
    ("sync_orders", {"db_instance_class": "t4g.micro"}, "restore_drill.db_instance_class"),
    ("sync_web", {"instance_type": "db.t4g.micro"}, "restore_drill.instance_type"),
    ("sync_web", {"subnet_id": "subnet-12"}, "restore_drill.subnet_id"),
    ("sync_orders", {"vpc_security_group_ids": ["default"]},
     "restore_drill.vpc_security_group_ids"),
])
def test_an_instance_class_or_id_that_is_not_one_is_refused(job, drill, field):
    (error,) = load_config(jobs(**{job: {"restore_drill": drill}})).errors

    assert (error.job, error.field) == (job, field)
    assert "must" in str(error)


@pytest.mark.parametrize(("value", "words"), [
    ("db.q9.micro", "no family 'q9'"),  # well formed, but no such class
    ("db.t4gg.micro", "did you mean db.t4g.micro?"),
    ("db.t4g.huge", "db.<family>.<size>"),  # no such size
])
def test_an_instance_class_that_does_not_exist_is_refused(value, words):
    (error,) = load_config(jobs(sync_orders={"restore_drill": {
        "db_instance_class": value}})).errors

    assert (error.job, error.field) == ("sync_orders", "restore_drill.db_instance_class")
    assert words in str(error)


@pytest.mark.parametrize("value", ["db.t4g.micro", "db.r6i.16xlarge", "db.m7g.metal",
                                   "db.serverless", "db.r5.4xlarge.tpc2.mem4x"])
def test_real_instance_classes_are_accepted(value):
    assert load_config(jobs(sync_orders={"restore_drill": {
        "db_instance_class": value}})).errors == []


@pytest.mark.parametrize(("job", "key", "value"), [
    ("sync_orders", "instance_type", "t4g.micro"),
    ("sync_web", "db_instance_class", "db.t4g.micro"),
])
def test_a_job_refuses_the_other_services_drill_keys(job, key, value):
    (error,) = load_config(jobs(**{job: {"restore_drill": {key: value}}})).errors

    assert (error.job, error.field) == (job, f"restore_drill.{key}")
    assert "applies only to" in str(error)


def test_a_wrong_top_level_default_is_an_error_of_every_job():
    errors = load_config(jobs(top={"max_minutes": "lots"})).errors

    assert {e.job for e in errors} == {"sync_web", "sync_orders"}
    assert {e.field for e in errors} == {"restore_drill.max_minutes"}
