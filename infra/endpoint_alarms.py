"""EndpointAlarms: per-stage CloudWatch alarms that both page and drive SageMaker auto-rollback."""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm

from infra.environment import DeploymentTarget

# The deploy step names its single production variant this, so the alarms see it.
VARIANT_NAME = "AllTraffic"


class EndpointAlarms(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget, stage: str,
                 topic_arn: str) -> None:
        super().__init__(scope, id_)
        names, alarms = target.names, target.config.alarms
        endpoint = names.endpoint(stage)
        dimensions = {"EndpointName": endpoint, "VariantName": VARIANT_NAME}
        common = dict(namespace="AWS/SageMaker", dimensions=dimensions,
                      period=alarms.period_seconds, evaluation_periods=alarms.evaluation_periods,
                      datapoints_to_alarm=alarms.evaluation_periods,
                      treat_missing_data="notBreaching", alarm_actions=[topic_arn],
                      ok_actions=[topic_arn])
        errors = CloudwatchMetricAlarm(
            self, "errors_5xx", alarm_name=names.alarm(stage, "5xx-errors"),
            alarm_description=f"{endpoint}: model container 5XX errors; rolls back a deploy",
            metric_name="Invocation5XXErrors", statistic="Sum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=alarms.error_5xx_threshold, **common)
        latency = CloudwatchMetricAlarm(
            self, "model_latency", alarm_name=names.alarm(stage, "model-latency"),
            alarm_description=(f"{endpoint}: p99 model latency above "
                               f"{alarms.model_latency_p99_ms} ms; rolls back a deploy"),
            metric_name="ModelLatency", extended_statistic="p99",
            comparison_operator="GreaterThanThreshold",
            # ModelLatency is reported in microseconds.
            threshold=alarms.model_latency_p99_ms * 1000, **common)
        self.alarm_names = [names.alarm(stage, "5xx-errors"), names.alarm(stage, "model-latency")]
        self.alarm_arns = [errors.arn, latency.arn]
