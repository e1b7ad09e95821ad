"""Fault injection for tests: AWS API errors on the wire, Lambda service errors in the
local state machine, and the checks that matter after a fault (no duplicate copy, nothing
deleted that the tool did not create). Counts feed the suite's one-line summary."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

import boto3
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from xregion_sync import aws
from xregion_sync.tags import TAG_JOB, TAG_SOURCE_ID, legacy_copy_tag_key

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
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def line(self) -> str:
        return (f"faults injected: {self.injected}, jobs correct: {self.jobs_correct}/"
                f"{self.jobs}, duplicate copies: {self.duplicate_copies}, resources deleted "
                f"that the tool did not create: {self.foreign_deletions}")


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


@contextmanager
def lambda_faults(decide: Callable[[str, int], str | None]) -> Iterator[Counter]:
    """Make the Lambda service answer invokes with the error `decide(function name, call
    number)` picks. For 'ServiceException' the handler runs first and its answer is lost:
    the work is done but the state machine sees a failure (a crash after the copy call)."""
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda_simple.models import LambdaSimpleBackend

    injected: Counter = Counter()
    calls: Counter = Counter()
    dispatch = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        name = function_name.rsplit(":", 1)[-1]
        calls[name] += 1
        code = decide(name, calls[name])
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


def destination_copies(region: str) -> dict[str, list[str]]:
    """Copies this tool made in `region`, by source id (AMIs and DB snapshots)."""
    copies: dict[str, list[str]] = {}
    ec2 = boto3.client("ec2", region_name=region)
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
        if TAG_SOURCE_ID in tags and image["State"] in ("pending", "available"):
            copies.setdefault(tags[TAG_SOURCE_ID], []).append(image["ImageId"])
    rds = boto3.client("rds", region_name=region)
    for snapshot in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        tags = {t["Key"]: t["Value"] for t in snapshot.get("TagList", [])}
        if TAG_SOURCE_ID in tags and snapshot["Status"] != "failed":
            copies.setdefault(tags[TAG_SOURCE_ID], []).append(snapshot["DBSnapshotIdentifier"])
    return copies


def duplicate_copies(region: str) -> int:
    return sum(len(ids) - 1 for ids in destination_copies(region).values())


def inventory(regions: tuple[str, ...]) -> dict[str, bool]:
    """Every AMI and DB snapshot in `regions` -> whether this tool (or the original) made it."""
    found = {}
    for region in regions:
        ec2 = boto3.client("ec2", region_name=region)
        for image in ec2.describe_images(Owners=["self"])["Images"]:
            keys = {t["Key"] for t in image.get("Tags", [])}
            found[image["ImageId"]] = TAG_JOB in keys
        rds = boto3.client("rds", region_name=region)
        for snapshot in rds.describe_db_snapshots()["DBSnapshots"]:
            keys = {t["Key"] for t in snapshot.get("TagList", [])}
            legacy = any(k.startswith(legacy_copy_tag_key("")) for k in keys)
            found[snapshot["DBSnapshotIdentifier"]] = TAG_JOB in keys or legacy
    return found


def foreign_deletions(before: dict[str, bool], after: dict[str, bool]) -> list[str]:
    return [rid for rid, ours in before.items() if not ours and rid not in after]


def record(jobs: int, correct: int, duplicates: int, foreign: int) -> None:
    with STATS.lock:
        STATS.jobs += jobs
        STATS.jobs_correct += correct
        STATS.duplicate_copies += duplicates
        STATS.foreign_deletions += foreign
