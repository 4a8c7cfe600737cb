"""Render a Terraform plan (``terraform show -json plan.out``) as a review report.

Same report as the synth diff: creates, updates, replaces, deletes, moves, with the changed
attributes (values known only after apply are shown as such, sensitive values are never shown)
and the same security-relevant findings.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ops import security_rules
from ops.review_report import ResourceChange, StackReport, attribute_changes
from ops.security_rules import SENSITIVE, UNKNOWN


class PlanError(ValueError):
    """The plan file cannot be used; str() is the one-line message."""


def _overlay(value: Any, marks: Any, replacement: str) -> Any:
    """``value`` with every part that ``marks`` flags as True replaced by ``replacement``."""
    if marks is True:
        return replacement
    if isinstance(marks, dict):
        base = dict(value) if isinstance(value, dict) else {}
        for key, mark in marks.items():
            if mark is True or isinstance(mark, (dict, list)):
                base[key] = _overlay(base.get(key), mark, replacement)
        return base if (isinstance(value, dict) or base) else value
    if isinstance(marks, list):
        base = list(value) if isinstance(value, list) else []
        for i, mark in enumerate(marks):
            if i >= len(base):
                base.append(None)
            base[i] = _overlay(base[i], mark, replacement)
        return base if (isinstance(value, list) or base) else value
    return value


def _actions(actions: list[str]) -> str:
    key = tuple(actions)
    if key in (("delete", "create"), ("create", "delete")):
        return "replace"
    if len(key) == 1 and key[0] in ("create", "delete", "update", "no-op", "read", "forget"):
        return key[0]
    raise PlanError(f"unexpected change.actions {list(actions)!r}")


def _paths(replace_paths: Any) -> frozenset:
    out = set()
    for path in replace_paths or []:
        if isinstance(path, list) and path:
            out.add(str(path[0]))
    return frozenset(out)


def load_plan(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"plan file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read plan file {path}: {exc.__class__.__name__}") from None
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                        "give the output of `terraform show -json plan.out`") from None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise PlanError(f"{path} is not a Terraform plan in JSON (no format_version); "
                        "give the output of `terraform show -json plan.out`")
    if not isinstance(plan.get("resource_changes", []), list):
        raise PlanError(f"{path}: resource_changes is not a list")
    return plan


def render_plan(plan: dict, name: str) -> StackReport:
    stack = StackReport(name=name, source="plan")
    for rc in sorted(plan.get("resource_changes") or [], key=lambda r: str(r.get("address"))):
        if not isinstance(rc, dict) or rc.get("mode") == "data":
            continue
        change = rc.get("change") or {}
        action = _actions(change.get("actions") or ["no-op"])
        previous = rc.get("previous_address")
        if action in ("no-op", "read"):
            if previous and previous != rc.get("address"):
                action = "move"
            else:
                continue
        rtype = str(rc.get("type", ""))
        before = change.get("before")
        after = change.get("after")
        before = _overlay(before, change.get("before_sensitive"), SENSITIVE)
        after = _overlay(after, change.get("after_sensitive"), SENSITIVE)
        after = _overlay(after, change.get("after_unknown"), UNKNOWN)
        if action == "create":
            before = None
        if action in ("delete", "forget"):
            after = None
        replace_paths = _paths(change.get("replace_paths"))
        reason = ""
        if action == "replace":
            forced = ", ".join(f"`{p}`" for p in sorted(replace_paths))
            reason = f"forced by {forced}" if forced else str(rc.get("action_reason") or "")
        elif action == "move":
            reason = "moved (`moved` block); no replacement"
        elif action == "forget":
            reason = "removed from state; the object stays in AWS"
        resource = ResourceChange(
            address=str(rc.get("address")), type=rtype, action=action,
            before=before if isinstance(before, dict) else None,
            after=after if isinstance(after, dict) else None,
            previous_address=previous if action in ("move",) else None,
            reason=reason,
        )
        if action in ("update", "replace", "move"):
            resource.attributes = attribute_changes(resource.before, resource.after, replace_paths)
        if action != "forget":
            resource.findings = security_rules.findings(
                rtype, resource.before, resource.after, replaced=action == "replace")
        stack.changes.append(resource)
    for name_, oc in sorted((plan.get("output_changes") or {}).items()):
        actions = tuple((oc or {}).get("actions") or [])
        if actions in ((), ("no-op",)):
            continue
        verb = {"create": "added", "delete": "removed", "update": "changed"}.get(actions[0], actions[0])
        stack.notes.append(f"output `{name_}` {verb}")
    drift = [r for r in plan.get("resource_drift") or []
             if ((r.get("change") or {}).get("actions") or ["no-op"]) != ["no-op"]]
    if drift:
        stack.notes.append(f"{len(drift)} resource(s) changed outside Terraform since the last "
                           "apply (drift): " + ", ".join(f"`{r.get('address')}`" for r in drift[:10]))
    return stack


def plan_stack_name(spec: str) -> tuple[str, Path]:
    """``STACK=FILE`` or ``FILE`` (stack named after the file, without .json)."""
    if "=" in spec and not Path(spec).exists():
        name, _, file = spec.partition("=")
        return name, Path(file)
    path = Path(spec)
    name = path.name[:-5] if path.name.endswith(".json") else path.name
    return name, path


def render_plan_file(spec: str) -> StackReport:
    name, path = plan_stack_name(spec)
    return render_plan(load_plan(path), name)

