"""A small IAM policy evaluator: enough of AWS's evaluation logic for this project's policies.

Follows "Policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_evaluation-logic.html) for a principal and resources in one account:
an explicit Deny in any applicable policy wins; otherwise an Allow in the identity policies or in
the resource's policy grants, except for KMS keys, whose key policy must allow the principal or
delegate to the account's IAM policies (https://docs.aws.amazon.com/kms/latest/developerguide/
key-policy-default.html#key-policy-default-allow-root-enable-iam).

Supported: Action/NotAction and Resource/NotResource with ``*``/``?`` wildcards (actions case
insensitive, ARNs case sensitive), Principal (AWS account root or ``*``, Service), and the
condition operators String*, Arn*, Bool, Null, with ``IfExists`` and the ``ForAnyValue:``/
``ForAllValues:`` set operators (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_elements_condition_operators.html). Anything else raises, so a policy this
evaluator cannot judge never passes silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping, Optional, Sequence


class UnsupportedPolicy(ValueError):
    """The policy uses an element or operator this evaluator does not implement."""


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_wildcard(pattern, ignore_case).match(value))


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass(frozen=True)
class Principal:
    """Who makes the request: an IAM role of an account, or an AWS service principal."""

    arn: str = ""
    account: str = ""
    service: str = ""


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, object] = field(default_factory=dict)


# --- conditions -------------------------------------------------------------------------------

def _string_op(name: str):
    base = {
        "StringEquals": lambda v, p: v == p,
        "StringNotEquals": lambda v, p: v == p,
        "StringEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
        "StringNotEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
        "StringLike": lambda v, p: wildcard_match(p, v),
        "StringNotLike": lambda v, p: wildcard_match(p, v),
        "ArnEquals": lambda v, p: wildcard_match(p, v),
        "ArnLike": lambda v, p: wildcard_match(p, v),
        "ArnNotEquals": lambda v, p: wildcard_match(p, v),
        "ArnNotLike": lambda v, p: wildcard_match(p, v),
        "Bool": lambda v, p: str(v).lower() == str(p).lower(),
    }
    return base.get(name)


def _negated(name: str) -> bool:
    return "Not" in name


def _condition_holds(operator: str, key: str, expected, context: Mapping[str, object]) -> bool:
    set_op = None
    if ":" in operator:
        set_op, operator = operator.split(":", 1)
        if set_op not in ("ForAnyValue", "ForAllValues"):
            raise UnsupportedPolicy(f"condition set operator {set_op!r}")
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    patterns = [str(p) for p in _as_list(expected)]
    present = key in context and context[key] is not None
    if operator == "Null":
        want_missing = str(expected).lower() == "true"
        return (not present) == want_missing
    match = _string_op(operator)
    if match is None:
        raise UnsupportedPolicy(f"condition operator {operator!r}")
    if not present:
        # A missing key: IfExists and ForAllValues hold; negated operators hold; others fail.
        return if_exists or set_op == "ForAllValues" or _negated(operator)
    values = [str(v) for v in _as_list(context[key])]
    if set_op == "ForAllValues":
        hits = [any(match(v, p) for p in patterns) for v in values]
        return all(not h for h in hits) if _negated(operator) else all(hits)
    any_hit = any(match(v, p) for v in values for p in patterns)
    return not any_hit if _negated(operator) else any_hit


def conditions_hold(conditions: Optional[Mapping], context: Mapping[str, object]) -> bool:
    """All operators and all keys must hold (AND); values of one key are alternatives (OR)."""
    for operator, block in (conditions or {}).items():
        for key, expected in block.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


# --- statements -------------------------------------------------------------------------------

_KNOWN = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition",
          "Principal"}


def _matches_action(stmt: Mapping, action: str) -> bool:
    if "Action" in stmt:
        return any(wildcard_match(a, action, ignore_case=True) for a in _as_list(stmt["Action"]))
    if "NotAction" in stmt:
        return not any(wildcard_match(a, action, ignore_case=True)
                       for a in _as_list(stmt["NotAction"]))
    raise UnsupportedPolicy(f"statement {stmt.get('Sid')!r} has neither Action nor NotAction")


def _matches_resource(stmt: Mapping, resource: str) -> bool:
    if "Resource" in stmt:
        return any(wildcard_match(r, resource) for r in _as_list(stmt["Resource"]))
    if "NotResource" in stmt:
        return not any(wildcard_match(r, resource) for r in _as_list(stmt["NotResource"]))
    raise UnsupportedPolicy(f"statement {stmt.get('Sid')!r} has neither Resource nor NotResource")


def _matches_principal(stmt: Mapping, principal: Principal, *, root_means_account: bool) -> bool:
    spec = stmt.get("Principal")
    if spec is None:
        raise UnsupportedPolicy(f"resource policy statement {stmt.get('Sid')!r} has no Principal")
    if spec == "*":
        return True
    for kind, values in spec.items():
        for value in _as_list(values):
            if kind == "AWS":
                if value == "*":
                    return True
                if principal.arn and value == principal.arn:
                    return True
                if (root_means_account and principal.account
                        and value in (principal.account,
                                      f"arn:aws:iam::{principal.account}:root")):
                    return True
            elif kind == "Service":
                if principal.service and value == principal.service:
                    return True
            else:
                raise UnsupportedPolicy(f"principal type {kind!r}")
    return False


def statement_applies(stmt: Mapping, request: Request, *, resource_policy: bool = False,
                      root_means_account: bool = False) -> bool:
    unknown = set(stmt) - _KNOWN
    if unknown:
        raise UnsupportedPolicy(f"statement {stmt.get('Sid')!r} uses {sorted(unknown)}")
    if resource_policy and not _matches_principal(stmt, request.principal,
                                                  root_means_account=root_means_account):
        return False
    return (_matches_action(stmt, request.action) and _matches_resource(stmt, request.resource)
            and conditions_hold(stmt.get("Condition"), request.context))


@dataclass(frozen=True)
class Policy:
    """One policy document, named for messages (e.g. 'aws_iam_role_policy.deploy_role_deploy')."""

    name: str
    statements: Sequence[Mapping]

    @classmethod
    def of(cls, name: str, document: Mapping) -> "Policy":
        return cls(name, tuple(_as_list(document.get("Statement"))))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "explicit deny in <policy> <sid>", "allowed by <policy> <sid>", "implicit deny"
    allowed_by: tuple = ()  # (policy name, Sid) of every Allow statement that matched


def _matching(policies: Iterable[Policy], request: Request, effect: str, **kw):
    for policy in policies:
        for stmt in policy.statements:
            if stmt.get("Effect") == effect and statement_applies(stmt, request, **kw):
                yield policy.name, stmt.get("Sid", "")


def _explicit_deny(request: Request, identity: Sequence[Policy], resource_like: Sequence[Policy],
                   *, root_means_account: bool) -> Optional[Decision]:
    """An explicit Deny in any applicable policy wins over every Allow."""
    denies = list(_matching(identity, request, "Deny"))
    denies += list(_matching(resource_like, request, "Deny", resource_policy=True,
                             root_means_account=root_means_account))
    if denies:
        return Decision(False, f"explicit deny in {denies[0][0]} {denies[0][1]}")
    return None


def evaluate(request: Request, *, identity: Sequence[Policy] = (),
             resource: Sequence[Policy] = (), key_policy: Optional[Policy] = None) -> Decision:
    """The decision for one request in one account.

    identity: the principal's identity policies (empty for a service principal).
    resource: policies attached to the resource (bucket, topic policy).
    key_policy: for KMS requests, the key's policy (required: no key policy, no access).
    """
    if request.action.lower().startswith("kms:") and key_policy is None:
        raise UnsupportedPolicy(f"{request.action} needs the key policy of {request.resource}")
    resource_like = list(resource) + ([key_policy] if key_policy else [])
    denied = _explicit_deny(request, identity, resource_like, root_means_account=False)
    if denied:
        return denied
    identity_allows = tuple(_matching(identity, request, "Allow"))
    if key_policy is not None:
        direct = tuple(_matching([key_policy], request, "Allow", resource_policy=True,
                                 root_means_account=False))
        delegated = tuple(_matching([key_policy], request, "Allow", resource_policy=True,
                                    root_means_account=True))
        if direct:
            return Decision(True, f"allowed by {direct[0][0]} {direct[0][1]}",
                            direct + identity_allows)
        if delegated and identity_allows:
            return Decision(True, f"allowed by {identity_allows[0][0]} {identity_allows[0][1]} "
                                  f"(key policy delegates to IAM)", identity_allows)
        if not delegated:
            return Decision(False, "the key policy neither allows the principal nor delegates "
                                   "this action to IAM")
        return Decision(False, "implicit deny: no identity policy allows it")
    resource_allows = tuple(_matching(resource, request, "Allow", resource_policy=True,
                                      root_means_account=False))
    allows = identity_allows + resource_allows
    if allows:
        return Decision(True, f"allowed by {allows[0][0]} {allows[0][1]}", allows)
    return Decision(False, "implicit deny: no policy allows it")


def evaluate_cross_account(request: Request, *, identity: Sequence[Policy],
                           resource: Sequence[Policy] = (),
                           key_policy: Optional[Policy] = None) -> Decision:
    """The decision for a principal of one account acting on a resource of another.

    AWS's "Cross-account policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/
    UserGuide/reference_policies_evaluation-logic-cross-account.html): the identity policies in
    the caller's account must allow the request AND the resource's policy in the other account
    (bucket, key or model package group policy; a role's trust policy for AssumeRole) must allow
    it; an explicit deny in either wins. A resource policy naming the caller's account (its root
    or its ID) trusts that account, whose identity policies then decide.
    """
    resource_like = list(resource) + ([key_policy] if key_policy else [])
    if not resource_like:
        return Decision(False, "no resource policy: another account's principal is never "
                               "allowed")
    denied = _explicit_deny(request, identity, resource_like, root_means_account=True)
    if denied:
        return denied
    identity_allows = tuple(_matching(identity, request, "Allow"))
    resource_allows = tuple(_matching(resource_like, request, "Allow", resource_policy=True,
                                      root_means_account=True))
    if not identity_allows:
        return Decision(False, "implicit deny: no identity policy in the caller's account "
                               "allows it")
    if not resource_allows:
        return Decision(False, "implicit deny: the resource's policy in its account does not "
                               "allow it")
    return Decision(True, f"allowed by {identity_allows[0][0]} {identity_allows[0][1]} and "
                          f"{resource_allows[0][0]} {resource_allows[0][1]}",
                    identity_allows + resource_allows)


def trust_as_resource_policy(role_arn: str, trust: Mapping) -> Policy:
    """A role's trust policy is the resource policy of AssumeRole on the role; it has no
    Resource element (the role is implied), so the role's ARN is put in."""
    return Policy(f"trust of {role_arn}", tuple({**stmt, "Resource": role_arn}
                                               for stmt in _as_list(trust.get("Statement"))))
