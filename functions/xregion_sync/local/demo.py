"""`xregion-sync demo`: the sample config, twice, on seeded emulated AWS."""

from __future__ import annotations

import json

from ..cli import demo_config_text, format_table
from ..runner import run
from . import emulated_aws
from .seed import seed_demo


def run_demo(*, as_json: bool = False) -> int:
    config = demo_config_text()
    outputs = []
    with emulated_aws():
        seeded = seed_demo()
        if not as_json:
            print("Emulated AWS seeded: AMI", seeded["image_id"], "and DB instance orders-db "
                  "with a week of automated snapshots, in us-east-1.\n")
            print("Config (samples/demo.yaml):\n" + config)
        for title in ("First run: copies to us-west-2", "Second run: already in sync"):
            results = run(config)
            outputs.append([r.to_dict() for r in results])
            if not as_json:
                print(f"== {title}\n{format_table(results)}\n")
    if as_json:
        print(json.dumps(outputs, indent=2))
    failed = any(r["status"] == "failed" for output in outputs for r in output)
    return 1 if failed else 0
