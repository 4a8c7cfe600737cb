"""What the CodeBuild jobs share: settings from the environment, AWS calls that fail with one
line naming the API, S3 helpers, and the script-mode source bundle."""
from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
from pathlib import Path

import aws_clients
from pipeline_src.model_io import SERVING_PROGRAM, bundle_members

TRAIN_PROGRAM = "pipeline_src/train.py"
INFERENCE_PROGRAM = SERVING_PROGRAM
# Where the serving container finds the code: inside the model (model_io.write_serving_code).
SERVING_SUBMIT_DIRECTORY = "/opt/ml/model/code"


def serving_environment(region: str) -> dict:
    """The served model's container environment (model package InferenceSpecification)."""
    return {
        "SAGEMAKER_PROGRAM": SERVING_PROGRAM,
        "SAGEMAKER_SUBMIT_DIRECTORY": SERVING_SUBMIT_DIRECTORY,
        "SAGEMAKER_REGION": region,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        # At start the container runs `pip install .` on the code. Build it with the image's own
        # setuptools (pip's build isolation would fetch setuptools from an index; pip reads
        # "false" here as --no-build-isolation) and never ask an index: the endpoint runs with
        # EnableNetworkIsolation.
        "PIP_NO_BUILD_ISOLATION": "false",
        "PIP_NO_INDEX": "true",
        # The container starts one gunicorn worker per CPU; one OpenMP thread each keeps the
        # workers from oversubscribing the cores.
        "OMP_NUM_THREADS": "1",
    }


class JobError(RuntimeError):
    """The job cannot continue; str() is the one line printed before exiting 1."""


class SettingsError(JobError):
    """Bad input: an environment setting, argument or input file the job was given (exit 2)."""


def require_env(names, environ=None) -> dict:
    environ = os.environ if environ is None else environ
    missing = [n for n in names if not environ.get(n, "").strip()]
    if missing:
        raise SettingsError(f"missing environment setting(s): {', '.join(missing)}")
    return {n: environ[n].strip() for n in names}


def env_float(settings: dict, name: str) -> float:
    try:
        return float(settings[name])
    except ValueError:
        raise SettingsError(f"environment setting {name}={settings[name]!r} is not a "
                            "number") from None


def env_int(settings: dict, name: str) -> int:
    try:
        return int(settings[name])
    except ValueError:
        raise SettingsError(f"environment setting {name}={settings[name]!r} is not an "
                            "integer") from None


def json_setting(name: str, text: str):
    """A setting infra writes as JSON (json.dumps), parsed; SettingsError naming it otherwise."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} is not valid JSON: {exc.msg}") from None


def gate_thresholds(settings: dict):
    """The quality gate infra passes as JSON (GateThresholds.to_json) in GATE_THRESHOLDS."""
    from pipeline_src.evaluate import GATE_THRESHOLDS_ENV, GateThresholds

    try:
        return GateThresholds.from_json(settings[GATE_THRESHOLDS_ENV])
    except ValueError as exc:
        raise SettingsError(f"environment setting {GATE_THRESHOLDS_ENV}: {exc}") from None


def clients(session, *services: str) -> list:
    """The job's clients (aws_clients: timeouts, bounded retries) from `session`."""
    return [aws_clients.client(service, session) for service in services]


# A CodeBuild role assuming another role is role chaining, which caps the session at one hour
# (IAM User Guide, "Role terms and concepts", role chaining); each endpoint's session is taken
# when the job reaches it.
ASSUMED_SESSION_SECONDS = 3600


def session_name(purpose: str, run_id: str) -> str:
    return aws_clients.session_name(purpose, run_id)


def assumed_session(session, role_arn: str, external_id: str, name: str):
    """A boto3 session acting as role_arn (AssumeRole with the ExternalId the role's trust
    requires), checked to act in the role's own account before anything is called with it."""
    try:
        return aws_clients.assumed_session(session, role_arn, external_id=external_id,
                                           name=name, seconds=ASSUMED_SESSION_SECONDS)
    except aws_clients.CallFailed as exc:
        raise JobError(str(exc)) from None
    except aws_clients.WrongAccount as exc:
        raise JobError(f"role {exc.role_arn} acts in account {exc.account}, not in its own "
                       f"account {exc.expected}; refusing to read with it") from None


def aws_call(client, operation: str, **kwargs):
    """client.<snake_case operation>(**kwargs); a failure is a JobError of one line naming the
    call (aws_clients.describe)."""
    try:
        return aws_clients.aws_call(client, operation, **kwargs)
    except aws_clients.CallFailed as exc:
        raise JobError(str(exc)) from None


def listing(client, operation: str, result_key: str, **params) -> list:
    """Every item of a listing (botocore's paginator, aws_clients.paginate); a failure is a
    JobError of one line naming the call."""
    try:
        return aws_clients.listing(client, operation, result_key, **params)
    except aws_clients.CallFailed as exc:
        raise JobError(str(exc)) from None


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri or "")
    if not match:
        raise JobError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2).strip("/")


def join_s3(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])


def download(s3, uri: str, dest) -> Path:
    bucket, key = split_s3_uri(uri)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    body = aws_call(s3, "GetObject", Bucket=bucket, Key=key)["Body"].read()
    dest.write_bytes(body)
    return dest


def upload_bytes(s3, uri: str, body: bytes, kms_key_arn: str, content_type: str) -> str:
    bucket, key = split_s3_uri(uri)
    aws_call(s3, "PutObject", Bucket=bucket, Key=key, Body=body, ContentType=content_type,
             ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_arn)
    return uri


def sourcedir_bytes() -> bytes:
    """The script-mode bundle (sourcedir.tar.gz): pipeline_src's container modules plus the
    top-level serving shim. Byte-reproducible (fixed mtimes, sorted), so its hash only changes
    with the code."""
    import gzip

    buffer = io.BytesIO()
    members = bundle_members()

    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for name, data in sorted(members):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def training_job_name(prefix: str, revision: str, now) -> str:
    """<prefix>-<YYYYmmddTHHMMSS>-<first 8 of revision or 'local'>, a valid SageMaker name."""
    suffix = re.sub(r"[^a-zA-Z0-9]", "", revision or "")[:8] or "local"
    name = f"{prefix}-{now.strftime('%Y%m%dT%H%M%S')}-{suffix}"
    name = re.sub(r"-+", "-", name).strip("-")
    if len(name) > 63 or not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name):
        raise JobError(f"training job name {name!r} is not a valid SageMaker name "
                       "(at most 63 letters, digits or hyphens)")
    return name


def write_json(path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def run(main_body) -> int:
    """Run a job body; its errors end with one line on stderr and exit 2 for bad input (settings,
    arguments, input files, data breaking the contract), 1 for anything else that stops it."""
    from pipeline_src.contract import ContractError
    from pipeline_src.model_io import ModelLoadError

    try:
        return main_body()
    except (SettingsError, ContractError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (JobError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
