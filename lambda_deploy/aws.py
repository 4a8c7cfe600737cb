"""boto3 clients: the function's own (registry, job claims, CodePipeline), created on first use
and kept for warm invocations, and the current stage's (its endpoint, alarms, scaling).

A stage in another account names a deployer role there; every call of that stage is made with
that role's credentials (AssumeRole with the stage's ExternalId, session name carrying the job
ID, so CloudTrail in the stage's account shows which job acted). The credentials are checked to
act in the stage's account before anything is called with them. A stage without a role is in
the function's own account and uses its own credentials.
"""
from __future__ import annotations

import aws_clients
from lambda_deploy.errors import ConfigurationFailure, aws_failure

_clients: dict = {}
_session = None
# The stage entered by enter_stage: (settings, job id) and its clients.
_stage = None
_stage_clients: dict = {}
_stage_credentials: dict = {}
# Long enough for one invocation (the function's timeout is 120 s); AssumeRole's minimum.
STAGE_CREDENTIALS_SECONDS = 900


def session():
    """One boto3 session per process: its loaded service models are reused by every client."""
    global _session
    if _session is None:
        _session = aws_clients.new_session()
    return _session


def client(service: str):
    if service not in _clients:
        _clients[service] = aws_clients.client(service, session())
    return _clients[service]


def artifact_s3_client(credentials: dict):
    """S3 client with the job's temporary artifact credentials; never cached across jobs."""
    return aws_clients.client(
        "s3", session(), credentials={
            "aws_access_key_id": credentials.get("accessKeyId"),
            "aws_secret_access_key": credentials.get("secretAccessKey"),
            "aws_session_token": credentials.get("sessionToken")},
        # SigV4 is required to read KMS-encrypted pipeline artifacts.
        signature_version="s3v4")


def target_tags(arn: str) -> dict:
    """The tags of one of the current stage's SageMaker resources (every page of ListTags)."""
    return {t["Key"]: t["Value"] for t in
            aws_clients.paginate(target("sagemaker"), "list_tags", "Tags", ResourceArn=arn)}


def session_name(job_id: str) -> str:
    return aws_clients.session_name("deploy", job_id)


def enter_stage(stage, job_id: str) -> None:
    """Make `stage` (StageSettings) the one target() clients act in, for job `job_id`."""
    global _stage
    _stage = (stage, job_id)
    _stage_clients.clear()
    _stage_credentials.clear()


def _assume(stage, job_id: str) -> dict:
    try:
        return aws_clients.assume_role(
            session(), stage.role_arn, external_id=stage.external_id,
            name=session_name(job_id), seconds=STAGE_CREDENTIALS_SECONDS,
            expected_account=stage.account_id, sts=client("sts"))
    except aws_clients.CallFailed as exc:
        raise aws_failure(f"{exc.call} {stage.role_arn} (stage {stage.stage})",
                          exc.cause) from None
    except aws_clients.WrongAccount as exc:
        raise ConfigurationFailure(
            f"stage {stage.stage}: role {stage.role_arn} acts in account {exc.account}, not in "
            f"the stage's account {exc.expected}; refusing to deploy there") from None


def target(service: str, region: str | None = None):
    """A client acting in the entered stage's account, in its region (or `region`)."""
    if _stage is None:
        raise RuntimeError("no stage entered: call enter_stage first")
    stage, job_id = _stage
    region = region or stage.region
    if stage.role_arn is None:
        # The function's own account: its own clients, in the stage's region.
        if region == session().region_name:
            return client(service)
        key = (service, region)
        if key not in _clients:
            _clients[key] = aws_clients.client(service, session(), region=region)
        return _clients[key]
    key = (service, region)
    if key not in _stage_clients:
        if not _stage_credentials:
            _stage_credentials.update(_assume(stage, job_id))
        _stage_clients[key] = aws_clients.client(service, session(), region=region,
                                                 credentials=_stage_credentials)
    return _stage_clients[key]


def reset() -> None:
    """Forget the session, cached clients and the entered stage (tests start each case with
    fresh ones, and with none of another case's event handlers)."""
    global _stage, _session
    _session = None
    _clients.clear()
    _stage = None
    _stage_clients.clear()
    _stage_credentials.clear()
