"""PyYAML's SafeLoader made strict: duplicate keys and alias bombs are ConfigErrors.

It also keeps how numbers and dates were written: YAML 1.1 reads an unquoted 0755 as
the number 493 and 2026-11-28 as a date, so ints, floats, dates and datetimes come back
as subclasses carrying `yaml_text` (the scalar as written). The value kinds in spec.py
use it to refuse 0755 where text is meant ("quote it ('0755')") and 010, 0x1F, 1:30 or
1_000 where a number is meant. Booleans stay plain bools (bool cannot be subclassed).

Its own module so that only the code that reads YAML (Load Config, the CLI) pays for
importing PyYAML; the other task Lambdas never parse YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date, datetime
from typing import IO, Any, TypeVar

import yaml

from .errors import CONFIG_LEVEL, ConfigError

MAX_YAML_ALIASES = 200  # generous for shared defaults
# Few aliases can still repeat a billion values (each level aliasing the one below), so
# what counts is how many YAML nodes the aliases repeat in total.
MAX_YAML_ALIAS_NODES = 10_000

YAMLError = yaml.YAMLError
Number = TypeVar("Number", int, float)


class YamlInt(int):
    """An int read from YAML; `yaml_text` is the scalar as written (0755, 0x1F, 1:30)."""

    yaml_text: str


class YamlFloat(float):
    """A float read from YAML; `yaml_text` is the scalar as written (1.10, .inf)."""

    yaml_text: str


class YamlDate(date):
    """A date read from YAML (an unquoted 2026-11-28); `yaml_text` as written."""

    yaml_text: str


class YamlDatetime(datetime):
    """A timestamp read from YAML (2026-11-28 10:00:00); `yaml_text` as written."""

    yaml_text: str


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and alias bombs."""

    def __init__(self, stream: str | bytes | IO[str] | IO[bytes]) -> None:
        super().__init__(stream)
        self._aliases_seen = 0
        self._alias_nodes = 0
        self._node_sizes: dict[int, int] = {}  # of complete nodes only

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._node_sizes[id(node)] = self._expanded_size(node)
            return node
        self._aliases_seen += 1
        if self._aliases_seen > MAX_YAML_ALIASES:
            raise ConfigError(
                f"the YAML uses more than {MAX_YAML_ALIASES} aliases (*name); "
                "write the values out or use fewer shared anchors",
                job=CONFIG_LEVEL,
            )
        node = super().compose_node(parent, index)
        if id(node) not in self._node_sizes:
            anchor = next(name for name, anchored in self.anchors.items() if anchored is node)
            raise ConfigError(f"the YAML alias *{anchor} is used inside its own anchor "
                              f"&{anchor}; write the values out", job=CONFIG_LEVEL)
        self._alias_nodes += self._node_sizes[id(node)]
        if self._alias_nodes > MAX_YAML_ALIAS_NODES:
            raise ConfigError(
                f"the YAML's aliases (*name) repeat more than {MAX_YAML_ALIAS_NODES} values "
                "in total (an alias bomb?); write the values out",
                job=CONFIG_LEVEL,
            )
        return node

    def _expanded_size(self, node: yaml.Node | None) -> int:
        """How many nodes `node` stands for with every alias in it expanded (children are
        complete, so their sizes are known)."""
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        return 1 + sum(self._node_sizes.get(id(child), 1) for child in children)

    def construct_mapping(self, node: yaml.MappingNode,
                          deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` merges shared settings; it has no constructor
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                raise ConfigError(
                    f"key {key!r} appears twice in one mapping (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}); YAML keeps only the last: remove one",
                    job=CONFIG_LEVEL,
                    field=str(key),
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """YAML's merge key rule, implemented here because PyYAML's changed between
        releases (6.0.4 lets the later of `<<: [*a, *b]` win): a mapping's own keys win over
        merged ones, and of the merged mappings the earlier one wins. The merged pairs
        (each key once) are put before the mapping's own, which the constructor reads
        last."""
        own: list[tuple[yaml.Node, yaml.Node]] = []
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.tag == "tag:yaml.org,2002:value":
                    key_node.tag = "tag:yaml.org,2002:str"
                own.append((key_node, value_node))
                continue
            sources = (value_node.value if isinstance(value_node, yaml.SequenceNode)
                       else [value_node])
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping or list of mappings for merging, but found "
                        f"{source.id}", source.start_mark)
                self.flatten_mapping(source)
                merged.append(source)
        if not merged:
            node.value = own
            return
        seen = {_key_identity(key) for key, _ in own}
        pairs = []
        for source in merged:
            for key_node, value_node in source.value:
                if _key_identity(key_node) not in seen:
                    seen.add(_key_identity(key_node))
                    pairs.append((key_node, value_node))
        node.value = pairs + own

    def construct_yaml_int(self, node: yaml.ScalarNode) -> YamlInt:
        number = YamlInt(_read_number(super().construct_yaml_int, node))
        number.yaml_text = node.value
        return number

    def construct_yaml_float(self, node: yaml.ScalarNode) -> YamlFloat:
        number = YamlFloat(_read_number(super().construct_yaml_float, node))
        number.yaml_text = node.value
        return number

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> YamlDate | YamlDatetime:
        value = super().construct_yaml_timestamp(node)
        kept: YamlDate | YamlDatetime
        if isinstance(value, datetime):
            kept = YamlDatetime(value.year, value.month, value.day, value.hour, value.minute,
                                value.second, value.microsecond, value.tzinfo)
        else:
            kept = YamlDate(value.year, value.month, value.day)
        kept.yaml_text = node.value
        return kept


def _key_identity(node: yaml.Node) -> object:
    """What makes two mapping keys the same key: a scalar's tag and text; any other key
    node only itself."""
    return (node.tag, node.value) if isinstance(node, yaml.ScalarNode) else id(node)


def _read_number(construct: Callable[[yaml.ScalarNode], Number],
                 node: yaml.ScalarNode) -> Number:
    """PyYAML's number, or a ConfigError: its resolver takes some scalars for numbers that
    its constructor then cannot read (`0b_`, `0x_`, `._`) and raises a bare ValueError."""
    try:
        return construct(node)
    except ValueError:
        raise ConfigError(
            f"line {node.start_mark.line + 1}: YAML takes {node.value} for a number but "
            f"cannot read it: quote it ('{node.value}') if it is text, or write a plain "
            "decimal number", job=CONFIG_LEVEL) from None


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictLoader.construct_yaml_timestamp)
