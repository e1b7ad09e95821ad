"""Shared fixtures: emulated AWS, seeded resources, and a recorder of the AWS calls made."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from unittest import mock

import pytest
from botocore import loaders

from xregion_sync import aws
from xregion_sync.local import emulated_aws

SOURCE = "us-east-1"
DESTINATION = "us-west-2"


class _PathList(list):
    """Search paths that boto3 appends to on every new session, kept without repeats."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


@pytest.fixture(scope="session", autouse=True)
def parse_aws_models_once():
    """One botocore loader for the whole test session: every emulated test starts from
    fresh boto3 sessions, and each would parse the large EC2/RDS models again."""
    loader = loaders.create_loader()
    loader._search_paths = _PathList(loader.search_paths)
    with mock.patch("botocore.session.create_loader", return_value=loader):
        yield


@pytest.fixture
def emulated():
    """Emulated AWS for one test; seed resources inside the test."""
    with emulated_aws():
        yield


@dataclass
class CallRecorder:
    calls: list[aws.ApiCall] = field(default_factory=list)

    def __call__(self, call: aws.ApiCall) -> None:
        self.calls.append(call)

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def count(self) -> int:
        return len(self.calls)

    def by_operation(self) -> Counter:
        return Counter(self.operations())

    def named(self, operation: str) -> list[aws.ApiCall]:
        return [call for call in self.calls if call.operation == operation]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def api_calls(emulated):
    """Every AWS call the tool makes during the test (not the test's own seeding calls)."""
    recorder = CallRecorder()
    with aws.observe_calls(recorder):
        yield recorder
