"""Where moto differs from AWS in ways this tool relies on, teach it AWS's behaviour.

One place, shared by the demo and the tests, each behaviour pinned to the AWS
documentation by a test in tests/test_emulator_fidelity.py. Product code is never
bent to suit the emulator: when moto is wrong, moto is corrected here.

  EC2 CopyImage   ClientToken makes the call idempotent (same token and parameters ->
                  the same AMI, even one deregistered since; same token, other
                  parameters -> IdempotentParameterMismatch);
                  a Name already used by an AMI of the account in the region is
                  refused (InvalidAMIName.Duplicate);
                  TagSpecifications tag the new AMI and/or its snapshots;
                  CopyImageTags copies the source's user tags (not aws: tags);
                  Encrypted (with KmsKeyId) encrypts the copy's snapshots with the key;
                  the copy starts `pending` and becomes `available` later;
                  DescribeImages names its source (SourceImageId, SourceImageRegion)
                  and says which snapshots are encrypted (Ebs.Encrypted);
                  at most 20 snapshot copies in progress into a region per account, an
                  AMI copy holding one per backing snapshot (ResourceLimitExceeded).
  Step Functions  a Lambda service error on a Task (throttling, service exception)
                  is the error `Lambda.<exception name>`, which Retry can match.
  RDS CopyDBSnapshot  an encrypted snapshot is copied across regions only with a
                  KmsKeyId (else InvalidParameterValue); the copy starts in
                  status `creating` and becomes `available` later; a snapshot reports
                  its SourceRegion, and a cross-region copy the source's ARN
                  (SourceDBSnapshotIdentifier); at most 20 copies
                  in progress into a region per account, and at most 100 manual
                  snapshots per region, copies included (SnapshotQuotaExceeded).
  RDS CopyDBClusterSnapshot  an encrypted cluster snapshot is copied across regions
                  only with a KmsKeyId (else KMSKeyNotAccessibleFault), an unencrypted
                  one only without; the copy starts `copying` and becomes `available`
                  later; it reports its source's ARN (SourceDBClusterSnapshotArn); at
                  most 5 cluster snapshot copies in progress into a region per account,
                  and at most 100 manual cluster snapshots per region, copies included
                  (SnapshotQuotaExceeded); automated cluster snapshots cannot be deleted
                  (InvalidDBClusterSnapshotStateFault).
  RDS DeleteDBCluster  the cluster's automated backups, its automated cluster snapshots
                  included, go with it unless DeleteAutomatedBackups is false (moto kept them).
  RDS DescribeAccountAttributes  (moto has none) AccountQuotas with ManualSnapshots and
                  ManualClusterSnapshots: Used counts the region's manual (cluster)
                  snapshots, Max is that quota.
  EC2 launch permissions  DescribeImageAttribute and ModifyImageAttribute answer only the
                  AMI's owner (AuthFailure "Not authorized for image"; moto answered a
                  Python KeyError, and let a shared AMI's grantee change its permissions);
                  ModifyImageAttribute refuses an AMI still pending (InvalidAMIID.Unavailable).
  EC2 RegisterImage  TagSpecifications (ResourceType image) tag the new AMI (moto ignored them).
  EC2 DeregisterImage  DeleteAssociatedSnapshots deletes the AMI's snapshots, except one
                  another AMI still uses ('skipped') or the caller may not delete
                  ('missing-permissions'), reports each in DeleteSnapshotResults, and
                  succeeds either way.
  Tags            EC2 and RDS refuse a tag that breaks the service's rules (tag_rules.py)
                  and more than 50 user tags on one resource (_refuse_tags_aws_refuses).
  EC2 sharing     an AMI shared by another account (launch permission) is visible and
                  copyable, without its tags (cross_account.py).
  KMS DescribeKey another account's key, by ARN, answers when the key policy allows the
                  caller's account (else AccessDeniedException).
  CloudWatch      SetAlarmState runs the alarm's SNS actions, as CloudWatch publishes
                  (topic policy, the topic key's policy), and DescribeAlarmHistory records
                  them; e-mail subscriptions wait for confirmation (alarms.py).
  Distributed Map EXPRESS children, their time limit, the tolerated failure threshold and
                  the ResultWriter's files (distributed_map.py).

The quota values are the one table in quotas.py; Step Functions' quotas are in
stepfunctions_quotas.py.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xregion_sync.tag_rules import key_problem, value_problem

from .moto_seam import (
    AmiBackend,
    AmisResponse,
    EC2ClientError,
    EC2Response,
    InvalidParameterValueErrorTagNull,
    RDSClientError,
    TagBackend,
    convert_tag_spec,
    rds_models,
    replace,
)
from .quotas import AwsQuotas

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest

    from .moto_seam import (
        TYPE_RESPONSE,
        ActionResult,
        Ami,
        BotocoreStubber,
        EC2Backend,
        Environment,
        FailureEvent,
        RDSResponse,
        StateTaskLambda,
    )

# One emulated AWS request at a time (see _serve_one_request_at_a_time); iam.py
# decides a request under the same lock, since it reads the backends too.
REQUEST_LOCK = threading.RLock()
# Whether the caller of a request may delete an EBS snapshot: iam.py narrows it
# for a request it authorizes; DeregisterImage's DeleteAssociatedSnapshots asks it.
snapshot_deletion_permitted: ContextVar[Callable[[str], bool]] = ContextVar(
    "snapshot_deletion_permitted", default=lambda _snapshot_id: True)


@dataclass
class EmulatedCopyTiming:
    """How long emulated copies stay pending/creating before they become available."""

    copy_seconds: float = 0.0
    # How long a restore (DB instance, DB cluster, a cluster's instance) stays `creating`
    # and a new EC2 instance's status checks `initializing` (restores.py).
    restore_seconds: float = 0.0
    _ready_at: dict[str, float] = field(default_factory=dict)
    _passed: float = 0.0  # emulated seconds added by pass_time()

    def now(self) -> float:
        return time.monotonic() + self._passed

    def pass_time(self, seconds: float) -> None:
        """Copies age by `seconds` at once: a test waits for them without sleeping."""
        self._passed += seconds

    def started(self, resource_id: str, at_most: float | None = None,
                restore: bool = False) -> None:
        """`at_most`: a time-based copy's completion duration, in seconds; EC2 finishes
        such a copy within it, however long a best-effort copy would take. `restore`: a
        restore or launch (restore_seconds), not a copy."""
        seconds = self.restore_seconds if restore else self.copy_seconds
        seconds = seconds if at_most is None else min(seconds, at_most)
        self._ready_at[resource_id] = self.now() + seconds

    def is_done(self, resource_id: str) -> bool:
        return self.now() >= self._ready_at.get(resource_id, float("inf"))

    def in_progress(self, resource_id: str) -> bool:
        """A copy this emulator started that has not finished: it holds a copy-quota slot.
        (With copy_seconds=0 none ever does, as before the quotas.)"""
        return resource_id in self._ready_at and not self.is_done(resource_id)


def teach_moto_aws_behaviour(stack: ExitStack, timing: EmulatedCopyTiming,
                             quotas: AwsQuotas) -> None:
    """Patch moto for the duration of `stack`."""
    from .alarms import teach_alarms
    from .cross_account import share_amis_across_accounts
    from .distributed_map import teach_distributed_map
    from .restores import teach_restores

    _serve_one_request_at_a_time(stack)
    _look_up_ec2_tags_by_resource(stack)
    share_amis_across_accounts(stack)
    _teach_ec2_copy_image(stack, timing, quotas)
    _teach_ec2_image_snapshot_encryption(stack)
    _teach_kms_keys_of_other_accounts(stack)
    teach_alarms(stack)
    _teach_ec2_enable_image_deprecation(stack)
    _teach_ec2_launch_permissions(stack)
    _teach_ec2_register_image(stack)
    _teach_ec2_deregister_image(stack)
    _teach_rds_copy_db_snapshot(stack, timing, quotas)
    _teach_rds_copy_db_cluster_snapshot(stack, timing, quotas)
    _teach_rds_account_attributes(stack, quotas)
    _teach_rds_delete_db_cluster(stack)
    # After those above: it wraps the CopyImage / CopyDBSnapshot / CopyDBClusterSnapshot
    # they install, so a tag AWS refuses is refused before anything is created or counted.
    _refuse_tags_aws_refuses(stack)
    teach_restores(stack, timing, quotas)  # wraps the tag-checked CreateDBInstance
    _name_lambda_service_errors(stack)
    _keep_a_stack_whose_bucket_is_not_empty(stack)
    # Before enforce_step_functions_quotas, whose per-child history wraps this recording.
    teach_distributed_map(stack, quotas)


def _keep_a_stack_whose_bucket_is_not_empty(stack: ExitStack) -> None:
    """AWS CloudFormation User Guide, "Delete a stack" and AWS::S3::Bucket: a bucket must be
    empty (every object version and delete marker) to be deleted; deleting a stack that owns
    a non-empty one fails (DELETE_FAILED, "The bucket you tried to delete is not empty") and
    keeps the stack. moto left the bucket and reported DELETE_COMPLETE."""
    from .moto_seam import CloudFormationBackend, FakeBucket

    original = CloudFormationBackend.delete_stack

    def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        for found in list(self.stacks.values()):
            if name_or_stack_id not in (found.stack_id, found.name):
                continue
            # moto types the resources as classes; they are instances
            resources: list[Any] = list(found.stack_resources)
            full = [resource for resource in resources
                    if isinstance(resource, FakeBucket) and len(resource.keys)]
            if full:
                found.status = "DELETE_FAILED"
                found._add_stack_event(
                    "DELETE_FAILED", resource_status_reason="The following resource(s) "
                    "failed to delete: [RunBucket]. The bucket you tried to delete is not "
                    f"empty ({full[0].name})")
                return
        original(self, name_or_stack_id)

    replace(stack, CloudFormationBackend, "delete_stack", delete_stack)


def _serve_one_request_at_a_time(stack: ExitStack) -> None:
    """AWS serves concurrent requests consistently; moto's backends are not thread-safe
    (with the runner's threads or the Map's iterations, DescribeDBSnapshots failed now and
    then with 'OrderedDict mutated during iteration' while another job's CopyDBSnapshot
    added to it). Serve one request at a time; re-entrant, because a Lambda invoke runs
    the handler, whose own calls come back in on the same thread. moto is CPU-bound under
    the GIL, so little parallelism is lost."""
    from .moto_seam import BotocoreStubber

    process_request = BotocoreStubber.process_request

    def serialized(self: BotocoreStubber, request: AWSPreparedRequest) -> TYPE_RESPONSE | None:
        with REQUEST_LOCK:
            return process_request(self, request)

    replace(stack, BotocoreStubber, "process_request", serialized)


def _look_up_ec2_tags_by_resource(stack: ExitStack) -> None:
    """Speed, not behaviour: moto reads one resource's tags by scanning every tag of the
    region with regular expressions, so a tag-filtered DescribeImages costs O(AMIs x tags)
    and N jobs O(N^3) (1,000 jobs did not finish in 5 minutes). Look the tags up by
    resource id: the same answer, in O(its tags)."""
    from .moto_seam import EC2_PREFIX_TO_RESOURCE, TaggedEC2Resource, get_prefix

    # `self`: a TaggedEC2Resource, whose subclasses all have `id` and `ec2_backend`; the base
    # class declares neither (moto's own get_tags ignores the same).
    def get_tags(self: Any) -> list[dict[str, str]]:
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
        return [{"resource_id": self.id, "key": key, "value": value, "resource_type": kind}
                for key, value in self.ec2_backend.tags.get(self.id, {}).items()]

    replace(stack, TaggedEC2Resource, "get_tags", get_tags)


def _teach_ec2_copy_image(stack: ExitStack, timing: EmulatedCopyTiming,
                          quotas: AwsQuotas) -> None:
    # token -> (the AMI the first call made, that call's other parameters)
    client_tokens: dict[tuple[str, str, str], tuple[str, str]] = {}
    original_copy_image = AmiBackend.copy_image
    original_describe_images = AmiBackend.describe_images
    original_create_image = AmiBackend.create_image

    def copy_image(self: AmisResponse) -> ActionResult:
        backend = self.ec2_backend
        token = self._get_param("ClientToken")
        key = (backend.account_id, backend.region_name, token)
        # "Ensuring idempotency in Amazon EC2 API requests": a repeated token with the same
        # parameters returns the first call's result (the AMI, even if deregistered since);
        # with other parameters it fails IdempotentParameterMismatch.
        request = json.dumps({k: v for k, v in sorted(self.querystring.items())
                              if k != "ClientToken"})
        if token and key in client_tokens:
            image_id, first_request = client_tokens[key]
            if request != first_request:
                raise EC2ClientError("IdempotentParameterMismatch",
                                     f"Client token {token} was used before with different "
                                     "parameters")
            return _action_result({"ImageId": image_id})
        self.error_on_dryrun()
        name = self._get_param("Name")
        taken = [image.id for image in backend.amis.values() if image.name == name]
        if taken:
            raise EC2ClientError("InvalidAMIName.Duplicate",
                                 f"AMI name {name} is already in use by AMI {taken[0]}")
        copying = sum(len(snapshot_ids(image)) or 1 for image in backend.amis.values()
                      if image.state == "pending" and timing.in_progress(image.id))
        if copying + 1 > quotas.ebs_copies_in_progress:  # moto's AMIs have one snapshot
            raise EC2ClientError(
                "ResourceLimitExceeded",
                f"Too many snapshot copies in progress. The limit is "
                f"{quotas.ebs_copies_in_progress} for this destination region.")
        deadline = _completion_deadline(self)
        source_region, source_image_id = (self._get_param("SourceRegion"),
                                          self._get_param("SourceImageId"))
        image = original_copy_image(backend, source_image_id, source_region,
                                    self._get_param("Name"), self._get_param("Description"))
        # EC2 API Reference, Image: SourceImageId "The ID of the source AMI from which the
        # AMI was created" and SourceImageRegion "The Region of the source AMI"; they
        # "only appear if the AMI was created using CreateImage, CopyImage, or
        # CreateRestoreImageTask" (so not for RegisterImage). A copy within one region
        # names that region. moto's serializer returns these attributes when set (moto's
        # Ami declares neither: hence the ignores).
        image.source_image_id = source_image_id  # type: ignore[attr-defined]
        image.source_image_region = source_region  # type: ignore[attr-defined]
        _encrypt_copied_snapshots(backend, image, self._get_param("Encrypted"),
                                  self._get_param("KmsKeyId"))
        if self._get_param("CopyImageTags"):
            source = _ec2_backend(backend.account_id, source_region).amis.get(source_image_id)
            # moto's get_tags() is a list of {"key", "value", ...} dicts
            inherited = {tag["key"]: tag["value"] for tag in (source.get_tags() if source else [])
                         if not tag["key"].startswith("aws:")}
            if inherited:
                backend.create_tags([image.id], inherited)
        specs = self._get_param("TagSpecification", []) or self._get_param("TagSpecifications", [])
        for resource_type, tags in convert_tag_spec(specs).items():
            targets = [image.id] if resource_type == "image" else snapshot_ids(image)
            if targets:
                backend.create_tags(targets, tags)
        image.state = "pending"
        timing.started(image.id, deadline)
        if token:
            client_tokens[key] = (image.id, request)
        return _action_result({"ImageId": image.id})

    def create_image(self: EC2Backend, instance_id: str, *args: Any, **kwargs: Any) -> Ami:
        image = original_create_image(self, instance_id, *args, **kwargs)
        # The same Image fields (above) for CreateImage: the AMI the instance was launched
        # from, in this region.
        image.source_image_id = self.get_instance(instance_id).image_id  # type: ignore[attr-defined]
        image.source_image_region = self.region_name  # type: ignore[attr-defined]
        return image

    def describe_images(self: AmiBackend, ami_ids: list[str] | None = None,
                        filters: dict[str, list[str]] | None = None, **kwargs: Any
                        ) -> list[Ami]:
        # Only a copy still `pending` moves on: a state set otherwise (e.g. by
        # seed.force_image_state) stays, as AWS's own states do.
        for image in self.amis.values():
            if image.state == "pending" and timing.is_done(image.id):
                image.state = "available"
        return _with_any_tag_filters(
            lambda others: original_describe_images(self, ami_ids, others, **kwargs), filters)

    replace(stack, AmisResponse, "copy_image", copy_image)
    replace(stack, AmiBackend, "describe_images", describe_images)
    replace(stack, AmiBackend, "create_image", create_image)


def _teach_ec2_image_snapshot_encryption(stack: ExitStack) -> None:
    """DescribeImages' BlockDeviceMappings say whether each EBS snapshot is encrypted (EC2
    API Reference, EbsBlockDevice: Encrypted); moto left it out. The key is not there
    (KmsKeyId is documented for RunInstances and spot requests only): DescribeSnapshots
    names it."""
    from .moto_seam import Ami

    original = Ami.block_device_mappings

    def block_device_mappings(self: Ami) -> list[dict[str, Any]]:
        mappings: list[dict[str, Any]] = original.fget(self)  # type: ignore[attr-defined]
        snapshot = getattr(self, "ebs_snapshot", None)
        for mapping in mappings:
            if snapshot is not None and mapping["Ebs"].get("SnapshotId") == snapshot.id:
                mapping["Ebs"]["Encrypted"] = bool(snapshot.encrypted)
        return mappings

    replace(stack, Ami, "block_device_mappings", property(block_device_mappings))


def _teach_kms_keys_of_other_accounts(stack: ExitStack) -> None:
    """DescribeKey of another account's key, named by its ARN (KMS Developer Guide,
    "Allowing users in other accounts to use a KMS key": a cross-account caller must name
    the key by its ARN, and the key's policy must allow the caller's account): answered
    when the key policy allows it, else AccessDeniedException; a missing key is
    NotFoundException. moto looked the ARN up among the caller's own keys."""
    from .moto_seam import KmsAccessDenied, KmsNotFound, KmsResponse

    original = KmsResponse.describe_key

    def describe_key(self: KmsResponse) -> str:
        key_id = self._get_param("KeyId") or ""
        if not key_id.startswith("arn:") or key_id.split(":")[4] == self.current_account:
            return original(self)
        key = kms_key(self.current_account, self.region, key_id)
        if key is None:
            raise KmsNotFound(f"Key '{key_id}' does not exist")
        if not key_policy_allows(key, self.current_account, "kms:DescribeKey"):
            raise KmsAccessDenied(
                f"User: arn:aws:iam::{self.current_account}:user/caller is not authorized "
                f"to perform: kms:DescribeKey on resource: {key.arn} because no "
                "resource-based policy allows the kms:DescribeKey action")
        return json.dumps(key.to_dict())

    replace(stack, KmsResponse, "describe_key", describe_key)


def key_policy_allows(key: Any, account: str, action: str) -> bool:
    """Whether `key`'s policy lets a principal of `account` (whose own IAM allows it)
    perform `action` on the key, as the IAM evaluator decides a cross-account request."""
    from .iam_evaluator import Check, shared_evaluator

    evaluator = shared_evaluator()
    evaluator.define("any-identity", [{"name": "AllowEverything", "policy": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}])
    (decision,) = evaluator.check(
        "any-identity", f"arn:aws:iam::{account}:user/caller", account,
        [Check(action, key.arn, {}, key.policy, key.account_id)])
    return decision.allowed


def _with_any_tag_filters(describe: Callable[[dict[str, list[str]]], list[Ami]],
                          filters: dict[str, list[str]] | None) -> list[Ami]:
    """DescribeImages' tag-key and tag-value filters as AWS applies them: an AMI matches
    when any of its tags' keys (values) matches any of the filter's values (ORed, `*` and
    `?` wildcards); moto wants the AMI's tags to be a subset or superset of the values.
    `describe` applies the other filters."""
    any_tag = {n: v for n, v in (filters or {}).items() if n in ("tag-key", "tag-value")}
    images = describe({n: v for n, v in (filters or {}).items() if n not in any_tag})
    return [image for image in images
            if all(any(fnmatch.fnmatchcase(tag[name[4:]], pattern.replace("[", "[[]"))
                       for tag in image.get_tags() for pattern in patterns)
                   for name, patterns in any_tag.items())]


def _completion_deadline(request: AmisResponse) -> float | None:
    """A time-based copy's deadline in seconds ("Time-based copies": CopyImage's
    SnapshotCopyCompletionDurationMinutes is 15 to 2880, 48 hours, in 15-minute
    increments; every snapshot of the AMI completes within it); None for best effort."""
    duration = request._get_param("SnapshotCopyCompletionDurationMinutes")
    if duration is None:
        return None
    if not 15 <= int(duration) <= 2880 or int(duration) % 15:
        raise EC2ClientError("InvalidParameterValue",
                             f"SnapshotCopyCompletionDurationMinutes {duration} must be "
                             "from 15 to 2880 in increments of 15")
    return int(duration) * 60


# EnableImageDeprecation: DeprecateAt may not be in the past nor more than 10 years ahead.
MAX_DEPRECATION_SECONDS = 10 * 365.25 * 24 * 3600


def _teach_ec2_enable_image_deprecation(stack: ExitStack) -> None:
    """moto has no EnableImageDeprecation. EC2 API Reference: DeprecateAt is UTC, "If you
    specify a value for seconds, Amazon EC2 rounds the seconds to the nearest minute",
    "You can't specify a date in the past", at most 10 years from now (2 years from
    creation for public AMIs, which this tool never makes); DescribeImages then returns
    it as the image's DeprecationTime."""
    from datetime import UTC, datetime, timedelta

    def enable_image_deprecation(self: AmisResponse) -> ActionResult:
        backend = self.ec2_backend
        image_id = self._get_param("ImageId")
        image = backend.amis.get(image_id)
        if image is None:
            raise EC2ClientError("InvalidAMIID.NotFound",
                                 f"The image id '[{image_id}]' does not exist")
        raw = self._get_param("DeprecateAt")
        at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        at = (at + timedelta(seconds=30)).replace(second=0, microsecond=0)
        ahead = (at - datetime.now(UTC)).total_seconds()
        if ahead < 0 or ahead > MAX_DEPRECATION_SECONDS:
            raise EC2ClientError("InvalidParameterValue",
                                 f"DeprecateAt {raw} must be in the future and at most 10 "
                                 "years from now")
        self.error_on_dryrun()
        image.deprecation_time = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return _action_result({"Return": True})

    replace(stack, AmisResponse, "enable_image_deprecation", enable_image_deprecation,
            create=True)


def _teach_ec2_launch_permissions(stack: ExitStack) -> None:
    """An AMI's attributes, launch permissions among them, are its owner's alone: EC2 User
    Guide, "Share an AMI with specific AWS accounts": "To share an AMI, your AWS account
    must own the AMI"; DescribeImageAttribute of an AMI another account owns (one shared
    with the caller) is refused with AuthFailure "Not authorized for image:<id>", as AWS
    answers it (moto raised a Python KeyError: it looks the AMI up in the caller's own
    account only, and for ModifyImageAttribute found the shared AMI and changed its owner's
    permissions). ModifyImageAttribute on an AMI still being made is refused with
    InvalidAMIID.Unavailable "The AMI ID '<id>' is currently pending and may not be used
    for this operation" (EC2's answer, as users report it; moto changed it)."""
    original_describe = AmisResponse.describe_image_attribute
    original_modify = AmisResponse.modify_image_attribute

    def owned_image(request: AmisResponse) -> Any:
        backend = request.ec2_backend
        image_id = request._get_param("ImageId")
        # describe_images raises InvalidAMIID.NotFound for an unknown id, shows another
        # account's AMI shared with this one (cross_account.py), and moves a finished
        # emulated copy on from pending.
        images = backend.describe_images(ami_ids=[image_id])
        if not images:  # deregistered
            raise EC2ClientError("InvalidAMIID.NotFound",
                                 f"The image id '[{image_id}]' does not exist")
        if images[0].owner_id != backend.account_id:
            raise EC2ClientError("AuthFailure", f"Not authorized for image:{image_id}")
        return images[0]

    def describe_image_attribute(self: AmisResponse) -> ActionResult:
        owned_image(self)
        return original_describe(self)

    def modify_image_attribute(self: AmisResponse) -> ActionResult:
        image = owned_image(self)
        if image.state == "pending":
            raise EC2ClientError("InvalidAMIID.Unavailable",
                                 f"The AMI ID '{image.id}' is currently pending and may not be "
                                 "used for this operation")
        return original_modify(self)

    replace(stack, AmisResponse, "describe_image_attribute", describe_image_attribute)
    replace(stack, AmisResponse, "modify_image_attribute", modify_image_attribute)


def _teach_ec2_register_image(stack: ExitStack) -> None:
    """EC2 API Reference, RegisterImage: TagSpecifications, "the tags to apply to the AMI"
    (ResourceType image), so an AMI never exists untagged."""
    def register_image(self: AmisResponse) -> ActionResult:
        self.error_on_dryrun()
        image = self.ec2_backend.register_image(self._get_param("Name"),
                                                self._get_param("Description", ""))
        specs = self._get_param("TagSpecification", []) or self._get_param("TagSpecifications", [])
        tags = convert_tag_spec(specs).get("image")
        if tags:
            self.ec2_backend.create_tags([image.id], tags)
        return _action_result({"ImageId": image.id})

    replace(stack, AmisResponse, "register_image", register_image)


def _teach_ec2_deregister_image(stack: ExitStack) -> None:
    def deregister_image(self: AmisResponse) -> ActionResult:
        backend = self.ec2_backend
        image = backend.amis.get(self._get_param("ImageId"))
        delete_snapshots = bool(self._get_param("DeleteAssociatedSnapshots"))
        snapshots = snapshot_ids(image) if image is not None and delete_snapshots else []
        self.error_on_dryrun()
        backend.deregister_image(self._get_param("ImageId"))
        results = []
        for snapshot_id in snapshots:
            in_use = any(snapshot_id in snapshot_ids(other) for other in backend.amis.values())
            code = "skipped" if in_use else delete_associated_snapshot(backend, snapshot_id)
            results.append({"SnapshotId": snapshot_id, "ReturnCode": code})
        body: dict[str, Any] = {"Return": True}
        if delete_snapshots:
            body["DeleteSnapshotResults"] = results
        return _action_result(body)

    replace(stack, AmisResponse, "deregister_image", deregister_image)


def _teach_rds_copy_db_snapshot(stack: ExitStack, timing: EmulatedCopyTiming,
                                quotas: AwsQuotas) -> None:
    original_copy_db_snapshot = rds_models.RDSBackend.copy_db_snapshot
    original_create_db_snapshot = rds_models.RDSBackend.create_db_snapshot
    original_describe_db_snapshots = rds_models.RDSBackend.describe_db_snapshots

    def refuse_beyond_manual_snapshot_quota(backend: rds_models.RDSBackend) -> None:
        manual = sum(1 for snapshot in backend.database_snapshots.values()
                     if snapshot.snapshot_type == "manual")
        if manual >= quotas.rds_manual_snapshots:
            raise RDSClientError(
                "SnapshotQuotaExceeded",
                f"Cannot create more than {quotas.rds_manual_snapshots} manual snapshots")

    def copy_db_snapshot(self: rds_models.RDSBackend, source_db_snapshot_identifier: str,
                         target_db_snapshot_identifier: str, kms_key_id: str | None = None,
                         tags: list[dict[str, str]] | None = None,
                         copy_tags: bool | None = False, **kwargs: Any) -> rds_models.DBSnapshot:
        source = _rds_source_snapshot(self, source_db_snapshot_identifier)
        cross_region = source is not None and source.backend.region_name != self.region_name
        if cross_region and source is not None and source.encrypted and not kms_key_id:
            raise RDSClientError(
                "InvalidParameterValue",
                "Must specify new KMS key for the destination region when copying an "
                "encrypted snapshot across regions",
            )
        copying = sum(1 for snapshot in self.database_snapshots.values()
                      if snapshot.status == "creating" and timing.in_progress(snapshot.arn))
        if cross_region and copying >= quotas.rds_copies_in_progress:
            raise RDSClientError(
                "SnapshotQuotaExceeded",
                f"Cannot copy more than {quotas.rds_copies_in_progress} snapshots across "
                "regions")
        refuse_beyond_manual_snapshot_quota(self)
        snapshot = original_copy_db_snapshot(
            self, source_db_snapshot_identifier, target_db_snapshot_identifier,
            kms_key_id=kms_key_id, tags=tags, copy_tags=copy_tags, **kwargs)
        # RDS API Reference, DBSnapshot: SourceRegion "The Amazon Web Services Region that
        # the DB snapshot was created in or copied from"; SourceDBSnapshotIdentifier "The
        # DB snapshot Amazon Resource Name (ARN) that the DB snapshot was copied from. It
        # only has a value in the case of a cross-account or cross-Region copy."
        # (moto's DBSnapshot declares neither attribute: hence the ignores.)
        if source is not None and (cross_region or source.account_id != self.account_id):
            snapshot.source_region = source.backend.region_name  # type: ignore[attr-defined]
            snapshot.source_db_snapshot_identifier = source.arn  # type: ignore[attr-defined]
        else:
            snapshot.source_region = self.region_name  # type: ignore[attr-defined]
        snapshot.status = "creating"
        timing.started(snapshot.arn)
        return snapshot

    def create_db_snapshot(self: rds_models.RDSBackend, db_instance_identifier: str,
                           db_snapshot_identifier: str, snapshot_type: str = "manual",
                           *args: Any, **kwargs: Any) -> rds_models.DBSnapshot:
        if snapshot_type == "manual":
            refuse_beyond_manual_snapshot_quota(self)
        snapshot = original_create_db_snapshot(self, db_instance_identifier,
                                               db_snapshot_identifier, snapshot_type, *args,
                                               **kwargs)
        # DBSnapshot SourceRegion (above): a snapshot RDS takes, manual or automated, was
        # "created in" this region. (moto's automated snapshots come through here too.)
        snapshot.source_region = self.region_name  # type: ignore[attr-defined]
        return snapshot

    def describe_db_snapshots(self: rds_models.RDSBackend, *args: Any,
                              **kwargs: Any) -> list[rds_models.DBSnapshot]:
        # Only a copy still `creating` moves on; any other status (seed.
        # force_db_snapshot_status) stays.
        for snapshot in self.database_snapshots.values():
            if snapshot.status == "creating" and timing.is_done(snapshot.arn):
                snapshot.status = "available"
        return original_describe_db_snapshots(self, *args, **kwargs)

    replace(stack, rds_models.RDSBackend, "copy_db_snapshot", copy_db_snapshot)
    replace(stack, rds_models.RDSBackend, "create_db_snapshot", create_db_snapshot)
    replace(stack, rds_models.RDSBackend, "describe_db_snapshots", describe_db_snapshots)


def _teach_rds_copy_db_cluster_snapshot(stack: ExitStack, timing: EmulatedCopyTiming,
                                        quotas: AwsQuotas) -> None:
    """CopyDBClusterSnapshot as AWS documents it (Aurora clusters, Multi-AZ DB clusters)."""
    from .moto_seam import InvalidDBClusterSnapshotStateFault

    backend = rds_models.RDSBackend
    original_copy = backend.copy_db_cluster_snapshot
    original_create = backend.create_db_cluster_snapshot
    original_delete = backend.delete_db_cluster_snapshot
    original_describe = backend.describe_db_cluster_snapshots

    def refuse_beyond_manual_cluster_snapshot_quota(rds_backend: rds_models.RDSBackend
                                                    ) -> None:
        # Aurora User Guide, "Quotas in Amazon Aurora": "Manual DB cluster snapshots: 100"
        # per Region. Observed answer (pbudzon/aws-maintenance#12, CopyDBClusterSnapshot):
        # "SnapshotQuotaExceeded ... Cannot create more than 100 manual snapshots".
        if manual_cluster_snapshots(rds_backend) >= quotas.rds_manual_cluster_snapshots:
            raise RDSClientError(
                "SnapshotQuotaExceeded",
                f"Cannot create more than {quotas.rds_manual_cluster_snapshots} manual "
                "snapshots")

    def copy_db_cluster_snapshot(self: rds_models.RDSBackend,
                                 source_db_cluster_snapshot_identifier: str,
                                 target_db_cluster_snapshot_identifier: str,
                                 kms_key_id: str | None = None,
                                 **kwargs: Any) -> rds_models.DBClusterSnapshot:
        source = _rds_source_cluster_snapshot(self, source_db_cluster_snapshot_identifier)
        cross_region = source is not None and source.backend.region_name != self.region_name
        if source is not None:
            _refuse_a_cluster_copy_key_aws_refuses(source, cross_region, kms_key_id)
        # Aurora User Guide, "DB cluster snapshot copying", Limitations: "You can have up
        # to five snapshot copy requests in progress to a single destination Region per
        # account." The wording is CopyDBSnapshot's observed one (see the quota's note).
        copying = sum(1 for snapshot in self.cluster_snapshots.values()
                      if snapshot.status == "copying" and timing.in_progress(snapshot.arn))
        if cross_region and copying >= quotas.rds_cluster_copies_in_progress:
            raise RDSClientError(
                "SnapshotQuotaExceeded",
                f"Cannot copy more than {quotas.rds_cluster_copies_in_progress} snapshots "
                "across regions")
        refuse_beyond_manual_cluster_snapshot_quota(self)
        snapshot = original_copy(self, source_db_cluster_snapshot_identifier,
                                 target_db_cluster_snapshot_identifier,
                                 kms_key_id=kms_key_id, **kwargs)
        # RDS API Reference, DBClusterSnapshot: SourceDBClusterSnapshotArn "If the DB
        # cluster snapshot was copied from a source DB cluster snapshot, the ARN for the
        # source DB cluster snapshot, otherwise, a null value." moto's serializer returns
        # the attribute when set.
        if source is not None:  # moto's DBClusterSnapshot declares no such attribute
            snapshot.source_db_cluster_snapshot_arn = source.arn  # type: ignore[attr-defined]
        # DBClusterSnapshot Status: available, copying, creating; CopyDBClusterSnapshot:
        # "delete the target DB cluster snapshot ... while that DB cluster snapshot is in
        # "copying" status" (moto: `available` at once).
        snapshot.status = "copying"
        timing.started(snapshot.arn)
        return snapshot

    def create_db_cluster_snapshot(self: rds_models.RDSBackend, db_cluster_identifier: str,
                                   db_cluster_snapshot_identifier: str,
                                   snapshot_type: str = "manual", *args: Any,
                                   **kwargs: Any) -> rds_models.DBClusterSnapshot:
        if snapshot_type == "manual":
            refuse_beyond_manual_cluster_snapshot_quota(self)
        return original_create(self, db_cluster_identifier, db_cluster_snapshot_identifier,
                               snapshot_type, *args, **kwargs)

    def delete_db_cluster_snapshot(self: rds_models.RDSBackend,
                                   db_snapshot_identifier: str) -> rds_models.DBClusterSnapshot:
        # RDS API Reference, DeleteDBClusterSnapshot: the snapshot "must be in the available
        # state" ("If the snapshot is being copied, the copy operation is terminated"); an
        # automated one is refused: "InvalidDBClusterSnapshotStateFault: Only manual
        # snapshots may be deleted." (observed, rebuy-de/aws-nuke#511). moto deleted it.
        snapshot = self.cluster_snapshots.get(db_snapshot_identifier)
        if snapshot is not None and snapshot.snapshot_type == "automated":
            raise InvalidDBClusterSnapshotStateFault("Only manual snapshots may be deleted.")
        return original_delete(self, db_snapshot_identifier)

    def describe_db_cluster_snapshots(self: rds_models.RDSBackend, *args: Any,
                                      **kwargs: Any) -> list[rds_models.DBClusterSnapshot]:
        # Only a copy still `copying` moves on; any other status (seed.
        # force_db_cluster_snapshot_status) stays.
        for snapshot in self.cluster_snapshots.values():
            if snapshot.status == "copying" and timing.is_done(snapshot.arn):
                snapshot.status = "available"
        return original_describe(self, *args, **kwargs)

    for name, patched in (("copy_db_cluster_snapshot", copy_db_cluster_snapshot),
                          ("create_db_cluster_snapshot", create_db_cluster_snapshot),
                          ("delete_db_cluster_snapshot", delete_db_cluster_snapshot),
                          ("describe_db_cluster_snapshots", describe_db_cluster_snapshots)):
        replace(stack, backend, name, patched)


def _refuse_a_cluster_copy_key_aws_refuses(source: rds_models.DBClusterSnapshot,
                                           cross_region: bool, kms_key_id: str | None) -> None:
    # RDS API Reference, CopyDBClusterSnapshot, KmsKeyId: "To copy an encrypted DB cluster
    # snapshot to another Amazon Web Services Region, you must set KmsKeyId"; AWS answers
    # KMSKeyNotAccessibleFault "Specified KMS key [None] ..." (observed, awslabs/aurora-
    # snapshot-tool#25). moto copied with the source region's key.
    if cross_region and source.storage_encrypted and not kms_key_id:
        raise RDSClientError(
            "KMSKeyNotAccessibleFault",
            "Specified KMS key [None] does not exist, is not enabled or you do not have "
            "permissions to access it.")
    # Same parameter: "If you copy an unencrypted DB cluster snapshot and specify a value
    # for the KmsKeyId parameter, an error is returned." (No code documented;
    # InvalidParameterCombination is RDS's code for parameters that exclude each other.)
    if not source.storage_encrypted and kms_key_id:
        raise RDSClientError(
            "InvalidParameterCombination",
            "KmsKeyId cannot be specified when copying an unencrypted DB cluster snapshot")


def _teach_rds_delete_db_cluster(stack: ExitStack) -> None:
    """RDS API Reference, DeleteDBCluster: "The default is to remove automated backups
    immediately after the DB cluster is deleted"; manual cluster snapshots stay."""
    from .moto_seam import RDSResponse

    original = RDSResponse.delete_db_cluster

    def delete_db_cluster(self: RDSResponse) -> ActionResult:
        answer: ActionResult = original(self)
        cluster = self.params.get("DBClusterIdentifier")
        if str(self.params.get("DeleteAutomatedBackups", True)).lower() != "false":
            snapshots = self.backend.cluster_snapshots
            for snapshot_id, snapshot in list(snapshots.items()):
                if snapshot.snapshot_type == "automated" and \
                        snapshot.db_cluster_identifier == cluster:
                    del snapshots[snapshot_id]
        return answer

    replace(stack, RDSResponse, "delete_db_cluster", delete_db_cluster)


def manual_cluster_snapshots(rds_backend: rds_models.RDSBackend) -> int:
    return sum(1 for snapshot in rds_backend.cluster_snapshots.values()
               if snapshot.snapshot_type == "manual")


def _teach_rds_account_attributes(stack: ExitStack, quotas: AwsQuotas) -> None:
    """RDS API Reference, DescribeAccountAttributes: "all of the attributes for a
    customer account ... (Used, Max) for each quota" as AccountQuotas. moto does not
    implement it; here ManualSnapshots counts what refuse_beyond_manual_snapshot_quota
    counts (the region's manual snapshots, copies included) against the same quota, and
    ManualClusterSnapshots ("The number of manual DB cluster snapshots", AccountQuota)
    the manual cluster snapshots against theirs."""
    from .moto_seam import ActionResult, RDSResponse

    def describe_account_attributes(self: RDSResponse) -> ActionResult:
        manual = sum(1 for snapshot in self.backend.database_snapshots.values()
                     if snapshot.snapshot_type == "manual")
        return ActionResult({"AccountQuotas": [
            {"AccountQuotaName": "ManualSnapshots", "Used": manual,
             "Max": quotas.rds_manual_snapshots},
            {"AccountQuotaName": "ManualClusterSnapshots",
             "Used": manual_cluster_snapshots(self.backend),
             "Max": quotas.rds_manual_cluster_snapshots},
            # restores.py refuses a DB instance beyond DBInstances ("Quotas in Amazon RDS")
            {"AccountQuotaName": "DBInstances", "Used": len(self.backend.databases),
             "Max": quotas.rds_db_instances},
            {"AccountQuotaName": "DBClusters", "Used": len(self.backend.clusters),
             "Max": quotas.rds_db_clusters},
        ]})

    replace(stack, RDSResponse, "describe_account_attributes",
            describe_account_attributes, create=True)


# Tagging Amazon RDS resources / Tag your Amazon EC2 resources: "each resource can have a
# maximum of 50 user-created tags"; tags AWS adds (aws:) do not count.
MAX_USER_TAGS_PER_RESOURCE = 50
# EC2 requests that take TagSpecifications (or, CreateTags, Tags) and that this tool, its
# tests or its seeding use. Each is checked before moto runs it.
EC2_TAGGING_ACTIONS = ("create_tags", "copy_image", "create_image", "register_image",
                       "run_instances", "create_snapshot", "copy_snapshot", "create_volume")


def _refuse_tags_aws_refuses(stack: ExitStack) -> None:
    """moto accepts any tag; EC2 and RDS refuse a key or value that breaks their documented
    rules (xregion_sync/tag_rules.py, which cites them) and a 51st user tag. The rules are
    checked on requests only: AWS itself puts aws: tags on resources, and so do tests that
    seed them through the backend."""
    for action in EC2_TAGGING_ACTIONS:
        replace(stack, EC2Response, action,
                _checking_ec2_request_tags(action, getattr(EC2Response, action)))
    replace(stack, TagBackend, "create_tags", _create_ec2_tags)

    backend = rds_models.RDSBackend
    # Called with *args and tags=: typed loosely, or mypy counts `tags` twice.
    original_copy: Callable[..., rds_models.DBSnapshot] = backend.copy_db_snapshot
    original_create_snapshot: Callable[..., rds_models.DBSnapshot] = backend.create_db_snapshot
    original_add_tags = backend.add_tags_to_resource
    original_create_instance = backend.create_db_instance
    original_copy_cluster_snapshot: Callable[..., rds_models.DBClusterSnapshot] = (
        backend.copy_db_cluster_snapshot)
    original_create_cluster_snapshot: Callable[..., rds_models.DBClusterSnapshot] = (
        backend.create_db_cluster_snapshot)
    original_create_cluster = backend.create_db_cluster

    def copy_db_snapshot(self: rds_models.RDSBackend, *args: Any,
                         tags: list[dict[str, str]] | None = None,
                         **kwargs: Any) -> rds_models.DBSnapshot:
        _refuse_rds_tags(tags or [])
        return original_copy(self, *args, tags=tags, **kwargs)

    def create_db_snapshot(self: rds_models.RDSBackend, *args: Any,
                           tags: list[dict[str, str]] | None = None,
                           **kwargs: Any) -> rds_models.DBSnapshot:
        _refuse_rds_tags(tags or [])
        return original_create_snapshot(self, *args, tags=tags, **kwargs)

    def create_db_instance(self: rds_models.RDSBackend,
                           db_kwargs: dict[str, Any]) -> rds_models.DBInstance:
        _refuse_rds_tags(db_kwargs.get("tags") or [])
        return original_create_instance(self, db_kwargs)

    def copy_db_cluster_snapshot(self: rds_models.RDSBackend, *args: Any,
                                 tags: list[dict[str, str]] | None = None,
                                 **kwargs: Any) -> rds_models.DBClusterSnapshot:
        _refuse_rds_tags(tags or [])
        return original_copy_cluster_snapshot(self, *args, tags=tags, **kwargs)

    def create_db_cluster_snapshot(self: rds_models.RDSBackend, *args: Any,
                                   tags: list[dict[str, str]] | None = None,
                                   **kwargs: Any) -> rds_models.DBClusterSnapshot:
        _refuse_rds_tags(tags or [])
        return original_create_cluster_snapshot(self, *args, tags=tags, **kwargs)

    def create_db_cluster(self: rds_models.RDSBackend,
                          cluster_kwargs: dict[str, Any]) -> rds_models.DBCluster:
        _refuse_rds_tags(cluster_kwargs.get("tags") or [])
        return original_create_cluster(self, cluster_kwargs)

    def add_tags_to_resource(self: rds_models.RDSBackend, arn: str,
                             tags: list[dict[str, str]]) -> list[dict[str, str]]:
        resource = self._get_resource_for_tagging(arn)
        existing = resource.get_tags() if resource else []
        _refuse_rds_tags(tags, existing)
        return original_add_tags(self, arn, tags)

    replace(stack, backend, "copy_db_snapshot", copy_db_snapshot)
    replace(stack, backend, "create_db_snapshot", create_db_snapshot)
    replace(stack, backend, "create_db_instance", create_db_instance)
    replace(stack, backend, "copy_db_cluster_snapshot", copy_db_cluster_snapshot)
    replace(stack, backend, "create_db_cluster_snapshot", create_db_cluster_snapshot)
    replace(stack, backend, "create_db_cluster", create_db_cluster)
    replace(stack, backend, "add_tags_to_resource", add_tags_to_resource)


def _checking_ec2_request_tags(name: str, action: Callable[[EC2Response], object]
                               ) -> Callable[[EC2Response], object]:
    def checked(self: EC2Response) -> object:
        for tags in _ec2_request_tag_sets(self, name):
            for key, value in tags.items():
                _refuse_ec2_tag(key, value)
            if _user_tag_count(tags) > MAX_USER_TAGS_PER_RESOURCE:
                raise _ec2_tag_limit_exceeded()
        return action(self)

    return checked


def _ec2_request_tag_sets(response: EC2Response, action: str) -> list[dict[str, Any]]:
    """The tags of a request, one dict per resource type it tags (CreateTags: one)."""
    if action == "create_tags":
        return [{tag.get("Key"): tag.get("Value") for tag in response._get_param("Tags", [])}]
    specs = (response._get_param("TagSpecification", [])
             or response._get_param("TagSpecifications", []))
    sets = []
    for spec in specs:
        tags = spec.get("Tags") or spec.get("Tag") or []
        if not tags:
            # Observed EC2 answer to an empty TagSpecification (hashicorp/packer-plugin-
            # amazon#92, #141: "InvalidTagKey.Malformed: Tag specification must have at
            # least one tag"); the EC2 API Reference documents no message for it.
            raise EC2ClientError("InvalidTagKey.Malformed",
                                 "Tag specification must have at least one tag")
        sets.append({tag.get("Key"): tag.get("Value") for tag in tags})
    return sets


def _refuse_ec2_tag(key: str | None, value: str | None) -> None:
    """EC2 API Reference, Tag: a key "May not begin with aws:"; EC2 User Guide, Tag
    restrictions: key 1-128, value 0-256 characters, any character (tag_rules.py).
    Code and wording as EC2 answers (observed, e.g. andrewfarley/aws-automated-daily-
    instance-ami-snapshots#7: "InvalidParameterValue ... Value ( aws:autoscaling:groupName )
    for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal
    use"); the reason after it is tag_rules' for problems other than aws:."""
    problem = key_problem("ec2", key or "")
    if problem:
        reason = ("Tag keys starting with 'aws:' are reserved for internal use"
                  if (key or "").lower().startswith("aws:") else problem)
        raise EC2ClientError("InvalidParameterValue",
                             f"Value ( {key} ) for parameter key is invalid. {reason}")
    problem = value_problem("ec2", value) if value is not None else None
    if problem:  # a None value is moto's own refusal (InvalidParameterValueErrorTagNull)
        raise EC2ClientError("InvalidParameterValue",
                             f"Value ( {value} ) for parameter value is invalid. {problem}")


def _create_ec2_tags(self: TagBackend, resource_ids: list[str], tags: dict[str, str]) -> bool:
    """moto's TagBackend.create_tags, except that it counts only user tags against the 50:
    moto counted the aws: tags a resource already had, which AWS does not ("Tags with this
    prefix do not count against your tags per resource limit")."""
    if None in tags.values():
        raise InvalidParameterValueErrorTagNull()
    for resource_id in resource_ids:
        merged = {**self.tags.get(resource_id, {}), **tags}
        if _user_tag_count(merged) > MAX_USER_TAGS_PER_RESOURCE:
            raise _ec2_tag_limit_exceeded()
    for resource_id in resource_ids:
        self.tags[resource_id].update(tags)
    return True


def _ec2_tag_limit_exceeded() -> EC2ClientError:
    # EC2 API Reference, Error codes: TagLimitExceeded, "You've reached the limit on the
    # number of tags that you can assign to the specified resource." (moto's wording kept.)
    return EC2ClientError("TagLimitExceeded",
                          "The maximum number of Tags for a resource has been reached.")


def _user_tag_count(tags: Iterable[str | None]) -> int:
    return sum(1 for key in tags if not str(key).lower().startswith("aws:"))


def _refuse_rds_tags(tags: list[dict[str, str]],
                     existing: list[dict[str, str]] | None = None) -> None:
    """RDS API Reference, Tag: key 1-128, value 0-256 Unicode characters, neither "can be
    prefixed with aws: or rds:", only letters, digits, white space and _ . : / = + - @
    (tag_rules.py). RDS answers InvalidParameterValue (observed, cloud-custodian#2115: "Tag
    values may only contain unicode letters, digits, whitespace, or one of these symbols:
    ... (Error Code: InvalidParameterValue)"); the message here carries tag_rules' reason."""
    for tag in tags:
        key, value = tag.get("Key") or "", tag.get("Value") or ""
        problem = key_problem("rds", key)
        if problem:
            raise RDSClientError("InvalidParameterValue", f"Invalid tag key {key!r}: {problem}")
        problem = value_problem("rds", value)
        if problem:
            raise RDSClientError("InvalidParameterValue",
                                 f"Invalid tag value {value!r} (key {key!r}): {problem}")
    keys = {tag.get("Key") for tag in (existing or [])} | {tag.get("Key") for tag in tags}
    if _user_tag_count(keys) > MAX_USER_TAGS_PER_RESOURCE:
        # RDS User Guide, Tagging Amazon RDS resources: at most 50 tags per resource. The
        # RDS API Reference names no error for it; this is the code and message ElastiCache
        # (RDS's sibling Query API) documents, TagQuotaPerResourceExceeded -- not confirmed
        # for RDS.
        raise RDSClientError(
            "TagQuotaPerResourceExceeded",
            "The request cannot be processed because it would cause the resource to have "
            "more than the allowed number of tags. The maximum number of tags permitted on "
            f"a resource is {MAX_USER_TAGS_PER_RESOURCE}.")


def delete_associated_snapshot(backend: EC2Backend, snapshot_id: str) -> str:
    """Delete one snapshot of a deregistered AMI; its DeleteSnapshotResults ReturnCode.
    The IAM layer (iam.py), when on, says whether the caller may delete it."""
    if not snapshot_deletion_permitted.get()(snapshot_id):
        return "missing-permissions"
    backend.delete_snapshot(snapshot_id)
    return "success"


def _action_result(body: dict[str, Any]) -> ActionResult:
    from .moto_seam import ActionResult

    return ActionResult(body)


def _ec2_backend(account_id: str, region: str) -> EC2Backend:
    from .moto_seam import ec2_backends

    return ec2_backends[account_id][region]


def kms_key(account_id: str, region: str, key_id: str) -> Any | None:
    """The KMS key `key_id` (id, ARN, alias or alias ARN) names in the account and region
    (an ARN names its own), or None when there is none."""
    from .moto_seam import kms_backends

    if key_id.startswith("arn:"):
        _, _, _, region, account_id, _ = key_id.split(":", 5)
    backend = kms_backends[account_id][region]
    alias = backend.get_alias_name(key_id)
    if alias.startswith("alias/") and backend.get_key_id_from_alias(alias) is None:
        return None  # moto's any_id_to_key_id fails on a missing alias (AttributeError)
    return backend.keys.get(backend.any_id_to_key_id(key_id))


def _encrypt_copied_snapshots(backend: Any, image: Ami, encrypted: Any, key_id: str | None
                              ) -> None:
    """CopyImage with Encrypted encrypts the copy's snapshots with KmsKeyId (EC2 API
    Reference, CopyImage: "Encrypted ... Specifies whether the destination snapshots of the
    copied image should be encrypted"; KmsKeyId "The identifier of the symmetric KMS key to
    use when creating encrypted volumes"); moto copies them unencrypted."""
    if str(encrypted).lower() != "true":
        return
    for snapshot_id in snapshot_ids(image):
        snapshot = backend.snapshots.get(snapshot_id)
        if snapshot is not None:
            snapshot.encrypted, snapshot.kms_key_id = True, key_id


def snapshot_ids(image: Ami) -> list[str]:
    snapshot = getattr(image, "ebs_snapshot", None)
    return [snapshot.id] if snapshot is not None else []


def _rds_source_snapshot(backend: rds_models.RDSBackend,
                         identifier: str) -> rds_models.DBSnapshot | None:
    """The source snapshot of a copy, looked up in the region its ARN names."""
    source_backend, name = _rds_snapshot_location(backend, identifier)
    return source_backend.database_snapshots.get(name.lower())


def _rds_source_cluster_snapshot(backend: rds_models.RDSBackend,
                                 identifier: str) -> rds_models.DBClusterSnapshot | None:
    """The source DB cluster snapshot of a copy, looked up in the region its ARN names."""
    source_backend, name = _rds_snapshot_location(backend, identifier)
    return source_backend.cluster_snapshots.get(name.lower())


def _rds_snapshot_location(backend: rds_models.RDSBackend,
                           identifier: str) -> tuple[rds_models.RDSBackend, str]:
    """The backend and name of the snapshot an id or an ARN (another region's) names."""
    if identifier.startswith("arn:"):
        parts = identifier.split(":")
        region, account, name = parts[3], parts[4], ":".join(parts[6:])
        source_backend = rds_models.rds_backends[account][region]
    else:
        source_backend, name = backend, identifier
    return source_backend, name


def _name_lambda_service_errors(stack: ExitStack) -> None:
    """moto names every Lambda invoke ClientError 'Exception'; AWS names it Lambda.<Code>
    (e.g. Lambda.TooManyRequestsException), as its service-integration tasks already do."""
    from botocore.exceptions import ClientError

    from .moto_seam import (
        CustomErrorName,
        EventDetails,
        FailureEvent,
        HistoryEventType,
        LambdaFunctionFailedEventDetails,
        StateTaskLambda,
    )

    original = StateTaskLambda._from_error

    def from_error(self: StateTaskLambda, env: Environment, ex: Exception) -> FailureEvent:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        name = f"Lambda.{ex.response['Error'].get('Code', 'Exception')}"
        details = LambdaFunctionFailedEventDetails(error=name,
                                                   cause=ex.response["Error"].get("Message", ""))
        return FailureEvent(env=env, error_name=CustomErrorName(name),
                            event_type=HistoryEventType.LambdaFunctionFailed,
                            # moto declares EventDetails total, yet every event (moto's own
                            # too) fills one key of it: not a mistake here.
                            event_details=EventDetails(  # type: ignore[typeddict-item]
                                lambdaFunctionFailedEventDetails=details))

    replace(stack, StateTaskLambda, "_from_error", from_error)
