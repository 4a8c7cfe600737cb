"""Remove the SageMaker endpoints, endpoint configs and models the deploy step created.

    python main.py teardown --env NAME [--region REGION] [--yes] [--no-wait]

Without --region it goes through every region the environment serves from: its region and each
stage's secondary regions (config `stages[].secondary_regions`).

They are not in Terraform state, so `cdktf destroy` leaves them running (and billing). Run this
first. Resources are found by the deploy step's tags (docs/interfaces.md: mlops:project,
mlops:environment, mlops:created-by=deploy-step), read with ListTags; a name is never enough.
They are looked for in the caller's own account (the tooling account) and in every stage account
of the environment, there as that account's teardown role (infra/teardown_role.py: AssumeRole
with the ExternalId <prefix>-teardown, session teardown-<env>-<time>, credentials checked to act
in that account), which trusts exactly the tooling account's provisioning role: run it with the
credentials `cdktf destroy` uses for the tooling stack.
Needs sagemaker:ListEndpoints, ListEndpointConfigs, ListModels, ListTags, DescribeEndpoint
(waiting) and DeleteEndpoint, DeleteEndpointConfig, DeleteModel on <prefix>-* resources, and
application-autoscaling:DescribeScalableTargets, DescribeScalingPolicies, DeleteScalingPolicy,
DeregisterScalableTarget for the endpoints' variants.
Without --yes it only lists what it would delete. With --yes it deletes the endpoints' scaling
policies and deregisters their variants (AWS: "Delete endpoints configured for auto scaling"),
then deletes endpoints, endpoint configs and models, and waits until the endpoints are gone
(unless --no-wait).

Exit status: 0 done (or nothing to do), 1 an AWS call failed, 2 bad input or no credentials.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import aws_clients
from lambda_deploy.deploy import (CREATED_BY_DEPLOY, TAG_CREATED_BY, TAG_ENVIRONMENT, TAG_PROJECT,
                                  TAG_STAGE)
from lambda_deploy.scaling import DIMENSION as SCALING_DIMENSION
from lambda_deploy.scaling import NAMESPACE as SCALING_NAMESPACE
from ops import refused
from pipeline_src.cli import print_error

# kind -> (list call, list key, name key, ARN key, delete call, delete parameter)
KINDS = {
    "endpoint": ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn",
                 "delete_endpoint", "EndpointName"),
    "endpoint-config": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
                        "EndpointConfigArn", "delete_endpoint_config", "EndpointConfigName"),
    "model": ("list_models", "Models", "ModelName", "ModelArn", "delete_model", "ModelName"),
}
DELETE_ORDER = ("endpoint", "endpoint-config", "model")
# A silent endpoint must not hang teardown: one call gives up within GIVE_UP_SECONDS
# (aws_clients.Limits.worst_case_seconds: every attempt timing out, backoff included).
LIMITS = aws_clients.Limits(connect_seconds=3, read_seconds=5, attempts=3)
GIVE_UP_SECONDS = 30


# Stage credentials last one run (AssumeRole's minimum), not longer.
TEARDOWN_SESSION_SECONDS = 900


class AwsCallFailed(Exception):
    """str() names the failing call and SageMaker's message."""


@dataclass(frozen=True)
class Found:
    kind: str
    name: str
    stage: str
    status: str = ""
    resource_id: str = ""  # scaling policies and scalable targets: the variant they scale


@dataclass(frozen=True)
class Place:
    """An account holding the environment's stages: the caller's own (role_arn None) or a stage
    account, entered as its teardown role."""

    account: str | None
    role_arn: str | None = None


def places(config) -> list[Place]:
    """The caller's own account, then each stage account (config `stages[].account_id`)."""
    from infra.environment import DeploymentTarget
    from infra.naming import Names
    from infra.teardown_role import TEARDOWN

    names = Names(config)
    return [Place(config.account_id), *(
        Place(account, DeploymentTarget(config, names, account).role_arn(TEARDOWN))
        for account in config.remote_accounts)]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        print(f"error: {message} (see python main.py teardown --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from pipeline_src.cli import option_help

    parser = _Parser(
        prog="python main.py teardown",
        description="List (default) or delete (--yes) the SageMaker endpoints, endpoint configs "
                    "and models the deploy step created for an environment. Run before "
                    "`cdktf destroy`.")
    parser.add_argument("--env", required=True, metavar="NAME", help=option_help(
        "environment whose deploy-step resources are listed or deleted (config/NAME.json; "
        "found by its ownership tags)", default="none, required", example="--env dev"))
    parser.add_argument("--region", metavar="REGION", help=option_help(
        "AWS region to look in", default="the environment's `region` and every stage's "
                                          "`secondary_regions`",
        example="--region us-east-1"))
    parser.add_argument("--yes", action="store_true", help=option_help(
        "really delete scaling, endpoints, endpoint configs and models, in that order",
        default="off: a dry run that lists them", example="--yes"))
    parser.add_argument("--no-wait", action="store_true", help=option_help(
        "return once deletions are requested, without waiting for endpoints to be gone",
        default="off: wait up to 30 min per endpoint", example="--yes --no-wait"))
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


class BadSetup(ValueError):
    """The AWS setup (region, profile, endpoint URL) cannot work; str() is one line (exit 2)."""


def base_session(region: str):
    """The caller's session in `region`; BadSetup (one line) when the setup cannot work."""
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    from infra.config import REGION_PATTERN

    if not REGION_PATTERN.fullmatch(region):
        raise BadSetup(f"--region {region!r}: not an AWS region name, e.g. eu-west-1")
    try:
        return aws_clients.new_session(region)
    except ProfileNotFound as exc:
        raise BadSetup(f"AWS profile {exc.kwargs.get('profile')!r} not found (AWS_PROFILE); "
                       "see `aws configure list-profiles`") from None
    except (BotoCoreError, ValueError) as exc:
        raise BadSetup(f"cannot set up an AWS session for {region}: {exc}") from None


def _client(session, service: str = "sagemaker", credentials=None):
    """A client for `service` (SageMaker, or Application Auto Scaling for the endpoints'
    scaling) with teardown's LIMITS."""
    from botocore.exceptions import BotoCoreError

    try:
        return aws_clients.client(service, session, limits=LIMITS, credentials=credentials)
    except (BotoCoreError, ValueError) as exc:
        # e.g. an AWS_ENDPOINT_URL that is not a URL.
        raise BadSetup(f"cannot set up a SageMaker client for {session.region_name}: "
                       f"{exc}") from None


def sagemaker_client(region: str, service: str = "sagemaker"):
    return _client(base_session(region), service)


def stage_credentials(session, place: Place, names, run_id: str) -> dict:
    """The teardown role's credentials in place's account (its trust requires the ExternalId;
    the session name shows in that account's CloudTrail)."""
    try:
        return aws_clients.assume_role(
            session, place.role_arn, external_id=names.teardown_external_id,
            name=aws_clients.session_name("teardown", run_id),
            seconds=TEARDOWN_SESSION_SECONDS, limits=LIMITS)
    except aws_clients.CallFailed as exc:
        raise _failed(f"{exc.call} {place.role_arn}", exc.cause) from None
    except aws_clients.WrongAccount as exc:
        raise AwsCallFailed(f"{exc}; refusing to act with its credentials") from None


def _failed(call: str, exc: Exception) -> AwsCallFailed:
    from botocore.exceptions import NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        raise exc
    return AwsCallFailed(aws_clients.describe(call, exc))


def _call(client, operation: str, **kwargs):
    try:
        return aws_clients.aws_call(client, operation, **kwargs)
    except aws_clients.CallFailed as exc:
        raise _failed(exc.call, exc.cause) from None


def _list(client, operation: str, key: str, **params) -> list:
    """Every item of a listing (botocore's paginator); a failure is AwsCallFailed."""
    try:
        return aws_clients.listing(client, operation, key, **params)
    except aws_clients.CallFailed as exc:
        raise _failed(exc.call, exc.cause) from None


def find_resources(client, project: str, environment: str) -> list[Found]:
    """Everything in the region carrying this environment's deploy-step tags.

    Listing is narrowed to names starting with the environment prefix only to bound the ListTags
    calls (IAM lets the deploy step create nothing else, and a stage account's teardown role
    reads no other tags); the tags alone decide what is ours.
    """
    prefix = f"{project}-{environment}"
    wanted = {TAG_PROJECT: project, TAG_ENVIRONMENT: environment,
              TAG_CREATED_BY: CREATED_BY_DEPLOY}
    found = []
    for kind in DELETE_ORDER:
        list_call, list_key, name_key, arn_key, _, _ = KINDS[kind]
        for item in _list(client, list_call, list_key, NameContains=prefix):
            if not item[name_key].startswith(f"{prefix}-"):
                continue  # the deploy step names everything <prefix>-...
            tags = _tags(client, item[arn_key])
            if all(tags.get(k) == v for k, v in wanted.items()):
                found.append(Found(kind, item[name_key], tags.get(TAG_STAGE, "?"),
                                   item.get("EndpointStatus", "")))
    return found


def find_scaling(autoscaling, endpoints: list[Found]) -> list[Found]:
    """Scaling policies, then scalable targets, of the found endpoints' variants."""
    stages = {f"endpoint/{e.name}/variant/": e.stage for e in endpoints if e.kind == "endpoint"}
    targets = [t["ResourceId"] for t in _list(
        autoscaling, "describe_scalable_targets", "ScalableTargets",
        ServiceNamespace=SCALING_NAMESPACE, ScalableDimension=SCALING_DIMENSION)
        if any(t["ResourceId"].startswith(p) for p in stages)] if stages else []
    found = []
    for resource_id in sorted(targets):
        stage = next(v for p, v in stages.items() if resource_id.startswith(p))
        found += [Found("scaling-policy", p["PolicyName"], stage, resource_id=resource_id)
                  for p in _list(autoscaling, "describe_scaling_policies", "ScalingPolicies",
                                 ServiceNamespace=SCALING_NAMESPACE, ResourceId=resource_id,
                                 ScalableDimension=SCALING_DIMENSION)]
    return found + [Found("scalable-target", r, next(v for p, v in stages.items()
                                                     if r.startswith(p))) for r in sorted(targets)]


def delete_scaling(autoscaling, found: list[Found], out) -> list[str]:
    """Policies first, then the targets (AWS's order); returns one error line per failure."""
    errors = []
    for item in found:
        where = {"ServiceNamespace": SCALING_NAMESPACE, "ScalableDimension": SCALING_DIMENSION}
        try:
            if item.kind == "scaling-policy":
                _call(autoscaling, "delete_scaling_policy", PolicyName=item.name,
                      ResourceId=item.resource_id, **where)
            elif item.kind == "scalable-target":
                _call(autoscaling, "deregister_scalable_target", ResourceId=item.name, **where)
            else:
                continue
            print(f"deleted  {item.kind:<16} {item.name}", file=out)
        except AwsCallFailed as exc:
            errors.append(f"{exc} ({item.name})")
    return errors


def _tags(client, arn: str) -> dict:
    return {t["Key"]: t["Value"] for t in _list(client, "list_tags", "Tags", ResourceArn=arn)}


def delete_resources(client, found: list[Found], wait: bool, out) -> list[str]:
    """Delete in dependency order; returns one error line per failed deletion."""
    from botocore.exceptions import WaiterError

    errors, deleted_endpoints = [], []
    for kind in DELETE_ORDER:
        _, _, _, _, delete_call, parameter = KINDS[kind]
        for item in (f for f in found if f.kind == kind):
            try:
                _call(client, delete_call, **{parameter: item.name})
                print(f"deleted  {kind:<16} {item.name}", file=out)
                if kind == "endpoint":
                    deleted_endpoints.append(item.name)
            except AwsCallFailed as exc:
                errors.append(f"{exc} ({item.name})")
    if wait and deleted_endpoints:
        print(f"waiting for {len(deleted_endpoints)} endpoint(s) to finish deleting...", file=out)
        for name in deleted_endpoints:
            try:
                client.get_waiter("endpoint_deleted").wait(
                    EndpointName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 120})
            except WaiterError as exc:
                errors.append(f"sagemaker DescribeEndpoint (waiting for {name} to be deleted) "
                              f"failed: {exc}")
    return errors


def main(argv: list[str]) -> int:
    try:
        args = _parse(argv)
    except SystemExit as exc:  # argparse already printed a one-line usage error
        return 0 if exc.code == 0 else 2
    from infra.config import ConfigError, load_environment

    try:
        config = load_environment(args.env)
    except ConfigError as exc:
        return refused(exc)
    # Every region the environment serves from (a stage's secondary regions too), unless one
    # is chosen.
    regions = [args.region] if args.region else list(dict.fromkeys(
        [config.region, *(r for s in config.stages for r in s.secondary_regions)]))

    from datetime import datetime, timezone

    from infra.naming import Names

    names = Names(config)
    run_id = f"{config.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    status = 0
    for region in regions:
        # A region that fails stops the run: its one-line error is the answer.
        status = teardown_region(config, names, run_id, region, args)
        if status:
            return status
    return status


def teardown_region(config, names, run_id: str, region: str, args) -> int:
    """List (and with --yes delete) the deploy step's resources of every account in one region;
    the exit status of that region."""
    from botocore.exceptions import NoCredentialsError

    label = f"environment {config.name} ({config.project}-{config.name}, {region})"
    try:
        session = base_session(region)
        # Per account: (place, sagemaker client, autoscaling client, scaling found, found).
        work = []
        for place in places(config):
            credentials = (stage_credentials(session, place, names, run_id)
                           if place.role_arn else {})
            client = _client(session, "sagemaker", credentials=credentials)
            autoscaling = _client(session, "application-autoscaling", credentials=credentials)
            found = find_resources(client, config.project, config.name)
            scaling = find_scaling(autoscaling, found)
            work.append((place, client, autoscaling, scaling, found))
        total = sum(len(scaling) + len(found) for _, _, _, scaling, found in work)
        if not total:
            print(f"nothing to delete: no deploy-step resources for {label}")
            return 0
        print(f"deploy-step resources for {label}:")
        for place, _, _, scaling, found in work:
            where = f", account {place.account}" if place.role_arn else ""
            for item in scaling + found:
                status = f", {item.status}" if item.status else ""
                print(f"  {item.kind:<16} {item.name}  (stage {item.stage}{status}{where})")
        if not args.yes:
            print(f"dry run: nothing deleted. Re-run with --yes to delete these {total} "
                  "resources.")
            return 0
        errors = []
        for place, client, autoscaling, scaling, found in work:
            # Scaling goes first: a scalable target outliving its endpoint would be left behind.
            errors += delete_scaling(autoscaling, scaling, out=sys.stdout)
            errors += delete_resources(client, scaling + found, wait=not args.no_wait,
                                       out=sys.stdout)
    except (BadSetup, NoCredentialsError) as exc:
        return refused(exc)
    except AwsCallFailed as exc:
        print_error(exc)
        return 1
    for line in errors:
        print_error(line)
    if errors:
        return 1
    print(f"deleted {total} resources for {label}")
    return 0
