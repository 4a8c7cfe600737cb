"""One answer per CodePipeline job, however often Lambda delivers it.

Lambda delivers an asynchronous event at least once and asks functions to handle duplicates;
CodePipeline accepts one result per job. Before doing anything for a job, an invocation claims
the job ID by creating `<JOB_CLAIMS_S3_URI>/<job id>` with `If-None-Match: *` (S3 conditional
writes: S3 lets exactly one writer create a key and answers every other with 412
PreconditionFailed, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
The invocation that created the object does the work and replies; every other delivery of the
same job ID ends without touching SageMaker and without replying, so it can neither repeat a
create/update nor contradict the answer. CodePipeline continues an action with a new job ID
per continuation, so each poll is claimed on its own.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy import aws
from lambda_deploy.errors import ConfigurationFailure, PERMISSION_ERROR, DeployFailure, error_code

ENV_VAR = "JOB_CLAIMS_S3_URI"
# CodePipeline job IDs are UUIDs; anything else could not be a safe S3 key anyway.
JOB_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_LOST = ("PreconditionFailed",)
# S3 answers 409 ConditionalRequestConflict when another conditional write is in flight;
# asking again settles it (the winner's object then exists and the answer is 412).
_IN_FLIGHT = ("ConditionalRequestConflict",)
_DENIED = ("AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException")


class ClaimUnknown(Exception):
    """S3 did not say whether the claim is ours: answering could contradict the owner."""


def location(environ=None, variable: str = ENV_VAR) -> tuple[str, str]:
    """(bucket, key prefix) from JOB_CLAIMS_S3_URI (or another s3://bucket/prefix variable)."""
    environ = os.environ if environ is None else environ
    uri = environ.get(variable, "")
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([^\s]+?)/?", uri)
    if not match:
        raise ConfigurationFailure(f"deploy function environment: {variable}: "
                                   f"{json.dumps(uri)} is not s3://bucket/prefix")
    return match.group(1), match.group(2)


def claim(job_id: str, environ=None) -> bool:
    """True when this invocation owns the job; False when another delivery claimed it first."""
    if not JOB_ID_RE.fullmatch(job_id):
        raise DeployFailure(f"CodePipeline job id {job_id[:80]!r} is not a job id this step "
                            "accepts (letters, digits and '-', at most 64)")
    bucket, prefix = location(environ)
    body = json.dumps({"job_id": job_id,
                       "claimed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    s3 = aws.client("s3")
    for _ in range(3):
        try:
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{job_id}", Body=body.encode(),
                          IfNoneMatch="*", ContentType="application/json")
            return True
        except ClientError as exc:
            code = error_code(exc)
            if code in _LOST:
                return False
            if code in _DENIED:
                # Every delivery is denied alike, so answering cannot contradict anyone.
                raise DeployFailure(f"s3:PutObject (claiming job {job_id} in s3://{bucket}/"
                                    f"{prefix}) failed: {exc}", PERMISSION_ERROR) from None
            if code not in _IN_FLIGHT:
                raise ClaimUnknown(f"s3:PutObject s3://{bucket}/{prefix}/{job_id}: {exc}") from None
        except BotoCoreError as exc:
            raise ClaimUnknown(f"s3:PutObject s3://{bucket}/{prefix}/{job_id}: {exc}") from None
    raise ClaimUnknown(f"s3:PutObject s3://{bucket}/{prefix}/{job_id}: conflicting writes")
