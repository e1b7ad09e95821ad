"""The docs stay true: the parameters and outputs tables against template.yaml, every
`xregion-sync <command> --flag` any doc names against the parser, every config option any
doc names against the options' definitions, every repository path and every link a doc names
against the tree, and docs/configuration.md against its generator. Each check is shown to
fail on a planted mismatch. Every *.md at the top and in docs/ is read, so a new doc is
checked as soon as it exists."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from xregion_sync import cli, config_docs
from xregion_sync.spec import CLIENT_CONFIG_KEY, CLIENT_OPTIONS, COMMON_OPTIONS, DRILL_OPTIONS
from xregion_sync.syncs import SYNC_TYPES
from xregion_sync_emulator.template import PROJECT_ROOT, read_template

README = PROJECT_ROOT / "README.md"
DOCS = sorted({*PROJECT_ROOT.glob("*.md"), *(PROJECT_ROOT / "docs").glob("*.md")})
CONFIGURATION = PROJECT_ROOT / config_docs.DOCS_FILE
PARAMETERS_HEADER = "| parameter | default | meaning |"
OUTPUTS_HEADER = "| output | what it is |"
# Folders of files the suite or the tools write (bench/results/ ...): named, not committed.
GENERATED = tuple(line.strip() for line in (PROJECT_ROOT / ".gitignore").read_text(
    encoding="utf-8").splitlines() if line.strip().endswith("/") and "/" in line.strip()[:-1])
ROW = re.compile(r"^\| `(\w+)` \| ([^|]*) \|")


def read(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def doc_with(line: str) -> Path:
    """The one doc holding a table header line (the tables may move between docs)."""
    holders = [doc for doc in DOCS if line in read(doc).splitlines()]
    assert len(holders) == 1, f"{line!r} should head one table in the docs, found in {holders}"
    return holders[0]


# ---------------------------------------------------------------- parameters and outputs


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
    documented = _table_rows(text, PARAMETERS_HEADER)
    problems = [f"parameter {name} is not in the docs' table" for name in template
                if name not in documented]
    problems += [f"the docs' table names {name}, which template.yaml lacks"
                 for name in documented if name not in template]
    problems += [f"parameter {name}: the docs say default {documented[name]}, "
                 f"template.yaml {_shown_default(spec.get('Default'))}"
                 for name, spec in template.items() if name in documented
                 and documented[name] != _shown_default(spec.get("Default"))]
    return problems


def output_mismatches(text: str) -> list[str]:
    template = set(read_template().raw["Outputs"])
    documented = set(_table_rows(text, OUTPUTS_HEADER))
    return ([f"output {name} is not in the docs' table"
             for name in sorted(template - documented)]
            + [f"the docs' table names output {name}, which template.yaml lacks"
               for name in sorted(documented - template)])


# ---------------------------------------------------------------- the command line


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(action for action in parser._actions
                  if isinstance(action, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def code_lines(text: str) -> Iterator[str]:
    """The lines of fenced code blocks (comments cut off) and every inline code span."""
    in_block, prose = False, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif in_block:
            yield line.split(" #", 1)[0]  # a comment may name flags of other commands
        else:
            prose.append(line)
    # a span may wrap onto the next line
    for paragraph in re.split(r"\n\s*\n", "\n".join(prose)):
        yield from re.findall(r"`([^`]+)`", paragraph.replace("\n", " "))


def command_mentions(text: str) -> Iterator[tuple[str, list[str]]]:
    """(command, its --flags) of each `xregion-sync <command> ...` in the code of a doc.
    A top-level flag (--version) is its own command; `--stack xregion-sync` names a stack."""
    for line in code_lines(text):
        tokens = line.replace("$ ", " ").split()
        for index, token in enumerate(tokens[:-1]):
            if not (token == "xregion-sync" or token.endswith("/xregion-sync")):
                continue
            if index and tokens[index - 1].startswith("-"):
                continue
            command, flags = tokens[index + 1], []
            for word in tokens[index + 2:]:
                if word in ("|", "&&", ";"):
                    break
                flags += re.findall(r"^\[*(--[a-z][a-z0-9-]*)", word)
            yield command, flags


def command_line_mismatches(text: str) -> list[str]:
    parser = cli._parser()
    commands = _subparsers(parser)
    problems = []
    for command, flags in command_mentions(text):
        if command.startswith("-"):
            if command not in _options(parser):
                problems.append(f"`xregion-sync {command}` is not an option")
        elif command not in commands:
            if re.fullmatch(r"[a-z][a-z-]*", command):
                problems.append(f"`xregion-sync {command}` is not a command")
        else:
            problems += [f"`xregion-sync {command}` has no option {flag}" for flag in flags
                         if flag not in _options(commands[command])]
    return problems


def undocumented_commands(texts: list[str]) -> list[str]:
    mentioned = {command for text in texts for command, _ in command_mentions(text)}
    return [f"command {name} is named in no doc" for name in _subparsers(cli._parser())
            if name not in mentioned]


def make_mismatches(text: str) -> list[str]:
    """`make <target> VAR=...` in a doc's code: the target is the Makefile's, the VAR read."""
    makefile = read(PROJECT_ROOT / "Makefile")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.MULTILINE))
    problems = []
    for line in code_lines(text):
        words = re.sub(r"<[^>]*>", "VALUE", line).split()  # <the stack's output>: one value
        for index, word in enumerate(words[:-1]):
            if word != "make" or (index and not words[index - 1].endswith(("&&", ";", "$"))):
                continue
            for argument in words[index + 1:]:
                if argument in ("&&", ";", "|") or argument.startswith("-"):
                    break
                name, assigns, _ = argument.partition("=")
                if assigns and f"$({name})" not in makefile:
                    problems.append(f"`make ... {name}=`: the Makefile reads no {name}")
                elif not assigns and name not in targets:
                    problems.append(f"`make {name}`: the Makefile has no such target")
    return problems


# ---------------------------------------------------------------- config options


def _job_keys() -> set[str]:
    keys = set(COMMON_OPTIONS)
    for sync in SYNC_TYPES.values():
        keys |= set(sync.OPTIONS)
        keys |= {alias for option in sync.OPTIONS.values() for alias in option.aliases}
    return keys | {CLIENT_CONFIG_KEY}


def _client_keys() -> set[str]:
    return set(CLIENT_OPTIONS) | {alias for o in CLIENT_OPTIONS.values() for alias in o.aliases}


OPTION_NAMES = _job_keys() | _client_keys() | set(DRILL_OPTIONS)
# What else a doc writes as `key: value`: the execution input's keys.
EXECUTION_INPUT_KEYS = {"config", "config_uri", "jobs", "event"}


def _config_problems(document: Any, where: str) -> list[str]:
    """Unknown keys in a config a doc shows: jobs, aws_client_config and restore_drill."""
    if not isinstance(document, Mapping):
        return []
    problems = []

    def unknown(mapping: Any, known: set[str], what: str) -> None:
        if isinstance(mapping, Mapping):
            problems.extend(f"{where}: {what} key `{key}` is not an option"
                            for key in mapping if key not in known)

    jobs = {k: v for k, v in document.items() if str(k).lower().startswith("sync_")}
    unknown({k: v for k, v in document.items() if k not in jobs},
            _job_keys() | set(DRILL_OPTIONS), "top-level")
    unknown(document.get(CLIENT_CONFIG_KEY), _client_keys(), CLIENT_CONFIG_KEY)
    unknown(document.get("restore_drill"), set(DRILL_OPTIONS), "restore_drill")
    for name, job in jobs.items():
        unknown(job, _job_keys(), f"job {name}")
        if isinstance(job, Mapping):
            unknown(job.get(CLIENT_CONFIG_KEY), _client_keys(), f"{name}'s {CLIENT_CONFIG_KEY}")
            unknown(job.get("restore_drill"), set(DRILL_OPTIONS), f"{name}'s restore_drill")
    return problems


def yaml_blocks(text: str) -> Iterator[str]:
    yield from re.findall(r"^ *```yaml\n(.*?)^ *```", text, flags=re.DOTALL | re.MULTILINE)


def option_mismatches(text: str) -> list[str]:
    """Config keys a doc names that no option has: in its YAML configs, in `key: value`
    spans, and backquoted names a letter or two from an option's (a misspelt option)."""
    problems = []
    for number, block in enumerate(yaml_blocks(text), 1):
        problems += _config_problems(yaml.safe_load(block), f"YAML block {number}")
    for key in re.findall(r"`([a-z][a-z0-9_]*): [^`]+`", text):
        if key not in OPTION_NAMES | EXECUTION_INPUT_KEYS and not key.startswith("sync_"):
            problems.append(f"`{key}: ...` names no option")
    for name in set(re.findall(r"`([a-z]+(?:_[a-z0-9]+)+)`", text)) - OPTION_NAMES:
        close = difflib.get_close_matches(name, OPTION_NAMES, n=1, cutoff=0.9)
        if close:
            problems.append(f"`{name}` is not an option; `{close[0]}` is")
    return problems


# ---------------------------------------------------------------- paths and links


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


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a document's headings."""
    found = set()
    in_block = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif not in_block and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def broken_links(text: str, doc: Path) -> list[str]:
    """Relative links whose file, or heading anchor, does not exist."""
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            problems.append(f"link {target}: {path} does not exist")
        elif anchor and file.suffix == ".md" and anchor not in anchors(
                text if file == doc else read(file)):
            problems.append(f"link {target}: {file.name} has no heading #{anchor}")
    return problems


# ---------------------------------------------------------------- the job role's policy

JOB_ROLE_POLICY = "Permissions policy of a `role_arn` role"
DRILL_ROLE_POLICY = "Permissions policy for restore drills"
# The stack's own config reads, attached to the drill task roles beside the job's
# credentials: made with the stack's role, never with a job's.
STACK_ONLY_POLICIES = {"JobCredentialsPolicy", "ReadConfigPolicy"}
TAG_CONDITION = {"Null": {"aws:ResourceTag/xregion-sync:job": "false"}}


def _statements(policy: Any) -> Iterator[dict[str, Any]]:
    """The Allow statements of a policy document (template.yaml's `!If`s: both branches)."""
    for statement in policy.get("Statement", []):
        if "Fn::If" in statement:
            yield from (s for s in statement["Fn::If"][1:] if isinstance(s, dict) and "Action" in s)
        elif statement.get("Effect") == "Allow":
            yield statement


def _grants(statements: Iterator[dict[str, Any]]) -> dict[str, list[bool]]:
    """Action -> for each statement granting it, whether only on resources with the tag."""
    grants: dict[str, list[bool]] = {}
    for statement in statements:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            grants.setdefault(action, []).append(statement.get("Condition") == TAG_CONDITION)
    return grants


def template_job_grants() -> dict[str, list[bool]]:
    """What the task roles that work for jobs (the roles JobCredentialsPolicy is attached
    to) may do with a job's credentials: the calls a job's own role must allow too."""
    resources = read_template().raw["Resources"]
    job_roles = {role["Ref"] for role in resources["JobCredentialsPolicy"]["Properties"]["Roles"]}
    statements = []
    for logical_id, resource in resources.items():
        if f"{logical_id}Role" in job_roles:
            for policy in resource["Properties"].get("Policies", []):
                statements += _statements(policy)
        elif (resource["Type"] == "AWS::IAM::ManagedPolicy"
              and logical_id not in STACK_ONLY_POLICIES
              and {role["Ref"] for role in resource["Properties"]["Roles"]} & job_roles):
            statements += _statements(resource["Properties"]["PolicyDocument"])
    return _grants(iter(statements))


def job_role_policy_mismatches(text: str) -> list[str]:
    """The docs' permissions policy for a job role against the job task roles' grants."""
    statements = []
    for heading in (JOB_ROLE_POLICY, DRILL_ROLE_POLICY):
        block = text.split(heading, 1)[1].split("```json", 1)[1].split("```", 1)[0]
        statements += _statements(json.loads(block))
    documented = _grants(iter(statements))
    granted = template_job_grants()
    problems = [f"the job role policy lacks {action}" for action in granted
                if action not in documented]
    problems += [f"the job role policy grants {action}, which no job task role has"
                 for action in documented if action not in granted]
    problems += [f"the job role policy grants {action} beyond the xregion-sync:job tag"
                 for action, tagged in granted.items()
                 if all(tagged) and not all(documented.get(action, [True]))]
    return problems


# ---------------------------------------------------------------- the tests


def test_the_parameters_table_agrees_with_the_template():
    assert parameter_mismatches(read(doc_with(PARAMETERS_HEADER))) == []


def test_the_outputs_table_agrees_with_the_template():
    assert output_mismatches(read(doc_with(OUTPUTS_HEADER))) == []


def test_every_command_is_documented():
    assert undocumented_commands([read(doc) for doc in DOCS]) == []


@pytest.mark.parametrize("check", [command_line_mismatches, make_mismatches, option_mismatches,
                                   missing_paths],
                         ids=lambda check: check.__name__)
@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(PROJECT_ROOT)))
def test_each_doc_agrees_with_the_project(doc: Path, check):
    assert check(read(doc)) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(PROJECT_ROOT)))
def test_each_docs_links_lead_somewhere(doc: Path):
    assert broken_links(read(doc), doc) == []


def test_the_job_role_policy_agrees_with_the_template():
    assert job_role_policy_mismatches(read(doc_with(PARAMETERS_HEADER))) == []


def test_the_configuration_reference_is_the_generated_one():
    assert read(CONFIGURATION) == config_docs.config_docs_text(), "run `make config-docs`"


# Each check, shown to fail on a mismatch planted in the doc it reads.
PLANTS = [
    (parameter_mismatches, PARAMETERS_HEADER,
     lambda text: text.replace("| `ScheduleState` | `ENABLED` |",
                               "| `ScheduleState` | `DISABLED` |")),
    (parameter_mismatches, PARAMETERS_HEADER,
     lambda text: re.sub(r"\n\| `MapMaxConcurrency` \|[^\n]*", "", text)),
    (output_mismatches, OUTPUTS_HEADER,
     lambda text: re.sub(r"\n\| `EventBusArn` \|[^\n]*", "", text)),
    (command_line_mismatches, "## Command line",
     lambda text: text.replace("[--dry-run]", "[--dry-rum]", 1)),
    (command_line_mismatches, "## Command line",
     lambda text: text.replace("xregion-sync executions --stack",
                               "xregion-sync executionz --stack")),
    (command_line_mismatches, "## Quick start",
     lambda text: text.replace("--region us-east-1 --follow", "--region us-east-1 --folow")),
    (command_line_mismatches, "## Quick start",
     lambda text: text + "\nRun `xregion-sync --versions`.\n"),
    (option_mismatches, "## Quick start",
     lambda text: text.replace("    sync_identifier: web-app", "    sync_identifer: web-app")),
    (option_mismatches, "## Quick start",
     lambda text: text + "\nKeep more with `max_image_to_retain`.\n"),
    (option_mismatches, "## Quick start",
     lambda text: text + "\nSet `wait_for_copy: true`.\n"),
    (job_role_policy_mismatches, PARAMETERS_HEADER,
     lambda text: text.replace('"rds:DeleteDBSnapshot", ', "", 1)),
    (job_role_policy_mismatches, PARAMETERS_HEADER,
     lambda text: text.replace('"ec2:CopyImage", ', '"ec2:CopyImage", "ec2:DeleteVpc", ', 1)),
    (job_role_policy_mismatches, PARAMETERS_HEADER,
     lambda text: text.replace('"rds:AddTagsToResource"],', '"rds:AddTagsToResource",\n'
                               '                "rds:DeleteDBClusterSnapshot"],', 1)),
    (make_mismatches, "## Quick start",
     lambda text: text.replace("make deploy-forwarder REGION", "make deploy-forwarders REGION")),
    (make_mismatches, "## Quick start",
     lambda text: text.replace("EVENT_BUS_ARN=<", "EVENTBUS_ARN=<")),
    (missing_paths, "## Quick start",
     lambda text: text + "\nSee `functions/xregion_sync/nowhere.py`.\n"),
]


@pytest.mark.parametrize(("check", "holder", "plant"), PLANTS, ids=[
    "default", "parameter", "output", "flag", "command", "quick-start-flag", "top-level-flag",
    "yaml-key", "misspelt-option", "key-value", "policy-lacks", "policy-extra",
    "policy-untagged", "make-target", "make-variable", "path"])
def test_each_check_finds_a_planted_mismatch(check, holder, plant):
    text = read(doc_with(holder))
    planted = plant(text)
    assert planted != text
    assert check(text) == []
    assert check(planted) != []


def test_a_command_no_doc_names_is_found():
    texts = [read(doc).replace("xregion-sync doctor", "doctor") for doc in DOCS]
    assert undocumented_commands(texts) == ["command doctor is named in no doc"]


def test_a_broken_link_is_found():
    doc = doc_with("## Quick start")
    text = read(doc)
    assert broken_links(text, doc) == []
    assert broken_links(text.replace("(docs/cost.md)", "(docs/costs.md)"), doc) != []
    assert broken_links(text.replace("#which-regions-need-a-forwarder", "#forwarders"), doc) != []


def test_a_stale_configuration_reference_is_found(monkeypatch):
    from xregion_sync.syncs import rds_automated_snapshot

    option = rds_automated_snapshot.OPTIONS["max_snapshots_to_retain"]
    monkeypatch.setitem(rds_automated_snapshot.OPTIONS, "max_snapshots_to_retain",
                        type(option)(option.kind, default=3, doc=option.doc))
    assert read(CONFIGURATION) != config_docs.config_docs_text()


@pytest.mark.parametrize(("region", "refused"), [("us-east-1", True), ("eu-west-1", False)])
def test_the_forwarder_is_refused_in_the_stacks_own_region(region, refused):
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/default"  # a stack in us-east-1
    check = subprocess.run(["make", "-s", "check-forwarder-region", f"REGION={region}",
                            f"EVENT_BUS_ARN={bus}"], cwd=PROJECT_ROOT, capture_output=True,
                           text=True, check=False)
    assert (check.returncode != 0) == refused, check.stdout + check.stderr
    assert ("the stack's own region" in check.stdout) == refused
