"""Model, EndpointConfig and endpoint create/update, with blue/green and alarm rollback."""
from __future__ import annotations

import re

from botocore.exceptions import ClientError

from lambda_deploy import aws
from lambda_deploy.errors import ConfigurationFailure, DeployFailure, aws_failure
from lambda_deploy.logs import log
from lambda_deploy.package import ModelPackage
from lambda_deploy.settings import SAGEMAKER_NAME_MAX, Settings, StageSettings

# Tag keys and values of docs/interfaces.md, declared here for everything that reads them
# (ops/teardown.py finds the deploy step's resources by these).
TAG_PROJECT = "mlops:project"
TAG_ENVIRONMENT = "mlops:environment"
TAG_STAGE = "mlops:stage"
TAG_CREATED_BY = "mlops:created-by"
CREATED_BY_DEPLOY = "deploy-step"
# Extra tags: where a Model/EndpointConfig came from, and whether it ever served traffic.
TAG_PACKAGE_ARN = "mlops:model-package-arn"
TAG_JOB_ID = "mlops:codepipeline-job"
TAG_DEPLOYED_AT = "mlops:deployed-at"

# The alarms infra creates use the dimension VariantName=AllTraffic.
VARIANT_NAME = "AllTraffic"
BUSY_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def job_suffix(job_id: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]", "", job_id)[:8].lower()


def config_prefix(settings: Settings, stage: str) -> str:
    """Every Model/EndpointConfig name of a stage starts with this."""
    return f"{settings.prefix}-{stage}-v"


def resource_name(settings: Settings, stage: str, version: int, job_id: str) -> str:
    """Deterministic per job, so a repeated invocation finds what the first one created."""
    name = f"{config_prefix(settings, stage)}{version}-{job_suffix(job_id)}"
    if len(name) > SAGEMAKER_NAME_MAX:
        raise ConfigurationFailure(f"derived name {name!r} is longer than {SAGEMAKER_NAME_MAX} "
                                   "characters; shorten the project or environment name")
    return name


def ownership_tags(settings: Settings, stage: str) -> list[dict]:
    return [{"Key": TAG_PROJECT, "Value": settings.project},
            {"Key": TAG_ENVIRONMENT, "Value": settings.environment},
            {"Key": TAG_STAGE, "Value": stage},
            {"Key": TAG_CREATED_BY, "Value": CREATED_BY_DEPLOY}]


def _is_missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "not find" in error.get("Message", "")


def _exists(describe, call: str, **name) -> bool:
    """True when a re-invocation of the same job already created it (idempotent deploys)."""
    try:
        describe(**name)
        return True
    except ClientError as exc:
        if not _is_missing(exc):
            raise aws_failure(call, exc) from None
        return False


def ensure_model(name: str, package: ModelPackage, settings: Settings, stage: str,
                 job_id: str) -> None:
    sagemaker = aws.client("sagemaker")
    if _exists(sagemaker.describe_model, "sagemaker:DescribeModel", ModelName=name):
        log("model_reused", model=name)
        return
    try:
        sagemaker.create_model(
            ModelName=name,
            Containers=[{"ModelPackageName": package.arn}],
            ExecutionRoleArn=settings.execution_role_arn,
            Tags=ownership_tags(settings, stage)
            + [{"Key": TAG_PACKAGE_ARN, "Value": package.arn},
               {"Key": TAG_JOB_ID, "Value": job_id}],
        )
    except ClientError as exc:
        raise aws_failure("sagemaker:CreateModel", exc) from None
    log("model_created", model=name, model_package_arn=package.arn)


def endpoint_config_request(name: str, settings: Settings, stage: StageSettings,
                            package: ModelPackage, job_id: str) -> dict:
    request = {
        "EndpointConfigName": name,
        "ProductionVariants": [{
            "VariantName": VARIANT_NAME,
            "ModelName": name,
            "InstanceType": stage.instance_type,
            "InitialInstanceCount": stage.initial_instance_count,
            "InitialVariantWeight": 1.0,
        }],
        "KmsKeyId": settings.kms_key_arn,
        "Tags": ownership_tags(settings, stage.stage)
        + [{"Key": TAG_PACKAGE_ARN, "Value": package.arn}, {"Key": TAG_JOB_ID, "Value": job_id}],
    }
    if stage.data_capture_percent > 0:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": stage.data_capture_percent,
            "DestinationS3Uri": f"{settings.data_capture_s3_uri}/{stage.endpoint_name}",
            "KmsKeyId": settings.kms_key_arn,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                         "JsonContentTypes": ["application/json"]},
        }
    return request


def ensure_endpoint_config(name: str, settings: Settings, stage: StageSettings,
                           package: ModelPackage, job_id: str) -> None:
    sagemaker = aws.client("sagemaker")
    if _exists(sagemaker.describe_endpoint_config, "sagemaker:DescribeEndpointConfig",
               EndpointConfigName=name):
        log("endpoint_config_reused", endpoint_config=name)
        return
    try:
        sagemaker.create_endpoint_config(
            **endpoint_config_request(name, settings, stage, package, job_id))
    except ClientError as exc:
        raise aws_failure("sagemaker:CreateEndpointConfig", exc) from None
    log("endpoint_config_created", endpoint_config=name)


def deployment_config(stage: StageSettings) -> dict:
    """Blue/green traffic shifting, rolled back by SageMaker when a stage alarm fires."""
    d = stage.deployment
    routing = {"Type": d.strategy.upper(), "WaitIntervalInSeconds": d.wait_seconds}
    if d.strategy == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": d.canary_percent}
    elif d.strategy == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": d.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": d.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": d.max_execution_timeout_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in stage.alarm_names]},
    }


def describe_endpoint(name: str) -> dict | None:
    try:
        return aws.client("sagemaker").describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise


def start_endpoint(config_name: str, settings: Settings, stage: StageSettings) -> str:
    """Create or update the endpoint onto config_name; returns "create" or "update".

    Safe to repeat: an endpoint already on (or moving to) config_name is left alone.
    """
    sagemaker = aws.client("sagemaker")
    endpoint_name = stage.endpoint_name
    try:
        endpoint = describe_endpoint(endpoint_name)
    except ClientError as exc:
        raise aws_failure("sagemaker:DescribeEndpoint", exc) from None
    if endpoint is None:
        try:
            sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name,
                                      Tags=ownership_tags(settings, stage.stage))
        except ClientError as exc:
            raise aws_failure("sagemaker:CreateEndpoint", exc) from None
        log("endpoint_create_started", endpoint=endpoint_name, endpoint_config=config_name)
        return "create"
    status = endpoint.get("EndpointStatus")
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if config_name in (endpoint.get("EndpointConfigName"), pending):
        log("endpoint_already_on_config", endpoint=endpoint_name, endpoint_config=config_name,
            status=status)
        return "update" if pending == config_name else "create"
    if status in BUSY_STATUSES:
        raise DeployFailure(f"endpoint {endpoint_name} is {status} with another deployment; "
                            "wait until it is InService and retry this stage")
    if status in ("Failed", "UpdateRollbackFailed", "OutOfService"):
        raise DeployFailure(
            f"endpoint {endpoint_name} is {status} ({endpoint.get('FailureReason', 'no reason')})"
            " and cannot be updated; delete it (aws sagemaker delete-endpoint --endpoint-name "
            f"{endpoint_name}) and retry this stage to create it afresh")
    try:
        # RetainAllVariantProperties=False: the new config's instance type and count apply,
        # so a changed stage setting takes effect with the deploy.
        sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name,
                                  RetainAllVariantProperties=False,
                                  DeploymentConfig=deployment_config(stage))
    except ClientError as exc:
        raise aws_failure("sagemaker:UpdateEndpoint", exc) from None
    log("endpoint_update_started", endpoint=endpoint_name, endpoint_config=config_name,
        previous_config=endpoint.get("EndpointConfigName"), strategy=stage.deployment.strategy)
    return "update"
