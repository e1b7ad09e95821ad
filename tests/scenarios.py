"""The scenario suite both drivers run (test_drivers_agree.py) and whose AWS calls the
IAM test records (test_iam_policies.py).

A scenario seeds fresh emulated AWS, runs one or more syncs through the driver it is
given, and returns what it saw (per-job result dicts, plus facts about the world
where a scenario promises something about it). AMI ids are random, so everything a
scenario returns is compared with `mask_ids`. The expected results and `mask_ids` come from
acceptance/expectations.py, which the acceptance suite on a real account shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
from freezegun import freeze_time

import xregion_sync
from acceptance.expectations import rds_copy_id
from acceptance.expectations import result as expected_result
from xregion_sync.errors import ThrottlingError
from xregion_sync.syncs import ec2_ami, rds_automated_snapshot, rds_cluster_snapshot
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, execute_state_machine
from xregion_sync_emulator.moto_seam import ec2_backends, rds_backends
from xregion_sync_emulator.seed import (
    add_automated_cluster_snapshot,
    add_automated_snapshot,
    create_ami,
    create_db_cluster,
    create_db_instance,
    force_image_state,
)

SOURCE = "us-east-1"
DESTINATION = "us-west-2"
AMI_JOB = "sync_web_app"
DB_JOB = "sync_orders_db"
DB = "orders-db"
CLUSTER_JOB = "sync_orders_cluster"
CLUSTER = "orders-cluster"
FIRST_BACKUP = datetime(2026, 11, 19, 6, 10, tzinfo=UTC)
AMI_CREATED = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
WAIT = {"wait_for_completion": True, "poll_interval_seconds": 1, "max_wait_seconds": 600}


def waiting(max_wait_seconds: int) -> dict[str, Any]:
    """WAIT, giving up after max_wait_seconds."""
    return WAIT | {"max_wait_seconds": max_wait_seconds}

Driver = Callable[[dict], list[dict]]


# ---------------------------------------------------------------- the two drivers


def run_in_process(config: dict) -> list[dict]:
    return [result.to_dict() for result in xregion_sync.run(config)]


def run_on_state_machine(config: dict) -> list[dict]:
    return [result.to_dict() for result in execute_state_machine({"config": config}).results()]


DRIVERS: dict[str, Driver] = {"runner": run_in_process, "state_machine": run_on_state_machine}


# ---------------------------------------------------------------- the world


def ami_job(**options) -> dict:
    return {AMI_JOB: {"sync_type": "ec2_ami", "source_region": SOURCE,
                      "destination_region": DESTINATION, "sync_identifier": "web-app",
                      **options}}


def db_job(**options) -> dict:
    return {DB_JOB: {"sync_type": "rds_automated_snapshot", "source_region": SOURCE,
                     "destination_region": DESTINATION, "db_instance": DB, **options}}


def cluster_job(name: str = CLUSTER_JOB, cluster: str = CLUSTER, **options) -> dict:
    return {name: {"sync_type": "rds_cluster_snapshot", "source_region": SOURCE,
                   "destination_region": DESTINATION, "db_cluster": cluster, **options}}


def amis(region: str) -> dict:
    return ec2_backends[EMULATOR_ACCOUNT_ID][region].amis


def source_ami(name: str = "web-app-2026-11-25", **tags: str) -> str:
    image_id = create_ami(SOURCE, name, {"Sync-Identifier": "web-app",
                                         "Environment": "Production", **tags})
    amis(SOURCE)[image_id].creation_date = AMI_CREATED.replace(tzinfo=None)
    return image_id


def source_db(**kwargs) -> str:
    """orders-db, whose first automated snapshot RDS takes at FIRST_BACKUP."""
    with freeze_time(FIRST_BACKUP):
        return create_db_instance(SOURCE, DB, tags={"Team": "payments"}, **kwargs)


def backup(days: int) -> str:
    return add_automated_snapshot(SOURCE, DB, FIRST_BACKUP + timedelta(days=days))


def source_cluster(cluster: str = CLUSTER, **kwargs) -> str:
    """An Aurora cluster, whose first automated snapshot RDS takes at FIRST_BACKUP."""
    with freeze_time(FIRST_BACKUP):
        return create_db_cluster(SOURCE, cluster, tags={"Team": "payments"}, **kwargs)


def cluster_backup(days: int) -> str:
    return add_automated_cluster_snapshot(SOURCE, CLUSTER, FIRST_BACKUP + timedelta(days=days))


def destination_cluster_snapshot_ids() -> list[str]:
    rds = boto3.client("rds", region_name=DESTINATION)
    return sorted(s["DBClusterSnapshotIdentifier"] for s in rds.describe_db_cluster_snapshots(
        SnapshotType="manual")["DBClusterSnapshots"])


def destination_image_ids() -> list[str]:
    return sorted(amis(DESTINATION))


def destination_snapshot_ids() -> list[str]:
    rds = boto3.client("rds", region_name=DESTINATION)
    return sorted(s["DBSnapshotIdentifier"] for s in
                  rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])


def copy_snapshot_by_hand(snapshot_id: str, target: str, tags: dict[str, str]) -> None:
    boto3.client("rds", region_name=DESTINATION).copy_db_snapshot(
        SourceDBSnapshotIdentifier=f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:snapshot:"
                                   f"{snapshot_id}",
        TargetDBSnapshotIdentifier=target, SourceRegion=SOURCE,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    backend = rds_backends[EMULATOR_ACCOUNT_ID][DESTINATION]
    backend.database_snapshots[target.lower()].status = "available"


@contextmanager
def copies_fail(reason: str = "Snapshot copy failed: internal error") -> Iterator[None]:
    """Every AMI copy started in the block ends up `failed`, as AWS may report."""
    original = ec2_ami.start_copy

    def start_copy(*args, **kwargs):
        copy = original(*args, **kwargs)
        image = amis(DESTINATION)[copy["id"]]
        image.state, image.state_reason = "failed", {"Code": "Client.Error", "Message": reason}
        return copy

    with mock.patch.object(ec2_ami, "start_copy", start_copy):
        yield


@contextmanager
def start_copy_throttled_once(sync) -> Iterator[list[str]]:
    """The first Start Copy of `sync` (a sync type module) makes its copy, then fails
    as a throttled Lambda would; yields the copy ids each attempt returned."""
    original, attempts = sync.start_copy, []

    def start_copy(*args, **kwargs):
        copy = original(*args, **kwargs)
        attempts.append(copy["id"])
        if len(attempts) == 1:
            raise ThrottlingError("throttled after the SDK's retries")
        return copy

    with mock.patch.object(sync, "start_copy", start_copy):
        yield attempts


# ---------------------------------------------------------------- scenarios


def first_sync(drive: Driver) -> Any:
    source_ami()
    source_db()
    return drive({**ami_job(), **db_job()})


def second_run_in_sync(drive: Driver) -> Any:
    source_ami()
    source_db()
    config = {**ami_job(), **db_job()}
    return [drive(config), drive(config)]


def deregistered_copy_is_made_again(drive: Driver) -> Any:
    source_ami()
    first = drive(ami_job())
    boto3.client("ec2", region_name=DESTINATION).deregister_image(
        ImageId=first[0]["created_resource"])
    return [first, drive(ami_job()), destination_image_ids()]


def ambiguous_ami(drive: Driver) -> Any:
    source_ami("web-app-a")
    source_ami("web-app-b")
    return drive(ami_job())


def no_ami(drive: Driver) -> Any:
    source_ami()
    return drive(ami_job(sync_identifier="api"))


def missing_db_instance(drive: Driver) -> Any:
    return drive(db_job())


def no_automated_snapshots(drive: Driver) -> Any:
    snapshot_id = source_db()
    rds_backends[EMULATOR_ACCOUNT_ID][SOURCE].database_snapshots[snapshot_id].status = "creating"
    return drive(db_job())


def daily_runs(drive: Driver, days: int, first_backup: str | None = None, **options) -> Any:
    """First backup synced, then each day a newer backup and another run, then one more
    run with no newer backup (in sync: the last copy is now available)."""
    if first_backup is None:
        source_db()
    runs = [drive(db_job(**options))]
    for day in range(1, days + 1):
        backup(day)
        runs.append(drive(db_job(**options)))
    runs.append(drive(db_job(**options)))
    return [*runs, destination_snapshot_ids()]


def newer_backup_default_retention(drive: Driver) -> Any:
    return daily_runs(drive, 3)


def newer_backup_retention_zero(drive: Driver) -> Any:
    return daily_runs(drive, 1, max_snapshots_to_retain=0)


def old_copy_deleted_meanwhile(drive: Driver) -> Any:
    """Someone deletes an old copy between Check Sync Tag and Prune Old Copies (as a
    retried prune finds what its first attempt deleted): under the deployed policy the
    delete is refused, a gone snapshot having no tag; the look-up shows it gone: done."""
    original = rds_automated_snapshot.prune

    def prune(job, doomed, untracked=()):
        for snapshot_id in doomed:
            boto3.client("rds", region_name=DESTINATION).delete_db_snapshot(
                DBSnapshotIdentifier=snapshot_id)
        return original(job, doomed, untracked)

    with mock.patch.object(rds_automated_snapshot, "prune", prune):
        return daily_runs(drive, 1, max_snapshots_to_retain=0)


def unmanaged_snapshot_untouched(drive: Driver) -> Any:
    first = source_db()
    copy_snapshot_by_hand(first, "my-own-orders-db-copy", {"Owner": "dba"})
    return daily_runs(drive, 1, first_backup=first, max_snapshots_to_retain=0)


def newer_ami_prunes_the_old_copy(drive: Driver) -> Any:
    """A new build of the AMI replaces the old one in the source: copied; the old copy is
    pruned by the next run, once the new copy is available."""
    old = source_ami("web-app-2026-11-24")
    first = drive(ami_job(max_images_to_retain=0))
    boto3.client("ec2", region_name=SOURCE).deregister_image(ImageId=old)
    source_ami("web-app-2026-11-25")
    second = drive(ami_job(max_images_to_retain=0))
    kept_meanwhile = len(destination_image_ids())
    return [first, second, kept_meanwhile, drive(ami_job(max_images_to_retain=0)),
            destination_image_ids()]


def legacy_tags_honoured(drive: Driver) -> Any:
    """Copies the original aws_xregion_sync made are recognised: nothing is copied."""
    legacy_ami = create_ami(DESTINATION, "web-app-2026-11-25")
    source_ami(**{f"Sync-{DESTINATION}": f"20261125050000+0000 / {legacy_ami}"})
    first = source_db()
    copy_snapshot_by_hand(first, first.replace(":", "-"), {
        f"Sync-From-{SOURCE}": f"{FIRST_BACKUP:%Y%m%d%H%M%S}+0000 / {first}"})
    return [drive({**ami_job(), **db_job()}), destination_image_ids(),
            destination_snapshot_ids()]


def config_error_beside_valid_job(drive: Driver) -> Any:
    source_ami()
    return drive({"sync_broken": {"sync_type": "ec2_ami", "source_region": SOURCE,
                                  "filters": "Environment=Production"}, **ami_job()})


def encrypted_source_without_kms_key(drive: Driver) -> Any:
    source_db(encrypted=True)
    return [drive(db_job()), destination_snapshot_ids()]


def wait_until_available(drive: Driver) -> Any:
    source_ami()
    source_db()
    return drive({**ami_job(**waiting(10)), **db_job(**waiting(10))})


def wait_times_out(drive: Driver) -> Any:
    source_ami()
    return drive(ami_job(**waiting(1)))


def failed_copy_is_replaced(drive: Driver) -> Any:
    source_ami()
    config = ami_job(**waiting(5))
    with copies_fail():
        first = drive(config)
    return [first, drive(config), destination_image_ids()]


def deprecated_time_based_copy(drive: Driver) -> Any:
    """deprecate_after_days and copy_completion_minutes: the copy is deprecated 30 days
    after it is made (EnableImageDeprecation, in Copy Tags), and made as a time-based copy
    that the emulator finishes within its completion duration."""
    source_ami()
    results = drive(ami_job(deprecate_after_days=30, copy_completion_minutes=15))
    image = next(iter(amis(DESTINATION).values()))
    deprecation = datetime.fromisoformat(image.deprecation_time.replace("Z", "+00:00"))
    return [results, round((deprecation - datetime.now(UTC)).total_seconds() / 86400),
            deprecation.second]


# Launch permissions the source AMI of the copy_launch_permissions scenarios has: an
# account, an organization and an OU, and public (which the copy never gets).
GRANTEES = [{"UserId": "444455556666"},
            {"OrganizationArn": "arn:aws:organizations::111122223333:organization/o-exampleorg1"},
            {"OrganizationalUnitArn": "arn:aws:organizations::111122223333:ou/o-exampleorg1/"
                                      "ou-ab12-cdef3456"}]


def shared_source_ami() -> str:
    image_id = source_ami()
    boto3.client("ec2", region_name=SOURCE).modify_image_attribute(
        ImageId=image_id, LaunchPermission={"Add": [*GRANTEES, {"Group": "all"}]})
    return image_id


def launch_permissions_of_the_copy() -> list[Any]:
    """The copy's launch permissions, and its launch-permissions tag."""
    (copy,) = amis(DESTINATION).values()
    marker = ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].tags.get(copy.id, {}).get(
        ec2_ami.TAG_LAUNCH_PERMISSIONS)
    return [list(copy.launch_permissions), marker]


def launch_permissions_by_the_next_run(drive: Driver) -> Any:
    """copy_launch_permissions: the first run ends while its copy is pending, and EC2
    refuses to share a pending AMI, so the copy gets nothing yet; the next run finds it
    available and in sync, and gives it the source's account, organization and OU, not
    the source's public permission; the run after that has nothing left to do."""
    shared_source_ami()
    config = ami_job(copy_launch_permissions=True)
    first = drive(config)
    given_by_first = launch_permissions_of_the_copy()
    force_image_state(DESTINATION, next(iter(amis(DESTINATION))), "available")
    second = drive(config)
    given_by_second = launch_permissions_of_the_copy()
    return [first, given_by_first, second, given_by_second, drive(config)]


def launch_permissions_once_waited_for(drive: Driver) -> Any:
    """copy_launch_permissions in a job that waits: the copy gets the permissions in the
    run that made it, once it is available."""
    shared_source_ami()
    return [drive(ami_job(copy_launch_permissions=True, **waiting(10))),
            launch_permissions_of_the_copy()]


# ---------------------------------------------------------------- rds_cluster_snapshot


def cluster_first_sync_then_in_sync(drive: Driver) -> Any:
    source_cluster()
    return [drive(cluster_job()), drive(cluster_job())]


def cluster_retention_touches_only_this_jobs_copies(drive: Driver) -> Any:
    """Daily backups, default retention; another job's copies of the same cluster (kept
    for longer) and a user's hand copy stay whatever this job prunes."""
    first = source_cluster()
    keeper = cluster_job("sync_cluster_keeper", max_snapshots_to_retain=10)
    drive(keeper)
    boto3.client("rds", region_name=DESTINATION).copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:"
                                          f"cluster-snapshot:{first}",
        TargetDBClusterSnapshotIdentifier="my-own-orders-cluster-copy", SourceRegion=SOURCE)
    runs = []
    for day in range(1, 5):
        cluster_backup(day)
        runs.append(drive(cluster_job(**waiting(10))))
    return [*runs, destination_cluster_snapshot_ids()]


def cluster_old_copy_deleted_meanwhile(drive: Driver) -> Any:
    """As old_copy_deleted_meanwhile, for a cluster snapshot copy."""
    original = rds_cluster_snapshot.prune

    def prune(job, doomed, untracked=()):
        for snapshot_id in doomed:
            boto3.client("rds", region_name=DESTINATION).delete_db_cluster_snapshot(
                DBClusterSnapshotIdentifier=snapshot_id)
        return original(job, doomed, untracked)

    source_cluster()
    with mock.patch.object(rds_cluster_snapshot, "prune", prune):
        first = drive(cluster_job(max_snapshots_to_retain=0))
        cluster_backup(1)
        return [first, drive(cluster_job(max_snapshots_to_retain=0, **waiting(10))),
                destination_cluster_snapshot_ids()]


def cluster_encrypted_source_without_kms_key(drive: Driver) -> Any:
    source_cluster(encrypted=True)
    return [drive(cluster_job()), destination_cluster_snapshot_ids()]


def cluster_without_automated_snapshot(drive: Driver) -> Any:
    snapshot_id = source_cluster()
    rds_backends[EMULATOR_ACCOUNT_ID][SOURCE].cluster_snapshots[snapshot_id].status = "creating"
    return drive(cluster_job())


def missing_cluster(drive: Driver) -> Any:
    return drive(cluster_job())


def cluster_copies_beyond_the_quota_are_deferred(drive: Driver) -> Any:
    """Six clusters into one region while copies take long: AWS runs five cluster snapshot
    copies at a time, the sixth job is deferred (not failed) to the next run."""
    config = {}
    for n in range(6):
        source_cluster(f"cluster-{n}")
        config.update(cluster_job(f"sync_cluster_{n}", f"cluster-{n}"))
    results = drive(config)
    deferred = [r for r in results if r["status"] == "deferred"]
    return [sorted(r["status"] for r in results),
            [(r["errors"][0]["type"], "Cannot copy more than 5 snapshots across regions" in
              r["errors"][0]["message"]) for r in deferred]]


@dataclass(frozen=True)
class Scenario:
    run: Callable[[Driver], Any]
    expected: Any
    copy_seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.run.__name__


def result(name: str, status: str, created: str | None = None, copy_state: str | None = None,
           pruned: list[str] | None = None, errors: list[tuple[str, str]] = (),
           sync_type: str | None = None) -> dict:
    sync_type = sync_type or {AMI_JOB: "ec2_ami", CLUSTER_JOB: "rds_cluster_snapshot"}.get(
        name, "rds_automated_snapshot")
    return expected_result(name, sync_type, status, created, copy_state, pruned, errors)


def cluster_copy(days: int) -> str:
    return rds_copy_id(f"rds:{CLUSTER}-{FIRST_BACKUP + timedelta(days=days):%Y-%m-%d-%H-%M}")


def snapshot_copy(days: int) -> str:
    return rds_copy_id(snapshot_source(days))


def snapshot_source(days: int) -> str:
    return f"rds:{DB}-{FIRST_BACKUP + timedelta(days=days):%Y-%m-%d-%H-%M}"


AMI_COPIED = result(AMI_JOB, "copied", "<ami-1>", "pending")
DB_COPIED = result(DB_JOB, "copied", snapshot_copy(0), "pending")
NO_BACKUPS = result(DB_JOB, "failed", errors=[(
    "SourceNotFoundError", f"No automated snapshots for db '{DB}' are available in {SOURCE} "
    f"(job '{DB_JOB}'): check that the DB instance exists and has automated backups turned on")])

CLUSTER_COPIED = result(CLUSTER_JOB, "copied", cluster_copy(0), "pending")

SCENARIOS = [
    Scenario(first_sync, [AMI_COPIED, DB_COPIED]),
    Scenario(second_run_in_sync, [
        [AMI_COPIED, DB_COPIED],
        [result(AMI_JOB, "in_sync", copy_state="available"),
         result(DB_JOB, "in_sync", copy_state="available")]]),
    Scenario(deregistered_copy_is_made_again, [
        [AMI_COPIED], [result(AMI_JOB, "copied", "<ami-2>", "pending")], ["<ami-2>"]]),
    Scenario(ambiguous_ami, [result(AMI_JOB, "failed", errors=[(
        "AmbiguousSourceError", "More than one EC2 Image was found with the filter settings "
        f"for identifier '{AMI_JOB}': <ami-1>, <ami-2>. Narrow sync_identifier or filters "
        "to one AMI")])]),
    Scenario(no_ami, [result(AMI_JOB, "failed", errors=[(
        "SourceNotFoundError", "No EC2 Images were found using the filter settings for "
        f"identifier '{AMI_JOB}' in {SOURCE}; check ami_owner, sync_identifier and filters")])]),
    # DescribeDBSnapshots answers an empty list for an unknown instance (its only
    # documented error is DBSnapshotNotFound), so both cases get the one message.
    Scenario(missing_db_instance, [NO_BACKUPS]),
    Scenario(no_automated_snapshots, [NO_BACKUPS]),
    # A pending copy is not yet a recovery point: while it is pending, the newest available
    # copy is kept besides the retained ones; the next run (in sync) prunes.
    Scenario(newer_backup_default_retention, [
        [DB_COPIED],
        [result(DB_JOB, "copied", snapshot_copy(1), "pending")],
        [result(DB_JOB, "copied", snapshot_copy(2), "pending")],
        [result(DB_JOB, "copied", snapshot_copy(3), "pending")],
        [result(DB_JOB, "in_sync", copy_state="available", pruned=[snapshot_copy(0)])],
        [snapshot_copy(1), snapshot_copy(2), snapshot_copy(3)]]),
    Scenario(newer_backup_retention_zero, [
        [DB_COPIED],
        [result(DB_JOB, "copied", snapshot_copy(1), "pending")],
        [result(DB_JOB, "in_sync", copy_state="available", pruned=[snapshot_copy(0)])],
        [snapshot_copy(1)]]),
    Scenario(old_copy_deleted_meanwhile, [
        [DB_COPIED],
        [result(DB_JOB, "copied", snapshot_copy(1), "pending")],
        [result(DB_JOB, "in_sync", copy_state="available", pruned=[snapshot_copy(0)])],
        [snapshot_copy(1)]]),
    Scenario(unmanaged_snapshot_untouched, [
        [DB_COPIED],
        [result(DB_JOB, "copied", snapshot_copy(1), "pending")],
        [result(DB_JOB, "in_sync", copy_state="available", pruned=[snapshot_copy(0)])],
        ["my-own-orders-db-copy", snapshot_copy(1)]]),
    Scenario(newer_ami_prunes_the_old_copy, [
        [AMI_COPIED],
        [result(AMI_JOB, "copied", "<ami-2>", "pending")],
        2,
        [result(AMI_JOB, "in_sync", copy_state="available", pruned=["<ami-1>"])],
        ["<ami-2>"]]),
    Scenario(legacy_tags_honoured, [
        [result(AMI_JOB, "in_sync", copy_state="available"),
         result(DB_JOB, "in_sync", copy_state="available")],
        ["<ami-1>"], [snapshot_copy(0)]]),
    Scenario(config_error_beside_valid_job, [
        result("sync_broken", "failed", sync_type="ec2_ami", errors=[
            ("ConfigError", "job 'sync_broken', field 'filters': must be a list of "
                            "'name=value' strings, got a string"),
            ("ConfigError", "job 'sync_broken', field 'destination_region': is required "
                            "(region the copy goes to)")]),
        AMI_COPIED]),
    Scenario(encrypted_source_without_kms_key, [
        [result(DB_JOB, "failed", errors=[(
            "ConfigError", f"job '{DB_JOB}', field 'kms_key_id': source snapshot "
            f"{snapshot_source(0)} is encrypted, and AWS copies an encrypted snapshot across "
            "regions only with a KMS key of the destination region: set kms_key_id to a key "
            f"id, ARN or alias in {DESTINATION}")])],
        []]),
    Scenario(wait_until_available, [
        result(AMI_JOB, "copied", "<ami-1>", "available"),
        result(DB_JOB, "copied", snapshot_copy(0), "available")], copy_seconds=1.5),
    Scenario(wait_times_out, [result(AMI_JOB, "copied", "<ami-1>", "timed_out")],
             copy_seconds=30),
    Scenario(failed_copy_is_replaced, [
        [result(AMI_JOB, "failed", "<ami-1>", "failed", errors=[(
            "CopyFailedError", f"job '{AMI_JOB}': copy <ami-1> failed: Snapshot copy failed: "
            "internal error; the next run replaces it")])],
        # the failed copy Start Copy replaced is reported as pruned: it was deleted
        [result(AMI_JOB, "copied", "<ami-2>", "available", pruned=["<ami-1>"])],
        ["<ami-2>"]]),
    Scenario(deprecated_time_based_copy, [[AMI_COPIED], 30, 0]),
    Scenario(launch_permissions_by_the_next_run, [
        [AMI_COPIED], [[], None],
        [result(AMI_JOB, "in_sync", copy_state="available")], [GRANTEES, "copied"],
        [result(AMI_JOB, "in_sync", copy_state="available")]], copy_seconds=30),
    Scenario(launch_permissions_once_waited_for, [
        [result(AMI_JOB, "copied", "<ami-1>", "available")], [GRANTEES, "copied"]],
        copy_seconds=1.5),
    Scenario(cluster_first_sync_then_in_sync, [
        [CLUSTER_COPIED], [result(CLUSTER_JOB, "in_sync", copy_state="available")]]),
    # Each run waits for its copy, so it prunes at once what retention (2 previous) dooms;
    # the keeper's copy of day 0 and the user's copy stay.
    Scenario(cluster_retention_touches_only_this_jobs_copies, [
        [result(CLUSTER_JOB, "copied", cluster_copy(1), "available")],
        [result(CLUSTER_JOB, "copied", cluster_copy(2), "available")],
        [result(CLUSTER_JOB, "copied", cluster_copy(3), "available")],
        [result(CLUSTER_JOB, "copied", cluster_copy(4), "available", pruned=[cluster_copy(1)])],
        ["my-own-orders-cluster-copy", cluster_copy(0), cluster_copy(2), cluster_copy(3),
         cluster_copy(4)]]),
    Scenario(cluster_old_copy_deleted_meanwhile, [
        [CLUSTER_COPIED],
        [result(CLUSTER_JOB, "copied", cluster_copy(1), "available", pruned=[cluster_copy(0)])],
        [cluster_copy(1)]]),
    Scenario(cluster_encrypted_source_without_kms_key, [
        [result(CLUSTER_JOB, "failed", errors=[(
            "ConfigError", f"job '{CLUSTER_JOB}', field 'kms_key_id': source snapshot "
            f"rds:{CLUSTER}-2026-11-19-06-10 is encrypted, and AWS copies an encrypted "
            "snapshot across regions only with a KMS key of the destination region: set "
            f"kms_key_id to a key id, ARN or alias in {DESTINATION}")])],
        []]),
    Scenario(cluster_without_automated_snapshot, [result(CLUSTER_JOB, "failed", errors=[(
        "SourceNotFoundError", f"No automated snapshots for DB cluster '{CLUSTER}' are "
        f"available in {SOURCE} (job '{CLUSTER_JOB}'): RDS takes one in each daily backup "
        "window; the next run copies it once it is available")])]),
    Scenario(missing_cluster, [result(CLUSTER_JOB, "failed", errors=[(
        "SourceNotFoundError", f"job '{CLUSTER_JOB}': DB cluster '{CLUSTER}' was not found in "
        f"{SOURCE}: check db_cluster (for a DB instance, use the rds_automated_snapshot "
        "type)")])]),
    Scenario(cluster_copies_beyond_the_quota_are_deferred, [
        ["copied"] * 5 + ["deferred"], [("CopySlotsFullError", True)]], copy_seconds=600),
]
