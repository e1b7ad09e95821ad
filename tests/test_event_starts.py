"""Starting a run for some jobs only: {"jobs": [...]} in the execution input (and
xregion_sync.run(config, jobs=...)), and {"event": ...}, which the stack's EventBridge
rules send when an automated DB or DB cluster snapshot is created or an AMI becomes
available. The
sample events in events/ go through each rule's EventPattern (moto's EventBridge
matcher) and InputTransformer as written in template.yaml, into the local state machine."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml
from conftest import load_event
from scenarios import (
    AMI_JOB,
    CLUSTER,
    CLUSTER_JOB,
    DB_JOB,
    DESTINATION,
    SOURCE,
    ami_job,
    cluster_job,
    db_job,
    destination_cluster_snapshot_ids,
    destination_image_ids,
    destination_snapshot_ids,
    source_ami,
    source_cluster,
    source_db,
)

import xregion_sync
from xregion_sync.errors import ConfigError
from xregion_sync.execution import select_for_event
from xregion_sync_emulator import execute_state_machine
from xregion_sync_emulator.moto_seam import EventPattern, EventPatternParser
from xregion_sync_emulator.template import PROJECT_ROOT, _CfnLoader, read_template

OTHER_REGION_AMI_JOB = "sync_eu_web_app"
OTHER_DB_JOB = "sync_billing_db"
OTHER_CLUSTER_JOB = "sync_billing_cluster"
# The jobs each event could concern, and those it does not: another DB or cluster, another
# region. A cluster named like the DB instance: an event names which of the two it is.
CONFIG = {
    **ami_job(),
    **db_job(),
    OTHER_DB_JOB: {**db_job()[DB_JOB], "db_instance": "billing-db"},
    OTHER_REGION_AMI_JOB: {**ami_job()[AMI_JOB], "source_region": "eu-west-1"},
    **cluster_job(),
    **cluster_job(OTHER_CLUSTER_JOB, "billing-cluster"),
    **cluster_job("sync_cluster_named_like_the_db", "orders-db"),
}
RULES = {"eventbridge-rds-snapshot-created": "RdsSnapshotCreatedRule",
         "eventbridge-rds-cluster-snapshot-created": "RdsClusterSnapshotCreatedRule",
         "eventbridge-ec2-ami-available": "AmiAvailableRule"}
FORWARD_RULES = {"RdsSnapshotCreatedRule": "RdsSnapshotCreatedForwardRule",
                 "RdsClusterSnapshotCreatedRule": "RdsClusterSnapshotCreatedForwardRule",
                 "AmiAvailableRule": "AmiAvailableForwardRule"}


@pytest.fixture
def world(emulated):
    image_id = source_ami()
    source_db()
    source_cluster()
    return image_id


def names(execution) -> list[str]:
    return [result.name for result in execution.results()]


# ---------------------------------------------------------------- EventBridge, as deployed


# The stack as a user with CONFIG deploys it: the AMI rule matches its ec2_ami jobs'
# source regions (not DESTINATION, where the stack's own copies land).
PARAMETERS = {"AmiSourceRegions": [SOURCE, "eu-west-1"]}


def with_parameters(node):
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in PARAMETERS:
            return PARAMETERS[node["Ref"]]
        return {key: with_parameters(value) for key, value in node.items()}
    if isinstance(node, list):
        return [with_parameters(value) for value in node]
    return node


def rule(logical_id: str, template: dict | None = None) -> dict:
    template = template or read_template().raw
    return with_parameters(template["Resources"][logical_id]["Properties"])


def matches(pattern: dict, event: dict) -> bool:
    """moto's EventBridge pattern matcher (the subset AWS documents for these rules)."""
    return EventPattern(None, EventPatternParser(json.dumps(pattern)).parse()).matches_event(
        event)


def _path(event: dict, path: str):
    value = event
    for key in path.removeprefix("$.").split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def transform(transformer: dict, event: dict):
    """EventBridge's InputTransformer: each <name> of InputTemplate becomes the JSON value
    at its InputPathsMap path (inside a quoted string, the value's text)."""
    values = {name: _path(event, path) for name, path in transformer["InputPathsMap"].items()}
    text = transformer["InputTemplate"]
    text = re.sub(r'"<(\w+)>"', lambda m: json.dumps(str(values[m[1]])), text)
    text = re.sub(r"<(\w+)>", lambda m: json.dumps(values[m[1]]), text)
    return json.loads(text)


def deliver(event: dict):
    """The event through every rule of template.yaml that targets the state machine: the
    execution each matching rule starts, or None when no rule matches."""
    started = None
    for resource in read_template().raw["Resources"].values():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        properties = with_parameters(resource["Properties"])
        if "EventPattern" not in properties or not matches(properties["EventPattern"], event):
            continue
        (target,) = properties["Targets"]
        assert target["Arn"] == {"Ref": "SyncStateMachine"}
        assert started is None, f"two rules start an execution for {event['detail-type']}"
        started = execute_state_machine(transform(target["InputTransformer"], event))
    return started


def ami_event(image_id: str, region: str = SOURCE) -> dict:
    event = load_event("eventbridge-ec2-ami-available")
    event["detail"]["ImageId"] = image_id
    event["resources"] = [f"arn:aws:ec2:{region}::image/{image_id}"]
    event["region"] = region
    return event


def rds_event(snapshot_id: str = "rds:orders-db-2026-11-26-06-10",
              event_id: str = "RDS-EVENT-0091") -> dict:
    event = load_event("eventbridge-rds-snapshot-created")
    arn = f"arn:aws:rds:{event['region']}:{event['account']}:snapshot:{snapshot_id}"
    event["detail"].update(SourceIdentifier=snapshot_id, SourceArn=arn, EventID=event_id)
    event["resources"] = [arn]
    return event


def cluster_event(snapshot_id: str = f"rds:{CLUSTER}-2026-11-26-06-10",
                  event_id: str = "RDS-EVENT-0169") -> dict:
    event = load_event("eventbridge-rds-cluster-snapshot-created")
    arn = f"arn:aws:rds:{event['region']}:{event['account']}:cluster-snapshot:{snapshot_id}"
    event["detail"].update(SourceIdentifier=snapshot_id, SourceArn=arn, EventID=event_id)
    event["resources"] = [arn]
    return event


def store_stack_config(config: dict) -> None:
    import boto3

    boto3.client("ssm", region_name=SOURCE).put_parameter(
        Name=read_template().resolve({"Ref": "ConfigParameter"}), Value=yaml.safe_dump(config),
        Type="String", Overwrite=True)


@pytest.mark.parametrize("name", sorted(RULES))
def test_the_sample_event_matches_its_rule_only(name):
    event = load_event(name)
    for sample, logical_id in RULES.items():
        assert matches(rule(logical_id)["EventPattern"], event) is (sample == name)


def test_the_rds_transformer_gives_the_snapshot_and_its_region():
    event = load_event("eventbridge-rds-snapshot-created")

    (target,) = rule("RdsSnapshotCreatedRule")["Targets"]

    assert transform(target["InputTransformer"], event) == {"event": {
        "source": "aws.rds", "region": "us-east-1",
        "resource": "arn:aws:rds:us-east-1:123456789012:snapshot:rds:orders-db-2026-11-26-06-10",
        "snapshot_id": "rds:orders-db-2026-11-26-06-10"}}


def test_the_rds_cluster_transformer_gives_the_cluster_snapshot_and_its_region():
    event = load_event("eventbridge-rds-cluster-snapshot-created")

    (target,) = rule("RdsClusterSnapshotCreatedRule")["Targets"]

    assert transform(target["InputTransformer"], event) == {"event": {
        "source": "aws.rds", "region": "us-east-1",
        "resource": "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:"
                    "rds:orders-cluster-2026-11-26-06-10",
        "snapshot_id": "rds:orders-cluster-2026-11-26-06-10"}}


@pytest.mark.parametrize(("source_identifier", "arn_id"), [
    pytest.param("rds:orders-db-2026-11-26-06-10", "rds:orders-db-2026-11-26-06-10",
                 id="identifier-with-rds-prefix"),
    pytest.param("orders-db-2026-11-26-06-10", "rds:orders-db-2026-11-26-06-10",
                 id="identifier-without-prefix"),
    pytest.param("rds:rds:orders-db-2026-11-26-06-10", "rds:orders-db-2026-11-26-06-10",
                 id="identifier-with-prefix-twice"),
    pytest.param("rds:orders-db", "rds:orders-db-2026-11-26-06-10",
                 id="identifier-names-the-db-instance"),
])
def test_an_rds_event_selects_the_db_job_whatever_shape_its_source_identifier_has(
        source_identifier, arn_id):
    # GIVEN RDS-EVENT-0091 as RDS's own examples show it: SourceIdentifier with or without
    # the rds: prefix; the ARN names the snapshot
    event = rds_event(arn_id)
    event["detail"]["SourceIdentifier"] = source_identifier
    (target,) = rule("RdsSnapshotCreatedRule")["Targets"]
    delivered = transform(target["InputTransformer"], event)["event"]
    entries = xregion_sync.load_config(CONFIG).entries

    selected = [entry.name for _, entry in select_for_event(entries, delivered)]

    assert selected == [DB_JOB]


@pytest.mark.parametrize("snapshot_id", ["rds:orders-db-2026-11-26-06-10",
                                         "orders-db-2026-11-26-06-10"])
def test_an_rds_event_without_an_arn_reads_the_source_identifier(snapshot_id):
    delivered = {"source": "aws.rds", "region": SOURCE, "resource": None,
                 "snapshot_id": snapshot_id}
    entries = xregion_sync.load_config(CONFIG).entries

    selected = [entry.name for _, entry in select_for_event(entries, delivered)]

    assert selected == [DB_JOB]


def test_the_ec2_transformer_gives_the_image_and_its_region():
    (target,) = rule("AmiAvailableRule")["Targets"]

    assert transform(target["InputTransformer"], load_event("eventbridge-ec2-ami-available")) == {
        "event": {"source": "aws.ec2", "region": "us-east-1",
                  "resource": "ami-0abcdef1234567890", "image_id": "ami-0abcdef1234567890"}}


def test_the_forwarder_forwards_exactly_what_the_stack_rules_match():
    forwarder = yaml.load((PROJECT_ROOT / "forwarder" / "template.yaml").read_text(),
                          Loader=_CfnLoader)  # noqa: S506
    for stack_rule, forward_rule in FORWARD_RULES.items():
        # (the forwarder is deployed in a source region: its events are that region's)
        stack_pattern = {key: value for key, value in rule(stack_rule)["EventPattern"].items()
                         if key != "region"}
        assert rule(forward_rule, forwarder)["EventPattern"] == stack_pattern
        (target,) = rule(forward_rule, forwarder)["Targets"]
        assert target["Arn"] == {"Ref": "TargetEventBusArn"}


@pytest.mark.statemachine
def test_a_new_automated_snapshot_runs_only_the_jobs_of_its_db_instance(world):
    store_stack_config(CONFIG)

    execution = deliver(load_event("eventbridge-rds-snapshot-created"))

    assert execution.status == "SUCCEEDED", execution.cause
    assert names(execution) == [DB_JOB]
    assert execution.output["summary"]["copied"] == 1
    assert destination_image_ids() == []  # the AMI job did not run
    assert len(destination_snapshot_ids()) == 1
    assert destination_cluster_snapshot_ids() == []  # nor the cluster jobs


@pytest.mark.statemachine
def test_a_new_automated_cluster_snapshot_runs_only_the_jobs_of_its_cluster(world):
    store_stack_config(CONFIG)

    execution = deliver(load_event("eventbridge-rds-cluster-snapshot-created"))

    assert execution.status == "SUCCEEDED", execution.cause
    assert names(execution) == [CLUSTER_JOB]
    assert [r.status for r in execution.results()] == ["copied"]
    assert destination_image_ids() == [] and destination_snapshot_ids() == []
    assert len(destination_cluster_snapshot_ids()) == 1


@pytest.mark.statemachine
def test_a_new_available_ami_runs_only_the_ami_jobs_of_its_region(world):
    store_stack_config(CONFIG)

    execution = deliver(ami_event(world))

    assert execution.status == "SUCCEEDED", execution.cause
    assert names(execution) == [AMI_JOB]
    assert [r.status for r in execution.results()] == ["copied"]
    assert destination_snapshot_ids() == []  # the DB jobs did not run


@pytest.mark.statemachine
def test_an_event_with_the_config_inline_selects_from_it(world):
    (target,) = rule("RdsSnapshotCreatedRule")["Targets"]
    execution_input = {**transform(target["InputTransformer"], rds_event()), "config": CONFIG}

    execution = execute_state_machine(execution_input)

    assert execution.status == "SUCCEEDED", execution.cause
    assert names(execution) == [DB_JOB]


@pytest.mark.statemachine
@pytest.mark.parametrize("event", [
    pytest.param(lambda image: rds_event("rds:reports-db-2026-11-26-06-10"), id="other-db"),
    pytest.param(lambda image: rds_event("orders-db-before-upgrade"), id="manual-snapshot-id"),
    pytest.param(lambda image: cluster_event("rds:reports-2026-11-26-06-10"), id="other-cluster"),
])
def test_an_event_no_job_covers_runs_nothing_and_succeeds(world, event):
    store_stack_config(CONFIG)

    execution = deliver(event(world))

    assert execution.status == "SUCCEEDED", execution.cause
    assert names(execution) == []
    assert execution.output["summary"]["total"] == 0
    assert destination_image_ids() == [] and destination_snapshot_ids() == []
    assert destination_cluster_snapshot_ids() == []


@pytest.mark.parametrize("event", [
    pytest.param(lambda image: rds_event(event_id="RDS-EVENT-0042"), id="manual-snapshot"),
    pytest.param(lambda image: cluster_event(event_id="RDS-EVENT-0075"),
                 id="manual-cluster-snapshot"),
    pytest.param(lambda image: cluster_event(event_id="RDS-EVENT-0168"),
                 id="cluster-snapshot-being-taken"),
    pytest.param(lambda image: {**ami_event(image), "detail": {"ImageId": image,
                                                               "State": "failed"}},
                 id="ami-failed"),
    pytest.param(lambda image: {**ami_event(image), "detail-type": "EC2 Instance State-change "
                                                                   "Notification"},
                 id="other-detail-type"),
    pytest.param(lambda image: ami_event(image, region="ap-south-1"), id="other-region-ami"),
])
def test_an_event_the_rules_do_not_match_starts_nothing(world, event):
    assert deliver(copy.deepcopy(event(world))) is None


@pytest.mark.statemachine  # (the old rule started one)
def test_the_stacks_own_dr_copy_becoming_available_starts_no_execution(world):
    # GIVEN the AMI job's DR copy, made by the stack in its destination region
    first = execute_state_machine({"config": CONFIG, "jobs": [AMI_JOB]})
    assert first.status == "SUCCEEDED", first.cause
    (copy_id,) = destination_image_ids()

    # WHEN EC2 reports it available (it does for every CopyImage), in the stack's region
    # or forwarded from there
    started = deliver(ami_event(copy_id, region=DESTINATION))

    assert started is None


# ---------------------------------------------------------------- {"jobs": [...]}


@pytest.mark.statemachine
def test_jobs_in_the_input_run_only_those_jobs(world):
    execution = execute_state_machine({"config": CONFIG, "jobs": [AMI_JOB]})

    assert execution.status == "SUCCEEDED", execution.cause
    assert names(execution) == [AMI_JOB]
    assert execution.output["summary"] == {
        "total": 1, "copied": 1, "in_sync": 0, "deferred": 0, "failed": 0}
    assert destination_snapshot_ids() == []


@pytest.mark.statemachine
def test_jobs_alone_select_from_the_stacks_config(world):
    store_stack_config(CONFIG)

    execution = execute_state_machine({"jobs": [DB_JOB]})

    assert execution.status == "SUCCEEDED", execution.cause
    assert names(execution) == [DB_JOB]
    assert destination_image_ids() == []


@pytest.mark.statemachine
@pytest.mark.parametrize(("jobs", "says"), [
    ([AMI_JOB, "sync_nope", "sync_gone"],
     "'jobs' names 2 job(s) the config does not define: sync_nope, sync_gone; its jobs are: "
     f"{AMI_JOB}, {DB_JOB}, {OTHER_DB_JOB}, {OTHER_REGION_AMI_JOB}, {CLUSTER_JOB}, "
     f"{OTHER_CLUSTER_JOB}, sync_cluster_named_like_the_db"),
    ([], "'jobs' must be a non-empty list of job names"),
    ("sync_web_app", "'jobs' must be a non-empty list of job names"),
], ids=["unknown", "empty", "not-a-list"])
def test_bad_jobs_fail_the_execution_at_load_config_and_run_nothing(world, jobs, says):
    execution = execute_state_machine({"config": CONFIG, "jobs": jobs})

    assert (execution.status, execution.error) == ("FAILED", "ConfigError")
    assert execution.states_entered()[-1] == "Config Not Loaded"
    assert says in json.loads(execution.cause)["errorMessage"]
    assert destination_image_ids() == [] and destination_snapshot_ids() == []


@pytest.mark.statemachine
def test_jobs_and_event_together_are_refused(world):
    execution = execute_state_machine({"config": CONFIG, "jobs": [AMI_JOB],
                                       "event": {"source": "aws.ec2", "region": SOURCE}})

    assert execution.states_entered()[-1] == "Config Not Loaded"
    assert "give 'jobs' or 'event', not both" in execution.cause


def test_run_in_process_with_jobs(world):
    results = xregion_sync.run(CONFIG, jobs=[DB_JOB])

    assert [r.name for r in results] == [DB_JOB]
    assert destination_image_ids() == []
    with pytest.raises(ConfigError, match="does not define: sync_nope"):
        xregion_sync.run(CONFIG, jobs=["sync_nope"])
