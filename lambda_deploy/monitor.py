"""Judge the endpoint after a create/update: done, still going, rolled back or failed."""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy import aws
from lambda_deploy.codepipeline import Progress
from lambda_deploy.deploy import BUSY_STATUSES, describe_endpoint
from lambda_deploy.errors import DeployFailure, aws_failure, is_transient
from lambda_deploy.settings import StageSettings

# Headroom over SageMaker's own MaximumExecutionTimeout before this step gives up waiting.
GRACE_SECONDS = 1800


class RolledBack(DeployFailure):
    """SageMaker rolled the update back: the endpoint is InService on the previous config."""


@dataclass(frozen=True)
class Status:
    done: bool
    detail: str


def deadline(progress: Progress, stage: StageSettings) -> int:
    return deadline_from(progress.started_at, stage)


def deadline_from(started_at: int, stage: StageSettings) -> int:
    """When the step stops waiting for an update of the stage's endpoint started then."""
    d = stage.deployment
    return started_at + d.max_execution_timeout_seconds + d.termination_wait_seconds \
        + GRACE_SECONDS


def check(progress: Progress, stage: StageSettings, now: int) -> Status:
    """Status(done=True) only when the endpoint is InService on the NEW config."""
    name = stage.endpoint_name
    try:
        endpoint = describe_endpoint(name)
    except ClientError as exc:
        if is_transient(exc):
            return Status(False, f"endpoint {name}: {exc.response['Error']['Code']}, will retry")
        raise aws_failure("sagemaker:DescribeEndpoint", exc) from None
    if endpoint is None:
        raise DeployFailure(f"endpoint {name} no longer exists; it was deleted during the "
                            "deployment. Retry this stage to create it")
    status = endpoint.get("EndpointStatus")
    current = endpoint.get("EndpointConfigName")
    reason = endpoint.get("FailureReason")
    if status == "InService" and current == progress.endpoint_config:
        return Status(True, f"endpoint {name} is InService on {current}")
    if status == "InService":
        raise RolledBack(
            f"SageMaker rolled the update of endpoint {name} back: it is InService on "
            f"{current}, not on the new config {progress.endpoint_config} (model package "
            f"version {progress.package_version}). "
            + _rollback_cause(stage, reason)
            + " The previous model is still serving; investigate before retrying.")
    if status in ("Failed", "UpdateRollbackFailed"):
        raise DeployFailure(f"endpoint {name} is {status}: {reason or 'SageMaker gave no reason'}"
                            f" (new config {progress.endpoint_config})")
    if status not in BUSY_STATUSES:
        raise DeployFailure(f"endpoint {name} is {status}: {reason or 'no reason given'}")
    if now > deadline(progress, stage):
        minutes = (now - progress.started_at) // 60
        raise DeployFailure(f"endpoint {name} is still {status} after {minutes} minutes; "
                            "check it in the SageMaker console, then retry this stage")
    return Status(False, f"endpoint {name} is {status}, moving to {progress.endpoint_config}")


def _rollback_cause(stage: StageSettings, reason: str | None) -> str:
    parts = []
    if reason:
        parts.append(f"SageMaker's reason: {reason}.")
    alarms = alarms_in_alarm(stage)
    if alarms is None:
        parts.append(f"Could not read the rollback alarms ({', '.join(stage.alarm_names)}).")
    elif alarms:
        parts.append(f"Alarms in ALARM: {', '.join(alarms)}.")
    else:
        parts.append(f"None of the rollback alarms ({', '.join(stage.alarm_names)}) is in "
                     "ALARM now: one may have fired and recovered since, or the update hit its "
                     "MaximumExecutionTimeout.")
    return " ".join(parts)


def alarms_in_alarm(stage: StageSettings) -> list[str] | None:
    """The stage's rollback alarms now in ALARM with their reason; None when unreadable."""
    try:
        response = aws.target("cloudwatch").describe_alarms(AlarmNames=list(stage.alarm_names))
    except (ClientError, BotoCoreError):
        return None
    return [f"{a['AlarmName']} ({a.get('StateReason', 'no reason')})"
            for a in response.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
