"""`python -m bench [--sizes 1,10,100,1000] [--quick] [--json FILE]`"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from xregion_sync.local.template import read_template
from xregion_sync.runner import DEFAULT_MAX_WORKERS

from . import importtime
from .measure import quiet_logs
from .report import print_report
from .scenarios import measure_size

DEFAULT_SIZES = (1, 10, 100, 1000)
QUICK_SIZES = (1, 10)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = QUICK_SIZES if args.quick else args.sizes
    started = time.perf_counter()
    measured = []
    with quiet_logs():
        _progress("warm-up (botocore models, moto backends; not reported) ...")
        measure_size(1, log=lambda _: None)
        for n in sizes:
            _progress(f"N={n} ...")
            measured.append(measure_size(n, log=_progress))
    _progress("import time ...")
    results = {
        "meta": {
            "description": f"sizes {', '.join(map(str, sizes))} jobs (half ec2_ami, half "
                           "rds_automated_snapshot), us-east-1 -> us-west-2, emulated AWS",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "runner_workers": DEFAULT_MAX_WORKERS,
            "map_max_concurrency": int(read_template().parameter_default("MapMaxConcurrency")),
        },
        "sizes": measured,
        "import_time": importtime.measure(args.import_repeats),
    }
    results["meta"]["seconds"] = time.perf_counter() - started
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"Numbers written to {args.json}")
    return 1 if any(size["problems"] for size in measured) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES,
                        help="comma-separated job counts (default 1,10,100,1000)")
    parser.add_argument("--quick", action="store_true", help="sizes 1,10 only")
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
