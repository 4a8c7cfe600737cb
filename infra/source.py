"""PipelineSource: pipeline_src zipped and uploaded at a fixed key; a new version starts the pipeline."""
from __future__ import annotations

import json

from cdktf import AssetType, TerraformAsset
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.s3_object import S3Object

from infra.environment import DeploymentTarget
from infra.iam import service_role, statement
from infra.naming import Names
from infra.packaging import ZipArchive


class PipelineSource(Construct):
    """The source object CodePipeline's S3 action reads (PollForSourceChanges off)."""

    def __init__(self, scope: Construct, id_: str, *, archive: ZipArchive, bucket_name: str,
                 key_arn: str) -> None:
        super().__init__(scope, id_)
        asset = TerraformAsset(self, "archive", path=str(archive.path), type=AssetType.FILE)
        self.object_key = Names.SOURCE_KEY
        self.object = S3Object(self, "object", bucket=bucket_name, key=self.object_key,
                               source=asset.path, source_hash=archive.sha256_hex,
                               server_side_encryption="aws:kms", kms_key_id=key_arn,
                               content_type="application/zip")


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
