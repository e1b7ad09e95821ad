"""Lambda entry points, one per state of the state machine; each is one call into
`steps` or `execution`. The exception class names (errors.py) become the ASL error
names that Retry and Catch match.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from typing import Any

from . import logs

logs.configure()
logger = logging.getLogger("xregion_sync.handlers")
Handler = Callable[[dict[str, Any], Any], Any]
# handler name -> the module of its step (the bench measures each one's cold import)
STEPS: dict[str, str] = {}


def task(module: str, name: str, handler_name: str | None = None) -> Handler:
    """The Lambda handler (`handler_name`, default `name`) of step `name` in `module`,
    logging with the execution id and job name. The step's module is imported at the first
    invocation, so each Lambda imports what its own step needs (a job's step: `steps` and
    that job's sync type; PyYAML only in Load Config), not every handler's."""
    handler_name = handler_name or name
    STEPS[handler_name] = f"{__package__}.{module}"

    @functools.cache
    def step() -> Callable[[Any], Any]:
        function: Callable[[Any], Any] = getattr(
            importlib.import_module(f"{__package__}.{module}"), name)
        return function

    def handler(event: dict[str, Any], context: Any) -> Any:
        fields = event if isinstance(event, dict) else {}  # an event may be any JSON value
        token = logs.set_context(execution=fields.get("run_id"),
                                 job=(fields.get("job") or {}).get("name"), step=handler_name,
                                 request_id=getattr(context, "aws_request_id", None))
        try:
            logger.info("Step started")
            with logs.lambda_invocation():
                output = step()(event)
            logger.info("Step finished")
            return output
        except Exception as exc:
            logger.warning("Step failed", extra={"error": type(exc).__name__, "reason": str(exc)})
            raise
        finally:
            logs.reset_context(token)

    handler.__name__ = handler.__qualname__ = handler_name
    return handler


load_config = task("execution", "plan", "load_config")
resolve_source = task("steps", "resolve_source")
check_sync_tag = task("steps", "check_sync_tag")
start_copy = task("steps", "start_copy")
copy_tags = task("steps", "copy_tags")
poll_copy_status = task("steps", "poll_copy_status")
prune_old_copies = task("steps", "prune_old_copies")
record_result = task("steps", "record_result")
record_failure = task("execution", "record_failure")
summarize = task("execution", "summarize")

# The drill state machine (statemachine/drills.asl.json)
clean_up_expired_drills = task("drill_steps", "clean_up_expired_drills")
plan_drills = task("drill_steps", "plan_drills")
start_restore = task("drill_steps", "start_restore")
poll_restore = task("drill_steps", "poll_restore")
validate_restore = task("drill_steps", "validate_restore")
clean_up_drill = task("drill_steps", "clean_up_drill")
record_drill_result = task("drill_steps", "record_drill_result")
summarize_drills = task("drill_steps", "summarize_drills")
