"""The CodePipeline job: what the event carries, and the three replies the step can give."""
from __future__ import annotations

import json
from dataclasses import dataclass

from lambda_deploy import aws
from lambda_deploy.errors import DeployFailure

FAILURE_MESSAGE_MAX = 5000
SUMMARY_MAX = 2048
CONTINUATION_TOKEN_MAX = 2048


class NotAJob(Exception):
    """The event has no CodePipeline job id, so there is nobody to answer."""


@dataclass(frozen=True)
class ArtifactLocation:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Job:
    id: str
    user_parameters: object
    artifact: ArtifactLocation | None
    credentials: dict
    continuation_token: str | None

    def __repr__(self) -> str:  # credentials must never reach a log line
        return f"Job(id={self.id!r})"


def parse_job(event) -> Job:
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
        raise NotAJob("event is not a CodePipeline job")
    data = job.get("data") if isinstance(job.get("data"), dict) else {}
    configuration = (data.get("actionConfiguration") or {}).get("configuration") or {}
    return Job(
        id=job["id"],
        user_parameters=configuration.get("UserParameters"),
        artifact=_first_artifact(data.get("inputArtifacts")),
        credentials=data.get("artifactCredentials") or {},
        continuation_token=data.get("continuationToken") or None,
    )


def _first_artifact(artifacts) -> ArtifactLocation | None:
    if not isinstance(artifacts, list) or not artifacts:
        return None
    location = ((artifacts[0] or {}).get("location") or {}).get("s3Location") or {}
    if not location.get("bucketName") or not location.get("objectKey"):
        return None
    return ArtifactLocation(location["bucketName"], location["objectKey"])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def continue_later(job_id: str, token: str, summary: str) -> None:
    """CodePipeline invokes the function again with this token (and resets its 20-minute timer)."""
    if len(token) > CONTINUATION_TOKEN_MAX:
        raise ValueError(f"continuation token is {len(token)} characters")
    aws.client("codepipeline").put_job_success_result(
        jobId=job_id, continuationToken=token,
        executionDetails={"summary": _clip(summary, SUMMARY_MAX), "percentComplete": 50})


def succeed(job_id: str, summary: str, output_variables: dict[str, str]) -> None:
    aws.client("codepipeline").put_job_success_result(
        jobId=job_id, outputVariables=output_variables,
        executionDetails={"summary": _clip(summary, SUMMARY_MAX), "percentComplete": 100})


def fail(job_id: str, failure_type: str, message: str, execution_id: str | None = None) -> None:
    details = {"type": failure_type, "message": _clip(message, FAILURE_MESSAGE_MAX)}
    if execution_id:
        details["externalExecutionId"] = execution_id
    aws.client("codepipeline").put_job_failure_result(jobId=job_id, failureDetails=details)


# --- continuation token ----------------------------------------------------------------------

TOKEN_VERSION = 1


@dataclass(frozen=True)
class Progress:
    """What a re-invocation needs to resume: carried in the continuation token."""

    stage: str
    endpoint_config: str
    package_arn: str
    package_version: int
    started_at: int  # epoch seconds
    action: str  # "create" | "update"

    def to_token(self) -> str:
        return json.dumps({"v": TOKEN_VERSION, "stage": self.stage, "config": self.endpoint_config,
                           "arn": self.package_arn, "ver": self.package_version,
                           "t0": self.started_at, "act": self.action},
                          separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_token(cls, token: str, stage: str, expected_config_prefix: str) -> "Progress":
        """Accept only a token this step issued for this stage.

        CodePipeline continues an action with a NEW job (new job ID) that carries the previous
        reply's token, so the token cannot be tied to the current job ID.
        """
        try:
            data = json.loads(token)
            if data.get("v") != TOKEN_VERSION:
                raise ValueError("unknown version")
            progress = cls(stage=data["stage"], endpoint_config=data["config"],
                           package_arn=data["arn"], package_version=data["ver"],
                           started_at=data["t0"], action=data["act"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeployFailure(f"continuation token is not one this step issued ({exc}); "
                                       "retry the stage") from None
        if (progress.stage != stage or not isinstance(progress.endpoint_config, str)
                or not progress.endpoint_config.startswith(expected_config_prefix)
                or progress.action not in ("create", "update")
                or not isinstance(progress.started_at, int)
                or not isinstance(progress.package_version, int)
                or not isinstance(progress.package_arn, str)):
            raise DeployFailure("continuation token does not match this stage; "
                                       "retry the stage")
        return progress
