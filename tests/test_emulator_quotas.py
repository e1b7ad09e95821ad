"""Each AWS quota and visibility rule the emulator enforces (its quotas.py,
stepfunctions_quotas.py, fidelity.py and cross_account.py), pinned to the AWS
documentation and shown to bite. The quotas are lowered so no test builds a huge input.

These call the emulated APIs directly, with small state machines of their own; what the
product's state machine does under the quotas is in test_state_machine.py.
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import DESTINATION, SOURCE

from xregion_sync.tags import tag_dict
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID, AwsQuotas, emulated_aws, pass_time
from xregion_sync_emulator.seed import (
    account_session,
    create_ami,
    create_db_cluster,
    create_db_instance,
    create_shared_ami,
)
from xregion_sync_emulator.stepfunctions import REGION, deploy
from xregion_sync_emulator.stepfunctions_quotas import history_limit_cause

OTHER_ACCOUNT = "210987654321"  # another team's account that shares its AMIs with ours
PASS_STATES = 5  # ExecutionStarted + 2 per Pass state + ExecutionSucceeded = 12 events
EVENTS_OF_PASS_CHAIN = 2 + 2 * PASS_STATES


@pytest.fixture
def quotas(request):
    """Emulated AWS with the quotas lowered by the test's `@pytest.mark.quotas(...)` (any
    AwsQuotas field, and copy_seconds)."""
    marker = request.node.get_closest_marker("quotas")
    settings = dict(marker.kwargs) if marker else {}
    copy_seconds = settings.pop("copy_seconds", 0.0)
    with emulated_aws(copy_seconds=copy_seconds, quotas=AwsQuotas(**settings)):
        yield


def run(definition: dict, execution_input: dict | None = None) -> tuple[dict, list[dict]]:
    """Create a state machine and run one execution to its end: (description, history)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name=f"quota-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{EMULATOR_ACCOUNT_ID}:role/quota-test")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex,
                                    input=json.dumps(execution_input or {}))["executionArn"]
    deadline = time.monotonic() + 60
    while (description := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not end"
        time.sleep(0.02)
    events = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution):
        events += page["events"]
    return description, events


def pass_chain(count: int) -> dict:
    names = [f"Step {n}" for n in range(count)]
    states = {name: {"Type": "Pass", "Next": following}
              for name, following in zip(names, names[1:], strict=False)}
    states[names[-1]] = {"Type": "Pass", "End": True}
    return {"StartAt": names[0], "States": states}


def map_of_pass_chains(mode: str) -> dict:
    processor = {"ProcessorConfig": {"Mode": mode}, **pass_chain(PASS_STATES)}
    if mode == "DISTRIBUTED":
        processor["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    return {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor, "End": True}}}


def error_of(refused) -> tuple[str, str]:
    error = refused.value.response["Error"]
    return error["Code"], error["Message"]


# ---------------------------------------------------------------- Step Functions: history


@pytest.mark.statemachine
@pytest.mark.quotas(history_events=EVENTS_OF_PASS_CHAIN - 1)
def test_an_execution_fails_when_its_history_reaches_the_quota(quotas):
    """Step Functions Developer Guide, "Step Functions service quotas": "Maximum execution
    history size: 25,000 events. If the execution history reaches this quota, the execution
    fails." "Avoid reaching the history quota": when event 25,000 is not ExecutionSucceeded,
    it is ExecutionFailed; AWS reports States.Runtime, "The execution reached the maximum
    number of history events (25000).", and records nothing after it."""
    limit = EVENTS_OF_PASS_CHAIN - 1

    description, events = run(pass_chain(PASS_STATES))

    assert (description["status"], description["error"]) == ("FAILED", "States.Runtime")
    assert description["cause"] == history_limit_cause(limit)
    assert len(events) == limit
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["executionFailedEventDetails"]["cause"] == history_limit_cause(limit)


@pytest.mark.statemachine
@pytest.mark.quotas(history_events=EVENTS_OF_PASS_CHAIN)
def test_an_execution_whose_last_allowed_event_is_its_success_succeeds(quotas):
    """Same page: "If the event number 25,000 is ExecutionSucceeded, the execution finishes
    successfully." """
    description, events = run(pass_chain(PASS_STATES))

    assert description["status"] == "SUCCEEDED"
    assert (len(events), events[-1]["type"]) == (EVENTS_OF_PASS_CHAIN, "ExecutionSucceeded")


@pytest.mark.statemachine
@pytest.mark.quotas(history_events=4 * EVENTS_OF_PASS_CHAIN)
def test_an_inline_map_shares_its_executions_history_a_distributed_map_child_has_its_own(
        quotas):
    """"Avoid reaching the history quota": use the Map state in Distributed mode: "Each child
    workflow execution has its own, separate execution history from that of the parent
    workflow." An inline Map's iterations are events of the one execution."""
    items = {"items": list(range(10))}  # 10 x 12 events: over the quota in one history

    inline, _ = run(map_of_pass_chains("INLINE"), items)
    distributed, _ = run(map_of_pass_chains("DISTRIBUTED"), items)

    assert (inline["status"], inline["error"]) == ("FAILED", "States.Runtime")
    assert distributed["status"] == "SUCCEEDED"


# ---------------------------------------------------------------- Step Functions: payloads


def output_of(size: int) -> dict:
    """A Pass state whose output is a JSON string of exactly `size` bytes."""
    return {"StartAt": "Big", "States": {"Big": {"Type": "Pass", "Result": "x" * (size - 2),
                                                 "End": True}}}


@pytest.mark.statemachine
@pytest.mark.quotas(payload_bytes=1_000)
def test_a_state_output_over_the_payload_quota_fails_with_data_limit_exceeded(quotas):
    """Step Functions service quotas: "Maximum input or output size for a task, state, or
    execution: 262,144 bytes of data as a UTF-8 encoded string." Error handling:
    States.DataLimitExceeded is reported when "the state output is larger than the payload
    size quota". Up to the quota is allowed (moto refused exactly 262,144)."""
    at_quota, _ = run(output_of(1_000))
    over_quota, _ = run(output_of(1_001))

    assert at_quota["status"] == "SUCCEEDED"
    assert (over_quota["status"], over_quota["error"]) == ("FAILED", "States.DataLimitExceeded")


def answer_of_the_requested_size(event, context):
    """A Lambda handler (dispatched in-process by the emulator) answering `size` bytes."""
    return "x" * (event["size"] - 2)


def lambda_answering(size: int) -> str:
    from xregion_sync_emulator.stepfunctions import ROLE_NAME, _placeholder_zip

    deploy()  # its role is one Lambda can assume
    return boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=f"answer-{uuid.uuid4().hex[:8]}", Runtime="python3.13",
        Role=f"arn:aws:iam::{EMULATOR_ACCOUNT_ID}:role/{ROLE_NAME}",
        Handler=f"{__name__}.answer_of_the_requested_size", Code={"ZipFile": _placeholder_zip()},
    )["FunctionArn"]


@pytest.mark.statemachine
@pytest.mark.quotas(payload_bytes=1_000)
def test_states_all_does_not_catch_data_limit_exceeded(quotas):
    """Step Functions Developer Guide, "Error handling", States.ALL: "cannot catch the
    States.DataLimitExceeded terminal error or Runtime error types"; States.DataLimitExceeded:
    "a terminal error that can't be caught by the States.ALL error type" (reported when
    "a connector outputs a result larger than the payload size quota"). """
    definition = {"StartAt": "Guarded", "States": {
        "Guarded": {"Type": "Task", "Resource": lambda_answering(1_001),
                    "Parameters": {"size": 1_001},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Succeed"}}}

    description, events = run(definition)

    assert (description["status"], description["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "Caught" not in {e.get("stateEnteredEventDetails", {}).get("name") for e in events}


@pytest.mark.quotas(payload_bytes=1_000)
def test_an_execution_input_over_the_payload_quota_is_refused_at_start(quotas):
    """Step Functions API Reference, StartExecution, input: "Length constraints apply to the
    payload size, and are expressed as bytes in UTF-8 encoding. Maximum length of 262144."
    A request over a length constraint is a ValidationException; no execution starts."""
    with pytest.raises(ClientError) as refused:
        run(pass_chain(1), {"padding": "é" * 500})  # 1,000 characters, 1,015 bytes

    code, message = error_of(refused)
    assert code == "ValidationException"
    assert "Member must have length less than or equal to 1000" in message


@pytest.mark.statemachine
@pytest.mark.quotas(failure_error_characters=8, failure_cause_characters=20)
def test_a_failure_error_and_cause_are_cut_to_their_documented_lengths(quotas):
    """Step Functions API Reference, ExecutionFailedEventDetails: error "Maximum length of
    256", cause "Maximum length of 32768": DescribeExecution and the history never show
    more. (AWS documents the lengths, not whether a longer Fail cause is cut or refused;
    the emulator cuts, which is what the field lengths allow.)"""
    definition = {"StartAt": "Stop", "States": {"Stop": {
        "Type": "Fail", "Error": "AVeryLongErrorName", "Cause": "c" * 50}}}

    description, events = run(definition)

    assert (description["error"], description["cause"]) == ("AVeryLon", "c" * 20)
    assert events[-1]["executionFailedEventDetails"] == {"error": "AVeryLon", "cause": "c" * 20}


@pytest.mark.quotas(lambda_sync_payload_bytes=64)
def test_a_synchronous_lambda_invoke_is_limited_to_its_payload_quota(quotas):
    """Lambda Developer Guide, "Lambda quotas": invocation payload (request and response)
    6 MB each for synchronous invocations. A larger request is refused by Invoke
    (RequestEntityTooLargeException); a larger response is a function error."""
    deploy()
    lambda_client = boto3.client("lambda", region_name=REGION)

    with pytest.raises(ClientError) as refused:
        lambda_client.invoke(FunctionName="SummarizeFunction",
                             Payload=json.dumps({"results": ["x" * 64]}))
    answered = lambda_client.invoke(FunctionName="SummarizeFunction",
                                    Payload=json.dumps({"results": []}))

    assert error_of(refused)[0] == "RequestEntityTooLargeException"
    assert answered["FunctionError"] == "Unhandled"
    assert json.loads(answered["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"


# ---------------------------------------------------------------- copy quotas


def rds(region: str = DESTINATION):
    return boto3.client("rds", region_name=region)


def copy_db_snapshot(snapshot_id: str, target: str) -> dict:
    arn = f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:snapshot:{snapshot_id}"
    return rds().copy_db_snapshot(SourceDBSnapshotIdentifier=arn, SourceRegion=SOURCE,
                                  TargetDBSnapshotIdentifier=target)["DBSnapshot"]


def copy_db_cluster_snapshot(snapshot_id: str, target: str) -> dict:
    arn = f"arn:aws:rds:{SOURCE}:{EMULATOR_ACCOUNT_ID}:cluster-snapshot:{snapshot_id}"
    return rds().copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=arn,
                                          SourceRegion=SOURCE,
                                          TargetDBClusterSnapshotIdentifier=target)[
                                              "DBClusterSnapshot"]


def copy_image(source: str, name: str) -> str:
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    return ec2.copy_image(SourceRegion=SOURCE, SourceImageId=source, Name=name)["ImageId"]


COPYING_SECONDS = 600.0  # emulated time (pass_time): the copies below are still in progress


@pytest.mark.parametrize("copy, refusal", [
    # RDS User Guide, "Copying a DB snapshot", Limitations: "You can have up to 20 snapshot
    # copy requests in progress to a single destination Region per account."
    pytest.param(lambda: (create_db_instance(SOURCE, "orders-db"), copy_db_snapshot),
                 ("SnapshotQuotaExceeded", "Cannot copy more than 2 snapshots across regions"),
                 marks=pytest.mark.quotas(rds_copies_in_progress=2,
                                          copy_seconds=COPYING_SECONDS),
                 id="rds-copy-db-snapshot"),
    # Aurora User Guide, "DB cluster snapshot copying", Limitations: "You can have up to
    # five snapshot copy requests in progress to a single destination Region per account."
    pytest.param(lambda: (create_db_cluster(SOURCE, "orders"), copy_db_cluster_snapshot),
                 ("SnapshotQuotaExceeded", "Cannot copy more than 2 snapshots across regions"),
                 marks=pytest.mark.quotas(rds_cluster_copies_in_progress=2,
                                          copy_seconds=COPYING_SECONDS),
                 id="rds-copy-db-cluster-snapshot"),
    # EBS User Guide, "Copy an Amazon EBS snapshot": "There is a limit of 20 concurrent
    # snapshot copy requests per destination Region. If you exceed this quota, you receive a
    # ResourceLimitExceeded error." "How Amazon EC2 AMI copy works": each backing snapshot
    # of an AMI is copied, so a pending AMI copy holds one slot per backing snapshot.
    pytest.param(lambda: (create_ami(SOURCE, "web-app"), copy_image),
                 ("ResourceLimitExceeded", "Too many snapshot copies in progress. The limit "
                                           "is 2 for this destination region."),
                 marks=pytest.mark.quotas(ebs_copies_in_progress=2,
                                          copy_seconds=COPYING_SECONDS),
                 id="ec2-copy-image"),
])
def test_a_copy_beyond_the_copies_in_progress_quota_is_refused_until_one_finishes(
        quotas, copy, refusal):
    """A copy in progress is one still creating/pending; a finished copy frees its slot."""
    source, copy_of = copy()
    copy_of(source, "copy-1")
    copy_of(source, "copy-2")

    with pytest.raises(ClientError) as refused:
        copy_of(source, "copy-3")
    pass_time(COPYING_SECONDS)
    copy_of(source, "copy-3")  # after the first two finished

    assert error_of(refused) == refusal


@pytest.mark.quotas(rds_manual_snapshots=2)
def test_rds_refuses_a_copy_beyond_the_manual_snapshot_quota(quotas):
    """RDS User Guide, "Quotas in Amazon RDS": Manual DB instance snapshots, 100 per Region;
    "Copying a DB snapshot": "After you copy a snapshot, the copy is a manual snapshot."
    Automated snapshots do not count."""
    source = create_db_instance(SOURCE, "orders-db")
    create_db_instance(DESTINATION, "local-db")  # its automated snapshot does not count
    copy_db_snapshot(source, "copy-1")
    rds().create_db_snapshot(DBInstanceIdentifier="local-db", DBSnapshotIdentifier="manual-1")

    with pytest.raises(ClientError) as refused_copy:
        copy_db_snapshot(source, "copy-2")
    with pytest.raises(ClientError) as refused_snapshot:
        rds().create_db_snapshot(DBInstanceIdentifier="local-db",
                                 DBSnapshotIdentifier="manual-2")

    assert error_of(refused_copy) == ("SnapshotQuotaExceeded",
                                      "Cannot create more than 2 manual snapshots")
    assert error_of(refused_snapshot)[0] == "SnapshotQuotaExceeded"


def test_the_cluster_copy_quota_is_five_by_default():
    """The documented five, not the DB snapshot copies' 20; a copy within the region
    (not "to a ... destination Region") is not refused by it."""
    with emulated_aws(copy_seconds=60):
        source = create_db_cluster(SOURCE, "orders")
        for n in range(5):
            copy_db_cluster_snapshot(source, f"copy-{n}")
        with pytest.raises(ClientError) as refused:
            copy_db_cluster_snapshot(source, "copy-5")
        create_db_cluster(DESTINATION, "local")
        rds().copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=rds().describe_db_cluster_snapshots(
                DBClusterIdentifier="local")["DBClusterSnapshots"][0][
                    "DBClusterSnapshotIdentifier"],
            TargetDBClusterSnapshotIdentifier="local-copy")

    assert error_of(refused) == ("SnapshotQuotaExceeded",
                                 "Cannot copy more than 5 snapshots across regions")


@pytest.mark.quotas(rds_manual_cluster_snapshots=2)
def test_rds_refuses_a_copy_beyond_the_manual_cluster_snapshot_quota(quotas):
    """Aurora User Guide, "Quotas in Amazon Aurora": Manual DB cluster snapshots, 100 per
    Region; a copy is a manual snapshot, automated ones do not count. DB instance
    snapshots have their own quota. DescribeAccountAttributes reports both."""
    source = create_db_cluster(SOURCE, "orders")
    create_db_cluster(DESTINATION, "local")  # its automated snapshot does not count
    copy_db_cluster_snapshot(source, "copy-1")
    rds().create_db_cluster_snapshot(DBClusterIdentifier="local",
                                     DBClusterSnapshotIdentifier="manual-1")
    create_db_instance(DESTINATION, "local-db")
    rds().create_db_snapshot(DBInstanceIdentifier="local-db", DBSnapshotIdentifier="db-manual")

    with pytest.raises(ClientError) as refused_copy:
        copy_db_cluster_snapshot(source, "copy-2")
    with pytest.raises(ClientError) as refused_snapshot:
        rds().create_db_cluster_snapshot(DBClusterIdentifier="local",
                                         DBClusterSnapshotIdentifier="manual-2")

    assert error_of(refused_copy) == ("SnapshotQuotaExceeded",
                                      "Cannot create more than 2 manual snapshots")
    assert error_of(refused_snapshot)[0] == "SnapshotQuotaExceeded"
    quotas_reported = {q["AccountQuotaName"]: (q["Used"], q["Max"])
                       for q in rds().describe_account_attributes()["AccountQuotas"]
                       if q["AccountQuotaName"].startswith("Manual")}
    assert quotas_reported == {"ManualSnapshots": (1, 100), "ManualClusterSnapshots": (2, 2)}


def test_finished_copies_hold_no_slot_so_copy_seconds_zero_never_hits_a_copy_quota(emulated):
    """With the default copy_seconds=0 every copy has finished by the next call, as the
    tests before the quotas assumed: 25 copies of each kind in a row all succeed."""
    source_ami = create_ami(SOURCE, "web-app")
    source_snapshot = create_db_instance(SOURCE, "orders-db")

    images = [copy_image(source_ami, f"copy-{n}") for n in range(25)]
    snapshots = [copy_db_snapshot(source_snapshot, f"copy-{n}") for n in range(25)]

    assert (len(set(images)), len(snapshots)) == (25, 25)


# ---------------------------------------------------------------- AMIs shared across accounts


def ec2_of(account: str, region: str = SOURCE):
    if account == EMULATOR_ACCOUNT_ID:
        return boto3.client("ec2", region_name=region)
    return account_session(account, region).client("ec2")


@pytest.fixture
def shared_ami(emulated) -> str:
    return create_shared_ami(SOURCE, "golden-image", owner=OTHER_ACCOUNT,
                             shared_with=EMULATOR_ACCOUNT_ID,
                             tags={"Sync-Identifier": "golden", "Team": "platform"})


def test_a_shared_ami_is_visible_to_the_account_it_is_shared_with_without_tags(shared_ami):
    """EC2 API Reference, DescribeImages: "The images available to you include public
    images, private images that you own, and private images owned by other Amazon Web
    Services accounts for which you have explicit launch permissions." EC2 User Guide, "Tag
    your Amazon EC2 resources": tags are visible only to the account that owns the resource;
    an AMI shared with you is shown without its owner's tags."""
    ours = ec2_of(EMULATOR_ACCOUNT_ID)

    (by_owner,) = ours.describe_images(Owners=[OTHER_ACCOUNT])["Images"]
    (by_id,) = ours.describe_images(ImageIds=[shared_ami])["Images"]
    (executable,) = ours.describe_images(ExecutableUsers=["self"])["Images"]

    assert by_owner["ImageId"] == by_id["ImageId"] == executable["ImageId"] == shared_ami
    assert (by_owner["OwnerId"], tag_dict(by_owner.get("Tags"))) == (OTHER_ACCOUNT, {})
    assert ours.describe_images(Owners=["self"])["Images"] == []


def test_a_tag_filter_never_matches_another_accounts_ami_but_matches_for_its_owner(shared_ami):
    """Following from the above: a `tag:` filter is evaluated on the tags the caller sees."""
    by_tag = {"Owners": [OTHER_ACCOUNT],
              "Filters": [{"Name": "tag:Sync-Identifier", "Values": ["golden"]}]}

    assert ec2_of(EMULATOR_ACCOUNT_ID).describe_images(**by_tag)["Images"] == []
    (owned,) = ec2_of(OTHER_ACCOUNT).describe_images(**by_tag)["Images"]
    assert tag_dict(owned["Tags"]) == {"Sync-Identifier": "golden", "Team": "platform"}


def test_an_ami_not_shared_with_the_account_stays_invisible(emulated):
    create_shared_ami(SOURCE, "private", owner=OTHER_ACCOUNT, shared_with="111122223333")

    assert ec2_of(EMULATOR_ACCOUNT_ID).describe_images(Owners=[OTHER_ACCOUNT])["Images"] == []


def test_a_public_ami_is_visible_to_every_account(emulated):
    public = create_shared_ami(SOURCE, "public", owner=OTHER_ACCOUNT, shared_with=None)

    (image,) = ec2_of(EMULATOR_ACCOUNT_ID).describe_images(Owners=[OTHER_ACCOUNT])["Images"]
    assert (image["ImageId"], image["Public"]) == (public, True)


def test_a_shared_ami_can_be_copied_into_the_account_it_is_shared_with(shared_ami):
    """EC2 User Guide, "Copy an Amazon EC2 AMI": cross-account copying - "Create a copy of an
    AMI that another AWS account has shared with your AWS account." The copy is ours."""
    copy = copy_image(shared_ami, "golden-copy")

    (image,) = ec2_of(EMULATOR_ACCOUNT_ID, DESTINATION).describe_images(ImageIds=[copy])["Images"]
    assert image["OwnerId"] == EMULATOR_ACCOUNT_ID


def test_modify_image_attribute_sets_up_the_share(shared_ami):
    """moto's ModifyImageAttribute LaunchPermission works; the owner reads it back."""
    answer = ec2_of(OTHER_ACCOUNT).describe_image_attribute(ImageId=shared_ami,
                                                            Attribute="launchPermission")

    assert answer["LaunchPermissions"] == [{"UserId": EMULATOR_ACCOUNT_ID}]
