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

import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

import aws_clients

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


# The copy goes in parts across invocations (the function's timeout is 120 s: a whole large
# artifact would not fit in one). A part is a ranged GetObject in the source region and an
# UploadPart in the target's; an invocation uploads at least one part and more while it has
# copied for less than COPY_SECONDS, then hands the upload on in the continuation token. S3's
# limits (Amazon S3 User Guide, "Amazon S3 multipart upload limits"): parts of 5 MiB..5 GiB
# but the last, at most 10,000 parts. 64 MiB parts: artifacts up to 625 GiB, one part in
# memory (the function has 256 MB). bench/bench_region_copy.py measures the time per part.
PART_BYTES = 64 * 1024 * 1024
MAX_PARTS = 10_000
COPY_SECONDS = 45


@dataclass(frozen=True)
class Copying:
    """A copy in progress: S3's multipart upload ID, the next part to upload, the size."""

    upload_id: str
    next_part: int
    size: int


def _copy_source(package: ModelPackage, placement: RegionPlacement, settings: Settings):
    source = (package.container or {}).get("ModelDataUrl", "")
    if not source.startswith("s3://"):
        raise DeployFailure(f"model package {package.arn} has no S3 ModelDataUrl to copy to "
                            f"{placement.region}")
    return source, copy_uri(placement, settings, package.version)


def copy_artifact(package: ModelPackage, placement: RegionPlacement, settings: Settings,
                  source_region: str, copying: Copying | None = None,
                  clock=time.monotonic) -> str | Copying:
    """Copy the package's model artifact (in `source_region`) into the region's bucket
    (encrypted there with the region's key, the bucket's default): its s3:// URI once copied,
    or the Copying to hand to the next invocation. Read through the source region's S3
    endpoint, written through the target's. An artifact of one part is one GetObject and one
    PutObject; a larger one a multipart upload, resumed from `copying`. Copying again is
    harmless: the same bytes (a part uploaded twice replaces itself), a new object version."""
    source, target = _copy_source(package, placement, settings)
    bucket, key = _s3_location(target)
    source_bucket, source_key = _s3_location(source)
    reader = aws.target("s3", source_region)
    s3 = aws.target("s3")
    if copying is None:
        try:
            size = reader.head_object(Bucket=source_bucket, Key=source_key)["ContentLength"]
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(f"s3:HeadObject {source} (copy to {target})", exc) from None
        if size <= PART_BYTES:
            body = _read(reader, source, source_bucket, source_key, target)
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            except (ClientError, BotoCoreError) as exc:
                raise aws_failure(f"s3:PutObject {target} (copy of {source})", exc) from None
            log("artifact_copied", source=source, target=target, region=placement.region,
                bytes=size)
            return target
        parts = -(-size // PART_BYTES)
        if parts > MAX_PARTS:
            raise DeployFailure(f"model artifact {source} is {size} bytes: more than S3's "
                                f"{MAX_PARTS} parts of {PART_BYTES} bytes; it cannot be copied "
                                f"to {placement.region}")
        try:
            upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(f"s3:CreateMultipartUpload {target} (copy of {source})",
                              exc) from None
        copying = Copying(upload, 1, size)
        log("artifact_copy_started", source=source, target=target, region=placement.region,
            bytes=size, parts=parts)
    began = clock()
    try:
        part = copying.next_part
        parts = -(-copying.size // PART_BYTES)
        while part <= parts:
            first = (part - 1) * PART_BYTES
            last = min(first + PART_BYTES, copying.size) - 1
            body = _read(reader, source, source_bucket, source_key, target,
                         Range=f"bytes={first}-{last}")
            if len(body) != last - first + 1:
                raise DeployFailure(f"model artifact {source} changed while it was copied to "
                                    f"{placement.region} (part {part} is {len(body)} bytes, "
                                    f"not {last - first + 1}); retry the stage")
            try:
                s3.upload_part(Bucket=bucket, Key=key, UploadId=copying.upload_id,
                               PartNumber=part, Body=body)
            except (ClientError, BotoCoreError) as exc:
                raise aws_failure(f"s3:UploadPart {target} part {part} (copy of {source})",
                                  exc) from None
            part += 1
            if part <= parts and clock() - began >= COPY_SECONDS:
                log("artifact_copy_continues", target=target, region=placement.region,
                    next_part=part, parts=parts)
                return Copying(copying.upload_id, part, copying.size)
        # The parts S3 holds, with their ETags (none is carried in the token).
        uploaded = aws_clients.listing(s3, "list_parts", "Parts", Bucket=bucket, Key=key,
                                       UploadId=copying.upload_id)
        if [p["PartNumber"] for p in uploaded] != list(range(1, parts + 1)):
            raise DeployFailure(f"the copy of {source} to {target} holds parts "
                                f"{[p['PartNumber'] for p in uploaded]}, not 1..{parts}; "
                                "retry the stage")
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=copying.upload_id, MultipartUpload={"Parts": [
                {"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in uploaded]})
    except aws_clients.CallFailed as exc:
        _abort(s3, bucket, key, copying.upload_id)
        raise aws_failure(f"s3:ListParts {target} (copy of {source})", exc.cause) from None
    except (ClientError, BotoCoreError) as exc:
        _abort(s3, bucket, key, copying.upload_id)
        raise aws_failure(f"s3:CompleteMultipartUpload {target} (copy of {source})",
                          exc) from None
    except DeployFailure:
        _abort(s3, bucket, key, copying.upload_id)
        raise
    log("artifact_copied", source=source, target=target, region=placement.region,
        bytes=copying.size, parts=parts)
    return target


def _read(reader, source: str, bucket: str, key: str, target: str, **extra) -> bytes:
    try:
        response = reader.get_object(Bucket=bucket, Key=key, **extra)
        with response["Body"] as body:
            return body.read()
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"s3:GetObject {source} (copy to {target})", exc) from None


def _abort(s3, bucket: str, key: str, upload_id: str) -> None:
    """A copy that cannot finish: S3 frees its parts (the bucket's lifecycle rule would after
    days)."""
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (ClientError, BotoCoreError) as exc:
        warn("artifact_copy_not_aborted", bucket=bucket, key=key, error=str(exc))


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
                 region: str, job_id: str, started_by: str,
                 copying: Copying | None = None) -> tuple[str, str | None] | Copying:
    """Create the region's model and config and create/update its endpoint, after entering the
    region; (action, the config the endpoint served before or None), or, while the artifact's
    copy is not done, the Copying to resume it from (`copying`) in the next invocation.
    `started_by` is the job that started the stage's deployment (its configs' tag in every
    region)."""
    regional = enter(stage, region, job_id) if region != stage.region else stage
    endpoint = deploy.read_endpoint(regional)
    counts = scaling.carried_instance_counts(regional, endpoint)
    placement = stage.placement(region)
    containers = None
    if placement is not None:
        copied = copy_artifact(package, placement, settings, stage.region, copying)
        if isinstance(copied, Copying):
            return copied
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
