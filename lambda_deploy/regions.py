"""A stage that serves from several regions: primary first, then each secondary, same guardrails.

The primary region is the model registry's: its model is the package itself. A package cannot be
served in another region (SageMaker API reference, ContainerDefinition: a model's image and its
artifact must be in the model's region), so a secondary region's model is the package's
container with that region's scikit-learn image (same tag) and a copy of the artifact in that
region's bucket. The deploy step makes the copy when it deploys to that region, so the artifact
is there before the model needs it and only deployed versions are copied; S3 replication would
copy every training output, asynchronously ("the majority of objects replicate within 15
minutes", large ones "up to several hours": S3 User Guide, "Troubleshooting replication"), and
the deploy would have to poll for it (docs/multi-region.md). The copy is a read in the source's
region and a (multipart when large) upload in the target's, not one cross-Region CopyObject:
"VPC endpoints don't support cross-Region requests (including copies)" (Amazon S3 API
reference, CopyObject, https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html),
and a function in private subnets reaches S3 only through VPC endpoints (infra/network.py).

Each region is deployed as the primary is (blue/green with that region's rollback alarms,
autoscaling, smoke test), one after the other, each in its own continuation. The stage succeeds
only when every region serves the new version; then old configs are cleaned up in every region.
When a region fails or SageMaker rolls it back, every region already serving the new version
starts a blue/green update back to the config it served before (the same guardrails); the step
then waits for those updates in its continuations (each invocation only reads), and fails the job
once each has finished, naming what every region serves (or, past the update's time limit, that
it did not finish). A region the deployment created (no previous config) keeps serving the new
version: there is nothing to go back to, and removing it would take a region out.
"""
from __future__ import annotations

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy import aws, deploy, monitor, scaling
from lambda_deploy.errors import DeployFailure, aws_failure, is_transient
from lambda_deploy.logs import log, warn
from lambda_deploy.package import ModelPackage
from lambda_deploy.settings import RegionPlacement, Settings, StageSettings

ARTIFACT_NAME = "model.tar.gz"


def next_region(stage: StageSettings, region: str) -> str | None:
    """The region deployed after `region`, or None when it is the last."""
    order = stage.regions
    at = order.index(region)
    return order[at + 1] if at + 1 < len(order) else None


def enter(stage: StageSettings, region: str, job_id: str) -> StageSettings:
    """Make `region` the one aws.target() clients act in; the stage as seen there."""
    regional = stage.in_region(region)
    aws.enter_stage(regional, job_id)
    return regional


def _s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def copy_uri(placement: RegionPlacement, settings: Settings, version: int) -> str:
    """Where a package version's artifact is copied to in a secondary region."""
    return f"{placement.model_s3_uri}/{settings.model_package_group}/v{version}/{ARTIFACT_NAME}"


def copy_artifact(package: ModelPackage, placement: RegionPlacement, settings: Settings,
                  source_region: str) -> str:
    """Copy the package's model artifact (in `source_region`) into the region's bucket
    (encrypted there with the region's key, the bucket's default); returns its s3:// URI.
    Streamed: read through the source region's S3 endpoint, uploaded through the target's
    (multipart above the transfer threshold, so no 5 GB single-request limit). Copying again
    is harmless: the same bytes, a new object version."""
    source = (package.container or {}).get("ModelDataUrl", "")
    if not source.startswith("s3://"):
        raise DeployFailure(f"model package {package.arn} has no S3 ModelDataUrl to copy to "
                            f"{placement.region}")
    target = copy_uri(placement, settings, package.version)
    bucket, key = _s3_location(target)
    source_bucket, source_key = _s3_location(source)
    try:
        body = aws.target("s3", source_region).get_object(
            Bucket=source_bucket, Key=source_key)["Body"]
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"s3:GetObject {source} (copy to {target})", exc) from None
    try:
        with body:
            # In this thread: the parts go one after another, and every call is the function's
            # own (its IAM recording sees them: tests/iam/recorder.py).
            aws.target("s3").upload_fileobj(body, bucket, key,
                                            Config=TransferConfig(use_threads=False))
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        # boto3's transfer wraps S3's answer; classify by the answer when there is one.
        cause = exc.__cause__ or exc.__context__
        raise aws_failure(f"s3:PutObject {target} (copy of {source})",
                          cause if isinstance(cause, ClientError) else exc) from None
    log("artifact_copied", source=source, target=target, region=placement.region)
    return target


def regional_containers(package: ModelPackage, placement: RegionPlacement,
                        model_data_url: str) -> list[dict]:
    """The package's container as a secondary region's model: that region's image repository
    with the package's tag, the copied artifact, the package's environment (SAGEMAKER_REGION
    set to the region it serves in)."""
    container = package.container or {}
    image = container.get("Image", "")
    repository, _, tag = image.rpartition(":")
    wanted = placement.image_repository.rsplit("/", 1)[1]
    if not tag or repository.rsplit("/", 1)[-1] != wanted:
        raise DeployFailure(f"model package {package.arn} runs image {image!r}, not the "
                            f"{wanted} image {placement.region} serves from "
                            f"({placement.image_repository})")
    environment = dict(container.get("Environment") or {})
    if "SAGEMAKER_REGION" in environment:
        environment["SAGEMAKER_REGION"] = placement.region
    return [{"Image": f"{placement.image_repository}:{tag}", "ModelDataUrl": model_data_url,
             "Environment": environment}]


def start_region(name: str, package: ModelPackage, settings: Settings, stage: StageSettings,
                 region: str, job_id: str, started_by: str) -> tuple[str, str | None]:
    """Create the region's model and config and create/update its endpoint, after entering the
    region; (action, the config the endpoint served before or None). `started_by` is the job
    that started the stage's deployment (its configs' tag in every region)."""
    regional = enter(stage, region, job_id) if region != stage.region else stage
    endpoint = deploy.read_endpoint(regional)
    counts = scaling.carried_instance_counts(regional, endpoint)
    placement = stage.placement(region)
    containers = None
    if placement is not None:
        copied = copy_artifact(package, placement, settings, stage.region)
        containers = regional_containers(package, placement, copied)
    deploy.create_model(name, package, settings, regional, started_by, containers)
    deploy.create_endpoint_config(name, settings, regional, package, started_by, counts)
    action = deploy.start_endpoint(name, endpoint, settings, regional)
    log("region_deploy_started", stage=stage.stage, region=region, action=action,
        endpoint_config=name)
    return action, (endpoint or {}).get("EndpointConfigName")


def config_arn(name: str) -> str:
    try:
        return aws.target("sagemaker").describe_endpoint_config(
            EndpointConfigName=name)["EndpointConfigArn"]
    except ClientError as exc:
        raise aws_failure("sagemaker:DescribeEndpointConfig", exc) from None


def go_back(stage: StageSettings, updated: list[tuple[str, str | None]], new_config: str,
            job_id: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Every region of `updated` (region, config served before) goes back to its previous
    config by a blue/green update with its own guardrails; (one sentence per region that is
    settled, (region, previous config) of each whose update back started)."""
    from lambda_deploy.verify import Deployment, record_outcome

    outcomes, started = [], []
    for region, previous in updated:
        regional = enter(stage, region, job_id)
        try:
            record_outcome(Deployment(new_config, config_arn(new_config), "", 0), "failed",
                           job_id)
        except DeployFailure as exc:
            warn("outcome_not_recorded", region=region, error=str(exc))
        if previous is None:
            outcomes.append(f"{region} keeps serving {new_config} (this deployment created its "
                            "endpoint: there is no previous version to go back to)")
            continue
        try:
            aws.target("sagemaker").update_endpoint(
                EndpointName=regional.endpoint_name, EndpointConfigName=previous,
                RetainAllVariantProperties=False,
                DeploymentConfig=deploy.deployment_config(regional))
        except (ClientError, BotoCoreError) as exc:
            outcomes.append(f"{region} could NOT be sent back to {previous} "
                            f"({aws_failure('sagemaker:UpdateEndpoint', exc)}); it serves "
                            f"{new_config}: update it by hand")
            continue
        log("region_rollback_started", region=region, endpoint_config=previous)
        started.append((region, previous))
    return outcomes, started


def went_back(regional: StageSettings, previous: str, started_at: int,
              now: int) -> str | None:
    """Where the update back to `previous` of the entered region's endpoint stands: None while
    it runs, else one sentence saying what the region serves."""
    region = regional.region
    try:
        endpoint = deploy.describe_endpoint(regional.endpoint_name)
    except BotoCoreError:
        return None  # not reached this time: the next continuation asks again
    except ClientError as exc:
        if is_transient(exc):
            return None
        return (f"{region}: the update back to {previous} could not be followed "
                f"({aws_failure('sagemaker:DescribeEndpoint', exc)}); check what it serves")
    if endpoint is None:
        return f"{region}: endpoint {regional.endpoint_name} no longer exists"
    status, serving = endpoint.get("EndpointStatus"), endpoint.get("EndpointConfigName")
    if status == "InService" and serving == previous:
        return f"{region} went back to {previous} (blue/green update finished)"
    if status == "InService":
        return (f"{region} did NOT go back to {previous}: it is InService on {serving} (the "
                "update back was rolled back); update it by hand")
    if status in deploy.BUSY_STATUSES:
        if now > monitor.deadline_from(started_at, regional):
            return (f"{region}: the update back to {previous} did not finish within "
                    f"{(now - started_at) // 60} minutes (endpoint {status}); check it in the "
                    "SageMaker console")
        return None
    return (f"{region} did NOT go back to {previous}: endpoint is {status} "
            f"({endpoint.get('FailureReason') or 'no reason given'}); update it by hand")
