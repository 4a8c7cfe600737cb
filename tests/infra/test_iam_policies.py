"""Walks every IAM policy document in the synthesized stacks and fails on forbidden patterns.

Inline role policies, trust policies, bucket, topic and key policies are all checked. The only
Resource "*" grants allowed are the actions IAM gives no resource-level permissions (listed with
the reason), and key policies (where "*" means the key itself).
"""
from __future__ import annotations

import json

import pytest

# Actions IAM cannot scope to a resource; each needs Resource "*".
RESOURCE_WILDCARD_ALLOWED = {
    "codepipeline:PutJobSuccessResult": "no resource-level permissions",
    "codepipeline:PutJobFailureResult": "no resource-level permissions",
    "sagemaker:ListModelPackages": "list call; how the test job finds the champion",
    "sagemaker:ListModels": "list call; cleanup of the stage's previous models",
    "sagemaker:ListEndpointConfigs": "list call; cleanup of the stage's previous configs",
    "sagemaker:ListEndpoints": "list call; teardown finds the deploy step's endpoints",
    "cloudwatch:PutMetricData": "no resource-level permissions; namespace condition applies",
    "xray:PutTraceSegments": "no resource-level permissions",
    "xray:PutTelemetryRecords": "no resource-level permissions",
    # Scalable-target ARNs carry an ID Application Auto Scaling generates; the deploy role's
    # statement pins these to SageMaker variant counts with the service's condition keys.
    "application-autoscaling:RegisterScalableTarget": "generated ARN; namespace condition",
    "application-autoscaling:DeregisterScalableTarget": "generated ARN; namespace condition",
    "application-autoscaling:PutScalingPolicy": "generated ARN; namespace condition",
    "application-autoscaling:DeleteScalingPolicy": "generated ARN; namespace condition",
    "application-autoscaling:DescribeScalableTargets": "no resource-level permissions",
    "application-autoscaling:DescribeScalingPolicies": "no resource-level permissions",
    "ecr:GetAuthorizationToken": "no resource-level permissions; pulls are scoped to the repository",
    # Compute in a VPC (config `network`): the service creates and removes the compute's network
    # interfaces as its role, with IDs EC2 generates; AWS's pages grant these on "*"
    # (tests/iam/declarations.py CODEBUILD_VPC_DOC, LAMBDA_VPC_DOC, SAGEMAKER_VPC_DOC).
    **{f"ec2:{action}": "network interfaces of compute in a VPC (AWS's pages grant '*')"
       for action in ("CreateNetworkInterface", "DeleteNetworkInterface",
                      "CreateNetworkInterfacePermission", "DeleteNetworkInterfacePermission",
                      "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses")},
    **{f"ec2:{action}": "no resource-level permissions"
       for action in ("DescribeDhcpOptions", "DescribeNetworkInterfaces",
                      "DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs")},
    "sts:GetServiceBearerToken": "no resource-level permissions; sts:AWSServiceName condition "
                                 "limits it to CodeArtifact",
}
POLICY_ATTRIBUTES = {
    "aws_iam_role_policy": "policy",
    "aws_iam_role": "assume_role_policy",
    "aws_iam_policy": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_kms_key": "policy",
}


def policy_documents(stack: dict):
    for resource_type, attribute in POLICY_ATTRIBUTES.items():
        for logical_id, resource in stack.get("resource", {}).get(resource_type, {}).items():
            if attribute in resource:
                yield resource_type, logical_id, json.loads(resource[attribute])


def statements(stack: dict):
    for resource_type, logical_id, document in policy_documents(stack):
        assert document["Version"] == "2012-10-17", logical_id
        for stmt in document["Statement"]:
            yield resource_type, logical_id, stmt


def as_list(value):
    return value if isinstance(value, list) else [value]


STAGE_ACCOUNT_STACKS = ["fraud-mlops-prod-222222222222-eu-west-1",
                        "fraud-mlops-prod-333333333333-eu-west-1"]


@pytest.fixture(params=["fraud-mlops-dev", "fraud-mlops-prod", *STAGE_ACCOUNT_STACKS])
def stack(request, stacks):
    return stacks[request.param]


# What the roles of one account hold when the whole environment is in it; a multi-account
# environment's split (tooling, stage accounts) is checked in test_iam_cross_account.py.
@pytest.fixture(params=["fraud-mlops-dev"])
def single_account_stack(request, stacks):
    return stacks[request.param]


def test_every_policy_is_found(stack):
    found = {t for t, _, _ in policy_documents(stack)}
    assert {"aws_iam_role_policy", "aws_iam_role", "aws_s3_bucket_policy", "aws_sns_topic_policy",
            "aws_kms_key"} <= found


def test_no_wildcard_or_service_wide_actions_are_allowed(stack):
    for resource_type, logical_id, stmt in statements(stack):
        if stmt["Effect"] != "Allow":
            continue
        assert "NotAction" not in stmt and "NotResource" not in stmt, logical_id
        for action in as_list(stmt["Action"]):
            assert action != "*" and not action.endswith(":*") and "*" not in action, \
                f"{logical_id} {stmt['Sid']} allows {action}"


def test_resource_wildcards_only_where_iam_cannot_scope(stack):
    for resource_type, logical_id, stmt in statements(stack):
        if stmt["Effect"] != "Allow" or resource_type in ("aws_kms_key", "aws_iam_role"):
            continue
        if "*" in as_list(stmt["Resource"]):
            unexplained = set(as_list(stmt["Action"])) - set(RESOURCE_WILDCARD_ALLOWED)
            assert not unexplained, f"{logical_id} {stmt['Sid']}: {unexplained} on '*'"


def test_no_managed_policies(stack):
    resources = stack["resource"]
    assert "aws_iam_role_policy_attachment" not in resources
    assert "aws_iam_policy_attachment" not in resources
    for role in resources["aws_iam_role"].values():
        assert not role.get("managed_policy_arns")


def test_pass_role_names_one_execution_role_for_sagemaker_only(single_account_stack):
    stack = single_account_stack
    roles = stack["resource"]["aws_iam_role"]
    role_ref = {lid: f"${{aws_iam_role.{lid}.arn}}" for lid in roles}
    training = [ref for lid, ref in role_ref.items() if lid.startswith("sagemaker_training")]
    serving = [ref for lid, ref in role_ref.items() if lid.startswith("sagemaker_serving")]
    assert len(training) == 1 and len(serving) == 1
    passed = {}
    for _, logical_id, stmt in statements(stack):
        if "iam:PassRole" in as_list(stmt["Action"]):
            assert as_list(stmt["Action"]) == ["iam:PassRole"], logical_id
            assert stmt["Condition"] == {
                "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, logical_id
            passed[logical_id.split("_role_")[0]] = as_list(stmt["Resource"])
    # The train job passes the training role, the deploy step the serving role; nothing else.
    assert passed == {"train": training, "deploy": serving}


def test_trust_policies_are_service_only_and_guarded_by_source_account(single_account_stack):
    stack = single_account_stack
    roles = stack["resource"]["aws_iam_role"]
    # 7 + the monitor job and its schedule, + the retraining function where a trigger is on (dev)
    retraining = "retraining_function_86D2BFC0" in stack["resource"]["aws_lambda_function"]
    assert len(roles) == 9 + retraining
    services = set()
    for logical_id, role in roles.items():
        document = json.loads(role["assume_role_policy"])
        for stmt in document["Statement"]:
            assert stmt["Effect"] == "Allow" and stmt["Action"] == ["sts:AssumeRole"], logical_id
            assert set(stmt["Principal"]) == {"Service"}, logical_id
            services.add(stmt["Principal"]["Service"])
            assert stmt["Condition"]["StringEquals"]["aws:SourceAccount"] == \
                "${data.aws_caller_identity.current.account_id}", logical_id
    assert services == {"sagemaker.amazonaws.com", "codebuild.amazonaws.com",
                        "codepipeline.amazonaws.com", "lambda.amazonaws.com",
                        "events.amazonaws.com"}


def test_sagemaker_permissions_are_scoped_to_project_names(stack):
    # <project>-<env>, from the provider's tags (a stage account's stack name adds more)
    tags = stack["provider"]["aws"][0]["default_tags"][0]["tags"]
    prefix = f"{tags['Project']}-{tags['Environment']}"
    for _, logical_id, stmt in statements(stack):
        if stmt["Effect"] != "Allow" or "Resource" not in stmt:
            continue
        for resource in as_list(stmt["Resource"]):
            if ":sagemaker:" in resource:
                name = resource.split("/", 1)[1]
                assert name.startswith(f"{prefix}-"), f"{logical_id}: {resource}"


# Key-policy statements for services whose KMS calls carry no account context; each has its
# account guard elsewhere (in the comment above it in infra/encryption.py).
UNCONDITIONED_SERVICE_KEY_USE = {"AlarmsAndEventsPublishToEncryptedTopic"}


def test_service_principals_in_resource_policies_are_limited_to_this_account(stack):
    for resource_type, logical_id, stmt in statements(stack):
        if resource_type == "aws_iam_role" or stmt["Effect"] != "Allow":
            continue
        if resource_type == "aws_kms_key" and stmt["Sid"] in UNCONDITIONED_SERVICE_KEY_USE:
            assert set(stmt["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
            continue
        principal = stmt.get("Principal", {})
        if "Service" in principal and not str(principal["Service"]).startswith("logs."):
            assert "aws:SourceAccount" in json.dumps(stmt.get("Condition", {})), logical_id


def test_a_key_admits_only_the_services_that_use_it(stack):
    """CloudWatch Logs may use a key only in a stack with a log group encrypted with it, and the
    topic's publishers only where the stack's topic is (a stage account's key encrypts no log
    group; a secondary region's network key, only its flow logs)."""
    resources = stack["resource"]
    for logical_id, key in resources["aws_kms_key"].items():
        arn = f"${{aws_kms_key.{logical_id}.arn}}"
        sids = {s["Sid"] for s in json.loads(key["policy"])["Statement"]}
        groups = any(g.get("kms_key_id") == arn
                     for g in resources.get("aws_cloudwatch_log_group", {}).values())
        topics = any(t.get("kms_master_key_id") == arn
                     for t in resources.get("aws_sns_topic", {}).values())
        assert ("CloudWatchLogsEncryptsThisAccountsLogGroups" in sids) == groups, logical_id
        assert ("AlarmsAndEventsPublishToEncryptedTopic" in sids) == topics, logical_id


def test_bucket_and_topic_refuse_plain_http(stack):
    for resource_type in ("aws_s3_bucket_policy", "aws_sns_topic_policy"):
        (resource,) = stack["resource"][resource_type].values()
        denies = [s for s in json.loads(resource["policy"])["Statement"]
                  if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


@pytest.mark.parametrize("name", ["fraud-mlops-dev", *STAGE_ACCOUNT_STACKS])
def test_autoscaling_writes_are_pinned_to_sagemaker_variants(stacks, name):
    stack = stacks[name]
    writes = {"application-autoscaling:RegisterScalableTarget",
              "application-autoscaling:DeregisterScalableTarget",
              "application-autoscaling:PutScalingPolicy",
              "application-autoscaling:DeleteScalingPolicy"}
    found = 0
    for _, logical_id, stmt in statements(stack):
        actions = set(as_list(stmt.get("Action", [])))
        if actions & writes:
            found += 1
            assert stmt["Condition"] == {"StringEquals": {
                "application-autoscaling:service-namespace": "sagemaker",
                "application-autoscaling:scalable-dimension":
                    "sagemaker:variant:DesiredInstanceCount"}}, logical_id
        if "iam:CreateServiceLinkedRole" in actions:
            assert stmt["Condition"] == {"StringEquals": {
                "iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}}
            assert all(r.endswith(":role/aws-service-role/sagemaker.application-autoscaling."
                                  "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_"
                                  "SageMakerEndpoint") for r in as_list(stmt["Resource"]))
    # The deploy role's; a stage account's teardown role removes scaling too.
    assert found == (1 if name == "fraud-mlops-dev" else 2)
