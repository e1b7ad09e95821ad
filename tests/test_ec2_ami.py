"""ec2_ami jobs on emulated AWS: copy once, track, replace, prune; the original's tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from conftest import DESTINATION, SOURCE
from moto.ec2.models import ec2_backends

from xregion_sync import load_config, run, steps
from xregion_sync.local import EMULATOR_ACCOUNT_ID
from xregion_sync.local.fidelity import EmulatedCopyTiming
from xregion_sync.local.seed import create_ami, record_copy_source
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
    # the copy path is five calls: find the source, find the job's copies, find any
    # other job's copy of this AMI (a renamed job's), copy, check that the AMI CopyImage
    # answered with exists (an idempotent answer may name one deregistered since)
    assert [(c.operation, c.region) for c in api_calls.calls] == [
        ("DescribeImages", SOURCE), ("DescribeImages", DESTINATION),
        ("DescribeImages", DESTINATION), ("CopyImage", DESTINATION),
        ("DescribeImages", DESTINATION)]


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
    assert [(c.operation, c.params.get("ImageId")) for c in api_calls.calls[3:]] == [
        ("DeregisterImage", first.created_resource), ("CopyImage", None),
        ("DescribeImages", None)]
    assert api_calls.named("DeregisterImage")[0].params["DeleteAssociatedSnapshots"] is True
    assert list(amis(DESTINATION)) == [second.created_resource]
    # and reported: it was deleted too
    assert second.pruned == [first.created_resource]


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


WAIT_FOR_COPY = {"wait_for_completion": True, "poll_interval_seconds": 1}


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
