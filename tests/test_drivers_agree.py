"""One scenario suite, two drivers: the in-process runner and the state machine (the
real ASL on emulated AWS) must give the same per-job results, and the right ones.

Each scenario seeds fresh emulated AWS and states its expected results; both drivers
are held to them, so they agree with each other and with the spec. AMI ids are random
in the emulator and are compared masked (<ami-N>, by first appearance).
"""

from __future__ import annotations

import pytest
from scenarios import DRIVERS, SCENARIOS, Scenario

from acceptance.expectations import mask_ids
from xregion_sync_emulator import emulated_aws


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_driver_gives_the_scenarios_results(scenario: Scenario, driver: str):
    with emulated_aws(copy_seconds=scenario.copy_seconds):
        seen = scenario.run(DRIVERS[driver])

        assert mask_ids(seen) == scenario.expected
