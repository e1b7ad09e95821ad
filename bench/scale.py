"""The plan and the results at sizes too large to run every child on moto (10,000 jobs):
Load Config's plan (execution.plan_execution) and Summarize (execution.summarize) over
results laid out as the Distributed Map's ResultWriter lays them out (manifest.json +
SUCCEEDED_n.json, as tests/conftest.py store_finished_map_run does), each timed, with
the sizes of the state they hand on and of what they leave in the run bucket."""

from __future__ import annotations

import json
import os
import time
from typing import Any
from unittest import mock

import boto3
import yaml

from xregion_sync import execution
from xregion_sync.config import MAX_CONFIG_BYTES
from xregion_sync.result import COPIED, SyncResult
from xregion_sync_emulator import emulated_aws

from .history import PAYLOAD_LIMIT_BYTES
from .world import DESTINATION, World

BUCKET = "bench-run-bucket"
REGION = "us-east-1"
RUN_ID = "bench-scale"


def measure_scale(n: int) -> dict[str, Any]:
    with emulated_aws(), mock.patch.dict(os.environ, {execution.RUN_BUCKET_ENV: BUCKET}):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        config = World.unseeded(n).config()
        config_bytes = _bytes(config)
        # Over 256 KiB a config cannot be the execution input: it goes in as config_uri,
        # read from S3 and parsed by Load Config, as measured here.
        s3.put_object(Bucket=BUCKET, Key="config/config.yaml",
                      Body=yaml.safe_dump(config).encode())
        started = time.perf_counter()
        plan = execution.plan_execution({"config_uri": f"s3://{BUCKET}/config/config.yaml"},
                                        RUN_ID)
        plan_seconds = time.perf_counter() - started
        plan_files = {kind: _object_bytes(s3, p["key"]) for kind, p in plan["plans"].items()}
        event = {**plan, "map_runs": [_store_map_run(s3, plan), None]}
        started = time.perf_counter()
        document = execution.summarize(event)
        summarize_seconds = time.perf_counter() - started
        results_uri = document.get("results_uri")
        results_bytes = (_object_bytes(s3, results_uri.split("/", 3)[3]) if results_uri
                         else _bytes(document["results"]))
    return {
        "n": n, "config_bytes": config_bytes,
        "config_fits_input": config_bytes < PAYLOAD_LIMIT_BYTES,
        "config_fits_uri": config_bytes <= MAX_CONFIG_BYTES,
        "plan": {"seconds": plan_seconds, "state_bytes": _bytes(plan), "files": plan_files,
                 "jobs": {kind: p["jobs"] for kind, p in plan["plans"].items()}},
        "summarize": {"seconds": summarize_seconds, "input_bytes": _bytes(event),
                      "output_bytes": _bytes(document), "summary": document["summary"],
                      "results_uri": results_uri, "results_bytes": results_bytes},
    }


def _store_map_run(s3, plan: dict[str, Any]) -> dict[str, Any]:
    """What the Map "Sync Jobs Without Waiting" leaves after its N children copied: the
    ResultWriter's SUCCEEDED_0.json (one record per child, Transformation NONE) and its
    manifest.json."""
    items = json.loads(s3.get_object(Bucket=BUCKET, Key=plan["plans"]["express"]["key"])
                       ["Body"].read())
    map_run_id = "0b3f2c4e-7d6a-4f1e-9c2b-5a8d7e6f1a2b"
    prefix = f"runs/results/{map_run_id}"
    records = []
    for item in items:
        job = item["job"]
        created = "ami-0123456789abcdef0" if job["sync_type"] == "ec2_ami" else (
            f"arn:aws:rds:{DESTINATION}:123456789012:snapshot:rds-{job['name']}-2026-01-01-03-00")
        result = SyncResult(job["name"], job["sync_type"], COPIED, created_resource=created,
                            copy_state="pending").to_dict()
        records.append({
            "ExecutionArn": f"arn:aws:states:{REGION}:123456789012:execution:x:{item['index']}",
            "Input": json.dumps({**item, "run_id": RUN_ID}), "InputDetails": {"Included": True},
            "Name": str(item["index"]), "Output": json.dumps(result),
            "OutputDetails": {"Included": True}, "Status": "SUCCEEDED",
            "StartDate": "2026-01-01T03:00:00.000Z", "StopDate": "2026-01-01T03:00:02.000Z"})
    key = f"{prefix}/SUCCEEDED_0.json"
    body = json.dumps(records).encode()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    manifest = f"{prefix}/manifest.json"
    map_run_arn = (f"arn:aws:states:{REGION}:123456789012:mapRun:x/Sync Jobs Without Waiting:"
                   f"{map_run_id}")
    s3.put_object(Bucket=BUCKET, Key=manifest, Body=json.dumps({
        "DestinationBucket": BUCKET, "MapRunArn": map_run_arn,
        "ResultFiles": {"FAILED": [], "PENDING": [],
                        "SUCCEEDED": [{"Key": key, "Size": len(body)}]}}))
    return {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest}}


def _object_bytes(s3, key: str) -> int:
    return s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]


def _bytes(value: Any) -> int:
    return len(json.dumps(value).encode("utf-8"))

