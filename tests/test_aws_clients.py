"""The aws layer: credentials as configured, cached clients, AWS errors as named errors."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from conftest import DESTINATION, SOURCE

from xregion_sync import aws, load_config
from xregion_sync.errors import (
    AccessDeniedError,
    AwsApiError,
    CopyQuotaExceededError,
    CredentialsError,
    SourceNotFoundError,
    SyncError,
    ThrottlingError,
)
from xregion_sync.spec import ClientConfig, JobSpec
from xregion_sync_emulator.moto_seam import ec2_backends

JOB = "sync_x"
ROLE_ACCOUNT = "111111111111"
ROLE_ARN = f"arn:aws:iam::{ROLE_ACCOUNT}:role/dr-copier"


def job(name: str = JOB, **client) -> JobSpec:
    return JobSpec(name=name, sync_type="ec2_ami", source_region=SOURCE,
                   destination_region=DESTINATION, options={}, client=ClientConfig(**client))


def access_key_of(client) -> str:
    return client._request_signer._credentials.get_frozen_credentials().access_key


def translated(exc: Exception) -> SyncError:
    with pytest.raises(SyncError) as raised, aws.aws_errors(JOB, "copying ami-1"):
        raise exc
    return raised.value


def client_error(code: str, operation: str = "CopyImage") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} said AWS"}}, operation)


# ---------------------------------------------------------------- error translation


@pytest.mark.parametrize(("code", "error_class"), [
    ("Throttling", ThrottlingError),
    ("ThrottlingException", ThrottlingError),
    ("RequestLimitExceeded", ThrottlingError),
    ("AccessDenied", AccessDeniedError),
    ("AccessDeniedException", AccessDeniedError),
    ("UnauthorizedOperation", AccessDeniedError),
    ("SnapshotQuotaExceeded", CopyQuotaExceededError),
    ("ResourceLimitExceeded", CopyQuotaExceededError),
    ("ExpiredToken", CredentialsError),
    ("InvalidAMIID.Malformed", AwsApiError),
])
def test_client_errors_become_named_errors_naming_job_operation_and_code(code, error_class):
    error = translated(client_error(code))

    assert type(error) is error_class
    assert error.job == JOB
    for fragment in (f"job '{JOB}'", "CopyImage", "copying ami-1", code, f"{code} said AWS"):
        assert fragment in error.message


@pytest.mark.parametrize(("code", "advice"), [
    ("SnapshotQuotaExceeded", "Manual DB instance snapshots"),
    ("ResourceLimitExceeded", "deregister unneeded AMIs"),
])
def test_a_quota_error_says_it_is_a_quota_and_what_to_do(code, advice):
    error = translated(client_error(code))

    assert "This is an AWS quota" in error.message
    assert advice in error.message
    assert "Service Quotas" in error.message
    assert "the next run copies" in error.message


def test_access_denied_says_which_permission_is_missing():
    error = translated(client_error("UnauthorizedOperation", "DeregisterImage"))

    assert "permission for DeregisterImage" in error.message


def test_no_credentials_is_a_credentials_error_saying_how_to_configure():
    error = translated(NoCredentialsError())

    assert type(error) is CredentialsError
    assert f"job '{JOB}'" in error.message
    assert "role_arn" in error.message and "profile" in error.message


def test_an_unreachable_endpoint_is_an_api_error():
    error = translated(EndpointConnectionError(endpoint_url="https://ec2.nowhere.amazonaws.com"))

    assert type(error) is AwsApiError
    assert "cannot reach AWS" in error.message


def test_named_errors_and_bugs_pass_through_unchanged():
    named = SourceNotFoundError("no source", job=JOB)

    assert translated(named) is named
    with pytest.raises(KeyError), aws.aws_errors(JOB, "copying"):
        raise KeyError("a bug stays a bug")


# ---------------------------------------------------------------- credentials


def test_the_originals_key_names_are_used_as_credentials(emulated):
    (spec,) = load_config({JOB: {
        "sync_type": "ec2_ami", "source_region": SOURCE, "destination_region": DESTINATION,
        "aws_client_config": {"aws_access_key": "AKIAORIGINALKEY00001",
                              "aws_secret_key": "original-secret"}}}).jobs

    client = aws.client(spec, "ec2", SOURCE)

    credentials = client._request_signer._credentials.get_frozen_credentials()
    assert (credentials.access_key, credentials.secret_key) == (
        "AKIAORIGINALKEY00001", "original-secret")


def test_role_arn_makes_the_client_assume_the_role(emulated, monkeypatch):
    # GIVEN a job that names a role, and a record of the STS calls the aws layer makes
    assume_calls = []
    real_creator = aws._sts_client_creator

    def recording_creator(base, settings):
        create = real_creator(base, settings)

        def create_and_record(service, **kwargs):
            sts = create(service, **kwargs)
            sts.meta.events.register("before-parameter-build.sts.AssumeRole",
                                     lambda params, **_: assume_calls.append(dict(params)))
            return sts

        return create_and_record

    monkeypatch.setattr(aws, "_sts_client_creator", recording_creator)
    spec = job(role_arn=ROLE_ARN, external_id="dr-2024", role_session_name="nightly")

    # WHEN the job's client registers an AMI
    image_id = aws.client(spec, "ec2", SOURCE).register_image(
        Name="made-as-the-role", RootDeviceName="/dev/xvda")["ImageId"]

    # THEN the role was assumed with the configured session name and external id
    assert assume_calls == [{"RoleArn": ROLE_ARN, "RoleSessionName": "nightly",
                             "ExternalId": "dr-2024"}]
    # AND the AMI belongs to the role's account (moto files it under those credentials)
    assert image_id in ec2_backends[ROLE_ACCOUNT][SOURCE].amis


def put_secret(value: str) -> str:
    return boto3.client("secretsmanager", region_name=SOURCE).create_secret(
        Name="xregion-sync/keys", SecretString=value)["ARN"]


@pytest.mark.parametrize("names", [("aws_access_key_id", "aws_secret_access_key"),
                                   ("aws_access_key", "aws_secret_key")])
def test_credentials_secret_arn_reads_keys_from_secrets_manager(emulated, names):
    arn = put_secret(json.dumps({names[0]: "AKIAFROMSECRET000001", names[1]: "from-secret"}))

    client = aws.client(job(credentials_secret_arn=arn), "ec2", DESTINATION)

    assert access_key_of(client) == "AKIAFROMSECRET000001"


def test_a_malformed_credentials_secret_is_a_credentials_error_without_its_value(emulated):
    arn = put_secret("AKIAFROMSECRET000001:not-json-secret")

    with pytest.raises(CredentialsError) as raised:
        aws.client(job(credentials_secret_arn=arn), "ec2", SOURCE)

    assert arn in raised.value.message
    assert "not-json-secret" not in raised.value.message


# ---------------------------------------------------------------- the client cache


def test_clients_are_cached_per_client_config_service_and_region(emulated):
    plain = aws.client(job(), "ec2", SOURCE)

    # same client config in another job: the same client
    assert aws.client(job(name="sync_other"), "ec2", SOURCE) is plain
    # another region, service or client config: another client
    assert aws.client(job(), "ec2", DESTINATION) is not plain
    assert aws.client(job(), "rds", SOURCE) is not plain
    keyed = aws.client(job(aws_access_key_id="AKIAOTHER00000000001",
                           aws_secret_access_key="other"), "ec2", SOURCE)
    assert keyed is not plain
    assert access_key_of(keyed) == "AKIAOTHER00000000001"
    # after clear_cache (a new emulated world) clients are built afresh
    aws.clear_cache()
    assert aws.client(job(), "ec2", SOURCE) is not plain


def test_client_settings_reach_the_sdk(emulated):
    client = aws.client(job(max_attempts=2, endpoint_url="http://localhost:5000"), "ec2", SOURCE)

    # max_attempts counts every attempt, the first included (retries + 1)
    assert client.meta.config.retries["total_max_attempts"] == 2
    assert aws.client(job(), "ec2", SOURCE).meta.config.retries["total_max_attempts"] == (
        aws.DEFAULT_MAX_ATTEMPTS)
    assert client.meta.endpoint_url == "http://localhost:5000"
    assert client.meta.region_name == SOURCE
    assert "xregion-sync/" in client.meta.config.user_agent_extra
