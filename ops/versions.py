"""Which model version serves where: per stage and region, what each endpoint serves.

    python main.py versions --env NAME [--stage NAME] [--profile-for ACCOUNT=PROFILE ...]

The record is the endpoints' own configs: the deploy step tags every endpoint config it creates
with the model package ARN and version it serves (lambda_deploy/deploy.py, mlops:model-package-
arn and mlops:model-package-version), in every region of a stage. For each stage and each of its
regions (primary first) this reads the endpoint (DescribeEndpoint) and its config's tags
(ListTags) and prints one line; a region that serves another version than the stage's primary,
serves nothing, is not InService, or could not be read is flagged.

A stage in another account is read with credentials of that account: the caller's own when they
act there, else the profile given with --profile-for ACCOUNT=PROFILE. Needs
sagemaker:DescribeEndpoint and sagemaker:ListTags on the stages' endpoints and configs.

Exit status: 0 every region of every stage serves the same version, 3 a region is flagged,
1 an AWS call failed, 2 bad input or no credentials.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Optional

from lambda_deploy.deploy import TAG_PACKAGE_ARN, TAG_PACKAGE_VERSION
from ops import refused, stage_option
from pipeline_src.cli import Parser, UsageError, option_help, print_error

FLAGGED = 3


@dataclass(frozen=True)
class Serving:
    """What one stage's endpoint serves in one region."""

    stage: str
    region: str
    account: str
    status: str  # the endpoint's status, "absent", or why it was not read
    config: str = ""
    version: str = ""
    package_arn: str = ""
    flag: str = ""

    def line(self) -> str:
        served = f"v{self.version}" if self.version else "-"
        text = (f"{self.stage:<10} {self.region:<15} {self.account:<13} {self.status:<14} "
                f"{served:<8} {self.config or '-'}")
        return text + (f"  <- {self.flag}" if self.flag else "")


def build_parser() -> Parser:
    parser = Parser(prog="python main.py versions", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, metavar="NAME",
                        help=option_help("environment, config/NAME.json", default="required",
                                         example="--env prod"))
    parser.add_argument("--stage", metavar="NAME", help=option_help(
        "only this stage", default="every stage", example="--stage prod"))
    parser.add_argument("--profile-for", action="append", default=[], metavar="ACCOUNT=PROFILE",
                        help=option_help("AWS profile whose credentials act in ACCOUNT; "
                                         "repeatable", default="the caller's own credentials",
                                         example="--profile-for 333333333333=prod-readonly"))
    return parser


class AwsCallFailed(Exception):
    """str() names the failing call."""


def _profiles(pairs: list[str]) -> dict[str, str]:
    profiles = {}
    for pair in pairs:
        account, sep, profile = pair.partition("=")
        if not sep or not account.isdigit() or len(account) != 12 or not profile:
            raise UsageError(f"--profile-for {pair!r}: expected ACCOUNT=PROFILE, a 12-digit "
                             "account ID and a profile name")
        profiles[account] = profile
    return profiles


class Sessions:
    """A boto3 session per account: a named profile's, or the caller's own."""

    def __init__(self, profiles: dict[str, str]) -> None:
        import boto3

        self.profiles = profiles
        self.default = boto3.session.Session()
        self._own: Optional[str] = None
        self._sessions: dict[str, object] = {}

    def own_account(self) -> str:
        if self._own is None:
            import aws_clients

            self._own = _call(aws_clients.client("sts", self.default),
                              "get_caller_identity")["Account"]
        return self._own

    def for_account(self, account: Optional[str]):
        """The session acting in `account` (None: the caller's), or None when there is none."""
        import boto3
        from botocore.exceptions import ProfileNotFound

        if account in self.profiles:
            if account not in self._sessions:
                try:
                    self._sessions[account] = boto3.session.Session(
                        profile_name=self.profiles[account])
                except ProfileNotFound:
                    raise UsageError(f"--profile-for {account}={self.profiles[account]}: no "
                                     "such AWS profile") from None
            return self._sessions[account]
        if account is None or account == self.own_account():
            return self.default
        return None


def _call(client, operation: str, **kwargs):
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return getattr(client, operation)(**kwargs)
    except NoCredentialsError:
        raise
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException" and "not find" in error.get("Message", ""):
            return None
        raise AwsCallFailed(f"{client.meta.service_model.service_id}:{operation} in "
                            f"{client.meta.region_name}: {exc}") from None
    except BotoCoreError as exc:
        raise AwsCallFailed(f"{operation} in {client.meta.region_name}: {exc}") from None


def read_region(session, stage: str, region: str, account: str, endpoint: str) -> Serving:
    import aws_clients

    client = aws_clients.client("sagemaker", session, region=region)
    found = _call(client, "describe_endpoint", EndpointName=endpoint)
    if found is None:
        return Serving(stage, region, account, "absent")
    config = found.get("EndpointConfigName", "")
    arn = found["EndpointArn"].replace(":endpoint/", ":endpoint-config/").rsplit("/", 1)[0] \
        + f"/{config}"
    tags = {t["Key"]: t["Value"] for t in (_call(client, "list_tags", ResourceArn=arn) or {})
            .get("Tags", [])}
    return Serving(stage, region, account, found.get("EndpointStatus", "?"), config,
                   tags.get(TAG_PACKAGE_VERSION, ""), tags.get(TAG_PACKAGE_ARN, ""))


def flagged(rows: list[Serving]) -> list[Serving]:
    """The rows of one stage (primary first) with a flag where a region differs."""
    primary = rows[0]
    out = []
    for row in rows:
        flag = ""
        if row.status == "absent":
            flag = "no endpoint"
        elif not row.version:
            flag = row.flag or ("not read" if row.status.startswith("not read")
                                else "no version record on its config")
        elif row.status != "InService":
            flag = f"{row.status}"
        elif row is not primary and (row.version, row.package_arn) != (
                primary.version, primary.package_arn):
            flag = (f"differs: the primary ({primary.region}) serves "
                    f"v{primary.version or '?'}")
        out.append(Serving(**{**row.__dict__, "flag": flag}))
    return out


def collect(config, sessions: Sessions, only: Optional[str]) -> list[Serving]:
    from infra.naming import Names

    names, rows = Names(config), []
    for stage in config.stages:
        if only and stage.name != only:
            continue
        account = stage.account_id or config.account_id
        session = sessions.for_account(account)
        stage_rows = []
        for region in [stage.region or config.region, *stage.secondary_regions]:
            if session is None:
                stage_rows.append(Serving(
                    stage.name, region, account, "not read", flag=(
                        f"not read: no credentials for account {account} (the caller acts in "
                        f"{sessions.own_account()}; give --profile-for {account}=PROFILE)")))
                continue
            stage_rows.append(read_region(session, stage.name, region,
                                          account or sessions.own_account(),
                                          names.endpoint(stage.name)))
        rows += flagged(stage_rows)
    return rows


def main(argv: list[str]) -> int:
    from botocore.exceptions import NoCredentialsError

    from infra.config import ConfigError, load_environment

    try:
        args = build_parser().parse_args(argv)
        profiles = _profiles(args.profile_for)
        config = load_environment(args.env)
        if args.stage:
            stage_option(config, args.stage)
        rows = collect(config, Sessions(profiles), args.stage)
    except (ConfigError, UsageError, NoCredentialsError) as exc:
        return refused(exc)
    except AwsCallFailed as exc:
        print_error(exc)
        return 1
    print(f"{'stage':<10} {'region':<15} {'account':<13} {'status':<14} {'version':<8} config")
    for row in rows:
        print(row.line())
    bad = [r for r in rows if r.flag]
    if bad:
        print(f"{len(bad)} region(s) flagged: they do not serve what their stage's primary "
              "serves (see the arrows)")
        return FLAGGED
    print("every region of every stage serves its primary's version")
    return 0
