"""The registry of sync types: adding a type is one module here plus its name below
(twice: the registry, and the modules mypy checks).
What a type module provides is the SyncType protocol in base.py."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from ..spec import COMMON_OPTIONS, JobSpec
from .base import SyncType

if TYPE_CHECKING:
    # mypy checks each type's module against the contract (SyncType) here; at run time a
    # module is imported when SYNC_TYPES first looks it up.
    from . import ec2_ami, rds_automated_snapshot, rds_cluster_snapshot

    _CHECKED: tuple[SyncType, ...] = (ec2_ami, rds_automated_snapshot, rds_cluster_snapshot)


class _SyncTypes(Mapping[str, SyncType]):
    """Sync type name -> its module, imported when first looked up: a Lambda that runs
    one job's step imports that job's type only (a cold start pays for one)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names

    def __getitem__(self, name: str) -> SyncType:
        if name not in self._names:
            raise KeyError(name)
        return cast(SyncType, importlib.import_module(f"{__name__}.{name}"))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


SYNC_TYPES: Mapping[str, SyncType] = _SyncTypes(
    ("ec2_ami", "rds_automated_snapshot", "rds_cluster_snapshot"))


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
