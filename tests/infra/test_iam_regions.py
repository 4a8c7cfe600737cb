"""A stage serving from a secondary region (config/prod.json's prod: eu-west-1 then
eu-central-1): the calls the deploy step made there as the stage account's deployer
(tests/lambda_deploy/test_deploy_regions.py, recorded) and what SageMaker does there as the
serving role are allowed by the stage account's roles (infra/stage_account.py, with
infra/stage_region.py's grants) and that region's key (its own stack).

Inside the stage account a decision is a one-account decision (IAM User Guide, "Policy
evaluation logic"); the copy's source in the tooling account is cross-account and is judged in
tests/infra/test_iam_cross_account.py (the tooling bucket and key admit the deployer). The
recorded calls' KMS needs are judged here against the secondary region's own key policy with
the request context AWS gives them in that region (S3 with a Bucket Key: the bucket ARN as the
encryption context, S3 User Guide "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys").
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from infra.config import load_environment
from infra.naming import Names
from tests.iam.authz import freeze_context
from tests.iam.evaluator import Principal, Request, evaluate
from tests.iam.stack_model import StackModel
from tests.iam.sufficiency import analyse

pytestmark = pytest.mark.iam_recorded_calls
CONFIG = load_environment("prod")
NAMES = Names(CONFIG)
PREFIX = NAMES.prefix
TEST = "tests/lambda_deploy/test_deploy_regions.py"
ACCOUNT = "333333333333"
PRIMARY, SECONDARY = CONFIG.region, "eu-central-1"


@pytest.fixture(scope="module")
def analysis(stacks, recorded_calls):
    """The test's calls in the stage account, made as its deployer (the registry's description
    of the package in the tooling account is kept, unjudged, as what the model is built from)."""
    mine = [c for c in recorded_calls if c["test"].startswith(TEST + "::")]
    assert {c["region"] for c in mine if c["account"] == ACCOUNT} == {PRIMARY, SECONDARY}
    inside = [{**c, "role": "deployer"} for c in mine if c["role"] and c["account"] == ACCOUNT
              and c["operation"] not in ("AssumeRole", "GetCallerIdentity")]
    # Unjudged (role None), and seen as in this account: only what the package holds matters.
    described = [{**c, "role": None, "account": ACCOUNT} for c in mine
                 if c["operation"] == "DescribeModelPackage"]
    model = StackModel(stacks[NAMES.target_stack(ACCOUNT)], account=ACCOUNT)
    return analyse(model, PREFIX, inside + described)


def secondary_key(stacks):
    regional = StackModel(stacks[NAMES.target_stack(ACCOUNT, SECONDARY)], account=ACCOUNT)
    ((key_arn, key_policy),) = regional.key_policies.items()
    return key_arn, key_policy


def by_alias(need) -> bool:
    """A KMS need naming the key by its alias (the stage's KmsKeyId is the alias ARN)."""
    return need.action.startswith("kms:") and ":alias/" in need.resource


def in_secondary_key(need) -> bool:
    return need.action.startswith("kms:") and f":{SECONDARY}:" in need.resource


def decide_on_secondary_key(analysis, stacks, need, context=None):
    """A KMS need in the secondary region: the role's identity policies (primary stack) and the
    key policy of the region's key (its stack); the need names the key by its alias (the
    config's KmsKeyId), which KMS resolves to the key in that region."""
    key_arn, key_policy = secondary_key(stacks)
    role = analysis.model.role_by_arn(need.principal)
    bucket_arn = f"arn:aws:s3:::{NAMES.artifact_bucket(ACCOUNT, SECONDARY)}"
    request_context = {"aws:PrincipalArn": role.arn, **need.context_dict}
    if "kms:ViaService" in request_context:
        # S3 in the secondary region, with the bucket's Bucket Key.
        request_context.update({"kms:ViaService": f"s3.{SECONDARY}.amazonaws.com",
                                "kms:EncryptionContext:aws:s3:arn": bucket_arn})
    request_context.update(context or {})
    return evaluate(Request(Principal(arn=role.arn, account=ACCOUNT), need.action, key_arn,
                            request_context), identity=role.policies, key_policy=key_policy)


def test_the_recorded_calls_map_to_the_service_authorization_reference(analysis):
    assert analysis.errors == []
    assert not analysis.other_accounts


def test_the_deployer_and_serving_role_hold_what_the_secondary_region_needs(analysis, stacks):
    needs = [n for n in analysis.needs if f":{SECONDARY}:" in n.resource
             or f"-{SECONDARY}/" in n.resource]
    actions = {n.action for n in needs}
    # The secondary region was really exercised: copy, create, update, poll, smoke, clean up.
    assert {"s3:PutObject", "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
            "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint",
            "sagemaker:InvokeEndpoint", "sagemaker:ListTags", "sagemaker:AddTags",
            "kms:CreateGrant", "ecr:BatchGetImage"} <= actions
    missing = analysis.missing(needs=[n for n in analysis.needs if not by_alias(n)])
    assert missing == []
    for need in [n for n in analysis.needs if by_alias(n)]:
        if in_secondary_key(need):
            decision = decide_on_secondary_key(analysis, stacks, need)
        else:
            # The primary region's key is this stack's: the alias resolves to it.
            ((key_arn, _),) = analysis.model.key_policies.items()
            decision = analysis.decide(replace(need, resource=key_arn))
        assert decision.allowed, (need.describe(), decision.reason)


def test_the_secondary_key_serves_only_through_its_bucket_and_sagemaker(analysis, stacks):
    """The same KMS needs through another bucket or another service, or a grant not for an AWS
    resource, are refused."""
    kms = [n for n in analysis.needs if in_secondary_key(n)]
    assert {n.action for n in kms} >= {"kms:CreateGrant", "kms:GenerateDataKey"}
    for need in kms:
        if need.action == "kms:CreateGrant":
            refused = {"kms:GrantIsForAWSResource": "false"}
        else:
            refused = {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::another-bucket"}
        decision = decide_on_secondary_key(analysis, stacks, need, refused)
        assert not decision.allowed, need.describe()
    # The primary region's grants do not reach the secondary region's endpoint.
    update = next(n for n in analysis.needs if n.action == "sagemaker:UpdateEndpoint"
                  and f":{SECONDARY}:" in n.resource)
    assert analysis.decide(update).allowed
    assert not analysis.decide(replace(update, resource=update.resource.replace(
        SECONDARY, "us-east-1"))).allowed
    assert not analysis.decide(replace(update, context=freeze_context({
        **update.context_dict, "aws:ResourceTag/mlops:environment": "dev"}))).allowed
