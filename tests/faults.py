"""Fault injection for tests: AWS API errors on the wire, Lambda service errors in the
local state machine, and the checks that matter after a fault (no duplicate copy, nothing
deleted that the tool did not create). Counts feed the suite's one-line summary."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from xregion_sync import aws
from xregion_sync.tags import (
    TAG_JOB,
    TAG_SOURCE_ID,
    TAG_SOURCE_REGION,
    decode_source_id,
    legacy_copy_tag_key,
    parse_legacy_value,
    tag_dict,
)
from xregion_sync_emulator.moto_seam import BotocoreStubber, MockRawResponse

# How each protocol answers an error (status, body), as AWS does.
_ERROR_BODIES = {
    "ec2": '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
           "<Message>{message}</Message></Error></Errors><RequestID>fault</RequestID></Response>",
    "rds": '<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error>'
           "<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
           "<RequestId>fault</RequestId></ErrorResponse>",
}
_STATUS = {"RequestLimitExceeded": 503, "Throttling": 400}
# botocore calls every before-send handler, not only until one answers: a request we
# answer is marked so that moto does not also carry it out.
_FAULT_HEADER = "X-Injected-Fault"


@dataclass
class FaultStats:
    """Totals over the fault suite, printed by conftest's terminal summary."""

    injected: int = 0
    jobs: int = 0
    jobs_correct: int = 0
    duplicate_copies: int = 0
    foreign_deletions: int = 0
    unproven_deletions: int = 0
    successes_without_copy: int = 0
    without_recovery_point: int = 0
    changed_by_others: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def line(self) -> str:
        return (f"faults injected: {self.injected}, jobs correct: {self.jobs_correct}/"
                f"{self.jobs}, duplicate copies: {self.duplicate_copies}, resources deleted "
                f"that the tool did not create: {self.foreign_deletions}, resources deleted "
                f"without provenance: {self.unproven_deletions}, successes with no copy in "
                f"the destination: {self.successes_without_copy}, jobs left without a "
                f"recovery point while their source exists: {self.without_recovery_point}, "
                f"copies changed by a job that does not own them: {self.changed_by_others}")


STATS = FaultStats()

Decide = Callable[[str, str], str | None]  # (service, operation) -> error code or None


def every_nth(n: int, operations: dict[str, str]) -> Decide:
    """Fail every n-th call of the given operations with the given codes (thread-safe).

    A call is never failed twice in a row on one thread: the SDK retries on the same
    thread, and with the count shared by all threads a call could otherwise be failed on
    every attempt now and then, which would test luck, not the retry path."""
    counter, lock, last = itertools.count(1), threading.Lock(), threading.local()

    def decide(_service: str, operation: str) -> str | None:
        if operation not in operations:
            return None
        if getattr(last, "failed", None) == operation:
            last.failed = None
            return None
        with lock:
            code = operations[operation] if next(counter) % n == 0 else None
        last.failed = operation if code else None
        return code

    return decide


def first_calls(k: int, operation: str, code: str) -> Decide:
    """Fail the first k calls of one operation."""
    remaining, lock = [k], threading.Lock()

    def decide(_service: str, called: str) -> str | None:
        with lock:
            if called == operation and remaining[0] > 0:
                remaining[0] -= 1
                return code
        return None

    return decide


@contextmanager
def aws_faults(decide: Decide, message: str | None = None) -> Iterator[Counter]:
    """Answer the calls `decide` picks with an AWS error (with `message`, else a short
    one), before moto sees them.

    SDK retry backoff is zeroed so retried throttles cost no wall time."""
    injected: Counter = Counter()
    original_client_for = aws.client_for

    def answer(request, event_name: str, **_kwargs):
        _, service, operation = event_name.split(".")
        code = decide(service, operation)
        if code is None:
            return None
        injected[(operation, code)] += 1
        with STATS.lock:
            STATS.injected += 1
        request.headers[_FAULT_HEADER] = code
        body = _ERROR_BODIES[service].format(code=code, message=message or f"injected {code}")
        return AWSResponse(request.url, _STATUS.get(code, 400), {}, MockRawResponse(body))

    def client_for(settings, service, region):
        client = original_client_for(settings, service, region)
        if not getattr(client, "_faults_hooked", False):
            client.meta.events.register_first("before-send", answer)
            client._faults_hooked = True
        return client

    moto_answers = BotocoreStubber.__call__

    def moto_unless_injected(self, event_name, request, **kwargs):
        if _FAULT_HEADER in request.headers:
            return None
        return moto_answers(self, event_name, request, **kwargs)

    aws.clear_cache()
    try:
        with mock.patch.object(aws, "client_for", client_for), \
                mock.patch.object(BotocoreStubber, "__call__", moto_unless_injected), \
                mock.patch("botocore.retries.standard.ExponentialBackoff.delay_amount",
                           return_value=0):
            yield injected
    finally:
        aws.clear_cache()


def _job_of(body) -> str | None:
    """The job name in a task's payload ({"job": {"name": ...}, ...}), None without one."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return None
    job = payload.get("job") if isinstance(payload, dict) else None
    return job.get("name") if isinstance(job, dict) else None


@contextmanager
def lambda_faults(decide: Callable[[str, int], str | None], *,
                  per_job: bool = False) -> Iterator[Counter]:
    """Make the Lambda service answer invokes with the error `decide(function name, call
    number)` picks; with `per_job`, calls are numbered per function and job (a job's
    first Start Copy is call 1 whichever job the Map runs first). For 'ServiceException'
    the handler runs first and its answer is lost: the work is done but the state machine
    sees a failure (a crash after the copy call)."""
    from xregion_sync_emulator.moto_seam import LambdaClientError, LambdaSimpleBackend

    injected: Counter = Counter()
    calls: Counter = Counter()
    dispatch = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        name = function_name.rsplit(":", 1)[-1]
        key = (name, _job_of(body)) if per_job else name
        calls[key] += 1
        code = decide(name, calls[key])
        if code is None:
            return dispatch(self, function_name, qualifier, body, headers, response_headers)
        if code == "ServiceException":  # the handler's work happened, its answer is lost
            dispatch(self, function_name, qualifier, body, headers, response_headers)
        injected[(name, code)] += 1
        with STATS.lock:
            STATS.injected += 1
        raise LambdaClientError(code, f"injected {code}")

    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
        yield injected


# ---------------------------------------------------------------- what must hold afterwards

LIVE_AMI_STATES = ("pending", "available")
LIVE_SNAPSHOT_STATUSES = ("creating", "copying", "pending", "available")


def _copy_key(tags: dict[str, str]) -> tuple[str, str, str]:
    """Which job copied which source from where: one live copy each, else a duplicate."""
    return tags.get(TAG_JOB, ""), tags.get(TAG_SOURCE_REGION, ""), tags[TAG_SOURCE_ID]


def _cluster_snapshots(region: str, **params) -> list[dict]:
    rds = boto3.client("rds", region_name=region)
    snapshots: list[dict] = []
    for page in rds.get_paginator("describe_db_cluster_snapshots").paginate(**params):
        snapshots += page["DBClusterSnapshots"]
    return snapshots


def destination_copies(region: str, exclude: Collection[str] = ()) -> dict[tuple, list[str]]:
    """Live copies this tool made in `region` (AMIs, DB snapshots, DB cluster snapshots),
    by (job, source region, source id); `exclude`: ids the test made itself (copies made
    by hand)."""
    copies: dict[tuple, list[str]] = {}
    ec2 = boto3.client("ec2", region_name=region)
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        tags = tag_dict(image.get("Tags"))
        if TAG_SOURCE_ID in tags and image["State"] in LIVE_AMI_STATES \
                and image["ImageId"] not in exclude:
            copies.setdefault(_copy_key(tags), []).append(image["ImageId"])
    rds = boto3.client("rds", region_name=region)
    for snapshot in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        tags = tag_dict(snapshot.get("TagList"))
        if TAG_SOURCE_ID in tags and snapshot["Status"] != "failed" \
                and snapshot["DBSnapshotIdentifier"] not in exclude:
            copies.setdefault(_copy_key(tags), []).append(snapshot["DBSnapshotIdentifier"])
    for snapshot in _cluster_snapshots(region, SnapshotType="manual"):
        tags = tag_dict(snapshot.get("TagList"))
        if TAG_SOURCE_ID in tags and snapshot["Status"] != "failed" \
                and snapshot["DBClusterSnapshotIdentifier"] not in exclude:
            copies.setdefault(_copy_key(tags), []).append(
                snapshot["DBClusterSnapshotIdentifier"])
    return copies


def duplicate_copies(region: str, exclude: Collection[str] = ()) -> int:
    return sum(len(ids) - 1 for ids in destination_copies(region, exclude).values())


@dataclass(frozen=True)
class Found:
    """One AMI, DB snapshot or DB cluster snapshot seen by `inventory`.

    ours: it carries this tool's tracking tag (or the original tool's marker).
    proven: it is provably a copy the tool made: the tags, and the copy's own record of
    its source agreeing with them (EC2: SourceImageRegion/SourceImageId; RDS DB snapshot:
    SourceRegion; DB cluster snapshot: SourceDBClusterSnapshotArn, its region and id).
    Where the emulator does not report those fields (no resource of the kind in the
    inventory carries them), the tag check stands in."""

    ours: bool
    proven: bool
    owner: str | None = None  # the job named in its xregion-sync:job tag
    # What a job could change on it: its tags, deprecation time, launch permissions.
    fingerprint: str = ""

    def __bool__(self) -> bool:  # `inventory()[id]` read as "ours", as before
        return self.ours


def _ami_proven(image: dict, tags: dict[str, str], strict: bool) -> bool:
    if TAG_JOB not in tags:
        return False
    if not strict:
        return True
    return (image.get("SourceImageRegion") == tags.get(TAG_SOURCE_REGION)
            and image.get("SourceImageId") == tags.get(TAG_SOURCE_ID))


def _legacy_snapshot_region(tags: dict[str, str]) -> str | None:
    prefix = legacy_copy_tag_key("")
    for key, value in tags.items():
        if key.startswith(prefix) and parse_legacy_value(value):
            return key[len(prefix):]
    return None


def _snapshot_proven(snapshot: dict, tags: dict[str, str], strict: bool) -> bool:
    if TAG_JOB in tags and TAG_SOURCE_REGION in tags:
        region = tags[TAG_SOURCE_REGION]
    else:
        region = _legacy_snapshot_region(tags)
        if region is None:
            return False
    return not strict or snapshot.get("SourceRegion") == region


def _recorded_cluster_source(snapshot: dict) -> tuple[str | None, str | None]:
    """(source region, source snapshot id) from SourceDBClusterSnapshotArn: the ARN's 4th
    field and its id, as rds_cluster_snapshot reads it; (None, None) without one."""
    arn = snapshot.get("SourceDBClusterSnapshotArn")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None, None
    return arn.split(":")[3], decode_source_id(arn)


def _cluster_snapshot_proven(snapshot: dict, tags: dict[str, str], strict: bool) -> bool:
    """Our tags name a source, and AWS records the copy as made from that very source
    (no legacy marker: the original tool had no cluster type)."""
    if TAG_JOB not in tags or TAG_SOURCE_REGION not in tags or TAG_SOURCE_ID not in tags:
        return False
    return not strict or _recorded_cluster_source(snapshot) == (
        tags[TAG_SOURCE_REGION], decode_source_id(tags[TAG_SOURCE_ID]))


def inventory(regions: tuple[str, ...]) -> dict[str, Found]:
    """Every AMI, DB snapshot and manual DB cluster snapshot in `regions` -> Found(ours,
    proven). (Automated cluster snapshots are left out: AWS refuses to delete them.)"""
    images, snapshots, cluster_snapshots, image_regions = [], [], [], {}
    for region in regions:
        listed = boto3.client("ec2", region_name=region).describe_images(
            Owners=["self"])["Images"]
        images += listed
        image_regions.update(dict.fromkeys((i["ImageId"] for i in listed), region))
        snapshots += boto3.client("rds", region_name=region).describe_db_snapshots()[
            "DBSnapshots"]
        cluster_snapshots += _cluster_snapshots(region, SnapshotType="manual")
    strict_ami = any("SourceImageId" in image for image in images)
    strict_rds = any("SourceRegion" in snapshot for snapshot in snapshots)
    strict_cluster = any("SourceDBClusterSnapshotArn" in s for s in cluster_snapshots)
    found = {}
    for image in images:
        tags = tag_dict(image.get("Tags"))
        found[image["ImageId"]] = Found(TAG_JOB in tags, _ami_proven(image, tags, strict_ami),
                                        tags.get(TAG_JOB),
                                        _ami_fingerprint(image_regions[image["ImageId"]],
                                                         image, tags) if TAG_JOB in tags else "")
    for snapshot in snapshots:
        tags = tag_dict(snapshot.get("TagList"))
        ours = TAG_JOB in tags or _legacy_snapshot_region(tags) is not None
        found[snapshot["DBSnapshotIdentifier"]] = Found(
            ours, _snapshot_proven(snapshot, tags, strict_rds), tags.get(TAG_JOB),
            repr(sorted(tags.items())))
    for snapshot in cluster_snapshots:
        tags = tag_dict(snapshot.get("TagList"))
        found[snapshot["DBClusterSnapshotIdentifier"]] = Found(
            TAG_JOB in tags, _cluster_snapshot_proven(snapshot, tags, strict_cluster),
            tags.get(TAG_JOB), repr(sorted(tags.items())))
    return found


def _ami_fingerprint(region: str, image: dict, tags: dict[str, str]) -> str:
    permissions = boto3.client("ec2", region_name=region).describe_image_attribute(
        ImageId=image["ImageId"], Attribute="launchPermission").get("LaunchPermissions")
    return repr((sorted(tags.items()), image.get("DeprecationTime"), permissions))


def changed_by_others(before: dict[str, Found], after: dict[str, Found],
                      jobs: Collection[str]) -> list[str]:
    """The tool's copies that changed (tags, deprecation, launch permissions) in a run of
    jobs none of which owns them (its own name or one it was renamed from)."""
    return [rid for rid, seen in before.items() if seen.owner and seen.owner not in jobs
            and rid in after and after[rid].fingerprint != seen.fingerprint]


def foreign_deletions(before: dict[str, Found], after: dict[str, Found]) -> list[str]:
    return [rid for rid, seen in before.items() if not seen.ours and rid not in after]


def unproven_deletions(before: dict[str, Found], after: dict[str, Found]) -> list[str]:
    """Deleted resources that were not provably made by the tool."""
    return [rid for rid, seen in before.items() if not seen.proven and rid not in after]


# ---------------------------------------------------------------- successes without a copy


def _ami_live(region: str, image_id: str, source_id: str | None = None) -> bool:
    ec2 = boto3.client("ec2", region_name=region)
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError:
        return False
    return any(image["State"] in LIVE_AMI_STATES and (
        source_id is None or image.get("SourceImageId", source_id) == source_id)
        for image in images)


def _snapshot_live(region: str, snapshot_id: str) -> bool:
    rds = boto3.client("rds", region_name=region)
    try:
        found = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"]
    except ClientError:
        return False
    return any(s["Status"] in LIVE_SNAPSHOT_STATUSES for s in found)


def _cluster_snapshot_live(region: str, snapshot_id: str) -> bool:
    rds = boto3.client("rds", region_name=region)
    try:
        found = rds.describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=snapshot_id)["DBClusterSnapshots"]
    except ClientError:
        return False
    return any(s["Status"] in LIVE_SNAPSHOT_STATUSES for s in found)


_LIVE = {"ec2_ami": _ami_live, "rds_automated_snapshot": _snapshot_live,
         "rds_cluster_snapshot": _cluster_snapshot_live}


def _same_source(tag_value: str, source_id: str) -> bool:
    """Whether a source-id tag names `source_id`: as the tool writes it now (the source's
    ARN) or as earlier versions did (the raw id)."""
    return decode_source_id(tag_value) == source_id


def _live_copy_of_source(spec, source: dict, owners: Collection[str] | None = None) -> bool:
    """Is there a live tracked copy of `source` (as the job's resolve_source saw it) in
    the job's destination (or the original tool's copy it names)? With `owners`, only a
    copy tagged with one of those job names (or the original tool's) counts."""
    region = spec.destination_region

    def owned(tags: dict[str, str]) -> bool:
        return owners is None or tags.get(TAG_JOB) in owners
    if spec.sync_type == "ec2_ami":
        ec2 = boto3.client("ec2", region_name=region)
        for image in ec2.describe_images(Owners=["self"])["Images"]:
            tags = tag_dict(image.get("Tags"))
            if (tags.get(TAG_SOURCE_ID) == source["id"] and owned(tags)
                    and tags.get(TAG_SOURCE_REGION) == spec.source_region
                    and image["State"] in LIVE_AMI_STATES
                    and image.get("SourceImageId", source["id"]) == source["id"]):
                return True
        legacy = source.get("legacy_copy_id")
        return bool(legacy) and _ami_live(region, legacy, source["id"])
    if spec.sync_type == "rds_cluster_snapshot":
        return _live_cluster_copy_of_source(spec, source, owned)
    rds = boto3.client("rds", region_name=region)
    for snapshot in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        tags = tag_dict(snapshot.get("TagList"))
        if snapshot["Status"] not in LIVE_SNAPSHOT_STATUSES:
            continue
        if tags.get(TAG_SOURCE_REGION) == spec.source_region and _same_source(
                tags.get(TAG_SOURCE_ID, ""), source["id"]) and owned(tags):
            return True
        legacy = parse_legacy_value(tags.get(legacy_copy_tag_key(spec.source_region)))
        if legacy and legacy[1] == source["id"]:
            return True
    return False


def _live_cluster_copy_of_source(spec, source: dict,
                                 owned: Callable[[dict[str, str]], bool]) -> bool:
    """A live manual cluster snapshot in the destination whose tags name `source` from
    the job's source region, and which AWS records as copied from it (when it records)."""
    for snapshot in _cluster_snapshots(spec.destination_region, SnapshotType="manual"):
        tags = tag_dict(snapshot.get("TagList"))
        if (snapshot["Status"] in LIVE_SNAPSHOT_STATUSES and owned(tags)
                and tags.get(TAG_SOURCE_REGION) == spec.source_region
                and _same_source(tags.get(TAG_SOURCE_ID, ""), source["id"])
                and _recorded_cluster_source(snapshot) in (
                    (None, None), (spec.source_region, source["id"]))):
            return True
    return False


def successes_without_copy(results: list[dict], config: dict) -> list[str]:
    """Jobs that reported success (copied, in_sync) whose copy is not pending/available in
    the destination now: for `copied` the created_resource; for `in_sync` (results do not
    name the copy found) a live tracked copy of the job's current source."""
    from xregion_sync.syncs import SYNC_TYPES

    missing = []
    for result, spec in _successes(results, config):
        if result["status"] == "copied":
            live = _LIVE[spec.sync_type](spec.destination_region, result["created_resource"])
        else:
            try:
                source = SYNC_TYPES[spec.sync_type].resolve_source(spec)
            except Exception:  # noqa: BLE001 - the source moved on since: nothing to check
                continue
            live = _live_copy_of_source(spec, source)
        if not live:
            missing.append(result["name"])
    return missing


def _successes(results: list[dict], config: dict) -> Iterator[tuple[dict, Any]]:
    """(result, job spec) of each job of `config` that reported copied or in_sync."""
    from xregion_sync import load_config

    specs = {spec.name: spec for spec in load_config(config).jobs}
    for result in results:
        spec = specs.get(result["name"])
        if spec is not None and result["status"] in ("copied", "in_sync"):
            yield result, spec


def without_recovery_point(results: list[dict], config: dict) -> list[str]:
    """Jobs that reported success (copied, in_sync) with no live copy of their current
    source of their own (their name, a name in their renamed_from, or the original tool's
    copy): another job's copy is no recovery point, that job's retention may delete it."""
    from xregion_sync.syncs import SYNC_TYPES
    from xregion_sync.syncs.base import lineage

    missing = []
    for result, spec in _successes(results, config):
        try:
            source = SYNC_TYPES[spec.sync_type].resolve_source(spec)
        except Exception:  # noqa: BLE001, S112 - the source is gone: nothing to keep
            continue
        if not _live_copy_of_source(spec, source, owners=lineage(spec)):
            missing.append(result["name"])
    return missing


def record(jobs: int, correct: int, duplicates: int, foreign: int, unproven: int = 0,
           without_copy: int = 0, no_recovery_point: int = 0, changed: int = 0) -> None:
    with STATS.lock:
        STATS.without_recovery_point += no_recovery_point
        STATS.changed_by_others += changed
        STATS.jobs += jobs
        STATS.jobs_correct += correct
        STATS.duplicate_copies += duplicates
        STATS.foreign_deletions += foreign
        STATS.unproven_deletions += unproven
        STATS.successes_without_copy += without_copy


SOURCE, DESTINATION = "us-east-1", "us-west-2"


def check_world(results: list[dict], expected: dict[str, str | Collection[str]],
                before: dict[str, Found], config: dict | None = None, *,
                regions: tuple[str, ...] = (SOURCE, DESTINATION),
                destination: str = DESTINATION, made_by_hand: Collection[str] = ()) -> None:
    """Statuses as expected (a status, or a set of acceptable ones), no duplicate copy,
    nothing foreign or unproven deleted, every success backed by a copy (given the
    `config` the results came from); then record the counts in the summary line."""
    statuses = {r["name"]: r["status"] for r in results}

    def matches(name: str, want) -> bool:
        got = statuses.get(name)
        return got == want if isinstance(want, str) else got in want

    duplicates = duplicate_copies(destination, made_by_hand)
    after = inventory(regions)
    foreign = foreign_deletions(before, after)
    unproven = unproven_deletions(before, after)
    without_copy = successes_without_copy(results, config) if config is not None else []
    no_recovery_point = without_recovery_point(results, config) if config is not None else []
    changed = changed_by_others(before, after, _lineages(config)) if config is not None else []
    correct = sum(matches(name, want) for name, want in expected.items())
    record(len(expected), correct, duplicates, len(foreign), len(unproven), len(without_copy),
           len(no_recovery_point), len(changed))
    assert all(matches(name, want) for name, want in expected.items()) \
        and set(statuses) == set(expected), (statuses, expected)
    assert duplicates == 0
    assert foreign == []
    assert unproven == []
    assert without_copy == []
    assert no_recovery_point == []
    assert changed == []


def _lineages(config: dict) -> set[str]:
    """The names whose copies the jobs of `config` may change: theirs and renamed_from's."""
    from xregion_sync import load_config
    from xregion_sync.syncs.base import lineage

    return {name for spec in load_config(config).jobs for name in lineage(spec)}
