"""A stage's secondary regions (config `stages[].secondary_regions`).

A model package can be served only in its registry's region: a model's image and artifact must
be in the model's region (SageMaker API reference, ContainerDefinition). So the primary region
(the environment's, where the registry is) serves the package itself, and each secondary region
serves a model built from the package's container with that region's scikit-learn image and a
copy of the artifact in that region. The deploy step makes the copy when it deploys
(lambda_deploy/regions.py), not S3 replication: see docs/multi-region.md for why.

StageRegionStack: what one stage account holds in one secondary region, its own stack (provider
and state per account and region, as every stage account stack): the key and bucket for the
artifact copies and the endpoint's data capture, the rollback alarms with their topic, and the
traffic dashboard. IAM roles are global: the stage account's primary stack
(infra/stage_account.py) holds them, with what the functions below grant for each secondary
region, by names derived from the configuration (no cross-stack reference). Apply the primary
stack first: this key's policy and the alarms name nothing of it, but the deploy needs both.
"""
from __future__ import annotations

from typing import Sequence

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from infra.artifact_store import ArtifactStore
from infra.config import EnvironmentConfig
from infra.dashboard import StageDashboard
from infra.encryption import EncryptionKey
from infra.endpoint_alarms import EndpointAlarms
from infra.environment import DeploymentTarget
from infra.iam import statement
from infra.naming import Names
from infra.notifications import Notifications


def stages_in(config: EnvironmentConfig, account_id: str, region: str) -> list[str]:
    """The stages of an account that serve from `region` as a secondary region."""
    return [s.name for s in config.stages
            if s.account_id == account_id and region in s.secondary_regions]


def region_sid(region: str) -> str:
    """A statement ID suffix for a region (Sids are alphanumeric): eu-central-1 -> EuCentral1."""
    return "".join(part.title() for part in region.split("-"))


def alarm_arns(regional: DeploymentTarget, stages: Sequence[str]) -> list[str]:
    """The rollback alarms of these stages in the regional target's region, by name."""
    return [regional.arn("cloudwatch", f"alarm:{name}")
            for stage in stages for name in EndpointAlarms.names_for(regional, stage)]


class RegionalKey:
    """The key of a secondary region as the roles of the account's primary stack see it: its ID
    is random and in another stack, so grants name the account's keys of that region and
    narrow them by the service and, through S3, by the bucket's encryption context (with an S3
    Bucket Key the context is the bucket ARN)."""

    def __init__(self, regional: DeploymentTarget) -> None:
        self.region = regional.region
        self.keys = regional.arn("kms", "key/*")
        self.bucket_arn = f"arn:{regional.partition}:s3:::" + regional.names.artifact_bucket(
            regional.account_id, regional.region)

    def through_s3(self, sid: str, actions: list[str]) -> dict:
        return statement(sid, actions, [self.keys], conditions={"StringEquals": {
            "kms:ViaService": f"s3.{self.region}.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": self.bucket_arn}})

    def grant_to_aws_resources(self, *, sid: str = "GrantKeyToSageMakerResources") -> dict:
        """SageMaker creates the grants the endpoint's storage volumes need (the caller of
        CreateEndpoint/UpdateEndpoint needs kms:CreateGrant, SageMaker API permissions
        reference); only grants for AWS resources."""
        return statement(sid, ["kms:CreateGrant"], [self.keys],
                         conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}})


def serving_grants(regional: DeploymentTarget, stages: Sequence[str]) -> list[dict]:
    """What the stage account's serving role needs to run the stages' models in one secondary
    region: read the artifact copies, write data capture, both through that region's key, logs,
    and the rollback alarms SageMaker reads as the model's role (the image pull is in
    ContainerImages)."""
    names, suffix = regional.names, region_sid(regional.region)
    key = RegionalKey(regional)
    objects = f"{key.bucket_arn}/"
    groups = [regional.log_group_arn(f"/aws/sagemaker/Endpoints/{names.endpoint(s)}")
              for s in stages]
    return [
        statement(f"ReadModelCopies{suffix}", ["s3:GetObject"],
                  [f"{objects}{Names.MODEL_COPIES_PREFIX}/*"]),
        statement(f"WriteDataCapture{suffix}", ["s3:PutObject"],
                  [f"{objects}{Names.DATA_CAPTURE_PREFIX}/*"]),
        key.through_s3(f"UseRegionKey{suffix}", ["kms:Decrypt", "kms:GenerateDataKey"]),
        statement(f"WriteEndpointLogs{suffix}Groups", ["logs:CreateLogGroup",
                                                      "logs:DescribeLogStreams"], groups),
        statement(f"WriteEndpointLogs{suffix}Streams", ["logs:CreateLogStream",
                                                       "logs:PutLogEvents"],
                  [f"{arn}:log-stream:*" for arn in groups]),
        statement(f"ReadRollbackAlarms{suffix}", ["cloudwatch:DescribeAlarms"],
                  alarm_arns(regional, stages)),
    ]


def deployer_grants(regional: DeploymentTarget, stages: Sequence[str], serving_role) -> list[dict]:
    """What the deployer role needs in one secondary region: the endpoint grants of the primary
    region (the same code: infra/deploy_function.py endpoint_grant_groups) with this region's
    ARNs, keeping only the statements that name the region (the others, Resource "*" or IAM's
    global ARNs, are the primary's already), and the artifact copy: CopyObject writes it
    (s3:PutObject on the destination: S3 User Guide, "Required permissions for Amazon S3 API
    operations") through this region's key. Reading the source
    in the tooling account is infra/stage_account.py tooling_artifact_grants."""
    from infra.deploy_function import endpoint_grant_groups

    suffix = region_sid(regional.region)
    key = RegionalKey(regional)
    grants = []
    for group in endpoint_grant_groups(regional, stages, serving_role, key,
                                       alarm_arns(regional, stages)):
        for grant in group:
            resources = grant["Resource"] if isinstance(grant["Resource"], list) \
                else [grant["Resource"]]
            if any(f":{regional.region}:" in r for r in resources):
                grants.append({**grant, "Sid": f"{grant['Sid']}{suffix}"})
    return [
        *grants,
        # A large artifact is a multipart upload carried across invocations
        # (lambda_deploy/regions.py): its parts are listed to complete it, and it is aborted
        # when the copy cannot go on (S3 User Guide, "Multipart upload API and permissions").
        statement(f"CopyModelArtifacts{suffix}", ["s3:PutObject", "s3:ListMultipartUploadParts",
                                                 "s3:AbortMultipartUpload"],
                  [f"{key.bucket_arn}/{Names.MODEL_COPIES_PREFIX}/*"]),
        # The same page: a multipart upload with a KMS key needs kms:Decrypt too (S3 reads the
        # encrypted parts to complete it).
        key.through_s3(f"EncryptModelCopies{suffix}", ["kms:GenerateDataKey", "kms:Decrypt"]),
    ]


def reader_grants(regional: DeploymentTarget, stages: Sequence[str]) -> list[dict]:
    """What the stage account's monitor reader needs in one secondary region for the monitored
    stages serving there (pipeline_src/jobs/monitor.py serving_chain, read_capture): the
    primary's reads with this region's ARNs, the config's tags (the region's model is a copy
    of the package's container: the package tag names the package), and the capture in this
    region's bucket, decrypted through S3 with this region's key."""
    names, suffix = regional.names, region_sid(regional.region)
    key = RegionalKey(regional)
    endpoints = [names.endpoint(s) for s in stages]
    capture = [f"{Names.DATA_CAPTURE_PREFIX}/{e}/*" for e in endpoints]
    return [
        statement(f"FollowEndpointToModelPackage{suffix}", [
            "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
            "sagemaker:DescribeModel"], [
            *(regional.sagemaker_arn("endpoint", e) for e in endpoints),
            *(regional.sagemaker_arn("endpoint-config", f"{e}-v*") for e in endpoints),
            *(regional.sagemaker_arn("model", f"{e}-v*") for e in endpoints)]),
        statement(f"ReadPackageTag{suffix}", ["sagemaker:ListTags"],
                  [regional.sagemaker_arn("endpoint-config", f"{e}-v*") for e in endpoints]),
        statement(f"ReadCapture{suffix}", ["s3:GetObject"],
                  [f"{key.bucket_arn}/{c}" for c in capture]),
        statement(f"ListCapture{suffix}", ["s3:ListBucket"], [key.bucket_arn],
                  conditions={"StringLike": {"s3:prefix": capture}}),
        key.through_s3(f"DecryptCaptureThroughS3{suffix}", ["kms:Decrypt"]),
    ]


class StageRegionStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig, account_id: str,
                 region: str) -> None:
        from infra.stack import configure_terraform

        names = Names(config)
        stack_id = names.target_stack(account_id, region)
        super().__init__(scope, stack_id)
        configure_terraform(self, config, names, account_id, stack_id,
                            names.state_key(account_id, region) if config.state_backend
                            else None, region=region)
        target = DeploymentTarget(config, names, account_id).in_region(region)
        stages = stages_in(config, account_id, region)

        # No log group here: SageMaker writes the endpoints' logs to groups it creates itself.
        key = EncryptionKey(self, "encryption", target=target, log_groups=False)
        # The artifact copies (models/) and the endpoints' data capture (data-capture/).
        store = ArtifactStore(self, "artifact_store", target=target, key_arn=key.key_arn)
        notifications = Notifications(self, "notifications", target=target, key_arn=key.key_arn)
        for stage in stages:
            EndpointAlarms(self, f"alarms_{stage}", target=target, stage=stage,
                           topic_arn=notifications.topic_arn)
        StageDashboard(self, "dashboard", target=target, stages=stages)
        outputs = {
            "kms_key_arn": (key.key_arn, "Key of the artifact copies, endpoint storage and "
                                         "data capture in this region"),
            "model_copies_uri": (store.uri(Names.MODEL_COPIES_PREFIX),
                                 "Copies of the served model artifacts"),
            "data_capture_uri": (store.uri(Names.DATA_CAPTURE_PREFIX), "Data capture"),
            "notification_topic_arn": (notifications.topic_arn, "Rollback alarms of this region"),
            **{f"{stage}_endpoint": (names.endpoint(stage),
                                     f"Endpoint of the {stage} stage in {region}")
               for stage in stages},
        }
        for output_id, (value, description) in outputs.items():
            TerraformOutput(self, output_id, value=value, description=description)
