"""IAM on emulated AWS (xregion_sync_emulator/iam.py), as strict as AWS: each task Lambda's
requests meet the policies `sam deploy` gives its role (template.yaml through the SAM
translator), evaluated by iam-simulate with real ARNs, condition keys and tags.

The whole scenario suite runs once (module fixture) with every optional grant switched
on by deploy parameters, plus what only a deployment does (Lambda retries, the config
from SSM or S3, job roles and secrets, KMS keys, Copy Tags with missing tags). Every
decision is recorded: nothing may be denied, and every statement, action and resource
granted must be needed by some request (checked by replaying the recorded requests
against the policy without it; `pytest -m exhaustive` re-runs the scenarios instead).
The table of every request with its decision is written to bench/results/iam-decisions.md.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from unittest import mock

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from conftest import actions
from scenarios import (
    AMI_JOB,
    CLUSTER,
    DESTINATION,
    SCENARIOS,
    SOURCE,
    WAIT,
    ami_job,
    amis,
    cluster_job,
    db_job,
    first_sync,
    run_on_state_machine,
    source_ami,
    source_cluster,
    source_db,
    start_copy_throttled_once,
)

from acceptance.expectations import mask_ids
from xregion_sync import execution as execution_module
from xregion_sync.syncs import ec2_ami, rds_automated_snapshot, rds_cluster_snapshot
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, emulated_aws, execute_state_machine
from xregion_sync_emulator import iam as iam_module
from xregion_sync_emulator.deployed_policies import NamedPolicy, function_policies, role_policies
from xregion_sync_emulator.fidelity import snapshot_ids
from xregion_sync_emulator.iam import acting_as, current_enforcement, decision_table
from xregion_sync_emulator.iam_evaluator import EvaluatorUnavailable, check_installation
from xregion_sync_emulator.moto_seam import ec2_backends, rds_backends
from xregion_sync_emulator.seed import (
    create_ami,
    create_db_cluster,
    create_db_instance,
    create_owner_key,
    create_shared_ami,
)
from xregion_sync_emulator.template import read_template

JOB_ROLE = f"arn:aws:iam::{EMULATOR_ACCOUNT_ID}:role/xregion-sync-job"
AMI_OWNER = "111111111111"  # shares an AMI whose snapshots its own KMS key encrypts
SECRET_NAME = "xregion-sync/keys"
CONFIG_BUCKET = "xregion-sync-config"
EVERY_OPTION = {
    "JobRoleArns": JOB_ROLE,
    "CredentialsSecretArns": f"arn:aws:secretsmanager:{SOURCE}:{EMULATOR_ACCOUNT_ID}:secret:"
                             f"{SECRET_NAME}-??????",
    "ConfigBucketName": CONFIG_BUCKET,
    "SourceKmsKeyArns": f"arn:aws:kms:{SOURCE}:{AMI_OWNER}:key/*",
}
REPORT = Path(__file__).resolve().parents[1] / "bench" / "results" / "iam-decisions.md"
OLD_SNAPSHOT_ARN = f"arn:aws:ec2:*:{EMULATOR_ACCOUNT_ID}:snapshot/*"


# ---------------------------------------------------------------- the exercise


def deployment_only_paths() -> None:
    """What the scenario suite does not reach but a deployment does."""
    source_ami()
    source_db()
    source_cluster()
    for sync, config in ((ec2_ami, ami_job(**WAIT)), (rds_automated_snapshot, db_job(**WAIT)),
                         (rds_cluster_snapshot, cluster_job(**WAIT))):
        with start_copy_throttled_once(sync):  # the retry finds the copy it made
            assert execute_state_machine({"config": config}).status == "SUCCEEDED"
    text = yaml.safe_dump({**ami_job(), **db_job()})
    boto3.client("ssm", region_name=SOURCE).put_parameter(
        Name="/xregion-sync/xregion-sync-local/config", Value=text, Type="String")
    s3 = boto3.client("s3", region_name=SOURCE)
    s3.create_bucket(Bucket=CONFIG_BUCKET)
    s3.put_object(Bucket=CONFIG_BUCKET, Key="config.yaml", Body=text.encode())
    for execution_input in ({}, {"config_uri": f"s3://{CONFIG_BUCKET}/config.yaml"}):
        assert execute_state_machine(execution_input).status == "SUCCEEDED"
    large_config_and_large_results()
    encrypted_copies_and_job_credentials()
    shared_ami_encrypted_with_its_owners_key()


def shared_ami_encrypted_with_its_owners_key() -> None:
    """Start Copy uses the owner's key through EC2 (SourceKmsKeyArns)."""
    key = create_owner_key(SOURCE, owner=AMI_OWNER, usable_by=EMULATOR_ACCOUNT_ID)
    create_shared_ami(SOURCE, "golden", owner=AMI_OWNER, shared_with=EMULATOR_ACCOUNT_ID,
                      kms_key_arn=key)
    config = {"sync_golden": {"sync_type": "ec2_ami", "source_region": SOURCE,
                              "destination_region": DESTINATION, "ami_owner": AMI_OWNER,
                              "filters": ["name=golden"]}}
    (result,) = execute_state_machine({"config": config}).results()
    assert result.status == "copied", result.errors


def large_config_and_large_results() -> None:
    """A config too large for the SSM parameter (push-config puts it in the run bucket and
    the parameter names it), and results too large for the execution's output (Summarize
    writes them to the run bucket; the threshold is lowered so two jobs reach it)."""
    (bucket,) = read_template().buckets()
    text = yaml.safe_dump({**ami_job(), **db_job()})
    boto3.client("s3", region_name=SOURCE).put_object(Bucket=bucket, Key="config/config.yaml",
                                                      Body=text.encode())
    boto3.client("ssm", region_name=SOURCE).put_parameter(
        Name="/xregion-sync/xregion-sync-local/config", Value=f"config_uri: s3://{bucket}/"
        "config/config.yaml\n", Type="String", Overwrite=True)
    with mock.patch.object(execution_module, "MAX_INLINE_RESULTS_BYTES", 100):
        execution = execute_state_machine({})
    assert execution.status == "SUCCEEDED"
    assert "results_uri" in execution.output


def encrypted_copies_and_job_credentials() -> None:
    key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]
    image = create_ami(SOURCE, "secure-app", {"Sync-Identifier": "secure-app", "Team": "sec"})
    for snapshot in snapshot_ids(amis(SOURCE)[image]):
        ec2_backends[EMULATOR_ACCOUNT_ID][SOURCE].snapshots[snapshot].encrypted = True
    create_db_instance(SOURCE, "secure-db", encrypted=True, tags={"Team": "sec"})
    create_db_cluster(SOURCE, "secure-cluster", encrypted=True, tags={"Team": "sec"})
    create_db_instance(SOURCE, "other-db", tags={"Team": "other"})
    create_ami(SOURCE, "role-app", {"Sync-Identifier": "role-app"})
    secret = boto3.client("secretsmanager", region_name=SOURCE).create_secret(
        Name=SECRET_NAME, SecretString=json.dumps(
            {"aws_access_key_id": "AKIAJOBKEYS", "aws_secret_access_key": "job"}))["ARN"]
    common = {"source_region": SOURCE, "destination_region": DESTINATION}
    config = {
        "sync_secure_app": {"sync_type": "ec2_ami", "sync_identifier": "secure-app",
                            "kms_key_id": key, **common},
        "sync_secure_db": {"sync_type": "rds_automated_snapshot", "db_instance": "secure-db",
                           "kms_key_id": key, **common},
        "sync_secure_cluster": {"sync_type": "rds_cluster_snapshot",
                                "db_cluster": "secure-cluster", "kms_key_id": key, **common},
        # Every task of a job with credentials reads them itself (Poll: waiting on).
        "sync_role_app": {"sync_type": "ec2_ami", "sync_identifier": "role-app",
                          "aws_client_config": {"role_arn": JOB_ROLE}, **WAIT, **common},
        "sync_secret_db": {"sync_type": "rds_automated_snapshot", "db_instance": "other-db",
                           "aws_client_config": {"credentials_secret_arn": secret}, **WAIT,
                           **common},
    }
    results = execute_state_machine({"config": config}).results()
    assert [r.status for r in results] == ["copied"] * 5, [r.errors for r in results]
    copies = [r.created_resource for r in results]
    for client in ({}, {"role_arn": JOB_ROLE}, {"credentials_secret_arn": secret}):
        copy_tags_fills_in_missing_tags(copies[0], copies[1], copies[2], client)
    prune_with_job_credentials(copies[3], {"role_arn": JOB_ROLE})
    prune_with_job_credentials(copies[0], {"credentials_secret_arn": secret})


def invoke(function: str, event: dict) -> None:
    answer = boto3.client("lambda", region_name=SOURCE).invoke(
        FunctionName=function, Payload=json.dumps(event))
    assert "FunctionError" not in answer, answer["Payload"].read()


def copy_tags_fills_in_missing_tags(image_id: str, snapshot_id: str, cluster_snapshot_id: str,
                                    client: dict) -> None:
    """Copy Tags tags only what the copy call could not: give it copies lacking a tag."""
    common = {"source_region": SOURCE, "destination_region": DESTINATION, "client": client}
    snapshot_arn = f"arn:aws:rds:{DESTINATION}:{EMULATOR_ACCOUNT_ID}:snapshot:{snapshot_id}"
    cluster_snapshot_arn = (f"arn:aws:rds:{DESTINATION}:{EMULATOR_ACCOUNT_ID}:cluster-snapshot:"
                            f"{cluster_snapshot_id}")
    invoke("CopyTagsFunction", {
        "job": {"name": "sync_secure_app", "sync_type": "ec2_ami", **common, "options": {}},
        "source": {"id": "ami-source", "tags": {"Late": "tag"}},
        "copy": {"id": image_id, "state": "pending", "tags": {}}})
    invoke("CopyTagsFunction", {
        "job": {"name": "sync_secure_db", "sync_type": "rds_automated_snapshot", **common,
                "options": {"db_instance": "secure-db"}},
        "source": {"id": "rds:secure-db", "tags": {"Late": "tag"}},
        "copy": {"id": snapshot_id, "arn": snapshot_arn, "state": "pending", "tags": {}}})
    invoke("CopyTagsFunction", {
        "job": {"name": "sync_secure_cluster", "sync_type": "rds_cluster_snapshot", **common,
                "options": {"db_cluster": "secure-cluster"}},
        "source": {"id": "rds:secure-cluster", "tags": {"Late": "tag"}},
        "copy": {"id": cluster_snapshot_id, "arn": cluster_snapshot_arn, "state": "pending",
                 "tags": {}}})


def prune_with_job_credentials(image_id: str, client: dict) -> None:
    invoke("PruneOldCopiesFunction", {
        "job": {"name": "sync_role_app", "sync_type": "ec2_ami", "source_region": SOURCE,
                "destination_region": DESTINATION, "client": client, "options": {}},
        "copy": {"id": "ami-newer", "state": "available"},
        "existing": {"prune_candidates": [image_id]}})


@pytest.fixture(scope="module")
def suite():
    """Every scenario on the state machine, then the deployment-only paths: their results
    and every IAM decision taken."""
    results, decided = {}, []
    for scenario in SCENARIOS:
        with emulated_aws(copy_seconds=scenario.copy_seconds, deploy_parameters=EVERY_OPTION):
            results[scenario.name] = scenario.run(run_on_state_machine)
            decided += current_enforcement().decided
    with emulated_aws(deploy_parameters=EVERY_OPTION):
        deployment_only_paths()
        decided += current_enforcement().decided
        enforcement = current_enforcement()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(decision_table(decided) + "\n", encoding="utf-8")
    return results, decided, enforcement


# ---------------------------------------------------------------- as strict as AWS, and passing


@pytest.mark.statemachine
@pytest.mark.xdist_group("iam_suite")  # one worker computes `suite`
def test_the_scenario_suite_passes_under_enforcement(suite):
    results, _, _ = suite
    for scenario in SCENARIOS:
        assert mask_ids(results[scenario.name]) == scenario.expected, scenario.name


# Denials the suite means to meet: scenarios.old_copy_deleted_meanwhile (and its cluster
# twin) deletes a copy that is already gone, which the deployed policy refuses (a gone
# snapshot has no tag for its condition), and Prune Old Copies then finds it gone.
EXPECTED_DENIALS = {("PruneOldCopiesFunction", "rds:DeleteDBSnapshot",
                     "arn:aws:rds:us-west-2:123456789012:snapshot:rds-orders-db-2026-11-19-06-10"),
                    ("PruneOldCopiesFunction", "rds:DeleteDBClusterSnapshot",
                     f"arn:aws:rds:us-west-2:123456789012:cluster-snapshot:rds-{CLUSTER}-"
                     "2026-11-19-06-10")}


@pytest.mark.statemachine
@pytest.mark.xdist_group("iam_suite")  # one worker computes `suite`
def test_no_request_of_the_suite_is_denied_and_every_task_lambda_is_checked(suite):
    _, decided, _ = suite
    denied = {(row.function, row.action, row.check.resource) for row in decided
              if row.decision != "Allowed"}
    assert denied == EXPECTED_DENIALS
    assert {row.function for row in decided} == {
        "LoadConfigFunction", "ResolveSourceFunction", "CheckSyncTagFunction",
        "StartCopyFunction", "CopyTagsFunction", "PollCopyStatusFunction",
        "PruneOldCopiesFunction", "SummarizeFunction", iam_module.STATE_MACHINE}


@pytest.mark.statemachine
@pytest.mark.xdist_group("iam_suite")  # one worker computes `suite`
def test_the_report_lists_every_request_with_its_decision(suite):
    _, decided, _ = suite
    table = REPORT.read_text(encoding="utf-8")
    assert "| StartCopyFunction | ec2:CopyImage | ec2:CopyImage | arn:aws:ec2:us-west-2::" \
           "snapshot/* | Allowed |" in table
    assert len(table.splitlines()) > 20 and len(decided) > 100


# ---------------------------------------------------------------- nothing granted is unused


def grant_removals(functions: set[str] | None = None, skipped_policies: tuple[str, ...] = ()
                   ) -> list[tuple[str, str, list[NamedPolicy]]]:
    """(function, what was removed, its policies without it) for every statement, and
    every action and resource of a statement that has several; of `functions` (default:
    the sync state machine's, which the scenario suite runs; the drill machine's are
    checked in test_drill_machine.py), leaving out `skipped_policies`."""
    functions = functions or read_template().machines["SyncStateMachine"].function_ids()
    removals = []
    for function, policies in function_policies(EVERY_OPTION).items():
        if function not in functions:
            continue
        for p_index, policy in enumerate(policies):
            if policy.aws_managed or policy.name in skipped_policies:
                continue  # (AWS managed: the Lambda runtime's, not the handlers')
            for s_index, statement in enumerate(policy.document["Statement"]):
                def without(change, label, p_index=p_index, s_index=s_index,
                            policies=policies, function=function):
                    changed = copy.deepcopy(policies)
                    statements = changed[p_index].document["Statement"]
                    if change is None:
                        del statements[s_index]
                    else:
                        change(statements[s_index])
                    removals.append((function, label, changed))

                where = f"{policy.name} statement {s_index}"
                without(None, f"{where}")
                for field in ("Action", "Resource"):
                    values = statement[field] if isinstance(statement[field], list) else []
                    for value in values if len(values) > 1 else []:
                        without(lambda s, f=field, v=value: s[f].remove(v),
                                f"{where} {field} {value}")
    return removals


REMOVALS = grant_removals()


@pytest.mark.statemachine
@pytest.mark.xdist_group("iam_suite")  # one worker computes `suite`
def test_every_statement_action_and_resource_granted_is_needed_by_some_request(suite):
    _, decided, enforcement = suite
    unneeded = []
    for function, removed, policies in REMOVALS:
        asked = {json.dumps(row.check.__dict__, sort_keys=True): row.check for row in decided
                 if row.function == function and row.check is not None}
        allowed = enforcement.replay(function, policies, list(asked.values()))
        if all(allowed):
            unneeded.append(f"{function}: {removed}")
    assert len(REMOVALS) > 20
    assert unneeded == [], "\n".join(unneeded)


# A fast sample of the exhaustive check below, in `make test`.
REPRESENTATIVE = ("StartCopyFunctionRolePolicy0 statement 0 Resource arn:aws:ec2:*::snapshot/*",
                  "PruneOldCopiesFunctionRolePolicy0 statement 1")


@pytest.mark.statemachine
@pytest.mark.parametrize(("function", "removed", "policies"), [
    pytest.param(*removal, id=f"{removal[0]}: {removal[1]}",
                 marks=[] if removal[1] in REPRESENTATIVE else [pytest.mark.exhaustive])
    for removal in REMOVALS])
def test_removing_a_grant_makes_a_scenario_fail(function, removed, policies):
    policies_by_function = {**function_policies(EVERY_OPTION), function: policies}
    failed = []
    with mock.patch.object(iam_module, "function_policies", return_value=policies_by_function):
        for scenario in SCENARIOS:
            with emulated_aws(copy_seconds=scenario.copy_seconds,
                              deploy_parameters=EVERY_OPTION):
                try:
                    outcome = mask_ids(scenario.run(run_on_state_machine))
                except (AssertionError, ClientError) as exc:
                    outcome = exc
            if outcome != scenario.expected:
                failed.append(scenario.name)
                break
        if not failed:
            with emulated_aws(deploy_parameters=EVERY_OPTION):
                try:
                    deployment_only_paths()
                except AssertionError:
                    failed.append("deployment_only_paths")
    assert failed, f"no scenario needs {function}: {removed}"


# ---------------------------------------------------------------- the tag conditions bite


@pytest.mark.statemachine
def test_deregistering_an_ami_the_tool_did_not_tag_is_denied(emulated):
    # GIVEN a deployed Start Copy and an AMI in the destination without the job tag
    execute_state_machine({"config": {}})
    untagged = create_ami(DESTINATION, "someone-elses", {"Owner": "ops"})
    # WHEN Prune Old Copies' role deregisters it
    with acting_as("PruneOldCopiesFunction"), pytest.raises(ClientError) as denied:
        boto3.client("ec2", region_name=DESTINATION).deregister_image(
            ImageId=untagged, DeleteAssociatedSnapshots=True)
    # THEN EC2 refuses, as AWS does, and the AMI stays
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert f"ec2:DeregisterImage on resource: arn:aws:ec2:{DESTINATION}::image/{untagged}" in \
        denied.value.response["Error"]["Message"]
    assert untagged in amis(DESTINATION)


@pytest.mark.statemachine
def test_deprecating_an_ami_the_tool_did_not_tag_is_denied(emulated):
    # GIVEN a deployed Copy Tags (deprecate_after_days) and two AMIs in the destination:
    # one the tool tagged, one someone else's
    execute_state_machine({"config": {}})
    ours = create_ami(DESTINATION, "ours", {"xregion-sync:job": "sync_web_app"})
    theirs = create_ami(DESTINATION, "someone-elses", {"Owner": "ops"})
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    deprecate_at = "2030-01-01T00:00:00Z"
    # WHEN Copy Tags' role deprecates each
    with acting_as("CopyTagsFunction"):
        ec2.enable_image_deprecation(ImageId=ours, DeprecateAt=deprecate_at)
        with pytest.raises(ClientError) as denied:
            ec2.enable_image_deprecation(ImageId=theirs, DeprecateAt=deprecate_at)
    # THEN only the tool's own copy may be deprecated: the tag condition bites
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert (f"ec2:EnableImageDeprecation on resource: arn:aws:ec2:{DESTINATION}::image/"
            f"{theirs}") in denied.value.response["Error"]["Message"]
    assert getattr(amis(DESTINATION)[theirs], "deprecation_time", None) is None


@pytest.mark.statemachine
def test_sharing_an_ami_the_tool_did_not_tag_is_denied(emulated):
    # GIVEN a deployed Prune Old Copies (copy_launch_permissions) and two available AMIs in
    # the destination: one the tool tagged, one someone else's
    execute_state_machine({"config": {}})
    ours = create_ami(DESTINATION, "ours", {"xregion-sync:job": "sync_web_app"})
    theirs = create_ami(DESTINATION, "someone-elses", {"Owner": "ops"})
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    grant = {"Add": [{"UserId": "444455556666"}]}
    # WHEN Prune Old Copies' role gives each a launch permission
    with acting_as("PruneOldCopiesFunction"):
        ec2.modify_image_attribute(ImageId=ours, LaunchPermission=grant)
        with pytest.raises(ClientError) as denied:
            ec2.modify_image_attribute(ImageId=theirs, LaunchPermission=grant)
    # THEN only the tool's own copy may be shared: the tag condition bites
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert (f"ec2:ModifyImageAttribute on resource: arn:aws:ec2:{DESTINATION}::image/"
            f"{theirs}") in denied.value.response["Error"]["Message"]
    assert amis(DESTINATION)[theirs].launch_permissions == []


@pytest.mark.statemachine
def test_prune_may_tag_the_tools_copies_with_the_launch_permissions_tag_only(emulated):
    # GIVEN a deployed Prune Old Copies and an AMI the tool tagged
    execute_state_machine({"config": {}})
    ours = create_ami(DESTINATION, "ours", {"xregion-sync:job": "sync_web_app"})
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    # WHEN its role sets the launch-permissions tag, and then any other tag
    with acting_as("PruneOldCopiesFunction"):
        ec2.create_tags(Resources=[ours], Tags=[
            {"Key": ec2_ami.TAG_LAUNCH_PERMISSIONS, "Value": ec2_ami.COPIED}])
        with pytest.raises(ClientError) as denied:
            ec2.create_tags(Resources=[ours], Tags=[{"Key": "xregion-sync:job",
                                                     "Value": "another_job"}])
    # THEN only the one tag it needs is allowed
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert "ec2:CreateTags" in denied.value.response["Error"]["Message"]


@pytest.mark.statemachine
def test_a_tagged_amis_untagged_snapshot_is_kept_and_reported(emulated):
    # GIVEN a tool-tagged AMI whose snapshot lacks the job tag
    execute_state_machine({"config": {}})
    image = create_ami(DESTINATION, "copy", {"xregion-sync:job": AMI_JOB})
    snapshot = snapshot_ids(amis(DESTINATION)[image])[0]
    # WHEN it is deregistered with its snapshots
    with acting_as("PruneOldCopiesFunction"):
        answer = boto3.client("ec2", region_name=DESTINATION).deregister_image(
            ImageId=image, DeleteAssociatedSnapshots=True)
    # THEN the AMI goes, and the snapshot stays, reported as AWS does
    assert image not in amis(DESTINATION)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": snapshot,
                                                "ReturnCode": "missing-permissions"}]
    assert snapshot in ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].snapshots


def _untagged_manual_db_snapshot() -> str:
    create_db_instance(DESTINATION, "mine")
    boto3.client("rds", region_name=DESTINATION).create_db_snapshot(
        DBInstanceIdentifier="mine", DBSnapshotIdentifier="my-manual-copy")
    return "my-manual-copy"


def _untagged_manual_cluster_snapshot() -> str:
    create_db_cluster(DESTINATION, "mine")
    boto3.client("rds", region_name=DESTINATION).create_db_cluster_snapshot(
        DBClusterIdentifier="mine", DBClusterSnapshotIdentifier="my-manual-cluster-copy")
    return "my-manual-cluster-copy"


@pytest.mark.statemachine
@pytest.mark.parametrize(("seed", "delete", "parameter", "held"), [
    (_untagged_manual_db_snapshot, "delete_db_snapshot", "DBSnapshotIdentifier",
     "database_snapshots"),
    (_untagged_manual_cluster_snapshot, "delete_db_cluster_snapshot",
     "DBClusterSnapshotIdentifier", "cluster_snapshots"),
], ids=["db_snapshot", "cluster_snapshot"])
def test_deleting_a_snapshot_the_tool_did_not_tag_is_denied(emulated, seed, delete, parameter,
                                                            held):
    # GIVEN a manual DB (cluster) snapshot in the destination without the job tag
    execute_state_machine({"config": {}})
    snapshot_id = seed()
    # WHEN Prune Old Copies' role deletes it
    with acting_as("PruneOldCopiesFunction"), pytest.raises(ClientError) as denied:
        getattr(boto3.client("rds", region_name=DESTINATION), delete)(
            **{parameter: snapshot_id})
    # THEN RDS refuses and the snapshot stays
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert snapshot_id in getattr(rds_backends[EMULATOR_ACCOUNT_ID][DESTINATION], held)


@pytest.mark.statemachine
def test_an_original_tool_copy_is_kept_with_a_warning_by_the_deployed_prune(emulated):
    # GIVEN a copy the original tool made (its tag, not ours) among the job's copies
    execute_state_machine({"config": {}})
    source_db()
    create_db_instance(DESTINATION, "orders-db")
    boto3.client("rds", region_name=DESTINATION).create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="legacy-copy",
        Tags=[{"Key": f"Sync-From-{SOURCE}", "Value": "20261118061000+0000 / rds:x"}])
    job = {"name": "sync_orders_db", "sync_type": "rds_automated_snapshot",
           "source_region": SOURCE, "destination_region": DESTINATION,
           "options": {"db_instance": "orders-db"}}
    # WHEN the deployed Prune Old Copies prunes it
    answer = boto3.client("lambda", region_name=SOURCE).invoke(
        FunctionName="PruneOldCopiesFunction", Payload=json.dumps({
            "job": job, "copy": {"id": "new", "state": "available"},
            "existing": {"prune_candidates": ["legacy-copy"],
                         "untracked_candidates": ["legacy-copy"]}}))
    # THEN it is kept (docs/compatibility.md: "with a warning in the logs; the job still succeeds"),
    # without a DescribeDBSnapshots that Prune Old Copies is not granted
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read())["pruned"] == []
    assert "legacy-copy" in rds_backends[EMULATOR_ACCOUNT_ID][DESTINATION].database_snapshots


# ---------------------------------------------------------------- the enforcement itself


@pytest.mark.statemachine
def test_a_db_snapshot_copy_with_an_option_group_is_allowed_by_the_deployed_policy(emulated):
    # GIVEN a DB instance and an option group of its engine in the destination
    source_db()
    boto3.client("rds", region_name=DESTINATION).create_option_group(
        OptionGroupName="orders-og", EngineName="postgres", MajorEngineVersion="13",
        OptionGroupDescription="the source's options, in the DR region")
    config = db_job(option_group_name="orders-og")

    # WHEN the state machine copies with OptionGroupName (Start Copy's deployed policy)
    (result,) = run_on_state_machine(config)

    # THEN CopyDBSnapshot is authorized on the snapshots alone: the Service Authorization
    # Reference lists no `og` resource for it, and rds:CopyOptionGroup is false
    assert result["status"] == "copied", result["errors"]
    checks = [d.check for d in current_enforcement().decided if d.action == "rds:CopyDBSnapshot"]
    assert checks and all(":snapshot:" in c.resource for c in checks)
    assert {c.context["rds:CopyOptionGroup"] for c in checks} == {"false"}


def test_rds_copy_option_group_is_in_copy_db_snapshots_request_context():
    # GIVEN Start Copy's policy with a guard on the condition key
    policies = copy.deepcopy(function_policies())
    deny = {"Effect": "Deny", "Action": "rds:CopyDBSnapshot", "Resource": "*",
            "Condition": {"Bool": {"rds:CopyOptionGroup": "true"}}}
    policies["StartCopyFunction"][0].document["Statement"].append(deny)

    with mock.patch.object(iam_module, "function_policies", return_value=policies), \
            emulated_aws():
        snapshot = create_db_instance(SOURCE, "orders-db")
        arn = f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:snapshot:{snapshot}"
        rds = boto3.client("rds", region_name=DESTINATION)
        with acting_as("StartCopyFunction"):
            # WHEN a copy asks for the option group (only cross-account copies may), and
            # one does not
            with pytest.raises(ClientError) as denied:
                rds.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, SourceRegion=SOURCE,
                                     TargetDBSnapshotIdentifier="copy-1", CopyOptionGroup=True)
            rds.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, SourceRegion=SOURCE,
                                 TargetDBSnapshotIdentifier="copy-2")

    # THEN the Deny bites on the first only
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "rds:CopyDBSnapshot" in denied.value.response["Error"]["Message"]


def state_machine_policies(mutate) -> dict:
    """The deployed policies, the state machine role's changed by `mutate(statement)`."""
    policies = copy.deepcopy(function_policies())
    machine = copy.deepcopy(role_policies()[iam_module.STATE_MACHINE_ROLE])
    for policy in machine:
        policy.document["Statement"] = [changed for statement in policy.document["Statement"]
                                        if (changed := mutate(statement)) is not None]
    return {**policies, iam_module.STATE_MACHINE: machine}


@pytest.mark.statemachine
def test_the_state_machines_own_requests_are_authorized_by_its_role():
    # GIVEN one job of each child type
    with emulated_aws():
        source_ami()
        source_db()
        execution = execute_state_machine({"config": {**ami_job(), **db_job(**WAIT)}})
        decided = [d for d in current_enforcement().decided
                   if d.function == iam_module.STATE_MACHINE]

    # THEN every request of the state machine itself was decided, and allowed
    assert execution.status == "SUCCEEDED", execution.cause
    actions = {d.action for d in decided}
    assert actions == {"lambda:InvokeFunction", "s3:GetObject", "s3:PutObject",
                       "states:StartExecution", "states:DescribeExecution"}
    assert {d.decision for d in decided} == {"Allowed"}
    children = {r for d in decided if d.action == "states:DescribeExecution"
                for r in d.resources}
    # the labelled ARNs: execution:<machine>/<map run label>:<id>, express:...:<id>:<id>
    labelled = {"execution": r":execution:xregion-sync-local/[^:/]+:[^:]+$",
                "express": r":express:xregion-sync-local/[^:/]+:[^:]+:[^:]+$"}
    assert {kind for kind, shape in labelled.items()
            for arn in children if re.search(shape, arn)} == {"execution", "express"}


@pytest.mark.statemachine
@pytest.mark.parametrize("config", [ami_job(), db_job(**WAIT)], ids=["express", "standard"])
def test_child_arns_without_the_map_run_label_deny_the_children(config):
    # GIVEN the grant the template had: execution:<machine>:* and express:<machine>:*:*
    def unlabelled(statement):
        if "states:DescribeExecution" in actions(statement):
            statement["Resource"] = [
                f"arn:aws:states:us-east-1:{EMULATOR_ACCOUNT_ID}:execution:xregion-sync-local:*",
                f"arn:aws:states:us-east-1:{EMULATOR_ACCOUNT_ID}:express:xregion-sync-local:*:*"]
        return statement

    with mock.patch.object(iam_module, "function_policies",
                           return_value=state_machine_policies(unlabelled)), emulated_aws():
        source_ami()
        source_db()
        execution = execute_state_machine({"config": config})
        denied = [d for d in current_enforcement().decided
                  if d.function == iam_module.STATE_MACHINE and d.decision != "Allowed"]

    # THEN the Map cannot watch its children: the execution fails
    assert execution.status == "FAILED"
    assert {d.action for d in denied} == {"states:DescribeExecution"}


@pytest.mark.statemachine
def test_without_its_lambda_invoke_grants_the_state_machine_cannot_run_a_task():
    def no_invoke(statement):
        return None if "lambda:InvokeFunction" in actions(statement) else statement

    with mock.patch.object(iam_module, "function_policies",
                           return_value=state_machine_policies(no_invoke)), emulated_aws():
        source_ami()
        execution = execute_state_machine({"config": ami_job()})
        denied = {d.action for d in current_enforcement().decided
                  if d.function == iam_module.STATE_MACHINE and d.decision != "Allowed"}

    assert execution.status == "FAILED"
    assert denied == {"lambda:InvokeFunction"}


@pytest.mark.statemachine
def test_a_wrong_snapshot_arn_denies_copy_image():
    # GIVEN Start Copy with the snapshot ARN the template used to have (with an account)
    policies = copy.deepcopy(function_policies())
    for policy in policies["StartCopyFunction"]:
        for statement in policy.document.get("Statement", []):
            if statement.get("Action") == "ec2:CopyImage":
                statement["Resource"] = ["arn:aws:ec2:*::image/*", OLD_SNAPSHOT_ARN]
    # WHEN the first sync runs
    with mock.patch.object(iam_module, "function_policies", return_value=policies), \
            emulated_aws():
        source_ami()
        (result,) = run_on_state_machine(ami_job())
    # THEN CopyImage is denied on the copy's snapshot, in EC2's words
    assert result["status"] == "failed"
    message = result["errors"][0]["message"]
    assert "UnauthorizedOperation" in message and "ec2:CopyImage" in message
    assert f"arn:aws:ec2:{SOURCE}::snapshot/" in message or \
        f"arn:aws:ec2:{DESTINATION}::snapshot/*" in message


@pytest.mark.statemachine
def test_denials_are_each_services_own_error(emulated):
    # GIVEN a function whose role grants nothing beyond logs and X-Ray
    execute_state_machine({"config": {}})
    calls = {
        "ec2": lambda: boto3.client("ec2", region_name=SOURCE).describe_images(Owners=["self"]),
        "rds": lambda: boto3.client("rds", region_name=SOURCE).describe_db_snapshots(),
        "sts": lambda: boto3.client("sts", region_name=SOURCE).assume_role(
            RoleArn=JOB_ROLE, RoleSessionName="probe"),
        "s3": lambda: boto3.client("s3", region_name=SOURCE).get_object(Bucket="b", Key="k"),
        "ssm": lambda: boto3.client("ssm", region_name=SOURCE).get_parameter(Name="/x"),
        "secretsmanager": lambda: boto3.client("secretsmanager", region_name=SOURCE)
        .get_secret_value(SecretId="x"),
    }
    codes = {}
    # WHEN it calls each service
    for service, call in calls.items():
        with acting_as("RecordResultFunction"), pytest.raises(ClientError) as denied:
            call()
        codes[service] = (denied.value.response["Error"]["Code"],
                          denied.value.response["ResponseMetadata"]["HTTPStatusCode"])
    # THEN each answers as AWS does
    assert codes == {"ec2": ("UnauthorizedOperation", 403), "rds": ("AccessDenied", 403),
                     "sts": ("AccessDenied", 403), "s3": ("AccessDenied", 403),
                     "ssm": ("AccessDeniedException", 400),
                     "secretsmanager": ("AccessDeniedException", 400)}


@pytest.mark.statemachine
def test_an_operation_without_an_iam_model_is_denied_naming_the_missing_model(emulated):
    execute_state_machine({"config": {}})
    with acting_as("StartCopyFunction"), pytest.raises(ClientError) as denied:
        boto3.client("ec2", region_name=DESTINATION).describe_snapshots(OwnerIds=["self"])
    assert "no IAM model for ec2:DescribeSnapshots" in denied.value.response["Error"]["Message"]


def test_requests_outside_a_lambda_keep_the_callers_permissions(emulated):
    # The test's own seeding and the in-process runner are not the deployed Lambdas.
    source_ami()
    (result,) = [r.to_dict() for r in __import__("xregion_sync").run(ami_job())]
    assert result["status"] == "copied"


def test_a_missing_evaluator_names_the_make_target(tmp_path, monkeypatch):
    monkeypatch.setenv("XREGION_SYNC_IAM_SIMULATOR_DIR", str(tmp_path))
    with pytest.raises(EvaluatorUnavailable, match="make iam-simulator"):
        check_installation()


@pytest.mark.statemachine
def test_first_sync_is_checked_request_by_request():
    with emulated_aws():
        first_sync(run_on_state_machine)
        actions = {(row.function, row.action) for row in current_enforcement().decided}
    assert ("StartCopyFunction", "ec2:CreateTags") in actions
    assert ("StartCopyFunction", "rds:AddTagsToResource") in actions
