"""Named exceptions.

The class name of an exception raised in a task Lambda becomes the Step Functions
error name, so Retry/Catch in the ASL can tell a throttle (retried with backoff)
from a domain error (never retried). Keep these names stable: the ASL uses them.
"""

from __future__ import annotations

CONFIG_LEVEL = "(config)"  # the "job" named in errors that concern the whole config


class SyncError(Exception):
    """Base class: an expected failure of one job, with a message a user can act on."""

    def __init__(self, message: str, *, job: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.job = job
        self.field = field

    def __str__(self) -> str:
        return self.message


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


class AwsApiError(SyncError):
    """Any other error answered by an AWS API."""
