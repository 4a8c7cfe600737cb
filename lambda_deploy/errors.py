"""Failures the deploy step reports to CodePipeline instead of raising to Lambda."""
from __future__ import annotations

import aws_clients

# CodePipeline FailureDetails.type values.
JOB_FAILED = "JobFailed"
CONFIGURATION_ERROR = "ConfigurationError"
PERMISSION_ERROR = "PermissionError"
SYSTEM_UNAVAILABLE = "SystemUnavailable"


class DeployFailure(Exception):
    """A reason to fail the CodePipeline job; str() is the message the pipeline shows."""

    failure_type = JOB_FAILED

    def __init__(self, message: str, failure_type: str | None = None):
        super().__init__(message)
        if failure_type:
            self.failure_type = failure_type


class ConfigurationFailure(DeployFailure):
    """The function's environment or the action's UserParameters are wrong: fix infra, not data."""

    failure_type = CONFIGURATION_ERROR


def error_code(exc: Exception) -> str:
    return aws_clients.error_code(exc)


def is_transient(exc: Exception) -> bool:
    return aws_clients.classify(exc) == aws_clients.TRANSIENT


# The one classifier's answer (aws_clients.classify) as CodePipeline's failure type.
FAILURE_TYPES = {aws_clients.PERMISSION: PERMISSION_ERROR,
                 aws_clients.TRANSIENT: SYSTEM_UNAVAILABLE,
                 aws_clients.FAILED: JOB_FAILED}


def aws_failure(call: str, exc: Exception) -> DeployFailure:
    """Name the failing AWS call and pick the failure type CodePipeline should show."""
    return DeployFailure(aws_clients.describe(call, exc), FAILURE_TYPES[aws_clients.classify(exc)])
