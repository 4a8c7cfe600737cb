"""`python main.py teardown --env prod` across accounts (config/prod.json: tooling 111111111111,
staging 222222222222, prod 333333333333), against moto, which keeps resources per account and
acts with an assumed role's credentials in the role's account
(https://docs.getmoto.org/en/latest/docs/multi_account.html).

Each stage account is entered as its teardown role (infra/teardown_role.py). The calls made there
are judged against that account's synthesized stack the way the other recorded calls are
(tests/iam/sufficiency.py: AWS's Service Authorization Reference, one-account evaluation, "Policy
evaluation logic"): every call allowed, every grant used; the trust (who may assume the role) is
judged across accounts in tests/infra/test_iam_cross_account.py.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from moto import mock_aws

from infra.config import load_environment
from infra.naming import Names
from ops import teardown
from tests import moto_accounts
from tests.iam import recorder

CONFIG = load_environment("prod")
NAMES = Names(CONFIG)
PREFIX = NAMES.prefix
TOOLING = CONFIG.account_id
STAGES = {s.name: s.account_id for s in CONFIG.stages}
REGION = CONFIG.region
REGIONS = list(dict.fromkeys([REGION, *(r for s in CONFIG.stages for r in s.secondary_regions)]))
SCALED = "sagemaker:variant:DesiredInstanceCount"


def acting_as(account: str, role: str, region: str = REGION):
    return moto_accounts.acting_as(account, role, region)


def tags(stage: str, environment: str = "prod", created_by: str = "deploy-step") -> list[dict]:
    return [{"Key": "mlops:project", "Value": "fraud-mlops"},
            {"Key": "mlops:environment", "Value": environment},
            {"Key": "mlops:stage", "Value": stage},
            {"Key": "mlops:created-by", "Value": created_by}]


def deployed(session, stage: str, name: str, resource_tags: list[dict], scaled: bool) -> None:
    """A model, config and endpoint as the deploy step leaves them (tags added with AddTags,
    which the IAM judgement reads resource tags from), optionally with its variant scaled."""
    sm = session.client("sagemaker")
    endpoint = f"{PREFIX}-{stage}" if name == "endpoint" else name
    config = f"{endpoint}-v1-abcdef12"
    arns = [sm.create_model(ModelName=config, PrimaryContainer={"Image": "img"},
                            ExecutionRoleArn=f"arn:aws:iam::{STAGES[stage]}:role/x")["ModelArn"],
            sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": config, "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1}])["EndpointConfigArn"],
            sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)["EndpointArn"]]
    for arn in arns:
        if resource_tags:
            sm.add_tags(ResourceArn=arn, Tags=resource_tags)
    if scaled:
        scaling = session.client("application-autoscaling")
        resource_id = f"endpoint/{endpoint}/variant/AllTraffic"
        scaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource_id,
                                         ScalableDimension=SCALED, MinCapacity=1, MaxCapacity=4)
        scaling.put_scaling_policy(
            PolicyName=f"{endpoint}-invocations-per-instance", ServiceNamespace="sagemaker",
            ResourceId=resource_id, ScalableDimension=SCALED, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 200.0, "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})


def inventory(account: str) -> tuple[list, list, list]:
    sm = acting_as(account, "auditor").client("sagemaker")
    return (sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
            sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
            sorted(m["ModelName"] for m in sm.list_models()["Models"]))


@contextmanager
def prod_accounts(monkeypatch):
    """Staging's and prod's accounts as the deploy step left them, and the operator's
    credentials: the tooling account's provisioning role (what `cdktf destroy` uses)."""
    moto_accounts.fake_credentials(monkeypatch, REGION)
    with mock_aws():
        for stage, account in STAGES.items():
            deployer = acting_as(account, NAMES.role("deployer"))
            # Both stages scaled: a variant registered for autoscaling outlives its endpoint.
            deployed(deployer, stage, "endpoint", tags(stage), scaled=True)
            # Not ours: hand-made with our prefix, another environment's, another creator's.
            deployed(deployer, stage, f"{PREFIX}-{stage}-manual", [], scaled=False)
            deployed(deployer, stage, f"fraud-mlops-dev-{stage}", tags(stage, "dev"), False)
            deployed(deployer, stage, f"{PREFIX}-{stage}-tool", tags(stage, created_by="tf"),
                     False)
            # The stage's secondary regions (prod's prod: eu-central-1) hold its endpoint too.
            for secondary in CONFIG.stage(stage).secondary_regions:
                deployed(acting_as(account, NAMES.role("deployer"), secondary), stage,
                         "endpoint", tags(stage), scaled=True)
        operator = acting_as(TOOLING, CONFIG.provisioning_role).get_credentials()
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", operator.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", operator.secret_key)
        monkeypatch.setenv("AWS_SESSION_TOKEN", operator.token)
        yield


@pytest.fixture
def accounts(monkeypatch):
    with prod_accounts(monkeypatch):
        yield


def test_each_stage_account_is_emptied_as_its_teardown_role(run):
    dry_run, deleted, before, after, calls = (run[k] for k in (
        "dry_run", "deleted", "before", "after", "calls"))
    for stage, account in STAGES.items():
        assert (f"endpoint         {PREFIX}-{stage}  (stage {stage}, InService, account "
                f"{account})") in dry_run
    assert "these 10 resources" in dry_run  # per stage: policy, target, endpoint, config, model
    assert "deleted 10 resources for environment prod" in deleted
    for stage, account in STAGES.items():
        assert before[account] != after[account]
        left = [f"{PREFIX}-{stage}-manual", f"{PREFIX}-{stage}-tool", f"fraud-mlops-dev-{stage}"]
        assert after[account] == (sorted(left), sorted(f"{n}-v1-abcdef12" for n in left),
                                  sorted(f"{n}-v1-abcdef12" for n in left))
    # Each stage account was entered once, as its teardown role, with the ExternalId and a
    # session name carrying the run; everything else acted in the stage accounts.
    assumed = [c["params"] for c in calls if c["operation"] == "AssumeRole"]
    # Once per region teardown goes through (prod also serves from a secondary region).
    assert [p["RoleArn"] for p in assumed] == [
        f"arn:aws:iam::{a}:role/{NAMES.role('teardown')}" for a in STAGES.values()] * len(
        REGIONS)
    secondary = REGIONS[1]
    assert (f"endpoint         {PREFIX}-prod  (stage prod, InService, account {STAGES['prod']})"
            in dry_run.split(f"{CONFIG.project}-{CONFIG.name}, {secondary}):")[1])
    assert f"deleted 5 resources for environment prod (fraud-mlops-prod, {secondary})" in deleted
    assert {p["ExternalId"] for p in assumed} == {NAMES.teardown_external_id}
    assert all(p["RoleSessionName"].startswith("teardown-prod-") for p in assumed)
    assert {c["account"] for c in calls} == set(STAGES.values()) | {TOOLING}
    # In the tooling account (the caller's own) only the listing, which found nothing.
    assert {c["operation"] for c in calls if c["account"] == TOOLING} == {
        "AssumeRole", "ListEndpoints", "ListEndpointConfigs", "ListModels"}


def test_a_teardown_role_that_acts_elsewhere_is_refused_before_any_call(accounts, monkeypatch,
                                                                       capsys):
    import botocore.client

    original = botocore.client.BaseClient._make_api_call
    stage_calls = []

    def elsewhere(client, operation, params):
        if operation == "GetCallerIdentity":
            return {"Account": "444444444444", "Arn": "arn:aws:sts::444444444444:assumed-role/x/y",
                    "UserId": "AROAEXAMPLE:y"}
        if operation.startswith(("Delete", "Deregister")):
            stage_calls.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", elsewhere)
    assert teardown.main(["--env", "prod", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: role arn:aws:iam::{STAGES['staging']}:role/{NAMES.role('teardown')} "
                   f"acts in account 444444444444, not in account {STAGES['staging']}; refusing "
                   "to act with its credentials\n")
    assert stage_calls == []


@pytest.fixture(scope="module")
def run():
    """prod's accounts as the deploy step left them; teardown's dry run, then --yes (each
    stage account's inventory before and after, and every call of the --yes run)."""
    import io
    from contextlib import redirect_stdout

    with pytest.MonkeyPatch.context() as monkeypatch, prod_accounts(monkeypatch):
        before = {account: inventory(account) for account in STAGES.values()}
        with redirect_stdout(io.StringIO()) as dry_run:
            assert teardown.main(["--env", "prod"]) == 0
        assert {account: inventory(account) for account in STAGES.values()} == before
        start = len(recorder.CALLS)
        with redirect_stdout(io.StringIO()) as deleted:
            assert teardown.main(["--env", "prod", "--yes"]) == 0
        calls = [c.to_json() for c in recorder.CALLS[start:]]
        tag_calls = [c.to_json() for c in recorder.CALLS[:start]
                     if c.operation == "AddTags" and c.account in STAGES.values()]
        after = {account: inventory(account) for account in STAGES.values()}
    return {"dry_run": dry_run.getvalue(), "deleted": deleted.getvalue(), "before": before,
            "after": after, "calls": calls, "tag_calls": tag_calls}


@pytest.fixture(scope="module")
def judged(stacks, run):
    """Each stage account's calls judged against that account's stack (teardown's calls there
    all act as its teardown role; the resources' tags come from the set-up's AddTags)."""
    from tests.iam.sufficiency import analyse
    from tests.iam.stack_model import StackModel

    results = {}
    for account in dict.fromkeys(STAGES.values()):
        inside = [{**c, "role": "teardown", "test": "teardown"} for c in run["calls"]
                  if c["account"] == account and c["operation"] != "GetCallerIdentity"]
        setup_tags = [{**c, "role": None, "test": "teardown"} for c in run["tag_calls"]
                      if c["account"] == account]
        model = StackModel(stacks[NAMES.target_stack(account)], account=account)
        results[account] = (inside, analyse(model, PREFIX, setup_tags + inside))
    return results


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_teardown_role_holds_what_teardown_needs_and_nothing_more(judged, stage):
    """Sufficient: every call teardown made in the account is allowed to its teardown role
    (GetCallerIdentity needs no permission: STS API Reference, GetCallerIdentity). Not excessive:
    every action and resource of the role's policy is used by one of them."""
    calls, analysis = judged[STAGES[stage]]
    assert analysis.errors == []
    arn = f"arn:aws:iam::{STAGES[stage]}:role/{NAMES.role('teardown')}"
    needs = [n for n in analysis.needs if n.principal == arn]
    assert {n.action for n in needs} == {
        "sagemaker:ListEndpoints", "sagemaker:ListEndpointConfigs", "sagemaker:ListModels",
        "sagemaker:ListTags", "sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteModel", "sagemaker:DescribeEndpoint",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
        # DeleteScalingPolicy's dependent actions (the target-tracking policy's alarms).
        "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"}
    assert analysis.missing(needs=needs) == []
    assert [e for e in analysis.excess() if e.startswith(NAMES.role("teardown") + " ")] == []


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_teardown_role_is_refused_what_teardown_must_not_do(judged, stage):
    """The same deletions of a resource without the environment's tags, or of another
    environment's, and any write teardown does not make, are refused."""
    from dataclasses import replace

    from tests.iam.authz import freeze_context

    _, analysis = judged[STAGES[stage]]
    arn = f"arn:aws:iam::{STAGES[stage]}:role/{NAMES.role('teardown')}"
    deletes = [n for n in analysis.needs if n.principal == arn
               and n.action.startswith("sagemaker:Delete")]
    assert deletes
    variants = []
    for need in deletes:
        untagged = {k: v for k, v in dict(need.context).items()
                    if not k.startswith("aws:ResourceTag/")}
        variants.append(replace(need, context=freeze_context(untagged)))
        variants.append(replace(need, resource=need.resource.replace(PREFIX, "fraud-mlops-dev")))
        variants.append(replace(need, action="sagemaker:UpdateEndpoint"))
    allowed = [v.describe() for v in variants if analysis.decide(v).allowed]
    assert allowed == []
