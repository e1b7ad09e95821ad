"""The measurements for one size N, each in a fresh emulated AWS:

  runner         first run (copy path), second run (in sync)
  state machine  first execution (copy path), second execution (in sync)
  prune          earlier runs leave K older copies per job; a run with retention 0
                 then copies the newest source and prunes K (then once more: 1)

Returns plain JSON-able dicts; report.py prints them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from xregion_sync_emulator.quotas import AWS_QUOTAS, AwsQuotas

from . import history
from .measure import RUNNER, STATE_MACHINE, Run, run_jobs
from .world import emulated_world, split

COPIED, IN_SYNC = "copied", "in_sync"
PRUNED_COPIES = (3, 1)  # K for the prune path, measured in this order in one world
SYNC_TYPES = ("ec2_ami", "rds_automated_snapshot", "rds_cluster_snapshot")
# AWS allows 100 manual DB snapshots per region by default (adjustable in Service Quotas);
# every RDS copy is one. The sizes here keep up to 5 copies per RDS job (the prune
# scenario), so they run with the quota raised; report.py says where the default fails.
RAISED_MANUAL_SNAPSHOTS = 10_000
SIZES_QUOTAS = AwsQuotas(rds_manual_snapshots=RAISED_MANUAL_SNAPSHOTS,
                         rds_manual_cluster_snapshots=RAISED_MANUAL_SNAPSHOTS)
DEFAULT_MANUAL_SNAPSHOTS = AWS_QUOTAS.rds_manual_snapshots


def measure_size(n: int, *, state_machine: bool = True, log=print) -> dict[str, Any]:
    record: dict[str, Any] = {"n": n, "jobs": dict(zip(SYNC_TYPES, split(n), strict=True)),
                              "api_calls": [], "transitions": [], "overhead": {},
                              "history": {},
                              "payload": {}, "wall_seconds": {}, "problems": []}
    _copy_and_in_sync(record, n, RUNNER, log)
    if state_machine:
        _copy_and_in_sync(record, n, STATE_MACHINE, log)
    _prune(record, n, log)
    return record


def _copy_and_in_sync(record: dict[str, Any], n: int, driver: str, log) -> None:
    started = time.perf_counter()
    with emulated_world(n, quotas=SIZES_QUOTAS) as world:
        seeded = time.perf_counter() - started
        config = world.config()
        record["wall_seconds"][driver] = {"seed": seeded}
        for path, expected in (("copy", COPIED), ("in sync", IN_SYNC)):
            run = run_jobs(driver, config)
            _check(record, run, path, expected)
            _api_calls(record, run, path)
            record["wall_seconds"][driver][path] = run.seconds
            if run.execution is not None:  # its child executions live in this emulator
                _execution(record, run, path)
            log(f"  N={n} {driver} {path}: {run.seconds:.1f} s")


def _prune(record: dict[str, Any], n: int, log) -> None:
    """Earlier runs (keeping every copy) leave max(K) older copies per job; then runs with
    retention 0 copy the newest source and prune them."""
    started = time.perf_counter()
    with emulated_world(n, quotas=SIZES_QUOTAS) as world:
        for _ in range(max(PRUNED_COPIES)):
            _check(record, run_jobs(RUNNER, world.config()), "prune setup", COPIED)
            world.advance()
        kept: dict[str, int] = {}  # older copies a run kept because its own was pending

        def expected(result: dict[str, Any]) -> int:
            pending = result.get("copy_state") != "available"
            return k + kept.get(result["name"], 0) - pending

        for k in PRUNED_COPIES:
            run = run_jobs(RUNNER, world.config(retain=0))
            _check(record, run, f"copy + {k} pruned", COPIED, pruned=expected)
            kept = {r["name"]: int(r.get("copy_state") != "available") for r in run.results}
            _api_calls(record, run, f"copy + {k} pruned")
            world.advance()
    record["wall_seconds"]["prune scenario (runner)"] = time.perf_counter() - started
    log(f"  N={n} prune scenario: {record['wall_seconds']['prune scenario (runner)']:.1f} s")


def _check(record: dict[str, Any], run: Run, path: str, expected: str,
           pruned: int | Callable[[dict[str, Any]], int] = 0) -> None:
    problems = run.problems(expected, pruned)
    record["problems"] += [f"{run.driver}, {path}: {p}" for p in problems[:5]]
    if len(problems) > 5:
        record["problems"].append(f"{run.driver}, {path}: ... {len(problems) - 5} more")


def _api_calls(record: dict[str, Any], run: Run, path: str) -> None:
    for sync_type in SYNC_TYPES:
        if run.jobs(sync_type):
            record["api_calls"].append({
                "path": path, "driver": run.driver, "sync_type": sync_type,
                "per_job": run.calls_per_job(sync_type),
                "operations": run.operations(sync_type)})


def _execution(record: dict[str, Any], run: Run, run_name: str) -> None:
    profile = history.profile(run.execution)
    for path in profile.paths:
        record["transitions"].append({
            "run": run_name, "path": path.path, "execution_type": path.execution_type,
            "jobs": path.jobs, "transitions": list(path.transitions),
            "lambdas": list(path.lambdas), "events": list(path.events),
            "child_seconds": list(path.seconds), "states": list(path.states)})
    record["overhead"][run_name] = {"states": profile.parent_states,
                                    "lambdas": profile.parent_lambdas,
                                    "events": profile.parent_events}
    record["history"][run_name] = {"parent_events": profile.parent_events,
                                   "largest_child_events": profile.largest_child_events,
                                   "children": profile.children,
                                   "status": profile.status, "error": profile.error}
    for key, payload in (("largest", profile.largest_payload),
                         ("largest_in_job", profile.largest_child_payload)):
        best = record["payload"].get(key)
        if best is None or payload.bytes > best["bytes"]:
            record["payload"][key] = {"bytes": payload.bytes, "event": payload.event,
                                      "run": run_name}
    events = run.execution.history
    record["wall_seconds"][STATE_MACHINE][f"{run_name} (execution only)"] = (
        events[-1]["timestamp"] - events[0]["timestamp"]).total_seconds()
