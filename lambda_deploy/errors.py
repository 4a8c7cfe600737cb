"""Failures the deploy step reports to CodePipeline instead of raising to Lambda."""
from __future__ import annotations

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


_PERMISSION_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                     "KMS.AccessDeniedException"}
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceUnavailable",
                    "InternalFailure", "InternalServerError", "RequestLimitExceeded",
                    "TooManyRequestsException"}


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_transient(exc: Exception) -> bool:
    return error_code(exc) in _TRANSIENT_CODES


def aws_failure(call: str, exc: Exception) -> DeployFailure:
    """Name the failing AWS call and pick the failure type CodePipeline should show."""
    code = error_code(exc)
    if code in _PERMISSION_CODES:
        kind = PERMISSION_ERROR
    elif code in _TRANSIENT_CODES:
        kind = SYSTEM_UNAVAILABLE
    else:
        kind = JOB_FAILED
    return DeployFailure(f"{call} failed: {exc}", kind)
