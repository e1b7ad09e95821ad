"""Cold import time of each Lambda handler, from `python -X importtime` in a fresh
interpreter: boto3, botocore and everything beyond them. A handler's cold start imports
the handlers module and, at its first invocation, its step's module and (a job's step)
that job's sync type; Load Config also PyYAML, to parse a YAML config."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from xregion_sync.handlers import STEPS
from xregion_sync.syncs import SYNC_TYPES

HANDLERS_MODULE = "xregion_sync.handlers"
JOB_STEPS = "xregion_sync.steps"
YAML_MODULE = "xregion_sync.yaml_loader"
LOAD_CONFIG = "load_config"
BOTO_PACKAGES = ("boto3", "botocore")
BEYOND = "beyond boto3/botocore"
TOP_MODULES = 6
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass(frozen=True)
class ImportSample:
    total_ms: float
    by_group_ms: dict[str, float]  # "boto3", "botocore", BEYOND
    beyond_ms: dict[str, float]  # module -> own time, for the modules in BEYOND


def cold_starts() -> list[tuple[list[str], str | None, list[str]]]:
    """(handlers, sync type or None, modules imported) for each distinct cold start."""
    starts: dict[tuple[str, ...], tuple[list[str], str | None]] = {}
    for handler, module in STEPS.items():
        extra = [YAML_MODULE] if handler == LOAD_CONFIG else []
        for sync_type in (SYNC_TYPES if module == JOB_STEPS else [None]):
            modules = (HANDLERS_MODULE, module, *extra,
                       *([f"xregion_sync.syncs.{sync_type}"] if sync_type else []))
            starts.setdefault(modules, ([], sync_type))[0].append(handler)
    return [(handlers, sync_type, list(modules))
            for modules, (handlers, sync_type) in starts.items()]


# What every handler imported before each imported its own step (the whole package:
# config and PyYAML, doctor, every step and sync type): measured in the same run, so the
# ratio holds on a loaded machine, where every figure grows.
WHOLE_PACKAGE = ("xregion_sync.handlers", "xregion_sync.execution", "xregion_sync.steps",
                 "xregion_sync.runner", "xregion_sync.status", "xregion_sync.doctor",
                 YAML_MODULE, *(f"xregion_sync.syncs.{name}" for name in SYNC_TYPES))
WHOLE = "(before: the whole package, in every handler)"


def measure(repeats: int = 5) -> dict:
    """Median (and range) over `repeats` fresh interpreters, per distinct cold start."""
    startup = _modules("pass")
    boto_closure = _modules("import boto3, botocore.session") - startup
    starts = [*cold_starts(), ([WHOLE], None, list(WHOLE_PACKAGE))]
    return {"repeats": repeats,
            "handlers": [{"handlers": handlers, "sync_type": sync_type, "modules": modules,
                          **_measure(f"import {', '.join(modules)}", startup, boto_closure,
                                     repeats)}
                         for handlers, sync_type, modules in starts]}


def _measure(code: str, startup: set[str], boto_closure: set[str], repeats: int) -> dict:
    samples = [_sample(code, startup, boto_closure) for _ in range(repeats)]
    groups = (*BOTO_PACKAGES, BEYOND)
    return {
        "median_ms": {g: statistics.median(s.by_group_ms[g] for s in samples) for g in groups}
        | {"total": statistics.median(s.total_ms for s in samples)},
        "range_ms": {g: (min(s.by_group_ms[g] for s in samples),
                         max(s.by_group_ms[g] for s in samples)) for g in groups},
        "beyond_by_package_ms": _by_package(samples),
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


def _modules(code: str) -> set[str]:
    """Modules a fresh interpreter has imported after running `code`."""
    return {module for _, _, module in _importtime(code)}


def _sample(code: str, startup: set[str], boto_closure: set[str]) -> ImportSample:
    """Each module's own time, grouped: boto3's modules; botocore's and every other module
    that `import boto3` loads anyway (urllib3, dateutil, most of the stdlib it needs);
    and the rest, which is what this package adds on top (order-independent)."""
    rows = [row for row in _importtime(code) if row[2] not in startup]
    by_group = dict.fromkeys((*BOTO_PACKAGES, BEYOND), 0.0)
    beyond: dict[str, float] = {}
    for self_us, _, module in rows:
        group = _group(module) or ("botocore" if module in boto_closure else BEYOND)
        by_group[group] += self_us / 1000
        if group == BEYOND:
            beyond[module] = self_us / 1000
    return ImportSample(sum(by_group.values()), by_group, beyond)


def _group(module: str) -> str | None:
    top = module.split(".", maxsplit=1)[0]
    return top if top in BOTO_PACKAGES else None


def _by_package(samples: list[ImportSample]) -> dict[str, float]:
    """Median time beyond boto3/botocore per top-level package (the stdlib's one by one)."""
    packages: dict[str, list[float]] = {}
    for sample in samples:
        totals: dict[str, float] = {}
        for module, ms in sample.beyond_ms.items():
            package = module.split(".", maxsplit=1)[0]
            totals[package] = totals.get(package, 0.0) + ms
        for package, ms in totals.items():
            packages.setdefault(package, []).append(ms)
    medians = {p: statistics.median(v + [0.0] * (len(samples) - len(v)))
               for p, v in packages.items()}
    return dict(sorted(medians.items(), key=lambda item: -item[1])[:TOP_MODULES])
