"""DeployFunction: the Lambda both deploy stages invoke, with its role, logs and settings."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from cdktf import AssetType, TerraformAsset
from pydantic import ValidationError
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction, LambdaFunctionEnvironment, LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig)
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.lambda_function_event_invoke_config import (
    LambdaFunctionEventInvokeConfig)

from infra.artifact_store import ArtifactStore
from infra.config import ConfigError
from infra.encryption import EncryptionKey
from infra.environment import DeploymentTarget
from infra.execution_role import ServingRole
from infra.iam import log_statement, service_role, statement
from infra.model_registry import ModelRegistry
from infra.naming import Names
from infra.network import Network
from infra.packaging import ZipArchive
from lambda_deploy.errors import ConfigurationFailure
from lambda_deploy.experiment import CONTROLLER_EVENT
from lambda_deploy.scaling import DIMENSION as SCALABLE_DIMENSION
from lambda_deploy.scaling import NAMESPACE as SCALING_NAMESPACE
from lambda_deploy.settings import (RegionPlacement, StageSettings, VpcPlacement,
                                    dump_stage_settings, fail_validation,
                                    parse_stage_settings)

RUNTIME = "python3.13"
HANDLER = "lambda_deploy.handler.handler"
# Each invocation does one step (create/update, or one poll) and answers CodePipeline with a
# continuation token, so a short timeout is enough and CodePipeline paces the polling.
TIMEOUT_SECONDS = 120
MEMORY_MB = 256
# Service principal of Application Auto Scaling for SageMaker endpoint variants.
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
# Two stages, each re-invoked for polling: a few concurrent executions at most.
RESERVED_CONCURRENCY = 4
# How often the experiment controller runs (each run moves an experiment on by at most a step).
EXPERIMENT_SCHEDULE = "rate(1 hour)"


@dataclass(frozen=True)
class DeployInputs:
    target: DeploymentTarget
    archive: ZipArchive
    store: ArtifactStore
    key: EncryptionKey
    registry: ModelRegistry
    serving_role: Optional[ServingRole]  # None: no stage in the function's own account
    alarm_names: Mapping[str, Sequence[str]]  # stage -> alarm names
    alarm_arns: Sequence[str]
    smoke_test_csv: str
    network: Optional[Network] = None  # None: the function runs outside any VPC


def stage_settings(target: DeploymentTarget, alarm_names: Mapping[str, Sequence[str]],
                   placements: Mapping[str, Mapping[str, Any]]) -> dict[str, StageSettings]:
    """Each stage's settings in the deploy step's own type (lambda_deploy/settings.py);
    placements: stage -> where its endpoint lives (region, account, role, serving role, key,
    capture URI; see StageSettings)."""
    settings = {}
    for cfg in target.config.stages:
        stage = cfg.name
        d = cfg.deployment
        settings[stage] = StageSettings(
            **placements[stage],
            stage=stage,
            endpoint_name=target.names.endpoint(stage),
            instance_type=cfg.instance_type,
            initial_instance_count=cfg.instance_count,
            accept_pending_approval=cfg.accept_pending_approval,
            # The config's sections are the contract's own models.
            deployment=cfg.deployment,
            alarm_names=list(alarm_names[stage]),
            data_capture_percent=cfg.data_capture_percent,
            keep_previous=cfg.keep_previous,
            smoke_test=cfg.smoke_test,
            variants=list(cfg.variants),
            autoscaling=cfg.autoscaling,
            experiment=cfg.experiment.deploy_settings() if cfg.experiment else None,
            # One per alarm of the champion's variant (EndpointAlarms: 5xx errors, latency).
            live_alarm_names=[target.names.live_alarm(stage, metric)
                              for metric in ("5xx-errors", "model-latency")]
            if cfg.experiment and cfg.experiment.live_share > 0 else [],
        )
    return settings


def local_placement(target: DeploymentTarget, stage: str, serving_role_arn: str, key_arn: str,
                    capture_uri: str, network: Optional[Network]) -> dict[str, Any]:
    """A stage in the function's own account and region: no role to assume; its models in the
    tooling network when there is one."""
    return dict(region=target.region, execution_role_arn=serving_role_arn, kms_key_arn=key_arn,
                data_capture_s3_uri=capture_uri, role_arn=None, external_id=None,
                vpc_config=vpc_placement(stage_network(target, stage, network)))


def remote_placement(stage_account: DeploymentTarget, stage: str) -> dict[str, Any]:
    """A stage in another account: its deployer role, and its account's serving role, key (by
    alias: CreateEndpointConfig takes one, and it resolves in the stage's own account) and
    capture bucket, all named by infra/stage_account.py; and in each of its secondary regions
    the key, bucket and alarms of infra/stage_region.py."""
    names = stage_account.names
    network = stage_account.config.stage(stage).network
    return dict(region=stage_account.region, role_arn=stage_account.role_arn(DEPLOYER),
                vpc_config=vpc_placement(network),
                external_id=names.deployer_external_id,
                execution_role_arn=stage_account.role_arn(SERVING),
                kms_key_arn=stage_account.arn("kms", names.kms_alias),
                data_capture_s3_uri=f"s3://{names.artifact_bucket(stage_account.account_id)}/"
                                    f"{Names.DATA_CAPTURE_PREFIX}",
                secondary_regions=[secondary_placement(stage_account.in_region(region), stage)
                                   for region in stage_account.config.stage(stage)
                                   .secondary_regions])


def stage_network(target: DeploymentTarget, stage: str, tooling: Optional[Network] = None):
    """The stage's subnets in the target's region (config stages[].network or its region's
    entry; a stage in the tooling account: the tooling network's, `tooling`, with its serving
    security group); None: its models run in no VPC."""
    if target.config.serves_in_tooling_network(target.config.stage(stage)):
        if tooling is None:
            raise ValueError(f"stage {stage} serves in the tooling network: pass it")
        return tooling.placement("serving")
    network = target.config.stage(stage).network
    if network is None or target.region == target.config.region:
        return network
    return network.regions.get(target.region)


def model_creation_grants(target: DeploymentTarget, placed: Mapping[str, Any],
                          tagged_as_own: dict) -> list[dict]:
    """CreateModel for stages whose models run in subnets: only with their VpcConfig. IAM
    refuses other subnets or security groups, and a request without a VpcConfig (ForAllValues
    alone holds for a missing key: IAM User Guide, "Multivalued context keys"; Null false
    requires it); sagemaker:VpcSubnets and sagemaker:VpcSecurityGroupIds are CreateModel's
    condition keys (Service Authorization Reference, Amazon SageMaker AI). Stages without
    subnets keep the statement CreateTaggedModelsConfigsEndpoints when no stage has any."""
    if not any(placed.values()):
        return []
    names, grants = target.names, []
    loose = [target.sagemaker_arn("model", f"{names.endpoint(s)}-v*")
             for s, vpc in placed.items() if vpc is None]
    if loose:
        grants.append(statement("CreateTaggedModels", ["sagemaker:CreateModel"], loose,
                                conditions=tagged_as_own))
    for stage, vpc in placed.items():
        if vpc is None:
            continue
        grants.append(statement(
            f"CreateTaggedModelsInSubnets{stage.title()}", ["sagemaker:CreateModel"],
            [target.sagemaker_arn("model", f"{names.endpoint(stage)}-v*")],
            conditions={**tagged_as_own, "ForAllValues:StringEquals": {
                "sagemaker:VpcSubnets": list(vpc.subnets),
                "sagemaker:VpcSecurityGroupIds": list(vpc.security_group_ids)},
                "Null": {"sagemaker:VpcSubnets": "false",
                         "sagemaker:VpcSecurityGroupIds": "false"}}))
    return grants


def vpc_placement(network) -> Optional[VpcPlacement]:
    """A stage's subnets and security groups in one region (config stages[].network or one of
    its regions, or the tooling network's NetworkPlacement) as CreateModel's VpcConfig; None:
    no VPC."""
    if network is None:
        return None
    return VpcPlacement(subnets=list(network.subnet_ids),
                        security_group_ids=list(network.security_group_ids))


def secondary_placement(regional: DeploymentTarget, stage: str) -> RegionPlacement:
    """One secondary region of a stage: what infra/stage_region.py creates there."""
    from infra.endpoint_alarms import EndpointAlarms
    from infra.image_data import image_repository

    names, bucket = regional.names, regional.names.artifact_bucket(regional.account_id,
                                                                   regional.region)
    network = regional.config.stage(stage).network
    return RegionPlacement(
        region=regional.region, kms_key_arn=regional.arn("kms", names.kms_alias),
        data_capture_s3_uri=f"s3://{bucket}/{Names.DATA_CAPTURE_PREFIX}",
        model_s3_uri=f"s3://{bucket}/{Names.MODEL_COPIES_PREFIX}",
        image_repository=image_repository(regional.region),
        alarm_names=EndpointAlarms.names_for(regional, stage),
        vpc_config=vpc_placement(network.regions[regional.region]) if network else None)


def stage_settings_variable(target: DeploymentTarget, alarm_names: Mapping[str, Sequence[str]],
                            placements: Mapping[str, Mapping[str, Any]]) -> str:
    """STAGE_SETTINGS, checked by the function's own validation now rather than at deploy."""
    try:
        try:
            value = dump_stage_settings(stage_settings(target, alarm_names, placements))
        except ValidationError as exc:
            fail_validation(exc, "STAGE_SETTINGS", StageSettings)
        parse_stage_settings(value, target.names.prefix)
    except ConfigurationFailure as exc:
        raise ConfigError(f"config/{target.config.name}.json: the deploy step would refuse its "
                          f"settings: {exc}") from None
    return value


DEPLOYER = "deployer"
SERVING = "sagemaker-serving"


def has_live_phase(target: DeploymentTarget, stages: Sequence[str]) -> bool:
    """Whether any of `stages` runs an experiment with a live phase."""
    return any(target.config.stage(s).experiment is not None
               and target.config.stage(s).experiment.live_share > 0 for s in stages)


def live_alarm_grant(target: DeploymentTarget) -> dict:
    """An experiment's live phase: the challenger variant's rollback alarms, made from the
    champion's, judged and deleted by the controller (lambda_deploy/experiment.py), by their
    name pattern (Names.live_alarm: no alarm Terraform manages matches it)."""
    return statement("ManageLiveExperimentAlarms", [
        "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
        [target.arn("cloudwatch", f"alarm:{target.names.live_alarm_pattern}")])


def endpoint_grants(target: DeploymentTarget, stages: Sequence[str], serving_role: ServingRole,
                    key: EncryptionKey, alarm_arns: Sequence[str]) -> list[dict]:
    """What deploying, scaling, watching and cleaning up the stages' endpoints in target's
    account takes: the deploy function's own for stages in its account, a stage account's
    deployer role's for the stages there."""
    return [g for group in endpoint_grant_groups(target, stages, serving_role, key, alarm_arns)
            for g in group]


def endpoint_grant_groups(target: DeploymentTarget, stages: Sequence[str],
                          serving_role: ServingRole, key: EncryptionKey,
                          alarm_arns: Sequence[str], network: Optional[Network] = None,
                          ) -> tuple[list, list, list]:
    """endpoint_grants in the three runs the deploy function's policy interleaves with its
    own statements (the order it had before stages could be elsewhere, so an environment with
    every stage in its account plans no change). network: the tooling network, which the
    models of stages in the tooling account run in."""
    names, prefix = target.names, target.names.prefix
    # Exact endpoint names, and model/config names of these stages only.
    endpoints = [target.sagemaker_arn("endpoint", names.endpoint(s)) for s in stages]
    models = [target.sagemaker_arn("model", f"{names.endpoint(s)}-v*") for s in stages]
    configs = [target.sagemaker_arn("endpoint-config", f"{names.endpoint(s)}-v*")
               for s in stages]
    # Ownership by tag: this environment only creates what it tags as its own and only
    # changes or deletes what carries its tags, so a "dev" role cannot touch "dev-eu"
    # resources even where the name patterns overlap.
    scaled = [target.sagemaker_arn("endpoint", names.endpoint(s)) for s in stages
              if target.config.stage(s).autoscaling is not None]
    # UpdateEndpointWeightsAndCapacities: autoscaling's registration, and an experiment's live
    # phase (the challenger's share, then its weight 0).
    weighted = scaled + [arn for arn in (target.sagemaker_arn("endpoint", names.endpoint(s))
                                         for s in stages if has_live_phase(target, [s]))
                         if arn not in scaled]
    owned = {"StringEquals": target.owned("ResourceTag")}
    tagged_as_own = {"StringEquals": target.owned("RequestTag")}
    placed = {s: vpc_placement(stage_network(target, s, network)) for s in stages}
    return [
        # Existence checks before each create (idempotent re-invocations): by name only,
        # as a resource that does not exist yet has no tags.
        statement("DescribeOwnModelsConfigsEndpoints", [
            "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
            "sagemaker:DescribeModel"], [*models, *configs, *endpoints]),
        # Create* with Tags also needs AddTags on the new resource, with the same tags.
        statement("CreateTaggedModelsConfigsEndpoints", [
            "sagemaker:AddTags", "sagemaker:CreateEndpoint", "sagemaker:CreateEndpointConfig",
            *([] if any(placed.values()) else ["sagemaker:CreateModel"])],
            [*models, *configs, *endpoints], conditions=tagged_as_own),
        *model_creation_grants(target, placed, tagged_as_own),
        # UpdateEndpoint is authorized against the endpoint and the new config.
        statement("UpdateAndCallOwnEndpoints", ["sagemaker:InvokeEndpoint",
                                                "sagemaker:UpdateEndpoint"],
                  [*configs, *endpoints], conditions=owned),
        # Registering a variant for autoscaling needs it on the endpoint (SageMaker guide,
        # "Auto scaling prerequisites"): only the endpoints of stages that autoscale.
        *([statement("ScaleOwnEndpoints", ["sagemaker:UpdateEndpointWeightsAndCapacities"],
                     weighted, conditions=owned)] if weighted else []),
    ], [
        # Application Auto Scaling's write actions take only a scalable-target ARN with a
        # generated ID; the condition keys pin them to SageMaker variant counts. Registering
        # only where a stage autoscales; removing everywhere (a stage whose autoscaling was
        # turned off has its scaling removed by the next deploy: lambda_deploy/scaling.py).
        statement("ScaleEndpointVariants", [
            "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:DeregisterScalableTarget",
            *(["application-autoscaling:PutScalingPolicy",
               "application-autoscaling:RegisterScalableTarget"] if scaled else [])], "*",
            conditions={"StringEquals": {
                "application-autoscaling:service-namespace": SCALING_NAMESPACE,
                "application-autoscaling:scalable-dimension": SCALABLE_DIMENSION}}),
        # Describe* have no resource-level permissions or condition keys.
        statement("ReadScaling", ["application-autoscaling:DescribeScalableTargets",
                                  "application-autoscaling:DescribeScalingPolicies"], "*"),
        # The first registration creates Application Auto Scaling's service-linked role.
        *([statement("CreateAutoscalingServiceLinkedRole", ["iam:CreateServiceLinkedRole"],
                     [target.arn("iam", f"role/aws-service-role/{AUTOSCALING_SERVICE}/"
                                        "AWSServiceRoleForApplicationAutoScaling_"
                                        "SageMakerEndpoint", regional=False)],
                     conditions={"StringEquals": {"iam:AWSServiceName": AUTOSCALING_SERVICE}})]
          if scaled else []),
        # A target-tracking policy's own alarms (named TargetTracking-<resource id>-...),
        # which Application Auto Scaling creates and deletes as the caller.
        statement("ManageTargetTrackingAlarms", [
            "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
            *(["cloudwatch:PutMetricAlarm"] if scaled else [])],
            [target.arn("cloudwatch", f"alarm:TargetTracking-endpoint/{prefix}-*")]),
        statement("CleanUpOwnModelsAndConfigs", [
            "sagemaker:AddTags", "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel"],
            [*models, *configs], conditions=owned),
        statement("ReadTagsForCleanup", ["sagemaker:ListTags"], [*models, *configs]),
        # List calls have no resource-level permissions in IAM; cleanup uses them to
        # find this stage's previous models and configs (then filters by name and tag).
        statement("ListForCleanup", ["sagemaker:ListEndpointConfigs",
                                     "sagemaker:ListModels"], "*"),
        serving_role.pass_to_sagemaker(),
        statement("ReadRollbackAlarms", ["cloudwatch:DescribeAlarms"], list(alarm_arns)),
    ], [
        # Endpoint configs name the key for their storage volumes: the caller of
        # CreateEndpoint needs kms:CreateGrant (SageMaker API permissions reference); the
        # config's KmsKeyId extends it to UpdateEndpoint. No page asks for kms:DescribeKey.
        key.grant_to_aws_resources(),
    ]


class DeployFunction(Construct):
    def __init__(self, scope: Construct, id_: str, *, inputs: DeployInputs) -> None:
        super().__init__(scope, id_)
        target = inputs.target
        names = target.names
        prefix = names.prefix
        log_group = CloudwatchLogGroup(self, "logs", name=names.lambda_log_group,
                                       retention_in_days=target.config.log_retention_days,
                                       kms_key_id=inputs.key.key_arn)
        local = [st.name for st in target.config.stages if not target.config.is_remote(st)]
        remote = target.config.remote_accounts
        # Statement order as before stages could be elsewhere: an environment with all its stages
        # here plans no change to this policy.
        endpoint = endpoint_grant_groups(target, local, inputs.serving_role, inputs.key,
                                         inputs.alarm_arns, inputs.network) \
            if local else ([], [], [])
        grants = [
            log_statement(target.log_group_arn(names.lambda_log_group)),
            inputs.registry.read_packages(),
            *endpoint[0],
            # One conditional PutObject per job (If-None-Match: *): the atomic claim that lets
            # exactly one delivery of a CodePipeline job act and answer.
            inputs.store.write(f"{Names.DEPLOY_CLAIMS_PREFIX}/*", sid="ClaimJobs"),
            # Champion vs challenger: each experiment's steps are conditional PutObjects, read
            # back (with the verdict) by the controller, which lists an endpoint's experiments.
            # In every environment: the policies stay the same shape whatever stage runs one.
            inputs.store.read_write(f"{Names.EXPERIMENTS_PREFIX}/*", sid="KeepExperimentState"),
            inputs.store.list(f"{Names.EXPERIMENTS_PREFIX}/*", sid="FindExperiments"),
            inputs.key.encrypt(),
            inputs.key.decrypt(sid="ReadExperimentState"),
            # In every environment too (the stages in this account): one policy shape.
            live_alarm_grant(target),
            *endpoint[1],
            # PutJob*Result have no resource-level permissions in IAM.
            statement("ReplyToCodePipeline", ["codepipeline:PutJobFailureResult",
                                              "codepipeline:PutJobSuccessResult"], "*"),
            *endpoint[2],
            # X-Ray's segment APIs have no resource-level permissions.
            statement("WriteTraces", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                      "*"),
            *(inputs.network.grant_lambda_interfaces() if inputs.network else []),
        ]
        if remote:
            # Every call about a stage elsewhere is made as that account's deployer role, whose
            # trust policy admits this role with the ExternalId (infra/stage_account.py).
            grants.append(statement(
                "ActInStageAccountsAsTheirDeployer", ["sts:AssumeRole"],
                [target.in_account(account).role_arn(DEPLOYER) for account in remote],
                conditions={"StringEquals": {"sts:ExternalId": names.deployer_external_id}}))
        role = service_role(
            self, "role", name=names.role("deploy-lambda"), service="lambda.amazonaws.com",
            account_id=target.account_id,
            description="Deploy step: model package -> model -> endpoint config -> endpoint",
            policies={"deploy": grants})
        asset = TerraformAsset(self, "code", path=str(inputs.archive.path), type=AssetType.FILE)
        environment = {
            "PROJECT_NAME": target.config.project,
            "ENVIRONMENT": target.config.name,
            "RESOURCE_PREFIX": prefix,
            "MODEL_PACKAGE_GROUP": inputs.registry.group_name,
            "JOB_CLAIMS_S3_URI": inputs.store.uri(Names.DEPLOY_CLAIMS_PREFIX),
            "EXPERIMENTS_S3_URI": inputs.store.uri(Names.EXPERIMENTS_PREFIX),
            "SMOKE_TEST_CSV": inputs.smoke_test_csv,
            "STAGE_SETTINGS": stage_settings_variable(target, inputs.alarm_names, {
                stage.name: remote_placement(target.in_account(stage.account_id), stage.name)
                if target.config.is_remote(stage) else
                local_placement(target, stage.name, inputs.serving_role.role_arn,
                                inputs.key.key_arn, inputs.store.uri(Names.DATA_CAPTURE_PREFIX),
                                inputs.network)
                for stage in target.config.stages}),
        }
        self.function = LambdaFunction(
            self, "function", function_name=names.deploy_function,
            description="Deploys an approved model package to a SageMaker endpoint "
                        "(blue/green, alarm rollback) for CodePipeline",
            role=role.arn, runtime=RUNTIME, handler=HANDLER, filename=asset.path,
            source_code_hash=inputs.archive.sha256_base64, timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB, reserved_concurrent_executions=RESERVED_CONCURRENCY,
            kms_key_arn=inputs.key.key_arn,
            environment=LambdaFunctionEnvironment(variables=environment),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            logging_config=LambdaFunctionLoggingConfig(log_format="JSON",
                                                       log_group=log_group.name),
            vpc_config=inputs.network.lambda_vpc_config() if inputs.network else None,
            depends_on=[log_group])
        # CodePipeline invokes asynchronously; a Lambda-level retry would repeat a deploy, and
        # every outcome is reported to CodePipeline by the function itself.
        LambdaFunctionEventInvokeConfig(self, "async", function_name=self.function.function_name,
                                        maximum_retry_attempts=0,
                                        maximum_event_age_in_seconds=3600)
        self.function_name = names.deploy_function
        if any(stage.experiment is not None for stage in target.config.stages):
            # The experiments outlive the pipeline run that starts them: every hour the function
            # moves each running one on by a step (lambda_deploy/experiment.py control_all).
            rule = CloudwatchEventRule(
                self, "experiment_schedule", name=names.rule("experiment-controller"),
                description="Champion vs challenger controller: verdict, promotion, removal",
                schedule_expression=EXPERIMENT_SCHEDULE)
            CloudwatchEventTarget(self, "experiment_target", rule=rule.name,
                                  arn=self.function.arn, target_id="experiment-controller",
                                  input=json.dumps({CONTROLLER_EVENT: "scheduled"}))
            LambdaPermission(self, "experiment_permission", action="lambda:InvokeFunction",
                             function_name=self.function.function_name,
                             principal="events.amazonaws.com", source_arn=rule.arn)
        if has_live_phase(target, local):
            # A challenger alarm going into ALARM in a live phase runs the controller at once
            # (it ends the live phase: weight 0, then the champion alone) instead of at the next
            # hour. CloudWatch sends each alarm state change (detail.alarmName,
            # detail.state.value) to EventBridge in the alarm's account and region ("Alarm
            # events and EventBridge", https://docs.aws.amazon.com/AmazonCloudWatch/latest/
            # monitoring/cloudwatch-and-eventbridge.html): stages here only; a stage in another
            # account waits for the hourly run.
            alarms = CloudwatchEventRule(
                self, "experiment_alarm_rule", name=names.rule("experiment-alarms"),
                description="Champion vs challenger: a live-phase challenger alarm fired",
                event_pattern=json.dumps({
                    "source": ["aws.cloudwatch"],
                    "detail-type": ["CloudWatch Alarm State Change"],
                    "detail": {"alarmName": [{"wildcard": names.live_alarm_pattern}],
                               "state": {"value": ["ALARM"]}}}, indent=2))
            CloudwatchEventTarget(self, "experiment_alarm_target", rule=alarms.name,
                                  arn=self.function.arn, target_id="experiment-alarms",
                                  input=json.dumps({CONTROLLER_EVENT: "alarm"}))
            LambdaPermission(self, "experiment_alarm_permission",
                             action="lambda:InvokeFunction",
                             function_name=self.function.function_name,
                             principal="events.amazonaws.com", source_arn=alarms.arn)
        self.function_arn = self.function.arn
