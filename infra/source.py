"""The pipeline's source, one of two kinds (config `source.type`):

- PipelineSource (s3): pipeline_src zipped and uploaded at a fixed key; a new version starts the
  pipeline (PipelineTrigger). The monitor job runs from this zip whatever the pipeline's source.
- GitHubSource (github): a CodeConnections connection, the CodeStarSourceConnection action and
  the V2 trigger on pushes to the configured branch that touch the configured paths.

Both hand the Pipeline the same things: the source action, its triggers, the grants the
pipeline role needs for it, and the variables that tell the Train job which revision it built.
"""
from __future__ import annotations

import json
from typing import Optional

from cdktf import AssetType, TerraformAsset
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.codeconnections_connection import CodeconnectionsConnection
from cdktf_cdktf_provider_aws.codepipeline import (
    CodepipelineStageAction, CodepipelineTrigger, CodepipelineTriggerGitConfiguration,
    CodepipelineTriggerGitConfigurationPullRequest,
    CodepipelineTriggerGitConfigurationPullRequestBranches,
    CodepipelineTriggerGitConfigurationPullRequestFilePaths,
    CodepipelineTriggerGitConfigurationPush, CodepipelineTriggerGitConfigurationPushBranches,
    CodepipelineTriggerGitConfigurationPushFilePaths)
from cdktf_cdktf_provider_aws.s3_object import S3Object

from infra.artifact_store import ArtifactStore
from infra.environment import DeploymentTarget
from infra.iam import service_role, statement
from infra.naming import Names
from infra.packaging import ZipArchive
from pipeline_src.jobs.test import PULL_REQUEST_RUN, RUN_ENV
from pipeline_src.jobs.train import SOURCE_VARIABLES

SOURCE_ACTION = "Source"
# The namespace of the source action's output variables (#{SourceVariables.CommitId}).
SOURCE_NAMESPACE = "SourceVariables"


def _source_action(provider: str, configuration: dict, output: str) -> CodepipelineStageAction:
    return CodepipelineStageAction(
        name=SOURCE_ACTION, category="Source", owner="AWS", provider=provider, version="1",
        configuration=configuration, output_artifacts=[output], namespace=SOURCE_NAMESPACE,
        run_order=1)


class PipelineSource(Construct):
    """The source object CodePipeline's S3 action reads (PollForSourceChanges off)."""

    def __init__(self, scope: Construct, id_: str, *, archive: ZipArchive, bucket_name: str,
                 key_arn: str) -> None:
        super().__init__(scope, id_)
        asset = TerraformAsset(self, "archive", path=str(archive.path), type=AssetType.FILE)
        self.object_key = Names.SOURCE_KEY
        self.bucket_name = bucket_name
        self.object = S3Object(self, "object", bucket=bucket_name, key=self.object_key,
                               source=asset.path, source_hash=archive.sha256_hex,
                               server_side_encryption="aws:kms", kms_key_id=key_arn,
                               content_type="application/zip")

    # -- as the pipeline's source (type s3) ----------------------------------------------------
    def action(self, output: str) -> CodepipelineStageAction:
        return _source_action("S3", {
            "S3Bucket": self.bucket_name, "S3ObjectKey": self.object_key,
            # EventBridge (PipelineTrigger) starts executions; no polling.
            "PollForSourceChanges": "false"}, output)

    def triggers(self) -> Optional[list]:
        return None  # EventBridge starts it (PipelineTrigger), not a V2 trigger

    def pipeline_grants(self, store: ArtifactStore) -> list[dict]:
        """The S3 source action reads the object's versions and checks the bucket is versioned
        (CodePipeline User Guide, S3 source action reference: service role permissions)."""
        return [store.read(self.object_key, sid="ReadSourceObject", versions=True),
                store.check_versioning()]

    def build_variables(self) -> Optional[list[dict]]:
        # The S3 action's variables are the object's ETag and VersionId, not a commit; the
        # Train job records CodeBuild's resolved source version (the object version) instead.
        return None


class PipelineTrigger(Construct):
    """EventBridge rule: a new version of the source object starts one pipeline execution."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 bucket_name: str, object_key: str, pipeline_arn: str) -> None:
        super().__init__(scope, id_)
        names = target.names
        role = service_role(
            self, "role", name=names.role("events"), service="events.amazonaws.com",
            account_id=target.account_id,
            description="EventBridge starts the MLOps pipeline on a new source version",
            policies={"start-pipeline": [
                statement("StartThisPipeline", ["codepipeline:StartPipelineExecution"],
                          [pipeline_arn])]})
        rule = CloudwatchEventRule(
            self, "rule", name=names.rule("source-changed"),
            description=f"Start {names.pipeline} when a new version of {object_key} lands",
            event_pattern=json.dumps({
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [object_key]}},
            }, indent=2))
        CloudwatchEventTarget(self, "target", rule=rule.name, arn=pipeline_arn,
                              role_arn=role.arn, target_id="start-pipeline")


class GitHubSource(Construct):
    """A GitHub branch through a CodeConnections connection (config `source`, type github).

    The connection is the configured one, or one this stack creates: AWS creates it PENDING and
    a person completes the handshake with GitHub in the console (README, "GitHub as the source");
    until it is AVAILABLE the pipeline does not start.
    """

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget) -> None:
        super().__init__(scope, id_)
        config = target.config.source
        self.config = config
        self.connection: Optional[CodeconnectionsConnection] = None
        if config.connection_arn:
            self.connection_arn = config.connection_arn
            service = config.connection_arn.split(":")[2]
        else:
            self.connection = CodeconnectionsConnection(
                self, "connection", name=target.names.connection, provider_type="GitHub")
            self.connection_arn = self.connection.arn
            service = "codeconnections"  # aws_codeconnections_connection ARNs
        self._use_action = f"{service}:UseConnection"

    def action(self, output: str) -> CodepipelineStageAction:
        return _source_action("CodeStarSourceConnection", {
            "ConnectionArn": self.connection_arn,
            "FullRepositoryId": self.config.repository,
            # A manual start (or a retraining trigger) builds this branch's head.
            "BranchName": self.config.branch,
            # CODE_ZIP: the Train and Test builds get the files, so only the pipeline role uses
            # the connection (CODEBUILD_CLONE_REF would make each CodeBuild role use it and
            # clone; the jobs need no git history).
            "OutputArtifactFormat": "CODE_ZIP",
            # No DetectChanges: a trigger with filters turns default change detection off
            # (CodePipeline API, PipelineTriggerDeclaration), so the trigger below alone starts it.
        }, output)

    def triggers(self) -> list[CodepipelineTrigger]:
        """One trigger for the source action (a pipeline takes one per source action): pushes
        to the branch that change one of the paths. Branch and file-path filters combine;
        Git tag filters would exclude both (CodePipeline User Guide, "Automate starting
        pipelines using triggers and filtering": valid push filter combinations)."""
        return [self._trigger(push=[CodepipelineTriggerGitConfigurationPush(
            branches=CodepipelineTriggerGitConfigurationPushBranches(
                includes=[self.config.branch]),
            file_paths=CodepipelineTriggerGitConfigurationPushFilePaths(
                includes=list(self.config.file_paths)))])]

    def pull_request_triggers(self) -> list[CodepipelineTrigger]:
        """The pull-request pipeline's one trigger: a pull request into the branch opened or
        updated with changes to one of the paths (the execution builds the pull request's
        commit). Closing one starts nothing."""
        return [self._trigger(pull_request=[CodepipelineTriggerGitConfigurationPullRequest(
            events=["OPEN", "UPDATED"],
            branches=CodepipelineTriggerGitConfigurationPullRequestBranches(
                includes=[self.config.branch]),
            file_paths=CodepipelineTriggerGitConfigurationPullRequestFilePaths(
                includes=list(self.config.file_paths)))])]

    @staticmethod
    def _trigger(**filters) -> CodepipelineTrigger:
        return CodepipelineTrigger(
            provider_type="CodeStarSourceConnection",
            git_configuration=CodepipelineTriggerGitConfiguration(
                source_action_name=SOURCE_ACTION, **filters))

    def pipeline_grants(self, store: ArtifactStore) -> list[dict]:
        return [self.use()]

    def use(self, *, sid: str = "UseSourceConnection") -> dict:
        """UseConnection on this one connection. The action's service prefix is the ARN's:
        "When specifying a resource in the IAM policy, the service prefix needs to match that
        of the resource" (https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html);
        a connection created before the rename keeps codestar-connections."""
        return statement(sid, [self._use_action], [self.connection_arn])

    def build_variables(self) -> list[dict]:
        """The commit the Train job builds, from the source action's output variables
        (CommitId, FullRepositoryName, BranchName)."""
        return [{"name": env, "value": f"#{{{SOURCE_NAMESPACE}.{variable}}}",
                 "type": "PLAINTEXT"} for env, variable in SOURCE_VARIABLES.items()]

    @staticmethod
    def pull_request_variables() -> list[dict]:
        """What tells the builds of the pull-request pipeline that they evaluate a pull request
        (the Test job then never approves: pipeline_src/jobs/test.py)."""
        return [{"name": RUN_ENV, "value": PULL_REQUEST_RUN, "type": "PLAINTEXT"}]
