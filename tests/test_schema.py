"""The JSON Schema shipped for editors agrees with the validator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from xregion_sync import load_config, schema

SCHEMA_PATH = Path(schema.__file__).with_name(schema.SCHEMA_FILE)
SAMPLES = sorted(Path(schema.__file__).with_name("samples").glob("*.yaml"))
# The example config of the original aws_xregion_sync README, verbatim.
ORIGINAL_EXAMPLE = Path(__file__).with_name("data") / "original_readme_example.yaml"


def original_readme_example() -> str:
    return ORIGINAL_EXAMPLE.read_text()


@pytest.fixture(scope="module")
def validator():
    document = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_shipped_schema_is_the_generated_one():
    assert SCHEMA_PATH.read_text() == schema.schema_text(), "run `make schema`"


@pytest.mark.parametrize("text", [original_readme_example(), *(p.read_text() for p in SAMPLES)],
                         ids=["original-readme-example", *(p.name for p in SAMPLES)])
def test_original_example_and_samples_are_valid(validator, text):
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    assert load_config(text).errors == []


@pytest.mark.parametrize("job", [
    {"sync_type": "ec2_ami", "source_region": "us-east-1"},  # no destination
    {"sync_type": "ec2_ami", "source_region": "us-east-1", "destination_region": "us-west-2",
     "filterz": []},
    {"sync_type": "rds_automated_snapshot", "source_region": "us-east-1",
     "destination_region": "us-west-2", "db_instance": "x", "max_snapshots_to_retain": -1},
    {"sync_type": "nope", "source_region": "us-east-1", "destination_region": "us-west-2"},
])
def test_schema_and_validator_both_reject(validator, job):
    config = {"sync_job": job}
    assert list(validator.iter_errors(config)), "the schema accepted it"
    assert load_config(config).errors, "the validator accepted it"
