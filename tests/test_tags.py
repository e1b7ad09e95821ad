"""The tracking-tag scheme and the original aws_xregion_sync tool's tag values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from xregion_sync import tags


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20140501061000+0000 / ami-1a2b3c4d",
         (datetime(2014, 5, 1, 6, 10, tzinfo=UTC), "ami-1a2b3c4d")),
        ("20140501061000+0000 / rds:mydb-2014-05-01-06-10",
         (datetime(2014, 5, 1, 6, 10, tzinfo=UTC), "rds:mydb-2014-05-01-06-10")),
        # Ruby's strftime wrote the zone it ran in; surrounding blanks were harmless.
        ("  20140501081000+0200/ami-1  ",
         (datetime(2014, 5, 1, 8, 10, tzinfo=timezone(timedelta(hours=2))), "ami-1")),
    ],
)
def test_parse_legacy_value_reads_timestamp_and_id(value, expected):
    assert tags.parse_legacy_value(value) == expected


def test_parse_legacy_value_keeps_the_instant_of_other_zones():
    moment, _ = tags.parse_legacy_value("20140501081000+0200 / ami-1")

    assert tags.iso_utc(moment) == "2014-05-01T06:10:00Z"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "ami-1a2b3c4d",
        "20140501061000+0000",                  # no id
        "20140501061000+0000 / ",               # empty id
        "20140501061000 / ami-1",               # no zone
        "2014-05-01T06:10:00Z / ami-1",         # this tool's format, not the original's
        "20141301061000+0000 / ami-1",          # month 13
        "20140501061000+0000 / ami-1 ami-2",    # two ids
    ],
)
def test_parse_legacy_value_rejects_malformed_values(value):
    assert tags.parse_legacy_value(value) is None


def test_user_tags_drops_aws_and_tracking_tags():
    given = {
        "Name": "web",
        "aws:cloudformation:stack-name": "stack",
        "xregion-sync:job": "sync_web",
        "xregion-sync:source-id": "ami-1",
        "Sync-Identifier": "web",
        "AWS-looking-but-user": "kept",
    }

    assert tags.user_tags(given) == {"Name": "web", "Sync-Identifier": "web",
                                     "AWS-looking-but-user": "kept"}


def test_user_tags_drops_the_original_tools_tags_but_not_look_alikes():
    given = {"Sync-us-west-2": "20140501061000+0000 / ami-1",
             "Sync-From-us-east-1": "20140501061000+0000 / rds:db-1",
             "Sync-us-gov-west-1": "20140501061000+0000 / ami-2",
             "Sync-Identifier": "web", "Sync-Me": "yes"}

    assert tags.user_tags(given) == {"Sync-Identifier": "web", "Sync-Me": "yes"}


def test_tracking_tags_name_job_source_region_and_creation_in_utc():
    created = datetime(2024, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))

    assert tags.tracking_tags("sync_web", "ami-1", "us-east-1", created) == {
        tags.TAG_JOB: "sync_web",
        tags.TAG_SOURCE_ID: "ami-1",
        tags.TAG_SOURCE_REGION: "us-east-1",
        tags.TAG_SOURCE_CREATED: "2024-01-02T03:04:05Z",
    }
    assert all(tags.is_tracking_key(key) for key in tags.tracking_tags(
        "j", "s", "r", created))


def test_tag_list_and_tag_dict_round_trip():
    given = {"a": "1", "b": ""}

    assert tags.tag_dict(tags.tag_list(given)) == given
    assert tags.tag_dict(None) == {}
    assert tags.tag_dict([{"Key": "no-value"}]) == {"no-value": ""}


def test_iso_timestamps_round_trip_and_bad_ones_are_none():
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    assert tags.parse_iso_utc(tags.iso_utc(moment)) == moment
    assert tags.parse_iso_utc("yesterday") is None
    assert tags.parse_iso_utc(None) is None


def test_legacy_tag_keys_are_the_original_tools():
    assert tags.legacy_source_tag_key("us-west-2") == "Sync-us-west-2"
    assert tags.legacy_copy_tag_key("us-east-1") == "Sync-From-us-east-1"
