"""The test suite's wall time, as the last run of it on this machine recorded it
(tests/conftest.py writes bench/results/test-suite.json at the end of every run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUITE_TIMING = Path(__file__).parent / "results" / "test-suite.json"
FAST_SECONDS, FULL_SECONDS = 60, 300  # targets: make test-fast, make test


def read_suite_timings() -> dict[str, Any]:
    """{"full": {...}, "fast": {...}}: the last whole run and the last `make test-fast`."""
    try:
        return dict(json.loads(SUITE_TIMING.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def format_suite_timings(timings: dict[str, Any]) -> str:
    lines = ["Test suite wall time (the last run on this machine; `make test`, `make test-fast`)"]
    for kind, target, command in (("full", FULL_SECONDS, "make test"),
                                  ("fast", FAST_SECONDS, "make test-fast")):
        run = timings.get(kind)
        if not run:
            lines.append(f"  {command:15} not run yet")
            continue
        verdict = "ok" if run["wall_seconds"] <= target and not run["failed"] else "MISS"
        lines.append(f"  {command:15} {run['tests']:5d} tests  {run['wall_seconds']:6.1f} s  "
                     f"target {target} s  {verdict}  ({run['workers']} workers, "
                     f"{run['failed']} failed, {run['date']})")
    return "\n".join(lines)
