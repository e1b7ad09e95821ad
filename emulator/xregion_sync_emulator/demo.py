"""`xregion-sync demo`: the sample config through the real state machine, twice, on
emulated AWS seeded with an AMI, and a database and an Aurora cluster with a week of
automated snapshots each; then a restore drill of each job on the drill state machine
(restores take DEMO_RESTORE_SECONDS of emulated time, waited out at once)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from xregion_sync.config import read_config_source
from xregion_sync.result import SyncResult
from xregion_sync.tables import format_status_table, format_table

from . import LocalExecution, emulated_aws, execute_state_machine
from .seed import DEMO_DESTINATION_REGION, DEMO_SOURCE_REGION, seed_demo

RUNS = (f"First execution: copies to {DEMO_DESTINATION_REGION}",
        "Second execution: already in sync, nothing copied")
DEMO_RESTORE_SECONDS = 600  # a small RDS restore takes about 10 minutes
DRILL_MACHINE = "DrillStateMachine"


def demo_config_text() -> str:
    return files("xregion_sync").joinpath("samples/demo.yaml").read_text(encoding="utf-8")


def run_demo(*, as_json: bool = False) -> int:
    config_text = demo_config_text()
    config = read_config_source(config_text)
    outputs, failed = [], False
    with emulated_aws(restore_seconds=DEMO_RESTORE_SECONDS, waits_pass_time=True):
        seeded = seed_demo()
        if not as_json:
            print(f"Emulated AWS (moto), seeded in {DEMO_SOURCE_REGION}: AMI "
                  f"{seeded['image_id']}, DB instance orders-db and Aurora cluster "
                  "orders-cluster with a week of automated snapshots each.\nConfig "
                  f"(samples/demo.yaml):\n\n{config_text}")
        for title in RUNS:
            execution = execute_state_machine({"config": config})
            results = execution.results()
            failed = failed or execution.status != "SUCCEEDED"
            outputs.append({"status": execution.status, "output": execution.output})
            if not as_json:
                _print_execution(title, execution, results)
        if not as_json:
            _print_status(config)
        # Every job with restore_drill (the defaults), drilled now whatever its schedule.
        drills = execute_state_machine({"config": {"restore_drill": {}, **config},
                                        "force": True}, machine=DRILL_MACHINE)
        failed = failed or drills.status != "SUCCEEDED"
        outputs.append({"status": drills.status, "output": drills.output})
        if not as_json:
            _print_drills(drills)
    if as_json:
        print(json.dumps(outputs, indent=2))
    return 1 if failed else 0


def _print_status(config: Mapping[Any, Any]) -> None:
    from xregion_sync.status import status

    print("== xregion-sync status: how old each job's newest available copy is")
    print(format_status_table(status(config)))


def _print_execution(title: str, execution: LocalExecution, results: list[SyncResult]) -> None:
    print(f"== {title}\nExecution {execution.arn.rsplit(':', 1)[-1]}: {execution.status}")
    print(format_table(results))
    paths = execution.states_by_job()
    for result in results:  # each job's own child execution
        print(f"  {result.name}: " + " -> ".join(paths.get(result.name, ["(no child execution)"])))
    print()


def _print_drills(execution: LocalExecution) -> None:
    from xregion_sync.drills import DrillResult
    from xregion_sync.tables import format_drill_table

    document = execution.output or execution.final_document() or {}
    print(f"\n== Restore drills: each job's newest copy restored, timed and deleted\n"
          f"Execution {execution.arn.rsplit(':', 1)[-1]} of the drill state machine: "
          f"{execution.status}")
    print(format_drill_table(DrillResult.from_dict(r) for r in document.get("results", ())))
