"""One run of the N jobs through a driver, measured: wall time, the AWS API calls the
tool sent (aws.observe_calls), the job results and, for the state machine, its
execution."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xregion_sync import aws, logs, run
from xregion_sync_emulator import LocalExecution, execute_state_machine

RUNNER, STATE_MACHINE = "runner", "state machine"


def sync_type_of(call: aws.ApiCall) -> str:
    """The sync type that made a call: EC2 is ec2_ami's; of RDS's, a DB cluster's or a DB
    cluster snapshot's (by operation, or by the ARN it tags) is rds_cluster_snapshot's;
    another service's (S3: the run's plan and results) is the execution's, '(s3)'."""
    if call.service != "rds":
        return "ec2_ami" if call.service == "ec2" else f"({call.service})"
    arn = str(call.params.get("ResourceName", ""))
    return ("rds_cluster_snapshot" if "Cluster" in call.operation or ":cluster-snapshot:" in arn
            else "rds_automated_snapshot")


@dataclass
class Run:
    driver: str
    seconds: float
    results: list[dict[str, Any]]  # SyncResult.to_dict() per job
    calls: Counter = field(default_factory=Counter)  # (sync type, operation) -> count
    execution: LocalExecution | None = None

    def jobs(self, sync_type: str) -> int:
        return sum(1 for r in self.results if r["sync_type"] == sync_type)

    def calls_per_job(self, sync_type: str) -> float | None:
        jobs = self.jobs(sync_type)
        return sum(n for (s, _), n in self.calls.items() if s == sync_type) / jobs if jobs else None

    def operations(self, sync_type: str) -> dict[str, float]:
        jobs = self.jobs(sync_type)
        return {op: n / jobs for (s, op), n in sorted(self.calls.items()) if s == sync_type}

    def problems(self, expected_status: str,
                 expected_pruned: int | Callable[[dict[str, Any]], int] = 0) -> list[str]:
        """Jobs whose result is not the expected one (the numbers would be meaningless);
        `expected_pruned` for every job, or a function of the job's result."""
        def pruned(result: dict[str, Any]) -> int:
            return expected_pruned(result) if callable(expected_pruned) else expected_pruned

        wrong = [r for r in self.results
                 if r["status"] != expected_status or len(r.get("pruned") or ()) != pruned(r)]
        if self.execution is not None and self.execution.status != "SUCCEEDED":
            wrong = wrong or [{"name": "(execution)", "status": self.execution.status,
                               "errors": [self.execution.cause]}]
        return [f"{r['name']}: {r['status']}, pruned {len(r.get('pruned') or ())} "
                f"(expected {expected_status}, pruned {pruned(r)}) {r.get('errors') or ''}"
                for r in wrong]


def run_jobs(driver: str, config: dict[str, Any]) -> Run:
    calls: Counter = Counter()
    lock = threading.Lock()  # the runner's threads and the Map's iterations call at once

    def count(call: aws.ApiCall) -> None:
        with lock:
            calls[(sync_type_of(call), call.operation)] += 1

    with aws.observe_calls(count):
        started = time.perf_counter()
        if driver == RUNNER:
            execution = None
            results = [r.to_dict() for r in run(config)]
        else:
            execution = execute_state_machine({"config": config})
            results = [r.to_dict() for r in execution.results()]
        seconds = time.perf_counter() - started
    return Run(driver, seconds, results, calls, execution)


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The task handlers' JSON log lines and EMF metric lines (the emulated state machine
    runs the Lambdas' handlers, which print EMF to their log stream, stdout) still get
    formatted, but go to /dev/null instead of into the benchmark's output."""
    logs.configure()
    handlers = [h for h in logging.getLogger("xregion_sync").handlers
                if isinstance(h, logging.StreamHandler)]
    with Path(os.devnull).open("w", encoding="utf-8") as devnull, redirect_stdout(devnull):
        previous = [h.setStream(devnull) for h in handlers]
        try:
            yield
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                handler.setStream(stream)
