"""ec2_ami jobs on emulated AWS: copy once, track, replace, prune; the original's tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from conftest import DESTINATION, SOURCE

from xregion_sync import load_config, run, steps
from xregion_sync.syncs import ec2_ami
from xregion_sync.tags import (
    TAG_JOB,
    TAG_SOURCE_CREATED,
    TAG_SOURCE_ID,
    TAG_SOURCE_REGION,
    TAG_SOURCE_SELECTION,
    tag_dict,
    tracking_tags,
)
from xregion_sync_emulator import EMULATOR_ACCOUNT_ID
from xregion_sync_emulator.fidelity import EmulatedCopyTiming
from xregion_sync_emulator.moto_seam import ec2_backends
from xregion_sync_emulator.seed import (
    account_session,
    create_ami,
    create_shared_ami,
    record_copy_source,
)

JOB = "sync_web"
SOURCE_CREATED = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def ami_config(**options) -> dict:
    return {JOB: {"sync_type": "ec2_ami", "source_region": SOURCE,
                  "destination_region": DESTINATION, "sync_identifier": "web", **options}}


def sync(**options):
    (result,) = run(ami_config(**options))
    return result


def amis(region: str) -> dict:
    """The emulator's AMIs of one region, by id (to force states and look at tags)."""
    return ec2_backends[EMULATOR_ACCOUNT_ID][region].amis


def source_ami(name: str = "web-app", created: datetime = SOURCE_CREATED, **tags) -> str:
    image_id = create_ami(SOURCE, name, {"Sync-Identifier": "web", **tags})
    amis(SOURCE)[image_id].creation_date = created.replace(tzinfo=None)
    return image_id


def image_tags(region: str, image_id: str) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=region)
    return tag_dict(ec2.describe_images(ImageIds=[image_id])["Images"][0].get("Tags"))


def request_tags(call, resource_type: str) -> dict[str, str]:
    (spec,) = [s for s in call.params["TagSpecifications"] if s["ResourceType"] == resource_type]
    return tag_dict(spec["Tags"])


def started_copy_state(run_id: str) -> steps.State:
    """One job's state up to Start Copy, as a driver would hold it in run `run_id`."""
    (spec,) = load_config(ami_config()).jobs
    return steps.check_sync_tag(steps.resolve_source(steps.new_state(spec, run_id)))


@pytest.fixture
def copies_stay_pending(monkeypatch):
    """Emulated copies never finish, as a large AMI's copy takes hours."""
    monkeypatch.setattr(EmulatedCopyTiming, "is_done", lambda self, resource_id: False)


# ---------------------------------------------------------------- the first copy


def test_first_sync_copies_the_source_to_the_destination(api_calls):
    source = source_ami()

    result = sync()

    assert (result.name, result.sync_type, result.status) == (JOB, "ec2_ami", "copied")
    assert result.failed is False and result.errors == []
    assert result.created_resource in amis(DESTINATION)
    assert result.created_resource not in amis(SOURCE)
    assert result.copy_state == "pending"
    assert amis(DESTINATION)[result.created_resource].name == amis(SOURCE)[source].name
    # the copy path is four calls: find the source, find the job's copies, copy, check
    # that the AMI CopyImage answered with exists (an idempotent answer may name one
    # deregistered since); another job's copy of the AMI is never looked for
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeImages", SOURCE), ("DescribeImages", DESTINATION),
        ("CopyImage", DESTINATION), ("DescribeImages", DESTINATION)]


def test_the_copy_carries_user_tags_and_tracking_tags_but_no_aws_tags(api_calls):
    # GIVEN a source with user tags and an AWS-reserved tag (AWS sets those, users cannot)
    source = source_ami(Environment="Production", Team="platform")
    ec2_backends[EMULATOR_ACCOUNT_ID][SOURCE].create_tags(
        [source], {"aws:cloudformation:stack-name": "web"})

    # WHEN it is synced
    result = sync()

    # THEN the copy call tags image and snapshots with user + tracking tags, atomically
    expected = {
        "Sync-Identifier": "web", "Environment": "Production", "Team": "platform",
        TAG_JOB: JOB, TAG_SOURCE_ID: source, TAG_SOURCE_REGION: SOURCE,
        TAG_SOURCE_CREATED: "2024-03-01T12:00:00Z",
        # how the job selects its source, hashed: owner self, Sync-Identifier web
        TAG_SOURCE_SELECTION: "23d3d2dbf88ee03b",
    }
    (copy_call,) = api_calls.named("CopyImage")
    assert request_tags(copy_call, "image") == expected
    assert request_tags(copy_call, "snapshot") == expected
    # AND the emulated copy carries exactly those tags
    assert image_tags(DESTINATION, result.created_resource) == expected
    # AND nothing else tagged anything afterwards
    assert api_calls.named("CreateTags") == []


def test_copy_image_request_names_source_and_region(api_calls):
    source = source_ami(name="web-app-2024")

    sync()

    (call,) = api_calls.named("CopyImage")
    assert (call.params["SourceRegion"], call.params["SourceImageId"], call.params["Name"]) == (
        SOURCE, source, "web-app-2024")
    assert "Encrypted" not in call.params and "KmsKeyId" not in call.params


def test_kms_key_id_encrypts_the_copy(api_calls):
    source_ami()

    sync(kms_key_id="alias/dr-key")

    (call,) = api_calls.named("CopyImage")
    assert (call.params["Encrypted"], call.params["KmsKeyId"]) == (True, "alias/dr-key")


# ---------------------------------------------------------------- idempotency


def test_client_token_is_the_same_in_every_run_and_retry(api_calls):
    # GIVEN a job's state as Start Copy sees it in run "run-1"
    source_ami()
    state = started_copy_state("run-1")

    # WHEN Start Copy is retried (a Lambda retry) and then runs in another run
    first = steps.start_copy(state)
    retried = steps.start_copy(state)
    other_run = steps.start_copy({**state, "run_id": "run-2"})

    # THEN every call sent the same ClientToken and got the same AMI back: one copy
    tokens = [call.params["ClientToken"] for call in api_calls.named("CopyImage")]
    assert all(0 < len(token) <= 64 for token in tokens)
    assert tokens[0] == tokens[1] == tokens[2]
    assert retried["copy"]["id"] == first["copy"]["id"] == other_run["copy"]["id"]
    assert list(amis(DESTINATION)) == [first["copy"]["id"]]


def test_client_token_is_new_for_a_copy_that_replaces_a_failed_one(api_calls):
    source_ami()
    state = started_copy_state("run-1")
    steps.start_copy(state)
    failed = {**state["existing"], "replaces": ["ami-0failed0000000000"]}

    (spec,) = load_config(ami_config()).jobs
    params = {"SourceImageId": state["source"]["id"]}
    assert (ec2_ami.copy_token(spec, state["source"], [], params)
            != ec2_ami.copy_token(spec, state["source"], failed["replaces"], params)
            == ec2_ami.copy_token(spec, state["source"], failed["replaces"], params))


def test_interleaved_runs_make_one_copy(api_calls):
    # GIVEN two runs of one job that both looked before either copied
    source_ami()
    first_run, second_run = started_copy_state("run-1"), started_copy_state("run-2")
    assert not first_run["in_sync"] and not second_run["in_sync"]

    # WHEN both copy
    first = steps.start_copy(first_run)["copy"]
    second = steps.start_copy(second_run)["copy"]

    # THEN EC2 answered both with the one AMI (same ClientToken, same request)
    assert first["id"] == second["id"]
    assert list(amis(DESTINATION)) == [first["id"]]
    assert len({call.params["ClientToken"] for call in api_calls.named("CopyImage")}) == 1


def test_a_name_held_by_a_copy_of_the_same_source_is_that_copy(api_calls):
    # GIVEN a copy of the source under its name made with another token (an older
    # version's token, or another request), after this run looked
    source = source_ami()
    state = started_copy_state("run-1")
    other = steps.start_copy({**started_copy_state("run-0"),
                              "source": {**state["source"], "description": "older"}})

    # WHEN this run copies
    copy = steps.start_copy(state)["copy"]

    # THEN the name's holder is the copy: no second copy under '<name> <source id>'
    assert copy["id"] == other["copy"]["id"]
    assert [image.source_image_id for image in amis(DESTINATION).values()] == [source]


def test_a_copy_deregistered_since_its_token_was_used_is_copied_again(emulated):
    # GIVEN a copy made, and then deregistered (EC2 remembers the token a while)
    source_ami()
    first = steps.start_copy(started_copy_state("run-1"))["copy"]
    boto3.client("ec2", region_name=DESTINATION).deregister_image(ImageId=first["id"])

    # WHEN the next run copies (the same token would answer with the deregistered AMI)
    second = steps.start_copy(started_copy_state("run-2"))["copy"]

    # THEN it made a new copy that exists
    assert second["id"] != first["id"]
    assert list(amis(DESTINATION)) == [second["id"]]


def test_second_run_is_in_sync_with_two_reads(api_calls):
    source_ami()
    copied = sync()
    api_calls.clear()

    again = sync()

    assert (again.status, again.created_resource, again.failed) == ("in_sync", None, False)
    assert again.copy_state == "available"
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeImages", SOURCE), ("DescribeImages", DESTINATION)]
    assert list(amis(DESTINATION)) == [copied.created_resource]


def test_a_deregistered_copy_is_copied_again(emulated):
    source_ami()
    first = sync()
    boto3.client("ec2", region_name=DESTINATION).deregister_image(
        ImageId=first.created_resource)

    second = sync()

    assert second.status == "copied"
    assert second.created_resource not in (None, first.created_resource)


def test_a_failed_copy_is_deregistered_with_its_snapshots_and_replaced(api_calls):
    # GIVEN a copy that AWS reports as failed
    source_ami()
    first = sync()
    amis(DESTINATION)[first.created_resource].state = "failed"
    api_calls.clear()

    # WHEN the job runs again
    second = sync()

    # THEN the failed copy is deregistered (snapshots too) before a new copy is made
    assert second.status == "copied"
    assert second.created_resource != first.created_resource
    assert [(c.operation, c.params.get("ImageId")) for c in api_calls.calls[2:]] == [
        ("DeregisterImage", first.created_resource), ("CopyImage", None),
        ("DescribeImages", None)]
    assert api_calls.named("DeregisterImage")[0].params["DeleteAssociatedSnapshots"] is True
    assert list(amis(DESTINATION)) == [second.created_resource]
    # and reported: it was deleted too
    assert second.pruned == [first.created_resource]


def test_a_deprecated_copy_in_sync_is_two_reads(api_calls):
    # regression: the deprecation marker asks for no call once the copy is deprecated
    source_ami()
    sync(deprecate_after_days=30)
    api_calls.clear()

    again = sync(deprecate_after_days=30)

    assert again.status == "in_sync"
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeImages", SOURCE), ("DescribeImages", DESTINATION)]


def test_a_pending_copy_counts_as_in_sync(api_calls, copies_stay_pending):
    source_ami()
    first = sync()

    again = sync()

    assert (again.status, again.copy_state) == ("in_sync", "pending")
    assert amis(DESTINATION)[first.created_resource].state == "pending"
    assert len(api_calls.named("CopyImage")) == 1


# ---------------------------------------------------------------- finding the source


def test_no_matching_source_is_an_error_naming_the_job(api_calls):
    create_ami(SOURCE, "other-app", {"Sync-Identifier": "other"})

    result = sync()

    assert result.failed and result.status == "failed"
    (error,) = result.errors
    assert error.type == "SourceNotFoundError"
    assert error.message.startswith(
        f"No EC2 Images were found using the filter settings for identifier '{JOB}'")
    assert api_calls.operations() == ["DescribeImages"]


def test_two_matching_sources_is_an_error_listing_both(api_calls):
    ids = sorted([source_ami("web-app-a"), source_ami("web-app-b")])

    result = sync()

    (error,) = result.errors
    assert error.type == "AmbiguousSourceError"
    assert error.message.startswith(
        f"More than one EC2 Image was found with the filter settings for identifier "
        f"'{JOB}': {ids[0]}, {ids[1]}.")
    assert api_calls.named("CopyImage") == []


def two_way_config(**options) -> dict:
    """web AMIs of us-east-1 copied to us-west-2, and other web AMIs of us-west-2 copied
    to us-east-1, under the same Sync-Identifier."""
    back = {"sync_type": "ec2_ami", "source_region": DESTINATION, "destination_region": SOURCE,
            "sync_identifier": "web", **options}
    return {**ami_config(), "sync_web_back": back}


def test_a_dr_copy_is_never_a_source_in_a_two_way_setup(emulated):
    # GIVEN web AMIs both ways; the first job's DR copy landed in us-west-2, with the
    # source's Sync-Identifier (CopyImage copies the tags)
    source_ami()
    west_ami = create_ami(DESTINATION, "web-app-west", {"Sync-Identifier": "web"})
    (forward,) = run(ami_config())
    assert image_tags(DESTINATION, forward.created_resource)["Sync-Identifier"] == "web"

    # WHEN both jobs run
    results = {result.name: result for result in run(two_way_config())}

    # THEN the job back copies the us-west-2 AMI, not the DR copy (nor fails as ambiguous)
    assert results[JOB].status == "in_sync"
    back = results["sync_web_back"]
    assert back.status == "copied", back.errors
    assert amis(SOURCE)[back.created_resource].source_image_id == west_ami


def test_only_dr_copies_matching_is_an_error_naming_them_and_the_option(emulated):
    source_ami()
    (forward,) = run(ami_config())

    results = {result.name: result for result in run(two_way_config())}

    (error,) = results["sync_web_back"].errors
    assert error.type == "SourceNotFoundError"
    assert f"only DR copies this tool made match ({forward.created_resource})" in error.message
    assert "chained_dr: true" in error.message


def test_chained_dr_copies_a_dr_copy(emulated):
    source_ami()
    (forward,) = run(ami_config())

    results = {result.name: result for result in run(two_way_config(chained_dr=True))}

    back = results["sync_web_back"]
    assert back.status == "copied", back.errors
    assert amis(SOURCE)[back.created_resource].source_image_id == forward.created_resource


def test_sync_identifier_and_filters_are_separate_anded_filters(api_calls):
    source_ami(Environment="Production")

    sync(filters=["tag:Environment=Production", "tag:Environment=Blue",
                  {"name": "architecture", "values": ["x86_64", "arm64"]}])

    source_query = api_calls.calls[0]
    assert (source_query.operation, source_query.region) == ("DescribeImages", SOURCE)
    assert source_query.params["Owners"] == ["self"]
    assert source_query.params["Filters"] == [
        {"Name": "tag:Sync-Identifier", "Values": ["web"]},
        {"Name": "tag:Environment", "Values": ["Production"]},
        {"Name": "tag:Environment", "Values": ["Blue"]},
        {"Name": "architecture", "Values": ["x86_64", "arm64"]},
    ]


def test_without_sync_identifier_only_the_filters_select(api_calls):
    source_ami(Environment="Production")
    config = ami_config(filters=["tag:Environment=Production"])
    del config[JOB]["sync_identifier"]

    (result,) = run(config)

    assert result.status == "copied"
    assert api_calls.calls[0].params["Filters"] == [
        {"Name": "tag:Environment", "Values": ["Production"]}]


@pytest.mark.parametrize("key", ["ami_owner", "owner_id"])
def test_ami_owner_is_sent_as_owners(api_calls, key):
    source_ami()

    result = sync(**{key: "1234-5678-9012"})

    assert result.status == "copied"  # the emulator's account owns the source
    assert api_calls.calls[0].params["Owners"] == [EMULATOR_ACCOUNT_ID]


# ---------------------------------------------------------------- the original tool's tag


def tag_source_as_the_original_did(source: str, copy_id: str) -> None:
    boto3.client("ec2", region_name=SOURCE).create_tags(Resources=[source], Tags=[
        {"Key": f"Sync-{DESTINATION}", "Value": f"20240301121500+0000 / {copy_id}"}])


def test_the_original_tools_copy_that_still_exists_is_in_sync(api_calls):
    # GIVEN a source the original tool copied, and that copy still in the destination
    source = source_ami()
    original_copy = create_ami(DESTINATION, "web-app")
    tag_source_as_the_original_did(source, original_copy)

    result = sync()

    assert (result.status, result.created_resource, result.failed) == ("in_sync", None, False)
    assert api_calls.named("CopyImage") == []
    assert sorted(amis(DESTINATION)) == [original_copy]


def test_the_original_tools_copy_that_is_gone_is_copied_again(api_calls):
    source = source_ami()
    tag_source_as_the_original_did(source, "ami-0123456789abcdef0")

    result = sync()

    assert result.status == "copied"
    assert len(api_calls.named("CopyImage")) == 1
    # the original's tag is the tool's bookkeeping, not a user tag to copy
    assert f"Sync-{DESTINATION}" not in image_tags(DESTINATION, result.created_resource)


# ---------------------------------------------------------------- retention


def previous_copy(job: str = JOB, days_ago: int = 1, state: str = "available") -> str:
    """A copy an earlier run made (of an older source) in the destination."""
    created = SOURCE_CREATED - timedelta(days=days_ago)
    old_source = f"ami-old{days_ago:012d}"
    image_id = create_ami(DESTINATION, f"web-app-{days_ago}",
                          tracking_tags(job, old_source, SOURCE, created))
    record_copy_source(DESTINATION, image_id, old_source, SOURCE)
    amis(DESTINATION)[image_id].state = state
    return image_id


def deregistered(api_calls) -> list[tuple[str, bool]]:
    return [(c.params["ImageId"], c.params["DeleteAssociatedSnapshots"])
            for c in api_calls.named("DeregisterImage")]


WAIT_FOR_COPY = {"wait_for_completion": True, "poll_interval_seconds": 1,
                 "max_wait_seconds": 600}


@pytest.mark.parametrize(("retain", "pruned_days"), [(0, [3, 2, 1]), (1, [3, 2]), (2, [3]),
                                                     (3, [])])
def test_retention_prunes_the_oldest_managed_copies(api_calls, retain, pruned_days):
    # GIVEN three copies from earlier runs (1, 2 and 3 days older than the source)
    by_age = {days: previous_copy(days_ago=days) for days in (1, 2, 3)}
    source_ami()

    # WHEN a new source is copied with max_images_to_retain, waiting until it is available
    result = sync(max_images_to_retain=retain, **WAIT_FOR_COPY)

    # THEN the oldest go, snapshots included; `retain` previous copies and the new one stay
    doomed = [by_age[days] for days in pruned_days]
    assert result.pruned == doomed
    assert deregistered(api_calls) == [(image_id, True) for image_id in doomed]
    assert sorted(amis(DESTINATION)) == sorted(
        [result.created_resource, *(i for d, i in by_age.items() if d not in pruned_days)])


def test_retention_never_touches_unmanaged_or_other_jobs_amis(api_calls):
    users_own = create_ami(DESTINATION, "hand-made")
    users_tagged = create_ami(DESTINATION, "hand-tagged", {"Sync-Identifier": "web"})
    other_jobs = previous_copy(job="sync_other")
    source_ami()

    result = sync(max_images_to_retain=0)

    assert result.status == "copied" and result.pruned == []
    assert api_calls.named("DeregisterImage") == []
    assert {users_own, users_tagged, other_jobs} <= set(amis(DESTINATION))


def test_an_ami_merely_tagged_with_the_jobs_name_is_not_a_copy(api_calls, caplog):
    # GIVEN a hand-made AMI in the destination whose tags carry the job's name and the
    # source's id as values, but not in the job and source id tracking tags (the copy
    # look-up matches values)
    source = source_ami()
    look_alike = create_ami(DESTINATION, "look-alike",
                            {"Name": JOB, "Origin": source, TAG_SOURCE_REGION: SOURCE})

    # WHEN the job runs with retention 0
    result = sync(max_images_to_retain=0)

    # THEN the look-alike is neither the copy nor pruned, nor warned about as a copy
    assert (result.status, result.pruned) == ("copied", [])
    assert result.created_resource != look_alike and look_alike in amis(DESTINATION)
    assert "Left alone an AMI" not in caplog.text


def test_retention_never_prunes_a_copy_still_pending(api_calls):
    still_copying = previous_copy(days_ago=2, state="pending")
    finished = previous_copy(days_ago=1)
    source_ami()

    result = sync(max_images_to_retain=0, **WAIT_FOR_COPY)

    assert result.pruned == [finished]
    assert still_copying in amis(DESTINATION)


def test_while_the_new_copy_is_pending_the_newest_available_copy_is_kept(api_calls):
    # GIVEN three available copies from earlier runs
    by_age = {days: previous_copy(days_ago=days) for days in (1, 2, 3)}
    source_ami()

    # WHEN a new source is copied with retention 0 and the run does not wait for the copy
    result = sync(max_images_to_retain=0)

    # THEN the newest available copy stays as the recovery point until the new one is
    # available (a pending copy may still fail); only the older ones go
    assert result.copy_state == "pending"
    assert result.pruned == [by_age[3], by_age[2]]
    assert by_age[1] in amis(DESTINATION)


def test_a_failed_new_copy_prunes_nothing(api_calls, monkeypatch):
    old = previous_copy(days_ago=1)
    source_ami()
    original = ec2_ami.copy_status

    def copy_failed(job, copy):
        amis(DESTINATION)[copy["id"]].state = "failed"
        return original(job, copy)

    monkeypatch.setattr(ec2_ami, "copy_status", copy_failed)

    result = sync(max_images_to_retain=0, **WAIT_FOR_COPY)

    assert (result.status, result.pruned) == ("failed", [])
    assert old in amis(DESTINATION)
    assert api_calls.named("DeregisterImage") == []


def test_without_retention_every_copy_is_kept(api_calls):
    kept = [previous_copy(days_ago=days) for days in (1, 2, 3)]
    source_ami()

    result = sync()

    assert result.pruned == []
    assert api_calls.named("DeregisterImage") == []
    assert set(kept) < set(amis(DESTINATION))


def test_an_in_sync_run_applies_a_lowered_retention(api_calls):
    # GIVEN a copy in sync (available by now) and an older copy kept by the old retention
    old = previous_copy(days_ago=5)
    source_ami()
    sync()
    api_calls.clear()

    # WHEN the job runs again with retention lowered to 0
    result = sync(max_images_to_retain=0)

    # THEN the old copy goes: 2 reads and the one deregistration
    assert (result.status, result.pruned) == ("in_sync", [old])
    assert old not in amis(DESTINATION)
    assert api_calls.count() == 3


def test_an_in_sync_run_with_nothing_to_prune_makes_two_reads(api_calls):
    previous_copy(days_ago=5)
    source_ami()
    sync(max_images_to_retain=1)
    api_calls.clear()

    result = sync(max_images_to_retain=1)

    assert (result.status, result.pruned) == ("in_sync", [])
    assert api_calls.count() == 2


def test_a_new_source_with_an_old_sources_name_is_copied_under_a_second_name(api_calls):
    # GIVEN a copy of the AMI named 'web', and then the source replaced by a new AMI that
    # reuses the name (the old one deregistered first, as AMI names are unique per region)
    ec2 = boto3.client("ec2", region_name=SOURCE)
    old = create_ami(SOURCE, "web", {"Sync-Identifier": "web"})
    config = {"sync_web": {"sync_type": "ec2_ami", "source_region": SOURCE,
                           "destination_region": DESTINATION, "sync_identifier": "web"}}
    first = run(config)[0]
    ec2.deregister_image(ImageId=old)
    new = create_ami(SOURCE, "web", {"Sync-Identifier": "web"})
    api_calls.clear()
    # WHEN the job runs, the destination still holding the first copy named 'web'
    (result,) = run(config)
    # THEN the new source is copied under its name plus its id; the first copy stays
    assert result.status == "copied"
    names = [c.params["Name"] for c in api_calls.named("CopyImage")]
    assert names == ["web", f"web {new}"]
    tokens = {c.params["ClientToken"] for c in api_calls.named("CopyImage")}
    assert len(tokens) == 2
    copies = boto3.client("ec2", region_name=DESTINATION).describe_images(
        ImageIds=[first.created_resource, result.created_resource])["Images"]
    assert sorted(i["Name"] for i in copies) == ["web", f"web {new}"]


# ---------------------------------------------------------------- deprecation, time-based copies


def test_deprecate_after_days_deprecates_the_copy_that_many_days_on(api_calls):
    source_ami()
    before = datetime.now(UTC)

    result = sync(deprecate_after_days=90)

    (call,) = api_calls.named("EnableImageDeprecation")
    assert call.params["ImageId"] == result.created_resource
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    (image,) = ec2.describe_images(ImageIds=[result.created_resource])["Images"]
    deprecation = datetime.fromisoformat(image["DeprecationTime"].replace("Z", "+00:00"))
    assert deprecation.second == 0
    assert before + timedelta(days=90, minutes=-1) <= deprecation <= (
        datetime.now(UTC) + timedelta(days=90, minutes=1))


def test_without_deprecate_after_days_no_deprecation_is_set(api_calls):
    source_ami()

    result = sync()

    assert api_calls.named("EnableImageDeprecation") == []
    ec2 = boto3.client("ec2", region_name=DESTINATION)
    (image,) = ec2.describe_images(ImageIds=[result.created_resource])["Images"]
    assert "DeprecationTime" not in image


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 1, 1, 12, 0, 29, tzinfo=UTC), datetime(2026, 1, 8, 12, 0, tzinfo=UTC)),
    (datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), datetime(2026, 1, 8, 12, 1, tzinfo=UTC)),
])
def test_deprecation_time_is_rounded_to_the_minute_as_ec2_rounds_it(now, expected):
    assert ec2_ami.deprecation_time(now, 7) == expected


def test_copy_completion_minutes_makes_a_time_based_copy(api_calls):
    source_ami()

    sync(copy_completion_minutes=120)

    (call,) = api_calls.named("CopyImage")
    assert call.params["SnapshotCopyCompletionDurationMinutes"] == 120


def test_without_copy_completion_minutes_the_copy_is_best_effort(api_calls):
    source_ami()

    sync()

    (call,) = api_calls.named("CopyImage")
    assert "SnapshotCopyCompletionDurationMinutes" not in call.params


def test_the_emulator_finishes_a_time_based_copy_within_its_duration():
    timing = EmulatedCopyTiming(copy_seconds=3600)  # a best-effort copy takes an hour
    timing.started("ami-best-effort")
    timing.started("ami-time-based", at_most=0)  # its deadline, already reached

    assert (timing.is_done("ami-best-effort"), timing.is_done("ami-time-based")) == (
        False, True)


@pytest.mark.parametrize(("options", "expected"), [
    ({"copy_completion_minutes": 240, "wait_for_completion": True}, 240 * 60 + 60),
    ({"copy_completion_minutes": 30, "wait_for_completion": True}, 3600),
    ({"copy_completion_minutes": 240, "wait_for_completion": True,
      "max_wait_seconds": 600}, 600),
    ({"copy_completion_minutes": 240}, 3600),
])
def test_a_waiting_time_based_copy_waits_until_its_deadline_by_default(options, expected):
    (spec,) = load_config(ami_config(**options)).jobs
    assert spec.options["max_wait_seconds"] == expected


# ---------------------------------------------------------------- copy_launch_permissions

GRANTEES = [{"UserId": "444455556666"},
            {"OrganizationArn": "arn:aws:organizations::111122223333:organization/o-exampleorg1"},
            {"OrganizationalUnitArn": "arn:aws:organizations::111122223333:ou/o-exampleorg1/"
                                      "ou-ab12-cdef3456"}]
OTHER_ACCOUNT = "111111111111"
READER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/xregion-sync-reader"
LAUNCH_PERMISSION_CALLS = ("DescribeImageAttribute", "ModifyImageAttribute", "CreateTags")


def shared_source_ami(*grantees: dict[str, str]) -> str:
    image_id = source_ami()
    boto3.client("ec2", region_name=SOURCE).modify_image_attribute(
        ImageId=image_id, LaunchPermission={"Add": list(grantees)})
    return image_id


def launch_permissions(image_id: str) -> list[dict[str, str]]:
    return boto3.client("ec2", region_name=DESTINATION).describe_image_attribute(
        ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]


def sync_without_identifier(**options):
    """A job selecting another account's AMI by its filters alone: the owner's tags are
    invisible to this account."""
    config = ami_config(**options)
    del config[JOB]["sync_identifier"]
    (result,) = run(config)
    return result


def launch_permission_calls(api_calls) -> list[tuple[str, str]]:
    return [(c.operation, c.region) for c in api_calls.calls
            if c.operation in LAUNCH_PERMISSION_CALLS]


def test_copy_launch_permissions_gives_the_copy_the_sources_once_it_is_available(api_calls):
    # GIVEN a source AMI shared with an account, an organization and an OU
    source = shared_source_ami(*GRANTEES)
    # WHEN the first run ends while its copy is pending, and the next finds it available
    first = sync(copy_launch_permissions=True)
    given_by_first = launch_permission_calls(api_calls)
    api_calls.clear()
    second = sync(copy_launch_permissions=True)
    # THEN the first gives nothing (EC2 shares no pending AMI); the second, in sync, reads
    # the source's permissions, gives them to the copy and tags it done
    assert (first.status, first.copy_state, given_by_first) == ("copied", "pending", [])
    assert (second.status, second.copy_state) == ("in_sync", "available")
    assert launch_permission_calls(api_calls) == [
        ("DescribeImageAttribute", SOURCE), ("ModifyImageAttribute", DESTINATION),
        ("CreateTags", DESTINATION)]
    (read,) = api_calls.named("DescribeImageAttribute")
    assert read.params == {"ImageId": source, "Attribute": "launchPermission"}
    assert launch_permissions(first.created_resource) == GRANTEES
    assert image_tags(DESTINATION, first.created_resource)[
        ec2_ami.TAG_LAUNCH_PERMISSIONS] == ec2_ami.COPIED


def test_a_copy_with_its_launch_permissions_is_in_sync_with_two_reads(api_calls):
    shared_source_ami(*GRANTEES)
    sync(copy_launch_permissions=True)
    sync(copy_launch_permissions=True)
    api_calls.clear()

    again = sync(copy_launch_permissions=True)

    assert (again.status, again.copy_state) == ("in_sync", "available")
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeImages", SOURCE), ("DescribeImages", DESTINATION)]


def test_a_waiting_job_gives_the_launch_permissions_in_the_run_that_copies(api_calls,
                                                                           monkeypatch):
    monkeypatch.setattr("xregion_sync.runner.time", SimpleNamespace(sleep=lambda _s: None))
    shared_source_ami(*GRANTEES)

    result = sync(copy_launch_permissions=True, **WAIT_FOR_COPY)

    assert (result.status, result.copy_state) == ("copied", "available")
    assert launch_permissions(result.created_resource) == GRANTEES


def test_a_public_source_never_makes_a_public_copy(api_calls, caplog):
    # GIVEN a public source AMI, also shared with one account
    shared_source_ami({"Group": "all"}, GRANTEES[0])

    sync(copy_launch_permissions=True)
    copy = sync(copy_launch_permissions=True)

    # THEN the copy gets the account only, never `all`, and a warning says so
    (modify,) = api_calls.named("ModifyImageAttribute")
    assert modify.params["LaunchPermission"] == {"Add": [GRANTEES[0]]}
    (image,) = boto3.client("ec2", region_name=DESTINATION).describe_images(
        Owners=["self"])["Images"]
    assert (image["Public"], launch_permissions(image["ImageId"])) == (False, [GRANTEES[0]])
    assert copy.status == "in_sync"
    assert "The source AMI is public; its copy is not made public" in caplog.text


def test_a_source_without_launch_permissions_is_marked_done_without_a_change(api_calls):
    source_ami()
    first = sync(copy_launch_permissions=True)

    sync(copy_launch_permissions=True)

    assert api_calls.named("ModifyImageAttribute") == []
    assert launch_permissions(first.created_resource) == []
    assert image_tags(DESTINATION, first.created_resource)[
        ec2_ami.TAG_LAUNCH_PERMISSIONS] == ec2_ami.COPIED


def test_without_copy_launch_permissions_nothing_is_read_or_shared(api_calls):
    shared_source_ami(*GRANTEES)
    first = sync()

    second = sync()

    assert second.status == "in_sync"
    assert launch_permission_calls(api_calls) == []
    assert launch_permissions(first.created_resource) == []


def test_a_pending_copy_in_sync_gets_no_launch_permissions_yet(api_calls, copies_stay_pending):
    shared_source_ami(*GRANTEES)
    first = sync(copy_launch_permissions=True)

    second = sync(copy_launch_permissions=True)

    assert (second.status, second.copy_state) == ("in_sync", "pending")
    assert launch_permission_calls(api_calls) == []
    assert launch_permissions(first.created_resource) == []


def test_a_copy_made_before_the_option_was_set_gets_the_launch_permissions(api_calls):
    shared_source_ami(*GRANTEES)
    first = sync()

    sync(copy_launch_permissions=True)

    assert launch_permissions(first.created_resource) == GRANTEES


def test_giving_launch_permissions_again_after_a_failure_changes_nothing(api_calls):
    # GIVEN a copy that got its launch permissions, but whose done tag a failure lost
    shared_source_ami(*GRANTEES)
    first = sync(copy_launch_permissions=True)
    sync(copy_launch_permissions=True)
    boto3.client("ec2", region_name=DESTINATION).delete_tags(
        Resources=[first.created_resource], Tags=[{"Key": ec2_ami.TAG_LAUNCH_PERMISSIONS}])
    api_calls.clear()

    # WHEN the next run gives them again
    again = sync(copy_launch_permissions=True)

    # THEN AWS takes the same permissions again as no change, and the copy is done
    assert again.status == "in_sync" and not again.failed
    assert len(api_calls.named("ModifyImageAttribute")) == 1
    assert launch_permissions(first.created_resource) == GRANTEES
    assert ec2_ami.TAG_LAUNCH_PERMISSIONS in image_tags(DESTINATION, first.created_resource)


def test_another_accounts_ami_is_copied_without_launch_permissions_and_a_warning(api_calls,
                                                                                  caplog):
    # GIVEN an AMI of another account, shared with this one: AWS shows its launch
    # permissions only to its owner
    shared = create_shared_ami(SOURCE, "web-app", owner=OTHER_ACCOUNT,
                               shared_with=EMULATOR_ACCOUNT_ID)
    config = {"ami_owner": OTHER_ACCOUNT, "copy_launch_permissions": True,
              "filters": [f"image-id={shared}"]}
    first = sync_without_identifier(**config)

    # WHEN the copy is available and in sync
    second = sync_without_identifier(**config)
    third = sync_without_identifier(**config)

    # THEN the job succeeds, its copy gets none, the warning says why, once: the copy is
    # marked skipped, and no refused DescribeImageAttribute is ever sent
    assert [r.status for r in (first, second, third)] == ["copied", "in_sync", "in_sync"]
    assert api_calls.named("DescribeImageAttribute") == []
    assert launch_permissions(first.created_resource) == []
    assert image_tags(DESTINATION, first.created_resource)[
        ec2_ami.TAG_LAUNCH_PERMISSIONS] == ec2_ami.SKIPPED
    assert caplog.text.count("Launch permissions not copied") == 1


def deprecate(account: str, image_id: str, when: str = "2026-01-01T00:00:00.000Z") -> None:
    """The AMI's owner deprecated it at `when` (in the past: EnableImageDeprecation refuses
    a past time, so the emulator's record is set)."""
    ec2_backends[account][SOURCE].amis[image_id].deprecation_time = when


def test_another_accounts_deprecated_ami_is_copied_with_a_warning(api_calls, caplog):
    # GIVEN an AMI of another account, shared with this one, that its owner deprecated:
    # EC2 hides it from this account unless asked (IncludeDeprecated)
    shared = create_shared_ami(SOURCE, "web-app", owner=OTHER_ACCOUNT,
                               shared_with=EMULATOR_ACCOUNT_ID)
    deprecate(OTHER_ACCOUNT, shared)

    result = sync_without_identifier(ami_owner=OTHER_ACCOUNT, filters=["name=web-app"])

    # THEN it is copied (still launchable and copyable by id), with a warning naming it
    assert result.status == "copied", result.errors
    assert amis(DESTINATION)[result.created_resource].source_image_id == shared
    assert "The source AMI is deprecated by its owner" in caplog.text
    assert api_calls.calls[0].params["IncludeDeprecated"] is True


def test_a_current_ami_is_the_source_beside_a_deprecated_one(api_calls):
    # GIVEN the owner's old AMI, deprecated, and its replacement, both matching the job
    old = create_shared_ami(SOURCE, "web-app-v1", owner=OTHER_ACCOUNT,
                            shared_with=EMULATOR_ACCOUNT_ID)
    new = create_shared_ami(SOURCE, "web-app-v2", owner=OTHER_ACCOUNT,
                            shared_with=EMULATOR_ACCOUNT_ID)
    deprecate(OTHER_ACCOUNT, old)
    own_old, own_new = source_ami("web-own-v1"), source_ami("web-own-v2")
    deprecate(EMULATOR_ACCOUNT_ID, own_old)

    shared = sync_without_identifier(ami_owner=OTHER_ACCOUNT, filters=["name=web-app-v*"])
    own = sync()

    # THEN the current one is copied, whoever owns them (the owner sees its deprecated AMI)
    assert shared.status == "copied", shared.errors
    assert amis(DESTINATION)[shared.created_resource].source_image_id == new
    assert own.status == "copied", own.errors
    assert amis(DESTINATION)[own.created_resource].source_image_id == own_new


def test_through_the_owners_role_another_accounts_launch_permissions_are_copied(api_calls):
    # GIVEN an AMI of another account, shared with this one and another account
    shared = create_shared_ami(SOURCE, "web-app", owner=OTHER_ACCOUNT,
                               shared_with=EMULATOR_ACCOUNT_ID, tags={"Sync-Identifier": "web"})
    account_session(OTHER_ACCOUNT, SOURCE).client("ec2").modify_image_attribute(
        ImageId=shared, LaunchPermission={"Add": [GRANTEES[0]]})
    config = {"ami_owner": OTHER_ACCOUNT, "source_role_arn": READER_ROLE,
              "copy_launch_permissions": True}

    # WHEN the job reads them through the owner's role, once its copy is available
    first = sync(**config)
    sync(**config)

    # THEN the copy gets the other account's permission; this account's own is left out
    (modify,) = api_calls.named("ModifyImageAttribute")
    assert modify.params["LaunchPermission"] == {"Add": [GRANTEES[0]]}
    assert launch_permissions(first.created_resource) == [GRANTEES[0]]


def test_the_original_tools_copy_in_sync_gets_no_launch_permissions(api_calls):
    # GIVEN a shared source the original tool copied (its copy has no job tag of this tool)
    source = shared_source_ami(*GRANTEES)
    original_copy = create_ami(DESTINATION, "web-app")
    tag_source_as_the_original_did(source, original_copy)

    result = sync(copy_launch_permissions=True)

    assert result.status == "in_sync"
    assert launch_permission_calls(api_calls) == []
    assert launch_permissions(original_copy) == []


def test_launch_grants_are_accounts_organizations_and_ous_less_the_copys_own_account():
    permissions = [{"Group": "all"}, {"UserId": "123456789012"}, *GRANTEES]

    assert ec2_ami.launch_grants(permissions, "123456789012") == GRANTEES


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_copy_launch_permissions_must_be_a_boolean(value):
    (error,) = load_config(ami_config(copy_launch_permissions=value)).errors

    assert (error.job, error.field) == (JOB, "copy_launch_permissions")
    assert f"job '{JOB}'" in error.message and "copy_launch_permissions" in error.message


def test_copy_launch_permissions_is_off_by_default():
    (spec,) = load_config(ami_config()).jobs

    assert spec.options["copy_launch_permissions"] is False


def test_validate_notes_that_another_accounts_launch_permissions_need_its_role():
    (entry,) = load_config(ami_config(ami_owner=OTHER_ACCOUNT,
                                      copy_launch_permissions=True)).entries

    assert entry.spec is not None
    assert any("field 'copy_launch_permissions'" in note and "source_role_arn" in note
               for note in entry.notes)
