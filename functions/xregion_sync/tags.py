"""The tracking-tag scheme, and the original aws_xregion_sync tool's tags.

Every copy this tool makes carries the tracking tags below, applied in the copy
call itself, so a copy never exists without them. Tags alone do not make a copy ours:
anyone can copy a DR copy inside the destination with its tags. A copy is ours when
its tags AND what AWS itself records about where it was copied from (EC2's
SourceImageId/SourceImageRegion, RDS's SourceRegion/SourceDBSnapshotIdentifier, a DB
cluster snapshot's SourceDBClusterSnapshotArn) agree; each sync type checks that. Only
such copies, or the original tool's, are ever pruned. IAM policies condition deletes on TAG_JOB.

Every value obeys the strictest service's tag rules (tag_rules.py): an RDS automated
snapshot id begins with 'rds:', which RDS refuses in a tag value, so source ids are
written as the source's ARN (encode_source_id) and read back either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

TAG_PREFIX = "xregion-sync:"
TAG_JOB = "xregion-sync:job"
TAG_SOURCE_ID = "xregion-sync:source-id"
TAG_SOURCE_REGION = "xregion-sync:source-region"
TAG_SOURCE_CREATED = "xregion-sync:source-created"
# ec2_ami: which AMIs the job selects (owner, Sync-Identifier, filters), hashed: two
# jobs of one name selecting different AMIs (two configs in one account) never share.
TAG_SOURCE_SELECTION = "xregion-sync:source-selection"
# The last restore drill of the job (drills.py records it on the copy it restored). A new
# copy carries the newest record of the job's copies forward in its copy call, so the
# record outlives the drilled copy when pruning deletes it.
TAG_LAST_DRILL_AT = "xregion-sync:last-drill-at"
TAG_LAST_DRILL_STATUS = "xregion-sync:last-drill-status"
TAG_LAST_DRILL_SECONDS = "xregion-sync:last-drill-restore-seconds"
LAST_DRILL_TAGS = (TAG_LAST_DRILL_AT, TAG_LAST_DRILL_STATUS, TAG_LAST_DRILL_SECONDS)

_LEGACY_TIME_FORMAT = "%Y%m%d%H%M%S%z"
_LEGACY_KEY = re.compile(r"^Sync-(From-)?[a-z]{2}(-[a-z]+)+-\d+$")  # Sync-[From-]<region>
_LEGACY_VALUE = re.compile(r"^\s*(\d{14}[+-]\d{4})\s*/\s*(\S+)\s*$")


def tracking_tags(job: str, source_id: str, source_region: str,
                  source_created: datetime | str) -> dict[str, str]:
    """The tags every copy carries. `source_created` is a datetime or already in the
    tag's format (a Source's `created`)."""
    return {
        TAG_JOB: job,
        TAG_SOURCE_ID: source_id,
        TAG_SOURCE_REGION: source_region,
        TAG_SOURCE_CREATED: (iso_utc(source_created) if isinstance(source_created, datetime)
                             else source_created),
    }


def encode_source_id(source_id: str, source_arn: str | None = None) -> str:
    """The source-id tag value: the source's ARN when it has one (an RDS snapshot id
    'rds:...' is no valid RDS tag value, its ARN is), else the id itself."""
    return source_arn or source_id


def decode_source_id(value: str | None) -> str | None:
    """The source id in a source-id tag: the resource name of an ARN
    (arn:aws:rds:<region>:<account>:snapshot:<id>), or the raw id earlier versions wrote."""
    if value and value.startswith("arn:"):
        parts = value.split(":", 6)
        return parts[6] if len(parts) == 7 else value
    return value


def is_tracking_key(key: str) -> bool:
    return key.startswith(TAG_PREFIX)


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags a copy inherits: not AWS-reserved (aws:), not this tool's own tracking tags, and
    not the original tool's (on a copy they would point at the wrong resource)."""
    return {k: v for k, v in tags.items() if not k.startswith("aws:")
            and not is_tracking_key(k) and not _LEGACY_KEY.match(k)}


def tag_dict(tag_list: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """[{'Key': k, 'Value': v}, ...] (the shape EC2 and RDS return) -> {k: v}."""
    return {tag["Key"]: tag.get("Value", "") for tag in tag_list or ()}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- the original tool's tags


def legacy_source_tag_key(destination_region: str) -> str:
    """Tag the original put on a SOURCE resource: Sync-<destination-region>."""
    return f"Sync-{destination_region}"


def legacy_copy_tag_key(source_region: str) -> str:
    """Tag the original put on a destination RDS snapshot: Sync-From-<source-region>."""
    return f"Sync-From-{source_region}"


def parse_legacy_value(value: str | None) -> tuple[datetime, str] | None:
    """'<YYYYmmddHHMMSS+0000> / <resource id>' -> (timestamp, id); None when malformed."""
    match = _LEGACY_VALUE.match(value or "")
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), _LEGACY_TIME_FORMAT), match.group(2)
    except ValueError:
        return None
