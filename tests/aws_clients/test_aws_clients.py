"""aws_clients: the one way the deploy function, the jobs and ops call AWS (moto, botocore)."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

import aws_clients
from tests.moto_accounts import fake_credentials

REGION = "eu-west-1"
TOOLING, STAGE = "123456789012", "222222222222"  # moto's default account, another


@pytest.fixture
def aws(monkeypatch):
    fake_credentials(monkeypatch, REGION)
    with mock_aws():
        yield aws_clients.new_session(REGION)


def test_clients_are_bounded_by_their_limits(aws):
    limits = aws_clients.Limits(connect_seconds=2, read_seconds=7, attempts=4)
    config = aws_clients.client("sagemaker", aws, limits=limits).meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 7)
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}
    # botocore's standard mode sleeps at most 2**(n-1) s after failed attempt n (AWS SDKs and
    # Tools Reference Guide, "Retry behavior"): 4 x (2 + 7) + 1 + 2 + 4.
    assert limits.worst_case_seconds() == 43
    assert aws_clients.client("s3", aws, region="us-east-1").meta.region_name == "us-east-1"


def test_paginate_reads_every_page(aws):
    sm = aws_clients.client("sagemaker", aws)
    for n in range(7):
        sm.create_model(ModelName=f"m{n}", ExecutionRoleArn=f"arn:aws:iam::{TOOLING}:role/r",
                        PrimaryContainer={"Image": "img"})
    names = [m["ModelName"] for m in aws_clients.paginate(sm, "list_models", "Models",
                                                          PaginationConfig={"PageSize": 2})]
    assert sorted(names) == [f"m{n}" for n in range(7)]


def _client_error(code: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateEndpoint")


@pytest.mark.parametrize("code, kind", [
    ("AccessDeniedException", aws_clients.PERMISSION), ("AccessDenied", aws_clients.PERMISSION),
    ("KMS.AccessDeniedException", aws_clients.PERMISSION),
    ("ThrottlingException", aws_clients.TRANSIENT), ("ServiceUnavailable", aws_clients.TRANSIENT),
    ("ValidationException", aws_clients.FAILED), ("ResourceLimitExceeded", aws_clients.FAILED),
])
def test_one_classifier_for_every_part(code, kind):
    assert aws_clients.classify(_client_error(code)) == kind


def test_a_failure_is_one_line_naming_the_call(aws):
    sm = aws_clients.client("sagemaker", aws)
    with pytest.raises(aws_clients.CallFailed) as failed:
        aws_clients.aws_call(sm, "DescribeEndpoint", EndpointName="absent")
    assert str(failed.value).startswith("sagemaker:DescribeEndpoint failed: ValidationException: ")
    assert "\n" not in str(failed.value) and failed.value.kind == aws_clients.FAILED
    timeout = ReadTimeoutError(endpoint_url="https://x")
    assert aws_clients.describe("s3:GetObject", timeout) == \
        's3:GetObject failed: Read timeout on endpoint URL: "https://x"'
    assert aws_clients.describe("x:Y", _client_error("A", "two\n  lines")) == \
        "x:Y failed: A: two lines"


# moto's STS answers AssumeRole for any role ARN and acts with the credentials in the ARN's
# account (https://docs.getmoto.org/en/latest/docs/multi_account.html).
ROLE = f"arn:aws:iam::{STAGE}:role/deployer"


def test_assumed_sessions_act_in_the_roles_account_under_the_runs_name(aws):
    """The session name is part of the assumed role's principal ARN, which CloudTrail in the
    role's account logs (STS API Reference, AssumeRole, RoleSessionName:
    https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html); moto acts with an
    assumed role's credentials in the role's account."""
    role = ROLE
    name = aws_clients.session_name("deploy", "job 1/ä" + "x" * 80)
    assert name.startswith("deploy-job-1--") and len(name) == aws_clients.SESSION_NAME_MAX
    assumed = aws_clients.assumed_session(aws, role, external_id="ext-1", name=name, seconds=900)
    identity = aws_clients.client("sts", assumed).get_caller_identity()
    assert identity["Account"] == STAGE
    assert identity["Arn"] == f"arn:aws:sts::{STAGE}:assumed-role/deployer/{name}"
    assert assumed.region_name == REGION


def test_credentials_acting_elsewhere_are_refused_before_use(aws):
    role = ROLE
    with pytest.raises(aws_clients.WrongAccount) as wrong:
        aws_clients.assume_role(aws, role, external_id="ext-1", name="n-1", seconds=900,
                                expected_account="333333333333")
    assert (wrong.value.account, wrong.value.expected) == (STAGE, "333333333333")
    # Without an expected account, the role's own is expected: accepted here.
    keys = aws_clients.assume_role(aws, role, external_id="ext-1", name="n-1", seconds=900)
    assert set(keys) == {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
    assert str(wrong.value) == f"role {role} acts in account {STAGE}, not in account 333333333333"


def test_listing_failures_name_the_api_in_either_spelling(aws):
    s3 = aws_clients.client("s3", aws)
    with pytest.raises(aws_clients.CallFailed) as failed:
        aws_clients.listing(s3, "list_objects_v2", "Contents", Bucket="absent")
    assert str(failed.value).startswith("s3:ListObjectsV2 failed: NoSuchBucket: ")
    assert aws_clients.call_name(s3, "ListObjectsV2") == "s3:ListObjectsV2"
