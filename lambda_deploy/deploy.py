"""Model, EndpointConfig and endpoint create/update, with blue/green and alarm rollback."""
from __future__ import annotations

import re

from botocore.exceptions import ClientError

from lambda_deploy import aws, scaling
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
# The package's version beside its ARN: with the ARN, the record of which version serves where
# (ops/versions.py reads both from each region's endpoint config).
TAG_PACKAGE_VERSION = "mlops:model-package-version"
TAG_JOB_ID = "mlops:codepipeline-job"
TAG_DEPLOYED_AT = "mlops:deployed-at"
# The git commit the served model was trained from (a GitHub-sourced pipeline's packages carry
# it); absent when the package records none.
TAG_SOURCE_COMMIT = "mlops:source-commit"
# Set on an endpoint config when its job ended: "succeeded" or "failed". A token naming a
# finished deployment is stale.
TAG_OUTCOME = "mlops:outcome"

BUSY_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


JOB_SUFFIX_LENGTH = 8
# Model package versions the name budget allows for (a group would need a million versions).
VERSION_DIGITS = 6


def name_suffix_max(stage: str) -> int:
    """The most resource_name adds after the prefix, -<stage>-v<version>-<job>: infra/naming.py
    checks before synth that every environment's prefix and stages leave room for it."""
    return len(f"-{stage}-v{'9' * VERSION_DIGITS}-{'x' * JOB_SUFFIX_LENGTH}")


def job_suffix(job_id: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]", "", job_id)[:JOB_SUFFIX_LENGTH].lower()


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


def origin_tags(package: ModelPackage, job_id: str) -> list[dict]:
    """Where a Model/EndpointConfig came from: its package, the job, and the package's commit."""
    tags = [{"Key": TAG_PACKAGE_ARN, "Value": package.arn}]
    version = package_version(package)
    if version is not None:
        tags.append({"Key": TAG_PACKAGE_VERSION, "Value": str(version)})
    tags.append({"Key": TAG_JOB_ID, "Value": job_id})
    if package.commit:
        tags.append({"Key": TAG_SOURCE_COMMIT, "Value": package.commit})
    return tags


def package_version(package) -> int | None:
    """The package's version: its own, or the last part of a versioned package's ARN
    (arn:...:model-package/<group>/<version>; an experiment's winner is known by ARN only)."""
    version = getattr(package, "version", None)
    if version is None:
        tail = package.arn.rsplit("/", 1)[-1]
        version = int(tail) if tail.isdigit() and package.arn.count("/") == 2 else None
    return version


def _is_missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "not find" in error.get("Message", "")


def _already_exists(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "already exist" in error.get(
        "Message", "")


def _duplicate(kind: str, name: str, job_id: str) -> DeployFailure:
    # The job claim (lambda_deploy/claims.py) lets one delivery per job get here; an existing
    # name means a delivery of this job already deployed (or the claim record was removed).
    return DeployFailure(f"{kind} {name} already exists: a delivery of CodePipeline job "
                         f"{job_id} created it before; not creating or updating anything again. "
                         "Retry the stage to deploy afresh")


def create_model(name: str, package: ModelPackage, settings: Settings, stage: StageSettings,
                 job_id: str, containers: list[dict] | None = None) -> None:
    """The model of the package: the package itself in its registry's region; in a secondary
    region, `containers` built from it (lambda_deploy/regions.py)."""
    # In the stage's private subnets when it has some: SageMaker attaches the model's network
    # interfaces there (the container itself stays without network: EnableNetworkIsolation).
    vpc = {"VpcConfig": stage.vpc_config.request()} if stage.vpc_config else {}
    try:
        aws.target("sagemaker").create_model(
            ModelName=name,
            Containers=containers or [{"ModelPackageName": package.arn}],
            ExecutionRoleArn=stage.execution_role_arn,
            # No network for the served container: the model carries its code and the container
            # installs it with no package index (pipeline_src.jobs.common.serving_environment).
            EnableNetworkIsolation=True,
            Tags=ownership_tags(settings, stage.stage) + origin_tags(package, job_id),
            **vpc,
        )
    except ClientError as exc:
        if _already_exists(exc):
            raise _duplicate("model", name, job_id) from None
        raise aws_failure("sagemaker:CreateModel", exc) from None
    log("model_created", model=name, model_package_arn=package.arn)


def endpoint_config_request(name: str, settings: Settings, stage: StageSettings,
                            package: ModelPackage, job_id: str,
                            instance_counts: dict[str, int]) -> dict:
    """Every variant serves the new model, with its own weight and instance count."""
    request = {
        "EndpointConfigName": name,
        "ProductionVariants": [{
            "VariantName": variant.name,
            "ModelName": name,
            "InstanceType": stage.instance_type,
            "InitialInstanceCount": instance_counts[variant.name],
            "InitialVariantWeight": variant.weight,
        } for variant in stage.variants],
        "KmsKeyId": stage.kms_key_arn,
        "Tags": ownership_tags(settings, stage.stage) + origin_tags(package, job_id),
    }
    if stage.data_capture_percent > 0:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": stage.data_capture_percent,
            "DestinationS3Uri": f"{stage.data_capture_s3_uri}/{stage.endpoint_name}",
            "KmsKeyId": stage.kms_key_arn,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                         "JsonContentTypes": ["application/json"]},
        }
    return request


def create_endpoint_config(name: str, settings: Settings, stage: StageSettings,
                           package: ModelPackage, job_id: str,
                           instance_counts: dict[str, int]) -> None:
    try:
        aws.target("sagemaker").create_endpoint_config(
            **endpoint_config_request(name, settings, stage, package, job_id, instance_counts))
    except ClientError as exc:
        if _already_exists(exc):
            raise _duplicate("endpoint config", name, job_id) from None
        raise aws_failure("sagemaker:CreateEndpointConfig", exc) from None
    log("endpoint_config_created", endpoint_config=name, instance_counts=instance_counts)


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
        return aws.target("sagemaker").describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise


def read_endpoint(stage: StageSettings) -> dict | None:
    """The stage's endpoint before a deploy; refuses (before anything is created) when it is
    busy or broken."""
    name = stage.endpoint_name
    try:
        endpoint = describe_endpoint(name)
    except ClientError as exc:
        raise aws_failure("sagemaker:DescribeEndpoint", exc) from None
    if endpoint is None:
        return None
    status = endpoint.get("EndpointStatus")
    if status in BUSY_STATUSES:
        raise DeployFailure(f"endpoint {name} is {status} with another deployment; "
                            "wait until it is InService and retry this stage")
    if status != "InService":
        raise DeployFailure(
            f"endpoint {name} is {status} ({endpoint.get('FailureReason', 'no reason')})"
            " and cannot be updated; delete it (aws sagemaker delete-endpoint --endpoint-name "
            f"{name}) and retry this stage to create it afresh")
    return endpoint


def serving_instance_types(endpoint: dict) -> dict[str, str | None]:
    """{variant: instance type} of the config the endpoint serves."""
    try:
        config = aws.target("sagemaker").describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"])
    except ClientError as exc:
        raise aws_failure("sagemaker:DescribeEndpointConfig", exc) from None
    return {v.get("VariantName"): v.get("InstanceType")
            for v in config.get("ProductionVariants", [])}


def start_endpoint(config_name: str, endpoint: dict | None, settings: Settings,
                   stage: StageSettings) -> str:
    """Create the endpoint on config_name, or update it blue/green; "create" or "update"."""
    sagemaker = aws.target("sagemaker")
    endpoint_name = stage.endpoint_name
    if endpoint is None:
        try:
            sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name,
                                      Tags=ownership_tags(settings, stage.stage))
        except ClientError as exc:
            raise aws_failure("sagemaker:CreateEndpoint", exc) from None
        log("endpoint_create_started", endpoint=endpoint_name, endpoint_config=config_name)
        return "create"
    deregistered = []
    serving = serving_instance_types(endpoint)
    kept = {v.name for v in stage.variants}
    for variant in serving:
        if (serving[variant] != stage.instance_type or variant not in kept) \
                and scaling.is_registered(endpoint_name, variant):
            # AWS: an update changing an autoscaled variant's instance type fails unless the
            # variant is deregistered first; scaling is registered again once InService. A
            # variant the new config drops is deregistered too (its scalable target would
            # otherwise outlive it).
            scaling.deregister(endpoint_name, variant)
            deregistered.append(variant)
    try:
        # RetainAllVariantProperties=False: the new config's instance type, count (the fleet's
        # current size when it autoscales) and data capture apply.
        sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name,
                                  RetainAllVariantProperties=False,
                                  DeploymentConfig=deployment_config(stage))
    except ClientError as exc:
        failure = aws_failure("sagemaker:UpdateEndpoint", exc)
        if deregistered and stage.autoscaling is not None:
            # The old fleet keeps serving: give it its scaling back.
            try:
                for variant in deregistered:
                    scaling.register(stage, variant)
            except DeployFailure as restore:
                failure = DeployFailure(f"{failure} Autoscaling of the serving config could "
                                        f"not be restored: {restore}", failure.failure_type)
        raise failure from None
    log("endpoint_update_started", endpoint=endpoint_name, endpoint_config=config_name,
        previous_config=endpoint.get("EndpointConfigName"), strategy=stage.deployment.strategy)
    return "update"
