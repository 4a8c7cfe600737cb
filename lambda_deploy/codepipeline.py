"""The CodePipeline job: what the event carries, and the three replies the step can give."""
from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy import aws
from lambda_deploy.errors import DeployFailure, error_code
from lambda_deploy.logs import warn

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


def job_id(event) -> str:
    """The CodePipeline job ID, or NotAJob when there is nobody to answer."""
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
        raise NotAJob("event is not a CodePipeline job")
    return job["id"]


def _object(value, where: str, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise DeployFailure(f"malformed CodePipeline job: {where} is "
                            f"{type(value).__name__}, expected an object")
    return value


def parse_job(event) -> Job:
    """The job's fields, shape-checked: a malformed job fails with the field it lacks."""
    identifier = job_id(event)
    job = event["CodePipeline.job"]
    data = _object(job.get("data"), "CodePipeline.job.data")
    action = _object(data.get("actionConfiguration"), "data.actionConfiguration")
    configuration = _object(action.get("configuration"),
                            "data.actionConfiguration.configuration")
    credentials = _object(data.get("artifactCredentials"), "data.artifactCredentials",
                          required=False)
    token = data.get("continuationToken")
    if token is not None and not isinstance(token, str):
        raise DeployFailure("malformed CodePipeline job: data.continuationToken is "
                            f"{type(token).__name__}, expected a string")
    return Job(
        id=identifier,
        user_parameters=configuration.get("UserParameters"),
        artifact=_first_artifact(data.get("inputArtifacts")),
        credentials=credentials,
        continuation_token=token or None,
    )


def _first_artifact(artifacts) -> ArtifactLocation | None:
    if artifacts is None or artifacts == []:
        return None
    if not isinstance(artifacts, list):
        raise DeployFailure("malformed CodePipeline job: data.inputArtifacts is "
                            f"{type(artifacts).__name__}, expected a list")
    first = _object(artifacts[0], "data.inputArtifacts[0]")
    location = _object(_object(first.get("location"), "data.inputArtifacts[0].location")
                       .get("s3Location"), "data.inputArtifacts[0].location.s3Location")
    bucket, key = location.get("bucketName"), location.get("objectKey")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise DeployFailure("malformed CodePipeline job: data.inputArtifacts[0].location."
                            "s3Location needs bucketName and objectKey strings")
    return ArtifactLocation(bucket, key)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Replies never raise: CodePipeline refuses a second result for a job
# (InvalidJobStateException) and a reply that cannot be sent is logged, not retried by Lambda.
REFUSED = ("InvalidJobStateException", "JobNotFoundException")


def _send(operation: str, job_id: str, **request) -> str:
    """'replied', 'refused' (CodePipeline already has a result) or 'unsent'."""
    try:
        getattr(aws.client("codepipeline"), operation)(jobId=job_id, **request)
        return "replied"
    except ClientError as exc:
        code = error_code(exc)
        warn("reply_refused" if code in REFUSED else "reply_failed", job_id=job_id,
             operation=operation, error_code=code, error=str(exc))
        return "refused" if code in REFUSED else "unsent"
    except BotoCoreError as exc:
        warn("reply_failed", job_id=job_id, operation=operation, error=str(exc))
        return "unsent"


def continue_later(job_id: str, token: str, summary: str) -> str:
    """CodePipeline invokes the function again with this token (and resets its 20-minute timer)."""
    if len(token) > CONTINUATION_TOKEN_MAX:
        raise ValueError(f"continuation token is {len(token)} characters")
    return _send("put_job_success_result", job_id, continuationToken=token,
                 executionDetails={"summary": _clip(summary, SUMMARY_MAX),
                                   "percentComplete": 50})


def succeed(job_id: str, summary: str, output_variables: dict[str, str]) -> str:
    return _send("put_job_success_result", job_id, outputVariables=output_variables,
                 executionDetails={"summary": _clip(summary, SUMMARY_MAX),
                                   "percentComplete": 100})


def fail(job_id: str, failure_type: str, message: str, execution_id: str | None = None) -> str:
    details = {"type": failure_type, "message": _clip(message, FAILURE_MESSAGE_MAX)}
    if execution_id:
        details["externalExecutionId"] = execution_id
    return _send("put_job_failure_result", job_id, failureDetails=details)


# --- continuation token ----------------------------------------------------------------------


def _dump(fields: dict) -> str:
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)


TOKEN_VERSION = 2


@dataclass(frozen=True)
class Progress:
    """What a re-invocation needs to resume: carried in the continuation token.

    A token is a claim, not a fact: resume checks it against the endpoint config it names
    (lambda_deploy/verify.py) before anything is reported.
    """

    stage: str
    endpoint_config: str
    package_arn: str
    package_version: int
    started_at: int  # epoch seconds
    action: str  # "create" | "update"
    job: str  # the job that started the deployment (tag mlops:codepipeline-job of its config)
    # A stage serving from several regions (lambda_deploy/regions.py): the region being
    # deployed, the config it served before (None: created by this deployment), and the
    # regions already serving the new version with theirs. None/(): a one-region stage, whose
    # token is as it was before regions.
    region: str | None = None
    previous: str | None = None
    done: tuple = ()
    # The stage failed and these regions (region, config they go back to) were sent back to
    # their previous config: the step waits for their blue/green updates back (started at
    # started_at) before it reports the failure (failure, failure_type).
    back: tuple = ()
    failure: str | None = None
    failure_type: str | None = None
    # The artifact's copy to `region` in progress (lambda_deploy/regions.py Copying: upload ID,
    # next part, size); the region's endpoint is started once it is done (action "copy" until
    # then).
    copy: tuple | None = None

    def to_token(self) -> str:
        fields = {"v": TOKEN_VERSION, "stage": self.stage, "config": self.endpoint_config,
                  "arn": self.package_arn, "ver": self.package_version,
                  "t0": self.started_at, "act": self.action, "job": self.job}
        if self.region is not None:
            fields.update(reg=self.region, prev=self.previous,
                          done=[list(pair) for pair in self.done])
        if self.copy is not None:
            fields["cp"] = list(self.copy)
        if self.back:
            fields.update(back=[list(pair) for pair in self.back], fail="",
                          ftype=self.failure_type)
            # The failure message fills what the token's limit leaves (its start says what
            # failed; the whole message was the summary of the reply that started waiting).
            room = CONTINUATION_TOKEN_MAX - len(_dump(fields))
            message = self.failure or ""
            while message and len(json.dumps(message)) - 2 > room:
                # Escaping makes a character up to 6: keep the share of characters that fits.
                keep = len(message) * room // (len(json.dumps(message)) - 2)
                message = _clip(message, keep) if keep > 1 else ""
            fields["fail"] = message
        return _dump(fields)

    @classmethod
    def from_token(cls, token: str, stage: str, expected_config_prefix: str) -> "Progress":
        """Accept only a token of this step's shape, for this stage.

        CodePipeline continues an action with a NEW job (new job ID) that carries the previous
        reply's token, so the token cannot be tied to the current job ID.
        """
        try:
            data = json.loads(token)
            if data.get("v") != TOKEN_VERSION:
                raise ValueError("unknown version")
            progress = cls(stage=data["stage"], endpoint_config=data["config"],
                           package_arn=data["arn"], package_version=data["ver"],
                           started_at=data["t0"], action=data["act"], job=data["job"],
                           region=data.get("reg"), previous=data.get("prev"),
                           done=tuple((region, previous) for region, previous in
                                      data.get("done", ())),
                           back=tuple((region, previous) for region, previous in
                                      data.get("back", ())),
                           failure=data.get("fail"), failure_type=data.get("ftype"),
                           copy=tuple(data["cp"]) if data.get("cp") is not None else None)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeployFailure(f"continuation token is not one this step issued ({exc}); "
                                "retry the stage") from None
        if (not isinstance(progress.stage, str) or not isinstance(progress.endpoint_config, str)
                or progress.action not in ("create", "update", "copy")
                or (progress.action == "copy") != (progress.copy is not None)
                or (progress.copy is not None and not (
                    len(progress.copy) == 3 and isinstance(progress.copy[0], str)
                    and all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                            for n in progress.copy[1:])))
                or isinstance(progress.started_at, bool)
                or not isinstance(progress.started_at, int)
                or isinstance(progress.package_version, bool)
                or not isinstance(progress.package_version, int)
                or not isinstance(progress.package_arn, str)
                or not isinstance(progress.job, str)
                or not isinstance(progress.region, (str, type(None)))
                or not isinstance(progress.previous, (str, type(None)))
                or not all(isinstance(r, str) and isinstance(p, (str, type(None)))
                           for r, p in progress.done)
                or not all(isinstance(r, str) and isinstance(p, str) for r, p in progress.back)
                or (bool(progress.back) and not (isinstance(progress.failure, str)
                                                 and isinstance(progress.failure_type, str)))):
            raise DeployFailure("continuation token is not one this step issued (wrong field "
                                "types); retry the stage")
        if progress.stage != stage or not progress.endpoint_config.startswith(
                expected_config_prefix):
            raise DeployFailure(f"continuation token does not match this stage: it is for "
                                f"stage {progress.stage!r} and config {progress.endpoint_config!r}"
                                f", this job deploys {stage}; retry the stage")
        return progress
