"""Named exceptions.

The class name of an exception raised in a task Lambda becomes the Step Functions
error name, so Retry/Catch in the ASL can tell a throttle (retried with backoff)
from a domain error (never retried). Keep these names stable: the ASL uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

CONFIG_LEVEL = "(config)"  # the "job" named in errors that concern the whole config
# How a failed step's message names the copies it deleted before it failed: the message
# is all a Lambda's error carries to Record Failure, which puts them in `pruned`.
_DELETED = re.compile(r" \[deleted before the failure: ([^\[\]]*)\]$")


class SyncError(Exception):
    """Base class: an expected failure of one job, with a message a user can act on."""

    def __init__(self, message: str, *, job: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.job = job
        self.field = field
        self.deleted: list[str] = []  # copies the failing step deleted before it failed

    def __str__(self) -> str:
        if not self.deleted:
            return self.message
        return f"{self.message} [deleted before the failure: {', '.join(self.deleted)}]"


@contextmanager
def reporting_deletions(deleted: list[str]) -> Iterator[None]:
    """A SyncError leaving the block names the copies in `deleted` (as the block left
    the list): every deletion a run made is in its job's result, whatever the outcome."""
    try:
        yield
    except SyncError as exc:
        exc.deleted = [*deleted, *(i for i in exc.deleted if i not in deleted)]
        raise


def deleted_before_failure(message: str) -> list[str]:
    """The copies a failed step's message (str of a SyncError) says it deleted."""
    found = _DELETED.search(message)
    return [i for i in found[1].split(", ") if i] if found else []


class ConfigError(SyncError):
    """The config is invalid for this job. Fix the config; retrying cannot help."""


class SourceNotFoundError(SyncError):
    """No source AMI / automated snapshot / DB instance matched the job."""


class AmbiguousSourceError(SyncError):
    """More than one source AMI matched the job's owner, identifier and filters."""


class DestinationConflictError(SyncError):
    """The destination holds a resource with the copy's name that this tool did not create."""


class CopyQuotaExceededError(SyncError):
    """An AWS count quota stopped the copy (manual DB snapshots, AMIs in the region)."""


class CopySlotsFullError(SyncError):
    """The destination region already has as many copies in progress as AWS allows: the
    job is deferred (it waits for a slot, or the next run copies), not failed."""


class CopyGoneError(SyncError):
    """The copy was deregistered or deleted (while waiting for it, or again and again
    under CopyImage's idempotent answer)."""


class OrphanedSnapshotsError(SyncError):
    """A copy was deregistered but some of its snapshots could not be deleted."""


class AccessDeniedError(SyncError):
    """The credentials may not make a call the job needs."""


class CredentialsError(SyncError):
    """No usable AWS credentials were found for the job."""


class ThrottlingError(SyncError):
    """AWS kept throttling after the SDK's own retries; safe to retry later."""


class DryRunError(SyncError):
    """A dry run reached a step that would change AWS; the step refused, changing nothing."""


class AwsApiError(SyncError):
    """Any other error answered by an AWS API."""
