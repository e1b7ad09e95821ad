"""The JSON Schema of the config file, generated from the options (spec.py and the sync
types): each option's kind carries its schema fragment, so editors and the validator
never disagree.

    python -m xregion_sync.schema > functions/xregion_sync/config.schema.json
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .spec import CLIENT_CONFIG_KEY, CLIENT_OPTIONS, COMMON_OPTIONS, TOP_LEVEL_OPTIONS, Option
from .syncs import SYNC_TYPES

SCHEMA_FILE = "config.schema.json"

def _properties(options: Mapping[str, Option]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, option in options.items():
        fragment = dict(option.kind.schema)
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
              "properties": _properties(CLIENT_OPTIONS),
              "description": "AWS client settings; a job's own values win over the top level"}
    jobs = []
    for type_name, sync in SYNC_TYPES.items():
        options = {**COMMON_OPTIONS, **sync.OPTIONS}
        properties = _properties(options)
        properties["sync_type"] = {"const": type_name}
        properties[CLIENT_CONFIG_KEY] = {"$ref": "#/$defs/aws_client_config"}
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
        "properties": {CLIENT_CONFIG_KEY: {"$ref": "#/$defs/aws_client_config"},
                       **_properties(TOP_LEVEL_OPTIONS)},
        "patternProperties": {"^[Ss][Yy][Nn][Cc]_": {"$ref": "#/$defs/job"}},
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
