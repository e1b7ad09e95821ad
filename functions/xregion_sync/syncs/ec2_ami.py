"""ec2_ami: copy exactly one AMI, with its tags, to the destination region, once.

Source: DescribeImages by owner + tag:Sync-Identifier + the job's filters (ANDed).
Managed copies: AMIs in the destination whose tracking tags name this job (exactly: a
tag filter value is a pattern, so `sync_web*` would match `sync_web_app`), its source
region and its source selection, and whose SourceImageId/SourceImageRegion (AWS's own
record of what the AMI was copied from) agree with the tags. A source the original
aws_xregion_sync copied is recognised by its Sync-<destination> tag, when that tag is
about this source and not inherited from the image it was built from.
Calls: in sync 2 reads; copy 4 calls (2 reads, CopyImage, a read that the AMI it answered
with exists); +1 DeregisterImage per pruned copy. copy_launch_permissions: once per copy,
after it is available, DescribeImageAttribute on the source, ModifyImageAttribute (when the
source has launch permissions to give) and CreateTags (the copy is marked done).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from .. import aws
from ..errors import (
    AccessDeniedError,
    AmbiguousSourceError,
    CopyGoneError,
    OrphanedSnapshotsError,
    SourceNotFoundError,
    reporting_deletions,
)
from ..spec import (
    WAIT_OPTIONS,
    ClientConfig,
    JobSpec,
    Option,
    ami_owner,
    boolean,
    days_up_to_ten_years,
    ec2_filters,
    iam_role_arn,
    non_negative_int,
    quarter_hour_minutes,
    text,
)
from ..tags import (
    LAST_DRILL_TAGS,
    TAG_JOB,
    TAG_PREFIX,
    TAG_SOURCE_CREATED,
    TAG_SOURCE_ID,
    TAG_SOURCE_REGION,
    TAG_SOURCE_SELECTION,
    iso_utc,
    legacy_source_tag_key,
    parse_legacy_value,
    tag_dict,
    tag_list,
    tracking_tags,
    user_tags,
)
from .base import (
    AVAILABLE,
    FAILED,
    GONE,
    PENDING,
    UNKNOWN,
    Copy,
    CopyQuotas,
    ExistingCopies,
    ManagedCopy,
    ProblemReporter,
    Source,
    idempotency_token,
    lineage,
    managed_copy,
    missing_tags,
    with_last_drill,
)

NAME = "ec2_ami"
SERVICE = "ec2"
# EBS User Guide, "Copy an Amazon EBS snapshot": "a limit of 20 concurrent snapshot copy
# requests per destination Region" (an AMI copy holds one per backing snapshot).
COPY_QUOTAS = CopyQuotas(in_progress=20, in_progress_kind="EBS snapshot copies")
# another account's AMIs selected by tag; the keys of another account's encrypted snapshots
DOCTOR_CHECKS = ("source_account", "source_key")
# template.yaml's parameter for the keys of other accounts that Start Copy may use
SOURCE_KMS_KEYS_PARAMETER = "SourceKmsKeyArns"
OPTIONS = {
    "ami_owner": Option(ami_owner, default="self", aliases=("owner_id",),
                        doc="account id or alias owning the source AMI"),
    "sync_identifier": Option(text, doc="value of the source AMI's Sync-Identifier tag"),
    "filters": Option(ec2_filters, doc="more DescribeImages filters, all ANDed"),
    "kms_key_id": Option(text, doc="KMS key in the destination region to encrypt the copy"),
    "max_images_to_retain": Option(non_negative_int,
                                   doc="previous copies kept besides the newest; unset keeps all"),
    "source_role_arn": Option(iam_role_arn,
                              doc="role in the AMI owner's account to find the source AMI by "
                                  "its tags (AWS shows an AMI's tags only to its owner); "
                                  "list it in the stack's JobRoleArns"),
    "deprecate_after_days": Option(days_up_to_ten_years,
                                   doc="days after it is made that the copy is deprecated "
                                       "(EnableImageDeprecation), 1 to 3650; unset: never"),
    "copy_completion_minutes": Option(quarter_hour_minutes,
                                      doc="time-based copy: EC2 completes the copy within "
                                          "this many minutes, 15 to 2880 in steps of 15 "
                                          "(billed per GiB copied); unset: best effort. "
                                          "A job that waits for it waits until the "
                                          "deadline, polling less often for long ones"),
    "copy_launch_permissions": Option(boolean, default=False,
                                      doc="once the copy is available, give it the source "
                                          "AMI's launch permissions (accounts, organizations, "
                                          "OUs); never makes a copy public"),
    "chained_dr": Option(boolean, default=False,
                         doc="the source may be a DR copy this tool made (a copy of a copy); "
                             "unset, such copies are never a source, even when they match"),
}
SYNC_IDENTIFIER_TAG = "Sync-Identifier"
# DeregisterImage on an AMI a first attempt already deregistered: done, not failed.
AMI_GONE_CODES = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})
MAX_AMI_NAME_LENGTH = 128
# EC2's documented image states, normalised; any other (transient, invalid, disabled, a
# state AWS adds later) is UNKNOWN: kept, never pruned, never counted as a copy.
_STATES = {"pending": PENDING, "available": AVAILABLE, "failed": FAILED, "error": FAILED,
           "deregistered": GONE}
# copy_launch_permissions: set on a copy once the source's launch permissions were given to
# it (COPIED) or could not be read (SKIPPED), so no later run reads them again.
TAG_LAUNCH_PERMISSIONS = f"{TAG_PREFIX}launch-permissions"
# deprecate_after_days: set in the copy call (its value the days), so a copy whose
# EnableImageDeprecation failed is found without a deprecation time and finished later.
TAG_DEPRECATE_AFTER_DAYS = f"{TAG_PREFIX}deprecate-after-days"
COPIED, SKIPPED = "copied", "skipped"
# The launch permissions a copy may get: accounts, organizations, OUs; never a Group
# (the only group is `all`: public).
GRANTEE_KEYS = ("UserId", "OrganizationArn", "OrganizationalUnitArn")

logger = logging.getLogger(__name__)


def resolve_source(job: JobSpec) -> Source:
    owner = job.options.get("ami_owner") or "self"
    ec2 = aws.client(job, SERVICE, job.source_region, settings=_source_client(job))
    with aws.aws_errors(job.name, f"looking for the source AMI in {job.source_region}"):
        # Deprecated AMIs too: EC2 hides another account's unless asked (its owner sees
        # them anyway); one is the source only when no current AMI matches.
        images = _paginate_images(ec2, Owners=[owner], Filters=_source_filters(job),
                                  IncludeDeprecated=True)
    # CopyImage copies the AMI's tags (Sync-Identifier too): in a two-way setup another
    # job's DR copy matches this job's selection.
    dr_copies = [image["ImageId"] for image in images if _dr_copy(image)]
    if not job.options.get("chained_dr"):
        images = [image for image in images if image["ImageId"] not in dr_copies]
    images = [image for image in images if not _deprecated(image)] or images
    if not images:
        raise SourceNotFoundError(
            f"No EC2 Images were found using the filter settings for identifier '{job.name}' "
            f"in {job.source_region}; check ami_owner, sync_identifier and filters"
            + (f"; {hint}" if (hint := _other_account_advice(job)) else "")
            + (f"; only DR copies this tool made match ({', '.join(sorted(dr_copies))}), "
               "which are never a source unless the job sets chained_dr: true"
               if dr_copies else ""),
            job=job.name)
    if len(images) > 1:
        ids = ", ".join(sorted(image["ImageId"] for image in images))
        raise AmbiguousSourceError(
            f"More than one EC2 Image was found with the filter settings for identifier "
            f"'{job.name}': {ids}. Narrow sync_identifier or filters to one AMI",
            job=job.name)
    image = images[0]
    if image.get("State") != AVAILABLE:
        raise SourceNotFoundError(
            f"job '{job.name}': source AMI {image['ImageId']} is {image.get('State')}, not "
            "available; the next run copies it once it is available", job=job.name)
    if _deprecated(image):
        # Still launchable and copyable by id: the DR copy keeps what may still be in use.
        logger.warning("The source AMI is deprecated by its owner and no current AMI "
                       "matches the job; copied all the same", extra={
                           "job": job.name, "image": image["ImageId"],
                           "owner": image.get("OwnerId"),
                           "deprecation_time": image["DeprecationTime"]})
    tags = tag_dict(image.get("Tags"))
    legacy = parse_legacy_value(tags.get(legacy_source_tag_key(job.destination_region)))
    return {
        "id": image["ImageId"],
        "owner": image.get("OwnerId"),
        "name": image.get("Name") or image["ImageId"],
        "description": image.get("Description") or "",
        "created": _creation_time(image),
        "tags": user_tags(tags),
        "legacy_copy_id": legacy[1] if legacy else None,
        "legacy_tagged": iso_utc(legacy[0]) if legacy else None,
    }


def advice(job: JobSpec) -> list[str]:
    """What `validate` says about a valid job that may still find nothing on AWS."""
    notes = []
    owner = job.options.get("ami_owner") or "self"
    if owner.isdigit() and len(owner) != 12:
        # A note, not an error: the original tool's README example has a 14-digit owner.
        notes.append(f"job '{job.name}', field 'ami_owner': {owner} has {len(owner)} digits, "
                     "an AWS account id has 12: AWS refuses it (InvalidUserID.Malformed); "
                     "write the owning account's id, or 'self'")
    hint = _other_account_advice(job)
    if hint:
        notes.append(f"job '{job.name}', field 'source_role_arn': {hint}")
    if (job.options.get("copy_launch_permissions") and not job.options.get("source_role_arn")
            and re.fullmatch(r"\d{12}", owner)):
        notes.append(f"job '{job.name}', field 'copy_launch_permissions': if account {owner} "
                     "is not the account this job runs in, AWS shows the source AMI's launch "
                     f"permissions only to {owner} itself, and the copies get none (each "
                     f"with a warning): set source_role_arn to a role in {owner} that may "
                     "call ec2:DescribeImages and ec2:DescribeImageAttribute")
    return notes


def started_by_event(job: JobSpec, event: Mapping[str, Any]) -> bool:
    """An AMI became available in the job's source region ("EC2 AMI State Change"). The
    event does not carry the AMI's tags, and telling whether the AMI is the job's source
    needs the job's own credentials: its steps do that (Resolve Source, Check Sync Tag),
    and a job whose source is another AMI is simply in sync, for two DescribeImages."""
    return event.get("source") == "aws.ec2"


def check_options(options: dict[str, Any], problem: ProblemReporter) -> None:
    """Rules between options: the source role must be in the AMI owner's account. A job
    that waits for a time-based copy waits, unless told otherwise, until its deadline:
    max_wait_seconds at its default (3600) is raised to the completion duration plus one
    poll interval."""
    owner, role = options.get("ami_owner"), options.get("source_role_arn")
    if role and owner and re.fullmatch(r"\d{12}", owner) and role.split(":")[4] != owner:
        problem("source_role_arn", f"must be a role in the AMI owner's account {owner} (the "
                f"account that can see the AMI's tags), got a role in {role.split(':')[4]}")
    minutes = options.get("copy_completion_minutes")
    if minutes and options.get("wait_for_completion"):
        deadline = minutes * 60 + (options.get("poll_interval_seconds") or 0)
        default = WAIT_OPTIONS["max_wait_seconds"].default
        if options.get("max_wait_seconds") == default and deadline > default:
            options["max_wait_seconds"] = deadline


def find_existing_copy(job: JobSpec, source: Source) -> ExistingCopies:
    ec2 = aws.client(job, SERVICE, job.destination_region)
    selection = _selection_key(job)
    copies = _tracked_copies(job, ec2, f"tag:{TAG_JOB}", list(lineage(job)))
    managed = [copy for copy, tags in copies if tags.get(TAG_JOB) in lineage(job)
               and tags.get(TAG_SOURCE_SELECTION, selection) == selection]
    of_source = [m for m in managed if m["source_id"] == source["id"]]
    live = _live(of_source)
    if not live and source.get("legacy_copy_id"):
        legacy = _legacy_copy(job, ec2, source)
        if legacy:
            live = [legacy]
    return {
        "in_sync": bool(live),
        "copy": live[0] if live else None,
        "replaces": [m["id"] for m in of_source if m["state"] == FAILED],
        "managed": managed,
    }


def start_copy(job: JobSpec, source: Source, existing: ExistingCopies,
               run_id: str) -> Copy:
    del run_id  # the ClientToken is the same in every run: see copy_token
    ec2 = aws.client(job, SERVICE, job.destination_region)
    # A failed AMI keeps its name, and the new copy needs that name.
    _deregister_copies(job, ec2, existing.get("replaces") or (), "failed copy")
    tracking = {**tracking_tags(job.name, source["id"], job.source_region, source["created"]),
                TAG_SOURCE_SELECTION: _selection_key(job)}
    if job.options.get("deprecate_after_days"):
        tracking[TAG_DEPRECATE_AFTER_DAYS] = str(job.options["deprecate_after_days"])
    tracking.update(existing.get("last_drill") or {})
    inherited = missing_tags(source["tags"], tracking)
    if len(inherited) < len(source["tags"]):
        logger.warning("Source has more tags than fit on the copy; some are not copied",
                       extra={"job": job.name, "source": source["id"]})
    tags = {**inherited, **tracking}
    params: dict[str, Any] = {
        "SourceRegion": job.source_region,
        "SourceImageId": source["id"],
        "Description": source["description"] or
        f"Copy of {source['id']} from {job.source_region} by xregion-sync",
        # Tags travel in the copy call itself, so no copy ever exists untracked.
        "TagSpecifications": [{"ResourceType": kind, "Tags": tag_list(tags)}
                              for kind in ("image", "snapshot")],
    }
    if job.options.get("kms_key_id"):
        params.update(Encrypted=True, KmsKeyId=job.options["kms_key_id"])
    if job.options.get("copy_completion_minutes"):
        # A time-based copy; left out otherwise, so the ClientToken of a job without the
        # option is what it always was (copy_token hashes the request).
        params["SnapshotCopyCompletionDurationMinutes"] = job.options["copy_completion_minutes"]
    with reporting_deletions(list(existing.get("replaces") or ())), aws.aws_errors(
            job.name, f"copying {source['id']} to {job.destination_region}"):
        try:
            image_id, tags = _copy_image_named(ec2, params, job, source,
                                               list(existing.get("replaces") or ()), tags)
        except ClientError as exc:
            refusal = _source_key_refusal(job, source, exc)
            if refusal is None:
                raise
            raise AccessDeniedError(refusal, job=job.name) from None
    copy: Copy = {"id": image_id, "state": PENDING, "tags": tags}
    if job.options.get("copy_launch_permissions"):
        copy["finish_due"] = True  # once available: see finish_copy
    if existing.get("replaces"):
        copy["replaced"] = list(existing["replaces"])  # already deregistered: not to prune
    return copy


KMS_KEY_ARN = re.compile(r"arn:aws[\w-]*:kms:[\w-]+:(\d{12}):key/[\w-]+")


def _source_key_refusal(job: JobSpec, source: Source, exc: ClientError) -> str | None:
    """The message for a CopyImage refused for the key of another account that encrypts
    the source AMI's snapshots (the caller needs an IAM allow on it, SourceKmsKeyArns, and
    the owner's key policy must allow the caller's account); None for any other error."""
    owner = source.get("owner") or job.options.get("ami_owner")
    said = exc.response.get("Error", {}).get("Message", "") or str(exc)
    if (not owner or not re.fullmatch(r"\d{12}", owner)
            or aws.error_code(exc) not in aws.ACCESS_DENIED_CODES or "kms" not in said.lower()):
        return None
    keys = sorted({match.group(0) for match in KMS_KEY_ARN.finditer(said)
                   if match.group(1) == owner})
    if not keys and KMS_KEY_ARN.search(said):
        return None  # a key of another account than the AMI's owner: not the source's
    key = (f"KMS key {keys[0]}" if keys else
           f"a KMS key of account {owner} (`xregion-sync doctor` names it)")
    return (f"job '{job.name}': CopyImage of {source['id']} was refused for {key}, which "
            f"encrypts the snapshots of the source AMI of account {owner}: add the key's "
            f"ARN to the stack's {SOURCE_KMS_KEYS_PARAMETER} parameter (sam deploy "
            f"--parameter-overrides {SOURCE_KMS_KEYS_PARAMETER}=...), and have account "
            f"{owner} allow this account to use the key in its key policy (docs/day-one.md). "
            f"AWS said: {aws.error_code(exc)}: {said}")


def source_snapshot_keys(job: JobSpec, image_id: str) -> dict[str, str | None]:
    """Each encrypted snapshot of the source AMI -> the ARN of the KMS key encrypting it,
    or None when the source credentials cannot see the snapshot. DescribeImages says which
    snapshots are encrypted; DescribeSnapshots names the key, and AWS shows another
    account's snapshot only to that account (or one it shares the snapshot with): the
    owner's role (source_role_arn) sees it."""
    ec2 = aws.client(job, SERVICE, job.source_region, settings=_source_client(job))
    images = _describe_image(ec2, image_id)
    mappings = images[0].get("BlockDeviceMappings") or [] if images else []
    keys: dict[str, str | None] = {}
    for mapping in mappings:
        ebs = mapping.get("Ebs") or {}
        if not (ebs.get("Encrypted") and ebs.get("SnapshotId")):
            continue
        try:
            snapshot = ec2.describe_snapshots(SnapshotIds=[ebs["SnapshotId"]])["Snapshots"]
        except ClientError as exc:
            if not aws.error_code(exc).startswith("InvalidSnapshot"):
                raise
            snapshot = []
        keys[ebs["SnapshotId"]] = snapshot[0].get("KmsKeyId") if snapshot else None
    return keys


# A copy a token made and someone deregistered since: each is skipped with a new token.
MAX_GONE_COPIES = 3


def copy_token(job: JobSpec, source: Source, replaces: Iterable[str],
               params: dict[str, Any], gone: Iterable[str] = ()) -> str:
    """CopyImage's ClientToken: the same for every run that would make the same copy (the
    job, the source AMI, the destination, the failed copies it replaces, the request
    itself) and nothing else, in particular not the run. Two overlapping runs that both
    found no copy send the same token and EC2 returns the first run's AMI to both (EC2
    answers a repeated token with the first call's result; the same token with other
    parameters would be IdempotentParameterMismatch, so the request is part of the
    token). `gone` are copies this token chain made that have been deregistered since:
    EC2 would keep answering with them while it remembers the token."""
    # Not the last-drill record the copy carries: a drill recorded between two overlapping
    # runs must not make their tokens differ.
    request = json.dumps({k: v for k, v in params.items() if k != "ClientToken"} | {
        "TagSpecifications": [{**spec, "Tags": [t for t in spec["Tags"]
                                                if t["Key"] not in LAST_DRILL_TAGS]}
                              for spec in params.get("TagSpecifications") or ()]},
        sort_keys=True)
    return idempotency_token(job.name, source["id"], job.destination_region,
                             ",".join(replaces), request, *gone)


def _copy_image_named(ec2: Any, params: dict[str, Any], job: JobSpec, source: Source,
                      replaces: list[str], tags: dict[str, str]
                      ) -> tuple[str, dict[str, str]]:
    """CopyImage under the source's name, as the original tool did; if an older copy in
    the destination holds that name (AMI names are unique per region), under the name
    plus the source id, the name shortened so that the whole id fits in EC2's 128
    characters. Returns the copy's id and tags.

    Never a second copy of one source: the ClientToken (copy_token) is the same in every
    run and every retry, so EC2 returns the AMI the first call made; a name held by a
    copy of this very source (a concurrent run's, another job's, one made with an older
    token) is that copy, and is returned instead of copying again under the other name.
    A copy the token made that was deregistered since is copied again (new token)."""
    gone: list[str] = []
    while True:
        image_id, tags = _copy_or_adopt(ec2, params, job, source, replaces, tags, gone)
        if _state_of(ec2, image_id) != GONE:
            return image_id, tags
        logger.warning("CopyImage answered with a copy that has been deregistered since "
                       "(the ClientToken was used before); copying again with a new token",
                       extra={"job": job.name, "source": source["id"], "image": image_id})
        gone.append(image_id)
        if len(gone) > MAX_GONE_COPIES:
            raise CopyGoneError(f"job '{job.name}': CopyImage of {source['id']} keeps "
                                f"answering with deregistered AMIs ({', '.join(gone)})",
                                job=job.name)


def _copy_or_adopt(ec2: Any, params: dict[str, Any], job: JobSpec, source: Source,
                   replaces: list[str], tags: dict[str, str], gone: list[str]
                   ) -> tuple[str, dict[str, str]]:
    def copy_as(name: str) -> tuple[str, dict[str, str]]:
        request = {**params, "Name": name}
        try:
            token = copy_token(job, source, replaces, request, gone)
            image_id: str = ec2.copy_image(**request, ClientToken=token)["ImageId"]
            return image_id, tags
        except ClientError as exc:
            if aws.error_code(exc) != "InvalidAMIName.Duplicate":
                raise
            holder = _copy_of_source_named(job, ec2, name, source, gone)
            if holder is None:
                raise
            logger.info("The copy's name is held by a copy of the same source (a "
                        "concurrent run's?): that copy is the copy", extra={
                            "job": job.name, "source": source["id"], "image": holder[0]})
            return holder

    # The source's name; then with the source id (an older copy holds the name); then also
    # with the job's own mark (another job's copy of this source holds both).
    names = [source["name"]]
    for suffix in (f" {source['id']}", f" {source['id']} {idempotency_token(job.name)[:8]}"):
        names.append(source["name"][:MAX_AMI_NAME_LENGTH - len(suffix)].rstrip() + suffix)
    for name in names[:-1]:
        try:
            return copy_as(name)
        except ClientError as exc:
            if aws.error_code(exc) != "InvalidAMIName.Duplicate":
                raise
    return copy_as(names[-1])


def _copy_of_source_named(job: JobSpec, ec2: Any, name: str, source: Source,
                          gone: list[str]) -> tuple[str, dict[str, str]] | None:
    """(id, tags) of the AMI named `name` in the destination when it is this job's live
    copy of `source` from the job's source region (tags and AWS's record agree)."""
    images = _paginate_images(ec2, Owners=["self"], IncludeDeprecated=True,
                              Filters=[{"Name": "name", "Values": [name]}])
    for image in images:
        tags = tag_dict(image.get("Tags"))
        if (image["ImageId"] not in gone and _state(image) in (PENDING, AVAILABLE)
                and tags.get(TAG_JOB) in lineage(job)  # never another job's copy
                and tags.get(TAG_SOURCE_ID) == source["id"]
                and tags.get(TAG_SOURCE_REGION) == job.source_region
                and _provenance(job, image, tags)):
            return image["ImageId"], tags
    return None


def _state_of(ec2: Any, image_id: str) -> str:
    images = _describe_image(ec2, image_id)
    return _state(images[0]) if images else GONE


def copy_tags(job: JobSpec, source: Source, copy: Copy) -> Copy:
    """Tag what the copy call did not (CopyImage applies all tags, so normally nothing),
    and set the copy's deprecation time when the job asks for one: CopyImage has no
    parameter for it, and EnableImageDeprecation takes the new AMI's id."""
    applied = copy.get("tags") or {}
    missing = missing_tags(source["tags"], applied)
    if missing:
        ec2 = aws.client(job, SERVICE, job.destination_region)
        with aws.aws_errors(job.name, f"tagging copy {copy['id']}"):
            ec2.create_tags(Resources=[copy["id"]], Tags=tag_list(missing))
        copy = {**copy, "tags": {**applied, **missing}}
    days = job.options.get("deprecate_after_days")
    if days:
        at = deprecation_time(datetime.now(UTC), days)
        ec2 = aws.client(job, SERVICE, job.destination_region)
        with aws.aws_errors(job.name, f"setting the deprecation time of copy {copy['id']}"):
            ec2.enable_image_deprecation(ImageId=copy["id"], DeprecateAt=at)
        copy = {**copy, "deprecate_at": iso_utc(at)}
    return copy


def finish_copy(job: JobSpec, source: Source, copy: Copy) -> Copy:
    """What is due once the copy is available (steps.prune_old_copies calls it for a copy
    with `finish_due`): copy_launch_permissions gives it the source AMI's launch
    permissions, which EC2 refuses to change on an AMI still pending. The copy is then
    tagged TAG_LAUNCH_PERMISSIONS, so no later run reads the source's permissions again;
    a run that fails in between does it all again, adding a permission twice being no
    change on AWS. A deprecation time a run failed to set (deprecate_due) is set too."""
    ec2 = aws.client(job, SERVICE, job.destination_region)
    if copy.get("deprecate_due"):
        at = max(datetime.fromisoformat(copy["deprecate_due"]),
                 deprecation_time(datetime.now(UTC), 0) + timedelta(minutes=1))
        with aws.aws_errors(job.name, f"setting the deprecation time of copy {copy['id']}"):
            ec2.enable_image_deprecation(ImageId=copy["id"], DeprecateAt=at)
        copy = {**copy, "deprecate_at": iso_utc(at)}
        copy.pop("deprecate_due")
    if job.options.get("copy_launch_permissions") and not copy.get("launch_permissions_done"):
        outcome = _give_launch_permissions(job, source, copy)
        with aws.aws_errors(job.name, f"marking the launch permissions of copy {copy['id']} "
                                      f"as {outcome}"):
            ec2.create_tags(Resources=[copy["id"]],
                            Tags=tag_list({TAG_LAUNCH_PERMISSIONS: outcome}))
    return {**copy, "finish_due": False}


def _give_launch_permissions(job: JobSpec, source: Source, copy: Copy
                             ) -> str:
    """Add the source AMI's launch permissions for accounts, organizations and OUs to the
    copy; COPIED, or SKIPPED when the source's permissions cannot be read. Never public:
    a public source (Group `all`) gives the copy only its explicit permissions. The copy's
    own account is left out: the owner may always launch its AMI."""
    reader = _source_client(job)
    # AWS answers DescribeImageAttribute only to the AMI's owner (AuthFailure "Not
    # authorized for image" otherwise): an AMI shared with this account is skipped.
    reader_account = reader.role_arn.split(":")[4] if reader.role_arn else copy.get("owner")
    if source.get("owner") != reader_account:
        logger.warning(
            "Launch permissions not copied: AWS shows an AMI's launch permissions only to "
            "the account that owns it; set source_role_arn to a role in that account to "
            "copy them", extra={"job": job.name, "source": source["id"], "copy": copy["id"],
                                "source_owner": source.get("owner")})
        return SKIPPED
    ec2 = aws.client(job, SERVICE, job.source_region, settings=reader)
    with aws.aws_errors(job.name, f"reading the launch permissions of source AMI "
                                  f"{source['id']}"):
        permissions = ec2.describe_image_attribute(
            ImageId=source["id"], Attribute="launchPermission").get("LaunchPermissions", [])
    if any(p.get("Group") == "all" for p in permissions):
        logger.warning("The source AMI is public; its copy is not made public, it gets only "
                       "the source's launch permissions for accounts, organizations and OUs",
                       extra={"job": job.name, "source": source["id"], "copy": copy["id"]})
    grants = launch_grants(permissions, copy.get("owner"))
    if grants:
        ec2 = aws.client(job, SERVICE, job.destination_region)
        with aws.aws_errors(job.name, f"giving copy {copy['id']} the launch permissions of "
                                      f"{source['id']}"):
            ec2.modify_image_attribute(ImageId=copy["id"], LaunchPermission={"Add": grants})
    return COPIED


def launch_grants(permissions: list[dict[str, str]], own_account: str | None
                  ) -> list[dict[str, str]]:
    """The launch permissions (DescribeImageAttribute's) a copy gets: each account,
    organization and OU, less the copy's own account; never a Group."""
    return [{key: permission[key]} for permission in permissions for key in GRANTEE_KEYS
            if permission.get(key) and not (key == "UserId" and permission[key] == own_account)]


def deprecation_time(now: datetime, days: int) -> datetime:
    """`days` after `now`, rounded to the nearest minute as EC2 rounds DeprecateAt, so
    the time sent is the time the copy gets."""
    at = now + timedelta(days=days, seconds=30)
    return at.replace(second=0, microsecond=0)


def copy_status(job: JobSpec, copy: Copy) -> Copy:
    ec2 = aws.client(job, SERVICE, job.destination_region)
    with aws.aws_errors(job.name, f"reading the state of copy {copy['id']}"):
        images = _describe_image(ec2, copy["id"])
    if not images:
        return {**copy, "state": GONE}
    image = images[0]
    result: Copy = {**copy, "state": _state(image), "owner": image.get("OwnerId")}
    if result["state"] == FAILED:
        result["reason"] = (image.get("StateReason") or {}).get("Message", "")
    return result


def prune(job: JobSpec, doomed: list[str], untracked: Collection[str] = ()) -> list[str]:
    """Deregister managed copies (and their snapshots); ids come from select_for_pruning.
    The original tool's AMI copies are never among them (`untracked` stays empty)."""
    del untracked
    _deregister_copies(job, aws.client(job, SERVICE, job.destination_region), doomed,
                       "old copy")
    return list(doomed)


def retention(job: JobSpec) -> int | None:
    return job.options.get("max_images_to_retain")


# ---------------------------------------------------------------- helpers


def _deregister_copies(job: JobSpec, ec2: Any, image_ids: Iterable[str], what: str) -> None:
    """Deregister AMIs with their snapshots. An AMI already gone counts as done (a retried
    step finds what its first attempt deleted). DeregisterImage succeeds even when it
    could not delete a snapshot: those are deleted here, or the job fails naming them,
    because a snapshot left behind is billed for ever and no later run finds it."""
    left: list[str] = []
    deregistered: list[str] = []
    for image_id in image_ids:
        with reporting_deletions(deregistered), aws.aws_errors(
                job.name, f"deregistering {what} {image_id}"):
            try:
                answer = ec2.deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True)
            except ClientError as exc:
                if aws.error_code(exc) not in AMI_GONE_CODES:
                    raise
                deregistered.append(image_id)
                continue
        deregistered.append(image_id)
        left += _delete_kept_snapshots(job, ec2, image_id, answer)
    if left:
        region = job.destination_region
        error = OrphanedSnapshotsError(
            f"job '{job.name}': {what}(s) deregistered in {region}, but snapshot(s) "
            f"{', '.join(left)} could not be deleted and are still billed. Delete them "
            f"(aws ec2 delete-snapshot --region {region} --snapshot-id ...) and check that "
            f"the tool may call ec2:DeleteSnapshot on arn:aws:ec2:{region}::snapshot/*",
            job=job.name)
        error.deleted = deregistered
        raise error


def _delete_kept_snapshots(job: JobSpec, ec2: Any, image_id: str, answer: dict[str, Any]
                           ) -> list[str]:
    """Snapshots DeregisterImage reported as not deleted: 'skipped' ones back another AMI
    too and are kept; the others are deleted directly. Returns '<id> (<code>)' for each
    that is still there."""
    left = []
    for result in answer.get("DeleteSnapshotResults") or ():
        snapshot_id, code = result.get("SnapshotId"), result.get("ReturnCode")
        if code in (None, "success"):
            continue
        if code == "skipped":
            logger.warning("Kept a snapshot of a deregistered copy: another AMI uses it",
                           extra={"job": job.name, "image": image_id, "snapshot": snapshot_id})
            continue
        try:
            ec2.delete_snapshot(SnapshotId=snapshot_id)
        except ClientError as exc:
            if aws.error_code(exc) != "InvalidSnapshot.NotFound":
                logger.warning("Could not delete a snapshot of a deregistered copy", extra={
                    "job": job.name, "image": image_id, "snapshot": snapshot_id,
                    "return_code": code, "error": aws.error_code(exc)})
                left.append(f"{snapshot_id} ({code}, then {aws.error_code(exc)})")
    return left


def _source_client(job: JobSpec) -> ClientConfig:
    """The job's credentials, or the AMI owner's role when the job names one."""
    role = job.options.get("source_role_arn")
    if not role:
        return job.client
    return replace(job.client, role_arn=role, external_id=None)


def _source_filters(job: JobSpec) -> list[dict[str, Any]]:
    """DescribeImages filters for the source: the Sync-Identifier tag and the job's own."""
    filters = []
    if job.options.get("sync_identifier"):
        filters.append({"Name": f"tag:{SYNC_IDENTIFIER_TAG}",
                        "Values": [job.options["sync_identifier"]]})
    return filters + [dict(f) for f in job.options.get("filters") or ()]


def _other_account_advice(job: JobSpec) -> str:
    """AWS shows an AMI's tags only to the account that owns it: selecting another
    account's AMI by tag needs a role in that account."""
    owner = job.options.get("ami_owner") or "self"
    selects_by_tag = any(f["Name"].startswith("tag") for f in _source_filters(job))
    if not selects_by_tag or job.options.get("source_role_arn") or not re.fullmatch(
            r"\d{12}", owner):
        return ""
    return (f"if account {owner} is not the account this job runs in, AWS shows that "
            f"account's AMI tags only to {owner} itself, so no AMI matches a tag: set "
            f"source_role_arn to a role in {owner} that may call ec2:DescribeImages (and add "
            "it to the stack's JobRoleArns)")


def _paginate_images(ec2: Any, **params: Any) -> list[dict[str, Any]]:
    images: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_images").paginate(**params):
        images += page.get("Images", [])
    return images


def _describe_image(ec2: Any, image_id: str) -> list[dict[str, Any]]:
    """DescribeImages for one id; AWS answers InvalidAMIID.NotFound for a missing one."""
    try:
        images: list[dict[str, Any]] = ec2.describe_images(ImageIds=[image_id])["Images"]
        return images
    except ClientError as exc:
        if aws.error_code(exc).startswith("InvalidAMIID"):
            return []
        raise


def _tracked_copies(job: JobSpec, ec2: Any, tag_filter: str, values: list[str]
                    ) -> list[tuple[ManagedCopy, dict[str, str]]]:
    """(managed-copy entry, its tags) for each of our AMIs in the destination matching
    the tag filter that is provably a copy from the job's source region (see _provenance)."""
    with aws.aws_errors(job.name, f"looking for copies in {job.destination_region}"):
        images = _paginate_images(ec2, Owners=["self"], IncludeDeprecated=True,
                                  Filters=[{"Name": tag_filter, "Values": values}])
    copies: list[tuple[ManagedCopy, dict[str, str]]] = []
    for image in images:
        tags = tag_dict(image.get("Tags"))
        if tags.get(TAG_SOURCE_REGION) != job.source_region or not _provenance(job, image,
                                                                               tags):
            continue
        copy = with_last_drill(managed_copy(
            image["ImageId"], _state(image), tags[TAG_SOURCE_ID],
            tags.get(TAG_SOURCE_CREATED) or _creation_time(image)), tags)
        minutes = job.options.get("copy_completion_minutes")
        if minutes and copy["state"] == PENDING:
            # A time-based copy completes within its duration of the CopyImage call,
            # which is the copy's CreationDate.
            copy["due"] = iso_utc(_created_at(image) + timedelta(minutes=minutes))
        copy["owner"] = image.get("OwnerId")
        copy["job"] = tags.get(TAG_JOB)
        if TAG_LAUNCH_PERMISSIONS in tags:
            copy["launch_permissions_done"] = True
        elif job.options.get("copy_launch_permissions"):
            # Made before the option was set, or its first run ended while it was pending.
            copy["finish_due"] = True
        days = tags.get(TAG_DEPRECATE_AFTER_DAYS, "")
        if days.isdigit() and not image.get("DeprecationTime"):
            # Setting its deprecation time failed in the run that made it.
            copy["deprecate_due"] = iso_utc(deprecation_time(_created_at(image), int(days)))
            copy["finish_due"] = True
        copies.append((copy, tags))
    return copies


def _deprecated(image: dict[str, Any]) -> bool:
    """Whether the AMI's DeprecationTime has come (ISO 8601 UTC, as DescribeImages gives it)."""
    when = image.get("DeprecationTime")
    return bool(when) and datetime.fromisoformat(str(when).replace("Z", "+00:00")) <= (
        datetime.now(UTC))


def _dr_copy(image: dict[str, Any]) -> bool:
    """Whether the AMI is provably a DR copy this tool made, as pruning decides: its
    tracking tags name a source, and AWS records it as a copy of that source."""
    tags = tag_dict(image.get("Tags"))
    return TAG_SOURCE_ID in tags and _recorded_source_is_tagged(image, tags)


def _recorded_source_is_tagged(image: dict[str, Any], tags: dict[str, str]) -> bool:
    claimed = (tags.get(TAG_SOURCE_ID), tags.get(TAG_SOURCE_REGION))
    return (image.get("SourceImageId"), image.get("SourceImageRegion")) == claimed


def _provenance(job: JobSpec, image: dict[str, Any], tags: dict[str, str]) -> bool:
    """Whether AWS's record of what the AMI was copied from (SourceImageId and
    SourceImageRegion, set by CopyImage) names the source its tracking tags name. An AMI
    someone copied from a DR copy, tags and all, names the DR copy instead: it is not
    ours, and is left alone."""
    if _recorded_source_is_tagged(image, tags):
        return True
    logger.warning("Left alone an AMI with this tool's tags that AWS does not record as a "
                   "copy of the source they name (a copy made from a DR copy?)", extra={
                       "job": job.name, "image": image["ImageId"],
                       "source_image_id": image.get("SourceImageId"),
                       "source_image_region": image.get("SourceImageRegion")})
    return False


def _live(copies: list[ManagedCopy]) -> list[ManagedCopy]:
    """Copies that are, or may become, the recovery point: available ones first."""
    return ([m for m in copies if m["state"] == AVAILABLE]
            + [m for m in copies if m["state"] == PENDING])


def _selection_key(job: JobSpec) -> str:
    """A short hash of how the job selects its source AMI (owner, Sync-Identifier,
    filters): two jobs of one name in two configs that select different AMIs from one
    region never count each other's copies as their own."""
    owner = job.options.get("ami_owner") or "self"
    filters = sorted(json.dumps(f, sort_keys=True) for f in _source_filters(job))
    return idempotency_token(owner, *filters)[:16]


def _legacy_copy(job: JobSpec, ec2: Any, source: Source) -> ManagedCopy | None:
    """The copy the original tool recorded on the source, if it still exists and the tag
    is about this source: an AMI built from a copied image inherits the tag, which then
    names a copy of another image."""
    copy_id = source.get("legacy_copy_id")
    if not copy_id:
        return None
    with aws.aws_errors(job.name, f"looking for the original tool's copy {copy_id}"):
        images = _describe_image(ec2, copy_id)
    live = [i for i in images if _state(i) in (PENDING, AVAILABLE)]
    if not live or not _legacy_tag_about_source(job, live[0], source):
        return None
    # A copy of this very source: its source's creation time is the source's (the
    # original tool recorded none), so status and StaleJobs know its age.
    return managed_copy(copy_id, _state(live[0]), source["id"], source["created"],
                        legacy=True)


def _legacy_tag_about_source(job: JobSpec, copy: dict[str, Any], source: Source) -> bool:
    """AWS's record of what the copy was copied from decides; where it has none, the tag
    must have been written at or after the source was created."""
    if copy.get("SourceImageId"):
        return (copy["SourceImageId"], copy.get("SourceImageRegion")) == (
            source["id"], job.source_region)
    return (source.get("legacy_tagged") or "") >= source["created"]


def _state(image: dict[str, Any]) -> str:
    return _STATES.get(image.get("State", ""), UNKNOWN)


def _created_at(image: dict[str, Any]) -> datetime:
    created = image.get("CreationDate") or "1970-01-01T00:00:00Z"
    return datetime.fromisoformat(created.replace("Z", "+00:00"))


def _creation_time(image: dict[str, Any]) -> str:
    """EC2's CreationDate ('2026-11-26T06:10:00.000Z') in the one format the state and
    the tracking tags use, so copies of both sync types sort and compare alike."""
    return iso_utc(_created_at(image))
