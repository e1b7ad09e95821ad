"""What restore drills depend on, taught to moto (which restores and launches instantly and
lets anything through). Each rule is pinned by a test in tests/test_emulator_restores.py.

  RDS RestoreDBInstanceFromDBSnapshot  the DB instance is `creating` for the emulator's
                  restore time (pass_time), then `available`.
  RDS RestoreDBClusterFromSnapshot  the cluster is `creating` for the restore time, and has
                  no DB instance: "You must invoke the CreateDBInstance operation to create DB
                  instances for the restored DB cluster ... only after the
                  RestoreDBClusterFromSnapshot operation has completed and the DB cluster is
                  available" (else InvalidDBClusterStateFault); that instance is `creating`
                  for the restore time too.
  RDS DB instances  at most the DBInstances quota per region (40 by default, "Quotas in
                  Amazon RDS"), every create and restore counted (InstanceQuotaExceeded);
                  DescribeAccountAttributes (fidelity.py) reports DBInstances and DBClusters.
  EC2 RunInstances  an instance type whose architectures do not include the AMI's is refused
                  (InvalidParameterValue); status checks are `initializing` for the restore
                  time after launch, then `ok`. (moto honours DeleteOnTermination on
                  terminate: pinned by a test, not changed.)
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from .fidelity import EmulatedCopyTiming
from .moto_seam import (
    INSTANCE_TYPES,
    EC2ClientError,
    Instance,
    InstanceBackend,
    RDSClientError,
    rds_models,
    replace,
)
from .quotas import AwsQuotas

INITIALIZING = {"Status": "initializing",
                "Details": [{"Name": "reachability", "Status": "initializing"}]}


def teach_restores(stack: ExitStack, timing: EmulatedCopyTiming, quotas: AwsQuotas) -> None:
    _teach_rds_restores(stack, timing, quotas)
    _teach_run_instances(stack, timing)


def _refuse_beyond_db_instance_quota(backend: rds_models.RDSBackend, quotas: AwsQuotas) -> None:
    if len(backend.databases) >= quotas.rds_db_instances:
        raise RDSClientError("InstanceQuotaExceeded",
                             f"Cannot create more than {quotas.rds_db_instances} DB instances")


def _teach_rds_restores(stack: ExitStack, timing: EmulatedCopyTiming,
                        quotas: AwsQuotas) -> None:
    restore_instance = rds_models.RDSBackend.restore_db_instance_from_db_snapshot
    restore_cluster = rds_models.RDSBackend.restore_db_cluster_from_snapshot
    create_instance = rds_models.RDSBackend.create_db_instance
    describe_instances = rds_models.RDSBackend.describe_db_instances
    cluster_status = rds_models.DBCluster.status

    def restore_db_instance_from_db_snapshot(self: rds_models.RDSBackend, from_snapshot_id: str,
                                             overrides: dict[str, Any]) -> Any:
        _refuse_beyond_db_instance_quota(self, quotas)
        database = restore_instance(self, from_snapshot_id, overrides)
        database.status = "creating"
        timing.started(database.arn, restore=True)
        return database

    def restore_db_cluster_from_snapshot(self: rds_models.RDSBackend, from_snapshot_id: str,
                                         overrides: dict[str, Any]) -> Any:
        cluster = restore_cluster(self, from_snapshot_id, overrides)
        timing.started(cluster.arn, restore=True)
        return cluster

    def create_db_instance(self: rds_models.RDSBackend, db_kwargs: dict[str, Any]) -> Any:
        cluster_id = db_kwargs.get("db_cluster_identifier")
        cluster = self.clusters.get(cluster_id) if cluster_id else None
        if cluster is not None and cluster.status != "available":
            raise RDSClientError("InvalidDBClusterStateFault",
                                 f"DB cluster {cluster_id} is not available "
                                 f"({cluster.status}): create its instances once it is")
        _refuse_beyond_db_instance_quota(self, quotas)
        database = create_instance(self, db_kwargs)
        if cluster is not None:
            database.status = "creating"
            timing.started(database.arn, restore=True)
        return database

    def describe_db_instances(self: rds_models.RDSBackend, *args: Any, **kwargs: Any) -> Any:
        for database in self.databases.values():
            if database.status == "creating" and timing.is_done(database.arn):
                database.status = "available"
        return describe_instances(self, *args, **kwargs)

    def status(self: rds_models.DBCluster) -> str:
        # moto answers `creating` once, then `available`; a restored cluster is `creating`
        # until its restore time has passed, then `available`.
        if timing.in_progress(self.arn):
            return "creating"
        if timing.is_done(self.arn) and self._status == "creating":
            self._status = "available"
        found: str = cluster_status.fget(self)  # type: ignore[attr-defined]
        return found

    replace(stack, rds_models.RDSBackend, "restore_db_instance_from_db_snapshot",
            restore_db_instance_from_db_snapshot)
    replace(stack, rds_models.RDSBackend, "restore_db_cluster_from_snapshot",
            restore_db_cluster_from_snapshot)
    replace(stack, rds_models.RDSBackend, "create_db_instance", create_db_instance)
    replace(stack, rds_models.RDSBackend, "describe_db_instances", describe_db_instances)
    replace(stack, rds_models.DBCluster, "status",
            property(status, cluster_status.fset))  # type: ignore[attr-defined]


def _teach_run_instances(stack: ExitStack, timing: EmulatedCopyTiming) -> None:
    run_instances = InstanceBackend.run_instances
    instance_status, system_status = Instance.instance_status, Instance.system_status

    def run(self: Any, image_id: str, count: int, user_data: Any,
            security_group_names: list[str], **kwargs: Any) -> Any:
        instance_type = kwargs.get("instance_type") or "m1.small"
        images = self.describe_images(ami_ids=[image_id])
        architecture = (images[0].architecture if images else None) or "x86_64"
        supported = (INSTANCE_TYPES.get(instance_type, {}).get("ProcessorInfo") or {}).get(
            "SupportedArchitectures", [])
        if architecture not in supported:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"The architecture '{', '.join(supported) or 'unknown'}' of the specified "
                f"instance type '{instance_type}' does not match the architecture "
                f"'{architecture}' of the specified AMI. Specify an instance type and an AMI "
                "that have matching architectures, and try again.")
        reservation = run_instances(self, image_id, count, user_data, security_group_names,
                                    **kwargs)
        for instance in reservation.instances:
            timing.started(instance.id, restore=True)
        return reservation

    def checked(original: Any) -> property:
        def status(self: Any) -> dict[str, Any]:
            if self.state_code == 16 and timing.in_progress(self.id):
                return INITIALIZING
            found: dict[str, Any] = original.fget(self)
            return found
        return property(status)

    replace(stack, InstanceBackend, "run_instances", run)
    replace(stack, Instance, "instance_status", checked(instance_status))
    replace(stack, Instance, "system_status", checked(system_status))
