"""Read model_package.json from the Test stage's output artifact (a zip in S3)."""
from __future__ import annotations

import io
import json
import zipfile

from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy import aws
from lambda_deploy.codepipeline import Job
from lambda_deploy.errors import ConfigurationFailure, DeployFailure

MANIFEST = "model_package.json"
# The artifact holds model_package.json, evaluation.json and small reports; refuse anything huge.
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024
NO_PACKAGE_HINT = ("re-run the pipeline so the Train and Test stages produce one "
                   "(see docs/interfaces.md, 'Pipeline artifacts')")


def read_model_package_arn(job: Job) -> str:
    if job.artifact is None:
        raise ConfigurationFailure("the deploy action has no input artifact; it must take the "
                                   "Test stage's output (TestOutput)")
    if not {"accessKeyId", "secretAccessKey"} <= set(job.credentials):
        raise ConfigurationFailure("the job carries no artifactCredentials to read its input")
    body = _download(job)
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            raw = archive.read(MANIFEST)
    except zipfile.BadZipFile:
        raise DeployFailure(f"input artifact {job.artifact} is not a zip file; "
                            f"{NO_PACKAGE_HINT}") from None
    except KeyError:
        raise DeployFailure(f"no model package to deploy: input artifact {job.artifact} has no "
                            f"{MANIFEST} at its root; {NO_PACKAGE_HINT}") from None
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DeployFailure(f"{MANIFEST} in {job.artifact} is not valid JSON; "
                            f"{NO_PACKAGE_HINT}") from None
    arn = manifest.get("model_package_arn") if isinstance(manifest, dict) else None
    if not isinstance(arn, str) or ":model-package/" not in arn:
        raise DeployFailure(f"no model package to deploy: {MANIFEST} in {job.artifact} has no "
                            f"model_package_arn; {NO_PACKAGE_HINT}")
    return arn


def _download(job: Job) -> bytes:
    s3 = aws.artifact_s3_client(job.credentials)
    try:
        response = s3.get_object(Bucket=job.artifact.bucket, Key=job.artifact.key)
        if response.get("ContentLength", 0) > MAX_ARTIFACT_BYTES:
            raise DeployFailure(f"input artifact {job.artifact} is larger than "
                                f"{MAX_ARTIFACT_BYTES // 2**20} MiB")
        return response["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise DeployFailure(f"input artifact {job.artifact} could not be read ({code}); "
                            f"{NO_PACKAGE_HINT}") from None
    except BotoCoreError as exc:
        raise DeployFailure(f"input artifact {job.artifact} could not be read: {exc}") from None
