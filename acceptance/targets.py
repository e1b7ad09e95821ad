"""Where the acceptance suite runs: the one small interface behind which AWS and emulated AWS
differ. Everything else (sources, tags, waiting, the scenarios and their assertions, the
sweep) is harness.py, the same code for both.

A target gives the harness a boto3 session whose clients reach it, and does the three things
that cannot be the same:
  deploy     AWS: `sam deploy` of the built template.yaml under a unique stack name, tagged.
             Emulated: the emulator's stand-in stack (its state machine runs the real ASL
             with the real handlers in the server process; moto cannot deploy the SAM
             transform nor run Lambda code).
  undeploy   AWS: `sam delete` (the stack and its uploaded artifacts). Emulated: DeleteStack.
  take_automated_backup
             AWS: move the backup window of a DB instance or cluster the run created to begin
             in a few minutes, so that RDS takes its next automated snapshot there (there is
             no API to take one). Emulated: the emulator takes it at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol
from unittest import mock

import boto3

REPOSITORY = Path(__file__).resolve().parent.parent
SAM = REPOSITORY / ".tools" / "sam" / "bin" / "sam"
EMULATOR_STACK_REGION = "us-east-1"  # xregion_sync_emulator.stepfunctions.REGION
# An automated backup window is at least 30 minutes; RDS starts the backup inside it.
BACKUP_WINDOW = timedelta(minutes=30)
BACKUP_WINDOW_LEAD = timedelta(minutes=5)


class Target(Protocol):
    name: str
    profile: str | None  # the AWS profile `sam` and operate.find_stack use, if any
    session: boto3.Session
    poll_seconds: float  # how often the harness looks again while it waits

    def deploy(self, stack_name: str, region: str, tags: dict[str, str]) -> str:
        """Deploy stack `stack_name` tagged `tags`, in `region` if it can; its region."""

    def undeploy(self, stack_name: str, region: str) -> None: ...

    def take_automated_backup(self, region: str, *, db_instance: str | None = None,
                              db_cluster: str | None = None) -> None: ...


# ---------------------------------------------------------------- AWS


@dataclass
class AwsTarget:
    """A real account, through an AWS profile. `make sam-build` must have run."""

    profile: str | None
    name: str = "AWS"
    poll_seconds: float = 20.0
    session: boto3.Session = field(init=False)

    def __post_init__(self) -> None:
        self.session = boto3.Session(profile_name=self.profile)

    def deploy(self, stack_name: str, region: str, tags: dict[str, str]) -> str:
        if not SAM.exists():
            raise RuntimeError(f"{SAM} is missing: run `make sam-build` first (make test-aws "
                               "does)")
        self._sam("deploy", "--stack-name", stack_name, "--s3-prefix", stack_name,
                  "--resolve-s3", "--capabilities", "CAPABILITY_IAM",
                  "--no-confirm-changeset", "--no-fail-on-empty-changeset",
                  # nothing starts an execution but the harness
                  "--parameter-overrides", "ScheduleState=DISABLED EventStartsState=DISABLED",
                  "--tags", " ".join(f"{key}={value}" for key, value in tags.items()),
                  region=region)
        return region

    def undeploy(self, stack_name: str, region: str) -> None:
        self._sam("delete", "--stack-name", stack_name, "--no-prompts", region=region)

    def take_automated_backup(self, region: str, *, db_instance: str | None = None,
                              db_cluster: str | None = None) -> None:
        rds = self.session.client("rds", region_name=region)
        windows = backup_and_maintenance_windows(datetime.now(UTC))
        if db_cluster:
            rds.modify_db_cluster(DBClusterIdentifier=db_cluster, ApplyImmediately=True,
                                  **windows)
        else:
            rds.modify_db_instance(DBInstanceIdentifier=db_instance, ApplyImmediately=True,
                                   **windows)

    def _sam(self, *arguments: str, region: str) -> None:
        profile = ["--profile", self.profile] if self.profile else []
        subprocess.run([str(SAM), *arguments, "--region", region, *profile],
                       cwd=REPOSITORY, check=True, stdin=subprocess.DEVNULL)


def backup_and_maintenance_windows(now: datetime) -> dict[str, str]:
    """A backup window that begins a few minutes from `now`, and a weekly maintenance window
    three days later, two hours later in the day: the backup window recurs daily, and RDS
    refuses one that overlaps the maintenance window's hours."""
    start = now + BACKUP_WINDOW_LEAD
    end = start + BACKUP_WINDOW
    later = start + timedelta(days=3, hours=2)
    return {"PreferredBackupWindow": f"{start:%H:%M}-{end:%H:%M}",
            "PreferredMaintenanceWindow": f"{later:%a}:{later:%H:%M}-{later + BACKUP_WINDOW:%a}:"
                                          f"{later + BACKUP_WINDOW:%H:%M}".lower()}


# ---------------------------------------------------------------- emulated AWS


@dataclass
class EmulatedTarget:
    """Emulated AWS behind an endpoint URL, served by a child process
    (xregion_sync_emulator.server). Use with `emulated_target()`."""

    endpoint_url: str
    commands: IO[str]
    answers: IO[str]
    name: str = "emulated AWS (moto server)"
    profile: str | None = None
    poll_seconds: float = 0.05
    session: boto3.Session = field(init=False)

    def __post_init__(self) -> None:
        self.session = boto3.Session(aws_access_key_id="testing",
                                     aws_secret_access_key="testing")

    def deploy(self, stack_name: str, region: str, tags: dict[str, str]) -> str:
        """The emulator's stack stand-in lives in its one region (us-east-1)."""
        self._ask({"deploy": stack_name, "tags": tags})
        return EMULATOR_STACK_REGION

    def undeploy(self, stack_name: str, region: str) -> None:
        self.session.client("cloudformation", region_name=region).delete_stack(
            StackName=stack_name)

    def take_automated_backup(self, region: str, *, db_instance: str | None = None,
                              db_cluster: str | None = None) -> None:
        self._ask({"automated_backup": {"region": region, "db_instance": db_instance,
                                        "db_cluster": db_cluster}})

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.commands.write(json.dumps(command) + "\n")
        self.commands.flush()
        answer: dict[str, Any] = json.loads(self.answers.readline() or '{"error": "gone"}')
        if "error" in answer:
            raise RuntimeError(f"the emulator refused {command}: {answer['error']}")
        return answer


@contextmanager
def emulated_target() -> Iterator[EmulatedTarget]:
    """Start the emulator's server on a free local port and point boto3 at it
    (AWS_ENDPOINT_URL, so `xregion-sync` and operate.py reach it too) until the block ends."""
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "xregion_sync_emulator.server"], cwd=REPOSITORY, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        assert server.stdin is not None and server.stdout is not None
        try:
            first = server.stdout.readline()
            if not first:
                log.seek(0)
                raise RuntimeError(f"the emulator's server did not start: {log.read()[-2000:]}")
            endpoint_url = json.loads(first)["endpoint_url"]
            with mock.patch.dict(os.environ, FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint_url):
                for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
                    os.environ.pop(variable, None)  # patch.dict restores the whole environment
                yield EmulatedTarget(endpoint_url, server.stdin, server.stdout)
        finally:
            server.stdin.close()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# Nothing may reach a real account from an emulated run.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
