"""Read template.yaml: the task functions, their handlers and environment, and the
state machine's definition with its substitutions. The local state machine is wired
from this, so it cannot drift from what `sam deploy` deploys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
LOCAL_STACK_NAME = "xregion-sync-local"
SYNC_MACHINE = "SyncStateMachine"
DRILL_MACHINE = "DrillStateMachine"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) as Fn:: mappings."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:  # the third kind of node
        value = loader.construct_mapping(cast(yaml.MappingNode, node), deep=True)
    if suffix in ("Ref", "Condition"):  # the two short tags without an Fn:: prefix
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    environment: dict[str, Any]


@dataclass(frozen=True)
class MachineSpec:
    logical_id: str
    definition_path: Path
    substitutions: dict[str, Any]  # ASL placeholder -> CloudFormation value (e.g. GetAtt)

    def function_ids(self) -> set[str]:
        """The task functions the machine invokes (its GetAtt substitutions)."""
        return {value["Fn::GetAtt"][0] for value in self.substitutions.values()
                if isinstance(value, dict) and "Fn::GetAtt" in value}


@dataclass(frozen=True)
class StackTemplate:
    raw: dict[str, Any]
    functions: dict[str, FunctionSpec]
    machines: dict[str, MachineSpec]  # by logical id; SYNC_MACHINE first

    @property
    def definition_path(self) -> Path:
        """The sync state machine's ASL."""
        return self.machines[SYNC_MACHINE].definition_path

    @property
    def substitutions(self) -> dict[str, Any]:
        return self.machines[SYNC_MACHINE].substitutions

    def buckets(self) -> list[str]:
        """The emulated names of the stack's S3 buckets."""
        return [local_bucket_name(logical_id) for logical_id, resource
                in self.raw.get("Resources", {}).items() if resource["Type"] == "AWS::S3::Bucket"]

    def parameter_default(self, name: str) -> Any:
        return self.raw.get("Parameters", {}).get(name, {}).get("Default")

    def resolve(self, value: Any) -> Any:
        """The local value of a simple CloudFormation expression (Ref, Sub)."""
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            resource = self.raw.get("Resources", {}).get(name)
            if resource and resource["Type"] == "AWS::SSM::Parameter":
                return self.resolve(resource["Properties"]["Name"])
            if resource and resource["Type"] == "AWS::S3::Bucket":
                return local_bucket_name(name)
            return str(self.parameter_default(name) if resource is None else name)
        if isinstance(value, dict) and "Fn::Sub" in value:
            return re.sub(r"\$\{AWS::StackName\}", LOCAL_STACK_NAME, value["Fn::Sub"])
        return value


def local_machine_name(logical_id: str) -> str:
    """The emulated name of one of the stack's state machines (template.yaml's Name)."""
    return LOCAL_STACK_NAME if logical_id == SYNC_MACHINE else f"{LOCAL_STACK_NAME}-drills"


def local_bucket_name(logical_id: str) -> str:
    """The emulated name of one of the stack's buckets (CloudFormation would generate it)."""
    return f"{LOCAL_STACK_NAME}-{logical_id}".lower()


@cache
def read_template(path: Path = TEMPLATE_PATH) -> StackTemplate:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    global_env = raw.get("Globals", {}).get("Function", {}).get("Environment", {})
    functions, machines = {}, {}
    for logical_id, resource in raw["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            environment = {**global_env.get("Variables", {}),
                           **properties.get("Environment", {}).get("Variables", {})}
            functions[logical_id] = FunctionSpec(logical_id, properties["Handler"], environment)
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            machines[logical_id] = MachineSpec(
                logical_id, path.parent / properties["DefinitionUri"],
                dict(properties.get("DefinitionSubstitutions", {})))
    if SYNC_MACHINE not in machines:
        raise ValueError(f"{path} defines no AWS::Serverless::StateMachine {SYNC_MACHINE}")
    ordered = {SYNC_MACHINE: machines.pop(SYNC_MACHINE), **machines}
    return StackTemplate(raw, functions, ordered)
