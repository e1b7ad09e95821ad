"""Step Functions' quotas, taught to moto's interpreter (which runs the real ASL but counts
nothing): the table is quotas.py, each rule pinned in tests/test_emulator_quotas.py.

  history     25,000 events per execution history; event 25,000, unless it is
              ExecutionSucceeded, is ExecutionFailed with States.Runtime, "The execution
              reached the maximum number of history events (25000).", and nothing runs after
              it. Counted per history: an inline Map's iterations share their execution's,
              each Distributed Map child execution has its own.
  payloads    262,144 bytes (UTF-8) for the execution input (StartExecution refuses more),
              a state's output, a Task's result and the payload a Task schedules:
              States.DataLimitExceeded. moto checked some of these, one byte short of AWS.
  terminal    a Retry or Catch on States.ALL matches neither States.DataLimitExceeded nor
              States.Runtime (moto matched every error): the execution fails.
  failures    an error is at most 256 characters, a cause at most 32,768, wherever history
              or DescribeExecution shows them (cut, as the API's field lengths allow no more).
  Lambda      6 MB per synchronous invoke request and response (Lambda's own quota; through
              Step Functions the 256 KiB above bites first).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from .moto_seam import (
    Environment,
    EventDetails,
    EventManager,
    ExecutionFailedEventDetails,
    HistoryEventType,
    StatesErrorNameType,
    replace,
    to_json_str,
)
from .quotas import AwsQuotas

if TYPE_CHECKING:
    from .moto_seam import (
        ActionResult,
        DistributedItemProcessorWorker,
        ErrorEqualsDecl,
        EventHistoryContext,
        Job,
        StateTaskLambda,
        StepFunctionResponse,
        Timestamp,
    )

# A failure's details: one of moto's *FailedEventDetails (TypedDicts of error and cause).
FailureDetails = TypeVar("FailureDetails", bound=Mapping[str, Any])

HISTORY_LIMIT_ERROR = "States.Runtime"
# States.ALL "cannot catch the States.DataLimitExceeded terminal error or Runtime error types"
# (Step Functions Developer Guide, "Error handling in Step Functions", States.ALL).
TERMINAL_ERRORS = frozenset({StatesErrorNameType.StatesStatesDataLimitExceeded.to_name(),
                             StatesErrorNameType.StatesRuntime.to_name()})


def history_limit_cause(limit: int) -> str:
    return f"The execution reached the maximum number of history events ({limit})."


def enforce_step_functions_quotas(stack: ExitStack, quotas: AwsQuotas) -> None:
    """Patch moto's Step Functions for the duration of `stack`."""
    _limit_history(stack, quotas)
    _limit_payloads(stack, quotas)
    _keep_terminal_errors_out_of_states_all(stack)
    _refuse_large_execution_input(stack, quotas)


# ---------------------------------------------------------------- history


@dataclass
class _HistoryBudget:
    """One execution history: the environment its quota failure ends."""

    owner: Environment
    lock: threading.Lock = field(default_factory=threading.Lock)
    exhausted: bool = False


def _limit_history(stack: ExitStack, quotas: AwsQuotas) -> None:
    from .moto_seam import distributed_item_processor_worker as distributed

    original_init = Environment.__init__
    # Loosely typed: moto's own signature defaults `timestamp: Timestamp` to None.
    original_add_event: Callable[..., int] = EventManager.add_event
    original_set_error = Environment.set_error
    original_eval_job = distributed.DistributedItemProcessorWorker._eval_job

    # history_budget and history_quota_failure: attributes of ours on moto's objects.
    def init(self: Environment, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        # A frame replaces this manager with its parent's (and so shares its budget).
        self.event_manager.history_budget = _HistoryBudget(self)  # type: ignore[attr-defined]

    def add_event(self: EventManager, context: EventHistoryContext,
                  event_type: HistoryEventType, event_details: EventDetails | None = None,
                  timestamp: Timestamp | None = None, update_source_event_id: bool = True) -> int:
        budget: _HistoryBudget | None = getattr(self, "history_budget", None)
        if budget is None:
            return original_add_event(self, context, event_type, event_details, timestamp,
                                      update_source_event_id)
        failure = None
        with budget.lock:
            if budget.exhausted:  # AWS records nothing after the failure event
                return context.last_published_event_id
            is_last = self._event_id_gen._next_id >= quotas.history_events
            if is_last and event_type != HistoryEventType.ExecutionSucceeded:
                failure = ExecutionFailedEventDetails(
                    error=HISTORY_LIMIT_ERROR, cause=history_limit_cause(quotas.history_events))
                event_type = HistoryEventType.ExecutionFailed
                # moto declares EventDetails total, yet every event (moto's own too) fills
                # one key of it.
                event_details = EventDetails(  # type: ignore[typeddict-item]
                    executionFailedEventDetails=failure)
            budget.exhausted = is_last
            event_id = original_add_event(self, context, event_type,
                                          _cut_failures(event_details, quotas), timestamp,
                                          update_source_event_id)
        if failure is not None:
            budget.owner.set_error(failure)
            budget.owner.history_quota_failure = failure  # type: ignore[attr-defined]
        return event_id

    def set_error(self: Environment, error: ExecutionFailedEventDetails) -> None:
        # The history failure is the execution's end: a Map failing under it must not
        # replace it (the iterations fail because their frames were stopped).
        final = getattr(self, "history_quota_failure", None)
        original_set_error(self, final or _cut_failure(error, quotas))

    def eval_job(self: DistributedItemProcessorWorker, env: Environment, job: Job) -> None:
        # Each Distributed Map child is an execution with its own history (moto pooled them).
        env.event_manager = EventManager()
        env.event_manager.history_budget = _HistoryBudget(env)  # type: ignore[attr-defined]
        return original_eval_job(self, env, job)

    replace(stack, Environment, "__init__", init)
    replace(stack, EventManager, "add_event", add_event)
    replace(stack, Environment, "set_error", set_error)
    replace(stack, distributed.DistributedItemProcessorWorker, "_eval_job", eval_job)


def _cut_failures(event_details: EventDetails | None,
                  quotas: AwsQuotas) -> EventDetails | None:
    if not event_details:
        return event_details
    each_kind: Mapping[str, Any] = event_details  # values: moto's *EventDetails or None
    return cast("EventDetails", {
        key: _cut_failure(value, quotas) if key.endswith("FailedEventDetails") else value
        for key, value in each_kind.items()})


@overload
def _cut_failure(details: FailureDetails, quotas: AwsQuotas) -> FailureDetails: ...
@overload
def _cut_failure(details: None, quotas: AwsQuotas) -> None: ...
def _cut_failure(details: FailureDetails | None,
                 quotas: AwsQuotas) -> FailureDetails | None:
    if not details:
        return details
    cut = dict(details)
    if isinstance(cut.get("error"), str):
        cut["error"] = cut["error"][:quotas.failure_error_characters]
    if isinstance(cut.get("cause"), str):
        cut["cause"] = cut["cause"][:quotas.failure_cause_characters]
    return cast("FailureDetails", cut)  # the same keys, the strings cut


# ---------------------------------------------------------------- payloads


def _limit_payloads(stack: ExitStack, quotas: AwsQuotas) -> None:
    """moto's check refuses a payload of exactly 262,144 bytes (`<`), measures a string
    output without its JSON quotes and escapes, and reads a constant; AWS allows up to
    262,144 bytes of the JSON text the state passes on. One check, reading the table, at
    every place moto checks, plus the payload a Lambda Task schedules ("input data when
    scheduling a task")."""
    from .moto_seam import state, state_task_lambda, state_task_service

    def within_payload_quota(value: Any) -> bool:
        text = to_json_str(value, separators=(",", ":"))  # as the history records it
        return len(text.encode("utf-8")) <= quotas.payload_bytes

    for module in (state, state_task_lambda, state_task_service):
        replace(stack, module, "is_within_size_quota", within_payload_quota)

    task = state_task_lambda.StateTaskLambda
    original_eval_parameters = task._eval_parameters

    def eval_parameters(self: StateTaskLambda, env: Environment) -> dict[str, Any]:
        parameters = original_eval_parameters(self, env)
        self._verify_size_quota(env=env, value=parameters["Payload"])
        return parameters

    replace(stack, task, "_eval_parameters", eval_parameters)


def _keep_terminal_errors_out_of_states_all(stack: ExitStack) -> None:
    from .moto_seam import ErrorEqualsDecl

    original = ErrorEqualsDecl._eval_body

    def eval_body(self: ErrorEqualsDecl, env: Environment) -> None:
        error_name = env.stack[-1]
        terminal = getattr(error_name, "error_name", None) in TERMINAL_ERRORS
        names = {getattr(name, "error_name", None) for name in self.error_names}
        if terminal and error_name.error_name not in names:  # only an explicit name matches
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    replace(stack, ErrorEqualsDecl, "_eval_body", eval_body)


def _refuse_large_execution_input(stack: ExitStack, quotas: AwsQuotas) -> None:
    """StartExecution's `input`: "Length Constraints: Maximum length of 262144" (API
    Reference), refused as a request validation error before any execution exists."""
    from .moto_seam import StepFunctionResponse, ValidationException

    original = StepFunctionResponse.start_execution

    def start_execution(self: StepFunctionResponse) -> ActionResult:
        execution_input = self._get_param("input", if_none="{}")
        if len(execution_input.encode("utf-8")) > quotas.payload_bytes:
            raise ValidationException(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {quotas.payload_bytes}")
        return original(self)

    replace(stack, StepFunctionResponse, "start_execution", start_execution)


def lambda_payload_error(payload: str | bytes, quotas: AwsQuotas, *,
                         response: bool) -> dict[str, str] | None:
    """Lambda's answer when a synchronous invoke's request or response is over its quota."""
    size = len(payload.encode("utf-8") if isinstance(payload, str) else payload)
    if size <= quotas.lambda_sync_payload_bytes:
        return None
    if response:
        return {"errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                                f"({quotas.lambda_sync_payload_bytes} bytes)."}
    return {"errorType": "RequestEntityTooLargeException",
            "errorMessage": f"Request must be smaller than {quotas.lambda_sync_payload_bytes} "
                            "bytes for the InvokeFunction operation"}
