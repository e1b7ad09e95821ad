"""`python -m bench [--sizes 1,10,100,1000] [--quick] [--json FILE] [--scale-sizes 10000]
[--quota-jobs 200] [--copy-seconds 5] [--no-quota]`"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from xregion_sync.runner import DEFAULT_MAX_WORKERS
from xregion_sync_emulator.template import read_template

from . import importtime
from .measure import quiet_logs
from .quota import measure_quota
from .report import print_report
from .scale import measure_scale
from .scenarios import measure_size
from .suite import format_suite_timings, read_suite_timings

DEFAULT_SIZES = (1, 10, 100, 1000)
QUICK_SIZES = (1, 10)
DEFAULT_SCALE_SIZES = (1000, 10_000)
QUICK_SCALE_SIZES = (10_000,)
DEFAULT_QUOTA_JOBS, QUICK_QUOTA_JOBS = 200, 40
DEFAULT_COPY_SECONDS = 5.0
QUOTA_MAX_CONCURRENCY = 40  # above the 20 copy slots, so waiting jobs queue for a slot
QUOTA_RUNS = 2  # runs without waiting: the first defers, the second copies deferred ones


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = QUICK_SIZES if args.quick else args.sizes
    scale_sizes = args.scale_sizes or (QUICK_SCALE_SIZES if args.quick else DEFAULT_SCALE_SIZES)
    quota_jobs = args.quota_jobs or (QUICK_QUOTA_JOBS if args.quick else DEFAULT_QUOTA_JOBS)
    started = time.perf_counter()
    measured = []
    with quiet_logs():
        _progress("warm-up (botocore models, moto backends; not reported) ...")
        measure_size(1, log=lambda _: None)
        for n in sizes:
            _progress(f"N={n} ...")
            measured.append(measure_size(n, log=_progress))
        scaled = []
        for n in scale_sizes:
            _progress(f"plan and Summarize at N={n} ...")
            scaled.append(measure_scale(n))
        quota = None
        if not args.no_quota:
            _progress(f"copy quota scenario, N={quota_jobs}, copies {args.copy_seconds:g} s ...")
            quota = measure_quota(quota_jobs, args.copy_seconds, QUOTA_MAX_CONCURRENCY,
                                  max_runs=QUOTA_RUNS, log=_progress)
    _progress("import time ...")
    results = {
        "meta": {
            "description": f"sizes {', '.join(map(str, sizes))} jobs (a third each "
                           "ec2_ami, rds_automated_snapshot, rds_cluster_snapshot), "
                           "us-east-1 -> us-west-2, emulated AWS",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "runner_workers": DEFAULT_MAX_WORKERS,
            "map_max_concurrency": int(read_template().parameter_default("MapMaxConcurrency")),
        },
        "sizes": measured,
        "scale": scaled,
        "quota": quota,
        "import_time": importtime.measure(args.import_repeats),
        "test_suite": read_suite_timings(),
    }
    results["meta"]["seconds"] = time.perf_counter() - started
    print_report(results)
    print()
    print(format_suite_timings(results["test_suite"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"Numbers written to {args.json}")
    failed = quota and (quota["waiting"].get("failed") or quota["waiting"].get("deferred")
                        or any(r.get("failed") for r in quota["runs"]))
    return 1 if failed or any(size["problems"] for size in measured) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES,
                        help="comma-separated job counts (default 1,10,100,1000)")
    parser.add_argument("--quick", action="store_true",
                        help=f"sizes 1,10 only; quota scenario with {QUICK_QUOTA_JOBS} jobs")
    parser.add_argument("--scale-sizes", type=_sizes, metavar="N,..",
                        help="job counts for the plan and Summarize without children "
                             "(default 1000,10000; --quick 10000)")
    parser.add_argument("--quota-jobs", type=int, metavar="N",
                        help=f"copy jobs in the quota scenario (default {DEFAULT_QUOTA_JOBS}; "
                             f"--quick {QUICK_QUOTA_JOBS})")
    parser.add_argument("--copy-seconds", type=float, default=DEFAULT_COPY_SECONDS, metavar="D",
                        help="how long an emulated copy stays pending in the quota scenario "
                             f"(default {DEFAULT_COPY_SECONDS:g})")
    parser.add_argument("--no-quota", action="store_true", help="skip the copy quota scenario")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument("--import-repeats", type=int, default=5, metavar="K",
                        help="fresh interpreters for the import time (median; default 5)")
    return parser


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,10,100, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
