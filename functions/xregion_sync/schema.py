"""The JSON Schema of the config file, generated from the option tables in config.py
and the sync types, so editors and the validator never disagree.

    python -m xregion_sync.schema > functions/xregion_sync/config.schema.json
"""

from __future__ import annotations

import json
from typing import Any

from . import config
from .syncs import SYNC_TYPES

SCHEMA_FILE = "config.schema.json"

_REGION = {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-\\d+$"}
_ACCOUNT = {"type": ["string", "integer"], "pattern": "^[\\d-]+$"}
_FILTER = {
    "oneOf": [
        {"type": "string", "pattern": "^[^=]+=[^=]+$", "description": "name=value"},
        {"type": "object", "required": ["name", "values"], "additionalProperties": False,
         "properties": {"name": {"type": "string"},
                        "values": {"type": ["array", "string"], "items": {"type": "string"}}}},
    ]
}
_FRAGMENTS = {
    config.text: {"type": "string", "minLength": 1},
    config.boolean: {"type": "boolean"},
    config.non_negative_int: {"type": "integer", "minimum": 0},
    config.positive_int: {"type": "integer", "minimum": 1},
    config.days_up_to_ten_years: {"type": "integer", "minimum": 1, "maximum": 3650},
    config.quarter_hour_minutes: {"type": "integer", "minimum": 15, "maximum": 2880,
                                  "multipleOf": 15},
    config.account_id: _ACCOUNT,
    config.ami_owner: {"type": ["string", "integer"]},
    config.iam_role_arn: {"type": "string", "pattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"},
    config.ec2_filters: {"type": "array", "items": _FILTER},
    config.job_names: {"oneOf": [{"type": "string", "minLength": 1},
                                 {"type": "array", "minItems": 1,
                                  "items": {"type": "string", "minLength": 1}}]},
}
_REGION_KEYS = ("source_region", "destination_region", "region")


def _properties(options: dict[str, config.Option]) -> dict[str, Any]:
    properties = {}
    for name, option in options.items():
        fragment = dict(_REGION if name in _REGION_KEYS else _FRAGMENTS[option.parse])
        if option.doc:
            fragment["description"] = option.doc
        if option.default not in (None, ()):
            fragment["default"] = option.default
        properties[name] = fragment
        for alias in option.aliases:
            properties[alias] = {**fragment, "description": f"alias of {name}"}
    return properties


def build_schema() -> dict[str, Any]:
    client = {"type": "object", "additionalProperties": False,
              "properties": _properties(config.CLIENT_OPTIONS),
              "description": "AWS client settings; a job's own values win over the top level"}
    jobs = []
    for type_name, sync in SYNC_TYPES.items():
        options = {**config.COMMON_OPTIONS, **sync.OPTIONS}
        properties = _properties(options)
        properties["sync_type"] = {"const": type_name}
        properties[config.CLIENT_CONFIG_KEY] = {"$ref": "#/$defs/aws_client_config"}
        jobs.append({
            "if": {"properties": {"sync_type": {"const": type_name}}, "required": ["sync_type"]},
            "then": {"properties": properties, "additionalProperties": False,
                     "required": [n for n, o in options.items() if o.required]},
        })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "xregion-sync config",
        "description": "Every top-level key starting with sync_ (any case) is a job.",
        "type": "object",
        "$defs": {
            "aws_client_config": client,
            "job": {"type": "object", "required": ["sync_type"],
                    "properties": {"sync_type": {"enum": sorted(SYNC_TYPES)}},
                    "allOf": jobs},
        },
        "properties": {config.CLIENT_CONFIG_KEY: {"$ref": "#/$defs/aws_client_config"},
                       **_properties(config.TOP_LEVEL_OPTIONS)},
        "patternProperties": {"^[Ss][Yy][Nn][Cc]_": {"$ref": "#/$defs/job"}},
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
