"""The Distributed Map as AWS runs it, taught to moto's interpreter (which runs its children
but writes no results, counts no failures and refuses EXPRESS children). Each behaviour is
pinned in tests/test_emulator_distributed_map.py; the quota values are in quotas.py.

  EXPRESS       `ProcessorConfig.ExecutionType: EXPRESS` is accepted (moto's grammar knew only
                STANDARD); an EXPRESS child ends TIMED_OUT (States.Timeout) after
                AwsQuotas.express_execution_seconds (AWS: 5 minutes); a STANDARD child has no
                such limit.
  children      every child execution is recorded (ChildExecution: input after ItemSelector,
                output or error and cause, status, dates, its own history with its
                ExecutionStarted and end event), for the ResultWriter and for
                LocalExecution.child_executions().
  tolerance     a Map Run whose failed or timed-out children exceed ToleratedFailureCount or
                ToleratedFailurePercentage (default 0: any) fails with
                States.ExceedToleratedFailureThreshold; if neither is declared the threshold
                is 0; with 100 % the Map never fails because a child did.
  ResultWriter  writes what AWS writes under <Prefix>/<map run id>/: manifest.json
                {DestinationBucket, MapRunArn, ResultFiles {FAILED, PENDING, SUCCEEDED}: [{Key,
                Size}]} and SUCCEEDED_n.json / FAILED_n.json, each a JSON array of child
                execution records (WriterConfig Transformation NONE, the default when writing
                to S3; COMPACT and FLATTEN write outputs only; OutputType JSONL writes lines),
                split at AwsQuotas.result_file_bytes. The record's map run is the one of this
                Map state (moto took the last map run of the execution: wrong for two
                Distributed Maps in a Parallel). Written also when the threshold fails the Map.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .moto_seam import (
    ASL_PREPROCESSOR_LOGGER,
    EventDetails,
    ExecutionFailedEventDetails,
    ExecutionStartedEventDetails,
    ExecutionSucceededEventDetails,
    FailureEvent,
    FailureEventException,
    HistoryEventType,
    MapRunFailedEventDetails,
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
    StatesErrorName,
    StatesErrorNameType,
    replace,
    to_json_str,
)
from .quotas import AwsQuotas

if TYPE_CHECKING:
    from .moto_seam import (
        DistributedItemProcessorWorker,
        DistributedIterationComponent,
        DistributedIterationComponentEvalInput,
        Environment,
        EvalComponent,
        IterationComponent,
        Job,
        Program,
        ResourceRuntimePart,
        StateCredentials,
    )

# moto declares EventDetails (a TypedDict) total, yet every event, moto's own too, fills one
# key of it: hence `type: ignore[typeddict-item]` where one is made.

# Step Functions Developer Guide, "Tolerated failure threshold for Distributed Map state".
THRESHOLD_ERROR = StatesErrorNameType.StatesExceedToleratedFailureThreshold.to_name()
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
# "Step Functions service quotas" / Standard vs Express: an Express execution that runs past
# its maximum duration ends TIMED_OUT with States.Timeout.
EXPRESS_TIMEOUT_ERROR = "States.Timeout"
RESULT_STATUSES = ("FAILED", "PENDING", "SUCCEEDED")  # the manifest's ResultFiles keys


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


@dataclass
class ChildExecution:
    """One child workflow execution of a Distributed Map (one item of the Map Run)."""

    map_state: str
    index: int
    name: str
    arn: str
    state_machine_arn: str
    map_run_arn: str
    execution_type: str  # "STANDARD" or "EXPRESS"
    input: Any = None
    status: str = "RUNNING"  # then SUCCEEDED, FAILED, TIMED_OUT or ABORTED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start_date: datetime.datetime = field(default_factory=_now)
    stop_date: datetime.datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history
                if "stateEnteredEventDetails" in e]

    def result_record(self) -> dict[str, Any]:
        """The child as the ResultWriter writes it (Transformation NONE): its input and output
        as JSON strings, as DescribeExecution shows them."""
        record: dict[str, Any] = {
            "ExecutionArn": self.arn,
            "Input": to_json_str(self.input),
            "InputDetails": {"Included": True},
            "Name": self.name,
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
            "StartDate": _aws_date(self.start_date),
            "StateMachineArn": self.state_machine_arn,
            "Status": self.status,
            "StopDate": _aws_date(self.stop_date or self.start_date),
        }
        if self.status == "SUCCEEDED":
            record["Output"] = to_json_str(self.output)
            record["OutputDetails"] = {"Included": True}
        else:
            record["Error"] = self.error
            record["Cause"] = self.cause
        return record

    @property
    def failed(self) -> bool:
        """Counted against the tolerated failure threshold: "failed or timed out items"."""
        return self.status in ("FAILED", "TIMED_OUT")


@dataclass
class _MapFacts:
    """What moto's parsed Map state forgets and AWS acts on, read from the definition."""

    execution_type: str = "STANDARD"
    count_declared: bool = False
    percentage_declared: bool = False
    writer_config: dict[str, str] = field(default_factory=dict)


@dataclass
class _MapRun:
    parent_execution_arn: str
    facts: _MapFacts
    children: list[ChildExecution] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_map_runs: dict[str, _MapRun] = {}


def child_executions(execution_arn: str) -> list[ChildExecution]:
    """The Distributed Map children an execution started, by Map Run start, then item index."""
    return [child for run in list(_map_runs.values())
            if run.parent_execution_arn == execution_arn
            for child in sorted(run.children, key=lambda c: c.index)]


def teach_distributed_map(stack: ExitStack, quotas: AwsQuotas) -> None:
    """Patch moto for the duration of `stack`. Apply before the history quota
    (stepfunctions_quotas), which gives each child its own history inside this recording."""
    stack.callback(_map_runs.clear)
    _quiet_moto_about_tolerated_failures(stack)
    _accept_express_children_and_remember_map_facts(stack, quotas)
    _record_child_executions(stack)
    _fail_map_runs_over_the_tolerated_threshold(stack)
    _write_results_as_aws_does(stack, quotas)


# ---------------------------------------------------------------- parsing


def _quiet_moto_about_tolerated_failures(stack: ExitStack) -> None:
    """moto warns, for every Map it parses, that tolerated failures have no effect; here
    they do (_fail_map_runs_over_the_tolerated_threshold), so the warning is only noise."""
    import logging

    logger = logging.getLogger(ASL_PREPROCESSOR_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    stack.callback(logger.setLevel, level)


def _accept_express_children_and_remember_map_facts(stack: ExitStack,
                                                    quotas: AwsQuotas) -> None:
    from .moto_seam import AmazonStateLanguageParser, TimeoutSeconds, iteration_component

    original_parse = AmazonStateLanguageParser.parse
    component = iteration_component.IterationComponent
    original_program = component._get_iteration_program

    def parse(definition: str) -> tuple[EvalComponent, Any]:  # Any: antlr4's parse tree
        document = json.loads(definition)
        facts: list[tuple[list[str], _MapFacts]] = []
        _collect_map_facts(document.get("States", {}), [], facts)
        program, tree = original_parse(json.dumps(document))
        for path, map_facts in facts:
            _state_at(program, path).iteration_component.aws_map_facts = map_facts
        return program, tree

    def get_iteration_program(self: IterationComponent) -> Program:
        program = original_program(self)
        facts: _MapFacts | None = getattr(self, "aws_map_facts", None)
        if facts is not None and facts.execution_type == "EXPRESS":
            # moto declares the limit Final (set when parsed) and whole seconds; it is set
            # here after parsing, and tests shorten it to fractions of a second.
            program.timeout_seconds = TimeoutSeconds(  # type: ignore[misc]
                quotas.express_execution_seconds)  # type: ignore[arg-type]
        return program

    replace(stack, AmazonStateLanguageParser, "parse", staticmethod(parse))
    replace(stack, component, "_get_iteration_program", get_iteration_program)


def _collect_map_facts(states: dict[str, Any], path: list[str],
                       found: list[tuple[list[str], _MapFacts]]) -> None:
    """Find every Distributed Map under `states` (through Parallel branches and Map
    processors), rewriting what AWS accepts and moto's grammar refuses (EXPRESS, an integer
    percentage) and keeping the facts."""
    for name, state in states.items():
        here = [*path, name]
        if state.get("Type") == "Parallel":
            for number, branch in enumerate(state.get("Branches", [])):
                _collect_map_facts(branch.get("States", {}), [*here, f"#{number}"], found)
        if state.get("Type") != "Map":
            continue
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        config = processor.get("ProcessorConfig", {})
        if config.get("Mode") == "DISTRIBUTED":
            facts = _MapFacts(
                execution_type=config.get("ExecutionType", "STANDARD"),
                count_declared=any(k in state for k in ("ToleratedFailureCount",
                                                         "ToleratedFailureCountPath")),
                percentage_declared=any(k in state for k in ("ToleratedFailurePercentage",
                                                              "ToleratedFailurePercentagePath")),
                writer_config=dict((state.get("ResultWriter") or {}).pop("WriterConfig", {})))
            config["ExecutionType"] = "STANDARD"
            found.append((here, facts))
        if isinstance(state.get("ToleratedFailurePercentage"), int):
            # AWS accepts an integer percentage (its examples use one); moto's grammar only
            # a number with a fraction.
            state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
        _collect_map_facts(processor.get("States", {}), [*here, "*"], found)


def _state_at(program: Any, path: list[str]) -> Any:
    """The parsed state at `path` (names; "#n" a Parallel branch; "*" a Map's processor).
    Typed Any: the states are moto's parse tree, of many classes, walked by attribute."""
    states = program.states.states
    state: Any = None
    for step in path:
        if step.startswith("#"):
            states = state.branches.programs[int(step[1:])].states.states
        elif step == "*":
            states = state.iteration_component._states.states
        else:
            state = states[step]
    state.iteration_component.aws_map_facts_owner = state
    return state


# ---------------------------------------------------------------- children


def _record_child_executions(stack: ExitStack) -> None:
    from .moto_seam import distributed_item_processor_worker as distributed
    from .moto_seam import distributed_iteration_component as distributed_component

    worker = distributed.DistributedItemProcessorWorker
    original_eval_input = worker._eval_input
    original_eval_job = worker._eval_job
    original_eval_body = distributed_component.DistributedIterationComponent._eval_body

    def eval_body(self: DistributedIterationComponent, env: Environment) -> None:
        # Remember which Map Run belongs to this state's evaluation, for its ResultWriter.
        record = env.stack[-1].map_run_record
        env.aws_map_run_arn = record.map_run_arn  # type: ignore[attr-defined]  # ours, not moto's
        facts = getattr(self, "aws_map_facts", None) or _MapFacts()
        _map_runs[record.map_run_arn] = _MapRun(record.execution_arn, facts)
        return original_eval_body(self, env)

    def eval_input(self: DistributedItemProcessorWorker, env_frame: Environment) -> None:
        original_eval_input(self, env_frame)
        env_frame.aws_child_input = env_frame.states.get_input()  # type: ignore[attr-defined]

    def eval_job(self: DistributedItemProcessorWorker, env: Environment, job: Job) -> None:
        record = self._map_run_record
        run = _map_runs[record.map_run_arn]
        name = str(uuid.uuid4())
        child = ChildExecution(
            map_state=self._work_name, index=job.job_index, name=name,
            arn=f"{record.map_state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}",
            state_machine_arn=record.map_state_machine_arn, map_run_arn=record.map_run_arn,
            execution_type=run.facts.execution_type, input=job.job_input)
        denial = _authorize_child(child)
        if denial is not None:  # the child never runs: a failed item of the Map Run
            record.item_counter.total.count()
            record.item_counter.failed.count()
            record.execution_counter.total.count()
            record.execution_counter.failed.count()
            child.status, child.error, child.cause = "FAILED", "States.Runtime", denial
            child.stop_date, job.job_output = _now(), None
            with run.lock:
                run.children.append(child)
            return
        _announce_start(env, child)
        original_eval_job(self, env, job)
        _finish(env, job, child)
        with run.lock:
            run.children.append(child)

    component = distributed_component.DistributedIterationComponent
    replace(stack, component, "_eval_body", eval_body)
    replace(stack, worker, "_eval_input", eval_input)
    replace(stack, worker, "_eval_job", eval_job)


def labelled_child_arn(child: ChildExecution) -> str:
    """The child's ARN as IAM sees it (Service Authorization Reference: "labelled
    execution" execution:<machine>/<label>:<id>, "labelled express"
    express:<machine>/<label>:<id>:<id>)."""
    if child.execution_type == "EXPRESS":
        return f"{child.arn.replace(':execution:', ':express:')}:{child.name}"
    return child.arn


def _authorize_child(child: ChildExecution) -> str | None:
    from .iam import authorize_state_machine
    from .template import LOCAL_STACK_NAME

    machine = child.state_machine_arn.split("/", 1)[0]
    if not machine.endswith(f":stateMachine:{LOCAL_STACK_NAME}"):
        return None  # another state machine's (an emulator test's own definitions)
    return (authorize_state_machine("states:StartExecution", [machine])
            or authorize_state_machine("states:DescribeExecution", [labelled_child_arn(child)]))


def _announce_start(env: Environment, child: ChildExecution) -> None:
    """The child's ExecutionStarted: the first event of its own history (moto's frames record
    neither this nor the end event)."""
    env.event_manager.add_event(
        context=env.event_history_context, event_type=HistoryEventType.ExecutionStarted,
        event_details=EventDetails(executionStartedEventDetails=ExecutionStartedEventDetails(  # type: ignore[typeddict-item]
            input=to_json_str(child.input), inputDetails={"truncated": False},
            roleArn=env.aws_execution_details.role_arn)))


def _finish(env: Environment, job: Job, child: ChildExecution) -> None:
    """Read the child's end from its program state; moto counted a timed-out child as
    succeeded and gave a failed one no error."""
    child.input = getattr(env, "aws_child_input", child.input)
    child.stop_date = _now()
    state = env.program_state()
    if isinstance(state, ProgramEnded):
        child.status, child.output = "SUCCEEDED", job.job_output
        _end_event(env, HistoryEventType.ExecutionSucceeded, EventDetails(  # type: ignore[typeddict-item]
            executionSucceededEventDetails=ExecutionSucceededEventDetails(
                output=to_json_str(child.output), outputDetails={"truncated": False})))
        child.history = _events(env)
        return
    job.job_output = None
    if isinstance(state, ProgramTimedOut):
        child.status, child.error = "TIMED_OUT", EXPRESS_TIMEOUT_ERROR
        child.cause = "The execution reached its maximum duration."
        _end_event(env, HistoryEventType.ExecutionTimedOut, EventDetails(  # type: ignore[typeddict-item]
            executionTimedOutEventDetails={"error": child.error, "cause": child.cause}))
    else:
        details = state.error if isinstance(state, ProgramError) else None
        child.status = "ABORTED" if isinstance(state, ProgramStopped) else "FAILED"
        child.error = (details or {}).get("error") or "States.Runtime"
        child.cause = (details or {}).get("cause") or ""
        if child.status == "FAILED":
            _end_event(env, HistoryEventType.ExecutionFailed, EventDetails(  # type: ignore[typeddict-item]
                executionFailedEventDetails=ExecutionFailedEventDetails(
                    error=child.error, cause=child.cause)))
    child.history = _events(env)


def _end_event(env: Environment, event_type: HistoryEventType, details: EventDetails) -> None:
    env.event_manager.add_event(context=env.event_history_context, event_type=event_type,
                                event_details=details)


def _events(env: Environment) -> list[dict[str, Any]]:
    """The child's history in GetExecutionHistory's shape (plain strings, not enums)."""
    events = []
    for event in env.event_manager.get_event_history():
        plain = dict(event)
        plain["type"] = str(getattr(plain["type"], "value", plain["type"]))
        events.append(plain)
    return events


# ---------------------------------------------------------------- tolerance


def _fail_map_runs_over_the_tolerated_threshold(stack: ExitStack) -> None:
    from .moto_seam import distributed_iteration_component as distributed_component

    component = distributed_component.DistributedIterationComponent
    original_map_run = component._map_run

    def map_run(self: DistributedIterationComponent, env: Environment,
                eval_input: DistributedIterationComponentEvalInput) -> None:
        original_map_run(self, env, eval_input)
        run = _map_runs[eval_input.map_run_record.map_run_arn]
        failed = sum(1 for child in run.children if child.failed)
        if not exceeds_tolerated_threshold(failed, len(run.children), run.facts,
                                           eval_input.tolerated_failure_count,
                                           eval_input.tolerated_failure_percentage):
            return
        owner = getattr(self, "aws_map_facts_owner", None)
        if owner is not None and owner.result_writer is not None:
            # AWS still exports the children's results of a Map Run that failed this way.
            owner.result_writer.eval(env)
            env.stack.pop()
        details = MapRunFailedEventDetails(error=THRESHOLD_ERROR, cause=THRESHOLD_CAUSE)
        raise FailureEventException(failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(StatesErrorNameType.StatesExceedToleratedFailureThreshold),
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(mapRunFailedEventDetails=details)))  # type: ignore[typeddict-item]

    replace(stack, component, "_map_run", map_run)


def exceeds_tolerated_threshold(failed: int, total: int, facts: _MapFacts, count: int,
                                percentage: float) -> bool:
    """"If you specify both values, the workflow fails when it exceeds either value"; the
    percentage is failed (or timed out) items over all items; the default 0 fails on any."""
    if failed == 0:
        return False
    rules = []
    if facts.count_declared or not facts.percentage_declared:
        rules.append(failed > count)
    if facts.percentage_declared:
        rules.append(100.0 * failed / total > percentage)
    return any(rules)


# ---------------------------------------------------------------- ResultWriter


def _write_results_as_aws_does(stack: ExitStack, quotas: AwsQuotas) -> None:
    from .moto_seam import resource_eval_s3

    def put_object(env: Environment, resource_runtime_part: ResourceRuntimePart,
                   state_credentials: StateCredentials) -> None:
        parameters = env.stack.pop()
        env.stack.pop()  # the Map's outputs: the results come from the child records
        map_run_arn = env.aws_map_run_arn  # type: ignore[attr-defined]  # set by eval_body
        run = _map_runs[map_run_arn]
        s3 = resource_eval_s3.ResourceEvalS3._get_s3_client(resource_runtime_part,
                                                            state_credentials)
        prefix = parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folder = f"{prefix}{map_run_arn.split(':')[-1]}/"
        files: dict[str, list[dict[str, Any]]] = {status: [] for status in RESULT_STATUSES}
        for status, bodies in _result_files(run.children, run.facts, quotas).items():
            for number, body in enumerate(bodies):
                key = f"{folder}{status}_{number}.json"
                s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=body)
                files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": map_run_arn,
                    "ResultFiles": files}
        key = f"{folder}manifest.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=key,
                      Body=json.dumps(manifest).encode("utf-8"))
        env.stack.append({"MapRunArn": map_run_arn,
                          "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}})

    replace(stack, resource_eval_s3.ResourceEvalS3, "_handle_put_object",
            staticmethod(put_object))


def _result_files(children: list[ChildExecution], facts: _MapFacts,
                  quotas: AwsQuotas) -> dict[str, list[bytes]]:
    """Each status's records, split into files of at most quotas.result_file_bytes. A failed
    child is always written whole ("equivalent to having set Transformation to NONE")."""
    transformation = facts.writer_config.get("Transformation", "NONE")
    lines = facts.writer_config.get("OutputType", "JSON") == "JSONL"
    by_status: dict[str, list[Any]] = {}
    for child in sorted(children, key=lambda c: c.index):
        status = "SUCCEEDED" if child.status == "SUCCEEDED" else "FAILED"
        if status == "SUCCEEDED" and transformation == "FLATTEN" and isinstance(child.output,
                                                                                list):
            by_status.setdefault(status, []).extend(child.output)
        elif status == "SUCCEEDED" and transformation in ("COMPACT", "FLATTEN"):
            by_status.setdefault(status, []).append(child.output)
        else:
            by_status.setdefault(status, []).append(child.result_record())
    return {status: _split(records, quotas.result_file_bytes, lines)
            for status, records in by_status.items()}


def _split(records: list[Any], limit: int, lines: bool) -> list[bytes]:
    def encode(chunk: list[Any]) -> bytes:
        if lines:
            return "".join(json.dumps(r) + "\n" for r in chunk).encode("utf-8")
        return json.dumps(chunk).encode("utf-8")

    files: list[bytes] = []
    chunk: list[Any] = []
    for record in records:
        if chunk and len(encode([*chunk, record])) > limit:
            files.append(encode(chunk))
            chunk = []
        chunk.append(record)
    if chunk:
        files.append(encode(chunk))
    return files


def _aws_date(moment: datetime.datetime) -> str:
    """Dates in result files as AWS writes them: ISO 8601, UTC, milliseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
