"""EndpointAlarms: per-stage, per-variant CloudWatch alarms that both page and drive SageMaker
auto-rollback."""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm

from infra.environment import DeploymentTarget
from lambda_deploy.settings import DEFAULT_VARIANT


class EndpointAlarms(Construct):
    """Both alarms of every variant of a stage's endpoint; any of them rolls an update back."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget, stage: str,
                 topic_arn: str) -> None:
        super().__init__(scope, id_)
        self.alarm_names: list[str] = []
        self.alarm_arns: list[str] = []
        for variant in target.config.stage(stage).variants:
            # The default variant's alarms keep their ids (and so their Terraform addresses).
            suffix = "" if variant.name == DEFAULT_VARIANT else f"_{variant.name}"
            self._variant_alarms(target, stage, variant.name, suffix, topic_arn)

    @staticmethod
    def names_for(target: DeploymentTarget, stage: str) -> list[str]:
        """The names of a stage's alarms (in whichever account's stack creates them)."""
        return [target.names.alarm(stage, metric, variant.name)
                for variant in target.config.stage(stage).variants
                for metric in ("5xx-errors", "model-latency")]

    def _variant_alarms(self, target: DeploymentTarget, stage: str, variant: str, suffix: str,
                        topic_arn: str) -> None:
        names, alarms = target.names, target.config.alarms
        endpoint = names.endpoint(stage)
        where = endpoint if variant == DEFAULT_VARIANT else f"{endpoint} variant {variant}"
        dimensions = {"EndpointName": endpoint, "VariantName": variant}
        common = dict(namespace="AWS/SageMaker", dimensions=dimensions,
                      period=alarms.period_seconds, evaluation_periods=alarms.evaluation_periods,
                      datapoints_to_alarm=alarms.evaluation_periods,
                      treat_missing_data="notBreaching", alarm_actions=[topic_arn],
                      ok_actions=[topic_arn])
        errors = CloudwatchMetricAlarm(
            self, f"errors_5xx{suffix}", alarm_name=names.alarm(stage, "5xx-errors", variant),
            alarm_description=f"{where}: model container 5XX errors; rolls back a deploy",
            metric_name="Invocation5XXErrors", statistic="Sum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=alarms.error_5xx_threshold, **common)
        latency = CloudwatchMetricAlarm(
            self, f"model_latency{suffix}", alarm_name=names.alarm(stage, "model-latency", variant),
            alarm_description=(f"{where}: p99 model latency above "
                               f"{alarms.model_latency_p99_ms} ms; rolls back a deploy"),
            metric_name="ModelLatency", extended_statistic="p99",
            comparison_operator="GreaterThanThreshold",
            # ModelLatency is reported in microseconds.
            threshold=alarms.model_latency_p99_ms * 1000, **common)
        self.alarm_names += [names.alarm(stage, "5xx-errors", variant),
                             names.alarm(stage, "model-latency", variant)]
        self.alarm_arns += [errors.arn, latency.arn]
