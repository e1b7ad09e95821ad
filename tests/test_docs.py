"""The docs stay true: the README's parameters and outputs tables against template.yaml,
its command-line block against the parser, and every repository path it names against the
tree. Each check is shown to fail on a planted mismatch."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from xregion_sync import cli
from xregion_sync_emulator.template import PROJECT_ROOT, read_template

README = PROJECT_ROOT / "README.md"
OTHER_DOCS = sorted({*PROJECT_ROOT.glob("*.md"), *(PROJECT_ROOT / "docs").glob("*.md")}
                    - {README})
# Folders of files the suite or the tools write (bench/results/ ...): named, not committed.
GENERATED = tuple(line.strip() for line in (PROJECT_ROOT / ".gitignore").read_text(
    encoding="utf-8").splitlines() if line.strip().endswith("/") and "/" in line.strip()[:-1])
ROW = re.compile(r"^\| `(\w+)` \| ([^|]*) \|")


def _table_rows(text: str, header: str) -> dict[str, str]:
    """The first column (a `Name`) -> the second, of the table under `header`."""
    lines = text.splitlines()
    start = lines.index(header)
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"a row of the table under {header!r} is not `Name` | ...: {line}"
        rows[match.group(1)] = match.group(2).strip()
    return rows


def _shown_default(value: object) -> str:
    return "(none)" if value in (None, "") else f"`{value}`"


def parameter_mismatches(text: str) -> list[str]:
    template = read_template().raw["Parameters"]
    documented = _table_rows(text, "| parameter | default | meaning |")
    problems = [f"parameter {name} is not in the README's table" for name in template
                if name not in documented]
    problems += [f"the README's table names {name}, which template.yaml lacks"
                 for name in documented if name not in template]
    problems += [f"parameter {name}: the README says default {documented[name]}, "
                 f"template.yaml {_shown_default(spec.get('Default'))}"
                 for name, spec in template.items() if name in documented
                 and documented[name] != _shown_default(spec.get("Default"))]
    return problems


def output_mismatches(text: str) -> list[str]:
    template = set(read_template().raw["Outputs"])
    documented = set(_table_rows(text, "| output | what it is |"))
    return ([f"output {name} is not in the README's table"
             for name in sorted(template - documented)]
            + [f"the README's table names output {name}, which template.yaml lacks"
               for name in sorted(documented - template)])


def _commands() -> dict[str, set[str]]:
    """Each subcommand -> its option strings, from the parser itself."""
    parser = cli._parser()
    subparsers = next(action for action in parser._actions
                      if isinstance(action, argparse._SubParsersAction))
    return {name: {option for action in sub._actions for option in action.option_strings}
            for name, sub in subparsers.choices.items()}


def command_line_mismatches(text: str) -> list[str]:
    block = text.split("## Command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = _commands()
    problems = []
    for shown in block.splitlines():
        line = shown.split("#", 1)[0].strip()  # a comment may name flags of other commands
        if not line.startswith("xregion-sync "):
            continue
        name = line.split()[1]
        if name not in commands:
            problems.append(f"`xregion-sync {name}` is not a command")
            continue
        problems += [f"`xregion-sync {name}` has no option {flag}"
                     for flag in re.findall(r"--[a-z][a-z0-9-]*", line)
                     if flag not in commands[name]]
    documented = {line.split()[1] for line in block.splitlines()
                  if line.startswith("xregion-sync ")}
    problems += [f"command {name} is not in the README's command-line block"
                 for name in commands if name not in documented]
    return problems


def missing_paths(text: str) -> list[str]:
    """Backquoted paths whose first part is an entry of the repository that do not exist."""
    top = {entry.name for entry in PROJECT_ROOT.iterdir()} - {".venv", ".tools"}
    problems = []
    for path in re.findall(r"`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`", text):
        if path.startswith(GENERATED):
            continue
        if path.split("/", 1)[0] in top and not (PROJECT_ROOT / path).exists():
            problems.append(f"{path} does not exist")
    return problems


CHECKS = [parameter_mismatches, output_mismatches, command_line_mismatches, missing_paths]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_readme_agrees_with_the_project(check):
    assert check(README.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("doc", OTHER_DOCS, ids=lambda doc: doc.name)
def test_every_path_a_doc_names_exists(doc: Path):
    assert missing_paths(doc.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(("check", "plant"), [
    (parameter_mismatches, lambda text: text.replace("| `ScheduleState` | `ENABLED` |",
                                                     "| `ScheduleState` | `DISABLED` |")),
    (parameter_mismatches, lambda text: re.sub(r"\n\| `MapMaxConcurrency` \|[^\n]*", "", text)),
    (output_mismatches, lambda text: re.sub(r"\n\| `EventBusArn` \|[^\n]*", "", text)),
    (command_line_mismatches, lambda text: text.replace("[--dry-run]", "[--dry-rum]", 1)),
    (command_line_mismatches, lambda text: text.replace("xregion-sync executions --stack",
                                                        "xregion-sync executionz --stack")),
    (missing_paths, lambda text: text + "\nSee `functions/xregion_sync/nowhere.py`.\n"),
], ids=["default", "parameter", "output", "flag", "command", "path"])
def test_each_check_finds_a_planted_mismatch(check, plant):
    text = README.read_text(encoding="utf-8")
    planted = plant(text)
    assert planted != text
    assert check(planted) != []
