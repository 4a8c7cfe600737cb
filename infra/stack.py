"""MlopsStack: one environment's pipeline. It only wires the concern constructs together."""
from __future__ import annotations

from typing import Optional

from cdktf import LocalBackend, S3Backend, TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.provider import (AwsProvider, AwsProviderAssumeRole,
                                               AwsProviderDefaultTags)

from infra.artifact_store import ArtifactStore
from infra.builds import BuildInputs, ModelTestBuild, TrainingBuild
from infra.config import EnvironmentConfig
from infra.deploy_function import DeployFunction, DeployInputs
from infra.dashboard import Dashboard
from infra.encryption import EncryptionKey
from infra.endpoint_alarms import EndpointAlarms
from infra.environment import DeploymentTarget
from infra.execution_role import ServingRole, TrainingRole
from infra.images import ContainerImages
from infra.model_registry import ModelRegistry
from infra.monitoring import MonitoringAlarms, MonitoringInputs, MonitoringJob
from infra.naming import Names
from infra.network import Network, SecondaryRegionNetwork
from infra.notifications import Notifications
from infra.packaging import ZipArchive
from infra.pipeline import Pipeline, PipelineInputs, PullRequestPipeline
from infra.retraining import RetrainingInputs, RetrainingTriggers
from infra.source import GitHubSource, PipelineSource, PipelineTrigger


class MlopsStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig, *, source_zip: ZipArchive,
                 deploy_zip: ZipArchive, smoke_test_csv: str) -> None:
        names = Names(config)
        super().__init__(scope, names.stack)
        self._configure_terraform(config, names)
        identity = DataAwsCallerIdentity(self, "current")
        target = DeploymentTarget(config, names, identity.account_id)

        remote_serving = [target.in_account(a).role_arn("sagemaker-serving")
                          for a in config.remote_accounts]
        # A stage account serving from secondary regions: its deployer copies the model
        # artifacts there (lambda_deploy/regions.py), so it reads them too.
        remote_serving += [target.in_account(a).role_arn("deployer")
                           for a in dict.fromkeys(a for a, _ in config.secondary_placements)]
        key = EncryptionKey(self, "encryption", target=target, s3_readers=remote_serving)
        store = ArtifactStore(self, "artifact_store", target=target, key_arn=key.key_arn,
                              model_readers=remote_serving)
        network = Network(self, "network", target=target, key_arn=key.key_arn,
                          bucket_arns=[store.bucket_arn, *(
                              f"arn:{target.partition}:s3:::{names.artifact_bucket(a)}"
                              for a in config.remote_accounts)],
                          principal_accounts=[target.account_id, *config.remote_accounts]) \
            if config.network else None
        for region, regional in (config.network.regions if config.network else {}).items():
            # The stage accounts serving there: their deployers' calls and their buckets.
            accounts = [a for a, r in config.secondary_placements if r == region]
            SecondaryRegionNetwork(
                self, f"region_network_{region.replace('-', '_')}", primary=network,
                target=target.in_region(region), cidr=regional.cidr,
                bucket_arns=[f"arn:{target.partition}:s3:::{names.artifact_bucket(a, region)}"
                             for a in accounts],
                principal_accounts=[target.account_id, *accounts])
        registry = ModelRegistry(self, "model_registry", target=target)
        notifications = Notifications(self, "notifications", target=target, key_arn=key.key_arn)
        # The stages in this account; a stage in another account is in its own stack
        # (infra/stage_account.py), reached through configuration, not stack references.
        local = [s.name for s in config.stages if not config.is_remote(s)]
        alarms = {stage: EndpointAlarms(self, f"alarms_{stage}", target=target, stage=stage,
                                        topic_arn=notifications.topic_arn)
                  for stage in local}
        alarm_arns = [arn for a in alarms.values() for arn in a.alarm_arns]
        images = ContainerImages(target)
        training_role = TrainingRole(self, "sagemaker_training", target=target, store=store,
                                     key=key, images=images, network=network)
        # Models run here only for stages here.
        serving_role = ServingRole(self, "sagemaker_serving", target=target, store=store,
                                   key=key, images=images, alarm_arns=alarm_arns,
                                   stages=local) if local else None
        if config.remote_accounts:
            registry.share_with([target.in_account(a) for a in config.remote_accounts])
        # The zip is uploaded whatever the pipeline's source: the monitor job runs from it.
        source = PipelineSource(self, "source", archive=source_zip,
                                bucket_name=store.bucket_name, key_arn=key.key_arn)
        github = GitHubSource(self, "github", target=target) if config.source.is_github \
            else None
        build_inputs = BuildInputs(target=target, store=store, key=key, registry=registry,
                                   training_role=training_role, network=network)
        train = TrainingBuild(self, "train", inputs=build_inputs)
        test = ModelTestBuild(self, "test", inputs=build_inputs)
        deploy = DeployFunction(self, "deploy", inputs=DeployInputs(
            target=target, archive=deploy_zip, store=store, key=key, registry=registry,
            serving_role=serving_role,
            alarm_names={stage: EndpointAlarms.names_for(target, stage)
                         for stage in config.stage_names},
            alarm_arns=alarm_arns,
            smoke_test_csv=smoke_test_csv, network=network))
        pipeline_inputs = PipelineInputs(
            target=target, store=store, key=key, source=github or source,
            train_project=train.project_name, train_project_arn=train.project_arn,
            test_project=test.project_name, test_project_arn=test.project_arn,
            deploy_function=deploy.function_name, deploy_function_arn=deploy.function_arn,
            topic_arn=notifications.topic_arn)
        pipeline = Pipeline(self, "pipeline", inputs=pipeline_inputs)
        pipeline_names = [pipeline.pipeline_name]
        if github is not None and config.source.pull_requests:
            pipeline_names.append(PullRequestPipeline(self, "pull_requests",
                                                      inputs=pipeline_inputs).pipeline_name)
        if github is None:
            PipelineTrigger(self, "source_trigger", target=target,
                            bucket_name=store.bucket_name, object_key=source.object_key,
                            pipeline_arn=pipeline.pipeline_arn)
        notifications.notify_failed_executions(target=target, pipeline_names=pipeline_names)
        if any(stage.experiment is not None for stage in target.config.stages):
            notifications.notify_experiment_steps(target=target, bucket_name=store.bucket_name,
                                                  prefix=Names.EXPERIMENTS_PREFIX)
        monitor = MonitoringJob(self, "monitoring", inputs=MonitoringInputs(
            target=target, store=store, key=key, group_name=registry.group_name,
            packages_arn=registry.packages_arn, source_key=source.object_key,
            topic_arn=notifications.topic_arn, network=network))
        monitoring_alarms = MonitoringAlarms(self, "monitoring_alarms", target=target,
                                             topic_arn=notifications.topic_arn)
        retraining = RetrainingTriggers(self, "retraining", inputs=RetrainingInputs(
            target=target, archive=deploy_zip, bucket_name=store.bucket_name,
            key_arn=key.key_arn, pipeline_name=pipeline.pipeline_name,
            pipeline_arn=pipeline.pipeline_arn,
            drift_alarm_arns=monitoring_alarms.drift_alarm_arns,
            quality_alarm_arns=monitoring_alarms.quality_alarm_arns, network=network))
        if network:
            # What runs in the subnets reaches the bucket only through the S3 endpoint.
            in_vpc = ["codebuild-train", "codebuild-test", "codebuild-monitor", "deploy-lambda",
                      *(["retrain-lambda"] if retraining.enabled else [])]
            store.require_endpoint(network.s3_endpoint_id,
                                   [target.role_arn(purpose) for purpose in in_vpc])
        Dashboard(self, "dashboard", target=target, monitored_endpoints=monitor.endpoint_regions,
                  build_projects=[train.project_name, test.project_name])

        outputs = {
            "pipeline_name": (pipeline.pipeline_name, "CodePipeline that trains, tests, deploys"),
            "artifact_bucket": (store.bucket_name, "Bucket for source, data and artifacts"),
            "data_upload_uri": (store.uri(f"{Names.DATA_PREFIX}/"),
                                "Upload train.csv, validation.csv, test.csv here"),
            "model_package_group": (registry.group_name, "SageMaker model registry group"),
            **{f"{stage}_endpoint": (names.endpoint(stage), f"Endpoint of the {stage} stage")
               for stage in config.stage_names},
            "notification_topic_arn": (notifications.topic_arn, "Approvals, alarms, failures"),
            "kms_key_arn": (key.key_arn, "Customer key encrypting the pipeline's data"),
            "monitor_project": (monitor.project_name, "CodeBuild project of the monitor job"),
            "ground_truth_upload_uri": (
                store.uri(f"{Names.GROUND_TRUTH_PREFIX}/<endpoint>/yyyy/mm/dd/"),
                "Upload delayed labels (inference_id,row,is_fraud CSV) here"),
            "dashboard_name": (names.dashboard, "CloudWatch dashboard of this environment"),
        }
        if github is not None:
            outputs["source_connection_arn"] = (
                github.connection_arn,
                "GitHub connection of the Source action. Created PENDING: complete it once in "
                "the console (Developer Tools > Settings > Connections > Update pending "
                "connection); the pipeline does not start until it is AVAILABLE")
        for output_id, (value, description) in outputs.items():
            TerraformOutput(self, output_id, value=value, description=description)

    def _configure_terraform(self, config: EnvironmentConfig, names: Names) -> None:
        configure_terraform(self, config, names, config.account_id, names.stack,
                            config.state_backend.key if config.state_backend else None)


def configure_terraform(stack: TerraformStack, config: EnvironmentConfig, names: Names,
                        account_id: Optional[str], stack_id: str,
                        state_key: Optional[str], region: Optional[str] = None) -> None:
    """The stack's provider (in account_id and region, through the provisioning role when set)
    and its own state (a local file or an S3 key per stack, so each stack plans alone)."""
    tags = {"Project": config.project, "Environment": config.name, "ManagedBy": "cdktf",
            **config.tags}
    assume = None
    if config.provisioning_role:
        # Terraform acts in each account as the role the platform team created there
        # (README, "Bootstrapping the accounts").
        assume = [AwsProviderAssumeRole(
            role_arn=f"arn:aws:iam::{account_id}:role/{config.provisioning_role}",
            session_name=f"{names.prefix}-terraform")]
    AwsProvider(stack, "aws", region=region or config.region,
                allowed_account_ids=[account_id] if account_id else None,
                assume_role=assume, default_tags=[AwsProviderDefaultTags(tags=tags)])
    backend = config.state_backend
    if backend is None:
        # Relative to where Terraform runs (cdktf.out/stacks/<stack>): the project root,
        # as cdktf's default, but without an absolute path that differs per checkout.
        LocalBackend(stack, path=f"../../../terraform.{stack_id}.tfstate")
    else:
        S3Backend(stack, bucket=backend.bucket, key=state_key, region=backend.region,
                  encrypt=True)
        if backend.use_lockfile:
            # S3Backend has no use_lockfile property (cdktf 0.21); S3-native locking.
            stack.add_override("terraform.backend.s3.use_lockfile", True)
