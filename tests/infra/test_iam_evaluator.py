"""The IAM evaluator the sufficiency tests rely on, against the evaluation rules of AWS's IAM
User Guide ("Policy evaluation logic", "IAM JSON policy elements: Condition operators") and the
KMS Developer Guide ("Default key policy")."""
from __future__ import annotations

import pytest

from tests.iam.evaluator import (Policy, Principal, Request, UnsupportedPolicy, conditions_hold,
                                 evaluate, wildcard_match)

ACCOUNT = "123456789012"
ROLE = Principal(arn=f"arn:aws:iam::{ACCOUNT}:role/app", account=ACCOUNT)
BUCKET = "arn:aws:s3:::bucket"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1"


def allow(actions, resources, condition=None, sid="S"):
    stmt = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        stmt["Condition"] = condition
    return stmt


def identity(*stmts):
    return [Policy("identity", stmts)]


def decide(action, arn, policies, context=None, **kw):
    return evaluate(Request(ROLE, action, arn, context or {}), identity=policies, **kw)


def test_implicit_deny_without_a_matching_allow():
    d = decide("s3:GetObject", f"{BUCKET}/data/x", identity(allow(["s3:PutObject"], f"{BUCKET}/*")))
    assert not d.allowed and d.reason.startswith("implicit deny")


def test_action_wildcards_are_case_insensitive_resource_wildcards_are_not():
    policies = identity(allow(["s3:get*"], [f"{BUCKET}/data/*"]))
    assert decide("s3:GetObject", f"{BUCKET}/data/a/b.csv", policies).allowed
    assert not decide("s3:GetObject", f"{BUCKET}/Data/b.csv", policies).allowed
    assert wildcard_match("arn:aws:sagemaker:*:*:endpoint/p-?", "arn:aws:sagemaker:r:1:endpoint/p-1")
    assert not wildcard_match("arn:aws:sagemaker:*:*:endpoint/p-?",
                              "arn:aws:sagemaker:r:1:endpoint/p-12")


def test_explicit_deny_wins_over_any_allow():
    policies = identity(allow(["s3:*"], ["*"]))
    bucket_policy = Policy("bucket", [{"Sid": "DenyInsecureTransport", "Effect": "Deny",
                                       "Principal": {"AWS": "*"}, "Action": "s3:*",
                                       "Resource": [BUCKET, f"{BUCKET}/*"],
                                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}])
    insecure = decide("s3:GetObject", f"{BUCKET}/k", policies, {"aws:SecureTransport": "false"},
                      resource=[bucket_policy])
    assert not insecure.allowed and "DenyInsecureTransport" in insecure.reason
    assert decide("s3:GetObject", f"{BUCKET}/k", policies, {"aws:SecureTransport": "true"},
                  resource=[bucket_policy]).allowed


def test_not_action_and_not_resource():
    policies = identity({"Sid": "S", "Effect": "Allow", "NotAction": "iam:*",
                         "NotResource": f"{BUCKET}/secret/*"})
    assert decide("s3:GetObject", f"{BUCKET}/data/x", policies).allowed
    assert not decide("iam:PassRole", ROLE.arn, policies).allowed
    assert not decide("s3:GetObject", f"{BUCKET}/secret/x", policies).allowed


def test_pass_role_only_to_the_named_service():
    policies = identity(allow(["iam:PassRole"], [ROLE.arn], {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
    assert decide("iam:PassRole", ROLE.arn, policies,
                  {"iam:PassedToService": "sagemaker.amazonaws.com"}).allowed
    assert not decide("iam:PassRole", ROLE.arn, policies,
                      {"iam:PassedToService": "lambda.amazonaws.com"}).allowed
    # A missing key never matches a positive operator.
    assert not decide("iam:PassRole", ROLE.arn, policies).allowed


def test_grant_for_aws_resource_is_a_bool_condition():
    key_policy = Policy("key", [{"Sid": "Root", "Effect": "Allow",
                                 "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                 "Action": ["kms:CreateGrant"], "Resource": "*"}])
    policies = identity(allow(["kms:CreateGrant"], [KEY],
                              {"Bool": {"kms:GrantIsForAWSResource": "true"}}))
    assert decide("kms:CreateGrant", KEY, policies, {"kms:GrantIsForAWSResource": True},
                  key_policy=key_policy).allowed
    assert not decide("kms:CreateGrant", KEY, policies, {"kms:GrantIsForAWSResource": False},
                      key_policy=key_policy).allowed


def test_kms_needs_the_key_policy_to_allow_or_delegate():
    policies = identity(allow(["kms:Decrypt"], [KEY]))
    delegating = Policy("key", [{"Sid": "Root", "Effect": "Allow",
                                 "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                 "Action": ["kms:Decrypt"], "Resource": "*"}])
    not_delegating = Policy("key", [{"Sid": "Root", "Effect": "Allow",
                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                     "Action": ["kms:DescribeKey"], "Resource": "*"}])
    assert decide("kms:Decrypt", KEY, policies, key_policy=delegating).allowed
    refused = decide("kms:Decrypt", KEY, policies, key_policy=not_delegating)
    assert not refused.allowed and "key policy" in refused.reason
    # Delegation alone grants nothing without an identity policy.
    assert not decide("kms:Decrypt", KEY, [], key_policy=delegating).allowed
    with pytest.raises(UnsupportedPolicy):
        decide("kms:Decrypt", KEY, policies)


def test_service_principal_allowed_by_resource_policy_only():
    topic = "arn:aws:sns:eu-west-1:123456789012:t"
    topic_policy = Policy("topic", [{"Sid": "Alarms", "Effect": "Allow",
                                     "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                     "Action": "sns:Publish", "Resource": topic,
                                     "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}])
    service = Principal(service="cloudwatch.amazonaws.com")
    ok = evaluate(Request(service, "sns:Publish", topic, {"aws:SourceAccount": ACCOUNT}),
                  resource=[topic_policy])
    assert ok.allowed
    other_account = evaluate(Request(service, "sns:Publish", topic,
                                     {"aws:SourceAccount": "999999999999"}),
                             resource=[topic_policy])
    assert not other_account.allowed
    events = evaluate(Request(Principal(service="events.amazonaws.com"), "sns:Publish", topic,
                              {"aws:SourceAccount": ACCOUNT}), resource=[topic_policy])
    assert not events.allowed


@pytest.mark.parametrize("condition, context, expected", [
    ({"StringLike": {"s3:prefix": ["data/*", "training/*"]}}, {"s3:prefix": "data/train.csv"}, True),
    ({"StringLike": {"s3:prefix": ["data/*"]}}, {"s3:prefix": "datasets/x"}, False),
    ({"StringLike": {"s3:prefix": ["data/*"]}}, {}, False),
    ({"StringNotEquals": {"aws:ResourceTag/env": "dev"}}, {"aws:ResourceTag/env": "dev-eu"}, True),
    ({"StringNotEquals": {"aws:ResourceTag/env": "dev"}}, {"aws:ResourceTag/env": "dev"}, False),
    # Negated operators hold when the key is missing (IAM User Guide, condition operators).
    ({"StringNotEquals": {"aws:ResourceTag/env": "dev"}}, {}, True),
    ({"StringEquals": {"aws:ResourceTag/env": "dev"}}, {"aws:ResourceTag/env": "dev"}, True),
    ({"StringEquals": {"aws:ResourceTag/env": "dev"}}, {"aws:ResourceTag/env": "dev-eu"}, False),
    ({"StringEqualsIfExists": {"aws:ResourceTag/env": "dev"}}, {}, True),
    ({"Null": {"aws:RequestTag/env": "false"}}, {"aws:RequestTag/env": "dev"}, True),
    ({"Null": {"aws:RequestTag/env": "false"}}, {}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a"]}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "c"]}, False),
    ({"ForAnyValue:StringEquals": {"sagemaker:InstanceTypes": ["ml.m5.large"]}},
     {"sagemaker:InstanceTypes": ["ml.c5.xlarge", "ml.m5.large"]}, True),
    ({"Bool": {"sagemaker:NetworkIsolation": "true"}}, {"sagemaker:NetworkIsolation": True}, True),
    ({"Bool": {"sagemaker:NetworkIsolation": "true"}}, {"sagemaker:NetworkIsolation": False}, False),
    ({"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:r:1:log-group:*"}},
     {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:r:1:log-group:/x"}, True),
    # Several keys: all must hold.
    ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1", "b": "3"}, False),
])
def test_condition_operators(condition, context, expected):
    assert conditions_hold(condition, context) is expected


def test_unknown_operators_and_elements_are_refused():
    with pytest.raises(UnsupportedPolicy):
        conditions_hold({"NumericLessThan": {"x": "1"}}, {"x": "0"})
    with pytest.raises(UnsupportedPolicy):
        decide("s3:GetObject", BUCKET, identity({"Sid": "S", "Effect": "Allow", "Action": "s3:*",
                                                 "Resource": "*", "Condtion": {}}))
