"""`python -m acceptance sweep RUN_ID`: delete what an acceptance run that died left
(`make test-aws-sweep RUN_ID=...`), on the account of AWS_PROFILE."""

from __future__ import annotations

import argparse
import os
import sys

from .harness import Settings, sweep
from .targets import AwsTarget


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acceptance")
    commands = parser.add_subparsers(dest="command", required=True)
    swept = commands.add_parser("sweep", help="delete everything tagged with the run's id")
    swept.add_argument("run_id", help="the id the run printed (xrs-acc-...)")
    arguments = parser.parse_args(argv)
    profile = os.environ.get("AWS_PROFILE")
    if not profile:
        print("set AWS_PROFILE to the profile of the account the run used", file=sys.stderr)
        return 2
    if not arguments.run_id.startswith("xrs-acc-"):
        print(f"{arguments.run_id!r} is no acceptance run id (xrs-acc-...)", file=sys.stderr)
        return 2
    left = sweep(AwsTarget(profile), Settings.from_environment(), arguments.run_id)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
