"""What an execution's Step Functions histories say. Each job runs as its own Distributed
Map child execution with its own history: states entered, Lambda invocations and history
events per child (= per job); the parent's own history (the per-execution overhead,
shared by the N jobs); and the largest state payload in any of them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from xregion_sync_emulator import LocalExecution
from xregion_sync_emulator.distributed_map import ChildExecution
from xregion_sync_emulator.quotas import AWS_QUOTAS

PAYLOAD_FIELDS = ("input", "output", "parameters")
PAYLOAD_LIMIT_BYTES = AWS_QUOTAS.payload_bytes  # Step Functions' limit on any state input/output
HISTORY_LIMIT_EVENTS = AWS_QUOTAS.history_events  # per execution: the parent, and each child

# The per-job path, told by the states a child execution entered.
IN_SYNC, COPY, COPY_POLLING, DEFERRED, FAILED = (
    "in sync", "copy", "copy+polling", "deferred", "failed")


@dataclass(frozen=True)
class Payload:
    bytes: int
    event: str  # e.g. "TaskStateExited Load Config output (parent)"


@dataclass(frozen=True)
class PathCount:
    """Per-job counts of one path in one execution (min = max unless jobs differ)."""

    path: str
    execution_type: str  # of the children: EXPRESS or STANDARD
    jobs: int
    transitions: tuple[int, int]  # (min, max) StateEntered events per child
    lambdas: tuple[int, int]  # (min, max) LambdaFunctionScheduled events per child
    events: tuple[int, int]  # (min, max) history events per child
    seconds: tuple[float, float]  # (min, max) child duration (start to stop), on moto
    states: tuple[str, ...]  # the states of one such child, in order


@dataclass(frozen=True)
class ExecutionProfile:
    status: str
    error: str | None
    children: int
    parent_events: int  # the parent's whole history
    parent_states: list[str]  # entered in the parent (the Map's children not included)
    parent_lambdas: int
    largest_child_events: int
    paths: list[PathCount]
    largest_payload: Payload  # anywhere: the parent's and every child's history
    largest_child_payload: Payload  # the largest inside one child

    def path(self, name: str) -> PathCount | None:
        return next((p for p in self.paths if p.path == name), None)


def profile(execution: LocalExecution) -> ExecutionProfile:
    children = execution.child_executions()
    _check_against_product(execution, children)
    child_payloads = [p for child in children for p in _payloads(child.history, "child")]
    largest_child = max(child_payloads, key=lambda p: p.bytes, default=Payload(0, "-"))
    parent_payloads = _payloads(execution.history, "parent")
    return ExecutionProfile(
        status=execution.status,
        error=execution.error,
        children=len(children),
        parent_events=len(execution.history),
        parent_states=_states(execution.history),
        parent_lambdas=_lambdas(execution.history),
        largest_child_events=max((len(c.history) for c in children), default=0),
        paths=_paths(children),
        largest_payload=max([*parent_payloads, largest_child], key=lambda p: p.bytes),
        largest_child_payload=largest_child,
    )


def path_of(states: list[str]) -> str:
    if "Record Failure" in states or "Report Config Error" in states:
        return FAILED
    if "Poll Copy Status" in states:
        return COPY_POLLING
    if "Copy Tags" in states:
        return COPY
    if "Start Copy" in states:  # refused by the copy quota, not waiting for a slot
        return DEFERRED
    return IN_SYNC


# ---------------------------------------------------------------- helpers


def _check_against_product(execution: LocalExecution, children: list[ChildExecution]) -> None:
    """One child execution per job, and the states the bench counts are the ones
    LocalExecution.states_by_job() reports."""
    by_job = execution.states_by_job()
    if len(by_job) != len(children) or sorted(map(tuple, by_job.values())) != sorted(
            tuple(_states(child.history)) for child in children):
        raise AssertionError("bench and LocalExecution.states_by_job() disagree on the "
                             "child executions' states")


def _states(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events
            if "stateEnteredEventDetails" in e]


def _lambdas(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events if e["type"] == "LambdaFunctionScheduled")


def _seconds(child: ChildExecution) -> float:
    return ((child.stop_date or child.start_date) - child.start_date).total_seconds()


def _paths(children: list[ChildExecution]) -> list[PathCount]:
    grouped: dict[tuple[str, str], list[ChildExecution]] = {}
    for child in children:
        key = (path_of(_states(child.history)), child.execution_type)
        grouped.setdefault(key, []).append(child)
    paths = []
    for (name, execution_type), jobs in grouped.items():
        transitions = [len(_states(c.history)) for c in jobs]
        lambdas = [_lambdas(c.history) for c in jobs]
        events = [len(c.history) for c in jobs]
        seconds = [_seconds(c) for c in jobs]
        typical = Counter(tuple(_states(c.history)) for c in jobs).most_common(1)[0][0]
        paths.append(PathCount(name, execution_type, len(jobs),
                               (min(transitions), max(transitions)),
                               (min(lambdas), max(lambdas)), (min(events), max(events)),
                               (min(seconds), max(seconds)), typical))
    return paths


def _payloads(events: list[dict[str, Any]], execution: str) -> list[Payload]:
    by_id = {e["id"]: e for e in events}
    payloads = []
    for event in events:
        for key, details in event.items():
            if not key.endswith("EventDetails") or not isinstance(details, dict):
                continue
            for name in PAYLOAD_FIELDS:
                if isinstance(details.get(name), str):
                    state = details.get("name") or _state_of(event, by_id)
                    where = " ".join(filter(None, (event["type"], state, name)))
                    payloads.append(Payload(len(details[name].encode("utf-8")),
                                            f"{where} ({execution})"))
    return payloads


def _state_of(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str | None:
    """The state a Task's Lambda event belongs to: the last state entered before it."""
    seen = set()
    while event is not None and event["id"] not in seen:
        seen.add(event["id"])
        details = event.get("stateEnteredEventDetails")
        if details:
            return details["name"]
        event = by_id.get(event.get("previousEventId", 0))
    return None
