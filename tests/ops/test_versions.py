"""`python main.py versions`: which version serves where, per stage and region, from the
endpoint configs' own tags, against moto holding config/prod.json's accounts and regions (moto
keeps resources per account and region; credentials from AssumeRole act in the role's account:
https://docs.getmoto.org/en/latest/docs/multi_account.html). Each stage account is read with a
named profile, as a user would (--profile-for ACCOUNT=PROFILE)."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from lambda_deploy.deploy import TAG_PACKAGE_ARN, TAG_PACKAGE_VERSION
from ops import versions
from tests.moto_accounts import fake_credentials

STAGING, PROD = "222222222222", "333333333333"
PRIMARY, SECONDARY = "eu-west-1", "eu-central-1"
GROUP_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/fraud-mlops-prod-models"


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """Two stage accounts, each with a profile in a credentials file of its own."""
    fake_credentials(monkeypatch, PRIMARY)
    with mock_aws():
        lines = []
        for account in (STAGING, PROD):
            keys = boto3.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/reader", RoleSessionName="versions")[
                "Credentials"]
            lines += [f"[stage{account}]", f"aws_access_key_id = {keys['AccessKeyId']}",
                      f"aws_secret_access_key = {keys['SecretAccessKey']}",
                      f"aws_session_token = {keys['SessionToken']}"]
        credentials = tmp_path / "credentials"
        credentials.write_text("\n".join(lines) + "\n")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
        yield


def serve(account: str, region: str, stage: str, version: int) -> None:
    """What the deploy step leaves: a config tagged with the package, the endpoint on it."""
    sm = boto3.session.Session(profile_name=f"stage{account}").client(
        "sagemaker", region_name=region)
    name = f"fraud-mlops-prod-{stage}-v{version}-a1b2c3d4"
    sm.create_model(ModelName=name, ExecutionRoleArn=f"arn:aws:iam::{account}:role/x",
                    PrimaryContainer={"Image": "image:tag"})
    sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1}],
        Tags=[{"Key": TAG_PACKAGE_ARN, "Value": f"{GROUP_ARN}/{version}"},
              {"Key": TAG_PACKAGE_VERSION, "Value": str(version)}])
    sm.create_endpoint(EndpointName=f"fraud-mlops-prod-{stage}", EndpointConfigName=name)


PROFILES = ["--profile-for", f"{STAGING}=stage{STAGING}", "--profile-for", f"{PROD}=stage{PROD}"]


def run(capsys, *extra: str) -> tuple[int, list[str], str]:
    code = versions.main(["--env", "prod", *PROFILES, *extra])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_a_region_serving_another_version_is_flagged(aws, capsys):
    serve(STAGING, PRIMARY, "staging", 7)
    serve(PROD, PRIMARY, "prod", 7)
    serve(PROD, SECONDARY, "prod", 6)

    code, lines, _ = run(capsys)

    assert code == versions.FLAGGED
    staging, primary, secondary = lines[1:4]
    assert staging.split()[:5] == ["staging", PRIMARY, STAGING, "InService", "v7"]
    assert primary.split()[:6] == ["prod", PRIMARY, PROD, "InService", "v7",
                                   "fraud-mlops-prod-prod-v7-a1b2c3d4"]
    assert "<-" not in staging and "<-" not in primary
    assert secondary.split()[:5] == ["prod", SECONDARY, PROD, "InService", "v6"]
    assert secondary.endswith(f"<- differs: the primary ({PRIMARY}) serves v7")


def test_every_region_on_the_primarys_version_exits_0(aws, capsys):
    serve(STAGING, PRIMARY, "staging", 7)
    serve(PROD, PRIMARY, "prod", 7)
    serve(PROD, SECONDARY, "prod", 7)

    code, lines, _ = run(capsys, "--stage", "prod")

    assert code == 0, lines
    assert [line.split()[:2] for line in lines[1:3]] == [["prod", PRIMARY], ["prod", SECONDARY]]
    assert lines[-1] == "every region of every stage serves its primary's version"


def test_a_missing_endpoint_and_an_unreadable_account_are_flagged(aws, capsys):
    serve(PROD, PRIMARY, "prod", 7)

    code = versions.main(["--env", "prod", "--profile-for", f"{PROD}=stage{PROD}"])
    lines = capsys.readouterr().out.splitlines()

    assert code == versions.FLAGGED
    assert lines[1].endswith(f"<- not read: no credentials for account {STAGING} (the caller "
                             f"acts in 123456789012; give --profile-for {STAGING}=PROFILE)")
    assert lines[3].split()[:4] == ["prod", SECONDARY, PROD, "absent"]
    assert lines[3].endswith("<- no endpoint")


@pytest.mark.parametrize("argv, expected", [
    (["--env", "prod", "--profile-for", "333=x"], "error: --profile-for '333=x': expected "
                                                  "ACCOUNT=PROFILE"),
    (["--env", "prod", "--stage", "qa"], "error: --stage 'qa': no such stage in "
                                         "config/prod.json; stages: staging, prod"),
    (["--env", "nope"], "error: environment 'nope': no such environment"),
])
def test_bad_input_is_one_line_and_exit_2(argv, expected, capsys):
    assert versions.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1
