"""Data safety: retention deletes only copies this job provably made, and a job reports
success only with its own live copy in the destination.

Written before the fix, against its contract: each test here failed on the code it was
written against (the reason is in the commit that added it), except the ones marked
"regression", which guard behaviour that already holds. Both drivers where a test can
run in both (the `driver` fixture, as in test_faults.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from faults import aws_faults, check_world, first_calls, inventory, lambda_faults
from freezegun import freeze_time

import xregion_sync
from xregion_sync import load_config, steps
from xregion_sync.syncs import SYNC_TYPES
from xregion_sync.tag_rules import key_problem, value_problem
from xregion_sync.tags import TAG_JOB, TAG_SOURCE_ID, TAG_SOURCE_REGION, tag_dict
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, execute_state_machine
from xregion_sync_emulator.moto_seam import ec2_backends, rds_backends
from xregion_sync_emulator.seed import (
    add_automated_cluster_snapshot,
    add_automated_snapshot,
    create_ami,
    create_db_cluster,
    create_db_instance,
    force_db_cluster_snapshot_status,
)

SOURCE, OTHER_SOURCE, DESTINATION = "us-east-1", "eu-west-1", "us-west-2"
REGIONS = (SOURCE, OTHER_SOURCE, DESTINATION)
AMI_JOB, DB_JOB, DB = "sync_web_app", "sync_orders_db", "orders-db"
AMI_CREATED = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
FIRST_BACKUP = datetime(2026, 11, 19, 6, 10, tzinfo=UTC)
WAIT = {"wait_for_completion": True, "poll_interval_seconds": 1, "max_wait_seconds": 5}
LIVE_AMI = ("pending", "available")
LIVE_SNAPSHOT = ("creating", "copying", "pending", "available")
SUCCESS = {"copied", "in_sync"}


# ---------------------------------------------------------------- forcing states
# Stand-ins for local.seed.force_image_state / force_db_snapshot_status, which the emulator
# branch adds: the seed helpers are used as soon as they exist.

try:
    from xregion_sync_emulator.seed import force_image_state
except ImportError:
    def force_image_state(region: str, image_id: str, state: str,
                          reason: str | None = None) -> None:
        image = ec2_backends[EMULATOR_ACCOUNT_ID][region].amis[image_id]
        image.state = state
        if reason is not None:
            image.state_reason = {"Code": "Server.InternalError", "Message": reason}

try:
    from xregion_sync_emulator.seed import force_db_snapshot_status
except ImportError:
    def force_db_snapshot_status(region: str, snapshot_id: str, status: str) -> None:
        rds_backends[EMULATOR_ACCOUNT_ID][region].database_snapshots[
            snapshot_id.lower()].status = status


# ---------------------------------------------------------------- drivers


def run_in_process(config: dict) -> list[dict]:
    return [r.to_dict() for r in xregion_sync.run(config)]


def run_state_machine(config: dict) -> list[dict]:
    return [r.to_dict() for r in execute_state_machine({"config": config}).results()]


DRIVERS = {"inprocess": run_in_process, "stepfunctions": run_state_machine}


@pytest.fixture(params=list(DRIVERS))
def driver(request, emulated):
    return DRIVERS[request.param]


@pytest.fixture(autouse=True)
def no_sleep_between_polls(monkeypatch):
    # Only the runner's clock: patching time.sleep itself would make every waiting loop
    # of the emulator spin.
    monkeypatch.setattr("xregion_sync.runner.time", SimpleNamespace(sleep=lambda _seconds: None))


# ---------------------------------------------------------------- the world


def ami_job(name: str = AMI_JOB, identifier: str = "web-app", source: str = SOURCE,
            **options) -> dict:
    return {name: {"sync_type": "ec2_ami", "source_region": source,
                   "destination_region": DESTINATION, "sync_identifier": identifier,
                   **options}}


def db_job(name: str = DB_JOB, db: str = DB, source: str = SOURCE, **options) -> dict:
    return {name: {"sync_type": "rds_automated_snapshot", "source_region": source,
                   "destination_region": DESTINATION, "db_instance": db, **options}}


def amis(region: str) -> dict:
    return ec2_backends[EMULATOR_ACCOUNT_ID][region].amis


def new_ami(identifier: str = "web-app", days: int = 0, region: str = SOURCE,
            name: str | None = None, **tags: str) -> str:
    """A source AMI built `days` after AMI_CREATED."""
    image_id = create_ami(region, name or f"{identifier}-{days}",
                          {"Sync-Identifier": identifier, **tags})
    amis(region)[image_id].creation_date = (AMI_CREATED + timedelta(days=days)).replace(
        tzinfo=None)
    return image_id


def rebuild_ami(old: str, identifier: str = "web-app", days: int = 1,
                region: str = SOURCE) -> str:
    """A new build replaces `old` in the source region."""
    boto3.client("ec2", region_name=region).deregister_image(ImageId=old)
    return new_ami(identifier, days, region)


def ami_state(image_id: str, region: str = DESTINATION) -> str | None:
    image = amis(region).get(image_id)
    return None if image is None else image.state


def source_db(db: str = DB, region: str = SOURCE) -> str:
    """A DB instance whose first automated snapshot RDS takes at FIRST_BACKUP."""
    with freeze_time(FIRST_BACKUP):
        return create_db_instance(region, db)


def backup(days: int, db: str = DB, region: str = SOURCE) -> str:
    return add_automated_snapshot(region, db, FIRST_BACKUP + timedelta(days=days))


def snapshot_status(snapshot_id: str, region: str = DESTINATION) -> str | None:
    snapshot = rds_backends[EMULATOR_ACCOUNT_ID][region].database_snapshots.get(
        snapshot_id.lower())
    return None if snapshot is None else snapshot.status


def copy_tags_of(sync_type: str, copy_id: str) -> dict[str, str]:
    if sync_type == "ec2_ami":
        return tag_dict(boto3.client("ec2", region_name=DESTINATION).describe_images(
            ImageIds=[copy_id])["Images"][0].get("Tags"))
    return tag_dict(boto3.client("rds", region_name=DESTINATION).describe_db_snapshots(
        DBSnapshotIdentifier=copy_id)["DBSnapshots"][0].get("TagList"))


def pruned_ids(*runs: list[dict]) -> list[str]:
    return [i for results in runs for r in results for i in r["pruned"]]


@contextmanager
def the_other_job_copies_first(config: dict, sync_type: str) -> Iterator[list[str]]:
    """The copy race, made deterministic: the first job of the run to start its copy has
    decided to copy, and just before its copy call each other job of `config` (which
    decided the same, from the same view of the destination) makes its copy. Yields the
    name of the job that was overtaken. Works in both drivers: no thread has to wait for
    another (the emulator serves one request, a Lambda invoke included, at a time)."""
    sync = SYNC_TYPES[sync_type]
    real_start_copy, lock, overtaken = sync.start_copy, threading.Lock(), []
    specs = {spec.name: spec for spec in load_config(config).jobs}

    def start_copy(job, source, existing, run_id):
        with lock:
            first = not overtaken
            if first:
                overtaken.append(job.name)
        if first:
            for name, spec in specs.items():
                if name != job.name:
                    other = steps.check_sync_tag(steps.resolve_source(
                        steps.new_state(spec, run_id)))
                    if not other["in_sync"]:
                        real_start_copy(spec, other["source"], other["existing"], run_id)
        return real_start_copy(job, source, existing, run_id)

    sync.start_copy = start_copy
    try:
        yield overtaken
    finally:
        sync.start_copy = real_start_copy


# ---------------------------------------------------------------- 1. copies made by hand


def test_hand_copy_of_our_ami_copy_is_never_pruned(driver):
    # GIVEN our DR copy, and a copy of it someone made by hand in the destination, tags too
    config = ami_job(max_images_to_retain=0)
    source = new_ami()
    (first,) = driver(config)
    hand = boto3.client("ec2", region_name=DESTINATION).copy_image(
        SourceRegion=DESTINATION, SourceImageId=first["created_resource"],
        CopyImageTags=True, Name="keep-me")["ImageId"]
    # WHEN new source AMIs come over two later runs, and a third run prunes
    runs = []
    for days in (1, 2):
        source = rebuild_ami(source, days=days)
        before = inventory(REGIONS)
        runs.append(driver(config))
        check_world(runs[-1], {AMI_JOB: "copied"}, before, config, regions=REGIONS,
                    made_by_hand=[hand])
    runs.append(driver(config))
    check_world(runs[-1], {AMI_JOB: "in_sync"}, before, config, regions=REGIONS,
                made_by_hand=[hand])
    # THEN the hand copy is still there, and never reported as pruned
    assert hand not in pruned_ids(*runs)
    assert ami_state(hand) in LIVE_AMI


def test_hand_copy_of_our_snapshot_copy_is_never_pruned(driver):
    # GIVEN our DR copy, and a copy of it someone made by hand in the destination, tags too
    config = db_job(max_snapshots_to_retain=0)
    source_db()
    (first,) = driver(config)
    boto3.client("rds", region_name=DESTINATION).copy_db_snapshot(
        SourceDBSnapshotIdentifier=first["created_resource"],
        TargetDBSnapshotIdentifier="keep-me", CopyTags=True)
    assert TAG_JOB in copy_tags_of("rds_automated_snapshot", "keep-me")  # the world we mean
    before = inventory(REGIONS)
    # WHEN new automated snapshots come over two later runs, and a third run prunes
    runs = []
    for days in (1, 2):
        backup(days)
        runs.append(driver(config))
        check_world(runs[-1], {DB_JOB: "copied"}, before, config, regions=REGIONS,
                    made_by_hand=["keep-me"])
    runs.append(driver(config))
    check_world(runs[-1], {DB_JOB: "in_sync"}, before, config, regions=REGIONS,
                made_by_hand=["keep-me"])
    # THEN the hand copy is still there, and never reported as pruned
    assert "keep-me" not in pruned_ids(*runs)
    assert snapshot_status("keep-me") in LIVE_SNAPSHOT


# ---------------------------------------------------------------- 2. one job name, two configs


@pytest.mark.parametrize("b_source, b_identifier", [
    (OTHER_SOURCE, "web-app"),  # config B copies from another region
    (SOURCE, "web-app-blue"),   # another deployment in the account, another sync_identifier
], ids=["other-source-region", "other-sync-identifier"])
def test_same_job_name_in_two_configs_never_deletes_the_others_copies(driver, b_source,
                                                                      b_identifier):
    # GIVEN two configs with a job `sync_web_app` each, into the same destination, retention 0
    configs = {"A": ami_job(max_images_to_retain=0),
               "B": ami_job(identifier=b_identifier, source=b_source, max_images_to_retain=0)}
    sources = {"A": new_ami("web-app", region=SOURCE),
               "B": new_ami(b_identifier, region=b_source)}
    where = {"A": ("web-app", SOURCE), "B": (b_identifier, b_source)}
    latest: dict[str, str] = {}
    # WHEN they run A, B, A, B, A, B, with a new source before some of the runs
    for step, label in enumerate("ABABAB"):
        if step in (2, 3):
            identifier, region = where[label]
            sources[label] = rebuild_ami(sources[label], identifier, days=step, region=region)
        before = inventory(REGIONS)
        results = driver(configs[label])
        check_world(results, {AMI_JOB: SUCCESS}, before, configs[label], regions=REGIONS)
        if results[0]["status"] == "copied":
            latest[label] = results[0]["created_resource"]
        # THEN after every run each config's latest copy is still there
        for owner, copy_id in latest.items():
            assert ami_state(copy_id) in LIVE_AMI, (
                f"run {step + 1} (config {label}) deleted config {owner}'s copy {copy_id}")


# ---------------------------------------------------------------- 3. EC2 filter wildcards


@pytest.mark.parametrize("wild", ["sync_web*", "sync_web?app"])
def test_job_names_with_filter_wildcards_never_match_another_jobs_copies(driver, wild):
    # GIVEN jobs `sync_web_app` and one whose name is an EC2 filter pattern matching it
    configs = {AMI_JOB: ami_job(max_images_to_retain=0),
               wild: ami_job(wild, "web-wild", max_images_to_retain=0)}
    identifiers = {AMI_JOB: "web-app", wild: "web-wild"}
    sources = {name: new_ami(identifiers[name]) for name in configs}
    latest: dict[str, str] = {}
    # WHEN each runs alone, in turn, with new sources now and then
    order = [AMI_JOB, wild, wild, AMI_JOB, AMI_JOB, wild, wild]
    for step, name in enumerate(order):
        if step in (3, 5):
            sources[name] = rebuild_ami(sources[name], identifiers[name], days=step)
        before = inventory(REGIONS)
        results = driver(configs[name])
        check_world(results, {name: SUCCESS}, before, configs[name], regions=REGIONS)
        if results[0]["status"] == "copied":
            latest[name] = results[0]["created_resource"]
        # THEN neither ever deletes the other's copy
        assert not set(results[0]["pruned"]) & {c for n, c in latest.items() if n != name}
        for owner, copy_id in latest.items():
            assert ami_state(copy_id) in LIVE_AMI, (
                f"run {step + 1} ({name}) deleted {owner}'s copy {copy_id}")


# ---------------------------------------------------------------- 4. unknown states


def _old_copy_forced(driver, config: dict, job: str, first_source, force, next_source
                     ) -> tuple[str, list[list[dict]]]:
    """Our copy of the first source forced into a state by `force(copy_id)`; then a new
    source, copied and in sync, under the job's retention 0. Returns the old copy's id
    and the two runs' results."""
    first_source()
    (first,) = driver(config)
    old = first["created_resource"]
    force(old)
    next_source()
    before = inventory(REGIONS)
    copied = driver(config)
    check_world(copied, {job: "copied"}, before, config, regions=REGIONS)
    in_sync = driver(config)
    check_world(in_sync, {job: "in_sync"}, before, config, regions=REGIONS)
    return old, [copied, in_sync]


def _old_ami_copy_in_state(driver, state: str) -> tuple[str, list[list[dict]]]:
    sources = []
    return _old_copy_forced(
        driver, ami_job(max_images_to_retain=0), AMI_JOB, lambda: sources.append(new_ami()),
        lambda old: force_image_state(DESTINATION, old, state),
        lambda: rebuild_ami(sources[0], days=1))


@pytest.mark.parametrize("state", ["transient", "invalid"])
def test_old_ami_copy_in_a_state_we_do_not_understand_is_kept(driver, state):
    # GIVEN an old copy in a documented state that is neither live nor `failed`
    # WHEN retention 0 runs after a newer copy
    old, runs = _old_ami_copy_in_state(driver, state)
    # THEN the old copy is not deleted
    assert old not in pruned_ids(*runs)
    assert ami_state(old) == state


def test_old_ami_copy_that_failed_is_deleted(driver):
    # regression: a `failed` copy is ours and useless
    old, runs = _old_ami_copy_in_state(driver, "failed")
    assert old in pruned_ids(*runs)
    assert ami_state(old) is None


def _old_snapshot_copy_in_status(driver, status: str) -> tuple[str, list[list[dict]]]:
    return _old_copy_forced(
        driver, db_job(max_snapshots_to_retain=0), DB_JOB, source_db,
        lambda old: force_db_snapshot_status(DESTINATION, old, status), lambda: backup(1))


@pytest.mark.parametrize("status", ["incompatible-restore", "unknown-future-status"])
def test_old_snapshot_copy_in_a_status_we_do_not_understand_is_kept(driver, status):
    # GIVEN an old copy in a status outside the known list
    # WHEN retention 0 runs after a newer copy
    old, runs = _old_snapshot_copy_in_status(driver, status)
    # THEN the old copy is not deleted
    assert old not in pruned_ids(*runs)
    assert snapshot_status(old) == status


def test_old_snapshot_copy_that_failed_is_deleted(driver):
    # regression: a `failed` copy is ours and useless
    old, runs = _old_snapshot_copy_in_status(driver, "failed")
    assert old in pruned_ids(*runs)
    assert snapshot_status(old) is None


# ---------------------------------------------------------------- 5. a copy that vanishes


def _deregister(copy_id: str) -> None:
    ec2_backends[EMULATOR_ACCOUNT_ID][DESTINATION].deregister_image(copy_id)


def _delete_snapshot(copy_id: str) -> None:
    rds_backends[EMULATOR_ACCOUNT_ID][DESTINATION].delete_db_snapshot(copy_id)


VANISHINGS = {
    "ami-deregistered": ("ec2_ami", _deregister),
    "ami-forced-deregistered": ("ec2_ami",
                                lambda copy_id: force_image_state(DESTINATION, copy_id,
                                                                  "deregistered")),
    "snapshot-deleted": ("rds_automated_snapshot", _delete_snapshot),
}


@pytest.mark.parametrize("driver_name", list(DRIVERS))
@pytest.mark.parametrize("vanishing", list(VANISHINGS))
def test_copy_that_vanishes_while_the_job_waits_fails_the_job_and_prunes_nothing(
        emulated, monkeypatch, driver_name, vanishing):
    # GIVEN a waiting job, retention 0, with an older copy in the destination
    sync_type, vanish = VANISHINGS[vanishing]
    if sync_type == "ec2_ami":
        name, config = AMI_JOB, ami_job(max_images_to_retain=0, **WAIT)
        source = new_ami()
        (older,) = run_in_process(config)
        rebuild_ami(source, days=1)
        exists = lambda copy_id: ami_state(copy_id) in LIVE_AMI  # noqa: E731
    else:
        name, config = DB_JOB, db_job(max_snapshots_to_retain=0, **WAIT)
        source_db()
        (older,) = run_in_process(config)
        backup(1)
        exists = lambda copy_id: snapshot_status(copy_id) in LIVE_SNAPSHOT  # noqa: E731
    assert older["copy_state"] == "available"
    before = inventory(REGIONS)
    # AND the new copy vanishes right after it starts, before the first poll
    sync = SYNC_TYPES[sync_type]
    real_start_copy, started = sync.start_copy, []

    def start_copy_then_vanish(*args, **kwargs):
        copy = real_start_copy(*args, **kwargs)
        started.append(copy["id"])
        vanish(copy["id"])
        return copy

    monkeypatch.setattr(sync, "start_copy", start_copy_then_vanish)
    # WHEN the job runs
    if driver_name == "stepfunctions":
        execution = execute_state_machine({"config": config})
        results = [r.to_dict() for r in execution.results()]
    else:
        results = run_in_process(config)
    # THEN the job failed (a success would count as one with no copy in the destination),
    # naming the copy that is gone
    check_world(results, {name: "failed"}, before, config, regions=REGIONS)
    (result,) = results
    (copy_id,) = set(started)
    assert (result["status"], result["copy_state"]) == ("failed", "gone"), result
    assert result["errors"][0]["type"] == "CopyGoneError"
    assert copy_id in result["errors"][0]["message"]
    # AND nothing was pruned: the older copy is still the recovery point
    assert result["pruned"] == []
    assert exists(older["created_resource"])
    # AND a failed job fails the execution
    if driver_name == "stepfunctions":
        assert execution.status == "FAILED"


# ---------------------------------------------------------------- 6. inherited legacy tag


def legacy_value(moment: datetime, copy_id: str) -> str:
    return f"{moment:%Y%m%d%H%M%S}+0000 / {copy_id}"


def test_legacy_tag_inherited_from_an_older_image_does_not_count_as_a_copy(driver):
    # GIVEN build 1, which the original tool copied and tagged Sync-<destination>
    v1 = new_ami(days=0)
    legacy_copy = boto3.client("ec2", region_name=DESTINATION).copy_image(
        SourceRegion=SOURCE, SourceImageId=v1, Name="web-app-0")["ImageId"]
    tag = legacy_value(AMI_CREATED + timedelta(hours=1), legacy_copy)
    # AND build 2, made from build 1 a day later, inheriting that tag
    boto3.client("ec2", region_name=SOURCE).deregister_image(ImageId=v1)
    v2 = new_ami(days=1, **{f"Sync-{DESTINATION}": tag})
    config = ami_job()
    before = inventory(REGIONS)
    # WHEN the job runs
    results = driver(config)
    # THEN build 2 is copied: the tag predates it, so the copy it names is not of build 2
    check_world(results, {AMI_JOB: "copied"}, before, config, regions=REGIONS)
    assert results[0]["created_resource"] not in (None, legacy_copy)
    assert copy_tags_of("ec2_ami", results[0]["created_resource"])[TAG_SOURCE_ID] == v2


def test_legacy_tag_written_after_the_image_was_made_counts_as_its_copy(driver):
    # regression (positive control): the original tool tagged this very image after copying it
    v1 = new_ami(days=0)
    legacy_copy = boto3.client("ec2", region_name=DESTINATION).copy_image(
        SourceRegion=SOURCE, SourceImageId=v1, Name="web-app-0")["ImageId"]
    boto3.client("ec2", region_name=SOURCE).create_tags(Resources=[v1], Tags=[{
        "Key": f"Sync-{DESTINATION}",
        "Value": legacy_value(AMI_CREATED + timedelta(hours=1), legacy_copy)}])
    config = ami_job()
    before = inventory(REGIONS)
    results = driver(config)
    check_world(results, {AMI_JOB: "in_sync"}, before, config, regions=REGIONS)
    assert len(amis(DESTINATION)) == 1


# ---------------------------------------------------------------- 7. two jobs, one DB instance


def test_two_jobs_on_one_db_instance_never_adopt_or_delete_each_others_copies(driver):
    # GIVEN two jobs copying the same DB instance between the same regions
    config = {**db_job("sync_db_keep_none", max_snapshots_to_retain=0),
              **db_job("sync_db_keep_three", max_snapshots_to_retain=3)}
    source_db()
    for day in range(4):
        if day:
            backup(day)
        before = inventory(REGIONS)
        # WHEN both decide to copy before either copied (the copy race), then run daily
        if day == 0:
            with the_other_job_copies_first(config, "rds_automated_snapshot") as overtaken:
                results = driver(config)
            assert overtaken
        else:
            results = driver(config)
        # THEN a job reports as created only a copy it made, and no job deletes the
        # other's recovery point in the same run
        check_world(results, dict.fromkeys(config, SUCCESS), before, config, regions=REGIONS)
        by_name = {r["name"]: r for r in results}
        for name, result in by_name.items():
            (other,) = set(by_name) - {name}
            copy_id = result["created_resource"]
            if result["status"] != "copied":
                continue
            assert copy_tags_of("rds_automated_snapshot", copy_id)[TAG_JOB] == name, (
                f"day {day}: {name} reported {copy_id}, a copy it did not make")
            assert copy_id not in by_name[other]["pruned"], (
                f"day {day}: {other} deleted {name}'s new copy {copy_id}")


# ---------------------------------------------------------------- 8. one DB id, two regions


def test_same_db_identifier_in_two_source_regions_gets_two_copies(driver):
    # GIVEN db-1 in two regions, backed up at the same minute (so the copy ids collide)
    regions = {"sync_db1_east": SOURCE, "sync_db1_eu": OTHER_SOURCE}
    config = {name: db_job(name, "db-1", region)[name] for name, region in regions.items()}
    east, eu = source_db("db-1", SOURCE), source_db("db-1", OTHER_SOURCE)
    assert east == eu
    before = inventory(REGIONS)
    # WHEN both jobs decide to copy before either copied
    with the_other_job_copies_first(config, "rds_automated_snapshot") as overtaken:
        results = driver(config)
    # THEN the overtaken job copied (the other one made its copy during the race, so its
    # own run may find it: in sync)
    (late,) = overtaken
    check_world(results, {n: "copied" if n == late else SUCCESS for n in config}, before,
                config, regions=REGIONS)
    # AND each job's copy is its own: a different snapshot, tagged with its source region
    rds = boto3.client("rds", region_name=DESTINATION)
    by_job = {}
    for snapshot in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        by_job.setdefault(tag_dict(snapshot.get("TagList")).get(TAG_JOB), []).append(
            snapshot["DBSnapshotIdentifier"])
    copies = {}
    for result in results:
        name = result["name"]
        copies[name] = result["created_resource"] or by_job.get(name, [None])[0]
        tags = copy_tags_of("rds_automated_snapshot", copies[name])
        assert (tags[TAG_SOURCE_REGION], tags[TAG_JOB]) == (regions[name], name), (
            f"{name} reported {copies[name]}, the copy of {tags[TAG_SOURCE_REGION]}")
    assert copies["sync_db1_east"] != copies["sync_db1_eu"]


# ---------------------------------------------------------------- 9. renamed jobs


def test_renamed_ami_job_is_in_sync_with_the_copy_made_under_its_old_name(driver):
    # GIVEN web_old copied its AMI (a job counts only its own copies and those of the names
    # in its renamed_from)
    new_ami()
    driver(ami_job("sync_web_old"))
    config = ami_job("sync_web_new", renamed_from="sync_web_old")
    before = inventory(REGIONS)
    # WHEN the job is renamed web_new (same selection) and runs
    results = driver(config)
    # THEN it is in sync: no second copy of the same AMI
    check_world(results, {"sync_web_new": "in_sync"}, before, config, regions=REGIONS)
    assert len(amis(DESTINATION)) == 1


@pytest.mark.parametrize("renamed_from", [["sync_web_old"], "sync_web_old"],
                         ids=["list", "string"])
def test_renamed_from_hands_the_old_names_ami_copies_to_the_new_name(driver, renamed_from):
    # GIVEN web_old copied its AMI, and the job renamed web_new with renamed_from, retention 0
    source = new_ami()
    (old,) = driver(ami_job("sync_web_old"))
    config = ami_job("sync_web_new", renamed_from=renamed_from, max_images_to_retain=0)
    # WHEN a new build comes and web_new runs twice
    rebuild_ami(source, days=1)
    before = inventory(REGIONS)
    copied = driver(config)
    check_world(copied, {"sync_web_new": "copied"}, before, config, regions=REGIONS)
    in_sync = driver(config)
    check_world(in_sync, {"sync_web_new": "in_sync"}, before, config, regions=REGIONS)
    # THEN web_old's copy counts as web_new's own: retention prunes it
    assert old["created_resource"] in pruned_ids(copied, in_sync)
    assert ami_state(old["created_resource"]) is None


def test_without_renamed_from_the_old_names_ami_copies_are_never_pruned(driver):
    # regression: another name's copies are not this job's to delete
    source = new_ami()
    (old,) = driver(ami_job("sync_web_old"))
    config = ami_job("sync_web_new", max_images_to_retain=0)
    rebuild_ami(source, days=1)
    runs = [driver(config), driver(config)]
    assert old["created_resource"] not in pruned_ids(*runs)
    assert ami_state(old["created_resource"]) in LIVE_AMI


def test_renamed_rds_job_is_in_sync_with_the_copy_made_under_its_old_name(driver):
    # regression: a copy made under a name in renamed_from proves it copied
    source_db()
    driver(db_job("sync_db_old"))
    config = db_job("sync_db_new", renamed_from="sync_db_old")
    before = inventory(REGIONS)
    results = driver(config)
    check_world(results, {"sync_db_new": "in_sync"}, before, config, regions=REGIONS)
    assert len(rds_backends[EMULATOR_ACCOUNT_ID][DESTINATION].database_snapshots) == 1


@pytest.mark.parametrize("renamed_from", [["sync_db_old"], "sync_db_old"],
                         ids=["list", "string"])
def test_renamed_from_hands_the_old_names_snapshot_copies_to_the_new_name(driver,
                                                                          renamed_from):
    # GIVEN db_old copied a backup, and the job renamed db_new with renamed_from, retention 0
    source_db()
    (old,) = driver(db_job("sync_db_old"))
    config = db_job("sync_db_new", renamed_from=renamed_from, max_snapshots_to_retain=0)
    # WHEN a new backup comes and db_new runs twice
    backup(1)
    before = inventory(REGIONS)
    copied = driver(config)
    check_world(copied, {"sync_db_new": "copied"}, before, config, regions=REGIONS)
    in_sync = driver(config)
    check_world(in_sync, {"sync_db_new": "in_sync"}, before, config, regions=REGIONS)
    # THEN db_old's copy counts as db_new's own: retention prunes it
    assert old["created_resource"] in pruned_ids(copied, in_sync)
    # AND status names the copy relied on, and whose it is
    (now,) = xregion_sync.status(config)
    assert (now.copy_id, now.copy_job) == (copied[0]["created_resource"], "sync_db_new")
    assert snapshot_status(old["created_resource"]) is None


def test_without_renamed_from_the_old_names_snapshot_copies_are_never_pruned(driver):
    # regression
    source_db()
    (old,) = driver(db_job("sync_db_old"))
    config = db_job("sync_db_new", max_snapshots_to_retain=0)
    backup(1)
    runs = [driver(config), driver(config)]
    assert old["created_resource"] not in pruned_ids(*runs)
    assert snapshot_status(old["created_resource"]) in LIVE_SNAPSHOT


# ---------------------------------------------------------------- 10. retried Prune Old Copies


@pytest.mark.statemachine
@pytest.mark.parametrize("sync_type", ["ec2_ami", "rds_automated_snapshot"])
def test_prune_whose_answer_is_lost_is_retried_and_reports_what_it_deleted(emulated, sync_type):
    # regression (partly fixed before these tests): GIVEN an older copy, and a waiting job
    # with retention 0 whose new copy becomes available
    if sync_type == "ec2_ami":
        name, config = AMI_JOB, ami_job(max_images_to_retain=0, **WAIT)
        source = new_ami()
        (older,) = run_in_process(config)
        rebuild_ami(source, days=1)
        gone = lambda copy_id: ami_state(copy_id) is None  # noqa: E731
    else:
        name, config = DB_JOB, db_job(max_snapshots_to_retain=0, **WAIT)
        source_db()
        (older,) = run_in_process(config)
        backup(1)
        gone = lambda copy_id: snapshot_status(copy_id) is None  # noqa: E731
    before = inventory(REGIONS)
    # WHEN Prune Old Copies deletes, then its answer is lost (a Lambda service error)
    lost = lambda fn, n: "ServiceException" if fn == "PruneOldCopiesFunction" and n == 1 \
        else None  # noqa: E731
    with lambda_faults(lost) as injected:
        execution = execute_state_machine({"config": config})
    # THEN the retry finds the copy already deleted and the job reports it pruned
    assert injected[("PruneOldCopiesFunction", "ServiceException")] == 1
    assert execution.status == "SUCCEEDED"
    results = [r.to_dict() for r in execution.results()]
    check_world(results, {name: "copied"}, before, config, regions=REGIONS)
    assert results[0]["pruned"] == [older["created_resource"]]
    assert gone(older["created_resource"])


# ---------------------------------------------------------------- 11. tag rules


def test_every_tag_on_every_copy_obeys_the_services_tag_rules(driver):
    # GIVEN an AMI and a DB instance with ordinary tags
    new_ami(Team="platform")
    source_db()
    config = {**ami_job(), **db_job()}
    # WHEN both are copied
    results = driver(config)
    assert {r["status"] for r in results} == {"copied"}
    # THEN every tag of every copy (AMI, its EBS snapshots, DB snapshot) is one AWS accepts
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    rds = boto3.client("rds", region_name=DESTINATION)
    tagged = [("ec2", i["ImageId"], tag_dict(i.get("Tags")))
              for i in ec2.describe_images(Owners=["self"])["Images"]]
    tagged += [("ec2", s["SnapshotId"], tag_dict(s.get("Tags")))
               for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]]
    tagged += [("rds", s["DBSnapshotIdentifier"], tag_dict(s.get("TagList")))
               for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]]
    assert len(tagged) >= 3
    problems = [(rid, key, value, key_problem(service, key) or value_problem(service, value))
                for service, rid, tags in tagged for key, value in tags.items()
                if key_problem(service, key) or value_problem(service, value)]
    assert problems == []


def _tag_raw_source_id(snapshot_id: str, source_id: str) -> None:
    """Tag a copy as an earlier version did, on the backend (the API now refuses 'rds:')."""
    snapshot = rds_backends[EMULATOR_ACCOUNT_ID][DESTINATION].database_snapshots[
        snapshot_id.lower()]
    snapshot.tags = [t for t in snapshot.tags if t["Key"] != TAG_SOURCE_ID] + [
        {"Key": TAG_SOURCE_ID, "Value": source_id}]


def test_copy_tagged_with_the_raw_source_id_by_an_earlier_version_is_still_ours(driver):
    # regression for the fix (holds today): GIVEN a copy whose source-id tag is the raw
    # 'rds:...' id an earlier version wrote
    first = source_db()
    config = db_job(max_snapshots_to_retain=0)
    (made,) = driver(config)
    _tag_raw_source_id(made["created_resource"], first)
    before = inventory(REGIONS)
    # WHEN the job runs again: THEN it is in sync with that copy
    check_world(driver(config), {DB_JOB: "in_sync"}, before, config, regions=REGIONS)
    # AND once a newer backup is copied, retention prunes it
    backup(1)
    runs = [driver(config), driver(config)]
    check_world(runs[-1], {DB_JOB: "in_sync"}, before, config, regions=REGIONS)
    assert made["created_resource"] in pruned_ids(*runs)
    assert snapshot_status(made["created_resource"]) is None


# ---------------------------------------------------------------- 14. long AMI names


def test_long_ami_name_held_by_an_older_copy_gets_a_name_with_the_full_source_id(driver):
    # GIVEN build 1, named with 126 characters, copied
    name = "web-app-" + "x" * 118
    assert len(name) == 126
    v1 = new_ami(name=name)
    config = ami_job()
    assert [r["status"] for r in driver(config)] == ["copied"]
    # AND build 2 replaces it under the same name
    boto3.client("ec2", region_name=SOURCE).deregister_image(ImageId=v1)
    v2 = new_ami(name=name, days=1)
    before = inventory(REGIONS)
    # WHEN the job runs, and again
    second = driver(config)
    check_world(second, {AMI_JOB: "copied"}, before, config, regions=REGIONS)
    copy_name = amis(DESTINATION)[second[0]["created_resource"]].name
    third = driver(config)
    # THEN build 2's copy has a valid name holding build 2's full id, and is then in sync
    assert len(copy_name) <= 128 and v2 in copy_name, copy_name
    check_world(third, {AMI_JOB: "in_sync"}, before, config, regions=REGIONS)


# ---------------------------------------------------------------- 15. replaced failed copies


@pytest.mark.parametrize("sync_type", ["ec2_ami", "rds_automated_snapshot"])
def test_failed_copy_that_is_replaced_is_reported_pruned(driver, sync_type):
    # GIVEN a copy of the current source that AWS reports failed
    if sync_type == "ec2_ami":
        name, config = AMI_JOB, ami_job()
        new_ami()
        (first,) = driver(config)
        force_image_state(DESTINATION, first["created_resource"], "failed", "copy failed")
    else:  # regression: RDS reports it already
        name, config = DB_JOB, db_job()
        source_db()
        (first,) = driver(config)
        force_db_snapshot_status(DESTINATION, first["created_resource"], "failed")
    failed = first["created_resource"]
    (planned,) = [r.to_dict() for r in xregion_sync.run(config, dry_run=True)]
    before = inventory(REGIONS)
    # WHEN the next run replaces it
    results = driver(config)
    # THEN the result lists the failed copy as pruned, as the dry run said it would
    check_world(results, {name: "copied"}, before, config, regions=REGIONS)
    assert failed in planned["pruned"]
    assert failed in results[0]["pruned"]
    assert results[0]["created_resource"] != failed


# ---------------------------------------------------------------- 16. DB cluster snapshots
# rds_cluster_snapshot shares rds_automated_snapshot's provenance and retention code
# (syncs/rds_common.py); these pin that its own record of a copy's source (AWS's
# SourceDBClusterSnapshotArn) and its own snapshots keep the same promises.

CLUSTER_JOB, CLUSTER = "sync_orders_cluster", "orders-cluster"


def cluster_job(name: str = CLUSTER_JOB, source: str = SOURCE, **options) -> dict:
    return {name: {"sync_type": "rds_cluster_snapshot", "source_region": source,
                   "destination_region": DESTINATION, "db_cluster": CLUSTER, **options}}


def source_cluster(region: str = SOURCE) -> str:
    with freeze_time(FIRST_BACKUP):
        return create_db_cluster(region, CLUSTER)


def cluster_backup(days: int, region: str = SOURCE) -> str:
    return add_automated_cluster_snapshot(region, CLUSTER, FIRST_BACKUP + timedelta(days=days))


def cluster_snapshots(region: str = DESTINATION) -> dict[str, str]:
    """Every cluster snapshot in the region -> its status."""
    return {i: s.status for i, s in rds_backends[EMULATOR_ACCOUNT_ID][region]
            .cluster_snapshots.items()}


def test_hand_copy_of_our_cluster_snapshot_copy_is_never_pruned(driver):
    # GIVEN our DR copy, and a copy of it someone made by hand in the destination, tags too
    config = cluster_job(max_snapshots_to_retain=0, **WAIT)
    source_cluster()
    (first,) = driver(config)
    rds = boto3.client("rds", region_name=DESTINATION)
    rds.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=first["created_resource"],
                                 TargetDBClusterSnapshotIdentifier="keep-me", CopyTags=True)
    assert TAG_JOB in tag_dict(rds.describe_db_cluster_snapshots(  # the world we mean
        DBClusterSnapshotIdentifier="keep-me")["DBClusterSnapshots"][0]["TagList"])
    before = inventory(REGIONS)
    # WHEN new automated snapshots come over two later runs, and a third run prunes
    runs = []
    for days in (1, 2):
        cluster_backup(days)
        runs.append(driver(config))
        check_world(runs[-1], {CLUSTER_JOB: "copied"}, before, config, regions=REGIONS,
                    made_by_hand=["keep-me"])
    runs.append(driver(config))
    check_world(runs[-1], {CLUSTER_JOB: "in_sync"}, before, config, regions=REGIONS,
                made_by_hand=["keep-me"])
    # THEN the job pruned its own older copies only; the hand copy is still there
    assert "keep-me" not in pruned_ids(*runs)
    assert set(cluster_snapshots()) == {"keep-me", runs[1][0]["created_resource"]}


def test_same_job_name_copying_another_regions_cluster_never_deletes_its_copies(driver):
    # GIVEN two configs with a job `sync_orders_cluster` each, copying a cluster of the same
    # name from two source regions into one destination, retention 0
    configs = {"A": cluster_job(max_snapshots_to_retain=0, **WAIT),
               "B": cluster_job(source=OTHER_SOURCE, max_snapshots_to_retain=0, **WAIT)}
    source_cluster(SOURCE)
    source_cluster(OTHER_SOURCE)
    latest: dict[str, str] = {}
    # WHEN they run in turn, each after a new backup in its source region
    for step, (name, days) in enumerate([("A", 0), ("B", 0), ("A", 1), ("B", 1), ("A", 2)]):
        if days:
            cluster_backup(days, SOURCE if name == "A" else OTHER_SOURCE)
        before = inventory(REGIONS)
        (result,) = results = driver(configs[name])
        check_world(results, {CLUSTER_JOB: "copied"}, before, configs[name], regions=REGIONS)
        latest[name] = result["created_resource"]
        # THEN neither ever deletes the other's newest copy (both are the tool's, with
        # provenance: only this check, not check_world's, tells them apart)
        for owner, copy_id in latest.items():
            assert cluster_snapshots().get(copy_id) in LIVE_SNAPSHOT, (
                f"run {step + 1} ({name}) deleted {owner}'s copy {copy_id}")


@pytest.mark.parametrize("status, pruned", [("unknown-future-status", False), ("failed", True)])
def test_old_cluster_snapshot_copy_is_deleted_only_when_failed(driver, status, pruned):
    # GIVEN our old copy in a status outside the known list, or failed
    # WHEN retention 0 runs after a newer copy, then once more in sync
    old, runs = _old_copy_forced(
        driver, cluster_job(max_snapshots_to_retain=0), CLUSTER_JOB, source_cluster,
        lambda old: force_db_cluster_snapshot_status(DESTINATION, old, status),
        lambda: cluster_backup(1))
    # THEN a status the tool does not know keeps it; failed deletes it
    assert (old in pruned_ids(*runs)) is pruned
    assert cluster_snapshots().get(old) == (None if pruned else status)


# ---------------------------------------------------------------- 17.1 renamed_from a live job


def test_renamed_from_naming_a_job_still_in_the_config_is_refused(driver):
    # GIVEN a retention-10 job with copies of two builds, and a copy-pasted second job that
    # names it in renamed_from with retention 0
    source = new_ami()
    keeper = ami_job(max_images_to_retain=10)
    driver(keeper)
    rebuild_ami(source, days=1)
    (kept,) = driver(keeper)
    config = {**keeper, **ami_job("sync_web_copy", renamed_from=[AMI_JOB],
                                  max_images_to_retain=0)}
    before = inventory(REGIONS)
    # WHEN the config runs
    results = {r["name"]: r for r in driver(config)}
    # THEN the second job fails naming the field and the live job, and makes no change;
    # the live job's copies are all still there
    copy_job = results["sync_web_copy"]
    assert copy_job["status"] == "failed"
    (error,) = copy_job["errors"]
    assert error["type"] == "ConfigError"
    assert "field 'renamed_from'" in error["message"]
    assert f"'{AMI_JOB}'" in error["message"] and "still a job" in error["message"]
    assert results[AMI_JOB]["status"] == "in_sync"
    assert inventory(REGIONS) == before
    assert kept["created_resource"] in amis(DESTINATION)
    assert len(amis(DESTINATION)) == 2


# ---------------------------------------------------------------- 17.5 per-job options at the top


@pytest.mark.parametrize("key, value", [("max_snapshots_to_retain", 30),
                                        ("max_images_to_retain", 30), ("kms_key_id", "alias/dr"),
                                        ("renamed_from", "sync_old")])
def test_a_per_job_option_at_the_top_level_fails_every_job_naming_it(driver, key, value):
    # GIVEN a retention-0 job with an older copy, and a per-job option written at the top
    # level (where only the wait settings and max_copy_age_hours are defaults)
    source_db()
    job = db_job(max_snapshots_to_retain=0)
    driver(job)
    backup(1)
    config = {key: value, **job, **ami_job()}
    before = inventory(REGIONS)
    # WHEN it runs
    results = driver(config)
    # THEN every job fails with an error naming itself and the field, and nothing changes
    assert [r["status"] for r in results] == ["failed", "failed"]
    for result in results:
        (error,) = result["errors"]
        assert error["type"] == "ConfigError"
        assert f"job '{result['name']}'" in error["message"]
        assert f"field '{key}'" in error["message"] and "move it into" in error["message"]
    assert inventory(REGIONS) == before


# ---------------------------------------------------------------- 17.4 dry runs list deletions


def _world_with_three_copies(sync_type: str, **options) -> tuple[dict, str]:
    """A job with copies of three sources (retention 10), and its config with `options`."""
    if sync_type == "ec2_ami":
        config, name = ami_job(max_images_to_retain=10), AMI_JOB
        source = new_ami()
        for days in (1, 2):
            driver_run = run_in_process(config)
            assert driver_run[0]["status"] == "copied"
            source = rebuild_ami(source, days=days)
        run_in_process(config)
        return ami_job(**{"max_images_to_retain": 10, **options}), name
    config, name = db_job(max_snapshots_to_retain=10), DB_JOB
    source_db()
    for days in (1, 2):
        assert run_in_process(config)[0]["status"] == "copied"
        backup(days)
    run_in_process(config)
    return db_job(**{"max_snapshots_to_retain": 10, **options}), name


RETAIN = {"ec2_ami": "max_images_to_retain", "rds_automated_snapshot": "max_snapshots_to_retain"}


@pytest.mark.parametrize("path", ["in_sync", "copy", "copy_and_wait"])
@pytest.mark.parametrize("sync_type", ["ec2_ami", "rds_automated_snapshot"])
def test_a_dry_run_lists_exactly_what_the_real_run_deletes(driver, sync_type, path):
    # GIVEN a job with three copies whose retention is lowered to 0, in sync or with a new
    # source to copy, waiting for the copy or not
    config, name = _world_with_three_copies(sync_type, **{RETAIN[sync_type]: 0},
                                            **(WAIT if path == "copy_and_wait" else {}))
    if path != "in_sync":
        if sync_type == "ec2_ami":
            rebuild_ami(next(i for i, a in amis(SOURCE).items() if a.state == "available"),
                        days=3)
        else:
            backup(3)
    # WHEN it runs dry, then for real
    (planned,) = [r.to_dict() for r in xregion_sync.run(config, dry_run=True)]
    (real,) = driver(config)
    # THEN the dry run listed exactly the copies the real run deleted
    assert real["pruned"], "the world we mean: the real run deletes copies"
    assert sorted(planned["pruned"]) == sorted(real["pruned"])


# ---------------------------------------------------------------- 17.8 every deletion reported


def nth_call(n: int, operation: str, code: str):
    """Fail only the n-th call of one operation."""
    calls, lock = [0], threading.Lock()

    def decide(_service: str, called: str) -> str | None:
        with lock:
            if called != operation:
                return None
            calls[0] += 1
            return code if calls[0] == n else None

    return decide


DELETE_CALLS = {"ec2_ami": ("DeregisterImage", "UnauthorizedOperation"),
                "rds_automated_snapshot": ("DeleteDBSnapshot", "InvalidDBSnapshotState")}


@pytest.mark.parametrize("sync_type", ["ec2_ami", "rds_automated_snapshot"])
def test_a_prune_that_fails_halfway_reports_the_copies_it_deleted(driver, sync_type):
    # GIVEN an in-sync job with three copies whose retention is lowered to 0
    config, name = _world_with_three_copies(sync_type, **{RETAIN[sync_type]: 0})
    before = inventory(REGIONS)
    # WHEN Prune Old Copies deletes one copy and AWS refuses the next delete
    with aws_faults(nth_call(2, *DELETE_CALLS[sync_type])):
        (result,) = driver(config)
    # THEN the job failed, and its result names the copy it did delete
    deleted = sorted(set(before) - set(inventory(REGIONS)))
    assert result["status"] == "failed"
    assert len(deleted) == 1, "the world we mean: one copy deleted before the refusal"
    assert result["pruned"] == deleted


@pytest.mark.parametrize("outcome", ["deferred", "failed"])
def test_start_copy_reports_the_failed_copy_it_deregistered_whatever_follows(driver, outcome):
    # GIVEN our copy of the current AMI that AWS reports failed
    config = ami_job()
    new_ami()
    (first,) = driver(config)
    force_image_state(DESTINATION, first["created_resource"], "failed", "copy failed")
    # WHEN Start Copy deregisters it and CopyImage is then refused: copy slots full, or
    # another refusal
    message, code = (("Too many snapshot copies in progress", "ResourceLimitExceeded")
                     if outcome == "deferred" else ("no", "InvalidParameterValue"))
    with aws_faults(first_calls(1, "CopyImage", code), message):
        (result,) = driver(config)
    # THEN the result (deferred or failed) names the deregistered copy
    assert result["status"] == outcome
    assert ami_state(first["created_resource"]) is None
    assert result["pruned"] == [first["created_resource"]]


# ---------------------------------------------------------------- 17.9 deprecation finished later


def test_a_deprecation_that_failed_once_is_set_by_the_next_run(driver):
    # GIVEN a job that deprecates its copies, whose first EnableImageDeprecation is refused
    config = ami_job(deprecate_after_days=90, **WAIT)
    new_ami()
    with aws_faults(first_calls(1, "EnableImageDeprecation", "UnauthorizedOperation")):
        (first,) = driver(config)
    assert first["status"] == "failed"
    copy_id = first["created_resource"]
    image = boto3.client("ec2", region_name=DESTINATION).describe_images(
        ImageIds=[copy_id])["Images"][0]
    assert "DeprecationTime" not in image, "the world we mean: the copy is not deprecated"
    # WHEN the next run finds the copy in sync
    (second,) = driver(config)
    # THEN it deprecates the copy, 90 days after it was made
    assert second["status"] == "in_sync"
    image = boto3.client("ec2", region_name=DESTINATION).describe_images(
        ImageIds=[copy_id])["Images"][0]
    made = datetime.fromisoformat(image["CreationDate"].replace("Z", "+00:00"))
    deprecated = datetime.fromisoformat(image["DeprecationTime"].replace("Z", "+00:00"))
    assert abs(deprecated - (made + timedelta(days=90))) <= timedelta(minutes=1)
    # AND a third run has nothing left to do
    assert driver(config)[0]["status"] == "in_sync"


# ---------------------------------------------------------------- 17.2 shared copies and options


def image(image_id: str, region: str = DESTINATION) -> dict:
    return boto3.client("ec2", region_name=region).describe_images(
        ImageIds=[image_id])["Images"][0]


def launch_permissions_of(image_id: str) -> list[dict]:
    return boto3.client("ec2", region_name=DESTINATION).describe_image_attribute(
        ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]


SHARED_WITH = [{"UserId": "444455556666"}]


def destination_key() -> str:
    return boto3.client("kms", region_name=DESTINATION).create_key()["KeyMetadata"]["Arn"]
B_OPTIONS = {  # each a copy option job A (all defaults) does not have
    "kms_key_id": {"kms_key_id": "alias/dr-b"},
    "copy_launch_permissions": {"copy_launch_permissions": True},
    "deprecate_after_days": {"deprecate_after_days": 30},
    "copy_completion_minutes": {"copy_completion_minutes": 60},
}


@pytest.mark.parametrize("option", list(B_OPTIONS))
def test_a_job_never_counts_another_jobs_ami_copy_made_with_other_options(driver, option):
    # GIVEN job A's copy of an AMI shared with an account, and job B on the same AMI with
    # a copy option A does not have
    source = new_ami()
    boto3.client("ec2", region_name=SOURCE).modify_image_attribute(
        ImageId=source, LaunchPermission={"Add": SHARED_WITH})
    (a_copy,) = driver(ami_job("sync_a", **WAIT))
    untouched = (image(a_copy["created_resource"]), launch_permissions_of(
        a_copy["created_resource"]))
    # WHEN B runs (twice: a later run finishes what is due)
    options = B_OPTIONS[option]
    if option == "kms_key_id":
        options = {"kms_key_id": destination_key()}
    config = ami_job("sync_b", **options, **WAIT)
    (b,) = driver(config)
    driver(config)
    # THEN B made its own copy, and A's copy is as A left it
    assert b["status"] == "copied"
    assert copy_tags_of("ec2_ami", b["created_resource"])[TAG_JOB] == "sync_b"
    assert (image(a_copy["created_resource"]), launch_permissions_of(
        a_copy["created_resource"])) == untouched


def test_two_jobs_on_one_ami_with_the_same_options_each_keep_their_own_copy(driver):
    # GIVEN job A's copy, and job B on the same AMI with the same copy options
    new_ami()
    driver(ami_job("sync_a", deprecate_after_days=30, **WAIT))
    # WHEN B runs
    (b,) = driver(ami_job("sync_b", deprecate_after_days=30, **WAIT))
    # THEN B made its own copy: a job's recovery point is never another job's, which that
    # job's retention may delete
    assert b["status"] == "copied"
    assert sorted(copy_tags_of("ec2_ami", i)[TAG_JOB] for i in amis(DESTINATION)) == [
        "sync_a", "sync_b"]


@pytest.mark.parametrize("b_option", ["kms_key_id", "copy_tags"])
def test_a_job_never_counts_another_jobs_snapshot_copy_made_with_other_options(driver,
                                                                              b_option):
    # GIVEN job A's copy of a backup, and job B on the same DB with another copy option
    b_options = ({"kms_key_id": destination_key()} if b_option == "kms_key_id"
                 else {"copy_tags": False})
    source_db()
    (a_copy,) = driver(db_job("sync_a"))
    # WHEN B runs
    (b,) = driver(db_job("sync_b", **b_options))
    # THEN B made its own copy (with its key), and A's copy is still A's
    assert b["status"] == "copied"
    assert copy_tags_of("rds_automated_snapshot", b["created_resource"])[TAG_JOB] == "sync_b"
    assert copy_tags_of("rds_automated_snapshot", a_copy["created_resource"])[TAG_JOB] == "sync_a"


def test_in_a_copy_race_a_job_never_adopts_or_changes_another_jobs_ami_copy(driver):
    # GIVEN two jobs on one AMI, B deprecating its copies and A not
    new_ami()
    config = {**ami_job("sync_a"), **ami_job("sync_b", deprecate_after_days=30)}
    # WHEN both decide to copy before either copied (the copy race)
    with the_other_job_copies_first(config, "ec2_ami") as overtaken:
        results = {r["name"]: r for r in driver(config)}
    assert overtaken
    # THEN each job has its own copy, reports only its own as created, and A's copy has no
    # deprecation time
    for name, result in results.items():
        assert result["status"] in SUCCESS
        if result["status"] == "copied":
            assert copy_tags_of("ec2_ami", result["created_resource"])[TAG_JOB] == name
    owners = {i: copy_tags_of("ec2_ami", i)[TAG_JOB] for i in amis(DESTINATION)}
    assert sorted(owners.values()) == ["sync_a", "sync_b"]
    (a_copy,) = [i for i, owner in owners.items() if owner == "sync_a"]
    assert "DeprecationTime" not in image(a_copy)


# ---------------------------------------------------------------- 17.3 another job's retention


def test_another_jobs_retention_never_removes_a_pinned_jobs_only_recovery_point(driver):
    # GIVEN job P pinning AMI X by its id, and job A following the newest AMI tagged web
    # with retention 0, both copying X
    x = new_ami()
    pinned = ami_job("sync_pinned", max_images_to_retain=0, filters=[f"image-id={x}"])
    del pinned["sync_pinned"]["sync_identifier"]
    follower = ami_job("sync_follower", max_images_to_retain=0, **WAIT)
    config = {**follower, **pinned}
    runs = [driver(config)]
    # WHEN a new build Y takes the tag (X stays), and both run twice
    boto3.client("ec2", region_name=SOURCE).delete_tags(
        Resources=[x], Tags=[{"Key": "Sync-Identifier"}])
    new_ami(days=1)
    for _ in range(2):
        before = inventory(REGIONS)
        runs.append(driver(config))
        check_world(runs[-1], dict.fromkeys(config, SUCCESS), before, config,
                    regions=REGIONS)
    # THEN P still has a live copy of X of its own
    live_of_x = [i for i, a in amis(DESTINATION).items() if a.state in LIVE_AMI
                 and copy_tags_of("ec2_ami", i).get(TAG_SOURCE_ID) == x]
    assert [copy_tags_of("ec2_ami", i)[TAG_JOB] for i in live_of_x] == ["sync_pinned"]


def test_two_jobs_on_one_db_with_retention_0_and_3_keep_what_each_promises(driver):
    # GIVEN two jobs on one DB instance, retention 0 and 3
    config = {**db_job("sync_db_keep_none", max_snapshots_to_retain=0, **WAIT),
              **db_job("sync_db_keep_three", max_snapshots_to_retain=3, **WAIT)}
    source_db()
    # WHEN they run daily for five days
    for day in range(5):
        if day:
            backup(day)
        before = inventory(REGIONS)
        check_world(driver(config), dict.fromkeys(config, SUCCESS), before, config,
                    regions=REGIONS)
    # THEN the retention-3 job has its newest copy and 3 previous, the other 1
    owners = [copy_tags_of("rds_automated_snapshot", i)[TAG_JOB]
              for i in rds_backends[EMULATOR_ACCOUNT_ID][DESTINATION].database_snapshots]
    assert sorted(owners) == ["sync_db_keep_none"] + ["sync_db_keep_three"] * 4


# ---------------------------------------------------------------- 17 the real race


RACES = 20  # a race either way half the time shows in 20 runs but once in a million


def test_two_jobs_racing_on_one_ami_never_apply_settings_to_each_others_copy(emulated):
    # GIVEN two jobs on one AMI, B deprecating its copies and A not, in one config: the
    # runner starts both at once on its thread pool (no patching: real interleaving)
    for race in range(RACES):
        identifier = f"web-race-{race}"
        new_ami(identifier, days=race)
        config = {**ami_job("sync_a", identifier, **WAIT),
                  **ami_job("sync_b", identifier, deprecate_after_days=30, **WAIT)}
        # WHEN they run
        results = {r.name: r for r in xregion_sync.run(config)}
        # THEN each has exactly one copy of its own, reports only its own, and A's copy
        # never got B's deprecation
        assert {r.status for r in results.values()} == {"copied"}, (race, results)
        copies = [i for i, a in amis(DESTINATION).items()
                  if copy_tags_of("ec2_ami", i).get("Sync-Identifier") == identifier]
        owners = {i: copy_tags_of("ec2_ami", i)[TAG_JOB] for i in copies}
        assert sorted(owners.values()) == ["sync_a", "sync_b"], (race, owners)
        for name, result in results.items():
            assert owners[result.created_resource] == name, (race, name)
        (a_copy,) = [i for i, owner in owners.items() if owner == "sync_a"]
        assert "DeprecationTime" not in image(a_copy), race
