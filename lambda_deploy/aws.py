"""boto3 clients: the function's own (registry, job claims, CodePipeline), created on first use
and kept for warm invocations, and the current stage's (its endpoint, alarms, scaling).

A stage in another account names a deployer role there; every call of that stage is made with
that role's credentials (AssumeRole with the stage's ExternalId, session name carrying the job
ID, so CloudTrail in the stage's account shows which job acted). The credentials are checked to
act in the stage's account before anything is called with them. A stage without a role is in
the function's own account and uses its own credentials.
"""
from __future__ import annotations

import re

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy.errors import ConfigurationFailure, aws_failure

# Standard retry mode backs off on throttling; timeouts keep a hung call inside the Lambda timeout.
CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"},
                       connect_timeout=10, read_timeout=60)
_clients: dict = {}
_session = None
# The stage entered by enter_stage: (settings, job id) and its clients.
_stage = None
_stage_clients: dict = {}
_stage_credentials: dict = {}
# AssumeRole: RoleSessionName is 2-64 characters of [\w+=,.@-].
SESSION_NAME_MAX = 64
# Long enough for one invocation (the function's timeout is 120 s); AssumeRole's minimum.
STAGE_CREDENTIALS_SECONDS = 900


def session():
    """One boto3 session per process: its loaded service models are reused by every client."""
    global _session
    if _session is None:
        _session = boto3.session.Session()
    return _session


def client(service: str):
    if service not in _clients:
        _clients[service] = session().client(service, config=CLIENT_CONFIG)
    return _clients[service]


def artifact_s3_client(credentials: dict):
    """S3 client with the job's temporary artifact credentials; never cached across jobs."""
    return session().client(
        "s3",
        aws_access_key_id=credentials.get("accessKeyId"),
        aws_secret_access_key=credentials.get("secretAccessKey"),
        aws_session_token=credentials.get("sessionToken"),
        # SigV4 is required to read KMS-encrypted pipeline artifacts.
        config=CLIENT_CONFIG.merge(Config(signature_version="s3v4")),
    )


def session_name(job_id: str) -> str:
    return re.sub(r"[^\w+=,.@-]", "-", f"deploy-{job_id}")[:SESSION_NAME_MAX]


def enter_stage(stage, job_id: str) -> None:
    """Make `stage` (StageSettings) the one target() clients act in, for job `job_id`."""
    global _stage
    _stage = (stage, job_id)
    _stage_clients.clear()
    _stage_credentials.clear()


def _assume(stage, job_id: str) -> dict:
    try:
        credentials = client("sts").assume_role(
            RoleArn=stage.role_arn, RoleSessionName=session_name(job_id),
            ExternalId=stage.external_id,
            DurationSeconds=STAGE_CREDENTIALS_SECONDS)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"sts:AssumeRole {stage.role_arn} (stage {stage.stage})", exc) from None
    keys = {"aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}
    # The role's ARN names its account, but what counts is where the credentials act.
    try:
        account = session().client("sts", config=CLIENT_CONFIG, **keys).get_caller_identity()[
            "Account"]
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure("sts:GetCallerIdentity", exc) from None
    if account != stage.account_id:
        raise ConfigurationFailure(
            f"stage {stage.stage}: role {stage.role_arn} acts in account {account}, not in the "
            f"stage's account {stage.account_id}; refusing to deploy there")
    return keys


def target(service: str):
    """A client acting in the entered stage's account and region."""
    if _stage is None:
        raise RuntimeError("no stage entered: call enter_stage first")
    stage, job_id = _stage
    if stage.role_arn is None:
        # The function's own account: its own clients, in the stage's region.
        if stage.region == session().region_name:
            return client(service)
        key = (service, stage.region)
        if key not in _clients:
            _clients[key] = session().client(service, region_name=stage.region,
                                             config=CLIENT_CONFIG)
        return _clients[key]
    if service not in _stage_clients:
        if not _stage_credentials:
            _stage_credentials.update(_assume(stage, job_id))
        _stage_clients[service] = session().client(service, region_name=stage.region,
                                                   config=CLIENT_CONFIG, **_stage_credentials)
    return _stage_clients[service]


def reset() -> None:
    """Forget the session, cached clients and the entered stage (tests start each case with
    fresh ones, and with none of another case's event handlers)."""
    global _stage, _session
    _session = None
    _clients.clear()
    _stage = None
    _stage_clients.clear()
    _stage_credentials.clear()
