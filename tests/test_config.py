"""Config: the original tool's files load unchanged; every problem names job and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import DESTINATION, SOURCE

from xregion_sync import load_config, run
from xregion_sync.config import CONFIG_LEVEL, MAX_YAML_ALIAS_NODES
from xregion_sync.errors import ConfigError
from xregion_sync.local.seed import create_ami

# The example config of the original aws_xregion_sync README, verbatim.
ORIGINAL_EXAMPLE = Path(__file__).with_name("data") / "original_readme_example.yaml"
JOB = "sync_job"


def original_readme_config() -> str:
    return ORIGINAL_EXAMPLE.read_text()


def ec2_job(**options) -> dict:
    return {"sync_type": "ec2_ami", "source_region": SOURCE, "destination_region": DESTINATION,
            **options}


def rds_job(**options) -> dict:
    return {"sync_type": "rds_automated_snapshot", "source_region": SOURCE,
            "destination_region": DESTINATION, "db_instance": "mydb", **options}


def load_job(job: dict, **top_level):
    """The one entry of a config holding `job` as JOB."""
    (entry,) = load_config({JOB: job, **top_level}).entries
    return entry


def spec_of(job: dict, **top_level):
    entry = load_job(job, **top_level)
    assert entry.errors == (), [e.message for e in entry.errors]
    return entry.spec


def assert_one_problem(job: dict, field: str, *fragments: str) -> ConfigError:
    """The job fails with exactly one error, about `field`, naming job and field."""
    entry = load_job(job)
    assert entry.spec is None
    assert [(e.job, e.field) for e in entry.errors] == [(JOB, field)], entry.errors
    message = entry.errors[0].message
    assert f"job '{JOB}'" in message
    assert f"field '{field}'" in message
    for fragment in fragments:
        assert fragment in message
    return entry.errors[0]


# ---------------------------------------------------------------- the original's files


def test_original_readme_example_loads_unchanged(tmp_path):
    # GIVEN the README's example (flow mappings, a comment, a trailing comma) as a file
    path = tmp_path / "config.yaml"
    path.write_text(original_readme_config())

    # WHEN it is loaded
    config = load_config(str(path))

    # THEN both jobs are valid, with the original's key names understood
    assert config.errors == []
    web, db = config.jobs
    assert (web.name, web.sync_type, web.source_region, web.destination_region) == (
        "sync_my_web_app", "ec2_ami", "us-east-1", "us-west-1")
    assert web.options["ami_owner"] == "12345678910123"
    assert web.options["sync_identifier"] == "Web Application"
    assert web.options["filters"] == [{"Name": "tag:Environment", "Values": ["Production"]},
                                      {"Name": "tag-value", "Values": ["Sync"]}]
    assert (web.client.aws_access_key_id, web.client.aws_secret_access_key) == (
        "my_access_key", "my_secret_key")
    assert (db.name, db.sync_type, db.options["db_instance"]) == (
        "sync_my_database", "rds_automated_snapshot", "mydatabase")
    assert db.options["max_snapshots_to_retain"] == 5
    # the job's own aws_client_config wins over the global one
    assert (db.client.aws_access_key_id, db.client.aws_secret_access_key) == (
        "my_other_access_key", "my_other_secret_key")
    assert db.client.aws_account_id == "432143214321"


def test_job_client_config_is_merged_over_the_global_one():
    spec = spec_of(ec2_job(aws_client_config={"aws_access_key": "job-key",
                                              "aws_secret_key": "job-secret"}),
                   aws_client_config={"aws_access_key_id": "global-key",
                                      "aws_secret_access_key": "global-secret",
                                      "region": "eu-west-1", "max_attempts": 3})

    assert spec.client.aws_access_key_id == "job-key"
    assert spec.client.aws_secret_access_key == "job-secret"
    assert (spec.client.region, spec.client.max_attempts) == ("eu-west-1", 3)


@pytest.mark.parametrize(("written", "account"), [
    ("4321-4321-4321", "432143214321"),
    ("432143214321", "432143214321"),
    (12345678901, "012345678901"),  # YAML reads an unquoted id as a number
])
def test_account_ids_may_have_dashes(written, account):
    spec = spec_of(rds_job(aws_client_config={"aws_account_id": written}))

    assert spec.client.aws_account_id == account


@pytest.mark.parametrize("key", ["ami_owner", "owner_id"])
def test_ami_owner_and_owner_id_are_the_same_option(key):
    assert spec_of(ec2_job(**{key: "1234-5678-9012"})).options["ami_owner"] == "123456789012"


def test_ami_owner_defaults_to_self_and_rds_retention_to_2():
    assert spec_of(ec2_job()).options["ami_owner"] == "self"
    assert spec_of(rds_job()).options["max_snapshots_to_retain"] == 2


def test_jobs_are_top_level_keys_starting_with_sync_in_any_case_in_config_order():
    config = load_config({
        "SYNC_X": ec2_job(),
        "notes": "not a job",
        "Sync_y": rds_job(),
        "aws_client_config": {},
        "sync_a": ec2_job(),
        "async_b": ec2_job(),
    })

    assert [entry.name for entry in config.entries] == ["SYNC_X", "Sync_y", "sync_a"]
    assert config.errors == []


def test_a_path_yaml_text_and_a_mapping_give_the_same_jobs(tmp_path):
    mapping = {JOB: ec2_job(sync_identifier="web", filters=["tag:Env=Prod"])}
    text = yaml.safe_dump(mapping)
    path = tmp_path / "jobs.yml"
    path.write_text(text)

    loaded = [load_config(source).jobs for source in (mapping, text, str(path), path)]

    assert all(jobs == loaded[0] for jobs in loaded)
    assert loaded[0][0].options["sync_identifier"] == "web"


def test_yaml_merge_keys_share_defaults_between_jobs():
    config = load_config(
        "defaults: &defaults {sync_type: ec2_ami, source_region: us-east-1}\n"
        "sync_a:\n  <<: *defaults\n  destination_region: us-west-2\n"
        "sync_b:\n  <<: *defaults\n  source_region: eu-west-2\n  destination_region: eu-west-1\n")

    assert [(j.source_region, j.destination_region) for j in config.jobs] == [
        ("us-east-1", "us-west-2"), ("eu-west-2", "eu-west-1")]


# ---------------------------------------------------------------- filters


def test_filters_as_mappings_take_name_and_values():
    spec = spec_of(ec2_job(filters=[{"name": "tag:Env", "values": ["a=b", "c"]},
                                    {"name": "architecture", "values": "x86_64"}]))

    assert spec.options["filters"] == [{"Name": "tag:Env", "Values": ["a=b", "c"]},
                                       {"Name": "architecture", "Values": ["x86_64"]}]


def test_filters_with_the_same_name_stay_separate_entries():
    # AWS ANDs separate entries; merging them into one entry would OR the values.
    spec = spec_of(ec2_job(filters=["tag:Env=Prod", "tag:Env=Blue"]))

    assert spec.options["filters"] == [{"Name": "tag:Env", "Values": ["Prod"]},
                                       {"Name": "tag:Env", "Values": ["Blue"]}]


# ---------------------------------------------------------------- field problems


@pytest.mark.parametrize(("job", "field", "fragments"), [
    (ec2_job(sync_type="ec2_amis"), "sync_type",
     ("ec2_ami, rds_automated_snapshot", "did you mean 'ec2_ami'")),
    ({**ec2_job(), "sync_type": None}, "sync_type", ("must be one of", "got None")),
    ({k: v for k, v in ec2_job().items() if k != "sync_type"}, "sync_type", ("is required",)),
    ({k: v for k, v in ec2_job().items() if k != "source_region"}, "source_region",
     ("is required",)),
    ({k: v for k, v in ec2_job().items() if k != "destination_region"}, "destination_region",
     ("is required",)),
    (ec2_job(source_region="us-east-7"), "source_region", ("'us-east-7'", "not an AWS region")),
    (ec2_job(destination_region="us-wset-2"), "destination_region",
     ("'us-wset-2'", "did you mean 'us-west-2'")),
    (ec2_job(destination_region=SOURCE), "destination_region", ("same as source_region",)),
    (ec2_job(destination_region="cn-north-1"), "destination_region",
     ("aws-cn", "cannot cross partitions")),
    (ec2_job(filters="tag:Env=Prod"), "filters", ("must be a list",)),
    (ec2_job(filters=["tag:Env"]), "filters", ("exactly one '='", "'tag:Env'")),
    (ec2_job(filters=["tag:Env=a=b"]), "filters", ("exactly one '='", "values:")),
    (ec2_job(filters=["=Prod"]), "filters", ("needs both a name and a value",)),
    (ec2_job(filters=[{"name": "tag:Env"}]), "filters", ("'name' and 'values'",)),
    (ec2_job(filters=[{"name": "tag:Env", "values": []}]), "filters", ("at least one value",)),
    (ec2_job(filters=[7]), "filters", ("entry 1", "integer")),
    (ec2_job(max_images_to_retain=-1), "max_images_to_retain", ("0 or more",)),
    (ec2_job(max_images_to_retain="2"), "max_images_to_retain", ("whole number", "'2'")),
    (ec2_job(max_images_to_retain=True), "max_images_to_retain", ("whole number",)),
    (rds_job(max_snapshots_to_retain=-1), "max_snapshots_to_retain", ("0 or more",)),
    (rds_job(max_snapshots_to_retain=2.5), "max_snapshots_to_retain", ("whole number",)),
    (rds_job(max_snapshots_to_retain=False), "max_snapshots_to_retain", ("whole number",)),
    ({k: v for k, v in rds_job().items() if k != "db_instance"}, "db_instance",
     ("is required",)),
    (rds_job(copy_tags="yes"), "copy_tags", ("true or false",)),
    (ec2_job(sync_identifer="web"), "sync_identifer",
     ("not an option of ec2_ami jobs", "did you mean 'sync_identifier'")),
    (rds_job(max_snapshot_to_retain=3), "max_snapshot_to_retain",
     ("did you mean 'max_snapshots_to_retain'",)),
    (ec2_job(ami_owner="self", owner_id="self"), "owner_id", ("given twice",)),
    (ec2_job(aws_client_config={"aws_acess_key_id": "k"}), "aws_client_config.aws_acess_key_id",
     ("not a known client setting", "did you mean 'aws_access_key_id'")),
    (ec2_job(aws_client_config={"aws_access_key": "k", "aws_access_key_id": "k",
                                "aws_secret_key": "s"}),
     "aws_client_config.aws_access_key_id", ("given twice",)),
    (ec2_job(aws_client_config={"aws_access_key": "k"}),
     "aws_client_config.aws_secret_access_key", ("other half",)),
    (ec2_job(aws_client_config={"aws_secret_key": "s"}),
     "aws_client_config.aws_access_key_id", ("other half",)),
    (ec2_job(aws_client_config={"aws_access_key": "k", "aws_secret_key": "s",
                                "profile": "dr"}),
     "aws_client_config.profile", ("either a profile or access keys",)),
    (ec2_job(aws_client_config={"aws_account_id": "1234"}),
     "aws_client_config.aws_account_id", ("12-digit",)),
    (ec2_job(aws_client_config={"external_id": "x"}), "aws_client_config.external_id",
     ("role_arn",)),
    (ec2_job(aws_client_config="keys"), "aws_client_config", ("must be a mapping",)),
])
def test_each_problem_names_the_job_and_the_field(job, field, fragments):
    assert_one_problem(job, field, *fragments)


def test_all_problems_of_a_job_are_reported_together():
    entry = load_job(ec2_job(source_region="nowhere-1", filters="x", max_images_to_retain=-2))

    assert sorted(e.field for e in entry.errors) == [
        "filters", "max_images_to_retain", "source_region"]


def test_a_job_that_is_not_a_mapping_is_a_job_error():
    entry = load_job("ec2_ami")

    assert entry.spec is None
    assert entry.errors[0].job == JOB
    assert "must be a mapping" in entry.errors[0].message


def test_a_problem_in_the_global_client_config_fails_every_job_naming_it():
    config = load_config({"sync_a": ec2_job(), "sync_b": rds_job(),
                          "aws_client_config": {"aws_secret_key": "s"}})

    for entry in config.entries:
        (error,) = entry.errors
        assert f"job '{entry.name}'" in error.message
        assert "aws_client_config.aws_access_key_id" in error.message


# ---------------------------------------------------------------- global wait settings


def test_global_wait_settings_apply_unless_the_job_overrides_them():
    config = load_config({
        "wait_for_completion": True,
        "poll_interval_seconds": 5,
        "sync_a": ec2_job(),
        "sync_b": rds_job(poll_interval_seconds=30, wait_for_completion=False),
    })

    a, b = (job.options for job in config.jobs)
    assert (a["wait_for_completion"], a["poll_interval_seconds"], a["max_wait_seconds"]) == (
        True, 5, 3600)
    assert (b["wait_for_completion"], b["poll_interval_seconds"]) == (False, 30)


def test_a_bad_global_wait_setting_fails_each_job_naming_the_field():
    entry = load_job(ec2_job(), poll_interval_seconds=0)

    assert [e.field for e in entry.errors] == ["poll_interval_seconds"]
    assert "1 or more" in entry.errors[0].message


# ---------------------------------------------------------------- config errors at run time


def test_a_job_with_config_errors_fails_and_makes_no_aws_call_while_others_run(api_calls):
    # GIVEN a valid job for an existing AMI and an invalid job next to it
    create_ami(SOURCE, "web-app", {"Sync-Identifier": "web"})
    config = {"sync_broken": ec2_job(sync_identifier="broken-build", filters="nope"),
              "sync_good": ec2_job(sync_identifier="web")}

    # WHEN the config runs
    bad, good = run(config)

    # THEN the bad job failed with its config error, the good one copied
    assert (bad.name, bad.status, bad.failed) == ("sync_broken", "failed", True)
    assert [e.type for e in bad.errors] == ["ConfigError"]
    assert "field 'filters'" in bad.errors[0].message
    assert (good.status, good.failed) == ("copied", False)
    # AND every AWS call was the good job's (no call looked for the bad one's AMI)
    assert api_calls.operations() == ["DescribeImages"] * 3 + ["CopyImage"]
    # (the words are not hex, so no random ClientToken can contain them)
    assert all("broken" not in str(call.params) for call in api_calls.calls)


def test_a_config_of_only_broken_jobs_makes_no_aws_call(api_calls):
    results = run({"sync_a": ec2_job(sync_type="ec2"), "sync_b": rds_job(db_instance="")})

    assert [(r.name, r.status) for r in results] == [("sync_a", "failed"), ("sync_b", "failed")]
    assert api_calls.count() == 0


# ---------------------------------------------------------------- file-level problems


def billion_laughs() -> str:
    """Nine levels, each aliasing the one below nine times: 9**9 values from 72 aliases."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 9) + "]")
    return "\n".join(lines) + ("\nsync_x:\n  sync_type: *lol8\n  source_region: us-east-1\n"
                               "  destination_region: us-west-2\n")


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("# nothing but a comment\n", "empty"),
    ("- sync_a\n- sync_b\n", "must be a mapping of jobs, not a list"),
    ("sync_a", "must be a mapping of jobs, not a string"),
    ("sync_a: {sync_type: ec2_ami\n", "not valid YAML"),
    ("sync_a:\n  sync_type: ec2_ami\n\tsource_region: x\n", "not valid YAML"),
    ("sync_a: {}\nsync_a: {}\n", "'sync_a' appears twice"),
    ("sync_a:\n  sync_type: ec2_ami\n  sync_type: rds_automated_snapshot\n",
     "'sync_type' appears twice"),
    ("aws_client_config: {}\njobs: {}\n", "defines no jobs"),
    ("syncweb: {}\n", "did you mean to name 'syncweb' 'sync_...'"),
    ("sync_a: &a [*a]\n", "used inside its own anchor"),
    (billion_laughs(), f"repeat more than {MAX_YAML_ALIAS_NODES} values"),
    ("[" * 5000 + "]" * 5000, "nests too deeply"),
    ("sync_a: !!python/object:os.system {}\n", "not valid YAML"),
])
def test_a_file_level_problem_is_a_clear_config_error(text, fragment):
    with pytest.raises(ConfigError) as raised:
        load_config(text)

    assert fragment in raised.value.message
    assert raised.value.job == CONFIG_LEVEL


def test_a_missing_config_file_is_a_config_error(tmp_path):
    missing = tmp_path / "missing.yaml"

    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(missing))


def test_the_runner_raises_only_config_errors_for_unreadable_files():
    with pytest.raises(ConfigError, match="empty"):
        run("")
