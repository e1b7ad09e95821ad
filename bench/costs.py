"""Public AWS prices (us-east-1, Standard workflows, Lambda arm64) and what a job costs."""

from __future__ import annotations

from dataclasses import dataclass

STATE_TRANSITION_USD = 0.025 / 1000
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
LAMBDA_ARM64_GB_SECOND_USD = 0.0000133334
LAMBDA_MEMORY_MB = 128
ASSUMED_LAMBDA_SECONDS = 0.300  # per invocation; local timings have no AWS latency


@dataclass(frozen=True)
class JobCost:
    """USD per 1,000 job-runs; the per-execution overhead spread over `jobs_per_execution`."""

    transitions_per_job: float
    lambdas_per_job: float
    step_functions: float
    lambda_: float

    @property
    def total(self) -> float:
        return self.step_functions + self.lambda_


def lambda_invocation_usd(memory_mb: int = LAMBDA_MEMORY_MB,
                          seconds: float = ASSUMED_LAMBDA_SECONDS) -> float:
    return LAMBDA_REQUEST_USD + memory_mb / 1024 * seconds * LAMBDA_ARM64_GB_SECOND_USD


def per_thousand_jobs(transitions: float, lambdas: float, overhead_transitions: int,
                      overhead_lambdas: int, jobs_per_execution: int) -> JobCost:
    per_job_transitions = transitions + overhead_transitions / jobs_per_execution
    per_job_lambdas = lambdas + overhead_lambdas / jobs_per_execution
    return JobCost(per_job_transitions, per_job_lambdas,
                   1000 * per_job_transitions * STATE_TRANSITION_USD,
                   1000 * per_job_lambdas * lambda_invocation_usd())


def assumptions() -> str:
    return (f"Step Functions Standard ${STATE_TRANSITION_USD * 1000:.3f} per 1,000 state "
            f"transitions; Lambda arm64 {LAMBDA_MEMORY_MB} MB, "
            f"{ASSUMED_LAMBDA_SECONDS * 1000:.0f} ms assumed per invocation "
            f"(${LAMBDA_REQUEST_USD * 1e6:.2f} per 1M requests + "
            f"${LAMBDA_ARM64_GB_SECOND_USD} per GB-s = "
            f"${lambda_invocation_usd() * 1e6:.3f} per 1M invocations); free tiers ignored; "
            "the per-execution overhead is spread over the N jobs of the execution")
