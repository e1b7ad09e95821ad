"""Public AWS prices (us-east-1; Step Functions Standard and Express, Lambda arm64) and
what a job costs when each job is one Distributed Map child execution.

Sources (us-east-1, free tiers ignored):
  Step Functions pricing, https://aws.amazon.com/step-functions/pricing/ :
    Standard $0.025 per 1,000 state transitions;
    Express $1.00 per 1M requests + $0.00001667 per GB-second (first 1,000 GB-hours a
    month, $0.06 per GB-hour), duration rounded up to the nearest 100 ms, memory billed in
    64 MB chunks ("50 MB + definition size + execution data": one 64 MB chunk here).
  Step Functions Developer Guide, "Transitions" (concepts-transitions):
    "If you use the Map state in Distributed mode, you're charged one state transition for
    each child workflow execution that the Distributed Map state starts."
  Lambda pricing, https://aws.amazon.com/lambda/pricing/ : arm64 $0.20 per 1M requests +
    $0.0000133334 per GB-second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STATE_TRANSITION_USD = 0.025 / 1000
EXPRESS_REQUEST_USD = 1.00 / 1_000_000
EXPRESS_GB_SECOND_USD = 0.00001667
EXPRESS_BILLED_MEMORY_MB = 64  # the minimum chunk; a child's definition and payloads are KBs
EXPRESS_BILLING_STEP_SECONDS = 0.1
DISTRIBUTED_MAP_TRANSITIONS_PER_CHILD = 1
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
LAMBDA_ARM64_GB_SECOND_USD = 0.0000133334
LAMBDA_MEMORY_MB = 128
ASSUMED_LAMBDA_SECONDS = 0.300  # per invocation; local timings have no AWS latency
INLINE_MAP_USD = {"copy": 0.2293, "in sync": 0.1272}  # the inline Map's cost, before
STANDARD, EXPRESS = "STANDARD", "EXPRESS"


@dataclass(frozen=True)
class JobCost:
    """USD per 1,000 job-runs; the parent's transitions and Lambdas spread over its N jobs."""

    child_type: str
    transitions_per_job: float  # parent share + Distributed Map + Standard child's own
    lambdas_per_job: float
    express_seconds: float  # billed duration of an Express child (0 for Standard)
    step_functions: float
    lambda_: float

    @property
    def total(self) -> float:
        return self.step_functions + self.lambda_


def lambda_invocation_usd(memory_mb: int = LAMBDA_MEMORY_MB,
                          seconds: float = ASSUMED_LAMBDA_SECONDS) -> float:
    return LAMBDA_REQUEST_USD + memory_mb / 1024 * seconds * LAMBDA_ARM64_GB_SECOND_USD


def express_billed_seconds(lambdas: float) -> float:
    """An Express child lasts about as long as its Lambdas run, one after the other."""
    steps = math.ceil(round(lambdas * ASSUMED_LAMBDA_SECONDS / EXPRESS_BILLING_STEP_SECONDS, 6))
    return steps * EXPRESS_BILLING_STEP_SECONDS


def express_execution_usd(billed_seconds: float) -> float:
    return (EXPRESS_REQUEST_USD
            + EXPRESS_BILLED_MEMORY_MB / 1024 * billed_seconds * EXPRESS_GB_SECOND_USD)


def per_thousand_jobs(child_type: str, child_transitions: float, child_lambdas: float,
                      parent_transitions: int, parent_lambdas: int, jobs: int) -> JobCost:
    """A job that is one child execution of `child_type` (STANDARD or EXPRESS), with the
    parent's transitions and Lambdas shared by `jobs` jobs."""
    transitions = parent_transitions / jobs + DISTRIBUTED_MAP_TRANSITIONS_PER_CHILD
    express_seconds, express_usd = 0.0, 0.0
    if child_type == STANDARD:
        transitions += child_transitions
    else:
        express_seconds = express_billed_seconds(child_lambdas)
        express_usd = express_execution_usd(express_seconds)
    lambdas = child_lambdas + parent_lambdas / jobs
    return JobCost(child_type, transitions, lambdas, express_seconds,
                   1000 * (transitions * STATE_TRANSITION_USD + express_usd),
                   1000 * lambdas * lambda_invocation_usd())


def assumptions() -> list[str]:
    return [
        f"Standard ${STATE_TRANSITION_USD * 1000:.3f} per 1,000 state transitions (parent's "
        f"StateEntered events / N, + {DISTRIBUTED_MAP_TRANSITIONS_PER_CHILD} per child the "
        "Distributed Map starts, + a Standard child's own StateEntered events)",
        f"Express ${EXPRESS_REQUEST_USD * 1e6:.2f} per 1M requests + ${EXPRESS_GB_SECOND_USD} "
        f"per GB-s, {EXPRESS_BILLED_MEMORY_MB} MB billed, duration = Lambdas x "
        f"{ASSUMED_LAMBDA_SECONDS * 1000:.0f} ms rounded up to 100 ms (the child's Choice/Pass "
        "states take ~0)",
        f"Lambda arm64 {LAMBDA_MEMORY_MB} MB, {ASSUMED_LAMBDA_SECONDS * 1000:.0f} ms assumed per "
        f"invocation (${LAMBDA_REQUEST_USD * 1e6:.2f} per 1M requests + "
        f"${LAMBDA_ARM64_GB_SECOND_USD} per GB-s = ${lambda_invocation_usd() * 1e6:.3f} per 1M "
        "invocations); free tiers ignored; S3 requests (plan, ResultWriter, Summarize: a few "
        "per execution, not per job) left out",
        "sources: aws.amazon.com/step-functions/pricing, Step Functions Developer Guide "
        "'Transitions' (one transition per child a Distributed Map starts), "
        "aws.amazon.com/lambda/pricing",
    ]
