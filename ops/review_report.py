"""The review report shared by the synth diff and the plan renderer, and its Markdown form.

A report is a list of stacks; each stack lists resource changes (create, delete, update,
replace, move) with the attributes that changed, and the security-relevant findings. The
Markdown is what CI posts as the pull request comment: deterministic (sorted everywhere), no
absolute paths, no sensitive values, and small enough for a GitHub comment.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ops.security_rules import SENSITIVE, UNKNOWN, leaves

# GitHub rejects comments over 65,536 characters; leave room for the plan sections.
DEFAULT_MAX_CHARS = 60000
VALUE_WIDTH = 100
ALLOW_LABEL = "security-reviewed"


@dataclass
class AttributeChange:
    path: str
    before: Any
    after: Any
    forces_replacement: bool = False


@dataclass
class ResourceChange:
    address: str
    type: str
    action: str  # create | delete | update | replace | move | forget
    before: Optional[dict] = None
    after: Optional[dict] = None
    previous_address: Optional[str] = None
    reason: str = ""
    attributes: list[AttributeChange] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@dataclass
class StackReport:
    name: str
    source: str  # "synth" | "plan"
    changes: list[ResourceChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def security_count(self) -> int:
        return sum(len(c.findings) for c in self.changes)

    def is_empty(self) -> bool:
        return not self.changes and not self.notes


@dataclass
class Report:
    title: str
    stacks: list[StackReport] = field(default_factory=list)
    subtitle: str = ""

    def security_count(self) -> int:
        return sum(s.security_count() for s in self.stacks)

    def is_empty(self) -> bool:
        return all(s.is_empty() for s in self.stacks)


# ---- attribute diff ------------------------------------------------------------------------

def _keyed(items: list) -> Optional[dict]:
    """A list of named objects (IAM statements by Sid, variables by name) keyed by that name,
    so inserting one item does not show every later item as changed."""
    if items and all(isinstance(i, str) for i in items) and len(set(items)) == len(items):
        return {f"[{i}]": i for i in items}  # a set of names (actions, ARNs): membership changes
    for key in ("Sid", "name"):
        names = [i.get(key) if isinstance(i, dict) else None for i in items]
        if items and all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names):
            return {f"[{n}]": i for n, i in zip(names, items)}
    return None


def _expand_json_strings(value: Any) -> Any:
    """JSON documents held in strings (policies, STAGE_SETTINGS) diffed by their fields."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            keyed = _keyed(v) if isinstance(v, list) else None
            if keyed is not None:
                for name, item in keyed.items():
                    out[f"{k}{name}"] = _expand_json_strings(item)
            else:
                out[k] = _expand_json_strings(v)
        return out
    if isinstance(value, list):
        return [_expand_json_strings(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[" and len(value) > 1:
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)):
            return {"(json)": _expand_json_strings(parsed)}
    return value


def attribute_changes(before: Optional[dict], after: Optional[dict],
                      replace_paths: frozenset = frozenset()) -> list[AttributeChange]:
    """Leaf-level differences, sorted by path; JSON strings are compared field by field."""
    old = dict(leaves(_expand_json_strings(before or {})))
    new = dict(leaves(_expand_json_strings(after or {})))
    out = []
    for path in sorted(set(old) | set(new)):
        b, a = old.get(path, _ABSENT), new.get(path, _ABSENT)
        if b == a:
            continue
        top = path.split(".")[0].split("[")[0]
        shown = path.replace(".(json).", " ▸ ").replace(".(json)[", " ▸ [").replace(".(json)", "")
        out.append(AttributeChange(shown, b, a,
                                   forces_replacement=top in replace_paths))
    return out


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


# ---- Markdown ------------------------------------------------------------------------------

def _code(text: str) -> str:
    text = text.replace("\n", "\\n")
    if "`" in text:
        return f"`` {text} ``"
    return f"`{text}`"


def _value(value: Any) -> str:
    if value is _ABSENT:
        return "*(absent)*"
    if value in (UNKNOWN, SENSITIVE):
        return f"*{value}*"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > VALUE_WIDTH:
        text = text[:VALUE_WIDTH - 1] + "…"
    return _code(text)


ACTION_TITLES = [
    ("replace", "Replaced (destroyed and re-created)"),
    ("create", "Added"),
    ("delete", "Removed"),
    ("update", "Changed in place"),
    ("move", "Moved (same object, new address; no replacement)"),
    ("forget", "Removed from state only (object kept)"),
]


def _counts(stack: StackReport) -> str:
    names = {"create": "added", "delete": "removed", "update": "changed", "replace": "replaced",
             "move": "moved", "forget": "forgotten"}
    parts = []
    for action, _ in ACTION_TITLES:
        n = sum(1 for c in stack.changes if c.action == action)
        if n:
            parts.append(f"{n} {names[action]}")
    return ", ".join(parts) or "no resource changes"


def _attribute_lines(change: ResourceChange, limit: int = 25) -> list[str]:
    lines = []
    for attr in change.attributes[:limit]:
        mark = " *(forces replacement)*" if attr.forces_replacement else ""
        lines.append(f"  - {_code(attr.path)}: {_value(attr.before)} → {_value(attr.after)}{mark}")
    if len(change.attributes) > limit:
        lines.append(f"  - … and {len(change.attributes) - limit} more attributes")
    return lines


def render_stack(stack: StackReport, attribute_limit: int = 25) -> list[str]:
    kind = "plan" if stack.source == "plan" else "synthesized"
    lines = [f"### `{stack.name}` ({kind}): {_counts(stack)}", ""]
    findings = [(c.address, f) for c in stack.changes for f in c.findings]
    if findings:
        lines += [f"#### ⚠️ Security-relevant changes ({len(findings)})", ""]
        lines += [f"- {_code(address)}: {finding}" for address, finding in findings]
        lines.append("")
    for action, title in ACTION_TITLES:
        changes = [c for c in stack.changes if c.action == action]
        if not changes:
            continue
        lines += [f"#### {title} ({len(changes)})", ""]
        for change in changes:
            head = f"- {_code(change.address)}"
            if change.previous_address:
                head = f"- {_code(change.previous_address)} → {_code(change.address)}"
            if change.reason:
                head += f": {change.reason}"
            lines.append(head)
            if action in ("update", "replace", "move") and attribute_limit:
                lines += _attribute_lines(change, attribute_limit)
        lines.append("")
    if stack.notes:
        lines += ["#### Other changes", ""] + [f"- {n}" for n in stack.notes] + [""]
    return lines


def render(report: Report, *, allowed: bool, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The Markdown; too long for max_chars, attribute details go first, then the tail."""
    text = _render(report, allowed, 25)
    if len(text) > max_chars:
        text = _render(report, allowed, 0)
        text = text.replace("\n\n", "\n\n_Attribute details left out to fit._\n\n", 1) \
            if len(text) <= max_chars else text
    if len(text) > max_chars:
        cut = text.rfind("\n", 0, max_chars - 200)
        text = text[:cut] + "\n\n… (truncated: the full report is in the CI job's artifact)\n"
    return text


def _render(report: Report, allowed: bool, attribute_limit: int) -> str:
    lines = [f"## {report.title}", ""]
    if report.subtitle:
        lines += [report.subtitle, ""]
    count = report.security_count()
    if report.is_empty():
        lines += ["No infrastructure changes.", ""]
    elif count == 0:
        lines += ["✅ No security-relevant changes.", ""]
    elif allowed:
        lines += [f"⚠️ **{count} security-relevant change{'s' if count != 1 else ''}**, "
                  "allowed for this change (reviewed: `--allow-security-changes` or the "
                  f"`{ALLOW_LABEL}` label).", ""]
    else:
        lines += [f"⛔ **{count} security-relevant change{'s' if count != 1 else ''}.** "
                  "CI fails until a reviewer has checked them and the pull request carries "
                  f"the `{ALLOW_LABEL}` label (locally: `--allow-security-changes`).", ""]
    unchanged = [s.name for s in report.stacks if s.is_empty()]
    for stack in report.stacks:
        if not stack.is_empty():
            lines += render_stack(stack, attribute_limit)
    if unchanged and not report.is_empty():
        lines += ["Unchanged: " + ", ".join(f"`{n}`" for n in unchanged), ""]
    return "\n".join(lines).rstrip() + "\n"
