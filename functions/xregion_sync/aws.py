"""The only place that builds boto3 sessions and clients, and that turns AWS errors
into this tool's named errors.

Clients are cached per (client config, service, region) so a warm Lambda and a run
of many jobs reuse connections; boto3 clients are thread-safe, sessions are not,
so sessions are only touched under a lock.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
from botocore.config import Config as BotocoreConfig
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.session import get_session as get_botocore_session

from . import __version__
from .errors import (
    AccessDeniedError,
    AwsApiError,
    ConfigError,
    CopyQuotaExceededError,
    CopySlotsFullError,
    CredentialsError,
    SyncError,
    ThrottlingError,
)
from .spec import ClientConfig, JobSpec

T = TypeVar("T")
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_SESSION_NAME = "xregion-sync"

_lock = threading.Lock()
_sessions: dict[ClientConfig, boto3.Session] = {}
_clients: dict[tuple[ClientConfig, str, str], Any] = {}
_call_observers: list[Callable[[ApiCall], None]] = []


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call made by this tool (SDK retries of it not counted again)."""

    service: str
    operation: str
    region: str
    params: dict[str, Any]  # the API parameters as the tool passed them (before serialization)


@contextmanager
def observe_calls(callback: Callable[[ApiCall], None]) -> Iterator[None]:
    """Call `callback` for every API call any client built here makes (tests, benchmark)."""
    _call_observers.append(callback)
    try:
        yield
    finally:
        _call_observers.remove(callback)


def _notify_observers(model: Any, params: dict[str, Any], context: dict[str, Any],
                      **_kwargs: Any) -> None:
    if _call_observers:
        call = ApiCall(model.service_model.service_name, model.name,
                       context.get("client_region", ""), copy.deepcopy(params))
        for callback in list(_call_observers):
            callback(call)


def client(job: JobSpec, service: str, region: str,
           settings: ClientConfig | None = None) -> Any:
    """A cached boto3 client for the job's credentials (or `settings` derived from them)
    in one region."""
    settings = settings or job.client
    try:
        return client_for(settings, service, region)
    except ProfileNotFound:
        raise ConfigError(
            f"job '{job.name}', field 'aws_client_config.profile': there is no profile "
            f"'{settings.profile}' in this machine's AWS config (~/.aws/config, or "
            "AWS_CONFIG_FILE): add it (aws configure --profile NAME) or remove the key",
            job=job.name, field="aws_client_config.profile") from None


def tool_client(service: str, region: str | None = None) -> Any:
    """A client with the tool's own credentials (the Lambda role), e.g. to read its config."""
    return client_for(ClientConfig(), service, region or os.environ.get("AWS_REGION")
                      or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")


def client_for(settings: ClientConfig, service: str, region: str) -> Any:
    key = (settings, service, region)
    with _lock:
        cached = _clients.get(key)
        if cached is None:
            session = _session(settings)
            cached = session.client(
                service,
                region_name=region,
                endpoint_url=settings.endpoint_url,
                config=_botocore_config(settings),
            )
            # Fired once per call with the caller's parameters (before-call would give
            # the serialized body, where e.g. RDS's SourceRegion is already gone).
            cached.meta.events.register("before-parameter-build.*.*", _notify_observers)
            _clients[key] = cached
    return cached


def clear_cache() -> None:
    """Forget cached sessions and clients (tests and the emulator switch AWS backends)."""
    with _lock:
        _sessions.clear()
        _clients.clear()


def _botocore_config(settings: ClientConfig) -> BotocoreConfig:
    return BotocoreConfig(
        # total_max_attempts counts the first attempt too, as the max_attempts option does
        retries={"mode": "standard",
                 "total_max_attempts": settings.max_attempts or DEFAULT_MAX_ATTEMPTS},
        user_agent_extra=f"xregion-sync/{__version__}",
    )


def _session(settings: ClientConfig) -> boto3.Session:
    session = _sessions.get(settings)
    if session is None:
        session = _build_session(settings)
        _sessions[settings] = session
    return session


def _build_session(settings: ClientConfig) -> boto3.Session:
    base = boto3.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        profile_name=settings.profile,
        region_name=settings.region,
    )
    if settings.credentials_secret_arn:
        base = _session_from_secret(base, settings)
    if settings.role_arn:
        base = _assumed_role_session(base, settings)
    return base


def _session_from_secret(base: boto3.Session, settings: ClientConfig) -> boto3.Session:
    """Static keys kept in Secrets Manager, read by the task itself (never in payloads)."""
    arn = settings.credentials_secret_arn
    assert arn  # called only for a config with a secret (_build_session)
    region = settings.region or (arn.split(":")[3] if arn.count(":") >= 6 else None)
    secrets = base.client("secretsmanager", region_name=region, endpoint_url=settings.endpoint_url,
                          config=_botocore_config(settings))
    raw = secrets.get_secret_value(SecretId=arn)["SecretString"]
    try:
        values = json.loads(raw)
        key_id = values.get("aws_access_key_id") or values["aws_access_key"]
        secret = values.get("aws_secret_access_key") or values["aws_secret_key"]
    except (ValueError, KeyError, AttributeError, TypeError):
        raise CredentialsError(
            f"secret {arn} must hold JSON with 'aws_access_key_id' and 'aws_secret_access_key'"
        ) from None
    return boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                         aws_session_token=values.get("aws_session_token"),
                         region_name=settings.region)


def _assumed_role_session(base: boto3.Session, settings: ClientConfig) -> boto3.Session:
    """A session whose credentials come from sts:AssumeRole and refresh before expiry."""
    extra_args = {"RoleSessionName": settings.role_session_name or DEFAULT_SESSION_NAME}
    if settings.external_id:
        extra_args["ExternalId"] = settings.external_id
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=_sts_client_creator(base, settings),
        source_credentials=base.get_credentials(),
        role_arn=settings.role_arn,
        extra_args=extra_args,
    )
    botocore_session = get_botocore_session()
    # boto3 has no public way to hand a session refreshable credentials.
    botocore_session._credentials = DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    return boto3.Session(botocore_session=botocore_session, region_name=base.region_name)


def _sts_client_creator(base: boto3.Session, settings: ClientConfig) -> Callable[..., Any]:
    def create(service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", settings.endpoint_url)
        kwargs.setdefault("region_name", settings.region or base.region_name or "us-east-1")
        return base.client(service, **kwargs)

    return create


# ---------------------------------------------------------------- errors

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
    "SlowDown", "PriorRequestNotComplete",
})
ACCESS_DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure",
    "Forbidden", "OptInRequired",
})
CREDENTIAL_CODES = frozenset({
    "InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken",
    "ExpiredTokenException", "SignatureDoesNotMatch", "InvalidAccessKeyId",
})
QUOTA_ADVICE = {
    "SnapshotQuotaExceeded": "the manual DB snapshot quota of the destination region is used "
    "up: delete unneeded snapshots, lower max_snapshots_to_retain, or raise 'Manual DB "
    "instance snapshots' in Service Quotas; the next run copies",
    "ResourceLimitExceeded": "the region's AMI quota is reached: deregister unneeded AMIs, "
    "lower max_images_to_retain, or raise the quota in Service Quotas; the next run copies",
}
# CopyDBClusterSnapshot answers the same code for its own count quota.
OPERATION_QUOTA_ADVICE = {
    ("CopyDBClusterSnapshot", "SnapshotQuotaExceeded"): "the manual DB cluster snapshot "
    "quota of the destination region is used up: delete unneeded cluster snapshots, lower "
    "max_snapshots_to_retain, or raise 'Manual DB cluster snapshots' in Service Quotas; the "
    "next run copies",
}


def copy_slots_full(exc: ClientError) -> bool:
    """Whether AWS refused a copy because the destination region already has as many
    copies in progress as it allows. The same codes also answer count quotas, so the
    message tells them apart: RDS "Cannot copy more than 20 snapshots across regions"
    (vs "Cannot create more than 100 manual snapshots"), EC2 "Too many snapshot copies
    in progress" (vs the AMI count quota)."""
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "").lower()
    if code == "SnapshotQuotaExceeded":
        return "copy" in message and "across regions" in message
    return code == "ResourceLimitExceeded" and "in progress" in message


def error_code(exc: ClientError) -> str:
    code: str = exc.response.get("Error", {}).get("Code", "")
    return code


def unless_not_found(call: Callable[[], T], not_found_code: str, default: T) -> T:
    """call(), or `default` when AWS answers `not_found_code` (the thing asked for does
    not exist): for look-ups where absence is an answer, not an error."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) != not_found_code:
            raise
        return default


def who(job: str) -> str:
    """The start of an error message: the job it is about, if any (push-config has none)."""
    return f"job '{job}': " if job else ""


@contextmanager
def aws_errors(job: str, doing: str) -> Iterator[None]:
    """Translate boto errors raised while `doing` something for `job` into named errors."""
    try:
        yield
    except SyncError:
        raise
    except ClientError as exc:
        raise translate_client_error(exc, job, doing) from None
    except (NoCredentialsError, PartialCredentialsError, ProfileNotFound) as exc:
        raise CredentialsError(
            f"{who(job)}no usable AWS credentials while {doing} ({exc}); configure the "
            "standard AWS credential chain, a 'profile', or 'role_arn' in aws_client_config",
            job=job,
        ) from None
    except (EndpointConnectionError, NoRegionError) as exc:
        raise AwsApiError(f"{who(job)}cannot reach AWS while {doing}: {exc}", job=job) from None
    except BotoCoreError as exc:
        raise AwsApiError(f"{who(job)}AWS SDK error while {doing}: {exc}", job=job) from None


def translate_client_error(exc: ClientError, job: str, doing: str) -> SyncError:
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    operation = getattr(exc, "operation_name", "")
    said = f"{who(job)}{operation} failed while {doing}: {code}: {message}"
    if code in THROTTLING_CODES:
        return ThrottlingError(f"{said} (throttled after the SDK's retries)", job=job)
    if code in ACCESS_DENIED_CODES:
        return AccessDeniedError(f"{said}; grant the credentials permission for {operation}",
                                 job=job)
    if code in CREDENTIAL_CODES:
        return CredentialsError(f"{said}; check the job's credentials", job=job)
    if copy_slots_full(exc):
        return CopySlotsFullError(f"{said}. The destination's copies in progress are at "
                                  "AWS's quota: the job waits for a slot or the next run "
                                  "copies", job=job)
    advice = OPERATION_QUOTA_ADVICE.get((operation, code)) or QUOTA_ADVICE.get(code)
    if advice:
        return CopyQuotaExceededError(f"{said}. This is an AWS quota: {advice}",
                                      job=job)
    return AwsApiError(said, job=job)
