"""IAM on emulated AWS: every request a task Lambda makes is authorized against that
function's deployed policies, as AWS would, before moto serves it.

moto enforces no IAM. Here, while a handler runs (stepfunctions.py dispatches it
inside `acting_as(function)`), each request it signs with the function's own credentials
is turned into what IAM evaluates (actions, resource ARNs built from the request and
moto's backends, the condition keys AWS supplies, the resources' real tags) and decided
by the IAM evaluator (iam_evaluator.py) over the policies of deployed_policies.py.
A denied request gets the error the service returns, as an HTTP response, so product code
sees the ClientError it would see on AWS. An operation without a model below is denied,
naming the missing model: a new call can never slip past.

The state machine's own requests meet its role's policies the same way: moto's ASL
interpreter signs its Lambda invokes and its ItemReader/ResultWriter S3 calls with a key of
its own, and a Distributed Map's child executions are authorized where the emulator starts
them (distributed_map.py: states:StartExecution on the state machine, states:DescribeExecution
on the child's labelled ARN, execution:<machine>/<label>:<id> or, for an Express child,
express:<machine>/<label>:<id>:<id>, as the Service Authorization Reference names them).

Not checked: requests outside a Lambda (a test's seeding, the in-process runner, which
keeps its caller's credentials), and requests a handler signs with other credentials (a
job's assumed role or keys from a secret: their policies live outside this stack).

    python -m xregion_sync_emulator.iam --report   every request of the scenario suite's
                                                 Lambdas with its decision (a table)
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from . import fidelity
from .deployed_policies import (
    ACCOUNT_ID,
    PARTITION,
    REGION,
    NamedPolicy,
    function_policies,
    role_policies,
)
from .iam_evaluator import Check, shared_evaluator
from .moto_seam import replace
from .template import DRILL_MACHINE, SYNC_MACHINE

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse

    from .moto_seam import BotocoreStubber

_running: ContextVar[str | None] = ContextVar("running_lambda_function", default=None)
_active: list[IamEnforcement] = []


def running_function() -> str | None:
    """The Lambda function whose handler runs on this thread, if any."""
    return _running.get()


@contextmanager
def acting_as(function_name: str) -> Iterator[None]:
    """Requests made in the block are the Lambda function's (its thread, its context)."""
    token = _running.set(function_name)
    try:
        yield
    finally:
        _running.reset(token)


@dataclass(frozen=True)
class AwsRequest:
    """One request as IAM sees it: who, which operation, where, with which parameters."""

    service: str  # the botocore service name: ec2, rds, secretsmanager, ...
    operation: str
    region: str
    params: dict[str, Any]
    account: str = ACCOUNT_ID


@dataclass(frozen=True)
class Authorization:
    """What one request needs: its checks, and the EBS snapshots whose deletion IAM decides
    without failing the request (DeregisterImage's DeleteAssociatedSnapshots)."""

    checks: list[Check]
    snapshot_deletions: dict[str, Check] = field(default_factory=dict)


@dataclass(frozen=True)
class Decided:
    """One row of the report: a request of a function, one action and its decision."""

    function: str
    operation: str
    action: str
    resources: tuple[str, ...]
    decision: str
    check: Check | None = None  # what was asked (None: no model)


class IamEnforcement:
    """The deployed stack's IAM, enforced for the requests of the running Lambda."""

    def __init__(self, parameters: dict[str, str] | None = None,
                 policies: dict[str, list[NamedPolicy]] | None = None):
        self.parameters = dict(parameters or {})  # the `sam deploy` parameter overrides
        self.policies = dict(policies if policies is not None
                             else function_policies(parameters))
        # The state machine's own requests (Lambda invokes, child executions, the Maps'
        # ItemReader and ResultWriter) meet its role's policies.
        roles = role_policies(parameters)
        for machine in (STATE_MACHINE, DRILL_MACHINE):
            self.policies.setdefault(machine, roles[f"{machine}Role"])
        self.decided: list[Decided] = []
        self._evaluator = shared_evaluator()

    def principal(self, function: str) -> str:
        return f"arn:{PARTITION}:sts::{ACCOUNT_ID}:assumed-role/{function}Role/{function}"

    def decide(self, function: str, request: AwsRequest) -> tuple[str | None, set[str]]:
        """(None or the denial message, the snapshot ids the request may not delete)."""
        model = MODELS.get((request.service, request.operation))
        if model is None:
            message = (f"xregion-sync emulator: no IAM model for {request.service}:"
                       f"{request.operation}; add one to MODELS in iam.py")
            self._record(function, request, f"{request.service}:{request.operation}", (),
                         "NoModel")
            return message, set()
        try:
            needed = model(request)
        except _Unmodelled as exc:
            self._record(function, request, f"{request.service}:{request.operation}", (),
                         "NoModel")
            return (f"xregion-sync emulator: no IAM model for {exc}; add one to MODELS in "
                    "xregion_sync_emulator/iam.py"), set()
        key = f"{function}#{id(self)}"
        self._evaluator.define(key, [{"name": p.name, "policy": p.document}
                                     for p in self.policies.get(function, [])])
        soft = list(needed.snapshot_deletions.items())
        checks = needed.checks + [check for _, check in soft]
        decisions = self._evaluator.check(key, self.principal(function), request.account,
                                          checks)
        for check, decision in zip(checks, decisions, strict=True):
            self._record(function, request, check.action, (check.resource,), decision.result,
                         check)
        hard = decisions[:len(needed.checks)]
        for check, decision in zip(needed.checks, hard, strict=True):
            if not decision.allowed:
                policies = ("identity-based or resource-based policy" if check.resource_policy
                            else "identity-based policy")
                return (f"User: {self.principal(function)} is not authorized to perform: "
                        f"{check.action} on resource: {check.resource} because no "
                        f"{policies} allows the {check.action} action"), set()
        kept = {snapshot for (snapshot, _), decision in zip(soft, decisions[len(hard):],
                                                             strict=True)
                if not decision.allowed}
        return None, kept

    def _record(self, function: str, request: AwsRequest, action: str,
                resources: tuple[str, ...], decision: str, check: Check | None = None) -> None:
        self.decided.append(Decided(function, f"{request.service}:{request.operation}",
                                    action, resources, decision, check))

    def replay(self, function: str, policies: list[NamedPolicy], checks: list[Check]
               ) -> list[bool]:
        """Whether each of `checks` is allowed by `policies` instead of the deployed ones."""
        key = f"replay:{function}#{id(self)}"
        self._evaluator.define(key, [{"name": p.name, "policy": p.document} for p in policies])
        return [d.allowed for d in self._evaluator.check(key, self.principal(function),
                                                          ACCOUNT_ID, checks)]


def decision_table(decided: list[Decided]) -> str:
    """The report: every (function, request, action, resource) with its decision and how
    often it was asked; resource ids masked so the rows group."""
    rows: dict[tuple[str, ...], int] = {}
    for row in decided:
        resources = ", ".join(re.sub(r"\b(ami|snap)-[0-9a-f]+", r"\1-…", r) for r in row.resources)
        key = (row.function, row.operation, row.action, resources or "-", row.decision)
        rows[key] = rows.get(key, 0) + 1
    lines = ["| function | request | IAM action | resource | decision | times |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {' | '.join(key)} | {count} |" for key, count in sorted(rows.items())]
    return "\n".join(lines)


def current_enforcement() -> IamEnforcement | None:
    return _active[-1] if _active else None


def enforce_iam(stack: ExitStack, enforcement: IamEnforcement) -> None:
    """Authorize the running Lambda's requests for the duration of `stack`."""
    from .moto_seam import BotocoreStubber

    original = BotocoreStubber.__call__

    def authorized(self: BotocoreStubber, event_name: str, request: AWSPreparedRequest,
                   **kwargs: Any) -> AWSResponse | None:
        function = _running.get()
        if function is None and _access_key(request) == INTERPRETER_ACCESS_KEY:
            function = STATE_MACHINE  # moto's ASL interpreter, calling as the state machine
        elif function is not None and not _signed_by_the_function(request):
            function = None
        if not self.enabled or function is None:
            return original(self, event_name, request, **kwargs)
        with fidelity.REQUEST_LOCK:
            service_id, operation = event_name.split(".")[1:3]
            aws_request = _aws_request(service_id, operation, request)
            if function == STATE_MACHINE and not _of_the_stack(aws_request, enforcement):
                # another state machine's (an emulator test's own definitions)
                return original(self, event_name, request, **kwargs)
            if function == STATE_MACHINE:
                function = _machine_invoking(aws_request)
            denial, kept = enforcement.decide(function, aws_request)
            if denial is not None:
                return _denied_response(aws_request, denial, request.url)
            token = fidelity.snapshot_deletion_permitted.set(lambda s: s not in kept)
            try:
                return original(self, event_name, request, **kwargs)
            finally:
                fidelity.snapshot_deletion_permitted.reset(token)

    replace(stack, BotocoreStubber, "__call__", authorized)
    _active.append(enforcement)
    stack.callback(_active.remove, enforcement)


# ---------------------------------------------------------------- the request as sent

# Event names carry botocore's service id; IAM models use the service name.
SERVICE_NAMES = {"ec2": "ec2", "rds": "rds", "sts": "sts", "s3": "s3", "ssm": "ssm",
                 "secrets-manager": "secretsmanager", "kms": "kms", "lambda": "lambda"}
# The state machine's role: its requests are moto's interpreter's, signed with this key
# (moto.stepfunctions.parser.asl.utils.boto_client), or the emulator's child executions.
STATE_MACHINE = SYNC_MACHINE
STATE_MACHINE_ROLE = f"{STATE_MACHINE}Role"
INTERPRETER_ACCESS_KEY = "ak"


def _signed_by_the_function(request: AWSPreparedRequest) -> bool:
    """Signed with the Lambda's own (role) credentials, i.e. the environment's keys."""
    return _access_key(request) == os.environ.get("AWS_ACCESS_KEY_ID")


def _access_key(request: AWSPreparedRequest) -> str | None:
    match = re.search(r"Credential=([^/]+)/", _header(request, "Authorization"))
    return match.group(1) if match else None


def _header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers.get(name) or ""
    return value.decode() if isinstance(value, bytes) else value


def _aws_request(service_id: str, operation: str, request: AWSPreparedRequest) -> AwsRequest:
    service = SERVICE_NAMES.get(service_id, service_id)
    scope = re.search(r"Credential=[^/]+/\d+/([^/]+)/", _header(request, "Authorization"))
    region = scope.group(1) if scope else "us-east-1"
    if service not in SERVICE_NAMES.values():
        return AwsRequest(service, operation, region, {})
    if service == "lambda":
        params = _lambda_params(request)
    else:
        params = _s3_params(request) if service == "s3" else _parsed(service, operation, request)
    return AwsRequest(service, operation, region, params)


def _parsed(service: str, operation: str, request: AWSPreparedRequest) -> dict[str, Any]:
    """The request's parameters, parsed back from the wire with moto's own parsers."""
    from .moto_seam import (
        PROTOCOL_PARSERS,
        determine_request_protocol,
        get_service_model,
        normalize_request,
    )

    model = get_service_model(service)
    normalized = normalize_request(request)
    protocol = determine_request_protocol(model, normalized)
    parser = PROTOCOL_PARSERS[protocol](model.operation_model(operation))
    return dict(parser.parse({"method": normalized.method, "values": normalized.values,
                              "headers": normalized.headers, "body": normalized.data,
                              "url_path": normalized.path, "url_params": {}}))


def _lambda_params(request: AWSPreparedRequest) -> dict[str, Any]:
    """FunctionName of /2015-03-31/functions/<name or ARN>/invocations."""
    match = re.search(r"/functions/([^/]+)/", unquote(urlsplit(request.url).path))
    return {"FunctionName": match.group(1) if match else ""}


def _s3_params(request: AWSPreparedRequest) -> dict[str, Any]:
    """Bucket and Key of a virtual-hosted or path-style S3 URL."""
    url = urlsplit(request.url)
    host_bucket = re.match(r"(.+)\.s3[.-]", url.netloc)
    path = unquote(url.path).lstrip("/")
    if host_bucket:
        return {"Bucket": host_bucket.group(1), "Key": path}
    bucket, _, key = path.partition("/")
    return {"Bucket": bucket, "Key": key}


# ---------------------------------------------------------------- what IAM evaluates

def _ec2_arn(region: str, resource_id: str) -> str:
    """EC2 image and snapshot ARNs carry no account."""
    kind = {"ami": "image", "snap": "snapshot"}.get(resource_id.split("-", maxsplit=1)[0])
    if kind is None:
        raise ValueError(f"no ARN model for EC2 resource {resource_id}")
    return f"arn:{PARTITION}:ec2:{region}::{kind}/{resource_id}"


def _ec2_resource_tags(request: AwsRequest, resource_id: str, region: str | None = None
                       ) -> dict[str, str]:
    from .moto_seam import ec2_backends

    backend = ec2_backends[request.account][region or request.region]
    return dict(backend.tags.get(resource_id, {}))


def _tag_context(prefix: str, tags: dict[str, str]) -> dict[str, Any]:
    return {f"{prefix}/{key}": value for key, value in tags.items()}


def _request_tags(tags: list[dict[str, str]] | None) -> dict[str, Any]:
    """aws:RequestTag/<key> and aws:TagKeys for the tags a request sets."""
    by_key = {t["Key"]: t["Value"] for t in tags or ()}
    return ({**_tag_context("aws:RequestTag", by_key), "aws:TagKeys": sorted(by_key)}
            if by_key else {})


def _ec2(request: AwsRequest, action: str, resource: str, **context: Any) -> Check:
    return Check(action, resource, {"ec2:Region": request.region, **context})


def _describe_images(request: AwsRequest) -> Authorization:
    return Authorization([_ec2(request, "ec2:DescribeImages", "*")])


def _copy_image(request: AwsRequest) -> Authorization:
    from .moto_seam import ec2_backends

    params, source_region = request.params, request.params["SourceRegion"]
    source_id = params["SourceImageId"]
    # the caller's own AMI, or one another account shares with it (cross_account.py)
    found = ec2_backends[request.account][source_region].describe_images(ami_ids=[source_id])
    source = found[0] if found else None
    source_snapshots = fidelity.snapshot_ids(source) if source is not None else []
    tags = {spec["ResourceType"]: spec.get("Tags", [])
            for spec in params.get("TagSpecifications") or ()}
    new_image = f"arn:{PARTITION}:ec2:{request.region}::image/*"
    new_snapshot = f"arn:{PARTITION}:ec2:{request.region}::snapshot/*"
    owner = {"ec2:Owner": source.owner_id} if source is not None else {}
    checks = [
        _ec2(request, "ec2:CopyImage", _ec2_arn(source_region, source_id),
             **{"ec2:ImageID": source_id}, **owner),
        *[_ec2(request, "ec2:CopyImage", _ec2_arn(source_region, s)) for s in source_snapshots],
        _ec2(request, "ec2:CopyImage", new_image, **_request_tags(tags.get("image"))),
        _ec2(request, "ec2:CopyImage", new_snapshot, **_request_tags(tags.get("snapshot"))),
    ]
    for kind, resource in (("image", new_image), ("snapshot", new_snapshot)):
        if tags.get(kind):
            checks.append(_ec2(request, "ec2:CreateTags", resource,
                               **{"ec2:CreateAction": "CopyImage"},
                               **_request_tags(tags[kind])))
    source_keys = _snapshot_keys(source, source_region) if source is not None else []
    if params.get("KmsKeyId"):
        actions = ["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext",
                   "kms:Decrypt"]
        if source is not None and any(_snapshot_encrypted(source, source_region, s)
                                      for s in source_snapshots):
            actions += ["kms:ReEncryptFrom", "kms:ReEncryptTo"]
        checks += _kms_via(request, "ec2", params["KmsKeyId"], actions)
    # EBS reads each encrypted source snapshot with its key, as the caller: another
    # account's key needs the caller's IAM allow and that key's policy (EBS User Guide,
    # "Share the KMS key used to encrypt a shared Amazon EBS snapshot").
    for account, region, key_id in sorted(set(source_keys)):
        checks += _kms_via(request, "ec2", key_id, ["kms:DescribeKey", "kms:CreateGrant",
                                                    "kms:Decrypt", "kms:ReEncryptFrom"],
                           key_account=account, key_region=region)
    return Authorization(checks)


def _snapshot_encrypted(image: Any, region: str, snapshot_id: str) -> bool:
    from .moto_seam import ec2_backends

    snapshot = ec2_backends[image.owner_id][region].snapshots.get(snapshot_id)
    return bool(snapshot is not None and snapshot.encrypted)


def _snapshot_keys(image: Any, region: str) -> list[tuple[str, str, str]]:
    """(account, region, key id or ARN) of each encrypted snapshot of `image`; a snapshot
    encrypted without a key of its own uses its account's default EBS key (not modelled:
    the copy is checked against the destination key only)."""
    from .moto_seam import ec2_backends

    keys = []
    for snapshot_id in fidelity.snapshot_ids(image):
        snapshot = ec2_backends[image.owner_id][region].snapshots.get(snapshot_id)
        if snapshot is not None and snapshot.encrypted and snapshot.kms_key_id:
            keys.append((image.owner_id, region, snapshot.kms_key_id))
    return keys


# What EBS does with a customer managed key for a volume it encrypts or decrypts on the
# caller's behalf (EBS User Guide, "Requirements for Amazon EBS encryption").
EBS_KEY_ACTIONS = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
                   "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]


def _kms_via(request: AwsRequest, service: str, key_id: str, actions: list[str], *,
             key_account: str | None = None, key_region: str | None = None) -> list[Check]:
    """What a service does with a customer managed key on the caller's behalf. A key
    that does not exist yields no check: KMS authorizes nothing for it, and the service
    fails the request or the copy itself (fidelity.py)."""
    key = fidelity.kms_key(key_account or request.account, key_region or request.region,
                           key_id)
    if key is None:
        return []
    context: dict[str, str | list[str]] = {
        "kms:ViaService": f"{service}.{request.region}.amazonaws.com",
        "kms:CallerAccount": request.account}
    other = key.account_id if key.account_id != request.account else None
    return [Check(action, key.arn, context, key.policy, other) for action in actions]


def _create_tags(request: AwsRequest) -> Authorization:
    tags = request.params.get("Tags") or []
    return Authorization([
        _ec2(request, "ec2:CreateTags", _ec2_arn(request.region, resource_id),
             **_tag_context("aws:ResourceTag", _ec2_resource_tags(request, resource_id)),
             **_request_tags(tags))
        for resource_id in request.params["Resources"]])


def _enable_image_deprecation(request: AwsRequest) -> Authorization:
    """Service Authorization Reference: EnableImageDeprecation on the image resource, with
    its aws:ResourceTag/<key> and ec2:Region."""
    image_id = request.params["ImageId"]
    return Authorization([
        _ec2(request, "ec2:EnableImageDeprecation", _ec2_arn(request.region, image_id),
             **_tag_context("aws:ResourceTag", _ec2_resource_tags(request, image_id)))])


def _on_image(action: str) -> Callable[[AwsRequest], Authorization]:
    """Service Authorization Reference: DescribeImageAttribute and ModifyImageAttribute
    act on the image resource (required), with its aws:ResourceTag/<key> and ec2:Region."""

    def authorization(request: AwsRequest) -> Authorization:
        image_id = request.params["ImageId"]
        return Authorization([
            _ec2(request, action, _ec2_arn(request.region, image_id),
                 **_tag_context("aws:ResourceTag", _ec2_resource_tags(request, image_id)))])

    return authorization


def _deregister_image(request: AwsRequest) -> Authorization:
    from .moto_seam import ec2_backends

    image_id = request.params["ImageId"]
    image = ec2_backends[request.account][request.region].amis.get(image_id)
    checks = [_ec2(request, "ec2:DeregisterImage", _ec2_arn(request.region, image_id),
                   **_tag_context("aws:ResourceTag", _ec2_resource_tags(request, image_id)))]
    deletions = {}
    if request.params.get("DeleteAssociatedSnapshots") and image is not None:
        deletions = {snapshot: _delete_snapshot_check(request, snapshot)
                     for snapshot in fidelity.snapshot_ids(image)}
    return Authorization(checks, deletions)


def _delete_snapshot_check(request: AwsRequest, snapshot_id: str) -> Check:
    return _ec2(request, "ec2:DeleteSnapshot", _ec2_arn(request.region, snapshot_id),
                **_tag_context("aws:ResourceTag", _ec2_resource_tags(request, snapshot_id)))


def _delete_snapshot(request: AwsRequest) -> Authorization:
    return Authorization([_delete_snapshot_check(request, request.params["SnapshotId"])])


def _rds_arn(request: AwsRequest, kind: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:rds:{request.region}:{request.account}:{kind}:{name}"


def _rds_snapshot_tags(request: AwsRequest, arn: str) -> dict[str, str]:
    """The tags of the DB snapshot or DB cluster snapshot an ARN names."""
    from .moto_seam import rds_backends

    parts = arn.split(":")
    region, account, kind, name = parts[3], parts[4], parts[5], ":".join(parts[6:])
    backend = rds_backends[account][region]
    snapshots = backend.cluster_snapshots if kind == "cluster-snapshot" else \
        backend.database_snapshots
    snapshot = snapshots.get(name.lower())
    return {t["Key"]: t["Value"] for t in (snapshot.tags if snapshot is not None else [])}


def _rds_on_snapshot(request: AwsRequest, action: str, arn: str, **context: Any) -> Check:
    return Check(action, arn, {**_tag_context("aws:ResourceTag",
                                              _rds_snapshot_tags(request, arn)), **context})


def _describe_rds_snapshots(operation: str, snapshot: tuple[str, str], db: tuple[str, str]
                            ) -> Callable[[AwsRequest], Authorization]:
    """DescribeDBSnapshots / DescribeDBClusterSnapshots: their resource types (the
    snapshot's and its DB's, each a (resource type, parameter) pair) are optional: AWS
    evaluates the one named."""

    def authorization(request: AwsRequest) -> Authorization:
        resource = "*"
        for kind, parameter in (snapshot, db):
            if request.params.get(parameter):
                resource = _rds_arn(request, kind, request.params[parameter])
                break
        return Authorization([Check(f"rds:{operation}", resource, {})])

    return authorization


def _copy_rds_snapshot(operation: str, kind: str, parameter: str
                       ) -> Callable[[AwsRequest], Authorization]:
    """CopyDBSnapshot / CopyDBClusterSnapshot (`parameter`: the DBSnapshot/DBClusterSnapshot
    of their Source...Identifier and Target...Identifier) on the source and the new
    snapshot (aws:RequestTag, aws:TagKeys; CopyDBSnapshot: rds:CopyOptionGroup),
    rds:AddTagsToResource for the tags in the call,
    and what RDS does with a KmsKeyId on the caller's behalf."""

    def authorization(request: AwsRequest) -> Authorization:
        params = request.params
        source = _rds_arn(request, kind, params[f"Source{parameter}Identifier"])
        target = _rds_arn(request, kind, params[f"Target{parameter}Identifier"])
        tagging = _request_tags(params.get("Tags"))
        copying = tagging
        if operation == "CopyDBSnapshot":
            # Service Authorization Reference: CopyDBSnapshot's resource type is `snapshot`
            # alone (an OptionGroupName adds none: `og` is CopyOptionGroup's), and its
            # rds:CopyOptionGroup key is the request's CopyOptionGroup.
            copies_group = bool(params.get("CopyOptionGroup", False))
            copying = {**tagging, "rds:CopyOptionGroup": str(copies_group).lower()}
        checks = [Check(f"rds:{operation}", source, copying),
                  Check(f"rds:{operation}", target, copying)]
        if params.get("Tags"):
            checks.append(Check("rds:AddTagsToResource", target, tagging))
        if params.get("KmsKeyId"):
            checks += _kms_via(request, "rds", params["KmsKeyId"],
                               ["kms:DescribeKey", "kms:CreateGrant"])
        return Authorization(checks)

    return authorization


def _describe_db_clusters(request: AwsRequest) -> Authorization:
    """On the cluster resource when one is named (Service Authorization Reference)."""
    name = request.params.get("DBClusterIdentifier")
    resource = _rds_arn(request, "cluster", name) if name else "*"
    return Authorization([Check("rds:DescribeDBClusters", resource, {})])


def _delete_db_cluster_snapshot(request: AwsRequest) -> Authorization:
    arn = _rds_arn(request, "cluster-snapshot", request.params["DBClusterSnapshotIdentifier"])
    return Authorization([_rds_on_snapshot(request, "rds:DeleteDBClusterSnapshot", arn)])


def _add_tags_to_resource(request: AwsRequest) -> Authorization:
    arn = request.params["ResourceName"]
    return Authorization([_rds_on_snapshot(request, "rds:AddTagsToResource", arn,
                                           **_request_tags(request.params.get("Tags")))])


def _delete_db_snapshot(request: AwsRequest) -> Authorization:
    arn = _rds_arn(request, "snapshot", request.params["DBSnapshotIdentifier"])
    return Authorization([_rds_on_snapshot(request, "rds:DeleteDBSnapshot", arn)])


def _assume_role(request: AwsRequest) -> Authorization:
    context = {"sts:RoleSessionName": request.params.get("RoleSessionName", "")}
    if request.params.get("ExternalId"):
        context["sts:ExternalId"] = request.params["ExternalId"]
    return Authorization([Check("sts:AssumeRole", request.params["RoleArn"], context)])


def _get_secret_value(request: AwsRequest) -> Authorization:
    from .moto_seam import secretsmanager_backends

    secret_id = request.params["SecretId"]
    backend = secretsmanager_backends[request.account][request.region]
    secret = next((s for s in backend.secrets.values() if secret_id in (s.name, s.arn)), None)
    arn = secret.arn if secret is not None else (
        secret_id if secret_id.startswith("arn:") else
        f"arn:{PARTITION}:secretsmanager:{request.region}:{request.account}:secret:{secret_id}")
    tags = {t["Key"]: t["Value"] for t in (secret.tags or [])} if secret is not None else {}
    return Authorization([Check("secretsmanager:GetSecretValue", arn, {
        "secretsmanager:SecretId": secret_id, **_tag_context("aws:ResourceTag", tags)})])


def _get_parameter(request: AwsRequest) -> Authorization:
    from .moto_seam import ssm_backends

    name = request.params["Name"]
    parameter = ssm_backends[request.account][request.region].get_parameter(name) \
        if not name.startswith("arn:") else None
    if parameter is not None and parameter.parameter_type == "SecureString":
        raise _Unmodelled("ssm:GetParameter of a SecureString (kms:Decrypt via SSM)")
    arn = name if name.startswith("arn:") else (
        f"arn:{PARTITION}:ssm:{request.region}:{request.account}:parameter/{name.lstrip('/')}")
    return Authorization([Check("ssm:GetParameter", arn, {})])


def _on_object(action: str) -> Callable[[AwsRequest], Authorization]:
    """GetObject/PutObject: the object's ARN (S3 ARNs carry no region or account)."""

    def authorization(request: AwsRequest) -> Authorization:
        arn = f"arn:{PARTITION}:s3:::{request.params['Bucket']}/{request.params['Key']}"
        return Authorization([Check(action, arn, {})])

    return authorization


def _invoke(request: AwsRequest) -> Authorization:
    """lambda:InvokeFunction on the function's ARN (a name is in the caller's account)."""
    name = request.params["FunctionName"]
    arn = name if name.startswith("arn:") else (
        f"arn:{PARTITION}:lambda:{request.region}:{request.account}:function:{name}")
    return Authorization([Check("lambda:InvokeFunction", arn, {})])


def _of_the_stack(request: AwsRequest, enforcement: IamEnforcement) -> bool:
    """Whether an interpreter request is the stack's state machine's: it invokes one of the
    stack's functions or reads or writes the stack's run bucket."""
    from .template import read_template

    if request.service == "lambda":
        return request.params["FunctionName"].rsplit(":", 1)[-1] in enforcement.policies
    if request.service == "s3":
        return request.params.get("Bucket") in read_template().buckets()
    return True


def _machine_invoking(request: AwsRequest) -> str:
    """Which of the stack's state machines an interpreter request is: the one whose
    definition names the function it invokes (the drill machine's tasks are its own)."""
    from .template import read_template

    if request.service == "lambda":
        function = request.params["FunctionName"].rsplit(":", 1)[-1]
        for logical_id, machine in read_template().machines.items():
            if function in machine.function_ids():
                return logical_id
    return STATE_MACHINE


def authorize_state_machine(action: str, resources: list[str]) -> str | None:
    """For a request the state machine makes without an API call moto sees (a Distributed
    Map starting and describing its child executions): None, or the denial."""
    enforcement = current_enforcement()
    if enforcement is None:
        return None
    request = AwsRequest("states", action.split(":")[1], REGION, {"resources": resources})
    with fidelity.REQUEST_LOCK:
        denial, _ = enforcement.decide(STATE_MACHINE, request)
    return denial


def _states_action(request: AwsRequest) -> Authorization:
    return Authorization([Check(f"states:{request.operation}", resource, {})
                          for resource in request.params["resources"]])


# ---------------------------------------------------------------- restore drills
# As the Service Authorization Reference lists the actions' resource types and condition
# keys: a create action is evaluated on the new resource with the request's tags
# (aws:RequestTag/<key>, aws:TagKeys) and on what it is made from with that resource's
# tags (aws:ResourceTag/<key>); tags on create are also authorized as rds:AddTagsToResource
# (RDS) or ec2:CreateTags with ec2:CreateAction (EC2); a delete on the resource with its
# tags. EC2 instances, volumes, network interfaces, subnets and security groups carry the
# account in their ARN.

_EC2_KINDS = {"i": "instance", "vol": "volume", "eni": "network-interface",
              "subnet": "subnet", "sg": "security-group"}


def _ec2_account_arn(request: AwsRequest, kind: str, resource_id: str = "*") -> str:
    return f"arn:{PARTITION}:ec2:{request.region}:{request.account}:{kind}/{resource_id}"


def _on_ec2(action: str, parameter: str) -> Callable[[AwsRequest], Authorization]:
    """TerminateInstances (InstanceIds), DeleteVolume (VolumeId): each resource, with its
    tags."""

    def authorization(request: AwsRequest) -> Authorization:
        ids = request.params[parameter]
        return Authorization([
            _ec2(request, action, _ec2_account_arn(
                request, _EC2_KINDS[resource_id.split("-", 1)[0]], resource_id),
                **_tag_context("aws:ResourceTag", _ec2_resource_tags(request, resource_id)))
            for resource_id in ([ids] if isinstance(ids, str) else ids)])

    return authorization


def _ec2_listing(action: str) -> Callable[[AwsRequest], Authorization]:
    """Describe calls: no resource-level permissions."""
    return lambda request: Authorization([_ec2(request, action, "*")])


def _run_instances(request: AwsRequest) -> Authorization:
    from .moto_seam import ec2_backends

    params = request.params
    tags = {spec["ResourceType"]: spec.get("Tags", [])
            for spec in params.get("TagSpecifications") or ()}
    image_id = params["ImageId"]
    interfaces = params.get("NetworkInterfaces") or [{}]
    subnet = params.get("SubnetId") or interfaces[0].get("SubnetId") or "*"
    groups = [*(params.get("SecurityGroupIds") or ()),
              *(interfaces[0].get("Groups") or ())] or ["*"]
    checks = [
        _ec2(request, "ec2:RunInstances", _ec2_arn(request.region, image_id),
             **_tag_context("aws:ResourceTag", _ec2_resource_tags(request, image_id))),
        _ec2(request, "ec2:RunInstances", _ec2_account_arn(request, "subnet", subnet)),
        *[_ec2(request, "ec2:RunInstances", _ec2_account_arn(request, "security-group", g))
          for g in groups],
    ]
    # Volumes from the image's encrypted snapshots: EBS uses each snapshot's key on the
    # caller's behalf (EBS User Guide, "Requirements for Amazon EBS encryption").
    images = ec2_backends[request.account][request.region].describe_images(ami_ids=[image_id])
    for account, region, key_id in sorted(set(_snapshot_keys(images[0], request.region)
                                              if images else [])):
        checks += _kms_via(request, "ec2", key_id, EBS_KEY_ACTIONS,
                           key_account=account, key_region=region)
    for kind in ("instance", "volume", "network-interface"):
        new = _ec2_account_arn(request, kind)
        checks.append(_ec2(request, "ec2:RunInstances", new, **_request_tags(tags.get(kind))))
        if tags.get(kind):
            checks.append(_ec2(request, "ec2:CreateTags", new,
                               **{"ec2:CreateAction": "RunInstances"},
                               **_request_tags(tags[kind])))
    return Authorization(checks)


def _rds_resource_tags(request: AwsRequest, kind: str, name: str) -> dict[str, str]:
    """The tags of a DB instance (kind "db") or DB cluster ("cluster")."""
    from .moto_seam import rds_backends

    backend = rds_backends[request.account][request.region]
    found = (backend.databases if kind == "db" else backend.clusters).get(name)
    return {t["Key"]: t["Value"] for t in (found.tags if found is not None else [])}


def _rds_on(request: AwsRequest, action: str, kind: str, name: str) -> Check:
    """`action` on an existing DB instance or cluster, with its tags."""
    return Check(action, _rds_arn(request, kind, name),
                 _tag_context("aws:ResourceTag", _rds_resource_tags(request, kind, name)))


def _rds_create(request: AwsRequest, action: str, kind: str, name: str) -> list[Check]:
    """`action` on the new DB instance or cluster with the request's tags, and
    rds:AddTagsToResource for them."""
    arn = _rds_arn(request, kind, name)
    tagging = _request_tags(request.params.get("Tags"))
    checks = [Check(action, arn, tagging)]
    if request.params.get("Tags"):
        checks.append(Check("rds:AddTagsToResource", arn, tagging))
    return checks


def _subnet_group(request: AwsRequest, action: str) -> list[Check]:
    group = request.params.get("DBSubnetGroupName")
    return [Check(action, _rds_arn(request, "subgrp", group), {})] if group else []


def _restore_db_instance(request: AwsRequest) -> Authorization:
    action = "rds:RestoreDBInstanceFromDBSnapshot"
    snapshot = _rds_arn(request, "snapshot", request.params["DBSnapshotIdentifier"])
    return Authorization([
        *_rds_create(request, action, "db", request.params["DBInstanceIdentifier"]),
        _rds_on_snapshot(request, action, snapshot), *_subnet_group(request, action),
        *_restore_kms(request, snapshot)])


def _restore_db_cluster(request: AwsRequest) -> Authorization:
    action = "rds:RestoreDBClusterFromSnapshot"
    snapshot = _rds_arn(request, "cluster-snapshot", request.params["SnapshotIdentifier"])
    return Authorization([
        *_rds_create(request, action, "cluster", request.params["DBClusterIdentifier"]),
        _rds_on_snapshot(request, action, snapshot), *_subnet_group(request, action),
        *_restore_kms(request, snapshot)])


def _restore_kms(request: AwsRequest, snapshot_arn: str) -> list[Check]:
    """Restoring an encrypted snapshot: RDS uses its key (or the request's KmsKeyId) on
    the caller's behalf, kms:DescribeKey and kms:CreateGrant through RDS, as it does for a
    copy with a KmsKeyId (_copy_rds_snapshot)."""
    from .moto_seam import rds_backends

    parts = snapshot_arn.split(":")
    backend = rds_backends[parts[4]][parts[3]]
    snapshots = backend.cluster_snapshots if parts[5] == "cluster-snapshot" else \
        backend.database_snapshots
    found = snapshots.get(":".join(parts[6:]).lower())
    key_id = request.params.get("KmsKeyId") or (
        found.kms_key_id if found is not None and found.encrypted else None)
    return _kms_via(request, "rds", key_id, ["kms:DescribeKey", "kms:CreateGrant"]) \
        if key_id else []


def _create_db_instance(request: AwsRequest) -> Authorization:
    action = "rds:CreateDBInstance"
    checks = _rds_create(request, action, "db", request.params["DBInstanceIdentifier"])
    if request.params.get("DBClusterIdentifier"):  # an instance in a cluster: the cluster too
        checks.append(_rds_on(request, action, "cluster", request.params["DBClusterIdentifier"]))
    return Authorization([*checks, *_subnet_group(request, action)])


def _describe_db_instances(request: AwsRequest) -> Authorization:
    name = request.params.get("DBInstanceIdentifier")
    resource = _rds_arn(request, "db", name) if name else "*"
    return Authorization([Check("rds:DescribeDBInstances", resource, {})])


def _delete_rds(action: str, kind: str, parameter: str) -> Callable[[AwsRequest], Authorization]:
    return lambda request: Authorization([_rds_on(request, action, kind,
                                                  request.params[parameter])])


class _Unmodelled(Exception):
    pass


MODELS: dict[tuple[str, str], Callable[[AwsRequest], Authorization]] = {
    ("ec2", "DescribeImages"): _describe_images,
    ("ec2", "CopyImage"): _copy_image,
    ("ec2", "CreateTags"): _create_tags,
    ("ec2", "DeregisterImage"): _deregister_image,
    ("ec2", "EnableImageDeprecation"): _enable_image_deprecation,
    ("ec2", "DescribeImageAttribute"): _on_image("ec2:DescribeImageAttribute"),
    ("ec2", "ModifyImageAttribute"): _on_image("ec2:ModifyImageAttribute"),
    ("ec2", "DeleteSnapshot"): _delete_snapshot,
    ("rds", "DescribeDBSnapshots"): _describe_rds_snapshots(
        "DescribeDBSnapshots", ("snapshot", "DBSnapshotIdentifier"),
        ("db", "DBInstanceIdentifier")),
    ("rds", "CopyDBSnapshot"): _copy_rds_snapshot("CopyDBSnapshot", "snapshot", "DBSnapshot"),
    ("rds", "AddTagsToResource"): _add_tags_to_resource,
    ("rds", "DeleteDBSnapshot"): _delete_db_snapshot,
    ("rds", "DescribeDBClusterSnapshots"): _describe_rds_snapshots(
        "DescribeDBClusterSnapshots", ("cluster-snapshot", "DBClusterSnapshotIdentifier"),
        ("cluster", "DBClusterIdentifier")),
    ("rds", "DescribeDBClusters"): _describe_db_clusters,
    ("rds", "CopyDBClusterSnapshot"): _copy_rds_snapshot("CopyDBClusterSnapshot",
                                                         "cluster-snapshot", "DBClusterSnapshot"),
    ("rds", "DeleteDBClusterSnapshot"): _delete_db_cluster_snapshot,
    ("rds", "DescribeDBInstances"): _describe_db_instances,
    ("rds", "DescribeAccountAttributes"): lambda request: Authorization([
        Check("rds:DescribeAccountAttributes", "*", {})]),
    ("rds", "RestoreDBInstanceFromDBSnapshot"): _restore_db_instance,
    ("rds", "RestoreDBClusterFromSnapshot"): _restore_db_cluster,
    ("rds", "CreateDBInstance"): _create_db_instance,
    ("rds", "DeleteDBInstance"): _delete_rds("rds:DeleteDBInstance", "db",
                                             "DBInstanceIdentifier"),
    ("rds", "DeleteDBCluster"): _delete_rds("rds:DeleteDBCluster", "cluster",
                                            "DBClusterIdentifier"),
    ("ec2", "RunInstances"): _run_instances,
    ("ec2", "DescribeInstances"): _ec2_listing("ec2:DescribeInstances"),
    ("ec2", "DescribeInstanceStatus"): _ec2_listing("ec2:DescribeInstanceStatus"),
    ("ec2", "DescribeVolumes"): _ec2_listing("ec2:DescribeVolumes"),
    ("ec2", "TerminateInstances"): _on_ec2("ec2:TerminateInstances", "InstanceIds"),
    ("ec2", "DeleteVolume"): _on_ec2("ec2:DeleteVolume", "VolumeId"),
    ("sts", "AssumeRole"): _assume_role,
    ("secretsmanager", "GetSecretValue"): _get_secret_value,
    ("ssm", "GetParameter"): _get_parameter,
    ("lambda", "Invoke"): _invoke,
    ("states", "StartExecution"): _states_action,
    ("states", "DescribeExecution"): _states_action,
    ("states", "StopExecution"): _states_action,
    ("s3", "GetObject"): _on_object("s3:GetObject"),
    ("s3", "PutObject"): _on_object("s3:PutObject"),
}


# ---------------------------------------------------------------- the denial, as AWS sends it

# (protocol, error code, HTTP status) of each service's access-denied error.
DENIAL = {
    "ec2": ("ec2", "UnauthorizedOperation", 403),
    "rds": ("query", "AccessDenied", 403),
    "sts": ("query", "AccessDenied", 403),
    "s3": ("s3", "AccessDenied", 403),
    "ssm": ("json", "AccessDeniedException", 400),
    "secretsmanager": ("json", "AccessDeniedException", 400),
    "kms": ("json", "AccessDeniedException", 400),
}


def _denied_response(request: AwsRequest, message: str, url: str) -> AWSResponse:
    from botocore.awsrequest import AWSResponse

    from .moto_seam import MockRawResponse

    protocol, code, status = DENIAL.get(request.service, ("query", "AccessDenied", 403))
    request_id = str(uuid.uuid4())
    if protocol == "ec2":
        message = f"You are not authorized to perform this operation. {message}"
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{_xml(message)}"
                f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        content_type = "text/xml"
    elif protocol == "json":
        body = json.dumps({"__type": code, "message": message})
        content_type = "application/x-amz-json-1.1"
    elif protocol == "s3":
        body = (f"<Error><Code>{code}</Code><Message>{_xml(message)}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>")
        content_type = "application/xml"
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>"
                f"{_xml(message)}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>")
        content_type = "text/xml"
    headers = {"Content-Type": content_type, "x-amzn-RequestId": request_id}
    return AWSResponse(url, status, headers, MockRawResponse(body))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
