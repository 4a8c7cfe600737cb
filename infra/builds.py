"""TrainingBuild and ModelTestBuild: the CodeBuild projects behind the Train and Test stages.

Both run buildspecs from pipeline_src/buildspecs/ against the pipeline's source artifact, with
KMS-encrypted artifacts and logs, no privileged mode, and only the permissions their job needs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject, CodebuildProjectArtifacts, CodebuildProjectEnvironment,
    CodebuildProjectEnvironmentEnvironmentVariable, CodebuildProjectLogsConfig,
    CodebuildProjectLogsConfigCloudwatchLogs, CodebuildProjectSource)

from infra.environment import DeploymentTarget
from infra.iam import kms_use_statement, log_statement, service_role, statement
from infra.naming import Names
from pipeline_src import SKLEARN_FRAMEWORK_VERSION
from pipeline_src.evaluate import GATE_THRESHOLDS_ENV

BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
BUILDSPEC_DIR = "pipeline_src/buildspecs"
# Installing the job requirements and the contract check, before the training job starts.
TRAIN_SETUP_MINUTES = 20


@dataclass(frozen=True)
class BuildInputs:
    """What the jobs read and write: shared by both projects."""

    target: DeploymentTarget
    bucket_name: str
    bucket_arn: str
    key_arn: str
    group_name: str
    group_arn: str
    packages_arn: str
    execution_role_arn: str


def _common_environment(inputs: BuildInputs) -> dict[str, str]:
    config, names = inputs.target.config, inputs.target.names
    return {
        "PROJECT_NAME": config.project,
        "ENVIRONMENT": config.name,
        "RESOURCE_PREFIX": names.prefix,
        "ARTIFACT_BUCKET": inputs.bucket_name,
        "DATA_S3_URI": f"s3://{inputs.bucket_name}/{Names.DATA_PREFIX}",
        "TRAINING_OUTPUT_S3_URI": f"s3://{inputs.bucket_name}/{Names.TRAINING_OUTPUT_PREFIX}",
        "MODEL_PACKAGE_GROUP": inputs.group_name,
        "SAGEMAKER_EXECUTION_ROLE_ARN": inputs.execution_role_arn,
        "KMS_KEY_ARN": inputs.key_arn,
        "SKLEARN_FRAMEWORK_VERSION": SKLEARN_FRAMEWORK_VERSION,
        GATE_THRESHOLDS_ENV: config.quality_gate.thresholds().to_json(),
    }


def _pipeline_artifact_statements(inputs: BuildInputs) -> list[dict]:
    pipeline_objects = f"{inputs.bucket_arn}/{inputs.target.names.pipeline_artifact_prefix}/*"
    return [
        statement("ReadWritePipelineArtifacts", ["s3:GetObject", "s3:GetObjectVersion",
                                                 "s3:PutObject"], [pipeline_objects]),
        statement("ReadDataSet", ["s3:GetObject"],
                  [f"{inputs.bucket_arn}/{Names.DATA_PREFIX}/*"]),
        statement("ListDataAndTrainingPrefixes", ["s3:ListBucket"], [inputs.bucket_arn],
                  conditions={"StringLike": {"s3:prefix": [
                      f"{Names.DATA_PREFIX}/*", f"{Names.TRAINING_OUTPUT_PREFIX}/*"]}}),
        kms_use_statement(inputs.key_arn),
    ]


class PipelineBuild(Construct):
    """One CodeBuild project with its own role and log group."""

    def __init__(self, scope: Construct, id_: str, *, inputs: BuildInputs, project_name: str,
                 role_purpose: str, buildspec: str, description: str, timeout_minutes: int,
                 environment: Mapping[str, str], statements: Sequence[dict]) -> None:
        super().__init__(scope, id_)
        target = inputs.target
        log_group_name = target.names.codebuild_log_group(project_name)
        log_group = CloudwatchLogGroup(self, "logs", name=log_group_name,
                                       retention_in_days=target.config.log_retention_days,
                                       kms_key_id=inputs.key_arn)
        role = service_role(
            self, "role", name=target.names.role(role_purpose),
            service="codebuild.amazonaws.com", account_id=target.account_id,
            description=description,
            policies={"build": [log_statement(target.log_group_arn(log_group_name)),
                                *_pipeline_artifact_statements(inputs), *statements]})
        self.project = CodebuildProject(
            self, "project", name=project_name, description=description,
            service_role=role.arn, build_timeout=timeout_minutes, queued_timeout=60,
            encryption_key=inputs.key_arn,
            source=CodebuildProjectSource(type="CODEPIPELINE",
                                          buildspec=f"{BUILDSPEC_DIR}/{buildspec}"),
            artifacts=CodebuildProjectArtifacts(type="CODEPIPELINE"),
            environment=CodebuildProjectEnvironment(
                compute_type=target.config.codebuild_compute_type, image=BUILD_IMAGE,
                type="LINUX_CONTAINER", privileged_mode=False,
                image_pull_credentials_type="CODEBUILD",
                environment_variable=[
                    CodebuildProjectEnvironmentEnvironmentVariable(name=k, value=v,
                                                                   type="PLAINTEXT")
                    for k, v in sorted(environment.items())]),
            logs_config=CodebuildProjectLogsConfig(
                cloudwatch_logs=CodebuildProjectLogsConfigCloudwatchLogs(
                    group_name=log_group.name, status="ENABLED")))
        self.project_name = project_name
        self.project_arn = self.project.arn
        self.role_arn = role.arn


class TrainingBuild(PipelineBuild):
    """Contract check, SageMaker training job, model package registration."""

    def __init__(self, scope: Construct, id_: str, *, inputs: BuildInputs) -> None:
        target = inputs.target
        config, names = target.config, target.names
        training = config.training
        inference_types = sorted({config.staging.instance_type, config.prod.instance_type})
        environment = {
            **_common_environment(inputs),
            "TRAINING_INSTANCE_TYPE": training.instance_type,
            "TRAINING_INSTANCE_COUNT": str(training.instance_count),
            "TRAINING_VOLUME_SIZE_GB": str(training.volume_size_gb),
            "TRAINING_MAX_RUNTIME_SECONDS": str(training.max_runtime_seconds),
            "HYPERPARAMETERS": json.dumps(training.hyperparameters, sort_keys=True),
            "INFERENCE_INSTANCE_TYPES": ",".join(inference_types),
        }
        training_jobs = target.sagemaker_arn("training-job", f"{names.prefix}-*")
        statements = [
            statement("RunTrainingJobs", ["sagemaker:CreateTrainingJob",
                                          "sagemaker:DescribeTrainingJob",
                                          "sagemaker:StopTrainingJob"], [training_jobs]),
            # Tags on CreateTrainingJob/CreateModelPackage need AddTags on the new resource.
            statement("TagWhatItCreates", ["sagemaker:AddTags"],
                      [training_jobs, inputs.packages_arn]),
            statement("RegisterModelPackages", ["sagemaker:CreateModelPackage"],
                      [inputs.group_arn, inputs.packages_arn]),
            statement("ReadModelPackageGroup", ["sagemaker:DescribeModelPackageGroup"],
                      [inputs.group_arn]),
            statement("UploadSourceDirAndReadModel", ["s3:GetObject", "s3:PutObject"],
                      [f"{inputs.bucket_arn}/{Names.TRAINING_OUTPUT_PREFIX}/*"]),
            statement("PassExecutionRoleToSageMakerOnly", ["iam:PassRole"],
                      [inputs.execution_role_arn],
                      conditions={"StringEquals": {"iam:PassedToService":
                                                   "sagemaker.amazonaws.com"}}),
        ]
        # Training runs inside the build: the job waits up to max runtime + 60 min for the
        # training job (capacity, image pull), so the build allows that plus setup time.
        timeout = training.max_runtime_seconds // 60 + 60 + TRAIN_SETUP_MINUTES
        super().__init__(scope, id_, inputs=inputs, project_name=names.train_project,
                         role_purpose="codebuild-train", buildspec="train.yml",
                         description="Train: contract check, SageMaker training job, register "
                                     "model package (PendingManualApproval)",
                         timeout_minutes=timeout, environment=environment,
                         statements=statements)


class ModelTestBuild(PipelineBuild):
    """Evaluate on held-out data, gate against thresholds and the champion, approve or reject."""

    def __init__(self, scope: Construct, id_: str, *, inputs: BuildInputs) -> None:
        names = inputs.target.names
        statements = [
            statement("ReadTrainedModels", ["s3:GetObject"],
                      [f"{inputs.bucket_arn}/{Names.TRAINING_OUTPUT_PREFIX}/*"]),
            statement("ReadAndDecideModelPackages", ["sagemaker:DescribeModelPackage",
                                                     "sagemaker:UpdateModelPackage"],
                      [inputs.packages_arn]),
            # ListModelPackages has no resource-level permissions in IAM; it is how the job
            # finds the champion (latest Approved package of the group).
            statement("FindChampion", ["sagemaker:ListModelPackages"], "*"),
        ]
        super().__init__(scope, id_, inputs=inputs, project_name=names.test_project,
                         role_purpose="codebuild-test", buildspec="test.yml",
                         description="Test: evaluate on held-out data, quality gate vs "
                                     "thresholds and champion, approve or reject",
                         timeout_minutes=60, environment=_common_environment(inputs),
                         statements=statements)

