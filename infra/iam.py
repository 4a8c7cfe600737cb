"""IAM building blocks: policy documents as plain JSON, and service roles with guarded trust.

Documents are rendered with json.dumps so that the synthesized JSON holds them as literal
strings (with Terraform references inside), which reviewers and the policy tests can read.
"""
from __future__ import annotations

import json
from typing import Iterable, Mapping, Optional

from constructs import Construct
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy


def statement(sid: str, actions: Iterable[str], resources: Iterable[str] | str | None,
              conditions: Optional[Mapping] = None, effect: str = "Allow",
              principal: Optional[Mapping] = None) -> dict:
    result: dict = {"Sid": sid, "Effect": effect}
    if principal is not None:
        result["Principal"] = principal
    result["Action"] = sorted(set(actions))
    if resources is not None:  # trust policies have no Resource element
        result["Resource"] = resources if isinstance(resources, str) else list(resources)
    if conditions:
        result["Condition"] = conditions
    return result


def policy_document(statements: Iterable[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def service_role(scope: Construct, id_: str, *, name: str, service: str, account_id: str,
                 description: str, policies: Mapping[str, Iterable[dict]]) -> IamRole:
    """A role only `service` can assume, and only on behalf of this account (confused deputy)."""
    trust = policy_document([statement(
        "AssumedByServiceForThisAccountOnly", ["sts:AssumeRole"], None,
        principal={"Service": service},
        conditions={"StringEquals": {"aws:SourceAccount": account_id}},
    )])
    role = IamRole(scope, id_, name=name, description=description, assume_role_policy=trust,
                   max_session_duration=3600)
    for policy_id, statements in policies.items():
        IamRolePolicy(scope, f"{id_}_{policy_id}", role=role.id, name=policy_id,
                      policy=policy_document(statements))
    return role


def log_statement(log_group_arn: str) -> dict:
    """Write to the streams of a log group the caller's construct owns (both actions are
    authorized against the log-stream ARN)."""
    return statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                     [f"{log_group_arn}:log-stream:*"])
