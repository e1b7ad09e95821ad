"""`xregion-sync doctor`: read-only checks of a config against (emulated) AWS."""

from __future__ import annotations

import json

import boto3
import pytest
from conftest import DESTINATION, SOURCE

import xregion_sync
from xregion_sync import cli
from xregion_sync.doctor import ERROR, OK, WARNING, Finding
from xregion_sync_emulator import AwsQuotas, emulated_aws
from xregion_sync_emulator.seed import create_ami, create_db_instance, seed_demo
from xregion_sync_emulator.stack import local_stack

WEB_APP = f"""
sync_web_app:
  sync_type: ec2_ami
  source_region: {SOURCE}
  destination_region: {DESTINATION}
  sync_identifier: web-app
  filters: ["tag:Environment=Production"]
  max_images_to_retain: 2
"""
ORDERS_DB = f"""
sync_orders_db:
  sync_type: rds_automated_snapshot
  source_region: {SOURCE}
  destination_region: {DESTINATION}
  db_instance: orders-db
  max_snapshots_to_retain: 2
"""
DEMO = WEB_APP + ORDERS_DB
OTHER_OWNER = "111122223333"


def rds_job(name: str, db: str = "orders-db", **options: str) -> str:
    extra = "".join(f"\n  {key}: {value}" for key, value in options.items())
    return f"""
{name}:
  sync_type: rds_automated_snapshot
  source_region: {SOURCE}
  destination_region: {DESTINATION}
  db_instance: {db}{extra}
"""


def cluster_job(name: str, cluster: str = "orders-cluster", **options: str) -> str:
    extra = "".join(f"\n  {key}: {value}" for key, value in options.items())
    return f"""
{name}:
  sync_type: rds_cluster_snapshot
  source_region: {SOURCE}
  destination_region: {DESTINATION}
  db_cluster: {cluster}{extra}
"""


def ami_job(name: str, **options: str) -> str:
    options = {"sync_identifier": "web-app", **options}
    extra = "".join(f"\n  {key}: {value}" for key, value in options.items())
    return f"""
{name}:
  sync_type: ec2_ami
  source_region: {SOURCE}
  destination_region: {DESTINATION}{extra}
"""


def of(findings: list[Finding], job: str, check: str) -> list[Finding]:
    return [f for f in findings if job in f.job.split(", ") and f.check == check]


def only(findings: list[Finding], job: str, check: str) -> Finding:
    (finding,) = of(findings, job, check)
    return finding


@pytest.fixture
def world(emulated):
    return seed_demo()


def destination_key(*, state: str = "Enabled") -> str:
    kms = boto3.client("kms", region_name=DESTINATION)
    key_id = kms.create_key(Description="dr copies")["KeyMetadata"]["KeyId"]
    if state == "Disabled":
        kms.disable_key(KeyId=key_id)
    elif state == "PendingDeletion":
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return key_id


def option_group(region: str, name: str, engine: str = "postgres", version: str = "13") -> str:
    boto3.client("rds", region_name=region).create_option_group(
        OptionGroupName=name, EngineName=engine, MajorEngineVersion=version,
        OptionGroupDescription="for the DR copies")
    return name


# ---------------------------------------------------------------- healthy


def test_a_healthy_demo_config_is_all_ok(world):
    findings = xregion_sync.doctor(DEMO)
    assert [f for f in findings if f.severity != OK] == []
    assert {(f.job, f.check) for f in findings} == {
        ("sync_web_app", "source"), ("sync_orders_db", "source"),
        ("sync_orders_db", "option_group"), ("sync_orders_db", "manual_snapshot_quota"),
        ("sync_web_app", "copy_quota"), ("sync_orders_db", "copy_quota")}
    assert world["image_id"] in only(findings, "sync_web_app", "source").message
    assert world["newest_snapshot"] in only(findings, "sync_orders_db", "source").message


def test_a_copy_already_made_counts_as_held_under_the_quota(world):
    xregion_sync.run(ORDERS_DB)
    quota = only(xregion_sync.doctor(ORDERS_DB), "sync_orders_db", "manual_snapshot_quota")
    assert quota.severity == OK
    assert "1 of 100 used, 1 of them these jobs' copies" in quota.message


# ---------------------------------------------------------------- source


def test_a_missing_source_is_an_error_naming_the_job_and_the_fix(world):
    findings = xregion_sync.doctor(ami_job("sync_gone", sync_identifier="no-such-app")
                                   + rds_job("sync_no_db", db="no-such-db"))
    ami = only(findings, "sync_gone", "source")
    assert ami.severity == ERROR
    assert "'sync_gone'" in ami.message and "check ami_owner, sync_identifier" in ami.message
    db = only(findings, "sync_no_db", "source")
    assert db.severity == ERROR and "no-such-db" in db.message
    assert "automated backups" in db.message


def test_an_encrypted_source_without_kms_key_id_is_an_error(emulated):
    create_db_instance(SOURCE, "secret-db", encrypted=True)
    finding = only(xregion_sync.doctor(rds_job("sync_secret", db="secret-db")), "sync_secret",
                   "source")
    assert finding.severity == ERROR and "set kms_key_id" in finding.message


def test_an_ambiguous_source_is_an_error_listing_the_images(world):
    second = create_ami(SOURCE, "web-app-copy", {"Sync-Identifier": "web-app",
                                                 "Environment": "Production"})
    finding = only(xregion_sync.doctor(WEB_APP), "sync_web_app", "source")
    assert finding.severity == ERROR
    assert world["image_id"] in finding.message and second in finding.message
    assert "Narrow sync_identifier or filters" in finding.message


# ---------------------------------------------------------------- KMS


@pytest.mark.parametrize("state, says", [
    ("Disabled", "is Disabled"),
    ("PendingDeletion", "scheduled for deletion"),
])
def test_an_unusable_kms_key_is_an_error(world, state, says):
    key = destination_key(state=state)
    findings = xregion_sync.doctor(rds_job("sync_db", kms_key_id=key)
                                   + ami_job("sync_ami", kms_key_id=key))
    for job in ("sync_db", "sync_ami"):
        finding = only(findings, job, "kms_key")
        assert finding.severity == ERROR
        assert says in finding.message and f"'{job}'" in finding.message
        assert "set kms_key_id to" in finding.message


def test_a_missing_kms_key_is_an_error(world):
    finding = only(xregion_sync.doctor(rds_job("sync_db", kms_key_id="alias/no-such-key")),
                   "sync_db", "kms_key")
    assert finding.severity == ERROR
    assert f"alias/no-such-key was not found in {DESTINATION}" in finding.message


def test_a_key_of_another_region_is_an_error(world):
    key = boto3.client("kms", region_name=SOURCE).create_key()["KeyMetadata"]["Arn"]
    finding = only(xregion_sync.doctor(rds_job("sync_db", kms_key_id=key)), "sync_db",
                   "kms_key")
    assert finding.severity == ERROR and f"a key of {SOURCE}" in finding.message


def test_an_enabled_key_in_the_destination_is_ok(world):
    key = destination_key()
    finding = only(xregion_sync.doctor(rds_job("sync_db", kms_key_id=key)), "sync_db",
                   "kms_key")
    assert finding.severity == OK and "customer managed" in finding.message


# ---------------------------------------------------------------- option groups


def test_a_missing_option_group_is_an_error(world):
    finding = only(xregion_sync.doctor(rds_job("sync_db", option_group_name="dr-og")),
                   "sync_db", "option_group")
    assert finding.severity == ERROR
    assert f"option group dr-og was not found in {DESTINATION}" in finding.message


def test_an_option_group_for_another_engine_is_an_error(world):
    option_group(DESTINATION, "dr-og", engine="mysql", version="8.0")
    finding = only(xregion_sync.doctor(rds_job("sync_db", option_group_name="dr-og")),
                   "sync_db", "option_group")
    assert finding.severity == ERROR and "is for mysql" in finding.message


def test_an_existing_option_group_is_ok(world):
    option_group(DESTINATION, "dr-og")
    finding = only(xregion_sync.doctor(rds_job("sync_db", option_group_name="dr-og")),
                   "sync_db", "option_group")
    assert finding.severity == OK


def test_a_source_in_a_custom_option_group_without_option_group_name_warns(emulated):
    option_group(SOURCE, "orders-og")
    boto3.client("rds", region_name=SOURCE).create_db_instance(
        DBInstanceIdentifier="orders-db", Engine="postgres", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="demo", MasterUserPassword="not-a-secret-1",
        OptionGroupName="orders-og")
    finding = only(xregion_sync.doctor(ORDERS_DB), "sync_orders_db", "option_group")
    assert finding.severity == WARNING
    assert "orders-og" in finding.message and "set option_group_name" in finding.message


# ---------------------------------------------------------------- manual snapshot quota


@pytest.mark.parametrize("used, severity", [(5, OK), (6, WARNING), (7, ERROR)])
def test_the_manual_snapshot_quota_headroom(used, severity):
    # Quota 10; the job needs 4 (this run's copy, the newest, 2 retained); warn under 4 + 1.
    with emulated_aws(quotas=AwsQuotas(rds_manual_snapshots=10)):
        seed_demo()
        rds = boto3.client("rds", region_name=DESTINATION)
        rds.create_db_instance(
            DBInstanceIdentifier="other-db", Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="demo", MasterUserPassword="not-a-secret-1")
        for index in range(used):
            rds.create_db_snapshot(DBInstanceIdentifier="other-db",
                                   DBSnapshotIdentifier=f"manual-{index}")
        finding = only(xregion_sync.doctor(ORDERS_DB), "sync_orders_db",
                       "manual_snapshot_quota")
    assert finding.severity == severity, finding.message
    assert f"{used} of 10 used" in finding.message
    if severity != OK:
        assert "Service Quotas" in finding.message


def test_cluster_jobs_are_checked_against_the_manual_cluster_snapshot_quota(api_calls):
    # GIVEN a quota of 10 manual cluster snapshots, 7 used by a local cluster's snapshots
    with emulated_aws(quotas=AwsQuotas(rds_manual_cluster_snapshots=10)):
        seed_demo()
        rds = boto3.client("rds", region_name=DESTINATION)
        rds.create_db_cluster(DBClusterIdentifier="local", Engine="aurora-postgresql",
                              MasterUsername="demo", MasterUserPassword="not-a-secret-1")
        for index in range(7):
            rds.create_db_cluster_snapshot(DBClusterIdentifier="local",
                                           DBClusterSnapshotIdentifier=f"manual-{index}")
        # WHEN doctor checks a cluster job beside a DB job into the same region
        findings = xregion_sync.doctor(ORDERS_DB + cluster_job("sync_orders_cluster"))
    # THEN the cluster job meets the cluster quota (it needs 4: no room), the DB job its
    # own, from one DescribeAccountAttributes
    cluster = only(findings, "sync_orders_cluster", "manual_snapshot_quota")
    assert cluster.severity == ERROR, cluster.message
    assert cluster.message.startswith(f"manual DB cluster snapshots in {DESTINATION}: 7 of 10 "
                                      "used")
    assert "raise 'Manual DB cluster snapshots' in Service Quotas" in cluster.message
    assert only(findings, "sync_orders_db", "manual_snapshot_quota").message.startswith(
        f"manual DB snapshots in {DESTINATION}: 0 of 100 used")
    assert len(api_calls.named("DescribeAccountAttributes")) == 1
    # AND no option group check: a cluster snapshot copy takes none
    assert of(findings, "sync_orders_cluster", "option_group") == []
    assert only(findings, "sync_orders_cluster", "source").severity == OK


# ---------------------------------------------------------------- another account's AMIs


def test_another_accounts_ami_by_tag_without_a_role_warns(world):
    findings = xregion_sync.doctor(ami_job("sync_shared", ami_owner=f"'{OTHER_OWNER}'"))
    finding = only(findings, "sync_shared", "source_account")
    assert finding.severity == WARNING
    assert "runs in account 123456789012" in finding.message
    assert f"set source_role_arn to a role in {OTHER_OWNER}" in finding.message


@pytest.mark.parametrize("owner, extra", [
    ("123456789012", {}),  # the caller's own account: tags visible
    (OTHER_OWNER, {"source_role_arn": f"arn:aws:iam::{OTHER_OWNER}:role/ami-reader"}),
])
def test_own_account_or_a_source_role_is_ok(world, owner, extra):
    findings = xregion_sync.doctor(ami_job("sync_shared", ami_owner=f"'{owner}'", **extra))
    assert only(findings, "sync_shared", "source_account").severity == OK


# ---------------------------------------------------------------- copy quota


@pytest.mark.parametrize("jobs, severity", [(20, OK), (21, WARNING)])
def test_many_jobs_into_one_region_warn_that_the_surplus_is_deferred(world, jobs, severity):
    config = "".join(rds_job(f"sync_db_{index}") for index in range(jobs))
    (finding,) = [f for f in xregion_sync.doctor(config)
                  if f.check == "copy_quota"]
    assert finding.severity == severity
    assert f"{jobs} rds_automated_snapshot jobs copy into {DESTINATION}" in finding.message
    assert finding.job.startswith("sync_db_0, sync_db_1, sync_db_2 (+")
    if severity == WARNING:
        assert "about 1 are deferred to the next run" in finding.message


@pytest.mark.parametrize("jobs, severity", [(5, OK), (6, WARNING)])
def test_more_than_five_cluster_jobs_into_one_region_warn(world, jobs, severity):
    config = "".join(cluster_job(f"sync_cluster_{index}") for index in range(jobs))
    (finding,) = [f for f in xregion_sync.doctor(config) if f.check == "copy_quota"]
    assert finding.severity == severity
    assert (f"{jobs} rds_cluster_snapshot jobs copy into {DESTINATION}: up to {jobs} RDS "
            "cluster snapshot copies in progress at once; AWS allows 5 per destination "
            "region") in finding.message


# ---------------------------------------------------------------- config errors, reads only


def test_a_config_error_is_a_finding_and_no_aws_call(world, api_calls):
    findings = xregion_sync.doctor(DEMO + rds_job("sync_broken", db="broken-db",
                                                  max_snapshots_to_retain="lots"))
    broken = of(findings, "sync_broken", "config")
    assert [f.severity for f in broken] == [ERROR]
    assert "field 'max_snapshots_to_retain'" in broken[0].message
    assert [f.check for f in findings if "sync_broken" in f.job] == ["config"]
    assert api_calls.calls and not [c for c in api_calls.calls if "broken-db" in str(c.params)]


def test_doctor_makes_only_read_calls(world, api_calls):
    key = destination_key()
    option_group(DESTINATION, "dr-og")
    xregion_sync.doctor(DEMO + rds_job("sync_db", kms_key_id=key, option_group_name="dr-og")
                        + ami_job("sync_shared", ami_owner=f"'{OTHER_OWNER}'"))
    operations = set(api_calls.operations())
    assert {"DescribeImages", "DescribeDBSnapshots", "DescribeDBInstances",
            "DescribeOptionGroups", "DescribeAccountAttributes", "DescribeKey",
            "GetCallerIdentity"} <= operations
    assert [op for op in operations if not op.startswith(("Describe", "Get", "List"))] == []


# ---------------------------------------------------------------- command line


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_cli_table_and_exit_0_when_healthy(world, capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(DEMO)
    code, out, _ = run_cli(capsys, "doctor", str(path))
    assert code == 0
    assert out.splitlines()[0].split() == ["JOB", "CHECK", "RESULT", "MESSAGE"]
    assert "sync_orders_db  manual_snapshot_quota" in out


def test_cli_json_and_exit_1_on_an_error(world, capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(DEMO + rds_job("sync_db", kms_key_id="alias/no-such-key"))
    code, out, _ = run_cli(capsys, "doctor", str(path), "--json")
    assert code == 1
    findings = json.loads(out)
    assert {"job": "sync_db", "check": "kms_key", "severity": "error",
            "message": f"job 'sync_db': KMS key alias/no-such-key was not found in "
                       f"{DESTINATION}: create it there (or a replica of a multi-Region key),"
                       f" or set kms_key_id to a key id, ARN or alias of an enabled key in "
                       f"{DESTINATION}"} in findings
    assert all(set(f) == {"job", "check", "severity", "message"} for f in findings)


def test_cli_exit_0_with_only_warnings(world, capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("".join(rds_job(f"sync_db_{index}") for index in range(21)))
    code, out, _ = run_cli(capsys, "doctor", str(path))
    assert code == 0 and " warning " in out


@pytest.mark.parametrize("text", ["", "- a\n", "sync_a: [unclosed\n", "jobs: {}\n"])
def test_cli_exit_2_when_the_config_cannot_be_read(capsys, tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    code, out, err = run_cli(capsys, "doctor", str(path))
    assert code == 2 and out == "" and err.startswith("error: ")


# ---------------------------------------------------------------- against the deployed stack

ROLE = "arn:aws:iam::111111111111:role/xregion-sync-dr"
ROLE_JOB = """
sync_partner_db:
  sync_type: rds_automated_snapshot
  source_region: us-east-1
  destination_region: us-west-2
  db_instance: partner-db
  aws_client_config: {role_arn: "arn:aws:iam::111111111111:role/xregion-sync-dr"}
"""


def test_doctor_with_a_stack_names_the_parameter_a_role_needs(emulated, capsys, tmp_path):
    # GIVEN a stack deployed without JobRoleArns, and a job that assumes a role
    config = tmp_path / "config.yaml"
    config.write_text(ROLE_JOB)
    with local_stack():
        # WHEN doctor checks the config against the stack
        code = cli.main(["doctor", str(config), "--stack", "xregion-sync-local", "--region",
                         "us-east-1", "--json"])
    findings = {(f["job"], f["check"]): f for f in json.loads(capsys.readouterr().out)}
    # THEN the role is an error naming the parameter, and the missing e-mail a warning
    assert code == 1
    role = findings[("sync_partner_db", "stack")]
    assert role["severity"] == "error"
    assert f"{ROLE} is not in the stack's JobRoleArns parameter" in role["message"]
    assert findings[("xregion-sync-local", "stack")]["severity"] == "warning"


def test_doctor_with_a_stack_that_does_not_exist_says_so(emulated, capsys, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(ROLE_JOB)
    code = cli.main(["doctor", str(config), "--stack", "typo", "--region", "us-east-1"])
    assert code == 2
    assert "stack typo does not exist in us-east-1" in capsys.readouterr().err
