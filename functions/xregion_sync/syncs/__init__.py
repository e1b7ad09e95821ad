"""The registry of sync types: adding a type is one module here plus one entry below.
What a type module provides is the SyncType protocol in base.py."""

from __future__ import annotations

from typing import Any

from ..spec import COMMON_OPTIONS, JobSpec
from . import ec2_ami, rds_automated_snapshot
from .base import SyncType

SYNC_TYPES: dict[str, SyncType] = {
    ec2_ami.NAME: ec2_ami,
    rds_automated_snapshot.NAME: rds_automated_snapshot,
}


def option_defaults(sync_type: str) -> dict[str, Any]:
    """Every option of the type (common ones included) that has a default, with it."""
    sync = SYNC_TYPES.get(sync_type)
    options = {**COMMON_OPTIONS, **(sync.OPTIONS if sync else {})}
    return {name: o.default for name, o in options.items() if o.default not in (None, ())}


def job_to_dict(job: JobSpec) -> dict[str, Any]:
    """The compact form of a job the state machine passes between steps."""
    return job.to_dict(option_defaults(job.sync_type))


def job_from_dict(data: dict[str, Any]) -> JobSpec:
    return JobSpec.from_dict(data, option_defaults(data["sync_type"]))
