"""Deploying across accounts: the registry in the tooling account, each stage's endpoint in its own.

moto keeps resources per account, and credentials from AssumeRole act in the assumed role's account
(moto's documentation, "Multi-Account support",
https://docs.getmoto.org/en/latest/docs/multi_account.html). The function's own account here is
moto's default (123456789012, standing for config/prod.json's tooling account: the registry and
the job claims); staging and prod are in prod's two stage accounts, each reached through its
deployer role, with prod's names and stage settings (prod's secondary region is
test_deploy_regions.py's). AWS's side of AssumeRole (a role's trust policy admits exactly the
tooling deploy role with the ExternalId) and of every call made in a stage account (its deployer's
and serving role's grants) are judged on prod's stacks from the calls recorded here
(tests/infra/test_iam_cross_account.py), as moto enforces neither.
"""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from deploy_helpers import (ACCOUNT, JOB_A, PROD_ACCOUNTS, PROD_PREFIX, REGION, job_event,
                            moto_backend, prod_environment, prod_placement,
                            register_prod_package)
from lambda_deploy import aws as lambda_aws
from lambda_deploy.handler import handler

TOOLING = ACCOUNT
PREFIX = PROD_PREFIX
ACCOUNTS = PROD_ACCOUNTS
STAGING, PROD = ACCOUNTS["staging"], ACCOUNTS["prod"]
EXTERNAL_ID = f"{PREFIX}-deploy"
# Services whose calls are about a stage's endpoint; every one must act in the stage's account.
STAGE_SERVICES = {"sagemaker", "application-autoscaling", "cloudwatch", "sagemaker-runtime"}
# config/prod.json's stage settings (what infra writes into STAGE_SETTINGS), but prod's
# secondary region.
SETTINGS = {
    "staging": {"keep_previous": 2, "deployment": {
        "strategy": "all_at_once", "canary_percent": 10, "linear_step_percent": 20,
        "wait_seconds": 120, "termination_wait_seconds": 60,
        "max_execution_timeout_seconds": 3600}, "accept_pending_approval": False},
    "prod": {"instance_type": "ml.m5.xlarge", "initial_instance_count": 4,
             "data_capture_percent": 10, "keep_previous": 3, "deployment": {
                 "strategy": "linear", "canary_percent": 10, "linear_step_percent": 25,
                 "wait_seconds": 600, "termination_wait_seconds": 600,
                 "max_execution_timeout_seconds": 7200},
             "autoscaling": {"min_instances": 4, "max_instances": 12,
                             "target_invocations_per_instance": 200,
                             "scale_in_cooldown_seconds": 300, "scale_out_cooldown_seconds": 60}},
}


def placement(stage: str) -> dict:
    return prod_placement(stage, **SETTINGS[stage])


@pytest.fixture
def cross_account(fake, monkeypatch):
    for name, value in prod_environment({s: placement(s) for s in ACCOUNTS}).items():
        monkeypatch.setenv(name, value)
    assumed = []
    # Record each AssumeRole as AWS receives it (the session name shows in CloudTrail).
    lambda_aws.client("sts").meta.events.register(
        "before-call.sts.AssumeRole",
        lambda params, **_: assumed.append(dict(params["body"])) and None)
    fake.assumed = assumed
    return fake


def deploy_stage(fake, key: str, stage: str, job_id: str) -> list[tuple[str, str, str]]:
    """Create the stage's endpoint and confirm it; the (service, operation, account) of every
    call the function made meanwhile."""
    first = len(fake.accounts)
    assert handler(job_event(job_id, stage, key), None) == {"status": "replied"}
    name, reply = fake.last_reply()
    assert name == "PutJobSuccessResult", reply
    handler(job_event(job_id, stage, key, token=reply["continuationToken"]), None)
    name, reply = fake.last_reply()
    assert name == "PutJobSuccessResult" and "continuationToken" not in reply, reply
    return fake.accounts[first:]


def sagemaker_in(account: str):
    backend = moto_backend(account)
    return sorted(backend._models), sorted(backend.endpoint_configs), sorted(backend.endpoints)


def test_a_package_moves_from_the_tooling_registry_to_staging_then_prod(cross_account, artifacts):
    fake = cross_account
    arn = register_prod_package()
    assert arn.startswith(f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/")
    key = artifacts.package(arn)

    staging_calls = deploy_stage(fake, key, "staging", JOB_A)
    job_b = "b5e6f7a8-0000-4000-8000-000000000002"
    prod_calls = deploy_stage(fake, key, "prod", job_b)

    # Each stage's endpoint, model and config exist in its own account only.
    assert sagemaker_in(STAGING) == ([f"{PREFIX}-staging-v1-{JOB_A[:8]}"],
                                     [f"{PREFIX}-staging-v1-{JOB_A[:8]}"], [f"{PREFIX}-staging"])
    assert sagemaker_in(PROD) == ([f"{PREFIX}-prod-v1-{job_b[:8]}"],
                                  [f"{PREFIX}-prod-v1-{job_b[:8]}"], [f"{PREFIX}-prod"])
    assert sagemaker_in(TOOLING) == ([], [], [])
    # The model serves the tooling account's package, run as the stage account's serving role.
    model = moto_backend(PROD)._models[f"{PREFIX}-prod-v1-{job_b[:8]}"]
    assert [c["ModelPackageName"] for c in model.containers] == [arn]
    assert model.execution_role_arn == placement("prod")["execution_role_arn"]

    for calls, stage in ((staging_calls, "staging"), (prod_calls, "prod")):
        about_endpoint = [(s, op, acct) for s, op, acct in calls if s in STAGE_SERVICES
                          and op != "DescribeModelPackage"]
        assert about_endpoint, stage
        # Every call about the stage's endpoint was made with the stage account's credentials.
        assert {acct for _, _, acct in about_endpoint} == {ACCOUNTS[stage]}, about_endpoint
        # The registry, the job claims and the replies stay in the tooling account.
        tooling = [(s, op) for s, op, acct in calls if acct == TOOLING]
        assert ("sagemaker", "DescribeModelPackage") in tooling
        assert {s for s, _ in tooling} <= {"sagemaker", "s3", "codepipeline", "sts"}
        assert all(op in ("DescribeModelPackage",) for s, op in tooling if s == "sagemaker")

    # One AssumeRole per invocation, of the stage's deployer role, with its ExternalId and the
    # job ID in the session name.
    assert [(a["RoleArn"], a["ExternalId"]) for a in fake.assumed] == [
        (placement(stage)["role_arn"], EXTERNAL_ID)
        for stage in ("staging", "staging", "prod", "prod")]
    sessions = [a["RoleSessionName"] for a in fake.assumed]
    # A continuation is a new job (its own ID): each invocation names the job it acts for.
    assert sessions[0] == f"deploy-{JOB_A}" and sessions[2] == f"deploy-{job_b}"
    assert sessions[1].startswith("deploy-c") and sessions[1].endswith(JOB_A[8:])
    assert sessions[3].startswith("deploy-c") and sessions[3].endswith(job_b[8:])


def test_a_stage_acts_in_no_other_account(cross_account, artifacts):
    """A staging job touches neither prod's account nor the tooling account's SageMaker."""
    fake = cross_account
    key = artifacts.package(register_prod_package())
    calls = deploy_stage(fake, key, "staging", JOB_A)
    assert {acct for _, _, acct in calls} == {TOOLING, STAGING}
    assert sagemaker_in(PROD) == ([], [], []) and sagemaker_in(TOOLING) == ([], [], [])


def test_credentials_that_act_elsewhere_are_refused_before_any_call(cross_account,
                                                                   artifacts):
    """The role's ARN names its account, but the credentials are what act: if they act in another
    account (a role ARN that resolves elsewhere), nothing is called with them."""
    fake = cross_account

    def elsewhere(**_):
        return (AWSResponse("https://fake", 200, {}, None),
                {"Account": "444444444444", "Arn": "arn:aws:sts::444444444444:assumed-role/x/y",
                 "UserId": "AROAEXAMPLE:y"})

    lambda_aws.session().events.register("before-call.sts.GetCallerIdentity", elsewhere)
    key = artifacts.package(register_prod_package())
    handler(job_event(JOB_A, "staging", key), None)
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult"
    assert reply["failureDetails"]["type"] == "ConfigurationError"
    assert reply["failureDetails"]["message"] == (
        f"stage staging: role {placement('staging')['role_arn']} acts in account 444444444444, "
        f"not in the stage's account {STAGING}; refusing to deploy there")
    assert not [c for c in fake.accounts if c[2] != TOOLING]
    assert sagemaker_in(STAGING) == ([], [], [])


def test_a_role_that_cannot_be_assumed_is_a_permission_error(cross_account, artifacts):
    """AWS refuses AssumeRole when the trust policy does not admit the caller (AccessDenied)."""
    fake = cross_account

    def denied(**_):
        return (AWSResponse("https://fake", 403, {}, None),
                {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: "
                           "sts:AssumeRole"}, "ResponseMetadata": {"HTTPStatusCode": 403}})

    lambda_aws.client("sts").meta.events.register("before-call.sts.AssumeRole", denied)
    key = artifacts.package(register_prod_package())
    handler(job_event(JOB_A, "prod", key), None)
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult"
    assert reply["failureDetails"]["type"] == "PermissionError"
    assert reply["failureDetails"]["message"].startswith(
        f"sts:AssumeRole {placement('prod')['role_arn']} (stage prod) failed: ")
    assert sagemaker_in(PROD) == ([], [], [])


def test_moto_acts_in_the_assumed_roles_account():
    """The property the tests above rest on, checked on moto itself."""
    from moto import mock_aws

    with mock_aws():
        sts = boto3.client("sts", region_name=REGION, aws_access_key_id="a",
                           aws_secret_access_key="b")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{PROD}:role/x",
                                RoleSessionName="session")["Credentials"]
        assumed = boto3.client("sts", region_name=REGION,
                               aws_access_key_id=creds["AccessKeyId"],
                               aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
        assert assumed.get_caller_identity()["Account"] == PROD
        assert json.dumps(sts.get_caller_identity()["Account"]) == f'"{ACCOUNT}"'
