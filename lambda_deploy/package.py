"""Decide whether a model package may be served by a stage."""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from lambda_deploy import aws
from lambda_deploy.errors import DeployFailure, aws_failure
from lambda_deploy.settings import Settings, StageSettings

APPROVED = "Approved"
PENDING = "PendingManualApproval"
# The package metadata property holding the git commit the model was trained from (written by
# the train job, pipeline_src/jobs/train.py COMMIT_PROPERTY, which cannot import this package:
# tests/test_seams.py holds the two names equal). Absent with the S3 source.
COMMIT_PROPERTY = "source_commit"


@dataclass(frozen=True)
class ModelPackage:
    arn: str
    version: int
    status: str
    commit: str | None = None
    # The package's serving container (Image, ModelDataUrl, Environment): what a secondary
    # region's model is built from (lambda_deploy/regions.py).
    container: dict | None = None


def check_package(arn: str, settings: Settings, stage: StageSettings) -> ModelPackage:
    try:
        package = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationException":
            raise DeployFailure(f"no model package to deploy: {arn} does not exist in this "
                                "account/region; re-run the pipeline to register one") from None
        raise aws_failure("sagemaker:DescribeModelPackage", exc) from None
    group = package.get("ModelPackageGroupName")
    if group != settings.model_package_group:
        raise DeployFailure(
            f"refusing to deploy {arn}: it belongs to group {group!r}, not to this "
            f"environment's group {settings.model_package_group!r}")
    version = package.get("ModelPackageVersion")
    if not isinstance(version, int):
        raise DeployFailure(f"refusing to deploy {arn}: not a versioned model package")
    status = package.get("ModelApprovalStatus", "")
    allowed = (APPROVED, PENDING) if stage.accept_pending_approval else (APPROVED,)
    if status not in allowed:
        raise DeployFailure(
            f"no deployable model package for {stage.stage}: version {version} of "
            f"{group} is {status or 'without approval status'}; {stage.stage} deploys only "
            f"{' or '.join(allowed)}. Approve a version in the SageMaker model registry "
            "(update-model-package --model-approval-status Approved) and retry this stage, "
            "or re-run the pipeline to train a better one")
    commit = (package.get("CustomerMetadataProperties") or {}).get(COMMIT_PROPERTY)
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or [None]
    return ModelPackage(arn=arn, version=version, status=status, commit=commit or None,
                        container=containers[0])
