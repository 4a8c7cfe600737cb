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


def _build_configuration(project: str, source) -> dict:
    """A CodeBuild action's configuration; with a git source, the revision the build runs on
    (the source action's output variables) as environment variables."""
    configuration = {"ProjectName": project}
    variables = source.build_variables()
    if variables:
        configuration["EnvironmentVariables"] = json.dumps(variables)
    return configuration


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
            artifact_store=[CodepipelineArtifactStore(
                location=bucket_name, type="S3",
                encryption_key=CodepipelineArtifactStoreEncryptionKey(id=key.key_arn,
                                                                      type="KMS"))],
            trigger=inputs.source.triggers(),
            stage=[
                CodepipelineStage(name="Source",
                                  action=[inputs.source.action(SOURCE_ARTIFACT)]),
                CodepipelineStage(name="Train", action=[_action(
                    "Train", "Build", "CodeBuild",
                    _build_configuration(inputs.train_project, inputs.source),
                    inputs=[SOURCE_ARTIFACT], outputs=[TRAIN_ARTIFACT])]),
                CodepipelineStage(name="Test", action=[_action(
                    "EvaluateAndGate", "Test", "CodeBuild",
                    {"ProjectName": inputs.test_project, "PrimarySource": SOURCE_ARTIFACT},
                    inputs=[SOURCE_ARTIFACT, TRAIN_ARTIFACT], outputs=[TEST_ARTIFACT])]),
                *deploy_stages(target, inputs.deploy_function, inputs.topic_arn),
            ])
