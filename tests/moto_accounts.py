"""Sessions in other accounts for moto-backed tests."""
from __future__ import annotations


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
