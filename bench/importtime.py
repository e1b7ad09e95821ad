"""Cold import time of the Lambda handler module, from `python -X importtime` in a
fresh interpreter: boto3, botocore and everything beyond them."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HANDLER_MODULE = "xregion_sync.handlers"
BOTO_PACKAGES = ("boto3", "botocore")  # each also gets the modules it pulls in (urllib3, ...)
BEYOND = "beyond boto3/botocore"
TOP_MODULES = 6
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass(frozen=True)
class ImportSample:
    total_ms: float
    by_group_ms: dict[str, float]  # "boto3", "botocore", BEYOND
    beyond_ms: dict[str, float]  # module -> own time, for the modules in BEYOND


def measure(repeats: int = 5) -> dict:
    """Median (and range) over `repeats` fresh interpreters."""
    baseline = _startup_modules()
    samples = [_sample(baseline) for _ in range(repeats)]
    groups = (*BOTO_PACKAGES, BEYOND)
    return {
        "module": HANDLER_MODULE,
        "repeats": repeats,
        "median_ms": {g: statistics.median(s.by_group_ms[g] for s in samples) for g in groups}
        | {"total": statistics.median(s.total_ms for s in samples)},
        "range_ms": {g: (min(s.by_group_ms[g] for s in samples),
                         max(s.by_group_ms[g] for s in samples)) for g in groups},
        # the slowest modules beyond boto3/botocore, by their median own time
        "slowest_beyond_ms": dict(sorted(
            ((m, statistics.median(s.beyond_ms.get(m, 0.0) for s in samples))
             for m in samples[0].beyond_ms), key=lambda item: -item[1])[:TOP_MODULES]),
    }


def _importtime(code: str) -> list[tuple[int, int, str]]:
    """(self µs, depth, module) per line of `python -X importtime -c code`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    rows = []
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if match:
            self_us, _, indent, module = match.groups()
            rows.append((int(self_us), (len(indent) - 1) // 2, module))
    return rows


def _startup_modules() -> set[str]:
    """Modules the interpreter imports before any code runs (site, encodings, ...)."""
    return {module for _, _, module in _importtime("pass")}


def _sample(startup: set[str]) -> ImportSample:
    """Each module's own time goes to the innermost boto3/botocore module that imported
    it (directly or not), else to BEYOND."""
    rows = [row for row in _importtime(f"import {HANDLER_MODULE}") if row[2] not in startup]
    # -X importtime prints a module after those it imported (one indent deeper): rebuild
    # the tree as (self µs, module, children).
    stack: list[tuple[int, tuple]] = []  # (depth, node)
    for self_us, depth, module in rows:
        children = []
        while stack and stack[-1][0] > depth:
            children.insert(0, stack.pop()[1])
        stack.append((depth, (self_us, module, children)))
    by_group = dict.fromkeys((*BOTO_PACKAGES, BEYOND), 0.0)
    beyond: dict[str, float] = {}

    def add(node: tuple, inherited: str) -> None:
        self_us, module, children = node
        group = _group(module) or inherited
        by_group[group] += self_us / 1000
        if group == BEYOND:
            beyond[module] = self_us / 1000
        for child in children:
            add(child, group)

    for _, root in stack:
        add(root, BEYOND)
    return ImportSample(sum(by_group.values()), by_group, beyond)


def _group(module: str) -> str | None:
    top = module.split(".", maxsplit=1)[0]
    return top if top in BOTO_PACKAGES else None
