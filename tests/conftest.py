"""Shared fixtures: emulated AWS, seeded resources, and a recorder of the AWS calls made."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import boto3
import pytest
from botocore import loaders
from botocore.client import ClientCreator

from xregion_sync import aws
from xregion_sync_emulator import emulated_aws
from xregion_sync_emulator.moto_seam import StepFunctionResponse

SOURCE = "us-east-1"
DESTINATION = "us-west-2"


class _PathList(list):
    """Search paths that boto3 appends to on every new session, kept without repeats."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


SUITE_TIMING = Path(__file__).parent.parent / "bench" / "results" / "test-suite.json"
_session_started: list[float] = []


def pytest_sessionstart(session):
    _session_started.append(time.monotonic())


def pytest_sessionfinish(session, exitstatus):
    """Record the run's wall time for `make bench` (the whole suite, or the fast loop)."""
    config = session.config
    if hasattr(config, "workerinput") or not _session_started:
        return  # an xdist worker: the controller records the run
    kind = {"not exhaustive": "full", "not statemachine and not exhaustive": "fast"}.get(
        config.option.markexpr)
    tests = Path(__file__).parent.resolve()
    chosen = config.option.keyword or any(Path(arg).resolve() != tests for arg in config.args)
    if kind is None or chosen:
        return  # a chosen part of the suite, not a whole run
    timings = {}
    if SUITE_TIMING.exists():
        timings = json.loads(SUITE_TIMING.read_text(encoding="utf-8"))
    timings[kind] = {
        "tests": session.testscollected, "failed": session.testsfailed,
        "wall_seconds": round(time.monotonic() - _session_started[0], 1),
        "workers": getattr(config.option, "numprocesses", None) or 0,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    SUITE_TIMING.parent.mkdir(parents=True, exist_ok=True)
    SUITE_TIMING.write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")


STATE_MACHINE_DRIVER_IDS = re.compile(r"state_?machine|stepfunctions")


def pytest_collection_modifyitems(items):
    """A test parametrized over the drivers runs a state machine for its state machine id."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and STATE_MACHINE_DRIVER_IDS.search(callspec.id):
            item.add_marker("statemachine")


_running: list[pytest.Item] = []  # the test being run (its set-up included)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running.append(item)
    yield
    _running.remove(item)


@pytest.fixture(scope="session", autouse=True)
def statemachine_marker_is_true():
    """`make test-fast` deselects the `statemachine` tests: a test that starts an emulated
    execution without the marker (in a fixture of any scope too) fails here, so the fast
    loop never runs one unnoticed."""
    original = StepFunctionResponse.start_execution

    def start_execution(self):
        if _running and not _running[-1].get_closest_marker("statemachine"):
            pytest.fail(f"{_running[-1].nodeid} starts an emulated state machine execution: "
                        "mark it @pytest.mark.statemachine", pytrace=False)
        return original(self)

    with mock.patch.object(StepFunctionResponse, "start_execution", start_execution):
        yield


@pytest.fixture(scope="session", autouse=True)
def one_client_class_per_service():
    """botocore builds a client class for every client it makes, one method per operation
    (EC2 has over 700), and the suite makes thousands of clients: a quarter of its CPU time.
    The class depends only on the service's model (the same for every session here, see
    parse_aws_models_once) and the class-creation handlers (the same for every session), so
    the suite makes it once per service and API version."""
    original = ClientCreator._create_client_class
    classes: dict[tuple[str, str], type] = {}

    def create_client_class(self, service_name, service_model):
        key = (service_name, service_model.api_version)
        if key not in classes:
            classes[key] = original(self, service_name, service_model)
        return classes[key]

    with mock.patch.object(ClientCreator, "_create_client_class", create_client_class):
        yield


@pytest.fixture(scope="session", autouse=True)
def parse_aws_models_once():
    """One botocore loader for the whole test session: every emulated test starts from
    fresh boto3 sessions, and each would parse the large EC2/RDS models again."""
    loader = loaders.create_loader()
    loader._search_paths = _PathList(loader.search_paths)
    with mock.patch("botocore.session.create_loader", return_value=loader):
        yield


@pytest.fixture
def emulated(request):
    """Emulated AWS for one test; seed resources inside the test. The stack's IAM is
    deployed with the template's defaults, or `@pytest.mark.deploy_parameters(...)`."""
    marker = request.node.get_closest_marker("deploy_parameters")
    with emulated_aws(deploy_parameters=marker.kwargs if marker else None):
        yield


@dataclass
class CallRecorder:
    calls: list[aws.ApiCall] = field(default_factory=list)

    def __call__(self, call: aws.ApiCall) -> None:
        self.calls.append(call)

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def count(self) -> int:
        return len(self.calls)

    def by_operation(self) -> Counter:
        return Counter(self.operations())

    def named(self, operation: str) -> list[aws.ApiCall]:
        return [call for call in self.calls if call.operation == operation]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def api_calls(emulated):
    """Every AWS call the tool makes during the test (not the test's own seeding calls)."""
    recorder = CallRecorder()
    with aws.observe_calls(recorder):
        yield recorder


def pytest_configure(config):
    config.addinivalue_line("markers", "quotas(**values): emulated AWS with these AwsQuotas "
                                       "(test_emulator_quotas.py's `quotas` fixture)")


def pytest_terminal_summary(terminalreporter):
    """The fault suite's one line: faults injected, jobs correct, duplicates, foreign deletes."""
    from faults import STATS

    if STATS.injected or STATS.jobs:
        terminalreporter.write_line(f"fault injection: {STATS.line()}")


# A config of the demo's two jobs (the demo world has their sources), and one more job
# with a config error (a misspelt region).
VALID = """
sync_web_app:
  sync_type: ec2_ami
  source_region: us-east-1
  destination_region: us-west-2
  sync_identifier: web-app
sync_orders_db:
  sync_type: rds_automated_snapshot
  source_region: us-east-1
  destination_region: us-west-2
  db_instance: orders-db
"""
ONE_BAD_JOB = VALID + """
sync_broken:
  sync_type: rds_automated_snapshot
  source_region: us-east-1
  destination_region: us-easst-2
"""


DEMO_NOW = "2026-11-25T06:10:00Z"  # events/ hold ids and dates of the demo seeded then


@pytest.fixture
def demo_world(emulated, run_bucket):
    """Emulated AWS seeded with the demo's resources (samples/demo.yaml's AMI and
    orders-db) at DEMO_NOW, so snapshot ids and dates match the files in events/."""
    from freezegun import freeze_time

    from xregion_sync_emulator.seed import seed_demo

    with freeze_time(DEMO_NOW):
        return seed_demo()


EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str):
    """events/<name>.json, parsed."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object the handlers read."""

    function_name: str = "xregion-sync-test"
    aws_request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    memory_limit_in_mb: int = 256

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def info_logs():
    """The task Lambdas' level (INFO), at which they write their EMF metrics."""
    logger = logging.getLogger("xregion_sync")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)


def deployed_statements() -> list[tuple[str, dict]]:
    """(role, statement) for every statement this stack writes into its roles' policies, as
    deployed with every optional grant switched on (AWS managed policies left out)."""
    from xregion_sync_emulator.deployed_policies import role_policies
    from xregion_sync_emulator.policy_lint import ALL_OPTIONS

    return [(role, statement) for role, policies in role_policies(ALL_OPTIONS).items()
            for policy in policies if not policy.aws_managed
            for statement in policy.document["Statement"]]


def actions(statement: dict) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


@contextmanager
def collected_logs(name: str, formatter: logging.Formatter | None = None):
    """Every record of logger `name` at DEBUG, as the record or, with `formatter`, as the
    line it formats when emitted (the package's loggers do not propagate to caplog)."""
    records: list = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record) if formatter else record)

    handler = Collect()
    if formatter:
        handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextmanager
def wrapped_lambda_dispatch(wrapper):
    """Wrap the emulator's in-process Lambda dispatch (use inside emulated AWS):
    wrapper(dispatch, function_name, body, response_headers) -> the response bytes,
    where dispatch(body) runs the real handler."""
    from xregion_sync_emulator.moto_seam import LambdaSimpleBackend

    dispatch = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        def run(new_body=body):
            return dispatch(self, function_name, qualifier, new_body, headers, response_headers)

        name = self.get_function(function_name, qualifier).function_name
        return wrapper(run, name, body, response_headers)

    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
        yield


@pytest.fixture
def run_bucket(emulated, monkeypatch) -> str:
    """The stack's run bucket in emulated AWS, named as the local deployment names it, and
    the Load Config / Summarize environment that points to it."""
    from xregion_sync_emulator.template import read_template

    (bucket,) = read_template().buckets()
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.setenv("RUN_BUCKET_NAME", bucket)
    return bucket


def store_finished_map_run(event: dict, results: list[dict]) -> None:
    """What Load Config and the Map's ResultWriter leave in the run bucket for Summarize's
    `event` (events/summarize.json): the plans and one Map Run whose child executions
    returned `results` (failed jobs too: their failure is their result)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    items = [{"index": i, "job": {"name": r["name"], "sync_type": r["sync_type"]},
              "result": None} for i, r in enumerate(results)]
    plans = {"express": items, "standard": []}
    for kind, plan in event["plans"].items():
        s3.put_object(Bucket=event["bucket"], Key=plan["key"], Body=json.dumps(plans[kind]))
    writer = event["map_runs"][0]["ResultWriterDetails"]
    records = [{"ExecutionArn": f"arn:aws:states:us-east-1:123456789012:execution:x:{i}",
                "Input": json.dumps({"job": item["job"], "result": None, "run_id": "r"}),
                "InputDetails": {"Included": True}, "Name": str(i),
                "Output": json.dumps(result), "OutputDetails": {"Included": True},
                "Status": "SUCCEEDED"}
               for i, (item, result) in enumerate(zip(items, results, strict=True))]
    key = writer["Key"].replace("manifest.json", "SUCCEEDED_0.json")
    s3.put_object(Bucket=writer["Bucket"], Key=key, Body=json.dumps(records))
    s3.put_object(Bucket=writer["Bucket"], Key=writer["Key"], Body=json.dumps({
        "DestinationBucket": writer["Bucket"], "MapRunArn": event["map_runs"][0]["MapRunArn"],
        "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": key, "Size": 1}]}}))


def summarize_results() -> list[dict]:
    """The results of the finished run behind events/summarize.json."""
    return json.loads((Path(__file__).parent / "data" / "summarize-results.json").read_text())
