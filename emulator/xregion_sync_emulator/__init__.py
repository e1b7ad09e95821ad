"""Emulated AWS (moto) for the demo and the tests: `emulated_aws()`.

Inside it every boto3 call of this process goes to moto, with the fidelity fixes
of fidelity.py applied, and Lambda invokes run the real handlers in-process,
so `execute_state_machine()` runs the real ASL. Callers seed resources inside it
(see seed.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from xregion_sync import aws

from .distributed_map import ChildExecution
from .fidelity import EmulatedCopyTiming
from .quotas import AWS_QUOTAS, AwsQuotas
from .stepfunctions import LocalExecution, execute_state_machine

__all__ = ["AwsQuotas", "ChildExecution", "LocalExecution", "emulated_aws",
           "emulated_clock", "execute_state_machine", "pass_time"]

EMULATOR_ENVIRONMENT = {
    # Fake credentials, so nothing can reach a real account from inside the emulator.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Otherwise moto loads ~1,300 public AMIs and owner-less queries take seconds.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
EMULATOR_ACCOUNT_ID = "123456789012"

_active: list[int] = []  # ids of the emulators entered, innermost last
_copy_timings: dict[int, EmulatedCopyTiming] = {}


def current_emulator_id() -> int:
    if not _active:
        raise RuntimeError("use this inside `with emulated_aws():`")
    return _active[-1]


def emulated_clock() -> Any:
    """A drill clock (xregion_sync.drills.Clock) on the current emulator's time: waiting
    passes emulated time at once, and restore times are measured in it."""
    from xregion_sync.drills import Clock

    timing = _copy_timings[current_emulator_id()]
    return Clock(now=timing.now, sleep=timing.pass_time)


def pass_time(seconds: float) -> None:
    """Let `seconds` pass for the copies of the current emulator (pending AMI copies,
    creating or copying snapshots), without sleeping."""
    _copy_timings[current_emulator_id()].pass_time(seconds)


@contextmanager
def emulated_aws(*, copy_seconds: float = 0.0, restore_seconds: float = 0.0,
                 quotas: AwsQuotas = AWS_QUOTAS, enforce_iam: bool = True,
                 deploy_parameters: dict[str, str] | None = None,
                 waits_pass_time: bool = False) -> Iterator[None]:
    """Run the enclosed code against emulated AWS.

    copy_seconds: how long emulated AMI and snapshot copies stay pending, as real
    copies do, before they become available (and hold a slot of the copy quotas).
    restore_seconds: how long a restored DB instance or cluster (and a cluster's instance)
    stays `creating`, and a new EC2 instance's status checks `initializing` (restores.py).
    quotas: AWS's quotas the emulator enforces (quotas.py); tests lower them.
    enforce_iam: authorize every request of a task Lambda against its deployed IAM
    policies (iam.py), as AWS does; turn off only where a test must.
    deploy_parameters: `sam deploy` parameter overrides for those policies (e.g.
    JobRoleArns, CredentialsSecretArns, ConfigBucketName).
    waits_pass_time: a state machine's Wait state lets its seconds pass at once (as
    pass_time does) instead of sleeping them, so an execution that waits out a restore of
    minutes ends in moments. The drill Lambdas read the same emulated clock.
    """
    from .fidelity import teach_moto_aws_behaviour
    from .iam import IamEnforcement
    from .iam import enforce_iam as enforce
    from .moto_seam import mock_aws
    from .stepfunctions import forget_deployments, install_lambda_dispatch
    from .stepfunctions_quotas import enforce_step_functions_quotas

    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, EMULATOR_ENVIRONMENT))
        for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
            os.environ.pop(variable, None)  # patch.dict restores the whole environment
        stack.enter_context(mock_aws(config={
            "stepfunctions": {"execute_state_machine": True},
            "lambda": {"use_docker": False},
        }))
        timing = EmulatedCopyTiming(copy_seconds, restore_seconds)
        teach_moto_aws_behaviour(stack, timing, quotas)
        enforce_step_functions_quotas(stack, quotas)
        if enforce_iam:
            enforce(stack, IamEnforcement(deploy_parameters))
        install_lambda_dispatch(stack, quotas)
        _drills_on_emulated_time(stack, timing, waits_pass_time)
        aws.clear_cache()
        stack.callback(aws.clear_cache)
        emulator_id = id(stack)
        _active.append(emulator_id)
        stack.callback(_active.remove, emulator_id)
        _copy_timings[emulator_id] = timing
        stack.callback(_copy_timings.pop, emulator_id)
        stack.callback(forget_deployments, emulator_id)
        yield


def _drills_on_emulated_time(stack: ExitStack, timing: EmulatedCopyTiming,
                             waits_pass_time: bool) -> None:
    """The drill Lambdas' clock is the emulator's (their restores' durations are emulated);
    with waits_pass_time, so are the Wait states."""
    from xregion_sync import drill_steps
    from xregion_sync.drills import Clock

    from .moto_seam import WaitFunction, replace

    stack.enter_context(mock.patch.object(drill_steps, "CLOCK", Clock(
        now=timing.now, sleep=timing.pass_time)))
    if waits_pass_time:
        replace(stack, WaitFunction, "_wait_interval",
                lambda self, env, wait_seconds: timing.pass_time(wait_seconds))
