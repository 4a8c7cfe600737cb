"""RetrainingTriggers: drift or quality alarms, or new training data, start the pipeline.

Each trigger is a config switch (monitoring.retrain_on_*; all off by default). EventBridge sends
the trigger events to a small function (lambda_deploy/retrain.py, from the deploy function's
zip) that starts the pipeline unless an execution started within the cool-down, so a flapping
alarm cannot start more than one execution per monitoring.retrain_cooldown_hours.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

from cdktf import AssetType, TerraformAsset
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction, LambdaFunctionEnvironment, LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig)
from cdktf_cdktf_provider_aws.lambda_function_event_invoke_config import (
    LambdaFunctionEventInvokeConfig)
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission

from infra.deploy_function import RUNTIME
from infra.environment import DeploymentTarget
from infra.iam import log_statement, service_role, statement
from infra.naming import Names
from infra.network import Network
from infra.packaging import ZipArchive

HANDLER = "lambda_deploy.retrain.handler"


@dataclass(frozen=True)
class RetrainingInputs:
    target: DeploymentTarget
    archive: ZipArchive
    bucket_name: str
    key_arn: str
    pipeline_name: str
    pipeline_arn: str
    drift_alarm_arns: Sequence[str]
    quality_alarm_arns: Sequence[str]
    network: Optional[Network] = None  # None: the function runs outside any VPC


def trigger_patterns(inputs: RetrainingInputs) -> dict[str, dict]:
    """EventBridge patterns of the triggers switched on in config."""
    monitoring = inputs.target.config.monitoring
    alarms = []
    if monitoring.retrain_on_drift:
        alarms += list(inputs.drift_alarm_arns)
    if monitoring.retrain_on_quality:
        alarms += list(inputs.quality_alarm_arns)
    patterns = {}
    if alarms:
        patterns["alarm"] = {"source": ["aws.cloudwatch"],
                             "detail-type": ["CloudWatch Alarm State Change"],
                             "resources": alarms, "detail": {"state": {"value": ["ALARM"]}}}
    if monitoring.retrain_on_new_data:
        patterns["new-data"] = {"source": ["aws.s3"], "detail-type": ["Object Created"],
                                "detail": {"bucket": {"name": [inputs.bucket_name]},
                                           "object": {"key": [{"prefix": f"{Names.DATA_PREFIX}/"}]}}}
    return patterns


class RetrainingTriggers(Construct):
    def __init__(self, scope: Construct, id_: str, *, inputs: RetrainingInputs) -> None:
        super().__init__(scope, id_)
        target = inputs.target
        names = target.names
        patterns = trigger_patterns(inputs)
        self.enabled = bool(patterns)
        if not patterns:
            return
        function_name = names.retrain_function
        log_group_name = names.lambda_log_group_of(function_name)
        log_group = CloudwatchLogGroup(self, "logs", name=log_group_name,
                                       retention_in_days=target.config.log_retention_days,
                                       kms_key_id=inputs.key_arn)
        role = service_role(
            self, "role", name=names.role("retrain-lambda"), service="lambda.amazonaws.com",
            account_id=target.account_id,
            description="Retraining trigger: starts the pipeline, at most once per cool-down",
            policies={"retrain": [
                log_statement(target.log_group_arn(log_group_name)),
                statement("StartPipelineAfterCooldown", [
                    "codepipeline:ListPipelineExecutions",
                    "codepipeline:StartPipelineExecution"], [inputs.pipeline_arn]),
                # X-Ray's segment APIs have no resource-level permissions.
                statement("WriteTraces", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                          "*"),
                *(inputs.network.grant_lambda_interfaces() if inputs.network else []),
            ]})
        asset = TerraformAsset(self, "code", path=str(inputs.archive.path), type=AssetType.FILE)
        cooldown = target.config.monitoring.retrain_cooldown_hours
        function = LambdaFunction(
            self, "function", function_name=function_name,
            description=f"Starts {inputs.pipeline_name} on a retraining trigger, at most once "
                        f"per {cooldown} h",
            role=role.arn, runtime=RUNTIME, handler=HANDLER, filename=asset.path,
            source_code_hash=inputs.archive.sha256_base64, timeout=30, memory_size=128,
            # One at a time: the cool-down check and the start cannot interleave.
            reserved_concurrent_executions=1, kms_key_arn=inputs.key_arn,
            environment=LambdaFunctionEnvironment(variables={
                "PIPELINE_NAME": inputs.pipeline_name, "COOLDOWN_HOURS": str(cooldown)}),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            logging_config=LambdaFunctionLoggingConfig(log_format="JSON",
                                                       log_group=log_group.name),
            vpc_config=inputs.network.lambda_vpc_config() if inputs.network else None,
            depends_on=[log_group])
        # EventBridge retries a failed delivery itself; a Lambda retry adds nothing.
        LambdaFunctionEventInvokeConfig(self, "async", function_name=function.function_name,
                                        maximum_retry_attempts=0,
                                        maximum_event_age_in_seconds=3600)
        for purpose, pattern in patterns.items():
            rule = CloudwatchEventRule(
                self, f"{purpose}_rule", name=names.rule(f"retrain-on-{purpose}"),
                description=f"Retraining trigger ({purpose}) for {inputs.pipeline_name}",
                event_pattern=json.dumps(pattern, indent=2))
            CloudwatchEventTarget(self, f"{purpose}_target", rule=rule.name, arn=function.arn,
                                  target_id="retrain")
            LambdaPermission(self, f"{purpose}_permission", action="lambda:InvokeFunction",
                             function_name=function.function_name,
                             principal="events.amazonaws.com", source_arn=rule.arn)
        self.function_arn = function.arn
