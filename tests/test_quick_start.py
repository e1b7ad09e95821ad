"""The README's quick start, followed as written on the emulated stack: its config block and
its command lines are read out of README.md itself, so the README cannot drift from what
works. `make deploy` is the one step emulated AWS stands in for (local_stack: the state
machine from template.yaml behind a stack with its outputs and parameters)."""

from __future__ import annotations

import functools
import json
import re
import shlex

import boto3
import pytest
import yaml

from xregion_sync import cli, smoke
from xregion_sync.deploy import config_parameter_name
from xregion_sync_emulator import seed
from xregion_sync_emulator.alarms import confirm_email_subscriptions
from xregion_sync_emulator.stack import local_stack
from xregion_sync_emulator.stepfunctions import REGION as EMULATED_REGION
from xregion_sync_emulator.template import PROJECT_ROOT, read_template

FAST_FOLLOW = ["--poll-seconds", "0.05"]  # the emulated execution takes a second, not minutes


def quick_start() -> str:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]


def quick_start_config() -> tuple[str, str]:
    """The config block's text, and the file name the commands give it."""
    blocks = re.findall(r"^ *```yaml\n(.*?)^ *```", quick_start(), flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, "the quick start should show one config"
    lines = blocks[0].splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    name = re.search(r"`([\w.-]+\.yaml)`", quick_start())
    assert name, "the quick start should name its config file"
    return "\n".join(line[indent:] for line in lines) + "\n", name.group(1)


def quick_start_commands() -> list[list[str]]:
    """Each `xregion-sync ...` line of the quick start's sh blocks, in order, as argv."""
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", quick_start(), flags=re.DOTALL | re.MULTILINE)
    return [shlex.split(line.strip())[1:] for block in blocks for line in block.splitlines()
            if line.strip().startswith("xregion-sync ")]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def create_sources(config: dict) -> None:
    """What the config's jobs copy, in their source regions (the user's AMIs and DBs)."""
    for name, job in config.items():
        if job["sync_type"] == "ec2_ami":
            seed.create_ami(job["source_region"], f"{name} image",
                            tags={"Sync-Identifier": job["sync_identifier"]})
        elif job["sync_type"] == "rds_automated_snapshot":
            seed.create_db_instance(job["source_region"], job["db_instance"])
        else:
            pytest.fail(f"the quick start's {job['sync_type']} job: teach this test its source")


def a_fresh_stack(stack: str) -> None:
    """The config parameter as `sam deploy` creates it, before any push-config."""
    value = read_template().raw["Resources"]["ConfigParameter"]["Properties"]["Value"]
    boto3.client("ssm", region_name=EMULATED_REGION).put_parameter(
        Name=config_parameter_name(stack), Value=value, Type="String")


def stack_output(stack: str, region: str, name: str) -> str:
    [description] = boto3.client("cloudformation", region_name=region).describe_stacks(
        StackName=stack)["Stacks"]
    return next(o["OutputValue"] for o in description["Outputs"] if o["OutputKey"] == name)


def run(capsys, argv: list[str]) -> tuple[int, str]:
    if argv[0] == "start" and "--follow" in argv:
        argv = [*argv, *FAST_FOLLOW]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def test_the_quick_start_reads_as_a_whole():
    commands = [argv[0] for argv in quick_start_commands()]
    assert commands == ["validate", "push-config", "smoke", "start", "status"]
    push = quick_start_commands()[1]
    assert option(push, "--region") == EMULATED_REGION, "the emulated stack's region"
    text, name = quick_start_config()
    assert yaml.safe_load(text) and push[1] == name


@pytest.mark.statemachine
@pytest.mark.deploy_parameters(NotificationEmail="ops@example.com")  # as step 1 says
def test_following_the_quick_start_gives_synced_fresh_copies(emulated, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.setenv("XREGION_SYNC_LOG_LEVEL", "CRITICAL")
    # smoke polls the emulated dry run and alarm history at a pace of emulated AWS's
    monkeypatch.setattr(smoke, "Timing", functools.partial(smoke.Timing, poll_seconds=0.05))
    monkeypatch.chdir(tmp_path)
    text, name = quick_start_config()
    (tmp_path / name).write_text(text, encoding="utf-8")
    config = yaml.safe_load(text)
    create_sources(config)
    commands = quick_start_commands()
    push = next(argv for argv in commands if argv[0] == "push-config")
    stack, region = option(push, "--stack"), option(push, "--region")

    # step 1: the stack is deployed; until the config is pushed it runs nothing, fails nothing
    with local_stack(stack):
        a_fresh_stack(stack)
        confirm_email_subscriptions(stack_output(stack, region, "FailureTopicArn"))
        code, out = run(capsys, ["start", "--stack", stack, "--region", region, "--follow"])
        assert code == 0, out
        assert "execution SUCCEEDED" in out

        # steps 2 to 5, as the README writes them
        outputs = {}
        for argv in commands:
            code, out = run(capsys, argv)
            assert code == 0, f"`xregion-sync {shlex.join(argv)}` exited {code}:\n{out}"
            outputs[argv[0]] = out

        code, out = run(capsys, ["executions", "--stack", stack, "--region", region, "--json"])
        executions = json.loads(out)

    assert all(f"{job}" in outputs["smoke"] for job in config), outputs["smoke"]
    assert "execution SUCCEEDED" in outputs["start"]
    assert all(re.search(rf"^{job}\s.*\scopied\s", outputs["start"], flags=re.MULTILINE)
               for job in config), outputs["start"]
    assert all(re.search(rf"^{job}\s.*\(available\).*\sok\b", outputs["status"],
                         flags=re.MULTILINE) for job in config), outputs["status"]
    # the fresh stack's run, smoke's dry run, start's run: none failed
    assert [e["status"] for e in executions] == ["SUCCEEDED"] * 3
    assert executions[-1]["summary"]["total"] == 0  # the fresh stack's run: nothing to do
