"""The acceptance harness (acceptance/), proven on emulated AWS behind an endpoint URL: the
same code that `make test-aws` runs against a real account, pointed at the emulator's server
(moto's server mode) on a free local port instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from acceptance.expectations import result
from acceptance.harness import (
    RUN_TAG,
    AcceptanceFailure,
    Settings,
    check,
    inventory,
    new_run_id,
    run_acceptance,
    sweep,
)
from acceptance.targets import EmulatedTarget, backup_and_maintenance_windows, emulated_target
from acceptance.test_on_aws import why_not_opted_in

# One emulator server for the module: its tests share one xdist worker (loadgroup).
pytestmark = pytest.mark.xdist_group("acceptance_harness")
SETTINGS = Settings()


@pytest.fixture(scope="module")
def target():
    with emulated_target() as started:
        yield started


@pytest.mark.statemachine
def test_the_core_scenarios_pass_through_the_deployed_state_machine_and_the_sweep_leaves_nothing(
        target):
    # GIVEN emulated AWS behind an endpoint, and a new run
    run_id, said = new_run_id(), []

    # WHEN the harness plays its scenarios
    seen = run_acceptance(target, SETTINGS, run_id, say=said.append)

    # THEN every phase ran (its expectations are checked inside), each job of the three sync
    # types copied twice and pruned its first copy; the sweep found what the run made, in
    # both regions, and nothing of the run is left
    assert [[r["status"] for r in phase] for phase in seen[:4]] == [
        ["copied"] * 3, ["in_sync"] * 3, ["copied"] * 3, ["in_sync"] * 3]
    assert [r["pruned"] == [first["created_resource"]] for r, first in zip(
        seen[3], seen[0], strict=True)] == [True] * 3
    swept = next(line for line in said if line.startswith(f"sweep of run {run_id}: 1"))
    for made in ("stack", "DB instance", "DB cluster", "DB snapshot", "DB cluster snapshot",
                 "AMI", "EBS snapshot", "(us-east-1)", "(us-west-2)"):
        assert made in swept
    assert said[-1] == f"sweep of run {run_id}: nothing left"
    assert inventory(target, SETTINGS, run_id) == []


@dataclass
class DiesWhenAskedForABackup:
    """A target whose run dies midway, after it deployed, created and copied."""

    inner: EmulatedTarget

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def take_automated_backup(self, region: str, **source: Any) -> None:
        raise KeyboardInterrupt("the run was interrupted")


@pytest.mark.statemachine
def test_a_run_that_dies_is_swept_and_nothing_else_is_touched(target):
    # GIVEN resources the run did not make: untagged, and tagged by another run
    ec2 = target.session.client("ec2", region_name=SETTINGS.source_region)
    rds = target.session.client("rds", region_name=SETTINGS.source_region)
    others = ec2.register_image(Name="someone-elses", RootDeviceName="/dev/xvda")["ImageId"]
    rds.create_db_instance(DBInstanceIdentifier="someone-elses-db", Engine="postgres",
                           DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
                           MasterUsername="them", MasterUserPassword="not-a-secret-1",
                           Tags=[{"Key": RUN_TAG, "Value": "xrs-acc-another-run"}])
    run_id = new_run_id()

    # WHEN the run dies after its first executions
    with pytest.raises(KeyboardInterrupt):
        run_acceptance(DiesWhenAskedForABackup(target), SETTINGS, run_id, say=lambda _: None)

    # THEN its sweep deleted everything it made; the others are still there
    assert inventory(target, SETTINGS, run_id) == []
    assert ec2.describe_images(ImageIds=[others])["Images"][0]["State"] == "available"
    assert rds.describe_db_instances(DBInstanceIdentifier="someone-elses-db")["DBInstances"]
    assert [str(found) for found in inventory(target, SETTINGS, "xrs-acc-another-run")] == [
        "DB instance someone-elses-db (us-east-1)"]


def test_a_sweep_by_run_id_deletes_what_a_dead_run_left(target):
    # GIVEN what a run killed before its finally left behind: a tagged DB instance and AMI
    run_id = new_run_id()
    tags = [{"Key": RUN_TAG, "Value": run_id}]
    rds = target.session.client("rds", region_name=SETTINGS.source_region)
    rds.create_db_instance(DBInstanceIdentifier=f"{run_id}-db", Engine="postgres",
                           DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
                           MasterUsername="acceptance", MasterUserPassword="not-a-secret-1",
                           Tags=tags)
    ec2 = target.session.client("ec2", region_name=SETTINGS.destination_region)
    image = ec2.register_image(Name=f"{run_id}-1", RootDeviceName="/dev/xvda")["ImageId"]
    ec2.create_tags(Resources=[image], Tags=tags)
    assert len(inventory(target, SETTINGS, run_id)) == 2

    # WHEN `make test-aws-sweep RUN_ID=...` sweeps it
    left = sweep(target, SETTINGS, run_id, say=lambda _: None)

    # THEN nothing of it is left
    assert left == []


def test_an_outcome_that_differs_fails_the_phase_naming_it():
    seen = [[result("sync_x_ami", "ec2_ami", "copied", "ami-0123456789abcdef0", "pending")]]

    check(seen, [[result("sync_x_ami", "ec2_ami", "copied", "<ami-1>", "pending")]], "copy")
    with pytest.raises(AcceptanceFailure, match="phase copy: saw .*'failed'"):
        check([[{**seen[0][0], "status": "failed"}]],
              [[result("sync_x_ami", "ec2_ami", "copied", "<ami-1>", "pending")]], "copy")


def test_the_aws_suite_runs_only_with_a_profile_and_the_costs_accepted():
    assert "AWS_PROFILE" in why_not_opted_in({"XRS_AWS_ACCEPT_COSTS": "1"})
    assert "XRS_AWS_ACCEPT_COSTS=1" in why_not_opted_in({"AWS_PROFILE": "sandbox"})
    assert "XRS_AWS_ACCEPT_COSTS=1" in why_not_opted_in({"AWS_PROFILE": "sandbox",
                                                         "XRS_AWS_ACCEPT_COSTS": "yes"})
    assert why_not_opted_in({"AWS_PROFILE": "sandbox", "XRS_AWS_ACCEPT_COSTS": "1"}) is None


@pytest.mark.parametrize("now", [datetime(2026, 12, 5, 6, 10, tzinfo=UTC),
                                 datetime(2026, 12, 6, 23, 50, tzinfo=UTC)])
def test_the_moved_backup_window_begins_soon_and_keeps_clear_of_maintenance(now):
    """RDS: a backup window is hh24:mi-hh24:mi UTC, at least 30 minutes, daily, and must not
    overlap the weekly maintenance window (ddd:hh24:mi-ddd:hh24:mi) in the hours of a day."""
    windows = backup_and_maintenance_windows(now)

    backup = _minutes_of_day(*windows["PreferredBackupWindow"].split("-"))
    maintenance = _minutes_of_day(*(part[4:] for part in
                                    windows["PreferredMaintenanceWindow"].split("-")))
    assert (backup[0] - (now.hour * 60 + now.minute)) % 1440 == 5
    assert (backup[1] - backup[0]) % 1440 == 30
    assert all((minute - backup[0]) % 1440 >= 30 for minute in range(
        maintenance[0], maintenance[0] + (maintenance[1] - maintenance[0]) % 1440 + 1))
    assert windows["PreferredMaintenanceWindow"] == windows["PreferredMaintenanceWindow"].lower()


def _minutes_of_day(start: str, end: str) -> tuple[int, int]:
    first, last = (int(time[:2]) * 60 + int(time[3:]) for time in (start, end))
    return first, last
