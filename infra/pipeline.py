"""Pipeline: CodePipeline V2, Source -> Train -> Test -> for each configured stage in order:
[manual approval ->] Deploy <stage> (the fraud demo: Deploy staging -> approval -> Deploy prod)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Union

from constructs import Construct
from cdktf_cdktf_provider_aws.codepipeline import (
    Codepipeline, CodepipelineArtifactStore, CodepipelineArtifactStoreEncryptionKey,
    CodepipelineStage, CodepipelineStageAction)

from infra.artifact_store import ArtifactStore
from infra.encryption import EncryptionKey
from infra.environment import DeploymentTarget
from infra.iam import service_role, statement
from infra.source import GitHubSource, PipelineSource

SOURCE_ARTIFACT = "SourceOutput"
TRAIN_ARTIFACT = "TrainOutput"
TEST_ARTIFACT = "TestOutput"


@dataclass(frozen=True)
class PipelineInputs:
    target: DeploymentTarget
    store: ArtifactStore
    key: EncryptionKey
    source: Union[PipelineSource, GitHubSource]
    train_project: str
    train_project_arn: str
    test_project: str
    test_project_arn: str
    deploy_function: str
    deploy_function_arn: str
    topic_arn: str


def _action(name: str, category: str, provider: str, configuration: dict, *,
            inputs=(), outputs=(), namespace=None, owner="AWS", run_order=1):
    return CodepipelineStageAction(
        name=name, category=category, owner=owner, provider=provider, version="1",
        configuration=configuration, input_artifacts=list(inputs) or None,
        output_artifacts=list(outputs) or None, namespace=namespace, run_order=run_order)


def _deploy_action(stage: str, function_name: str):
    return _action(f"Deploy-{stage}", "Invoke", "Lambda",
                   {"FunctionName": function_name,
                    "UserParameters": json.dumps({"stage": stage})},
                   inputs=[TEST_ARTIFACT], namespace=_namespace(stage))


def _namespace(stage: str) -> str:
    return f"Deploy{stage.capitalize()}"


def deploy_stages(target: DeploymentTarget, deploy_function: str,
                  topic_arn: str) -> list[CodepipelineStage]:
    """Each configured stage in order, after a manual approval where the config asks for one."""
    stages, previous = [], None
    for stage in target.config.stages:
        name = stage.name
        if stage.approval:
            if previous is None:
                served = "the model package the Test stage approved"
            else:
                # Output variables published by the previous deploy's final reply.
                served = (f"{previous.capitalize()} endpoint {target.names.endpoint(previous)} "
                          f"serves model package #{{{_namespace(previous)}.ModelPackageArn}} "
                          f"(endpoint config #{{{_namespace(previous)}.EndpointConfigName}}). "
                          "Approve to deploy it")
            stages.append(CodepipelineStage(name=f"Approve{name.capitalize()}", action=[_action(
                f"Approve{name.capitalize()}", "Approval", "Manual",
                {"NotificationArn": topic_arn, "CustomData": f"{served} to {name}."})]))
        stages.append(CodepipelineStage(name=_namespace(name),
                                        action=[_deploy_action(name, deploy_function)]))
        previous = name
    return stages


def _build_configuration(project: str, variables, **extra) -> dict:
    """A CodeBuild action's configuration; with a git source, the revision the build runs on
    (the source action's output variables) as environment variables."""
    configuration = {"ProjectName": project, **extra}
    if variables:
        configuration["EnvironmentVariables"] = json.dumps(variables)
    return configuration


def _artifact_store(bucket_name: str, key: EncryptionKey) -> list[CodepipelineArtifactStore]:
    return [CodepipelineArtifactStore(
        location=bucket_name, type="S3",
        encryption_key=CodepipelineArtifactStoreEncryptionKey(id=key.key_arn, type="KMS"))]


def _train_and_test(inputs: PipelineInputs, source_action, train_variables,
                    test_variables=None) -> list[CodepipelineStage]:
    """Source -> Train -> Test, the stages both pipelines run."""
    return [
        CodepipelineStage(name="Source", action=[source_action]),
        CodepipelineStage(name="Train", action=[_action(
            "Train", "Build", "CodeBuild",
            _build_configuration(inputs.train_project, train_variables),
            inputs=[SOURCE_ARTIFACT], outputs=[TRAIN_ARTIFACT])]),
        CodepipelineStage(name="Test", action=[_action(
            "EvaluateAndGate", "Test", "CodeBuild",
            _build_configuration(inputs.test_project, test_variables,
                                 PrimarySource=SOURCE_ARTIFACT),
            inputs=[SOURCE_ARTIFACT, TRAIN_ARTIFACT], outputs=[TEST_ARTIFACT])]),
    ]


class Pipeline(Construct):
    def __init__(self, scope: Construct, id_: str, *, inputs: PipelineInputs) -> None:
        super().__init__(scope, id_)
        target = inputs.target
        names = target.names
        self.pipeline_name = names.pipeline
        self.pipeline_arn = target.arn("codepipeline", names.pipeline)
        store, key = inputs.store, inputs.key
        bucket_name = store.bucket_name
        role = service_role(
            self, "role", name=names.role("codepipeline"), service="codepipeline.amazonaws.com",
            account_id=target.account_id, description="Runs the MLOps pipeline",
            policies={"pipeline": [
                *inputs.source.pipeline_grants(store),
                # The source action writes its output; the deploy step reads its input with
                # the artifact credentials CodePipeline derives from this role.
                store.read_write(f"{names.pipeline_artifact_prefix}/*",
                                 sid="ReadWritePipelineArtifacts"),
                # Artifacts through S3; the approval notice through the encrypted topic.
                key.use(via=("s3", "sns")),
                statement("RunBuilds", ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                          [inputs.train_project_arn, inputs.test_project_arn]),
                statement("InvokeDeployFunction", ["lambda:InvokeFunction"],
                          [inputs.deploy_function_arn]),
                statement("NotifyApprovers", ["sns:Publish"], [inputs.topic_arn]),
            ]})
        self.pipeline = Codepipeline(
            self, "pipeline", name=names.pipeline, pipeline_type="V2",
            execution_mode="QUEUED", role_arn=role.arn,
            artifact_store=_artifact_store(bucket_name, key),
            trigger=inputs.source.triggers(),
            stage=[
                *_train_and_test(inputs, inputs.source.action(SOURCE_ARTIFACT),
                                 inputs.source.build_variables()),
                *deploy_stages(target, inputs.deploy_function, inputs.topic_arn),
            ])


class PullRequestPipeline(Construct):
    """Pull requests into the GitHub source's branch (config source.pull_requests): Source ->
    Train -> Test and nothing after it, in a pipeline of its own with its own trigger and role.

    A second pipeline rather than a condition in the first: a pull-request trigger sits beside
    the push filter in the one trigger of the main pipeline's source action, so every stage of
    that pipeline would run for it, deploys included; a pipeline without deploy stages cannot
    deploy, and its role cannot invoke the deploy function. The Test job of this pipeline
    evaluates and gates, then registers the model Rejected (PIPELINE_RUN=pull-request), so a
    pull request's model is never deployed nor the champion."""

    def __init__(self, scope: Construct, id_: str, *, inputs: PipelineInputs) -> None:
        super().__init__(scope, id_)
        target, source = inputs.target, inputs.source
        names = target.names
        store, key = inputs.store, inputs.key
        self.pipeline_name = names.pull_request_pipeline
        role = service_role(
            self, "role", name=names.role("codepipeline-pr"),
            service="codepipeline.amazonaws.com", account_id=target.account_id,
            description="Runs the pull-request pipeline (train and test, no deploy)",
            policies={"pipeline": [
                *source.pipeline_grants(store),
                store.read_write(f"{names.pull_request_pipeline[:20]}/*",
                                 sid="ReadWritePipelineArtifacts"),
                key.use(via=("s3",)),
                statement("RunBuilds", ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                          [inputs.train_project_arn, inputs.test_project_arn]),
            ]})
        run = source.pull_request_variables()
        self.pipeline = Codepipeline(
            self, "pipeline", name=names.pull_request_pipeline, pipeline_type="V2",
            execution_mode="QUEUED", role_arn=role.arn,
            artifact_store=_artifact_store(store.bucket_name, key),
            trigger=source.pull_request_triggers(),
            stage=_train_and_test(inputs, source.action(SOURCE_ARTIFACT),
                                  source.build_variables(), run))
