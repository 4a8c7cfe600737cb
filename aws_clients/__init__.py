"""How this project's code talks to AWS: one client factory (timeouts, bounded retries), one way
to page through lists, one error classifier and one way to act as a role in another account.

Used by the deploy function (lambda_deploy), the CodeBuild jobs (pipeline_src/jobs) and ops
(teardown). It ships as a top-level package in both code zips beside their own package
(infra/app.py build_packages; docs/interfaces.md says why), so it imports nothing of the project
and only boto3/botocore (the Lambda runtime's boto3, the jobs' pinned one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Optional


# SageMaker's rule for the names of its resources (endpoints, endpoint configs, models,
# variants, training jobs): the pattern and length limit of e.g. CreateEndpoint's EndpointName
# (SageMaker API Reference). Both zips check names with it: the function's settings and the
# jobs' and local tools' arguments.
SAGEMAKER_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"
SAGEMAKER_NAME_MAX = 63


def is_sagemaker_name(name: str) -> bool:
    return len(name) <= SAGEMAKER_NAME_MAX and re.fullmatch(SAGEMAKER_NAME, name) is not None


# What a command run by hand says when boto3 finds no credentials (ops' commands).
NO_CREDENTIALS = ("no AWS credentials found; set AWS_PROFILE (or run `aws sso login`), or "
                  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and retry")


@dataclass(frozen=True)
class Limits:
    """How long one call may take: per-attempt connect and read timeouts and the number of
    attempts (the first and its retries) in botocore's standard retry mode."""

    connect_seconds: float
    read_seconds: float
    attempts: int

    def worst_case_seconds(self) -> float:
        """Longest one call can take when every attempt times out, backoff included: the
        standard retry mode sleeps at most 2**(n-1) s after failed attempt n (AWS SDKs and Tools
        Reference Guide, "Retry behavior")."""
        return self.attempts * (self.connect_seconds + self.read_seconds) + sum(
            2 ** (n - 1) for n in range(1, self.attempts))


# The deploy function and the jobs: a stalled connection fails the call (and the job, with one
# line naming it) instead of hanging it until the Lambda or build timeout; throttling backs off.
SERVICE_LIMITS = Limits(connect_seconds=10, read_seconds=60, attempts=5)


def config(limits: Limits = SERVICE_LIMITS, **extra):
    from botocore.config import Config

    return Config(connect_timeout=limits.connect_seconds, read_timeout=limits.read_seconds,
                  retries={"total_max_attempts": limits.attempts, "mode": "standard"}, **extra)


def new_session(region: Optional[str] = None):
    """A session whose STS clients call their region's endpoint (sts.<region>.amazonaws.com).
    botocore before 1.36 (the Lambda runtime's boto3 1.35) sends STS to the global
    sts.amazonaws.com in most regions; in private subnets only the regional name resolves to
    the STS interface endpoint, and "session tokens from Regional AWS STS endpoints are valid in
    all AWS Regions" (IAM User Guide, "Manage AWS STS in an AWS Region",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_enable-regions.html),
    so credentials from the home region's endpoint serve every region the deploy reaches."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.set_config_variable("sts_regional_endpoints", "regional")
    return boto3.session.Session(botocore_session=core, region_name=region)


def client(service: str, session, *, region: Optional[str] = None,
           credentials: Optional[dict] = None, limits: Limits = SERVICE_LIMITS, **config_extra):
    """A client of `service` from `session` (whose loaded service models it reuses), in `region`
    (default: the session's) and with `credentials` (keys from assume_role; default: the
    session's), bounded by `limits`."""
    return session.client(service, region_name=region or session.region_name,
                          config=config(limits, **config_extra), **(credentials or {}))


def paginate(aws_client, operation: str, result_key: str, **params) -> Iterator:
    """Every item under `result_key` of every page of `operation` (snake_case), with botocore's
    paginator: no hand-written NextToken loops."""
    for page in aws_client.get_paginator(operation).paginate(**params):
        yield from page.get(result_key, [])


# --- errors -------------------------------------------------------------------------------------

PERMISSION = "permission"  # the caller's policies (or a resource's) refuse it: fix IAM
TRANSIENT = "transient"  # throttled or the service is unavailable: try again later
FAILED = "failed"  # anything else: the request or the resource's state is wrong

_PERMISSION_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                     "KMS.AccessDeniedException"}
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceUnavailable",
                    "InternalFailure", "InternalServerError", "RequestLimitExceeded",
                    "TooManyRequestsException"}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def classify(exc: BaseException) -> str:
    """PERMISSION, TRANSIENT or FAILED: what the caller should tell its user to do."""
    code = error_code(exc)
    if code in _PERMISSION_CODES:
        return PERMISSION
    if code in _TRANSIENT_CODES:
        return TRANSIENT
    return FAILED


def describe(call: str, exc: BaseException) -> str:
    """One line: "<call> failed: <Code>: <AWS's message>" (a ClientError) or "<call> failed:
    <botocore's message>" (no answer: timeouts, connection, credentials)."""
    response = getattr(exc, "response", None)
    if response is not None:
        error = response.get("Error", {})
        message = " ".join(str(error.get("Message", "")).split())
        return f"{call} failed: {error.get('Code', 'Error')}: {message}"
    return f"{call} failed: {' '.join(str(exc).split())}"


def aws_errors() -> tuple:
    """The exceptions an AWS call raises: (ClientError, BotoCoreError)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return ClientError, BotoCoreError


class CallFailed(Exception):
    """An AWS call failed; str() is describe()'s line, .kind is classify()'s answer."""

    def __init__(self, call: str, exc: BaseException):
        super().__init__(describe(call, exc))
        self.call, self.cause, self.kind = call, exc, classify(exc)


def call_name(aws_client, operation: str) -> str:
    """'<service>:<Operation>' for an operation in either spelling (list_tags or ListTags): the
    botocore service name, which is IAM's prefix for the services called here but
    sagemaker-runtime's."""
    api = aws_client.meta.method_to_api_mapping.get(operation, operation)
    return f"{aws_client.meta.service_model.service_name}:{api}"


def aws_call(aws_client, operation: str, **params):
    """aws_client.<operation>(**params), operation in either spelling; a failure raises
    CallFailed naming call_name()."""
    method = getattr(aws_client, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
    try:
        return method(**params)
    except aws_errors() as exc:
        raise CallFailed(call_name(aws_client, operation), exc) from None


def listing(aws_client, operation: str, result_key: str, **params) -> list:
    """paginate() into a list; a failure raises CallFailed naming call_name()."""
    try:
        return list(paginate(aws_client, operation, result_key, **params))
    except aws_errors() as exc:
        raise CallFailed(call_name(aws_client, operation), exc) from None


# --- acting in another account ------------------------------------------------------------------

# AssumeRole: RoleSessionName is 2-64 characters of [\w+=,.@-] (STS API Reference, AssumeRole).
SESSION_NAME_MAX = 64


def session_name(purpose: str, run_id: str) -> str:
    """<purpose>-<run id> (the deploy job's or build's id) in AssumeRole's alphabet: CloudTrail
    in the other account shows which run acted."""
    return re.sub(r"[^\w+=,.@-]", "-", f"{purpose}-{run_id}", flags=re.ASCII)[:SESSION_NAME_MAX]


class WrongAccount(Exception):
    """The assumed role's credentials act in another account than the one expected."""

    def __init__(self, role_arn: str, account: str, expected: str):
        super().__init__(f"role {role_arn} acts in account {account}, not in account {expected}")
        self.role_arn, self.account, self.expected = role_arn, account, expected


def account_of(role_arn: str) -> str:
    return role_arn.split(":")[4]


def assume_role(session, role_arn: str, *, external_id: str, name: str, seconds: int,
                expected_account: Optional[str] = None, sts=None,
                limits: Limits = SERVICE_LIMITS) -> dict:
    """Credentials (client keyword arguments) of role_arn, assumed with the ExternalId its trust
    requires, checked to act in `expected_account` (default: the role's own) before anything is
    called with them. Raises CallFailed or WrongAccount."""
    sts = sts or client("sts", session, limits=limits)
    credentials = aws_call(sts, "AssumeRole", RoleArn=role_arn, RoleSessionName=name,
                       ExternalId=external_id, DurationSeconds=seconds)["Credentials"]
    keys = {"aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}
    # The role's ARN names an account, but what counts is where the credentials act.
    identity = client("sts", session, region=sts.meta.region_name, credentials=keys,
                      limits=limits)
    account = aws_call(identity, "GetCallerIdentity")["Account"]
    expected = expected_account or account_of(role_arn)
    if account != expected:
        raise WrongAccount(role_arn, account, expected)
    return keys


def assumed_session(session, role_arn: str, **assume):
    """A boto3 session acting as role_arn (assume_role's checks), in the session's region."""
    import boto3

    keys = assume_role(session, role_arn, **assume)
    return boto3.session.Session(region_name=session.region_name, **keys)
