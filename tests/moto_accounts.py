"""Credentials and sessions in other accounts for moto-backed tests."""
from __future__ import annotations


def fake_credentials(monkeypatch, region: str | None = None) -> None:
    """Fake credentials in the environment, and no profile, so a test can never reach a real
    account (moto's "How do I avoid tests from mutating my real infrastructure?",
    https://docs.getmoto.org/en/latest/docs/getting_started.html); region: the default one."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    if region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)


def acting_as(account: str, role_name: str, region: str):
    """A boto3 session as `role_name` in `account`: moto answers AssumeRole for any role ARN and
    acts with the credentials in the role's account
    (https://docs.getmoto.org/en/latest/docs/multi_account.html)."""
    import boto3

    sts = boto3.client("sts", region_name=region)
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role_name}",
                                  RoleSessionName="test")["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"],
                                 region_name=region)
