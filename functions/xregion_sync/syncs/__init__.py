"""The registry of sync types: adding a type is one module here plus one entry below."""

from __future__ import annotations

from types import ModuleType

from . import ec2_ami, rds_automated_snapshot, rds_cluster_snapshot

SYNC_TYPES: dict[str, ModuleType] = {
    ec2_ami.NAME: ec2_ami,
    rds_automated_snapshot.NAME: rds_automated_snapshot,
    rds_cluster_snapshot.NAME: rds_cluster_snapshot,
}
