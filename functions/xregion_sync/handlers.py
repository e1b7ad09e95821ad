"""Lambda entry points, one per state of the state machine; each is one call into
`steps` or `execution`. The exception class names (errors.py) become the ASL error
names that Retry and Catch match.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from . import execution, logs, steps

logs.configure()
logger = logging.getLogger("xregion_sync.handlers")
Handler = Callable[[dict[str, Any], Any], Any]


def task(step: Callable[[Any], Any]) -> Handler:
    """Wrap a step as a Lambda handler that logs with the execution id and job name."""

    @functools.wraps(step)
    def handler(event: dict[str, Any], context: Any) -> Any:
        fields = event if isinstance(event, dict) else {}  # an event may be any JSON value
        token = logs.set_context(execution=fields.get("run_id"),
                                 job=(fields.get("job") or {}).get("name"), step=step.__name__,
                                 request_id=getattr(context, "aws_request_id", None))
        try:
            logger.info("Step started")
            output = step(event)
            logger.info("Step finished")
            return output
        except Exception as exc:
            logger.warning("Step failed", extra={"error": type(exc).__name__, "reason": str(exc)})
            raise
        finally:
            logs.reset_context(token)

    return handler


@task
def load_config(event: dict[str, Any]) -> dict[str, Any]:
    return execution.plan_execution(event.get("input"), event["execution_name"])


resolve_source = task(steps.resolve_source)
check_sync_tag = task(steps.check_sync_tag)
start_copy = task(steps.start_copy)
copy_tags = task(steps.copy_tags)
poll_copy_status = task(steps.poll_copy_status)
prune_old_copies = task(steps.prune_old_copies)
record_result = task(steps.record_result)
record_failure = task(execution.record_failure)


@task
def summarize(event: dict[str, Any]) -> dict[str, Any]:
    return execution.summarize(event)
