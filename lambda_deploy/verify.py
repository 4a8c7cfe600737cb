"""A continuation token is a claim: check it against what SageMaker holds before trusting it.

The token names an endpoint config, the package it serves, the package version and the job
that started the deployment. Each must match the config's own tags, the model behind it and
the model registry, and the package must be the one in this job's input artifact (a token from
another execution carries another package). A config whose job already ended is stale.
"""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from lambda_deploy import aws
from lambda_deploy.codepipeline import Progress
from lambda_deploy.deploy import (TAG_JOB_ID, TAG_OUTCOME, TAG_PACKAGE_ARN,
                                  _is_missing, ownership_tags)
from lambda_deploy.errors import DeployFailure, aws_failure
from lambda_deploy.settings import Settings, StageSettings

RETRY = "retry the stage to deploy afresh"


@dataclass(frozen=True)
class Deployment:
    """What the token's deployment really is, read from SageMaker."""

    config_name: str
    config_arn: str
    package_arn: str
    package_version: int


def _untrusted(why: str) -> DeployFailure:
    return DeployFailure(f"continuation token rejected: {why}; {RETRY}")


def _describe(call: str, operation, **request) -> dict | None:
    try:
        return operation(**request)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise aws_failure(call, exc) from None


def verify(progress: Progress, artifact_package_arn: str, settings: Settings,
           stage: StageSettings, model_data_url: str | None = None) -> Deployment:
    """model_data_url: in a stage's secondary region, the copy of the artifact its model must
    serve (lambda_deploy/regions.py) instead of the package itself."""
    if progress.package_arn != artifact_package_arn:
        raise _untrusted(f"it names model package {progress.package_arn}, but this job's "
                         f"input artifact holds {artifact_package_arn} (a token of another "
                         "execution is stale)")
    sagemaker = aws.target("sagemaker")
    config = _describe("sagemaker:DescribeEndpointConfig", sagemaker.describe_endpoint_config,
                       EndpointConfigName=progress.endpoint_config)
    if config is None:
        raise _untrusted(f"endpoint config {progress.endpoint_config} does not exist (forged, "
                         "or stale and cleaned up)")
    tags = aws.target_tags(config["EndpointConfigArn"])
    wanted = {t["Key"]: t["Value"] for t in ownership_tags(settings, stage.stage)}
    wrong = sorted(k for k, v in wanted.items() if tags.get(k) != v)
    if wrong:
        raise _untrusted(f"endpoint config {progress.endpoint_config} is not this stage's "
                         f"deploy-step config (tags {', '.join(wrong)} differ)")
    if tags.get(TAG_JOB_ID) != progress.job or tags.get(TAG_PACKAGE_ARN) != progress.package_arn:
        raise _untrusted(f"endpoint config {progress.endpoint_config} was created by job "
                         f"{tags.get(TAG_JOB_ID)} for {tags.get(TAG_PACKAGE_ARN)}, not by job "
                         f"{progress.job} for {progress.package_arn}")
    if TAG_OUTCOME in tags:
        raise _untrusted(f"the deployment of {progress.endpoint_config} by job {progress.job} "
                         f"already ended ({tags[TAG_OUTCOME]}); the token is stale")
    # The deploy step puts one model behind every variant of a config it creates, named after
    # the config; an experiment's config also serves the champion's model (lambda_deploy/
    # experiment.py), so the job's own model is the one of the config's name.
    model_names = {v.get("ModelName") for v in config.get("ProductionVariants", [])
                   + config.get("ShadowProductionVariants", [])}
    model_name = progress.endpoint_config if progress.endpoint_config in model_names \
        else model_names.pop() if len(model_names) == 1 else None
    model = _describe("sagemaker:DescribeModel", sagemaker.describe_model,
                      ModelName=model_name) if model_name else None
    containers = (model or {}).get("Containers", [])
    if model_data_url is None:
        served, wanted = [c.get("ModelPackageName") for c in containers], progress.package_arn
    else:
        served, wanted = [c.get("ModelDataUrl") for c in containers], model_data_url
    if served != [wanted]:
        raise _untrusted(f"endpoint config {progress.endpoint_config} serves "
                         f"{', '.join(map(str, served)) or 'no model package'}, not "
                         f"{wanted}")
    try:
        # The registry is the function's own account's.
        package = aws.client("sagemaker").describe_model_package(
            ModelPackageName=progress.package_arn)
    except ClientError as exc:
        raise aws_failure("sagemaker:DescribeModelPackage", exc) from None
    if package.get("ModelPackageVersion") != progress.package_version:
        raise _untrusted(f"{progress.package_arn} is version "
                         f"{package.get('ModelPackageVersion')}, not {progress.package_version}")
    return Deployment(config_name=progress.endpoint_config, config_arn=config["EndpointConfigArn"],
                      package_arn=progress.package_arn,
                      package_version=package["ModelPackageVersion"])


def record_outcome(deployment: Deployment, outcome: str, job_id: str) -> str | None:
    """Tag the config with how its job ended, before the reply; returns an error or None."""
    try:
        aws.target("sagemaker").add_tags(ResourceArn=deployment.config_arn, Tags=[
            {"Key": TAG_OUTCOME, "Value": f"{outcome} ({job_id})"}])
    except ClientError as exc:
        return f"sagemaker:AddTags {deployment.config_name}: {exc}"
    return None



def verify_failed(progress: Progress, artifact_package_arn: str, settings: Settings,
                  stage: StageSettings) -> None:
    """A token waiting for a region to go back (lambda_deploy/regions.py went_back) is this
    job's failed deployment there: its package is this job's input, and the config it names in
    the region of `stage` (entered) is this stage's, created by the token's job for that package,
    and not recorded as succeeded (go_back records it failed before the update back)."""
    if progress.package_arn != artifact_package_arn:
        raise _untrusted(f"it names model package {progress.package_arn}, but this job's "
                         f"input artifact holds {artifact_package_arn} (a token of another "
                         "execution is stale)")
    config = _describe("sagemaker:DescribeEndpointConfig",
                       aws.target("sagemaker").describe_endpoint_config,
                       EndpointConfigName=progress.endpoint_config)
    if config is None:
        raise _untrusted(f"endpoint config {progress.endpoint_config} does not exist in "
                         f"{stage.region}")
    tags = aws.target_tags(config["EndpointConfigArn"])
    wanted = {t["Key"]: t["Value"] for t in ownership_tags(settings, stage.stage)}
    wanted.update({TAG_JOB_ID: progress.job, TAG_PACKAGE_ARN: progress.package_arn})
    wrong = sorted(k for k, v in wanted.items() if tags.get(k) != v)
    if tags.get(TAG_OUTCOME, "").startswith("succeeded"):
        wrong.append(TAG_OUTCOME)
    if wrong:
        raise _untrusted(f"endpoint config {progress.endpoint_config} in {stage.region} is not "
                         f"the failed deployment of job {progress.job} (tags "
                         f"{', '.join(wrong)} differ)")
