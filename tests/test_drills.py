"""`xregion_sync.drill`: restore the newest copy of each job into throwaway resources, wait
until usable, measure, delete everything, record the result on the copy; on emulated AWS
whose restores take time (emulated_aws(restore_seconds=...), waited on with pass_time)."""

from __future__ import annotations

import boto3
import pytest
from conftest import DESTINATION, SOURCE

from xregion_sync import run
from xregion_sync.drill_types import TAG_DRILL, cluster_instance_name
from xregion_sync.drills import (
    DRILL_RESULT_KEYS,
    TAG_LAST_DRILL_SECONDS,
    TAG_LAST_DRILL_STATUS,
    drill,
)
from xregion_sync.tags import tag_dict
from xregion_sync_emulator import AwsQuotas, emulated_aws, emulated_clock
from xregion_sync_emulator.seed import create_ami, create_db_cluster, create_db_instance

RESTORE_SECONDS = 600


def config(drill_settings=None, **jobs_options) -> dict:
    settings = {} if drill_settings is None else drill_settings
    jobs = {
        "sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                     "destination_region": DESTINATION, "sync_identifier": "web"},
        "sync_orders": {"sync_type": "rds_automated_snapshot", "source_region": SOURCE,
                        "destination_region": DESTINATION, "db_instance": "orders"},
        "sync_ledger": {"sync_type": "rds_cluster_snapshot", "source_region": SOURCE,
                        "destination_region": DESTINATION, "db_cluster": "ledger"},
    }
    for name, options in jobs_options.items():
        jobs[name] = {**jobs[name], **options}
    return {"restore_drill": settings, **jobs}


@pytest.fixture
def world():
    with emulated_aws(restore_seconds=RESTORE_SECONDS):
        create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"})
        create_db_instance(SOURCE, "orders")
        create_db_cluster(SOURCE, "ledger")
        yield


@pytest.fixture
def copied(world):
    results = run(config())
    assert not [r for r in results if r.failed]
    return {r.name: r.created_resource for r in results}


def drill_resources() -> list[str]:
    """Everything in the destination that carries the drill tag (and is not gone)."""
    rds = boto3.client("rds", region_name=DESTINATION)
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    found = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
             if TAG_DRILL in tag_dict(d.get("TagList"))]
    found += [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]
              if TAG_DRILL in tag_dict(c.get("TagList"))]
    found += [i["InstanceId"] for r in ec2.describe_instances(Filters=[
        {"Name": "tag-key", "Values": [TAG_DRILL]}])["Reservations"] for i in r["Instances"]
        if i["State"]["Name"] != "terminated"]
    found += [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
    return found


def copy_tags(job: str, copy_id: str) -> dict[str, str]:
    if job == "sync_web":
        ec2 = boto3.client("ec2", region_name=DESTINATION)
        return tag_dict(ec2.describe_images(ImageIds=[copy_id])["Images"][0].get("Tags"))
    rds = boto3.client("rds", region_name=DESTINATION)
    if job == "sync_orders":
        snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=copy_id)["DBSnapshots"][0]
    else:
        snapshot = rds.describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=copy_id)["DBClusterSnapshots"][0]
    return tag_dict(snapshot.get("TagList"))


def test_a_drill_of_each_type_passes_measures_and_leaves_nothing_behind(copied):
    results = drill(config(), clock=emulated_clock())

    assert [r.name for r in results] == ["sync_web", "sync_orders", "sync_ledger"]
    for result in results:
        assert result.errors == []
        assert result.status == "passed"
        assert result.copy_id == copied[result.name]
        assert result.restored_id and result.restored_id.startswith("xrs-drill-")
        assert result.restore_seconds >= RESTORE_SECONDS
        assert result.cleaned_up is True
        assert tuple(result.to_dict()) == DRILL_RESULT_KEYS
        recorded = copy_tags(result.name, result.copy_id)
        assert recorded[TAG_LAST_DRILL_STATUS] == "passed"
        assert float(recorded[TAG_LAST_DRILL_SECONDS]) == result.restore_seconds
    # The cluster waits for its restore, then for its instance's: twice the restore time.
    assert results[2].restore_seconds >= 2 * RESTORE_SECONDS
    assert drill_resources() == []


def test_only_jobs_with_restore_drill_are_drilled_and_jobs_picks_some(copied):
    only_web = config(drill_settings=False, sync_web={"restore_drill": {}})

    assert [r.name for r in drill(only_web, clock=emulated_clock())] == ["sync_web"]
    (named,) = drill(only_web, jobs=["sync_orders"])
    assert (named.status, named.restored_id) == ("skipped", None)
    assert "has no restore_drill" in named.errors[0].message
    assert [r.name for r in drill(config(), jobs=["sync_orders"], force=True,
                                  clock=emulated_clock())] == ["sync_orders"]


def test_a_job_without_an_available_copy_is_skipped_and_nothing_is_created(world):
    results = drill(config(), clock=emulated_clock())

    for result in results:
        assert (result.status, result.copy_id, result.restored_id) == ("skipped", None, None)
        assert "no available copy" in result.errors[0].message
    assert drill_resources() == []


def test_a_drill_younger_than_every_days_is_skipped_unless_forced(copied):
    drill(config(), jobs=["sync_orders"], clock=emulated_clock())

    (again,) = drill(config(), jobs=["sync_orders"], clock=emulated_clock())
    (forced,) = drill(config(), jobs=["sync_orders"], force=True, clock=emulated_clock())

    assert again.status == "skipped"
    assert "every_days" in again.errors[0].message
    assert forced.status == "passed"


def test_a_restore_past_max_minutes_fails_and_cleans_up(copied):
    slow = config({"max_minutes": 10})  # restores here take 600 s: exactly the limit

    results = drill(slow, clock=emulated_clock())

    web, orders, ledger = results
    assert ledger.status == "failed"  # a cluster and its instance: 20 minutes
    assert "max_minutes" in ledger.errors[0].message
    assert ledger.restore_seconds is None and ledger.cleaned_up is True
    assert copy_tags("sync_ledger", ledger.copy_id)[TAG_LAST_DRILL_STATUS] == "failed"
    assert drill_resources() == []


def test_a_name_in_use_stops_the_drill_and_is_never_deleted(copied):
    from datetime import UTC, datetime

    from freezegun import freeze_time

    rds = boto3.client("rds", region_name=DESTINATION)
    with freeze_time(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)):
        rds.create_db_instance(DBInstanceIdentifier="xrs-drill-orders-20261201093000",
                               DBInstanceClass="db.t4g.micro", Engine="postgres",
                               MasterUsername="x", MasterUserPassword="not-a-secret-1")
        (result,) = drill(config(), jobs=["sync_orders"], clock=emulated_clock())

    assert result.status == "failed"
    assert "xrs-drill-orders-20261201093000" in result.errors[0].message
    assert result.restored_id is None and result.cleaned_up is True
    names = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert names == ["xrs-drill-orders-20261201093000"]


def test_a_region_without_db_instance_headroom_skips_rds_drills_with_a_warning(caplog):
    with emulated_aws(restore_seconds=RESTORE_SECONDS, quotas=AwsQuotas(rds_db_instances=2)):
        create_db_instance(SOURCE, "orders")
        run({"sync_orders": config()["sync_orders"]})
        rds = boto3.client("rds", region_name=DESTINATION)
        rds.create_db_instance(DBInstanceIdentifier="production", DBInstanceClass="db.t4g.micro",
                               Engine="postgres", MasterUsername="x",
                               MasterUserPassword="not-a-secret-1")
        (orders,) = drill(config(), jobs=["sync_orders"], clock=emulated_clock())

    # One in use, one for the drill, one kept for a real recovery: more than 2.
    assert orders.status == "skipped"
    assert "1 of 2 DBInstances" in orders.errors[0].message
    assert orders.restored_id is None
    assert "DBInstances" in caplog.text


def test_a_config_error_in_restore_drill_is_a_failed_drill_naming_the_field():
    results = drill(config({"every_days": "weekly"}))

    assert {r.status for r in results} == {"failed"}
    assert "restore_drill.every_days" in results[0].errors[0].message


def test_naming_an_unknown_job_is_a_config_error():
    from xregion_sync import ConfigError

    with pytest.raises(ConfigError, match="sync_nope"):
        drill(config(), jobs=["sync_nope"])


def test_a_cluster_drill_restores_an_instance_in_the_cluster(copied, api_calls_in_world):
    (ledger,) = drill(config(), jobs=["sync_ledger"], clock=emulated_clock())

    created = api_calls_in_world.named("CreateDBInstance")
    assert ledger.status == "passed"
    assert [c.params["DBClusterIdentifier"] for c in created] == [ledger.restored_id]
    assert [c.params["DBInstanceIdentifier"] for c in created] == [
        cluster_instance_name(ledger.restored_id)]


@pytest.fixture
def api_calls_in_world(world):
    from conftest import CallRecorder

    from xregion_sync import aws

    recorder = CallRecorder()
    with aws.observe_calls(recorder):
        yield recorder


@pytest.fixture
def arm_copy():
    from xregion_sync_emulator import EMULATOR_ACCOUNT_ID
    from xregion_sync_emulator.moto_seam import ec2_backends

    with emulated_aws(restore_seconds=RESTORE_SECONDS):
        image = create_ami(SOURCE, "web-image", {"Sync-Identifier": "web"})
        ec2_backends[EMULATOR_ACCOUNT_ID][SOURCE].amis[image].architecture = "arm64"
        run({"sync_web": config()["sync_web"]})
        yield


def test_an_ec2_drill_picks_an_instance_type_for_the_amis_architecture(arm_copy):
    (web,) = drill(config(), jobs=["sync_web"], clock=emulated_clock())

    assert web.status == "passed", web.errors


def test_an_instance_type_the_ami_cannot_run_fails_the_drill_and_leaves_nothing(arm_copy):
    (web,) = drill(config({"instance_type": "t3.micro"}), jobs=["sync_web"],
                   clock=emulated_clock())

    assert web.status == "failed"
    assert "does not match the architecture 'arm64'" in web.errors[0].message
    assert web.cleaned_up is True
    assert drill_resources() == []


# ---------------------------------------------------------------- status and the command


def test_status_shows_the_last_drill_and_marks_a_failed_or_overdue_one(copied):
    from xregion_sync import status

    never = {s.name: s for s in status(config())}
    drill(config({"max_minutes": 10}), clock=emulated_clock())  # the cluster's fails
    after = {s.name: s for s in status(config())}
    without = {s.name: s for s in status(config(drill_settings=False))}

    assert never["sync_orders"].last_drill is None
    assert never["sync_orders"].drill_overdue is True  # never drilled
    orders, ledger = after["sync_orders"], after["sync_ledger"]
    assert set(orders.last_drill) == {"when", "status", "restore_seconds"}
    assert orders.last_drill["status"] == "passed"
    assert orders.last_drill["restore_seconds"] >= RESTORE_SECONDS
    assert orders.drill_overdue is False and orders.drill_failed is False
    assert ledger.last_drill["status"] == "failed" and ledger.drill_failed is True
    assert orders.to_dict()["last_drill"] == orders.last_drill
    assert (without["sync_orders"].last_drill, without["sync_orders"].drill_overdue) == (
        None, False)


@pytest.fixture
def config_file(world, tmp_path, monkeypatch):
    import yaml

    from xregion_sync import drills

    clock = emulated_clock()
    monkeypatch.setattr(drills, "Clock", lambda: clock)  # the command waits on emulated time
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config()))
    return path


def test_the_drill_command_prints_a_table_and_the_status_command_the_last_drill(
        copied, config_file, capsys):
    from xregion_sync import cli

    assert cli.main(["drill", str(config_file)]) == 0
    table = capsys.readouterr().out
    assert cli.main(["status", str(config_file)]) == 0
    shown = capsys.readouterr().out

    assert table.splitlines()[0].split()[:3] == ["JOB", "TYPE", "STATUS"]
    assert "xrs-drill-orders-" in table and "passed" in table
    assert "LAST DRILL" in shown and "passed" in shown and "ago in 10m" in shown


def test_the_drill_command_exits_1_on_a_failed_drill_and_prints_json(copied, config_file,
                                                                     capsys):
    import json

    import yaml

    from xregion_sync import cli

    config_file.write_text(yaml.safe_dump(config({"max_minutes": 10})))
    assert cli.main(["drill", str(config_file), "--job", "sync_ledger", "--json"]) == 1
    (ledger,) = json.loads(capsys.readouterr().out)

    assert tuple(ledger) == DRILL_RESULT_KEYS
    assert (ledger["name"], ledger["status"], ledger["cleaned_up"]) == (
        "sync_ledger", "failed", True)


def test_the_drill_command_refuses_an_unknown_job_without_a_traceback(config_file, capsys):
    from xregion_sync import cli

    assert cli.main(["drill", str(config_file), "--job", "sync_nope"]) == 2
    assert "sync_nope" in capsys.readouterr().err


# ---------------------------------------------------------------- the validation hook

VALIDATED: list[dict] = []


def passing_validation(event, context):
    VALIDATED.append(event)
    return {"passed": True}


def failing_validation(event, context):
    return {"passed": False, "message": "table orders is empty"}


def crashing_validation(event, context):
    raise RuntimeError("cannot connect")


def validation_function(name: str) -> str:
    """A Lambda in emulated AWS whose handler is `name` above."""
    import io
    import zipfile

    iam = boto3.client("iam", region_name=DESTINATION)
    role = iam.create_role(RoleName=f"validator-{name}", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "")
    arn: str = boto3.client("lambda", region_name=DESTINATION).create_function(
        FunctionName=name, Runtime="python3.13", Role=role["Role"]["Arn"],
        Handler=f"test_drills.{name}", Code={"ZipFile": code.getvalue()})["FunctionArn"]
    return arn


def test_a_passing_validation_gets_the_restored_resource(copied):
    VALIDATED.clear()
    arn = validation_function("passing_validation")

    (orders,) = drill(config({"validation_function_arn": arn}), jobs=["sync_orders"],
                      clock=emulated_clock())

    assert orders.status == "passed", orders.errors
    (event,) = VALIDATED
    assert event["restored_id"] == orders.restored_id
    assert event["endpoint"]["Address"].startswith(orders.restored_id)


@pytest.mark.parametrize(("handler", "said"), [
    ("failing_validation", "table orders is empty"),
    ("crashing_validation", "cannot connect"),
])
def test_a_failing_validation_fails_the_drill_and_cleans_up(copied, handler, said):
    arn = validation_function(handler)

    (orders,) = drill(config({"validation_function_arn": arn}), jobs=["sync_orders"],
                      clock=emulated_clock())

    assert orders.status == "failed"
    assert said in orders.errors[0].message
    assert orders.restore_seconds >= RESTORE_SECONDS  # measured before the validation
    assert orders.cleaned_up is True
    assert drill_resources() == []


def test_status_exits_1_on_a_failed_drill_and_marks_an_overdue_one(copied, config_file,
                                                                  capsys):
    import yaml

    from xregion_sync import cli

    assert cli.main(["status", str(config_file)]) == 0  # never drilled: marked only
    never = capsys.readouterr().out
    config_file.write_text(yaml.safe_dump(config({"max_minutes": 10})))
    cli.main(["drill", str(config_file), "--job", "sync_ledger"])
    capsys.readouterr()

    assert cli.main(["status", str(config_file)]) == 1
    shown = capsys.readouterr().out
    assert "DRILL-OVERDUE" in never
    assert "DRILL-FAILED" in next(line for line in shown.splitlines() if "sync_ledger" in line)


def test_a_refused_restore_fails_the_drill_with_the_reason_and_creates_nothing(copied):
    (orders,) = drill(config({"db_subnet_group_name": "missing"}), jobs=["sync_orders"],
                      clock=emulated_clock())

    assert orders.status == "failed"
    assert "DBSubnetGroupNotFoundFault" in orders.errors[0].message
    assert (orders.restored_id, orders.restore_seconds, orders.cleaned_up) == (None, None, True)
    assert copy_tags("sync_orders", orders.copy_id)[TAG_LAST_DRILL_STATUS] == "failed"
    assert drill_resources() == []


# ---------------------------------------------------------------- the janitor


def dead_drill_tags(job: str, name: str, expires: str) -> list[dict]:
    from xregion_sync.drill_types import TAG_DRILL_COPY, TAG_DRILL_EXPIRES, TAG_DRILL_ID

    return [{"Key": TAG_DRILL, "Value": job}, {"Key": TAG_DRILL_ID, "Value": name},
            {"Key": TAG_DRILL_COPY, "Value": "copy"}, {"Key": TAG_DRILL_EXPIRES,
                                                       "Value": expires}]


def test_the_janitor_deletes_only_this_jobs_expired_drill_resources(world):
    from xregion_sync.drills import janitor

    rds = boto3.client("rds", region_name=DESTINATION)
    ec2 = boto3.client("ec2", region_name=DESTINATION)

    def db(name: str, tags: list[dict]) -> None:
        rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t4g.micro",
                               Engine="postgres", MasterUsername="x",
                               MasterUserPassword="not-a-secret-1", Tags=tags)

    past, future = "2020-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
    db("xrs-drill-orders-1", dead_drill_tags("sync_orders", "xrs-drill-orders-1", past))
    db("xrs-drill-orders-2", dead_drill_tags("sync_orders", "xrs-drill-orders-2", future))
    db("xrs-drill-other-1", dead_drill_tags("sync_other", "xrs-drill-other-1", past))
    db("orders-prod", dead_drill_tags("sync_orders", "orders-prod", past))  # not a drill name
    image = create_ami(DESTINATION, "web")
    instance = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1,
                                 MaxCount=1, TagSpecifications=[{
                                     "ResourceType": "instance", "Tags": dead_drill_tags(
                                         "sync_web", "xrs-drill-web-1", past)}],
                                 )["Instances"][0]["InstanceId"]

    removed = janitor(config())

    assert sorted((r["job"], r["id"]) for r in removed) == [
        ("sync_orders", "xrs-drill-orders-1"), ("sync_web", instance)]
    left = sorted(d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"])
    assert left == ["orders-prod", "xrs-drill-orders-2", "xrs-drill-other-1"]
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "terminated"


# ---------------------------------------------------------------- the record outlives its copy


def test_the_last_drill_survives_pruning_of_the_copy_that_was_drilled(copied):
    from datetime import UTC, datetime, timedelta

    from xregion_sync import status
    from xregion_sync_emulator.seed import add_automated_snapshot

    # GIVEN a passed drill of the job's only copy, kept alone (max_snapshots_to_retain 0)
    keep_one = config(sync_orders={"max_snapshots_to_retain": 0})
    (drilled,) = drill(keep_one, jobs=["sync_orders"], clock=emulated_clock())
    before = {s.name: s for s in status(keep_one)}["sync_orders"].last_drill

    # WHEN a newer source is copied and the drilled copy pruned
    add_automated_snapshot(SOURCE, "orders", datetime.now(UTC) + timedelta(hours=1))
    (orders,) = [r for r in run(keep_one) if r.name == "sync_orders"]
    (later,) = [r for r in run(keep_one) if r.name == "sync_orders"]  # the copy available

    # THEN the new copy carries the record: status still shows the last drill
    assert orders.status == "copied"
    assert drilled.copy_id in orders.pruned + later.pruned
    after = {s.name: s for s in status(keep_one)}["sync_orders"]
    assert after.last_drill == before and after.last_drill["status"] == "passed"
    assert after.drill_overdue is False
    assert copy_tags("sync_orders", orders.created_resource)[TAG_LAST_DRILL_STATUS] == "passed"


def test_a_new_ami_copy_carries_the_last_drill_and_keeps_its_client_token(copied):
    from xregion_sync.syncs.ec2_ami import copy_token
    from xregion_sync.tags import TAG_LAST_DRILL_AT

    job = next(e.spec for e in __import__("xregion_sync").config.load_config(
        config()).entries if e.name == "sync_web")
    source = {"id": "ami-1", "created": "2026-01-01T00:00:00Z"}
    params = {"SourceImageId": "ami-1", "TagSpecifications": [
        {"ResourceType": "image", "Tags": [{"Key": "a", "Value": "b"}]}]}
    carried = {**params, "TagSpecifications": [{"ResourceType": "image", "Tags": [
        {"Key": "a", "Value": "b"}, {"Key": TAG_LAST_DRILL_AT, "Value": "2026-12-01"}]}]}
    changed = {**params, "TagSpecifications": [{"ResourceType": "image", "Tags": [
        {"Key": "a", "Value": "c"}]}]}

    # the record is not part of the request the token stands for; other tags are
    assert copy_token(job, source, [], carried) == copy_token(job, source, [], params)
    assert copy_token(job, source, [], changed) != copy_token(job, source, [], params)
