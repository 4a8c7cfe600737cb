"""Which changes to a resource are security-relevant, in words a reviewer can act on.

``findings(rtype, before, after)`` compares one resource's attributes before and after a change
(``None`` = the resource does not exist on that side) and returns one message per weakening.
The same rules serve synthesized stacks (cdk.tf.json, nested blocks as objects) and plan JSON
(nested blocks as lists of one), so every lookup accepts both shapes.

Rules (each a reviewer would otherwise have to spot by reading JSON):
- IAM: statement added, Allow widened (actions, wildcards, resources, principals, conditions),
  Deny removed or narrowed, trust policy principal widened, managed policy attached,
  Lambda invoke permission added or unscoped, policy content unreadable.
- Encryption: a customer key attribute removed (kms_key_id, kms_key_arn, kms_master_key_id,
  encryption_key, ...), bucket default encryption removed or no longer aws:kms.
- KMS: key rotation disabled, key disabled, key destroyed or replaced.
- S3: public access block setting turned off or removed, public ACL, versioning suspended.
- CodeBuild: privileged mode turned on.
- Logs: log group removed, retention reduced.
- Monitoring/rollback: alarm removed or its actions disabled/removed, deploy rollback alarms
  (Lambda STAGE_SETTINGS alarm_names) removed or emptied.
- lifecycle.prevent_destroy turned off.
"""
from __future__ import annotations

import json
from typing import Any, Iterator, Optional

from ops import iam_policy

UNKNOWN = "(known after apply)"
SENSITIVE = "(sensitive)"

ENCRYPTION_KEY_ATTRIBUTES = frozenset({
    "kms_key_id", "kms_key_arn", "kms_master_key_id", "encryption_key", "kms_key",
    "sse_kms_key_id", "kms_encryption_key_arn", "volume_kms_key_id", "output_kms_key_id",
})
PUBLIC_ACCESS_BLOCK_TYPES = ("aws_s3_bucket_public_access_block", "aws_s3_account_public_access_block")
PUBLIC_ACCESS_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls",
                       "restrict_public_buckets")
ALARM_TYPES = ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def first(value: Any) -> Any:
    """A nested block as one object, whether written as an object or as a list of one."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def get(attrs: Optional[dict], path: str) -> Any:
    """attrs['a']['b'] for path 'a.b', looking through lists of one; None when absent."""
    value: Any = attrs
    for part in path.split("."):
        value = first(value)
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) for every leaf; lists are indexed ``[i]``."""
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from leaves(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from leaves(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _last_key(path: str) -> str:
    return path.split(".")[-1].split("[")[0]


def _name(attrs: Optional[dict], *keys: str) -> str:
    for key in keys:
        value = (attrs or {}).get(key)
        if isinstance(value, str) and value:
            return f" `{value}`"
    return ""


def findings(rtype: str, before: Optional[dict], after: Optional[dict],
             *, replaced: bool = False) -> list[str]:
    """Security-relevant differences between two versions of one resource."""
    out: list[str] = []
    out += _iam(rtype, before, after)
    out += _encryption(rtype, before, after)
    out += _kms(rtype, before, after, replaced)
    out += _s3(rtype, before, after)
    out += _codebuild(rtype, before, after)
    out += _logs(rtype, before, after)
    out += _alarms(rtype, before, after)
    out += _rollback_settings(rtype, before, after)
    if _truthy(get(before, "lifecycle.prevent_destroy")) and after is not None \
            and not _truthy(get(after, "lifecycle.prevent_destroy")):
        out.append("`lifecycle.prevent_destroy` turned off")
    return out


# ---- IAM -----------------------------------------------------------------------------------

def _iam(rtype: str, before: Optional[dict], after: Optional[dict]) -> list[str]:
    out: list[str] = []
    old_docs = iam_policy.documents(rtype, before)
    new_docs = iam_policy.documents(rtype, after)
    for key in sorted(set(old_docs) | set(new_docs)):
        old, new = old_docs.get(key), new_docs.get(key)
        if isinstance(new, iam_policy.Unparsable) or isinstance(old, iam_policy.Unparsable):
            if old != new and after is not None:
                what = "known only after apply" if str(new) == UNKNOWN else "not a JSON document"
                verb = "added" if old is None else "changed"
                out.append(f"`{key}` {verb} and its content is {what}: review it by hand "
                           "(the synth diff shows it)")
            continue
        trust = key in iam_policy.TRUST_ATTRIBUTES
        out += [f"`{key}`: {m}" for m in iam_policy.compare(old, new, trust=trust)]
    if rtype in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment",
                 "aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment"):
        old_arn, new_arn = get(before, "policy_arn"), get(after, "policy_arn")
        if new_arn and new_arn != old_arn:
            out.append(f"managed policy attached: `{new_arn}`")
    new_managed = set(get(after, "managed_policy_arns") or []) - set(get(before, "managed_policy_arns") or [])
    if new_managed:
        out.append("managed policies attached: " + ", ".join(f"`{a}`" for a in sorted(new_managed)))
    if rtype == "aws_lambda_permission" and after is not None:
        principal = get(after, "principal")
        if before is None:
            scope = "" if get(after, "source_arn") else " with no `source_arn` (any source)"
            out.append(f"invoke permission added for `{principal}`{scope}")
        else:
            if principal != get(before, "principal"):
                out.append(f"invoke permission principal changed to `{principal}`")
            for key in ("source_arn", "source_account"):
                if get(before, key) and not get(after, key):
                    out.append(f"invoke permission `{key}` removed")
    return out


# ---- encryption ----------------------------------------------------------------------------

def _encryption(rtype: str, before: Optional[dict], after: Optional[dict]) -> list[str]:
    out: list[str] = []
    if rtype == "aws_s3_bucket_server_side_encryption_configuration" and before and after is None:
        out.append("bucket default encryption configuration removed")
    if before is None or after is None:
        return out
    old_leaves = dict(leaves(before))
    new_leaves = dict(leaves(after))
    for path, value in sorted(old_leaves.items()):
        if _last_key(path) in ENCRYPTION_KEY_ATTRIBUTES and not _empty(value):
            if all(_empty(v) for p, v in new_leaves.items()
                   if p == path or p.startswith(path + ".") or p.startswith(path + "[")):
                out.append(f"`{path}` removed: no longer encrypted with the customer-managed key")
    old_algorithms = {v for p, v in old_leaves.items() if _last_key(p) == "sse_algorithm"}
    new_algorithms = {v for p, v in new_leaves.items() if _last_key(p) == "sse_algorithm"}
    if old_algorithms & set(KMS_ALGORITHMS) and not new_algorithms & set(KMS_ALGORITHMS) \
            and UNKNOWN not in new_algorithms:
        changed_to = ", ".join(f"`{a}`" for a in sorted(map(str, new_algorithms - {None}))) or "nothing"
        out.append(f"default encryption changed from `aws:kms` to {changed_to}")
    return out


def _kms(rtype: str, before: Optional[dict], after: Optional[dict], replaced: bool) -> list[str]:
    if rtype != "aws_kms_key" or before is None:
        return []
    if after is None:
        return ["KMS key removed: AWS schedules it for deletion, and data encrypted with it "
                "becomes unreadable when the waiting period ends"]
    out = []
    if replaced:
        out.append("KMS key replaced: the old key is scheduled for deletion, and data encrypted "
                   "with it becomes unreadable when the waiting period ends")
    if _truthy(get(before, "enable_key_rotation")) and not _truthy(get(after, "enable_key_rotation")) \
            and get(after, "enable_key_rotation") != UNKNOWN:
        out.append("KMS key rotation disabled")
    if get(before, "is_enabled") is not False and get(after, "is_enabled") is False:
        out.append("KMS key disabled")
    return out


# ---- S3 ------------------------------------------------------------------------------------

def _s3(rtype: str, before: Optional[dict], after: Optional[dict]) -> list[str]:
    out: list[str] = []
    if rtype in PUBLIC_ACCESS_BLOCK_TYPES and before is not None:
        if after is None:
            out.append("S3 public access block removed")
        else:
            for flag in PUBLIC_ACCESS_FLAGS:
                if _truthy(before.get(flag)) and not _truthy(after.get(flag)):
                    out.append(f"S3 public access block: `{flag}` turned off")
    if rtype == "aws_s3_bucket_acl" and after is not None:
        acl = get(after, "acl")
        if acl in PUBLIC_ACLS and acl != get(before, "acl"):
            out.append(f"bucket ACL set to `{acl}`")
    if rtype == "aws_s3_bucket_versioning" and before is not None:
        old_status = get(before, "versioning_configuration.status")
        if after is None:
            if old_status == "Enabled":
                out.append("bucket versioning resource removed: Terraform suspends versioning "
                           "when it is destroyed")
        else:
            new_status = get(after, "versioning_configuration.status")
            if old_status == "Enabled" and new_status not in ("Enabled", UNKNOWN):
                out.append(f"bucket versioning `Enabled` → `{new_status}`")
            if get(before, "versioning_configuration.mfa_delete") == "Enabled" \
                    and get(after, "versioning_configuration.mfa_delete") != "Enabled":
                out.append("bucket versioning MFA delete turned off")
    if rtype == "aws_s3_bucket" and before is not None and after is not None:
        if _truthy(get(before, "versioning.enabled")) and not _truthy(get(after, "versioning.enabled")):
            out.append("bucket versioning suspended")
    return out


# ---- CodeBuild, logs, alarms, rollback ------------------------------------------------------

def _codebuild(rtype: str, before: Optional[dict], after: Optional[dict]) -> list[str]:
    if rtype != "aws_codebuild_project" or after is None:
        return []
    if _truthy(get(after, "environment.privileged_mode")) \
            and not _truthy(get(before, "environment.privileged_mode")):
        return ["CodeBuild `privileged_mode` turned on (builds get root on the Docker host)"]
    return []


def _logs(rtype: str, before: Optional[dict], after: Optional[dict]) -> list[str]:
    if rtype != "aws_cloudwatch_log_group" or before is None:
        return []
    if after is None:
        return [f"log group{_name(before, 'name')} removed: its logs are deleted"]
    old, new = get(before, "retention_in_days"), get(after, "retention_in_days")
    try:
        if old and int(old) > 0 and new not in (None, 0, UNKNOWN) and int(new) < int(old):
            return [f"log retention reduced from {old} to {new} days"]
    except (TypeError, ValueError):
        pass
    return []


def _alarms(rtype: str, before: Optional[dict], after: Optional[dict]) -> list[str]:
    if rtype not in ALARM_TYPES or before is None:
        return []
    if after is None:
        return [f"alarm{_name(before, 'alarm_name')} removed"]
    out = []
    if get(before, "actions_enabled") is not False and get(after, "actions_enabled") is False:
        out.append("alarm actions disabled (`actions_enabled = false`)")
    dropped = set(get(before, "alarm_actions") or []) - set(get(after, "alarm_actions") or [])
    if dropped and get(after, "alarm_actions") != UNKNOWN:
        out.append("alarm actions removed: " + ", ".join(f"`{a}`" for a in sorted(dropped)))
    return out


def _stage_settings(attrs: Optional[dict]) -> Optional[dict]:
    raw = get(attrs, "environment.variables.STAGE_SETTINGS")
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _rollback_settings(rtype: str, before: Optional[dict], after: Optional[dict]) -> list[str]:
    if rtype != "aws_lambda_function":
        return []
    old, new = _stage_settings(before), _stage_settings(after)
    if old is None or after is None:
        return []
    if new is None:
        if get(after, "environment.variables.STAGE_SETTINGS") in (None, ""):
            return ["deploy `STAGE_SETTINGS` removed: deployments lose their rollback alarms"]
        return []
    out = []
    for stage in sorted(old):
        old_alarms = set((old.get(stage) or {}).get("alarm_names") or [])
        new_alarms = set((new.get(stage) or {}).get("alarm_names") or [])
        if old_alarms and not new_alarms:
            out.append(f"deploy rollback alarms emptied for stage `{stage}`: "
                       "a bad deployment is no longer rolled back automatically")
        elif old_alarms - new_alarms:
            out.append(f"deploy rollback alarms removed for stage `{stage}`: "
                       + ", ".join(f"`{a}`" for a in sorted(old_alarms - new_alarms)))
    return out
