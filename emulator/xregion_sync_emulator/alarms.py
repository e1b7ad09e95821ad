"""CloudWatch alarms that notify SNS topics, and the alarm history, which moto lacks.

  SetAlarmState   a change of state runs the alarm's actions for the new state (CloudWatch
                  API Reference, SetAlarmState: "When the updated state differs from the
                  previous value, the action configured for the appropriate state is
                  invoked"). An SNS action publishes as cloudwatch.amazonaws.com: the topic
                  policy must allow sns:Publish with the alarm's aws:SourceArn and
                  aws:SourceAccount, and an encrypted topic's KMS key policy must let
                  cloudwatch.amazonaws.com use the key (kms:GenerateDataKey*, kms:Decrypt;
                  SNS Developer Guide, "Enable compatibility between event sources from AWS
                  services and encrypted topics"). The KMS requests carry no aws:SourceArn or
                  aws:SourceAccount: a key policy demanding them refuses.
                  moto only changed the state.
  DescribeAlarmHistory  (moto has none) StateUpdate and Action records: an action record
                  says "Successfully executed action <topic>" or "Failed to execute action
                  <topic>. Received error: "<the KMS or SNS error>"" (also in HistoryData).
  SNS subscriptions  an e-mail subscription is "PendingConfirmation" in
                  ListSubscriptionsByTopic until its owner confirms it (SNS Developer Guide,
                  "Confirm the subscription"); moto listed it with an ARN at once.
                  confirm_email_subscriptions() is the owner clicking the link.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from .moto_seam import ActionResult, CloudWatchBackend, CloudWatchResponse, SNSResponse, replace

CLOUDWATCH = "cloudwatch.amazonaws.com"
EMAIL_PROTOCOLS = ("email", "email-json")
# (account, region, alarm name) -> its history records, oldest first
_history: dict[tuple[str, str, str], list[dict[str, Any]]] = {}


def teach_alarms(stack: ExitStack) -> None:
    _history.clear()
    stack.callback(_history.clear)
    original_set_alarm_state = CloudWatchBackend.set_alarm_state

    def set_alarm_state(self: CloudWatchBackend, alarm_name: str, reason: str,
                        reason_data: str, state_value: str) -> None:
        before = self.alarms[alarm_name].state_value if alarm_name in self.alarms else None
        original_set_alarm_state(self, alarm_name, reason, reason_data, state_value)
        alarm = self.alarms[alarm_name]  # (moto refused a missing one)
        if before == state_value:
            return
        record = _recorder(self.account_id, self.region_name, alarm_name)
        record("StateUpdate", f"Alarm updated from {before} to {state_value}",
               {"oldState": {"stateValue": before}, "newState": {"stateValue": state_value,
                                                                 "stateReason": reason}})
        if not alarm.actions_enabled:
            return
        actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
                   "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[state_value]
        for action in actions:
            if not action.startswith("arn:aws:sns:"):
                continue
            error = _publish_as_cloudwatch(self.account_id, self.region_name, alarm, action,
                                           state_value, reason)
            if error is None:
                record("Action", f"Successfully executed action {action}",
                       {"actionState": "Succeeded", "notificationResource": action})
            else:
                # AWS's wording (AWS re:Post, "Why didn't I receive an SNS notification
                # for my CloudWatch alarm trigger?"): the error follows in the summary.
                record("Action", f'Failed to execute action {action}. Received error: "{error}"',
                       {"actionState": "Failed", "notificationResource": action,
                        "error": error})

    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        backend = self.cloudwatch_backend
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        items = [item for (account, region, alarm), records in _history.items()
                 if (account, region) == (backend.account_id, backend.region_name)
                 and name in (None, alarm) for item in records
                 if kind in (None, item["HistoryItemType"])
                 and (start is None or item["Timestamp"] >= _moment(start))
                 and (end is None or item["Timestamp"] <= _moment(end))]
        items.sort(key=lambda item: item["Timestamp"],
                   reverse=self._get_param("ScanBy") != "TimestampAscending")
        return ActionResult({"AlarmHistoryItems": items})

    def list_subscriptions_by_topic(self: SNSResponse) -> ActionResult:
        topic = self.backend.get_topic(self._get_param("TopicArn"))
        subscriptions = [subscription for subscription in self.backend.subscriptions.values()
                         if subscription.topic == topic]
        return ActionResult({"Subscriptions": [{
            "SubscriptionArn": "PendingConfirmation" if _pending(s) else s.arn,
            "Owner": s.owner, "Protocol": s.protocol, "Endpoint": s.endpoint,
            "TopicArn": s.topic_arn} for s in subscriptions]})

    replace(stack, CloudWatchBackend, "set_alarm_state", set_alarm_state)
    replace(stack, CloudWatchResponse, "describe_alarm_history", describe_alarm_history,
            create=True)
    replace(stack, SNSResponse, "list_subscriptions_by_topic", list_subscriptions_by_topic)


def confirm_email_subscriptions(topic_arn: str, region: str = "us-east-1") -> None:
    """The subscribers click the link of SNS's confirmation e-mail."""
    from . import EMULATOR_ACCOUNT_ID
    from .moto_seam import sns_backends

    for subscription in sns_backends[EMULATOR_ACCOUNT_ID][region].subscriptions.values():
        if subscription.topic_arn == topic_arn:
            subscription.confirmed = True


def _pending(subscription: Any) -> bool:
    return subscription.protocol in EMAIL_PROTOCOLS and not subscription.confirmed


def _recorder(account: str, region: str, alarm_name: str) -> Any:
    def record(kind: str, summary: str, data: dict[str, Any]) -> None:
        _history.setdefault((account, region, alarm_name), []).append({
            "AlarmName": alarm_name, "AlarmType": "MetricAlarm",
            "Timestamp": datetime.now(UTC), "HistoryItemType": kind,
            "HistorySummary": summary, "HistoryData": json.dumps(data)})
    return record


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _publish_as_cloudwatch(account: str, region: str, alarm: Any, topic_arn: str,
                           state: str, reason: str) -> str | None:
    """Publish the alarm's notification to `topic_arn` as CloudWatch does; the error (as
    the alarm history names it) when the topic or its key refuses."""
    from .fidelity import kms_key
    from .iam_evaluator import Check, shared_evaluator
    from .moto_seam import sns_backends

    backend = sns_backends[account][region]
    topic = backend.topics.get(topic_arn)
    if topic is None:
        return f"SNS.NotFound: Topic {topic_arn} does not exist"
    alarm_arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm.name}"
    evaluator = shared_evaluator()
    evaluator.define("aws-service", [])  # a service principal: only resource policies
    (publish,) = evaluator.check("aws-service", CLOUDWATCH, account, [Check(
        "sns:Publish", topic_arn, {"aws:SourceArn": alarm_arn, "aws:SourceAccount": account},
        topic.policy)])
    if not publish.allowed:
        return (f"SNS.AuthorizationError: {CLOUDWATCH} is not authorized to perform "
                f"SNS:Publish on resource {topic_arn}")
    if topic.kms_master_key_id:
        key = kms_key(account, region, topic.kms_master_key_id)
        if key is None:
            return f"KMS.NotFoundException: Key '{topic.kms_master_key_id}' does not exist"
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            (use,) = evaluator.check("aws-service", CLOUDWATCH, account,
                                     [Check(action, key.arn, {}, key.policy)])
            if not use.allowed:
                return (f"KMS.AccessDeniedException: {CLOUDWATCH} is not authorized to "
                        f"perform {action} on resource {key.arn} (the key policy of the "
                        f"topic's KMS key)")
    backend.publish(json.dumps({"AlarmName": alarm.name, "NewStateValue": state,
                                "NewStateReason": reason}),
                    arn=topic_arn, subject=f'ALARM: "{alarm.name}"'[:100])
    return None
