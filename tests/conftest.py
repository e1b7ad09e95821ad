"""Shared fixtures: emulated AWS, seeded resources, and a recorder of the AWS calls made."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from xregion_sync import aws
from xregion_sync.local import emulated_aws

SOURCE = "us-east-1"
DESTINATION = "us-west-2"


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
