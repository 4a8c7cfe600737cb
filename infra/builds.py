"""TrainingBuild and ModelTestBuild: the CodeBuild projects behind the Train and Test stages.

Both run buildspecs from pipeline_src/buildspecs/ against the pipeline's source artifact, with
KMS-encrypted artifacts and logs, no privileged mode, and only the permissions their job needs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject, CodebuildProjectArtifacts, CodebuildProjectEnvironment,
    CodebuildProjectEnvironmentEnvironmentVariable, CodebuildProjectLogsConfig,
    CodebuildProjectLogsConfigCloudwatchLogs, CodebuildProjectSource)

from infra.artifact_store import ArtifactStore
from infra.encryption import EncryptionKey
from infra.environment import DeploymentTarget
from infra.execution_role import CODE_BUNDLES, MODEL_ARTIFACTS, TrainingRole
from infra.iam import log_statement, service_role, statement
from infra.model_registry import ModelRegistry
from infra.naming import Names
from infra.network import Network
from pipeline_src import SKLEARN_FRAMEWORK_VERSION
from pipeline_src.evaluate import GATE_THRESHOLDS_ENV
from pipeline_src.jobs.train import VPC_CONFIG_ENV

BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
BUILDSPEC_DIR = "pipeline_src/buildspecs"
# Installing the job requirements and the contract check, before the training job starts.
TRAIN_SETUP_MINUTES = 20


@dataclass(frozen=True)
class BuildInputs:
    """What the jobs read and write: shared by both projects."""

    target: DeploymentTarget
    store: ArtifactStore
    key: EncryptionKey
    registry: ModelRegistry
    training_role: TrainingRole
    network: Optional[Network] = None  # None: the builds run outside any VPC

    @property
    def bucket_name(self) -> str:
        return self.store.bucket_name

    @property
    def key_arn(self) -> str:
        return self.key.key_arn


def build_environment(compute_type: str,
                      variables: Mapping[str, str]) -> CodebuildProjectEnvironment:
    """The build image every project of this app runs on, with its plain-text variables."""
    return CodebuildProjectEnvironment(
        compute_type=compute_type, image=BUILD_IMAGE, type="LINUX_CONTAINER",
        privileged_mode=False, image_pull_credentials_type="CODEBUILD",
        environment_variable=[
            CodebuildProjectEnvironmentEnvironmentVariable(name=k, value=v, type="PLAINTEXT")
            for k, v in sorted(variables.items())])


def build_logs(group_name: str) -> CodebuildProjectLogsConfig:
    return CodebuildProjectLogsConfig(
        cloudwatch_logs=CodebuildProjectLogsConfigCloudwatchLogs(group_name=group_name,
                                                                 status="ENABLED"))


def _common_environment(inputs: BuildInputs) -> dict[str, str]:
    config, names = inputs.target.config, inputs.target.names
    return {
        "PROJECT_NAME": config.project,
        "ENVIRONMENT": config.name,
        "RESOURCE_PREFIX": names.prefix,
        "ARTIFACT_BUCKET": inputs.bucket_name,
        "DATA_S3_URI": inputs.store.uri(Names.DATA_PREFIX),
        "TRAINING_OUTPUT_S3_URI": inputs.store.uri(Names.TRAINING_OUTPUT_PREFIX),
        "MODEL_PACKAGE_GROUP": inputs.registry.group_name,
        "SAGEMAKER_EXECUTION_ROLE_ARN": inputs.training_role.role_arn,
        "KMS_KEY_ARN": inputs.key_arn,
        "SKLEARN_FRAMEWORK_VERSION": SKLEARN_FRAMEWORK_VERSION,
        GATE_THRESHOLDS_ENV: config.quality_gate.thresholds().to_json(),
    }


def _pipeline_artifact_statements(inputs: BuildInputs) -> list[dict]:
    """CodeBuild downloads the action's input artifacts and uploads its output artifacts (of
    every pipeline that runs the builds: the pull-request pipeline's too)."""
    pipeline_objects = [f"{prefix}/*" for prefix in inputs.target.names.pipeline_artifact_prefixes]
    return [
        inputs.store.read_write(*pipeline_objects, sid="ReadWritePipelineArtifacts",
                                versions=True),
        inputs.key.use(),
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
                                *_pipeline_artifact_statements(inputs), *statements,
                                *(inputs.network.grant_builds()
                                  if inputs.network else [])]})
        self.project = CodebuildProject(
            self, "project", name=project_name, description=description,
            service_role=role.arn, build_timeout=timeout_minutes, queued_timeout=60,
            encryption_key=inputs.key_arn,
            source=CodebuildProjectSource(type="CODEPIPELINE",
                                          buildspec=f"{BUILDSPEC_DIR}/{buildspec}"),
            artifacts=CodebuildProjectArtifacts(type="CODEPIPELINE"),
            environment=build_environment(
                target.config.codebuild_compute_type,
                {**environment, **(inputs.network.build_environment() if inputs.network else {})}),
            logs_config=build_logs(log_group.name),
            vpc_config=inputs.network.codebuild_vpc_config() if inputs.network else None)
        self.project_name = project_name
        self.project_arn = self.project.arn
        self.role_arn = role.arn


class TrainingBuild(PipelineBuild):
    """Contract check, SageMaker training job, model package registration."""

    def __init__(self, scope: Construct, id_: str, *, inputs: BuildInputs) -> None:
        target = inputs.target
        config, names = target.config, target.names
        training = config.training
        inference_types = sorted({stage.instance_type for stage in config.stages})
        environment = {
            **_common_environment(inputs),
            "TRAINING_INSTANCE_TYPE": training.instance_type,
            "TRAINING_INSTANCE_COUNT": str(training.instance_count),
            "TRAINING_VOLUME_SIZE_GB": str(training.volume_size_gb),
            "TRAINING_MAX_RUNTIME_SECONDS": str(training.max_runtime_seconds),
            "HYPERPARAMETERS": json.dumps(training.hyperparameters, sort_keys=True),
            "INFERENCE_INSTANCE_TYPES": ",".join(inference_types),
        }
        # Training jobs carry this environment's ownership tags (the deploy step's keys), so the
        # role creates and watches only its own environment's jobs, whatever their names.
        tags = target.ownership_tags
        environment["TRAINING_JOB_TAGS"] = json.dumps(tags, sort_keys=True)
        request_tags = target.owned("RequestTag")
        training_jobs = target.sagemaker_arn("training-job", f"{names.prefix}-*")
        key_arn = inputs.key.key_arn
        placement = {}
        if inputs.network:
            # The job runs its training jobs in the network's subnets (CreateTrainingJob
            # VpcConfig); IAM refuses any other subnet or security group, and a request
            # without a VpcConfig (ForAllValues alone holds for a missing key: IAM User Guide,
            # "Multivalued context keys"; Null false requires the key).
            vpc_config = inputs.network.training_vpc_config()
            environment[VPC_CONFIG_ENV] = json.dumps(vpc_config, sort_keys=True)
            placement = {"ForAllValues:StringEquals": {
                "sagemaker:VpcSubnets": vpc_config["Subnets"],
                "sagemaker:VpcSecurityGroupIds": vpc_config["SecurityGroupIds"]},
                "Null": {"sagemaker:VpcSubnets": "false",
                         "sagemaker:VpcSecurityGroupIds": "false"}}
        statements = [
            inputs.store.read(f"{Names.DATA_PREFIX}/*", sid="ReadDataSet"),
            # The job only starts training jobs that keep the promises of docs/interfaces.md:
            # network isolation, encrypted traffic, volume and output with the project key, and
            # the configured instance type (condition keys of the Service Authorization Reference).
            statement("StartIsolatedEncryptedTrainingJobs", ["sagemaker:CreateTrainingJob"],
                      [training_jobs], conditions={
                          "Bool": {"sagemaker:NetworkIsolation": "true",
                                   "sagemaker:InterContainerTrafficEncryption": "true"},
                          "StringEquals": {"sagemaker:VolumeKmsKey": key_arn,
                                           "sagemaker:OutputKmsKey": key_arn, **request_tags},
                          "ForAllValues:StringEquals": {
                              "sagemaker:InstanceTypes": [training.instance_type],
                              **placement.get("ForAllValues:StringEquals", {})},
                          **({"Null": placement["Null"]} if placement else {})}),
            # Tags passed to CreateTrainingJob are authorized as sagemaker:AddTags too.
            statement("TagNewTrainingJobs", ["sagemaker:AddTags"], [training_jobs],
                      conditions={"StringEquals": request_tags,
                                  "ForAllValues:StringEquals": {"aws:TagKeys": sorted(tags)}}),
            statement("WatchTrainingJobs", ["sagemaker:DescribeTrainingJob"], [training_jobs],
                      conditions={"StringEquals": target.owned("ResourceTag")}),
            inputs.registry.register(),
            inputs.store.write(CODE_BUNDLES, f"{Names.TRAINING_OUTPUT_PREFIX}/*/metrics/*",
                               sid="UploadCodeBundlesAndMetrics"),
            inputs.store.read(MODEL_ARTIFACTS, sid="ReadTrainedModels"),
            inputs.training_role.pass_to_sagemaker(),
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
            inputs.store.read(f"{Names.DATA_PREFIX}/test.csv", MODEL_ARTIFACTS,
                              sid="ReadTestSetAndModels"),
            inputs.registry.read_and_decide(),
            inputs.registry.list_packages(),
        ]
        super().__init__(scope, id_, inputs=inputs, project_name=names.test_project,
                         role_purpose="codebuild-test", buildspec="test.yml",
                         description="Test: evaluate on held-out data, quality gate vs "
                                     "thresholds and champion, approve or reject",
                         timeout_minutes=60, environment=_common_environment(inputs),
                         statements=statements)

