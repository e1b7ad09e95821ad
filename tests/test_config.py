"""Config: the original tool's files load unchanged; every problem names job and field."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import DESTINATION, SOURCE

from xregion_sync import load_config, run
from xregion_sync.config import job_name_problem
from xregion_sync.errors import CONFIG_LEVEL, ConfigError
from xregion_sync.yaml_loader import MAX_YAML_ALIAS_NODES
from xregion_sync_emulator.seed import create_ami

# The example config of the original aws_xregion_sync README, verbatim.
ORIGINAL_EXAMPLE = Path(__file__).with_name("data") / "original_readme_example.yaml"
SAMPLES = sorted((Path(__file__).parents[1] / "functions" / "xregion_sync" / "samples")
                 .glob("*.yaml"))
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


@pytest.mark.parametrize(("merge", "own", "retention"), [
    ("[*keep_long, *defaults]", "", 10),   # the earlier mapping wins
    ("[*defaults, *keep_long]", "", 0),
    ("*defaults", "  max_snapshots_to_retain: 4\n", 4),
    ("[*keep_long, *defaults]", "  max_snapshots_to_retain: 4\n", 4),  # the job's own wins
    ("[*nested, *defaults]", "", 10),  # a merged mapping's own merges count in it
])
def test_yaml_merge_keys_follow_the_merge_key_rule(merge, own, retention):
    # GIVEN shared mappings with different retentions, merged into a job in some order
    text = ("defaults: &defaults {sync_type: rds_automated_snapshot, source_region: "
            f"{SOURCE}, destination_region: {DESTINATION}, db_instance: db, "
            "max_snapshots_to_retain: 0}\n"
            "keep_long: &keep_long {max_snapshots_to_retain: 10}\n"
            "nested: &nested {<<: *keep_long, db_instance: db}\n"
            f"sync_db:\n  <<: {merge}\n{own}")
    # WHEN it is read (by the project's loader, whatever PyYAML version is installed)
    (spec,) = load_config(text).jobs
    # THEN the job's own keys win, then the earlier merged mapping's (YAML's merge key rule)
    assert spec.options["max_snapshots_to_retain"] == retention


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
    assert api_calls.operations() == ["DescribeImages"] * 2 + ["CopyImage", "DescribeImages"]
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


# ---------------------------------------------------------------- job names are tag values


def name_errors(name: str, job: dict) -> list[ConfigError]:
    (entry,) = load_config({name: job}).entries
    return [e for e in entry.errors if e.field == name]


@pytest.mark.parametrize(("name", "job", "fragments"), [
    ("sync_web (prod)", rds_job(), ("RDS allows in tags only", "'(' ')'",
                                    "rename the job using only those characters")),
    ("sync_db#1", rds_job(), ("'#'", "rename the job")),
    ("sync_db\tcopy", rds_job(), ("'\\t'",)),
    ("sync_" + "x" * 252, rds_job(), ("at most 256 characters", "got 257",
                                      "shorten the name to at most 256 characters")),
    ("sync_" + "x" * 252, ec2_job(), ("at most 256 characters", "shorten the name")),
])
def test_a_job_name_aws_refuses_as_a_tag_value_is_an_error_naming_the_job(name, job, fragments):
    # GIVEN a job whose name (the value of xregion-sync:job on every copy) the service
    # of its sync type refuses as a tag value
    (entry,) = load_config({name: job}).entries

    # THEN the job is a config-error job whose one error names it and says what to change
    assert entry.spec is None
    (error,) = entry.errors
    assert (error.job, error.field) == (name, name)
    assert error.message.startswith(f"job '{name}': its name becomes the value of the tag "
                                    "xregion-sync:job on every copy")
    for fragment in fragments:
        assert fragment in error.message


@pytest.mark.parametrize("name", [
    "sync_web app", "sync_a.b:c/d=e+f-g@h_i", "sync_Zürich_数据库", "sync_" + "x" * 251,
])
def test_job_names_rds_accepts_are_accepted(name):
    assert name_errors(name, rds_job()) == []
    assert name_errors(name, ec2_job()) == []


def test_ec2_accepts_any_character_in_a_job_name():
    (entry,) = load_config({"sync_web (prod) #1": ec2_job()}).entries

    assert entry.errors == ()


def test_a_bad_name_is_reported_with_the_jobs_other_errors():
    (entry,) = load_config({"sync_db (old)": rds_job(max_snapshots_to_retain=-1)}).entries

    assert [e.field for e in entry.errors] == ["sync_db (old)", "max_snapshots_to_retain"]


def test_a_job_with_a_bad_name_fails_alone_without_aws_calls(api_calls):
    create_ami(SOURCE, "web-app", {"Sync-Identifier": "web"})

    bad, good = run({"sync_db (prod)": rds_job(), "sync_good": ec2_job(sync_identifier="web")})

    assert (bad.name, bad.status, [e.type for e in bad.errors]) == (
        "sync_db (prod)", "failed", ["ConfigError"])
    assert (good.status, good.failed) == ("copied", False)
    assert not any(op.startswith(("CreateDB", "CopyDB", "DescribeDB"))
                   for op in api_calls.operations())


@pytest.mark.parametrize(("name", "fragments"), [
    (123, ("the job name must be text", "quote it ('123')")),
    (True, ("the job name must be text", "boolean true", "quote it")),
    ("", ("the job name is empty",)),
    ("   ", ("the job name is empty",)),
])
def test_a_job_name_that_is_not_text_or_empty_is_refused(name, fragments):
    # (load_config only reads keys starting with 'sync_' as jobs, and YAML reads every such
    # key as a string; the check still stands on its own)
    problem = job_name_problem(name, "rds")

    for fragment in fragments:
        assert fragment in problem


# ---------------------------------------------------------------- YAML that changes meaning


def yaml_job(sync_type: str, line: str) -> str:
    """A YAML config of one job JOB with `line` (indented as an option) added."""
    extra = ("  db_instance: mydb\n"
             if sync_type == "rds_automated_snapshot" and "db_instance" not in line else "")
    return (f"{JOB}:\n  sync_type: {sync_type}\n  source_region: {SOURCE}\n"
            f"  destination_region: {DESTINATION}\n{extra}  {line}\n")


def yaml_problem(sync_type: str, line: str, field: str) -> str:
    (entry,) = load_config(yaml_job(sync_type, line)).entries
    assert entry.spec is None, line
    assert [(e.job, e.field) for e in entry.errors] == [(JOB, field)], entry.errors
    message = entry.errors[0].message
    assert message.startswith(f"job '{JOB}', field '{field}': ")
    return message


def yaml_options(sync_type: str, line: str) -> dict:
    (entry,) = load_config(yaml_job(sync_type, line)).entries
    assert entry.errors == (), [e.message for e in entry.errors]
    return dict(entry.spec.options)


EC2, RDS = "ec2_ami", "rds_automated_snapshot"


@pytest.mark.parametrize(("sync_type", "line", "field", "fragments"), [
    (EC2, "sync_identifier: 0755", "sync_identifier",
     ("must be text, but YAML read 0755 as the number 493: quote it ('0755')",)),
    (EC2, "sync_identifier: 493", "sync_identifier",
     ("must be text, but YAML read 493 as a number: quote it ('493')",)),
    (EC2, "sync_identifier: 1.10", "sync_identifier",
     ("YAML read 1.10 as the number 1.1", "quote it ('1.10')")),
    (EC2, "sync_identifier: 0x1F", "sync_identifier", ("the number 31", "quote it ('0x1F')")),
    (EC2, "sync_identifier: 1:30", "sync_identifier", ("the number 90", "quote it ('1:30')")),
    (EC2, "sync_identifier: 2026-11-28", "sync_identifier",
     ("YAML read 2026-11-28 as a date: quote it ('2026-11-28')",)),
    (EC2, "sync_identifier: 2026-11-28 10:00:00", "sync_identifier",
     ("as a date and time", "quote it ('2026-11-28 10:00:00')")),
    (EC2, "sync_identifier: yes", "sync_identifier", ("the boolean true", "yes", "quote it")),
    (EC2, "sync_identifier: off", "sync_identifier", ("the boolean false", "quote it")),
    (EC2, "kms_key_id: 1234", "kms_key_id", ("quote it ('1234')",)),
    (EC2, "ami_owner: on", "ami_owner", ("the boolean true", "quote it")),
    (EC2, "filters: [{name: 'tag:Build', values: [0755]}]", "filters",
     ("entry 1: must be text, but YAML read 0755 as the number 493: quote it ('0755')",)),
    (EC2, "filters: [{name: 2026-11-28, values: [x]}]", "filters", ("as a date",)),
    (EC2, "source_role_arn: 0755", "source_role_arn", ("quote it ('0755')",)),
    (RDS, "db_instance: 0755", "db_instance", ("quote it ('0755')",)),
    (RDS, "option_group_name: 1.10", "option_group_name", ("quote it ('1.10')",)),
    (EC2, "aws_client_config: {role_arn: 'arn:aws:iam::111122223333:role/r', "
          "role_session_name: 0755}",
     "aws_client_config.role_session_name", ("YAML read 0755 as the number 493",
                                              "quote it ('0755')")),
    (EC2, "aws_client_config: {profile: 2026-11-28}", "aws_client_config.profile",
     ("quote it ('2026-11-28')",)),
])
def test_an_unquoted_value_yaml_reads_as_no_text_is_refused_in_a_text_option(
        sync_type, line, field, fragments):
    message = yaml_problem(sync_type, line, field)

    for fragment in fragments:
        assert fragment in message


def test_source_region_yaml_reads_as_a_number_is_refused():
    config = load_config(f"{JOB}:\n  sync_type: ec2_ami\n  source_region: 0755\n"
                         f"  destination_region: {DESTINATION}\n")

    assert [e.field for e in config.errors] == ["source_region"]
    assert "quote it ('0755')" in config.errors[0].message


@pytest.mark.parametrize(("sync_type", "line", "field", "fragments"), [
    (EC2, "max_images_to_retain: 010", "max_images_to_retain",
     ("YAML reads 010 as octal 8: write it as a plain decimal number: 8, "
      "or 10 if you meant decimal 10",)),
    (EC2, "max_images_to_retain: 00", "max_images_to_retain", ("octal 0", "number: 0")),
    (EC2, "max_images_to_retain: 0_10", "max_images_to_retain", ("octal 8",)),
    (EC2, "max_images_to_retain: 0o10", "max_images_to_retain",
     ("got '0o10'", "plain decimal number: 8, or 10 if you meant decimal 10")),
    (EC2, "max_images_to_retain: 0x1F", "max_images_to_retain",
     ("YAML reads 0x1F as hexadecimal 31: write it as a plain decimal number: 31",)),
    (EC2, "max_images_to_retain: 0b11", "max_images_to_retain", ("binary 3", "number: 3")),
    (EC2, "max_images_to_retain: 1:30", "max_images_to_retain",
     ("YAML reads 1:30 as base 60", "90", "plain decimal number: 90")),
    (EC2, "max_images_to_retain: 1_000", "max_images_to_retain",
     ("YAML reads 1_000 as 1000 (it drops the underscores)", "plain decimal number: 1000")),
    (EC2, "max_images_to_retain: 1.10", "max_images_to_retain",
     ("whole number", "YAML read 1.10 as a floating-point number", "write a whole number")),
    (EC2, "max_images_to_retain: 2.0", "max_images_to_retain", ("write 2",)),
    (EC2, "max_images_to_retain: '10'", "max_images_to_retain",
     ("got the text '10': remove the quotes",)),
    (EC2, "max_images_to_retain: yes", "max_images_to_retain", ("whole number", "boolean true")),
    (EC2, "max_images_to_retain: 2026-11-28", "max_images_to_retain",
     ("whole number", "YAML read 2026-11-28 as a date")),
    (RDS, "max_snapshots_to_retain: 010", "max_snapshots_to_retain", ("octal 8",)),
    (RDS, "poll_interval_seconds: 1:30", "poll_interval_seconds", ("base 60", "90")),
    (RDS, "max_wait_seconds: 0x10", "max_wait_seconds", ("hexadecimal 16",)),
    (RDS, "max_wait_seconds: 1_800", "max_wait_seconds", ("1800",)),
    (RDS, "aws_client_config: {max_attempts: 010}", "aws_client_config.max_attempts",
     ("octal 8",)),
])
def test_a_number_not_written_as_plain_decimal_is_refused(sync_type, line, field, fragments):
    message = yaml_problem(sync_type, line, field)

    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(("line", "key", "value"), [
    ("max_images_to_retain: 0", "max_images_to_retain", 0),
    ("max_images_to_retain: 2", "max_images_to_retain", 2),
    ("max_images_to_retain: 10", "max_images_to_retain", 10),
    ("max_images_to_retain: +10", "max_images_to_retain", 10),
    ("max_wait_seconds: 7200", "max_wait_seconds", 7200),
    ("poll_interval_seconds: 30", "poll_interval_seconds", 30),
])
def test_plain_decimal_numbers_keep_working(line, key, value):
    options = yaml_options(EC2, line)

    assert options[key] == value
    assert type(options[key]) is int  # not the loader's int carrying its text


def test_a_top_level_wait_setting_in_octal_fails_each_job_naming_the_field():
    config = load_config("poll_interval_seconds: 010\n" + yaml_job(EC2, "sync_identifier: w"))

    (error,) = config.errors
    assert (error.job, error.field) == (JOB, "poll_interval_seconds")
    assert "octal 8" in error.message


@pytest.mark.parametrize(("line", "fragments"), [
    ("aws_account_id: 012345670123",
     ("12-digit AWS account id", "YAML reads 012345670123 as octal 1402433619",
      "quote it ('012345670123')")),
    ("aws_account_id: 0x1F", ("hexadecimal 31", "quote it ('0x1F')")),
    ("aws_account_id: 12:34:56", ("base 60", "45296", "quote it ('12:34:56')")),
    ("aws_account_id: 1_234_567_890_12", ("drops the underscores", "quote it")),
    ("aws_account_id: 2026-11-28", ("as a date", "quote it ('2026-11-28')")),
    ("aws_account_id: yes", ("boolean true",)),
])
def test_an_account_id_yaml_reads_as_another_number_is_refused(line, fragments):
    message = yaml_problem(RDS, f"aws_client_config:\n    {line}",
                           "aws_client_config.aws_account_id")

    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(("written", "account"), [
    ("123456789012", "123456789012"),   # a plain decimal number
    ("012345678901", "012345678901"),   # 8 and 9 are not octal digits: YAML keeps the text
    ("'012345670123'", "012345670123"),
    ("4321-4321-4321", "432143214321"),  # the original tool's dashed form
])
def test_account_ids_yaml_reads_as_written_keep_working(written, account):
    (entry,) = load_config(yaml_job(RDS, f"aws_client_config:\n    aws_account_id: {written}")
                           ).entries

    assert entry.errors == ()
    assert entry.spec.client.aws_account_id == account


def test_an_ami_owner_in_octal_is_refused_and_a_plain_one_kept():
    message = yaml_problem(EC2, "ami_owner: 012345670123", "ami_owner")
    assert "octal 1402433619" in message and "quote it ('012345670123')" in message

    assert yaml_options(EC2, "ami_owner: 123456789012")["ami_owner"] == "123456789012"
    assert yaml_options(EC2, "owner_id: 4321-4321-4321")["ami_owner"] == "432143214321"
    assert yaml_options(EC2, "ami_owner: self")["ami_owner"] == "self"


@pytest.mark.parametrize(("written", "value"), [
    ("true", True), ("false", False), ("yes", True), ("no", False), ("on", True),
    ("off", False), ("True", True), ("NO", False),
])
def test_yaml_booleans_stay_accepted_as_the_original_read_them(written, value):
    assert yaml_options(RDS, f"copy_tags: {written}")["copy_tags"] is value
    assert yaml_options(RDS, f"wait_for_completion: {written}")["wait_for_completion"] is value


def test_a_quoted_boolean_says_to_remove_the_quotes():
    message = yaml_problem(RDS, "copy_tags: 'yes'", "copy_tags")

    assert "must be true or false, got the text 'yes': remove the quotes" in message


# ---------------------------------------------------------------- mappings from Python


@pytest.mark.parametrize(("job", "field", "fragments"), [
    (ec2_job(sync_identifier=493), "sync_identifier",
     ("must be text, got the number 493: quote it ('493')",)),
    (ec2_job(sync_identifier=1.5), "sync_identifier", ("got the number 1.5", "quote it ('1.5')")),
    (ec2_job(sync_identifier=True), "sync_identifier", ("got the boolean true", "quote it")),
    (ec2_job(sync_identifier=date(2026, 11, 28)), "sync_identifier",
     ("got a date (2026-11-28): quote it ('2026-11-28')",)),
    (ec2_job(sync_identifier=None), "sync_identifier",
     ("got nothing (null): give a value or remove the key",)),
    (ec2_job(max_images_to_retain=1.5), "max_images_to_retain",
     ("got the floating-point number 1.5",)),
    (ec2_job(max_images_to_retain=None), "max_images_to_retain", ("got nothing (null)",)),
    (ec2_job(ami_owner=-5), "ami_owner", ("got -5",)),
])
def test_values_from_python_get_clear_messages_without_yaml_text(job, field, fragments):
    error = assert_one_problem(job, field, *fragments)

    assert "YAML read" not in error.message


def test_ints_from_python_or_json_keep_working_where_numbers_are_meant():
    spec = spec_of(ec2_job(max_images_to_retain=10, max_wait_seconds=0, ami_owner=123456789012,
                           aws_client_config={"aws_account_id": 123456789012}))

    assert (spec.options["max_images_to_retain"], spec.options["max_wait_seconds"]) == (10, 0)
    assert spec.options["ami_owner"] == "123456789012"
    assert spec.client.aws_account_id == "123456789012"


# ---------------------------------------------------------------- the loader keeps the text


def test_the_loader_keeps_how_numbers_and_dates_were_written():
    from xregion_sync.yaml_loader import StrictLoader

    data = yaml.load("a: 0755\nb: 1.10\nc: 2026-11-28\nd: 2026-11-28 10:00:00\ne: 7\n"
                     "f: yes\n010: octal key\n", Loader=StrictLoader)  # noqa: S506

    assert {k: getattr(v, "yaml_text", None) for k, v in data.items() if k != 8} == {
        "a": "0755", "b": "1.10", "c": "2026-11-28", "d": "2026-11-28 10:00:00", "e": "7",
        "f": None}
    # the values are still what YAML reads: equal, hashable, JSON-able
    assert (data["a"], data["b"], data["e"], data[8]) == (493, 1.1, 7, "octal key")
    assert data["c"] == date(2026, 11, 28)
    assert json.loads(json.dumps({"a": data["a"], "b": data["b"]})) == {"a": 493, "b": 1.1}


def test_the_seed_and_sample_configs_still_load():
    # (the original README's example is the same text as tests/data/original_readme_example)
    for path in [ORIGINAL_EXAMPLE, *SAMPLES]:
        config = load_config(path.read_text())
        assert config.errors == [], path
        assert config.jobs, path


@pytest.mark.parametrize("written", ["0b_", "0x_", "-0b_"])
def test_a_scalar_yaml_takes_for_a_number_but_cannot_read_is_a_config_error(written, api_calls):
    # GIVEN a value PyYAML's resolver takes for a number that its constructor cannot read
    # (it raised a bare ValueError: a traceback from `validate`)
    text = (f"sync_web:\n  sync_type: ec2_ami\n  source_region: {SOURCE}\n"
            f"  destination_region: {DESTINATION}\n  sync_identifier: {written}\n")

    # WHEN the config is read
    with pytest.raises(ConfigError) as caught:
        load_config(text)

    # THEN the error names the line and the value and says to quote it; nothing was called
    assert f"line 5: YAML takes {written} for a number" in str(caught.value)
    assert f"quote it ('{written}')" in str(caught.value)
    assert api_calls.calls == []


def test_a_top_level_key_that_is_neither_job_nor_setting_gets_a_did_you_mean_note():
    # GIVEN a typo'd job key and a typo'd setting beside a valid job
    text = (f"snyc_db:\n  sync_type: ec2_ami\nsync_web:\n  sync_type: ec2_ami\n"
            f"  source_region: {SOURCE}\n  destination_region: {DESTINATION}\n"
            "  sync_identifier: web\nwait_for_complete: true\naws_client_config: {}\n")

    # WHEN it is read
    config = load_config(text)

    # THEN the valid job is there, and each ignored key is named with what was meant
    assert [spec.name for spec in config.jobs] == ["sync_web"]
    assert len(config.notes) == 2
    assert "top-level key 'snyc_db' is ignored" in config.notes[0]
    assert config.notes[0].endswith("did you mean 'sync_db'?")
    assert config.notes[1].endswith("did you mean 'wait_for_completion'?")


def test_the_original_readme_example_has_no_ignored_keys():
    assert load_config(ORIGINAL_EXAMPLE.read_text()).notes == ()


@pytest.mark.parametrize(("client", "field", "says"), [
    ({"role_arn": "not-an-arn"}, "aws_client_config.role_arn", "must be an IAM role ARN"),
    ({"max_attempts": 0}, "aws_client_config.max_attempts", "must be 1 or more"),
])
def test_client_settings_aws_would_refuse_are_config_errors(client, field, says):
    # GIVEN a job whose client settings AWS (or the SDK) would refuse at run time
    config = {"sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                           "destination_region": DESTINATION, "sync_identifier": "web",
                           "aws_client_config": client}}

    # WHEN it is validated
    (error,) = load_config(config).errors

    # THEN the error names the job and the field
    assert error.field == field
    assert f"job 'sync_web', field '{field}'" in str(error) and says in str(error)


def test_an_ami_owner_that_is_no_account_id_gets_a_note_but_stays_valid():
    # GIVEN the original README's 14-digit owner (kept valid: existing configs keep working)
    config = load_config(ORIGINAL_EXAMPLE.read_text())

    # THEN the job is valid, with a note saying what AWS will do
    (web, _) = config.entries
    assert web.spec is not None
    assert any("field 'ami_owner': 12345678910123 has 14 digits" in n for n in web.notes)


# ---------------------------------------------------------------- ec2_ami deprecation, time copies


def _ami(**options) -> dict:
    return {"sync_type": "ec2_ami", "source_region": "us-east-1",
            "destination_region": "us-west-2", **options}


@pytest.mark.parametrize(("value", "fragment"), [
    (0, "from 1 to 3650"), (3651, "from 1 to 3650"), (1.5, "whole number"),
    ("30", "remove the quotes")])
def test_deprecate_after_days_must_be_1_to_3650_days(value, fragment):
    assert_one_problem(_ami(deprecate_after_days=value), "deprecate_after_days", fragment)


@pytest.mark.parametrize(("value", "fragment"), [
    (0, "from 15 to 2880"), (20, "in steps of 15"), (2895, "from 15 to 2880"),
    (True, "whole number")])
def test_copy_completion_minutes_must_be_15_to_2880_in_steps_of_15(value, fragment):
    assert_one_problem(_ami(copy_completion_minutes=value), "copy_completion_minutes",
                       fragment)


def test_ami_deprecation_and_completion_options_load():
    spec = spec_of(_ami(deprecate_after_days=3650, copy_completion_minutes=2880))
    assert (spec.options["deprecate_after_days"], spec.options["copy_completion_minutes"]) == (
        3650, 2880)
