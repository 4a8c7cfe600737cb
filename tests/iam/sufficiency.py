"""Put it together: recorded calls + declared service needs -> needs per principal, evaluated
against the synthesized policies; unused grants; the static list of operations in role code."""
from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Optional

from lambda_deploy.deploy import TAG_STAGE
from tests.iam import declarations
from tests.iam.authz import Need, arn_of, freeze_context, needs_for_call
from tests.iam.evaluator import Decision, Policy, Principal, Request, evaluate
from tests.iam.stack_model import StackModel

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RecordedCall:
    role: Optional[str]
    service: str
    operation: str
    params: dict
    region: str
    test: str
    where: str
    response: dict = field(default_factory=dict)
    account: str = ""

    @classmethod
    def of(cls, data) -> "RecordedCall":
        return cls(**(data if isinstance(data, dict) else data.to_json()))


class TestWorld:
    """What one test's calls show about the account (objects, tags, packages)."""

    def __init__(self, model: StackModel, prefix: str, calls: list[RecordedCall]):
        self.model, self.prefix, self.calls = model, prefix, calls

    def role_calls(self, *operations):
        return [c for c in self.calls if c.role and c.operation in operations]

    def arn(self, prefix, type_, **values):
        return arn_of(prefix, type_, self.model.region, self.model.account, **values)

    def object_arn(self, bucket, key):
        return self.arn("s3", "object", BucketName=bucket, ObjectName=key)

    def role_arn(self, purpose: str) -> str:
        return f"arn:aws:iam::{self.model.account}:role/{self.prefix}-{purpose}"

    def kms_for_s3(self, principal, bucket, action, why, key_arn=None):
        key = key_arn or self.model.bucket_key(bucket)
        if not key:
            return []
        return [declarations.ServiceNeed(
            principal, action, key,
            freeze_context({"kms:ViaService": f"s3.{self.model.region}.amazonaws.com"}),
            f"{why} (SSE-KMS object)", declarations.S3_KMS_DOC)]

    def objects_under(self, bucket, prefix) -> list[str]:
        keys = sorted({c.params["Key"] for c in self.calls
                       if c.service == "s3" and c.operation == "PutObject"
                       and c.params.get("Bucket") == bucket
                       and str(c.params.get("Key", "")).startswith(prefix)})
        return keys or [prefix]

    def container_of(self, container: dict) -> dict:
        arn = container.get("ModelPackageName")
        if not arn:
            return container
        for call in self.calls:
            if call.operation == "DescribeModelPackage" and \
                    call.response.get("ModelPackageArn") == arn:
                return call.response["InferenceSpecification"]["Containers"][0]
            if call.operation == "CreateModelPackage" and \
                    call.response.get("ModelPackageArn") == arn:
                return call.params["InferenceSpecification"]["Containers"][0]
        raise LookupError(f"model package {arn} of a CreateModel call was never described")


@dataclass
class Analysis:
    model: StackModel
    prefix: str
    needs: list = field(default_factory=list)  # [Need] with principal = role ARN or service
    errors: list = field(default_factory=list)  # calls the reference could not map
    expected_denials: list = field(default_factory=list)  # [Need] that must be refused
    other_accounts: set = field(default_factory=set)  # tests acting in other accounts too

    def principal_name(self, principal: str) -> str:
        role = self.model.role_by_arn(principal)
        return role.name if role else principal

    # -- evaluation ----------------------------------------------------------------------------
    def decide(self, need: Need, *, drop: Optional[tuple] = None) -> Decision:
        """drop: (policy name, statement index) left out, for the mutation test."""
        model = self.model
        identity: list[Policy] = []
        if need.principal.startswith("arn:aws:iam::"):
            role = model.role_by_arn(need.principal)
            if role is None:
                return Decision(False, f"{need.principal} is not a role of the stack")
            principal = Principal(arn=role.arn, account=model.account)
            identity = [_without(p, drop) for p in role.policies]
            # Always in the request context of an IAM principal (IAM User Guide, global
            # condition keys: aws:PrincipalArn); for a role session, the role's ARN.
            context = {"aws:PrincipalArn": role.arn, **need.context_dict}
        else:
            principal = Principal(service=need.principal)
            context = need.context_dict
        resource, key_policy = [], None
        service = need.action.split(":")[0]
        if service == "s3":
            bucket = need.resource.split("/")[0]
            if bucket in model.bucket_policies:
                resource = [_without(model.bucket_policies[bucket], drop)]
        elif service == "sns" and need.resource in model.topic_policies:
            resource = [_without(model.topic_policies[need.resource], drop)]
        elif service == "kms":
            key_policy = model.key_policies.get(need.resource)
            if key_policy is None:
                return Decision(False, f"{need.resource} is not a key of the stack")
            key_policy = _without(key_policy, drop)
        return evaluate(Request(principal, need.action, need.resource, context),
                        identity=identity, resource=resource, key_policy=key_policy)

    def missing(self, *, drop: Optional[tuple] = None,
                needs: Optional[Iterable[Need]] = None) -> list[str]:
        problems = []
        for need in (self.needs if needs is None else needs):
            decision = self.decide(need, drop=drop)
            if not decision.allowed:
                problems.append(f"{self.principal_name(need.principal)} cannot {need.action} on "
                                f"{need.resource}: {decision.reason}; needed by {need.reason}")
        return sorted(set(problems))

    def used_statements(self) -> dict[tuple, set]:
        """(policy name, Sid) -> {(action, resource pattern)} that some need uses."""
        used = defaultdict(set)
        for need in self.needs:
            decision = self.decide(need)
            for policy_name, sid in decision.allowed_by:
                used[(policy_name, sid)].add(need)
        return used

    def excess(self) -> list[str]:
        """Actions and resources of role policies' Allow statements that no need exercises.

        An action is used when some need of the role matches it on one of the statement's
        resources under the statement's conditions; a resource likewise with one of its actions.
        """
        problems = []
        for role in self.model.roles.values():
            purpose = role.name[len(self.prefix) + 1:]
            role_needs = [n for n in self.needs if n.principal == role.arn]
            for policy in role.policies:
                for stmt in policy.statements:
                    if stmt.get("Effect") != "Allow":
                        continue
                    actions = _as_list(stmt.get("Action"))
                    resources = _as_list(stmt.get("Resource"))
                    for action in actions:
                        if (purpose, action) in declarations.EXCESS_ALLOWED:
                            continue
                        if not any(self._uses(n, stmt, action, r)
                                   for n in role_needs for r in resources):
                            problems.append(f"{role.name} {stmt.get('Sid')}: {action} is used "
                                            "by no recorded call and no declared service need")
                    for resource in resources:
                        if not any(self._uses(n, stmt, a, resource)
                                   for n in role_needs for a in actions):
                            problems.append(f"{role.name} {stmt.get('Sid')}: {resource} is "
                                            "used by no recorded call and no declared need")
        return sorted(problems)

    @staticmethod
    def _uses(need: Need, stmt: dict, action: str, resource: str) -> bool:
        from tests.iam.evaluator import conditions_hold, wildcard_match
        return (wildcard_match(action, need.action, ignore_case=True)
                and wildcard_match(resource, need.resource)
                and conditions_hold(stmt.get("Condition"), need.context_dict))


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _without(policy: Policy, drop: Optional[tuple]) -> Policy:
    if drop is None or drop[0] != policy.name:
        return policy
    return Policy(policy.name, tuple(s for i, s in enumerate(policy.statements) if i != drop[1]))


def _elsewhere(call: RecordedCall, model: StackModel) -> bool:
    """The call acts in, or asks to act in (AssumeRole of a role there), another account."""
    if call.account not in ("", model.account):
        return True
    role = str(call.params.get("RoleArn", "")) if call.operation == "AssumeRole" else ""
    return bool(role) and role.split(":")[4] != model.account


def analyse(model: StackModel, prefix: str, calls: Iterable) -> Analysis:
    analysis = Analysis(model, prefix)
    by_test = defaultdict(list)
    for call in calls:
        call = call if isinstance(call, RecordedCall) else RecordedCall.of(call)
        by_test[call.test].append(call)
    for test, test_calls in sorted(by_test.items()):
        if not any(c.role for c in test_calls):
            # Only test code (set-up, moto checks): no role's call to judge. A full session
            # records every test's calls, not only the recording tests'.
            continue
        if any(_elsewhere(c, model) for c in test_calls):
            # A test acting in several accounts is not about this one-account stack; the
            # cross-account tests judge it against the stacks of its accounts.
            analysis.other_accounts.add(test)
            continue
        world = TestWorld(model, prefix, test_calls)
        tags: dict[str, dict] = defaultdict(dict)
        for call in test_calls:
            if call.role is None:
                if call.operation == "AddTags":
                    tags[call.params["ResourceArn"]].update(
                        {t["Key"]: t["Value"] for t in call.params.get("Tags") or []})
                continue
            principal = world.role_arn(call.role)
            try:
                result = needs_for_call(principal, call.service, call.operation, call.params,
                                        call.response, call.region, model.account,
                                        f"{call.operation} by {call.where} in {test}", tags)
            except LookupError as exc:
                analysis.errors.append(f"{call.operation} by {call.where}: {exc}")
                continue
            test_name = test.rsplit("::", 1)[-1].split("[")[0]
            if call.service == "s3" and call.operation in ("GetObject", "PutObject"):
                # SSE-KMS objects: S3 uses the key as the caller (the request's key or the
                # bucket's default key).
                action = "kms:Decrypt" if call.operation == "GetObject" else "kms:GenerateDataKey"
                key = call.params.get("SSEKMSKeyId") if call.operation == "PutObject" else None
                result.needs.extend(_as_need(n, test) for n in world.kms_for_s3(
                    principal, call.params["Bucket"], action,
                    f"{call.operation} by {call.where}", key_arn=key))
            if call.service == "s3" and call.operation == "CopyObject":
                # Amazon S3 User Guide, "Required permissions for Amazon S3 API operations":
                # CopyObject reads the source object with s3:GetObject.
                source = call.params["CopySource"]
                source = source if isinstance(source, str) else \
                    f"{source['Bucket']}/{source['Key']}"
                result.needs.append(Need(principal, "s3:GetObject",
                                         f"arn:aws:s3:::{source.split('?')[0]}",
                                         reason=f"CopyObject source by {call.where} in {test}"))
            for need in result.needs:
                if (test_name, need.action) in declarations.EXPECTED_DENIALS:
                    analysis.expected_denials.append(need)
                else:
                    analysis.needs.append(need)
            new_tags = {t["Key"]: t["Value"] for t in call.params.get("Tags") or []}
            if result.created and new_tags:
                tags[result.created].update(new_tags)
            if call.operation == "AddTags":
                tags[call.params["ResourceArn"]].update(new_tags)
        try:
            for need in declarations.call_service_needs(world):
                # A request on an existing resource carries that resource's tags.
                own = {f"aws:ResourceTag/{k}": v for k, v in tags.get(need.resource, {}).items()}
                if own:
                    need = replace(need, context=freeze_context({**dict(need.context), **own}))
                analysis.needs.append(_as_need(need, test))
        except LookupError as exc:
            analysis.errors.append(f"{test}: {exc}")
    for need in declarations.stack_service_needs(model, prefix):
        analysis.needs.append(_as_need(need, "the synthesized stack"))
    # Compute in the VPC reaches S3 through its endpoint: its S3 requests carry the endpoint.
    through_endpoint = declarations.vpc_request_context(model)
    analysis.needs = [replace(n, context=freeze_context({**dict(n.context),
                                                         **through_endpoint[n.principal]}))
                      if n.action.startswith("s3:") and n.principal in through_endpoint else n
                      for n in analysis.needs]
    # In a stack with a network, the train job's CreateTrainingJob carries its VpcConfig.
    placed = declarations.training_vpc_context(model)
    analysis.needs = [replace(n, context=freeze_context({**dict(n.context),
                                                         **placed[n.principal]}))
                      if n.action == "sagemaker:CreateTrainingJob" and n.principal in placed
                      else n for n in analysis.needs]
    # Likewise the deploy function's CreateModel for a stage that serves in the stack's VPC
    # (the stage is the request's mlops:stage tag, lambda_deploy/deploy.py ownership_tags).
    placed = declarations.deploy_vpc_context(model)
    analysis.needs = [replace(n, context=freeze_context({**dict(n.context), **placed[key]}))
                      if n.action == "sagemaker:CreateModel" and (key := (
                          n.principal, n.context_dict.get(f"aws:RequestTag/{TAG_STAGE}"))) in placed
                      else n for n in analysis.needs]
    # One need per (principal, action, resource, context), with its first reason and a count.
    merged: dict[tuple, list] = {}
    for need in analysis.needs:
        merged.setdefault((need.principal, need.action, need.resource, need.context),
                          []).append(need.reason)
    analysis.needs = [Need(*key, reason=reasons[0] + (f" and {len(set(reasons)) - 1} more"
                                                      if len(set(reasons)) > 1 else ""))
                      for key, reasons in sorted(merged.items())]
    return analysis


def _as_need(need: declarations.ServiceNeed, where: str) -> Need:
    return Need(need.principal, need.action, need.resource, need.context,
                f"{need.why} [{need.doc}] ({where})")


# --- static scan of role code -----------------------------------------------------------------

def _module_files(module: str) -> list[tuple[str, Path]]:
    path = PROJECT_ROOT.joinpath(*module.split("."))
    if path.is_dir():
        return [(f"{module}.{p.stem}" if p.stem != "__init__" else module, p)
                for p in sorted(path.glob("*.py"))]
    return [(module, path.with_suffix(".py"))]


def code_operations() -> dict[str, set]:
    """{module: {(botocore service, Operation)}} for every AWS operation role code can call.

    Found by reading the code: services from client("<service>") calls; operations from
    attributes or strings named like an operation of those services (client.create_model, a
    method passed as a callable, getattr(client, "put_job_success_result")),
    get_paginator("<name>"), aws_call(client, "<Operation>") and paginate/listing(client,
    "<name>", ...) (aws_clients)."""
    import botocore.session
    from botocore import xform_name

    modules = list(declarations.ROLE_CODE) + list(declarations.SHARED_CODE)
    trees = {name: ast.parse(path.read_text(encoding="utf-8"))
             for module in modules for name, path in _module_files(module)}
    services = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                    node.func, "id", None)) == "client" and node.args and \
                    isinstance(node.args[0], ast.Constant):
                services.add(node.args[0].value)
    session = botocore.session.get_session()
    by_snake: dict[str, set] = defaultdict(set)
    by_name: dict[str, set] = defaultdict(set)
    for service in services:
        for op in session.get_service_model(service).operation_names:
            by_snake[xform_name(op)].add((service, op))
            by_name[op].add((service, op))
    found: dict[str, set] = defaultdict(set)
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in by_snake:
                found[module].add(frozenset(by_snake[node.attr]))
            # A method named in a string, for getattr(client, name).
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    node.value in by_snake:
                found[module].add(frozenset(by_snake[node.value]))
            if isinstance(node, ast.Call) and node.args:
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                arg = node.args[0] if name == "get_paginator" else (
                    node.args[1] if name in ("aws_call", "paginate", "listing")
                    and len(node.args) > 1 else None)
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    ops = by_snake.get(arg.value) or by_name.get(arg.value)
                    if ops:
                        found[module].add(frozenset(ops))
                elif arg is not None:
                    dynamic = declarations.DYNAMIC_OPERATIONS.get(module)
                    if dynamic is None:
                        raise AssertionError(
                            f"{module}:{node.lineno} builds an operation name the scan cannot "
                            "read; list what it can be in tests/iam/declarations.py "
                            "DYNAMIC_OPERATIONS")
                    for op in dynamic:
                        found[module].add(frozenset({op}))
        found.setdefault(module, set())
    return dict(found)


def roles_of_module(module: str) -> tuple:
    for shared, roles in declarations.SHARED_CODE.items():
        if module == shared or module.startswith(shared + "."):
            return roles
    role = declarations.role_of_module(module)
    return (role,) if role else ()
