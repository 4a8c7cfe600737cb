"""Render a Terraform plan (``terraform show -json plan.out``) as a review report.

Same report as the synth diff: creates, updates, replaces, deletes, moves, with the changed
attributes (values known only after apply are shown as such, sensitive values are never shown)
and the same security-relevant findings.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops import security_rules
from ops.review_report import ResourceChange, StackReport, attribute_changes
from ops.security_rules import SENSITIVE, UNKNOWN


class PlanError(ValueError):
    """The plan file cannot be used; str() is the one-line message."""


# The parts of Terraform's JSON plan format (https://developer.hashicorp.com/terraform/internals/
# json-format) this renderer reads, checked before rendering; other keys are allowed. Major
# version 1 is the one Terraform documents as stable; another major version may mean anything.
SUPPORTED_FORMAT = re.compile(r"1\.\d+")


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Change(_Part):
    actions: list[str] = Field(default_factory=lambda: ["no-op"])
    replace_paths: Optional[list[Any]] = None


class _ResourceChange(_Part):
    address: str
    mode: Optional[str] = None
    type: Optional[str] = None
    previous_address: Optional[str] = None
    action_reason: Optional[str] = None
    change: Optional[_Change] = None


class _OutputChange(_Part):
    actions: Optional[list[str]] = None


class _Plan(_Part):
    format_version: str
    resource_changes: Optional[list[_ResourceChange]] = None
    output_changes: Optional[dict[str, Optional[_OutputChange]]] = None
    resource_drift: Optional[list[_ResourceChange]] = None


def _check_structure(plan: dict, path: Path) -> None:
    version = plan.get("format_version")
    if not isinstance(version, str) or not SUPPORTED_FORMAT.fullmatch(version):
        raise PlanError(f"{path}: format_version {json.dumps(version)} is not supported; this "
                        "renders Terraform's plan format 1.x")
    try:
        _Plan.model_validate(plan)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        given = json.dumps(error.get("input"), default=str)
        given = given if len(given) <= 40 else given[:37] + "..."
        expected = _EXPECTED.get(error["type"], error["msg"].lower())
        raise PlanError(f"{path}: {where}: {expected}, got {given}; not the output of "
                        "`terraform show -json plan.out`?") from None


_EXPECTED = {"dict_type": "expected an object", "model_type": "expected an object",
             "list_type": "expected a list", "string_type": "expected a string",
             "missing": "missing"}


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
    except IsADirectoryError:
        raise PlanError(f"plan file {path} is a folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read plan file {path}: {exc.__class__.__name__}") from None
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                        "give the output of `terraform show -json plan.out`") from None
    except RecursionError:
        raise PlanError(f"{path}: nested too deeply to be a Terraform plan") from None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise PlanError(f"{path} is not a Terraform plan in JSON (no format_version); "
                        "give the output of `terraform show -json plan.out`")
    _check_structure(plan, path)
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

