"""A continuation token is checked against SageMaker before anything is reported.

CodePipeline hands back whatever token the previous reply set ("Future jobs use this token",
API_PutJobSuccessResult); anyone allowed to call PutJobSuccessResult could set one. The step
trusts none of it: the config must exist with this stage's tags and the token's job and package,
its model must serve that package, the registry must agree on the version, the job's artifact
must name the package, and the deployment must not have ended already.
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from deploy_helpers import (JOB_A, JOB_B, PREFIX, deploy_to_in_service, job_event, job_id_of)
from lambda_deploy.handler import handler


def failure_message(fake) -> str:
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult", reply
    return reply["failureDetails"]["message"]


@pytest.fixture
def started(fake, registry, artifacts):
    """A prod update by JOB_B in flight (v1 serves), with its artifact key and token."""
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    arn = registry.register()
    key = artifacts.package(arn)
    handler(job_event(JOB_B, "prod", key), None)
    return key, json.loads(fake.last_reply()[1]["continuationToken"])


def resume_with(fake, key, token: dict, stage="prod") -> str:
    handler(job_event(JOB_B, stage, key, token=json.dumps(token)), None)
    return failure_message(fake)


def test_token_naming_a_config_that_does_not_exist_is_not_a_rollback(fake, started):
    key, token = started
    message = resume_with(fake, key, dict(token, config=f"{PREFIX}-prod-v2-deadbeef"))
    assert message.startswith("continuation token rejected: endpoint config "
                              f"{PREFIX}-prod-v2-deadbeef does not exist")
    assert "rolled" not in message


def test_token_carrying_another_package_fails_and_publishes_nothing(fake, registry, started):
    key, token = started
    other = registry.register()  # a real package of the group, but not what this job deploys
    message = resume_with(fake, key, dict(token, arn=other))
    assert f"it names model package {other}, but this job's input artifact holds" in message
    # Only the first deployment (v1) ever published output variables.
    assert [r["outputVariables"]["ModelPackageVersion"] for _, r in fake.replies
            if "outputVariables" in r] == ["1"]


def test_token_whose_artifact_matches_but_config_serves_another_package(fake, registry,
                                                                       artifacts, started):
    _, token = started
    other = registry.register()
    # Someone rewrites both the token and the artifact: the config's tags and model still tell.
    message = resume_with(fake, artifacts.package(other), dict(token, arn=other))
    assert f"was created by job {JOB_B} for {token['arn']}, not by job {JOB_B} for {other}" \
        in message


def test_token_of_another_job_for_the_same_config(fake, started):
    key, token = started
    message = resume_with(fake, key, dict(token, job=JOB_A))
    assert f"was created by job {JOB_B}" in message and f"not by job {JOB_A}" in message


def test_token_with_a_wrong_version(fake, started):
    key, token = started
    message = resume_with(fake, key, dict(token, ver=7))
    assert message == (f"continuation token rejected: {token['arn']} is version 2, not 7; "
                       "retry the stage to deploy afresh")


def test_token_naming_another_stages_config(fake, started):
    key, token = started
    message = resume_with(fake, key, dict(token, config=f"{PREFIX}-staging-v2-b5e6f7a8"))
    assert message.startswith("continuation token does not match this stage")


def test_token_naming_a_config_not_made_by_the_deploy_step(fake, started):
    key, token = started
    lookalike = f"{PREFIX}-prod-v2-handmade"
    fake.sm.create_endpoint_config(EndpointConfigName=lookalike, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"{PREFIX}-prod-v2-b5e6f7a8",
        "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    message = resume_with(fake, key, dict(token, config=lookalike))
    assert f"{lookalike} is not this stage's deploy-step config (tags mlops:created-by, " \
           "mlops:environment, mlops:project, mlops:stage differ)" in message


def test_stale_token_of_a_finished_deployment_fails_the_new_job(fake, registry, artifacts):
    arn = registry.register()
    key = artifacts.package(arn)
    handler(job_event(JOB_A, "staging", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    handler(job_event(JOB_A, "staging", key, token=token), None)
    assert fake.last_reply()[0] == "PutJobSuccessResult"

    # A later job is handed the old token (replayed, or an execution resumed from history).
    replay = job_event(JOB_A, "staging", key, token=token)
    assert handler(replay, None) == {"status": "failed"}
    message = failure_message(fake)
    assert message.startswith(f"continuation token rejected: the deployment of {PREFIX}-staging-"
                              f"v1-a1b2c3d4 by job {JOB_A} already ended (succeeded (")
    assert fake.last_reply()[1]["jobId"] == job_id_of(replay)
    assert len(fake.named("InvokeEndpoint")) == 1  # nothing re-run for the stale token


def test_token_of_a_rolled_back_deployment_is_stale(fake, started):
    key, token = started
    fake.roll_back(f"{PREFIX}-prod")
    first = resume_with(fake, key, token)
    assert first.startswith("SageMaker rolled the update")
    message = resume_with(fake, key, token)
    assert "already ended (failed (" in message and "the token is stale" in message


def test_output_variables_come_from_what_serves(fake, registry, artifacts):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A)
    variables = fake.last_reply()[1]["outputVariables"]
    config = fake.sm.describe_endpoint_config(EndpointConfigName=variables["EndpointConfigName"])
    model = fake.sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    served = model["Containers"][0]["ModelPackageName"]
    assert variables == {
        "EndpointName": f"{PREFIX}-staging",
        "EndpointConfigName": fake.sm.describe_endpoint(
            EndpointName=f"{PREFIX}-staging")["EndpointConfigName"],
        "ModelPackageArn": served,
        "ModelPackageVersion": str(fake.sm.describe_model_package(
            ModelPackageName=served)["ModelPackageVersion"])}
    tags = {t["Key"]: t["Value"] for t in fake.sm.list_tags(
        ResourceArn=config["EndpointConfigArn"])["Tags"]}
    assert tags["mlops:outcome"].startswith("succeeded (")


@pytest.mark.parametrize("length", [0, 300, 5000])
@pytest.mark.parametrize("text", ["a", "é\"\\"])
def test_a_token_waiting_for_regions_fits_codepipelines_limit_and_reads_back(length, text):
    """The failure the step reports once the regions are back travels in the token: clipped to
    what CodePipeline's 2048 characters leave (escaping included), the rest of the token
    intact."""
    from lambda_deploy.codepipeline import CONTINUATION_TOKEN_MAX, Progress

    progress = Progress(stage="prod", endpoint_config="fraud-mlops-prod-prod-v2-b5e6f7a8",
                        package_arn="arn:aws:sagemaker:eu-west-1:111111111111:model-package/"
                                    "fraud-mlops-prod-models/2", package_version=2,
                        started_at=1764000000, action="update", job="b5e6f7a8-0000-4000-8000-"
                        "000000000002", region="eu-central-1",
                        previous="fraud-mlops-prod-prod-v1-a1b2c3d4",
                        done=(("eu-west-1", "fraud-mlops-prod-prod-v1-a1b2c3d4"),),
                        back=(("eu-west-1", "fraud-mlops-prod-prod-v1-a1b2c3d4"),),
                        failure=text * length, failure_type="JobFailed")
    token = progress.to_token()
    assert len(token) <= CONTINUATION_TOKEN_MAX
    read = Progress.from_token(token, "prod", "fraud-mlops-prod-prod-v")
    assert read.failure == progress.failure or (
        read.failure.endswith("…") and progress.failure.startswith(read.failure[:-1])
        and len(token) > CONTINUATION_TOKEN_MAX - 40)
    assert dataclasses.replace(read, failure=progress.failure) == progress
