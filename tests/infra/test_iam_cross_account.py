"""The multi-account example (config/prod.json): every request that crosses an account boundary,
judged the way AWS does.

AWS's "Cross-account policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_evaluation-logic-cross-account.html): the caller's identity policy (in its
account) AND the resource's policy (in the other account: the role's trust policy for
AssumeRole, the model package group's, the bucket's, the key's) must both allow; an explicit deny
in either wins (tests/iam/evaluator.py, evaluate_cross_account). The requests are the ones the
deploy step makes through the deployer roles (tests/lambda_deploy/test_deploy_cross_account.py)
and the ones SageMaker makes as a stage account's serving role to load the model
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html: the execution role reads
the model artifacts in S3, decrypting them with their KMS key). Each is checked allowed for
exactly its principal and refused for the others, so a statement too broad or missing fails.
Inside a stage account, the deployer's and serving role's policies are judged from the calls the
deploy tests made there with prod's names (sufficient, nothing unused but what those calls cannot
reach, each used statement needed); the deployer's policy is also the same code as the dev deploy
function's endpoint statements (infra/deploy_function.py endpoint_grants), whose every statement
dev's recorded calls judge; test_deployer_policy_is_the_proven_endpoint_grants checks they match.
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from infra.config import load_environment
from infra.naming import Names
from tests.iam.evaluator import (Policy, Principal, Request, evaluate_cross_account,
                                 trust_as_resource_policy)
from tests.iam.authz import freeze_context
from tests.iam.stack_model import StackModel

CONFIG = load_environment("prod")
NAMES = Names(CONFIG)
TOOLING = CONFIG.account_id
STAGES = {s.name: s.account_id for s in CONFIG.stages}
REGION = CONFIG.region
PREFIX = NAMES.prefix
EXTERNAL_ID = NAMES.deployer_external_id
OTHER_ACCOUNT = "444444444444"


def role(account: str, purpose: str) -> str:
    return f"arn:aws:iam::{account}:role/{PREFIX}-{purpose}"


@pytest.fixture(scope="module")
def models(stacks):
    tooling = StackModel(stacks[NAMES.stack], account=TOOLING)
    accounts = {account: StackModel(stacks[NAMES.target_stack(account)], account=account)
                for account in set(STAGES.values())}
    return tooling, accounts


def identity(model: StackModel, arn: str) -> list[Policy]:
    found = model.role_by_arn(arn)
    return list(found.policies) if found else []  # a role of no stack here has no grants


def principal(arn: str) -> Principal:
    return Principal(arn=arn, account=arn.split(":")[4])


def assume(models, caller: str, account: str, external_id=EXTERNAL_ID):
    tooling, accounts = models
    deployer = role(account, "deployer")
    target = accounts[account].role_by_arn(deployer)
    caller_model = tooling if caller.split(":")[4] == TOOLING else accounts.get(
        caller.split(":")[4], tooling)
    context = {"aws:PrincipalArn": caller}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    return evaluate_cross_account(
        Request(principal(caller), "sts:AssumeRole", deployer, context),
        identity=identity(caller_model, caller),
        resource=[trust_as_resource_policy(deployer, target.trust)])


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_only_the_tooling_deploy_function_assumes_a_stage_deployer_with_the_external_id(
        models, stage):
    account = STAGES[stage]
    deploy_function = role(TOOLING, "deploy-lambda")
    assert assume(models, deploy_function, account).allowed
    # Without, or with another, ExternalId: refused by the trust policy.
    assert not assume(models, deploy_function, account, external_id=None).allowed
    assert not assume(models, deploy_function, account, external_id="guess").allowed
    # Any other role of the tooling account (the jobs a data scientist's code runs as).
    for purpose in ("codebuild-train", "codebuild-test", "sagemaker-training",
                    "codebuild-monitor", "codepipeline", "codepipeline-pr", "retrain-lambda"):
        decision = assume(models, role(TOOLING, purpose), account)
        assert not decision.allowed, (purpose, decision.reason)
    # A role of the same name in an account the environment does not name.
    assert not assume(models, role(OTHER_ACCOUNT, "deploy-lambda"), account).allowed


def test_the_deploy_function_assumes_only_its_stage_deployers(models):
    tooling, _ = models
    deploy_function = role(TOOLING, "deploy-lambda")
    policies = identity(tooling, deploy_function)
    allowed = {stmt["Resource"] if isinstance(stmt["Resource"], str) else tuple(stmt["Resource"])
               for p in policies for stmt in p.statements
               if "sts:AssumeRole" in stmt["Action"]}
    assert allowed == {tuple(role(a, "deployer") for a in dict.fromkeys(STAGES.values()))}
    # Nothing in the function's own policy touches a SageMaker endpoint any more: every
    # endpoint is in a stage account, reached as its deployer.
    actions = {a for p in policies for stmt in p.statements for a in stmt["Action"]}
    assert not {a for a in actions if a.startswith("sagemaker:") and "Endpoint" in a}


def package_request(caller: str, action: str, resource: str) -> Request:
    return Request(principal(caller), action, resource, {"aws:PrincipalArn": caller})


@pytest.mark.parametrize("stage", sorted(STAGES))
@pytest.mark.parametrize("action", ["sagemaker:CreateModel", "sagemaker:DescribeModelPackage"])
def test_a_stage_deployer_uses_the_tooling_registrys_packages(models, stage, action):
    tooling, accounts = models
    account = STAGES[stage]
    group_policy = Policy.of("group policy", json.loads(tooling.resolve(next(iter(
        tooling.all_of("aws_sagemaker_model_package_group_policy").values()))[
        "resource_policy"])))
    package = (f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/"
               f"{NAMES.model_package_group}/7")

    def decide(caller):
        return evaluate_cross_account(package_request(caller, action, package),
                                      identity=identity(accounts.get(caller.split(":")[4],
                                                                     tooling), caller),
                                      resource=[group_policy])

    assert decide(role(account, "deployer")).allowed
    # The stage's serving role, and a deployer of an account the environment does not name.
    assert not decide(role(account, "sagemaker-serving")).allowed
    assert not decide(role(OTHER_ACCOUNT, "deployer")).allowed
    # Another group's packages of the tooling account.
    other = package.replace(NAMES.model_package_group, "someone-elses-models")
    assert not evaluate_cross_account(
        package_request(role(account, "deployer"), action, other),
        identity=identity(accounts[account], role(account, "deployer")),
        resource=[group_policy]).allowed


def tooling_key(tooling) -> tuple:
    """The tooling stack's key in its own region (a secondary region's network has its own key
    for its flow logs)."""
    (key,) = [(arn, policy) for arn, policy in tooling.key_policies.items()
              if arn.split(":")[3] == REGION]
    return key


def artifact_requests(models, account: str, caller: str):
    """What SageMaker does as the model's execution role to load it: GetObject of the model
    artifact, and Decrypt of it through S3 (Bucket Key: the context is the bucket ARN)."""
    tooling, accounts = models
    bucket = NAMES.artifact_bucket(TOOLING)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    key_arn, key_policy = tooling_key(tooling)
    caller_identity = identity(accounts.get(caller.split(":")[4], tooling), caller)
    get = evaluate_cross_account(
        Request(principal(caller), "s3:GetObject",
                f"{bucket_arn}/training/{PREFIX}-20261122T024900-abcdef12/output/model.tar.gz",
                {"aws:PrincipalArn": caller, "aws:SecureTransport": "true"}),
        identity=caller_identity, resource=[tooling.bucket_policies[bucket_arn]])
    decrypt = evaluate_cross_account(
        Request(principal(caller), "kms:Decrypt", key_arn,
                {"aws:PrincipalArn": caller,
                 "kms:ViaService": f"s3.{REGION}.amazonaws.com",
                 "kms:EncryptionContext:aws:s3:arn": bucket_arn}),
        identity=caller_identity, key_policy=key_policy)
    return get, decrypt


# Accounts whose stages serve from secondary regions: their deployer copies the model artifacts
# there (lambda_deploy/regions.py), so it reads them too.
COPYING = {account for account, _ in CONFIG.secondary_placements}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_only_a_stage_serving_role_reads_the_model_artifacts(models, stage):
    account = STAGES[stage]
    get, decrypt = artifact_requests(models, account, role(account, "sagemaker-serving"))
    assert get.allowed, get.reason
    assert decrypt.allowed, decrypt.reason
    get, decrypt = artifact_requests(models, account, role(account, "deployer"))
    assert (get.allowed, decrypt.allowed) == ((account in COPYING,) * 2), (get, decrypt)
    get, decrypt = artifact_requests(models, account, role(OTHER_ACCOUNT, "sagemaker-serving"))
    assert not get.allowed and not decrypt.allowed


def test_the_tooling_key_decrypts_for_a_stage_only_through_s3_of_its_bucket(models):
    tooling, accounts = models
    account = STAGES["prod"]
    caller = role(account, "sagemaker-serving")
    key_arn, key_policy = tooling_key(tooling)
    bucket_arn = f"arn:aws:s3:::{NAMES.artifact_bucket(TOOLING)}"
    for context in ({"kms:ViaService": f"s3.{REGION}.amazonaws.com",
                     "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::another-bucket"},
                    {"kms:EncryptionContext:aws:s3:arn": bucket_arn},
                    {"kms:ViaService": f"sns.{REGION}.amazonaws.com",
                     "kms:EncryptionContext:aws:s3:arn": bucket_arn}):
        decision = evaluate_cross_account(
            Request(principal(caller), "kms:Decrypt", key_arn,
                    {"aws:PrincipalArn": caller, **context}),
            identity=identity(accounts[account], caller), key_policy=key_policy)
        assert not decision.allowed, context


def region_sid(region: str) -> str:
    from infra.stage_region import region_sid as sid

    return sid(region)


def endpoint_statements(policies, drop_sids=()) -> list[str]:
    return sorted(json.dumps({k: v for k, v in stmt.items()}, sort_keys=True)
                  for p in policies for stmt in p.statements if stmt.get("Sid") not in drop_sids)


def test_deployer_policy_is_the_proven_endpoint_grants(stacks):
    """The deployer's statements are the dev deploy function's endpoint statements (whose
    sufficiency and excess the recorded calls judge), for its stages in its account."""
    from infra.deploy_function import endpoint_grants
    from infra.environment import DeploymentTarget

    dev = load_environment("dev")
    dev_names = Names(dev)
    function_only = {"WriteOwnLogs", "ReadModelPackages", "ClaimJobs", "EncryptWithProjectKey",
                     "ReplyToCodePipeline", "WriteTraces",
                     # Experiment state lives in the tooling account's artifact bucket.
                     "KeepExperimentState", "FindExperiments", "ReadExperimentState",
                     # A live phase's alarms: a stage deployer's only where one of its stages
                     # has one (none in config/prod.json).
                     "ManageLiveExperimentAlarms"}
    dev_model = StackModel(stacks[dev_names.stack])
    dev_sids = {stmt["Sid"] for p in identity(dev_model, dev_model.roles[
        dev_names.role("deploy-lambda")].arn) for stmt in p.statements} - function_only
    for account in dict.fromkeys(STAGES.values()):
        model = StackModel(stacks[NAMES.target_stack(account)], account=account)
        deployer = model.roles[NAMES.role("deployer")]
        sids = [stmt["Sid"] for p in deployer.policies for stmt in p.statements]
        mine = [s for s, a in STAGES.items() if a == account]
        # Only an account with an autoscaled stage updates endpoint weights and capacities and
        # registers scaling (which may create the service-linked role).
        scaled = any(CONFIG.stage(s).autoscaling for s in mine)
        # A secondary region adds the region's endpoint statements (the same grants with that
        # region's ARNs, infra/stage_region.py) and the artifact copy.
        regional = {f"{sid}{region_sid(region)}" for a, region in CONFIG.secondary_placements
                    if a == account for sid in (
                        "DescribeOwnModelsConfigsEndpoints", "CreateTaggedModelsConfigsEndpoints",
                        "UpdateAndCallOwnEndpoints", "ManageTargetTrackingAlarms",
                        "CleanUpOwnModelsAndConfigs", "ReadTagsForCleanup", "ReadRollbackAlarms",
                        "GrantKeyToSageMakerResources", "CopyModelArtifacts",
                        "EncryptModelCopies", *(["ScaleOwnEndpoints"] if scaled else []))}
        copying = {"ReadToolingModelArtifacts", "DecryptToolingModelArtifacts"} \
            if account in COPYING else set()
        # A stage in subnets (stages[].network) creates its models by its own statement, per
        # region, conditioned on its VpcConfig (infra/deploy_function.py model_creation_grants).
        subnets = {f"CreateTaggedModelsInSubnets{s.title()}{region_sid(r) if r else ''}"
                   for s in mine if CONFIG.stage(s).network
                   for r in (None, *CONFIG.stage(s).secondary_regions)}
        unscaled = {"ScaleOwnEndpoints", "CreateAutoscalingServiceLinkedRole"}
        assert set(sids) == (dev_sids - (unscaled if not scaled else set())
                             | {"UseToolingModelPackages"} | regional | copying | subnets)
        assert len(sids) == len(set(sids))
        # Scoped to its own stages' endpoints in its own account.
        text = json.dumps([p.statements for p in deployer.policies])
        for stage, where in STAGES.items():
            assert (f":{account}:endpoint/{NAMES.endpoint(stage)}\"" in text) == (stage in mine)
        assert f":{TOOLING}:endpoint" not in text
        assert DeploymentTarget  # imported for the reader: endpoint_grants builds both
        assert endpoint_grants


# An identity policy that allows everything: what an administrator of an account could give any
# of its roles. The resource side alone must still refuse whoever it does not name.
ALLOW_ALL = [Policy("allow-all", ({"Sid": "All", "Effect": "Allow", "Action": "*",
                                   "Resource": "*"},))]


def trust_decides(model: StackModel, target: str, caller: str, external_id):
    """AssumeRole of `target` by `caller` (with `external_id`, or none) with an allow-everything
    identity: the role's trust policy alone decides."""
    trust = trust_as_resource_policy(target, model.role_by_arn(target).trust)
    context = {"aws:PrincipalArn": caller}
    if external_id:
        context["sts:ExternalId"] = external_id
    return evaluate_cross_account(Request(principal(caller), "sts:AssumeRole", target, context),
                                  identity=ALLOW_ALL, resource=[trust])


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_resource_side_alone_admits_only_the_named_roles(models, stage):
    tooling, accounts = models
    account = STAGES[stage]
    deployer = role(account, "deployer")

    def assume_as_admin(caller, external_id=EXTERNAL_ID):
        return trust_decides(accounts[account], deployer, caller, external_id)

    assert assume_as_admin(role(TOOLING, "deploy-lambda")).allowed
    assert not assume_as_admin(role(TOOLING, "deploy-lambda"), external_id=None).allowed
    assert not assume_as_admin(role(TOOLING, "codebuild-train")).allowed

    group_policy = Policy.of("group policy", json.loads(tooling.resolve(next(iter(
        tooling.all_of("aws_sagemaker_model_package_group_policy").values()))[
        "resource_policy"])))
    package = (f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/"
               f"{NAMES.model_package_group}/7")
    for caller, expected in ((deployer, True), (role(account, "sagemaker-serving"), False),
                             (role(account, "admin"), False)):
        decision = evaluate_cross_account(package_request(caller, "sagemaker:CreateModel",
                                                          package),
                                          identity=ALLOW_ALL, resource=[group_policy])
        assert decision.allowed is expected, (caller, decision.reason)

    bucket_arn = f"arn:aws:s3:::{NAMES.artifact_bucket(TOOLING)}"
    key_arn, key_policy = tooling_key(tooling)
    for caller, expected in ((role(account, "sagemaker-serving"), True),
                             (deployer, account in COPYING), (role(account, "admin"), False)):
        get = evaluate_cross_account(
            Request(principal(caller), "s3:GetObject", f"{bucket_arn}/training/j/output/m.tgz",
                    {"aws:PrincipalArn": caller, "aws:SecureTransport": "true"}),
            identity=ALLOW_ALL, resource=[tooling.bucket_policies[bucket_arn]])
        data = evaluate_cross_account(
            Request(principal(caller), "s3:GetObject", f"{bucket_arn}/data/train.csv",
                    {"aws:PrincipalArn": caller, "aws:SecureTransport": "true"}),
            identity=ALLOW_ALL, resource=[tooling.bucket_policies[bucket_arn]])
        decrypt = evaluate_cross_account(
            Request(principal(caller), "kms:Decrypt", key_arn,
                    {"aws:PrincipalArn": caller, "kms:ViaService": f"s3.{REGION}.amazonaws.com",
                     "kms:EncryptionContext:aws:s3:arn": bucket_arn}),
            identity=ALLOW_ALL, key_policy=key_policy)
        assert (get.allowed, decrypt.allowed) == (expected, expected), caller
        assert not data.allowed, caller  # only model artifacts, never the data set


# --- the monitor job in the stage accounts -------------------------------------------------------
# The monitor job (tooling) reads each stage's endpoint chain and data capture as that account's
# monitor reader role (infra/monitoring.py MonitorReader). The calls it makes are the ones recorded
# by tests/pipeline_src/jobs/test_monitor_cross_account.py (moto, prod's accounts and names).
MONITOR_EXTERNAL_ID = NAMES.monitor_external_id
MONITOR_TEST = "tests/pipeline_src/jobs/test_monitor_cross_account.py"


def assume_reader(models, caller: str, account: str, external_id=MONITOR_EXTERNAL_ID,
                  identity_of=None):
    tooling, accounts = models
    reader = role(account, "monitor-reader")
    target = accounts[account].role_by_arn(reader)
    context = {"aws:PrincipalArn": caller}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    caller_model = tooling if caller.split(":")[4] == TOOLING else accounts.get(
        caller.split(":")[4], tooling)
    return evaluate_cross_account(
        Request(principal(caller), "sts:AssumeRole", reader, context),
        identity=identity(caller_model, caller) if identity_of is None else identity_of,
        resource=[trust_as_resource_policy(reader, target.trust)])


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_only_the_tooling_monitor_job_assumes_a_stage_reader_with_its_external_id(models, stage):
    account = STAGES[stage]
    monitor = role(TOOLING, "codebuild-monitor")
    assert assume_reader(models, monitor, account).allowed
    for external_id in (None, "guess", EXTERNAL_ID):  # the deployers' ExternalId is not it
        assert not assume_reader(models, monitor, account, external_id).allowed, external_id
    for purpose in ("deploy-lambda", "codebuild-train", "codebuild-test", "sagemaker-training",
                    "codepipeline", "monitor-schedule"):
        decision = assume_reader(models, role(TOOLING, purpose), account)
        assert not decision.allowed, (purpose, decision.reason)
    assert not assume_reader(models, role(OTHER_ACCOUNT, "codebuild-monitor"), account).allowed
    # The resource side alone (an administrator's allow-everything identity): only that role.
    assert assume_reader(models, monitor, account, identity_of=ALLOW_ALL).allowed
    assert not assume_reader(models, monitor, account, None, identity_of=ALLOW_ALL).allowed
    for caller in (role(TOOLING, "deploy-lambda"), role(account, "deployer"),
                   role(OTHER_ACCOUNT, "codebuild-monitor")):
        assert not assume_reader(models, caller, account, identity_of=ALLOW_ALL).allowed, caller
    # And the monitor job cannot act as a deployer.
    assert not assume(models, monitor, account, external_id=MONITOR_EXTERNAL_ID).allowed


def test_the_monitor_job_assumes_only_the_stage_readers(models):
    tooling, _ = models
    policies = identity(tooling, role(TOOLING, "codebuild-monitor"))
    assumable = [stmt["Resource"] for p in policies for stmt in p.statements
                 if "sts:AssumeRole" in stmt["Action"]]
    assert assumable == [[role(a, "monitor-reader") for a in dict.fromkeys(STAGES.values())]]


@pytest.fixture(scope="module")
def monitor_calls(recorded_calls):
    calls = [c for c in recorded_calls if c["test"].startswith(MONITOR_TEST + "::") and c["role"]]
    assert calls, f"no recorded calls of {MONITOR_TEST}"
    return calls


def account_analysis(stacks, calls, account):
    """The recorded calls that acted in `account`, judged against that account's stack: a
    one-account decision (IAM User Guide, "Policy evaluation logic"). AssumeRole crosses
    accounts (judged above); GetCallerIdentity needs no permission (STS API Reference,
    GetCallerIdentity: "No permissions are required to perform this operation")."""
    from tests.iam.sufficiency import analyse

    stack = stacks[NAMES.stack if account == TOOLING else NAMES.target_stack(account)]
    inside = [c for c in calls if c["account"] == account
              and c["operation"] not in ("AssumeRole", "GetCallerIdentity")]
    return analyse(StackModel(stack, account=account), PREFIX, inside)


def role_findings(analysis, arn: str):
    needs = [n for n in analysis.needs if n.principal == arn]
    name = arn.rsplit("/", 1)[1]
    excess = [e for e in analysis.excess() if e.startswith(name + " ")]
    return needs, analysis.missing(needs=needs), excess


def reader_analysis(stacks, calls, account):
    """account_analysis, with the capture read in a secondary region's bucket decrypted by that
    region's key (with_regional_keys)."""
    return with_regional_keys(stacks, account_analysis(stacks, calls, account), account)


@pytest.mark.iam_recorded_calls
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_reader_holds_what_the_monitors_calls_need_and_nothing_more(stacks, monitor_calls,
                                                                       stage):
    """Sufficient: every call the monitor made in the stage's account as its reader, in every
    region the stage serves from, is allowed there (a secondary region's capture by that
    region's key). Not excessive: every action and resource of the reader's policy is used by
    one. Each used statement is needed: without it, one of those calls is refused."""
    account = STAGES[stage]
    analysis, secondary = reader_analysis(stacks, monitor_calls, account)
    assert analysis.errors == []
    reader = role(account, "monitor-reader")
    needs, _, excess = role_findings(analysis, reader)
    regions = (REGION, *CONFIG.stage(stage).secondary_regions)
    assert {(n.action, n.resource.split(":")[3]) for n in needs} == {
        (action, region) for region in regions for action in (
            "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
            "sagemaker:DescribeModel", "kms:Decrypt")} | {
        ("s3:ListBucket", ""), ("s3:GetObject", "")} | {
        ("sagemaker:ListTags", r) for r in regions[1:]}
    assert refused(analysis, secondary, reader) == []
    assert excess == []
    (policy,) = analysis.model.role_by_arn(reader).policies
    for index, stmt in enumerate(policy.statements):
        assert refused(analysis, secondary, reader, drop=(policy.name, index)), stmt["Sid"]
    # Every call the monitor made in the staging account (but the credentials check) was made
    # as the reader.
    assert {c["role"] for c in monitor_calls if c["account"] == account
            and c["operation"] != "GetCallerIdentity"} == {"monitor-reader"}


@pytest.mark.iam_recorded_calls
def test_the_reader_is_refused_what_it_does_not_need(stacks, monitor_calls):
    """The same needs on what the monitor must not touch are refused: another stage's endpoint,
    updating or invoking the endpoint, writing capture, objects outside capture, the key through
    another service."""
    account = STAGES["staging"]
    analysis = account_analysis(stacks, monitor_calls, account)
    reader = role(account, "monitor-reader")
    needs, _, _ = role_findings(analysis, reader)
    other = NAMES.endpoint("prod")

    def variants(need):
        yield replace(need, resource=need.resource.replace(NAMES.endpoint("staging"), other))
        if need.action == "sagemaker:DescribeEndpoint":
            yield replace(need, action="sagemaker:UpdateEndpoint")
            yield replace(need, action="sagemaker:InvokeEndpoint")
        if need.action == "s3:GetObject":
            yield replace(need, action="s3:PutObject")
            yield replace(need, resource=need.resource.replace("data-capture/", "data/"))
        if need.action == "kms:Decrypt":
            yield replace(need, context=freeze_context({"kms:ViaService":
                                                        f"sns.{REGION}.amazonaws.com"}))
            yield replace(need, action="kms:GenerateDataKey")
        if need.action == "s3:ListBucket":
            yield replace(need, context=freeze_context({"s3:prefix": "data/"}))

    changed = [v for n in needs for v in variants(n) if v != n]
    assert len(changed) >= len(needs)
    allowed = [v.describe() for v in changed if analysis.decide(v).allowed]
    assert allowed == []


@pytest.mark.iam_recorded_calls
def test_the_tooling_monitor_role_holds_what_its_calls_need_and_nothing_more(stacks,
                                                                           monitor_calls):
    """The monitor's own calls in the tooling account (registry, training data, model, labels,
    reports, metrics) against prod's tooling stack; its AssumeRole statement is the one judged
    across accounts above."""
    analysis = account_analysis(stacks, monitor_calls, TOOLING)
    assert analysis.errors == []
    needs, missing, excess = role_findings(analysis, role(TOOLING, "codebuild-monitor"))
    assert missing == []
    assert [e for e in excess if "ReadStageEndpointsAsTheirMonitorReader" not in e] == []


def test_the_readers_are_one_policy_with_each_accounts_names(stacks):
    """prod's reader has the staging reader's statements with its own account and stage, and
    for its secondary region the same reads with that region's ARNs, bucket and key, plus the
    config's tags (infra/stage_region.py reader_grants)."""
    policies = {}
    for stage, account in STAGES.items():
        model = StackModel(stacks[NAMES.target_stack(account)], account=account)
        (policy,) = model.roles[NAMES.role("monitor-reader")].policies
        policies[stage] = {stmt["Sid"]: json.dumps(stmt, sort_keys=True).replace(
            account, "<account>").replace(NAMES.endpoint(stage), "<endpoint>")
            for stmt in policy.statements}
    (secondary,) = CONFIG.stage("prod").secondary_regions
    suffix = region_sid(secondary)
    primary = {sid: text for sid, text in policies["prod"].items() if not sid.endswith(suffix)}
    assert primary == policies["staging"]
    regional = {sid[:-len(suffix)] for sid in policies["prod"] if sid.endswith(suffix)}
    assert regional == set(policies["staging"]) | {"ReadPackageTag"}
    assert all(f":{secondary}:" in text or NAMES.artifact_bucket("<account>", secondary) in text
               for sid, text in policies["prod"].items() if sid.endswith(suffix))


# --- teardown in the stage accounts -------------------------------------------------------------
# `python main.py teardown` removes the deploy step's endpoints in each stage account as that
# account's teardown role (infra/teardown_role.py), run with the tooling account's provisioning
# role (a bootstrap role outside the stacks: an administrator's identity here). What the role may
# do there is judged from teardown's calls in tests/ops/test_teardown_accounts.py.
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_only_the_tooling_provisioning_role_assumes_a_stage_teardown_role(models, stage):
    _, accounts = models
    account = STAGES[stage]
    teardown = role(account, "teardown")

    def assume(caller, external_id=NAMES.teardown_external_id):
        return trust_decides(accounts[account], teardown, caller, external_id)

    provisioning = f"arn:aws:iam::{TOOLING}:role/{CONFIG.provisioning_role}"
    assert assume(provisioning).allowed
    for external_id in (None, "guess", EXTERNAL_ID, MONITOR_EXTERNAL_ID):
        assert not assume(provisioning, external_id).allowed, external_id
    for caller in (role(TOOLING, "deploy-lambda"), role(TOOLING, "codebuild-monitor"),
                   role(account, "deployer"), f"arn:aws:iam::{account}:role/"
                   f"{CONFIG.provisioning_role}", f"arn:aws:iam::{OTHER_ACCOUNT}:role/"
                   f"{CONFIG.provisioning_role}"):
        assert not assume(caller).allowed, caller


# --- the deploy step in the stage accounts --------------------------------------------------------
# The deploy function acts in each stage account as that account's deployer role; SageMaker runs
# the models there as the account's serving role. What both may do there is judged from the calls
# recorded by the deploy tests with prod's names and accounts: test_deploy_cross_account.py
# (staging and prod, primary region) and test_deploy_regions.py (prod in both regions).
DEPLOY_TESTS = ("tests/lambda_deploy/test_deploy_cross_account.py",
                "tests/lambda_deploy/test_deploy_regions.py")
# Statements those calls cannot use, each judged elsewhere: the cross-account halves (above:
# the tooling registry's packages and artifacts), and what only a later deployment does (an
# update, the rollback alarms it watches, cleanup, scaling changes and removal), which the
# deployer shares with the dev deploy function's endpoint statements, judged on dev's recorded
# calls (test_deployer_policy_is_the_proven_endpoint_grants: the same statements).
NOT_EXERCISED_HERE = {
    "deployer": {"UseToolingModelPackages", "DecryptToolingModelArtifacts",
                 "UpdateAndCallOwnEndpoints", "ReadRollbackAlarms", "CleanUpOwnModelsAndConfigs",
                 "ManageTargetTrackingAlarms", "ReadScaling", "ScaleEndpointVariants",
                 "ScaleOwnEndpoints"},
    "sagemaker-serving": {"DecryptToolingModelArtifacts", "ReadRollbackAlarms"},
}
# Actions of statements these calls use, that they do not use themselves. The stage serving
# role's kms:Decrypt on its account's key: in dev it reads the model artifact from its own
# bucket; in a stage account the artifact is the tooling account's, and data capture needs only
# kms:GenerateDataKey here (S3 also asks kms:Decrypt of multipart uploads; S3_KMS_DOC).
ACTIONS_NOT_EXERCISED_HERE = {("sagemaker-serving", "UseProjectKey", "kms:Decrypt")}


def base_sid(sid: str) -> str:
    """A secondary region's statement is its primary statement's Sid + the region's."""
    for _, region in CONFIG.secondary_placements:
        if sid.endswith(region_sid(region)):
            return sid[:-len(region_sid(region))]
    return sid


@pytest.fixture(scope="module")
def deploy_calls(recorded_calls):
    calls = [c for c in recorded_calls if c["test"].split("::")[0] in DEPLOY_TESTS]
    assert {c["test"].split("::")[0] for c in calls if c["role"]} == set(DEPLOY_TESTS)
    return calls


def deployer_analysis(stacks, calls, account):
    """The calls made in `account` by the deploy function (as the account's deployer; the
    registry's description of each package, in the tooling account, kept unjudged as what its
    models serve), judged against the account's stack. A KMS need naming the stage's key by its
    alias (KmsKeyId in the stage settings) is the key the alias names in the need's region: this
    stack's key, or the secondary region stack's."""
    from tests.iam.sufficiency import analyse

    inside = [{**c, "role": "deployer"} for c in calls if c["role"] and c["account"] == account
              and c["operation"] not in ("AssumeRole", "GetCallerIdentity")]
    described = [{**c, "role": None, "account": account} for c in calls
                 if c["operation"] == "DescribeModelPackage"]
    model = StackModel(stacks[NAMES.target_stack(account)], account=account)
    # Buckets where a multipart upload was completed as the deployer (a large artifact's copy).
    completed = {c["params"].get("Bucket") for c in inside
                 if c["operation"] == "CompleteMultipartUpload"}
    return with_regional_keys(stacks, analyse(model, PREFIX, inside + described), account,
                              completed)


# Amazon S3 User Guide, "Multipart upload API and permissions": "the requester must have
# permission to the kms:Decrypt and kms:GenerateDataKey* actions on the key ... because Amazon S3
# must decrypt and read data from the encrypted file parts before it completes the multipart
# upload."
MPU_KMS_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html"


def with_regional_keys(stacks, analysis, account, completed=frozenset()):
    """The analysis with each KMS need on a secondary region's key resolved to that key: the
    needs on the account's own stack, and (need, region, key policy) of those a secondary
    region's key decides (decide_in_region). `completed`: buckets where a multipart upload was
    completed (S3 then decrypts with the key as the caller)."""
    from tests.iam.declarations import S3_KMS_DOC
    from tests.iam.sufficiency import Need

    model = analysis.model
    # Objects in a secondary region's bucket are encrypted with the bucket's default key, a key
    # of that region's stack, which the analysis of this stack cannot see: S3 uses it as the
    # caller, with the bucket as the Bucket Key's encryption context (declarations.S3_KMS_DOC;
    # S3 User Guide, "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys").
    regional = {NAMES.artifact_bucket(account, region): region
                for where, region in CONFIG.secondary_placements if where == account}
    for need in list(analysis.needs):
        bucket = need.resource.split(":::", 1)[-1].split("/", 1)[0]
        if need.action in ("s3:GetObject", "s3:PutObject") and bucket in regional:
            actions = ["kms:Decrypt" if need.action == "s3:GetObject" else "kms:GenerateDataKey"]
            if bucket in completed:
                # S3 decrypts the parts to complete an upload (MPU_KMS_DOC).
                actions.append("kms:Decrypt")
            analysis.needs.extend(Need(
                need.principal, action, f"arn:aws:kms:{regional[bucket]}:{account}:"
                f"alias/{PREFIX}", freeze_context({
                    "kms:ViaService": f"s3.{regional[bucket]}.amazonaws.com"}),
                f"{need.action} in {bucket} (SSE-KMS object) [{S3_KMS_DOC}; {MPU_KMS_DOC}]")
                for action in actions)
    keys = {REGION: next(iter(model.key_policies.items()))}
    for where, region in CONFIG.secondary_placements:
        if where == account:
            region_model = StackModel(stacks[NAMES.target_stack(account, region)],
                                      account=account)
            keys[region] = next(iter(region_model.key_policies.items()))
    alias_needs = [n for n in analysis.needs
                   if n.action.startswith("kms:") and ":alias/" in n.resource]
    resolved = []
    for need in alias_needs:
        region = need.resource.split(":")[3]
        key_arn, key_policy = keys[region]
        context = need.context_dict
        if region != REGION and "kms:ViaService" in context:
            # Through S3 in that region, with its bucket as the Bucket Key's context.
            context.update({"kms:ViaService": f"s3.{region}.amazonaws.com",
                            "kms:EncryptionContext:aws:s3:arn":
                                f"arn:aws:s3:::{NAMES.artifact_bucket(account, region)}"})
        resolved.append((replace(need, resource=key_arn, context=freeze_context(context)),
                         region, key_policy))
    analysis.needs = [n for n in analysis.needs if n not in alias_needs] + [
        need for need, _, _ in resolved]
    return analysis, [(need, region, policy) for need, region, policy in resolved
                      if region != REGION]


def decide_in_region(analysis, need, region, key_policy, drop=None):
    """A need on a secondary region's key: the role's policies (`drop`: one statement left out)
    and that key's policy (in its own stack)."""
    from tests.iam.evaluator import evaluate
    from tests.iam.sufficiency import _without

    role = analysis.model.role_by_arn(need.principal)
    account = role.arn.split(":")[4]
    request = {"aws:PrincipalArn": role.arn, **need.context_dict}
    return evaluate(Request(Principal(arn=role.arn, account=account), need.action,
                            need.resource, request),
                    identity=[_without(p, drop) for p in role.policies], key_policy=key_policy)


def refused(analysis, secondary, arn, drop=None) -> list[str]:
    """The needs of role `arn` refused (with one statement dropped, for the mutation test)."""
    elsewhere = {need for need, _, _ in secondary}
    problems = analysis.missing(drop=drop, needs=[n for n in analysis.needs
                                                  if n.principal == arn and n not in elsewhere])
    return problems + [need.describe() for need, region, key_policy in secondary
                       if need.principal == arn and not
                       decide_in_region(analysis, need, region, key_policy, drop).allowed]


STAGE_ROLES = ("deployer", "sagemaker-serving")


@pytest.mark.iam_recorded_calls
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_deployer_and_serving_role_hold_what_the_deploy_calls_need(stacks, deploy_calls,
                                                                         stage):
    """Sufficient: every call the deploy step made in the stage's account (as its deployer) and
    what SageMaker does there as the serving role (pull the image, read the model, write logs,
    capture and metrics) is allowed by that account's stack, each KMS need by its region's key."""
    account = STAGES[stage]
    analysis, secondary = deployer_analysis(stacks, deploy_calls, account)
    assert analysis.errors == [] and not analysis.other_accounts
    deployer = role(account, "deployer")
    actions = {n.action for n in analysis.needs if n.principal == deployer}
    assert {"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
            "sagemaker:DescribeEndpoint", "sagemaker:AddTags", "sagemaker:ListTags",
            "kms:CreateGrant", "iam:PassRole"} <= actions
    if CONFIG.stage(stage).autoscaling:
        assert {"application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:PutScalingPolicy"} <= actions
    for purpose in STAGE_ROLES:
        arn = role(account, purpose)
        assert [n for n in analysis.needs if n.principal == arn], purpose
        assert refused(analysis, secondary, arn) == [], purpose


@pytest.mark.iam_recorded_calls
def test_every_grant_of_the_stage_deployers_and_serving_roles_is_used_or_judged_elsewhere(
        stacks, deploy_calls):
    """Not excessive: each action and resource of the deployer's and serving role's statements
    is used by a need of these calls, unless its statement is one of NOT_EXERCISED_HERE (judged
    elsewhere); and every statement listed there is unused somewhere here (the list stays tight)."""
    listed = set()
    for stage, account in STAGES.items():
        analysis, _ = deployer_analysis(stacks, deploy_calls, account)
        for purpose in STAGE_ROLES:
            name = NAMES.role(purpose)
            excess = [e for e in analysis.excess() if e.startswith(name + " ") and not any(
                e.startswith(f"{name} {sid}: {action} ")
                for p, sid, action in ACTIONS_NOT_EXERCISED_HERE if p == purpose)]
            sids = {e.split(" ")[1].rstrip(":") for e in excess}
            listed |= {(purpose, base_sid(s)) for s in sids}
            assert {base_sid(s) for s in sids} <= NOT_EXERCISED_HERE[purpose], (stage, excess)
    assert listed == {(p, sid) for p, sids in NOT_EXERCISED_HERE.items() for sid in sids}


@pytest.mark.iam_recorded_calls
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dropping_a_statement_the_deploy_calls_use_breaks_one_of_them(stacks, deploy_calls,
                                                                    stage):
    """Mutation: each Allow statement of the deployer's and serving role's policies that these
    calls use is needed: without it, one of their needs is refused."""
    account = STAGES[stage]
    analysis, secondary = deployer_analysis(stacks, deploy_calls, account)
    checked = 0
    for purpose in STAGE_ROLES:
        arn = role(account, purpose)
        found = analysis.model.role_by_arn(arn)
        for policy in found.policies:
            for index, stmt in enumerate(policy.statements):
                if stmt.get("Effect") != "Allow" or \
                        base_sid(stmt["Sid"]) in NOT_EXERCISED_HERE[purpose]:
                    continue
                checked += 1
                assert refused(analysis, secondary, arn, drop=(policy.name, index)), \
                    (purpose, stmt["Sid"])
    assert checked >= 10
