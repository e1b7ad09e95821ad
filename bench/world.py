"""The benchmark's world on emulated AWS: N jobs, a third each ec2_ami,
rds_automated_snapshot and rds_cluster_snapshot, each with its own source AMI / DB
instance / DB cluster in SOURCE, synced to DESTINATION; and newer sources on demand, so
earlier runs leave older managed copies behind for the prune path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, emulated_aws
from xregion_sync_emulator.seed import add_automated_cluster_snapshot, add_automated_snapshot

SOURCE = "us-east-1"
DESTINATION = "us-west-2"
SYNC_IDENTIFIER_TAG = "Sync-Identifier"
# Generation g of every source is created at FIRST_SOURCE_TIME + g days.
FIRST_SOURCE_TIME = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
KEEP_ALL = 10_000  # a retention no benchmark run reaches


def split(n: int) -> tuple[int, int, int]:
    """(ec2_ami, rds_automated_snapshot, rds_cluster_snapshot jobs) of N: a third each,
    the first ones left over an AMI, then a DB instance."""
    return (n + 2) // 3, (n + 1) // 3, n // 3


@contextmanager
def emulated_world(n: int, *, rds_only: bool = False, **emulator: Any) -> Iterator[World]:
    """A fresh emulated AWS (emulated_aws(**emulator)) with the sources of N jobs: a third
    each AMIs, DB instances and DB clusters, or all DB instances."""
    with emulated_aws(**emulator), mock.patch.dict(os.environ, _Moto.ENVIRONMENT):
        yield World.seed(n, rds_only=rds_only)


@dataclass
class World:
    """The sources of N jobs; `advance()` replaces every job's source by a newer one."""

    n: int
    generation: int = 0
    ami_ids: dict[str, str] = field(default_factory=dict)  # sync identifier -> source AMI
    db_instances: list[str] = field(default_factory=list)
    db_clusters: list[str] = field(default_factory=list)

    @classmethod
    def seed(cls, n: int, *, rds_only: bool = False) -> World:
        world = cls.unseeded(n, rds_only=rds_only)
        for identifier in world.ami_ids:
            world.ami_ids[identifier] = _Moto.register_ami(identifier, world.source_time)
        for db in world.db_instances:
            _Moto.create_db_instance(db, world.source_time)
        for cluster in world.db_clusters:
            _Moto.create_db_cluster(cluster, world.source_time)
        return world

    @classmethod
    def unseeded(cls, n: int, *, rds_only: bool = False) -> World:
        """The jobs of N sources, none of them created in the emulator (for a config)."""
        amis, dbs, clusters = (0, n, 0) if rds_only else split(n)
        return cls(n, ami_ids={f"bench-app-{i:04d}": "" for i in range(amis)},
                   db_instances=[f"bench-db-{i:04d}" for i in range(dbs)],
                   db_clusters=[f"bench-cluster-{i:04d}" for i in range(clusters)])

    @property
    def source_time(self) -> datetime:
        return FIRST_SOURCE_TIME + timedelta(days=self.generation)

    def advance(self) -> None:
        """A newer source for every job: a new AMI replaces the old one (deregistered, so
        exactly one matches the job's Sync-Identifier); a newer automated DB snapshot."""
        self.generation += 1
        for identifier, old_image in self.ami_ids.items():
            _Moto.deregister_ami(old_image)
            self.ami_ids[identifier] = _Moto.register_ami(identifier, self.source_time)
        for db in self.db_instances:
            add_automated_snapshot(SOURCE, db, self.source_time)
        for cluster in self.db_clusters:
            add_automated_cluster_snapshot(SOURCE, cluster, self.source_time)

    def config(self, retain: int | None = KEEP_ALL, **options: Any) -> dict[str, Any]:
        """The xregion-sync config of the N jobs; `retain` previous copies per job
        (max_images_to_retain / max_snapshots_to_retain); `options` for every job (e.g.
        wait_for_completion)."""
        common = {"source_region": SOURCE, "destination_region": DESTINATION, **options}
        jobs: dict[str, Any] = {}
        for identifier in self.ami_ids:
            jobs[f"sync_{identifier}"] = {"sync_type": "ec2_ami", **common,
                                         "sync_identifier": identifier,
                                         "max_images_to_retain": retain}
        for db in self.db_instances:
            jobs[f"sync_{db}"] = {"sync_type": "rds_automated_snapshot", **common,
                                  "db_instance": db, "max_snapshots_to_retain": retain}
        for cluster in self.db_clusters:
            jobs[f"sync_{cluster}"] = {"sync_type": "rds_cluster_snapshot", **common,
                                       "db_cluster": cluster, "max_snapshots_to_retain": retain}
        return jobs


class _Moto:
    """Shortcuts into moto (5.2) that change how fast the emulator is, not what it answers.

    Seeding goes through moto's backend objects.
    Through boto3, seeding 500 AMIs (register_image + create_tags) and 500 DB instances
    took 41 s on this 2-core machine; through the backends it takes well under 1 s. The
    resources are the same ones the API would create; only the HTTP round trips are
    skipped. The tool itself is always measured through the real API.
    """

    # moto refuses more than 1,000 DB snapshots per region (all types; env
    # MOTO_RDS_SNAPSHOT_LIMIT), and the prune scenario at N=1000 keeps 500 DB instances
    # with several automated snapshots each. (Real AWS: automated snapshots do not count
    # toward the manual-snapshot quota.)
    ENVIRONMENT = {"MOTO_RDS_SNAPSHOT_LIMIT": "1000000"}

    @staticmethod
    def _ec2():
        from xregion_sync_emulator.moto_seam import ec2_backends

        return ec2_backends[EMULATOR_ACCOUNT_ID][SOURCE]

    @classmethod
    def register_ami(cls, identifier: str, created: datetime) -> str:
        backend = cls._ec2()
        image = backend.register_image(name=f"{identifier}-{created:%Y-%m-%d}",
                                       description=f"{identifier} image")
        image.creation_date = created.replace(tzinfo=None)  # moto keeps naive UTC
        backend.create_tags([image.id], {SYNC_IDENTIFIER_TAG: identifier})
        return image.id

    @classmethod
    def deregister_ami(cls, image_id: str) -> None:
        cls._ec2().deregister_image(image_id)

    @staticmethod
    def create_db_instance(db: str, created: datetime) -> None:
        """A DB instance whose one automated snapshot (moto makes it) dates from `created`."""
        from xregion_sync_emulator.moto_seam import rds_backends

        backend = rds_backends[EMULATOR_ACCOUNT_ID][SOURCE]
        backend.create_db_instance({
            "db_instance_identifier": db, "engine": "postgres",
            "db_instance_class": "db.t3.micro", "allocated_storage": 20,
            "master_username": "bench", "master_user_password": "not-a-secret-1",
            "copy_tags_to_snapshot": True})
        for snapshot in backend.describe_db_snapshots(db, snapshot_type="automated"):
            snapshot.created = snapshot.original_snapshot_create_time = created

    @staticmethod
    def create_db_cluster(cluster: str, created: datetime) -> None:
        """An Aurora DB cluster whose one automated cluster snapshot (moto makes it) dates
        from `created`."""
        from xregion_sync_emulator.moto_seam import rds_backends

        backend = rds_backends[EMULATOR_ACCOUNT_ID][SOURCE]
        backend.create_db_cluster({
            "db_cluster_identifier": cluster, "engine": "aurora-postgresql",
            "master_username": "bench", "master_user_password": "not-a-secret-1",
            "copy_tags_to_snapshot": True})
        for snapshot in backend.cluster_snapshots.values():
            if snapshot.cluster.db_cluster_identifier == cluster:
                snapshot.created = created
