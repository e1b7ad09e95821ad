"""Emulated AWS behind an endpoint URL: `python -m xregion_sync_emulator.server`.

For code that must not know it is emulated (the acceptance harness, acceptance/): it talks
to an endpoint URL as it would to AWS. The process runs moto's server mode inside
emulated_aws(), so requests that arrive over HTTP meet the same backends and fidelity fixes
as in-process ones, and a state machine execution started over HTTP runs the real ASL with
the real handlers in this process (their own requests stay in-process, IAM enforced).

Protocol, one JSON object a line: the first line on stdout is {"endpoint_url": ...}; then
each command read from stdin gets one answer on stdout ({"error": ...} when it failed):
  {"deploy": NAME, "tags": {...}}   the stack stand-in of stack.py: {"state_machine_arn"}
  {"automated_backup": {"region", "db_instance" | "db_cluster"}}
                                    RDS's next daily automated snapshot: {"snapshot_id"}
Everything else (handler logs, moto's request log) goes to stderr. The server stops when
stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import boto3

from . import emulated_aws
from .seed import add_automated_cluster_snapshot, add_automated_snapshot
from .stack import local_stack


def main() -> None:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the handlers log to stdout
    from .moto_seam import ThreadedMotoServer

    with emulated_aws(), ExitStack() as deployments:
        _serve_one_request_at_a_time(deployments)
        server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        _answer(answers, {"endpoint_url": f"http://{host}:{port}"})
        try:
            for line in sys.stdin:
                if line.strip():
                    _answer(answers, _run_command(json.loads(line), deployments))
        finally:
            server.stop()


def _serve_one_request_at_a_time(stack: ExitStack) -> None:
    """moto's backends are not thread-safe: a request that arrives over HTTP is served
    while no other runs, in-process ones (the handlers') included, as fidelity.py serves
    those."""
    from .fidelity import REQUEST_LOCK
    from .moto_seam import DomainDispatcherApplication, replace

    original = DomainDispatcherApplication.__call__

    def serialized(self: DomainDispatcherApplication, environ: dict[str, Any],
                   start_response: Any) -> Any:
        with REQUEST_LOCK:
            return original(self, environ, start_response)

    replace(stack, DomainDispatcherApplication, "__call__", serialized)


def _run_command(command: dict[str, Any], deployments: ExitStack) -> dict[str, Any]:
    try:
        if "deploy" in command:
            arn = deployments.enter_context(local_stack(command["deploy"],
                                                        tags=command.get("tags")))
            return {"state_machine_arn": arn}
        if "automated_backup" in command:
            return {"snapshot_id": _next_automated_backup(**command["automated_backup"])}
        return {"error": f"unknown command {sorted(command)}"}
    except Exception as exc:  # the harness reports it; the server keeps serving
        return {"error": f"{type(exc).__name__}: {exc}"}


def _next_automated_backup(region: str, db_instance: str | None = None,
                           db_cluster: str | None = None) -> str:
    """The automated snapshot RDS takes in the next daily backup window: a day after the
    newest one (moto takes only the first, at creation)."""
    rds = boto3.client("rds", region_name=region)
    if db_cluster:
        found = rds.describe_db_cluster_snapshots(DBClusterIdentifier=db_cluster,
                                                  SnapshotType="automated")
        newest = max([s["SnapshotCreateTime"] for s in found["DBClusterSnapshots"]],
                     default=datetime.now(UTC))
        return add_automated_cluster_snapshot(region, db_cluster, newest + timedelta(days=1))
    if not db_instance:
        raise ValueError("automated_backup names neither db_instance nor db_cluster")
    found = rds.describe_db_snapshots(DBInstanceIdentifier=db_instance, SnapshotType="automated")
    newest = max([s["SnapshotCreateTime"] for s in found["DBSnapshots"]], default=datetime.now(UTC))
    return add_automated_snapshot(region, db_instance, newest + timedelta(days=1))


def _answer(answers: IO[str], document: dict[str, Any]) -> None:
    answers.write(json.dumps(document) + "\n")


if __name__ == "__main__":
    main()
