"""`xregion-sync smoke --stack NAME`: the first ten minutes after `sam deploy`, a checklist
of the deployed stack (docs/day-one.md).

    checks = xregion_sync.smoke.smoke("xregion-sync")   # list[Check]; all passed: exit 0

Read-mostly: it starts one dry-run execution (every job resolved, nothing copied, tagged
or pruned) and sets the failed-executions alarm to ALARM for a moment (SetAlarmState: the
alarm notifies its topic once, and CloudWatch returns it to its actual state on its next
evaluation), which is how the alarm's delivery is proven. Checks, in order:

  outputs       the stack has the outputs the checks need
  config        the config parameter (or the config_uri it names) loads and validates
  rules         the schedule and the event rules that start the state machine are enabled
  dry_run       a dry-run execution succeeds; each job's dry-run result is shown
  subscription  the failure topic has a confirmed subscription
  alarm         the failed-executions alarm publishes to the topic: the alarm history's
                action record says it succeeded, or names the KMS or SNS error
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import operate
from .config import load_config, parse_yaml
from .errors import SyncError
from .execution import DRY_RUN_KEY, state_machine_errors
from .result import FAILED, IN_SYNC, WOULD_COPY, SyncResult

REQUIRED_OUTPUTS = ("StateMachineArn", "ConfigParameterName", "RunBucketName",
                    "FailureTopicArn")
# template.yaml's FailedExecutionsAlarm; its FailureTopicPolicy names it
FAILED_EXECUTIONS_ALARM = "{stack}-failed-executions"
# What the alarm history's action records say (CloudWatch User Guide, "Alarm history")
ACTION_SUCCEEDED, ACTION_FAILED = "Successfully executed action", "Failed to execute action"
SCHEDULE_PARAMETER, EVENT_STARTS_PARAMETER = "ScheduleState", "EventStartsState"
MAX_DETAILS = 50


@dataclass(frozen=True)
class Check:
    """One line of the checklist: passed or not, what was found, and per-item details."""

    name: str
    passed: bool
    message: str
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "message": self.message,
                "details": list(self.details)}


@dataclass
class Timing:
    """How long smoke waits, and how: the tests pass emulated time."""

    execution_seconds: float = 900.0  # the dry run (Load Config, one child per job)
    alarm_seconds: float = 120.0  # the alarm's action record
    poll_seconds: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    clock: Callable[[], float] = field(default=time.monotonic)


class _Failed(Exception):
    """A check failed: its message (and details)."""

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message, self.details = message, details


def smoke(stack_name: str, *, region: str | None = None, profile: str | None = None,
          timing: Timing | None = None) -> list[Check]:
    """The checklist of the deployed stack `stack_name`; raises operate.OperateError when
    the stack cannot be read (no such stack, no region, no credentials)."""
    timing = timing or Timing()
    stack = operate.find_stack(stack_name, region=region, profile=profile)
    checks = [_run("outputs", lambda: check_outputs(stack))]
    missing = [name for name in REQUIRED_OUTPUTS if not stack.outputs.get(name)]
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("config", lambda: check_config(stack)),
        ("rules", lambda: check_rules(stack)),
        ("dry_run", lambda: check_dry_run(stack, timing)),
        ("subscription", lambda: check_subscription(stack)),
        ("alarm", lambda: check_alarm(stack, timing)),
    ]
    for name, check in steps:
        if missing:
            checks.append(Check(name, False, f"not checked: the stack lacks the output(s) "
                                             f"{', '.join(missing)}"))
        else:
            checks.append(_run(name, check))
    return checks


def _run(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except _Failed as failed:
        return Check(name, False, failed.message, failed.details)
    except SyncError as exc:  # e.g. the stored config is not YAML
        return Check(name, False, exc.message)
    except (ClientError, BotoCoreError, operate.AwsCallError, operate.OperateError) as exc:
        said = (f"{exc.response.get('Error', {}).get('Code')}: "
                f"{exc.response.get('Error', {}).get('Message')}"
                if isinstance(exc, ClientError) else str(exc))
        return Check(name, False, f"AWS refused a call of this check: {said}")


# ---------------------------------------------------------------- the checks


def check_outputs(stack: operate.Stack) -> Check:
    missing = [name for name in REQUIRED_OUTPUTS if not stack.outputs.get(name)]
    if missing:
        raise _Failed(f"stack {stack.name} lacks the output(s) {', '.join(missing)}: deploy "
                      "the current template.yaml (sam deploy)")
    return Check("outputs", True, ", ".join(REQUIRED_OUTPUTS))


def check_config(stack: operate.Stack) -> Check:
    name = stack.outputs["ConfigParameterName"]
    text = stack.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    document = parse_yaml(text)
    where = f"ssm:{name}"
    if isinstance(document, dict) and set(document) == {"config_uri"}:
        where = str(document["config_uri"])
        bucket, _, key = where.removeprefix("s3://").partition("/")
        if not where.startswith("s3://") or not key:
            raise _Failed(f"{name} names config_uri {where!r}, not s3://bucket/key")
        text = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    if not document:
        raise _Failed(f"{name} holds no config yet: store one with `xregion-sync push-config "
                      f"CONFIG --stack {stack.name}`")
    config = load_config(text)
    errors = [*config.errors, *(e for entry in config.entries
                                for e in state_machine_errors(entry))]
    if errors:
        raise _Failed(f"the config at {where} has {len(errors)} error(s): fix it and push it "
                      "again (xregion-sync validate CONFIG --for stepfunctions)",
                      tuple(str(e) for e in errors[:MAX_DETAILS]))
    jobs = [entry.name for entry in config.entries]
    return Check("config", True, f"the config at {where} loads and validates: "
                                 f"{len(jobs)} job(s)", tuple(jobs[:MAX_DETAILS]))


def check_rules(stack: operate.Stack) -> Check:
    events = stack.client("events")
    names = [name for page in events.get_paginator("list_rule_names_by_target").paginate(
        TargetArn=stack.outputs["StateMachineArn"]) for name in page["RuleNames"]]
    rules = [events.describe_rule(Name=name) for name in names]
    schedules = [rule for rule in rules if rule.get("ScheduleExpression")]
    if not schedules:
        raise _Failed("no schedule rule starts the state machine: deploy the current "
                      "template.yaml (sam deploy)")
    lines = tuple(f"{rule['Name']}: {rule.get('State')} "
                  f"({rule.get('ScheduleExpression') or 'event pattern'})" for rule in rules)
    disabled = [rule for rule in rules if rule.get("State") != "ENABLED"]
    if disabled:
        parameters = sorted({SCHEDULE_PARAMETER if rule.get("ScheduleExpression")
                             else EVENT_STARTS_PARAMETER for rule in disabled})
        raise _Failed(f"{len(disabled)} rule(s) that start the state machine are not "
                      f"enabled ({', '.join(r['Name'] for r in disabled)}): redeploy with "
                      f"{' and '.join(p + '=ENABLED' for p in parameters)}", lines)
    return Check("rules", True, f"{len(rules)} rule(s) start the state machine, all "
                                "enabled", lines)


def check_dry_run(stack: operate.Stack, timing: Timing) -> Check:
    name = f"smoke-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    execution_arn = operate.start_execution(stack, {DRY_RUN_KEY: True}, name=name)
    sfn = stack.client("stepfunctions")
    deadline = timing.clock() + timing.execution_seconds
    description = sfn.describe_execution(executionArn=execution_arn)
    while description["status"] not in operate.TERMINAL_STATUSES:
        if timing.clock() > deadline:
            raise _Failed(f"the dry-run execution {execution_arn} did not end within "
                          f"{timing.execution_seconds:.0f} s; see it in the console: "
                          f"{operate.console_url(stack.region, execution_arn)}")
        timing.sleep(timing.poll_seconds)
        description = sfn.describe_execution(executionArn=execution_arn)
    document = operate.execution_document(sfn, description)
    results = operate.read_results(document, stack.client("s3"))
    lines = tuple(_dry_run_line(result) for result in results[:MAX_DETAILS])
    if description["status"] != "SUCCEEDED":
        failed = sum(1 for r in results if r.status == FAILED)
        why = (f"{failed} job(s) failed" if failed else
               description.get("cause") or description.get("error") or "no cause given")
        raise _Failed(f"the dry-run execution {name} ended {description['status']}: {why}",
                      lines)
    return Check("dry_run", True, f"the dry-run execution {name} succeeded: "
                                  f"{len(results)} job(s) resolved, nothing copied", lines)


def _dry_run_line(result: SyncResult) -> str:
    if result.status == WOULD_COPY:
        return f"{result.name}: would copy {result.source_id}"
    if result.status == IN_SYNC:
        return f"{result.name}: in sync (copy {result.copy_id or result.source_id})"
    errors = "; ".join(e.message for e in result.errors)
    return f"{result.name}: {result.status}" + (f": {errors}" if errors else "")


def check_subscription(stack: operate.Stack) -> Check:
    topic = stack.outputs["FailureTopicArn"]
    subscriptions = [s for page in stack.client("sns").get_paginator(
        "list_subscriptions_by_topic").paginate(TopicArn=topic) for s in page["Subscriptions"]]
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
    lines = tuple(f"{s.get('Protocol')} {s.get('Endpoint')}: "
                  f"{'confirmed' if s in confirmed else s.get('SubscriptionArn')}"
                  for s in subscriptions)
    if confirmed:
        return Check("subscription", True, f"{len(confirmed)} confirmed subscription(s) "
                                           f"to {topic}", lines)
    if subscriptions:
        raise _Failed(f"no subscription to {topic} is confirmed yet: open the e-mail AWS "
                      "sent (\"AWS Notification - Subscription Confirmation\") and confirm "
                      "it", lines)
    raise _Failed(f"nobody is subscribed to {topic}: alarms notify nobody; redeploy with "
                  "NotificationEmail set")


def check_alarm(stack: operate.Stack, timing: Timing) -> Check:
    cloudwatch = stack.client("cloudwatch")
    topic = stack.outputs["FailureTopicArn"]
    alarm_name = FAILED_EXECUTIONS_ALARM.format(stack=stack.name)
    alarms = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    if not alarms:
        raise _Failed(f"alarm {alarm_name} not found: deploy the current template.yaml")
    alarm = alarms[0]
    if topic not in alarm.get("AlarmActions", ()):
        raise _Failed(f"alarm {alarm_name} does not notify {topic}")
    started = datetime.now(UTC) - timedelta(seconds=5)
    reason = "xregion-sync smoke: proving that this alarm can notify its topic"
    if alarm.get("StateValue") == "ALARM":  # no change, no action: leave ALARM first
        cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="OK", StateReason=reason)
    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason=reason)
    deadline = timing.clock() + timing.alarm_seconds
    while True:
        record = _action_record(cloudwatch, alarm_name, topic, started)
        if record is not None:
            break
        if timing.clock() > deadline:
            raise _Failed(f"alarm {alarm_name} was set to ALARM, and its history shows no "
                          f"action on {topic} within {timing.alarm_seconds:.0f} s")
        timing.sleep(timing.poll_seconds)
    summary = record.get("HistorySummary", "")
    if summary.startswith(ACTION_SUCCEEDED):
        return Check("alarm", True, f"alarm {alarm_name} published to {topic} (its "
                                    "subscribers got one test notification)")
    raise _Failed(f"alarm {alarm_name} could not publish to {topic}: {summary}"
                  + (f": {error}" if (error := _action_error(record)) else "")
                  + "; see the key and topic policies in docs/day-one.md")


def _action_record(cloudwatch: Any, alarm_name: str, topic: str,
                   since: datetime) -> dict[str, Any] | None:
    """The alarm history's first action record on `topic` since `since`, if any."""
    items = cloudwatch.describe_alarm_history(
        AlarmName=alarm_name, HistoryItemType="Action", StartDate=since,
        ScanBy="TimestampAscending")["AlarmHistoryItems"]
    for item in items:
        if topic in item.get("HistorySummary", "") or topic in item.get("HistoryData", ""):
            found: dict[str, Any] = item
            return found
    return None


RECEIVED_ERROR = ". Received error: "


def _action_error(record: dict[str, Any]) -> str:
    """The error of a failed action record: AWS writes it into the summary ("Failed to
    execute action <topic>. Received error: "..."") and, in some records, HistoryData."""
    summary = str(record.get("HistorySummary") or "")
    if RECEIVED_ERROR in summary:
        return summary.split(RECEIVED_ERROR, 1)[1].strip().strip('"')
    try:
        data = json.loads(record.get("HistoryData") or "{}")
    except ValueError:
        return str(record.get("HistoryData") or "")
    return str(data.get("error") or "") if isinstance(data, dict) else ""


# ---------------------------------------------------------------- output


def format_checklist(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"[{'ok' if check.passed else 'FAIL':>4}] {check.name:<13} "
                     f"{check.message}")
        lines += [f"{'':21}{detail}" for detail in check.details]
    passed = sum(check.passed for check in checks)
    lines.append(f"{passed} of {len(checks)} checks passed")
    return "\n".join(lines)


def all_passed(checks: list[Check]) -> bool:
    return all(check.passed for check in checks)
