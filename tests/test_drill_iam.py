"""The drill tasks' IAM (template.yaml), enforced by emulated AWS: each create call only
with the drill tag in the request, each delete only on what carries it (RDS: and is named
xrs-drill-*); each condition shown to bite with a request the drill would never make. And
every statement the drill tasks have is needed by some request of a drill run."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import DESTINATION, SOURCE
from test_drill_machine import DRILL, VALIDATOR
from test_drills import RESTORE_SECONDS, config, dead_drill_tags, validation_function
from test_iam_enforcement import EVERY_OPTION, grant_removals

from xregion_sync import run
from xregion_sync.drill_types import TAG_DRILL
from xregion_sync_emulator import emulated_aws, execute_state_machine
from xregion_sync_emulator.iam import acting_as, current_enforcement
from xregion_sync_emulator.seed import create_ami, create_db_cluster, create_db_instance
from xregion_sync_emulator.template import read_template

DRILL_TAG = [{"Key": TAG_DRILL, "Value": "sync_orders"}]
FUTURE = "2999-01-01T00:00:00Z"


@pytest.fixture
def copies():
    """Emulated AWS (IAM enforced) with one DR copy per job; the copies' ids."""
    with emulated_aws():
        create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"})
        create_db_instance(SOURCE, "orders")
        create_db_cluster(SOURCE, "ledger")
        yield {r.name: r.created_resource for r in run(config())}


def denied(function: str, call) -> str:
    """The denial message of `call` made as `function`'s role."""
    with acting_as(function), pytest.raises(ClientError) as refused:
        call()
    code = refused.value.response["Error"]["Code"]
    assert code in ("AccessDenied", "UnauthorizedOperation"), code
    return str(refused.value.response["Error"]["Message"])


def rds():
    return boto3.client("rds", region_name=DESTINATION)


def ec2():
    return boto3.client("ec2", region_name=DESTINATION)


def restore_db(name: str, snapshot: str, tags: list[dict]):
    return lambda: rds().restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=name, DBSnapshotIdentifier=snapshot,
        DBInstanceClass="db.t4g.micro", Tags=tags)


def test_a_restore_without_the_drill_tag_or_under_another_name_is_denied(copies):
    snapshot = copies["sync_orders"]

    without_tag = denied("StartRestoreFunction", restore_db("xrs-drill-a-1", snapshot, []))
    other_name = denied("StartRestoreFunction", restore_db("orders-2", snapshot, DRILL_TAG))
    with acting_as("StartRestoreFunction"):  # the drill's own request passes
        restore_db("xrs-drill-a-1", snapshot, DRILL_TAG)()

    assert "rds:RestoreDBInstanceFromDBSnapshot on resource: arn:aws:rds:" \
           f"{DESTINATION}:123456789012:db:xrs-drill-a-1" in without_tag
    assert "db:orders-2" in other_name
    assert [d["DBInstanceIdentifier"] for d in rds().describe_db_instances()["DBInstances"]
            if d["DBInstanceIdentifier"].startswith(("xrs-drill", "orders-2"))] == [
        "xrs-drill-a-1"]


def test_a_cluster_restore_and_its_instance_need_the_drill_tag(copies):
    snapshot = copies["sync_ledger"]

    cluster = denied("StartRestoreFunction", lambda: rds().restore_db_cluster_from_snapshot(
        DBClusterIdentifier="xrs-drill-l-1", SnapshotIdentifier=snapshot, Engine="aurora-mysql"))
    with acting_as("StartRestoreFunction"):
        rds().restore_db_cluster_from_snapshot(
            DBClusterIdentifier="xrs-drill-l-1", SnapshotIdentifier=snapshot,
            Engine="aurora-mysql", Tags=DRILL_TAG)
    instance = denied("PollRestoreFunction", lambda: rds().create_db_instance(
        DBInstanceIdentifier="xrs-drill-l-1-1", DBClusterIdentifier="xrs-drill-l-1",
        Engine="aurora-mysql", DBInstanceClass="db.t4g.medium"))

    assert "rds:RestoreDBClusterFromSnapshot" in cluster and "cluster:xrs-drill-l-1" in cluster
    assert "rds:CreateDBInstance" in instance and "db:xrs-drill-l-1-1" in instance


def run_instance(image: str, tags: list[dict]):
    return lambda: ec2().run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": kind, "Tags": tags}
                           for kind in ("instance", "volume")] if tags else [])


def test_an_instance_without_the_drill_tag_or_of_an_image_not_ours_is_denied(copies):
    theirs = create_ami(DESTINATION, "someone-elses", {"Owner": "ops"})

    untagged = denied("StartRestoreFunction", run_instance(copies["sync_web"], []))
    not_ours = denied("StartRestoreFunction", run_instance(theirs, DRILL_TAG))

    assert "ec2:RunInstances on resource: arn:aws:ec2:" in untagged and "instance/*" in untagged
    assert f"image/{theirs}" in not_ours
    assert ec2().describe_instances()["Reservations"] == []


@pytest.fixture
def encrypted_copies():
    """Emulated AWS (IAM enforced) with one DR copy per job, each encrypted with a customer
    managed key of the destination region; the copies' ids."""
    with emulated_aws():
        key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]
        create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"})
        create_db_instance(SOURCE, "orders", encrypted=True)
        create_db_cluster(SOURCE, "ledger", encrypted=True)
        encrypted = {"kms_key_id": key}
        results = run(config(sync_web=encrypted, sync_orders=encrypted, sync_ledger=encrypted))
        assert not [r.errors for r in results if r.failed]
        yield {r.name: r.created_resource for r in results}


def kms_checks(function: str) -> list[tuple[str, str, str]]:
    """(action, kms:ViaService, decision) of every KMS check made as `function`."""
    return sorted({(row.check.action, str(row.check.context.get("kms:ViaService")),
                    row.decision)
                   for row in current_enforcement().decided
                   if row.function == function and row.check is not None
                   and row.check.action.startswith("kms:")})


def test_restoring_an_encrypted_copy_uses_its_key_through_the_service(encrypted_copies):
    # WHEN the drill restores each encrypted copy, with the drill tag as it does
    with acting_as("StartRestoreFunction"):
        restore_db("xrs-drill-o-1", encrypted_copies["sync_orders"], DRILL_TAG)()
        rds().restore_db_cluster_from_snapshot(
            DBClusterIdentifier="xrs-drill-l-1", Engine="aurora-postgresql",
            SnapshotIdentifier=encrypted_copies["sync_ledger"], Tags=DRILL_TAG)
        ec2().run_instances(
            ImageId=encrypted_copies["sync_web"], InstanceType="t3.micro", MinCount=1,
            MaxCount=1, TagSpecifications=[{"ResourceType": kind, "Tags": DRILL_TAG} for kind in (
                "instance", "volume", "network-interface")])

    # THEN RDS and EBS used the copies' key on its behalf, and its grants allowed that
    rds_via, ec2_via = (f"{service}.{DESTINATION}.amazonaws.com" for service in ("rds", "ec2"))
    assert kms_checks("StartRestoreFunction") == sorted(
        [(action, rds_via, "Allowed") for action in ("kms:CreateGrant", "kms:DescribeKey")]
        + [(action, ec2_via, "Allowed") for action in (
            "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
            "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo")])


def create_db(name: str, tags: list[dict]) -> None:
    rds().create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t4g.micro",
                             Engine="postgres", MasterUsername="x",
                             MasterUserPassword="not-a-secret-1", Tags=tags)


@pytest.mark.parametrize("function", ["CleanUpDrillFunction", "CleanUpExpiredDrillsFunction"])
def test_deleting_what_lacks_the_drill_tag_or_name_is_denied(copies, function):
    tags = dead_drill_tags("sync_orders", "x", FUTURE)
    create_db("xrs-drill-untagged-1", [])
    create_db("orders-prod", tags)  # the tag, but not a drill's name
    create_db("xrs-drill-orders-1", tags)
    instance = run_instance(copies["sync_web"], [])()["Instances"][0]["InstanceId"]

    def delete(name: str):
        return lambda: rds().delete_db_instance(DBInstanceIdentifier=name,
                                                SkipFinalSnapshot=True)

    untagged = denied(function, delete("xrs-drill-untagged-1"))
    misnamed = denied(function, delete("orders-prod"))
    terminate = denied(function, lambda: ec2().terminate_instances(InstanceIds=[instance]))
    with acting_as(function):
        delete("xrs-drill-orders-1")()

    assert "rds:DeleteDBInstance" in untagged and "db:xrs-drill-untagged-1" in untagged
    assert "db:orders-prod" in misnamed
    assert f"ec2:TerminateInstances on resource: arn:aws:ec2:{DESTINATION}:123456789012:" \
           f"instance/{instance}" in terminate
    left = {d["DBInstanceIdentifier"] for d in rds().describe_db_instances()["DBInstances"]}
    assert {"xrs-drill-untagged-1", "orders-prod"} <= left
    assert "xrs-drill-orders-1" not in left


# ---------------------------------------------------------------- nothing granted is unused

# Statements no drill of the emulator needs, each for a reason: a DB cluster restored into
# a named DB subnet group (the instance drill shows the grant works); a volume that
# termination left (the emulator, like EC2, deletes DeleteOnTermination volumes).
UNEXERCISED = {
    "StartRestoreFunction: StartRestoreFunctionRolePolicy0 statement 4 Action "
    "rds:RestoreDBClusterFromSnapshot",
    "CleanUpDrillFunction: DeleteDrillResourcesPolicy statement 3",
    "CleanUpExpiredDrillsFunction: DeleteDrillResourcesPolicy statement 3",
}


@pytest.mark.statemachine
def test_every_statement_of_the_drill_tasks_is_needed_by_some_request():
    validator = f"{VALIDATOR}passing_validation"
    parameters = {**EVERY_OPTION, "DrillValidationFunctionArns": validator}
    with emulated_aws(restore_seconds=RESTORE_SECONDS, waits_pass_time=True,
                      deploy_parameters=parameters):
        # copies encrypted with a customer managed key: the restores use it (the KMS grants)
        key = boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]
        encrypted = {"kms_key_id": key}
        create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"})
        create_db_instance(SOURCE, "orders", encrypted=True)
        create_db_cluster(SOURCE, "ledger", encrypted=True)
        run(config(sync_web=encrypted, sync_orders=encrypted, sync_ledger=encrypted))
        validation_function("passing_validation")
        rds().create_db_subnet_group(DBSubnetGroupName="drills", DBSubnetGroupDescription="d",
                                     SubnetIds=[default_subnet()])
        past = "2020-01-01T00:00:00Z"  # what dead drills left, for the janitor
        create_db("xrs-drill-orders-1", dead_drill_tags("sync_orders", "xrs-drill-orders-1",
                                                        past))
        rds().create_db_cluster(
            DBClusterIdentifier="xrs-drill-ledger-1", Engine="aurora-mysql",
            MasterUsername="x", MasterUserPassword="not-a-secret-1",
            Tags=dead_drill_tags("sync_ledger", "xrs-drill-ledger-1", past))
        run_instance(create_ami(DESTINATION, "web", {"xregion-sync:job": "x"}),
                     dead_drill_tags("sync_web", "xrs-drill-web-1", past))()
        cfg = config({"validation_function_arn": validator}, sync_web=encrypted,
                     sync_orders=encrypted, sync_ledger=encrypted)
        cfg["sync_orders"]["restore_drill"] = {"db_subnet_group_name": "drills"}
        execution = execute_state_machine({"config": cfg}, machine=DRILL)
        enforcement = current_enforcement()
    assert execution.status == "SUCCEEDED", execution.cause
    assert len(execution.output["expired"]) == 3
    decided = enforcement.decided
    assert not [row for row in decided if row.decision != "Allowed"]
    drill_functions = read_template().machines[DRILL].function_ids()
    # every drill task but Summarize Drills (no AWS call) was checked
    assert drill_functions - {"SummarizeDrillsFunction"} <= {row.function for row in decided}
    unneeded = []
    for function, removed, policies in grant_removals(
            drill_functions, skipped_policies=("JobCredentialsPolicy", "ReadConfigPolicy")):
        asked = {json.dumps(row.check.__dict__, sort_keys=True): row.check for row in decided
                 if row.function == function and row.check is not None}
        if all(enforcement.replay(function, policies, list(asked.values()))):
            unneeded.append(f"{function}: {removed}")
    assert set(unneeded) == UNEXERCISED, "\n".join(sorted(set(unneeded) ^ UNEXERCISED))


def default_subnet() -> str:
    subnet: str = ec2().describe_subnets()["Subnets"][0]["SubnetId"]
    return subnet
