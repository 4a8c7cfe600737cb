"""The synthesized stack as IAM sees it once applied: Terraform references resolved to the values
AWS would give them (ARN formats from the Service Authorization Reference), roles with their
policies, and the resource policies of buckets, keys and topics.

The account, region and key id are the ones the moto-backed tests use, so the ARNs the recorded
calls name and the ARNs the policies name meet.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from tests.iam.authz import arn_of
from tests.iam.evaluator import Policy

# EC2 resources whose `id` a policy or VpcConfig references (subnets, security groups).
EC2_ID_PREFIXES = {"aws_subnet": "subnet-", "aws_security_group": "sg-", "aws_vpc": "vpc-",
                   "aws_vpc_endpoint": "vpce-"}

ACCOUNT = "123456789012"  # moto's default account
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"  # the key id in the jobs' and deploy tests
# The id AWS gives a connection the stack creates (any UUID; nothing recorded names one).
CONNECTION_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"

# Terraform resource type -> (IAM prefix, resource type, {ARN variable: attribute}).
ARN_OF_TERRAFORM_TYPE = {
    "aws_s3_bucket": ("s3", "bucket", {"BucketName": "bucket"}),
    "aws_kms_key": ("kms", "key", {"KeyId": None}),
    "aws_iam_role": ("iam", "role", {"RoleNameWithPath": "name"}),
    "aws_cloudwatch_metric_alarm": ("cloudwatch", "alarm", {"AlarmName": "alarm_name"}),
    "aws_sns_topic": ("sns", "topic", {"TopicName": "name"}),
    "aws_codebuild_project": ("codebuild", "project", {"ProjectName": "name"}),
    "aws_codeartifact_domain": ("codeartifact", "domain", {"DomainName": "domain"}),
    "aws_codeartifact_repository": ("codeartifact", "repository",
                                    {"DomainName": "domain", "RepositoryName": "repository"}),
    "aws_lambda_function": ("lambda", "function", {"FunctionName": "function_name"}),
    "aws_codepipeline": ("codepipeline", "pipeline", {"PipelineName": "name"}),
    "aws_cloudwatch_log_group": ("logs", "log-group", {"LogGroupName": "name"}),
    "aws_sagemaker_model_package_group": ("sagemaker", "model-package-group",
                                          {"ModelPackageGroupName": "model_package_group_name"}),
    # "=<value>": a value AWS generates, fixed here.
    "aws_codeconnections_connection": ("codeconnections", "Connection",
                                       {"ConnectionId": f"={CONNECTION_ID}"}),
}
# Attributes that are the resource's name (or id) as Terraform reports it.
NAME_ATTRIBUTES = {
    ("aws_s3_bucket", "id"): "bucket", ("aws_s3_bucket", "bucket"): "bucket",
    ("aws_iam_role", "id"): "name", ("aws_iam_role", "name"): "name",
    ("aws_cloudwatch_log_group", "name"): "name",
    ("aws_lambda_function", "function_name"): "function_name",
    ("aws_codebuild_project", "name"): "name",
    ("aws_codeartifact_domain", "domain"): "domain",
    ("aws_codeartifact_repository", "repository"): "repository",
}
_REFERENCE = re.compile(r"\$\{([^}]+)\}")


class UnresolvedReference(LookupError):
    pass


@dataclass
class Role:
    logical_id: str
    name: str
    arn: str
    trust: dict
    policies: list = field(default_factory=list)  # [Policy]

    @property
    def trusted_service(self) -> str:
        (stmt,) = self.trust["Statement"]
        return stmt["Principal"]["Service"]


class StackModel:
    def __init__(self, stack: Mapping, *, account: str = ACCOUNT, key_id: str = KEY_ID):
        self.stack = stack
        self.resources = stack.get("resource", {})
        self.account = account
        self.key_id = key_id
        self.region = stack["provider"]["aws"][0]["region"]
        self.roles: dict[str, Role] = {}
        for logical_id, res in self.resources.get("aws_iam_role", {}).items():
            name = self.resolve(res["name"])
            self.roles[name] = Role(logical_id, name,
                                    self.attribute("aws_iam_role", logical_id, "arn"),
                                    json.loads(self.resolve(res["assume_role_policy"])))
        for logical_id, res in self.resources.get("aws_iam_role_policy", {}).items():
            role_name = self.resolve(res["role"])
            document = json.loads(self.resolve(res["policy"]))
            self.roles[role_name].policies.append(
                Policy.of(f"aws_iam_role_policy.{logical_id}", document))

    # -- references ------------------------------------------------------------------------------
    def attribute(self, tf_type: str, logical_id: str, attribute: str) -> str:
        res = self.resources.get(tf_type, {}).get(logical_id)
        if res is None:
            raise UnresolvedReference(f"{tf_type}.{logical_id} is not in the stack")
        if (tf_type, attribute) in NAME_ATTRIBUTES:
            return self.resolve(res[NAME_ATTRIBUTES[(tf_type, attribute)]])
        if tf_type == "aws_kms_key" and attribute in ("key_id", "id"):
            return self.key_id
        if attribute == "id" and tf_type in EC2_ID_PREFIXES:
            # EC2 assigns these IDs at apply: a stable stand-in of the right shape per resource.
            digest = hashlib.sha256(logical_id.encode()).hexdigest()[:17]
            return f"{EC2_ID_PREFIXES[tf_type]}{digest}"
        if attribute == "arn" and tf_type in ARN_OF_TERRAFORM_TYPE:
            prefix, resource_type, variables = ARN_OF_TERRAFORM_TYPE[tf_type]
            values = {var: (self.key_id if attr is None else attr[1:] if attr.startswith("=")
                            else self.resolve(res[attr])) for var, attr in variables.items()}
            # A resource may name its own region (AWS provider 6's per-resource `region`).
            return arn_of(prefix, resource_type, res.get("region") or self.region, self.account,
                          **values)
        raise UnresolvedReference(f"${{{tf_type}.{logical_id}.{attribute}}}: add it to "
                                  "tests/iam/stack_model.py")

    def resolve(self, text):
        if not isinstance(text, str):
            return text

        def one(match):
            parts = match.group(1).split(".")
            if parts[:3] == ["data", "aws_caller_identity", "current"]:
                return self.account
            if len(parts) == 3:
                return self.attribute(*parts)
            raise UnresolvedReference(f"${{{match.group(1)}}}")
        return _REFERENCE.sub(one, text)

    # -- what IAM sees ---------------------------------------------------------------------------
    def role_by_arn(self, arn: str) -> Optional[Role]:
        return next((r for r in self.roles.values() if r.arn == arn), None)

    def role_by_ref(self, reference: str) -> Role:
        arn = self.resolve(reference)
        role = self.role_by_arn(arn)
        if role is None:
            raise UnresolvedReference(f"{reference} is not a role of the stack")
        return role

    def resource_policies(self, tf_type: str, target_attribute: str) -> dict[str, Policy]:
        """{ARN of the resource: its policy} for bucket / topic policies."""
        result = {}
        for logical_id, res in self.resources.get(tf_type, {}).items():
            target = self.resolve(res[target_attribute])
            if tf_type == "aws_s3_bucket_policy":
                target = arn_of("s3", "bucket", self.region, self.account, BucketName=target)
            result[target] = Policy.of(f"{tf_type}.{logical_id}",
                                       json.loads(self.resolve(res["policy"])))
        return result

    @property
    def bucket_policies(self) -> dict[str, Policy]:
        return self.resource_policies("aws_s3_bucket_policy", "bucket")

    @property
    def topic_policies(self) -> dict[str, Policy]:
        return self.resource_policies("aws_sns_topic_policy", "arn")

    @property
    def key_policies(self) -> dict[str, Policy]:
        return {self.attribute("aws_kms_key", lid, "arn"):
                Policy.of(f"aws_kms_key.{lid}", json.loads(self.resolve(res["policy"])))
                for lid, res in self.resources.get("aws_kms_key", {}).items()}

    def bucket_key(self, bucket_name: str) -> Optional[str]:
        """The KMS key a bucket encrypts new objects with by default (SSE-KMS)."""
        for res in self.resources.get("aws_s3_bucket_server_side_encryption_configuration",
                                      {}).values():
            if self.resolve(res["bucket"]) == bucket_name:
                for rule in res["rule"]:
                    default = rule["apply_server_side_encryption_by_default"]
                    if default["sse_algorithm"] == "aws:kms":
                        return self.resolve(default["kms_master_key_id"])
        return None

    def all_of(self, tf_type: str) -> dict[str, dict]:
        return self.resources.get(tf_type, {})
