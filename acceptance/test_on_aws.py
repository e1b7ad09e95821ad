"""The core scenarios on a real account (`make test-aws`): opt-in, it costs money.

Runs only with an AWS profile (AWS_PROFILE) and XRS_AWS_ACCEPT_COSTS=1; the regions and
existing sources to use come from XRS_AWS_* variables (docs/acceptance-on-aws.md)."""

from __future__ import annotations

import os

import pytest

from acceptance.harness import Settings, new_run_id, run_acceptance
from acceptance.targets import AwsTarget


def why_not_opted_in(environ: dict[str, str]) -> str | None:
    if not environ.get("AWS_PROFILE"):
        return ("set AWS_PROFILE to the profile of a throwaway account: the acceptance suite "
                "deploys a stack and creates RDS and EC2 resources there")
    if environ.get("XRS_AWS_ACCEPT_COSTS") != "1":
        return ("set XRS_AWS_ACCEPT_COSTS=1 to accept the cost (about US$1 and 1.5-3 hours; "
                "docs/acceptance-on-aws.md)")
    return None


NOT_OPTED_IN = why_not_opted_in(dict(os.environ))


@pytest.mark.skipif(NOT_OPTED_IN is not None, reason=NOT_OPTED_IN or "")
def test_core_scenarios_on_a_real_account() -> None:
    run_acceptance(AwsTarget(os.environ["AWS_PROFILE"]), Settings.from_environment(),
                   new_run_id())
