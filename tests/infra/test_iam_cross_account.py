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
Inside a stage account, the deployer role's policy is the same code as the dev deploy
function's endpoint statements (infra/deploy_function.py endpoint_grants), whose sufficiency the
recorded calls prove; test_deployer_policy_is_the_proven_endpoint_grants checks they match.
"""
from __future__ import annotations

import json

import pytest

from infra.config import load_environment
from infra.naming import Names
from tests.iam.evaluator import (Policy, Principal, Request, evaluate_cross_account,
                                 trust_as_resource_policy)
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


def artifact_requests(models, account: str, caller: str):
    """What SageMaker does as the model's execution role to load it: GetObject of the model
    artifact, and Decrypt of it through S3 (Bucket Key: the context is the bucket ARN)."""
    tooling, accounts = models
    bucket = NAMES.artifact_bucket(TOOLING)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    (key_arn, key_policy), = tooling.key_policies.items()
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


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_only_a_stage_serving_role_reads_the_model_artifacts(models, stage):
    account = STAGES[stage]
    get, decrypt = artifact_requests(models, account, role(account, "sagemaker-serving"))
    assert get.allowed, get.reason
    assert decrypt.allowed, decrypt.reason
    for caller in (role(account, "deployer"), role(OTHER_ACCOUNT, "sagemaker-serving")):
        get, decrypt = artifact_requests(models, account, caller)
        assert not get.allowed and not decrypt.allowed, caller


def test_the_tooling_key_decrypts_for_a_stage_only_through_s3_of_its_bucket(models):
    tooling, accounts = models
    account = STAGES["prod"]
    caller = role(account, "sagemaker-serving")
    (key_arn, key_policy), = tooling.key_policies.items()
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
                     "ReplyToCodePipeline", "WriteTraces"}
    dev_model = StackModel(stacks[dev_names.stack])
    dev_sids = {stmt["Sid"] for p in identity(dev_model, dev_model.roles[
        dev_names.role("deploy-lambda")].arn) for stmt in p.statements} - function_only
    for account in dict.fromkeys(STAGES.values()):
        model = StackModel(stacks[NAMES.target_stack(account)], account=account)
        deployer = model.roles[NAMES.role("deployer")]
        sids = [stmt["Sid"] for p in deployer.policies for stmt in p.statements]
        mine = [s for s, a in STAGES.items() if a == account]
        # Only an account with an autoscaled stage updates endpoint weights and capacities.
        scaled = any(CONFIG.stage(s).autoscaling for s in mine)
        assert set(sids) == (dev_sids - ({"ScaleOwnEndpoints"} if not scaled else set())
                             | {"UseToolingModelPackages"})
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


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_resource_side_alone_admits_only_the_named_roles(models, stage):
    tooling, accounts = models
    account = STAGES[stage]
    deployer = role(account, "deployer")
    trust = trust_as_resource_policy(deployer, accounts[account].role_by_arn(deployer).trust)

    def assume_as_admin(caller, external_id=EXTERNAL_ID):
        context = {"aws:PrincipalArn": caller}
        if external_id:
            context["sts:ExternalId"] = external_id
        return evaluate_cross_account(Request(principal(caller), "sts:AssumeRole", deployer,
                                              context), identity=ALLOW_ALL, resource=[trust])

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
    (key_arn, key_policy), = tooling.key_policies.items()
    for caller, expected in ((role(account, "sagemaker-serving"), True), (deployer, False),
                             (role(account, "admin"), False)):
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
