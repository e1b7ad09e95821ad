"""The core scenarios, end to end, through a deployed state machine: the same code on a real
account and on emulated AWS behind an endpoint URL (targets.py holds what differs).

One run: deploy a throwaway stack; create the smallest real sources, each tagged with the
run's id (an AMI over a 1 GiB volume; a db.t4g.micro with backups on, whose first automated
snapshot RDS takes right after creation; an Aurora cluster with one db.t4g.medium) or use
existing ones named in the environment; then four executions of one config with a job of
each sync type, each checked with the expectations the offline scenarios use:

  copy      every job copies its source                  copied, copy pending
  in sync   once the copies are available                in_sync, nothing to do
  newer     a newer source (a new AMI; RDS's next        copied, copy pending
            automated snapshot), copied
  prune     once those copies are available              in_sync, the first copy pruned

and finally each job keeps exactly its newest copy. Whatever happens, the sweep then deletes
everything tagged with the run's id (and every copy of the run's jobs) in both regions.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from xregion_sync import operate
from xregion_sync.tags import TAG_JOB, tag_dict

from .expectations import mask_ids, rds_copy_id, result
from .targets import EMULATOR_STACK_REGION, Target, backup_and_maintenance_windows

RUN_TAG = "xregion-sync-acceptance-run"
MINUTE = 60
# How long AWS may take, at most, before the harness gives up (it polls; the emulator is done
# at once).
SOURCE_DEADLINE = 45 * MINUTE  # a DB instance, an Aurora cluster and their first snapshot
COPY_DEADLINE = 90 * MINUTE  # cross-region copies of a 1 GiB AMI and of small snapshots
BACKUP_DEADLINE = 75 * MINUTE  # the next automated snapshot, in a window 5-35 minutes away
DELETE_DEADLINE = 30 * MINUTE
EXECUTION_DEADLINE = 30 * MINUTE  # a run of three jobs that do not wait takes minutes
QUIET_FOR = timedelta(hours=12)  # no automated backup of a new source before the run ends

ESTIMATE = """\
xregion-sync acceptance run {run_id} on {target}: {source} -> {destination}
Expected cost on AWS: about US$1 (on-demand list prices, us-east-1/us-west-2, 2026):
  db.t4g.micro PostgreSQL, 20 GiB, ~2.5 h   ~US$0.05   (unless XRS_AWS_DB_INSTANCE names one)
  Aurora PostgreSQL db.t4g.medium, ~2.5 h   ~US$0.20   (unless XRS_AWS_DB_CLUSTER names one)
  cross-region transfer of 2 copies each of a 1 GiB AMI and 2 small snapshots  ~US$0.15
  EBS and RDS snapshot storage for hours, Step Functions, Lambda, S3, logs     < US$0.10
Expected duration on AWS: 1.5 to 3 hours (RDS creation ~20 min, copies ~10-40 min each,
  the next automated RDS snapshot up to ~40 min), then ~15 min of deletions.
If this run dies, `make test-aws-sweep RUN_ID={run_id}` deletes what it made."""


@dataclass(frozen=True)
class Settings:
    source_region: str = "us-east-1"
    destination_region: str = "us-west-2"
    # Existing sources to use as they are (never modified, never deleted), else created.
    db_instance: str | None = None
    db_cluster: str | None = None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        return cls(source_region=environ.get("XRS_AWS_SOURCE_REGION") or cls.source_region,
                   destination_region=environ.get("XRS_AWS_DESTINATION_REGION")
                   or cls.destination_region,
                   db_instance=environ.get("XRS_AWS_DB_INSTANCE") or None,
                   db_cluster=environ.get("XRS_AWS_DB_CLUSTER") or None)

    @property
    def regions(self) -> list[str]:
        """Where the run's resources are: the sources, their copies, the stack."""
        return sorted({self.source_region, self.destination_region, EMULATOR_STACK_REGION})


def new_run_id(now: datetime | None = None) -> str:
    """Unique, and valid as a stack name, an RDS identifier and (after 'sync_') a job name."""
    return f"xrs-acc-{now or datetime.now(UTC):%m%d-%H%M}-{secrets.token_hex(2)}"


def job_names(run_id: str) -> dict[str, str]:
    """The run's job name for each sync type."""
    return {sync_type: f"sync_{run_id}_{kind}" for sync_type, kind in (
        ("ec2_ami", "ami"), ("rds_automated_snapshot", "db"),
        ("rds_cluster_snapshot", "cluster"))}


def is_ours(tags: dict[str, str], run_id: str) -> bool:
    """Made by this run: tagged with its id, or a copy one of its jobs made."""
    return tags.get(RUN_TAG) == run_id or tags.get(TAG_JOB) in job_names(run_id).values()


class AcceptanceFailure(AssertionError):
    """An outcome differs from the expected one, or something did not happen in time."""


# ---------------------------------------------------------------- the run


def run_acceptance(target: Target, settings: Settings, run_id: str,
                   say: Callable[[str], None] = print) -> list[Any]:
    """Play the scenarios; then sweep, whatever happened. Returns what each phase saw."""
    say(ESTIMATE.format(run_id=run_id, target=target.name, source=settings.source_region,
                        destination=settings.destination_region))
    try:
        seen = Run(target, settings, run_id, say).play()
    finally:
        left = sweep(target, settings, run_id, say)
    if left:
        raise AcceptanceFailure(f"the sweep left {left}: delete them by hand")
    return seen


@dataclass
class Run:
    target: Target
    settings: Settings
    run_id: str
    say: Callable[[str], None]
    sources: list[Source] = field(default_factory=list)

    def play(self) -> list[Any]:
        stack = self.deploy()
        self.sources = [AmiSource(self), DbSource(self), ClusterSource(self)]
        for source in self.sources:
            source.create()
        for source in self.sources:
            source.wait_until_ready()
        seen: list[Any] = []
        expected: list[Any] = []

        def phase(name: str, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
            results = self.execute(stack, name)
            seen.append(results)
            expected.append(wanted)
            check(seen, expected, name)
            return results

        first = phase("copy", [s.expect("copied", 1, "pending") for s in self.sources])
        self.wait_for_copies(first)
        phase("in-sync", [s.expect("in_sync", copy_state="available") for s in self.sources])
        for source in self.sources:
            source.make_newer()
        for source in self.sources:
            source.wait_until_ready()
        newer = phase("newer", [s.expect("copied", 2, "pending") for s in self.sources])
        self.wait_for_copies(newer)
        phase("prune", [s.expect("in_sync", copy_state="available", pruned=1)
                        for s in self.sources])
        seen.append([s.copies() for s in self.sources])
        expected.append([[s.expected_copy(2)] for s in self.sources])
        check(seen, expected, "copies kept")
        self.say(f"run {self.run_id}: every phase as expected")
        return seen

    # ------------------------------------------------------------ the parts every source uses

    def client(self, service: str, region: str) -> Any:
        return self.target.session.client(service, region_name=region)

    @property
    def tags(self) -> list[dict[str, str]]:
        return [{"Key": RUN_TAG, "Value": self.run_id}]

    def wait(self, what: str, probe: Callable[[], Any], deadline_seconds: float) -> Any:
        """Poll `probe` until it returns something truthy (returned) or the deadline passes."""
        return wait_for(what, probe, deadline_seconds, self.target.poll_seconds, self.say)

    def deploy(self) -> operate.Stack:
        wanted = self.settings.destination_region
        self.say(f"deploying stack {self.run_id} in {wanted}")
        region = self.target.deploy(self.run_id, wanted, {RUN_TAG: self.run_id})
        return operate.find_stack(self.run_id, region=region, profile=self.target.profile)

    def config(self) -> dict[str, Any]:
        return {source.job_name: {
            "sync_type": source.sync_type, "source_region": self.settings.source_region,
            "destination_region": self.settings.destination_region, **source.job_options()}
            for source in self.sources}

    def execute(self, stack: operate.Stack, phase: str) -> list[dict[str, Any]]:
        """One execution of the deployed state machine (as `xregion-sync start --follow`);
        the per-job results."""
        self.say(f"phase {phase}: starting an execution")
        sfn = stack.client("stepfunctions")
        arn = operate.start_execution(stack, {"config": self.config()},
                                      name=f"{self.run_id}-{phase}")
        description = operate.follow(
            sfn, arn, poll_seconds=self.target.poll_seconds, max_seconds=EXECUTION_DEADLINE,
            on_progress=lambda progress, elapsed: self.say(progress.line(elapsed)))
        document = operate.execution_document(sfn, description)
        results = operate.read_results(document, stack.client("s3"))
        if not results:
            raise AcceptanceFailure(
                f"execution {arn} ended {description['status']} without results: "
                f"{description.get('error')}: {operate.cause_text(description.get('cause'))}")
        return [r.to_dict() for r in results]

    def wait_for_copies(self, results: list[dict[str, Any]]) -> None:
        for source, outcome in zip(self.sources, results, strict=True):
            copy_id = outcome["created_resource"]
            self.wait(f"copy {copy_id} available",
                      partial(_settled, source, copy_id), COPY_DEADLINE)


def check(seen: list[Any], expected: list[Any], phase: str) -> None:
    """The offline scenarios' comparison, over every phase so far (AMI ids masked in order of
    first appearance, so `<ami-1>` is the same copy in every phase)."""
    masked = mask_ids(seen)
    if masked != expected:
        raise AcceptanceFailure(f"phase {phase}: saw {masked[-1]!r}, expected {expected[-1]!r}")


def wait_for(what: str, probe: Callable[[], Any], deadline_seconds: float,
             poll_seconds: float, say: Callable[[str], None] = print) -> Any:
    deadline = time.monotonic() + deadline_seconds
    said = False
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AcceptanceFailure(f"waited {deadline_seconds / MINUTE:.0f} min for {what}")
        if not said:
            say(f"waiting for {what}")
            said = True
        time.sleep(poll_seconds)


def _settled(source: Source, copy_id: str) -> bool:
    state = source.copy_state(copy_id)
    if state in ("failed", "error", "incompatible-restore"):
        raise AcceptanceFailure(f"copy {copy_id} ended {state}")
    return state == "available"


# ---------------------------------------------------------------- the sources


class Source:
    """One job's source in the source region, and the job's copies in the destination."""

    sync_type = ""

    def __init__(self, run: Run):
        self.run = run
        self.job_name = job_names(run.run_id)[self.sync_type]
        self.source_ids: list[str] = []  # each source the job should copy, in order

    def source_client(self, service: str) -> Any:
        return self.run.client(service, self.run.settings.source_region)

    def destination_client(self, service: str) -> Any:
        return self.run.client(service, self.run.settings.destination_region)

    def expect(self, status: str, copy: int | None = None, copy_state: str | None = None,
               pruned: int | None = None) -> dict[str, Any]:
        return result(self.job_name, self.sync_type, status,
                      self.expected_copy(copy) if copy else None, copy_state,
                      [self.expected_copy(pruned)] if pruned else [])

    def expected_copy(self, n: int) -> str:
        """The n-th copy's id as the expectations write it."""
        raise NotImplementedError

    def job_options(self) -> dict[str, Any]:
        raise NotImplementedError

    def create(self) -> None:
        raise NotImplementedError

    def wait_until_ready(self) -> None:
        raise NotImplementedError

    def make_newer(self) -> None:
        raise NotImplementedError

    def copy_state(self, copy_id: str) -> str | None:
        raise NotImplementedError

    def copies(self) -> list[str]:
        raise NotImplementedError


class AmiSource(Source):
    """An AMI over a 1 GiB EBS snapshot (no instance runs); the newer one is a second AMI over
    the same snapshot, the first deregistered, as a new build replaces the old."""

    sync_type = "ec2_ami"

    def expected_copy(self, n: int) -> str:
        return f"<ami-{n}>"

    def job_options(self) -> dict[str, Any]:
        return {"sync_identifier": self.run.run_id, "max_images_to_retain": 0}

    def create(self) -> None:
        ec2 = self.source_client("ec2")
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        volume = ec2.create_volume(Size=1, AvailabilityZone=zone, VolumeType="gp3",
                                   TagSpecifications=[{"ResourceType": "volume",
                                                       "Tags": self.run.tags}])["VolumeId"]
        self.run.wait(f"volume {volume} available", lambda: ec2.describe_volumes(
            VolumeIds=[volume])["Volumes"][0]["State"] == "available", SOURCE_DEADLINE)
        self.snapshot = ec2.create_snapshot(
            VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot",
                                                 "Tags": self.run.tags}])["SnapshotId"]
        self.run.wait(f"snapshot {self.snapshot} completed", lambda: ec2.describe_snapshots(
            SnapshotIds=[self.snapshot])["Snapshots"][0]["State"] == "completed",
            SOURCE_DEADLINE)
        ec2.delete_volume(VolumeId=volume)
        self.register("1")

    def register(self, build: str) -> None:
        ec2 = self.source_client("ec2")
        image_id = ec2.register_image(
            Name=f"{self.run.run_id}-{build}", Architecture="x86_64", RootDeviceName="/dev/xvda",
            VirtualizationType="hvm", EnaSupport=True,
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {
                "SnapshotId": self.snapshot, "VolumeType": "gp3", "DeleteOnTermination": True}}],
            TagSpecifications=[{"ResourceType": "image", "Tags": [
                *self.run.tags, {"Key": "Sync-Identifier", "Value": self.run.run_id}]}],
        )["ImageId"]
        self.source_ids.append(image_id)

    def wait_until_ready(self) -> None:
        ec2, image_id = self.source_client("ec2"), self.source_ids[-1]
        self.run.wait(f"AMI {image_id} available", lambda: ec2.describe_images(
            ImageIds=[image_id])["Images"][0]["State"] == "available", SOURCE_DEADLINE)

    def make_newer(self) -> None:
        old = self.source_ids[-1]
        self.register("2")
        # The snapshot stays: the new AMI uses it (the sweep deletes it).
        self.source_client("ec2").deregister_image(ImageId=old)

    def copy_state(self, copy_id: str) -> str | None:
        images = self.destination_client("ec2").describe_images(ImageIds=[copy_id])["Images"]
        return images[0]["State"] if images else None

    def copies(self) -> list[str]:
        found = _images(self.destination_client("ec2"), f"tag:{TAG_JOB}", [self.job_name])
        return sorted(image["ImageId"] for image in found)


class _RdsSource(Source):
    """A DB instance or an Aurora cluster: its automated snapshots are the job's sources."""

    kind = ""  # "instance" or "cluster"
    name_suffix = ""
    existing: str | None = None

    def __init__(self, run: Run):
        super().__init__(run)
        self.created = self.existing is None
        self.identifier = self.existing or f"{run.run_id}-{self.name_suffix}"

    def expected_copy(self, n: int) -> str:
        return rds_copy_id(self.source_ids[n - 1])

    def wait_until_ready(self) -> None:
        """Wait for an available automated snapshot newer than those the job copied."""
        snapshot_id = self.run.wait(
            f"a new automated snapshot of {self.kind} {self.identifier}",
            self.newest_automated_snapshot, BACKUP_DEADLINE if self.source_ids
            else SOURCE_DEADLINE)
        self.source_ids.append(snapshot_id)

    def newest_automated_snapshot(self) -> str | None:
        found = [s for s in self.automated_snapshots() if s["Status"] == "available"]
        newest = max(found, key=lambda s: s["SnapshotCreateTime"], default=None)
        if newest is None or newest["Id"] in self.source_ids:
            return None
        return str(newest["Id"])

    def make_newer(self) -> None:
        if self.created:  # a source the user named is never modified: RDS takes its next
            self.run.target.take_automated_backup(  # automated snapshot in its own time
                self.run.settings.source_region, **{f"db_{self.kind}": self.identifier})

    def automated_snapshots(self) -> list[dict[str, Any]]:
        raise NotImplementedError


class DbSource(_RdsSource):
    sync_type = "rds_automated_snapshot"
    kind = "instance"
    name_suffix = "db"

    def __init__(self, run: Run):
        self.existing = run.settings.db_instance
        super().__init__(run)

    def job_options(self) -> dict[str, Any]:
        return {"db_instance": self.identifier, "max_snapshots_to_retain": 0}

    def create(self) -> None:
        if not self.created:
            return
        self.source_client("rds").create_db_instance(
            DBInstanceIdentifier=self.identifier, Engine="postgres",
            DBInstanceClass="db.t4g.micro", AllocatedStorage=20, StorageType="gp3",
            StorageEncrypted=False, MasterUsername="acceptance",
            MasterUserPassword=secrets.token_urlsafe(24), PubliclyAccessible=False,
            BackupRetentionPeriod=1, CopyTagsToSnapshot=True, Tags=self.run.tags,
            **quiet_windows())

    def automated_snapshots(self) -> list[dict[str, Any]]:
        return [{"Id": s["DBSnapshotIdentifier"], **s} for s in _pages(
            self.source_client("rds"), "describe_db_snapshots", "DBSnapshots",
            DBInstanceIdentifier=self.identifier, SnapshotType="automated")]

    def copy_state(self, copy_id: str) -> str | None:
        return _rds_status(lambda: self.destination_client("rds").describe_db_snapshots(
            DBSnapshotIdentifier=copy_id)["DBSnapshots"])

    def copies(self) -> list[str]:
        return sorted(s["DBSnapshotIdentifier"] for s in _pages(
            self.destination_client("rds"), "describe_db_snapshots", "DBSnapshots",
            SnapshotType="manual") if tag_dict(s.get("TagList")).get(TAG_JOB) == self.job_name)


class ClusterSource(_RdsSource):
    sync_type = "rds_cluster_snapshot"
    kind = "cluster"
    name_suffix = "cluster"

    def __init__(self, run: Run):
        self.existing = run.settings.db_cluster
        super().__init__(run)

    def job_options(self) -> dict[str, Any]:
        return {"db_cluster": self.identifier, "max_snapshots_to_retain": 0}

    def create(self) -> None:
        if not self.created:
            return
        rds = self.source_client("rds")
        rds.create_db_cluster(
            DBClusterIdentifier=self.identifier, Engine="aurora-postgresql",
            StorageEncrypted=False, MasterUsername="acceptance",
            MasterUserPassword=secrets.token_urlsafe(24), BackupRetentionPeriod=1,
            CopyTagsToSnapshot=True, Tags=self.run.tags, **quiet_windows())
        rds.create_db_instance(
            DBInstanceIdentifier=f"{self.identifier}-1", DBClusterIdentifier=self.identifier,
            Engine="aurora-postgresql", DBInstanceClass="db.t4g.medium",
            PubliclyAccessible=False, Tags=self.run.tags)

    def automated_snapshots(self) -> list[dict[str, Any]]:
        return [{"Id": s["DBClusterSnapshotIdentifier"], **s} for s in _pages(
            self.source_client("rds"), "describe_db_cluster_snapshots", "DBClusterSnapshots",
            DBClusterIdentifier=self.identifier, SnapshotType="automated")]

    def copy_state(self, copy_id: str) -> str | None:
        return _rds_status(lambda: self.destination_client("rds").describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=copy_id)["DBClusterSnapshots"])

    def copies(self) -> list[str]:
        return sorted(s["DBClusterSnapshotIdentifier"] for s in _pages(
            self.destination_client("rds"), "describe_db_cluster_snapshots",
            "DBClusterSnapshots", SnapshotType="manual")
            if tag_dict(s.get("TagList")).get(TAG_JOB) == self.job_name)


def quiet_windows() -> dict[str, str]:
    """Backup and maintenance windows of a new DB instance or cluster far from the run: RDS
    picks a random backup window otherwise, and a backup it took during the run would be a
    newer source before the `newer` phase (take_automated_backup moves it when it is time)."""
    return backup_and_maintenance_windows(datetime.now(UTC) + QUIET_FOR)


def _rds_status(describe: Callable[[], list[dict[str, Any]]]) -> str | None:
    try:
        found = describe()
    except ClientError as exc:
        if exc.response["Error"]["Code"].endswith("NotFoundFault"):
            return None
        raise
    return str(found[0]["Status"]) if found else None


def _pages(client: Any, operation: str, key: str, **parameters: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**parameters):
        yield from page[key]


def _images(ec2: Any, tag_filter: str, values: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": tag_filter, "Values": values}])["Images"]
    return found


# ---------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class Found:
    kind: str
    region: str
    id: str

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.region})"


def inventory(target: Target, settings: Settings, run_id: str) -> list[Found]:
    """Everything in both regions that is tagged with the run's id or is a copy of its jobs,
    in the order the sweep deletes it."""
    found: list[Found] = []
    for kind, lister in LISTERS:
        for region in settings.regions:
            client = target.session.client(lister[0], region_name=region)
            found += [Found(kind, region, resource_id)
                      for resource_id in lister[1](client, run_id)]
    return found


def sweep(target: Target, settings: Settings, run_id: str,
          say: Callable[[str], None] = print) -> list[Found]:
    """Delete everything of the run (inventory()); returns what is still there."""
    found = inventory(target, settings, run_id)
    say(f"sweep of run {run_id}: {len(found)} resources" + "".join(
        f"\n  {resource}" for resource in found))
    for resource in found:
        try:
            DELETERS[resource.kind](target, resource)
        except ClientError as exc:  # reported, and the rest still deleted
            if "NotFound" not in exc.response["Error"]["Code"]:  # gone with what used it
                say(f"  could not delete {resource}: {exc}")
        except AcceptanceFailure as exc:
            say(f"  {exc}")
    left = inventory(target, settings, run_id)
    say(f"sweep of run {run_id}: " + ("nothing left" if not left else
                                      "left " + ", ".join(map(str, left))))
    return left


def _tagged(items: Iterable[dict[str, Any]], run_id: str, id_key: str,
            tags_key: str = "TagList") -> list[str]:
    return [item[id_key] for item in items if is_ours(tag_dict(item.get(tags_key)), run_id)]


def _stacks(cloudformation: Any, run_id: str) -> list[str]:
    stacks = _pages(cloudformation, "describe_stacks", "Stacks")
    return _tagged((s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"), run_id,
                   "StackName", "Tags")


def _db_instances(rds: Any, run_id: str) -> list[str]:
    return _tagged(_pages(rds, "describe_db_instances", "DBInstances"), run_id,
                   "DBInstanceIdentifier")


def _db_clusters(rds: Any, run_id: str) -> list[str]:
    return _tagged(_pages(rds, "describe_db_clusters", "DBClusters"), run_id,
                   "DBClusterIdentifier")


def _db_snapshots(snapshot_type: str) -> Callable[[Any, str], list[str]]:
    def listed(rds: Any, run_id: str) -> list[str]:
        return _tagged(_pages(rds, "describe_db_snapshots", "DBSnapshots",
                              SnapshotType=snapshot_type), run_id, "DBSnapshotIdentifier")
    return listed


def _db_cluster_snapshots(snapshot_type: str) -> Callable[[Any, str], list[str]]:
    def listed(rds: Any, run_id: str) -> list[str]:
        return _tagged(_pages(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots",
                              SnapshotType=snapshot_type), run_id, "DBClusterSnapshotIdentifier")
    return listed


def _amis(ec2: Any, run_id: str) -> list[str]:
    found = {image["ImageId"] for image in [
        *_images(ec2, f"tag:{RUN_TAG}", [run_id]),
        *_images(ec2, f"tag:{TAG_JOB}", list(job_names(run_id).values()))]}
    return sorted(found)


def _ebs_snapshots(ec2: Any, run_id: str) -> list[str]:
    return _tagged(_pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                          Filters=[{"Name": f"tag:{RUN_TAG}", "Values": [run_id]}]),
                   run_id, "SnapshotId", "Tags")


def _volumes(ec2: Any, run_id: str) -> list[str]:
    return _tagged(_pages(ec2, "describe_volumes", "Volumes",
                          Filters=[{"Name": f"tag:{RUN_TAG}", "Values": [run_id]}]),
                   run_id, "VolumeId", "Tags")


# (kind, (service, lister)), in the order of deletion: what uses a resource goes first.
LISTERS: list[tuple[str, tuple[str, Callable[[Any, str], list[str]]]]] = [
    ("stack", ("cloudformation", _stacks)),
    ("DB instance", ("rds", _db_instances)),
    ("DB cluster", ("rds", _db_clusters)),
    ("automated DB snapshot", ("rds", _db_snapshots("automated"))),
    ("automated DB cluster snapshot", ("rds", _db_cluster_snapshots("automated"))),
    ("DB snapshot", ("rds", _db_snapshots("manual"))),
    ("DB cluster snapshot", ("rds", _db_cluster_snapshots("manual"))),
    ("AMI", ("ec2", _amis)),
    ("EBS snapshot", ("ec2", _ebs_snapshots)),
    ("EBS volume", ("ec2", _volumes)),
]


def _delete_stack(target: Target, found: Found) -> None:
    """Empty the run bucket (every version: CloudFormation deletes only an empty bucket),
    then undeploy and wait until the stack is gone."""
    session = target.session
    cloudformation = session.client("cloudformation", region_name=found.region)
    stack = cloudformation.describe_stacks(StackName=found.id)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or ()}
    bucket = outputs.get(operate.RUN_BUCKET_OUTPUT)
    if bucket:
        s3 = session.client("s3", region_name=found.region)
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
    target.undeploy(found.id, found.region)
    wait_for(f"{found} deleted", lambda: not _stacks_named(cloudformation, found.id),
             DELETE_DEADLINE, target.poll_seconds)


def _stacks_named(cloudformation: Any, name: str) -> list[dict[str, Any]]:
    try:
        stacks: list[dict[str, Any]] = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response["Error"].get("Message", ""):
            return []
        raise
    return [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]


def _delete_db_instance(target: Target, found: Found) -> None:
    rds = target.session.client("rds", region_name=found.region)
    rds.delete_db_instance(DBInstanceIdentifier=found.id, SkipFinalSnapshot=True,
                           DeleteAutomatedBackups=True)
    wait_for(f"{found} deleted", lambda: _rds_status(lambda: rds.describe_db_instances(
        DBInstanceIdentifier=found.id)["DBInstances"]) is None, DELETE_DEADLINE,
        target.poll_seconds)


def _delete_db_cluster(target: Target, found: Found) -> None:
    rds = target.session.client("rds", region_name=found.region)
    rds.delete_db_cluster(DBClusterIdentifier=found.id, SkipFinalSnapshot=True,
                          DeleteAutomatedBackups=True)
    wait_for(f"{found} deleted", lambda: _rds_status(lambda: rds.describe_db_clusters(
        DBClusterIdentifier=found.id)["DBClusters"]) is None, DELETE_DEADLINE,
        target.poll_seconds)


def _client_for(service: str, call: str, key: str, **fixed: Any
                ) -> Callable[[Target, Found], None]:
    def delete(target: Target, found: Found) -> None:
        client = target.session.client(service, region_name=found.region)
        getattr(client, call)(**{key: found.id}, **fixed)
    return delete


def _gone_with_its_database(target: Target, found: Found) -> None:
    """RDS deletes automated snapshots only with their DB instance or cluster (deleted above
    with DeleteAutomatedBackups); the inventory after the sweep shows they went."""


DELETERS: dict[str, Callable[[Target, Found], None]] = {
    "stack": _delete_stack,
    "DB instance": _delete_db_instance,
    "DB cluster": _delete_db_cluster,
    "automated DB snapshot": _gone_with_its_database,
    "automated DB cluster snapshot": _gone_with_its_database,
    "DB snapshot": _client_for("rds", "delete_db_snapshot", "DBSnapshotIdentifier"),
    "DB cluster snapshot": _client_for("rds", "delete_db_cluster_snapshot",
                                       "DBClusterSnapshotIdentifier"),
    "AMI": _client_for("ec2", "deregister_image", "ImageId", DeleteAssociatedSnapshots=True),
    "EBS snapshot": _client_for("ec2", "delete_snapshot", "SnapshotId"),
    "EBS volume": _client_for("ec2", "delete_volume", "VolumeId"),
}
