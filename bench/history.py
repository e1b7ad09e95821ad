"""What an execution's Step Functions history says: states entered, Lambda invocations
and history events per Map iteration (= per job), the per-execution overhead, and the
largest state payload."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from xregion_sync.local import LocalExecution
from xregion_sync.local.quotas import AWS_QUOTAS

PAYLOAD_FIELDS = ("input", "output", "parameters")
PAYLOAD_LIMIT_BYTES = AWS_QUOTAS.payload_bytes  # Step Functions' limit on any state input/output
HISTORY_LIMIT_EVENTS = AWS_QUOTAS.history_events  # per execution (the inline Map's jobs share it)

# The per-job path, told by the states a Map iteration entered.
IN_SYNC, COPY, COPY_POLLING, FAILED = "in sync", "copy", "copy+polling", "failed"


@dataclass(frozen=True)
class Payload:
    bytes: int
    event: str  # e.g. "TaskStateExited Load Config output"


@dataclass(frozen=True)
class PathCount:
    """Per-job counts of one path in one execution (min = max unless jobs differ)."""

    path: str
    jobs: int
    transitions: tuple[int, int]  # (min, max) StateEntered events per job
    lambdas: tuple[int, int]  # (min, max) LambdaFunctionScheduled events per job
    events: tuple[int, int]  # (min, max) history events per job
    states: tuple[str, ...]  # the states of one such job, in order


@dataclass(frozen=True)
class ExecutionProfile:
    status: str
    error: str | None
    events: int  # the whole history
    paths: list[PathCount]
    overhead_states: list[str]  # entered outside any Map iteration
    overhead_lambdas: int
    overhead_events: int
    largest_payload: Payload
    largest_job_payload: Payload  # the largest inside a Map iteration

    def path(self, name: str) -> PathCount | None:
        return next((p for p in self.paths if p.path == name), None)


def profile(execution: LocalExecution) -> ExecutionProfile:
    events = execution.history
    iteration_of = _iteration_of_events(events)
    _check_against_product(execution, iteration_of)
    per_job: dict[int, list[dict[str, Any]]] = {}
    outside: list[dict[str, Any]] = []
    for event in events:
        index = iteration_of.get(event["id"])
        (outside if index is None else per_job.setdefault(index, [])).append(event)
    job_payloads = [p for job in per_job.values() for p in _payloads(job)]
    return ExecutionProfile(
        status=execution.status,
        error=execution.error,
        events=len(events),
        paths=_paths(per_job),
        overhead_states=_states(outside),
        overhead_lambdas=_lambdas(outside),
        overhead_events=len(outside),
        largest_payload=max(_payloads(events), key=lambda p: p.bytes),
        largest_job_payload=max(job_payloads, key=lambda p: p.bytes, default=Payload(0, "-")),
    )


def jobs_that_fit(events_per_job: int, overhead_events: int) -> int:
    """How many jobs of one path one execution's history holds (the Map is INLINE)."""
    return (HISTORY_LIMIT_EVENTS - overhead_events) // events_per_job


def path_of(states: list[str]) -> str:
    if "Record Failure" in states or "Report Config Error" in states:
        return FAILED
    if "Poll Copy Status" in states:
        return COPY_POLLING
    if "Start Copy" in states:
        return COPY
    return IN_SYNC


# ---------------------------------------------------------------- helpers


def _iteration_of_events(events: list[dict[str, Any]]) -> dict[int, int | None]:
    """Every event's Map iteration index (None outside the Map), found by following
    previousEventId back to a MapIterationStarted event."""
    by_id = {e["id"]: e for e in events}
    found: dict[int, int | None] = {}
    for event in events:
        chain, current, index = [], event, None
        while current is not None:
            if current["id"] in found:
                index = found[current["id"]]
                break
            if current["type"].startswith("MapState"):  # the Map itself, not an iteration
                break
            chain.append(current["id"])
            if current["type"] == "MapIterationStarted":
                index = current["mapIterationStartedEventDetails"]["index"]
                break
            current = by_id.get(current.get("previousEventId", 0))
        for event_id in chain:
            found[event_id] = index
        found.setdefault(event["id"], index)
    return found


def _check_against_product(execution: LocalExecution,
                           iteration_of: dict[int, int | None]) -> None:
    """The attribution here must agree with LocalExecution.states_by_iteration()."""
    mine: dict[int, list[str]] = {}
    for event in execution.history:
        if "stateEnteredEventDetails" in event and iteration_of.get(event["id"]) is not None:
            mine.setdefault(iteration_of[event["id"]], []).append(
                event["stateEnteredEventDetails"]["name"])
    if mine != execution.states_by_iteration():
        raise AssertionError("bench and LocalExecution.states_by_iteration() disagree on "
                             "which Map iteration a state belongs to")


def _states(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events
            if "stateEnteredEventDetails" in e]


def _lambdas(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events if e["type"] == "LambdaFunctionScheduled")


def _paths(per_job: dict[int, list[dict[str, Any]]]) -> list[PathCount]:
    grouped: dict[str, list[list[dict[str, Any]]]] = {}
    for job_events in per_job.values():
        grouped.setdefault(path_of(_states(job_events)), []).append(job_events)
    paths = []
    for name, jobs in grouped.items():
        transitions = [len(_states(job)) for job in jobs]
        lambdas = [_lambdas(job) for job in jobs]
        events = [len(job) for job in jobs]
        typical = Counter(tuple(_states(job)) for job in jobs).most_common(1)[0][0]
        paths.append(PathCount(name, len(jobs), (min(transitions), max(transitions)),
                               (min(lambdas), max(lambdas)), (min(events), max(events)),
                               typical))
    return paths


def _payloads(events: list[dict[str, Any]]) -> list[Payload]:
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
                    payloads.append(Payload(len(details[name].encode("utf-8")), where))
    return payloads


def _state_of(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str | None:
    """The state a Task's Lambda event belongs to: the last state entered before it."""
    while event is not None:
        details = event.get("stateEnteredEventDetails")
        if details:
            return details["name"]
        event = by_id.get(event.get("previousEventId", 0))
    return None
