"""The ASL and the SAM template, checked offline: statelint and cfn-lint (each shown
able to fail), substitutions wired to real functions, handlers importable, and the
IAM statements' shape (partition, no wildcard actions, deletes only on tagged copies)."""

from __future__ import annotations

import copy
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import actions, deployed_statements

from xregion_sync_emulator.template import TEMPLATE_PATH, read_template

BIN = Path(sys.executable).parent
TEMPLATE = read_template()
ASL_PATH = TEMPLATE.definition_path
ASL_TEXT = ASL_PATH.read_text(encoding="utf-8")
ASL = json.loads(ASL_TEXT)
PLACEHOLDERS = sorted(set(re.findall(r"\$\{([^}]+)\}", ASL_TEXT)))
RESOURCES = TEMPLATE.raw["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
DELETE_ACTIONS = {"ec2:DeregisterImage", "ec2:DeleteSnapshot", "rds:DeleteDBSnapshot"}
TRACKING_TAG_CONDITION_KEY = "aws:ResourceTag/xregion-sync:job"


def broken(mutate) -> dict:
    definition = copy.deepcopy(ASL)
    mutate(definition)
    return definition


def summarize_goes_nowhere(definition: dict) -> None:
    definition["States"]["Summarize"]["Next"] = "Summarise"


def summarize_has_a_bad_type(definition: dict) -> None:
    definition["States"]["Summarize"]["Type"] = "Taks"


def run_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True,
                          text=True, timeout=120, check=False)


# ---------------------------------------------------------------- statelint


# statelint 3 predates ItemReader's ReaderConfig.InputType, which the Step Functions
# Developer Guide ("ItemReader (Map)") documents for reading a JSON array from S3 (and
# cfn-lint's E3601 accepts): that one finding is outdated, every other one counts.
STATELINT_OUTDATED = re.compile(r'Field "InputType" not allowed in .*\.ItemReader\.ReaderConfig$')


def test_statelint_accepts_the_asl():
    linted = run_tool("statelint", "--ignore=URI", ASL_PATH)

    findings = [line for line in (linted.stdout + linted.stderr).splitlines()
                if line.strip() and not re.search(r"^\d+ errors?:$", line.strip())]
    assert [f for f in findings if not STATELINT_OUTDATED.search(f.strip())] == []


def test_statelint_rejects_a_next_to_a_missing_state(tmp_path):
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken(summarize_goes_nowhere)))

    linted = run_tool("statelint", "--ignore=URI", path)

    assert linted.returncode != 0
    assert "Summarise" in linted.stdout + linted.stderr


# ---------------------------------------------------------------- cfn-lint (rule E3601)


def cfn_lint_definition(definition: dict, tmp_path: Path,
                        placeholders: list[str] = PLACEHOLDERS) -> subprocess.CompletedProcess:
    """cfn-lint does not read a Serverless StateMachine's DefinitionUri: wrap the ASL in
    a throwaway AWS::StepFunctions::StateMachine, one String parameter per ${Name}."""
    wrapper = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {name: {"Type": "String"} for name in placeholders},
        "Resources": {"StateMachine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/sfn"},
            "Definition": definition,
            "DefinitionSubstitutions": {name: {"Ref": name} for name in placeholders}}}},
    }
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps(wrapper, indent=1))
    return run_tool("cfn-lint", path)


def test_cfn_lint_accepts_the_asl(tmp_path):
    linted = cfn_lint_definition(ASL, tmp_path)

    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_cfn_lint_rejects_a_bad_state_type(tmp_path):
    linted = cfn_lint_definition(broken(summarize_has_a_bad_type), tmp_path)

    assert linted.returncode != 0
    assert "E3601" in linted.stdout and "Taks" in linted.stdout


# ---------------------------------------------------------------- substitutions and handlers


def test_every_placeholder_has_a_substitution_and_every_substitution_is_used():
    assert PLACEHOLDERS == sorted(TEMPLATE.substitutions)


FUNCTION_PLACEHOLDERS = [p for p in PLACEHOLDERS if p.endswith("FunctionArn")]


@pytest.mark.parametrize("key", FUNCTION_PLACEHOLDERS)
def test_substitution_is_the_arn_of_a_function_named_by_it(key):
    logical_id = key.removesuffix("Arn")
    assert logical_id in FUNCTIONS
    assert TEMPLATE.substitutions[key] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_the_only_other_substitution_is_the_run_bucket_the_maps_read_and_write():
    others = {k: v for k, v in TEMPLATE.substitutions.items() if k not in FUNCTION_PLACEHOLDERS}

    assert others == {"RunBucketName": {"Ref": "RunBucket"}}


def test_every_function_is_a_state_of_one_of_the_machines():
    # the sync machine's here, the drill machine's in test_drill_machine.py
    drill_functions = TEMPLATE.machines["DrillStateMachine"].function_ids()
    assert sorted(f"{logical_id}Arn" for logical_id in set(FUNCTIONS) - drill_functions
                  ) == FUNCTION_PLACEHOLDERS


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_handler_imports_and_is_callable(logical_id):
    module_name, _, attribute = FUNCTIONS[logical_id]["Properties"]["Handler"].rpartition(".")

    handler = getattr(importlib.import_module(module_name), attribute)

    assert callable(handler)


def test_function_globals():
    function = TEMPLATE.raw["Globals"]["Function"]

    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert function["CodeUri"] == "functions/"


# ---------------------------------------------------------------- ASL shape


def distributed_maps() -> dict[str, dict]:
    """The Maps in the Sync Jobs branches, by name."""
    return {name: state for branch in ASL["States"]["Sync Jobs"]["Branches"]
            for name, state in branch["States"].items() if state["Type"] == "Map"}


def map_states() -> dict:
    return distributed_maps()["Sync Jobs Without Waiting"]["ItemProcessor"]["States"]


def test_both_maps_run_the_same_job_states_in_their_own_child_executions():
    # One job, one child execution; Express where the job does not wait (cheap, at most
    # 5 minutes), Standard where it does (it may wait hours). The states are the same.
    maps = distributed_maps()
    processors = {name: {**m["ItemProcessor"]} for name, m in maps.items()}
    configs = {name: p.pop("ProcessorConfig") for name, p in processors.items()}

    assert configs == {
        "Sync Jobs Without Waiting": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
        "Sync Jobs That Wait": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}}
    # the same states, but for their retries (an Express child has 5 minutes)
    without_retries = {name: {**p, "States": {state: {k: v for k, v in body.items()
                                                      if k != "Retry"}
                                              for state, body in p["States"].items()}}
                       for name, p in processors.items()}
    assert without_retries["Sync Jobs Without Waiting"] == without_retries["Sync Jobs That Wait"]
    for m in maps.values():
        # every child's failure is in the results, never a failed Map
        assert m["ToleratedFailurePercentage"] == 100
        assert m["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert m["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"


EXPRESS_LIMIT_SECONDS = 300  # Step Functions ends an Express execution after 5 minutes


def worst_case_seconds(task: dict) -> float:
    """A Task's longest time: every attempt its retriers allow, each running to the
    state's TimeoutSeconds, and each retry's longest delay (ASL defaults: 3 attempts,
    1 s interval, backoff 2.0; a full jitter only shortens a delay)."""
    attempts, delays = 1, 0.0
    for retrier in task.get("Retry", []):
        count = retrier.get("MaxAttempts", 3)
        interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
        cap = retrier.get("MaxDelaySeconds", float("inf"))
        attempts += count
        delays += sum(min(interval * rate ** n, cap) for n in range(count))
    return attempts * task["TimeoutSeconds"] + delays


def successors(state: dict) -> list[str]:
    nexts = [state.get("Next"), state.get("Default"),
             *(c["Next"] for c in state.get("Catch", ())),
             *(c["Next"] for c in state.get("Choices", ()))]
    return [name for name in nexts if name]


def test_an_express_child_ends_inside_its_5_minutes_at_its_worst():
    # Only jobs that wait run as Express children; Wait states are entered only by jobs
    # that wait (wait.enabled, or retry_copy, which start_copy sets only with it), and
    # those run as Standard children: every other path is summed at its longest.
    processor = distributed_maps()["Sync Jobs Without Waiting"]["ItemProcessor"]
    states = processor["States"]

    def longest(name: str, seen: tuple[str, ...] = ()) -> float:
        assert name not in seen, f"a loop without a Wait state: {seen + (name,)}"
        state = states[name]
        own = worst_case_seconds(state) if state["Type"] == "Task" else 0.0
        after = [longest(n, (*seen, name)) for n in successors(state)
                 if states[n]["Type"] != "Wait"]
        return own + max(after, default=0.0)

    worst = longest(processor["StartAt"])
    assert worst <= EXPRESS_LIMIT_SECONDS, f"worst case {worst:.0f} s"


def test_the_worst_case_sum_counts_retries_and_their_delays():
    task = {"TimeoutSeconds": 25, "Retry": [
        {"ErrorEquals": ["A"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0,
         "MaxDelaySeconds": 5},
        {"ErrorEquals": ["B"]}]}

    # 1 + 3 + 3 attempts of 25 s; delays 2 + 4 + 5 (capped) and 1 + 2 + 4
    assert worst_case_seconds(task) == 7 * 25 + 11 + 7


def all_tasks() -> dict:
    states = {**ASL["States"], **map_states()}
    return {name: state for name, state in states.items() if state["Type"] == "Task"}


LAMBDA_SERVICE_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException",
                         "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}


@pytest.mark.parametrize("name", sorted(all_tasks()))
def test_task_has_timeout_retry_and_catch(name):
    task = all_tasks()[name]
    retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}

    assert 0 < task["TimeoutSeconds"] <= 900
    assert LAMBDA_SERVICE_ERRORS <= retried
    # bugs and domain errors are never retried: only named transient errors
    assert not retried & {"States.ALL", "States.TaskFailed"}
    catches = {(tuple(c["ErrorEquals"]), c["Next"]) for c in task.get("Catch", [])}
    if name in ("Record Failure", "Summarize"):
        assert not catches  # nothing left to record the failure
    elif name == "Load Config":
        assert catches == {(("States.ALL",), "Config Not Loaded")}
    else:
        assert catches == {(("States.ALL",), "Record Failure")}


# ---------------------------------------------------------------- IAM statements


def all_statements() -> list[tuple[str, dict]]:
    return deployed_statements()


def strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


def test_no_arn_is_hard_coded_to_one_partition():
    arns = [s for s in strings(TEMPLATE.raw) if "arn:" in s]

    assert arns, "the template names no ARN at all?"
    assert not [s for s in arns if "arn:aws:" in s or "arn:aws-" in s]
    assert all("arn:${AWS::Partition}:" in s for s in arns)
    assert "arn:aws:" not in TEMPLATE_PATH.read_text(encoding="utf-8")


def test_no_action_is_a_service_wide_wildcard():
    granted = [(owner, action) for owner, statement in all_statements()
               for action in actions(statement)]

    assert granted
    assert [(o, a) for o, a in granted if a == "*" or a.endswith(":*")] == []


def test_deletes_only_apply_to_resources_carrying_the_tracking_tag():
    deleting = [(owner, statement) for owner, statement in all_statements()
                if DELETE_ACTIONS & set(actions(statement))]

    assert {a for _, s in deleting for a in actions(s)} >= DELETE_ACTIONS
    for owner, statement in deleting:
        conditions = statement.get("Condition", {})
        keys = {key for operator in conditions.values() for key in operator}
        assert TRACKING_TAG_CONDITION_KEY in keys, (owner, statement)
        assert conditions.get("Null", {}).get(TRACKING_TAG_CONDITION_KEY) == "false" or (
            conditions.get("StringEquals", {}).get(TRACKING_TAG_CONDITION_KEY)), statement


# ---------------------------------------------------------------- template rules


def test_the_failure_topic_key_is_one_cloudwatch_alarms_may_use():
    # CloudWatch alarms cannot publish to a topic under an AWS managed key (alias/aws/*):
    # its key policy cannot grant cloudwatch.amazonaws.com.
    key_ref = RESOURCES["FailureTopic"]["Properties"]["KmsMasterKeyId"]
    assert key_ref == {"Ref": "FailureTopicKey"}
    key = RESOURCES["FailureTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [s for s in key["KeyPolicy"]["Statement"]
                  if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert not str(RESOURCES["FailureTopic"]["Properties"]).count("alias/aws/")


def test_an_alarm_may_publish_to_the_encrypted_topic_and_only_the_stacks_alarms():
    # GIVEN the key and topic policies as deployed, and the requests an alarm's publish
    # makes: KMS requests by cloudwatch.amazonaws.com without aws:SourceArn or
    # aws:SourceAccount (AWS documents those keys for the topic policy only), and
    # sns:Publish with them
    from xregion_sync_emulator.deployed_policies import resource_policy
    from xregion_sync_emulator.iam_evaluator import Check, shared_evaluator

    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    topic_arn = "arn:aws:sns:us-east-1:123456789012:FailureTopic"
    key_policy = json.dumps(resource_policy("FailureTopicKey", "KeyPolicy"))
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:xregion-sync-local-failed-executions"
    other = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-elses"
    evaluator = shared_evaluator()
    evaluator.define("cloudwatch-service", [])

    def allowed(action: str, resource: str, context: dict, policy: str) -> bool:
        (decision,) = evaluator.check("cloudwatch-service", "cloudwatch.amazonaws.com",
                                      "123456789012",
                                      [Check(action, resource, context, policy)])
        return decision.allowed

    source = {"aws:SourceAccount": "123456789012"}
    # THEN the KMS requests are allowed, and the topic takes the stack's alarms only
    assert allowed("kms:GenerateDataKey", key_arn, {}, key_policy)
    assert allowed("kms:Decrypt", key_arn, {}, key_policy)
    topic_policy = json.dumps(resource_policy("FailureTopicPolicy", "PolicyDocument"))
    assert allowed("sns:Publish", topic_arn, {**source, "aws:SourceArn": alarm}, topic_policy)
    assert not allowed("sns:Publish", topic_arn, {**source, "aws:SourceArn": other},
                       topic_policy)


def test_each_lambda_times_out_before_its_task_state_does():
    definition = json.loads(TEMPLATE.definition_path.read_text(encoding="utf-8"))
    global_timeout = TEMPLATE.raw["Globals"]["Function"]["Timeout"]

    def tasks(states):
        for state in states.values():
            if state["Type"] == "Task":
                yield state
            if state["Type"] == "Map":
                yield from tasks(state["ItemProcessor"]["States"])
            if state["Type"] == "Parallel":
                for branch in state["Branches"]:
                    yield from tasks(branch["States"])

    checked = set()
    for state in tasks(definition["States"]):
        function = state["Resource"].strip("${}").removesuffix("Arn")
        timeout = FUNCTIONS[function]["Properties"].get("Timeout", global_timeout)
        assert timeout == state["TimeoutSeconds"] - 5, function
        checked.add(function)
    assert checked == TEMPLATE.machines["SyncStateMachine"].function_ids()


def test_shared_grants_are_written_once():
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    # once granted; besides, each trust policy (AssumeRolePolicyDocument) names it
    assert text.count("sts:AssumeRole") == 1 + text.count("AssumeRolePolicyDocument:")
    assert text.count("secretsmanager:GetSecretValue") == 1
    assert text.count("ec2:DescribeImages") == 1
    assert RESOURCES["JobCredentialsPolicy"]["Condition"] == "HasJobCredentials"
    # the 6 sync tasks and the 7 drill tasks that call AWS for a job
    assert len(RESOURCES["JobCredentialsPolicy"]["Properties"]["Roles"]) == 13
