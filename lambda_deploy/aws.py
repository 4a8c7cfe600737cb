"""boto3 clients, created on first use and kept for warm invocations."""
from __future__ import annotations

import boto3
from botocore.config import Config

# Standard retry mode backs off on throttling; timeouts keep a hung call inside the Lambda timeout.
CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"},
                       connect_timeout=10, read_timeout=60)
_clients: dict = {}
_session = None


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


def reset() -> None:
    """Forget cached clients (tests start each case with fresh ones)."""
    _clients.clear()
